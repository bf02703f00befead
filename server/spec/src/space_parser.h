// Parses and validates `search.space` into a SearchSpace. Internal to
// segtune_spec.
//
// Thread-safety: pure function (writes only to the given Problems).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "parse_util.h"
#include "segtune/optim/catalog.h"
#include "segtune/spec/search_space.h"

namespace segtune::spec::internal {

// What the space's values are checked against besides their own ranges.
struct SpaceContext {
  // data.train_size, when valid; 0 means all of a voc or folder dataset, a
  // size the coordinator cannot know.
  std::optional<std::int64_t> train_size;
  // The budget schedule arguments may be written against (`T_max: epochs`),
  // from budget.epochs, data.train_size and training.batch_size, when valid
  // and known (not with train_size 0). Without it, budget expressions are
  // only checked for syntax.
  // Trials that search batch_size or use `bgd` get other steps_per_epoch:
  // the worker checks those values again against the trial's own budget.
  std::optional<optim::Budget> budget;
};

// A concrete value of a domain and where the spec wrote it.
struct Candidate {
  nlohmann::json value;
  std::string path;
};

// Every value a domain can take that validation must see: each fixed, grid
// and choice value, and both bounds of a distribution (the checks are all
// intervals, or monotone in the value, so valid bounds mean valid samples).
// `path` is where the domain was written.
std::vector<Candidate> Candidates(const Domain& domain, const std::string& path);

SearchSpace ParseSearchSpace(const Tree& space, const std::string& path,
                             const SpaceContext& context, Problems& problems);

}  // namespace segtune::spec::internal
