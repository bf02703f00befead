// torch.optim.SGD of PyTorch 1.13 in LibTorch's style (torch/optim/sgd.h),
// with the arguments LibTorch's SGD lacks (`maximize`): stochastic gradient
// descent, optionally with momentum, dampening, Nesterov momentum and weight
// decay. Steps compute _single_tensor_sgd's numbers (torch/optim/sgd.py)
// bit for bit.
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

struct SGDOptions : public torch::optim::OptimizerCloneableOptions<SGDOptions> {
  explicit SGDOptions(double lr);
  TORCH_ARG(double, lr);
  TORCH_ARG(double, momentum) = 0;
  TORCH_ARG(double, dampening) = 0;
  TORCH_ARG(double, weight_decay) = 0;
  TORCH_ARG(bool, nesterov) = false;
  TORCH_ARG(bool, maximize) = false;

 public:
  void serialize(torch::serialize::InputArchive& archive) override;
  void serialize(torch::serialize::OutputArchive& archive) const override;
  double get_lr() const override;
  void set_lr(double lr) override;
};

struct SGDParamState : public torch::optim::OptimizerCloneableParamState<SGDParamState> {
  TORCH_ARG(torch::Tensor, momentum_buffer);  // undefined until the first step with momentum

 public:
  void serialize(torch::serialize::InputArchive& archive) override;
  void serialize(torch::serialize::OutputArchive& archive) const override;
};

class SGD : public torch::optim::Optimizer {
 public:
  // Throws c10::Error with torch's message when `defaults` are invalid
  // (negative lr, momentum or weight_decay; Nesterov without momentum or
  // with dampening).
  SGD(std::vector<torch::optim::OptimizerParamGroup> param_groups, SGDOptions defaults);
  SGD(std::vector<torch::Tensor> params, SGDOptions defaults);

  torch::Tensor step(LossClosure closure = nullptr) override;
  void save(torch::serialize::OutputArchive& archive) const override;
  void load(torch::serialize::InputArchive& archive) override;

 private:
  // Temporaries of step(), kept between steps (see optimizer_util.h).
  std::vector<torch::Tensor> scratch_;
};

}  // namespace segtune::optim
