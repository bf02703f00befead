// Retries of failed attempts (budget.max_retries) and the attempt history
// kept in the store.
#include <gtest/gtest.h>

#include <string>

#include "scheduler_fixture.h"

namespace segtune::scheduler {
namespace {

// One trial (epochs 2) with `max_retries` retries.
std::string Spec(int max_retries) {
  return "name: retry-test\n"
         "objective: {metric: val_miou, mode: max}\n"
         "budget: {epochs: 2, max_retries: " + std::to_string(max_retries) + "}\n"
         "data: {dataset: shapes, image_size: 16, train_size: 8, val_size: 4}\n"
         "model: {arch: unet, base_channels: 4, depth: 2}\n"
         "search:\n"
         "  algorithm: grid\n"
         "  space:\n"
         "    optimizer:\n"
         "      - {name: SGD, lr: 0.1}\n";
}

class RetryTest : public SchedulerTest {
 protected:
  std::string Submit(int max_retries) {
    auto submitted = scheduler_->Submit(Spec(max_retries));
    EXPECT_TRUE(submitted.ok()) << submitted.status();
    return submitted.ok() ? submitted->sweep_id : "";
  }
  std::vector<store::AttemptRecord> Attempts(const std::string& trial_id) {
    auto attempts = store_->ListAttempts(trial_id);
    EXPECT_TRUE(attempts.ok()) << attempts.status();
    return attempts.ok() ? *attempts : std::vector<store::AttemptRecord>{};
  }
};

TEST_F(RetryTest, FailedReportIsRetriedThenFinalAfterMaxRetries) {
  const std::string sweep_id = Submit(/*max_retries=*/2);
  const std::string worker = Register();
  std::string trial_id;
  for (int attempt = 1; attempt <= 3; ++attempt) {
    Assignment a = Acquire(worker);
    trial_id = a.trial_id;
    ASSERT_EQ(a.attempt, attempt);
    ASSERT_TRUE(scheduler_->FinishTrial(worker, a.trial_id, a.attempt, TrialState::kFailed,
                                        "CUDA out of memory #" + std::to_string(attempt))
                    .ok());
    if (attempt < 3) {
      EXPECT_EQ(StateOf(trial_id), TrialState::kPending) << "retried after failure " << attempt;
      EXPECT_EQ(store_->GetSweep(sweep_id)->state, store::SweepState::kRunning);
      // A retried FAILED report (its reply was lost) changes nothing.
      ASSERT_TRUE(scheduler_->FinishTrial(worker, a.trial_id, a.attempt, TrialState::kFailed, "again").ok());
      EXPECT_EQ(StateOf(trial_id), TrialState::kPending);
    }
  }
  const store::TrialRecord trial = *store_->GetTrial(trial_id);
  EXPECT_EQ(trial.state, TrialState::kFailed);
  EXPECT_EQ(trial.reason, "failed 3 times; last: CUDA out of memory #3");
  EXPECT_EQ(store_->GetSweep(sweep_id)->state, store::SweepState::kCompleted);
  EXPECT_EQ(scheduler_->Stats().trials_finished.at(TrialState::kFailed), 1u);
  EXPECT_EQ(scheduler_->TryAcquire(worker)->has_value(), false);
}

TEST_F(RetryTest, AnotherWorkerGetsTheRetryFirst) {
  Submit(/*max_retries=*/2);
  const std::string failing = Register();
  const std::string other = Register();
  const Assignment first = Acquire(failing);
  ASSERT_TRUE(scheduler_->FinishTrial(failing, first.trial_id, first.attempt, TrialState::kFailed, "CUDA OOM").ok());
  auto again = scheduler_->TryAcquire(failing);
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_FALSE(again->has_value()) << "the worker it failed on waits while another one has room";
  const Assignment retry = Acquire(other);
  EXPECT_EQ(retry.trial_id, first.trial_id);
  EXPECT_EQ(retry.attempt, 2);
  // Failed again, on the other worker: now the first one has room and goes first.
  ASSERT_TRUE(scheduler_->FinishTrial(other, retry.trial_id, retry.attempt, TrialState::kFailed, "again").ok());
  EXPECT_FALSE(scheduler_->TryAcquire(other)->has_value());
  EXPECT_EQ(Acquire(failing).attempt, 3);
  // A lone worker is never kept waiting: FailedReportIsRetriedThenFinalAfterMaxRetries.
}

TEST_F(RetryTest, ZeroRetriesFailsAtTheFirstFailure) {
  Submit(/*max_retries=*/0);
  const std::string worker = Register();
  Assignment a = Acquire(worker);
  ASSERT_TRUE(scheduler_->FinishTrial(worker, a.trial_id, a.attempt, TrialState::kFailed, "bad file").ok());
  EXPECT_EQ(StateOf(a.trial_id), TrialState::kFailed);
  EXPECT_EQ(store_->GetTrial(a.trial_id)->reason, "failed 1 time; last: bad file");
}

TEST_F(RetryTest, LostLeasesAndFailedReportsCountTogether) {
  Submit(/*max_retries=*/1);
  const std::string worker = Register();
  Assignment a = Acquire(worker);
  now_ms_ += 30001;  // the worker went silent
  ASSERT_TRUE(scheduler_->Tick().ok());
  EXPECT_EQ(StateOf(a.trial_id), TrialState::kPending);
  const std::string other = Register();
  Assignment b = Acquire(other);
  ASSERT_EQ(b.attempt, 2);
  ASSERT_TRUE(scheduler_->FinishTrial(other, b.trial_id, b.attempt, TrialState::kFailed, "disk error").ok());
  EXPECT_EQ(StateOf(a.trial_id), TrialState::kFailed);
  EXPECT_EQ(store_->GetTrial(a.trial_id)->reason, "failed 2 times; last: disk error");
}

TEST_F(RetryTest, DivergedIsFinalAtOnce) {
  Submit(/*max_retries=*/2);
  const std::string worker = Register();
  Assignment a = Acquire(worker);
  ASSERT_TRUE(scheduler_->FinishTrial(worker, a.trial_id, a.attempt, TrialState::kDiverged, "loss is NaN").ok());
  EXPECT_EQ(StateOf(a.trial_id), TrialState::kDiverged);
  EXPECT_EQ(store_->GetTrial(a.trial_id)->reason, "loss is NaN");
}

TEST_F(RetryTest, ReleasesAreNotCountedAsFailures) {
  Submit(/*max_retries=*/1);
  const std::string worker = Register();
  Assignment a = Acquire(worker);
  // Draining workers release it, and one deregisters holding it.
  for (int release = 0; release < 3; ++release) {
    ASSERT_TRUE(scheduler_->FinishTrial(worker, a.trial_id, a.attempt, TrialState::kPending, "draining").ok());
    a = Acquire(worker);
  }
  ASSERT_TRUE(scheduler_->DeregisterWorker(worker).ok());
  const std::string other = Register();
  a = Acquire(other);
  ASSERT_EQ(a.attempt, 5);
  // The one retry is still there.
  ASSERT_TRUE(scheduler_->FinishTrial(other, a.trial_id, a.attempt, TrialState::kFailed, "oom").ok());
  EXPECT_EQ(StateOf(a.trial_id), TrialState::kPending);
  a = Acquire(other);
  ASSERT_TRUE(scheduler_->FinishTrial(other, a.trial_id, a.attempt, TrialState::kFailed, "oom").ok());
  EXPECT_EQ(StateOf(a.trial_id), TrialState::kFailed);
  EXPECT_EQ(store_->GetTrial(a.trial_id)->reason, "failed 2 times; last: oom");
}

TEST_F(RetryTest, EveryAttemptIsRecordedWithItsWorkerAndReason) {
  Submit(/*max_retries=*/2);
  const std::string first = Register();
  now_ms_ = 2'000'000;
  Assignment a = Acquire(first);
  ASSERT_TRUE(scheduler_->ReportEpoch(first, a.trial_id, a.attempt, 1, Metrics(0.5)).ok());
  now_ms_ = 2'000'100;
  ASSERT_TRUE(scheduler_->FinishTrial(first, a.trial_id, a.attempt, TrialState::kPending, "draining").ok());
  now_ms_ = 2'000'200;
  a = Acquire(first);
  now_ms_ = 2'000'300;
  ASSERT_TRUE(scheduler_->FinishTrial(first, a.trial_id, a.attempt, TrialState::kFailed, "oom").ok());
  const std::string second = Register();
  a = Acquire(second);
  ASSERT_TRUE(scheduler_->ReportEpoch(second, a.trial_id, a.attempt, 2, Metrics(0.6)).ok());
  now_ms_ = 2'000'400;
  ASSERT_TRUE(scheduler_->FinishTrial(second, a.trial_id, a.attempt, TrialState::kCompleted, "").ok());

  const std::vector<store::AttemptRecord> attempts = Attempts(a.trial_id);
  ASSERT_EQ(attempts.size(), 3u);
  EXPECT_EQ(attempts[0].worker_id, first);
  EXPECT_EQ(attempts[0].state, TrialState::kPending);
  EXPECT_EQ(attempts[0].reason, "draining");
  EXPECT_EQ(attempts[0].started_unix_ms, 2'000'000);
  EXPECT_EQ(attempts[0].ended_unix_ms, 2'000'100);
  EXPECT_EQ(attempts[1].state, TrialState::kFailed);
  EXPECT_EQ(attempts[1].reason, "oom");
  EXPECT_EQ(attempts[1].started_unix_ms, 2'000'200);
  EXPECT_EQ(attempts[1].ended_unix_ms, 2'000'300);
  EXPECT_EQ(attempts[2].worker_id, second);
  EXPECT_EQ(attempts[2].state, TrialState::kCompleted);
  EXPECT_EQ(attempts[2].ended_unix_ms, 2'000'400);
}

TEST_F(RetryTest, LostLeaseIsRecordedAsAFailedAttempt) {
  Submit(/*max_retries=*/2);
  const std::string worker = Register();
  Assignment a = Acquire(worker);
  now_ms_ += 30001;
  ASSERT_TRUE(scheduler_->Tick().ok());
  const std::vector<store::AttemptRecord> attempts = Attempts(a.trial_id);
  ASSERT_EQ(attempts.size(), 1u);
  EXPECT_EQ(attempts[0].state, TrialState::kFailed);
  EXPECT_EQ(attempts[0].reason, "lease expired on worker " + worker);
  EXPECT_EQ(store_->GetTrial(a.trial_id)->reason, "retry 1 of 2 after: lease expired on worker " + worker);
}

TEST_F(RetryTest, CoordinatorRestartKeepsTheFailureCountAndHistory) {
  Submit(/*max_retries=*/1);
  std::string worker = Register();
  Assignment a = Acquire(worker);
  ASSERT_TRUE(scheduler_->FinishTrial(worker, a.trial_id, a.attempt, TrialState::kFailed, "oom").ok());
  OpenAll();  // the coordinator restarts
  worker = Register();
  a = Acquire(worker);
  ASSERT_EQ(a.attempt, 2);
  ASSERT_TRUE(scheduler_->FinishTrial(worker, a.trial_id, a.attempt, TrialState::kFailed, "oom again").ok());
  EXPECT_EQ(StateOf(a.trial_id), TrialState::kFailed);
  EXPECT_EQ(store_->GetTrial(a.trial_id)->reason, "failed 2 times; last: oom again");
  const std::vector<store::AttemptRecord> attempts = Attempts(a.trial_id);
  ASSERT_EQ(attempts.size(), 2u);
  EXPECT_EQ(attempts[0].reason, "oom");
  EXPECT_EQ(attempts[1].reason, "oom again");
}

TEST_F(RetryTest, CancelEndsTheRunningAttempt) {
  const std::string sweep_id = Submit(/*max_retries=*/2);
  const std::string worker = Register();
  Assignment a = Acquire(worker);
  ASSERT_TRUE(scheduler_->Cancel(sweep_id).ok());
  const std::vector<store::AttemptRecord> attempts = Attempts(a.trial_id);
  ASSERT_EQ(attempts.size(), 1u);
  EXPECT_EQ(attempts[0].state, TrialState::kCancelled);
}

TEST_F(RetryTest, SubmitRefusesMoreTrialsThanTheLimit) {
  SchedulerOptions options;
  options.max_trials_per_sweep = 3;
  Scheduler limited(store_.get(), options);
  // Four grid points, no max_trials: the space sets the count.
  const std::string grid =
      "name: t\nobjective: {metric: val_miou}\nbudget: {epochs: 1}\nsearch:\n  space:\n    optimizer: {name: SGD, lr: [0.1, 0.2, 0.3, 0.4]}\n";
  auto refused = limited.Submit(grid);
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(refused.status().message(),
            "search.space: the sweep would create 4 trials, more than this coordinator's limit of 3 per sweep");
  const std::string random =
      "name: t\nobjective: {metric: val_miou}\nbudget: {epochs: 1, max_trials: 5}\nsearch:\n  algorithm: random\n"
      "  space:\n    optimizer: {name: SGD, lr: {loguniform: [0.001, 0.1]}}\n";
  refused = limited.Submit(random);
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(refused.status().message().find("budget.max_trials: the sweep would create 5 trials"),
            absl::string_view::npos);
  EXPECT_TRUE(store_->ListSweeps()->empty());
  EXPECT_TRUE(limited.Submit("name: t\nobjective: {metric: val_miou}\nbudget: {epochs: 1}\nsearch:\n  space:\n    optimizer: {name: SGD, lr: [0.1, 0.2, 0.3]}\n").ok());
}

}  // namespace
}  // namespace segtune::scheduler
