// The random sampler: max_trials trials, each drawing its optimizer and scheduler
// alternative uniformly, each grid list as a uniform choice, and sampling
// distributions. Internal to segtune_search.
//
// Thread-safety: not thread-safe (see Searcher).
#pragma once

#include <cstdint>
#include <utility>
#include <vector>

#include "sampler.h"
#include "trial_builder.h"

namespace segtune::search::internal {

class RandomSampler final : public Sampler {
 public:
  RandomSampler(TrialBuilder builder, std::uint64_t seed, int max_trials)
      : builder_(std::move(builder)), random_(seed), max_trials_(max_trials) {}

  std::vector<nlohmann::json> Suggest(int n) override;
  int TotalTrials() const override { return max_trials_; }

 private:
  TrialBuilder builder_;
  Random random_;
  int max_trials_;
  int next_ = 0;  // how many trials were suggested
};

}  // namespace segtune::search::internal
