// torch.optim.Adamax of PyTorch 1.13 in LibTorch's style (LibTorch has
// none): Adam with the infinity norm. Steps compute _single_tensor_adamax's
// numbers (torch/optim/adamax.py) bit for bit.
//
// Thread-safety: none, like LibTorch's optimizers; an optimizer belongs to
// one thread.
#pragma once

#include <tuple>
#include <vector>

#include <torch/arg.h>
#include <torch/optim/optimizer.h>
#include <torch/serialize/archive.h>
#include <torch/types.h>

namespace segtune::optim {

struct AdamaxOptions : public torch::optim::OptimizerCloneableOptions<AdamaxOptions> {
  explicit AdamaxOptions(double lr = 2e-3);
  using betas_t = std::tuple<double, double>;
  TORCH_ARG(double, lr) = 2e-3;
  TORCH_ARG(betas_t, betas) = std::make_tuple(0.9, 0.999);
  TORCH_ARG(double, eps) = 1e-8;
  TORCH_ARG(double, weight_decay) = 0;
  TORCH_ARG(bool, maximize) = false;

 public:
  void serialize(torch::serialize::InputArchive& archive) override;
  void serialize(torch::serialize::OutputArchive& archive) const override;
  double get_lr() const override;
  void set_lr(double lr) override;
};

struct AdamaxParamState : public torch::optim::OptimizerCloneableParamState<AdamaxParamState> {
  TORCH_ARG(double, step) = 0;  // a float32 count, as torch keeps it
  TORCH_ARG(torch::Tensor, exp_avg);
  TORCH_ARG(torch::Tensor, exp_inf);

 public:
  void serialize(torch::serialize::InputArchive& archive) override;
  void serialize(torch::serialize::OutputArchive& archive) const override;
};

class Adamax : public torch::optim::Optimizer {
 public:
  // Throws c10::Error with torch's message when `defaults` are invalid
  // (negative lr, eps or weight_decay; betas outside [0, 1)).
  explicit Adamax(std::vector<torch::optim::OptimizerParamGroup> param_groups,
                  AdamaxOptions defaults = AdamaxOptions());
  explicit Adamax(std::vector<torch::Tensor> params, AdamaxOptions defaults = AdamaxOptions());

  torch::Tensor step(LossClosure closure = nullptr) override;
  void save(torch::serialize::OutputArchive& archive) const override;
  void load(torch::serialize::InputArchive& archive) override;

 private:
  // Temporaries of step(), kept between steps (see optimizer_util.h).
  std::vector<torch::Tensor> scratch_;
};

}  // namespace segtune::optim
