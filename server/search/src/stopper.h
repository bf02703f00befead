// Stoppers decide whether a running trial deserves more epochs: asha (and
// hyperband, which is asha with several brackets) and the median rule. They
// sit on top of a Sampler (composed_searcher.h). Internal to segtune_search.
//
// Thread-safety: not thread-safe (see Searcher).
#pragma once

#include <vector>

#include "segtune/search/searcher.h"

namespace segtune::search::internal {

class Stopper {
 public:
  virtual ~Stopper() = default;

  // See Searcher::OnEpoch.
  virtual Verdict OnEpoch(int trial_index, int epoch, double objective) = 0;
  // See Searcher::OnTrialEnd (kDiverged: count it as the worst result).
  virtual void OnTrialEnd(int trial_index, TrialEnd end) {}
  // See Searcher::TakeResumes.
  virtual std::vector<int> TakeResumes() { return {}; }
  // See Searcher::Restore.
  virtual void Restore(const std::vector<TrialHistory>& trials) = 0;
};

}  // namespace segtune::search::internal
