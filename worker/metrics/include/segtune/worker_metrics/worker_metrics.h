// The worker's Prometheus metrics (docs/observability.md, section "Worker"):
// one class owns the registry and the HTTP exposer that serves /metrics on
// segtune-worker's --metrics-listen address.
//
// A slot that starts a trial gets a TrialSeries from StartTrial: it looks the
// trial's labelled children up once, so what the training loop does per
// batch is two atomic counter increments; destroying it removes the slot's
// segtune_worker_current_trial series, so per-trial series exist only while
// the trial runs.
//
// Thread-safety: every method of both classes is thread-safe (prometheus-cpp
// metrics are atomic, its families lock). A WorkerMetrics must outlive the
// TrialSeries it hands out. Each slot holds at most one TrialSeries at a time.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "absl/status/statusor.h"

namespace prometheus {
class Collectable;
class Counter;
class Exposer;
class Gauge;
template <typename T>
class Family;
class Registry;
}  // namespace prometheus

namespace segtune::worker_metrics {

class TrialSeries;

class WorkerMetrics {
 public:
  // Serves /metrics on `listen`, HOST:PORT: an IPv4 address or a host name,
  // and a port from 0 to 65535 (0: any free port, see port()). `devices` are
  // the worker's training devices, comma-separated ("cpu", "cuda:0",
  // "cuda:0,cuda:1"); each gets a segtune_worker_device_memory_bytes series
  // (the CUDA allocator on "cuda:N" when LibTorch has CUDA, else the
  // process's resident memory, labelled device="cpu"). Errors name --metrics-listen: InvalidArgument for
  // a malformed address, Unavailable when it cannot be served there (the
  // port is taken, or the host is not one of this machine's addresses).
  static absl::StatusOr<std::unique_ptr<WorkerMetrics>> Start(const std::string& listen, const std::string& devices);
  ~WorkerMetrics();

  WorkerMetrics(const WorkerMetrics&) = delete;
  WorkerMetrics& operator=(const WorkerMetrics&) = delete;

  // `slot` (from 0) starts training `trial_id` of `sweep_id`: sets
  // segtune_worker_current_trial{slot,sweep,trial} to 1 until the returned
  // series is destroyed. The slot's segtune_worker_images_per_second starts
  // at 0 on its first trial and then holds its last epoch's value.
  std::unique_ptr<TrialSeries> StartTrial(int slot, const std::string& sweep_id, const std::string& trial_id);

  // The port actually bound (useful when `listen` asked for port 0).
  int port() const;

 private:
  friend class TrialSeries;

  explicit WorkerMetrics(const std::string& devices);

  // Declared first, destroyed last: the exposer's threads read them.
  std::shared_ptr<prometheus::Registry> registry_;
  prometheus::Counter* images_total_;
  prometheus::Counter* batches_total_;
  prometheus::Counter* data_wait_seconds_total_;
  prometheus::Family<prometheus::Gauge>* images_per_second_;
  prometheus::Family<prometheus::Gauge>* current_trial_;
  std::shared_ptr<prometheus::Collectable> scrape_refresh_;
  std::unique_ptr<prometheus::Exposer> exposer_;
};

// The series one slot updates while it trains one trial.
class TrialSeries {
 public:
  // Removes the slot's segtune_worker_current_trial series.
  ~TrialSeries();

  TrialSeries(const TrialSeries&) = delete;
  TrialSeries& operator=(const TrialSeries&) = delete;

  // One training batch of `images` images went through an optimizer step.
  void RecordBatch(std::int64_t images);

  // An epoch ended: the trainer waited `data_wait_seconds` for its loaders
  // (train::EpochTiming), and trained `images_per_second` (nullopt when the
  // epoch does not measure it, as an LR range test's steps do not: the gauge
  // keeps its last value).
  void RecordEpoch(double data_wait_seconds, std::optional<double> images_per_second);

 private:
  friend class WorkerMetrics;
  TrialSeries(WorkerMetrics& metrics, prometheus::Gauge* current_trial, prometheus::Gauge* images_per_second);

  WorkerMetrics& metrics_;
  prometheus::Gauge* const current_trial_;      // owned by metrics_.current_trial_
  prometheus::Gauge* const images_per_second_;  // the slot's child, kept after the trial
};

}  // namespace segtune::worker_metrics
