// CyclicLR (https://arxiv.org/abs/1506.01186), computing PyTorch 1.13's
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
#include <torch/serialize/archive.h>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "segtune/optim/lr_scheduler.h"

namespace segtune::optim {

struct CyclicLROptions {
  // How the cycle's amplitude shrinks: not at all, by half every cycle, or
  // by gamma every iteration. torch evaluates the first two per cycle and
  // exp_range per iteration, whatever its `scale_mode`, which only applies
  // to a callable `scale_fn` (segtune takes none).
  enum class Mode { kTriangular, kTriangular2, kExpRange };

  CyclicLROptions(double base_lr, double max_lr) : base_lr_(base_lr), max_lr_(max_lr) {}
  absl::Status Validate() const;

  TORCH_ARG(double, base_lr);
  TORCH_ARG(double, max_lr);
  TORCH_ARG(int64_t, step_size_up) = 2000;
  // torch's None: step_size_up.
  TORCH_ARG(std::optional<int64_t>, step_size_down) = std::nullopt;
  TORCH_ARG(Mode, mode) = Mode::kTriangular;
  TORCH_ARG(double, gamma) = 1.0;
  TORCH_ARG(bool, cycle_momentum) = true;
  TORCH_ARG(double, base_momentum) = 0.8;
  TORCH_ARG(double, max_momentum) = 0.9;
};

// Cycles the lr between base_lr and max_lr, step_size_up iterations up and
// step_size_down down, and with cycle_momentum the momentum inversely between
// max_momentum and base_momentum. Like torch, construction sets the lr to
// base_lr and (with cycle_momentum) the momentum, and throws
// std::invalid_argument if cycle_momentum is set for an optimizer without
// `momentum` (Adam, ...).
class CyclicLR final : public EpochLRScheduler {
 public:
  CyclicLR(torch::optim::Optimizer& optimizer, const CyclicLROptions& options,
           std::shared_ptr<ParamGroupEntries> entries = nullptr);
  const char* name() const override { return "CyclicLR"; }

  // With max_lr, which Rescale changes (a state saved before that has none:
  // the option's is kept).
  void save(torch::serialize::OutputArchive& archive) const override;
  void load(torch::serialize::InputArchive& archive) override;

 private:
  // Also sets the momentums, as torch's get_lr does.
  absl::StatusOr<std::vector<double>> get_lr() override;
  // Scales max_lr too (base_lr is the base lrs).
  std::vector<double> ScaleBaseLrs(double scale) override;

  CyclicLROptions options_;
  double max_lr_;      // options_.max_lr() until rescaled
  double total_size_;  // iterations per cycle
  double step_ratio_;  // the rising part of a cycle
};

}  // namespace segtune::optim
