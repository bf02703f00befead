// The model behind simulated learning curves (docs/simulate.md): what a trial
// configuration means to the simulator (ParseSimConfig), how fast an lr makes
// progress, the asymptotic mIoU a configuration can reach, the per-epoch
// metrics derived from the progress, and reproducible noise.
//
// Everything here is a pure function of its arguments.
//
// Thread-safety: every function is safe from any thread.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "absl/status/statusor.h"
#include "segtune/optim/catalog.h"

namespace segtune::simulate::internal {

// What the optimizer contributes to a curve.
struct OptimizerModel {
  std::string name;          // torch's
  double lr = 0;             // params.optimizer.lr
  double momentum_gain = 1;  // SGD-style momentum m multiplies the step by 1 / (1 - m)
  double reference_lr = 0;   // the lr (times momentum_gain) that progresses fastest
  double efficiency = 1;     // progress per epoch at reference_lr, relative to SGD with momentum
  double ceiling = 0;        // added to the configuration's asymptotic mIoU
};

struct LrRangeModel {
  double min_lr = 0;
  double max_lr = 0;
  int iterations = 0;
  double smoothing = 0;
  double diverge_factor = 0;
};

struct ExploitModel {
  int epoch = 0;
  double lr_scale = 1;
  OptimizerModel optimizer;  // params.optimizer with exploit.optimizer's arguments set
};

struct SimConfig {
  int epochs = 0;
  int num_classes = 0;
  int64_t train_size = 0;  // images per epoch (data.train_size; 0, "all": kAssumedTrainSize)
  int64_t batch_size = 0;  // "full" resolved
  int batches_per_epoch = 0;
  double capacity = 0;     // model.base_channels * 2^(model.depth - 1)
  bool lraspp = false;
  OptimizerModel optimizer;
  nlohmann::json scheduler;  // null: constant lr
  optim::Budget budget;
  std::optional<LrRangeModel> lr_range;
  std::optional<ExploitModel> exploit;
  uint64_t key = 0;  // hash of the whole config: seeds the trial's noise
};

// A dataset of "all" images (voc and folder with train_size 0): the
// simulator has no files to count.
constexpr int64_t kAssumedTrainSize = 1000;

// Reads the keys of a trial config (segtune/train/trainer.h) that shape a
// curve, applying params' dotted overrides. InvalidArgument names the field.
absl::StatusOr<SimConfig> ParseSimConfig(const nlohmann::json& config);

// lr / reference lr, with momentum: < 1 too small, > 1 too large.
double LrRatio(const OptimizerModel& optimizer, double lr);

// Progress one optimizer step at `lr` makes (the loss falls as exp(-progress)).
double StepProgress(const SimConfig& config, const OptimizerModel& optimizer, double lr);

// The lr ratio above which this trial diverges: around 6, varying by trial.
double DivergenceRatio(const SimConfig& config);

// The metrics of an epoch (trainer.h's keys, without epoch_seconds and
// images_per_second) after `progress`, trained at an average lr ratio of
// `ratio` during the epoch.
std::map<std::string, double> EpochMetrics(const SimConfig& config, const OptimizerModel& optimizer,
                                           int epoch, double progress, double ratio);

// The loss of step `step` of an LR range test after `progress`, at `ratio`.
double RangeTestLoss(const SimConfig& config, int step, double progress, double ratio);

// A uniform draw in [0, 1) for (key, stream, index), the same on every run.
double Uniform(uint64_t key, uint64_t stream, uint64_t index);

// FNV-1a, 64 bits.
uint64_t Fnv1a(const std::string& bytes);

}  // namespace segtune::simulate::internal
