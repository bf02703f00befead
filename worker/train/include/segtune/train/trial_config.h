// A trial's configuration (a TrialAssignment's config_json), parsed and
// checked before anything is built.
//
// Sections and keys (all required; the coordinator's spec fills defaults):
//   data:     dataset ("shapes"), image_size (8..1024), num_classes (2..64),
//             train_size, val_size (1..1000000), seed (>= 0)
//   model:    arch ("unet"), base_channels (1..256), depth (1..8);
//             image_size must be divisible by 2^(depth-1)
//   training: batch_size (>= 1, or "full" for the whole training set),
//             seed (>= 0)
//   epochs:   1..100000
//   params:   optimizer ({"name": ..., args}), scheduler (optional, null or
//             absent: constant lr), and dotted overrides of the sections'
//             keys ("training.batch_size": 8). Overrides an optimizer alias
//             implies (bgd: training.batch_size "full") apply first, so
//             explicit ones win.
// Unknown keys inside data, model, training and params are errors; other
// top-level keys (objective, ...) are the coordinator's and are ignored.
//
// Thread-safety: ParseTrialConfig is safe from any thread.
#pragma once

#include <cstdint>
#include <string>

#include <nlohmann/json.hpp>

#include "absl/status/statusor.h"

namespace segtune::train {

struct DataConfig {
  std::string dataset;
  int image_size = 0;
  int num_classes = 0;
  int64_t train_size = 0;
  int64_t val_size = 0;
  uint64_t seed = 0;
};

struct ModelConfig {
  std::string arch;
  int base_channels = 0;
  int depth = 0;
};

struct TrainingConfig {
  int64_t batch_size = 0;  // "full" is resolved to data.train_size
  uint64_t seed = 0;       // model initialization and batch order
};

struct TrialConfig {
  DataConfig data;
  ModelConfig model;
  TrainingConfig training;
  int epochs = 0;
  nlohmann::json optimizer;  // {"name": ..., args}; checked when built
  nlohmann::json scheduler;  // null: no scheduler
};

// InvalidArgument listing every problem, each naming its field
// ("data.image_size: must be divisible by 4 (2^(model.depth-1)), got 30").
absl::StatusOr<TrialConfig> ParseTrialConfig(const nlohmann::json& config);

}  // namespace segtune::train
