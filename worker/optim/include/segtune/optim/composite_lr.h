// The schedulers made of other schedulers: SequentialLR (one after another,
// switching at milestones) and ChainedScheduler (all of them every step),
// computing PyTorch 1.13's values. See lr_scheduler.h for what all
// schedulers share.
//
// Build the inner schedulers one after another over the same optimizer and
// the same ParamGroupEntries, as torch's are built over one optimizer's param
// groups: each inner constructor performs its initial step, and its base lrs
// are the lrs from before the first one's (torch's `initial_lr`).
// ReduceLROnPlateau cannot be inner: it is not an EpochLRScheduler, as in
// torch 1.13 it is not an _LRScheduler.
//
// Thread-safety: none. A scheduler and its optimizer belong to one thread.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include <torch/optim/optimizer.h>

#include "absl/status/status.h"
#include "segtune/optim/lr_scheduler.h"

namespace segtune::optim {

// Steps schedulers[0] until the first milestone, then schedulers[1] (from
// its own epoch 0) until the second, and so on.
class SequentialLR final : public LRScheduler {
 public:
  // Like torch's constructor, resets the lrs to `initial_lr`, rewinds every
  // inner scheduler by one epoch and repeats the first one's initial step.
  // Throws std::invalid_argument unless there is one more scheduler than
  // milestones and all of them drive `optimizer` with the same entries.
  SequentialLR(torch::optim::Optimizer& optimizer,
               std::vector<std::unique_ptr<EpochLRScheduler>> schedulers,
               std::vector<int64_t> milestones);
  const char* name() const override { return "SequentialLR"; }

  // torch: bisect_right(milestones, last_epoch) picks the scheduler, which is
  // stepped with step(0) on its milestone and with step() after it.
  absl::Status step() override;

  int64_t last_epoch() const { return last_epoch_; }

  // Scales every inner scheduler; the lrs are those the scheduler that set
  // them last would have in the scaled run.
  absl::Status Rescale(double scale) override;

  // With every inner scheduler's state.
  void save(torch::serialize::OutputArchive& archive) const override;
  void load(torch::serialize::InputArchive& archive) override;

 private:
  std::vector<std::unique_ptr<EpochLRScheduler>> schedulers_;
  std::vector<int64_t> milestones_;
  int64_t last_epoch_ = 0;
};

// Steps every scheduler, in order, at every step.
class ChainedScheduler final : public LRScheduler {
 public:
  // Throws std::invalid_argument unless there is at least one scheduler and
  // all of them drive the same optimizer with the same entries.
  explicit ChainedScheduler(std::vector<std::unique_ptr<EpochLRScheduler>> schedulers);
  const char* name() const override { return "ChainedScheduler"; }

  // Stops at the first inner scheduler that fails, as torch does.
  absl::Status step() override;

  // Scales every inner scheduler and the current lrs: exact when every inner
  // schedule is proportional to its base lrs (a cosine one with eta_min 0
  // included), since each step then multiplies the lr by a factor.
  absl::Status Rescale(double scale) override;

  // With every inner scheduler's state.
  void save(torch::serialize::OutputArchive& archive) const override;
  void load(torch::serialize::InputArchive& archive) override;

 private:
  std::vector<std::unique_ptr<EpochLRScheduler>> schedulers_;
};

}  // namespace segtune::optim
