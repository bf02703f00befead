#include "segtune/client/json_output.h"

#include <gtest/gtest.h>

#include "fixtures.h"

namespace segtune::client {
namespace {

using nlohmann::json;

TEST(JsonOutputTest, TrialHasTheContractFields) {
  auto trial = TrialJson(testing::CompletedSgdTrial());
  ASSERT_TRUE(trial.ok()) << trial.status();
  EXPECT_EQ((*trial)["trial_id"], "s1-0000");
  EXPECT_EQ((*trial)["state"], "COMPLETED");
  ASSERT_TRUE((*trial)["params"].is_object());  // parsed, not a string
  EXPECT_EQ((*trial)["params"]["optimizer"]["name"], "SGD");
  EXPECT_EQ((*trial)["params"]["training.batch_size"], 16);
  EXPECT_EQ((*trial)["epochs_done"], 8);
  EXPECT_EQ((*trial)["best_value"], 0.612);
  EXPECT_EQ((*trial)["best_epoch"], 7);
  EXPECT_EQ((*trial)["attempt"], 1);
  EXPECT_TRUE((*trial)["worker_id"].is_null());
  EXPECT_TRUE((*trial)["reason"].is_null());
  EXPECT_EQ((*trial)["last_metrics"]["val_miou"], 0.6);
  EXPECT_EQ((*trial)["started_at"], "2024-05-01T12:03:04.123Z");
}

TEST(JsonOutputTest, TrialWithoutResultHasNullBest) {
  v1::Trial pending = testing::MakeTrial("s1-0002", v1::PENDING, testing::kSgdParams);
  auto trial = TrialJson(pending);
  ASSERT_TRUE(trial.ok()) << trial.status();
  EXPECT_EQ((*trial)["state"], "PENDING");
  EXPECT_TRUE((*trial)["best_value"].is_null());
  EXPECT_TRUE((*trial)["best_epoch"].is_null());
  EXPECT_TRUE((*trial)["finished_at"].is_null());
  EXPECT_EQ((*trial)["epochs_done"], 0);
}

TEST(JsonOutputTest, EveryTrialStateUsesTheProtoName) {
  const std::vector<std::pair<v1::TrialState, std::string>> states = {
      {v1::PENDING, "PENDING"}, {v1::RUNNING, "RUNNING"},   {v1::COMPLETED, "COMPLETED"},
      {v1::STOPPED, "STOPPED"}, {v1::FAILED, "FAILED"},     {v1::DIVERGED, "DIVERGED"},
      {v1::CANCELLED, "CANCELLED"}};
  for (const auto& [state, name] : states) EXPECT_EQ(TrialStateName(state), name);
  EXPECT_EQ(SweepStateName(v1::SWEEP_COMPLETED), "COMPLETED");
}

TEST(JsonOutputTest, TrialWithBrokenParamsIsAnError) {
  EXPECT_FALSE(TrialJson(testing::MakeTrial("s1-0009", v1::PENDING, "oops")).ok());
}

TEST(JsonOutputTest, SweepHasTheContractFields) {
  json sweep = SweepJson(testing::MakeSweep(), /*with_spec=*/false);
  EXPECT_EQ(sweep["sweep_id"], "s1");
  EXPECT_EQ(sweep["name"], "seed-study");
  EXPECT_EQ(sweep["state"], "RUNNING");
  EXPECT_EQ(sweep["objective"], json({{"metric", "val_miou"}, {"mode", "max"}}));
  EXPECT_EQ(sweep["algorithm"], "grid");
  EXPECT_EQ(sweep["epochs"], 8);
  EXPECT_EQ(sweep["total_trials"], 2);
  EXPECT_EQ(sweep["trials_by_state"], json({{"COMPLETED", 1}, {"RUNNING", 1}}));
  EXPECT_EQ(sweep["best_value"], 0.612);
  EXPECT_EQ(sweep["best_trial_id"], "s1-0000");
  EXPECT_EQ(sweep["created_at"], "2024-05-01T12:03:04.123Z");
  EXPECT_TRUE(sweep["finished_at"].is_null());
  EXPECT_FALSE(sweep.contains("spec_yaml"));
  EXPECT_EQ(SweepJson(testing::MakeSweep(), /*with_spec=*/true)["spec_yaml"], "name: seed-study\n");
}

TEST(JsonOutputTest, SweepWithoutResultHasNullBest) {
  v1::Sweep sweep = testing::MakeSweep();
  sweep.set_has_best(false);
  json view = SweepJson(sweep, false);
  EXPECT_TRUE(view["best_value"].is_null());
  EXPECT_TRUE(view["best_trial_id"].is_null());
}

TEST(JsonOutputTest, EpochsAreAnArrayOfEpochAndMetrics) {
  v1::GetTrialMetricsResponse response;
  v1::EpochMetrics* first = response.add_epochs();
  first->set_epoch(1);
  first->set_attempt(1);
  (*first->mutable_metrics())["val_miou"] = 0.3;
  (*first->mutable_metrics())["train_loss"] = 1.2;
  v1::EpochMetrics* second = response.add_epochs();
  second->set_epoch(2);
  second->set_attempt(1);
  (*second->mutable_metrics())["val_miou"] = 0.4;
  json epochs = EpochsJson(response);
  ASSERT_TRUE(epochs.is_array());
  ASSERT_EQ(epochs.size(), 2u);
  EXPECT_EQ(epochs[0]["epoch"], 1);
  EXPECT_EQ(epochs[0]["metrics"], json({{"val_miou", 0.3}, {"train_loss", 1.2}}));
  EXPECT_EQ(epochs[1]["epoch"], 2);
  EXPECT_EQ(EpochsJson(v1::GetTrialMetricsResponse()), json::array());
}

TEST(JsonOutputTest, BestHasTheContractFields) {
  auto best = BestJson(testing::MakeSweep(), testing::MakeBest(testing::CompletedSgdTrial()));
  ASSERT_TRUE(best.ok()) << best.status();
  EXPECT_EQ((*best)["sweep_id"], "s1");
  EXPECT_EQ((*best)["trial_id"], "s1-0000");
  EXPECT_EQ((*best)["value"], 0.612);
  EXPECT_EQ((*best)["metric"], "val_miou");
  EXPECT_EQ((*best)["epoch"], 7);
  EXPECT_EQ((*best)["params"], json::parse(testing::kSgdParams));
}

TEST(JsonOutputTest, WorkerHasItsFields) {
  v1::Worker worker;
  worker.set_worker_id("w-1");
  worker.set_name("local-1");
  worker.set_hostname("box");
  worker.set_device("cpu");
  worker.set_slots(2);
  worker.set_busy_slots(1);
  worker.set_alive(true);
  worker.add_running_trial_ids("s1-0001");
  json view = WorkerJson(worker);
  EXPECT_EQ(view["worker_id"], "w-1");
  EXPECT_EQ(view["name"], "local-1");
  EXPECT_EQ(view["slots"], 2);
  EXPECT_EQ(view["busy_slots"], 1);
  EXPECT_EQ(view["alive"], true);
  EXPECT_EQ(view["running_trial_ids"], json({"s1-0001"}));
  EXPECT_TRUE(view["last_seen_at"].is_null());
}

TEST(JsonOutputTest, WorkerListsItsDevices) {
  v1::Worker worker;
  worker.set_device("cuda:0,cuda:1");
  worker.set_slots(3);
  v1::DeviceUsage* device = worker.add_devices();
  device->set_device("cuda:0");
  device->set_slots(2);
  device->set_busy_slots(1);
  device->set_utilization(0.5);
  device->set_training_seconds(120.25);
  worker.add_devices()->set_device("cuda:1");
  json view = WorkerJson(worker);
  EXPECT_EQ(view["device"], "cuda:0,cuda:1");  // unchanged: the summary
  ASSERT_EQ(view["devices"].size(), 2u);
  EXPECT_EQ(view["devices"][0], json::parse(R"({"device": "cuda:0", "slots": 2, "busy_slots": 1,
                                                 "utilization": 0.5, "training_seconds": 120.25})"));
  EXPECT_EQ(view["devices"][1]["device"], "cuda:1");
  EXPECT_EQ(view["devices"][1]["utilization"], 0.0);
  EXPECT_EQ(WorkerJson(v1::Worker())["devices"], json::array());
}

TEST(JsonOutputTest, IsoTimeIsUtcWithMilliseconds) {
  EXPECT_EQ(IsoTime(0), nullptr);
  EXPECT_EQ(IsoTime(1000), "1970-01-01T00:00:01.000Z");
  EXPECT_EQ(IsoTime(1714564984123), "2024-05-01T12:03:04.123Z");
}

}  // namespace
}  // namespace segtune::client
