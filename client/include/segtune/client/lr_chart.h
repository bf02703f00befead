// A text chart of LR range test curves for `segtune lr-find`: the smoothed
// loss against the lr on a log10 axis, one glyph per curve.
//
//   smoothed loss (clipped at 1.5 x the highest first loss)
//      2.1 |oo
//          |  ooo   xx
//     1.65 |     oo   x
//          |       o   xx
//      1.2 |        ooo  xx
//          +--+---------+---------+
//            1e-4      1e-3      1e-2
//                  lr (log scale)
//   o SGD(momentum=0.9)   x Adam()
//
// Losses above the clip (a diverging tail) are left out so that they do not
// flatten the rest of the curve.
//
// Thread-safety: a pure function, safe from any thread.
#pragma once

#include <string>
#include <vector>

namespace segtune::client {

struct ChartCurve {
  std::string label;         // the legend's text
  std::vector<double> lrs;   // > 0
  std::vector<double> losses;  // one per lr
};

// The glyph of curve i in the chart and its legend.
char CurveGlyph(std::size_t index);

// A learning rate as the chart and the lr-find table show it: "3.2e-02".
std::string FormatLr(double lr);

// `width` x `height` characters of plot area (at least 16 x 4), plus the
// axes, their labels and the legend around it. Empty when no curve has a
// point.
std::string RenderLrChart(const std::vector<ChartCurve>& curves, int width, int height);

}  // namespace segtune::client
