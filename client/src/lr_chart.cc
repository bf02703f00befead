#include "segtune/client/lr_chart.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>

namespace segtune::client {
namespace {

constexpr char kGlyphs[] = "ox+*#@%&";
// The y axis reaches this many times the highest first loss at most.
constexpr double kClipFactor = 1.5;

std::string FormatLoss(double value) {
  char text[32];
  std::snprintf(text, sizeof text, "%.3g", value);
  return text;
}

// "1e-3", "1", "1e1": a power of ten, short.
std::string DecadeLabel(int exponent) {
  return exponent == 0 ? "1" : "1e" + std::to_string(exponent);
}

// Maps [low, high] onto 0..cells-1; `low == high` maps everything to 0.
int Cell(double value, double low, double high, int cells) {
  if (high <= low) return 0;
  const long cell = std::lround((value - low) / (high - low) * (cells - 1));
  return static_cast<int>(std::clamp<long>(cell, 0, cells - 1));
}

// Writes `label` into `line` centred on `column`, unless it would overlap
// what is there (`used_until`: the first free position).
void PlaceLabel(std::string& line, int column, const std::string& label, int& used_until) {
  const int width = static_cast<int>(line.size());
  const int length = static_cast<int>(label.size());
  const int start = std::clamp(column - length / 2, 0, std::max(0, width - length));
  if (start < used_until || start + length > width) return;
  line.replace(static_cast<std::size_t>(start), label.size(), label);
  used_until = start + length + 1;
}

}  // namespace

std::string FormatLr(double lr) {
  char text[32];
  std::snprintf(text, sizeof text, "%.1e", lr);
  return text;
}

char CurveGlyph(std::size_t index) { return kGlyphs[index % (sizeof kGlyphs - 1)]; }

std::string RenderLrChart(const std::vector<ChartCurve>& curves, int width, int height) {
  width = std::max(width, 16);
  height = std::max(height, 4);
  double x_low = std::numeric_limits<double>::infinity();
  double x_high = -x_low;
  double y_low = x_low;
  double y_high = -x_low;
  double highest_first = -x_low;
  for (const ChartCurve& curve : curves) {
    const std::size_t points = std::min(curve.lrs.size(), curve.losses.size());
    if (points == 0) continue;
    highest_first = std::max(highest_first, curve.losses.front());
    for (std::size_t i = 0; i < points; ++i) {
      x_low = std::min(x_low, std::log10(curve.lrs[i]));
      x_high = std::max(x_high, std::log10(curve.lrs[i]));
      y_low = std::min(y_low, curve.losses[i]);
      y_high = std::max(y_high, curve.losses[i]);
    }
  }
  if (!std::isfinite(x_low)) return "";
  const bool clipped = y_high > kClipFactor * highest_first && kClipFactor * highest_first > y_low;
  if (clipped) y_high = kClipFactor * highest_first;

  std::vector<std::string> grid(static_cast<std::size_t>(height), std::string(width, ' '));
  for (std::size_t c = 0; c < curves.size(); ++c) {
    const ChartCurve& curve = curves[c];
    for (std::size_t i = 0; i < std::min(curve.lrs.size(), curve.losses.size()); ++i) {
      if (curve.losses[i] > y_high) continue;
      const int column = Cell(std::log10(curve.lrs[i]), x_low, x_high, width);
      const int row = height - 1 - Cell(curve.losses[i], y_low, y_high, height);
      grid[static_cast<std::size_t>(row)][static_cast<std::size_t>(column)] = CurveGlyph(c);
    }
  }

  // The y axis: labels on the top, middle and bottom rows.
  const int middle = (height - 1) / 2;
  auto row_value = [&](int row) {
    return y_high - (y_high - y_low) * static_cast<double>(row) / (height - 1);
  };
  const std::size_t label_width = std::max(
      {FormatLoss(y_high).size(), FormatLoss(row_value(middle)).size(), FormatLoss(y_low).size()});
  std::string chart = clipped ? "smoothed loss (clipped at 1.5 x the highest first loss)\n"
                              : "smoothed loss\n";
  for (int row = 0; row < height; ++row) {
    std::string label;
    if (row == 0 || row == middle || row == height - 1) label = FormatLoss(row_value(row));
    std::string line = std::string(label_width - label.size(), ' ') + label + " |" +
                       grid[static_cast<std::size_t>(row)];
    line.erase(line.find_last_not_of(' ') + 1);
    chart += line + "\n";
  }

  // The x axis: a tick and a label at each power of ten in range, or the
  // two ends when the range holds none.
  std::string axis(width, '-');
  std::string labels(width, ' ');
  int used_until = 0;
  const int first_decade = static_cast<int>(std::ceil(x_low - 1e-9));
  const int last_decade = static_cast<int>(std::floor(x_high + 1e-9));
  if (first_decade <= last_decade) {
    for (int decade = first_decade; decade <= last_decade; ++decade) {
      const int column = Cell(decade, x_low, x_high, width);
      axis[static_cast<std::size_t>(column)] = '+';
      PlaceLabel(labels, column, DecadeLabel(decade), used_until);
    }
  } else {
    PlaceLabel(labels, 0, FormatLr(std::pow(10.0, x_low)), used_until);
    PlaceLabel(labels, width - 1, FormatLr(std::pow(10.0, x_high)), used_until);
  }
  const std::string indent(label_width + 1, ' ');
  labels.erase(labels.find_last_not_of(' ') + 1);
  chart += indent + "+" + axis + "\n";
  chart += indent + " " + labels + "\n";
  const std::string title = "lr (log scale)";
  chart += indent + " " + std::string((static_cast<std::size_t>(width) - title.size()) / 2, ' ') +
           title + "\n";

  std::string legend;
  for (std::size_t c = 0; c < curves.size(); ++c) {
    if (c > 0) legend += "   ";
    legend += std::string(1, CurveGlyph(c)) + " " + curves[c].label;
  }
  return chart + legend + "\n";
}

}  // namespace segtune::client
