// Learning-rate schedulers in LibTorch's style (torch/optim/schedulers/),
// computing PyTorch's values exactly: each scheduler uses the *recursive*
// formula of torch/optim/lr_scheduler.py's get_lr (the next lr from the
// current one), not the closed form, so float64 sequences match torch's bit
// for bit.
//
// LibTorch 1.13 ships only StepLR, and its base class hides the base lrs and
// the epoch counter that the other formulas need; hence our own base class.
//
// Every scheduler is stepped once per epoch, after the optimizer's steps.
// Options are checked by Validate() (errors name the argument); constructors
// require valid options.
//
// Thread-safety: none. A scheduler and its optimizer belong to one thread.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <torch/arg.h>
#include <torch/optim/optimizer.h>

#include "absl/status/status.h"

namespace segtune::optim {

// Base of the schedulers that set the lr from the epoch count, like
// torch.optim.lr_scheduler._LRScheduler constructed with last_epoch=-1:
// construction counts as the initial step (epoch 0, lrs unchanged).
class LRScheduler {
 public:
  // The optimizer must outlive the scheduler.
  explicit LRScheduler(torch::optim::Optimizer& optimizer);
  virtual ~LRScheduler() = default;

  LRScheduler(const LRScheduler&) = delete;
  LRScheduler& operator=(const LRScheduler&) = delete;

  // Advances one epoch and sets every param group's lr to get_lrs().
  void step();

  // Epochs stepped since construction.
  int64_t last_epoch() const { return last_epoch_; }

  // The lr of every param group, as set by the last step.
  std::vector<double> get_last_lr() const { return get_current_lrs(); }

 protected:
  // The lrs of the epoch last_epoch_ (already advanced), one per param group.
  virtual std::vector<double> get_lrs() = 0;

  std::vector<double> get_current_lrs() const;

  // Every param group's lr when the scheduler was constructed.
  const std::vector<double>& base_lrs() const { return base_lrs_; }

  // Like PyTorch's last_epoch after the initial step: 0 at construction.
  int64_t last_epoch_ = 0;

 private:
  torch::optim::Optimizer& optimizer_;
  std::vector<double> base_lrs_;
};

struct StepLROptions {
  explicit StepLROptions(int64_t step_size) : step_size_(step_size) {}
  absl::Status Validate() const;

  TORCH_ARG(int64_t, step_size);
  TORCH_ARG(double, gamma) = 0.1;
};

// Multiplies the lr by gamma every step_size epochs.
class StepLR : public LRScheduler {
 public:
  StepLR(torch::optim::Optimizer& optimizer, const StepLROptions& options);

 private:
  std::vector<double> get_lrs() override;

  StepLROptions options_;
};

struct MultiStepLROptions {
  explicit MultiStepLROptions(std::vector<int64_t> milestones)
      : milestones_(std::move(milestones)) {}
  absl::Status Validate() const;

  TORCH_ARG(std::vector<int64_t>, milestones);
  TORCH_ARG(double, gamma) = 0.1;
};

// Multiplies the lr by gamma at each milestone epoch; like torch (which keeps
// a Counter), a milestone listed k times multiplies by gamma^k.
class MultiStepLR : public LRScheduler {
 public:
  MultiStepLR(torch::optim::Optimizer& optimizer, const MultiStepLROptions& options);

 private:
  std::vector<double> get_lrs() override;

  MultiStepLROptions options_;
};

struct ExponentialLROptions {
  explicit ExponentialLROptions(double gamma) : gamma_(gamma) {}
  absl::Status Validate() const;

  TORCH_ARG(double, gamma);
};

// Multiplies the lr by gamma every epoch.
class ExponentialLR : public LRScheduler {
 public:
  ExponentialLR(torch::optim::Optimizer& optimizer, const ExponentialLROptions& options);

 private:
  std::vector<double> get_lrs() override;

  ExponentialLROptions options_;
};

struct CosineAnnealingLROptions {
  explicit CosineAnnealingLROptions(int64_t T_max) : T_max_(T_max) {}
  absl::Status Validate() const;

  TORCH_ARG(int64_t, T_max);
  TORCH_ARG(double, eta_min) = 0.0;
};

// Anneals the lr from its base value to eta_min over T_max epochs along a
// cosine, then back up (SGDR without restarts), as torch does past T_max.
class CosineAnnealingLR : public LRScheduler {
 public:
  CosineAnnealingLR(torch::optim::Optimizer& optimizer, const CosineAnnealingLROptions& options);

 private:
  std::vector<double> get_lrs() override;

  CosineAnnealingLROptions options_;
};

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
// stepped with the metric's value instead of the epoch count.
class ReduceLROnPlateau {
 public:
  // The optimizer must outlive the scheduler.
  ReduceLROnPlateau(torch::optim::Optimizer& optimizer, const ReduceLROnPlateauOptions& options);

  ReduceLROnPlateau(const ReduceLROnPlateau&) = delete;
  ReduceLROnPlateau& operator=(const ReduceLROnPlateau&) = delete;

  // Records one epoch's value of the watched metric and lowers the lr if it
  // has stopped improving.
  void step(double metric);

  int64_t last_epoch() const { return last_epoch_; }

 private:
  bool IsBetter(double value) const;
  void ReduceLr();

  torch::optim::Optimizer& optimizer_;
  ReduceLROnPlateauOptions options_;
  double best_;
  int64_t num_bad_epochs_ = 0;
  int64_t cooldown_counter_ = 0;
  int64_t last_epoch_ = 0;
};

}  // namespace segtune::optim
