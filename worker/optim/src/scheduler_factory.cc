// MakeScheduler: one builder per scheduler of the catalog, and the
// factory.h Schedulers that step what they build.
#include <map>
#include <memory>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "factory_arguments.h"
#include "segtune/optim/composite_lr.h"
#include "segtune/optim/cosine_annealing_lr.h"
#include "segtune/optim/cyclic_lr.h"
#include "segtune/optim/factory.h"
#include "segtune/optim/lr_scheduler.h"
#include "segtune/optim/one_cycle_lr.h"
#include "segtune/optim/reduce_lr_on_plateau.h"

namespace segtune::optim {
namespace {

using namespace internal;  // NOLINT: the factory's shared building blocks

using EpochPtr = std::unique_ptr<EpochLRScheduler>;
using SchedulerPtr = std::unique_ptr<Scheduler>;

// "scheduler ExponentialLR: <message>".
absl::Status InScheduler(const char* name, const absl::Status& status) {
  if (status.ok()) return status;
  return absl::Status(status.code(), absl::StrCat("scheduler ", name, ": ", status.message()));
}

// Every scheduler but ReduceLROnPlateau.
class LRSchedulerStepper final : public Scheduler {
 public:
  LRSchedulerStepper(Interval interval, std::unique_ptr<LRScheduler> schedule)
      : Scheduler(interval, ""), schedule_(std::move(schedule)) {}

  absl::Status Step(std::optional<double>) override {
    return InScheduler(schedule_->name(), schedule_->step());
  }
  absl::Status Rescale(double scale) override {
    return InScheduler(schedule_->name(), schedule_->Rescale(scale));
  }
  void save(torch::serialize::OutputArchive& archive) const override { schedule_->save(archive); }
  void load(torch::serialize::InputArchive& archive) override { schedule_->load(archive); }

 private:
  std::unique_ptr<LRScheduler> schedule_;
};

class PlateauStepper final : public Scheduler {
 public:
  PlateauStepper(std::unique_ptr<ReduceLROnPlateau> schedule, std::string monitor)
      : Scheduler(Interval::kEpoch, std::move(monitor)), schedule_(std::move(schedule)) {}

  absl::Status Step(std::optional<double> metric) override {
    if (!metric) {
      return absl::InvalidArgumentError(
          absl::StrCat("scheduler ReduceLROnPlateau: needs this epoch's ", monitor(), " to step"));
    }
    schedule_->step(*metric);
    return absl::OkStatus();
  }
  absl::Status Rescale(double scale) override {
    schedule_->Rescale(scale);
    return absl::OkStatus();
  }
  void save(torch::serialize::OutputArchive& archive) const override { schedule_->save(archive); }
  void load(torch::serialize::InputArchive& archive) override { schedule_->load(archive); }

 private:
  std::unique_ptr<ReduceLROnPlateau> schedule_;
};

// What a builder needs besides the arguments.
struct Target {
  torch::optim::Optimizer& optimizer;
  // Shared by the inner schedulers of one composite; null for one of its own.
  std::shared_ptr<ParamGroupEntries> entries;
  const Budget& budget;
  std::string kind;  // "scheduler" or "scheduler.schedulers[1]", for errors
};

// Reads a required argument; a missing one is recorded as a problem.
template <typename T>
T Required(Arguments& args, const std::string& name, std::optional<T> value) {
  if (!value) args.AddProblem(name, "required");
  return value.value_or(T{});
}

// Reads a string argument that names one of `choices`.
template <typename Enum>
std::optional<Enum> Choice(Arguments& args, const std::string& name,
                           const std::map<std::string, Enum>& choices) {
  std::optional<std::string> value = args.String(name);
  if (!value) return std::nullopt;
  auto it = choices.find(*value);
  if (it != choices.end()) return it->second;
  std::string names;
  for (const auto& [choice, unused] : choices) {
    absl::StrAppend(&names, names.empty() ? "" : ", ", choice);
  }
  args.AddProblem(name, absl::StrCat("must be one of ", names, ", got \"", *value, "\""));
  return std::nullopt;
}

// Constructs the scheduler once every argument is read and its options
// pass Validate(); constructors throw for what only the optimizer tells
// (momentum to cycle, the lr at the initial step).
template <typename Schedule, typename Options>
absl::StatusOr<EpochPtr> Construct(Arguments& args, const Target& target, const Options& options) {
  if (absl::Status status = args.Finish(); !status.ok()) return status;
  if (absl::Status status = options.Validate(); !status.ok()) {
    return absl::InvalidArgumentError(absl::StrCat(target.kind, ".", status.message()));
  }
  try {
    return EpochPtr(std::make_unique<Schedule>(target.optimizer, options, target.entries));
  } catch (const std::invalid_argument& error) {
    return absl::InvalidArgumentError(absl::StrCat(target.kind, ": ", error.what()));
  }
}

template <typename Schedule>
absl::StatusOr<EpochPtr> BuildLambda(Arguments& args, const Target& target) {
  LambdaLROptions options(Required(args, "lr_lambda", args.String("lr_lambda")));
  options.budget(target.budget);
  return Construct<Schedule>(args, target, options);
}

absl::StatusOr<EpochPtr> BuildStep(Arguments& args, const Target& target) {
  StepLROptions options(Required(args, "step_size", args.Int("step_size")));
  if (auto v = args.Float("gamma")) options.gamma(*v);
  return Construct<StepLR>(args, target, options);
}

absl::StatusOr<EpochPtr> BuildMultiStep(Arguments& args, const Target& target) {
  MultiStepLROptions options(Required(args, "milestones", args.IntList("milestones")));
  if (auto v = args.Float("gamma")) options.gamma(*v);
  return Construct<MultiStepLR>(args, target, options);
}

absl::StatusOr<EpochPtr> BuildConstant(Arguments& args, const Target& target) {
  ConstantLROptions options;
  if (auto v = args.Float("factor")) options.factor(*v);
  if (auto v = args.Int("total_iters")) options.total_iters(*v);
  return Construct<ConstantLR>(args, target, options);
}

absl::StatusOr<EpochPtr> BuildLinear(Arguments& args, const Target& target) {
  LinearLROptions options;
  if (auto v = args.Float("start_factor")) options.start_factor(*v);
  if (auto v = args.Float("end_factor")) options.end_factor(*v);
  if (auto v = args.Int("total_iters")) options.total_iters(*v);
  return Construct<LinearLR>(args, target, options);
}

absl::StatusOr<EpochPtr> BuildExponential(Arguments& args, const Target& target) {
  ExponentialLROptions options(Required(args, "gamma", args.Float("gamma")));
  return Construct<ExponentialLR>(args, target, options);
}

absl::StatusOr<EpochPtr> BuildPolynomial(Arguments& args, const Target& target) {
  PolynomialLROptions options;
  if (auto v = args.Int("total_iters")) options.total_iters(*v);
  if (auto v = args.Float("power")) options.power(*v);
  return Construct<PolynomialLR>(args, target, options);
}

absl::StatusOr<EpochPtr> BuildCosine(Arguments& args, const Target& target) {
  CosineAnnealingLROptions options(Required(args, "T_max", args.Int("T_max")));
  if (auto v = args.Float("eta_min")) options.eta_min(*v);
  return Construct<CosineAnnealingLR>(args, target, options);
}

absl::StatusOr<EpochPtr> BuildWarmRestarts(Arguments& args, const Target& target) {
  CosineAnnealingWarmRestartsOptions options(Required(args, "T_0", args.Int("T_0")));
  if (auto v = args.Int("T_mult")) options.T_mult(*v);
  if (auto v = args.Float("eta_min")) options.eta_min(*v);
  return Construct<CosineAnnealingWarmRestarts>(args, target, options);
}

absl::StatusOr<EpochPtr> BuildCyclic(Arguments& args, const Target& target) {
  using Mode = CyclicLROptions::Mode;
  CyclicLROptions options(Required(args, "base_lr", args.Float("base_lr")),
                          Required(args, "max_lr", args.Float("max_lr")));
  if (auto v = args.Int("step_size_up")) options.step_size_up(*v);
  options.step_size_down(args.Int("step_size_down"));
  if (auto v = Choice<Mode>(args, "mode",
                            {{"triangular", Mode::kTriangular},
                             {"triangular2", Mode::kTriangular2},
                             {"exp_range", Mode::kExpRange}})) {
    options.mode(*v);
  }
  if (auto v = args.Float("gamma")) options.gamma(*v);
  // torch ignores scale_mode without a scale_fn (see CyclicLROptions::Mode).
  args.String("scale_mode");
  if (auto v = args.Bool("cycle_momentum")) options.cycle_momentum(*v);
  if (auto v = args.Float("base_momentum")) options.base_momentum(*v);
  if (auto v = args.Float("max_momentum")) options.max_momentum(*v);
  return Construct<CyclicLR>(args, target, options);
}

absl::StatusOr<EpochPtr> BuildOneCycle(Arguments& args, const Target& target) {
  using Strategy = OneCycleLROptions::AnnealStrategy;
  OneCycleLROptions options(Required(args, "max_lr", args.Float("max_lr")));
  options.total_steps(args.Int("total_steps"));
  options.epochs(args.Int("epochs"));
  options.steps_per_epoch(args.Int("steps_per_epoch"));
  if (auto v = args.Float("pct_start")) options.pct_start(*v);
  if (auto v = Choice<Strategy>(args, "anneal_strategy",
                                {{"cos", Strategy::kCos}, {"linear", Strategy::kLinear}})) {
    options.anneal_strategy(*v);
  }
  if (auto v = args.Bool("cycle_momentum")) options.cycle_momentum(*v);
  if (auto v = args.Float("base_momentum")) options.base_momentum(*v);
  if (auto v = args.Float("max_momentum")) options.max_momentum(*v);
  if (auto v = args.Float("div_factor")) options.div_factor(*v);
  if (auto v = args.Float("final_div_factor")) options.final_div_factor(*v);
  if (auto v = args.Bool("three_phase")) options.three_phase(*v);
  return Construct<OneCycleLR>(args, target, options);
}

using Builder = absl::StatusOr<EpochPtr> (*)(Arguments&, const Target&);

// The schedulers that may be inner ones: all but ReduceLROnPlateau and the
// composites.
const std::map<std::string, Builder>& EpochBuilders() {
  static const std::map<std::string, Builder> kBuilders = {
      {"LambdaLR", &BuildLambda<LambdaLR>},
      {"MultiplicativeLR", &BuildLambda<MultiplicativeLR>},
      {"StepLR", &BuildStep},
      {"MultiStepLR", &BuildMultiStep},
      {"ConstantLR", &BuildConstant},
      {"LinearLR", &BuildLinear},
      {"ExponentialLR", &BuildExponential},
      {"PolynomialLR", &BuildPolynomial},
      {"CosineAnnealingLR", &BuildCosine},
      {"CosineAnnealingWarmRestarts", &BuildWarmRestarts},
      {"CyclicLR", &BuildCyclic},
      {"OneCycleLR", &BuildOneCycle},
  };
  return kBuilders;
}

absl::StatusOr<EpochPtr> BuildEpochScheduler(Arguments& args, const Target& target) {
  auto builder = EpochBuilders().find(args.algorithm_name());
  if (builder == EpochBuilders().end()) {
    return absl::UnimplementedError(absl::StrCat(target.kind, ".name: ", args.algorithm_name(),
                                                 " cannot be built by this worker"));
  }
  return builder->second(args, target);
}

Interval IntervalNamed(const std::string& interval) {
  return interval == "step" ? Interval::kStep : Interval::kEpoch;
}

// SequentialLR and ChainedScheduler: the inner schedulers, which the catalog
// has checked already, are built one after another over shared param-group
// keys (torch's initial_lr and OneCycleLR's entries).
absl::StatusOr<SchedulerPtr> BuildComposite(Arguments& args, torch::optim::Optimizer& optimizer,
                                            const Budget& budget) {
  const std::vector<json> inner_params =
      Required(args, "schedulers", args.SchedulerList("schedulers"));
  const std::optional<std::vector<int64_t>> milestones = args.IntList("milestones");
  const std::string interval_name = args.String("interval").value_or("epoch");
  if (absl::Status status = args.Finish(); !status.ok()) return status;
  auto entries = std::make_shared<ParamGroupEntries>();
  std::vector<EpochPtr> schedulers;
  for (size_t i = 0; i < inner_params.size(); ++i) {
    const std::string kind = absl::StrCat("scheduler.schedulers[", i, "]");
    absl::StatusOr<Arguments> inner_args =
        ResolveAndComplete(inner_params[i], kind, &ResolveScheduler, &budget);
    if (!inner_args.ok()) return inner_args.status();
    absl::StatusOr<EpochPtr> scheduler =
        BuildEpochScheduler(*inner_args, Target{optimizer, entries, budget, kind});
    if (!scheduler.ok()) return scheduler.status();
    schedulers.push_back(*std::move(scheduler));
  }
  const Interval interval = IntervalNamed(interval_name);
  try {
    if (args.algorithm_name() == "SequentialLR") {
      return SchedulerPtr(std::make_unique<LRSchedulerStepper>(
          interval,
          std::make_unique<SequentialLR>(optimizer, std::move(schedulers),
                                         milestones.value_or(std::vector<int64_t>{}))));
    }
    return SchedulerPtr(std::make_unique<LRSchedulerStepper>(
        interval, std::make_unique<ChainedScheduler>(std::move(schedulers))));
  } catch (const std::invalid_argument& error) {
    return absl::InvalidArgumentError(absl::StrCat("scheduler: ", error.what()));
  }
}

absl::StatusOr<SchedulerPtr> BuildPlateau(Arguments& args, torch::optim::Optimizer& optimizer) {
  using Options = ReduceLROnPlateauOptions;
  Options options;
  if (auto v = Choice<Options::Mode>(
          args, "mode", {{"min", Options::Mode::kMin}, {"max", Options::Mode::kMax}})) {
    options.mode(*v);
  }
  if (auto v = args.Float("factor")) options.factor(*v);
  if (auto v = args.Int("patience")) options.patience(*v);
  if (auto v = args.Float("threshold")) options.threshold(*v);
  if (auto v = Choice<Options::ThresholdMode>(
          args, "threshold_mode",
          {{"rel", Options::ThresholdMode::kRel}, {"abs", Options::ThresholdMode::kAbs}})) {
    options.threshold_mode(*v);
  }
  if (auto v = args.Int("cooldown")) options.cooldown(*v);
  if (auto v = args.Float("min_lr")) options.min_lr(*v);
  if (auto v = args.Float("eps")) options.eps(*v);
  // segtune's own: the catalog allows only interval "epoch", and a monitor
  // the trainer reports.
  args.String("interval");
  std::string monitor = args.String("monitor").value_or("val_loss");
  if (absl::Status status = args.Finish(); !status.ok()) return status;
  if (absl::Status status = options.Validate(); !status.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("scheduler.", status.message()));
  }
  return SchedulerPtr(std::make_unique<PlateauStepper>(
      std::make_unique<ReduceLROnPlateau>(optimizer, options), std::move(monitor)));
}

}  // namespace

absl::StatusOr<std::unique_ptr<Scheduler>> MakeScheduler(const nlohmann::json& params,
                                                         torch::optim::Optimizer& optimizer,
                                                         const Budget& budget) {
  absl::StatusOr<Arguments> args =
      ResolveAndComplete(params, "scheduler", &ResolveScheduler, &budget);
  if (!args.ok()) return args.status();
  const std::string name = args->algorithm_name();
  return CatchTorchErrors("scheduler", [&]() -> absl::StatusOr<SchedulerPtr> {
    if (name == "ReduceLROnPlateau") return BuildPlateau(*args, optimizer);
    if (name == "SequentialLR" || name == "ChainedScheduler") {
      return BuildComposite(*args, optimizer, budget);
    }
    const Interval interval = IntervalNamed(args->String("interval").value_or("epoch"));
    absl::StatusOr<EpochPtr> schedule =
        BuildEpochScheduler(*args, Target{optimizer, nullptr, budget, "scheduler"});
    if (!schedule.ok()) return schedule.status();
    return SchedulerPtr(std::make_unique<LRSchedulerStepper>(interval, *std::move(schedule)));
  });
}

}  // namespace segtune::optim
