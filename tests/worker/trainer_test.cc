#include "segtune/train/trainer.h"

#include <cmath>
#include <thread>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <torch/cuda.h>

namespace segtune::train {
namespace {

using nlohmann::json;
using ::testing::AllOf;
using ::testing::HasSubstr;

const std::vector<std::string> kMetricNames = {"train_loss",       "val_loss", "val_miou",
                                               "val_pixel_acc",    "lr",       "epoch_seconds",
                                               "images_per_second"};

// Small enough that an epoch takes milliseconds.
json TinyConfig(json optimizer, int epochs = 2) {
  return {
      {"params", {{"optimizer", std::move(optimizer)}}},
      {"data",
       {{"dataset", "shapes"},
        {"image_size", 16},
        {"num_classes", 3},
        {"train_size", 16},
        {"val_size", 8},
        {"seed", 7}}},
      {"model", {{"arch", "unet"}, {"base_channels", 4}, {"depth", 2}}},
      {"training", {{"batch_size", 8}, {"seed", 1}}},
      {"epochs", epochs},
      {"objective", {{"metric", "val_miou"}, {"mode", "max"}}},
  };
}

json Sgd(double lr) { return {{"name", "SGD"}, {"lr", lr}, {"momentum", 0.9}}; }

struct TrialRun {
  TrialResult result;
  std::vector<EpochReport> reports;
};

TrialRun RunCollecting(const json& config, TrainOptions options = {}) {
  TrialRun run;
  options.on_epoch = [&](const EpochReport& report) {
    run.reports.push_back(report);
    return true;
  };
  run.result = RunTrial(config, options);
  return run;
}

// Metrics that do not depend on timing.
std::map<std::string, double> Deterministic(const EpochReport& report) {
  std::map<std::string, double> metrics = report.metrics;
  metrics.erase("epoch_seconds");
  metrics.erase("images_per_second");
  return metrics;
}

TEST(RunTrialTest, CompletesAndReportsEveryMetricEachEpoch) {
  const TrialRun run = RunCollecting(TinyConfig(Sgd(0.05)));
  ASSERT_EQ(run.result.outcome, Outcome::kCompleted) << run.result.reason;
  EXPECT_EQ(run.result.epochs_done, 2);
  EXPECT_EQ(run.result.reason, "");
  ASSERT_EQ(run.reports.size(), 2U);
  for (size_t i = 0; i < run.reports.size(); ++i) {
    const EpochReport& report = run.reports[i];
    EXPECT_EQ(report.epoch, static_cast<int>(i) + 1);
    EXPECT_EQ(report.metrics.size(), kMetricNames.size());
    for (const std::string& name : kMetricNames) {
      ASSERT_EQ(report.metrics.count(name), 1U) << name;
      EXPECT_TRUE(std::isfinite(report.metrics.at(name))) << name;
    }
    EXPECT_EQ(report.metrics.at("lr"), 0.05);
    EXPECT_GE(report.metrics.at("val_miou"), 0.0);
    EXPECT_LE(report.metrics.at("val_miou"), 1.0);
    EXPECT_GE(report.metrics.at("val_pixel_acc"), 0.0);
    EXPECT_LE(report.metrics.at("val_pixel_acc"), 1.0);
    EXPECT_GT(report.metrics.at("epoch_seconds"), 0.0);
    EXPECT_GT(report.metrics.at("images_per_second"), 0.0);
  }
}

TEST(RunTrialTest, SameConfigGivesIdenticalMetrics) {
  const TrialRun first = RunCollecting(TinyConfig(Sgd(0.05)));
  const TrialRun second = RunCollecting(TinyConfig(Sgd(0.05)));
  ASSERT_EQ(first.reports.size(), 2U);
  ASSERT_EQ(second.reports.size(), 2U);
  for (size_t i = 0; i < 2; ++i) {
    EXPECT_EQ(Deterministic(first.reports[i]), Deterministic(second.reports[i]));
  }
}

TEST(RunTrialTest, ConcurrentTrialsStayDeterministic) {
  const TrialRun alone = RunCollecting(TinyConfig(Sgd(0.05)));
  std::vector<TrialRun> runs(2);
  std::vector<std::thread> threads;
  for (TrialRun& run : runs) {
    threads.emplace_back([&run] { run = RunCollecting(TinyConfig(Sgd(0.05))); });
  }
  for (std::thread& thread : threads) thread.join();
  for (const TrialRun& run : runs) {
    ASSERT_EQ(run.reports.size(), 2U) << run.result.reason;
    for (size_t i = 0; i < 2; ++i) {
      EXPECT_EQ(Deterministic(run.reports[i]), Deterministic(alone.reports[i]));
    }
  }
}

TEST(RunTrialTest, DifferentTrainingSeedGivesDifferentWeights) {
  json config = TinyConfig(Sgd(0.05), 1);
  const TrialRun first = RunCollecting(config);
  config["training"]["seed"] = 2;
  const TrialRun second = RunCollecting(config);
  ASSERT_EQ(first.reports.size(), 1U);
  ASSERT_EQ(second.reports.size(), 1U);
  EXPECT_NE(first.reports[0].metrics.at("train_loss"), second.reports[0].metrics.at("train_loss"));
}

TEST(RunTrialTest, AdamLowersTheLoss) {
  const TrialRun run = RunCollecting(TinyConfig({{"name", "Adam"}, {"lr", 0.01}}, 4));
  ASSERT_EQ(run.result.outcome, Outcome::kCompleted) << run.result.reason;
  ASSERT_EQ(run.reports.size(), 4U);
  EXPECT_LT(run.reports[3].metrics.at("train_loss"), run.reports[0].metrics.at("train_loss"));
  EXPECT_LT(run.reports[3].metrics.at("val_loss"), run.reports[0].metrics.at("val_loss"));
}

TEST(RunTrialTest, AbsurdLearningRateDiverges) {
  // The loss explodes but stays finite (BatchNorm rescales the huge weights).
  const TrialRun run = RunCollecting(TinyConfig({{"name", "SGD"}, {"lr", 1e6}}, 5));
  EXPECT_EQ(run.result.outcome, Outcome::kDiverged);
  EXPECT_THAT(run.result.reason, AllOf(HasSubstr("train_loss"), HasSubstr("over the limit"),
                                       HasSubstr("epoch 1")));
  EXPECT_EQ(run.result.epochs_done, 0);
  EXPECT_TRUE(run.reports.empty());
}

TEST(RunTrialTest, NonFiniteLossDiverges) {
  // The first step pushes the weights past float32 range: the loss turns NaN.
  const TrialRun run = RunCollecting(TinyConfig({{"name", "SGD"}, {"lr", 1e30}}, 5));
  EXPECT_EQ(run.result.outcome, Outcome::kDiverged);
  EXPECT_THAT(run.result.reason, AllOf(HasSubstr("train_loss is nan"), HasSubstr("epoch 1")));
}

TEST(RunTrialTest, SchedulerSetsTheLrOfLaterEpochs) {
  json config = TinyConfig(Sgd(0.05), 3);
  config["params"]["scheduler"] = {{"name", "StepLR"}, {"step_size", 1}, {"gamma", 0.5}};
  const TrialRun run = RunCollecting(config);
  ASSERT_EQ(run.reports.size(), 3U) << run.result.reason;
  EXPECT_EQ(run.reports[0].metrics.at("lr"), 0.05);
  EXPECT_EQ(run.reports[1].metrics.at("lr"), 0.025);
  EXPECT_EQ(run.reports[2].metrics.at("lr"), 0.0125);
}

TEST(RunTrialTest, ReduceLROnPlateauIsSteppedWithItsMonitor) {
  json config = TinyConfig(Sgd(0.05), 3);
  // val_pixel_acc "max" with a threshold no epoch can beat: every epoch is bad.
  config["params"]["scheduler"] = {{"name", "ReduceLROnPlateau"},
                                   {"monitor", "val_pixel_acc"},
                                   {"mode", "max"},
                                   {"patience", 0},
                                   {"threshold", 0.99},
                                   {"factor", 0.5}};
  const TrialRun run = RunCollecting(config);
  ASSERT_EQ(run.reports.size(), 3U) << run.result.reason;
  EXPECT_EQ(run.reports[0].metrics.at("lr"), 0.05);  // the first value always improves
  EXPECT_EQ(run.reports[1].metrics.at("lr"), 0.05);
  EXPECT_EQ(run.reports[2].metrics.at("lr"), 0.025);
}

TEST(RunTrialTest, StepIntervalAdvancesTheScheduleAfterEveryBatch) {
  json config = TinyConfig(Sgd(0.05), 3);  // 16 images in batches of 8: 2 steps an epoch
  config["params"]["scheduler"] = {{"name", "ExponentialLR"}, {"gamma", 0.5}, {"interval", "step"}};
  const TrialRun run = RunCollecting(config);
  ASSERT_EQ(run.reports.size(), 3U) << run.result.reason;
  EXPECT_EQ(run.reports[0].metrics.at("lr"), 0.05);
  EXPECT_EQ(run.reports[1].metrics.at("lr"), 0.0125);
  EXPECT_EQ(run.reports[2].metrics.at("lr"), 0.003125);
}

TEST(RunTrialTest, BudgetExpressionsUseTheTrialsStepsPerEpoch) {
  json config = TinyConfig(Sgd(0.05), 3);
  config["params"]["scheduler"] = {
      {"name", "StepLR"}, {"step_size", "steps_per_epoch"}, {"gamma", 0.5}, {"interval", "step"}};
  const TrialRun run = RunCollecting(config);
  ASSERT_EQ(run.reports.size(), 3U) << run.result.reason;
  EXPECT_EQ(run.reports[1].metrics.at("lr"), 0.025);
  EXPECT_EQ(run.reports[2].metrics.at("lr"), 0.0125);
}

TEST(RunTrialTest, BadBudgetExpressionFailsNamingTheArgument) {
  json config = TinyConfig(Sgd(0.05), 3);
  config["params"]["scheduler"] = {{"name", "CosineAnnealingLR"}, {"T_max", "epochs / 2"}};
  const TrialRun run = RunCollecting(config);
  EXPECT_EQ(run.result.outcome, Outcome::kFailed);
  EXPECT_THAT(run.result.reason, AllOf(HasSubstr("T_max"), HasSubstr("not a whole number")));
}

TEST(RunTrialTest, LbfgsTrainsThroughItsLossClosure) {
  const TrialRun run =
      RunCollecting(TinyConfig({{"name", "LBFGS"}, {"lr", 0.5}, {"max_iter", 3}}, 2));
  ASSERT_EQ(run.result.outcome, Outcome::kCompleted) << run.result.reason;
  ASSERT_EQ(run.reports.size(), 2U);
  EXPECT_LT(run.reports[1].metrics.at("train_loss"), run.reports[0].metrics.at("train_loss"));
}

TEST(RunTrialTest, OnEpochReturningFalseStops) {
  TrainOptions options;
  int calls = 0;
  options.on_epoch = [&](const EpochReport&) {
    ++calls;
    return false;
  };
  const TrialResult result = RunTrial(TinyConfig(Sgd(0.05), 3), options);
  EXPECT_EQ(result.outcome, Outcome::kStopped);
  EXPECT_EQ(result.epochs_done, 1);
  EXPECT_EQ(calls, 1);
}

TEST(RunTrialTest, ShouldAbortStopsBetweenBatches) {
  TrainOptions options;
  int batches = 0;
  options.on_batch = [&](int, int, int) { ++batches; };
  options.should_abort = [&] { return batches == 1; };
  const TrialResult result = RunTrial(TinyConfig(Sgd(0.05), 3), options);
  EXPECT_EQ(result.outcome, Outcome::kStopped);
  EXPECT_EQ(result.epochs_done, 0);
  EXPECT_EQ(batches, 1);
}

TEST(RunTrialTest, OnBatchReportsProgress) {
  TrainOptions options;
  std::vector<std::vector<int>> calls;
  options.on_batch = [&](int epoch, int batch, int batches) {
    calls.push_back({epoch, batch, batches});
  };
  ASSERT_EQ(RunTrial(TinyConfig(Sgd(0.05), 1), options).outcome, Outcome::kCompleted);
  EXPECT_EQ(calls, (std::vector<std::vector<int>>{{1, 1, 2}, {1, 2, 2}}));
}

TEST(RunTrialTest, ResumingReportsOnlyTheRemainingEpochsWithTheSameMetrics) {
  const TrialRun full = RunCollecting(TinyConfig(Sgd(0.05), 3));
  TrainOptions options;
  options.start_epoch = 2;
  const TrialRun resumed = RunCollecting(TinyConfig(Sgd(0.05), 3), options);
  ASSERT_EQ(resumed.result.outcome, Outcome::kCompleted) << resumed.result.reason;
  EXPECT_EQ(resumed.result.epochs_done, 3);
  ASSERT_EQ(resumed.reports.size(), 1U);
  ASSERT_EQ(full.reports.size(), 3U);
  EXPECT_EQ(resumed.reports[0].epoch, 3);
  EXPECT_EQ(Deterministic(resumed.reports[0]), Deterministic(full.reports[2]));
}

TEST(RunTrialTest, BadConfigFailsNamingTheField) {
  json config = TinyConfig(Sgd(0.05));
  config["model"]["depth"] = 0;
  TrialResult result = RunTrial(config, {});
  EXPECT_EQ(result.outcome, Outcome::kFailed);
  EXPECT_THAT(result.reason, HasSubstr("model.depth"));

  result = RunTrial(TinyConfig({{"name", "SGD"}, {"lr", -0.1}}), {});
  EXPECT_EQ(result.outcome, Outcome::kFailed);
  EXPECT_THAT(result.reason, HasSubstr("optimizer.lr"));

  config = TinyConfig(Sgd(0.05));
  config["params"]["scheduler"] = {{"name", "StepLR"}};
  result = RunTrial(config, {});
  EXPECT_EQ(result.outcome, Outcome::kFailed);
  EXPECT_THAT(result.reason, HasSubstr("scheduler.step_size"));

  result = RunTrial(json("not a config"), {});
  EXPECT_EQ(result.outcome, Outcome::kFailed);
  EXPECT_EQ(result.epochs_done, 0);
}

TEST(RunTrialTest, UnknownOrMissingDeviceFails) {
  TrainOptions options;
  options.device = "tpu";
  TrialResult result = RunTrial(TinyConfig(Sgd(0.05)), options);
  EXPECT_EQ(result.outcome, Outcome::kFailed);
  EXPECT_THAT(result.reason, HasSubstr("device"));
  if (!torch::cuda::is_available()) {
    options.device = "cuda:0";
    result = RunTrial(TinyConfig(Sgd(0.05)), options);
    EXPECT_EQ(result.outcome, Outcome::kFailed);
    EXPECT_THAT(result.reason, HasSubstr("CUDA"));
  }
}

}  // namespace
}  // namespace segtune::train
