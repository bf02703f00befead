// The catalog's machinery: name and alias lookup, argument completion with
// torch's defaults, budget expressions. The tables themselves are in
// optimizer_catalog.cc and scheduler_catalog.cc.
#include "segtune/optim/catalog.h"

#include <cmath>
#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "catalog_internal.h"
#include "absl/status/statusor.h"
#include "segtune/optim/expression.h"

namespace segtune::optim {
namespace internal {

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

}  // namespace internal

namespace {

using namespace internal;  // NOLINT: the catalog's own building blocks

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
  if (const Entry* entry = FindEntry(OptimizerEntries(), algorithm.name)) return entry->check;
  if (const Entry* entry = FindEntry(SchedulerEntries(), algorithm.name)) return entry->check;
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

// A budget expression: the syntax is checked now, the value once the
// trial's budget is known (ResolveBudget).
std::optional<Json> BudgetExpression(const Json& value, std::string& error) {
  absl::StatusOr<Expression> expression =
      Expression::Parse(value.get<std::string>(), BudgetVariables());
  if (expression.ok()) return value;
  error = "is not a number or a valid budget expression: " + std::string(expression.status().message());
  return std::nullopt;
}

// Converts `value` to the canonical form of `type`, or says what is wrong.
// kSchedulerList is handled by CompleteSchedulerList.
std::optional<Json> Canonical(ArgType type, const Json& value, std::string& error) {
  switch (type) {
    case ArgType::kFloat:
      if (value.is_number()) return Json(value.get<double>());
      if (value.is_string()) return BudgetExpression(value, error);
      error = "must be a number, got " + DescribeValue(value);
      return std::nullopt;
    case ArgType::kInt:
      if (auto whole = WholeNumber(value)) return Json(*whole);
      if (value.is_string()) return BudgetExpression(value, error);
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
    case ArgType::kSchedulerList:
      break;
  }
  error = "has an unknown argument type";
  return std::nullopt;
}

// Arguments that belong to the outermost scheduler only: how often it is
// stepped, and which metric ReduceLROnPlateau watches.
bool IsSteppingArgument(const std::string& name) { return name == "interval" || name == "monitor"; }

bool IsComposite(const AlgorithmSpec& algorithm) {
  for (const ArgSpec& arg : algorithm.args) {
    if (arg.type == ArgType::kSchedulerList) return true;
  }
  return false;
}

// Resolves and completes the inner schedulers of SequentialLR or
// ChainedScheduler; problems are named "schedulers[i].arg".
std::optional<Json> CompleteSchedulerList(const std::string& arg, const Json& value,
                                          Problems& problems) {
  if (!value.is_array() || value.empty()) {
    problems.push_back({arg, "must be a non-empty list of schedulers like [{name: LinearLR}, "
                             "{name: ExponentialLR, gamma: 0.9}], got " + DescribeValue(value)});
    return std::nullopt;
  }
  Json completed_list = Json::array();
  const std::size_t problems_before = problems.size();
  for (std::size_t i = 0; i < value.size(); ++i) {
    const std::string where = arg + "[" + std::to_string(i) + "]";
    const Json& inner = value[i];
    if (!inner.is_object() || !inner.contains("name") || !inner.at("name").is_string()) {
      problems.push_back({where, "must be a mapping with a scheduler name, got " + DescribeValue(inner)});
      continue;
    }
    const std::string name = inner.at("name").get<std::string>();
    const Resolved resolved = ResolveScheduler(name);
    if (resolved.algorithm == nullptr) {
      problems.push_back({where + ".name", "unknown scheduler \"" + name + "\""});
      continue;
    }
    const AlgorithmSpec& algorithm = *resolved.algorithm;
    if (algorithm.name == "ReduceLROnPlateau" || IsComposite(algorithm)) {
      problems.push_back({where + ".name", algorithm.name + " cannot be an inner scheduler "
                                           "(torch steps inner schedulers without a metric, "
                                           "and segtune does not nest them)"});
      continue;
    }
    Json args = resolved.implied_args;
    bool stepping_problem = false;
    for (const auto& [key, inner_value] : inner.items()) {
      if (IsSteppingArgument(key)) {
        problems.push_back({where + "." + key, "belongs on the outer scheduler, which steps the "
                                               "inner ones"});
        stepping_problem = true;
        continue;
      }
      args[key] = inner_value;
    }
    Completed completed = CompleteArgs(algorithm, args);
    for (ArgProblem& problem : completed.problems) {
      problem.arg = problem.arg.empty() ? where : where + "." + problem.arg;
      problems.push_back(std::move(problem));
    }
    if (stepping_problem) continue;
    Json canonical = {{"name", algorithm.name}};
    for (const auto& [key, inner_value] : completed.args.items()) {
      if (!IsSteppingArgument(key)) canonical[key] = inner_value;
    }
    completed_list.push_back(std::move(canonical));
  }
  if (problems.size() != problems_before) return std::nullopt;
  return completed_list;
}

const ArgSpec* FindArg(const AlgorithmSpec& algorithm, const std::string& name) {
  for (const ArgSpec& arg : algorithm.args) {
    if (arg.name == name) return &arg;
  }
  return nullptr;
}

std::string ArgumentList(const AlgorithmSpec& algorithm) {
  std::string list;
  for (const ArgSpec& arg : algorithm.args) list += (list.empty() ? "" : ", ") + arg.name;
  return list;
}

}  // namespace

Resolved ResolveOptimizer(std::string_view name_or_alias) {
  return Resolve(OptimizerEntries(), OptimizerAliases(), name_or_alias);
}

Resolved ResolveScheduler(std::string_view name_or_alias) {
  return Resolve(SchedulerEntries(), SchedulerAliases(), name_or_alias);
}

std::vector<std::string> OptimizerNames() { return Names(OptimizerEntries(), OptimizerAliases()); }

std::vector<std::string> SchedulerNames() { return Names(SchedulerEntries(), SchedulerAliases()); }

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
    const ArgSpec* spec = FindArg(algorithm, key);
    if (spec == nullptr) {
      completed.problems.push_back({key, "unknown argument of " + algorithm.name +
                                             " (arguments: " + ArgumentList(algorithm) + ")"});
      continue;
    }
    if (value.is_null() && spec->presence == Presence::kNone) {
      completed.args[key] = nullptr;  // torch's None, written out
      continue;
    }
    if (spec->type == ArgType::kSchedulerList) {
      if (std::optional<Json> list = CompleteSchedulerList(key, value, completed.problems)) {
        completed.args[key] = std::move(*list);
      }
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
    switch (spec.presence) {
      case Presence::kRequired:
        completed.problems.push_back(
            {spec.name, "is required: " + algorithm.name + " has no default for it"});
        break;
      case Presence::kNone:
        completed.args[spec.name] = nullptr;
        break;
      case Presence::kDefault:
        completed.args[spec.name] = spec.default_value;
        break;
    }
  }
  if (ValueCheck check = ChecksOf(algorithm)) check(completed.args, completed.problems);
  return completed;
}

Budget TrainingBudget(std::int64_t epochs, std::int64_t train_size, std::int64_t batch_size) {
  return Budget{epochs, (train_size + batch_size - 1) / batch_size};
}

std::vector<std::string> BudgetVariables() { return {"epochs", "steps_per_epoch"}; }

Completed ResolveBudget(const AlgorithmSpec& algorithm, const nlohmann::json& args,
                        const Budget& budget) {
  Completed resolved;
  resolved.args = args;
  if (!args.is_object()) return resolved;
  const std::map<std::string, double> values = {
      {"epochs", static_cast<double>(budget.epochs)},
      {"steps_per_epoch", static_cast<double>(budget.steps_per_epoch)}};
  for (auto& [key, value] : resolved.args.items()) {
    const ArgSpec* spec = FindArg(algorithm, key);
    if (spec == nullptr) continue;
    if (spec->type == ArgType::kSchedulerList && value.is_array()) {
      for (std::size_t i = 0; i < value.size(); ++i) {
        Json& inner = value[i];
        if (!inner.is_object() || !inner.contains("name") || !inner.at("name").is_string()) continue;
        const Resolved inner_algorithm = ResolveScheduler(inner.at("name").get<std::string>());
        if (inner_algorithm.algorithm == nullptr) continue;
        Completed inner_resolved = ResolveBudget(*inner_algorithm.algorithm, inner, budget);
        for (ArgProblem& problem : inner_resolved.problems) {
          problem.arg = key + "[" + std::to_string(i) + "]." + problem.arg;
          resolved.problems.push_back(std::move(problem));
        }
        inner = std::move(inner_resolved.args);
      }
      continue;
    }
    if (!value.is_string() || (spec->type != ArgType::kFloat && spec->type != ArgType::kInt)) {
      continue;
    }
    const std::string text = value.get<std::string>();
    absl::StatusOr<Expression> expression = Expression::Parse(text, BudgetVariables());
    absl::StatusOr<double> number =
        expression.ok() ? expression->Evaluate(values) : absl::StatusOr<double>(expression.status());
    if (!number.ok()) {
      resolved.problems.push_back({key, std::string(number.status().message())});
      continue;
    }
    if (spec->type == ArgType::kFloat) {
      value = *number;
    } else if (std::optional<std::int64_t> whole = WholeNumber(Json(*number))) {
      value = *whole;
    } else {
      resolved.problems.push_back(
          {key, "\"" + text + "\" is " + DescribeValue(Json(*number)) + " for epochs " +
                    std::to_string(budget.epochs) + " and steps_per_epoch " +
                    std::to_string(budget.steps_per_epoch) + ", not a whole number"});
    }
  }
  return resolved;
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
