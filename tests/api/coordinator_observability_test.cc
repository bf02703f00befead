// A real in-process coordinator serving /metrics: RPCs, commits and the
// scheduler's state reach the page a scrape reads.
#include <string>

#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include "http_get.h"
#include "in_process_coordinator.h"
#include "segtune/v1/segtune.grpc.pb.h"

namespace segtune::api {
namespace {

constexpr char kSpec[] = R"(name: observed
objective: {metric: val_miou, mode: max}
budget: {epochs: 2}
data: {dataset: shapes, image_size: 16, train_size: 8, val_size: 4}
model: {arch: unet, base_channels: 4, depth: 2}
search:
  algorithm: grid
  space:
    optimizer:
      - {name: SGD, lr: [0.1, 0.01]}
    scheduler:
      - {name: CosineAnnealingLR, T_max: 2}
)";

bool Has(const std::string& page, const std::string& text) { return page.find(text) != std::string::npos; }

TEST(CoordinatorObservabilityTest, AScrapeShowsRpcsCommitsAndTheRunningTrial) {
  segtune::testing::InProcessCoordinator server("segtune-observability");
  CoordinatorOptions options;
  options.metrics_listen = "127.0.0.1:0";
  ASSERT_TRUE(server.Start(options));
  std::string sweep, worker_id;
  ASSERT_TRUE(server.SubmitSweep(kSpec, &sweep).ok());
  ASSERT_TRUE(server.RegisterWorker("w", 2, &worker_id).ok());
  v1::AcquireTrialResponse acquired;
  ASSERT_TRUE(server.AcquireTrial(worker_id, &acquired).ok());
  ASSERT_TRUE(acquired.has_trial());
  v1::ReportEpochRequest report;
  report.set_worker_id(worker_id);
  report.set_trial_id(acquired.assignment().trial_id());
  report.set_attempt(acquired.assignment().attempt());
  report.set_epoch(1);
  (*report.mutable_metrics())["val_miou"] = 0.25;
  (*report.mutable_metrics())["lr"] = 0.05;
  v1::ReportEpochResponse reported;
  grpc::ClientContext report_context;
  ASSERT_TRUE(server.hub().ReportEpoch(&report_context, report, &reported).ok());

  ASSERT_GT(server.coordinator().metrics_port(), 0);
  const std::string page = segtune::testing::HttpGet(server.coordinator().metrics_port(), "/metrics");
  const std::string& trial = acquired.assignment().trial_id();
  EXPECT_TRUE(Has(page, "segtune_rpc_duration_seconds_count{method=\"Tuner/SubmitSweep\"} 1\n")) << page;
  EXPECT_TRUE(Has(page, "segtune_rpc_duration_seconds_count{method=\"WorkerHub/ReportEpoch\"} 1\n")) << page;
  EXPECT_FALSE(Has(page, "segtune_store_commit_seconds_count 0\n")) << page;
  EXPECT_TRUE(Has(page, "segtune_scheduling_latency_seconds_count 1\n")) << page;
  EXPECT_TRUE(Has(page, "segtune_sweep_trials{state=\"RUNNING\",sweep=\"" + sweep + "\"} 1\n")) << page;
  EXPECT_TRUE(Has(page, "segtune_sweep_trials{state=\"PENDING\",sweep=\"" + sweep + "\"} 1\n")) << page;
  EXPECT_TRUE(Has(page, "segtune_sweep_best_objective{metric=\"val_miou\",sweep=\"" + sweep + "\"} 0.25\n")) << page;
  EXPECT_TRUE(Has(page, "segtune_trial_lr{optimizer=\"SGD\",scheduler=\"CosineAnnealingLR\",sweep=\"" + sweep +
                            "\",trial=\"" + trial + "\"} 0.05\n"))
      << page;
  EXPECT_FALSE(Has(page, "name: observed")) << "no spec contents on the page";
}

}  // namespace
}  // namespace segtune::api
