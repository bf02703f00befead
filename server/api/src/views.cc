#include "views.h"

#include <algorithm>

#include "segtune/common/ranking.h"

namespace segtune::api {

v1::TrialState ToProto(store::TrialState state) {
  switch (state) {
    case store::TrialState::kPending: return v1::PENDING;
    case store::TrialState::kRunning: return v1::RUNNING;
    case store::TrialState::kCompleted: return v1::COMPLETED;
    case store::TrialState::kStopped: return v1::STOPPED;
    case store::TrialState::kFailed: return v1::FAILED;
    case store::TrialState::kDiverged: return v1::DIVERGED;
    case store::TrialState::kCancelled: return v1::CANCELLED;
  }
  return v1::TRIAL_STATE_UNSPECIFIED;
}

namespace {

v1::SweepState ToProto(store::SweepState state) {
  switch (state) {
    case store::SweepState::kRunning: return v1::SWEEP_RUNNING;
    case store::SweepState::kCompleted: return v1::SWEEP_COMPLETED;
    case store::SweepState::kCancelled: return v1::SWEEP_CANCELLED;
  }
  return v1::SWEEP_STATE_UNSPECIFIED;
}

// True when `a` is a better objective value than `b`.
bool Better(double a, double b, bool maximize) { return maximize ? a > b : a < b; }

}  // namespace

v1::EpochMetrics EpochView(const store::EpochRecord& epoch) {
  v1::EpochMetrics view;
  view.set_epoch(epoch.epoch);
  view.set_attempt(epoch.attempt);
  view.set_reported_unix_ms(epoch.reported_unix_ms);
  for (const auto& [name, value] : epoch.metrics) (*view.mutable_metrics())[name] = value;
  return view;
}

v1::TrialAttempt AttemptView(const store::AttemptRecord& attempt) {
  v1::TrialAttempt view;
  view.set_attempt(attempt.attempt);
  view.set_worker_id(attempt.worker_id);
  view.set_state(ToProto(attempt.state));
  view.set_reason(attempt.reason);
  view.set_started_unix_ms(attempt.started_unix_ms);
  view.set_ended_unix_ms(attempt.ended_unix_ms);
  return view;
}

v1::DeviceUsage DeviceUsageView(const scheduler::DeviceUsage& device) {
  v1::DeviceUsage view;
  view.set_device(device.device);
  view.set_slots(device.slots);
  view.set_busy_slots(device.busy_slots);
  view.set_utilization(device.utilization);
  view.set_training_seconds(device.training_seconds);
  return view;
}

v1::Trial TrialView(const store::TrialRecord& trial, const std::vector<store::EpochRecord>& epochs,
                    const std::string& metric, bool maximize) {
  v1::Trial view;
  view.set_trial_id(trial.trial_id);
  view.set_sweep_id(trial.sweep_id);
  view.set_index(trial.index);
  view.set_state(ToProto(trial.state));
  view.set_params_json(trial.params_json);
  view.set_lineage_json(trial.lineage_json);
  view.set_attempt(trial.attempt);
  if (trial.state == store::TrialState::kRunning) view.set_worker_id(trial.worker_id);
  view.set_reason(trial.reason);
  view.set_started_unix_ms(trial.started_unix_ms);
  view.set_finished_unix_ms(trial.finished_unix_ms);
  view.set_epochs_done(static_cast<int>(epochs.size()));
  for (const store::EpochRecord& epoch : epochs) {
    auto value = epoch.metrics.find(metric);
    if (value == epoch.metrics.end()) continue;
    if (!view.has_best() || Better(value->second, view.best_value(), maximize)) {
      view.set_has_best(true);
      view.set_best_value(value->second);
      view.set_best_epoch(epoch.epoch);
    }
  }
  if (!epochs.empty()) {
    for (const auto& [name, value] : epochs.back().metrics) (*view.mutable_last_metrics())[name] = value;
  }
  return view;
}

absl::StatusOr<v1::SweepUpdate> LoadSweepView(store::Store& store, const std::string& sweep_id) {
  auto sweep = store.GetSweep(sweep_id);
  if (!sweep.ok()) return sweep.status();
  return LoadSweepView(store, *sweep);
}

absl::StatusOr<v1::SweepUpdate> LoadSweepView(store::Store& store, const store::SweepRecord& sweep) {
  auto trials = store.ListTrials(sweep.sweep_id);
  if (!trials.ok()) return trials.status();
  auto epochs = store.ListSweepEpochs(sweep.sweep_id);
  if (!epochs.ok()) return epochs.status();

  v1::SweepUpdate update;
  v1::Sweep& view = *update.mutable_sweep();
  view.set_sweep_id(sweep.sweep_id);
  view.set_name(sweep.name);
  view.set_state(ToProto(sweep.state));
  view.set_objective_metric(sweep.objective_metric);
  view.set_objective_mode(sweep.maximize ? "max" : "min");
  view.set_algorithm(sweep.algorithm);
  view.set_epochs(sweep.epochs);
  view.set_parallelism(sweep.parallelism);
  view.set_total_trials(static_cast<int>(trials->size()));
  view.set_created_unix_ms(sweep.created_unix_ms);
  view.set_finished_unix_ms(sweep.finished_unix_ms);
  view.set_spec_yaml(sweep.spec_yaml);
  static const std::vector<store::EpochRecord> kNoEpochs;
  for (const store::TrialRecord& trial : *trials) {
    auto trial_epochs = epochs->find(trial.trial_id);
    const auto& rows = trial_epochs == epochs->end() ? kNoEpochs : trial_epochs->second;
    *update.add_trials() = TrialView(trial, rows, sweep.objective_metric, sweep.maximize);
    (*view.mutable_trials_by_state())[store::ToString(trial.state)]++;
  }
  std::vector<v1::BestTrial> best = RankTrials(update, 1);
  if (!best.empty()) {
    view.set_has_best(true);
    view.set_best_value(best.front().value());
    view.set_best_trial_id(best.front().trial().trial_id());
  }
  return update;
}

std::vector<v1::BestTrial> RankTrials(const v1::SweepUpdate& view, int top_k) {
  const bool maximize = view.sweep().objective_mode() != "min";
  std::vector<const v1::Trial*> ranked;
  for (const v1::Trial& trial : view.trials()) {
    if (trial.has_best()) ranked.push_back(&trial);
  }
  std::stable_sort(ranked.begin(), ranked.end(), [&](const v1::Trial* a, const v1::Trial* b) {
    return common::RanksAbove({a->best_value(), a->best_epoch(), a->index()},
                              {b->best_value(), b->best_epoch(), b->index()}, maximize);
  });
  if (top_k > 0 && static_cast<int>(ranked.size()) > top_k) ranked.resize(top_k);
  std::vector<v1::BestTrial> best;
  for (const v1::Trial* trial : ranked) {
    v1::BestTrial entry;
    *entry.mutable_trial() = *trial;
    entry.set_value(trial->best_value());
    entry.set_metric(view.sweep().objective_metric());
    entry.set_epoch(trial->best_epoch());
    best.push_back(std::move(entry));
  }
  return best;
}

}  // namespace segtune::api
