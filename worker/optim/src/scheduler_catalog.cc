// The learning-rate schedulers of torch.optim.lr_scheduler 1.13: arguments
// in constructor order with torch's defaults, the checks its constructors
// make (and those whose failure torch would only report at a later step, a
// division by zero), and segtune's stepping arguments (`interval`,
// `monitor`).
#include <set>
#include <string>
#include <vector>

#include "catalog_internal.h"
#include "segtune/optim/expression.h"

namespace segtune::optim::internal {
namespace {

// The metrics a trainer reports each epoch, which ReduceLROnPlateau may watch.
const std::set<std::string> kMonitorableMetrics = {"train_loss", "val_loss", "val_miou",
                                                   "val_pixel_acc"};

// segtune's `interval`: when the trainer steps the scheduler.
ArgSpec IntervalArg(const char* default_interval) {
  return {"interval", ArgType::kString, default_interval};
}

void CheckInterval(const Json& args, Problems& problems) {
  OneOf(args, "interval", {"epoch", "step"}, nullptr, problems);
}

// "must be in [0, 1], got 2 (torch: ...)"; `low_open` excludes the low end.
void InUnitInterval(const Json& args, const char* name, bool low_open, const char* torch_message,
                    Problems& problems) {
  std::optional<double> value = Number(args, name);
  if (!value || ((low_open ? *value > 0 : *value >= 0) && *value <= 1)) return;
  std::string message = std::string("must be in ") + (low_open ? "(0, 1]" : "[0, 1]") + ", got " +
                        DescribeValue(args.at(name));
  if (torch_message != nullptr) message += std::string(" (torch: ") + torch_message + ")";
  problems.push_back({name, std::move(message)});
}

bool IsGiven(const Json& args, const char* name) {
  auto it = args.find(name);
  return it != args.end() && !it->is_null();
}

void CheckLrLambda(const Json& args, Problems& problems) {
  CheckInterval(args, problems);
  auto lr_lambda = args.find("lr_lambda");
  if (lr_lambda == args.end() || !lr_lambda->is_string()) return;
  // lr_scheduler.h's LrLambdaVariables(), which this torch-free target
  // cannot include.
  std::vector<std::string> variables = {"epoch"};
  for (std::string& variable : BudgetVariables()) variables.push_back(std::move(variable));
  absl::StatusOr<Expression> expression =
      Expression::Parse(lr_lambda->get<std::string>(), variables);
  if (!expression.ok()) {
    problems.push_back({"lr_lambda", std::string(expression.status().message())});
  }
}

void CheckStepLr(const Json& args, Problems& problems) {
  CheckInterval(args, problems);
  AtLeast(args, "step_size", 1, nullptr, problems);
  Positive(args, "gamma", problems);
}

void CheckMultiStepLr(const Json& args, Problems& problems) {
  CheckInterval(args, problems);
  auto milestones = args.find("milestones");
  if (milestones != args.end() && milestones->is_array()) {
    if (milestones->empty()) {
      problems.push_back({"milestones", "must list at least one epoch"});
    }
    for (std::size_t i = 0; i < milestones->size(); ++i) {
      std::int64_t epoch = (*milestones)[i].get<std::int64_t>();
      if (epoch < 1) {
        problems.push_back({"milestones", "must all be >= 1, got " + DescribeValue(*milestones)});
        break;
      }
      if (i > 0 && epoch <= (*milestones)[i - 1].get<std::int64_t>()) {
        problems.push_back(
            {"milestones", "must be strictly increasing, got " + DescribeValue(*milestones)});
        break;
      }
    }
  }
  Positive(args, "gamma", problems);
}

void CheckConstantLr(const Json& args, Problems& problems) {
  CheckInterval(args, problems);
  InUnitInterval(args, "factor", false,
                 "Constant multiplicative factor expected to be between 0 and 1.", problems);
}

void CheckLinearLr(const Json& args, Problems& problems) {
  CheckInterval(args, problems);
  // torch accepts 0, then divides by total_iters * start_factor at the
  // first step.
  InUnitInterval(args, "start_factor", true,
                 "Starting multiplicative factor expected to be between 0 and 1.", problems);
  InUnitInterval(args, "end_factor", false,
                 "Ending multiplicative factor expected to be between 0 and 1.", problems);
}

void CheckExponentialLr(const Json& args, Problems& problems) {
  CheckInterval(args, problems);
  Positive(args, "gamma", problems);
}

void CheckCosineAnnealingLr(const Json& args, Problems& problems) {
  CheckInterval(args, problems);
  AtLeast(args, "T_max", 1, nullptr, problems);
  NonNegative(args, "eta_min", nullptr, problems);
}

void CheckSequentialLr(const Json& args, Problems& problems) {
  CheckInterval(args, problems);
  auto schedulers = args.find("schedulers");
  auto milestones = args.find("milestones");
  if (schedulers == args.end() || milestones == args.end() || !schedulers->is_array() ||
      !milestones->is_array() || milestones->size() + 1 == schedulers->size()) {
    return;
  }
  problems.push_back(
      {"milestones", "must list one epoch fewer than there are schedulers, got " +
                         std::to_string(milestones->size()) + " for " +
                         std::to_string(schedulers->size()) +
                         " schedulers (torch: Sequential Schedulers expects number of schedulers "
                         "provided to be one more than the number of milestone points)"});
}

void CheckReduceLrOnPlateau(const Json& args, Problems& problems) {
  OneOf(args, "interval", {"epoch"}, "it is stepped with a metric the trainer reports per epoch",
        problems);
  OneOf(args, "mode", {"min", "max"}, "mode is unknown", problems);
  std::optional<double> factor = Number(args, "factor");
  if (factor && *factor >= 1.0) {
    problems.push_back({"factor", "must be < 1.0, got " + DescribeValue(args.at("factor")) +
                                      " (torch: Factor should be < 1.0.)"});
  }
  Positive(args, "factor", problems);
  NonNegative(args, "patience", nullptr, problems);
  NonNegative(args, "threshold", nullptr, problems);
  OneOf(args, "threshold_mode", {"rel", "abs"}, "threshold mode is unknown", problems);
  NonNegative(args, "cooldown", nullptr, problems);
  NonNegative(args, "min_lr", nullptr, problems);
  NonNegative(args, "eps", nullptr, problems);
  OneOf(args, "monitor", kMonitorableMetrics, nullptr, problems);
  // Watching a score with torch's default mode "min" would cut the learning
  // rate whenever the score improves: almost surely a forgotten `mode: max`.
  auto monitor = args.find("monitor");
  auto mode = args.find("mode");
  if (monitor != args.end() && mode != args.end() && monitor->is_string() && mode->is_string()) {
    bool is_loss = *monitor == "train_loss" || *monitor == "val_loss";
    if (kMonitorableMetrics.count(monitor->get<std::string>()) > 0 && (*mode == "min") != is_loss) {
      problems.push_back({"mode", "must be " + std::string(is_loss ? "min" : "max") +
                                      " when monitor is " + monitor->get<std::string>() +
                                      (is_loss ? " (a loss goes down)" : " (a score goes up)") +
                                      ", got " + DescribeValue(*mode)});
    }
  }
}

void CheckCyclicLr(const Json& args, Problems& problems) {
  CheckInterval(args, problems);
  // torch divides by zero at the initial step when step_size_up is 0.
  AtLeast(args, "step_size_up", 1, nullptr, problems);
  NonNegative(args, "step_size_down", nullptr, problems);
  OneOf(args, "mode", {"triangular", "triangular2", "exp_range"},
        "mode is invalid and scale_fn is None", problems);
  OneOf(args, "scale_mode", {"cycle", "iterations"}, nullptr, problems);
}

void CheckOneCycleLr(const Json& args, Problems& problems) {
  CheckInterval(args, problems);
  if (IsGiven(args, "total_steps")) {
    AtLeast(args, "total_steps", 1, "Expected positive integer total_steps", problems);
  } else if (!IsGiven(args, "epochs") && !IsGiven(args, "steps_per_epoch")) {
    problems.push_back({"total_steps",
                        "is required unless epochs and steps_per_epoch are given "
                        "(torch: You must define either total_steps OR (epochs "
                        "AND steps_per_epoch))"});
  } else {
    const struct {
      const char* name;
      const char* other;
      const char* torch_message;
    } kFactors[] = {{"epochs", "steps_per_epoch", "Expected positive integer epochs"},
                    {"steps_per_epoch", "epochs", "Expected positive integer steps_per_epoch"}};
    for (const auto& factor : kFactors) {
      if (!IsGiven(args, factor.name)) {
        problems.push_back({factor.name, std::string("is required with ") + factor.other +
                                             " when total_steps is not given"});
      }
      AtLeast(args, factor.name, 1, factor.torch_message, problems);
    }
  }
  InUnitInterval(args, "pct_start", false, "Expected float between 0 and 1 pct_start", problems);
  OneOf(args, "anneal_strategy", {"cos", "linear"},
        "anneal_strategy must by one of 'cos' or 'linear'", problems);
  // torch divides by both when it constructs the schedule.
  Positive(args, "div_factor", problems);
  Positive(args, "final_div_factor", problems);
}

void CheckCosineAnnealingWarmRestarts(const Json& args, Problems& problems) {
  CheckInterval(args, problems);
  AtLeast(args, "T_0", 1, "Expected positive integer T_0", problems);
  AtLeast(args, "T_mult", 1, "Expected integer T_mult >= 1", problems);
  NonNegative(args, "eta_min", nullptr, problems);
}

}  // namespace

const std::vector<Entry>& SchedulerEntries() {
  static const std::vector<Entry> kSchedulers = {
      // lr_lambda is an expression in `epoch` (and the budget): a Python
      // callable cannot travel in a spec.
      {{"LambdaLR", {RequiredArg("lr_lambda", ArgType::kString), IntervalArg("epoch")}},
       CheckLrLambda},
      {{"MultiplicativeLR", {RequiredArg("lr_lambda", ArgType::kString), IntervalArg("epoch")}},
       CheckLrLambda},
      {{"StepLR",
        {RequiredArg("step_size", ArgType::kInt),
         {"gamma", ArgType::kFloat, 0.1},
         IntervalArg("epoch")}},
       CheckStepLr},
      {{"MultiStepLR",
        {RequiredArg("milestones", ArgType::kIntList),
         {"gamma", ArgType::kFloat, 0.1},
         IntervalArg("epoch")}},
       CheckMultiStepLr},
      {{"ConstantLR",
        {{"factor", ArgType::kFloat, 1.0 / 3},
         {"total_iters", ArgType::kInt, 5},
         IntervalArg("epoch")}},
       CheckConstantLr},
      {{"LinearLR",
        {{"start_factor", ArgType::kFloat, 1.0 / 3},
         {"end_factor", ArgType::kFloat, 1.0},
         {"total_iters", ArgType::kInt, 5},
         IntervalArg("epoch")}},
       CheckLinearLr},
      {{"ExponentialLR", {RequiredArg("gamma", ArgType::kFloat), IntervalArg("epoch")}},
       CheckExponentialLr},
      {{"PolynomialLR",
        {{"total_iters", ArgType::kInt, 5}, {"power", ArgType::kFloat, 1.0}, IntervalArg("epoch")}},
       CheckInterval},
      {{"CosineAnnealingLR",
        {RequiredArg("T_max", ArgType::kInt),
         {"eta_min", ArgType::kFloat, 0.0},
         IntervalArg("epoch")}},
       CheckCosineAnnealingLr},
      {{"ChainedScheduler",
        {RequiredArg("schedulers", ArgType::kSchedulerList), IntervalArg("epoch")}},
       CheckInterval},
      {{"SequentialLR",
        {RequiredArg("schedulers", ArgType::kSchedulerList),
         RequiredArg("milestones", ArgType::kIntList), IntervalArg("epoch")}},
       CheckSequentialLr},
      // `monitor` is segtune's own: torch's step(metrics) takes the value from
      // the caller, and this names which reported metric the worker passes.
      {{"ReduceLROnPlateau",
        {{"mode", ArgType::kString, "min"},
         {"factor", ArgType::kFloat, 0.1},
         {"patience", ArgType::kInt, 10},
         {"threshold", ArgType::kFloat, 1e-4},
         {"threshold_mode", ArgType::kString, "rel"},
         {"cooldown", ArgType::kInt, 0},
         {"min_lr", ArgType::kFloat, 0.0},
         {"eps", ArgType::kFloat, 1e-8},
         IntervalArg("epoch"),
         {"monitor", ArgType::kString, "val_loss"}}},
       CheckReduceLrOnPlateau},
      // Without torch's callable scale_fn, which segtune cannot take, torch
      // ignores scale_mode; it is accepted for the spec's sake.
      {{"CyclicLR",
        {RequiredArg("base_lr", ArgType::kFloat),
         RequiredArg("max_lr", ArgType::kFloat),
         {"step_size_up", ArgType::kInt, 2000},
         NoneArg("step_size_down", ArgType::kInt),
         {"mode", ArgType::kString, "triangular"},
         {"gamma", ArgType::kFloat, 1.0},
         {"scale_mode", ArgType::kString, "cycle"},
         {"cycle_momentum", ArgType::kBool, true},
         {"base_momentum", ArgType::kFloat, 0.8},
         {"max_momentum", ArgType::kFloat, 0.9},
         IntervalArg("step")}},
       CheckCyclicLr},
      {{"OneCycleLR",
        {RequiredArg("max_lr", ArgType::kFloat),
         NoneArg("total_steps", ArgType::kInt),
         NoneArg("epochs", ArgType::kInt),
         NoneArg("steps_per_epoch", ArgType::kInt),
         {"pct_start", ArgType::kFloat, 0.3},
         {"anneal_strategy", ArgType::kString, "cos"},
         {"cycle_momentum", ArgType::kBool, true},
         {"base_momentum", ArgType::kFloat, 0.85},
         {"max_momentum", ArgType::kFloat, 0.95},
         {"div_factor", ArgType::kFloat, 25.0},
         {"final_div_factor", ArgType::kFloat, 1e4},
         {"three_phase", ArgType::kBool, false},
         IntervalArg("step")}},
       CheckOneCycleLr},
      {{"CosineAnnealingWarmRestarts",
        {RequiredArg("T_0", ArgType::kInt),
         {"T_mult", ArgType::kInt, 1},
         {"eta_min", ArgType::kFloat, 0.0},
         IntervalArg("epoch")}},
       CheckCosineAnnealingWarmRestarts},
  };
  return kSchedulers;
}

const std::vector<Alias>& SchedulerAliases() {
  static const std::vector<Alias> kAliases = {
      {"lambda", "LambdaLR", Json::object(), Json::object()},
      {"multiplicative", "MultiplicativeLR", Json::object(), Json::object()},
      {"step", "StepLR", Json::object(), Json::object()},
      {"multistep", "MultiStepLR", Json::object(), Json::object()},
      {"constant", "ConstantLR", Json::object(), Json::object()},
      {"linear", "LinearLR", Json::object(), Json::object()},
      {"exponential", "ExponentialLR", Json::object(), Json::object()},
      {"exp", "ExponentialLR", Json::object(), Json::object()},
      {"polynomial", "PolynomialLR", Json::object(), Json::object()},
      {"cosine", "CosineAnnealingLR", Json::object(), Json::object()},
      {"chained", "ChainedScheduler", Json::object(), Json::object()},
      {"sequential", "SequentialLR", Json::object(), Json::object()},
      {"plateau", "ReduceLROnPlateau", Json::object(), Json::object()},
      {"cyclic", "CyclicLR", Json::object(), Json::object()},
      {"onecycle", "OneCycleLR", Json::object(), Json::object()},
      {"cosine_warm_restarts", "CosineAnnealingWarmRestarts", Json::object(), Json::object()},
      {"warm_restarts", "CosineAnnealingWarmRestarts", Json::object(), Json::object()},
  };
  return kAliases;
}

}  // namespace segtune::optim::internal
