// ASHA (asynchronous successive halving, Li et al. 2020, in its promotion
// form) and Hyperband on top of it (several ASHA brackets with different
// early-stopping rates), as a Stopper. Internal to segtune_search.
//
// Rungs. Bracket s (0 <= s < brackets) has rungs k = 0, 1, ... at epochs
// r_k = min_epochs * eta^(s+k) while r_k < max_epochs; a trial that gets past
// its last rung runs on to the end and completes.
//
// Brackets. Trial i belongs to bracket BracketOf(i), a pure function of i:
// a fixed cycle in which bracket s appears n_s = ceil((H+1) * eta^h / (h+1))
// times (Hyperband's bracket sizes; h: the bracket's rung count, H: bracket
// 0's), interleaved by smooth weighted round robin (ties to the lower
// bracket). Every bracket then gets about the same number of epochs, as in
// Hyperband; round robin would spend most of them in the brackets that stop
// the least.
//
// Decisions. When trial i reports epoch e equal to a rung epoch of its
// bracket, its objective AT e (rungs compare trials at the same epoch, not
// best-so-far values) becomes its result in that rung; a re-report of the
// epoch (a newer attempt) replaces it, as the store does. A rung with n
// results has floor(n/eta) places. Whenever a result is recorded or a place
// is given back, the waiting trials among the rung's top floor(n/eta)
// (higher objective first, ties to the lower index) are promoted, best first,
// while fewer than floor(n/eta) trials are promoted from the rung. Waiting:
// not ended, not promoted from the rung and no epoch reported past it (paused
// there, or the trial reporting). The reporting trial continues if it is (or
// already was) promoted and pauses otherwise; paused trials promoted later
// come out of TakeResumes once each. Other epochs continue. The cap means a
// rung never promotes more trials than synchronous successive halving would
// for the same n, so a trial can rank in the top and still wait when the
// places went to trials that ranked higher when they were promoted.
//
// Trial ends. Ended trials are never promoted or resumed, and the results
// they reported keep their ranks. A trial that ends without reporting an
// epoch past rung k's (paused there, or failed, cancelled or diverged on its
// way to the next rung) gives a promotion it held from rung k back to the
// rung, for the next waiting trial in the top. A diverged trial is also
// recorded in the first rung above its last reported epoch with -infinity (the
// worst result), so it counts in that rung's n and may open a place for
// others; failed, cancelled and stopped trials add no result.
//
// Restore rebuilds exactly this state from the trials' epochs and statuses:
// a trial reached rung k if it reported r_k epochs, with objectives[r_k - 1]
// as its result; it was promoted from rung k if it reported more epochs, or
// exactly r_k and is PENDING or RUNNING (a resumed trial); it waits in rung k
// if PAUSED there; a DIVERGED one is -infinity in the first rung it did not
// reach. Promotions are then recomputed, so paused trials that had become
// promotable before a crash come out of TakeResumes. This equals the state of
// a stopper that never restarted as long as the caller takes the resumes
// right after each OnEpoch / OnTrialEnd: until then a stopper that never
// restarted holds a promotion the store does not show.
//
// Thread-safety: not thread-safe (see Searcher).
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "segtune/spec/spec.h"
#include "stopper.h"

namespace segtune::search::internal {

class AshaStopper final : public Stopper {
 public:
  // ParseSpec checks eta >= 2, 1 <= min_epochs < max_epochs and that every
  // one of the 1 or more brackets has a rung. For a hand-built spec, eta,
  // min_epochs and brackets are raised to those minimums, brackets without a
  // rung are dropped, and min_epochs >= max_epochs leaves one bracket with no
  // rungs (every trial continues).
  AshaStopper(int eta, int min_epochs, int max_epochs, int brackets);

  Verdict OnEpoch(int trial_index, int epoch, double objective) override;
  void OnTrialEnd(int trial_index, TrialEnd end) override;
  std::vector<int> TakeResumes() override;
  void Restore(const std::vector<TrialHistory>& trials) override;

  int brackets() const { return static_cast<int>(rungs_.size()); }
  // The bracket of a trial (see the header comment). Not const: the cycle is
  // built as far as trial indexes reach, so a long cycle costs nothing unused.
  int BracketOf(int trial_index);
  // The rung epochs of `bracket`, lowest first (none for a bracket that does
  // not exist).
  std::vector<int> RungEpochs(int bracket) const;

 private:
  struct Rung {
    int epoch = 0;
    std::map<int, double> results;  // trial index -> objective at `epoch`
    std::set<int> promoted;         // trial indexes promoted from this rung
  };
  struct TrialState {
    int epochs = 0;  // the highest epoch reported
    bool ended = false;
  };

  // The rung of `bracket` at `epoch`, or null when `epoch` is not a rung.
  Rung* FindRung(int bracket, int epoch);
  // Trial indexes of the rung's results, best first.
  static std::vector<int> Ranking(const Rung& rung);
  // Whether `trial_index` is in `rung` and may be promoted from it: it has
  // not ended, is not promoted and has reported no epoch past the rung's.
  bool Waiting(const Rung& rung, int trial_index) const;
  // Promotes waiting trials in rank order while the rung has places left;
  // queues every promoted trial except `reporting` (which continues) for
  // TakeResumes.
  void Promote(Rung& rung, int reporting);
  // The reason a trial that just reported `rung`'s epoch pauses.
  std::string PauseReason(int bracket, int rung_number, const Rung& rung, int trial_index) const;

  int eta_;
  std::vector<std::vector<Rung>> rungs_;  // [bracket][rung]
  // The bracket cycle: each bracket's n_s, their sum, and the cycle's first
  // positions with the smooth weighted round robin's state after them.
  std::vector<std::int64_t> bracket_sizes_;
  std::int64_t cycle_length_ = 0;
  std::vector<int> cycle_;
  std::vector<std::int64_t> cycle_credit_;
  std::map<int, TrialState> trials_;
  std::vector<int> resumes_;              // promoted paused trials, not yet taken
};

// The stopper of algorithms asha and hyperband, from spec.search.asha
// (max_epochs 0 means budget.epochs).
std::unique_ptr<Stopper> MakeAshaStopper(const spec::SweepSpec& spec);

}  // namespace segtune::search::internal
