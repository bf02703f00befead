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
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "absl/status/statusor.h"
#include "segtune/spec/spec.h"

namespace segtune::search {

enum class Decision { kContinue, kStop };

class Searcher {
 public:
  virtual ~Searcher() = default;

  // Up to `n` new trial configurations. Fewer, or none, once the sweep's
  // budget is spent. Deterministic for a given spec (seed) and call sequence.
  virtual std::vector<nlohmann::json> Suggest(int n) = 0;

  // How many trials this searcher produces in all, when known up front
  // (grid, random); -1 when it depends on results.
  virtual int TotalTrials() const = 0;

  // Called after each durable epoch report of a trial with its objective value
  // (already oriented: higher is better). Returns whether the trial goes on.
  virtual Decision OnEpoch(int trial_index, int epoch, double objective) = 0;

  // Creates the searcher named by spec.search.algorithm. `already_suggested`
  // trials were created before (a coordinator restart): the searcher skips
  // past them so that it never suggests the same trial twice.
  static absl::StatusOr<std::unique_ptr<Searcher>> Create(const spec::SweepSpec& spec,
                                                          int already_suggested = 0);
};

}  // namespace segtune::search
