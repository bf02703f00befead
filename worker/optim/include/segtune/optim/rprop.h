// torch.optim.Rprop of PyTorch 1.13 in LibTorch's style (LibTorch has none):
// resilient backpropagation, one step size per element grown or shrunk by
// the sign agreement of successive gradients. Steps compute
// _single_tensor_rprop's numbers (torch/optim/rprop.py) bit for bit.
//
// Thread-safety: none, like LibTorch's optimizers; an optimizer belongs to
// one thread.
#pragma once

#include <cstdint>
#include <tuple>
#include <vector>

#include <torch/arg.h>
#include <torch/optim/optimizer.h>
#include <torch/serialize/archive.h>
#include <torch/types.h>

namespace segtune::optim {

struct RpropOptions : public torch::optim::OptimizerCloneableOptions<RpropOptions> {
  explicit RpropOptions(double lr = 1e-2);
  using etas_t = std::tuple<double, double>;        // (etaminus, etaplus)
  using step_sizes_t = std::tuple<double, double>;  // (minimum, maximum)
  TORCH_ARG(double, lr) = 1e-2;
  TORCH_ARG(etas_t, etas) = std::make_tuple(0.5, 1.2);
  TORCH_ARG(step_sizes_t, step_sizes) = std::make_tuple(1e-6, 50.0);
  TORCH_ARG(bool, maximize) = false;

 public:
  void serialize(torch::serialize::InputArchive& archive) override;
  void serialize(torch::serialize::OutputArchive& archive) const override;
  double get_lr() const override;
  void set_lr(double lr) override;
};

struct RpropParamState : public torch::optim::OptimizerCloneableParamState<RpropParamState> {
  TORCH_ARG(int64_t, step) = 0;
  TORCH_ARG(torch::Tensor, prev);       // the previous gradient, zeroed where its sign flipped
  TORCH_ARG(torch::Tensor, step_size);  // per element, starting at the lr

 public:
  void serialize(torch::serialize::InputArchive& archive) override;
  void serialize(torch::serialize::OutputArchive& archive) const override;
};

class Rprop : public torch::optim::Optimizer {
 public:
  // Throws c10::Error with torch's message when `defaults` are invalid
  // (negative lr; etas not 0 < etaminus < 1 < etaplus).
  explicit Rprop(std::vector<torch::optim::OptimizerParamGroup> param_groups,
                 RpropOptions defaults = RpropOptions());
  explicit Rprop(std::vector<torch::Tensor> params, RpropOptions defaults = RpropOptions());

  torch::Tensor step(LossClosure closure = nullptr) override;
  void save(torch::serialize::OutputArchive& archive) const override;
  void load(torch::serialize::InputArchive& archive) override;

 private:
  // Temporaries of step(), kept between steps (see optimizer_util.h).
  std::vector<torch::Tensor> scratch_;
};

}  // namespace segtune::optim
