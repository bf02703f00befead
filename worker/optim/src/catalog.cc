// The optimizer and scheduler catalog: torch.optim 1.13 names, defaults and
// constructor checks, limited to the arguments segtune's LibTorch worker
// honours (no maximize, foreach, differentiable, capturable, verbose).
#include "segtune/optim/catalog.h"

#include <cmath>
#include <cstdint>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

namespace segtune::optim {
namespace {

using Json = nlohmann::json;
using Problems = std::vector<ArgProblem>;

// Checks the values of well-typed arguments; CompleteArgs leaves ill-typed
// and missing ones out, so every check first asks whether its argument is there.
using ValueCheck = void (*)(const Json& args, Problems& problems);

struct Entry {
  AlgorithmSpec spec;
  ValueCheck check;
};

struct Alias {
  std::string alias;
  std::string target;
  Json implied_args;
  Json implied_others;
};

// The metrics a trainer reports each epoch, which ReduceLROnPlateau may watch.
const std::set<std::string> kMonitorableMetrics = {"train_loss", "val_loss", "val_miou",
                                                   "val_pixel_acc"};

std::optional<double> Number(const Json& args, const char* name) {
  auto it = args.find(name);
  if (it == args.end() || !it->is_number()) return std::nullopt;
  return it->get<double>();
}

// "must be >= 0, got -1 (torch: Invalid learning rate)"
void AtLeast(const Json& args, const char* name, double min, const char* torch_message,
             Problems& problems) {
  std::optional<double> value = Number(args, name);
  if (!value || *value >= min) return;
  std::string message = "must be >= " + DescribeValue(Json(min)) + ", got " + DescribeValue(args.at(name));
  if (torch_message != nullptr) message += std::string(" (torch: ") + torch_message + ")";
  problems.push_back({name, std::move(message)});
}

void NonNegative(const Json& args, const char* name, const char* torch_message,
                 Problems& problems) {
  AtLeast(args, name, 0.0, torch_message, problems);
}

void Positive(const Json& args, const char* name, Problems& problems) {
  std::optional<double> value = Number(args, name);
  if (!value || *value > 0) return;
  problems.push_back({name, "must be > 0, got " + DescribeValue(args.at(name))});
}

void OneOf(const Json& args, const char* name, const std::set<std::string>& allowed,
           const char* torch_message, Problems& problems) {
  auto it = args.find(name);
  if (it == args.end() || !it->is_string() || allowed.count(it->get<std::string>()) > 0) return;
  std::string list;
  for (const std::string& value : allowed) list += (list.empty() ? "" : ", ") + value;
  std::string message = "must be one of " + list + ", got " + DescribeValue(*it);
  if (torch_message != nullptr) message += std::string(" (torch: ") + torch_message + ")";
  problems.push_back({name, std::move(message)});
}

void CheckSgd(const Json& args, Problems& problems) {
  NonNegative(args, "lr", "Invalid learning rate", problems);
  NonNegative(args, "momentum", "Invalid momentum value", problems);
  NonNegative(args, "weight_decay", "Invalid weight_decay value", problems);
  auto nesterov = args.find("nesterov");
  std::optional<double> momentum = Number(args, "momentum");
  std::optional<double> dampening = Number(args, "dampening");
  if (nesterov != args.end() && nesterov->is_boolean() && nesterov->get<bool>() && momentum &&
      dampening && (*momentum <= 0 || *dampening != 0)) {
    problems.push_back({"nesterov",
                        "needs momentum > 0 and dampening 0, got momentum " +
                            DescribeValue(args.at("momentum")) + " and dampening " +
                            DescribeValue(args.at("dampening")) +
                            " (torch: Nesterov momentum requires a momentum and zero dampening)"});
  }
}

void CheckAdam(const Json& args, Problems& problems) {
  NonNegative(args, "lr", "Invalid learning rate", problems);
  NonNegative(args, "eps", "Invalid epsilon value", problems);
  auto betas = args.find("betas");
  if (betas != args.end() && betas->is_array()) {
    for (std::size_t i = 0; i < betas->size(); ++i) {
      double beta = (*betas)[i].get<double>();
      if (beta < 0 || beta >= 1) {
        problems.push_back({"betas", "must both be in [0, 1), got " + DescribeValue(*betas) +
                                         " (torch: Invalid beta parameter at index " +
                                         std::to_string(i) + ")"});
      }
    }
  }
  NonNegative(args, "weight_decay", "Invalid weight_decay value", problems);
}

void CheckAdagrad(const Json& args, Problems& problems) {
  NonNegative(args, "lr", "Invalid learning rate", problems);
  NonNegative(args, "lr_decay", "Invalid lr_decay value", problems);
  NonNegative(args, "weight_decay", "Invalid weight_decay value", problems);
  NonNegative(args, "initial_accumulator_value", "Invalid initial_accumulator_value value",
              problems);
  NonNegative(args, "eps", "Invalid epsilon value", problems);
}

void CheckRmsprop(const Json& args, Problems& problems) {
  NonNegative(args, "lr", "Invalid learning rate", problems);
  NonNegative(args, "alpha", "Invalid alpha value", problems);
  NonNegative(args, "eps", "Invalid epsilon value", problems);
  NonNegative(args, "weight_decay", "Invalid weight_decay value", problems);
  NonNegative(args, "momentum", "Invalid momentum value", problems);
}

void CheckStepLr(const Json& args, Problems& problems) {
  AtLeast(args, "step_size", 1, nullptr, problems);
  Positive(args, "gamma", problems);
}

void CheckMultiStepLr(const Json& args, Problems& problems) {
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
        problems.push_back({"milestones", "must be strictly increasing, got " + DescribeValue(*milestones)});
        break;
      }
    }
  }
  Positive(args, "gamma", problems);
}

void CheckExponentialLr(const Json& args, Problems& problems) { Positive(args, "gamma", problems); }

void CheckCosineAnnealingLr(const Json& args, Problems& problems) {
  AtLeast(args, "T_max", 1, nullptr, problems);
  NonNegative(args, "eta_min", nullptr, problems);
}

void CheckReduceLrOnPlateau(const Json& args, Problems& problems) {
  OneOf(args, "mode", {"min", "max"}, "mode is unknown", problems);
  std::optional<double> factor = Number(args, "factor");
  if (factor && *factor >= 1.0) {
    problems.push_back(
        {"factor", "must be < 1.0, got " + DescribeValue(args.at("factor")) + " (torch: Factor should be < 1.0.)"});
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

const std::vector<Entry>& Optimizers() {
  static const std::vector<Entry> kOptimizers = {
      {{"SGD",
        {{"lr", ArgType::kFloat, nullptr},
         {"momentum", ArgType::kFloat, 0.0},
         {"dampening", ArgType::kFloat, 0.0},
         {"weight_decay", ArgType::kFloat, 0.0},
         {"nesterov", ArgType::kBool, false}}},
       CheckSgd},
      {{"Adam",
        {{"lr", ArgType::kFloat, 1e-3},
         {"betas", ArgType::kFloatPair, {0.9, 0.999}},
         {"eps", ArgType::kFloat, 1e-8},
         {"weight_decay", ArgType::kFloat, 0.0},
         {"amsgrad", ArgType::kBool, false}}},
       CheckAdam},
      {{"AdamW",
        {{"lr", ArgType::kFloat, 1e-3},
         {"betas", ArgType::kFloatPair, {0.9, 0.999}},
         {"eps", ArgType::kFloat, 1e-8},
         {"weight_decay", ArgType::kFloat, 1e-2},
         {"amsgrad", ArgType::kBool, false}}},
       CheckAdam},
      {{"Adagrad",
        {{"lr", ArgType::kFloat, 1e-2},
         {"lr_decay", ArgType::kFloat, 0.0},
         {"weight_decay", ArgType::kFloat, 0.0},
         {"initial_accumulator_value", ArgType::kFloat, 0.0},
         {"eps", ArgType::kFloat, 1e-10}}},
       CheckAdagrad},
      {{"RMSprop",
        {{"lr", ArgType::kFloat, 1e-2},
         {"alpha", ArgType::kFloat, 0.99},
         {"eps", ArgType::kFloat, 1e-8},
         {"weight_decay", ArgType::kFloat, 0.0},
         {"momentum", ArgType::kFloat, 0.0},
         {"centered", ArgType::kBool, false}}},
       CheckRmsprop},
  };
  return kOptimizers;
}

const std::vector<Entry>& Schedulers() {
  static const std::vector<Entry> kSchedulers = {
      {{"StepLR", {{"step_size", ArgType::kInt, nullptr}, {"gamma", ArgType::kFloat, 0.1}}},
       CheckStepLr},
      {{"MultiStepLR",
        {{"milestones", ArgType::kIntList, nullptr}, {"gamma", ArgType::kFloat, 0.1}}},
       CheckMultiStepLr},
      {{"ExponentialLR", {{"gamma", ArgType::kFloat, nullptr}}}, CheckExponentialLr},
      {{"CosineAnnealingLR",
        {{"T_max", ArgType::kInt, nullptr}, {"eta_min", ArgType::kFloat, 0.0}}},
       CheckCosineAnnealingLr},
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
         {"monitor", ArgType::kString, "val_loss"}}},
       CheckReduceLrOnPlateau},
  };
  return kSchedulers;
}

const std::vector<Alias>& OptimizerAliases() {
  static const std::vector<Alias> kAliases = {
      {"sgd", "SGD", Json::object(), Json::object()},
      {"momentum", "SGD", {{"momentum", 0.9}}, Json::object()},
      {"nag", "SGD", {{"momentum", 0.9}, {"nesterov", true}}, Json::object()},
      {"nesterov", "SGD", {{"momentum", 0.9}, {"nesterov", true}}, Json::object()},
      {"bgd", "SGD", Json::object(), {{"training.batch_size", "full"}}},
      {"adam", "Adam", Json::object(), Json::object()},
      {"adamw", "AdamW", Json::object(), Json::object()},
      {"adagrad", "Adagrad", Json::object(), Json::object()},
      {"rmsprop", "RMSprop", Json::object(), Json::object()},
  };
  return kAliases;
}

const std::vector<Alias>& SchedulerAliases() {
  static const std::vector<Alias> kAliases = {
      {"step", "StepLR", Json::object(), Json::object()},
      {"multistep", "MultiStepLR", Json::object(), Json::object()},
      {"exponential", "ExponentialLR", Json::object(), Json::object()},
      {"exp", "ExponentialLR", Json::object(), Json::object()},
      {"cosine", "CosineAnnealingLR", Json::object(), Json::object()},
      {"plateau", "ReduceLROnPlateau", Json::object(), Json::object()},
  };
  return kAliases;
}

const Entry* FindEntry(const std::vector<Entry>& entries, std::string_view name) {
  for (const Entry& entry : entries) {
    if (entry.spec.name == name) return &entry;
  }
  return nullptr;
}

Resolved Resolve(const std::vector<Entry>& entries, const std::vector<Alias>& aliases,
                 std::string_view name_or_alias) {
  Resolved resolved;
  if (const Entry* entry = FindEntry(entries, name_or_alias)) {
    resolved.algorithm = &entry->spec;
    return resolved;
  }
  for (const Alias& alias : aliases) {
    if (alias.alias != name_or_alias) continue;
    resolved.algorithm = &FindEntry(entries, alias.target)->spec;
    resolved.implied_args = alias.implied_args;
    resolved.implied_others = alias.implied_others;
    break;
  }
  return resolved;
}

std::vector<std::string> Names(const std::vector<Entry>& entries,
                               const std::vector<Alias>& aliases) {
  std::vector<std::string> names;
  for (const Entry& entry : entries) names.push_back(entry.spec.name);
  for (const Alias& alias : aliases) names.push_back(alias.alias);
  return names;
}

ValueCheck ChecksOf(const AlgorithmSpec& algorithm) {
  if (const Entry* entry = FindEntry(Optimizers(), algorithm.name)) return entry->check;
  if (const Entry* entry = FindEntry(Schedulers(), algorithm.name)) return entry->check;
  return nullptr;  // not one of ours: only names and types can be checked
}

std::optional<std::int64_t> WholeNumber(const Json& value) {
  if (value.is_number_unsigned()) {
    if (value.get<std::uint64_t>() > static_cast<std::uint64_t>(INT64_MAX)) return std::nullopt;
    return static_cast<std::int64_t>(value.get<std::uint64_t>());
  }
  if (value.is_number_integer()) return value.get<std::int64_t>();
  if (value.is_number_float()) {
    double number = value.get<double>();
    // Beyond 2^53 doubles no longer hold every integer; nothing sane is that big.
    if (std::floor(number) == number && std::fabs(number) <= 9007199254740992.0) {
      return static_cast<std::int64_t>(number);
    }
  }
  return std::nullopt;
}

// Converts `value` to the canonical form of `type`, or says what is wrong.
std::optional<Json> Canonical(ArgType type, const Json& value, std::string& error) {
  switch (type) {
    case ArgType::kFloat:
      if (value.is_number()) return Json(value.get<double>());
      error = "must be a number, got " + DescribeValue(value);
      return std::nullopt;
    case ArgType::kInt:
      if (auto whole = WholeNumber(value)) return Json(*whole);
      error = "must be an integer, got " + DescribeValue(value);
      return std::nullopt;
    case ArgType::kBool:
      if (value.is_boolean()) return value;
      error = "must be true or false, got " + DescribeValue(value);
      return std::nullopt;
    case ArgType::kFloatPair:
      if (value.is_array() && value.size() == 2 && value[0].is_number() && value[1].is_number()) {
        return Json::array({value[0].get<double>(), value[1].get<double>()});
      }
      error = "must be a list of 2 numbers, got " + DescribeValue(value);
      return std::nullopt;
    case ArgType::kIntList: {
      Json list = Json::array();
      if (value.is_array()) {
        for (const Json& element : value) {
          std::optional<std::int64_t> whole = WholeNumber(element);
          if (!whole) break;
          list.push_back(*whole);
        }
        if (list.size() == value.size()) return list;
      }
      error = "must be a list of integers, got " + DescribeValue(value);
      return std::nullopt;
    }
    case ArgType::kString:
      if (value.is_string()) return value;
      error = "must be a string, got " + DescribeValue(value);
      return std::nullopt;
  }
  error = "has an unknown argument type";
  return std::nullopt;
}

std::string ArgumentList(const AlgorithmSpec& algorithm) {
  std::string list;
  for (const ArgSpec& arg : algorithm.args) list += (list.empty() ? "" : ", ") + arg.name;
  return list;
}

}  // namespace

Resolved ResolveOptimizer(std::string_view name_or_alias) {
  return Resolve(Optimizers(), OptimizerAliases(), name_or_alias);
}

Resolved ResolveScheduler(std::string_view name_or_alias) {
  return Resolve(Schedulers(), SchedulerAliases(), name_or_alias);
}

std::vector<std::string> OptimizerNames() { return Names(Optimizers(), OptimizerAliases()); }

std::vector<std::string> SchedulerNames() { return Names(Schedulers(), SchedulerAliases()); }

Completed CompleteArgs(const AlgorithmSpec& algorithm, const nlohmann::json& args) {
  Completed completed;
  completed.args = Json::object();
  if (!args.is_object()) {
    completed.problems.push_back(
        {"", "must be a mapping of argument names to values, got " + DescribeValue(args)});
    return completed;
  }
  for (const auto& [key, value] : args.items()) {
    // A trial's params object carries the name beside the arguments; accept it
    // so callers can pass that object as it is.
    if (key == "name") continue;
    const ArgSpec* spec = nullptr;
    for (const ArgSpec& candidate : algorithm.args) {
      if (candidate.name == key) spec = &candidate;
    }
    if (spec == nullptr) {
      completed.problems.push_back({key, "unknown argument of " + algorithm.name +
                                             " (arguments: " + ArgumentList(algorithm) + ")"});
      continue;
    }
    std::string error;
    if (std::optional<Json> canonical = Canonical(spec->type, value, error)) {
      completed.args[key] = std::move(*canonical);
    } else {
      completed.problems.push_back({key, std::move(error)});
    }
  }
  for (const ArgSpec& spec : algorithm.args) {
    if (args.contains(spec.name)) continue;
    if (spec.default_value.is_null()) {
      completed.problems.push_back(
          {spec.name, "is required: " + algorithm.name + " has no default for it"});
    } else {
      completed.args[spec.name] = spec.default_value;
    }
  }
  if (ValueCheck check = ChecksOf(algorithm)) check(completed.args, completed.problems);
  return completed;
}

std::string DescribeValue(const Json& value) {
  if (value.is_object()) return "a mapping";
  if (value.is_array()) {
    std::string list;
    for (const Json& element : value) list += (list.empty() ? "" : ", ") + DescribeValue(element);
    return "[" + list + "]";
  }
  if (value.is_number_float()) {
    const double number = value.get<double>();
    if (std::floor(number) == number && std::fabs(number) < 1e15) {
      return std::to_string(static_cast<std::int64_t>(number));
    }
  }
  return value.dump();
}

}  // namespace segtune::optim
