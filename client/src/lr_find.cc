#include "segtune/client/lr_find.h"

#include <algorithm>
#include <cstdio>
#include <map>
#include <utility>

#include <yaml-cpp/yaml.h>

#include "absl/strings/str_cat.h"
#include "segtune/client/json_output.h"
#include "segtune/client/lr_chart.h"
#include "segtune/client/params.h"
#include "segtune/client/table.h"

namespace segtune::client {
namespace {

using Json = nlohmann::json;

// The settings of an lr_range_test search that a spec may already carry.
constexpr const char* kRangeSettings[] = {"min_lr", "max_lr", "iterations", "smoothing", "diverge_factor"};
// The chart's plot area when the terminal's width is unknown, and its height.
constexpr int kChartWidth = 64;
constexpr int kChartHeight = 16;
constexpr std::size_t kMinStepsToRead = 5;  // what search::SuggestLrRange needs

absl::Status InvalidSpec(const std::string& spec_path, const std::string& problem) {
  return absl::InvalidArgumentError(absl::StrCat("spec ", spec_path, " is invalid:\n  ", problem));
}

// "SGD(momentum=0.9)": the optimizer without lr, which the test sets itself.
std::string OptimizerLabel(const LrFindResult& result) {
  return AlgorithmCall(result.optimizer, /*is_scheduler=*/false, /*all_args=*/false);
}

std::string Ending(const LrFindResult& result) {
  const std::string state = TrialStateName(result.state);
  return result.reason.empty() ? state : absl::StrCat(state, ": ", result.reason);
}

// What to change when the curve cannot say much; empty when it can.
std::string NoteFor(const LrFindResult& result) {
  if (result.curve.size() < kMinStepsToRead) {
    return absl::StrCat(result.curve.size(), " steps are too few to read a curve from (",
                        kMinStepsToRead, " at least)");
  }
  if (!result.suggestion->loss_fell) return "the loss never fell: try a lower --min-lr";
  if (result.state == v1::COMPLETED && result.suggestion->min_loss_lr == result.curve.back().lr) {
    return "the loss was still falling at the largest lr: try a higher --max-lr";
  }
  return "";
}

Json NullIfEmpty(const std::string& text) { return text.empty() ? Json(nullptr) : Json(text); }

}  // namespace

absl::StatusOr<std::string> LrFindSpec(const std::string& spec_yaml, const std::string& spec_path,
                                       const LrFindSettings& settings) {
  YAML::Node root;
  try {
    root = YAML::Load(spec_yaml);
  } catch (const YAML::Exception& error) {
    return InvalidSpec(spec_path, absl::StrCat("not valid YAML: ", error.what()));
  }
  if (!root.IsMap()) return InvalidSpec(spec_path, "the spec must be a mapping of sections (name, data, ...)");
  // Read through a const node: operator[] of a mutable one would add keys.
  // A missing key gives an undefined node, whose type must not be asked.
  const YAML::Node& spec = root;
  auto is_map = [](const YAML::Node& node) { return node.IsDefined() && node.IsMap(); };
  const YAML::Node search = spec["search"];
  const YAML::Node space = is_map(search) ? search["space"] : YAML::Node();
  const YAML::Node optimizers = is_map(space) ? space["optimizer"] : YAML::Node();
  if (!optimizers.IsDefined() || optimizers.IsNull()) {
    return InvalidSpec(spec_path,
                       "search.space.optimizer: required: lr-find tests each optimizer alternative listed there");
  }

  YAML::Node test(YAML::NodeType::Map);
  test["algorithm"] = "lr_range_test";
  if (const YAML::Node seed = search["seed"]; seed.IsDefined()) test["seed"] = seed;
  for (const char* key : kRangeSettings) {
    if (const YAML::Node value = search[key]; value.IsDefined()) test[key] = value;
  }
  // Shortest round-trip text: 1e-07, not 9.9999999999999995e-08.
  if (settings.min_lr) test["min_lr"] = FormatValue(*settings.min_lr);
  if (settings.max_lr) test["max_lr"] = FormatValue(*settings.max_lr);
  if (settings.iterations) test["iterations"] = *settings.iterations;
  YAML::Node test_space(YAML::NodeType::Map);
  test_space["optimizer"] = optimizers;
  test["space"] = test_space;

  // A new document in the same key order, so that the original's nodes are
  // not aliased by the assignment (yaml-cpp assigns through references).
  YAML::Node rewritten(YAML::NodeType::Map);
  for (const auto& entry : spec) {
    const bool is_search = entry.first.IsScalar() && entry.first.Scalar() == "search";
    const bool is_budget = entry.first.IsScalar() && entry.first.Scalar() == "budget";
    if (is_budget && entry.second.IsMap()) {
      // Every optimizer is tested: max_trials would pick a random subset of
      // them, and the test counts steps, not epochs.
      YAML::Node budget(YAML::NodeType::Map);
      for (const auto& setting : entry.second) {
        const std::string key = setting.first.IsScalar() ? setting.first.Scalar() : "";
        if (key != "max_trials" && key != "epochs") budget.force_insert(setting.first, setting.second);
      }
      rewritten.force_insert(entry.first, budget);
      continue;
    }
    rewritten.force_insert(entry.first, is_search ? test : entry.second);
  }
  YAML::Emitter emitter;
  emitter << rewritten;
  if (!emitter.good()) {
    return absl::InternalError(absl::StrCat("cannot write the range test's spec: ", emitter.GetLastError()));
  }
  return absl::StrCat(emitter.c_str(), "\n");
}

absl::StatusOr<LrFindResult> AnalyseLrRangeTrial(const v1::GetTrialMetricsResponse& metrics) {
  const v1::Trial& trial = metrics.trial();
  LrFindResult result;
  result.trial_id = trial.trial_id();
  result.state = trial.state();
  result.reason = trial.reason();
  absl::StatusOr<Json> params = ParseParams(trial.params_json(), trial.trial_id());
  if (!params.ok()) return params.status();
  result.optimizer = params->value("optimizer", Json::object());
  if (result.optimizer.is_object()) result.optimizer.erase("lr");

  // By epoch (= step); a later attempt's row of a step replaces an earlier one.
  std::map<int, const v1::EpochMetrics*> steps;
  for (const v1::EpochMetrics& epoch : metrics.epochs()) {
    auto [it, inserted] = steps.emplace(epoch.epoch(), &epoch);
    if (!inserted && epoch.attempt() > it->second->attempt()) it->second = &epoch;
  }
  std::vector<double> lrs;
  std::vector<double> smoothed;
  for (const auto& [step, epoch] : steps) {
    double values[3] = {0, 0, 0};
    const char* names[3] = {"lr", "train_loss", "smoothed_loss"};
    for (int i = 0; i < 3; ++i) {
      const auto found = epoch->metrics().find(names[i]);
      if (found == epoch->metrics().end()) {
        return absl::InternalError(absl::StrCat("trial ", trial.trial_id(), " epoch ", step, ": no ", names[i],
                                                " metric; not a trial of an LR range test"));
      }
      values[i] = found->second;
    }
    result.curve.push_back({values[0], values[1], values[2]});
    lrs.push_back(values[0]);
    smoothed.push_back(values[2]);
  }
  if (result.curve.size() >= kMinStepsToRead) {
    absl::StatusOr<search::LrRangeSuggestion> suggestion = search::SuggestLrRange(lrs, smoothed);
    if (!suggestion.ok()) {
      return absl::InternalError(
          absl::StrCat("trial ", trial.trial_id(), ": cannot read its curve: ", suggestion.status().message()));
    }
    result.suggestion = *suggestion;
  }
  result.note = NoteFor(result);
  return result;
}

Json LrFindJson(const std::vector<LrFindResult>& results) {
  Json array = Json::array();
  for (const LrFindResult& result : results) {
    Json curve = Json::array();
    for (const LrCurvePoint& point : result.curve) {
      curve.push_back({{"lr", point.lr}, {"loss", point.loss}, {"smoothed_loss", point.smoothed_loss}});
    }
    const std::optional<search::LrRangeSuggestion>& suggestion = result.suggestion;
    array.push_back({
        {"trial_id", result.trial_id},
        {"optimizer", result.optimizer},
        {"suggested_lr", suggestion ? Json(suggestion->suggested_lr) : Json(nullptr)},
        {"range", suggestion ? Json::array({suggestion->range_low, suggestion->range_high}) : Json(nullptr)},
        {"min_loss_lr", suggestion ? Json(suggestion->min_loss_lr) : Json(nullptr)},
        {"steps", result.curve.size()},
        {"state", TrialStateName(result.state)},
        {"reason", NullIfEmpty(result.reason)},
        {"note", NullIfEmpty(result.note)},
        {"curve", std::move(curve)},
    });
  }
  return array;
}

std::string RenderLrFind(const std::vector<LrFindResult>& results, int columns) {
  Table table({"OPTIMIZER", "SUGGESTED LR", "RANGE", "MIN-LOSS LR", "STEPS", "ENDED"});
  table.SetAlign(4, Table::Align::kRight);
  std::string notes;
  std::vector<ChartCurve> curves;
  for (const LrFindResult& result : results) {
    const std::string label = OptimizerLabel(result);
    const std::optional<search::LrRangeSuggestion>& suggestion = result.suggestion;
    std::string range = "-";
    if (suggestion) {
      range = absl::StrCat(FormatLr(suggestion->range_low), " to ", FormatLr(suggestion->range_high));
    }
    table.AddRow({label, suggestion ? FormatLr(suggestion->suggested_lr) : "-", range,
                  suggestion ? FormatLr(suggestion->min_loss_lr) : "-", absl::StrCat(result.curve.size()),
                  Ending(result)});
    if (!result.note.empty()) absl::StrAppend(&notes, "note: ", label, ": ", result.note, "\n");
    ChartCurve curve{label, {}, {}};
    for (const LrCurvePoint& point : result.curve) {
      curve.lrs.push_back(point.lr);
      curve.losses.push_back(point.smoothed_loss);
    }
    curves.push_back(std::move(curve));
  }
  // The y axis labels and the frame take about 12 columns.
  const int width = columns > 0 ? std::clamp(columns - 12, 16, 100) : kChartWidth;
  std::string text = table.Render() + notes;
  const std::string chart = RenderLrChart(curves, width, kChartHeight);
  if (!chart.empty()) absl::StrAppend(&text, "\n", chart);
  return text;
}

absl::Status PrintLrFindResults(TunerClient& client, const std::string& sweep_id, const Output& output) {
  absl::StatusOr<v1::ListTrialsResponse> trials = client.ListTrials(sweep_id);
  if (!trials.ok()) return trials.status();
  std::vector<LrFindResult> results;
  for (const v1::Trial& trial : trials->trials()) {
    absl::StatusOr<v1::GetTrialMetricsResponse> metrics = client.GetTrialMetrics(trial.trial_id());
    if (!metrics.ok()) return metrics.status();
    absl::StatusOr<LrFindResult> result = AnalyseLrRangeTrial(*metrics);
    if (!result.ok()) return result.status();
    results.push_back(*std::move(result));
  }
  if (output.format == OutputFormat::kJson) {
    *output.out << LrFindJson(results).dump(2, ' ', /*ensure_ascii=*/false, Json::error_handler_t::replace)
                << "\n";
  } else {
    *output.out << "\n" << RenderLrFind(results, output.terminal_columns);
  }
  return absl::OkStatus();
}

absl::Status LrFindOnServer(TunerClient& client, const std::string& spec_path, const std::string& spec_yaml,
                            const Output& output) {
  absl::StatusOr<v1::SubmitSweepResponse> submitted = SubmitSpec(client, spec_path, spec_yaml);
  if (!submitted.ok()) return submitted.status();
  const std::string& sweep_id = submitted->sweep_id();
  output.progress_stream() << "range test submitted to " << client.address() << " as sweep " << sweep_id
                           << "\n";
  absl::StatusOr<v1::SweepUpdate> last = FollowSweep(client, sweep_id, output);
  if (!last.ok()) return last.status();
  if (absl::Status printed = PrintLrFindResults(client, sweep_id, output); !printed.ok()) return printed;
  if (last->sweep().state() == v1::SWEEP_CANCELLED) {
    return absl::FailedPreconditionError(absl::StrCat("sweep ", sweep_id, " was cancelled"));
  }
  return absl::OkStatus();
}

}  // namespace segtune::client
