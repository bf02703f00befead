// Searchers decide which configurations become trials and whether a running
// trial deserves more epochs.
//
// A trial configuration ("params") is a JSON object with the full resolved
// configuration of one trial:
//   {"optimizer": {"name": "SGD", "lr": 0.05, "momentum": 0.9, ...every torch default},
//    "scheduler": {"name": "StepLR", "step_size": 3, "gamma": 0.5, ...},  // absent: constant lr
//    "training.batch_size": 16, ...}                                     // other sampled values
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
