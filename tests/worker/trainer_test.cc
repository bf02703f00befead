#include "segtune/train/trainer.h"

#include <algorithm>
#include <filesystem>
#include <sstream>
#include <utility>
#include <cmath>
#include <thread>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <torch/cuda.h>
#include <torch/serialize/input-archive.h>
#include <torch/version.h>

#include "absl/status/status.h"
#include "image_writer.h"
#include "tiny_config.h"

namespace segtune::train {
namespace {

using nlohmann::json;
using ::testing::AllOf;
using ::testing::HasSubstr;

const std::vector<std::string> kMetricNames = {"train_loss",       "val_loss", "val_miou",
                                               "val_pixel_acc",    "lr",       "epoch_seconds",
                                               "images_per_second"};

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
    for (const std::string& name : kMetricNames) {
      ASSERT_EQ(report.metrics.count(name), 1U) << name;
      EXPECT_TRUE(std::isfinite(report.metrics.at(name))) << name;
    }
    // The rest are per-class IoUs, of classes 0..2, whose mean is val_miou.
    double iou_sum = 0;
    int classes = 0;
    for (const auto& [name, value] : report.metrics) {
      if (std::count(kMetricNames.begin(), kMetricNames.end(), name) == 1) continue;
      EXPECT_THAT(name, ::testing::AnyOf("val_iou_0", "val_iou_1", "val_iou_2"));
      EXPECT_GE(value, 0.0);
      EXPECT_LE(value, 1.0);
      iou_sum += value;
      ++classes;
    }
    ASSERT_GE(classes, 1);
    EXPECT_NEAR(iou_sum / classes, report.metrics.at("val_miou"), 1e-12);
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
  options.on_batch = [&](int, int, int, int64_t) { ++batches; };
  options.should_abort = [&] { return batches == 1; };
  const TrialResult result = RunTrial(TinyConfig(Sgd(0.05), 3), options);
  EXPECT_EQ(result.outcome, Outcome::kStopped);
  EXPECT_EQ(result.epochs_done, 0);
  EXPECT_EQ(batches, 1);
}

TEST(RunTrialTest, OnBatchReportsProgress) {
  TrainOptions options;
  std::vector<std::vector<int64_t>> calls;
  options.on_batch = [&](int epoch, int batch, int batches, int64_t images) {
    calls.push_back({epoch, batch, batches, images});
  };
  // 10 training images in batches of 8: the last batch holds the other 2.
  json config = TinyConfig(Sgd(0.05), 1);
  config["data"]["train_size"] = 10;
  ASSERT_EQ(RunTrial(config, options).outcome, Outcome::kCompleted);
  EXPECT_EQ(calls, (std::vector<std::vector<int64_t>>{{1, 1, 2, 8}, {1, 2, 2, 2}}));
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

TEST(RunTrialTest, TimingAccountsForTheEpoch) {
  const TrialRun run = RunCollecting(TinyConfig(Sgd(0.05), 2));
  ASSERT_EQ(run.reports.size(), 2U) << run.result.reason;
  for (const EpochReport& report : run.reports) {
    const EpochTiming& timing = report.timing;
    EXPECT_GT(timing.model_seconds, 0.0);
    EXPECT_GT(timing.optimizer_seconds, 0.0);
    EXPECT_GE(timing.data_wait_seconds, 0.0);
    EXPECT_LE(timing.model_seconds + timing.optimizer_seconds + timing.data_wait_seconds,
              timing.total_seconds);
    EXPECT_EQ(timing.total_seconds, report.metrics.at("epoch_seconds"));
  }
  EXPECT_GT(run.reports[0].timing.startup_seconds, 0.0);
  EXPECT_EQ(run.reports[1].timing.startup_seconds, 0.0);
}

// A trial whose state exercises every part of a checkpoint: Adam's moments,
// a plateau scheduler's counters, BatchNorm's running statistics and
// augmentation drawn per epoch.
json StatefulConfig(int epochs) {
  json config = TinyConfig({{"name", "Adam"}, {"lr", 0.01}}, epochs);
  config["data"]["flip"] = true;
  config["params"]["scheduler"] = {
      {"name", "ReduceLROnPlateau"}, {"patience", 0}, {"factor", 0.5}, {"threshold", 0.5}};
  return config;
}

struct CheckpointedRun {
  TrialRun run;
  std::vector<Checkpoint> checkpoints;
};

CheckpointedRun RunCheckpointing(const json& config, TrainOptions options = {}) {
  CheckpointedRun result;
  options.on_checkpoint = [&](const Checkpoint& checkpoint) {
    result.checkpoints.push_back(checkpoint);
    return absl::OkStatus();
  };
  result.run = RunCollecting(config, options);
  return result;
}

TEST(RunTrialTest, ResumingFromEachCheckpointIsBitIdentical) {
  const CheckpointedRun full = RunCheckpointing(StatefulConfig(4));
  ASSERT_EQ(full.run.result.outcome, Outcome::kCompleted) << full.run.result.reason;
  ASSERT_EQ(full.checkpoints.size(), 4U);
  for (int k = 1; k <= 3; ++k) {
    SCOPED_TRACE(::testing::Message() << "resumed after epoch " << k);
    EXPECT_EQ(full.checkpoints[k - 1].epoch, k);
    TrainOptions options;
    options.start_epoch = k;
    options.resume_from = full.checkpoints[k - 1];
    const CheckpointedRun resumed = RunCheckpointing(StatefulConfig(4), options);
    ASSERT_EQ(resumed.run.result.outcome, Outcome::kCompleted) << resumed.run.result.reason;
    EXPECT_EQ(resumed.run.result.epochs_done, 4);
    ASSERT_EQ(resumed.run.reports.size(), static_cast<size_t>(4 - k));
    for (size_t i = 0; i < resumed.run.reports.size(); ++i) {
      EXPECT_EQ(resumed.run.reports[i].epoch, k + 1 + static_cast<int>(i));
      EXPECT_EQ(Deterministic(resumed.run.reports[i]), Deterministic(full.run.reports[k + i]));
      // The weights are compared as bytes; the training state's archive
      // embeds process-specific TorchScript names, so the metrics of the
      // following epochs are what show it was restored exactly.
      EXPECT_TRUE(resumed.checkpoints[i].weights == full.checkpoints[k + i].weights);
    }
  }
}

TEST(RunTrialTest, CheckpointOfAnotherEpochOrModelFails) {
  const CheckpointedRun full = RunCheckpointing(StatefulConfig(2));
  ASSERT_EQ(full.checkpoints.size(), 2U) << full.run.result.reason;
  TrainOptions options;
  options.start_epoch = 1;
  options.resume_from = full.checkpoints[1];
  TrialResult result = RunTrial(StatefulConfig(2), options);
  EXPECT_EQ(result.outcome, Outcome::kFailed);
  EXPECT_THAT(result.reason, HasSubstr("checkpoint is of epoch 2"));

  json wider = StatefulConfig(2);
  wider["model"]["base_channels"] = 6;
  options.resume_from = full.checkpoints[0];
  result = RunTrial(wider, options);
  EXPECT_EQ(result.outcome, Outcome::kFailed);
  EXPECT_THAT(result.reason, HasSubstr("weights"));

  options.resume_from->training_state = "not an archive";
  result = RunTrial(StatefulConfig(2), options);
  EXPECT_EQ(result.outcome, Outcome::kFailed);
  EXPECT_THAT(result.reason, HasSubstr("training state"));
}

TEST(RunTrialTest, CheckpointsSayHowTheirOptimizerStateIsKeyed) {
  // A LibTorch that keys optimizer state by address refuses a checkpoint
  // whose keys are strings (1.13's) instead of misreading it; that needs
  // every checkpoint to say which kind it holds.
  const CheckpointedRun run = RunCheckpointing(StatefulConfig(1));
  ASSERT_EQ(run.checkpoints.size(), 1U) << run.run.result.reason;
  torch::serialize::InputArchive archive;
  std::istringstream bytes(run.checkpoints[0].training_state);
  archive.load_from(bytes);
  torch::Tensor keys;
  ASSERT_TRUE(archive.try_read("optimizer_state_keys", keys));
  // 0: strings, as LibTorch 1.13 (this build) keys them.
  if (TORCH_VERSION_MAJOR == 1) {
    EXPECT_EQ(keys.item<int64_t>(), 0);
  }
  EXPECT_TRUE(keys.item<int64_t>() == 0 || keys.item<int64_t>() == 1);
}

TEST(RunTrialTest, FailedCheckpointFailsTheTrialBeforeTheEpochIsReported) {
  TrainOptions options;
  options.on_checkpoint = [](const Checkpoint& checkpoint) {
    return checkpoint.epoch == 2 ? absl::UnavailableError("disk full") : absl::OkStatus();
  };
  const TrialRun run = RunCollecting(TinyConfig(Sgd(0.05), 3), options);
  EXPECT_EQ(run.result.outcome, Outcome::kFailed);
  EXPECT_THAT(run.result.reason, AllOf(HasSubstr("checkpoint of epoch 2"), HasSubstr("disk full")));
  EXPECT_EQ(run.result.epochs_done, 1);
  EXPECT_EQ(run.reports.size(), 1U);
}

// PBT: a donor trial with a decaying lr, and recipients that continue from
// the donor's checkpoint of epoch 2 with their own configuration.
json DonorConfig() {
  json config = TinyConfig(Sgd(0.05), 4);
  config["params"]["scheduler"] = {{"name", "ExponentialLR"}, {"gamma", 0.8}};
  return config;
}

json RecipientConfig(json exploit) {
  json config = DonorConfig();
  config["training"]["seed"] = 2;  // another trial: its own batch order
  config["params"]["optimizer"] = {{"name", "SGD"}, {"lr", 0.075}, {"momentum", 0.93}};
  config["exploit"] = std::move(exploit);
  return config;
}

TrainOptions ResumingAfter(const Checkpoint& checkpoint) {
  TrainOptions options;
  options.start_epoch = checkpoint.epoch;
  options.resume_from = checkpoint;
  return options;
}

TEST(RunTrialTest, ExploitContinuesFromTheDonorsCheckpointWithTheScaledLrAndNewMomentum) {
  const CheckpointedRun donor = RunCheckpointing(DonorConfig());
  ASSERT_EQ(donor.checkpoints.size(), 4U) << donor.run.result.reason;
  const json exploit = {{"epoch", 2}, {"lr_scale", 1.5}, {"optimizer", {{"momentum", 0.93}}}};
  const TrialRun recipient =
      RunCollecting(RecipientConfig(exploit), ResumingAfter(donor.checkpoints[1]));
  ASSERT_EQ(recipient.result.outcome, Outcome::kCompleted) << recipient.result.reason;
  ASSERT_EQ(recipient.reports.size(), 2U);
  for (size_t i = 0; i < 2; ++i) {
    SCOPED_TRACE(::testing::Message() << "epoch " << 3 + i);
    const EpochReport& report = recipient.reports[i];
    EXPECT_EQ(report.epoch, 3 + static_cast<int>(i));
    // The donor's schedule, scaled: 0.05 * 0.8^(epoch - 1) * 1.5.
    const double donor_lr = donor.run.reports[2 + i].metrics.at("lr");
    EXPECT_NEAR(report.metrics.at("lr"), 1.5 * donor_lr, 1e-15);
    for (const std::string& name : kMetricNames) {
      EXPECT_TRUE(std::isfinite(report.metrics.at(name))) << name;
    }
    EXPECT_NE(Deterministic(report), Deterministic(donor.run.reports[2 + i]));
  }
  EXPECT_NEAR(recipient.reports[0].metrics.at("lr"), 0.05 * 0.8 * 0.8 * 1.5, 1e-15);

  // The momentum took effect: without it, other numbers.
  const TrialRun lr_only = RunCollecting(RecipientConfig({{"epoch", 2}, {"lr_scale", 1.5}}),
                                         ResumingAfter(donor.checkpoints[1]));
  ASSERT_EQ(lr_only.reports.size(), 2U) << lr_only.result.reason;
  EXPECT_EQ(lr_only.reports[0].metrics.at("lr"), recipient.reports[0].metrics.at("lr"));
  EXPECT_NE(lr_only.reports[0].metrics.at("train_loss"),
            recipient.reports[0].metrics.at("train_loss"));
}

TEST(RunTrialTest, ExploitOfNothingContinuesTheDonorBitForBit) {
  const CheckpointedRun donor = RunCheckpointing(DonorConfig());
  ASSERT_EQ(donor.checkpoints.size(), 4U) << donor.run.result.reason;
  json config = DonorConfig();
  config["exploit"] = {{"epoch", 2}, {"lr_scale", 1}, {"optimizer", json::object()}};
  const TrialRun resumed = RunCollecting(config, ResumingAfter(donor.checkpoints[1]));
  ASSERT_EQ(resumed.reports.size(), 2U) << resumed.result.reason;
  EXPECT_EQ(Deterministic(resumed.reports[0]), Deterministic(donor.run.reports[2]));
  EXPECT_EQ(Deterministic(resumed.reports[1]), Deterministic(donor.run.reports[3]));
}

TEST(RunTrialTest, ResumingAfterTheExploitEpochDoesNotApplyItAgain) {
  const CheckpointedRun donor = RunCheckpointing(DonorConfig());
  ASSERT_EQ(donor.checkpoints.size(), 4U) << donor.run.result.reason;
  const json config = RecipientConfig(
      {{"epoch", 2}, {"lr_scale", 0.5}, {"optimizer", {{"momentum", 0.93}}}});
  const CheckpointedRun recipient = RunCheckpointing(config, ResumingAfter(donor.checkpoints[1]));
  ASSERT_EQ(recipient.checkpoints.size(), 2U) << recipient.run.result.reason;
  ASSERT_EQ(recipient.checkpoints[0].epoch, 3);
  const TrialRun resumed = RunCollecting(config, ResumingAfter(recipient.checkpoints[0]));
  ASSERT_EQ(resumed.reports.size(), 1U) << resumed.result.reason;
  EXPECT_EQ(Deterministic(resumed.reports[0]), Deterministic(recipient.run.reports[1]));
}

TEST(RunTrialTest, ExploitWithoutItsCheckpointFailsInsteadOfReplaying) {
  const json config = RecipientConfig({{"epoch", 2}, {"lr_scale", 1.5}});
  TrainOptions lost;
  lost.start_epoch = 2;  // the checkpoint did not arrive
  TrialRun run = RunCollecting(config, lost);
  EXPECT_EQ(run.result.outcome, Outcome::kFailed);
  EXPECT_THAT(run.result.reason,
              AllOf(HasSubstr("checkpoint of epoch 2 is missing"), HasSubstr("exploit")));
  EXPECT_TRUE(run.reports.empty());

  // Nor can it start before the exploit's epoch.
  const CheckpointedRun donor = RunCheckpointing(DonorConfig());
  ASSERT_EQ(donor.checkpoints.size(), 4U) << donor.run.result.reason;
  run = RunCollecting(config, ResumingAfter(donor.checkpoints[0]));
  EXPECT_EQ(run.result.outcome, Outcome::kFailed);
  EXPECT_THAT(run.result.reason, HasSubstr("exploit.epoch"));
  EXPECT_TRUE(run.reports.empty());
}

TEST(RunTrialTest, LrAsppTrainsWhenTheArchIsAParameter) {
  json config = TinyConfig({{"name", "Adam"}, {"lr", 0.01}}, 2);
  config["params"]["model.arch"] = "lraspp";
  const TrialRun run = RunCollecting(config);
  ASSERT_EQ(run.result.outcome, Outcome::kCompleted) << run.result.reason;
  ASSERT_EQ(run.reports.size(), 2U);
  EXPECT_NE(Deterministic(run.reports[0]),
            Deterministic(RunCollecting(TinyConfig({{"name", "Adam"}, {"lr", 0.01}}, 1)).reports[0]));
}

TEST(RunTrialTest, LossOptionsChangeTheLoss) {
  const json plain = TinyConfig(Sgd(0.05), 1);
  json weighted = plain;
  weighted["training"]["loss"] = {{"weight", {1.0, 2.0, 3.0}}};
  json dice = plain;
  dice["params"]["training.loss.dice_weight"] = 1.0;
  const double plain_loss = RunCollecting(plain).reports.at(0).metrics.at("train_loss");
  const double weighted_loss = RunCollecting(weighted).reports.at(0).metrics.at("train_loss");
  const TrialRun dice_run = RunCollecting(dice);
  ASSERT_EQ(dice_run.result.outcome, Outcome::kCompleted) << dice_run.result.reason;
  EXPECT_NE(plain_loss, weighted_loss);
  // The Dice term is in [0, 1] and the first batch's is well above 0.
  EXPECT_GT(dice_run.reports.at(0).metrics.at("train_loss"), plain_loss);
}

// A tiny Pascal VOC tree: a red square of class 1 or a blue bar of class 2
// on black, with VOC's 255 (ignore) border around each object.
void WriteVocTree(const data::test_files::TempDir& root) {
  namespace files = data::test_files;
  constexpr int kSize = 20;
  auto write_sample = [&](const std::string& id, int index) {
    std::vector<uint8_t> rgb(kSize * kSize * 3, 0);
    std::vector<uint8_t> mask(kSize * kSize, 0);
    const int object_class = 1 + index % 2;
    const int offset = 2 + index % 5;
    for (int y = 0; y < kSize; ++y) {
      for (int x = 0; x < kSize; ++x) {
        const bool inside = object_class == 1
                                ? (x >= offset && x < offset + 8 && y >= offset && y < offset + 8)
                                : (y >= offset && y < offset + 4);
        const bool border = object_class == 1
                                ? (x >= offset - 1 && x <= offset + 8 && y >= offset - 1 &&
                                   y <= offset + 8)
                                : (y == offset - 1 || y == offset + 4);
        if (inside) {
          rgb[(y * kSize + x) * 3 + (object_class == 1 ? 0 : 2)] = 230;
          mask[y * kSize + x] = static_cast<uint8_t>(object_class);
        } else if (border) {
          mask[y * kSize + x] = 255;
        }
      }
    }
    files::WriteJpeg(root.File("JPEGImages/" + id + ".jpg"), kSize, kSize, 3, rgb);
    files::WritePaletteMask(root.File("SegmentationClass/" + id + ".png"), kSize, kSize, mask);
  };
  std::string train_list;
  std::string val_list;
  for (int i = 0; i < 9; ++i) {
    const std::string id = "2007_00000" + std::to_string(i);
    write_sample(id, i);
    (i < 6 ? train_list : val_list) += id + "\n";
  }
  files::WriteBytes(root.File("ImageSets/Segmentation/train.txt"), train_list);
  files::WriteBytes(root.File("ImageSets/Segmentation/val.txt"), val_list);
}

json VocConfig(const std::string& root) {
  json config = TinyConfig({{"name", "Adam"}, {"lr", 0.01}}, 2);
  config["data"] = {{"dataset", "voc"}, {"root", root},      {"image_size", 16},
                    {"resize", 20},     {"num_classes", 3},  {"train_size", 0},
                    {"val_size", 0},    {"seed", 0},         {"flip", true}};
  config["training"]["batch_size"] = 4;
  return config;
}

TEST(RunTrialTest, TrainsOnAPascalVocTree) {
  const data::test_files::TempDir root;
  WriteVocTree(root);
  std::vector<std::pair<int64_t, int64_t>> progress;
  TrainOptions options;
  options.on_load_progress = [&](int64_t done, int64_t total) { progress.emplace_back(done, total); };
  const TrialRun run = RunCollecting(VocConfig(root.path()), options);
  ASSERT_EQ(run.result.outcome, Outcome::kCompleted) << run.result.reason;
  ASSERT_EQ(run.reports.size(), 2U);
  for (const std::string& name : kMetricNames) {
    EXPECT_TRUE(std::isfinite(run.reports[1].metrics.at(name))) << name;
  }
  EXPECT_EQ(run.reports[1].metrics.count("val_iou_0"), 1U);
  ASSERT_FALSE(progress.empty());
  EXPECT_EQ(progress.back().first, progress.back().second);
  // Same tree, same seed: the same numbers.
  EXPECT_EQ(Deterministic(RunCollecting(VocConfig(root.path())).reports[1]),
            Deterministic(run.reports[1]));
}

TEST(RunTrialTest, BadDataFailsBeforeTrainingNamingTheFile) {
  const data::test_files::TempDir root;
  WriteVocTree(root);
  const std::string missing = root.File("SegmentationClass/2007_000004.png");
  std::filesystem::remove(missing);
  const TrialRun run = RunCollecting(VocConfig(root.path()));
  EXPECT_EQ(run.result.outcome, Outcome::kFailed);
  EXPECT_THAT(run.result.reason, AllOf(HasSubstr("data: "), HasSubstr("2007_000004.png")));
  EXPECT_EQ(run.result.epochs_done, 0);
  EXPECT_TRUE(run.reports.empty());
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
