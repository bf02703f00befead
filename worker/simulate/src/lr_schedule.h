// The learning rate a simulated trial trains at, tick by tick, computed as
// torch.optim.lr_scheduler (PyTorch 1.13) computes it but without LibTorch:
// our own schedulers (segtune/optim/lr_scheduler.h) step a LibTorch
// optimizer, which the simulator must not need. Each schedule follows
// torch's recursive get_lr (the next lr from the current one) where torch
// has one and its closed form where torch uses that (CyclicLR, OneCycleLR,
// CosineAnnealingWarmRestarts), so the lrs equal torch's to rounding.
//
// Simulated: LambdaLR, MultiplicativeLR, StepLR, MultiStepLR, ConstantLR,
// LinearLR, ExponentialLR, PolynomialLR, CosineAnnealingLR,
// CosineAnnealingWarmRestarts, CyclicLR, OneCycleLR and ReduceLROnPlateau,
// with segtune's `interval` (epoch or step) and `monitor` arguments.
// SequentialLR and ChainedScheduler are not: Make rejects them.
//
// The whole state lives in ScheduleState, a plain value the simulator puts
// in its checkpoints; LrSchedule itself holds only the arguments.
//
// Thread-safety: none; one LrSchedule belongs to one trial's thread (the
// lr_lambda expression keeps its parser's stack).
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "segtune/optim/catalog.h"
#include "segtune/optim/expression.h"

namespace segtune::simulate::internal {

// What a schedule carries from one tick to the next.
struct ScheduleState {
  double lr = 0;           // the optimizer's lr now
  int64_t last_epoch = 0;  // torch's last_epoch: ticks since construction
  double base_lr = 0;      // torch's base_lrs[0], times any PBT lr_scale
  // ReduceLROnPlateau.
  double best = 0;
  int64_t num_bad_epochs = 0;
  int64_t cooldown_counter = 0;
  // CosineAnnealingWarmRestarts.
  int64_t t_cur = 0;
  int64_t t_i = 0;

  nlohmann::json ToJson() const;
  // InvalidArgument naming the missing or mistyped key.
  static absl::StatusOr<ScheduleState> FromJson(const nlohmann::json& json);
};

class LrSchedule {
 public:
  // `scheduler`: params.scheduler (null: a constant lr). `optimizer_lr`: the
  // optimizer's lr. `budget`: the trial's, for budget expressions and
  // lr_lambda's variables. InvalidArgument names "scheduler.<argument>".
  static absl::StatusOr<LrSchedule> Make(const nlohmann::json& scheduler, double optimizer_lr,
                                         const optim::Budget& budget);

  // Whether it ticks after every optimizer step (else after every epoch).
  bool per_step() const { return per_step_; }
  // The metric ReduceLROnPlateau watches; empty for the others.
  const std::string& monitor() const { return monitor_; }

  // The state after construction, whose initial step may already have
  // changed the lr (ConstantLR, LinearLR, CyclicLR, OneCycleLR).
  absl::StatusOr<ScheduleState> Initial() const;

  // One torch step() (or step(metric) for ReduceLROnPlateau, which requires
  // `metric`). Errors as torch raises them (OneCycleLR past total_steps) or
  // for an lr that is not finite; the state is then unspecified.
  absl::Status Step(ScheduleState& state, std::optional<double> metric) const;

  // PBT's exploit: continues as a run whose initial lr was `scale` times
  // larger (LRScheduler::Rescale): the base lr and the current lr scale;
  // cosine schedules, whose eta_min stays, take their closed form.
  void Rescale(ScheduleState& state, double scale) const;

 private:
  enum class Kind {
    kConstantRate, kLambda, kMultiplicative, kStep, kMultiStep, kConstant, kLinear,
    kExponential, kPolynomial, kCosine, kWarmRestarts, kCyclic, kOneCycle, kPlateau,
  };
  LrSchedule() = default;

  // The lr at state.last_epoch from the current one.
  absl::StatusOr<double> NextLr(const ScheduleState& state) const;
  absl::StatusOr<double> Lambda(int64_t epoch) const;
  double CosineClosedForm(const ScheduleState& state) const;
  double CyclicLr(const ScheduleState& state) const;
  absl::StatusOr<double> OneCycleLr(const ScheduleState& state) const;
  void PlateauStep(ScheduleState& state, double metric) const;

  Kind kind_ = Kind::kConstantRate;
  bool per_step_ = false;
  std::string monitor_;
  double optimizer_lr_ = 0;
  optim::Budget budget_;
  nlohmann::json args_;                    // resolved: torch's defaults, budgets replaced
  std::optional<optim::Expression> lambda_;  // LambdaLR and MultiplicativeLR
};

}  // namespace segtune::simulate::internal
