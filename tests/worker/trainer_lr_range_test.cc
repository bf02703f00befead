// RunTrial in LR range test mode (a config with "lr_range"; trainer.h).
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <set>
#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "absl/status/status.h"
#include "segtune/train/trainer.h"
#include "tiny_config.h"

namespace segtune::train {
namespace {

using nlohmann::json;
using ::testing::AllOf;
using ::testing::HasSubstr;

// 16 training images in batches of 8: a loader epoch is 2 steps, so a test
// of more than 2 iterations cycles through several.
json RangeConfig(double min_lr, double max_lr, int iterations, double smoothing,
                 double diverge_factor) {
  json config = TinyConfig({{"name", "SGD"}, {"lr", 0.05}, {"momentum", 0.9}}, iterations);
  config["lr_range"] = {{"min_lr", min_lr},
                        {"max_lr", max_lr},
                        {"iterations", iterations},
                        {"smoothing", smoothing},
                        {"diverge_factor", diverge_factor}};
  config["objective"] = {{"metric", "smoothed_loss"}, {"mode", "min"}};
  return config;
}

struct RangeRun {
  TrialResult result;
  std::vector<EpochReport> reports;
  int checkpoints = 0;
};

RangeRun RunRange(const json& config, TrainOptions options = {}) {
  RangeRun run;
  options.on_epoch = [&run](const EpochReport& report) {
    run.reports.push_back(report);
    return true;
  };
  options.on_checkpoint = [&run](const Checkpoint&) {
    ++run.checkpoints;
    return absl::OkStatus();
  };
  run.result = RunTrial(config, options);
  return run;
}

TEST(LrRangeTrialTest, RampsTheLrExponentiallyAndReportsEveryStep) {
  json config = RangeConfig(1e-4, 1e-2, 12, 0.9, 1000);
  // The spec's scheduler does not apply: the test sets the lr itself.
  config["params"]["scheduler"] = {{"name", "StepLR"}, {"step_size", 1}, {"gamma", 0.1}};
  const RangeRun run = RunRange(config);
  ASSERT_EQ(run.result.outcome, Outcome::kCompleted) << run.result.reason;
  EXPECT_EQ(run.result.epochs_done, 12);
  EXPECT_EQ(run.checkpoints, 0);
  ASSERT_EQ(run.reports.size(), 12U);
  double average = 0;
  for (int i = 0; i < 12; ++i) {
    SCOPED_TRACE(::testing::Message() << "step " << i);
    const EpochReport& report = run.reports[i];
    EXPECT_EQ(report.epoch, i + 1);
    std::set<std::string> names;
    for (const auto& [name, value] : report.metrics) names.insert(name);
    EXPECT_EQ(names, (std::set<std::string>{"lr", "smoothed_loss", "train_loss"}));
    EXPECT_DOUBLE_EQ(report.metrics.at("lr"), 1e-4 * std::pow(100.0, i / 11.0));
    const double loss = report.metrics.at("train_loss");
    EXPECT_TRUE(std::isfinite(loss));
    average = 0.9 * average + 0.1 * loss;
    EXPECT_NEAR(report.metrics.at("smoothed_loss"), average / (1 - std::pow(0.9, i + 1)), 1e-12);
  }
  EXPECT_EQ(run.reports.front().metrics.at("lr"), 1e-4);
  EXPECT_DOUBLE_EQ(run.reports.front().metrics.at("smoothed_loss"),
                   run.reports.front().metrics.at("train_loss"));
  EXPECT_NEAR(run.reports.back().metrics.at("lr"), 1e-2, 1e-15);
  // Batches differ from step to step (the loader cycles through its epochs).
  EXPECT_NE(run.reports[0].metrics.at("train_loss"), run.reports[1].metrics.at("train_loss"));
}

TEST(LrRangeTrialTest, StopsOnceTheSmoothedLossDiverges) {
  // Without smoothing the smoothed loss is the loss; up to lr 1e4 it explodes.
  const RangeRun run = RunRange(RangeConfig(1e-3, 1e4, 40, 0.0, 2.0));
  ASSERT_EQ(run.result.outcome, Outcome::kEndedEarly) << run.result.reason;
  EXPECT_THAT(run.result.reason, AllOf(HasSubstr("loss diverged at lr "), HasSubstr("> 2 x min")));
  ASSERT_GE(run.reports.size(), 2U);
  ASSERT_LT(run.reports.size(), 40U);
  EXPECT_EQ(run.result.epochs_done, static_cast<int>(run.reports.size()));
  // The diverging step is reported; it is the first above 2 x the minimum.
  double min_smoothed = run.reports.front().metrics.at("smoothed_loss");
  for (size_t i = 1; i + 1 < run.reports.size(); ++i) {
    min_smoothed = std::min(min_smoothed, run.reports[i].metrics.at("smoothed_loss"));
    EXPECT_LE(run.reports[i].metrics.at("smoothed_loss"), 2 * min_smoothed);
  }
  const EpochReport& last = run.reports.back();
  EXPECT_GT(last.metrics.at("smoothed_loss"), 2 * min_smoothed);
  char lr[32];
  std::snprintf(lr, sizeof lr, "%.1e", last.metrics.at("lr"));
  EXPECT_THAT(run.result.reason, HasSubstr(lr));
}

TEST(LrRangeTrialTest, NonFiniteLossEndsTheTestWithoutReportingTheStep) {
  // Step 1's update at lr 1e30 pushes the weights past float32 range: the
  // loss of step 2 is NaN.
  const RangeRun run = RunRange(RangeConfig(1e30, 1e31, 3, 0.98, 4.0));
  ASSERT_EQ(run.result.outcome, Outcome::kEndedEarly) << run.result.reason;
  EXPECT_THAT(run.result.reason, AllOf(HasSubstr("loss is nan at lr "), HasSubstr("step 2")));
  EXPECT_EQ(run.result.epochs_done, 1);
  EXPECT_EQ(run.reports.size(), 1U);
}

TEST(LrRangeTrialTest, ResumingReplaysTheStepsAlreadyReported) {
  const RangeRun full = RunRange(RangeConfig(1e-4, 1e-1, 8, 0.9, 1000));
  TrainOptions options;
  options.start_epoch = 5;
  const RangeRun resumed = RunRange(RangeConfig(1e-4, 1e-1, 8, 0.9, 1000), options);
  ASSERT_EQ(resumed.result.outcome, Outcome::kCompleted) << resumed.result.reason;
  ASSERT_EQ(full.reports.size(), 8U);
  ASSERT_EQ(resumed.reports.size(), 3U);
  for (size_t i = 0; i < 3; ++i) {
    EXPECT_EQ(resumed.reports[i].epoch, 6 + static_cast<int>(i));
    EXPECT_EQ(resumed.reports[i].metrics, full.reports[5 + i].metrics);
  }
}

TEST(LrRangeTrialTest, OnEpochReturningFalseStops) {
  TrainOptions options;
  options.on_epoch = [](const EpochReport& report) { return report.epoch < 3; };
  const TrialResult result = RunTrial(RangeConfig(1e-4, 1e-1, 8, 0.9, 1000), options);
  EXPECT_EQ(result.outcome, Outcome::kStopped);
  EXPECT_EQ(result.epochs_done, 3);
}

TEST(LrRangeTrialTest, BadSettingsFailNamingTheField) {
  json config = RangeConfig(1e-4, 1e-1, 8, 0.9, 1000);
  config["lr_range"]["max_lr"] = 1e-5;
  const TrialResult result = RunTrial(config, {});
  EXPECT_EQ(result.outcome, Outcome::kFailed);
  EXPECT_THAT(result.reason, HasSubstr("lr_range.max_lr: must be > lr_range.min_lr"));
}

}  // namespace
}  // namespace segtune::train
