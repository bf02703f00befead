#include "segtune/metrics/coordinator_metrics.h"

#include <gtest/gtest.h>

#include "http_get.h"

namespace segtune::metrics {
namespace {

TEST(CoordinatorMetricsTest, ServesSnapshotsAndCountsOnlyWhatIsNew) {
  auto metrics = CoordinatorMetrics::Start("127.0.0.1:0");
  ASSERT_TRUE(metrics.ok()) << metrics.status();
  ASSERT_GT((*metrics)->port(), 0);

  SchedulerSnapshot snapshot;
  snapshot.queue_depth = 5;
  snapshot.running_trials = 2;
  snapshot.workers = 2;
  snapshot.slots_total = 3;
  snapshot.slots_busy = 2;
  snapshot.epochs_reported = 7;
  (*metrics)->Update(snapshot);
  snapshot.epochs_reported = 10;  // cumulative: the counter grows by 3, not 10
  (*metrics)->Update(snapshot);

  const std::string page = segtune::testing::HttpGet((*metrics)->port(), "/metrics");
  EXPECT_NE(page.find("segtune_queue_depth 5"), std::string::npos) << page;
  EXPECT_NE(page.find("segtune_running_trials 2"), std::string::npos) << page;
  EXPECT_NE(page.find("segtune_worker_slots{state=\"busy\"} 2"), std::string::npos) << page;
  EXPECT_NE(page.find("segtune_worker_slots{state=\"free\"} 1"), std::string::npos) << page;
  EXPECT_NE(page.find("segtune_epochs_reported_total 10"), std::string::npos) << page;
}

TEST(CoordinatorMetricsTest, ATakenPortIsAClearError) {
  auto first = CoordinatorMetrics::Start("127.0.0.1:0");
  ASSERT_TRUE(first.ok());
  auto second = CoordinatorMetrics::Start("127.0.0.1:" + std::to_string((*first)->port()));
  ASSERT_FALSE(second.ok());
  EXPECT_EQ(second.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_NE(second.status().message().find("metrics-listen"), std::string::npos);
}

}  // namespace
}  // namespace segtune::metrics
