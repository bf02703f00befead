// Sweep specs: parsing and validation of the YAML a user submits
// (design.md section 4) into a SweepSpec the rest of the coordinator trusts.
//
// Thread-safety: free functions, no shared state; safe from any thread.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "absl/status/statusor.h"
#include "segtune/spec/search_space.h"

namespace segtune::spec {

struct Objective {
  std::string metric = "val_miou";  // a metric the trainer reports
  bool maximize = true;             // mode: max | min
};

inline constexpr int kDefaultMaxRetries = 2;  // 3 attempts in all
inline constexpr int kMaxMaxRetries = 100;

struct Budget {
  int epochs = 0;         // per trial, > 0
  int max_trials = 0;     // 0 = every grid point (grid); required > 0 for random
  int parallelism = 0;    // max trials of this sweep running at once; 0 = no cap
  // New attempts a trial gets after attempts that failed (the worker reported
  // FAILED or went silent); the failure after the last retry makes it FAILED.
  int max_retries = kDefaultMaxRetries;
};

// Settings of the search algorithms (docs/spec.md "Search algorithms"). The
// parser fills in only those of spec.search.algorithm (and of its sampler);
// the others keep these defaults.

// asha and hyperband: asynchronous successive halving. Rungs sit at epochs
// min_epochs * eta^k (k >= 0) up to max_epochs; bracket s (0 <= s < brackets)
// starts its first rung at min_epochs * eta^s.
struct AshaSettings {
  int eta = 3;          // reduction factor, >= 2
  int min_epochs = 1;   // the first rung of bracket 0
  int max_epochs = 0;   // the last rung is at most this; parser: defaults to budget.epochs
  int brackets = 1;     // asha: default 1; hyperband: default every bracket that has a rung
};

// median: stop a trial whose best objective so far is worse than the median
// of the other trials' running averages at the same epoch.
struct MedianSettings {
  int grace_epochs = 1;  // no decision before this epoch
  int min_trials = 3;    // other trials that must have reached the epoch
};

// pbt: population-based training over budget.max_trials members.
struct PbtSettings {
  int perturbation_interval = 1;      // epochs between exploit/explore steps
  double quantile_fraction = 0.25;    // bottom fraction that copies the top fraction, (0, 0.5]
  double resample_probability = 0.25; // explore by resampling instead of x0.8 / x1.2
};

// tpe: tree-structured Parzen estimator (also asha/hyperband/median's sampler).
struct TpeSettings {
  int n_startup_trials = 5;   // random trials before the model is used
  int n_ei_candidates = 24;   // candidates drawn from l(x) per suggestion
  double gamma = 0.25;        // fraction of observed trials counted as good
};

// lr_range_test: Smith's learning-rate range test, one trial per grid point
// of the space without its schedulers (per optimizer alternative, times the
// lists of its other arguments and keys); the lr rises exponentially from min_lr to max_lr over
// `iterations` steps, and each step is reported as one "epoch".
struct LrRangeSettings {
  double min_lr = 1e-7;
  double max_lr = 10.0;
  int iterations = 100;
  double smoothing = 0.98;      // exponential smoothing of the loss (beta)
  double diverge_factor = 4.0;  // stop once the smoothed loss exceeds this x its minimum
};

struct Search {
  // grid | random | asha | hyperband | median | pbt | tpe | lr_range_test
  std::string algorithm = "grid";
  std::uint64_t seed = 0;          // seeds sampling; same seed, same trials
  // Where asha, hyperband and median get new configurations: grid | random | tpe.
  std::string sampler = "random";
  AshaSettings asha;
  MedianSettings median;
  PbtSettings pbt;
  TpeSettings tpe;
  LrRangeSettings lr_range;
  SearchSpace space;
};

// A validated sweep. `data`, `model` and `training` hold every key of their
// section that applies, with defaults filled in, so a trial's configuration is
// complete (docs/spec.md lists them).
struct SweepSpec {
  std::string name;
  Objective objective;
  Budget budget;
  // {dataset, image_size, num_classes, train_size, val_size, seed, flip,
  //  ignore_index, mean, std}, plus root and resize for voc and folder, and
  // val_fraction for folder.
  nlohmann::json data;
  nlohmann::json model;     // {arch, base_channels, depth}
  // {batch_size, seed, amp, loss: {label_smoothing, dice_weight, weight (if given)}}
  nlohmann::json training;
  Search search;
};

// One problem with a spec, named by its path ("search.space.optimizer[2].lr").
struct SpecError {
  std::string path;
  std::string message;
  std::string ToString() const { return path.empty() ? message : path + ": " + message; }
};

// The outcome of parsing: either a spec or every problem found (never only the
// first). `ok()` is true when `errors` is empty.
struct ParseResult {
  SweepSpec spec;
  std::vector<SpecError> errors;
  bool ok() const { return errors.empty(); }
  // All errors, one per line, for messages and INVALID_ARGUMENT details.
  std::string ErrorText() const;
};

ParseResult ParseSpec(std::string_view yaml_text);

}  // namespace segtune::spec
