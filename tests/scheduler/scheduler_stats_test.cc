// What the scheduler tells monitoring: running trials with their labels and
// last metrics, running sweeps with their best so far, finished trials by
// state, lost leases and scheduling latency.
#include <gtest/gtest.h>

#include "scheduler_fixture.h"

namespace segtune::scheduler {
namespace {

// A FAILED report ends a trial at once unless `max_retries` says otherwise
// (retries are retry_test.cc's).
std::string Spec(int parallelism = 0, const std::string& mode = "max", int max_retries = 0) {
  return "name: stats-test\n"
         "objective: {metric: val_miou, mode: " + mode + "}\n"
         "budget: {epochs: 2, max_retries: " + std::to_string(max_retries) +
         ", parallelism: " + std::to_string(parallelism) + "}\n"
         "data: {dataset: shapes, image_size: 16, train_size: 8, val_size: 4}\n"
         "model: {arch: unet, base_channels: 4, depth: 2}\n"
         "search:\n"
         "  algorithm: grid\n"
         "  space:\n"
         "    optimizer:\n"
         "      - {name: SGD, lr: [0.1, 0.01]}\n"
         "      - {name: Adam, lr: 0.001}\n"
         "    scheduler:\n"
         "      - {name: StepLR, step_size: 1}\n";
}

std::map<std::string, double> Report(double miou) {
  return {{"val_miou", miou}, {"train_loss", 1.5}, {"val_loss", 1.25}, {"lr", 0.1}, {"epoch_seconds", 3}};
}

const RunningTrialStats* Find(const SchedulerStats& stats, const std::string& trial_id) {
  for (const RunningTrialStats& trial : stats.trials) {
    if (trial.trial_id == trial_id) return &trial;
  }
  return nullptr;
}

TEST_F(SchedulerTest, StatsShowRunningTrialsWithTheirLabelsAndLastMetrics) {
  auto submitted = scheduler_->Submit(Spec());
  ASSERT_TRUE(submitted.ok()) << submitted.status();
  const std::string worker = Register(/*slots=*/3);
  const Assignment first = Acquire(worker);
  Acquire(worker);
  const Assignment adam = Acquire(worker);
  ASSERT_TRUE(scheduler_->ReportEpoch(worker, first.trial_id, first.attempt, 1, Report(0.5)).ok());

  const SchedulerStats stats = scheduler_->Stats();
  ASSERT_EQ(stats.trials.size(), 3u);
  const RunningTrialStats* reported = Find(stats, first.trial_id);
  ASSERT_NE(reported, nullptr);
  EXPECT_EQ(reported->sweep_id, submitted->sweep_id);
  EXPECT_EQ(reported->optimizer, "SGD");
  EXPECT_EQ(reported->scheduler, "StepLR");
  EXPECT_EQ(reported->epoch, 1);
  EXPECT_EQ(reported->epochs, 2);
  const std::map<std::string, double> followed = {
      {"val_miou", 0.5}, {"train_loss", 1.5}, {"val_loss", 1.25}, {"lr", 0.1}};
  EXPECT_EQ(reported->metrics, followed) << "only the metrics monitoring follows";
  const RunningTrialStats* waiting = Find(stats, adam.trial_id);
  ASSERT_NE(waiting, nullptr);
  EXPECT_EQ(waiting->optimizer, "Adam");
  EXPECT_EQ(waiting->epoch, 0);
  EXPECT_TRUE(waiting->metrics.empty());

  ASSERT_EQ(stats.sweeps.size(), 1u);
  EXPECT_EQ(stats.sweeps[0].sweep_id, submitted->sweep_id);
  EXPECT_EQ(stats.sweeps[0].objective_metric, "val_miou");
  EXPECT_EQ(stats.sweeps[0].trials_planned, 3);
  EXPECT_EQ(stats.sweeps[0].epochs_reported, 1u);
  EXPECT_TRUE(stats.sweeps[0].has_best);
  EXPECT_DOUBLE_EQ(stats.sweeps[0].best_value, 0.5);
}

TEST_F(SchedulerTest, FinishedTrialsAreCountedByStateAndLeaveTheRunningList) {
  ASSERT_TRUE(scheduler_->Submit(Spec()).ok());
  const std::string worker = Register(/*slots=*/2);
  const Assignment done = Acquire(worker);
  const Assignment failed = Acquire(worker);
  ASSERT_TRUE(scheduler_->ReportEpoch(worker, done.trial_id, done.attempt, 1, Report(0.3)).ok());
  ASSERT_TRUE(scheduler_->ReportEpoch(worker, done.trial_id, done.attempt, 2, Report(0.4)).ok());
  ASSERT_TRUE(scheduler_->FinishTrial(worker, done.trial_id, done.attempt, TrialState::kCompleted, "").ok());
  ASSERT_TRUE(scheduler_->FinishTrial(worker, failed.trial_id, failed.attempt, TrialState::kFailed, "boom").ok());

  const SchedulerStats stats = scheduler_->Stats();
  EXPECT_TRUE(stats.trials.empty());
  EXPECT_EQ(stats.trials_finished.at(TrialState::kCompleted), 1u);
  EXPECT_EQ(stats.trials_finished.at(TrialState::kFailed), 1u);
  EXPECT_EQ(stats.trials_finished.count(TrialState::kDiverged), 0u);
  ASSERT_EQ(stats.sweeps.size(), 1u);
  EXPECT_DOUBLE_EQ(stats.sweeps[0].best_value, 0.4);
}

TEST_F(SchedulerTest, ABestSoFarOfAMinimizedObjectiveIsItsSmallestValue) {
  ASSERT_TRUE(scheduler_->Submit(Spec(0, "min")).ok());
  const std::string worker = Register(/*slots=*/2);
  const Assignment a = Acquire(worker);
  const Assignment b = Acquire(worker);
  ASSERT_TRUE(scheduler_->ReportEpoch(worker, a.trial_id, a.attempt, 1, Report(0.3)).ok());
  ASSERT_TRUE(scheduler_->ReportEpoch(worker, b.trial_id, b.attempt, 1, Report(0.2)).ok());
  ASSERT_TRUE(scheduler_->ReportEpoch(worker, a.trial_id, a.attempt, 2, Report(0.25)).ok());
  EXPECT_DOUBLE_EQ(scheduler_->Stats().sweeps[0].best_value, 0.2);
}

TEST_F(SchedulerTest, BestSoFarAndRunningTrialsSurviveARestart) {
  auto submitted = scheduler_->Submit(Spec());
  const std::string worker = Register(/*slots=*/1);
  const Assignment a = Acquire(worker);
  ASSERT_TRUE(scheduler_->ReportEpoch(worker, a.trial_id, a.attempt, 1, Report(0.7)).ok());
  OpenAll();
  const SchedulerStats stats = scheduler_->Stats();
  ASSERT_EQ(stats.sweeps.size(), 1u);
  EXPECT_DOUBLE_EQ(stats.sweeps[0].best_value, 0.7);
  EXPECT_EQ(stats.sweeps[0].epochs_reported, 0u) << "counts since the process started";
  ASSERT_EQ(stats.trials.size(), 1u);
  EXPECT_EQ(stats.trials[0].trial_id, a.trial_id);
  EXPECT_EQ(stats.trials[0].optimizer, "SGD");
  EXPECT_EQ(stats.trials[0].epoch, 1) << "the last durable epoch, read back from the store";
  EXPECT_DOUBLE_EQ(stats.trials[0].metrics.at("val_miou"), 0.7);
}

TEST_F(SchedulerTest, ARequeuedTrialShowsItsLastDurableEpochOnItsNextLease) {
  ASSERT_TRUE(scheduler_->Submit(Spec(0, "max", /*max_retries=*/1)).ok());
  const std::string lost = Register();
  const Assignment a = Acquire(lost);
  ASSERT_TRUE(scheduler_->ReportEpoch(lost, a.trial_id, a.attempt, 1, Report(0.6)).ok());
  now_ms_ += 31000;
  ASSERT_TRUE(scheduler_->Tick().ok());
  const std::string other = Register();
  const Assignment retry = Acquire(other);
  ASSERT_EQ(retry.trial_id, a.trial_id);
  const RunningTrialStats* stats = Find(scheduler_->Stats(), a.trial_id);
  ASSERT_NE(stats, nullptr);
  EXPECT_EQ(stats->epoch, 1);
  EXPECT_DOUBLE_EQ(stats->metrics.at("lr"), 0.1);
}

TEST_F(SchedulerTest, ATrialPausedInAnAshaRungCountsAsStopped) {
  const std::string spec =
      "name: asha-stats\n"
      "objective: {metric: val_miou, mode: max}\n"
      "budget: {epochs: 2, max_trials: 2}\n"
      "data: {dataset: shapes, image_size: 16, train_size: 8, val_size: 4}\n"
      "model: {arch: unet, base_channels: 4, depth: 2}\n"
      "search:\n"
      "  algorithm: asha\n"
      "  eta: 2\n"
      "  min_epochs: 1\n"
      "  space:\n"
      "    optimizer:\n"
      "      - {name: SGD, lr: [0.1, 0.01]}\n";
  auto submitted = scheduler_->Submit(spec);
  ASSERT_TRUE(submitted.ok()) << submitted.status();
  const std::string worker = Register();
  const Assignment a = Acquire(worker);
  auto decision = scheduler_->ReportEpoch(worker, a.trial_id, a.attempt, 1, Report(0.5));
  ASSERT_TRUE(decision.ok()) << decision.status();
  ASSERT_TRUE(decision->stop) << "alone in its rung: paused";
  EXPECT_EQ(StateOf(a.trial_id), TrialState::kStopped);
  const SchedulerStats stats = scheduler_->Stats();
  EXPECT_EQ(stats.trials_finished.at(TrialState::kStopped), 1u);
  EXPECT_TRUE(stats.trials.empty());
}

TEST_F(SchedulerTest, ExpiredLeasesAreCounted) {
  ASSERT_TRUE(scheduler_->Submit(Spec()).ok());
  const std::string worker = Register();
  Acquire(worker);
  now_ms_ += 31000;
  ASSERT_TRUE(scheduler_->Tick().ok());
  EXPECT_EQ(scheduler_->Stats().leases_expired, 1u);
  EXPECT_TRUE(scheduler_->Stats().trials.empty());
}

TEST_F(SchedulerTest, SchedulingLatencyRunsFromSlotAndTrialBothReadyToTheLease) {
  const std::string worker = Register(/*slots=*/1);  // its slot is free from now
  now_ms_ += 5000;
  ASSERT_TRUE(scheduler_->Submit(Spec()).ok());  // the trials are runnable from now
  now_ms_ += 300;
  const Assignment first = Acquire(worker);
  ASSERT_EQ(scheduled_seconds_.size(), 1u);
  EXPECT_DOUBLE_EQ(scheduled_seconds_[0], 0.3);

  now_ms_ += 60000;  // training: the slot is busy
  ASSERT_TRUE(scheduler_->FinishTrial(worker, first.trial_id, first.attempt, TrialState::kFailed, "x").ok());
  now_ms_ += 200;
  Acquire(worker);
  ASSERT_EQ(scheduled_seconds_.size(), 2u);
  EXPECT_DOUBLE_EQ(scheduled_seconds_[1], 0.2);
}

TEST_F(SchedulerTest, SchedulingLatencyOfACappedSweepStartsWhenTheCapLetsATrialRun) {
  ASSERT_TRUE(scheduler_->Submit(Spec(/*parallelism=*/1)).ok());
  const std::string worker = Register(/*slots=*/2);
  const Assignment first = Acquire(worker);
  now_ms_ += 60000;  // the second slot idles under the cap: not scheduling latency
  ASSERT_TRUE(scheduler_->FinishTrial(worker, first.trial_id, first.attempt, TrialState::kFailed, "x").ok());
  now_ms_ += 100;
  Acquire(worker);
  ASSERT_EQ(scheduled_seconds_.size(), 2u);
  EXPECT_DOUBLE_EQ(scheduled_seconds_[1], 0.1);
}

}  // namespace
}  // namespace segtune::scheduler
