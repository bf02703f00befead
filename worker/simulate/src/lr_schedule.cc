#include "lr_schedule.h"

#include <algorithm>
#include <cmath>
#include <utility>

#include "absl/strings/str_cat.h"

namespace segtune::simulate::internal {
namespace {

constexpr double kPi = 3.14159265358979323846;

// Python's a % b for b > 0 (never negative), which torch's cosine uses.
int64_t PythonMod(int64_t a, int64_t b) { return ((a % b) + b) % b; }

// JSON has no infinities; ReduceLROnPlateau's initial best is one.
nlohmann::json Number(double value) {
  if (std::isfinite(value)) return value;
  return std::isnan(value) ? "nan" : value > 0 ? "inf" : "-inf";
}

absl::StatusOr<double> ReadNumber(const nlohmann::json& json, const char* key) {
  const auto it = json.find(key);
  if (it == json.end()) return absl::InvalidArgumentError(absl::StrCat(key, ": missing"));
  if (it->is_number()) return it->get<double>();
  if (it->is_string()) {
    const std::string text = it->get<std::string>();
    if (text == "inf") return HUGE_VAL;
    if (text == "-inf") return -HUGE_VAL;
    if (text == "nan") return std::nan("");
  }
  return absl::InvalidArgumentError(absl::StrCat(key, ": not a number"));
}

double Arg(const nlohmann::json& args, const char* name) { return args.at(name).get<double>(); }
int64_t IntArg(const nlohmann::json& args, const char* name) {
  return args.at(name).get<int64_t>();
}

}  // namespace

nlohmann::json ScheduleState::ToJson() const {
  return {{"lr", Number(lr)},
          {"last_epoch", last_epoch},
          {"base_lr", Number(base_lr)},
          {"best", Number(best)},
          {"num_bad_epochs", num_bad_epochs},
          {"cooldown_counter", cooldown_counter},
          {"t_cur", t_cur},
          {"t_i", t_i}};
}

absl::StatusOr<ScheduleState> ScheduleState::FromJson(const nlohmann::json& json) {
  ScheduleState state;
  if (!json.is_object()) return absl::InvalidArgumentError("schedule: not an object");
  for (auto [key, field] : {std::pair{"lr", &state.lr}, std::pair{"base_lr", &state.base_lr},
                            std::pair{"best", &state.best}}) {
    absl::StatusOr<double> value = ReadNumber(json, key);
    if (!value.ok()) return value.status();
    *field = *value;
  }
  for (auto [key, field] :
       {std::pair{"last_epoch", &state.last_epoch}, std::pair{"num_bad_epochs", &state.num_bad_epochs},
        std::pair{"cooldown_counter", &state.cooldown_counter}, std::pair{"t_cur", &state.t_cur},
        std::pair{"t_i", &state.t_i}}) {
    const auto it = json.find(key);
    if (it == json.end() || !it->is_number_integer()) {
      return absl::InvalidArgumentError(absl::StrCat(key, ": missing or not an integer"));
    }
    *field = it->get<int64_t>();
  }
  return state;
}

absl::StatusOr<LrSchedule> LrSchedule::Make(const nlohmann::json& scheduler, double optimizer_lr,
                                            const optim::Budget& budget) {
  LrSchedule schedule;
  schedule.optimizer_lr_ = optimizer_lr;
  schedule.budget_ = budget;
  if (scheduler.is_null()) return schedule;
  if (!scheduler.is_object() || !scheduler.contains("name") || !scheduler["name"].is_string()) {
    return absl::InvalidArgumentError("scheduler: must be a mapping with a name");
  }
  const std::string given = scheduler["name"].get<std::string>();
  const optim::Resolved resolved = optim::ResolveScheduler(given);
  if (resolved.algorithm == nullptr) {
    return absl::InvalidArgumentError(absl::StrCat("scheduler.name: unknown '", given, "'"));
  }
  nlohmann::json args = resolved.implied_args;
  for (const auto& [key, value] : scheduler.items()) {
    if (key != "name") args[key] = value;
  }
  optim::Completed completed = optim::CompleteArgs(*resolved.algorithm, args);
  if (completed.problems.empty()) {
    completed = optim::ResolveBudget(*resolved.algorithm, completed.args, budget);
  }
  if (!completed.problems.empty()) {
    const optim::ArgProblem& problem = completed.problems.front();
    return absl::InvalidArgumentError(
        absl::StrCat("scheduler.", problem.arg, problem.arg.empty() ? "" : ": ", problem.message));
  }
  schedule.args_ = std::move(completed.args);
  const std::string& name = resolved.algorithm->name;
  static const std::map<std::string, Kind>* const kKinds = new std::map<std::string, Kind>{
      {"LambdaLR", Kind::kLambda},
      {"MultiplicativeLR", Kind::kMultiplicative},
      {"StepLR", Kind::kStep},
      {"MultiStepLR", Kind::kMultiStep},
      {"ConstantLR", Kind::kConstant},
      {"LinearLR", Kind::kLinear},
      {"ExponentialLR", Kind::kExponential},
      {"PolynomialLR", Kind::kPolynomial},
      {"CosineAnnealingLR", Kind::kCosine},
      {"CosineAnnealingWarmRestarts", Kind::kWarmRestarts},
      {"CyclicLR", Kind::kCyclic},
      {"OneCycleLR", Kind::kOneCycle},
      {"ReduceLROnPlateau", Kind::kPlateau},
  };
  const auto kind = kKinds->find(name);
  if (kind == kKinds->end()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "scheduler.name: ", name, " is not simulated (segtune-worker --simulate computes every "
        "scheduler except SequentialLR and ChainedScheduler)"));
  }
  schedule.kind_ = kind->second;
  schedule.per_step_ = schedule.args_.value("interval", "epoch") == "step";
  if (schedule.kind_ == Kind::kPlateau) schedule.monitor_ = schedule.args_.at("monitor");
  if (schedule.kind_ == Kind::kLambda || schedule.kind_ == Kind::kMultiplicative) {
    std::vector<std::string> variables = {"epoch"};
    for (std::string& variable : optim::BudgetVariables()) variables.push_back(std::move(variable));
    absl::StatusOr<optim::Expression> lambda =
        optim::Expression::Parse(schedule.args_.at("lr_lambda").get<std::string>(), variables);
    if (!lambda.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat("scheduler.lr_lambda: ", lambda.status().message()));
    }
    schedule.lambda_ = *std::move(lambda);
  }
  if (schedule.kind_ == Kind::kOneCycle && schedule.args_.at("total_steps").is_null() &&
      (schedule.args_.at("epochs").is_null() || schedule.args_.at("steps_per_epoch").is_null())) {
    return absl::InvalidArgumentError(
        "scheduler.total_steps: OneCycleLR needs total_steps or epochs and steps_per_epoch");
  }
  return schedule;
}

absl::StatusOr<ScheduleState> LrSchedule::Initial() const {
  ScheduleState state;
  state.lr = optimizer_lr_;
  // Schedules that set the lr themselves (torch writes it into the param
  // group before taking initial_lr from it).
  if (kind_ == Kind::kCyclic) state.lr = Arg(args_, "base_lr");
  if (kind_ == Kind::kOneCycle) state.lr = Arg(args_, "max_lr") / Arg(args_, "div_factor");
  state.base_lr = state.lr;
  if (kind_ == Kind::kPlateau) {
    state.best = args_.at("mode") == "min" ? HUGE_VAL : -HUGE_VAL;
    return state;  // no initial step
  }
  if (kind_ == Kind::kWarmRestarts) {
    state.t_i = IntArg(args_, "T_0");
    state.t_cur = 0;
  }
  if (kind_ == Kind::kConstantRate) return state;
  // torch's initial step: last_epoch -1 -> 0.
  absl::StatusOr<double> lr = NextLr(state);
  if (!lr.ok()) return lr.status();
  state.lr = *lr;
  return state;
}

absl::Status LrSchedule::Step(ScheduleState& state, std::optional<double> metric) const {
  if (kind_ == Kind::kConstantRate) return absl::OkStatus();
  if (kind_ == Kind::kPlateau) {
    if (!metric) return absl::InternalError("ReduceLROnPlateau stepped without its metric");
    PlateauStep(state, *metric);
    return absl::OkStatus();
  }
  ++state.last_epoch;
  if (kind_ == Kind::kWarmRestarts) {
    // torch's step() without an epoch: advance within the cycle, restart
    // (and lengthen the cycle by T_mult) at its end.
    ++state.t_cur;
    if (state.t_cur >= state.t_i) {
      state.t_cur -= state.t_i;
      state.t_i *= IntArg(args_, "T_mult");
    }
  }
  absl::StatusOr<double> lr = NextLr(state);
  if (!lr.ok()) return lr.status();
  if (!std::isfinite(*lr)) {
    return absl::InvalidArgumentError(absl::StrCat("scheduler: the lr after step ", state.last_epoch,
                                                   " would be ", *lr));
  }
  state.lr = *lr;
  return absl::OkStatus();
}

void LrSchedule::Rescale(ScheduleState& state, double scale) const {
  state.base_lr *= scale;
  if (kind_ == Kind::kCosine || kind_ == Kind::kWarmRestarts) {
    state.lr = CosineClosedForm(state);
  } else {
    state.lr *= scale;
  }
}

absl::StatusOr<double> LrSchedule::Lambda(int64_t epoch) const {
  return lambda_->Evaluate({{"epoch", static_cast<double>(epoch)},
                            {"epochs", static_cast<double>(budget_.epochs)},
                            {"steps_per_epoch", static_cast<double>(budget_.steps_per_epoch)}});
}

double LrSchedule::CosineClosedForm(const ScheduleState& state) const {
  const double eta_min = Arg(args_, "eta_min");
  const double position =
      kind_ == Kind::kCosine
          ? static_cast<double>(state.last_epoch) / Arg(args_, "T_max")
          : static_cast<double>(state.t_cur) / static_cast<double>(state.t_i);
  return eta_min + (state.base_lr - eta_min) * (1 + std::cos(kPi * position)) / 2;
}

double LrSchedule::CyclicLr(const ScheduleState& state) const {
  const double t = static_cast<double>(state.last_epoch);
  const double up = Arg(args_, "step_size_up");
  const double down = args_.at("step_size_down").is_null() ? up : Arg(args_, "step_size_down");
  const double total = up + down;
  const double step_ratio = up / total;
  const double cycle = std::floor(1 + t / total);
  const double x = 1.0 + t / total - cycle;
  const double scale_factor = x <= step_ratio ? x / step_ratio : (x - 1) / (step_ratio - 1);
  // max_lr scales with the base lr under PBT's exploit, as Rescale does.
  const double base_arg = Arg(args_, "base_lr");
  const double max_lr = Arg(args_, "max_lr") * (base_arg == 0 ? 1.0 : state.base_lr / base_arg);
  const double base_height = (max_lr - state.base_lr) * scale_factor;
  // torch's scale_fn for each mode, and the scale_mode it implies.
  const std::string mode = args_.at("mode");
  double amplitude = 1;
  if (mode == "triangular2") amplitude = 1 / std::pow(2.0, cycle - 1);
  if (mode == "exp_range") amplitude = std::pow(Arg(args_, "gamma"), t);
  return state.base_lr + base_height * amplitude;
}

absl::StatusOr<double> LrSchedule::OneCycleLr(const ScheduleState& state) const {
  const int64_t total_steps = args_.at("total_steps").is_null()
                                  ? IntArg(args_, "epochs") * IntArg(args_, "steps_per_epoch")
                                  : IntArg(args_, "total_steps");
  const int64_t step = state.last_epoch;
  if (step > total_steps) {
    return absl::FailedPreconditionError(absl::StrCat(
        "scheduler: OneCycleLR tried to step ", step, " times; total_steps is ", total_steps));
  }
  const double initial_lr = state.base_lr;
  const double max_lr = initial_lr * Arg(args_, "div_factor");
  const double min_lr = initial_lr / Arg(args_, "final_div_factor");
  const double pct_start = Arg(args_, "pct_start");
  const double steps = static_cast<double>(total_steps);
  struct Phase {
    double end_step;
    double start_lr;
    double end_lr;
  };
  const std::vector<Phase> phases =
      args_.at("three_phase").get<bool>()
          ? std::vector<Phase>{{pct_start * steps - 1, initial_lr, max_lr},
                               {2 * pct_start * steps - 2, max_lr, initial_lr},
                               {steps - 1, initial_lr, min_lr}}
          : std::vector<Phase>{{pct_start * steps - 1, initial_lr, max_lr},
                               {steps - 1, max_lr, min_lr}};
  const bool cosine = args_.at("anneal_strategy") == "cos";
  double start_step = 0;
  for (size_t i = 0; i < phases.size(); ++i) {
    const Phase& phase = phases[i];
    if (static_cast<double>(step) <= phase.end_step || i + 1 == phases.size()) {
      const double pct = (static_cast<double>(step) - start_step) / (phase.end_step - start_step);
      return cosine ? phase.end_lr + (phase.start_lr - phase.end_lr) / 2 * (std::cos(kPi * pct) + 1)
                    : (phase.end_lr - phase.start_lr) * pct + phase.start_lr;
    }
    start_step = phase.end_step;
  }
  return initial_lr;  // not reached: the last phase always answers
}

void LrSchedule::PlateauStep(ScheduleState& state, double metric) const {
  ++state.last_epoch;
  const bool minimize = args_.at("mode") == "min";
  const bool relative = args_.at("threshold_mode") == "rel";
  const double threshold = Arg(args_, "threshold");
  bool better;
  if (minimize) {
    better = metric < (relative ? state.best * (1 - threshold) : state.best - threshold);
  } else {
    better = metric > (relative ? state.best * (threshold + 1) : state.best + threshold);
  }
  if (better) {
    state.best = metric;
    state.num_bad_epochs = 0;
  } else {
    ++state.num_bad_epochs;
  }
  if (state.cooldown_counter > 0) {
    --state.cooldown_counter;
    state.num_bad_epochs = 0;
  }
  if (state.num_bad_epochs > IntArg(args_, "patience")) {
    const double new_lr = std::max(state.lr * Arg(args_, "factor"), Arg(args_, "min_lr"));
    if (state.lr - new_lr > Arg(args_, "eps")) state.lr = new_lr;
    state.cooldown_counter = IntArg(args_, "cooldown");
    state.num_bad_epochs = 0;
  }
}

absl::StatusOr<double> LrSchedule::NextLr(const ScheduleState& state) const {
  const int64_t t = state.last_epoch;
  const double lr = state.lr;
  switch (kind_) {
    case Kind::kConstantRate:
    case Kind::kPlateau:
      return lr;
    case Kind::kLambda: {
      absl::StatusOr<double> factor = Lambda(t);
      if (!factor.ok()) return factor.status();
      return state.base_lr * *factor;
    }
    case Kind::kMultiplicative: {
      if (t == 0) return lr;
      absl::StatusOr<double> factor = Lambda(t);
      if (!factor.ok()) return factor.status();
      return lr * *factor;
    }
    case Kind::kStep:
      return (t == 0 || t % IntArg(args_, "step_size") != 0) ? lr : lr * Arg(args_, "gamma");
    case Kind::kMultiStep: {
      const std::vector<int64_t> milestones = args_.at("milestones");
      const auto hits = std::count(milestones.begin(), milestones.end(), t);
      return hits == 0 ? lr : lr * std::pow(Arg(args_, "gamma"), static_cast<double>(hits));
    }
    case Kind::kConstant: {
      const double factor = Arg(args_, "factor");
      if (t == 0) return lr * factor;
      return t != IntArg(args_, "total_iters") ? lr : lr * (1.0 / factor);
    }
    case Kind::kLinear: {
      const double start = Arg(args_, "start_factor");
      const double end = Arg(args_, "end_factor");
      const int64_t total = IntArg(args_, "total_iters");
      if (t == 0) return lr * start;
      if (t > total) return lr;
      return lr * (1.0 + (end - start) / (static_cast<double>(total) * start +
                                          static_cast<double>(t - 1) * (end - start)));
    }
    case Kind::kExponential:
      return t == 0 ? lr : lr * Arg(args_, "gamma");
    case Kind::kPolynomial: {
      const int64_t total = IntArg(args_, "total_iters");
      if (t == 0 || t > total) return lr;
      const double total_d = static_cast<double>(total);
      const double decay = std::pow((1.0 - static_cast<double>(t) / total_d) /
                                        (1.0 - static_cast<double>(t - 1) / total_d),
                                    Arg(args_, "power"));
      return lr * decay;
    }
    case Kind::kCosine: {
      const double eta_min = Arg(args_, "eta_min");
      const double t_max = Arg(args_, "T_max");
      const int64_t t_max_int = IntArg(args_, "T_max");
      if (t == 0) return lr;
      if (PythonMod(t - 1 - t_max_int, 2 * t_max_int) == 0) {
        return lr + (state.base_lr - eta_min) * (1 - std::cos(kPi / t_max)) / 2;
      }
      return (1 + std::cos(kPi * static_cast<double>(t) / t_max)) /
                 (1 + std::cos(kPi * static_cast<double>(t - 1) / t_max)) * (lr - eta_min) +
             eta_min;
    }
    case Kind::kWarmRestarts:
      return CosineClosedForm(state);
    case Kind::kCyclic:
      return CyclicLr(state);
    case Kind::kOneCycle:
      return OneCycleLr(state);
  }
  return lr;
}

}  // namespace segtune::simulate::internal
