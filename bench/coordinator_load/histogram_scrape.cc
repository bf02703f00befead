#include "histogram_scrape.h"

#include <cstdlib>
#include <limits>
#include <sstream>

namespace segtune::bench {
namespace {

// The number after the last space of a sample line.
double SampleValue(const std::string& line) { return std::strtod(line.c_str() + line.rfind(' ') + 1, nullptr); }

bool StartsWith(const std::string& s, const std::string& prefix) { return s.compare(0, prefix.size(), prefix) == 0; }

}  // namespace

Histogram ParseHistogram(const std::string& page, const std::string& name, const std::string& label) {
  Histogram h;
  std::istringstream lines(page);
  for (std::string line; std::getline(lines, line);) {
    if (line.empty() || line[0] == '#') continue;
    if (!label.empty() && line.find(label) == std::string::npos) continue;
    if (StartsWith(line, name + "_bucket{")) {
      const std::size_t le = line.find("le=\"");
      if (le == std::string::npos) continue;
      const std::string bound = line.substr(le + 4, line.find('"', le + 4) - le - 4);
      const double upper =
          bound == "+Inf" ? std::numeric_limits<double>::infinity() : std::strtod(bound.c_str(), nullptr);
      h.buckets.emplace_back(upper, SampleValue(line));
    } else if (StartsWith(line, name + "_count")) {
      h.count = SampleValue(line);
    } else if (StartsWith(line, name + "_sum")) {
      h.sum = SampleValue(line);
    }
    // With no label asked for, the first series is the histogram: stop at its count.
    if (label.empty() && !h.buckets.empty() && StartsWith(line, name + "_count")) break;
  }
  return h;
}

Histogram Delta(const Histogram& after, const Histogram& before) {
  Histogram d = after;
  if (before.buckets.size() == after.buckets.size()) {
    for (std::size_t i = 0; i < d.buckets.size(); ++i) d.buckets[i].second -= before.buckets[i].second;
  }
  d.count -= before.count;
  d.sum -= before.sum;
  return d;
}

double Quantile(const Histogram& h, double q) {
  if (h.buckets.empty() || h.buckets.back().second <= 0) return -1;
  const double rank = q * h.buckets.back().second;
  double lower = 0;
  double below = 0;
  for (const auto& [upper, cumulative] : h.buckets) {
    if (cumulative >= rank) {
      // Beyond the last finite bound only that bound is known.
      if (upper == std::numeric_limits<double>::infinity()) return lower;
      const double in_bucket = cumulative - below;
      return in_bucket <= 0 ? upper : lower + (upper - lower) * (rank - below) / in_bucket;
    }
    lower = upper;
    below = cumulative;
  }
  return lower;
}

}  // namespace segtune::bench
