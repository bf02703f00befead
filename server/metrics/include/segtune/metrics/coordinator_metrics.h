// The coordinator's Prometheus metrics: one class owns the registry and the
// HTTP exposer (/metrics on --metrics-listen). Values come from scheduler
// snapshots taken off the request path, so RPC handlers never touch
// prometheus-cpp.
//
// Thread-safety: Update may be called from any thread; prometheus-cpp
// metrics are internally synchronized.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/statusor.h"

namespace prometheus {
class Counter;
class Exposer;
class Gauge;
class Registry;
}  // namespace prometheus

namespace segtune::metrics {

// What the scheduler knows at one moment.
struct SchedulerSnapshot {
  int queue_depth = 0;            // PENDING trials
  int running_trials = 0;
  int running_sweeps = 0;
  int workers = 0;                // registered and not deregistered
  int slots_total = 0;
  int slots_busy = 0;
  std::uint64_t epochs_reported = 0;   // since the coordinator started
  std::uint64_t trials_finished = 0;   // since the coordinator started
};

class CoordinatorMetrics {
 public:
  // Serves /metrics on `listen` (HOST:PORT). Fails when the port is taken.
  static absl::StatusOr<std::unique_ptr<CoordinatorMetrics>> Start(const std::string& listen);
  ~CoordinatorMetrics();

  void Update(const SchedulerSnapshot& snapshot);

  // The port actually bound (useful when `listen` asked for port 0).
  int port() const;

 private:
  CoordinatorMetrics();

  std::shared_ptr<prometheus::Registry> registry_;
  std::unique_ptr<prometheus::Exposer> exposer_;
  prometheus::Gauge* queue_depth_;
  prometheus::Gauge* running_trials_;
  prometheus::Gauge* running_sweeps_;
  prometheus::Gauge* workers_;
  prometheus::Gauge* slots_busy_;
  prometheus::Gauge* slots_free_;
  prometheus::Counter* epochs_reported_;
  prometheus::Counter* trials_finished_;
  std::uint64_t last_epochs_reported_ = 0;   // GUARDED_BY(Update's caller: one dispatcher thread)
  std::uint64_t last_trials_finished_ = 0;
};

}  // namespace segtune::metrics
