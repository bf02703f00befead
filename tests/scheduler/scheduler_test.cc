#include "segtune/scheduler/scheduler.h"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "scheduler_fixture.h"

namespace segtune::scheduler {
namespace {

using store::TrialState;

// Four trials (2 lr x 2 schedulers); parallelism and epochs set per test.
std::string Spec(int parallelism = 0, int epochs = 2) {
  return "name: sched-test\n"
         "objective: {metric: val_miou, mode: max}\n"
         "budget: {epochs: " + std::to_string(epochs) + ", parallelism: " + std::to_string(parallelism) + "}\n"
         "data: {dataset: shapes, image_size: 16, train_size: 8, val_size: 4}\n"
         "model: {arch: unet, base_channels: 4, depth: 2}\n"
         "search:\n"
         "  algorithm: grid\n"
         "  space:\n"
         "    optimizer:\n"
         "      - {name: SGD, lr: [0.1, 0.01]}\n"
         "    scheduler:\n"
         "      - {name: StepLR, step_size: 1}\n"
         "      - {name: ExponentialLR, gamma: 0.9}\n";
}

TEST_F(SchedulerTest, SubmitQueuesEveryGridPoint) {
  auto submitted = scheduler_->Submit(Spec());
  ASSERT_TRUE(submitted.ok()) << submitted.status();
  EXPECT_EQ(submitted->total_trials, 4);
  auto trials = store_->ListTrials(submitted->sweep_id);
  ASSERT_EQ(trials->size(), 4u);
  for (const auto& trial : *trials) EXPECT_EQ(trial.state, TrialState::kPending);
}

TEST_F(SchedulerTest, InvalidSpecIsRejectedBeforeAnythingIsStored) {
  auto submitted = scheduler_->Submit("name: x\nbudget: {epochs: -1}\n");
  ASSERT_FALSE(submitted.ok());
  EXPECT_EQ(submitted.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(submitted.status().message().find("budget.epochs"), std::string_view::npos);
  EXPECT_TRUE(store_->ListSweeps()->empty());
}

TEST_F(SchedulerTest, AssignmentCarriesTheWholeTrialConfiguration) {
  auto submitted = scheduler_->Submit(Spec());
  const std::string worker = Register();
  Assignment a = Acquire(worker);
  EXPECT_EQ(a.trial_id, submitted->sweep_id + "-0000");
  EXPECT_EQ(a.attempt, 1);
  auto config = nlohmann::json::parse(a.config_json);
  EXPECT_EQ(config["epochs"], 2);
  EXPECT_EQ(config["params"]["optimizer"]["name"], "SGD");
  EXPECT_EQ(config["data"]["image_size"], 16);
  EXPECT_EQ(config["objective"]["metric"], "val_miou");
  EXPECT_EQ(StateOf(a.trial_id), TrialState::kRunning);
}

TEST_F(SchedulerTest, SlotsLimitConcurrentTrialsPerWorker) {
  ASSERT_TRUE(scheduler_->Submit(Spec()).ok());
  const std::string worker = Register(/*slots=*/2);
  Acquire(worker);
  Acquire(worker);
  auto third = scheduler_->TryAcquire(worker);
  ASSERT_TRUE(third.ok());
  EXPECT_FALSE(third->has_value());
}

TEST_F(SchedulerTest, ParallelismCapsRunningTrialsOfASweep) {
  ASSERT_TRUE(scheduler_->Submit(Spec(/*parallelism=*/1)).ok());
  const std::string worker = Register(/*slots=*/4);
  Acquire(worker);
  EXPECT_FALSE(scheduler_->TryAcquire(worker)->has_value());
}

TEST_F(SchedulerTest, ExpiredLeaseRequeuesTrialForAnotherWorker) {
  ASSERT_TRUE(scheduler_->Submit(Spec()).ok());
  const std::string lost = Register();
  Assignment first = Acquire(lost);
  ASSERT_TRUE(scheduler_->ReportEpoch(lost, first.trial_id, 1, 1, Metrics(0.3)).ok());

  now_ms_ += 30001;
  ASSERT_TRUE(scheduler_->Tick().ok());
  EXPECT_EQ(StateOf(first.trial_id), TrialState::kPending);

  const std::string other = Register();
  Assignment retry = Acquire(other);
  EXPECT_EQ(retry.trial_id, first.trial_id);  // retried trials go first
  EXPECT_EQ(retry.attempt, 2);
  EXPECT_EQ(retry.start_epoch, 1);  // resumes after the durable epoch

  // The silent worker comes back: its lease is gone.
  auto stale = scheduler_->ReportEpoch(lost, first.trial_id, 1, 2, Metrics(0.4));
  EXPECT_EQ(stale.status().code(), absl::StatusCode::kFailedPrecondition);
  // Silent for a whole lease, the worker was forgotten: it must register again.
  EXPECT_EQ(scheduler_->Heartbeat(lost, {{first.trial_id, 1}}).status().code(), absl::StatusCode::kNotFound);

  // The new attempt goes on from epoch 2: one row per epoch, none lost.
  ASSERT_TRUE(scheduler_->ReportEpoch(other, retry.trial_id, 2, 2, Metrics(0.5)).ok());
  auto epochs = store_->ListEpochs(first.trial_id);
  ASSERT_EQ(epochs->size(), 2u);
  EXPECT_EQ((*epochs)[0].attempt, 1);
  EXPECT_EQ((*epochs)[1].attempt, 2);
  EXPECT_DOUBLE_EQ((*epochs)[1].metrics.at("val_miou"), 0.5);
  ASSERT_TRUE(scheduler_->FinishTrial(other, retry.trial_id, 2, TrialState::kCompleted, "").ok());
}

TEST_F(SchedulerTest, HeartbeatsKeepLeasesAlive) {
  ASSERT_TRUE(scheduler_->Submit(Spec()).ok());
  const std::string worker = Register();
  Assignment a = Acquire(worker);
  for (int i = 0; i < 4; ++i) {
    now_ms_ += 20000;
    auto stop = scheduler_->Heartbeat(worker, {{a.trial_id, a.attempt}});
    ASSERT_TRUE(stop.ok());
    EXPECT_TRUE(stop->empty());
    ASSERT_TRUE(scheduler_->Tick().ok());
  }
  EXPECT_EQ(StateOf(a.trial_id), TrialState::kRunning);
}

TEST_F(SchedulerTest, TrialThatLosesItsWorkerTooOftenFails) {
  ASSERT_TRUE(scheduler_->Submit(Spec()).ok());
  std::string trial_id;
  for (int attempt = 1; attempt <= 3; ++attempt) {
    Assignment a = Acquire(Register());
    trial_id = a.trial_id;
    EXPECT_EQ(a.attempt, attempt);
    now_ms_ += 30001;
    ASSERT_TRUE(scheduler_->Tick().ok());
  }
  auto trial = store_->GetTrial(trial_id);
  EXPECT_EQ(trial->state, TrialState::kFailed);
  EXPECT_EQ(trial->reason.rfind("failed 3 times; last: lease expired on worker ", 0), 0u) << trial->reason;
}

TEST_F(SchedulerTest, EpochReportsAreIdempotentAndValidated) {
  ASSERT_TRUE(scheduler_->Submit(Spec()).ok());
  const std::string worker = Register();
  Assignment a = Acquire(worker);
  ASSERT_TRUE(scheduler_->ReportEpoch(worker, a.trial_id, 1, 1, Metrics(0.2)).ok());
  ASSERT_TRUE(scheduler_->ReportEpoch(worker, a.trial_id, 1, 1, Metrics(0.2)).ok());
  EXPECT_EQ(store_->ListEpochs(a.trial_id)->size(), 1u);

  EXPECT_EQ(scheduler_->ReportEpoch(worker, a.trial_id, 1, 3, Metrics(0.2)).status().code(),
            absl::StatusCode::kInvalidArgument);  // beyond budget.epochs
  EXPECT_EQ(scheduler_->ReportEpoch(worker, a.trial_id, 1, 2, {{"train_loss", 1.0}}).status().code(),
            absl::StatusCode::kInvalidArgument);  // objective missing
  EXPECT_EQ(scheduler_->ReportEpoch(worker, a.trial_id, 1, 2, Metrics(std::nan(""))).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST_F(SchedulerTest, SweepCompletesWhenEveryTrialEnds) {
  auto submitted = scheduler_->Submit(Spec());
  const std::string worker = Register();
  for (int i = 0; i < 4; ++i) {
    Assignment a = Acquire(worker);
    ASSERT_TRUE(scheduler_->ReportEpoch(worker, a.trial_id, a.attempt, 1, Metrics(0.1 * i)).ok());
    // Not every epoch is there yet: the trial cannot be COMPLETED.
    EXPECT_EQ(scheduler_->FinishTrial(worker, a.trial_id, a.attempt, TrialState::kCompleted, "").code(),
              absl::StatusCode::kInvalidArgument);
    ASSERT_TRUE(scheduler_->ReportEpoch(worker, a.trial_id, a.attempt, 2, Metrics(0.1 * i)).ok());
    ASSERT_TRUE(scheduler_->FinishTrial(worker, a.trial_id, a.attempt, TrialState::kCompleted, "").ok());
    // A retried Finish is harmless.
    ASSERT_TRUE(scheduler_->FinishTrial(worker, a.trial_id, a.attempt, TrialState::kCompleted, "").ok());
  }
  EXPECT_EQ(store_->GetSweep(submitted->sweep_id)->state, store::SweepState::kCompleted);
}

TEST_F(SchedulerTest, ReleasedTrialGoesBackToTheQueueWithoutUsingUpItsAttempts) {
  ASSERT_TRUE(scheduler_->Submit(Spec()).ok());
  const std::string worker = Register();
  Assignment a = Acquire(worker);
  // Draining workers release it more often than budget.max_retries: it never fails for that.
  for (int release = 0; release < 4; ++release) {
    ASSERT_TRUE(scheduler_->FinishTrial(worker, a.trial_id, a.attempt, TrialState::kPending, "draining").ok());
    EXPECT_EQ(StateOf(a.trial_id), TrialState::kPending);
    Assignment again = Acquire(worker);
    EXPECT_EQ(again.trial_id, a.trial_id);
    EXPECT_EQ(again.attempt, a.attempt + 1);
    a = again;
  }
}

TEST_F(SchedulerTest, SilentWorkerIsForgottenAndMustRegisterAgain) {
  const std::string worker = Register(/*slots=*/3);
  EXPECT_EQ(scheduler_->Stats().slots_total, 3);
  now_ms_ += 30000;
  ASSERT_TRUE(scheduler_->Tick().ok());
  EXPECT_EQ(scheduler_->Stats().workers, 0);
  EXPECT_EQ(scheduler_->Stats().slots_total, 0);
  EXPECT_EQ(scheduler_->TryAcquire(worker).status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(scheduler_->Heartbeat(worker, {}).status().code(), absl::StatusCode::kNotFound);
}

TEST_F(SchedulerTest, CancelStopsPendingAndRunningTrials) {
  auto submitted = scheduler_->Submit(Spec());
  const std::string worker = Register();
  Assignment a = Acquire(worker);
  ASSERT_TRUE(scheduler_->Cancel(submitted->sweep_id).ok());
  auto trials = store_->ListTrials(submitted->sweep_id);
  ASSERT_TRUE(trials.ok());
  for (const auto& trial : *trials) {
    EXPECT_EQ(trial.state, TrialState::kCancelled);
  }
  EXPECT_EQ(*scheduler_->Heartbeat(worker, {{a.trial_id, a.attempt}}), std::vector<std::string>{a.trial_id});
  // The epoch that was running when the user cancelled is kept, and the worker told to stop.
  auto decision = scheduler_->ReportEpoch(worker, a.trial_id, a.attempt, 1, Metrics(0.3));
  ASSERT_TRUE(decision.ok()) << decision.status();
  EXPECT_TRUE(decision->stop);
  EXPECT_EQ(store_->ListEpochs(a.trial_id)->size(), 1u);
  EXPECT_FALSE(scheduler_->TryAcquire(worker)->has_value());
  EXPECT_EQ(store_->GetSweep(submitted->sweep_id)->state, store::SweepState::kCancelled);
  EXPECT_EQ(scheduler_->Cancel(submitted->sweep_id).code(), absl::StatusCode::kFailedPrecondition);
}

TEST_F(SchedulerTest, RestartRebuildsQueueAndLeasesFromTheStore) {
  auto submitted = scheduler_->Submit(Spec());
  const std::string worker = Register();
  Assignment running = Acquire(worker);

  OpenAll();  // the coordinator restarts

  // The running trial keeps its lease: its worker reports as if nothing happened.
  ASSERT_TRUE(scheduler_->ReportEpoch(worker, running.trial_id, running.attempt, 1, Metrics(0.3)).ok());
  // The three pending trials are still queued, in order.
  Assignment next = Acquire(Register(/*slots=*/3));
  EXPECT_EQ(next.trial_id, submitted->sweep_id + "-0001");
  // A worker that never returns loses the lease after one period.
  now_ms_ += 30001;
  ASSERT_TRUE(scheduler_->Tick().ok());
  EXPECT_EQ(StateOf(running.trial_id), TrialState::kPending);
}

}  // namespace
}  // namespace segtune::scheduler
