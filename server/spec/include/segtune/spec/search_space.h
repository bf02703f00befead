// The search-space model: what `search.space` in a spec means.
//
// A value in the space is fixed (a scalar), a grid axis / categorical choice
// (a YAML list), or a distribution ({uniform|loguniform|int|choice: ..., q: ...}).
// `optimizer` and `scheduler` are lists of alternatives, each with a
// sub-space of its own arguments; other keys are dotted paths into the
// trial's configuration (`training.batch_size`, `model.base_channels`, ...).
//
// Thread-safety: immutable after construction; const methods and the free
// functions below are safe from any thread.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace segtune::spec {

// One dimension of the space.
struct Domain {
  enum class Kind { kFixed, kGrid, kUniform, kLogUniform, kInt, kChoice };
  Kind kind = Kind::kFixed;
  nlohmann::json fixed;                 // kFixed
  std::vector<nlohmann::json> values;   // kGrid, kChoice
  double low = 0, high = 0;             // kUniform, kLogUniform, kInt (inclusive)
  std::optional<double> q;              // quantization step, if any
};

// One alternative of `optimizer` or `scheduler`: a canonical torch name
// ("SGD", "StepLR") plus the domains of its arguments. Aliases are resolved
// here: `momentum` becomes SGD with a fixed momentum of 0.9.
struct Alternative {
  std::string name;                      // canonical torch.optim name
  std::string alias;                     // what the user wrote, if it differed
  std::map<std::string, Domain> args;    // argument name -> domain
  // The keys of `args` in the order the spec wrote them (arguments an alias
  // implies come first): the order of the grid's axes. Keys missing here come
  // after, by name.
  std::vector<std::string> arg_order;
  // Values the alias sets outside the optimizer, as dotted paths; `bgd` sets
  // {"training.batch_size": "full"}, which means data.train_size.
  nlohmann::json implied_others = nlohmann::json::object();
};

struct SearchSpace {
  std::vector<Alternative> optimizers;   // at least one
  std::vector<Alternative> schedulers;   // empty: constant learning rate
  std::map<std::string, Domain> others;  // dotted path -> domain
  std::vector<std::string> other_order;  // keys of `others` in spec order, like arg_order
};

// Grids larger than this need budget.max_trials (a random subset of them).
inline constexpr std::uint64_t kMaxGridPointsWithoutLimit = 10000;

// The number of points of the grid the space spans: the sum over optimizer
// alternatives of the product of their kGrid axes, times the same for
// schedulers (1 when there are none), times the product of the kGrid axes of
// `others`. Distributions and choices are sampled, so they add no points.
// Saturates at UINT64_MAX.
std::uint64_t CountGridPoints(const SearchSpace& space);

// The keys of `domains` in grid order: those of `order` first, then the rest
// by name.
std::vector<std::string> OrderedKeys(const std::map<std::string, Domain>& domains,
                                     const std::vector<std::string>& order);

}  // namespace segtune::spec
