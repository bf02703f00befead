// `segtune lr-find SPEC.yaml`: Smith's learning-rate range test for each
// optimizer of a spec (docs/cli.md, docs/training.md "LR range test").
//
// The spec's search section is replaced by an lr_range_test over the same
// optimizer alternatives; the sweep runs locally (like `segtune run`) or on
// a coordinator (--server), and each trial's curve of smoothed loss against
// lr is read with search::SuggestLrRange.
//
// Thread-safety: free functions without shared state; the ones that print
// use their Output from the calling thread only (see commands.h).
#pragma once

#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "segtune/client/commands.h"
#include "segtune/client/tuner_client.h"
#include "segtune/search/lr_range.h"
#include "segtune/v1/segtune.pb.h"

namespace segtune::client {

// The flags that set the test's settings; the spec's defaults apply to the
// others (min_lr 1e-7, max_lr 10, iterations 100).
struct LrFindSettings {
  std::optional<double> min_lr;
  std::optional<double> max_lr;
  std::optional<int> iterations;
};

// The spec of the range test: `spec_yaml` with its search section replaced
// by {algorithm: lr_range_test, seed (when the spec has one), min_lr,
// max_lr, iterations (when given), space: {optimizer: the spec's
// search.space.optimizer as written}}; every other section stays as written.
// InvalidArgument naming `spec_path` and the field when the YAML cannot be
// read or has no search.space.optimizer.
absl::StatusOr<std::string> LrFindSpec(const std::string& spec_yaml, const std::string& spec_path,
                                       const LrFindSettings& settings);

struct LrCurvePoint {
  double lr = 0;
  double loss = 0;           // the step's batch loss (train_loss)
  double smoothed_loss = 0;
};

// One optimizer alternative's test, and what its curve suggests.
struct LrFindResult {
  std::string trial_id;
  nlohmann::json optimizer;  // the trial's params.optimizer without lr (the test sets it)
  v1::TrialState state = v1::TRIAL_STATE_UNSPECIFIED;
  std::string reason;        // why it ended early, if it did
  std::vector<LrCurvePoint> curve;  // one point per step, in order
  std::optional<search::LrRangeSuggestion> suggestion;  // none for fewer than 5 steps
  std::string note;          // what to change when the curve cannot say much; empty otherwise
};

// The result of one trial from its metrics. Internal error naming the trial
// and the epoch when a step lacks lr, train_loss or smoothed_loss (not a
// range test's trial).
absl::StatusOr<LrFindResult> AnalyseLrRangeTrial(const v1::GetTrialMetricsResponse& metrics);

// [{"trial_id", "optimizer": {...}, "suggested_lr", "range": [low, high],
//   "min_loss_lr", "steps", "state", "reason", "note",
//   "curve": [{"lr", "loss", "smoothed_loss"}, ...]}, ...]; the suggestion's
// fields are null without a suggestion, reason and note when empty.
nlohmann::json LrFindJson(const std::vector<LrFindResult>& results);

// A table (optimizer, suggested lr, range, min-loss lr, steps, how it
// ended), the notes, then the chart, fitted to `columns` (0: unknown).
std::string RenderLrFind(const std::vector<LrFindResult>& results, int columns);

// Fetches every trial of the range test `sweep_id` and prints the results:
// RenderLrFind, or LrFindJson with OutputFormat::kJson. What `segtune
// lr-find` prints once the sweep has ended, locally or on a server.
absl::Status PrintLrFindResults(TunerClient& client, const std::string& sweep_id, const Output& output);

// `segtune lr-find --server`: submits `spec_yaml` (from LrFindSpec), follows
// the sweep with live progress, then PrintLrFindResults. A sweep that ends
// cancelled is a failure (after the results).
absl::Status LrFindOnServer(TunerClient& client, const std::string& spec_path, const std::string& spec_yaml,
                            const Output& output);

}  // namespace segtune::client
