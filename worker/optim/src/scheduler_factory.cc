// MakeScheduler: one builder per scheduler of the catalog.
#include <memory>
#include <utility>

#include "factory_arguments.h"
#include "segtune/optim/factory.h"
#include "segtune/optim/lr_scheduler.h"

namespace segtune::optim {
namespace {

using namespace internal;  // NOLINT: the factory's shared building blocks

class EpochScheduler final : public Scheduler {
 public:
  explicit EpochScheduler(std::unique_ptr<LRScheduler> schedule)
      : Scheduler(Interval::kEpoch, ""), schedule_(std::move(schedule)) {}
  absl::Status Step(std::optional<double>) override {
    schedule_->step();
    return absl::OkStatus();
  }
  void save(torch::serialize::OutputArchive&) const override {}
  void load(torch::serialize::InputArchive&) override {}

 private:
  std::unique_ptr<LRScheduler> schedule_;
};

class PlateauScheduler final : public Scheduler {
 public:
  PlateauScheduler(std::unique_ptr<ReduceLROnPlateau> schedule, std::string monitor)
      : Scheduler(Interval::kEpoch, std::move(monitor)), schedule_(std::move(schedule)) {}
  absl::Status Step(std::optional<double> metric) override {
    if (!metric) {
      return absl::InvalidArgumentError(
          absl::StrCat("ReduceLROnPlateau needs this epoch's ", monitor(), " to step"));
    }
    schedule_->step(*metric);
    return absl::OkStatus();
  }
  void save(torch::serialize::OutputArchive&) const override {}
  void load(torch::serialize::InputArchive&) override {}

 private:
  std::unique_ptr<ReduceLROnPlateau> schedule_;
};

using LRSchedulerPtr = std::unique_ptr<LRScheduler>;

// Builds one epoch-driven scheduler after its options pass Validate().
template <typename SchedulerType, typename Options>
absl::StatusOr<std::unique_ptr<Scheduler>> Finish(Arguments& args,
                                                  torch::optim::Optimizer& optimizer,
                                                  const Options& options) {
  if (absl::Status status = args.Finish(); !status.ok()) return status;
  if (absl::Status status = options.Validate(); !status.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("scheduler.", status.message()));
  }
  return std::unique_ptr<Scheduler>(std::make_unique<EpochScheduler>(
      LRSchedulerPtr(std::make_unique<SchedulerType>(optimizer, options))));
}

// Reads a required argument; a missing one is recorded as a problem.
template <typename T>
T Required(Arguments& args, const std::string& name, std::optional<T> value) {
  if (!value) args.AddProblem(name, "required");
  return value.value_or(T{});
}

absl::StatusOr<std::unique_ptr<Scheduler>> BuildPlateau(Arguments& args,
                                                        torch::optim::Optimizer& optimizer) {
  using Options = ReduceLROnPlateauOptions;
  Options options;
  if (auto mode = args.String("mode")) {
    if (*mode == "min") {
      options.mode(Options::Mode::kMin);
    } else if (*mode == "max") {
      options.mode(Options::Mode::kMax);
    } else {
      args.AddProblem("mode", absl::StrCat("must be 'min' or 'max', got '", *mode, "'"));
    }
  }
  if (auto v = args.Float("factor")) options.factor(*v);
  if (auto v = args.Int("patience")) options.patience(*v);
  if (auto v = args.Float("threshold")) options.threshold(*v);
  if (auto mode = args.String("threshold_mode")) {
    if (*mode == "rel") {
      options.threshold_mode(Options::ThresholdMode::kRel);
    } else if (*mode == "abs") {
      options.threshold_mode(Options::ThresholdMode::kAbs);
    } else {
      args.AddProblem("threshold_mode", absl::StrCat("must be 'rel' or 'abs', got '", *mode, "'"));
    }
  }
  if (auto v = args.Int("cooldown")) options.cooldown(*v);
  if (auto v = args.Float("min_lr")) options.min_lr(*v);
  if (auto v = args.Float("eps")) options.eps(*v);
  // Not a torch argument: the metric the caller steps the scheduler with
  // (the catalog checks it is one the trainer reports).
  std::string monitor = args.String("monitor").value_or("val_loss");
  if (absl::Status status = args.Finish(); !status.ok()) return status;
  if (absl::Status status = options.Validate(); !status.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("scheduler.", status.message()));
  }
  return std::unique_ptr<Scheduler>(std::make_unique<PlateauScheduler>(
      std::make_unique<ReduceLROnPlateau>(optimizer, options), std::move(monitor)));
}


}  // namespace

absl::StatusOr<std::unique_ptr<Scheduler>> MakeScheduler(const nlohmann::json& params,
                                                         torch::optim::Optimizer& optimizer,
                                                         const Budget& budget) {
  absl::StatusOr<Arguments> args =
      ResolveAndComplete(params, "scheduler", &ResolveScheduler, &budget);
  if (!args.ok()) return args.status();
  const std::string& name = args->algorithm_name();
  return CatchTorchErrors("scheduler", [&]() -> absl::StatusOr<std::unique_ptr<Scheduler>> {
    if (name == "StepLR") {
      StepLROptions options(Required(*args, "step_size", args->Int("step_size")));
      if (auto v = args->Float("gamma")) options.gamma(*v);
      return Finish<StepLR>(*args, optimizer, options);
    }
    if (name == "MultiStepLR") {
      MultiStepLROptions options(Required(*args, "milestones", args->IntList("milestones")));
      if (auto v = args->Float("gamma")) options.gamma(*v);
      return Finish<MultiStepLR>(*args, optimizer, options);
    }
    if (name == "ExponentialLR") {
      ExponentialLROptions options(Required(*args, "gamma", args->Float("gamma")));
      return Finish<ExponentialLR>(*args, optimizer, options);
    }
    if (name == "CosineAnnealingLR") {
      CosineAnnealingLROptions options(Required(*args, "T_max", args->Int("T_max")));
      if (auto v = args->Float("eta_min")) options.eta_min(*v);
      return Finish<CosineAnnealingLR>(*args, optimizer, options);
    }
    if (name == "ReduceLROnPlateau") return BuildPlateau(*args, optimizer);
    return absl::UnimplementedError(absl::StrCat(
        "scheduler.name: ", name,
        " cannot be built by this worker yet (available: StepLR, MultiStepLR, ExponentialLR, "
        "CosineAnnealingLR, ReduceLROnPlateau)"));
  });
}

}  // namespace segtune::optim
