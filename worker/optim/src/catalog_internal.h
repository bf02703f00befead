// What the catalog's tables are made of, shared by catalog.cc (the lookup and
// completion machinery), optimizer_catalog.cc and scheduler_catalog.cc.
#pragma once

#include <optional>
#include <set>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "segtune/optim/catalog.h"

namespace segtune::optim::internal {

using Json = nlohmann::json;
using Problems = std::vector<ArgProblem>;

// Checks the values of well-typed arguments; CompleteArgs leaves ill-typed
// and missing ones out, and budget expressions stay strings until resolved,
// so every check first asks whether its argument is there as a number.
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

// The tables, in torch.optim's documentation order.
const std::vector<Entry>& OptimizerEntries();
const std::vector<Alias>& OptimizerAliases();
const std::vector<Entry>& SchedulerEntries();
const std::vector<Alias>& SchedulerAliases();

// Helpers for ValueChecks. Each adds a problem naming the argument, and
// torch's own message in parentheses when there is one.
std::optional<double> Number(const Json& args, const char* name);
void AtLeast(const Json& args, const char* name, double min, const char* torch_message,
             Problems& problems);
void NonNegative(const Json& args, const char* name, const char* torch_message,
                 Problems& problems);
void Positive(const Json& args, const char* name, Problems& problems);
void OneOf(const Json& args, const char* name, const std::set<std::string>& allowed,
           const char* torch_message, Problems& problems);

}  // namespace segtune::optim::internal
