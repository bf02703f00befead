#include "segtune/agent/backoff.h"

#include <gtest/gtest.h>

namespace segtune::agent {
namespace {

using std::chrono::milliseconds;

TEST(BackoffTest, DoublesFromInitialUpToMaxWithinJitter) {
  Backoff backoff(milliseconds(500), milliseconds(10000), 0.2);
  const int nominal[] = {500, 1000, 2000, 4000, 8000, 10000, 10000};
  for (int expected : nominal) {
    const milliseconds delay = backoff.NextDelay();
    EXPECT_GE(delay.count(), expected * 0.8 - 1) << "nominal " << expected;
    EXPECT_LE(delay.count(), std::min(expected * 1.2, 10000.0)) << "nominal " << expected;
  }
}

TEST(BackoffTest, NeverExceedsMax) {
  Backoff backoff(milliseconds(100), milliseconds(300), 0.5);
  for (int i = 0; i < 100; ++i) EXPECT_LE(backoff.NextDelay().count(), 300);
}

TEST(BackoffTest, ResetStartsOver) {
  Backoff backoff(milliseconds(100), milliseconds(10000), 0.0);
  EXPECT_EQ(backoff.NextDelay(), milliseconds(100));
  EXPECT_EQ(backoff.NextDelay(), milliseconds(200));
  EXPECT_EQ(backoff.NextDelay(), milliseconds(400));
  backoff.Reset();
  EXPECT_EQ(backoff.NextDelay(), milliseconds(100));
}

TEST(BackoffTest, JitterSpreadsDelays) {
  Backoff backoff(milliseconds(1000), milliseconds(1000), 0.2);
  milliseconds lowest = backoff.NextDelay();
  milliseconds highest = lowest;
  for (int i = 0; i < 50; ++i) {
    const milliseconds delay = backoff.NextDelay();
    lowest = std::min(lowest, delay);
    highest = std::max(highest, delay);
  }
  EXPECT_LT(lowest, highest);
}

}  // namespace
}  // namespace segtune::agent
