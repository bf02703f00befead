#include "segtune/agent/training_clocks.h"

#include <gtest/gtest.h>

namespace segtune::agent {
namespace {

using Clock = TrainingClocks::Clock;
using std::chrono::seconds;

// A clock the test moves by hand.
class ManualClock {
 public:
  Clock::time_point Now() const { return now_; }
  void Advance(Clock::duration by) { now_ += by; }

 private:
  Clock::time_point now_{};
};

class TrainingClocksTest : public testing::Test {
 protected:
  ManualClock time_;
  TrainingClocks clocks_{2, [this] { return time_.Now(); }};
};

TEST_F(TrainingClocksTest, CountsOnlyWhileStartedAndIncludesTheRunningStretch) {
  EXPECT_EQ(clocks_.Seconds(), (std::vector<double>{0, 0}));
  clocks_.Start(1);
  time_.Advance(seconds(3));
  EXPECT_EQ(clocks_.Seconds(), (std::vector<double>{0, 3}));  // still running
  clocks_.Stop(1);
  time_.Advance(seconds(10));  // stopped: not counted
  clocks_.Start(1);
  time_.Advance(seconds(2));
  EXPECT_EQ(clocks_.Seconds(), (std::vector<double>{0, 5}));
}

TEST_F(TrainingClocksTest, StartAndStopAreIdempotent) {
  clocks_.Start(0);
  time_.Advance(seconds(1));
  clocks_.Start(0);  // does not restart the stretch
  time_.Advance(seconds(1));
  clocks_.Stop(0);
  clocks_.Stop(0);
  time_.Advance(seconds(5));
  EXPECT_EQ(clocks_.Seconds(), (std::vector<double>{2, 0}));
}

TEST_F(TrainingClocksTest, APauseLeavesOutTheWaitAndResumesOnlyARunningClock) {
  clocks_.Start(0);
  time_.Advance(seconds(4));
  {
    const TrainingClocks::Pause waiting(clocks_, 0);
    time_.Advance(seconds(6));  // waiting for the coordinator
    EXPECT_EQ(clocks_.Seconds()[0], 4);
  }
  time_.Advance(seconds(1));
  EXPECT_EQ(clocks_.Seconds()[0], 5);  // running again after the pause

  {
    const TrainingClocks::Pause waiting(clocks_, 1);  // slot 1 was not training
    time_.Advance(seconds(1));
  }
  time_.Advance(seconds(1));
  EXPECT_EQ(clocks_.Seconds()[1], 0);  // and the pause did not start it
}

}  // namespace
}  // namespace segtune::agent
