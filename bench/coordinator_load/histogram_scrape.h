// Histograms read from a Prometheus text page (/metrics), and quantiles of
// the observations made between two scrapes, estimated as Prometheus'
// histogram_quantile does (linear within the bucket).
//
// Thread-safety: plain values and pure functions.
#pragma once

#include <string>
#include <utility>
#include <vector>

namespace segtune::bench {

struct Histogram {
  std::vector<std::pair<double, double>> buckets;  // (upper bound, cumulative count), +Inf last
  double count = 0;
  double sum = 0;
};

// The histogram `name` from `page`, restricted to series whose labels contain
// `label` (e.g. `method="WorkerHub/ReportEpoch"`; empty: the first series).
// Empty (no buckets) when the page has no such series.
Histogram ParseHistogram(const std::string& page, const std::string& name, const std::string& label = "");

// `after` minus `before`, bucket by bucket (the same series scraped twice).
Histogram Delta(const Histogram& after, const Histogram& before);

// The q-quantile (0..1) of a histogram's observations; -1 when it has none.
double Quantile(const Histogram& h, double q);

}  // namespace segtune::bench
