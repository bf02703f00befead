// The median stopping rule (algorithm: median), after Golovin et al. 2017,
// "Google Vizier", and Ray Tune's MedianStoppingRule.
//
// After epoch e of a trial, with e >= search.median.grace_epochs: take every
// other trial that has reported epoch e, each with its running average of
// objectives over epochs 1..e. With at least search.median.min_trials of them,
// the trial stops (kStop) when its best objective so far is strictly worse
// than their median; otherwise it continues. A trial at its last epoch
// (budget.epochs) always continues: it has nothing left to save, and stopping
// it would only mark a finished trial STOPPED.
//
// A diverged trial counts as a running average of -infinity at every epoch
// after its last report, so it is the worst of the others wherever it would
// have been; up to its last report it counts with its real objectives. NaN
// objectives count as -infinity. Failed, cancelled and stopped trials count
// up to their last report only.
//
// Restore rebuilds everything from the trials' objectives and statuses.
//
// Thread-safety: not thread-safe (see Searcher).
#pragma once

#include <memory>

#include "segtune/spec/spec.h"
#include "stopper.h"

namespace segtune::search::internal {

// The median rule with spec.search.median's settings and spec.budget.epochs.
std::unique_ptr<Stopper> MakeMedianStopper(const spec::SweepSpec& spec);

}  // namespace segtune::search::internal
