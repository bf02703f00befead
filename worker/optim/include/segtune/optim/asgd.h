// torch.optim.ASGD of PyTorch 1.13 in LibTorch's style (LibTorch has none):
// averaged stochastic gradient descent. Steps compute _single_tensor_asgd's
// numbers (torch/optim/asgd.py) bit for bit, including its float32 eta and
// mu.
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

struct ASGDOptions : public torch::optim::OptimizerCloneableOptions<ASGDOptions> {
  explicit ASGDOptions(double lr = 1e-2);
  TORCH_ARG(double, lr) = 1e-2;
  TORCH_ARG(double, lambd) = 1e-4;
  TORCH_ARG(double, alpha) = 0.75;
  TORCH_ARG(double, t0) = 1e6;
  TORCH_ARG(double, weight_decay) = 0;
  TORCH_ARG(bool, maximize) = false;

 public:
  void serialize(torch::serialize::InputArchive& archive) override;
  void serialize(torch::serialize::OutputArchive& archive) const override;
  double get_lr() const override;
  void set_lr(double lr) override;
};

struct ASGDParamState : public torch::optim::OptimizerCloneableParamState<ASGDParamState> {
  TORCH_ARG(double, step) = 0;  // a float32 count, as torch keeps it
  // The step size and the averaging factor: 0-dim float32 tensors, as torch
  // keeps them (torch.tensor() of its default dtype), so their values are
  // rounded to float32 as torch's are.
  TORCH_ARG(torch::Tensor, eta);
  TORCH_ARG(torch::Tensor, mu);
  TORCH_ARG(torch::Tensor, ax);  // the averaged parameter

 public:
  void serialize(torch::serialize::InputArchive& archive) override;
  void serialize(torch::serialize::OutputArchive& archive) const override;
};

class ASGD : public torch::optim::Optimizer {
 public:
  // Throws c10::Error with torch's message when `defaults` are invalid
  // (negative lr or weight_decay).
  explicit ASGD(std::vector<torch::optim::OptimizerParamGroup> param_groups,
                ASGDOptions defaults = ASGDOptions());
  explicit ASGD(std::vector<torch::Tensor> params, ASGDOptions defaults = ASGDOptions());

  torch::Tensor step(LossClosure closure = nullptr) override;
  void save(torch::serialize::OutputArchive& archive) const override;
  void load(torch::serialize::InputArchive& archive) override;

 private:
  // Temporaries of step(), kept between steps (see optimizer_util.h).
  std::vector<torch::Tensor> scratch_;
};

}  // namespace segtune::optim
