// Learning-rate schedulers in LibTorch's style (torch/optim/schedulers/),
// computing PyTorch 1.13's values: each follows torch/optim/lr_scheduler.py
// op by op, with its *recursive* get_lr (the next lr from the current one)
// where torch has one, its closed form only where torch uses it (step(epoch)),
// and its bookkeeping (`initial_lr`, `last_epoch`, `_step_count`).
//
// This header has the base classes and the simple multiplicative schedulers;
// cosine_annealing_lr.h, cyclic_lr.h, one_cycle_lr.h, composite_lr.h and
// reduce_lr_on_plateau.h have the others.
//
// Like torch, constructing a scheduler performs its initial step (epoch 0),
// which may already change the lrs (ConstantLR, LinearLR, CyclicLR, ...).
// Options are checked by Validate() (errors name the argument); constructors
// throw std::invalid_argument, as LibTorch's TORCH_CHECK throws, when their
// options are invalid or the initial step fails (an lr that would not be
// finite). Later failures are returned by step() as absl::Status.
//
// The optimizer must outlive its schedulers, and its param groups must not
// change after a scheduler is constructed.
//
// Thread-safety: none. A scheduler and its optimizer belong to one thread.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <torch/arg.h>
#include <torch/optim/optimizer.h>
#include <torch/serialize/archive.h>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "segtune/optim/catalog.h"
#include "segtune/optim/expression.h"

namespace segtune::optim {

// The keys torch's schedulers add to the optimizer's param-group dicts, one
// value per param group. LibTorch's param-group options have no room for
// them, so they live here; schedulers that torch would let see each other's
// keys (the inner schedulers of SequentialLR and ChainedScheduler, which
// share one optimizer) must be constructed with the same object.
struct ParamGroupEntries {
  // `initial_lr`: set by the first scheduler constructed (torch's
  // group.setdefault('initial_lr', group['lr'])) and overwritten by
  // OneCycleLR; every scheduler takes its base lrs from it. Empty until set.
  std::vector<double> initial_lr;
  // OneCycleLR's `max_lr`, `min_lr`, `max_momentum` and `base_momentum`,
  // which it reads back from the param groups at every step.
  std::vector<double> max_lr;
  std::vector<double> min_lr;
  std::vector<double> max_momentum;
  std::vector<double> base_momentum;

  // Multiplies the lrs among them (initial_lr, max_lr, min_lr) by `scale`.
  void ScaleLrs(double scale);
};

// What every scheduler stepped without a metric offers; SequentialLR and
// ChainedScheduler are LRSchedulers over EpochLRSchedulers.
class LRScheduler {
 public:
  virtual ~LRScheduler() = default;

  LRScheduler(const LRScheduler&) = delete;
  LRScheduler& operator=(const LRScheduler&) = delete;

  // torch's step(). On an error (an lr that would not be finite, OneCycleLR
  // stepped past total_steps, ...) the optimizer's lrs are left unchanged;
  // like torch, the epoch counter has advanced.
  virtual absl::Status step() = 0;

  // torch's get_last_lr(): every param group's lr after the last step.
  const std::vector<double>& get_last_lr() const { return last_lr_; }

  // torch's class name, e.g. "StepLR".
  virtual const char* name() const = 0;

  // PBT's exploit (exploit.h): the schedule continues as it would in a run
  // whose initial lrs were `scale` (> 0) times larger. Multiplies the base
  // lrs, the shared `initial_lr` (ParamGroupEntries) and the lrs a schedule
  // starts from or aims at (OneCycleLR's max_lr and min_lr, CyclicLR's
  // max_lr), and sets the optimizer's lrs to those of that run at this
  // epoch: the current ones times `scale` for every schedule proportional to
  // its base lrs, the closed form for the cosine ones (whose eta_min stays
  // as it is). A ChainedScheduler scales the current lrs. Fails only if an
  // lr would not be finite, leaving the optimizer's lrs as they were (the
  // schedule's own are scaled already: the trial is to fail).
  virtual absl::Status Rescale(double scale) = 0;

  // The scheduler's state: what torch's state_dict() holds, less the
  // arguments, which the scheduler loading it was constructed with. To
  // resume, construct the optimizer and a scheduler with the same arguments,
  // then load both states (the optimizer's holds the lrs and momentums; load
  // it after constructing the scheduler, whose initial step sets them).
  // load() throws c10::Error on a missing key or another scheduler's state.
  virtual void save(torch::serialize::OutputArchive& archive) const = 0;
  virtual void load(torch::serialize::InputArchive& archive) = 0;

 protected:
  LRScheduler() = default;

  // Writes / checks the "name" key that every saved state starts with.
  void SaveName(torch::serialize::OutputArchive& archive) const;
  void LoadName(torch::serialize::InputArchive& archive) const;

  std::vector<double> last_lr_;
};

// Base of the schedulers that compute the lrs from an epoch counter: torch's
// _LRScheduler, constructed with last_epoch=-1. The concrete schedulers are
// final: their constructors run the initial step through virtual calls.
class EpochLRScheduler : public LRScheduler {
 public:
  // torch's step(): advances last_epoch by one and sets get_lr()'s lrs.
  absl::Status step() override;

  // torch's deprecated step(epoch): sets last_epoch to `epoch` and the lrs to
  // the closed form where torch's class has one (_get_closed_form_lr), to
  // get_lr() otherwise. SequentialLR steps an inner scheduler with step(0)
  // when it takes over.
  absl::Status step(int64_t epoch);

  int64_t last_epoch() const { return last_epoch_; }
  const std::vector<double>& base_lrs() const { return base_lrs_; }
  torch::optim::Optimizer& optimizer() const { return optimizer_; }
  const std::shared_ptr<ParamGroupEntries>& entries() const { return entries_; }

  absl::Status Rescale(double scale) override;

  void save(torch::serialize::OutputArchive& archive) const override;
  void load(torch::serialize::InputArchive& archive) override;

 protected:
  // `entries`: the param-group keys shared with the other schedulers of
  // `optimizer` (see ParamGroupEntries); null for a scheduler of its own.
  EpochLRScheduler(torch::optim::Optimizer& optimizer, std::shared_ptr<ParamGroupEntries> entries);

  // The end of torch's _LRScheduler.__init__: base lrs from `initial_lr`,
  // then the initial step. Every concrete constructor ends with it, since a
  // base constructor cannot call the derived get_lr(). Throws
  // std::invalid_argument when the initial step fails.
  void Start();

  // One step: torch's step(epoch=None), or step(epoch) given one.
  // CosineAnnealingWarmRestarts counts its cycles here.
  virtual absl::Status Advance(std::optional<int64_t> epoch);

  // torch's get_lr(): the lrs at last_epoch_, one per param group.
  virtual absl::StatusOr<std::vector<double>> get_lr() = 0;

  // torch's _get_closed_form_lr(); get_lr() where the class has none.
  virtual absl::StatusOr<std::vector<double>> closed_form_lr() { return get_lr(); }

  // Sets every param group's lr to `lrs` once all are finite.
  absl::Status SetLrs(const absl::StatusOr<std::vector<double>>& lrs);

  // Rescale's part that is this scheduler's own (the shared entries are
  // scaled once, by the outermost scheduler): multiplies base_lrs_ and any
  // other lr the class derives lrs from by `scale`, and returns the lrs
  // param groups have at last_epoch_ in the scaled run, leaving the
  // optimizer alone. By default the current lrs times `scale`, which is
  // exact for every schedule whose lrs are proportional to its base lrs.
  virtual std::vector<double> ScaleBaseLrs(double scale);

  std::vector<double> current_lrs() const;

  int64_t last_epoch_ = -1;
  int64_t step_count_ = 0;  // torch's _step_count: steps since the initial one, plus one
  std::vector<double> base_lrs_;

 private:
  // torch's SequentialLR rewinds its inner schedulers (`last_epoch -= 1`)
  // and repeats the first one's initial step; both composites rescale their
  // inner schedulers' own parts.
  friend class SequentialLR;
  friend class ChainedScheduler;

  // torch's _initial_step().
  absl::Status InitialStep();

  torch::optim::Optimizer& optimizer_;
  std::shared_ptr<ParamGroupEntries> entries_;
};

// The variables an lr_lambda may use: `epoch`, and the trial's budget,
// `epochs` and `steps_per_epoch`.
std::vector<std::string> LrLambdaVariables();

struct LambdaLROptions {
  explicit LambdaLROptions(std::string lr_lambda) : lr_lambda_(std::move(lr_lambda)) {}
  absl::Status Validate() const;

  // An Expression (muparser) in LrLambdaVariables(): "0.95 ^ epoch".
  TORCH_ARG(std::string, lr_lambda);
  // The values of `epochs` and `steps_per_epoch` in lr_lambda.
  TORCH_ARG(Budget, budget);
};

// Sets the lr to base_lr * lr_lambda(epoch).
class LambdaLR final : public EpochLRScheduler {
 public:
  LambdaLR(torch::optim::Optimizer& optimizer, const LambdaLROptions& options,
           std::shared_ptr<ParamGroupEntries> entries = nullptr);
  const char* name() const override { return "LambdaLR"; }

 private:
  absl::StatusOr<std::vector<double>> get_lr() override;

  LambdaLROptions options_;
  Expression lr_lambda_;
};

using MultiplicativeLROptions = LambdaLROptions;

// Multiplies the lr by lr_lambda(epoch) every epoch after the first.
class MultiplicativeLR final : public EpochLRScheduler {
 public:
  MultiplicativeLR(torch::optim::Optimizer& optimizer, const MultiplicativeLROptions& options,
                   std::shared_ptr<ParamGroupEntries> entries = nullptr);
  const char* name() const override { return "MultiplicativeLR"; }

 private:
  absl::StatusOr<std::vector<double>> get_lr() override;

  MultiplicativeLROptions options_;
  Expression lr_lambda_;
};

struct StepLROptions {
  explicit StepLROptions(int64_t step_size) : step_size_(step_size) {}
  absl::Status Validate() const;

  TORCH_ARG(int64_t, step_size);
  TORCH_ARG(double, gamma) = 0.1;
};

// Multiplies the lr by gamma every step_size epochs.
class StepLR final : public EpochLRScheduler {
 public:
  StepLR(torch::optim::Optimizer& optimizer, const StepLROptions& options,
         std::shared_ptr<ParamGroupEntries> entries = nullptr);
  const char* name() const override { return "StepLR"; }

 private:
  absl::StatusOr<std::vector<double>> get_lr() override;
  absl::StatusOr<std::vector<double>> closed_form_lr() override;

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
class MultiStepLR final : public EpochLRScheduler {
 public:
  MultiStepLR(torch::optim::Optimizer& optimizer, const MultiStepLROptions& options,
              std::shared_ptr<ParamGroupEntries> entries = nullptr);
  const char* name() const override { return "MultiStepLR"; }

 private:
  absl::StatusOr<std::vector<double>> get_lr() override;
  absl::StatusOr<std::vector<double>> closed_form_lr() override;

  MultiStepLROptions options_;
};

struct ConstantLROptions {
  absl::Status Validate() const;

  TORCH_ARG(double, factor) = 1.0 / 3;
  TORCH_ARG(int64_t, total_iters) = 5;
};

// Multiplies the lr by factor until epoch total_iters.
class ConstantLR final : public EpochLRScheduler {
 public:
  ConstantLR(torch::optim::Optimizer& optimizer, const ConstantLROptions& options,
             std::shared_ptr<ParamGroupEntries> entries = nullptr);
  const char* name() const override { return "ConstantLR"; }

 private:
  absl::StatusOr<std::vector<double>> get_lr() override;
  absl::StatusOr<std::vector<double>> closed_form_lr() override;

  ConstantLROptions options_;
};

struct LinearLROptions {
  absl::Status Validate() const;

  TORCH_ARG(double, start_factor) = 1.0 / 3;
  TORCH_ARG(double, end_factor) = 1.0;
  TORCH_ARG(int64_t, total_iters) = 5;
};

// Multiplies the lr by a factor going linearly from start_factor to
// end_factor over total_iters epochs.
class LinearLR final : public EpochLRScheduler {
 public:
  LinearLR(torch::optim::Optimizer& optimizer, const LinearLROptions& options,
           std::shared_ptr<ParamGroupEntries> entries = nullptr);
  const char* name() const override { return "LinearLR"; }

 private:
  absl::StatusOr<std::vector<double>> get_lr() override;
  absl::StatusOr<std::vector<double>> closed_form_lr() override;

  LinearLROptions options_;
};

struct ExponentialLROptions {
  explicit ExponentialLROptions(double gamma) : gamma_(gamma) {}
  absl::Status Validate() const;

  TORCH_ARG(double, gamma);
};

// Multiplies the lr by gamma every epoch.
class ExponentialLR final : public EpochLRScheduler {
 public:
  ExponentialLR(torch::optim::Optimizer& optimizer, const ExponentialLROptions& options,
                std::shared_ptr<ParamGroupEntries> entries = nullptr);
  const char* name() const override { return "ExponentialLR"; }

 private:
  absl::StatusOr<std::vector<double>> get_lr() override;
  absl::StatusOr<std::vector<double>> closed_form_lr() override;

  ExponentialLROptions options_;
};

struct PolynomialLROptions {
  absl::Status Validate() const;

  TORCH_ARG(int64_t, total_iters) = 5;
  TORCH_ARG(double, power) = 1.0;
};

// Decays the lr to 0 over total_iters epochs along (1 - epoch / total_iters)^power.
class PolynomialLR final : public EpochLRScheduler {
 public:
  PolynomialLR(torch::optim::Optimizer& optimizer, const PolynomialLROptions& options,
               std::shared_ptr<ParamGroupEntries> entries = nullptr);
  const char* name() const override { return "PolynomialLR"; }

 private:
  absl::StatusOr<std::vector<double>> get_lr() override;
  absl::StatusOr<std::vector<double>> closed_form_lr() override;

  // base ** power, which Python refuses for 0.0 and a negative power.
  absl::StatusOr<double> Power(double base) const;

  PolynomialLROptions options_;
};

}  // namespace segtune::optim
