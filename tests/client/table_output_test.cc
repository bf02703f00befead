#include "segtune/client/table_output.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "fixtures.h"

namespace segtune::client {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

TEST(TableOutputTest, TrialsShowStateParamsEpochsAndBest) {
  v1::ListTrialsResponse trials;
  *trials.add_trials() = testing::CompletedSgdTrial();
  *trials.add_trials() = testing::RunningAdamTrial();
  const std::string sgd = "SGD(lr=0.05, momentum=0.9) + StepLR(step_size=3, gamma=0.5), training.batch_size=16";
  const std::string adam = "Adam(lr=0.001, weight_decay=0.0001) + CosineAnnealingLR(T_max=8), training.batch_size=8";
  const std::string pad(adam.size() - sgd.size(), ' ');
  EXPECT_EQ(RenderTrials(testing::MakeSweep(), trials),
            "TRIAL    STATE      PARAMS" + std::string(adam.size() - 6, ' ') + "  EPOCHS  VAL_MIOU  NOTE\n" +
            "s1-0000  COMPLETED  " + sgd + pad + "     8/8    0.6120\n" +
            "s1-0001  RUNNING    " + adam + "     3/8    0.4100  on w-1\n");
  EXPECT_EQ(RenderTrials(testing::MakeSweep(), v1::ListTrialsResponse()), "no trials\n");
}

TEST(TableOutputTest, TrialsShowTheAttemptCountOnlyWhenATrialHadSeveral) {
  v1::ListTrialsResponse trials;
  *trials.add_trials() = testing::CompletedSgdTrial();
  EXPECT_THAT(RenderTrials(testing::MakeSweep(), trials), Not(HasSubstr("ATTEMPTS")));
  v1::Trial retried = testing::RunningAdamTrial();
  retried.set_attempt(3);
  *trials.add_trials() = retried;
  const std::string text = RenderTrials(testing::MakeSweep(), trials);
  EXPECT_THAT(text, HasSubstr("  VAL_MIOU  ATTEMPTS  NOTE\n"));
  EXPECT_THAT(text, HasSubstr("    0.4100         3  on w-1\n"));
}

TEST(TableOutputTest, LeaderboardRanksBestFirst) {
  v1::GetBestResponse best;
  *best.mutable_sweep() = testing::MakeSweep();
  *best.add_best() = testing::MakeBest(testing::CompletedSgdTrial());
  *best.add_best() = testing::MakeBest(testing::RunningAdamTrial());
  std::string text = RenderLeaderboard(best);
  EXPECT_THAT(text, HasSubstr("RANK  TRIAL"));
  EXPECT_THAT(text, HasSubstr("   1  s1-0000  SGD(lr=0.05, momentum=0.9)"));
  EXPECT_THAT(text, HasSubstr("   2  s1-0001  Adam(lr=0.001"));
  EXPECT_LT(text.find("s1-0000"), text.find("s1-0001"));

  best.clear_best();
  EXPECT_EQ(RenderLeaderboard(best), "no trial has reported val_miou yet\n");
}

TEST(TableOutputTest, MetricsColumnsFollowTheTrainerOrder) {
  v1::GetTrialMetricsResponse metrics;
  *metrics.mutable_trial() = testing::CompletedSgdTrial();
  v1::EpochMetrics* epoch = metrics.add_epochs();
  epoch->set_epoch(1);
  epoch->set_attempt(1);
  (*epoch->mutable_metrics())["val_miou"] = 0.5;
  (*epoch->mutable_metrics())["train_loss"] = 1.25;
  (*epoch->mutable_metrics())["custom"] = 2;
  std::string text = RenderMetrics(metrics);
  EXPECT_THAT(text, HasSubstr("EPOCH  TRAIN_LOSS  VAL_MIOU  CUSTOM\n"
                              "    1      1.2500    0.5000  2.0000\n"));
  EXPECT_THAT(text, Not(HasSubstr("ATTEMPT")));

  v1::EpochMetrics* resumed = metrics.add_epochs();
  resumed->set_epoch(2);
  resumed->set_attempt(2);
  EXPECT_THAT(RenderMetrics(metrics), HasSubstr("EPOCH  ATTEMPT"));
}

TEST(TableOutputTest, PerClassIoUIsAChartOfTheLastEpoch) {
  v1::GetTrialMetricsResponse metrics;
  *metrics.mutable_trial() = testing::CompletedSgdTrial();
  for (int number : {1, 2}) {
    v1::EpochMetrics* epoch = metrics.add_epochs();
    epoch->set_epoch(number);
    epoch->set_attempt(1);
    (*epoch->mutable_metrics())["val_miou"] = 0.5;
    (*epoch->mutable_metrics())["val_iou_0"] = number == 2 ? 1.0 : 0.1;
    (*epoch->mutable_metrics())["val_iou_10"] = 0.5;
  }
  const std::string text = RenderMetrics(metrics);
  EXPECT_THAT(text, Not(HasSubstr("VAL_IOU_0")));
  EXPECT_THAT(text, HasSubstr("per-class IoU at epoch 2"));
  const std::string full_bar = [] {
    std::string bar;
    for (int i = 0; i < 30; ++i) bar += "\u2588";
    return bar;
  }();
  EXPECT_THAT(text, HasSubstr("    0  1.0000  " + full_bar + "\n"));
  EXPECT_THAT(text, HasSubstr("   10  0.5000  " + full_bar.substr(0, 15 * 3) + "\n"));
}

TEST(TableOutputTest, BestDetailShowsEveryArgument) {
  std::string text = RenderBestDetail(testing::MakeSweep(), testing::MakeBest(testing::CompletedSgdTrial()));
  EXPECT_EQ(text,
            "best trial s1-0000: val_miou 0.6120 (max) at epoch 7\n"
            "  optimizer            SGD(lr=0.05, momentum=0.9, dampening=0.0, weight_decay=0.0, nesterov=false)\n"
            "  scheduler            StepLR(step_size=3, gamma=0.5)\n"
            "  training.batch_size  16\n");
}

TEST(TableOutputTest, SweepStatusListsTrialsByState) {
  std::string text = RenderSweepStatus(testing::MakeSweep());
  EXPECT_THAT(text, HasSubstr("objective    val_miou (max)\n"));
  EXPECT_THAT(text, HasSubstr("trials       1/2 done (1 RUNNING, 1 COMPLETED)\n"));
  EXPECT_THAT(text, HasSubstr("best         0.6120 (trial s1-0000)\n"));
  EXPECT_THAT(text, HasSubstr("finished     -\n"));
}

TEST(TableOutputTest, WorkersShowEachDeviceWithBusySlotsAndUtilization) {
  v1::ListWorkersResponse workers;
  v1::Worker* gpus = workers.add_workers();
  gpus->set_worker_id("w-1");
  gpus->set_device("cuda:0,cuda:1");
  gpus->set_slots(2);
  gpus->set_busy_slots(1);
  v1::DeviceUsage* first = gpus->add_devices();
  first->set_device("cuda:0");
  first->set_slots(1);
  first->set_busy_slots(1);
  first->set_utilization(0.874);
  v1::DeviceUsage* second = gpus->add_devices();
  second->set_device("cuda:1");
  second->set_slots(1);
  EXPECT_EQ(RenderDevices(*gpus), "cuda:0 1/1 87%, cuda:1 0/1 0%");
  // A coordinator from before multi-device support sends no devices.
  v1::Worker* old = workers.add_workers();
  old->set_worker_id("w-2");
  old->set_device("cpu");
  old->set_slots(2);
  EXPECT_EQ(RenderDevices(*old), "cpu");
  const std::string text = RenderWorkers(workers);
  EXPECT_THAT(text, HasSubstr("DEVICES"));
  EXPECT_THAT(text, HasSubstr("cuda:0 1/1 87%, cuda:1 0/1 0%"));
}

TEST(TableOutputTest, EmptyListingsSaySo) {
  EXPECT_EQ(RenderSweeps(v1::ListSweepsResponse()), "no sweeps\n");
  EXPECT_EQ(RenderWorkers(v1::ListWorkersResponse()), "no workers\n");
}

}  // namespace
}  // namespace segtune::client
