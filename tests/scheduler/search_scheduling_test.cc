// How the scheduler carries out searchers' decisions: asha pauses and
// promotions, trials created one per free slot (tpe), pbt exploits with their
// checkpoint copies, the median rule's stops, LR range test configs, and all
// of it across coordinator restarts.
#include <string>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "scheduler_fixture.h"
#include "segtune/proto/checksum.h"

namespace segtune::scheduler {
namespace {

// A sweep over SGD's lr with the given search section lines (indented by 2).
std::string SearchSpec(const std::string& search, const std::string& budget, const std::string& lrs) {
  return "name: search-test\n"
         "objective: {metric: val_miou, mode: max}\n"
         "budget: " + budget + "\n"
         "data: {dataset: shapes, image_size: 16, train_size: 8, val_size: 4}\n"
         "model: {arch: unet, base_channels: 4, depth: 2}\n"
         "search:\n" + search +
         "  space:\n"
         "    optimizer:\n"
         "      - {name: SGD, lr: " + lrs + ", momentum: {uniform: [0.5, 0.9]}}\n";
}

// asha over 3 grid points, eta 3: one rung, at epoch 1, of 3 epochs.
std::string AshaSpec() {
  return SearchSpec("  algorithm: asha\n  sampler: grid\n  eta: 3\n", "{epochs: 3, parallelism: 1}",
                    "[0.1, 0.01, 0.001]");
}

class SearchSchedulingTest : public SchedulerTest {
 protected:
  // Runs the next trial for one epoch and reports `miou`; returns the decision.
  EpochDecision RunOneEpoch(const std::string& worker, double miou, Assignment* assignment = nullptr) {
    Assignment a = Acquire(worker);
    if (assignment != nullptr) *assignment = a;
    auto decision = scheduler_->ReportEpoch(worker, a.trial_id, a.attempt, a.start_epoch + 1, Metrics(miou));
    EXPECT_TRUE(decision.ok()) << decision.status();
    return decision.ok() ? *decision : EpochDecision{};
  }
  // What a worker uploads before it reports the epoch.
  void WriteCheckpoint(const Assignment& trial, int epoch, const std::string& weights) {
    const std::string state = "state";
    auto writer = checkpoints_->StartWrite(trial.trial_id, epoch, trial.attempt, weights.size(), state.size());
    ASSERT_TRUE(writer.ok()) << writer.status();
    ASSERT_TRUE((*writer)->Append(weights).ok());
    ASSERT_TRUE((*writer)->Append(state).ok());
    ASSERT_TRUE((*writer)->Commit(proto::Crc32(0, weights + state)).ok());
  }
  std::string StoredWeights(const std::string& trial_id, int epoch) {
    auto reader = checkpoints_->Read(trial_id, epoch, /*with_training_state=*/false);
    EXPECT_TRUE(reader.ok()) << reader.status();
    if (!reader.ok()) return "";
    std::string weights;
    for (;;) {
      auto chunk = (*reader)->Next(1 << 20);
      if (!chunk.ok() || chunk->empty()) break;
      weights += *chunk;
    }
    return weights;
  }
};

TEST_F(SearchSchedulingTest, AshaPausesThenPromotesFromTheCheckpointEpoch) {
  auto submitted = scheduler_->Submit(AshaSpec());
  ASSERT_TRUE(submitted.ok()) << submitted.status();
  const std::string id = submitted->sweep_id;
  const std::string worker = Register();

  // Rung 1 keeps the top floor(n / 3): nobody while n < 3, so the first two pause.
  Assignment first;
  EpochDecision paused = RunOneEpoch(worker, 0.5, &first);
  EXPECT_TRUE(paused.stop);
  EXPECT_EQ(StateOf(id + "-0000"), TrialState::kStopped);
  // The worker's own STOPPED report after the reply is answered OK.
  EXPECT_TRUE(scheduler_->FinishTrial(worker, first.trial_id, first.attempt, TrialState::kStopped, paused.reason).ok());
  EXPECT_TRUE(RunOneEpoch(worker, 0.9).stop);
  EXPECT_EQ(StateOf(id + "-0001"), TrialState::kStopped);

  // The third result makes n = 3: trial 1 (0.9) is promoted, trial 2 (0.7) pauses.
  EXPECT_TRUE(RunOneEpoch(worker, 0.7).stop);
  EXPECT_EQ(StateOf(id + "-0001"), TrialState::kPending);
  EXPECT_EQ(StateOf(id + "-0002"), TrialState::kStopped);

  // It continues after its durable epoch, from that epoch's checkpoint.
  Assignment promoted = Acquire(worker);
  EXPECT_EQ(promoted.trial_id, id + "-0001");
  EXPECT_EQ(promoted.start_epoch, 1);
  EXPECT_EQ(promoted.attempt, 2);
  for (int epoch = 2; epoch <= 3; ++epoch) {
    auto decision = scheduler_->ReportEpoch(worker, promoted.trial_id, promoted.attempt, epoch, Metrics(0.95));
    ASSERT_TRUE(decision.ok()) << decision.status();
    EXPECT_FALSE(decision->stop);
  }
  ASSERT_TRUE(scheduler_->FinishTrial(worker, promoted.trial_id, promoted.attempt, TrialState::kCompleted, "").ok());
  EXPECT_EQ(store_->GetSweep(id)->state, store::SweepState::kCompleted);
  EXPECT_EQ(StateOf(id + "-0000"), TrialState::kStopped);
}

TEST_F(SearchSchedulingTest, AshaRungsSurviveACoordinatorRestart) {
  auto submitted = scheduler_->Submit(AshaSpec());
  const std::string id = submitted->sweep_id;
  std::string worker = Register();
  EXPECT_TRUE(RunOneEpoch(worker, 0.5).stop);
  EXPECT_TRUE(RunOneEpoch(worker, 0.9).stop);

  OpenAll();  // the coordinator restarts with two trials paused in rung 1

  worker = Register();
  EXPECT_TRUE(RunOneEpoch(worker, 0.7).stop);
  EXPECT_EQ(StateOf(id + "-0001"), TrialState::kPending);  // promoted as without the restart
  EXPECT_EQ(Acquire(worker).trial_id, id + "-0001");
}

TEST_F(SearchSchedulingTest, TpeCreatesTrialsOnePerFreeSlot) {
  auto submitted = scheduler_->Submit(
      SearchSpec("  algorithm: tpe\n  n_startup_trials: 2\n", "{epochs: 1, max_trials: 3}",
                 "{loguniform: [0.001, 0.1]}"));
  ASSERT_TRUE(submitted.ok()) << submitted.status();
  const std::string id = submitted->sweep_id;
  EXPECT_EQ(submitted->total_trials, 3);
  EXPECT_TRUE(store_->ListTrials(id)->empty());

  const std::string worker = Register();
  for (int i = 0; i < 3; ++i) {
    Assignment a;
    EXPECT_FALSE(RunOneEpoch(worker, 0.1 * (i + 1), &a).stop);
    EXPECT_EQ(a.trial_id, store::TrialId(id, i));
    // One slot: nothing more until this trial ends.
    EXPECT_FALSE(scheduler_->TryAcquire(worker)->has_value());
    ASSERT_TRUE(scheduler_->FinishTrial(worker, a.trial_id, a.attempt, TrialState::kCompleted, "").ok());
  }
  EXPECT_FALSE(scheduler_->TryAcquire(worker)->has_value());
  EXPECT_EQ(store_->ListTrials(id)->size(), 3u);
  EXPECT_EQ(store_->GetSweep(id)->state, store::SweepState::kCompleted);
}

TEST_F(SearchSchedulingTest, TpeCountsTrialsCreatedBeforeARestart) {
  auto submitted = scheduler_->Submit(
      SearchSpec("  algorithm: tpe\n", "{epochs: 1, max_trials: 2}", "{loguniform: [0.001, 0.1]}"));
  const std::string id = submitted->sweep_id;
  std::string worker = Register();
  Assignment a;
  RunOneEpoch(worker, 0.4, &a);
  ASSERT_TRUE(scheduler_->FinishTrial(worker, a.trial_id, a.attempt, TrialState::kCompleted, "").ok());

  OpenAll();

  worker = Register();
  RunOneEpoch(worker, 0.6, &a);
  EXPECT_EQ(a.trial_id, id + "-0001");
  ASSERT_TRUE(scheduler_->FinishTrial(worker, a.trial_id, a.attempt, TrialState::kCompleted, "").ok());
  EXPECT_EQ(store_->GetSweep(id)->state, store::SweepState::kCompleted);
}

TEST_F(SearchSchedulingTest, ALazySweepKeepsItsTurnInSubmissionOrder) {
  auto tpe = scheduler_->Submit(
      SearchSpec("  algorithm: tpe\n", "{epochs: 1, max_trials: 2}", "{loguniform: [0.001, 0.1]}"));
  now_ms_ += 1000;
  auto grid = scheduler_->Submit(SearchSpec("  algorithm: grid\n", "{epochs: 1}", "[0.1, 0.01]"));
  ASSERT_TRUE(tpe.ok() && grid.ok());
  // The tpe sweep came first: its trials are made and leased before the
  // grid sweep's queued ones.
  const std::string worker = Register(/*slots=*/3);
  EXPECT_EQ(Acquire(worker).trial_id, tpe->sweep_id + "-0000");
  // It has no parallelism cap, so its second (and last) trial comes next,
  // then the grid's.
  EXPECT_EQ(Acquire(worker).trial_id, tpe->sweep_id + "-0001");
  EXPECT_EQ(Acquire(worker).trial_id, grid->sweep_id + "-0000");
}

TEST_F(SearchSchedulingTest, AWorkersLateReportOfARequeuedTrialIsStillRefused) {
  auto submitted = scheduler_->Submit(AshaSpec());
  const std::string worker = Register();
  Assignment a = Acquire(worker);
  now_ms_ += 30001;  // the lease expires: the trial is queued again
  ASSERT_TRUE(scheduler_->Tick().ok());
  EXPECT_EQ(StateOf(a.trial_id), TrialState::kPending);
  EXPECT_EQ(scheduler_->FinishTrial(worker, a.trial_id, a.attempt, TrialState::kCompleted, "").code(),
            absl::StatusCode::kFailedPrecondition);
}

TEST_F(SearchSchedulingTest, MedianRuleStopsWithItsReason) {
  auto submitted = scheduler_->Submit(SearchSpec("  algorithm: median\n  sampler: grid\n  min_trials: 2\n",
                                                 "{epochs: 2, parallelism: 1}", "[0.1, 0.01, 0.001]"));
  ASSERT_TRUE(submitted.ok()) << submitted.status();
  const std::string worker = Register();
  for (double miou : {0.8, 0.7}) {
    Assignment a;
    EXPECT_FALSE(RunOneEpoch(worker, miou, &a).stop);
    ASSERT_TRUE(scheduler_->ReportEpoch(worker, a.trial_id, a.attempt, 2, Metrics(miou)).ok());
    ASSERT_TRUE(scheduler_->FinishTrial(worker, a.trial_id, a.attempt, TrialState::kCompleted, "").ok());
  }
  EpochDecision stopped = RunOneEpoch(worker, 0.1);
  EXPECT_TRUE(stopped.stop);
  EXPECT_NE(stopped.reason.find("median"), std::string::npos) << stopped.reason;
}

TEST_F(SearchSchedulingTest, PbtExploitCopiesTheDonorCheckpointAndParams) {
  auto submitted = scheduler_->Submit(SearchSpec("  algorithm: pbt\n  perturbation_interval: 1\n",
                                                 "{epochs: 3, max_trials: 2}", "{loguniform: [0.001, 0.1]}"));
  ASSERT_TRUE(submitted.ok()) << submitted.status();
  const std::string worker = Register(/*slots=*/2);
  Assignment good = Acquire(worker);
  Assignment bad = Acquire(worker);
  WriteCheckpoint(good, 1, "good weights");
  WriteCheckpoint(bad, 1, "bad weights");
  auto kept = scheduler_->ReportEpoch(worker, good.trial_id, good.attempt, 1, Metrics(0.8));
  ASSERT_TRUE(kept.ok()) << kept.status();
  EXPECT_FALSE(kept->stop);
  EXPECT_EQ(scheduler_->CheckpointsKeptEvery(good.trial_id), 1);  // donors keep their perturbation epochs

  // The bottom member takes the top one's weights and perturbed params.
  auto exploited = scheduler_->ReportEpoch(worker, bad.trial_id, bad.attempt, 1, Metrics(0.2));
  ASSERT_TRUE(exploited.ok()) << exploited.status();
  EXPECT_TRUE(exploited->stop);
  store::TrialRecord trial = *store_->GetTrial(bad.trial_id);
  EXPECT_EQ(trial.state, TrialState::kPending);
  EXPECT_EQ(StoredWeights(bad.trial_id, 1), "good weights");
  const nlohmann::json lineage = nlohmann::json::parse(trial.lineage_json);
  ASSERT_EQ(lineage.size(), 1u);
  EXPECT_EQ(lineage[0]["epoch"], 1);
  EXPECT_EQ(lineage[0]["donor"], 0);
  const nlohmann::json params = nlohmann::json::parse(trial.params_json);
  const nlohmann::json donor_params = nlohmann::json::parse(store_->GetTrial(good.trial_id)->params_json);
  EXPECT_NE(params, nlohmann::json::parse(nlohmann::json::parse(bad.config_json)["params"].dump()));
  EXPECT_NE(params["optimizer"]["lr"], nullptr);
  EXPECT_EQ(params["optimizer"]["name"], donor_params["optimizer"]["name"]);
  // The worker's STOPPED report for the attempt that ended is answered OK.
  EXPECT_TRUE(scheduler_->FinishTrial(worker, bad.trial_id, bad.attempt, TrialState::kStopped, exploited->reason).ok());

  // Its next attempt starts at epoch 1 from the copy, told how to change its hyperparameters.
  Assignment resumed = Acquire(worker);
  EXPECT_EQ(resumed.trial_id, bad.trial_id);
  EXPECT_EQ(resumed.start_epoch, 1);
  const nlohmann::json config = nlohmann::json::parse(resumed.config_json);
  EXPECT_EQ(config["params"], params);
  ASSERT_TRUE(config.contains("exploit"));
  EXPECT_EQ(config["exploit"]["epoch"], 1);
  EXPECT_DOUBLE_EQ(config["exploit"]["lr_scale"].get<double>(),
                   params["optimizer"]["lr"].get<double>() / donor_params["optimizer"]["lr"].get<double>());

  // After a coordinator restart the population goes on: at epoch 2 the
  // former recipient leads, and the former donor copies it.
  OpenAll();
  EXPECT_EQ(store_->GetTrial(bad.trial_id)->lineage_json, trial.lineage_json);
  WriteCheckpoint(resumed, 2, "resumed weights");
  WriteCheckpoint(good, 2, "good weights, epoch 2");
  auto leads = scheduler_->ReportEpoch(worker, resumed.trial_id, resumed.attempt, 2, Metrics(0.9));
  ASSERT_TRUE(leads.ok()) << leads.status();
  EXPECT_FALSE(leads->stop);
  auto copies = scheduler_->ReportEpoch(worker, good.trial_id, good.attempt, 2, Metrics(0.5));
  ASSERT_TRUE(copies.ok()) << copies.status();
  EXPECT_TRUE(copies->stop);
  EXPECT_EQ(StoredWeights(good.trial_id, 2), "resumed weights");
  const nlohmann::json good_lineage = nlohmann::json::parse(store_->GetTrial(good.trial_id)->lineage_json);
  ASSERT_EQ(good_lineage.size(), 1u);
  EXPECT_EQ(good_lineage[0]["donor"], 1);
}

TEST_F(SearchSchedulingTest, LrRangeTestTrialsCarryTheRamp) {
  auto submitted = scheduler_->Submit(SearchSpec("  algorithm: lr_range_test\n  iterations: 20\n  max_lr: 1\n",
                                                 "{}", "[0.1, 0.01]"));
  ASSERT_TRUE(submitted.ok()) << submitted.status();
  EXPECT_EQ(submitted->total_trials, 1);  // one per optimizer alternative, whatever its lr list
  const nlohmann::json config = nlohmann::json::parse(Acquire(Register()).config_json);
  EXPECT_EQ(config["epochs"], 20);
  EXPECT_EQ(config["objective"]["metric"], "smoothed_loss");
  EXPECT_EQ(config["lr_range"]["iterations"], 20);
  EXPECT_DOUBLE_EQ(config["lr_range"]["max_lr"].get<double>(), 1.0);
  EXPECT_DOUBLE_EQ(config["lr_range"]["min_lr"].get<double>(), 1e-7);
}

}  // namespace
}  // namespace segtune::scheduler
