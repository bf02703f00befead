// segtune-worker --simulate's trial function: deterministic curves, exact
// resumes, RunTrial's contract (stops, checkpoints, divergence, range test,
// PBT exploit), pace, and curves that look like training.
#include "segtune/simulate/simulated_trial.h"

#include <chrono>
#include <cmath>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "simulation_fixture.h"

namespace segtune::simulate::testing {
namespace {

using nlohmann::json;
using train::Outcome;
using Clock = std::chrono::steady_clock;

const json kMomentum = {{"name", "SGD"}, {"lr", 0.05}, {"momentum", 0.9}};
const json kStep = {{"name", "StepLR"}, {"step_size", 3}, {"gamma", 0.5}};

double Seconds(Clock::duration duration) { return std::chrono::duration<double>(duration).count(); }

TEST(SimulatedTrial, SameConfigGivesTheSameNumbers) {
  const Recorded first = Simulate(Config(kMomentum, kStep));
  const Recorded second = Simulate(Config(kMomentum, kStep));
  ASSERT_EQ(first.result.outcome, Outcome::kCompleted) << first.result.reason;
  ASSERT_EQ(first.reports.size(), 8u);
  ASSERT_EQ(second.reports.size(), 8u);
  for (size_t i = 0; i < first.reports.size(); ++i) {
    EXPECT_EQ(first.reports[i].epoch, static_cast<int>(i) + 1);
    EXPECT_EQ(CurveMetrics(first.reports[i]), CurveMetrics(second.reports[i])) << "epoch " << i + 1;
  }
}

TEST(SimulatedTrial, TheSeedChangesTheNoise) {
  json other = Config(kMomentum, kStep);
  other["training"]["seed"] = 1;
  const Recorded first = Simulate(Config(kMomentum, kStep));
  const Recorded second = Simulate(other);
  EXPECT_NE(first.reports.back().metrics.at("val_miou"), second.reports.back().metrics.at("val_miou"));
}

TEST(SimulatedTrial, ReportsTheTrainersMetricKeys) {
  const Recorded run = Simulate(Config(kMomentum, kStep, 2));
  ASSERT_EQ(run.reports.size(), 2u);
  const std::map<std::string, double>& metrics = run.reports[0].metrics;
  for (const char* key : {"train_loss", "val_loss", "val_miou", "val_pixel_acc", "lr", "epoch_seconds",
                          "images_per_second", "val_iou_0", "val_iou_1", "val_iou_2", "val_iou_3"}) {
    ASSERT_TRUE(metrics.count(key)) << key;
    EXPECT_TRUE(std::isfinite(metrics.at(key))) << key;
  }
  EXPECT_EQ(metrics.size(), 11u);
  const double mean_iou = (metrics.at("val_iou_0") + metrics.at("val_iou_1") + metrics.at("val_iou_2") +
                           metrics.at("val_iou_3")) / 4;
  EXPECT_NEAR(mean_iou, metrics.at("val_miou"), 1e-12);
  EXPECT_EQ(run.batches, 2 * 3);
  EXPECT_EQ(run.checkpoints.size(), 2u);
  EXPECT_EQ(run.checkpoints[1].epoch, 2);
}

// A resumed attempt continues exactly where the fault-free run would be,
// from its checkpoint (any epoch's) or by replaying without one; stateful
// schedules (ReduceLROnPlateau, OneCycleLR per step) included.
TEST(SimulatedTrial, ResumedAttemptsContinueTheFaultFreeRun) {
  const std::vector<json> schedulers = {
      kStep,
      {{"name", "ReduceLROnPlateau"}, {"factor", 0.5}, {"patience", 1}},
      {{"name", "OneCycleLR"}, {"max_lr", 0.05}, {"total_steps", 24}},
      {{"name", "CosineAnnealingWarmRestarts"}, {"T_0", 2}, {"T_mult", 2}}};
  for (const json& scheduler : schedulers) {
    SCOPED_TRACE(scheduler.dump());
    const json config = Config(kMomentum, scheduler);
    const Recorded full = Simulate(config);
    ASSERT_EQ(full.result.outcome, Outcome::kCompleted) << full.result.reason;
    for (int k : {1, 3, 7}) {
      for (bool with_checkpoint : {true, false}) {
        SCOPED_TRACE(::testing::Message() << "start_epoch " << k << (with_checkpoint ? "" : ", replayed"));
        train::TrainOptions options;
        options.start_epoch = k;
        if (with_checkpoint) options.resume_from = full.checkpoints[k - 1];
        const Recorded resumed = Simulate(config, options);
        ASSERT_EQ(resumed.result.outcome, Outcome::kCompleted) << resumed.result.reason;
        EXPECT_EQ(resumed.result.epochs_done, 8);
        ASSERT_EQ(resumed.reports.size(), static_cast<size_t>(8 - k));
        for (size_t i = 0; i < resumed.reports.size(); ++i) {
          EXPECT_EQ(resumed.reports[i].epoch, k + 1 + static_cast<int>(i));
          EXPECT_EQ(CurveMetrics(resumed.reports[i]), CurveMetrics(full.reports[k + i]));
          EXPECT_EQ(resumed.checkpoints[i].training_state, full.checkpoints[k + i].training_state);
        }
        // Replayed epochs call on_batch too, as the trainer's do.
        EXPECT_EQ(resumed.batches, with_checkpoint ? 3 * (8 - k) : 3 * 8);
      }
    }
  }
}

TEST(SimulatedTrial, ChecksTheCheckpointItResumesFrom) {
  const json config = Config(kMomentum, kStep);
  const Recorded full = Simulate(config);
  train::TrainOptions options;
  options.start_epoch = 2;

  options.resume_from = full.checkpoints[1];
  options.resume_from->training_state[options.resume_from->training_state.size() / 2] ^= 1;
  Recorded run = Simulate(config, options);
  EXPECT_EQ(run.result.outcome, Outcome::kFailed);
  EXPECT_NE(run.result.reason.find("resume_from"), std::string::npos) << run.result.reason;
  EXPECT_TRUE(run.reports.empty());

  options.resume_from = full.checkpoints[0];  // of epoch 1, not 2
  run = Simulate(config, options);
  EXPECT_EQ(run.result.outcome, Outcome::kFailed);
  EXPECT_NE(run.result.reason.find("the checkpoint is of epoch 1"), std::string::npos) << run.result.reason;

  options.resume_from = train::Checkpoint{2, "weights", "a real trial's state"};
  run = Simulate(config, options);
  EXPECT_EQ(run.result.outcome, Outcome::kFailed);
  EXPECT_NE(run.result.reason.find("not a simulated trial's checkpoint"), std::string::npos)
      << run.result.reason;
}

TEST(SimulatedTrial, StartEpochAtTheEndCompletesAtOnce) {
  train::TrainOptions options;
  options.start_epoch = 8;
  const Recorded run = Simulate(Config(kMomentum, kStep), options);
  EXPECT_EQ(run.result.outcome, Outcome::kCompleted);
  EXPECT_EQ(run.result.epochs_done, 8);
  EXPECT_TRUE(run.reports.empty());
}

TEST(SimulatedTrial, SleepsEpochSecondsPerEpoch) {
  const Clock::time_point start = Clock::now();
  const Recorded run = Simulate(Config(kMomentum, kStep, 3), {}, 0.05);
  const double elapsed = Seconds(Clock::now() - start);
  ASSERT_EQ(run.result.outcome, Outcome::kCompleted);
  EXPECT_GE(elapsed, 0.15);
  EXPECT_LT(elapsed, 1.0);
  for (const train::EpochReport& report : run.reports) {
    EXPECT_GE(report.metrics.at("epoch_seconds"), 0.045);
    EXPECT_NEAR(report.metrics.at("images_per_second"), 12 / report.timing.model_seconds, 1e-6);
  }
}

TEST(SimulatedTrial, AStopRequestEndsItWithin100Ms) {
  train::TrainOptions options;
  const Clock::time_point start = Clock::now();
  const Clock::time_point abort_at = start + std::chrono::milliseconds(50);
  options.should_abort = [abort_at] { return Clock::now() >= abort_at; };
  const Recorded run = Simulate(Config(kMomentum, kStep), options, 10.0);
  const double late = Seconds(Clock::now() - abort_at);
  EXPECT_EQ(run.result.outcome, Outcome::kStopped);
  EXPECT_EQ(run.result.reason, "aborted during epoch 1");
  EXPECT_EQ(run.result.epochs_done, 0);
  EXPECT_LT(late, 0.1);
}

TEST(SimulatedTrial, OnEpochFalseStopsAfterThatEpoch) {
  train::TrainOptions options;
  options.on_epoch = [](const train::EpochReport&) { return false; };
  const train::TrialResult result = SimulatedTrialFunction({0})(Config(kMomentum, kStep), options);
  EXPECT_EQ(result.outcome, Outcome::kStopped);
  EXPECT_EQ(result.reason, "stopped after epoch 1");
  EXPECT_EQ(result.epochs_done, 1);
}

TEST(SimulatedTrial, ACheckpointErrorFailsBeforeTheEpochIsReported) {
  train::TrainOptions options;
  bool reported = false;
  options.on_checkpoint = [](const train::Checkpoint&) { return absl::UnavailableError("disk full"); };
  options.on_epoch = [&reported](const train::EpochReport&) { return reported = true; };
  const train::TrialResult result = SimulatedTrialFunction({0})(Config(kMomentum, kStep), options);
  EXPECT_EQ(result.outcome, Outcome::kFailed);
  EXPECT_EQ(result.reason, "checkpoint of epoch 1: disk full");
  EXPECT_EQ(result.epochs_done, 0);
  EXPECT_FALSE(reported);
}

TEST(SimulatedTrial, AnAbsurdLrDivergesWithANanLoss) {
  const Recorded run = Simulate(Config({{"name", "SGD"}, {"lr", 100.0}}, nullptr));
  EXPECT_EQ(run.result.outcome, Outcome::kDiverged);
  EXPECT_EQ(run.result.reason.rfind("train_loss is nan at epoch 1, batch 1 with lr 100", 0), 0u)
      << run.result.reason;
  EXPECT_EQ(run.result.epochs_done, 0);
  EXPECT_TRUE(run.reports.empty());
}

TEST(SimulatedTrial, AGoodLrLearnsAndStaysInRange) {
  const Recorded run = Simulate(Config({{"name", "Adam"}, {"lr", 3e-3}}, kStep, 12));
  ASSERT_EQ(run.result.outcome, Outcome::kCompleted) << run.result.reason;
  const auto& first = run.reports.front().metrics;
  const auto& last = run.reports.back().metrics;
  EXPECT_LT(last.at("train_loss"), 0.5 * first.at("train_loss"));
  EXPECT_LT(last.at("val_loss"), first.at("val_loss"));
  EXPECT_GT(last.at("val_miou"), first.at("val_miou") + 0.2);
  for (const train::EpochReport& report : run.reports) {
    for (const auto& [key, value] : report.metrics) {
      if (key.rfind("val_iou", 0) == 0 || key == "val_miou" || key == "val_pixel_acc") {
        EXPECT_GE(value, 0) << key;
        EXPECT_LE(value, 1) << key;
      }
    }
  }
}

TEST(SimulatedTrial, BetterConfigsEndBetter) {
  // A bigger model at a good lr beats a small one at a tiny lr, and one at
  // too large (but not diverging) an lr.
  const double good = Simulate(Config(kMomentum, kStep, 8, 16)).reports.back().metrics.at("val_miou");
  const double slow = Simulate(Config({{"name", "SGD"}, {"lr", 1e-3}}, kStep, 8, 4))
                          .reports.back().metrics.at("val_miou");
  const Recorded hot_run = Simulate(Config({{"name", "SGD"}, {"lr", 1.2}}, nullptr, 8, 16));
  ASSERT_EQ(hot_run.result.outcome, Outcome::kCompleted) << hot_run.result.reason;
  const double hot = hot_run.reports.back().metrics.at("val_miou");
  EXPECT_GT(good, slow + 0.2);
  EXPECT_GT(good, hot);
}

TEST(SimulatedTrial, RunsAnLrRangeTest) {
  json config = Config({{"name", "SGD"}, {"lr", 0.1}, {"momentum", 0.9}}, kStep, 40);
  config["lr_range"] = {{"min_lr", 1e-5}, {"max_lr", 10.0}, {"iterations", 40}, {"smoothing", 0.5},
                        {"diverge_factor", 4.0}};
  const Recorded run = Simulate(config);
  EXPECT_EQ(run.result.outcome, Outcome::kEndedEarly) << run.result.reason;
  ASSERT_FALSE(run.reports.empty());
  EXPECT_LT(run.reports.size(), 40u);
  EXPECT_TRUE(run.checkpoints.empty());
  EXPECT_EQ(run.reports.front().metrics.size(), 3u);
  EXPECT_DOUBLE_EQ(run.reports.front().metrics.at("lr"), 1e-5);
  // The loss dips below its start before it climbs.
  double lowest = run.reports.front().metrics.at("smoothed_loss");
  for (const train::EpochReport& report : run.reports) lowest = std::min(lowest, report.metrics.at("smoothed_loss"));
  EXPECT_LT(lowest, 0.8 * run.reports.front().metrics.at("smoothed_loss"));
}

TEST(SimulatedTrial, PbtExploitContinuesFromTheDonorsCheckpointWithAScaledLr) {
  const json donor_config = Config(kMomentum, nullptr);
  const Recorded donor = Simulate(donor_config);
  json config = Config(kMomentum, nullptr);
  config["exploit"] = {{"epoch", 2}, {"lr_scale", 0.5}, {"optimizer", {{"momentum", 0.8}}}};
  train::TrainOptions options;
  options.start_epoch = 2;

  Recorded run = Simulate(config, options);
  EXPECT_EQ(run.result.outcome, Outcome::kFailed);
  EXPECT_NE(run.result.reason.find("exploit: the checkpoint of epoch 2 is missing"), std::string::npos);

  options.resume_from = donor.checkpoints[1];
  run = Simulate(config, options);
  ASSERT_EQ(run.result.outcome, Outcome::kCompleted) << run.result.reason;
  ASSERT_EQ(run.reports.size(), 6u);
  EXPECT_DOUBLE_EQ(run.reports[0].metrics.at("lr"), 0.025);
  // A later attempt resumes from this trial's own checkpoint, unscaled again.
  options.start_epoch = 4;
  options.resume_from = run.checkpoints[1];
  const Recorded later = Simulate(config, options);
  ASSERT_EQ(later.reports.size(), 4u);
  EXPECT_EQ(CurveMetrics(later.reports[0]), CurveMetrics(run.reports[2]));
}

TEST(SimulatedTrial, ABadConfigFailsNamingTheField) {
  json config = Config(kMomentum, kStep);
  config["data"].erase("num_classes");
  const Recorded run = Simulate(config);
  EXPECT_EQ(run.result.outcome, Outcome::kFailed);
  EXPECT_EQ(run.result.reason, "data.num_classes: missing");
}

}  // namespace
}  // namespace segtune::simulate::testing
