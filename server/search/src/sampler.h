// Samplers make new trial configurations: grid, random and tpe. The
// early-stopping searchers (asha, hyperband, median) take their trials from
// one of them (search.sampler). Internal to segtune_search.
//
// Thread-safety: not thread-safe (see Searcher).
#pragma once

#include <vector>

#include <nlohmann/json.hpp>

#include "segtune/search/searcher.h"

namespace segtune::search::internal {

class Sampler {
 public:
  virtual ~Sampler() = default;

  // Up to `n` new configurations (see Searcher::Suggest).
  virtual std::vector<nlohmann::json> Suggest(int n) = 0;
  // See Searcher::TotalTrials.
  virtual int TotalTrials() const = 0;

  // A trial reported `objective` (oriented) after `epoch`. Samplers that learn
  // from results use these; the default ignores them.
  virtual void Observe(int trial_index, int epoch, double objective) {}
  // A trial ended (kDiverged: count it as the worst result).
  virtual void OnTrialEnd(int trial_index, TrialEnd end) {}

  // See Searcher::Restore. The default skips past trials.size() suggestions.
  virtual void Restore(const std::vector<TrialHistory>& trials) {
    Suggest(static_cast<int>(trials.size()));
  }
};

}  // namespace segtune::search::internal
