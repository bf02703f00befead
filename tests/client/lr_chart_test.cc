#include "segtune/client/lr_chart.h"

#include <algorithm>
#include <cmath>
#include <sstream>
#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace segtune::client {
namespace {

using ::testing::HasSubstr;

std::vector<std::string> Lines(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

TEST(LrChartTest, RendersAFixedCurve) {
  // lr 1e-4 .. 1e-2 in 9 points of a quarter decade; the loss falls from 2
  // to 1 and rises back to 1.5.
  ChartCurve curve{"SGD(momentum=0.9)", {}, {2.0, 2.0, 1.75, 1.5, 1.25, 1.0, 1.0, 1.25, 1.5}};
  for (int i = 0; i <= 8; ++i) curve.lrs.push_back(std::pow(10.0, -4 + 0.25 * i));
  const std::string chart = RenderLrChart({curve}, 17, 5);
  // Columns 0, 2, ..., 16 for the quarter decades; rows of 0.25 from 2 down to 1.
  EXPECT_EQ(chart,
            "smoothed loss\n"
            "  2 |o o\n"
            "    |    o\n"
            "1.5 |      o         o\n"
            "    |        o     o\n"
            "  1 |          o o\n"
            "    ++-------+-------+\n"
            "     1e-4  1e-3   1e-2\n"
            "      lr (log scale)\n"
            "o SGD(momentum=0.9)\n");
}

TEST(LrChartTest, ClipsADivergingTailAndShowsEveryCurveInTheLegend) {
  const std::vector<double> lrs = {1e-5, 1e-4, 1e-3, 1e-2, 1e-1, 1};
  const ChartCurve sgd{"SGD()", lrs, {1.0, 0.9, 0.6, 0.4, 0.8, 50.0}};
  const ChartCurve adam{"Adam()", lrs, {1.1, 0.7, 0.45, 0.9, 3.0, 1e6}};
  const std::string chart = RenderLrChart({sgd, adam}, 40, 10);
  const std::vector<std::string> lines = Lines(chart);
  ASSERT_EQ(lines.size(), 1u + 10 + 3 + 1);
  EXPECT_EQ(lines[0], "smoothed loss (clipped at 1.5 x the highest first loss)");
  // The top is 1.5 x 1.1, the bottom the lowest loss.
  EXPECT_THAT(lines[1], ::testing::StartsWith("1.65 |"));
  EXPECT_THAT(lines[10], ::testing::StartsWith(" 0.4 |"));
  EXPECT_EQ(lines.back(), "o SGD()   x Adam()");
  // The tails (50, 3 and 1e6) are left out: each glyph shows up once per
  // point drawn (no two share a cell here), 5 for SGD and 4 for Adam.
  std::string plot;
  for (int row = 1; row <= 10; ++row) plot += lines[static_cast<std::size_t>(row)].substr(6);
  EXPECT_EQ(std::count(plot.begin(), plot.end(), 'o'), 5);
  EXPECT_EQ(std::count(plot.begin(), plot.end(), 'x'), 4);
  EXPECT_THAT(lines[12], HasSubstr("1e-5"));
  EXPECT_THAT(lines[12], HasSubstr("1e-3"));
  EXPECT_THAT(lines[12], HasSubstr("1"));
}

TEST(LrChartTest, LabelsTheEndsWhenNoPowerOfTenIsInRange) {
  const ChartCurve curve{"SGD()", {2e-3, 3e-3, 5e-3, 8e-3}, {1.0, 0.8, 0.7, 0.9}};
  const std::vector<std::string> lines = Lines(RenderLrChart({curve}, 30, 4));
  ASSERT_GE(lines.size(), 7u);
  EXPECT_THAT(lines[6], HasSubstr("2.0e-03"));
  EXPECT_THAT(lines[6], HasSubstr("8.0e-03"));
  EXPECT_EQ(std::count(lines[5].begin(), lines[5].end(), '+'), 1) << lines[5];  // the corner, no tick
}

TEST(LrChartTest, NoPointsNoChart) {
  EXPECT_EQ(RenderLrChart({}, 40, 10), "");
  EXPECT_EQ(RenderLrChart({ChartCurve{"SGD()", {}, {}}}, 40, 10), "");
}

TEST(LrChartTest, GlyphsDifferPerCurve) {
  EXPECT_NE(CurveGlyph(0), CurveGlyph(1));
  EXPECT_EQ(CurveGlyph(0), 'o');
  EXPECT_EQ(CurveGlyph(1), 'x');
}

}  // namespace
}  // namespace segtune::client
