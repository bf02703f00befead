#include "segtune/client/progress.h"

#include <sstream>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "fixtures.h"

namespace segtune::client {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

// Two trials of the fixture sweep: s1-0000 pending, s1-0001 pending.
v1::SweepUpdate InitialUpdate() {
  v1::SweepUpdate update;
  *update.mutable_sweep() = testing::MakeSweep();
  update.mutable_sweep()->set_has_best(false);
  *update.add_trials() = testing::MakeTrial("s1-0000", v1::PENDING, testing::kSgdParams);
  *update.add_trials() = testing::MakeTrial("s1-0001", v1::PENDING, testing::kAdamParams);
  return update;
}

TEST(DescribeChangesTest, ReportsStartsEpochsAndEnds) {
  v1::SweepUpdate before = InitialUpdate();
  v1::SweepUpdate now = before;
  v1::Trial* first = now.mutable_trials(0);
  first->set_state(v1::RUNNING);
  first->set_attempt(1);
  first->set_epochs_done(2);
  (*first->mutable_last_metrics())["val_miou"] = 0.41234;
  v1::Trial* second = now.mutable_trials(1);
  second->set_state(v1::FAILED);
  second->set_reason("loader crashed");

  EXPECT_THAT(DescribeChanges(Snapshot(before), now, /*with_epochs=*/true),
              ElementsAre("trial s1-0000 started: SGD(lr=0.05, momentum=0.9) + "
                          "StepLR(step_size=3, gamma=0.5), training.batch_size=16",
                          "trial s1-0000 epoch 2/8: val_miou 0.4123",
                          "trial s1-0001 FAILED after 0 epochs (loader crashed) [1/2 done]"));
  EXPECT_THAT(DescribeChanges(Snapshot(before), now, /*with_epochs=*/false),
              ElementsAre(HasSubstr("started"), HasSubstr("FAILED")));
}

TEST(DescribeChangesTest, NothingChangedNothingPrinted) {
  v1::SweepUpdate update = InitialUpdate();
  EXPECT_TRUE(DescribeChanges(Snapshot(update), update, true).empty());
}

TEST(DescribeChangesTest, CompletedTrialShowsItsBest) {
  v1::SweepUpdate before = InitialUpdate();
  before.mutable_trials(0)->set_state(v1::RUNNING);
  before.mutable_trials(0)->set_attempt(1);
  before.mutable_trials(0)->set_epochs_done(7);
  v1::SweepUpdate now = before;
  *now.mutable_trials(0) = testing::CompletedSgdTrial();
  EXPECT_THAT(DescribeChanges(Snapshot(before), now, true),
              ElementsAre("trial s1-0000 epoch 8/8: val_miou 0.6000",
                          "trial s1-0000 COMPLETED: best val_miou 0.6120 at epoch 7 [1/2 done]"));
}

TEST(DescribeChangesTest, ANewAttemptIsARestart) {
  v1::SweepUpdate before = InitialUpdate();
  before.mutable_trials(0)->set_state(v1::RUNNING);
  before.mutable_trials(0)->set_attempt(1);
  v1::SweepUpdate now = before;
  now.mutable_trials(0)->set_attempt(2);
  EXPECT_THAT(DescribeChanges(Snapshot(before), now, false),
              ElementsAre(HasSubstr("started: SGD(lr=0.05, momentum=0.9)")));
  EXPECT_THAT(DescribeChanges(Snapshot(before), now, false)[0], HasSubstr("(attempt 2)"));
}

TEST(DescribeChangesTest, ACancelledSweepSaysSoOnce) {
  v1::SweepUpdate before = InitialUpdate();
  before.mutable_trials(0)->set_state(v1::RUNNING);
  before.mutable_trials(0)->set_attempt(1);
  v1::SweepUpdate now = before;
  now.mutable_sweep()->set_state(v1::SWEEP_CANCELLED);
  now.mutable_trials(0)->set_state(v1::CANCELLED);
  now.mutable_trials(1)->set_state(v1::CANCELLED);
  EXPECT_THAT(DescribeChanges(Snapshot(before), now, true),
              ElementsAre("sweep s1 cancelled: 2 trials cancelled"));
}

TEST(ProgressLineTest, ShowsBarCountsAndBest) {
  v1::SweepUpdate update;
  *update.mutable_sweep() = testing::MakeSweep();
  *update.add_trials() = testing::CompletedSgdTrial();
  *update.add_trials() = testing::RunningAdamTrial();
  EXPECT_EQ(ProgressLine(update, 8),
            "[####----] 1/2 trials done, 1 running | best val_miou 0.6120 (trial s1-0000)");
  EXPECT_EQ(ProgressLine(InitialUpdate(), 4), "[----] 0/2 trials done, 0 running | no val_miou reported yet");
}

TEST(ProgressPrinterTest, PlainOutputPrintsOnlyChanges) {
  std::ostringstream out;
  ProgressPrinter printer(out);
  v1::SweepUpdate update = InitialUpdate();
  printer.Update(update);
  printer.Update(update);  // no change: no line
  update.mutable_trials(0)->set_state(v1::RUNNING);
  update.mutable_trials(0)->set_attempt(1);
  printer.Update(update);
  printer.Note("worker local-1 exited");
  printer.Finish();
  EXPECT_EQ(out.str(),
            "sweep s1 (seed-study): 2 trials, grid search, 8 epochs each, max val_miou\n"
            "trial s1-0000 started: SGD(lr=0.05, momentum=0.9) + StepLR(step_size=3, gamma=0.5), "
            "training.batch_size=16\n"
            "worker local-1 exited\n"
            "[--------------------] 0/2 trials done, 1 running | no val_miou reported yet\n");
}

}  // namespace
}  // namespace segtune::client
