#include "segtune/search/searcher.h"

#include <limits>

#include "absl/status/status.h"
#include "grid_searcher.h"
#include "random_searcher.h"
#include "trial_builder.h"

namespace segtune::search {

absl::StatusOr<std::unique_ptr<Searcher>> Searcher::Create(const spec::SweepSpec& spec,
                                                           int already_suggested) {
  if (already_suggested < 0) {
    return absl::InvalidArgumentError("already_suggested must be >= 0, got " +
                                      std::to_string(already_suggested));
  }
  absl::StatusOr<internal::TrialBuilder> builder = internal::TrialBuilder::Create(spec);
  if (!builder.ok()) return builder.status();

  const std::string& algorithm = spec.search.algorithm;
  const int max_trials = spec.budget.max_trials;
  std::unique_ptr<Searcher> searcher;
  if (algorithm == "grid") {
    std::uint64_t points = spec::CountGridPoints(spec.search.space);
    // ParseSpec rejects these; a hand-built spec may not have been through it.
    if (points == std::numeric_limits<std::uint64_t>::max()) {
      return absl::InvalidArgumentError("the grid has too many points to number");
    }
    if (max_trials <= 0 && points > static_cast<std::uint64_t>(std::numeric_limits<int>::max())) {
      return absl::InvalidArgumentError("the grid has " + std::to_string(points) +
                                        " points: budget.max_trials must limit it");
    }
    searcher = std::make_unique<internal::GridSearcher>(*std::move(builder), spec.search.seed,
                                                        points, max_trials);
  } else if (algorithm == "random") {
    if (max_trials <= 0) {
      return absl::InvalidArgumentError("random search needs budget.max_trials >= 1");
    }
    searcher = std::make_unique<internal::RandomSearcher>(*std::move(builder), spec.search.seed,
                                                          max_trials);
  } else {
    return absl::InvalidArgumentError("search algorithm \"" + algorithm +
                                      "\" is not supported (supported: grid, random)");
  }
  // Trials are a deterministic sequence: replaying the ones made before a
  // restart brings the searcher to where it stopped.
  searcher->Suggest(already_suggested);
  return searcher;
}

}  // namespace segtune::search
