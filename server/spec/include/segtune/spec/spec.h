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

struct Budget {
  int epochs = 0;         // per trial, > 0
  int max_trials = 0;     // 0 = every grid point (grid); required > 0 for random
  int parallelism = 0;    // max trials of this sweep running at once; 0 = no cap
};

struct Search {
  std::string algorithm = "grid";  // grid | random (more in later versions)
  std::uint64_t seed = 0;          // seeds sampling; same seed, same trials
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
