// torch.optim.RMSprop of PyTorch 1.13 in LibTorch's style
// (torch/optim/rmsprop.h), with the argument LibTorch's RMSprop lacks
// (`maximize`). Steps compute _single_tensor_rmsprop's numbers
// (torch/optim/rmsprop.py) bit for bit.
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

struct RMSpropOptions : public torch::optim::OptimizerCloneableOptions<RMSpropOptions> {
  explicit RMSpropOptions(double lr = 1e-2);
  TORCH_ARG(double, lr) = 1e-2;
  TORCH_ARG(double, alpha) = 0.99;
  TORCH_ARG(double, eps) = 1e-8;
  TORCH_ARG(double, weight_decay) = 0;
  TORCH_ARG(double, momentum) = 0;
  TORCH_ARG(bool, centered) = false;
  TORCH_ARG(bool, maximize) = false;

 public:
  void serialize(torch::serialize::InputArchive& archive) override;
  void serialize(torch::serialize::OutputArchive& archive) const override;
  double get_lr() const override;
  void set_lr(double lr) override;
};

struct RMSpropParamState : public torch::optim::OptimizerCloneableParamState<RMSpropParamState> {
  TORCH_ARG(int64_t, step) = 0;
  TORCH_ARG(torch::Tensor, square_avg);
  TORCH_ARG(torch::Tensor, momentum_buffer);  // with momentum > 0 only
  TORCH_ARG(torch::Tensor, grad_avg);         // when centered only

 public:
  void serialize(torch::serialize::InputArchive& archive) override;
  void serialize(torch::serialize::OutputArchive& archive) const override;
};

class RMSprop : public torch::optim::Optimizer {
 public:
  // Throws c10::Error with torch's message when `defaults` are invalid
  // (negative lr, eps, momentum, weight_decay or alpha).
  explicit RMSprop(std::vector<torch::optim::OptimizerParamGroup> param_groups,
                   RMSpropOptions defaults = RMSpropOptions());
  explicit RMSprop(std::vector<torch::Tensor> params, RMSpropOptions defaults = RMSpropOptions());

  torch::Tensor step(LossClosure closure = nullptr) override;
  void save(torch::serialize::OutputArchive& archive) const override;
  void load(torch::serialize::InputArchive& archive) override;

 private:
  // Temporaries of step(), kept between steps (see optimizer_util.h).
  std::vector<torch::Tensor> scratch_;
};

}  // namespace segtune::optim
