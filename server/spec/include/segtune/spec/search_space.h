// The search-space model: what `search.space` in a spec means.
//
// A value in the space is fixed (a scalar), a grid axis / categorical choice
// (a YAML list), or a distribution ({uniform|loguniform|int|choice: ..., q: ...}).
// `optimizer` and `scheduler` are lists of alternatives, each with a
// sub-space of its own arguments; other keys are dotted paths into the
// trial's configuration (`training.batch_size`, `model.base_channels`, ...).
//
// Thread-safety: immutable after construction; const methods are safe from
// any thread.
#pragma once

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
};

struct SearchSpace {
  std::vector<Alternative> optimizers;   // at least one
  std::vector<Alternative> schedulers;   // empty: constant learning rate
  std::map<std::string, Domain> others;  // dotted path -> domain
};

}  // namespace segtune::spec
