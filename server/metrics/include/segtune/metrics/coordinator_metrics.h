// The coordinator's Prometheus metrics (docs/observability.md lists them):
// one class owns the registry and the HTTP exposer (/metrics on
// --metrics-listen).
//
// Two kinds of updates, both kept off the request path:
// - Events (RPC durations, scheduling latency, SQLite commits) are observed
//   as they happen into histograms whose children were created up front, so
//   an observation is a few atomic adds and never a label lookup.
// - Everything the scheduler and the store know (states, queues, per-trial
//   curves) is read when Prometheus scrapes: each scrape takes one snapshot
//   from the source given to Serve and brings the gauges up to date. An
//   epoch report therefore costs the metrics nothing; per-trial and
//   per-sweep series are added when first seen and removed once their trial
//   or sweep is no longer running, so cardinality stays bounded by slots;
//   per-device series likewise live as long as their worker.
//
// Thread-safety: every public method is thread-safe. Observe* and
// RpcHistogram are lock-free.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "segtune/scheduler/scheduler.h"
#include "segtune/store/store.h"

namespace prometheus {
class Counter;
class Exposer;
class Gauge;
class Histogram;
class Registry;
template <typename T>
class Family;
}  // namespace prometheus

namespace segtune::metrics {

// What one scrape shows.
struct CoordinatorSnapshot {
  scheduler::SchedulerStats scheduler;
  // Trials by state of each running sweep, by sweep id (a sweep missing
  // here keeps the counts of the previous scrape).
  std::map<std::string, std::map<store::TrialState, int>> trials_by_sweep;
};

class CoordinatorMetrics {
 public:
  // `rpc_methods` are gRPC method paths ("/segtune.v1.Tuner/SubmitSweep");
  // each gets its histogram child now, labelled "Tuner/SubmitSweep".
  explicit CoordinatorMetrics(const std::vector<std::string>& rpc_methods);
  ~CoordinatorMetrics();
  CoordinatorMetrics(const CoordinatorMetrics&) = delete;
  CoordinatorMetrics& operator=(const CoordinatorMetrics&) = delete;

  // Serves /metrics on `listen` (HOST:PORT); each scrape first applies
  // `source()`. Unavailable (naming --metrics-listen) when the port is taken.
  absl::Status Serve(const std::string& listen, std::function<CoordinatorSnapshot()> source);
  // Stops serving; waits for a scrape in progress (so the source may be
  // destroyed afterwards).
  void StopServing();
  // The port actually bound (useful when `listen` asked for port 0); 0 when
  // not serving.
  int port() const;

  // Events. An RPC's histogram is looked up once per call (an interceptor
  // keeps it); null for methods not counted (health checks, reflection).
  prometheus::Histogram* RpcHistogram(const std::string& method) const;
  void ObserveSchedulingLatency(double seconds);
  void ObserveCommit(double seconds);

  // Brings the snapshot-driven series up to date: what each scrape does.
  void Apply(const CoordinatorSnapshot& snapshot);
  // Every series in Prometheus' text format, as a scrape would get it after
  // applying the source (tests and benchmarks).
  std::string Exposition();

 private:
  class Scraper;
  struct SweepSeries;
  struct TrialSeries;
  struct DeviceSeries;

  // Applies a fresh snapshot when serving with a source.
  void Refresh();
  void ApplySweepsLocked(const CoordinatorSnapshot& snapshot);  // REQUIRES: apply_mutex_ held
  void ApplyTrialsLocked(const scheduler::SchedulerStats& stats);  // REQUIRES: apply_mutex_ held
  void ApplyDevicesLocked(const scheduler::SchedulerStats& stats);  // REQUIRES: apply_mutex_ held
  void RemoveDeviceLocked(DeviceSeries& series);                    // REQUIRES: apply_mutex_ held
  void RemoveSweepLocked(SweepSeries& series);                      // REQUIRES: apply_mutex_ held
  void RemoveTrialLocked(TrialSeries& series);                      // REQUIRES: apply_mutex_ held

  std::shared_ptr<prometheus::Registry> registry_;
  std::shared_ptr<Scraper> scraper_;
  std::unique_ptr<prometheus::Exposer> exposer_;
  std::function<CoordinatorSnapshot()> source_;  // set once by Serve, before the exposer starts

  // Event histograms; the map is filled by the constructor and only read after.
  std::unordered_map<std::string, prometheus::Histogram*> rpc_duration_;
  prometheus::Histogram* scheduling_latency_;
  prometheus::Histogram* commit_duration_;

  // Snapshot-driven series.
  prometheus::Gauge* queue_depth_;
  prometheus::Gauge* running_trials_;
  prometheus::Gauge* running_sweeps_;
  prometheus::Gauge* workers_;
  prometheus::Gauge* slots_busy_;
  prometheus::Gauge* slots_free_;
  prometheus::Counter* epochs_reported_;
  prometheus::Counter* leases_expired_;
  std::map<store::TrialState, prometheus::Counter*> trials_finished_;
  prometheus::Family<prometheus::Gauge>* sweep_trials_;
  prometheus::Family<prometheus::Gauge>* sweep_trials_planned_;
  prometheus::Family<prometheus::Counter>* sweep_epochs_reported_;
  prometheus::Family<prometheus::Gauge>* sweep_best_objective_;
  std::map<std::string, prometheus::Family<prometheus::Gauge>*> trial_gauges_;  // by metric name
  prometheus::Family<prometheus::Gauge>* device_slots_;
  prometheus::Family<prometheus::Gauge>* device_busy_slots_;
  prometheus::Family<prometheus::Gauge>* device_utilization_;
  prometheus::Family<prometheus::Counter>* device_training_seconds_;

  std::mutex refresh_mutex_;  // one scrape's snapshot and apply at a time
  std::mutex apply_mutex_;
  // Counter values already added, GUARDED_BY(apply_mutex_).
  std::uint64_t applied_epochs_reported_ = 0;
  std::uint64_t applied_leases_expired_ = 0;
  std::map<store::TrialState, std::uint64_t> applied_trials_finished_;
  std::map<std::string, std::unique_ptr<SweepSeries>> sweeps_;  // GUARDED_BY(apply_mutex_), by sweep id
  std::map<std::string, std::unique_ptr<TrialSeries>> trials_;  // GUARDED_BY(apply_mutex_), by trial id
  // GUARDED_BY(apply_mutex_), by (worker id, device).
  std::map<std::pair<std::string, std::string>, std::unique_ptr<DeviceSeries>> devices_;
};

}  // namespace segtune::metrics
