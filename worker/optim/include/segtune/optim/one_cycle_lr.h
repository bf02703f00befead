// OneCycleLR (https://arxiv.org/abs/1708.07120), computing PyTorch 1.13's
// values. See lr_scheduler.h for what all schedulers share.
//
// Thread-safety: none. A scheduler and its optimizer belong to one thread.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <vector>

#include <torch/arg.h>
#include <torch/optim/optimizer.h>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "segtune/optim/lr_scheduler.h"

namespace segtune::optim {

struct OneCycleLROptions {
  enum class AnnealStrategy { kCos, kLinear };

  explicit OneCycleLROptions(double max_lr) : max_lr_(max_lr) {}
  // torch's checks, in its order: total_steps, or else epochs and
  // steps_per_epoch, must be given and positive; pct_start in [0, 1].
  absl::Status Validate() const;

  // total_steps, or epochs * steps_per_epoch. Requires valid options.
  int64_t TotalSteps() const;

  TORCH_ARG(double, max_lr);
  TORCH_ARG(std::optional<int64_t>, total_steps) = std::nullopt;
  TORCH_ARG(std::optional<int64_t>, epochs) = std::nullopt;
  TORCH_ARG(std::optional<int64_t>, steps_per_epoch) = std::nullopt;
  TORCH_ARG(double, pct_start) = 0.3;
  TORCH_ARG(AnnealStrategy, anneal_strategy) = AnnealStrategy::kCos;
  TORCH_ARG(bool, cycle_momentum) = true;
  TORCH_ARG(double, base_momentum) = 0.85;
  TORCH_ARG(double, max_momentum) = 0.95;
  TORCH_ARG(double, div_factor) = 25.0;
  TORCH_ARG(double, final_div_factor) = 1e4;
  TORCH_ARG(bool, three_phase) = false;
};

// Raises the lr from max_lr / div_factor to max_lr over pct_start of the
// total steps, then anneals it to max_lr / div_factor / final_div_factor
// (with three_phase: back to max_lr / div_factor first, then down), and with
// cycle_momentum moves the momentum, or beta1 for optimizers with betas,
// inversely between max_momentum and base_momentum.
//
// Like torch, construction overwrites `initial_lr` (ParamGroupEntries) with
// max_lr / div_factor and sets the momentum, and throws
// std::invalid_argument if cycle_momentum is set for an optimizer with
// neither `momentum` nor `betas`. step() fails past total_steps steps.
class OneCycleLR final : public EpochLRScheduler {
 public:
  OneCycleLR(torch::optim::Optimizer& optimizer, const OneCycleLROptions& options,
             std::shared_ptr<ParamGroupEntries> entries = nullptr);
  const char* name() const override { return "OneCycleLR"; }

  // With the param-group keys it reads back (ParamGroupEntries).
  void save(torch::serialize::OutputArchive& archive) const override;
  void load(torch::serialize::InputArchive& archive) override;

 private:
  // One of ParamGroupEntries' values, which a phase starts or ends at.
  using Entry = std::vector<double> ParamGroupEntries::*;
  struct Phase {
    double end_step;
    Entry start_lr, end_lr, start_momentum, end_momentum;
  };

  // Also sets the momentums (or beta1s), as torch's get_lr does.
  absl::StatusOr<std::vector<double>> get_lr() override;

  double EntryOf(Entry entry, size_t group) const { return ((*entries()).*entry)[group]; }
  double Anneal(double start, double end, double pct) const;

  OneCycleLROptions options_;
  int64_t total_steps_;
  std::vector<Phase> phases_;
  bool use_beta1_ = false;  // cycle betas[0] rather than momentum
};

}  // namespace segtune::optim
