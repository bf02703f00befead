// Searchers decide which configurations become trials and whether a running
// trial deserves more epochs.
//
// A trial configuration ("params") is a JSON object with the full resolved
// configuration of one trial:
//   {"optimizer": {"name": "SGD", "lr": 0.05, "momentum": 0.9, ...every torch default},
//    "scheduler": {"name": "StepLR", "step_size": 3, "gamma": 0.5, ...},  // absent: constant lr
//    "training.batch_size": 16, ...}                                     // other sampled values
//
// Grid search (algorithm: grid) runs the cartesian product of the space's
// grid lists. Trials come in grid order: optimizer alternatives in spec order,
// within one alternative its grid arguments in spec order (the first varying
// slowest), then scheduler alternatives and their arguments the same way, then
// the other keys in spec order (the last varying fastest). Distributions and
// {choice: ...} are sampled per trial. When budget.max_trials is > 0 and
// smaller than the grid, a seeded random subset of max_trials grid points
// runs, still in grid order.
//
// The grid's size is spec::CountGridPoints(space) (segtune/spec/search_space.h).
//
// Random search (algorithm: random) runs budget.max_trials trials; each picks
// an optimizer and a scheduler alternative uniformly, takes a uniform choice
// from each grid list and samples each distribution (loguniform in log space,
// int inclusive, q quantizes: round(x / q) * q).
//
// Sampling uses std::mt19937_64 seeded with search.seed and integer-only
// conversions, so the same spec gives the same trials on every platform.
// Grid and random searchers let every trial run all its epochs.
//
// Thread-safety: not thread-safe; the scheduler calls a searcher with its own
// mutex held.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "absl/status/statusor.h"
#include "segtune/spec/spec.h"

namespace segtune::search {

// What a searcher tells a trial after an epoch report.
enum class Decision {
  kContinue,  // train the next epoch
  kStop,      // end the trial now: STOPPED (early-stopped)
  kPause,     // release the slot; the trial waits (stored as STOPPED) until the
              // searcher resumes it (TakeResumes) or the sweep ends
};

// PBT's exploit step for a paused trial: before it resumes, its checkpoint of
// `epoch` becomes trial `donor_index`'s checkpoint of the same epoch and its
// params become `params` (the donor's, perturbed).
struct Exploit {
  int donor_index = 0;
  int epoch = 0;
  nlohmann::json params;
  // Appended to the trial's lineage (shown by `segtune trials`):
  // {"epoch": k, "donor": <index>, "changes": {"optimizer.lr": {"from": a, "to": b}, ...}}
  nlohmann::json lineage_entry;
  // Passed to the worker as config["exploit"] when the trial resumes at
  // `epoch`: {"epoch": k, "lr_scale": s, "optimizer": {arg: value, ...}}: after
  // loading the donor's checkpoint, every param group's lr (and the
  // scheduler's base lrs) is multiplied by lr_scale and the listed optimizer
  // arguments are set.
  nlohmann::json resume;
};

struct Verdict {
  Decision decision = Decision::kContinue;
  std::string reason;  // why, for kStop and kPause; stored as the trial's reason
  std::optional<Exploit> exploit;  // with kPause only (pbt)
};

// How a trial ended, as searchers see it. Diverged trials count as the worst
// possible result.
enum class TrialEnd { kCompleted, kStopped, kFailed, kDiverged, kCancelled };

// A trial as the store has it, for Restore.
struct TrialHistory {
  enum class Status { kPending, kRunning, kPaused, kCompleted, kStopped, kFailed, kDiverged, kCancelled };
  int index = 0;
  nlohmann::json params;
  Status status = Status::kPending;
  std::vector<double> objectives;  // oriented (higher is better), epochs 1..n in order
  nlohmann::json lineage = nlohmann::json::array();  // Exploit::lineage_entry values, oldest first
};

class Searcher {
 public:
  virtual ~Searcher() = default;

  // Up to `n` new trial configurations, numbered on from the last ones.
  // Fewer, or none, once the sweep's budget of trials is spent. A searcher
  // that learns from results (tpe) may also return fewer while it waits.
  // Deterministic for a given spec (seed) and call sequence.
  virtual std::vector<nlohmann::json> Suggest(int n) = 0;

  // How many trials this searcher produces in all, when known up front; the
  // scheduler then creates them all at submission. -1: trials are suggested
  // one at a time as slots free up, so each can learn from the results so far.
  virtual int TotalTrials() const = 0;

  // Called after each durable epoch report of a trial with its objective value
  // (already oriented: higher is better).
  virtual Verdict OnEpoch(int trial_index, int epoch, double objective) = 0;

  // Called once when a trial reaches a final state (not for kStop decisions
  // the searcher made itself, which end the trial as kStopped anyway: it is
  // called then too).
  virtual void OnTrialEnd(int trial_index, TrialEnd end) {}

  // Paused trials that go on now (ASHA promotions), each returned once.
  // Exploit pauses (pbt) are not among them: the scheduler queues such a
  // trial again at once, with its new params.
  virtual std::vector<int> TakeResumes() { return {}; }

  // The exploit of `trial_index` at `epoch` could not be carried out (the
  // donor's checkpoint could not be copied): the trial goes on with its own
  // weights and params, and the searcher forgets the exploit.
  virtual void OnExploitFailed(int trial_index, int epoch) {}

  // Rebuilds the searcher's state after a coordinator restart from every
  // trial of the sweep, by index. Called once, right after Create and before
  // any other call. The default skips past trials.size() suggestions.
  virtual void Restore(const std::vector<TrialHistory>& trials);

  // Creates the searcher named by spec.search.algorithm.
  static absl::StatusOr<std::unique_ptr<Searcher>> Create(const spec::SweepSpec& spec);
};

}  // namespace segtune::search
