#include "segtune/metrics/coordinator_metrics.h"

#include <algorithm>
#include <exception>
#include <set>

#include <prometheus/collectable.h>
#include <prometheus/counter.h>
#include <prometheus/exposer.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>
#include <prometheus/text_serializer.h>

#include "absl/strings/str_cat.h"

namespace segtune::metrics {
namespace {

using store::TrialState;


// Buckets, in seconds. RPCs: sub-millisecond reads up to minute-long long
// polls; commits: an fsync of a WAL page takes 0.1-10 ms on real disks.
prometheus::Histogram::BucketBoundaries RpcBuckets() {
  return {0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
          0.1,    0.25,    0.5,    1,     2.5,    5,     10,   30,    60};
}
prometheus::Histogram::BucketBoundaries SchedulingBuckets() {
  return {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60};
}
prometheus::Histogram::BucketBoundaries CommitBuckets() {
  return {0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1};
}

// "/segtune.v1.Tuner/SubmitSweep" -> "Tuner/SubmitSweep".
std::string MethodLabel(const std::string& path) {
  const std::size_t slash = path.rfind('/');
  if (slash == std::string::npos || slash == 0) return path;
  std::string service = path.substr(1, slash - 1);
  if (const std::size_t dot = service.rfind('.'); dot != std::string::npos) service = service.substr(dot + 1);
  return absl::StrCat(service, "/", path.substr(slash + 1));
}

// Adds the difference between a cumulative count and what was added before.
void AddNew(prometheus::Counter& counter, std::uint64_t total, std::uint64_t& applied) {
  if (total <= applied) return;
  counter.Increment(static_cast<double>(total - applied));
  applied = total;
}

}  // namespace

// Hands the exposer a fresh view on every scrape.
class CoordinatorMetrics::Scraper final : public prometheus::Collectable {
 public:
  explicit Scraper(CoordinatorMetrics* owner) : owner_(owner) {}
  std::vector<prometheus::MetricFamily> Collect() const override {
    owner_->Refresh();
    return owner_->registry_->Collect();
  }

 private:
  CoordinatorMetrics* const owner_;
};

struct CoordinatorMetrics::SweepSeries {
  std::map<TrialState, prometheus::Gauge*> trials;
  prometheus::Gauge* planned = nullptr;
  prometheus::Counter* epochs_reported = nullptr;
  std::uint64_t applied_epochs_reported = 0;
  prometheus::Gauge* best = nullptr;  // added with the first result
};

struct CoordinatorMetrics::DeviceSeries {
  prometheus::Gauge* slots = nullptr;
  prometheus::Gauge* busy_slots = nullptr;
  prometheus::Gauge* utilization = nullptr;
  prometheus::Counter* training_seconds = nullptr;
  double applied_training_seconds = 0;
};

struct CoordinatorMetrics::TrialSeries {
  std::map<std::string, std::string> labels;
  std::map<std::string, prometheus::Gauge*> gauges;  // by family key ("epoch", "lr", ...)
};

CoordinatorMetrics::CoordinatorMetrics(const std::vector<std::string>& rpc_methods)
    : registry_(std::make_shared<prometheus::Registry>()), scraper_(std::make_shared<Scraper>(this)) {
  auto& rpc = prometheus::BuildHistogram()
                  .Name("segtune_rpc_duration_seconds")
                  .Help("Server-side duration of each gRPC call, by method")
                  .Register(*registry_);
  for (const std::string& method : rpc_methods) {
    rpc_duration_[method] = &rpc.Add({{"method", MethodLabel(method)}}, RpcBuckets());
  }
  scheduling_latency_ = &prometheus::BuildHistogram()
                             .Name("segtune_scheduling_latency_seconds")
                             .Help("From a free slot and a runnable trial both being there to the trial's lease")
                             .Register(*registry_)
                             .Add({}, SchedulingBuckets());
  commit_duration_ = &prometheus::BuildHistogram()
                          .Name("segtune_store_commit_seconds")
                          .Help("Duration of each SQLite COMMIT (the durable flush)")
                          .Register(*registry_)
                          .Add({}, CommitBuckets());

  auto& slots = prometheus::BuildGauge()
                    .Name("segtune_worker_slots")
                    .Help("Slots of live workers, by state")
                    .Register(*registry_);
  slots_busy_ = &slots.Add({{"state", "busy"}});
  slots_free_ = &slots.Add({{"state", "free"}});
  auto gauge = [this](const char* name, const char* help) {
    return &prometheus::BuildGauge().Name(name).Help(help).Register(*registry_).Add({});
  };
  queue_depth_ = gauge("segtune_queue_depth", "Trials waiting for a worker slot");
  running_trials_ = gauge("segtune_running_trials", "Trials leased to a worker");
  running_sweeps_ = gauge("segtune_running_sweeps", "Sweeps with unfinished trials");
  workers_ = gauge("segtune_workers", "Live registered workers");
  auto counter = [this](const char* name, const char* help) {
    return &prometheus::BuildCounter().Name(name).Help(help).Register(*registry_).Add({});
  };
  epochs_reported_ = counter("segtune_epochs_reported_total", "Epoch reports stored durably");
  leases_expired_ = counter("segtune_leases_expired_total", "Leases lost because a worker went silent");
  auto& finished = prometheus::BuildCounter()
                       .Name("segtune_trials_finished_total")
                       .Help("Trials that reached a final state, by that state")
                       .Register(*registry_);
  for (TrialState state : store::kAllTrialStates) {
    if (store::IsFinal(state)) trials_finished_[state] = &finished.Add({{"state", store::ToString(state)}});
  }

  sweep_trials_ = &prometheus::BuildGauge()
                       .Name("segtune_sweep_trials")
                       .Help("Trials of each running sweep, by state")
                       .Register(*registry_);
  sweep_trials_planned_ = &prometheus::BuildGauge()
                               .Name("segtune_sweep_trials_planned")
                               .Help("Trials each running sweep runs in all")
                               .Register(*registry_);
  sweep_epochs_reported_ = &prometheus::BuildCounter()
                                .Name("segtune_sweep_epochs_reported_total")
                                .Help("Epoch reports of each running sweep since the coordinator started")
                                .Register(*registry_);
  sweep_best_objective_ = &prometheus::BuildGauge()
                               .Name("segtune_sweep_best_objective")
                               .Help("Best objective value so far of each running sweep")
                               .Register(*registry_);
  trial_gauges_["epoch"] = &prometheus::BuildGauge()
                                .Name("segtune_trial_epoch")
                                .Help("Last epoch reported by each running trial")
                                .Register(*registry_);
  trial_gauges_["epochs"] = &prometheus::BuildGauge()
                                 .Name("segtune_trial_epochs")
                                 .Help("Epochs each running trial trains in all")
                                 .Register(*registry_);
  for (const char* metric : scheduler::kMonitoredTrialMetrics) {
    trial_gauges_[metric] = &prometheus::BuildGauge()
                                 .Name(absl::StrCat("segtune_trial_", metric))
                                 .Help(absl::StrCat("Last ", metric, " reported by each running trial"))
                                 .Register(*registry_);
  }
  device_slots_ = &prometheus::BuildGauge()
                       .Name("segtune_device_slots")
                       .Help("Slots of each device of each live worker")
                       .Register(*registry_);
  device_busy_slots_ = &prometheus::BuildGauge()
                            .Name("segtune_device_busy_slots")
                            .Help("Slots holding a trial, of each device of each live worker")
                            .Register(*registry_);
  device_utilization_ = &prometheus::BuildGauge()
                             .Name("segtune_device_utilization")
                             .Help("Fraction of each device's slot time spent training between the worker's "
                                   "last two heartbeats (0..1)")
                             .Register(*registry_);
  device_training_seconds_ = &prometheus::BuildCounter()
                                  .Name("segtune_device_training_seconds_total")
                                  .Help("Seconds each device's slots spent training, as its worker's heartbeats "
                                        "report them")
                                  .Register(*registry_);
}

CoordinatorMetrics::~CoordinatorMetrics() {
  // Stop serving before the registry and the series go away.
  exposer_.reset();
}

absl::Status CoordinatorMetrics::Serve(const std::string& listen, std::function<CoordinatorSnapshot()> source) {
  source_ = std::move(source);
  try {
    // civetweb reports a taken port by throwing from the constructor.
    exposer_ = std::make_unique<prometheus::Exposer>(listen);
  } catch (const std::exception& e) {
    return absl::UnavailableError(absl::StrCat("metrics-listen: cannot serve on ", listen, ": ", e.what()));
  }
  exposer_->RegisterCollectable(scraper_);
  return absl::OkStatus();
}

void CoordinatorMetrics::StopServing() { exposer_.reset(); }

int CoordinatorMetrics::port() const {
  if (!exposer_) return 0;
  const std::vector<int> ports = exposer_->GetListeningPorts();
  return ports.empty() ? 0 : ports.front();
}

prometheus::Histogram* CoordinatorMetrics::RpcHistogram(const std::string& method) const {
  auto histogram = rpc_duration_.find(method);
  return histogram == rpc_duration_.end() ? nullptr : histogram->second;
}

void CoordinatorMetrics::ObserveSchedulingLatency(double seconds) { scheduling_latency_->Observe(seconds); }

void CoordinatorMetrics::ObserveCommit(double seconds) { commit_duration_->Observe(seconds); }

void CoordinatorMetrics::Refresh() {
  if (!source_) return;
  // The exposer serves scrapes on several threads: a snapshot taken earlier
  // must not be applied after a later one (counters would count twice).
  std::lock_guard<std::mutex> lock(refresh_mutex_);
  Apply(source_());
}

std::string CoordinatorMetrics::Exposition() {
  return prometheus::TextSerializer().Serialize(scraper_->Collect());
}

void CoordinatorMetrics::Apply(const CoordinatorSnapshot& snapshot) {
  const scheduler::SchedulerStats& stats = snapshot.scheduler;
  std::lock_guard<std::mutex> lock(apply_mutex_);
  queue_depth_->Set(stats.queue_depth);
  running_trials_->Set(stats.running_trials);
  running_sweeps_->Set(stats.running_sweeps);
  workers_->Set(stats.workers);
  slots_busy_->Set(stats.slots_busy);
  // A worker that deregistered while holding leases is counted busy with no slots.
  slots_free_->Set(std::max(0, stats.slots_total - stats.slots_busy));
  AddNew(*epochs_reported_, stats.epochs_reported, applied_epochs_reported_);
  AddNew(*leases_expired_, stats.leases_expired, applied_leases_expired_);
  for (const auto& [state, count] : stats.trials_finished) {
    auto counter = trials_finished_.find(state);
    if (counter != trials_finished_.end()) AddNew(*counter->second, count, applied_trials_finished_[state]);
  }
  ApplySweepsLocked(snapshot);
  ApplyTrialsLocked(stats);
  ApplyDevicesLocked(stats);
}

void CoordinatorMetrics::ApplyDevicesLocked(const scheduler::SchedulerStats& stats) {
  std::set<std::pair<std::string, std::string>> live;
  for (const auto& [worker_id, devices] : stats.devices) {
    for (const scheduler::DeviceUsage& device : devices) {
      const std::pair<std::string, std::string> key(worker_id, device.device);
      live.insert(key);
      std::unique_ptr<DeviceSeries>& series = devices_[key];
      if (!series) {
        // The worker id, not its name: names are the operator's and need not be unique.
        const std::map<std::string, std::string> labels = {{"worker", worker_id}, {"device", device.device}};
        series = std::make_unique<DeviceSeries>();
        series->slots = &device_slots_->Add(labels);
        series->busy_slots = &device_busy_slots_->Add(labels);
        series->utilization = &device_utilization_->Add(labels);
        series->training_seconds = &device_training_seconds_->Add(labels);
      }
      series->slots->Set(device.slots);
      series->busy_slots->Set(device.busy_slots);
      series->utilization->Set(device.utilization);
      if (device.training_seconds > series->applied_training_seconds) {
        series->training_seconds->Increment(device.training_seconds - series->applied_training_seconds);
        series->applied_training_seconds = device.training_seconds;
      }
    }
  }
  for (auto it = devices_.begin(); it != devices_.end();) {
    if (live.count(it->first) > 0) {
      ++it;
      continue;
    }
    RemoveDeviceLocked(*it->second);
    it = devices_.erase(it);
  }
}

void CoordinatorMetrics::RemoveDeviceLocked(DeviceSeries& series) {
  device_slots_->Remove(series.slots);
  device_busy_slots_->Remove(series.busy_slots);
  device_utilization_->Remove(series.utilization);
  device_training_seconds_->Remove(series.training_seconds);
}

void CoordinatorMetrics::ApplySweepsLocked(const CoordinatorSnapshot& snapshot) {
  std::set<std::string> running;
  for (const scheduler::SweepStats& sweep : snapshot.scheduler.sweeps) {
    running.insert(sweep.sweep_id);
    std::unique_ptr<SweepSeries>& series = sweeps_[sweep.sweep_id];
    if (!series) {
      series = std::make_unique<SweepSeries>();
      for (TrialState state : store::kAllTrialStates) {
        series->trials[state] = &sweep_trials_->Add({{"sweep", sweep.sweep_id}, {"state", store::ToString(state)}});
      }
      series->planned = &sweep_trials_planned_->Add({{"sweep", sweep.sweep_id}});
      series->epochs_reported = &sweep_epochs_reported_->Add({{"sweep", sweep.sweep_id}});
    }
    series->planned->Set(sweep.trials_planned);
    AddNew(*series->epochs_reported, sweep.epochs_reported, series->applied_epochs_reported);
    if (auto counts = snapshot.trials_by_sweep.find(sweep.sweep_id); counts != snapshot.trials_by_sweep.end()) {
      for (const auto& [state, count] : counts->second) series->trials.at(state)->Set(count);
    }
    if (sweep.has_best) {
      if (series->best == nullptr) {
        series->best = &sweep_best_objective_->Add({{"sweep", sweep.sweep_id}, {"metric", sweep.objective_metric}});
      }
      series->best->Set(sweep.best_value);
    }
  }
  for (auto it = sweeps_.begin(); it != sweeps_.end();) {
    if (running.count(it->first) > 0) {
      ++it;
      continue;
    }
    RemoveSweepLocked(*it->second);
    it = sweeps_.erase(it);
  }
}

void CoordinatorMetrics::ApplyTrialsLocked(const scheduler::SchedulerStats& stats) {
  std::set<std::string> running;
  for (const scheduler::RunningTrialStats& trial : stats.trials) {
    running.insert(trial.trial_id);
    const std::map<std::string, std::string> labels = {{"sweep", trial.sweep_id},
                                                       {"trial", trial.trial_id},
                                                       {"optimizer", trial.optimizer},
                                                       {"scheduler", trial.scheduler}};
    std::unique_ptr<TrialSeries>& series = trials_[trial.trial_id];
    if (series && series->labels != labels) RemoveTrialLocked(*series);  // pbt may change them
    if (!series || series->labels != labels) {
      series = std::make_unique<TrialSeries>();
      series->labels = labels;
    }
    auto set = [&](const std::string& key, double value) {
      prometheus::Gauge*& gauge = series->gauges[key];
      if (gauge == nullptr) gauge = &trial_gauges_.at(key)->Add(labels);
      gauge->Set(value);
    };
    set("epoch", trial.epoch);
    set("epochs", trial.epochs);
    for (const char* metric : scheduler::kMonitoredTrialMetrics) {
      // A metric appears with the first report that has it.
      if (auto value = trial.metrics.find(metric); value != trial.metrics.end()) set(metric, value->second);
    }
  }
  for (auto it = trials_.begin(); it != trials_.end();) {
    if (running.count(it->first) > 0) {
      ++it;
      continue;
    }
    RemoveTrialLocked(*it->second);
    it = trials_.erase(it);
  }
}

void CoordinatorMetrics::RemoveSweepLocked(SweepSeries& series) {
  for (const auto& [state, gauge] : series.trials) sweep_trials_->Remove(gauge);
  sweep_trials_planned_->Remove(series.planned);
  sweep_epochs_reported_->Remove(series.epochs_reported);
  if (series.best != nullptr) sweep_best_objective_->Remove(series.best);
}

void CoordinatorMetrics::RemoveTrialLocked(TrialSeries& series) {
  for (const auto& [key, gauge] : series.gauges) trial_gauges_.at(key)->Remove(gauge);
  series.gauges.clear();
}

}  // namespace segtune::metrics
