#include "segtune/client/report.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "segtune/client/json_output.h"
#include "segtune/client/params.h"
#include "segtune/client/report_svg.h"
#include "segtune/client/table_output.h"
#include "segtune/common/ranking.h"

namespace segtune::client {
namespace {

using Json = nlohmann::json;
using svg::EscapeHtml;

// Every chart is this wide in SVG units; the page scales it down to fit.
constexpr double kChartWidth = 1200;
constexpr char kNoResultColour[] = "#a0a0a0";
// Past this many characters an axis' category label is cut (its tooltip
// keeps it whole).
constexpr std::size_t kMaxCategoryLabel = 18;

constexpr char kStyle[] = R"css(
:root { color-scheme: light; }
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif;
       color: #1d2330; background: #f4f5f8; margin: 0; }
main { max-width: 1240px; margin: 0 auto; padding: 20px 20px 40px; }
h1 { font-size: 26px; margin: 0 0 2px; }
h2 { font-size: 18px; margin: 0 0 4px; }
.sub { color: #5b6475; margin: 0 0 14px; }
code { font: 13px/1.3 ui-monospace, "SFMono-Regular", Menlo, Consolas, monospace; }
section, header { background: #fff; border: 1px solid #dde1e8; border-radius: 8px; padding: 16px 18px;
                  margin: 0 0 18px; }
.facts { display: grid; grid-template-columns: repeat(auto-fill, minmax(220px, 1fr)); gap: 10px 24px; }
.facts div { display: flex; flex-direction: column; }
.facts .k { color: #5b6475; font-size: 12px; text-transform: uppercase; letter-spacing: .04em; }
.facts .v { font-size: 15px; }
.note { color: #5b6475; font-size: 13px; margin: 2px 0 10px; }
.state { display: inline-block; padding: 0 7px; border-radius: 9px; font-size: 12px; line-height: 18px;
         background: #e8eaef; color: #3a4150; margin: 0 4px 2px 0; white-space: nowrap; }
.s-COMPLETED { background: #dcf2e1; color: #1e6b34; }
.s-RUNNING { background: #dde9fb; color: #1f4f99; }
.s-STOPPED { background: #fdf0d5; color: #8a5a00; }
.s-FAILED, .s-DIVERGED { background: #fbe0e0; color: #9b1c1c; }
svg.chart { display: block; width: 100%; height: auto; }
svg text { font: 12px system-ui, -apple-system, "Segoe UI", Roboto, Arial, sans-serif; fill: #3a4150; }
svg .axis-title { font-weight: 600; fill: #1d2330; }
svg .group { font-size: 11px; fill: #7a8294; }
svg .halo { paint-order: stroke; stroke: #fff; stroke-width: 3px; stroke-linejoin: round; }
svg .grid { stroke: #e6e8ee; }
svg .axis { stroke: #8a91a0; }
svg .trial { fill: none; stroke-linecap: round; stroke-linejoin: round; }
svg .trial:hover { stroke-width: 4; opacity: 1; }
body.focus svg .trial { opacity: .08; }
body.focus svg .trial.hl { opacity: 1; stroke-width: 4; }
table { border-collapse: collapse; width: 100%; font-size: 13px; }
th, td { text-align: left; padding: 5px 8px; border-bottom: 1px solid #eceef2; vertical-align: top; }
th { font-size: 12px; color: #5b6475; text-transform: uppercase; letter-spacing: .04em; white-space: nowrap; }
td.id, td.num { white-space: nowrap; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; }
tr.best td { background: #fff8dc; }
tbody tr:hover td { background: #eef3fc; }
footer { color: #7a8294; font-size: 12px; text-align: center; }
)css";

// Hovering a leaderboard row highlights that trial's lines in every chart.
// A nicety only: the charts are complete without it.
constexpr char kScript[] = R"js(
(function () {
  function mark(id, on) {
    document.body.classList.toggle('focus', on);
    document.querySelectorAll('svg .trial').forEach(function (line) {
      line.classList.toggle('hl', on && line.getAttribute('data-trial') === id);
    });
  }
  document.querySelectorAll('tr[data-trial]').forEach(function (row) {
    var id = row.getAttribute('data-trial');
    row.addEventListener('mouseenter', function () { mark(id, true); });
    row.addEventListener('mouseleave', function () { mark(id, false); });
  });
})();
)js";

std::string Fmt(double value) { return absl::StrFormat("%.1f", value); }

// ------------------------------------------------------------ trial facts --

// A best value that can be ranked and drawn.
bool HasResult(const ReportTrial& trial) { return trial.best_value && std::isfinite(*trial.best_value); }

std::string OptimizerName(const ReportTrial& trial) {
  const auto optimizer = trial.params.find("optimizer");
  if (optimizer == trial.params.end() || !optimizer->is_object()) return "?";
  return optimizer->value("name", std::string("?"));
}

// Optimizer names in order of first appearance: index i gets CategoryColour(i).
std::vector<std::string> OptimizerNames(const std::vector<ReportTrial>& trials) {
  std::vector<std::string> names;
  for (const ReportTrial& trial : trials) {
    const std::string name = OptimizerName(trial);
    if (std::find(names.begin(), names.end(), name) == names.end()) names.push_back(name);
  }
  return names;
}

std::string OptimizerColour(const std::vector<std::string>& names, const ReportTrial& trial) {
  const auto at = std::find(names.begin(), names.end(), OptimizerName(trial));
  return svg::CategoryColour(static_cast<std::size_t>(at - names.begin()));
}

// The tooltip of a trial's lines (unescaped).
std::string TrialTitle(const ReportTrial& trial, const std::string& metric) {
  std::string title = absl::StrCat("trial ", trial.trial_id, " (", TrialStateName(trial.state), ")\n",
                                   ParamsSummary(trial.params), "\n");
  if (HasResult(trial)) {
    absl::StrAppend(&title, "best ", metric, " ", FormatMetric(*trial.best_value), " at epoch ", trial.best_epoch);
  } else {
    absl::StrAppend(&title, "no ", metric, " reported");
  }
  if (!trial.reason.empty()) absl::StrAppend(&title, "\n", trial.reason);
  return title;
}

std::string BestTrialId(const ReportData& data) {
  const std::vector<const ReportTrial*> ranked = Leaderboard(data.trials, data.sweep.objective_mode());
  return ranked.empty() ? std::string() : ranked.front()->trial_id;
}

// A trial's line: `attributes` gives its stroke.
std::string TrialPath(const ReportTrial& trial, const std::string& data, const std::string& attributes,
                      const std::string& title, bool best) {
  return absl::StrCat("<path class=\"trial", best ? " best" : "", "\" data-trial=\"", EscapeHtml(trial.trial_id),
                      "\" d=\"", data, "\" ", attributes, "><title>", EscapeHtml(title), "</title></path>\n");
}

std::string SvgOpen(const std::string& id, double height, const std::string& label) {
  return absl::StrCat("<svg id=\"", id, "\" class=\"chart\" viewBox=\"0 0 ", Fmt(kChartWidth), " ", Fmt(height),
                      "\" width=\"", Fmt(kChartWidth), "\" height=\"", Fmt(height), "\" role=\"img\" aria-label=\"",
                      EscapeHtml(label), "\">\n");
}

// ------------------------------------------------------------ line charts --

struct LineChart {
  std::string id;
  std::string metric;  // the epoch metric drawn
  std::string y_label;
  bool log_y = false;
  bool mark_best_epoch = false;
};

struct Series {
  const ReportTrial* trial;
  std::vector<std::pair<int, double>> points;  // (epoch, value)
};

std::vector<Series> CollectSeries(const std::vector<ReportTrial>& trials, const LineChart& chart) {
  std::vector<Series> all;
  for (const ReportTrial& trial : trials) {
    Series series{&trial, {}};
    for (const ReportEpoch& epoch : trial.epochs) {
      const auto value = epoch.metrics.find(chart.metric);
      if (value == epoch.metrics.end() || !std::isfinite(value->second)) continue;
      // A log axis has no place for 0 (CosineAnnealingLR's eta_min = 0).
      if (chart.log_y && value->second <= 0) continue;
      series.points.emplace_back(epoch.epoch, value->second);
    }
    if (!series.points.empty()) all.push_back(std::move(series));
  }
  return all;
}

std::string RenderLineChart(const ReportData& data, const LineChart& chart) {
  const std::vector<Series> series = CollectSeries(data.trials, chart);
  if (series.empty()) {
    return absl::StrCat("<p class=\"note\">No trial has reported ", EscapeHtml(chart.metric), " yet.</p>\n");
  }
  constexpr double kHeight = 400;
  constexpr double kLeft = 72, kRight = kChartWidth - 220, kTop = 16, kBottom = kHeight - 50;
  constexpr double kFirstEpochInset = 14;

  int last_epoch = std::max(1, data.sweep.epochs());
  double low = series.front().points.front().second;
  double high = low;
  for (const Series& one : series) {
    for (const auto& [epoch, value] : one.points) {
      last_epoch = std::max(last_epoch, epoch);
      low = std::min(low, value);
      high = std::max(high, value);
    }
  }
  // Epoch 1 sits a little right of the y axis, so that trials stopped after
  // one epoch (dots) are not hidden by the axis line.
  const svg::NumericScale x =
      svg::NumericScale::Linear(1, last_epoch, kLeft + kFirstEpochInset, kRight, 10, /*integers=*/true);
  const svg::NumericScale y = chart.log_y ? svg::NumericScale::Log(low, high, kBottom, kTop)
                                          : svg::NumericScale::Linear(low, high, kBottom, kTop, 6);

  std::string out = SvgOpen(chart.id, kHeight, absl::StrCat(chart.y_label, " by epoch, one line per trial"));
  for (const double tick : y.ticks()) {
    const std::string at = Fmt(y.Map(tick));
    absl::StrAppend(&out, "<line class=\"grid\" x1=\"", Fmt(kLeft), "\" x2=\"", Fmt(kRight), "\" y1=\"", at,
                    "\" y2=\"", at, "\"/><text x=\"", Fmt(kLeft - 8), "\" y=\"", at,
                    "\" text-anchor=\"end\" dominant-baseline=\"middle\">", svg::FormatNumber(tick), "</text>\n");
  }
  for (const double tick : x.ticks()) {
    const std::string at = Fmt(x.Map(tick));
    absl::StrAppend(&out, "<line class=\"axis\" x1=\"", at, "\" x2=\"", at, "\" y1=\"", Fmt(kBottom), "\" y2=\"",
                    Fmt(kBottom + 5), "\"/><text x=\"", at, "\" y=\"", Fmt(kBottom + 19),
                    "\" text-anchor=\"middle\">", svg::FormatNumber(tick), "</text>\n");
  }
  absl::StrAppend(&out, "<line class=\"axis\" x1=\"", Fmt(kLeft), "\" x2=\"", Fmt(kRight), "\" y1=\"", Fmt(kBottom),
                  "\" y2=\"", Fmt(kBottom), "\"/><line class=\"axis\" x1=\"", Fmt(kLeft), "\" x2=\"", Fmt(kLeft),
                  "\" y1=\"", Fmt(kTop), "\" y2=\"", Fmt(kBottom), "\"/>\n");
  absl::StrAppend(&out, "<text class=\"axis-title\" x=\"", Fmt((kLeft + kRight) / 2), "\" y=\"", Fmt(kHeight - 8),
                  "\" text-anchor=\"middle\">epoch</text>\n");
  absl::StrAppend(&out, "<text class=\"axis-title\" transform=\"translate(16 ", Fmt((kTop + kBottom) / 2),
                  ") rotate(-90)\" text-anchor=\"middle\">", EscapeHtml(chart.y_label), "</text>\n");

  const std::vector<std::string> optimizers = OptimizerNames(data.trials);
  const std::string best_id = BestTrialId(data);
  const Series* best = nullptr;
  for (const Series& one : series) {
    if (one.trial->trial_id == best_id) {
      best = &one;  // drawn last, on top
      continue;
    }
    std::vector<svg::Point> points;
    for (const auto& [epoch, value] : one.points) points.push_back({x.Map(epoch), y.Map(value)});
    // A single epoch is a dot: wide enough to be seen.
    const char* width = points.size() == 1 ? "6" : "1.6";
    absl::StrAppend(&out, TrialPath(*one.trial, svg::PathData(points),
                                    absl::StrCat("stroke=\"", OptimizerColour(optimizers, *one.trial),
                                                 "\" stroke-width=\"", width, "\" opacity=\"0.7\""),
                                    TrialTitle(*one.trial, data.sweep.objective_metric()), false));
  }
  if (best != nullptr) {
    std::vector<svg::Point> points;
    for (const auto& [epoch, value] : best->points) points.push_back({x.Map(epoch), y.Map(value)});
    const std::string colour = OptimizerColour(optimizers, *best->trial);
    absl::StrAppend(&out, TrialPath(*best->trial, svg::PathData(points),
                                    absl::StrCat("stroke=\"", colour, "\" stroke-width=\"",
                                                 points.size() == 1 ? "8" : "3.5", "\""),
                                    TrialTitle(*best->trial, data.sweep.objective_metric()), true));
    if (chart.mark_best_epoch) {
      for (const auto& [epoch, value] : best->points) {
        if (epoch != best->trial->best_epoch) continue;
        absl::StrAppend(&out, "<circle cx=\"", Fmt(x.Map(epoch)), "\" cy=\"", Fmt(y.Map(value)),
                        "\" r=\"6\" fill=\"#fff\" stroke=\"", colour, "\" stroke-width=\"3\"><title>best: trial ",
                        EscapeHtml(best->trial->trial_id), ", epoch ", epoch, ", ", EscapeHtml(chart.metric), " ",
                        FormatMetric(value), "</title></circle>\n");
      }
    }
  }

  // The legend, right of the plot: optimizers with their trial counts, then the best trial.
  const double legend_x = kRight + 28;
  double legend_y = kTop + 10;
  absl::StrAppend(&out, "<text class=\"axis-title\" x=\"", Fmt(legend_x), "\" y=\"", Fmt(legend_y),
                  "\">optimizer</text>\n");
  for (std::size_t i = 0; i < optimizers.size(); ++i) {
    const auto count = std::count_if(series.begin(), series.end(),
                                     [&](const Series& one) { return OptimizerName(*one.trial) == optimizers[i]; });
    if (count == 0) continue;
    legend_y += 20;
    absl::StrAppend(&out, "<line x1=\"", Fmt(legend_x), "\" x2=\"", Fmt(legend_x + 22), "\" y1=\"",
                    Fmt(legend_y - 4), "\" y2=\"", Fmt(legend_y - 4), "\" stroke=\"", svg::CategoryColour(i),
                    "\" stroke-width=\"3\"/><text x=\"", Fmt(legend_x + 30), "\" y=\"", Fmt(legend_y), "\">",
                    EscapeHtml(optimizers[i]), " (", count, ")</text>\n");
  }
  if (best != nullptr) {
    legend_y += 30;
    absl::StrAppend(&out, "<line x1=\"", Fmt(legend_x), "\" x2=\"", Fmt(legend_x + 22), "\" y1=\"",
                    Fmt(legend_y - 4), "\" y2=\"", Fmt(legend_y - 4),
                    "\" stroke=\"#3a4150\" stroke-width=\"3.5\"/><text x=\"", Fmt(legend_x + 30), "\" y=\"",
                    Fmt(legend_y), "\">best trial</text><text class=\"group\" x=\"", Fmt(legend_x + 30), "\" y=\"",
                    Fmt(legend_y + 16), "\">", EscapeHtml(best->trial->trial_id), "</text>\n");
  }
  absl::StrAppend(&out, "</svg>\n");
  return out;
}

// ------------------------------------------------- parallel coordinates --

const Json* Lookup(const Json& params, const std::string& group, const std::string& name) {
  const Json* holder = &params;
  if (!group.empty()) {
    const auto found = params.find(group);
    if (found == params.end() || !found->is_object()) return nullptr;
    holder = &*found;
  }
  const auto value = holder->find(name);
  if (value == holder->end() || value->is_null()) return nullptr;
  return &*value;
}

std::string CategoryLabel(const Json& value) {
  return value.is_string() ? value.get<std::string>() : FormatValue(value);
}

// The label of a trial that lacks the parameter, on a categorical axis.
std::string MissingLabel(const ParallelAxis& axis) { return axis.name == "name" ? "none" : "n/a"; }

// The parameter at (group, name) as an axis, unless it takes a single value.
// The algorithm itself (name "name") counts "none" as a value, since no
// scheduler is a choice of its own; an argument does not, since that a
// trial lacks it follows from its algorithm.
std::optional<ParallelAxis> BuildAxis(const std::vector<ReportTrial>& trials, const std::string& group,
                                      const std::string& name) {
  ParallelAxis axis;
  axis.group = group;
  axis.name = name;
  std::vector<const Json*> present;
  for (const ReportTrial& trial : trials) {
    const Json* value = Lookup(trial.params, group, name);
    if (value == nullptr) {
      axis.has_missing = true;
    } else {
      present.push_back(value);
    }
  }
  const bool numeric = !present.empty() && std::all_of(present.begin(), present.end(), [](const Json* value) {
    return value->is_number();
  });
  if (numeric) {
    std::set<double> distinct;
    for (const Json* value : present) distinct.insert(value->get<double>());
    if (distinct.size() < 2) return std::nullopt;
    axis.low = *distinct.begin();
    axis.high = *distinct.rbegin();
    constexpr double kLogSpan = 20;
    axis.kind = axis.low > 0 && axis.high > kLogSpan * axis.low ? ParallelAxis::Kind::kLog
                                                                 : ParallelAxis::Kind::kLinear;
    return axis;
  }
  axis.kind = ParallelAxis::Kind::kCategorical;
  for (const Json* value : present) {
    const std::string label = CategoryLabel(*value);
    if (std::find(axis.categories.begin(), axis.categories.end(), label) == axis.categories.end()) {
      axis.categories.push_back(label);
    }
  }
  const std::size_t values = axis.categories.size() + (axis.has_missing && name == "name" ? 1 : 0);
  if (values < 2) return std::nullopt;
  return axis;
}

// The argument names of `group` over all trials: lr first, then by name.
std::vector<std::string> ArgumentNames(const std::vector<ReportTrial>& trials, const std::string& group) {
  std::set<std::string> names;
  for (const ReportTrial& trial : trials) {
    const auto algorithm = trial.params.find(group);
    if (algorithm == trial.params.end() || !algorithm->is_object()) continue;
    for (const auto& [name, value] : algorithm->items()) {
      if (name != "name") names.insert(name);
    }
  }
  std::vector<std::string> ordered;
  if (names.erase("lr") > 0) ordered.push_back("lr");
  ordered.insert(ordered.end(), names.begin(), names.end());
  return ordered;
}

// Positions a trial's value on one axis.
class AxisMapper {
 public:
  // `best_first`: every trial, those with a result best first, then the rest.
  AxisMapper(const ParallelAxis& axis, const std::vector<const ReportTrial*>& best_first, double top, double bottom,
             double missing_y)
      : axis_(axis) {
    if (axis.kind == ParallelAxis::Kind::kCategorical) {
      labels_ = axis.categories;
      if (axis.has_missing) labels_.push_back(MissingLabel(axis));
      for (std::size_t i = 0; i < labels_.size(); ++i) {
        positions_.push_back(svg::CategoryPosition(i, labels_.size(), top, bottom));
      }
      SpreadCategories(best_first, labels_.size() > 1 ? positions_[1] - positions_[0] : bottom - top);
      return;
    }
    scale_ = axis.kind == ParallelAxis::Kind::kLog ? svg::NumericScale::Log(axis.low, axis.high, bottom, top)
                                                   : svg::NumericScale::Linear(axis.low, axis.high, bottom, top, 5);
    missing_y_ = missing_y;
  }

  double Y(const ReportTrial& trial) const {
    if (axis_.kind != ParallelAxis::Kind::kCategorical) {
      const Json* value = Lookup(trial.params, axis_.group, axis_.name);
      return value != nullptr && value->is_number() ? scale_->Map(value->get<double>()) : missing_y_;
    }
    return positions_[LabelIndex(trial)] + offsets_.at(&trial);
  }

  // Tick marks and labels left of the axis line at `x`.
  std::string Ticks(double x) const {
    std::string out;
    if (axis_.kind == ParallelAxis::Kind::kCategorical) {
      // Labels closer than a line of text are thinned out.
      const double spacing = labels_.size() > 1 ? std::fabs(positions_[1] - positions_[0]) : 100;
      const std::size_t every = spacing >= 14 ? 1 : static_cast<std::size_t>(std::ceil(14 / spacing));
      for (std::size_t i = 0; i < labels_.size(); i += every) {
        out += Tick(x, positions_[i], labels_[i], axis_.has_missing && i + 1 == labels_.size());
      }
      return out;
    }
    for (const double tick : scale_->ticks()) out += Tick(x, scale_->Map(tick), svg::FormatNumber(tick), false);
    if (axis_.has_missing) out += Tick(x, missing_y_, "n/a", true);
    return out;
  }

 private:
  std::size_t LabelIndex(const ReportTrial& trial) const {
    const Json* value = Lookup(trial.params, axis_.group, axis_.name);
    const std::string label = value == nullptr ? MissingLabel(axis_) : CategoryLabel(*value);
    return static_cast<std::size_t>(std::find(labels_.begin(), labels_.end(), label) - labels_.begin());
  }

  // The trials of one category fan out around its position, best on top, so
  // that their lines (and their colours) stay apart where they meet the axis;
  // a category's position says nothing numeric, so this moves no value.
  void SpreadCategories(const std::vector<const ReportTrial*>& best_first, double spacing) {
    constexpr double kMaxSpread = 12;
    const double spread = std::min(kMaxSpread, spacing / 4);
    std::vector<std::vector<const ReportTrial*>> members(labels_.size());
    for (const ReportTrial* trial : best_first) members[LabelIndex(*trial)].push_back(trial);
    for (const std::vector<const ReportTrial*>& category : members) {
      for (std::size_t i = 0; i < category.size(); ++i) {
        offsets_[category[i]] =
            category.size() == 1 ? 0 : spread * (2.0 * static_cast<double>(i) / (category.size() - 1) - 1);
      }
    }
  }

  static std::string Tick(double x, double y, const std::string& label, bool missing) {
    std::string shown = label;
    if (shown.size() > kMaxCategoryLabel) {
      std::size_t cut = kMaxCategoryLabel - 1;
      // Not inside a UTF-8 sequence: back up over continuation bytes.
      while (cut > 0 && (static_cast<unsigned char>(shown[cut]) & 0xC0) == 0x80) --cut;
      shown = shown.substr(0, cut) + "\u2026";
    }
    return absl::StrCat("<line class=\"axis\" x1=\"", Fmt(x - 4), "\" x2=\"", Fmt(x), "\" y1=\"", Fmt(y),
                        "\" y2=\"", Fmt(y), "\"/><text class=\"halo", missing ? " group" : "", "\" x=\"",
                        Fmt(x - 7), "\" y=\"", Fmt(y), "\" text-anchor=\"end\" dominant-baseline=\"middle\">",
                        EscapeHtml(shown), "<title>", EscapeHtml(label), "</title></text>\n");
  }

  const ParallelAxis& axis_;
  std::vector<std::string> labels_;
  std::vector<double> positions_;
  std::map<const ReportTrial*, double> offsets_;  // from its category's position
  std::optional<svg::NumericScale> scale_;
  double missing_y_ = 0;
};

std::string AxisHeading(double x, double y, const ParallelAxis& axis) {
  const std::string& main = axis.name == "name" ? axis.group : axis.name;
  const std::string group = axis.name == "name" ? "" : axis.group;
  std::string out;
  if (!group.empty()) {
    absl::StrAppend(&out, "<text class=\"group\" x=\"", Fmt(x), "\" y=\"", Fmt(y - 16),
                    "\" text-anchor=\"middle\">", EscapeHtml(group), "</text>");
  }
  const char* scale = axis.kind == ParallelAxis::Kind::kLog ? " (log)" : "";
  absl::StrAppend(&out, "<text class=\"axis-title\" x=\"", Fmt(x), "\" y=\"", Fmt(y), "\" text-anchor=\"middle\">",
                  EscapeHtml(main), scale, "</text>\n");
  return out;
}

std::string RenderParallel(const ReportData& data) {
  const std::vector<ParallelAxis> axes = ParallelAxes(data.trials);
  const std::string& metric = data.sweep.objective_metric();
  const bool minimize = data.sweep.objective_mode() == "min";
  constexpr double kHeight = 470;
  constexpr double kLeft = 130, kRight = kChartWidth - 90, kTop = 62, kBottom = kHeight - 70;
  constexpr double kMissingY = kBottom + 32;

  // The objective axis: each trial's best value. Always linear, so that the
  // colour ramp, which follows the axis, spreads the values evenly.
  std::vector<double> values;
  for (const ReportTrial& trial : data.trials) {
    if (HasResult(trial)) values.push_back(*trial.best_value);
  }
  ParallelAxis objective;
  objective.name = absl::StrCat("best ", metric);
  objective.kind = ParallelAxis::Kind::kLinear;
  objective.has_missing = values.size() < data.trials.size();
  objective.low = values.empty() ? 0 : *std::min_element(values.begin(), values.end());
  objective.high = values.empty() ? 1 : *std::max_element(values.begin(), values.end());
  const svg::NumericScale objective_scale =
      svg::NumericScale::Linear(objective.low, objective.high, kBottom, kTop, 6);

  // Trials with a result best first, then those without.
  const std::vector<const ReportTrial*> ranked = Leaderboard(data.trials, data.sweep.objective_mode());
  std::vector<const ReportTrial*> best_first = ranked;
  for (const ReportTrial& trial : data.trials) {
    if (!HasResult(trial)) best_first.push_back(&trial);
  }
  std::vector<AxisMapper> mappers;
  for (const ParallelAxis& axis : axes) mappers.emplace_back(axis, best_first, kTop, kBottom, kMissingY);
  const std::size_t columns = axes.size() + 1;
  auto axis_x = [&](std::size_t i) { return svg::CategoryPosition(i, columns, kLeft, kRight); };

  std::string out = SvgOpen("chart-parallel", kHeight,
                            absl::StrCat("parallel coordinates: parameters against best ", metric));
  // The objective axis is a bar in the colour ramp, best at its bright end.
  absl::StrAppend(&out, "<defs><linearGradient id=\"ramp\" x1=\"0\" y1=\"1\" x2=\"0\" y2=\"0\">");
  for (int stop = 0; stop <= 8; ++stop) {
    const double t = stop / 8.0;
    absl::StrAppend(&out, "<stop offset=\"", t, "\" stop-color=\"", svg::RampColour(minimize ? 1 - t : t), "\"/>");
  }
  absl::StrAppend(&out, "</linearGradient></defs>\n");

  // Lines first, axes on top so their labels stay readable. Lines go in
  // reverse: trials without a result first (under the rest), then by value,
  // worst first, so the best trial is the last, on top, and thickest.
  const std::string best_id = ranked.empty() ? "" : ranked.front()->trial_id;
  for (auto trial_at = best_first.rbegin(); trial_at != best_first.rend(); ++trial_at) {
    const ReportTrial* trial = *trial_at;
    std::vector<svg::Point> points;
    for (std::size_t i = 0; i < mappers.size(); ++i) points.push_back({axis_x(i), mappers[i].Y(*trial)});
    const bool has_result = HasResult(*trial);
    points.push_back({axis_x(columns - 1), has_result ? objective_scale.Map(*trial->best_value) : kMissingY});
    std::string attributes;
    if (has_result) {
      // The ramp spans the values themselves: the best trial is the brightest.
      const double spread = objective.high - objective.low;
      const double goodness = spread > 0 ? (*trial->best_value - objective.low) / spread : 1;
      const bool best = trial->trial_id == best_id;
      attributes = absl::StrCat("stroke=\"", svg::RampColour(minimize ? 1 - goodness : goodness),
                                "\" stroke-width=\"", best ? "4" : "1.8", "\" opacity=\"", best ? "1" : "0.8", "\"");
    } else {
      attributes = absl::StrCat("stroke=\"", kNoResultColour,
                                "\" stroke-width=\"1.4\" stroke-dasharray=\"5 4\" opacity=\"0.8\"");
    }
    absl::StrAppend(&out, TrialPath(*trial, svg::PathData(points), attributes, TrialTitle(*trial, metric),
                                    trial->trial_id == best_id));
  }

  for (std::size_t i = 0; i < mappers.size(); ++i) {
    const double x = axis_x(i);
    absl::StrAppend(&out, "<line class=\"axis\" x1=\"", Fmt(x), "\" x2=\"", Fmt(x), "\" y1=\"", Fmt(kTop),
                    "\" y2=\"", Fmt(kBottom), "\" stroke-width=\"1.5\"/>\n", mappers[i].Ticks(x),
                    AxisHeading(x, kTop - 22, axes[i]));
  }
  const double objective_x = axis_x(columns - 1);
  // The ramp bar covers the values' range: its colour at a value is the
  // colour of the lines that end there.
  const double ramp_top = objective_scale.Map(objective.high);
  const double ramp_height = std::max(objective_scale.Map(objective.low) - ramp_top, 2.0);
  absl::StrAppend(&out, "<line class=\"axis\" x1=\"", Fmt(objective_x), "\" x2=\"", Fmt(objective_x), "\" y1=\"",
                  Fmt(kTop), "\" y2=\"", Fmt(kBottom), "\" stroke-width=\"1.5\"/>\n<rect x=\"",
                  Fmt(objective_x - 4), "\" y=\"", Fmt(ramp_top), "\" width=\"8\" height=\"", Fmt(ramp_height),
                  "\" fill=\"url(#ramp)\" rx=\"2\"/>\n");
  for (const double tick : objective_scale.ticks()) {
    const std::string at = Fmt(objective_scale.Map(tick));
    absl::StrAppend(&out, "<text class=\"halo\" x=\"", Fmt(objective_x + 10), "\" y=\"", at,
                    "\" dominant-baseline=\"middle\">", svg::FormatNumber(tick), "</text>\n");
  }
  if (objective.has_missing) {
    absl::StrAppend(&out, "<text class=\"halo group\" x=\"", Fmt(objective_x + 10), "\" y=\"", Fmt(kMissingY),
                    "\" dominant-baseline=\"middle\">no result</text>\n");
  }
  absl::StrAppend(&out, "<text class=\"group\" x=\"", Fmt(objective_x), "\" y=\"", Fmt(kTop - 38),
                  "\" text-anchor=\"middle\">", minimize ? "min" : "max", " is best</text>",
                  AxisHeading(objective_x, kTop - 22, objective), "</svg>\n");
  return out;
}

// ----------------------------------------------------------------- header --

std::string Fact(const std::string& key, const std::string& value_html) {
  return absl::StrCat("<div><span class=\"k\">", key, "</span><span class=\"v\">", value_html, "</span></div>\n");
}

std::string StateBadge(v1::TrialState state, const std::string& text) {
  return absl::StrCat("<span class=\"state s-", TrialStateName(state), "\">", text, "</span>");
}

std::string RenderHeader(const ReportData& data) {
  const v1::Sweep& sweep = data.sweep;
  std::string out = absl::StrCat("<header>\n<h1>", EscapeHtml(sweep.name()), "</h1>\n<p class=\"sub\">sweep <code>",
                                 EscapeHtml(sweep.sweep_id()), "</code> &middot; report generated ",
                                 LocalTime(data.generated_unix_ms), "</p>\n<div class=\"facts\">\n");
  absl::StrAppend(&out, Fact("state", SweepStateName(sweep.state())));
  absl::StrAppend(&out, Fact("objective", absl::StrCat(EscapeHtml(sweep.objective_metric()), " (",
                                                       EscapeHtml(sweep.objective_mode()), ")")));
  absl::StrAppend(&out, Fact("algorithm", EscapeHtml(sweep.algorithm())));
  absl::StrAppend(&out, Fact("epochs", absl::StrCat(sweep.epochs(), " per trial")));
  // Trial states in the proto's order, which is their lifecycle order.
  std::string states;
  for (int state = v1::PENDING; state <= v1::CANCELLED; ++state) {
    const std::string name = TrialStateName(static_cast<v1::TrialState>(state));
    const auto count = sweep.trials_by_state().find(name);
    if (count == sweep.trials_by_state().end() || count->second == 0) continue;
    absl::StrAppend(&states, StateBadge(static_cast<v1::TrialState>(state), absl::StrCat(count->second, " ", name)));
  }
  absl::StrAppend(&out, Fact("trials", absl::StrCat(sweep.total_trials(), " total<br>", states)));
  // From the trials below rather than the sweep's own best, so that the page
  // agrees with itself even if a trial reported between the two requests.
  const std::vector<const ReportTrial*> ranked = Leaderboard(data.trials, sweep.objective_mode());
  absl::StrAppend(&out, Fact("best", ranked.empty() ? std::string("no result yet")
                                                    : absl::StrCat(FormatMetric(*ranked.front()->best_value),
                                                                   "<br><span class=\"note\">trial <code>",
                                                                   EscapeHtml(ranked.front()->trial_id),
                                                                   "</code>, epoch ", ranked.front()->best_epoch,
                                                                   "</span>")));
  absl::StrAppend(&out, Fact("created", LocalTime(sweep.created_unix_ms())));
  absl::StrAppend(&out, Fact("finished", LocalTime(sweep.finished_unix_ms())));
  absl::StrAppend(&out, "</div>\n</header>\n");
  return out;
}

// ------------------------------------------------------------ leaderboard --

std::string OtherParams(const Json& params) {
  std::vector<std::string> parts;
  for (const auto& [key, value] : params.items()) {
    if (key != "optimizer" && key != "scheduler") parts.push_back(absl::StrCat(key, "=", FormatValue(value)));
  }
  return absl::StrJoin(parts, ", ");
}

std::string RenderLeaderboard(const ReportData& data) {
  const std::vector<const ReportTrial*> ranked = Leaderboard(data.trials, data.sweep.objective_mode());
  std::string out = "<section id=\"leaderboard\">\n<h2>Leaderboard</h2>\n";
  if (ranked.empty()) {
    absl::StrAppend(&out, "<p class=\"note\">No trial has reported ", EscapeHtml(data.sweep.objective_metric()),
                    " yet.</p>\n");
  } else {
    absl::StrAppend(&out, "<p class=\"note\">Trials with a result, best first (ties: the earlier epoch, then the "
                          "earlier trial). Optimizer and scheduler show lr and the arguments that differ from "
                          "torch's defaults.</p>\n");
    const bool with_other = std::any_of(ranked.begin(), ranked.end(), [](const ReportTrial* trial) {
      return !OtherParams(trial->params).empty();
    });
    absl::StrAppend(&out, "<table>\n<thead><tr><th class=\"num\">#</th><th>trial</th><th>state</th><th class=\"num\">",
                    "best ", EscapeHtml(data.sweep.objective_metric()),
                    "</th><th class=\"num\">epoch</th><th class=\"num\">epochs</th><th>optimizer</th>"
                    "<th>scheduler</th>",
                    with_other ? "<th>other</th>" : "", "</tr></thead>\n<tbody>\n");
    for (std::size_t rank = 1; rank <= ranked.size(); ++rank) {
      const ReportTrial* trial = ranked[rank - 1];
      const auto scheduler = trial->params.find("scheduler");
      const std::string scheduler_text = scheduler == trial->params.end() || scheduler->is_null()
                                             ? std::string("none")
                                             : AlgorithmCall(*scheduler, /*is_scheduler=*/true, /*all_args=*/false);
      const auto optimizer = trial->params.find("optimizer");
      const std::string optimizer_text = optimizer == trial->params.end()
                                             ? std::string("?")
                                             : AlgorithmCall(*optimizer, /*is_scheduler=*/false, /*all_args=*/false);
      absl::StrAppend(&out, "<tr data-trial=\"", EscapeHtml(trial->trial_id), "\"", rank == 1 ? " class=\"best\"" : "",
                      "><td class=\"num\">", rank, "</td><td class=\"id\"><code>", EscapeHtml(trial->trial_id),
                      "</code></td><td title=\"", EscapeHtml(trial->reason), "\">",
                      StateBadge(trial->state, TrialStateName(trial->state)), "</td><td class=\"num\">",
                      FormatMetric(*trial->best_value), "</td><td class=\"num\">", trial->best_epoch,
                      "</td><td class=\"num\">", trial->epochs_done, "/", data.sweep.epochs(), "</td><td><code>",
                      EscapeHtml(optimizer_text), "</code></td><td><code>", EscapeHtml(scheduler_text),
                      "</code></td>");
      if (with_other) absl::StrAppend(&out, "<td><code>", EscapeHtml(OtherParams(trial->params)), "</code></td>");
      absl::StrAppend(&out, "</tr>\n");
    }
    absl::StrAppend(&out, "</tbody>\n</table>\n");
  }
  std::vector<std::string> without;
  for (const ReportTrial& trial : data.trials) {
    if (HasResult(trial)) continue;
    std::string entry = absl::StrCat("<code>", EscapeHtml(trial.trial_id), "</code> ",
                                     StateBadge(trial.state, TrialStateName(trial.state)));
    if (!trial.reason.empty()) absl::StrAppend(&entry, " ", EscapeHtml(trial.reason));
    without.push_back(std::move(entry));
  }
  if (!without.empty()) {
    absl::StrAppend(&out, "<p class=\"note\">Without a result (", without.size(), "): ",
                    absl::StrJoin(without, "; "), "</p>\n");
  }
  absl::StrAppend(&out, "</section>\n");
  return out;
}

std::string Section(const std::string& id, const std::string& heading_html, const std::string& note_html,
                    const std::string& body) {
  return absl::StrCat("<section id=\"", id, "\">\n<h2>", heading_html, "</h2>\n<p class=\"note\">", note_html,
                      "</p>\n", body, "</section>\n");
}

}  // namespace

absl::StatusOr<ReportTrial> ReportTrialFrom(const v1::GetTrialMetricsResponse& metrics) {
  const v1::Trial& trial = metrics.trial();
  absl::StatusOr<Json> params = ParseParams(trial.params_json(), trial.trial_id());
  if (!params.ok()) return params.status();
  ReportTrial report;
  report.trial_id = trial.trial_id();
  report.index = trial.index();
  report.state = trial.state();
  report.params = *std::move(params);
  report.epochs_done = trial.epochs_done();
  if (trial.has_best()) report.best_value = trial.best_value();
  report.best_epoch = trial.best_epoch();
  report.reason = trial.reason();
  for (const v1::EpochMetrics& epoch : metrics.epochs()) {
    report.epochs.push_back({epoch.epoch(), {epoch.metrics().begin(), epoch.metrics().end()}});
  }
  return report;
}

std::vector<ParallelAxis> ParallelAxes(const std::vector<ReportTrial>& trials) {
  std::vector<std::pair<std::string, std::string>> keys;
  for (const std::string group : {"optimizer", "scheduler"}) {
    keys.emplace_back(group, "name");
    for (const std::string& name : ArgumentNames(trials, group)) keys.emplace_back(group, name);
  }
  std::set<std::string> others;
  for (const ReportTrial& trial : trials) {
    for (const auto& [key, value] : trial.params.items()) {
      if (key != "optimizer" && key != "scheduler") others.insert(key);
    }
  }
  for (const std::string& key : others) keys.emplace_back("", key);

  std::vector<ParallelAxis> axes;
  for (const auto& [group, name] : keys) {
    if (std::optional<ParallelAxis> axis = BuildAxis(trials, group, name)) axes.push_back(*std::move(axis));
  }
  return axes;
}

std::vector<const ReportTrial*> Leaderboard(const std::vector<ReportTrial>& trials, const std::string& mode) {
  std::vector<const ReportTrial*> ranked;
  for (const ReportTrial& trial : trials) {
    if (HasResult(trial)) ranked.push_back(&trial);
  }
  const bool maximize = mode != "min";
  std::stable_sort(ranked.begin(), ranked.end(), [maximize](const ReportTrial* a, const ReportTrial* b) {
    return common::RanksAbove({*a->best_value, a->best_epoch, a->index}, {*b->best_value, b->best_epoch, b->index},
                              maximize);
  });
  return ranked;
}

std::string RenderReport(const ReportData& data) {
  const v1::Sweep& sweep = data.sweep;
  const std::string metric = EscapeHtml(sweep.objective_metric());
  std::string page = absl::StrCat(
      "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
      "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n<title>segtune report: ",
      EscapeHtml(sweep.name()), " (", EscapeHtml(sweep.sweep_id()), ")</title>\n<style>", kStyle,
      "</style>\n</head>\n<body>\n<main>\n", RenderHeader(data));

  const std::string line_note =
      "One line per trial, coloured by optimizer; the best trial is the thick line. Hover a line for its trial, "
      "configuration and value.";
  absl::StrAppend(&page, Section("objective", absl::StrCat(metric, " by epoch"),
                                 absl::StrCat(line_note, " The circle marks the best trial's best epoch."),
                                 RenderLineChart(data, {"chart-objective", sweep.objective_metric(),
                                                        sweep.objective_metric(), false, true})));
  absl::StrAppend(&page, Section("lr", "Learning rate by epoch",
                                 absl::StrCat(line_note, " Log scale; an lr of 0 cannot be shown and is left out."),
                                 RenderLineChart(data, {"chart-lr", "lr", "lr (log scale)", true, false})));
  absl::StrAppend(
      &page,
      Section("parameters", absl::StrCat("Parameters against best ", metric),
              absl::StrCat("One axis per parameter that varies across trials, then each trial's best ", metric,
                           ". A line is a trial, coloured by that value (bright is best). A trial without the "
                           "parameter (another optimizer's argument) crosses its axis at n/a; trials without a "
                           "result are grey and dashed and end at &ldquo;no result&rdquo;. Numeric axes spanning "
                           "more than a factor of 20 are log scale."),
              RenderParallel(data)));
  absl::StrAppend(&page, RenderLeaderboard(data), "<footer>segtune report &middot; a single file: no network "
                                                  "needed to view it</footer>\n</main>\n<script>", kScript,
                  "</script>\n</body>\n</html>\n");
  return page;
}

}  // namespace segtune::client
