// ReduceLROnPlateau, computing PyTorch 1.13's values.
//
// Thread-safety: none. A scheduler and its optimizer belong to one thread.
#pragma once

#include <cstdint>
#include <vector>

#include <torch/arg.h>
#include <torch/optim/optimizer.h>
#include <torch/serialize/archive.h>

#include "absl/status/status.h"

namespace segtune::optim {

struct ReduceLROnPlateauOptions {
  enum class Mode { kMin, kMax };
  enum class ThresholdMode { kRel, kAbs };

  absl::Status Validate() const;

  TORCH_ARG(Mode, mode) = Mode::kMin;
  TORCH_ARG(double, factor) = 0.1;
  TORCH_ARG(int64_t, patience) = 10;
  TORCH_ARG(double, threshold) = 1e-4;
  TORCH_ARG(ThresholdMode, threshold_mode) = ThresholdMode::kRel;
  TORCH_ARG(int64_t, cooldown) = 0;
  TORCH_ARG(double, min_lr) = 0.0;
  TORCH_ARG(double, eps) = 1e-8;
};

// Multiplies the lr by factor when the watched metric has not improved for
// more than `patience` epochs. Like torch, it is not an LRScheduler: it is
// stepped with the metric's value instead of an epoch count, and so cannot
// be inside SequentialLR or ChainedScheduler.
class ReduceLROnPlateau {
 public:
  // The optimizer must outlive the scheduler. Throws std::invalid_argument
  // for options that fail Validate().
  ReduceLROnPlateau(torch::optim::Optimizer& optimizer, const ReduceLROnPlateauOptions& options);

  ReduceLROnPlateau(const ReduceLROnPlateau&) = delete;
  ReduceLROnPlateau& operator=(const ReduceLROnPlateau&) = delete;

  // Records one epoch's value of the watched metric and lowers the lr if it
  // has stopped improving.
  void step(double metric);

  int64_t last_epoch() const { return last_epoch_; }
  const std::vector<double>& get_last_lr() const { return last_lr_; }

  // PBT's exploit (LRScheduler::Rescale): multiplies the lrs by `scale`, as
  // in a run that started with lrs `scale` times larger and saw the same
  // metrics; min_lr stays as it is. The plateau counters are kept.
  void Rescale(double scale);

  // The counters (best, num_bad_epochs, cooldown_counter, last_epoch);
  // see LRScheduler::save.
  void save(torch::serialize::OutputArchive& archive) const;
  void load(torch::serialize::InputArchive& archive);

 private:
  bool IsBetter(double value) const;
  void ReduceLr();
  std::vector<double> current_lrs() const;

  torch::optim::Optimizer& optimizer_;
  ReduceLROnPlateauOptions options_;
  double best_;
  int64_t num_bad_epochs_ = 0;
  int64_t cooldown_counter_ = 0;
  int64_t last_epoch_ = 0;
  std::vector<double> last_lr_;
};

}  // namespace segtune::optim
