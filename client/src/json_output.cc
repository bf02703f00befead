#include "segtune/client/json_output.h"

#include <ctime>

#include "absl/strings/str_format.h"
#include "segtune/client/params.h"

namespace segtune::client {
namespace {

using Json = nlohmann::json;

Json NullIfEmpty(const std::string& text) { return text.empty() ? Json(nullptr) : Json(text); }

template <typename Map>
Json MapJson(const Map& map) {
  Json object = Json::object();
  for (const auto& [key, value] : map) object[key] = value;
  return object;
}

}  // namespace

std::string TrialStateName(v1::TrialState state) { return v1::TrialState_Name(state); }

std::string SweepStateName(v1::SweepState state) {
  std::string name = v1::SweepState_Name(state);
  const std::string prefix = "SWEEP_";
  if (name.rfind(prefix, 0) == 0) name.erase(0, prefix.size());
  return name;
}

bool IsFinal(v1::TrialState state) {
  return state != v1::PENDING && state != v1::RUNNING && state != v1::TRIAL_STATE_UNSPECIFIED;
}

Json IsoTime(std::int64_t unix_ms) {
  if (unix_ms <= 0) return nullptr;
  std::time_t seconds = static_cast<std::time_t>(unix_ms / 1000);
  std::tm utc{};
  gmtime_r(&seconds, &utc);
  return absl::StrFormat("%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", utc.tm_year + 1900, utc.tm_mon + 1,
                         utc.tm_mday, utc.tm_hour, utc.tm_min, utc.tm_sec,
                         static_cast<int>(unix_ms % 1000));
}

Json SweepJson(const v1::Sweep& sweep, bool with_spec) {
  Json json = {
      {"sweep_id", sweep.sweep_id()},
      {"name", sweep.name()},
      {"state", SweepStateName(sweep.state())},
      {"objective", {{"metric", sweep.objective_metric()}, {"mode", sweep.objective_mode()}}},
      {"algorithm", sweep.algorithm()},
      {"epochs", sweep.epochs()},
      {"parallelism", sweep.parallelism()},
      {"total_trials", sweep.total_trials()},
      {"trials_by_state", MapJson(sweep.trials_by_state())},
      {"best_value", sweep.has_best() ? Json(sweep.best_value()) : Json(nullptr)},
      {"best_trial_id", sweep.has_best() ? Json(sweep.best_trial_id()) : Json(nullptr)},
      {"created_at", IsoTime(sweep.created_unix_ms())},
      {"finished_at", IsoTime(sweep.finished_unix_ms())},
  };
  if (with_spec) json["spec_yaml"] = sweep.spec_yaml();
  return json;
}

absl::StatusOr<Json> TrialJson(const v1::Trial& trial) {
  absl::StatusOr<Json> params = ParseParams(trial.params_json(), trial.trial_id());
  if (!params.ok()) return params.status();
  Json lineage = Json::parse(trial.lineage_json(), nullptr, /*allow_exceptions=*/false);
  if (!lineage.is_array()) lineage = Json::array();
  return Json{
      {"trial_id", trial.trial_id()},
      {"sweep_id", trial.sweep_id()},
      {"index", trial.index()},
      {"state", TrialStateName(trial.state())},
      {"params", *std::move(params)},
      {"lineage", std::move(lineage)},
      {"epochs_done", trial.epochs_done()},
      {"best_value", trial.has_best() ? Json(trial.best_value()) : Json(nullptr)},
      {"best_epoch", trial.has_best() ? Json(trial.best_epoch()) : Json(nullptr)},
      {"attempt", trial.attempt()},
      {"worker_id", NullIfEmpty(trial.worker_id())},
      {"reason", NullIfEmpty(trial.reason())},
      {"last_metrics", MapJson(trial.last_metrics())},
      {"started_at", IsoTime(trial.started_unix_ms())},
      {"finished_at", IsoTime(trial.finished_unix_ms())},
  };
}

Json EpochsJson(const v1::GetTrialMetricsResponse& response) {
  Json epochs = Json::array();
  for (const v1::EpochMetrics& epoch : response.epochs()) {
    epochs.push_back({{"epoch", epoch.epoch()},
                      {"metrics", MapJson(epoch.metrics())},
                      {"attempt", epoch.attempt()},
                      {"reported_at", IsoTime(epoch.reported_unix_ms())}});
  }
  return epochs;
}

absl::StatusOr<Json> BestJson(const v1::Sweep& sweep, const v1::BestTrial& best) {
  absl::StatusOr<Json> params = ParseParams(best.trial().params_json(), best.trial().trial_id());
  if (!params.ok()) return params.status();
  return Json{
      {"sweep_id", sweep.sweep_id()},
      {"trial_id", best.trial().trial_id()},
      {"value", best.value()},
      {"metric", best.metric()},
      {"mode", sweep.objective_mode()},
      {"epoch", best.epoch()},
      {"params", *std::move(params)},
  };
}

Json WorkerJson(const v1::Worker& worker) {
  Json devices = Json::array();
  for (const v1::DeviceUsage& device : worker.devices()) {
    devices.push_back(Json{{"device", device.device()},
                           {"slots", device.slots()},
                           {"busy_slots", device.busy_slots()},
                           {"utilization", device.utilization()},
                           {"training_seconds", device.training_seconds()}});
  }
  return Json{
      {"worker_id", worker.worker_id()},
      {"name", worker.name()},
      {"hostname", worker.hostname()},
      {"device", worker.device()},
      {"slots", worker.slots()},
      {"busy_slots", worker.busy_slots()},
      {"alive", worker.alive()},
      {"last_seen_at", IsoTime(worker.last_seen_unix_ms())},
      {"running_trial_ids", Json(std::vector<std::string>(worker.running_trial_ids().begin(),
                                                          worker.running_trial_ids().end()))},
      {"devices", std::move(devices)},
  };
}

}  // namespace segtune::client
