// Shared helpers of the simulator's tests: a small trial config and a run
// that records everything the trial function calls back with.
#pragma once

#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "segtune/simulate/simulated_trial.h"
#include "segtune/train/trainer.h"

namespace segtune::simulate::testing {

// 12 training images in batches of 4: 3 batches per epoch.
inline nlohmann::json Config(const nlohmann::json& optimizer, const nlohmann::json& scheduler,
                             int epochs = 8, int base_channels = 8) {
  return {{"params", {{"optimizer", optimizer}, {"scheduler", scheduler}}},
          {"data",
           {{"dataset", "shapes"}, {"image_size", 32}, {"num_classes", 4}, {"train_size", 12},
            {"val_size", 4}, {"seed", 7}}},
          {"model", {{"arch", "unet"}, {"base_channels", base_channels}, {"depth", 3}}},
          {"training", {{"batch_size", 4}, {"seed", 0}}},
          {"epochs", epochs},
          {"objective", {{"metric", "val_miou"}, {"mode", "max"}}}};
}

struct Recorded {
  train::TrialResult result;
  std::vector<train::EpochReport> reports;
  std::vector<train::Checkpoint> checkpoints;
  int batches = 0;  // on_batch calls
};

// Runs `config` at no pace (unless `epoch_seconds`), starting as `options` says.
inline Recorded Simulate(const nlohmann::json& config, train::TrainOptions options = {},
                    double epoch_seconds = 0) {
  Recorded run;
  options.on_epoch = [&run](const train::EpochReport& report) {
    run.reports.push_back(report);
    return true;
  };
  options.on_checkpoint = [&run](const train::Checkpoint& checkpoint) {
    run.checkpoints.push_back(checkpoint);
    return absl::OkStatus();
  };
  options.on_batch = [&run](int, int, int, int64_t) { ++run.batches; };
  SimulateOptions simulate;
  simulate.epoch_seconds = epoch_seconds;
  run.result = SimulatedTrialFunction(simulate)(config, options);
  return run;
}

// The metrics that depend on the config alone (not on the pace).
inline std::map<std::string, double> CurveMetrics(const train::EpochReport& report) {
  std::map<std::string, double> metrics = report.metrics;
  metrics.erase("epoch_seconds");
  metrics.erase("images_per_second");
  return metrics;
}

inline std::vector<double> Lrs(const Recorded& run) {
  std::vector<double> lrs;
  for (const train::EpochReport& report : run.reports) lrs.push_back(report.metrics.at("lr"));
  return lrs;
}

}  // namespace segtune::simulate::testing
