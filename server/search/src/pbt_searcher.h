// Population-based training (algorithm: pbt): budget.max_trials members train
// at once; at every perturbation_interval-th epoch a member that ranks in the
// bottom quantile copies a top member (exploit: its checkpoint and params) and
// perturbs the copied optimizer arguments (explore). Internal to
// segtune_search; docs/search.md has the rule in full.
//
// The searcher only decides. The scheduler carries a kPause verdict's Exploit
// out (copies the donor's checkpoint of the epoch, stores the params and the
// lineage entry, passes `resume` to the worker) and queues the member again
// at once, so TakeResumes has nothing to return.
//
// Thread-safety: not thread-safe (see Searcher).
#pragma once

#include <memory>

#include "absl/status/statusor.h"
#include "segtune/search/searcher.h"
#include "segtune/spec/spec.h"
#include "trial_builder.h"

namespace segtune::search::internal {

// Fails (InvalidArgument, naming the field) unless budget.max_trials >= 2,
// budget.epochs >= 1, search.perturbation_interval >= 1,
// search.quantile_fraction in (0, 0.5] and search.resample_probability in [0, 1].
absl::StatusOr<std::unique_ptr<Searcher>> MakePbtSearcher(TrialBuilder builder,
                                                          const spec::SweepSpec& spec);

}  // namespace segtune::search::internal
