#include "segtune/client/table_output.h"

#include <algorithm>
#include <cmath>
#include <ctime>
#include <map>
#include <optional>
#include <set>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "segtune/client/json_output.h"
#include "segtune/client/params.h"
#include "segtune/client/table.h"

namespace segtune::client {
namespace {

using Json = nlohmann::json;

// The trainer's metrics in the order people read them; others follow by name.
const std::vector<std::string> kMetricOrder = {"train_loss", "val_loss",      "val_miou",
                                               "val_pixel_acc", "lr", "epoch_seconds",
                                               "images_per_second"};

// Trial states in lifecycle order, for "5 COMPLETED, 2 RUNNING, ...".
const std::vector<std::string> kStateOrder = {"PENDING", "RUNNING",  "COMPLETED", "STOPPED",
                                              "FAILED",  "DIVERGED", "CANCELLED"};

constexpr std::size_t kMaxReasonWidth = 48;

std::string Truncate(const std::string& text, std::size_t width) {
  if (text.size() <= width) return text;
  return text.substr(0, width - 3) + "...";
}

int FinishedTrials(const v1::Sweep& sweep) {
  int done = 0;
  for (const auto& [state, count] : sweep.trials_by_state()) {
    if (state != "PENDING" && state != "RUNNING") done += count;
  }
  return done;
}

std::string StateCounts(const v1::Sweep& sweep) {
  std::vector<std::string> parts;
  for (const std::string& state : kStateOrder) {
    auto count = sweep.trials_by_state().find(state);
    if (count != sweep.trials_by_state().end() && count->second > 0) {
      parts.push_back(absl::StrCat(count->second, " ", state));
    }
  }
  return parts.empty() ? std::string("none") : absl::StrJoin(parts, ", ");
}

std::string Upper(const std::string& text) { return absl::AsciiStrToUpper(text); }

// The class index of a per-class IoU metric ("val_iou_3" -> 3).
std::optional<int> ClassIoU(const std::string& name) {
  constexpr std::string_view kPrefix = "val_iou_";
  int index = 0;
  if (name.size() <= kPrefix.size() || name.compare(0, kPrefix.size(), kPrefix) != 0 ||
      !absl::SimpleAtoi(name.substr(kPrefix.size()), &index)) {
    return std::nullopt;
  }
  return index;
}

// A bar chart of an epoch's per-class IoUs; empty when it has none.
std::string RenderClassIoU(const v1::EpochMetrics& epoch) {
  constexpr int kBarWidth = 30;
  std::map<int, double> by_class;
  for (const auto& [name, value] : epoch.metrics()) {
    if (std::optional<int> index = ClassIoU(name)) by_class[*index] = value;
  }
  if (by_class.empty()) return "";
  Table table({"CLASS", "IOU", ""});
  table.SetAlign(0, Table::Align::kRight).SetAlign(1, Table::Align::kRight);
  for (const auto& [index, iou] : by_class) {
    const int filled = static_cast<int>(std::lround(std::clamp(iou, 0.0, 1.0) * kBarWidth));
    std::string bar;
    for (int i = 0; i < filled; ++i) bar += "\u2588";
    table.AddRow({absl::StrCat(index), FormatMetric(iou), bar});
  }
  return absl::StrCat("\nper-class IoU at epoch ", epoch.epoch(),
                      " (classes absent from truth and prediction are left out)\n",
                      table.Render());
}

}  // namespace

std::string LocalTime(std::int64_t unix_ms) {
  if (unix_ms <= 0) return "-";
  std::time_t seconds = static_cast<std::time_t>(unix_ms / 1000);
  std::tm local{};
  localtime_r(&seconds, &local);
  char text[32];
  std::strftime(text, sizeof text, "%Y-%m-%d %H:%M:%S", &local);
  return text;
}

std::string RenderSweeps(const v1::ListSweepsResponse& sweeps) {
  if (sweeps.sweeps().empty()) return "no sweeps\n";
  Table table({"SWEEP", "NAME", "STATE", "ALGORITHM", "TRIALS", "BEST", "CREATED"});
  table.SetAlign(4, Table::Align::kRight).SetAlign(5, Table::Align::kRight);
  for (const v1::Sweep& sweep : sweeps.sweeps()) {
    std::string best = sweep.has_best()
                           ? absl::StrCat(sweep.objective_metric(), " ", FormatMetric(sweep.best_value()))
                           : "-";
    table.AddRow({sweep.sweep_id(), sweep.name(), SweepStateName(sweep.state()), sweep.algorithm(),
                  absl::StrCat(FinishedTrials(sweep), "/", sweep.total_trials()), best,
                  LocalTime(sweep.created_unix_ms())});
  }
  return table.Render();
}

std::string RenderSweepStatus(const v1::Sweep& sweep) {
  Table table;
  table.AddRow({"sweep", sweep.sweep_id()});
  table.AddRow({"name", sweep.name()});
  table.AddRow({"state", SweepStateName(sweep.state())});
  table.AddRow({"objective", absl::StrCat(sweep.objective_metric(), " (", sweep.objective_mode(), ")")});
  table.AddRow({"algorithm", sweep.algorithm()});
  table.AddRow({"epochs", absl::StrCat(sweep.epochs(), " per trial")});
  table.AddRow({"parallelism", sweep.parallelism() > 0 ? absl::StrCat(sweep.parallelism())
                                                       : std::string("no cap")});
  table.AddRow({"trials", absl::StrCat(FinishedTrials(sweep), "/", sweep.total_trials(), " done (",
                                       StateCounts(sweep), ")")});
  table.AddRow({"best", sweep.has_best() ? absl::StrCat(FormatMetric(sweep.best_value()), " (trial ",
                                                        sweep.best_trial_id(), ")")
                                         : std::string("-")});
  table.AddRow({"created", LocalTime(sweep.created_unix_ms())});
  table.AddRow({"finished", LocalTime(sweep.finished_unix_ms())});
  return table.Render();
}

// PBT lineage, oldest first: "ep4<-#2 ep8<-#0" (at epoch 4 it copied trial
// index 2), or "" for a trial that never exploited another.
std::string LineageSummary(const std::string& lineage_json) {
  Json lineage = Json::parse(lineage_json, nullptr, /*allow_exceptions=*/false);
  if (!lineage.is_array()) return "";
  std::string text;
  for (const Json& entry : lineage) {
    if (!entry.is_object()) continue;
    absl::StrAppend(&text, text.empty() ? "" : " ", "ep", entry.value("epoch", 0), "<-#", entry.value("donor", 0));
  }
  return text;
}

std::string RenderTrials(const v1::Sweep& sweep, const v1::ListTrialsResponse& trials) {
  if (trials.trials().empty()) return "no trials\n";
  const bool with_lineage = std::any_of(trials.trials().begin(), trials.trials().end(), [](const v1::Trial& trial) {
    return !LineageSummary(trial.lineage_json()).empty();
  });
  // Only retried, resumed or promoted trials make the attempt count worth a column.
  const bool with_attempts = std::any_of(trials.trials().begin(), trials.trials().end(),
                                         [](const v1::Trial& trial) { return trial.attempt() > 1; });
  std::vector<std::string> header = {"TRIAL", "STATE", "PARAMS", "EPOCHS", Upper(sweep.objective_metric())};
  if (with_attempts) header.push_back("ATTEMPTS");
  if (with_lineage) header.push_back("LINEAGE");
  header.push_back("NOTE");
  Table table(header);
  table.SetAlign(3, Table::Align::kRight).SetAlign(4, Table::Align::kRight);
  if (with_attempts) table.SetAlign(5, Table::Align::kRight);
  for (const v1::Trial& trial : trials.trials()) {
    std::string note = trial.state() == v1::RUNNING && !trial.worker_id().empty()
                           ? "on " + trial.worker_id()
                           : Truncate(trial.reason(), kMaxReasonWidth);
    std::vector<std::string> row = {trial.trial_id(), TrialStateName(trial.state()),
                                    ParamsJsonSummary(trial.params_json()),
                                    absl::StrCat(trial.epochs_done(), "/", sweep.epochs()),
                                    trial.has_best() ? FormatMetric(trial.best_value()) : "-"};
    if (with_attempts) row.push_back(absl::StrCat(trial.attempt()));
    if (with_lineage) row.push_back(LineageSummary(trial.lineage_json()));
    row.push_back(std::move(note));
    table.AddRow(row);
  }
  return table.Render();
}

std::string RenderMetrics(const v1::GetTrialMetricsResponse& metrics) {
  const v1::Trial& trial = metrics.trial();
  std::string text = absl::StrCat("trial ", trial.trial_id(), "  ", TrialStateName(trial.state()), "  ",
                                  ParamsJsonSummary(trial.params_json()), "\n");
  if (metrics.epochs().empty()) return text + "no epochs reported\n";

  std::set<std::string> names;
  std::set<int> attempts;
  for (const v1::EpochMetrics& epoch : metrics.epochs()) {
    for (const auto& [name, value] : epoch.metrics()) {
      // Per-class IoUs get their own chart below, not one column each.
      if (!ClassIoU(name)) names.insert(name);
    }
    attempts.insert(epoch.attempt());
  }
  std::vector<std::string> columns;
  for (const std::string& name : kMetricOrder) {
    if (names.erase(name) > 0) columns.push_back(name);
  }
  columns.insert(columns.end(), names.begin(), names.end());
  // Epochs from several attempts (a trial resumed elsewhere) say which is which.
  const bool show_attempt = attempts.size() > 1;

  std::vector<std::string> headers = {"EPOCH"};
  if (show_attempt) headers.push_back("ATTEMPT");
  for (const std::string& column : columns) headers.push_back(Upper(column));
  Table table(headers);
  for (std::size_t i = 0; i < headers.size(); ++i) table.SetAlign(i, Table::Align::kRight);
  for (const v1::EpochMetrics& epoch : metrics.epochs()) {
    std::vector<std::string> row = {absl::StrCat(epoch.epoch())};
    if (show_attempt) row.push_back(absl::StrCat(epoch.attempt()));
    for (const std::string& column : columns) {
      auto value = epoch.metrics().find(column);
      row.push_back(value == epoch.metrics().end() ? "-" : FormatMetric(value->second));
    }
    table.AddRow(std::move(row));
  }
  return text + "\n" + table.Render() + RenderClassIoU(metrics.epochs(metrics.epochs_size() - 1));
}

std::string RenderDevices(const v1::Worker& worker) {
  // A coordinator from before multi-device support sends no devices.
  if (worker.devices().empty()) return worker.device();
  std::vector<std::string> devices;
  for (const v1::DeviceUsage& device : worker.devices()) {
    devices.push_back(absl::StrCat(device.device(), " ", device.busy_slots(), "/", device.slots(), " ",
                                   static_cast<int>(std::lround(device.utilization() * 100)), "%"));
  }
  return absl::StrJoin(devices, ", ");
}

std::string RenderWorkers(const v1::ListWorkersResponse& workers) {
  if (workers.workers().empty()) return "no workers\n";
  Table table({"WORKER", "NAME", "HOST", "DEVICES", "SLOTS", "ALIVE", "LAST SEEN", "RUNNING"});
  table.SetAlign(4, Table::Align::kRight);
  for (const v1::Worker& worker : workers.workers()) {
    std::vector<std::string> running(worker.running_trial_ids().begin(), worker.running_trial_ids().end());
    table.AddRow({worker.worker_id(), worker.name(), worker.hostname(), RenderDevices(worker),
                  absl::StrCat(worker.busy_slots(), "/", worker.slots()), worker.alive() ? "yes" : "no",
                  LocalTime(worker.last_seen_unix_ms()),
                  running.empty() ? std::string("-") : absl::StrJoin(running, ",")});
  }
  return table.Render();
}

std::string RenderLeaderboard(const v1::GetBestResponse& best) {
  if (best.best().empty()) {
    return absl::StrCat("no trial has reported ", best.sweep().objective_metric(), " yet\n");
  }
  Table table({"RANK", "TRIAL", "PARAMS", Upper(best.sweep().objective_metric()), "EPOCH"});
  table.SetAlign(0, Table::Align::kRight).SetAlign(3, Table::Align::kRight).SetAlign(4, Table::Align::kRight);
  int rank = 0;
  for (const v1::BestTrial& entry : best.best()) {
    table.AddRow({absl::StrCat(++rank), entry.trial().trial_id(), ParamsJsonSummary(entry.trial().params_json()),
                  FormatMetric(entry.value()), absl::StrCat(entry.epoch())});
  }
  return table.Render();
}

std::string RenderBestDetail(const v1::Sweep& sweep, const v1::BestTrial& best) {
  std::string text = absl::StrCat("best trial ", best.trial().trial_id(), ": ", best.metric(), " ",
                                  FormatMetric(best.value()), " (", sweep.objective_mode(), ") at epoch ",
                                  best.epoch(), "\n");
  Json params = Json::parse(best.trial().params_json(), nullptr, /*allow_exceptions=*/false);
  if (params.is_discarded() || !params.is_object()) {
    return text + "  params  " + best.trial().params_json() + "\n";
  }
  Table table;
  if (params.contains("optimizer")) {
    table.AddRow({"  optimizer", AlgorithmCall(params["optimizer"], /*is_scheduler=*/false, /*all_args=*/true)});
  }
  if (params.contains("scheduler") && !params["scheduler"].is_null()) {
    table.AddRow({"  scheduler", AlgorithmCall(params["scheduler"], /*is_scheduler=*/true, /*all_args=*/true)});
  }
  for (const auto& [key, value] : params.items()) {
    if (key != "optimizer" && key != "scheduler") table.AddRow({"  " + key, FormatValue(value)});
  }
  return text + table.Render();
}

}  // namespace segtune::client
