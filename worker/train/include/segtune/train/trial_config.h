// A trial's configuration (a TrialAssignment's config_json), parsed and
// checked before anything is built.
//
// Sections and keys (the coordinator's spec fills defaults; keys marked
// "optional" have the default shown, so older coordinators still work):
//   data:     dataset ("shapes", "voc" or "folder"), root (voc and folder:
//             the dataset directory), image_size (8..1024, the network's
//             input), num_classes (2..255), train_size, val_size (shapes:
//             samples, 1..1000000; voc and folder: at most that many, 0 =
//             all), seed (>= 0); optional: resize (images are stored at
//             resize x resize and cropped to image_size; default
//             image_size), flip (random horizontal flips; default false for
//             shapes, true otherwise), ignore_index (0..255, default 255),
//             mean and std (3 numbers each; default 0.5 / 0.25 for shapes,
//             ImageNet's for voc and folder), val_fraction (folder, default
//             0.2)
//   model:    arch ("unet" or "lraspp"), base_channels (1..256), depth
//             (1..8); models::CheckModel checks what the arch needs
//   training: batch_size (>= 1, or "full" for the whole training set),
//             seed (>= 0); optional: amp (mixed precision on CUDA, default
//             false), loss ({weight: [one per class], label_smoothing:
//             [0, 1), dice_weight: >= 0}, all optional)
//   epochs:   1..100000
//   params:   optimizer ({"name": ..., args}), scheduler (optional, null or
//             absent: constant lr), and dotted overrides of the sections'
//             keys ("training.batch_size": 8, "model.arch": "lraspp",
//             "training.loss.dice_weight": 0.5). Overrides an optimizer
//             alias implies (bgd: training.batch_size "full") apply first,
//             so explicit ones win.
//   lr_range: optional; present in the trials of an lr_range_test sweep,
//             which run Smith's learning-rate range test instead of epochs
//             (trainer.h): min_lr (> 0), max_lr (> min_lr), iterations
//             (2..100000, equal to epochs: each step is reported as one
//             epoch), smoothing ([0, 1)), diverge_factor (> 1). The
//             scheduler, if any, is not used.
//   exploit:  optional; set by PBT on a trial that continues from another
//             trial's checkpoint (trainer.h): epoch (1..epochs, the
//             checkpoint's), lr_scale (finite, > 0; default 1), optimizer
//             (numeric arguments of params.optimizer to set, e.g.
//             {"momentum": 0.93, "betas": [0.9, 0.99]}; lr is scaled, not
//             set; default {}).
// Unknown keys inside data, model, training, params and exploit are errors;
// other top-level keys (objective, ...) are the coordinator's and are ignored.
//
// Thread-safety: ParseTrialConfig is safe from any thread.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "absl/status/statusor.h"

namespace segtune::train {

struct DataConfig {
  std::string dataset;
  std::string root;
  int image_size = 0;
  int resize = 0;
  int num_classes = 0;
  int64_t train_size = 0;
  int64_t val_size = 0;
  uint64_t seed = 0;
  bool flip = false;
  int ignore_index = 255;
  std::array<float, 3> mean{};
  std::array<float, 3> std{};
  double val_fraction = 0.2;
};

struct ModelConfig {
  std::string arch;
  int base_channels = 0;
  int depth = 0;
};

struct LossConfig {
  std::vector<double> weight;  // empty: every class weighs 1
  double label_smoothing = 0;
  double dice_weight = 0;  // 0: cross-entropy alone
};

struct TrainingConfig {
  int64_t batch_size = 0;  // 0: "full", the whole training set once loaded
  uint64_t seed = 0;       // model initialization, batch order, augmentation
  bool amp = false;
  LossConfig loss;
};

// Smith's learning-rate range test: step i (from 0) trains at
// min_lr * (max_lr / min_lr)^(i / (iterations - 1)).
struct LrRangeConfig {
  double min_lr = 0;
  double max_lr = 0;
  int iterations = 0;
  double smoothing = 0;       // beta of the loss's exponential average
  double diverge_factor = 0;  // stop once the smoothed loss exceeds this x its minimum
};

// PBT's exploit: after loading the checkpoint of `epoch` (another trial's,
// copied over this one's), scale the lr and set optimizer arguments.
struct ExploitConfig {
  int epoch = 0;
  double lr_scale = 1;
  nlohmann::json optimizer = nlohmann::json::object();  // {argument: value}
};

struct TrialConfig {
  DataConfig data;
  ModelConfig model;
  TrainingConfig training;
  int epochs = 0;
  nlohmann::json optimizer;  // {"name": ..., args}; checked when built
  nlohmann::json scheduler;  // null: no scheduler
  std::optional<LrRangeConfig> lr_range;  // set: an LR range test instead of epochs
  std::optional<ExploitConfig> exploit;   // set: continues from a PBT exploit
};

// InvalidArgument listing every problem, each naming its field
// ("data.image_size: must be divisible by 4 (2^(model.depth-1)), got 30").
absl::StatusOr<TrialConfig> ParseTrialConfig(const nlohmann::json& config);

}  // namespace segtune::train
