#include "segtune/metrics/coordinator_metrics.h"

#include <atomic>
#include <thread>

#include <gtest/gtest.h>
#include <prometheus/histogram.h>

#include "http_get.h"

namespace segtune::metrics {
namespace {

using store::TrialState;

const std::vector<std::string> kMethods = {"/segtune.v1.Tuner/SubmitSweep", "/segtune.v1.WorkerHub/ReportEpoch"};

bool Has(const std::string& page, const std::string& line) { return page.find(line + "\n") != std::string::npos; }

CoordinatorSnapshot TwoRunningTrials() {
  CoordinatorSnapshot snapshot;
  scheduler::SchedulerStats& stats = snapshot.scheduler;
  stats.queue_depth = 5;
  stats.running_trials = 2;
  stats.running_sweeps = 1;
  stats.workers = 2;
  stats.slots_total = 3;
  stats.slots_busy = 2;
  stats.epochs_reported = 7;
  stats.trials_finished = {{TrialState::kCompleted, 2}, {TrialState::kDiverged, 1}};
  stats.leases_expired = 1;
  stats.sweeps.push_back({"s1", "val_miou", 8, 7, true, 0.75});
  stats.trials.push_back({"s1", "s1-0000", "SGD", "StepLR", 3, 8, {{"val_miou", 0.5}, {"lr", 0.05}}});
  stats.trials.push_back({"s1", "s1-0001", "Adam", "none", 0, 8, {}});
  snapshot.trials_by_sweep["s1"] = {{TrialState::kPending, 3}, {TrialState::kRunning, 2},
                                    {TrialState::kCompleted, 2}, {TrialState::kDiverged, 1}};
  return snapshot;
}

TEST(CoordinatorMetricsTest, AScrapeShowsTheSnapshotOfThatMoment) {
  CoordinatorSnapshot current = TwoRunningTrials();  // outlives the exposer's threads
  CoordinatorMetrics metrics(kMethods);
  ASSERT_TRUE(metrics.Serve("127.0.0.1:0", [&current] { return current; }).ok());
  ASSERT_GT(metrics.port(), 0);

  const std::string page = segtune::testing::HttpGet(metrics.port(), "/metrics");
  EXPECT_TRUE(Has(page, "segtune_queue_depth 5")) << page;
  EXPECT_TRUE(Has(page, "segtune_running_trials 2")) << page;
  EXPECT_TRUE(Has(page, "segtune_worker_slots{state=\"busy\"} 2")) << page;
  EXPECT_TRUE(Has(page, "segtune_worker_slots{state=\"free\"} 1")) << page;
  EXPECT_TRUE(Has(page, "segtune_epochs_reported_total 7")) << page;
  EXPECT_TRUE(Has(page, "segtune_leases_expired_total 1")) << page;
  EXPECT_TRUE(Has(page, "segtune_trials_finished_total{state=\"DIVERGED\"} 1")) << page;
  EXPECT_TRUE(Has(page, "segtune_trials_finished_total{state=\"FAILED\"} 0")) << "every final state, from 0";
  EXPECT_TRUE(Has(page, "segtune_sweep_trials{state=\"PENDING\",sweep=\"s1\"} 3")) << page;
  EXPECT_TRUE(Has(page, "segtune_sweep_trials{state=\"STOPPED\",sweep=\"s1\"} 0")) << page;
  EXPECT_TRUE(Has(page, "segtune_sweep_trials_planned{sweep=\"s1\"} 8")) << page;
  EXPECT_TRUE(Has(page, "segtune_sweep_epochs_reported_total{sweep=\"s1\"} 7")) << page;
  EXPECT_TRUE(Has(page, "segtune_sweep_best_objective{metric=\"val_miou\",sweep=\"s1\"} 0.75")) << page;
  const std::string sgd = "{optimizer=\"SGD\",scheduler=\"StepLR\",sweep=\"s1\",trial=\"s1-0000\"}";
  EXPECT_TRUE(Has(page, "segtune_trial_epoch" + sgd + " 3")) << page;
  EXPECT_TRUE(Has(page, "segtune_trial_epochs" + sgd + " 8")) << page;
  EXPECT_TRUE(Has(page, "segtune_trial_val_miou" + sgd + " 0.5")) << page;
  EXPECT_TRUE(Has(page, "segtune_trial_lr" + sgd + " 0.05")) << page;
  EXPECT_EQ(page.find("segtune_trial_train_loss{"), std::string::npos) << "no value reported, no series";
  const std::string adam = "{optimizer=\"Adam\",scheduler=\"none\",sweep=\"s1\",trial=\"s1-0001\"}";
  EXPECT_TRUE(Has(page, "segtune_trial_epoch" + adam + " 0")) << page;
}

TEST(CoordinatorMetricsTest, SeriesOfEndedTrialsAndSweepsAreRemoved) {
  CoordinatorMetrics metrics(kMethods);
  CoordinatorSnapshot snapshot = TwoRunningTrials();
  metrics.Apply(snapshot);
  snapshot.scheduler.trials.erase(snapshot.scheduler.trials.begin());  // s1-0000 ended
  metrics.Apply(snapshot);
  std::string page = metrics.Exposition();
  EXPECT_EQ(page.find("trial=\"s1-0000\""), std::string::npos) << page;
  EXPECT_NE(page.find("trial=\"s1-0001\""), std::string::npos) << page;

  snapshot.scheduler.trials.clear();
  snapshot.scheduler.sweeps.clear();  // the sweep ended
  metrics.Apply(snapshot);
  page = metrics.Exposition();
  EXPECT_EQ(page.find("sweep=\"s1\""), std::string::npos) << page;
  EXPECT_TRUE(Has(page, "segtune_trials_finished_total{state=\"COMPLETED\"} 2")) << "totals stay";
}

TEST(CoordinatorMetricsTest, EachDeviceOfEachLiveWorkerHasItsSeriesUntilTheWorkerIsGone) {
  CoordinatorMetrics metrics(kMethods);
  CoordinatorSnapshot snapshot = TwoRunningTrials();
  snapshot.scheduler.devices["w-1"] = {{"cuda:0", 2, 1, 0.75, 30}, {"cuda:1", 1, 0, 0, 0}};
  snapshot.scheduler.devices["w-2"] = {{"cpu", 1, 1, 0, 0}};
  metrics.Apply(snapshot);
  std::string page = metrics.Exposition();
  const std::string gpu0 = "{device=\"cuda:0\",worker=\"w-1\"}";
  EXPECT_TRUE(Has(page, "segtune_device_slots" + gpu0 + " 2")) << page;
  EXPECT_TRUE(Has(page, "segtune_device_busy_slots" + gpu0 + " 1")) << page;
  EXPECT_TRUE(Has(page, "segtune_device_utilization" + gpu0 + " 0.75")) << page;
  EXPECT_TRUE(Has(page, "segtune_device_training_seconds_total" + gpu0 + " 30")) << page;
  EXPECT_TRUE(Has(page, "segtune_device_slots{device=\"cpu\",worker=\"w-2\"} 1")) << page;

  // The counter adds what is new; then the worker goes away with its series.
  snapshot.scheduler.devices["w-1"][0].training_seconds = 42.5;
  metrics.Apply(snapshot);
  EXPECT_TRUE(Has(metrics.Exposition(), "segtune_device_training_seconds_total" + gpu0 + " 42.5"));
  snapshot.scheduler.devices.erase("w-1");
  metrics.Apply(snapshot);
  page = metrics.Exposition();
  EXPECT_EQ(page.find("worker=\"w-1\""), std::string::npos) << page;
  EXPECT_NE(page.find("worker=\"w-2\""), std::string::npos) << page;
}

TEST(CoordinatorMetricsTest, CountersAddOnlyWhatIsNew) {
  CoordinatorMetrics metrics(kMethods);
  CoordinatorSnapshot snapshot = TwoRunningTrials();
  metrics.Apply(snapshot);
  snapshot.scheduler.epochs_reported = 10;  // cumulative: the counter grows by 3, not 10
  snapshot.scheduler.sweeps[0].epochs_reported = 9;
  metrics.Apply(snapshot);
  metrics.Apply(snapshot);
  const std::string page = metrics.Exposition();
  EXPECT_TRUE(Has(page, "segtune_epochs_reported_total 10")) << page;
  EXPECT_TRUE(Has(page, "segtune_sweep_epochs_reported_total{sweep=\"s1\"} 9")) << page;
}

TEST(CoordinatorMetricsTest, AChangedLabelReplacesTheTrialsSeries) {
  CoordinatorMetrics metrics(kMethods);
  CoordinatorSnapshot snapshot = TwoRunningTrials();
  metrics.Apply(snapshot);
  snapshot.scheduler.trials[0].scheduler = "CosineAnnealingLR";
  metrics.Apply(snapshot);
  const std::string page = metrics.Exposition();
  EXPECT_EQ(page.find("scheduler=\"StepLR\""), std::string::npos) << page;
  EXPECT_NE(page.find("scheduler=\"CosineAnnealingLR\",sweep=\"s1\",trial=\"s1-0000\"} 0.5"), std::string::npos)
      << page;
}

TEST(CoordinatorMetricsTest, EventsGoToTheirHistograms) {
  CoordinatorMetrics metrics(kMethods);
  prometheus::Histogram* submit = metrics.RpcHistogram("/segtune.v1.Tuner/SubmitSweep");
  ASSERT_NE(submit, nullptr);
  submit->Observe(0.002);
  submit->Observe(0.004);
  EXPECT_EQ(metrics.RpcHistogram("/grpc.health.v1.Health/Check"), nullptr) << "not ours: not counted";
  metrics.ObserveSchedulingLatency(0.3);
  metrics.ObserveCommit(0.0008);
  const std::string page = metrics.Exposition();
  EXPECT_TRUE(Has(page, "segtune_rpc_duration_seconds_count{method=\"Tuner/SubmitSweep\"} 2")) << page;
  EXPECT_TRUE(Has(page, "segtune_rpc_duration_seconds_sum{method=\"Tuner/SubmitSweep\"} 0.006")) << page;
  EXPECT_TRUE(Has(page, "segtune_rpc_duration_seconds_count{method=\"WorkerHub/ReportEpoch\"} 0")) << page;
  EXPECT_EQ(page.find("Health"), std::string::npos) << page;
  EXPECT_TRUE(Has(page, "segtune_scheduling_latency_seconds_bucket{le=\"0.25\"} 0")) << page;
  EXPECT_TRUE(Has(page, "segtune_scheduling_latency_seconds_bucket{le=\"0.5\"} 1")) << page;
  EXPECT_TRUE(Has(page, "segtune_store_commit_seconds_bucket{le=\"0.001\"} 1")) << page;
  EXPECT_TRUE(Has(page, "segtune_store_commit_seconds_bucket{le=\"0.0005\"} 0")) << page;
}

TEST(CoordinatorMetricsTest, ConcurrentScrapesNeverCountTwice) {
  std::atomic<std::uint64_t> reported{0};
  CoordinatorMetrics metrics(kMethods);
  // Each snapshot has seen one more epoch report than the one before.
  ASSERT_TRUE(metrics
                  .Serve("127.0.0.1:0",
                         [&reported] {
                           CoordinatorSnapshot snapshot;
                           snapshot.scheduler.epochs_reported = ++reported;
                           return snapshot;
                         })
                  .ok());
  auto scrape = [&metrics] {
    for (int i = 0; i < 300; ++i) metrics.Exposition();
  };
  std::thread first(scrape), second(scrape);
  first.join();
  second.join();
  const std::string page = metrics.Exposition();
  EXPECT_TRUE(Has(page, "segtune_epochs_reported_total " + std::to_string(reported.load()))) << page;
  metrics.StopServing();
}

TEST(CoordinatorMetricsTest, ATakenPortIsAClearError) {
  CoordinatorMetrics first(kMethods);
  ASSERT_TRUE(first.Serve("127.0.0.1:0", [] { return CoordinatorSnapshot(); }).ok());
  CoordinatorMetrics second(kMethods);
  absl::Status taken = second.Serve("127.0.0.1:" + std::to_string(first.port()), [] { return CoordinatorSnapshot(); });
  ASSERT_FALSE(taken.ok());
  EXPECT_EQ(taken.code(), absl::StatusCode::kUnavailable);
  EXPECT_NE(taken.message().find("metrics-listen"), std::string::npos);
}

}  // namespace
}  // namespace segtune::metrics
