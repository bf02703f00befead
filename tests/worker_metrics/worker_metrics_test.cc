#include "segtune/worker_metrics/worker_metrics.h"

#include <cstdlib>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "http_get.h"

namespace segtune::worker_metrics {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

std::unique_ptr<WorkerMetrics> StartOnAnyPort() {
  absl::StatusOr<std::unique_ptr<WorkerMetrics>> metrics = WorkerMetrics::Start("127.0.0.1:0", "cpu");
  EXPECT_TRUE(metrics.ok()) << metrics.status();
  if (!metrics.ok()) return nullptr;
  EXPECT_GT((*metrics)->port(), 0);
  return std::move(*metrics);
}

std::string Scrape(const WorkerMetrics& metrics) { return segtune::testing::HttpGet(metrics.port(), "/metrics"); }

// The value of one series ("name" or "name{labels}") on a scraped page.
std::optional<double> Sample(const std::string& page, const std::string& series) {
  const std::string start = "\n" + series + " ";
  const std::size_t at = page.find(start);
  if (at == std::string::npos) return std::nullopt;
  return std::strtod(page.c_str() + at + start.size(), nullptr);
}

TEST(WorkerMetricsTest, ServesWhatTheSlotsRecord) {
  const std::unique_ptr<WorkerMetrics> metrics = StartOnAnyPort();
  ASSERT_NE(metrics, nullptr);
  const std::unique_ptr<TrialSeries> trial = metrics->StartTrial(0, "sweep-1", "trial-7");
  // An epoch of 18 images in batches of 8: the last one holds 2.
  trial->RecordBatch(8);
  trial->RecordBatch(8);
  trial->RecordBatch(2);
  trial->RecordEpoch(0.25, 123.5);
  // An LR range test's step: no images_per_second, the gauge keeps its value.
  trial->RecordBatch(8);
  trial->RecordEpoch(0.5, std::nullopt);

  const std::string page = Scrape(*metrics);
  EXPECT_EQ(Sample(page, "segtune_worker_images_total"), 26) << page;
  EXPECT_EQ(Sample(page, "segtune_worker_batches_total"), 4) << page;
  EXPECT_EQ(Sample(page, "segtune_worker_data_wait_seconds_total"), 0.75) << page;
  EXPECT_EQ(Sample(page, "segtune_worker_images_per_second{slot=\"0\"}"), 123.5) << page;
  EXPECT_EQ(Sample(page, "segtune_worker_current_trial{slot=\"0\",sweep=\"sweep-1\",trial=\"trial-7\"}"), 1) << page;
  EXPECT_THAT(page, HasSubstr("# TYPE segtune_worker_images_total counter"));
  EXPECT_THAT(page, HasSubstr("# TYPE segtune_worker_batches_total counter"));
  EXPECT_THAT(page, HasSubstr("# TYPE segtune_worker_data_wait_seconds_total counter"));
  EXPECT_THAT(page, HasSubstr("# TYPE segtune_worker_images_per_second gauge"));
  EXPECT_THAT(page, HasSubstr("# TYPE segtune_worker_current_trial gauge"));
  EXPECT_THAT(page, HasSubstr("# TYPE segtune_worker_device_memory_bytes gauge"));
}

TEST(WorkerMetricsTest, DeviceMemoryIsTheResidentSetOnTheCpu) {
  const std::unique_ptr<WorkerMetrics> metrics = StartOnAnyPort();
  ASSERT_NE(metrics, nullptr);
  const std::optional<double> before = Sample(Scrape(*metrics), "segtune_worker_device_memory_bytes{device=\"cpu\"}");
  ASSERT_TRUE(before.has_value());
  // A test binary's resident set is at least a few MiB, and read at scrape
  // time: 64 MiB touched now shows on the next scrape.
  EXPECT_GT(*before, 1 << 20);
  std::vector<char> touched(64 << 20, 1);
  // The compiler may not drop memory it cannot see unused.
  asm volatile("" : : "r"(touched.data()) : "memory");
  const std::optional<double> after = Sample(Scrape(*metrics), "segtune_worker_device_memory_bytes{device=\"cpu\"}");
  ASSERT_TRUE(after.has_value());
  EXPECT_GT(*after, *before + (48 << 20)) << "touched " << touched.size() << " bytes";
}

TEST(WorkerMetricsTest, ATrialsSeriesIsRemovedWhenItEnds) {
  const std::unique_ptr<WorkerMetrics> metrics = StartOnAnyPort();
  ASSERT_NE(metrics, nullptr);
  std::unique_ptr<TrialSeries> first = metrics->StartTrial(0, "sweep-1", "trial-1");
  const std::unique_ptr<TrialSeries> second = metrics->StartTrial(1, "sweep-2", "trial-2");
  first->RecordEpoch(0, 50);
  std::string page = Scrape(*metrics);
  EXPECT_THAT(page, HasSubstr("segtune_worker_current_trial{slot=\"0\",sweep=\"sweep-1\",trial=\"trial-1\"} 1"));
  EXPECT_THAT(page, HasSubstr("segtune_worker_current_trial{slot=\"1\",sweep=\"sweep-2\",trial=\"trial-2\"} 1"));

  first.reset();
  page = Scrape(*metrics);
  EXPECT_THAT(page, Not(HasSubstr("trial=\"trial-1\"")));
  EXPECT_THAT(page, HasSubstr("segtune_worker_current_trial{slot=\"1\",sweep=\"sweep-2\",trial=\"trial-2\"} 1"));
  // The slot's last epoch still says how fast it trained.
  EXPECT_EQ(Sample(page, "segtune_worker_images_per_second{slot=\"0\"}"), 50) << page;

  // The next trial on slot 0 gets its own series.
  const std::unique_ptr<TrialSeries> third = metrics->StartTrial(0, "sweep-1", "trial-3");
  page = Scrape(*metrics);
  EXPECT_THAT(page, HasSubstr("segtune_worker_current_trial{slot=\"0\",sweep=\"sweep-1\",trial=\"trial-3\"} 1"));
  EXPECT_THAT(page, Not(HasSubstr("trial=\"trial-1\"")));
}

TEST(WorkerMetricsTest, SlotsCountConcurrentlyWithoutLosingBatches) {
  const std::unique_ptr<WorkerMetrics> metrics = StartOnAnyPort();
  ASSERT_NE(metrics, nullptr);
  constexpr int kSlots = 4;
  constexpr int kBatches = 5000;
  std::vector<std::thread> slots;
  for (int slot = 0; slot < kSlots; ++slot) {
    slots.emplace_back([&metrics, slot] {
      const std::unique_ptr<TrialSeries> trial = metrics->StartTrial(slot, "sweep", "trial-" + std::to_string(slot));
      for (int batch = 0; batch < kBatches; ++batch) trial->RecordBatch(3);
    });
  }
  for (std::thread& slot : slots) slot.join();
  const std::string page = Scrape(*metrics);
  EXPECT_EQ(Sample(page, "segtune_worker_batches_total"), kSlots * kBatches) << page;
  EXPECT_EQ(Sample(page, "segtune_worker_images_total"), 3 * kSlots * kBatches) << page;
  EXPECT_THAT(page, Not(HasSubstr("segtune_worker_current_trial{")));
}

TEST(WorkerMetricsTest, ATakenPortIsAClearError) {
  const std::unique_ptr<WorkerMetrics> first = StartOnAnyPort();
  ASSERT_NE(first, nullptr);
  const std::string listen = "127.0.0.1:" + std::to_string(first->port());
  const absl::StatusOr<std::unique_ptr<WorkerMetrics>> second = WorkerMetrics::Start(listen, "cpu");
  ASSERT_FALSE(second.ok());
  EXPECT_EQ(second.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(std::string(second.status().message()), HasSubstr("--metrics-listen " + listen));
}

TEST(WorkerMetricsTest, AMalformedAddressIsAnInvalidArgumentNamingTheFlag) {
  // Every malformed form is in tests/common/listen_address_test.cc.
  for (const char* listen : {"9464", "127.0.0.1:1,127.0.0.1:2"}) {
    const absl::StatusOr<std::unique_ptr<WorkerMetrics>> metrics = WorkerMetrics::Start(listen, "cpu");
    ASSERT_FALSE(metrics.ok()) << listen;
    EXPECT_EQ(metrics.status().code(), absl::StatusCode::kInvalidArgument) << listen;
    EXPECT_THAT(std::string(metrics.status().message()),
                HasSubstr(std::string("--metrics-listen '") + listen + "'"));
  }
}

TEST(WorkerMetricsTest, AcceptsAHostName) {
  const absl::StatusOr<std::unique_ptr<WorkerMetrics>> metrics = WorkerMetrics::Start("localhost:0", "cpu");
  ASSERT_TRUE(metrics.ok()) << metrics.status();
  EXPECT_THAT(Scrape(**metrics), HasSubstr("segtune_worker_batches_total 0"));
}

}  // namespace
}  // namespace segtune::worker_metrics
