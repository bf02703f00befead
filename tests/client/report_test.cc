#include "segtune/client/report.h"

#include <unistd.h>

#include <atomic>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "fixtures.h"
#include "segtune/client/commands.h"
#include "segtune/client/errors.h"
#include "segtune/client/report_svg.h"
#include "segtune/v1/segtune.grpc.pb.h"

namespace segtune::client {
namespace {

using nlohmann::json;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Not;
namespace fs = std::filesystem;

// ------------------------------------------------------------------ svg --

TEST(ReportSvgTest, NiceTicksAreRoundStepsWithinTheRange) {
  EXPECT_THAT(svg::NiceTicks(0, 1, 5), ElementsAre(0, 0.2, 0.4, 0.6, 0.8, 1));
  EXPECT_THAT(svg::NiceTicks(0.13, 0.61, 5), ElementsAre(0.2, 0.3, 0.4, 0.5, 0.6));
  EXPECT_THAT(svg::NiceTicks(-35, 40, 3), ElementsAre(-20, 0, 20, 40));
  // Epochs: never a step below 1.
  EXPECT_THAT(svg::NiceTicks(1, 4, 10, /*integers=*/true), ElementsAre(1, 2, 3, 4));
  EXPECT_THAT(svg::NiceTicks(2, 2, 5), ElementsAre(2));
  EXPECT_TRUE(svg::NiceTicks(1, 0, 5).empty());
  EXPECT_TRUE(svg::NiceTicks(0, NAN, 5).empty());
}

TEST(ReportSvgTest, LogTicksAreDecadesThenOneTwoFiveThenLinear) {
  EXPECT_THAT(svg::LogTicks(1e-4, 0.1), ElementsAre(1e-4, 1e-3, 1e-2, 1e-1));
  // One decade in range: 2x and 5x multiples are added.
  EXPECT_THAT(svg::LogTicks(0.02, 0.3),
              ElementsAre(::testing::DoubleEq(0.02), ::testing::DoubleEq(0.05), ::testing::DoubleEq(0.1),
                          ::testing::DoubleEq(0.2)));
  // Less than a factor 2: round linear ticks.
  EXPECT_THAT(svg::LogTicks(0.05, 0.08),
              ElementsAre(::testing::DoubleEq(0.05), ::testing::DoubleEq(0.06), ::testing::DoubleEq(0.07),
                          ::testing::DoubleEq(0.08)));
  EXPECT_TRUE(svg::LogTicks(0, 1).empty());
}

TEST(ReportSvgTest, LinearScaleExtendsToRoundValuesAndMapsOntoPixels) {
  const svg::NumericScale scale = svg::NumericScale::Linear(0.13, 0.61, 400, 0, 5);
  EXPECT_FALSE(scale.log());
  EXPECT_DOUBLE_EQ(scale.domain_low(), 0.1);
  EXPECT_DOUBLE_EQ(scale.domain_high(), 0.7);
  EXPECT_NEAR(scale.Map(0.1), 400, 1e-9);
  EXPECT_NEAR(scale.Map(0.7), 0, 1e-9);
  EXPECT_NEAR(scale.Map(0.4), 200, 1e-9);
  EXPECT_THAT(scale.ticks(), ElementsAre(0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7));

  // A single value is widened around itself, not divided by zero.
  const svg::NumericScale flat = svg::NumericScale::Linear(0.5, 0.5, 100, 0, 5);
  EXPECT_LT(flat.domain_low(), 0.5);
  EXPECT_GT(flat.domain_high(), 0.5);
  EXPECT_NEAR(flat.Map(0.5), 50, 1e-9);
}

TEST(ReportSvgTest, LogScaleMapsDecadesEvenly) {
  const svg::NumericScale scale = svg::NumericScale::Log(1e-4, 1e-1, 300, 0);
  EXPECT_TRUE(scale.log());
  EXPECT_LT(scale.domain_low(), 1e-4);
  EXPECT_GT(scale.domain_high(), 1e-1);
  const double step = scale.Map(1e-3) - scale.Map(1e-4);
  EXPECT_NEAR(scale.Map(1e-2) - scale.Map(1e-3), step, 1e-9);
  EXPECT_NEAR(scale.Map(1e-1) - scale.Map(1e-2), step, 1e-9);
  EXPECT_LT(step, 0);  // upwards on the page
  EXPECT_THAT(scale.ticks(), ElementsAre(1e-4, 1e-3, 1e-2, 1e-1));

  const svg::NumericScale flat = svg::NumericScale::Log(0.01, 0.01, 100, 0);
  EXPECT_DOUBLE_EQ(flat.domain_low(), 0.005);
  EXPECT_DOUBLE_EQ(flat.domain_high(), 0.02);
}

TEST(ReportSvgTest, CategoriesAreSpreadOverTheWholeRange) {
  EXPECT_DOUBLE_EQ(svg::CategoryPosition(0, 3, 10, 30), 10);
  EXPECT_DOUBLE_EQ(svg::CategoryPosition(1, 3, 10, 30), 20);
  EXPECT_DOUBLE_EQ(svg::CategoryPosition(2, 3, 10, 30), 30);
  EXPECT_DOUBLE_EQ(svg::CategoryPosition(0, 1, 10, 30), 20);
}

TEST(ReportSvgTest, FormatsNumbersShortly) {
  EXPECT_EQ(svg::FormatNumber(0), "0");
  EXPECT_EQ(svg::FormatNumber(0.25), "0.25");
  EXPECT_EQ(svg::FormatNumber(0.0035), "0.0035");
  EXPECT_EQ(svg::FormatNumber(1200), "1200");
  EXPECT_EQ(svg::FormatNumber(12000), "12000");
  EXPECT_EQ(svg::FormatNumber(1e-4), "1e-4");
  EXPECT_EQ(svg::FormatNumber(1.5e-5), "1.5e-5");
  EXPECT_EQ(svg::FormatNumber(250000), "2.5e5");
  EXPECT_EQ(svg::FormatNumber(-0.5), "-0.5");
  EXPECT_EQ(svg::FormatNumber(0.1 + 0.2), "0.3");
}

TEST(ReportSvgTest, PathDataHasOneDecimalAndDrawsASinglePointAsADot) {
  EXPECT_EQ(svg::PathData({{1, 2}, {3.25, 4.04}}), "M1.0,2.0L3.2,4.0");
  EXPECT_EQ(svg::PathData({{1, 2}}), "M1.0,2.0L1.0,2.0");
  EXPECT_EQ(svg::PathData({}), "");
}

TEST(ReportSvgTest, ColoursAreHexAndThePaletteRepeats) {
  EXPECT_EQ(svg::RampColour(0), "#440154");
  EXPECT_EQ(svg::RampColour(1), "#fde725");
  EXPECT_EQ(svg::RampColour(-3), "#440154");
  EXPECT_EQ(svg::RampColour(0.5), "#21918c");
  EXPECT_NE(svg::CategoryColour(0), svg::CategoryColour(1));
  EXPECT_EQ(svg::CategoryColour(10), svg::CategoryColour(0));
}

TEST(ReportSvgTest, EscapesEveryHtmlSpecialCharacter) {
  EXPECT_EQ(svg::EscapeHtml(R"(<a href="x">&'</a>)"), "&lt;a href=&quot;x&quot;&gt;&amp;&#39;&lt;/a&gt;");
  EXPECT_EQ(svg::EscapeHtml("plain"), "plain");
}

// --------------------------------------------------------------- report --

ReportTrial MakeReportTrial(int index, const std::string& params, std::vector<double> objective, double lr0,
                            v1::TrialState state = v1::COMPLETED) {
  ReportTrial trial;
  trial.trial_id = "s1-000" + std::to_string(index);
  trial.index = index;
  trial.state = state;
  trial.params = json::parse(params);
  for (std::size_t i = 0; i < objective.size(); ++i) {
    const int epoch = static_cast<int>(i) + 1;
    trial.epochs.push_back({epoch, {{"val_miou", objective[i]}, {"lr", lr0 * std::pow(0.5, i)}, {"val_loss", 1.0}}});
    if (!trial.best_value || objective[i] > *trial.best_value) {
      trial.best_value = objective[i];
      trial.best_epoch = epoch;
    }
  }
  trial.epochs_done = static_cast<int>(objective.size());
  return trial;
}

// Four trials of two optimizers and two schedulers (one without), plus one
// that failed before its first epoch.
ReportData MakeReportData() {
  ReportData data;
  data.sweep = testing::MakeSweep();
  data.sweep.set_epochs(3);
  data.generated_unix_ms = 1714565000000;
  data.trials.push_back(MakeReportTrial(
      0, R"({"optimizer": {"name": "SGD", "lr": 0.1, "momentum": 0.0}, "scheduler": {"name": "StepLR", "gamma": 0.5},
             "training.batch_size": 16})",
      {0.2, 0.4, 0.5}, 0.1));
  data.trials.push_back(MakeReportTrial(
      1, R"({"optimizer": {"name": "SGD", "lr": 0.05, "momentum": 0.9},
             "scheduler": {"name": "ExponentialLR", "gamma": 0.8},
             "training.batch_size": 32})",
      {0.3, 0.6, 0.7}, 0.05));
  data.trials.push_back(MakeReportTrial(
      2, R"({"optimizer": {"name": "Adam", "lr": 0.001, "betas": [0.9, 0.999]}, "training.batch_size": 16})",
      {0.25}, 0.001, v1::STOPPED));
  data.trials.push_back(MakeReportTrial(
      3, R"({"optimizer": {"name": "Adam", "lr": 0.003, "betas": [0.9, 0.999]},
             "scheduler": {"name": "StepLR", "gamma": 0.5},
             "training.batch_size": 32})",
      {0.1, 0.35}, 0.003));
  ReportTrial failed = MakeReportTrial(4, R"({"optimizer": {"name": "SGD", "lr": 1.0, "momentum": 0.9}})", {}, 1.0,
                                       v1::FAILED);
  failed.reason = "out of memory";
  data.trials.push_back(failed);
  return data;
}

// The text of the <svg> element with this id.
std::string Chart(const std::string& html, const std::string& id) {
  const std::size_t start = html.find("<svg id=\"" + id + "\"");
  if (start == std::string::npos) return "";
  return html.substr(start, html.find("</svg>", start) - start);
}

int Count(const std::string& text, const std::string& needle) {
  int count = 0;
  for (std::size_t at = text.find(needle); at != std::string::npos; at = text.find(needle, at + 1)) ++count;
  return count;
}

TEST(ReportTest, DrawsOneLinePerTrialInEachChart) {
  const ReportData data = MakeReportData();
  const std::string html = RenderReport(data);
  // The failed trial has no epoch: no line by epoch, but a line in the
  // parallel coordinates (grey and dashed).
  EXPECT_EQ(Count(Chart(html, "chart-objective"), "<path class=\"trial"), 4);
  EXPECT_EQ(Count(Chart(html, "chart-lr"), "<path class=\"trial"), 4);
  const std::string parallel = Chart(html, "chart-parallel");
  EXPECT_EQ(Count(parallel, "<path class=\"trial"), 5);
  EXPECT_EQ(Count(parallel, "stroke-dasharray"), 1);
  EXPECT_THAT(parallel, HasSubstr(">no result<"));
  // The best trial (s1-0001, 0.7) is drawn last and highlighted.
  for (const std::string id : {"chart-objective", "chart-lr", "chart-parallel"}) {
    const std::string chart = Chart(html, id);
    EXPECT_EQ(Count(chart, "<path class=\"trial best\""), 1) << id;
    EXPECT_LT(chart.find("data-trial=\"s1-0000\""), chart.find("data-trial=\"s1-0001\"")) << id;
  }
  // Every line has a tooltip naming its trial, configuration and value.
  EXPECT_THAT(Chart(html, "chart-objective"),
              HasSubstr("<title>trial s1-0001 (COMPLETED)\nSGD(lr=0.05, momentum=0.9) + "
                        "ExponentialLR(gamma=0.8), training.batch_size=32\nbest val_miou 0.7000 at epoch 3</title>"));
}

TEST(ReportTest, HeaderNamesTheSweepAndItsBest) {
  const std::string html = RenderReport(MakeReportData());
  EXPECT_THAT(html, HasSubstr("<h1>seed-study</h1>"));
  EXPECT_THAT(html, HasSubstr("<code>s1</code>"));
  EXPECT_THAT(html, HasSubstr("val_miou (max)"));
  EXPECT_THAT(html, HasSubstr(">grid<"));
  EXPECT_THAT(html, HasSubstr("1 COMPLETED</span>"));
  EXPECT_THAT(html, HasSubstr("1 RUNNING</span>"));
  // The best from the trials themselves (the sweep says s1-0000 with 0.612).
  EXPECT_THAT(html, HasSubstr("0.7000<br><span class=\"note\">trial <code>s1-0001</code>, epoch 3</span>"));
}

TEST(ReportTest, EscapesEveryStringFromTheSpecAndTheParams) {
  ReportData data = MakeReportData();
  data.sweep.set_name("<script>alert(1)</script>");
  data.sweep.set_objective_metric("val_<b>");
  data.trials[0].params["optimizer"]["name"] = "Ev\"il<opt>";
  data.trials[1].params["scheduler"] = {{"name", "LambdaLR"}, {"lr_lambda", "1 / (1 + epoch) < 2 && 'x'"}};
  data.trials[2].trial_id = "s1-<0002>";
  data.trials[4].reason = "<img src=x onerror=alert(1)>";
  const std::string html = RenderReport(data);
  EXPECT_THAT(html, Not(HasSubstr("<script>alert")));
  EXPECT_THAT(html, HasSubstr("&lt;script&gt;alert(1)&lt;/script&gt;"));
  EXPECT_THAT(html, Not(HasSubstr("val_<b>")));
  EXPECT_THAT(html, HasSubstr("val_&lt;b&gt;"));
  EXPECT_THAT(html, Not(HasSubstr("<opt>")));
  EXPECT_THAT(html, HasSubstr("Ev&quot;il&lt;opt&gt;"));
  EXPECT_THAT(html, Not(HasSubstr("< 2 && 'x'")));
  EXPECT_THAT(html, Not(HasSubstr("<0002>")));
  EXPECT_THAT(html, Not(HasSubstr("<img")));
  // The page's one script is its own.
  EXPECT_EQ(Count(html, "<script>"), 1);
}

TEST(ReportTest, IsSelfContained) {
  const std::string html = RenderReport(MakeReportData());
  EXPECT_THAT(html, ::testing::StartsWith("<!DOCTYPE html>"));
  EXPECT_THAT(html, Not(HasSubstr("http://")));
  EXPECT_THAT(html, Not(HasSubstr("https://")));
  EXPECT_THAT(html, Not(HasSubstr("src=")));
  EXPECT_THAT(html, Not(HasSubstr("<link")));
  EXPECT_THAT(html, Not(HasSubstr("@import")));
  EXPECT_THAT(html, Not(HasSubstr("url(http")));
}

TEST(ReportTest, ParallelAxesAreTheVaryingParameters) {
  const std::vector<ParallelAxis> axes = ParallelAxes(MakeReportData().trials);
  std::vector<std::string> names;
  for (const ParallelAxis& axis : axes) names.push_back(axis.group + "." + axis.name);
  // Adam's betas and StepLR's gamma... gamma varies (0.5, 0.8); betas do not.
  EXPECT_THAT(names, ElementsAre("optimizer.name", "optimizer.lr", "optimizer.momentum", "scheduler.name",
                                 "scheduler.gamma", ".training.batch_size"));

  const ParallelAxis& optimizer = axes[0];
  EXPECT_EQ(optimizer.kind, ParallelAxis::Kind::kCategorical);
  EXPECT_THAT(optimizer.categories, ElementsAre("SGD", "Adam"));
  EXPECT_FALSE(optimizer.has_missing);

  const ParallelAxis& lr = axes[1];  // 0.001 .. 1: a factor 1000
  EXPECT_EQ(lr.kind, ParallelAxis::Kind::kLog);
  EXPECT_DOUBLE_EQ(lr.low, 0.001);
  EXPECT_DOUBLE_EQ(lr.high, 1.0);

  const ParallelAxis& momentum = axes[2];  // 0 and 0.9, Adam has none
  EXPECT_EQ(momentum.kind, ParallelAxis::Kind::kLinear);
  EXPECT_TRUE(momentum.has_missing);

  const ParallelAxis& scheduler = axes[3];  // one trial has none: a choice of its own
  EXPECT_EQ(scheduler.kind, ParallelAxis::Kind::kCategorical);
  EXPECT_THAT(scheduler.categories, ElementsAre("StepLR", "ExponentialLR"));
  EXPECT_TRUE(scheduler.has_missing);

  EXPECT_EQ(axes[4].kind, ParallelAxis::Kind::kLinear);  // gamma 0.5 .. 0.8
  EXPECT_EQ(axes[5].kind, ParallelAxis::Kind::kLinear);  // batch size 16 .. 32: a factor 2
}

TEST(ReportTest, ParallelAxesForOtherValueKinds) {
  std::vector<ReportTrial> trials(3);
  trials[0].params = json::parse(R"({"optimizer": {"name": "SGD", "nesterov": true, "lr": 20},
                                     "scheduler": {"name": "StepLR"}, "x": "a"})");
  trials[1].params = json::parse(R"({"optimizer": {"name": "SGD", "nesterov": false, "lr": 1},
                                     "scheduler": {"name": "StepLR"}, "x": "b"})");
  trials[2].params = json::parse(R"({"optimizer": {"name": "SGD", "nesterov": false, "lr": 0.0},
                                     "scheduler": {"name": "StepLR"}, "x": 3})");
  const std::vector<ParallelAxis> axes = ParallelAxes(trials);
  ASSERT_EQ(axes.size(), 3u);
  // One optimizer and one scheduler only: no axis for either.
  EXPECT_EQ(axes[0].name, "lr");
  EXPECT_EQ(axes[0].kind, ParallelAxis::Kind::kLinear);  // 0 has no log
  EXPECT_EQ(axes[1].name, "nesterov");
  EXPECT_EQ(axes[1].kind, ParallelAxis::Kind::kCategorical);
  EXPECT_THAT(axes[1].categories, ElementsAre("true", "false"));
  EXPECT_EQ(axes[2].name, "x");
  EXPECT_THAT(axes[2].categories, ElementsAre("a", "b", "3"));

  // Exactly a factor 20 stays linear; more is log.
  trials[2].params["optimizer"]["lr"] = 1;
  EXPECT_EQ(ParallelAxes(trials)[0].kind, ParallelAxis::Kind::kLinear);
  trials[1].params["optimizer"]["lr"] = 0.99;
  EXPECT_EQ(ParallelAxes(trials)[0].kind, ParallelAxis::Kind::kLog);
}

std::vector<std::string> Ids(const std::vector<const ReportTrial*>& trials) {
  std::vector<std::string> ids;
  for (const ReportTrial* trial : trials) ids.push_back(trial->trial_id);
  return ids;
}

TEST(ReportTest, LeaderboardIsBestFirstForMaxAndMin) {
  std::vector<ReportTrial> trials = MakeReportData().trials;
  // Best values 0.5, 0.7, 0.25, 0.35 and none.
  EXPECT_THAT(Ids(Leaderboard(trials, "max")), ElementsAre("s1-0001", "s1-0000", "s1-0003", "s1-0002"));
  EXPECT_THAT(Ids(Leaderboard(trials, "min")), ElementsAre("s1-0002", "s1-0003", "s1-0000", "s1-0001"));
  // Ties: the earlier epoch, then the earlier trial.
  trials[3].best_value = 0.7;
  trials[3].best_epoch = 2;
  trials[0].best_value = 0.7;
  trials[0].best_epoch = 3;
  EXPECT_THAT(Ids(Leaderboard(trials, "max")), ElementsAre("s1-0003", "s1-0000", "s1-0001", "s1-0002"));
}

TEST(ReportTest, LeaderboardTableFollowsTheMode) {
  ReportData data = MakeReportData();
  std::string html = RenderReport(data);
  const std::string table = html.substr(html.find("<section id=\"leaderboard\""));
  EXPECT_LT(table.find("<code>s1-0001</code>"), table.find("<code>s1-0000</code>"));
  EXPECT_THAT(table, HasSubstr("<tr data-trial=\"s1-0001\" class=\"best\"><td class=\"num\">1</td>"));
  EXPECT_THAT(table, HasSubstr("<code>SGD(lr=0.05, momentum=0.9)</code></td><td><code>ExponentialLR(gamma=0.8)"));
  EXPECT_THAT(table, HasSubstr("<td class=\"num\">1/3</td>"));  // the stopped Adam trial's epochs
  EXPECT_THAT(table, HasSubstr("Without a result (1): <code>s1-0004</code>"));
  EXPECT_THAT(table, HasSubstr("out of memory"));

  data.sweep.set_objective_mode("min");
  html = RenderReport(data);
  const std::string min_table = html.substr(html.find("<section id=\"leaderboard\""));
  EXPECT_LT(min_table.find("<code>s1-0002</code>"), min_table.find("<code>s1-0003</code>"));
  EXPECT_LT(min_table.find("<code>s1-0003</code>"), min_table.find("<code>s1-0000</code>"));
  EXPECT_THAT(min_table, HasSubstr("<tr data-trial=\"s1-0002\" class=\"best\">"));
}

TEST(ReportTest, ChartsSayWhenNothingWasReported) {
  ReportData data = MakeReportData();
  for (ReportTrial& trial : data.trials) {
    trial.epochs.clear();
    trial.best_value.reset();
  }
  const std::string html = RenderReport(data);
  EXPECT_EQ(Chart(html, "chart-objective"), "");
  EXPECT_THAT(html, HasSubstr("No trial has reported val_miou yet."));
  EXPECT_THAT(html, HasSubstr("No trial has reported lr yet."));
  EXPECT_EQ(Count(Chart(html, "chart-parallel"), "stroke-dasharray"), 5);
}

TEST(ReportTest, TrialFromTheCoordinatorsAnswer) {
  v1::GetTrialMetricsResponse metrics;
  *metrics.mutable_trial() = testing::CompletedSgdTrial();
  metrics.mutable_trial()->set_reason("done");
  for (int epoch = 1; epoch <= 2; ++epoch) {
    v1::EpochMetrics* row = metrics.add_epochs();
    row->set_epoch(epoch);
    (*row->mutable_metrics())["val_miou"] = 0.25 * epoch;
  }
  absl::StatusOr<ReportTrial> trial = ReportTrialFrom(metrics);
  ASSERT_TRUE(trial.ok()) << trial.status();
  EXPECT_EQ(trial->trial_id, "s1-0000");
  EXPECT_EQ(trial->state, v1::COMPLETED);
  EXPECT_EQ(trial->params["optimizer"]["name"], "SGD");
  EXPECT_EQ(trial->best_value, 0.612);
  EXPECT_EQ(trial->best_epoch, 7);
  EXPECT_EQ(trial->epochs_done, 8);
  EXPECT_EQ(trial->reason, "done");
  ASSERT_EQ(trial->epochs.size(), 2u);
  EXPECT_EQ(trial->epochs[1].epoch, 2);
  EXPECT_EQ(trial->epochs[1].metrics.at("val_miou"), 0.5);

  metrics.mutable_trial()->set_has_best(false);
  EXPECT_FALSE(ReportTrialFrom(metrics)->best_value.has_value());
  metrics.mutable_trial()->set_params_json("[1]");
  EXPECT_THAT(std::string(ReportTrialFrom(metrics).status().message()), HasSubstr("s1-0000"));
}

// ------------------------------------------------------- Report command --

// Sweep s1 with three trials of two epochs each; counts GetTrialMetrics calls.
class ReportTuner final : public v1::Tuner::Service {
 public:
  grpc::Status GetSweep(grpc::ServerContext*, const v1::GetSweepRequest* request, v1::Sweep* sweep) override {
    if (request->sweep_id() != "s1") {
      return grpc::Status(grpc::StatusCode::NOT_FOUND, "no such sweep: " + request->sweep_id());
    }
    *sweep = testing::MakeSweep();
    return grpc::Status::OK;
  }

  grpc::Status ListTrials(grpc::ServerContext*, const v1::ListTrialsRequest*,
                          v1::ListTrialsResponse* response) override {
    for (int i = 0; i < 3; ++i) *response->add_trials() = Trial(i);
    return grpc::Status::OK;
  }

  grpc::Status GetTrialMetrics(grpc::ServerContext*, const v1::GetTrialMetricsRequest* request,
                               v1::GetTrialMetricsResponse* response) override {
    ++metrics_calls_;
    const int index = request->trial_id().back() - '0';
    *response->mutable_trial() = Trial(index);
    for (int epoch = 1; epoch <= 2; ++epoch) {
      v1::EpochMetrics* row = response->add_epochs();
      row->set_epoch(epoch);
      (*row->mutable_metrics())["val_miou"] = 0.1 * epoch + 0.01 * index;
      (*row->mutable_metrics())["lr"] = 0.1 / epoch;
    }
    return grpc::Status::OK;
  }

  int metrics_calls() const { return metrics_calls_; }

 private:
  static v1::Trial Trial(int index) {
    v1::Trial trial = index == 1 ? testing::RunningAdamTrial() : testing::CompletedSgdTrial();
    trial.set_trial_id("s1-000" + std::to_string(index));
    trial.set_index(index);
    return trial;
  }

  std::atomic<int> metrics_calls_{0};
};

class ReportCommandTest : public ::testing::Test {
 protected:
  ReportCommandTest() {
    grpc::ServerBuilder builder;
    builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port_);
    builder.RegisterService(&service_);
    server_ = builder.BuildAndStart();
    client_ = std::make_unique<TunerClient>("127.0.0.1:" + std::to_string(port_), std::chrono::seconds(5));
    dir_ = fs::temp_directory_path() / ("segtune_report_test_" + std::to_string(::getpid()));
    fs::create_directories(dir_);
  }
  ~ReportCommandTest() override {
    server_->Shutdown();
    fs::remove_all(dir_);
  }

  Output MakeOutput(bool terminal) {
    Output output;
    output.out = &out_;
    output.err = &err_;
    output.err_is_terminal = terminal;
    return output;
  }

  ReportTuner service_;
  int port_ = 0;
  std::unique_ptr<grpc::Server> server_;
  std::unique_ptr<TunerClient> client_;
  fs::path dir_;
  std::ostringstream out_;
  std::ostringstream err_;
};

TEST_F(ReportCommandTest, WritesTheReportAndSaysWhatItHolds) {
  const std::string file = (dir_ / "report.html").string();
  ASSERT_TRUE(Report(*client_, {"s1", file}, MakeOutput(false)).ok());
  EXPECT_EQ(out_.str(), "wrote " + file + " (3 trials, 6 epochs)\n");
  EXPECT_EQ(err_.str(), "");  // no progress off a terminal
  EXPECT_EQ(service_.metrics_calls(), 3);
  EXPECT_FALSE(fs::exists(file + ".tmp"));
  std::ifstream in(file);
  std::stringstream html;
  html << in.rdbuf();
  EXPECT_EQ(Count(Chart(html.str(), "chart-objective"), "<path class=\"trial"), 3);
  EXPECT_EQ(Count(html.str(), "<tr data-trial="), 3);
}

TEST_F(ReportCommandTest, ShowsProgressOnATerminalAndErasesIt) {
  const std::string file = (dir_ / "report.html").string();
  ASSERT_TRUE(Report(*client_, {"s1", file}, MakeOutput(true)).ok());
  EXPECT_EQ(err_.str(),
            "\r\x1b[2Kfetching metrics 1/3\r\x1b[2Kfetching metrics 2/3\r\x1b[2Kfetching metrics 3/3\r\x1b[2K");
}

TEST_F(ReportCommandTest, DefaultFileIsNamedAfterTheSweep) {
  const fs::path before = fs::current_path();
  fs::current_path(dir_);
  const absl::Status status = Report(*client_, {"s1", ""}, MakeOutput(false));
  fs::current_path(before);
  ASSERT_TRUE(status.ok()) << status;
  EXPECT_TRUE(fs::exists(dir_ / "report-s1.html"));
  EXPECT_EQ(out_.str(), "wrote report-s1.html (3 trials, 6 epochs)\n");
}

TEST_F(ReportCommandTest, UnknownSweepIsNotFoundAndWritesNothing) {
  const std::string file = (dir_ / "report.html").string();
  const absl::Status status = Report(*client_, {"nope", file}, MakeOutput(false));
  EXPECT_EQ(status.code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(ExitCodeFor(status), kExitFailed);
  EXPECT_FALSE(fs::exists(file));
  EXPECT_FALSE(fs::exists(file + ".tmp"));
  EXPECT_EQ(service_.metrics_calls(), 0);
}

TEST_F(ReportCommandTest, UnwritableFileIsNamedBeforeAnyTrialIsFetched) {
  const std::string file = (dir_ / "missing-dir" / "report.html").string();
  const absl::Status status = Report(*client_, {"s1", file}, MakeOutput(false));
  EXPECT_EQ(ExitCodeFor(status), kExitUsage);
  EXPECT_THAT(std::string(status.message()), HasSubstr(file));
  EXPECT_EQ(service_.metrics_calls(), 0);
  EXPECT_EQ(out_.str(), "");
}

}  // namespace
}  // namespace segtune::client
