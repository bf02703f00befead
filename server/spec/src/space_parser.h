// Parses and validates `search.space` into a SearchSpace. Internal to
// segtune_spec.
//
// Thread-safety: pure function (writes only to the given Problems).
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "parse_util.h"
#include "segtune/optim/catalog.h"
#include "segtune/spec/search_space.h"

namespace segtune::spec::internal {

// What the space's values are checked against besides their own ranges.
struct SpaceContext {
  std::optional<std::int64_t> image_size;  // data.image_size, when valid
  // The budget schedule arguments may be written against (`T_max: epochs`),
  // from budget.epochs, data.train_size and training.batch_size, when valid.
  // Trials that search batch_size or use `bgd` get other steps_per_epoch:
  // the worker checks those values again against the trial's own budget.
  std::optional<optim::Budget> budget;
};

SearchSpace ParseSearchSpace(const Tree& space, const std::string& path,
                             const SpaceContext& context, Problems& problems);

}  // namespace segtune::spec::internal
