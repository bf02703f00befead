// Renders a report of a scripted sweep (no coordinator: RenderReport on
// fixture data) in headless Chromium, the browser people open it with:
// the rendered DOM must hold every chart with one line per trial and a
// non-zero size, and a full-page screenshot must come out. The report and
// the screenshot stay in SEGTUNE_TEST_ARTIFACTS for people to look at.
#include <stdlib.h>
#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "segtune/client/report.h"

namespace segtune::client {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

constexpr int kEpochs = 6;

// The lr a scheduler gives at `epoch` (roughly torch's; the chart only
// needs plausible curves).
double LrAt(const json& params, int epoch) {
  const double lr = params["optimizer"]["lr"].get<double>();
  if (!params.contains("scheduler")) return lr;
  const json& scheduler = params["scheduler"];
  const std::string name = scheduler["name"];
  const double gamma = scheduler.value("gamma", 1.0);
  if (name == "StepLR") return lr * std::pow(gamma, epoch / scheduler["step_size"].get<int>());
  if (name == "ExponentialLR") return lr * std::pow(gamma, epoch);
  if (name == "CosineAnnealingLR") return lr * (1 + std::cos(M_PI * epoch / kEpochs)) / 2;  // 0 at the end
  if (name == "MultiStepLR") return lr * std::pow(gamma, (epoch >= 2) + (epoch >= 4));
  return lr / (1 + 0.3 * epoch);  // LambdaLR
}

// A trial of `epochs` epochs whose val_miou climbs towards `plateau`.
ReportTrial Trial(int index, v1::TrialState state, const std::string& params, int epochs, double plateau) {
  ReportTrial trial;
  trial.trial_id = "c1782e14-000" + std::to_string(index);
  trial.index = index;
  trial.state = state;
  trial.params = json::parse(params);
  for (int epoch = 1; epoch <= epochs; ++epoch) {
    const double miou = plateau * (1 - std::exp(-0.6 * epoch)) + 0.01 * ((epoch * 7 + index) % 3);
    trial.epochs.push_back(
        {epoch, {{"val_miou", miou}, {"lr", LrAt(trial.params, epoch - 1)}, {"train_loss", 1 / miou}}});
    if (!trial.best_value || miou > *trial.best_value) {
      trial.best_value = miou;
      trial.best_epoch = epoch;
    }
  }
  trial.epochs_done = epochs;
  if (state == v1::STOPPED) trial.reason = "asha: below the top 1/3 at rung 1 (val_miou 0.31 < 0.42)";
  return trial;
}

// 8 trials with epochs (5 optimizers, 6 schedulers, some stopped early, one
// diverged) and a pending one without.
ReportData ScriptedSweep() {
  ReportData data;
  v1::Sweep& sweep = data.sweep;
  sweep.set_sweep_id("c1782e14");
  sweep.set_name("seed-study <render test>");
  sweep.set_state(v1::SWEEP_RUNNING);
  sweep.set_objective_metric("val_miou");
  sweep.set_objective_mode("max");
  sweep.set_algorithm("asha");
  sweep.set_epochs(kEpochs);
  sweep.set_total_trials(9);
  (*sweep.mutable_trials_by_state())["COMPLETED"] = 4;
  (*sweep.mutable_trials_by_state())["STOPPED"] = 3;
  (*sweep.mutable_trials_by_state())["DIVERGED"] = 1;
  (*sweep.mutable_trials_by_state())["PENDING"] = 1;
  sweep.set_created_unix_ms(1714564984123);
  data.generated_unix_ms = 1714565984123;

  data.trials = {
      Trial(0, v1::COMPLETED,
            R"j({"optimizer": {"name": "SGD", "lr": 0.1, "momentum": 0.0},
                "scheduler": {"name": "StepLR", "step_size": 2, "gamma": 0.5}})j", kEpochs, 0.55),
      Trial(1, v1::COMPLETED,
            R"j({"optimizer": {"name": "SGD", "lr": 0.05, "momentum": 0.9},
                "scheduler": {"name": "CosineAnnealingLR", "T_max": 6, "eta_min": 0.0}})j", kEpochs, 0.68),
      Trial(2, v1::COMPLETED,
            R"j({"optimizer": {"name": "Adam", "lr": 0.003, "weight_decay": 0.0001},
                "scheduler": {"name": "ExponentialLR", "gamma": 0.8}})j", kEpochs, 0.63),
      Trial(3, v1::COMPLETED, R"j({"optimizer": {"name": "Adam", "lr": 0.001, "weight_decay": 0.0}})j", kEpochs, 0.6),
      Trial(4, v1::STOPPED,
            R"j({"optimizer": {"name": "RMSprop", "lr": 0.001, "weight_decay": 0.0},
                "scheduler": {"name": "StepLR", "step_size": 2, "gamma": 0.5}})j", 2, 0.4),
      Trial(5, v1::STOPPED,
            R"j({"optimizer": {"name": "Adagrad", "lr": 0.05, "weight_decay": 0.0},
                "scheduler": {"name": "MultiStepLR", "milestones": [2, 4], "gamma": 0.3}})j", 3, 0.45),
      Trial(6, v1::STOPPED,
            R"j({"optimizer": {"name": "Adadelta", "lr": 1.0, "weight_decay": 0.0},
                "scheduler": {"name": "LambdaLR", "lr_lambda": "1 / (1 + 0.3 * epoch)"}})j", 1, 0.3),
      Trial(7, v1::DIVERGED,
            R"j({"optimizer": {"name": "SGD", "lr": 0.8, "momentum": 0.9},
                "scheduler": {"name": "ExponentialLR", "gamma": 0.8}})j", 1, 0.1),
      Trial(8, v1::PENDING, R"j({"optimizer": {"name": "Adam", "lr": 0.01, "weight_decay": 0.0}})j", 0, 0),
  };
  data.trials[7].reason = "loss became nan at epoch 2";
  return data;
}

constexpr std::size_t kTrialsWithEpochs = 8;

struct CommandResult {
  int status = -1;
  std::string out;
};

CommandResult RunCommand(const std::string& command) {
  CommandResult result;
  FILE* pipe = ::popen(command.c_str(), "r");
  if (pipe == nullptr) return result;
  char buffer[4096];
  for (std::size_t n; (n = std::fread(buffer, 1, sizeof buffer, pipe)) > 0;) result.out.append(buffer, n);
  result.status = ::pclose(pipe);
  return result;
}

std::string ReadFile(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

// Measures each chart in the rendered page: "ID LINES WIDTH HEIGHT" per line,
// where LINES counts its <path>/<polyline> elements drawn for trials.
constexpr char kProbe[] = R"(<script>
(function () {
  var lines = [];
  document.querySelectorAll('svg.chart').forEach(function (chart) {
    var box = chart.getBoundingClientRect();
    lines.push(chart.id + ' ' + chart.querySelectorAll('path.trial, polyline.trial').length + ' ' +
               Math.round(box.width) + ' ' + Math.round(box.height));
  });
  var out = document.createElement('pre');
  out.id = 'probe';
  out.textContent = lines.join('\n');
  document.body.appendChild(out);
})();
</script>
</body>)";

class ReportRenderTest : public ::testing::Test {
 protected:
  void SetUp() override {
    artifacts_ = fs::path(SEGTUNE_TEST_ARTIFACTS);
    fs::create_directories(artifacts_);
    report_ = artifacts_ / "report.html";
    // ctest may run both tests at once: each writes its own copy and renames
    // it into place, so neither reads a half-written page.
    const fs::path own = artifacts_ / ("report.html." + std::to_string(::getpid()));
    std::ofstream(own) << RenderReport(ScriptedSweep());
    fs::rename(own, report_);
    char profile[] = "/tmp/segtune-chromium-XXXXXX";
    ASSERT_NE(::mkdtemp(profile), nullptr);
    profile_ = profile;
  }
  void TearDown() override { fs::remove_all(profile_); }

  // Chromium with a throwaway profile (parallel runs do not share one);
  // --no-sandbox since tests may run as root. Its log goes to chromium.log.
  CommandResult Chromium(const std::string& arguments) const {
    return RunCommand("timeout 60 '" SEGTUNE_CHROMIUM "' --headless --no-sandbox --disable-gpu --user-data-dir='" +
               profile_.string() + "' " + arguments + " 2>>'" + (artifacts_ / "chromium.log").string() + "'");
  }

  fs::path artifacts_;
  fs::path report_;
  fs::path profile_;
};

TEST_F(ReportRenderTest, EveryChartIsDrawnWithOneLinePerTrial) {
  // The probe is added to a copy: the report itself needs no script to draw.
  std::string page = ReadFile(report_);
  const std::size_t body_end = page.rfind("</body>");
  ASSERT_NE(body_end, std::string::npos);
  page.replace(body_end, std::string("</body>").size(), kProbe);
  const fs::path probe = artifacts_ / "report-probe.html";
  std::ofstream(probe) << page;

  const CommandResult dom = Chromium("--window-size=1280,2400 --dump-dom 'file://" + probe.string() + "'");
  ASSERT_EQ(dom.status, 0) << "chromium failed; see " << (artifacts_ / "chromium.log");
  const std::size_t start = dom.out.find("<pre id=\"probe\">");
  ASSERT_NE(start, std::string::npos) << dom.out.substr(0, 2000);
  std::istringstream measured(
      dom.out.substr(start + 16, dom.out.find("</pre>", start) - start - 16));

  std::map<std::string, std::vector<int>> charts;  // id -> lines, width, height
  std::string id;
  int lines = 0, width = 0, height = 0;
  while (measured >> id >> lines >> width >> height) charts[id] = {lines, width, height};
  EXPECT_THAT(charts, ::testing::SizeIs(3));
  for (const char* chart : {"chart-objective", "chart-lr", "chart-parallel"}) {
    ASSERT_EQ(charts.count(chart), 1u) << chart;
    EXPECT_GE(charts[chart][0], static_cast<int>(kTrialsWithEpochs)) << chart;
    EXPECT_GT(charts[chart][1], 600) << chart;
    EXPECT_GT(charts[chart][2], 200) << chart;
  }
  // The pending trial has no epoch, so a line in the parallel coordinates only.
  EXPECT_EQ(charts["chart-objective"][0], 8);
  EXPECT_EQ(charts["chart-lr"][0], 8);
  EXPECT_EQ(charts["chart-parallel"][0], 9);
  // The sweep's name reached the page as text, not as markup.
  EXPECT_THAT(dom.out, ::testing::HasSubstr("seed-study &lt;render test&gt;"));
}

TEST_F(ReportRenderTest, ScreenshotIsAPng) {
  const fs::path png = artifacts_ / "report.png";
  fs::remove(png);
  const CommandResult shot = Chromium("--hide-scrollbars --window-size=1280,2400 --screenshot='" + png.string() +
                                      "' 'file://" + report_.string() + "'");
  ASSERT_EQ(shot.status, 0) << "chromium failed; see " << (artifacts_ / "chromium.log");
  ASSERT_TRUE(fs::exists(png));
  const std::string bytes = ReadFile(png);
  ASSERT_GT(bytes.size(), 24u);
  EXPECT_EQ(bytes.substr(0, 8), std::string("\x89PNG\r\n\x1a\n", 8));
  // IHDR: width and height, big-endian, at bytes 16 and 20.
  auto be32 = [&bytes](std::size_t at) {
    return (static_cast<unsigned>(static_cast<unsigned char>(bytes[at])) << 24) |
           (static_cast<unsigned>(static_cast<unsigned char>(bytes[at + 1])) << 16) |
           (static_cast<unsigned>(static_cast<unsigned char>(bytes[at + 2])) << 8) |
           static_cast<unsigned>(static_cast<unsigned char>(bytes[at + 3]));
  };
  EXPECT_EQ(be32(16), 1280u);
  EXPECT_EQ(be32(20), 2400u);
  // A blank page of this size compresses to a few kB; charts and text do not.
  EXPECT_GT(bytes.size(), 60000u);
}

}  // namespace
}  // namespace segtune::client
