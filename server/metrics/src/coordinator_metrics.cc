#include "segtune/metrics/coordinator_metrics.h"

#include <exception>

#include <prometheus/counter.h>
#include <prometheus/exposer.h>
#include <prometheus/gauge.h>
#include <prometheus/registry.h>

#include "absl/strings/str_cat.h"

namespace segtune::metrics {

CoordinatorMetrics::CoordinatorMetrics() : registry_(std::make_shared<prometheus::Registry>()) {
  auto& slots = prometheus::BuildGauge()
                    .Name("segtune_worker_slots")
                    .Help("Worker slots of registered workers, by state")
                    .Register(*registry_);
  slots_busy_ = &slots.Add({{"state", "busy"}});
  slots_free_ = &slots.Add({{"state", "free"}});
  queue_depth_ = &prometheus::BuildGauge()
                      .Name("segtune_queue_depth")
                      .Help("Trials waiting for a worker slot")
                      .Register(*registry_)
                      .Add({});
  running_trials_ = &prometheus::BuildGauge()
                         .Name("segtune_running_trials")
                         .Help("Trials leased to a worker")
                         .Register(*registry_)
                         .Add({});
  running_sweeps_ = &prometheus::BuildGauge()
                         .Name("segtune_running_sweeps")
                         .Help("Sweeps with unfinished trials")
                         .Register(*registry_)
                         .Add({});
  workers_ = &prometheus::BuildGauge()
                  .Name("segtune_workers")
                  .Help("Registered workers")
                  .Register(*registry_)
                  .Add({});
  epochs_reported_ = &prometheus::BuildCounter()
                          .Name("segtune_epochs_reported_total")
                          .Help("Epoch reports stored durably")
                          .Register(*registry_)
                          .Add({});
  trials_finished_ = &prometheus::BuildCounter()
                          .Name("segtune_trials_finished_total")
                          .Help("Trials that reached a final state")
                          .Register(*registry_)
                          .Add({});
}

CoordinatorMetrics::~CoordinatorMetrics() = default;

absl::StatusOr<std::unique_ptr<CoordinatorMetrics>> CoordinatorMetrics::Start(const std::string& listen) {
  std::unique_ptr<CoordinatorMetrics> metrics(new CoordinatorMetrics());
  try {
    // civetweb reports a taken port by throwing from the constructor.
    metrics->exposer_ = std::make_unique<prometheus::Exposer>(listen);
  } catch (const std::exception& e) {
    return absl::UnavailableError(absl::StrCat("metrics-listen: cannot serve on ", listen, ": ", e.what()));
  }
  metrics->exposer_->RegisterCollectable(metrics->registry_);
  return metrics;
}

int CoordinatorMetrics::port() const {
  const std::vector<int> ports = exposer_->GetListeningPorts();
  return ports.empty() ? 0 : ports.front();
}

void CoordinatorMetrics::Update(const SchedulerSnapshot& snapshot) {
  queue_depth_->Set(snapshot.queue_depth);
  running_trials_->Set(snapshot.running_trials);
  running_sweeps_->Set(snapshot.running_sweeps);
  workers_->Set(snapshot.workers);
  slots_busy_->Set(snapshot.slots_busy);
  slots_free_->Set(snapshot.slots_total - snapshot.slots_busy);
  epochs_reported_->Increment(static_cast<double>(snapshot.epochs_reported - last_epochs_reported_));
  trials_finished_->Increment(static_cast<double>(snapshot.trials_finished - last_trials_finished_));
  last_epochs_reported_ = snapshot.epochs_reported;
  last_trials_finished_ = snapshot.trials_finished;
}

}  // namespace segtune::metrics
