// Shared by optimizer_factory.cc and scheduler_factory.cc: resolving a
// {"name": ..., args...} object with the catalog and reading its completed
// arguments, so that an argument a builder ignores is refused unless it holds
// torch's default.
#pragma once

#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <tuple>
#include <exception>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "segtune/optim/catalog.h"

namespace segtune::optim::internal {

using nlohmann::json;

// A catalog-completed argument set, read by the builders. It remembers what
// was read so that Finish() can refuse arguments the builder ignored unless
// they hold torch's default (ignoring them then changes nothing).
class Arguments {
 public:
  Arguments(std::string kind, const AlgorithmSpec& algorithm, json args)
      : kind_(std::move(kind)), algorithm_(&algorithm), args_(std::move(args)) {}

  const std::string& algorithm_name() const { return algorithm_->name; }

  std::optional<double> Float(const std::string& name) {
    const json* value = Read(name);
    if (value == nullptr) return std::nullopt;
    if (!value->is_number()) return Mistyped(name, "a number");
    return value->get<double>();
  }

  std::optional<int64_t> Int(const std::string& name) {
    const json* value = Read(name);
    if (value == nullptr) return std::nullopt;
    // CompleteArgs has already turned whole floats like 3.0 into integers.
    if (!value->is_number_integer()) return Mistyped(name, "a whole number");
    return value->get<int64_t>();
  }

  std::optional<bool> Bool(const std::string& name) {
    const json* value = Read(name);
    if (value == nullptr) return std::nullopt;
    if (!value->is_boolean()) return Mistyped(name, "true or false");
    return value->get<bool>();
  }

  std::optional<std::string> String(const std::string& name) {
    const json* value = Read(name);
    if (value == nullptr) return std::nullopt;
    if (!value->is_string()) return Mistyped(name, "a string");
    return value->get<std::string>();
  }

  std::optional<std::tuple<double, double>> FloatPair(const std::string& name) {
    const json* value = Read(name);
    if (value == nullptr) return std::nullopt;
    if (!value->is_array() || value->size() != 2 || !(*value)[0].is_number() ||
        !(*value)[1].is_number()) {
      return Mistyped(name, "a pair of numbers [a, b]");
    }
    return std::make_tuple((*value)[0].get<double>(), (*value)[1].get<double>());
  }

  std::optional<std::vector<int64_t>> IntList(const std::string& name) {
    const json* value = Read(name);
    if (value == nullptr) return std::nullopt;
    if (!value->is_array()) return Mistyped(name, "a list of whole numbers");
    std::vector<int64_t> list;
    for (const json& element : *value) {
      if (!element.is_number_integer()) return Mistyped(name, "a list of whole numbers");
      list.push_back(element.get<int64_t>());
    }
    return list;
  }

  // SequentialLR's and ChainedScheduler's inner schedulers, as the catalog
  // completed them: [{"name": ..., <argument>: <value>, ...}, ...].
  std::optional<std::vector<json>> SchedulerList(const std::string& name) {
    const json* value = Read(name);
    if (value == nullptr) return std::nullopt;
    if (!value->is_array()) return Mistyped(name, "a list of schedulers");
    return value->get<std::vector<json>>();
  }

  // Records a problem found by a builder.
  void AddProblem(const std::string& name, const std::string& message) {
    problems_.push_back(absl::StrCat(kind_, ".", name, ": ", message));
  }

  // OK when every argument was read or still has torch's default.
  absl::Status Finish() {
    for (const auto& [name, value] : args_.items()) {
      if (read_.count(name) > 0) continue;
      const ArgSpec* spec = FindSpec(name);
      if (spec != nullptr && value == spec->default_value) continue;
      problems_.push_back(absl::StrCat(kind_, ".", name, ": not supported by this worker's ",
                                       algorithm_->name, " (only torch's default ",
                                       spec != nullptr ? spec->default_value.dump() : "none",
                                       " is accepted)"));
    }
    if (problems_.empty()) return absl::OkStatus();
    return absl::InvalidArgumentError(absl::StrJoin(problems_, "; "));
  }

 private:
  // Null is torch's None (the catalog completes a left-out None argument to
  // null): the readers return nothing for it, as for an absent argument.
  const json* Read(const std::string& name) {
    read_.insert(name);
    auto it = args_.find(name);
    return it == args_.end() || it->is_null() ? nullptr : &*it;
  }

  std::nullopt_t Mistyped(const std::string& name, const char* expected) {
    AddProblem(name, absl::StrCat("must be ", expected));
    return std::nullopt;
  }

  const ArgSpec* FindSpec(const std::string& name) const {
    for (const ArgSpec& spec : algorithm_->args) {
      if (spec.name == name) return &spec;
    }
    return nullptr;
  }

  std::string kind_;
  const AlgorithmSpec* algorithm_;  // static catalog data
  json args_;
  std::set<std::string> read_;
  std::vector<std::string> problems_;
};

// Resolves {"name": ..., args...} with the catalog and completes the
// arguments: the alias's implied arguments first, explicit ones over them.
// With a budget, budget expressions are replaced by their values.
inline absl::StatusOr<Arguments> ResolveAndComplete(const json& params, const std::string& kind,
                                                    Resolved (*resolve)(std::string_view),
                                                    const Budget* budget = nullptr) {
  if (!params.is_object()) {
    return absl::InvalidArgumentError(
        absl::StrCat(kind, ": must be an object like {\"name\": ...}, got ", params.dump()));
  }
  auto name_it = params.find("name");
  if (name_it == params.end() || !name_it->is_string()) {
    return absl::InvalidArgumentError(absl::StrCat(kind, ".name: required string"));
  }
  const std::string name = name_it->get<std::string>();
  const Resolved resolved = resolve(name);
  if (resolved.algorithm == nullptr) {
    return absl::InvalidArgumentError(absl::StrCat(kind, ".name: unknown ", kind, " '", name, "'"));
  }
  const AlgorithmSpec& algorithm = *resolved.algorithm;

  json args = resolved.implied_args.is_object() ? resolved.implied_args : json::object();
  for (const auto& [key, value] : params.items()) {
    if (key != "name") args[key] = value;
  }

  // Budget expressions first, so that the value checks see numbers.
  std::vector<ArgProblem> budget_problems;
  if (budget != nullptr) {
    Completed resolved_budget = ResolveBudget(algorithm, args, *budget);
    args = std::move(resolved_budget.args);
    budget_problems = std::move(resolved_budget.problems);
  }
  Completed completed = CompleteArgs(algorithm, args);
  completed.problems.insert(completed.problems.begin(), budget_problems.begin(),
                            budget_problems.end());
  if (!completed.problems.empty()) {
    std::vector<std::string> messages;
    for (const ArgProblem& problem : completed.problems) {
      messages.push_back(problem.arg.empty()
                             ? absl::StrCat(kind, " ", algorithm.name, ": ", problem.message)
                             : absl::StrCat(kind, ".", problem.arg, ": ", problem.message));
    }
    return absl::InvalidArgumentError(absl::StrJoin(messages, "; "));
  }
  return Arguments(kind, algorithm, std::move(completed.args));
}

// LibTorch's constructors check their options with TORCH_CHECK, which throws.
template <typename Build>
auto CatchTorchErrors(const std::string& kind, Build build) -> decltype(build()) {
  try {
    return build();
  } catch (const std::exception& error) {
    return absl::InvalidArgumentError(absl::StrCat(kind, ": ", error.what()));
  }
}

}  // namespace segtune::optim::internal
