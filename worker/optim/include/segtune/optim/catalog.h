// The catalog of optimizers and learning-rate schedulers segtune can build:
// their torch.optim names, aliases, arguments with torch's defaults, and the
// argument checks torch.optim's constructors make.
//
// It has no LibTorch dependency: the coordinator validates specs with it and
// the worker builds optimizers from the arguments it resolves, so both agree
// on names and defaults by construction.
//
// Thread-safety: the catalog is immutable static data; every function is
// safe from any thread.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

namespace segtune::optim {

enum class ArgType {
  kFloat,          // a number, or a budget expression (see Budget)
  kInt,            // a whole number, or a budget expression
  kBool,
  kFloatPair,      // [a, b], e.g. Adam's betas
  kIntList,        // e.g. MultiStepLR's milestones
  kString,         // e.g. ReduceLROnPlateau's mode
  kSchedulerList,  // SequentialLR's and ChainedScheduler's inner schedulers:
                   // a list of {name: ..., <argument>: <value>} mappings
};

// How an argument may be left out.
enum class Presence {
  kDefault,   // torch has a default value: default_value
  kNone,      // torch's default is None: left out, it stays null
  kRequired,  // torch has no default
};

struct ArgSpec {
  std::string name;               // torch's argument name, verbatim
  ArgType type;
  nlohmann::json default_value;   // torch's default when presence is kDefault
  Presence presence = Presence::kDefault;
};

// Shorthands for the catalog tables.
inline ArgSpec RequiredArg(std::string name, ArgType type) {
  return {std::move(name), type, nullptr, Presence::kRequired};
}
inline ArgSpec NoneArg(std::string name, ArgType type) {
  return {std::move(name), type, nullptr, Presence::kNone};
}

struct AlgorithmSpec {
  std::string name;               // torch.optim name: "SGD", "StepLR"
  std::vector<ArgSpec> args;      // in torch's constructor order
};

// What an alias stands for: `momentum` is SGD with momentum 0.9.
struct Resolved {
  const AlgorithmSpec* algorithm = nullptr;  // null: unknown name
  nlohmann::json implied_args = nlohmann::json::object();  // e.g. {"momentum": 0.9}
  // Values the alias sets outside the optimizer, as dotted paths:
  // `bgd` sets {"training.batch_size": "full"} (the whole training set).
  nlohmann::json implied_others = nlohmann::json::object();
};

// Looks up a canonical name or an alias (case-sensitive for torch names,
// e.g. "SGD"; aliases are lower case: "sgd", "momentum", "nag", "bgd", "adam",
// "step", "cosine", ...).
Resolved ResolveOptimizer(std::string_view name_or_alias);
Resolved ResolveScheduler(std::string_view name_or_alias);

// Every name and alias, for "did you mean" suggestions and docs.
std::vector<std::string> OptimizerNames();
std::vector<std::string> SchedulerNames();

// One problem with an argument value, named by argument.
struct ArgProblem {
  std::string arg;      // "lr", "betas", "milestones", or "" for the whole set
  std::string message;  // "must be >= 0 (torch: Invalid learning rate)"
};

// `args` holds concrete values (no distributions). Returns `args` with every
// missing argument set to torch's default, or the problems found: unknown
// arguments, wrong types, missing required ones, and the value checks torch's
// constructor makes (lr >= 0, betas in [0, 1), nesterov needs momentum > 0
// and dampening 0, milestones increasing, ...).
//
// A numeric argument may hold a budget expression (a string such as
// "epochs * steps_per_epoch"): its syntax is checked, it is kept as written,
// and the value checks skip it until ResolveBudget has replaced it.
// The inner schedulers of a kSchedulerList argument are resolved (aliases
// included) and completed too; problems inside them are named
// "schedulers[1].T_max".
struct Completed {
  nlohmann::json args;
  std::vector<ArgProblem> problems;
};
Completed CompleteArgs(const AlgorithmSpec& algorithm, const nlohmann::json& args);

// What a schedule's arguments may depend on: the trial's budget.
struct Budget {
  std::int64_t epochs = 1;           // epochs the trial trains
  std::int64_t steps_per_epoch = 1;  // optimizer steps per epoch
};

// The budget of a trial of `epochs` epochs over `train_size` images in
// batches of `batch_size`: the trainer keeps a smaller last batch, so an
// epoch has ceil(train_size / batch_size) optimizer steps.
// REQUIRES: batch_size >= 1.
Budget TrainingBudget(std::int64_t epochs, std::int64_t train_size, std::int64_t batch_size);

// The variables of a budget expression: "epochs" and "steps_per_epoch".
std::vector<std::string> BudgetVariables();

// Replaces every budget expression among `args` (and the args of inner
// schedulers) by its value under `budget`: a number, which must be whole for
// kInt arguments. Other values are copied. Problems name the argument
// ("T_max: epochs / 3 is 2.666..., not a whole number").
Completed ResolveBudget(const AlgorithmSpec& algorithm, const nlohmann::json& args,
                        const Budget& budget);

// A value as a user would write it in a spec, for error messages: whole floats
// without ".0" (-1, not -1.0), lists as [4, 6], mappings as "a mapping".
std::string DescribeValue(const nlohmann::json& value);

}  // namespace segtune::optim
