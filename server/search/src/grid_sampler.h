// The grid sampler: every point of the space's grid (or a seeded random subset of
// max_trials of them, kept in grid order), with distributions and choices
// sampled per trial. Internal to segtune_search; see searcher.h for the order.
//
// Thread-safety: not thread-safe (see Searcher).
#pragma once

#include <cstdint>
#include <vector>

#include "sampler.h"
#include "trial_builder.h"

namespace segtune::search::internal {

class GridSampler final : public Sampler {
 public:
  // `grid_points` is spec::CountGridPoints of the space (not saturated);
  // `max_trials` 0 means all of them.
  GridSampler(TrialBuilder builder, std::uint64_t seed, std::uint64_t grid_points,
               int max_trials);

  std::vector<nlohmann::json> Suggest(int n) override;
  int TotalTrials() const override { return static_cast<int>(total_); }

 private:
  TrialChoice Decode(std::uint64_t point) const;

  TrialBuilder builder_;
  Random random_;
  std::uint64_t total_;
  bool sampled_subset_;
  std::vector<std::uint64_t> subset_;  // grid points to run, ascending; when sampled_subset_
  std::uint64_t next_ = 0;             // how many trials were suggested
};

}  // namespace segtune::search::internal
