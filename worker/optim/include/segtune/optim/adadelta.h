// torch.optim.Adadelta of PyTorch 1.13 in LibTorch's style (LibTorch has
// none). Steps compute _single_tensor_adadelta's numbers
// (torch/optim/adadelta.py) bit for bit.
//
// Thread-safety: none, like LibTorch's optimizers; an optimizer belongs to
// one thread.
#pragma once

#include <cstdint>
#include <vector>

#include <torch/arg.h>
#include <torch/optim/optimizer.h>
#include <torch/serialize/archive.h>
#include <torch/types.h>

namespace segtune::optim {

struct AdadeltaOptions : public torch::optim::OptimizerCloneableOptions<AdadeltaOptions> {
  explicit AdadeltaOptions(double lr = 1.0);
  TORCH_ARG(double, lr) = 1.0;
  TORCH_ARG(double, rho) = 0.9;
  TORCH_ARG(double, eps) = 1e-6;
  TORCH_ARG(double, weight_decay) = 0;
  TORCH_ARG(bool, maximize) = false;

 public:
  void serialize(torch::serialize::InputArchive& archive) override;
  void serialize(torch::serialize::OutputArchive& archive) const override;
  double get_lr() const override;
  void set_lr(double lr) override;
};

struct AdadeltaParamState : public torch::optim::OptimizerCloneableParamState<AdadeltaParamState> {
  TORCH_ARG(int64_t, step) = 0;
  TORCH_ARG(torch::Tensor, square_avg);
  TORCH_ARG(torch::Tensor, acc_delta);

 public:
  void serialize(torch::serialize::InputArchive& archive) override;
  void serialize(torch::serialize::OutputArchive& archive) const override;
};

class Adadelta : public torch::optim::Optimizer {
 public:
  // Throws c10::Error with torch's message when `defaults` are invalid
  // (negative lr, eps or weight_decay; rho outside [0, 1]).
  explicit Adadelta(std::vector<torch::optim::OptimizerParamGroup> param_groups,
                    AdadeltaOptions defaults = AdadeltaOptions());
  explicit Adadelta(std::vector<torch::Tensor> params,
                    AdadeltaOptions defaults = AdadeltaOptions());

  torch::Tensor step(LossClosure closure = nullptr) override;
  void save(torch::serialize::OutputArchive& archive) const override;
  void load(torch::serialize::InputArchive& archive) override;

 private:
  // Temporaries of step(), kept between steps (see optimizer_util.h).
  std::vector<torch::Tensor> scratch_;
};

}  // namespace segtune::optim
