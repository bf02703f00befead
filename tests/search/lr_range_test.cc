#include "segtune/search/lr_range.h"

#include <cmath>
#include <functional>
#include <limits>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace segtune::search {
namespace {

using ::testing::HasSubstr;

double Sigmoid(double x) { return 1 / (1 + std::exp(-x)); }

// A curve sampled at lr = 10^x for x = from, from + 0.1, ..., to: what an
// exponential ramp of (to - from) * 10 + 1 steps gives.
struct Curve {
  std::vector<double> lrs;
  std::vector<double> losses;
};

Curve Sample(double from, double to, const std::function<double(double)>& loss_at) {
  Curve curve;
  const int steps = static_cast<int>(std::lround((to - from) * 10));
  for (int i = 0; i <= steps; ++i) {
    const double x = from + 0.1 * i;
    curve.lrs.push_back(std::pow(10.0, x));
    curve.losses.push_back(loss_at(x));
  }
  return curve;
}

// Flat at 2 for small lrs, falling to 0.5 around lr 1e-3 (fastest exactly
// there), turning up after lr 1e-1.
double Textbook(double x) {
  const double rise = x > -1 ? 5 * (x + 1) * (x + 1) : 0;
  return 2 - 1.5 * Sigmoid(3 * (x + 3)) + rise;
}

LrRangeSuggestion Suggest(const Curve& curve) {
  absl::StatusOr<LrRangeSuggestion> suggestion = SuggestLrRange(curve.lrs, curve.losses);
  EXPECT_TRUE(suggestion.ok()) << suggestion.status();
  return suggestion.value_or(LrRangeSuggestion{});
}

TEST(SuggestLrRangeTest, TextbookCurve) {
  const LrRangeSuggestion suggestion = Suggest(Sample(-6, 0, Textbook));
  EXPECT_TRUE(suggestion.loss_fell);
  EXPECT_NEAR(std::log10(suggestion.suggested_lr), -3.0, 1e-9);
  // 2 - 1.5 sigmoid(6) = 0.504 at 1e-1; 0.553 one step on.
  EXPECT_NEAR(std::log10(suggestion.min_loss_lr), -1.0, 1e-9);
  EXPECT_NEAR(std::log10(suggestion.range_high), -2.0, 1e-9);
  // A tenth of the drop from 2.0 to 0.504 is done once 1.5 sigmoid(3 (x + 3))
  // >= 0.1497, at x >= -3.73: the first lr sampled there is 10^-3.7.
  EXPECT_NEAR(std::log10(suggestion.range_low), -3.7, 1e-9);
}

TEST(SuggestLrRangeTest, ShortSteepDescentWidensTheRangeToTheSuggestion) {
  // Falls fastest at 10^-1.5, lowest at 10^-1.2: a tenth of the minimum's lr
  // is below the steepest point, so the range ends at the steepest point.
  const LrRangeSuggestion suggestion = Suggest(Sample(-4, 0, [](double x) {
    const double rise = x > -1.2 ? 20 * (x + 1.2) * (x + 1.2) : 0;
    return 2 - 1.5 * Sigmoid(10 * (x + 1.5)) + rise;
  }));
  EXPECT_NEAR(std::log10(suggestion.suggested_lr), -1.5, 1e-9);
  EXPECT_NEAR(std::log10(suggestion.min_loss_lr), -1.2, 1e-9);
  EXPECT_NEAR(std::log10(suggestion.range_high), -1.5, 1e-9);
  // sigmoid(10 (x + 1.5)) >= 0.0953 from x = -1.725 on.
  EXPECT_NEAR(std::log10(suggestion.range_low), -1.7, 1e-9);
}

TEST(SuggestLrRangeTest, SkipsTheFirstPointsNoise) {
  // A first batch far above the rest: its drop is steeper than the real
  // descent, but it lies in the skipped first tenth.
  Curve curve = Sample(-6, 0, Textbook);
  curve.losses[0] = 10;
  const LrRangeSuggestion suggestion = Suggest(curve);
  EXPECT_NEAR(std::log10(suggestion.suggested_lr), -3.0, 1e-9);
  EXPECT_NEAR(std::log10(suggestion.range_low), -3.7, 1e-9);
}

TEST(SuggestLrRangeTest, IgnoresDropsAfterTheMinimum) {
  // A diverging tail that collapses once: steeper than the descent, but
  // after the minimum.
  Curve curve = Sample(-6, 0, Textbook);
  // 0.51 at 10^-0.5 instead of 1.75: the slope at 10^-0.6 becomes -2.2, steeper
  // than the descent's -1.12 at 10^-3.
  curve.losses[55] = 0.51;
  ASSERT_GT(curve.losses[55], curve.losses[50]);
  const LrRangeSuggestion suggestion = Suggest(curve);
  EXPECT_NEAR(std::log10(suggestion.suggested_lr), -3.0, 1e-9);
  EXPECT_NEAR(std::log10(suggestion.min_loss_lr), -1.0, 1e-9);
}

TEST(SuggestLrRangeTest, LossStillFallingAtTheEnd) {
  const LrRangeSuggestion suggestion =
      Suggest(Sample(-6, -2, [](double x) { return 2 - 1.5 * Sigmoid(3 * (x + 3)); }));
  EXPECT_TRUE(suggestion.loss_fell);
  EXPECT_NEAR(std::log10(suggestion.suggested_lr), -3.0, 1e-9);
  EXPECT_NEAR(std::log10(suggestion.min_loss_lr), -2.0, 1e-9);
  EXPECT_NEAR(std::log10(suggestion.range_high), -3.0, 1e-9);  // widened to the suggestion
}

TEST(SuggestLrRangeTest, LossThatNeverFalls) {
  const Curve rising = Sample(-2, 0, [](double x) { return 1 + (x + 2) * (x + 2); });
  const LrRangeSuggestion suggestion = Suggest(rising);
  EXPECT_FALSE(suggestion.loss_fell);
  EXPECT_EQ(suggestion.min_loss_lr, rising.lrs.front());
  EXPECT_EQ(suggestion.suggested_lr, rising.lrs.front());
  EXPECT_EQ(suggestion.range_low, rising.lrs.front());
  EXPECT_EQ(suggestion.range_high, rising.lrs.front());

  const LrRangeSuggestion flat = Suggest(Sample(-2, 0, [](double) { return 1.0; }));
  EXPECT_FALSE(flat.loss_fell);
}

TEST(SuggestLrRangeTest, FivePointsAreEnough) {
  // One interior point is considered: i = 1 (n / 10 = 0, at least 1), up to
  // n - 1 - 1 = 3 but not past the minimum at 2.
  absl::StatusOr<LrRangeSuggestion> suggestion =
      SuggestLrRange({1e-4, 1e-3, 1e-2, 1e-1, 1}, {1.0, 0.9, 0.5, 0.8, 3.0});
  ASSERT_TRUE(suggestion.ok()) << suggestion.status();
  // Slopes: i = 1: (0.5 - 1.0) / 2 = -0.25; i = 2: (0.8 - 0.9) / 2 = -0.05.
  EXPECT_DOUBLE_EQ(suggestion->suggested_lr, 1e-3);
  EXPECT_DOUBLE_EQ(suggestion->min_loss_lr, 1e-2);
  EXPECT_DOUBLE_EQ(suggestion->range_high, 1e-3);
  EXPECT_DOUBLE_EQ(suggestion->range_low, 1e-3);
}

TEST(SuggestLrRangeTest, RejectsBadCurvesNamingTheArgument) {
  const std::vector<double> lrs = {1e-4, 1e-3, 1e-2, 1e-1, 1};
  const std::vector<double> losses = {1.0, 0.9, 0.5, 0.8, 3.0};
  auto error_of = [](const std::vector<double>& x, const std::vector<double>& y) {
    absl::StatusOr<LrRangeSuggestion> suggestion = SuggestLrRange(x, y);
    EXPECT_EQ(suggestion.status().code(), absl::StatusCode::kInvalidArgument);
    return std::string(suggestion.status().message());
  };
  EXPECT_THAT(error_of({1e-3, 1e-2, 1e-1, 1}, {1, 0.5, 0.8, 3}),
              HasSubstr("at least 5 points are needed, got 4"));
  EXPECT_THAT(error_of(lrs, {1, 2}), HasSubstr("lrs and smoothed_losses: 5 and 2 values"));
  EXPECT_THAT(error_of({0, 1e-3, 1e-2, 1e-1, 1}, losses), HasSubstr("lrs[0]: must be > 0, got 0"));
  EXPECT_THAT(error_of({1e-4, -1e-3, 1e-2, 1e-1, 1}, losses), HasSubstr("lrs[1]: must be > 0"));
  EXPECT_THAT(error_of({1e-4, 1e-3, 1e-3, 1e-1, 1}, losses),
              HasSubstr("lrs[2]: must be larger than lrs[1]"));
  EXPECT_THAT(error_of(lrs, {1, 0.9, std::numeric_limits<double>::quiet_NaN(), 0.8, 3}),
              HasSubstr("smoothed_losses[2]: must be finite, got nan"));
}

}  // namespace
}  // namespace segtune::search
