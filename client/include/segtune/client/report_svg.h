// Chart primitives for `segtune report` (segtune/client/report.h): scales
// from data values to SVG coordinates, round tick values, path data,
// colours, and HTML escaping. The report draws its charts as inline SVG built
// from these, so they need no script to appear.
//
// Thread-safety: value types and free functions without shared state; safe
// from any thread.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace segtune::client::svg {

// Escapes & < > " ' so that `text` is safe as element content and as a
// quoted attribute value.
std::string EscapeHtml(std::string_view text);

// A number as an axis label reads best: up to 4 significant digits ("0.25",
// "1200", "0.0035"), "1e-4" style below 1e-3 and from 1e5 on.
std::string FormatNumber(double value);

// Round tick values (1, 2 or 5 times a power of ten apart, about `target` of
// them) that lie within [low, high]. With `integers`, the step is at least 1
// (for epochs). Empty when low > high or either is not finite.
std::vector<double> NiceTicks(double low, double high, int target, bool integers = false);

// Ticks for a log axis over [low, high] (both > 0): the powers of ten in the
// range, with 2x and 5x multiples added when there are fewer than
// `min_ticks` of them, and round linear ticks when the range holds still
// fewer (less than a factor ~2).
std::vector<double> LogTicks(double low, double high, int min_ticks = 3);

// Maps a numeric domain onto a pixel range, linearly or on a log10 scale.
// The pixel range may run backwards (SVG's y grows downwards).
class NumericScale {
 public:
  // A linear scale whose domain covers [low, high] extended outwards to
  // round tick values; a degenerate range (low == high) is widened around
  // its value.
  static NumericScale Linear(double low, double high, double pixel_low, double pixel_high, int target_ticks,
                             bool integers = false);
  // A log scale over [low, high] (both > 0) padded by a small factor on
  // either side; a degenerate range is widened by a factor of 2.
  static NumericScale Log(double low, double high, double pixel_low, double pixel_high);

  double Map(double value) const;
  bool log() const { return log_; }
  double domain_low() const { return low_; }
  double domain_high() const { return high_; }
  const std::vector<double>& ticks() const { return ticks_; }

 private:
  NumericScale(bool log, double low, double high, double pixel_low, double pixel_high, std::vector<double> ticks);

  bool log_;
  double low_;
  double high_;
  double pixel_low_;
  double pixel_high_;
  std::vector<double> ticks_;
};

// Evenly spaced positions for `count` categories from `pixel_first` to
// `pixel_last` (both ends used; a single category sits in the middle).
double CategoryPosition(std::size_t index, std::size_t count, double pixel_first, double pixel_last);

struct Point {
  double x = 0;
  double y = 0;
};

// SVG path data through `points` ("M10.0,20.0L30.0,40.0"), one decimal. A
// single point becomes a zero-length segment, which round line caps draw as
// a dot. Empty for no points.
std::string PathData(const std::vector<Point>& points);

// A categorical palette (Tableau 10), repeating after 10 colours: "#4e79a7".
std::string CategoryColour(std::size_t index);

// A perceptual colour ramp (viridis) at t in [0, 1] (clamped): dark purple at
// 0, yellow at 1. "#rrggbb".
std::string RampColour(double t);

}  // namespace segtune::client::svg
