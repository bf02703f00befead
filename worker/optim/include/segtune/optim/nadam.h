// torch.optim.NAdam of PyTorch 1.13 in LibTorch's style (LibTorch has none):
// Adam with Nesterov momentum and momentum decay. Steps compute
// _single_tensor_nadam's numbers (torch/optim/nadam.py) bit for bit,
// including its float32 product of momentum factors.
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

struct NAdamOptions : public torch::optim::OptimizerCloneableOptions<NAdamOptions> {
  explicit NAdamOptions(double lr = 2e-3);
  using betas_t = std::tuple<double, double>;
  TORCH_ARG(double, lr) = 2e-3;
  TORCH_ARG(betas_t, betas) = std::make_tuple(0.9, 0.999);
  TORCH_ARG(double, eps) = 1e-8;
  TORCH_ARG(double, weight_decay) = 0;
  TORCH_ARG(double, momentum_decay) = 4e-3;

 public:
  void serialize(torch::serialize::InputArchive& archive) override;
  void serialize(torch::serialize::OutputArchive& archive) const override;
  double get_lr() const override;
  void set_lr(double lr) override;
};

struct NAdamParamState : public torch::optim::OptimizerCloneableParamState<NAdamParamState> {
  TORCH_ARG(double, step) = 0;  // a float32 count, as torch keeps it
  // The product of the momentum factors so far: a 0-dim float32 tensor, as
  // torch keeps it (its float32 roundings are part of torch's numbers).
  TORCH_ARG(torch::Tensor, mu_product);
  TORCH_ARG(torch::Tensor, exp_avg);
  TORCH_ARG(torch::Tensor, exp_avg_sq);

 public:
  void serialize(torch::serialize::InputArchive& archive) override;
  void serialize(torch::serialize::OutputArchive& archive) const override;
};

class NAdam : public torch::optim::Optimizer {
 public:
  // Throws c10::Error with torch's message when `defaults` are invalid
  // (negative lr, eps, weight_decay or momentum_decay; betas outside [0, 1)).
  explicit NAdam(std::vector<torch::optim::OptimizerParamGroup> param_groups,
                 NAdamOptions defaults = NAdamOptions());
  explicit NAdam(std::vector<torch::Tensor> params, NAdamOptions defaults = NAdamOptions());

  torch::Tensor step(LossClosure closure = nullptr) override;
  void save(torch::serialize::OutputArchive& archive) const override;
  void load(torch::serialize::InputArchive& archive) override;

 private:
  // Temporaries of step(), kept between steps (see optimizer_util.h).
  std::vector<torch::Tensor> scratch_;
};

}  // namespace segtune::optim
