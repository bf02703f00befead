#include "segtune/common/ranking.h"

#include <cmath>
#include <limits>

#include <gtest/gtest.h>

namespace segtune::common {
namespace {

TEST(RankingTest, TheBetterValueFirstThenTheEarlierEpochThenSweepOrder) {
  EXPECT_TRUE(RanksAbove({0.9, 5, 3}, {0.8, 1, 0}, /*maximize=*/true));
  EXPECT_FALSE(RanksAbove({0.9, 5, 3}, {0.8, 1, 0}, /*maximize=*/false));
  EXPECT_TRUE(RanksAbove({0.8, 2, 3}, {0.8, 4, 0}, true)) << "the same value reached sooner";
  EXPECT_TRUE(RanksAbove({0.8, 2, 1}, {0.8, 2, 4}, true)) << "then the earlier trial";
  EXPECT_FALSE(RanksAbove({0.8, 2, 1}, {0.8, 2, 1}, true)) << "a strict order";
}

TEST(RankingTest, NanRanksLastWhateverTheMode) {
  const double nan = std::numeric_limits<double>::quiet_NaN();
  for (bool maximize : {true, false}) {
    EXPECT_TRUE(RanksAbove({-1e9, 9, 9}, {nan, 1, 0}, maximize));
    EXPECT_FALSE(RanksAbove({nan, 1, 0}, {-1e9, 9, 9}, maximize));
    EXPECT_TRUE(RanksAbove({nan, 1, 0}, {nan, 2, 0}, maximize)) << "NaNs among themselves by epoch";
  }
}

}  // namespace
}  // namespace segtune::common
