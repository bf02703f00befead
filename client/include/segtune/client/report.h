// The HTML report of a sweep (`segtune report`, docs/cli.md): one
// self-contained file that opens without a network. Its CSS is inline, its
// charts are inline SVG drawn here (segtune/client/report_svg.h), and its
// only script is an optional nicety (a leaderboard row highlights its
// trial's lines); everything is drawn without it.
//
//   1. header: sweep name and id, state, objective, algorithm, trials by
//      state, best value and trial, times;
//   2. the objective by epoch, one line per trial, coloured by optimizer,
//      the best trial highlighted;
//   3. the lr by epoch on a log axis, the same way;
//   4. parallel coordinates: one axis per parameter that varies across
//      trials, then the trial's best objective value; one line per trial
//      coloured by that value. Trials without a result are drawn grey and
//      dashed, ending at "no result" below the objective axis. On a
//      categorical axis the trials of one value fan out a little around it;
//   5. the leaderboard: trials with a result, best first.
// Every line carries a <title> (a native tooltip): trial, configuration,
// value. Every string from the spec or the params is HTML-escaped.
//
// RenderReport is pure: it builds the page from the data below, which
// ReportTrialFrom assembles from the coordinator's answers.
//
// Thread-safety: value types and free functions without shared state; safe
// from any thread.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "absl/status/statusor.h"
#include "segtune/v1/segtune.pb.h"

namespace segtune::client {

struct ReportEpoch {
  int epoch = 0;                           // from 1
  std::map<std::string, double> metrics;   // val_miou, lr, ...
};

struct ReportTrial {
  std::string trial_id;
  int index = 0;                           // position in the sweep
  v1::TrialState state = v1::TRIAL_STATE_UNSPECIFIED;
  nlohmann::json params = nlohmann::json::object();  // see segtune/client/params.h
  int epochs_done = 0;
  std::optional<double> best_value;        // unset: no result yet
  int best_epoch = 0;
  std::string reason;                      // why it FAILED, DIVERGED or STOPPED
  std::vector<ReportEpoch> epochs;         // ascending
};

struct ReportData {
  v1::Sweep sweep;                         // the header; objective metric and mode
  std::vector<ReportTrial> trials;         // in sweep order
  std::int64_t generated_unix_ms = 0;
};

// One trial from its GetTrialMetrics answer (the trial and its epochs).
// Fails when the trial's params_json is not a JSON object.
absl::StatusOr<ReportTrial> ReportTrialFrom(const v1::GetTrialMetricsResponse& metrics);

// The whole page.
std::string RenderReport(const ReportData& data);

// --- the pieces RenderReport uses, exposed for tests -----------------------

// One vertical axis of the parallel-coordinates chart: a parameter that
// takes more than one value across the trials that have it.
struct ParallelAxis {
  enum class Kind { kCategorical, kLinear, kLog };
  // Where the value is: params[group][name] for an optimizer or scheduler
  // ("optimizer"/"scheduler", name "name" for the algorithm itself), or
  // params[name] when group is empty (other sampled values,
  // "training.batch_size").
  std::string group;
  std::string name;
  Kind kind = Kind::kCategorical;
  // kCategorical: the values' labels in order of first appearance.
  std::vector<std::string> categories;
  // kLinear, kLog: the smallest and largest value.
  double low = 0;
  double high = 0;
  // Some trial lacks the parameter (Adam has no momentum, no scheduler): it
  // is drawn at an extra "n/a" (categorical: "none") position.
  bool has_missing = false;
};

// The axes in order: optimizer, its lr, its other arguments by name,
// scheduler, its arguments by name, then the other sampled values by name.
// Numeric parameters get a log axis when every value is > 0 and the largest
// is more than 20 times the smallest; anything else that is not a number
// (strings, booleans, lists) is categorical.
std::vector<ParallelAxis> ParallelAxes(const std::vector<ReportTrial>& trials);

// The trials with a result, best first for `mode` ("max" or "min"); ties go
// to the earlier epoch, then the earlier trial.
std::vector<const ReportTrial*> Leaderboard(const std::vector<ReportTrial>& trials, const std::string& mode);

}  // namespace segtune::client
