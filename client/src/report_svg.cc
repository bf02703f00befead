#include "segtune/client/report_svg.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdio>
#include <string>

namespace segtune::client::svg {
namespace {

// Never more ticks than this, whatever a caller's range and step.
constexpr int kMaxTicks = 200;
// Tolerance for a tick that lands on a range end up to rounding.
constexpr double kEdgeTolerance = 1e-9;

// 1, 2 or 5 times a power of ten, the closest such step to `raw`.
double NiceStep(double raw) {
  if (!(raw > 0) || !std::isfinite(raw)) return 1;
  const double magnitude = std::pow(10.0, std::floor(std::log10(raw)));
  const double normalized = raw / magnitude;
  const double factor = normalized < 1.5 ? 1 : normalized < 3 ? 2 : normalized < 7 ? 5 : 10;
  return factor * magnitude;
}

double Step(double low, double high, int target, bool integers) {
  const double step = NiceStep((high - low) / std::max(target, 1));
  return integers ? std::max(step, 1.0) : step;
}

// k * step rounded to the step's decimals, so that 3 x 0.1 is the double
// closest to 0.3 rather than 0.30000000000000004.
double Multiple(double k, double step) {
  const double decimals = std::max(0.0, -std::floor(std::log10(step)));
  const double scale = std::pow(10.0, decimals);
  const double multiple = std::round(k * step * scale) / scale;
  return multiple == 0 ? 0.0 : multiple;  // no "-0"
}

// Multiples of `step` within [low, high].
std::vector<double> TicksWithStep(double low, double high, double step) {
  std::vector<double> ticks;
  const double first = std::ceil(low / step - kEdgeTolerance);
  const double last = std::floor(high / step + kEdgeTolerance);
  for (double k = first; k <= last && ticks.size() < kMaxTicks; ++k) ticks.push_back(Multiple(k, step));
  return ticks;
}

struct Rgb {
  double r, g, b;
};

// viridis at 0, 1/8, ..., 1.
constexpr std::array<Rgb, 9> kViridis = {{{0x44, 0x01, 0x54},
                                           {0x47, 0x2d, 0x7b},
                                           {0x3b, 0x52, 0x8b},
                                           {0x2c, 0x72, 0x8e},
                                           {0x21, 0x91, 0x8c},
                                           {0x28, 0xae, 0x80},
                                           {0x5e, 0xc9, 0x62},
                                           {0xad, 0xdc, 0x30},
                                           {0xfd, 0xe7, 0x25}}};

constexpr std::array<const char*, 10> kTableau10 = {"#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f",
                                                    "#edc948", "#b07aa1", "#ff9da7", "#9c755f", "#bab0ac"};

}  // namespace

std::string EscapeHtml(std::string_view text) {
  std::string escaped;
  escaped.reserve(text.size());
  for (const char c : text) {
    switch (c) {
      case '&': escaped += "&amp;"; break;
      case '<': escaped += "&lt;"; break;
      case '>': escaped += "&gt;"; break;
      case '"': escaped += "&quot;"; break;
      case '\'': escaped += "&#39;"; break;
      default: escaped += c;
    }
  }
  return escaped;
}

std::string FormatNumber(double value) {
  if (!std::isfinite(value)) return std::isnan(value) ? "nan" : (value > 0 ? "inf" : "-inf");
  if (value == 0) return "0";
  char text[32];
  const double magnitude = std::fabs(value);
  if (magnitude >= 1e-3 && magnitude < 1e4) {
    std::snprintf(text, sizeof text, "%.4g", value);
    return text;
  }
  if (magnitude >= 1e4 && magnitude < 1e5) {
    std::snprintf(text, sizeof text, "%.0f", value);
    return text;
  }
  // "1.50e-04" -> "1.5e-4": no trailing zeros, no exponent padding.
  std::snprintf(text, sizeof text, "%.2e", value);
  std::string formatted = text;
  const std::size_t e = formatted.find('e');
  std::string mantissa = formatted.substr(0, e);
  if (mantissa.find('.') != std::string::npos) {
    mantissa.erase(mantissa.find_last_not_of('0') + 1);
    if (mantissa.back() == '.') mantissa.pop_back();
  }
  const int exponent = std::stoi(formatted.substr(e + 1));
  return mantissa + "e" + std::to_string(exponent);
}

std::vector<double> NiceTicks(double low, double high, int target, bool integers) {
  if (!std::isfinite(low) || !std::isfinite(high) || low > high) return {};
  if (low == high) return {low};
  return TicksWithStep(low, high, Step(low, high, target, integers));
}

std::vector<double> LogTicks(double low, double high, int min_ticks) {
  if (!(low > 0) || !std::isfinite(high) || low > high) return {};
  std::vector<double> ticks;
  const int first = static_cast<int>(std::floor(std::log10(low)));
  const int last = static_cast<int>(std::ceil(std::log10(high)));
  for (const std::vector<double>& mantissas : {std::vector<double>{1}, std::vector<double>{1, 2, 5}}) {
    ticks.clear();
    for (int exponent = first; exponent <= last; ++exponent) {
      for (const double mantissa : mantissas) {
        const double tick = mantissa * std::pow(10.0, exponent);
        if (tick >= low * (1 - kEdgeTolerance) && tick <= high * (1 + kEdgeTolerance)) ticks.push_back(tick);
      }
    }
    if (static_cast<int>(ticks.size()) >= min_ticks) return ticks;
  }
  if (ticks.size() >= 2) return ticks;
  return NiceTicks(low, high, 4);
}

NumericScale::NumericScale(bool log, double low, double high, double pixel_low, double pixel_high,
                           std::vector<double> ticks)
    : log_(log), low_(low), high_(high), pixel_low_(pixel_low), pixel_high_(pixel_high), ticks_(std::move(ticks)) {}

NumericScale NumericScale::Linear(double low, double high, double pixel_low, double pixel_high, int target_ticks,
                                  bool integers) {
  if (low == high) {
    const double pad = integers ? 1.0 : (low == 0 ? 1.0 : std::fabs(low) * 0.1);
    low -= pad;
    high += pad;
  }
  const double step = Step(low, high, target_ticks, integers);
  const double nice_low = Multiple(std::floor(low / step + kEdgeTolerance), step);
  const double nice_high = Multiple(std::ceil(high / step - kEdgeTolerance), step);
  return NumericScale(false, nice_low, nice_high, pixel_low, pixel_high, TicksWithStep(nice_low, nice_high, step));
}

NumericScale NumericScale::Log(double low, double high, double pixel_low, double pixel_high) {
  double pad = 2;
  if (low != high) pad = std::max(std::pow(high / low, 0.04), 1.05);
  const double padded_low = low / pad;
  const double padded_high = high * pad;
  return NumericScale(true, padded_low, padded_high, pixel_low, pixel_high, LogTicks(padded_low, padded_high));
}

double NumericScale::Map(double value) const {
  double t = 0;
  if (log_) {
    t = (std::log10(value) - std::log10(low_)) / (std::log10(high_) - std::log10(low_));
  } else {
    t = (value - low_) / (high_ - low_);
  }
  return pixel_low_ + t * (pixel_high_ - pixel_low_);
}

double CategoryPosition(std::size_t index, std::size_t count, double pixel_first, double pixel_last) {
  if (count <= 1) return (pixel_first + pixel_last) / 2;
  return pixel_first + static_cast<double>(index) * (pixel_last - pixel_first) / static_cast<double>(count - 1);
}

std::string PathData(const std::vector<Point>& points) {
  std::string data;
  char text[64];
  for (std::size_t i = 0; i < points.size(); ++i) {
    std::snprintf(text, sizeof text, "%c%.1f,%.1f", i == 0 ? 'M' : 'L', points[i].x, points[i].y);
    data += text;
  }
  if (points.size() == 1) {
    std::snprintf(text, sizeof text, "L%.1f,%.1f", points[0].x, points[0].y);
    data += text;
  }
  return data;
}

std::string CategoryColour(std::size_t index) { return kTableau10[index % kTableau10.size()]; }

std::string RampColour(double t) {
  if (std::isnan(t)) t = 0;
  const double position = std::clamp(t, 0.0, 1.0) * (kViridis.size() - 1);
  const std::size_t below = std::min(static_cast<std::size_t>(position), kViridis.size() - 2);
  const double mix = position - static_cast<double>(below);
  const Rgb& a = kViridis[below];
  const Rgb& b = kViridis[below + 1];
  char text[8];
  std::snprintf(text, sizeof text, "#%02x%02x%02x", static_cast<int>(std::lround(a.r + (b.r - a.r) * mix)),
                static_cast<int>(std::lround(a.g + (b.g - a.g) * mix)),
                static_cast<int>(std::lround(a.b + (b.b - a.b) * mix)));
  return text;
}

}  // namespace segtune::client::svg
