// Random search: max_trials trials, each drawing its optimizer and scheduler
// alternative uniformly, each grid list as a uniform choice, and sampling
// distributions. Internal to segtune_search.
//
// Thread-safety: not thread-safe (see Searcher).
#pragma once

#include <cstdint>
#include <utility>
#include <vector>

#include "segtune/search/searcher.h"
#include "trial_builder.h"

namespace segtune::search::internal {

class RandomSearcher final : public Searcher {
 public:
  RandomSearcher(TrialBuilder builder, std::uint64_t seed, int max_trials)
      : builder_(std::move(builder)), random_(seed), max_trials_(max_trials) {}

  std::vector<nlohmann::json> Suggest(int n) override;
  int TotalTrials() const override { return max_trials_; }
  Decision OnEpoch(int trial_index, int epoch, double objective) override {
    return Decision::kContinue;
  }

 private:
  TrialBuilder builder_;
  Random random_;
  int max_trials_;
  int next_ = 0;  // how many trials were suggested
};

}  // namespace segtune::search::internal
