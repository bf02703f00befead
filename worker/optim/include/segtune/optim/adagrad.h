// torch.optim.Adagrad of PyTorch 1.13 in LibTorch's style
// (torch/optim/adagrad.h), with the argument LibTorch's Adagrad lacks
// (`maximize`). Steps compute _single_tensor_adagrad's numbers
// (torch/optim/adagrad.py) bit for bit; sparse gradients are refused.
//
// Thread-safety: none, like LibTorch's optimizers; an optimizer belongs to
// one thread.
#pragma once

#include <vector>

#include <torch/arg.h>
#include <torch/optim/optimizer.h>
#include <torch/serialize/archive.h>
#include <torch/types.h>

namespace segtune::optim {

struct AdagradOptions : public torch::optim::OptimizerCloneableOptions<AdagradOptions> {
  explicit AdagradOptions(double lr = 1e-2);
  TORCH_ARG(double, lr) = 1e-2;
  TORCH_ARG(double, lr_decay) = 0;
  TORCH_ARG(double, weight_decay) = 0;
  TORCH_ARG(double, initial_accumulator_value) = 0;
  TORCH_ARG(double, eps) = 1e-10;
  TORCH_ARG(bool, maximize) = false;

 public:
  void serialize(torch::serialize::InputArchive& archive) override;
  void serialize(torch::serialize::OutputArchive& archive) const override;
  double get_lr() const override;
  void set_lr(double lr) override;
};

struct AdagradParamState : public torch::optim::OptimizerCloneableParamState<AdagradParamState> {
  TORCH_ARG(double, step) = 0;  // a float32 count, as torch keeps it
  TORCH_ARG(torch::Tensor, sum);

 public:
  void serialize(torch::serialize::InputArchive& archive) override;
  void serialize(torch::serialize::OutputArchive& archive) const override;
};

class Adagrad : public torch::optim::Optimizer {
 public:
  // Creates every parameter's state, as torch does. Throws c10::Error with
  // torch's message when `defaults` are invalid (negative lr, lr_decay,
  // weight_decay, initial_accumulator_value or eps).
  explicit Adagrad(std::vector<torch::optim::OptimizerParamGroup> param_groups,
                   AdagradOptions defaults = AdagradOptions());
  explicit Adagrad(std::vector<torch::Tensor> params, AdagradOptions defaults = AdagradOptions());

  torch::Tensor step(LossClosure closure = nullptr) override;
  void save(torch::serialize::OutputArchive& archive) const override;
  void load(torch::serialize::InputArchive& archive) override;

 private:
  // torch fills the sums with the constructor's initial_accumulator_value,
  // whatever a param group says.
  AdagradParamState NewState(const torch::Tensor& param) const;

  // Temporaries of step(), kept between steps (see optimizer_util.h).
  std::vector<torch::Tensor> scratch_;
};

}  // namespace segtune::optim
