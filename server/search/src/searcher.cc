#include "segtune/search/searcher.h"

#include <limits>

#include "absl/status/status.h"
#include "asha_stopper.h"
#include "composed_searcher.h"
#include "grid_sampler.h"
#include "median_stopper.h"
#include "pbt_searcher.h"
#include "random_sampler.h"
#include "tpe_sampler.h"
#include "trial_builder.h"

namespace segtune::search {
namespace {

using internal::Sampler;
using internal::Stopper;

absl::StatusOr<std::unique_ptr<Sampler>> MakeGridSampler(internal::TrialBuilder builder,
                                                        const spec::SweepSpec& spec) {
  const int max_trials = spec.budget.max_trials;
  std::uint64_t points = spec::CountGridPoints(spec.search.space);
  // ParseSpec rejects these; a hand-built spec may not have been through it.
  if (points == std::numeric_limits<std::uint64_t>::max()) {
    return absl::InvalidArgumentError("the grid has too many points to number");
  }
  if (max_trials <= 0 && points > static_cast<std::uint64_t>(std::numeric_limits<int>::max())) {
    return absl::InvalidArgumentError("the grid has " + std::to_string(points) +
                                      " points: budget.max_trials must limit it");
  }
  return std::make_unique<internal::GridSampler>(std::move(builder), spec.search.seed, points,
                                                 max_trials);
}

// The sampler named `name` (grid | random | tpe).
absl::StatusOr<std::unique_ptr<Sampler>> MakeSampler(const std::string& name,
                                                    internal::TrialBuilder builder,
                                                    const spec::SweepSpec& spec) {
  if (name == "grid") return MakeGridSampler(std::move(builder), spec);
  const int max_trials = spec.budget.max_trials;
  if (max_trials <= 0) {
    return absl::InvalidArgumentError(name + " sampling needs budget.max_trials >= 1");
  }
  if (name == "random") {
    return std::make_unique<internal::RandomSampler>(std::move(builder), spec.search.seed,
                                                     max_trials);
  }
  if (name == "tpe") return internal::MakeTpeSampler(std::move(builder), spec);
  return absl::InvalidArgumentError("sampler \"" + name + "\" is not supported (supported: grid, random, tpe)");
}

}  // namespace

void Searcher::Restore(const std::vector<TrialHistory>& trials) {
  Suggest(static_cast<int>(trials.size()));
}

absl::StatusOr<std::unique_ptr<Searcher>> Searcher::Create(const spec::SweepSpec& spec) {
  absl::StatusOr<internal::TrialBuilder> builder = internal::TrialBuilder::Create(spec);
  if (!builder.ok()) return builder.status();

  const std::string& algorithm = spec.search.algorithm;
  // Sampling alone: every trial runs all its epochs. lr_range_test runs one
  // trial per point of its grid (the parser fixed each alternative's lr).
  if (algorithm == "grid" || algorithm == "random" || algorithm == "tpe" ||
      algorithm == "lr_range_test") {
    const std::string sampler_name = algorithm == "lr_range_test" ? "grid" : algorithm;
    auto sampler = MakeSampler(sampler_name, *std::move(builder), spec);
    if (!sampler.ok()) return sampler.status();
    return std::make_unique<internal::ComposedSearcher>(*std::move(sampler), nullptr);
  }
  // Early stopping on top of a sampler (search.sampler).
  if (algorithm == "asha" || algorithm == "hyperband" || algorithm == "median") {
    auto sampler = MakeSampler(spec.search.sampler, *std::move(builder), spec);
    if (!sampler.ok()) return sampler.status();
    std::unique_ptr<Stopper> stopper =
        algorithm == "median" ? internal::MakeMedianStopper(spec) : internal::MakeAshaStopper(spec);
    return std::make_unique<internal::ComposedSearcher>(*std::move(sampler), std::move(stopper));
  }
  if (algorithm == "pbt") return internal::MakePbtSearcher(*std::move(builder), spec);
  return absl::InvalidArgumentError("search algorithm \"" + algorithm +
                                    "\" is not supported (supported: grid, random, asha, hyperband, "
                                    "median, pbt, tpe, lr_range_test)");
}

}  // namespace segtune::search
