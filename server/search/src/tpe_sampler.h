// The tpe sampler (algorithm: tpe; also search.sampler: tpe under asha,
// hyperband and median): a tree-structured Parzen estimator after Bergstra et
// al. 2011, "Algorithms for Hyper-Parameter Optimization", in the style of
// Optuna's TPESampler. Internal to segtune_search.
//
// The space is a tree: the optimizer alternative (categorical), the arguments
// of each alternative (present only when it is chosen), the scheduler
// alternative and its arguments likewise, then the other keys. Grid lists and
// {choice: ...} are categorical; uniform is continuous; loguniform is
// continuous in log space; int is continuous over [low - 1/2, high + 1/2],
// rounded; q puts values on the multiples of q within the bounds; scalars are
// fixed. An other key that the optimizer's alias sets (bgd's batch size) is
// absent from that optimizer's trials.
//
// budget.max_trials trials in all, suggested one at a time (TotalTrials is
// -1) so that each learns from the results so far. The first
// search.tpe.n_startup_trials are drawn at random (each dimension uniformly,
// like the random sampler), and so is any trial suggested while no
// observation exists yet. After that, per suggestion:
//  - Observations are the trials that ended COMPLETED, STOPPED (by a
//    stopper), DIVERGED or FAILED, and the trials under way (running, or
//    paused in an asha rung) that reported an epoch, with what they showed
//    so far; they rank below every trial that got further. CANCELLED trials
//    say nothing about their configuration.
//  - They are ranked, best first, by (completed or stopped before diverged or
//    failed, epochs reached, best objective), then by index; so a trial that
//    ran all its epochs ranks above one a stopper ended earlier, as Optuna
//    ranks pruned trials. The top ceil(gamma * n) (at least one) are "good",
//    the rest "bad".
//  - Each dimension gets a density l(x) from the good observations and g(x)
//    from the bad ones, using only observations where it exists (an
//    alternative's arguments: the trials of that alternative). Numeric: a
//    mixture of Gaussians truncated to the domain (in log space for
//    loguniform), one per observation with the larger distance to its
//    neighbours (or the bound) as bandwidth, clipped to [width / min(100,
//    n + 1), width], plus a prior component at the middle with the width as
//    bandwidth, all of equal weight; quantized and int values score by the
//    probability of their rounding interval. Categorical: counts plus a prior
//    weight of 1 spread evenly over the categories.
//  - search.tpe.n_ei_candidates candidates are drawn from l, top-down along
//    the tree, and the one with the largest sum of log l(x) - log g(x) over
//    the dimensions it has becomes the trial (ties: the first drawn).
//
// Divergence: when a trial of an optimizer alternative whose lr is a
// uniform/loguniform domain DIVERGES, that alternative's lr upper bound
// becomes min(bound, that trial's lr) for every later suggestion, random ones
// included: a learning rate that blew up once is not worth trying higher.
//
// Randomness: suggestion k draws from its own generator, seeded from
// search.seed and k. So suggestion k depends only on the seed, k and the
// results known when it is made, and Restore (which rebuilds the trials'
// params, objectives, endings and the lr caps from the history, and counts
// the trials already suggested) continues exactly as a sampler that never
// restarted. A trial's params are mapped back onto the space by finding the
// alternatives and values that build exactly those params; params that do not
// (a spec edited under a running sweep) are no observation.
//
// Thread-safety: not thread-safe (see Searcher).
#pragma once

#include <memory>

#include "sampler.h"
#include "segtune/spec/spec.h"
#include "trial_builder.h"

namespace segtune::search::internal {

// TPE over spec.search.space with spec.search.tpe's settings, spec.search.seed
// and spec.budget.max_trials (>= 1) trials.
std::unique_ptr<Sampler> MakeTpeSampler(TrialBuilder builder, const spec::SweepSpec& spec);

}  // namespace segtune::search::internal
