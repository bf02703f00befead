// `segtune lr-find` end to end: the real CLI runs an LR range test of two
// optimizers, locally (embedded coordinator, worker processes) and against
// a coordinator started on loopback, and its JSON is checked.
#include <cmath>
#include <filesystem>
#include <fstream>
#include <memory>
#include <random>
#include <set>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "process.h"

namespace segtune::testing {
namespace {

using nlohmann::json;
namespace fs = std::filesystem;

// An ordinary sweep spec; lr-find replaces its search. The lr list and the
// scheduler do not apply: one trial per optimizer alternative.
constexpr const char* kSpec = R"(name: lr-find-e2e
objective: {metric: val_miou, mode: max}
budget: {epochs: 3, parallelism: 2}
data: {dataset: shapes, image_size: 32, num_classes: 3, train_size: 12, val_size: 4, seed: 3}
model: {arch: unet, base_channels: 4, depth: 2}
training: {batch_size: 4, seed: 1}
search:
  algorithm: asha
  eta: 2
  space:
    optimizer:
      - {name: momentum, lr: [0.05, 0.01]}
      - {name: Adam, lr: 0.003}
    scheduler:
      - {name: StepLR, step_size: 1, gamma: 0.5}
)";

constexpr double kMinLr = 1e-5;
constexpr double kMaxLr = 10;
constexpr int kIterations = 30;

class LrFindEndToEnd : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("segtune-lr-find-" + std::to_string(std::random_device{}()));
    fs::create_directories(dir_);
    std::ofstream(Path("spec.yaml")) << kSpec;
  }
  void TearDown() override {
    if (worker_) worker_->Stop();
    if (coordinator_) coordinator_->Stop();
    if (HasFailure()) {
      std::cerr << "files kept in " << dir_ << "\n";
    } else {
      fs::remove_all(dir_);
    }
  }

  std::string Path(const std::string& name) const { return (dir_ / name).string(); }

  std::vector<std::string> LrFindArgs() const {
    return {"lr-find",      Path("spec.yaml"), "--min-lr", "1e-5", "--max-lr", "10", "--iterations",
            std::to_string(kIterations), "-o", "json"};
  }

  // What every run's JSON must hold; returns the trial ids.
  std::vector<std::string> CheckResults(const json& results) {
    std::vector<std::string> ids;
    EXPECT_TRUE(results.is_array()) << results.dump();
    EXPECT_EQ(results.size(), 2u) << results.dump();
    std::set<std::string> names;
    for (const json& result : results) {
      SCOPED_TRACE(result.dump());
      ids.push_back(result.at("trial_id"));
      names.insert(result.at("optimizer").at("name").get<std::string>());
      EXPECT_FALSE(result.at("optimizer").contains("lr"));
      const int steps = result.at("steps");
      const json& curve = result.at("curve");
      EXPECT_EQ(curve.size(), static_cast<std::size_t>(steps));
      // The exponential ramp from min_lr, one step per point.
      for (std::size_t i = 0; i < curve.size(); ++i) {
        const double expected = kMinLr * std::pow(kMaxLr / kMinLr, i / double(kIterations - 1));
        EXPECT_NEAR(curve[i].at("lr").get<double>() / expected, 1.0, 1e-12) << i;
        EXPECT_TRUE(std::isfinite(curve[i].at("smoothed_loss").get<double>()));
      }
      const std::string state = result.at("state");
      if (state == "COMPLETED") {
        EXPECT_EQ(steps, kIterations);
      } else {
        // Up to lr 10 the loss diverges: the test ends early, saying where.
        EXPECT_EQ(state, "STOPPED");
        EXPECT_LT(steps, kIterations);
        EXPECT_EQ(result.at("reason").get<std::string>().rfind("loss ", 0), 0u);
        EXPECT_NE(result.at("reason").get<std::string>().find(" at lr "), std::string::npos);
      }
      if (steps >= 5) {
        const double suggested = result.at("suggested_lr");
        const double low = result.at("range")[0];
        const double high = result.at("range")[1];
        EXPECT_GE(suggested, kMinLr);
        EXPECT_LE(suggested, kMaxLr);
        EXPECT_LE(low, suggested);
        EXPECT_GE(high, suggested);
        EXPECT_GE(result.at("min_loss_lr").get<double>(), kMinLr);
      }
    }
    EXPECT_EQ(names, (std::set<std::string>{"SGD", "Adam"}));
    return ids;
  }

  fs::path dir_;
  std::unique_ptr<Process> coordinator_;
  std::unique_ptr<Process> worker_;
};

TEST_F(LrFindEndToEnd, LocalRunPrintsEachOptimizersCurveAndSuggestion) {
  std::vector<std::string> args = LrFindArgs();
  args.insert(args.begin(), BinDir() + "/segtune");
  for (const char* extra : {"--workers", "2", "--dir"}) args.push_back(extra);
  args.push_back(Path("local"));
  CommandResult run = RunCommand(args, dir_.string());
  ASSERT_EQ(run.exit_code, 0) << run.err;
  const json results = json::parse(run.out);  // the whole of stdout is one document
  for (const std::string& trial_id : CheckResults(results)) {
    EXPECT_FALSE(fs::exists(Path("local/checkpoints/" + trial_id))) << "a range test keeps no checkpoints";
  }

  // The table: one row per optimizer, then the chart.
  CommandResult table = RunCommand({BinDir() + "/segtune", "lr-find", Path("spec.yaml"), "--iterations", "30",
                                    "--workers", "1", "--dir", Path("local-table")},
                                   dir_.string());
  ASSERT_EQ(table.exit_code, 0) << table.err;
  for (const char* text : {"OPTIMIZER", "SUGGESTED LR", "SGD(momentum=0.9)", "Adam()", "lr (log scale)",
                           "o SGD(momentum=0.9)   x Adam()"}) {
    EXPECT_NE(table.out.find(text), std::string::npos) << text << " not in:\n" << table.out;
  }
}

TEST_F(LrFindEndToEnd, OnAServerTheSameTestRunsOnItsWorkers) {
  const std::string address = "127.0.0.1:" + std::to_string(FreePort());
  coordinator_ = std::make_unique<Process>(
      std::vector<std::string>{BinDir() + "/segtune-coordinator", "--listen", address, "--data-dir", dir_.string(),
                               "--metrics-listen", ""},
      Path("coordinator.out"), Path("coordinator.err"));
  worker_ = std::make_unique<Process>(
      std::vector<std::string>{BinDir() + "/segtune-worker", "--coordinator", address, "--threads", "1", "--slots",
                               "2", "--name", "w"},
      Path("worker.out"), Path("worker.err"));
  std::vector<std::string> args = LrFindArgs();
  args.insert(args.begin(), {BinDir() + "/segtune", "--server", address});
  // The CLI exits 3 until the coordinator listens.
  CommandResult run{3, "", ""};
  for (int i = 0; i < 120 && run.exit_code == 3; ++i) {
    if (i > 0) std::this_thread::sleep_for(std::chrono::milliseconds(250));
    run = RunCommand(args, dir_.string());
  }
  ASSERT_EQ(run.exit_code, 0) << run.err << "\nworker:\n" << worker_->Stderr();
  for (const std::string& trial_id : CheckResults(json::parse(run.out))) {
    EXPECT_FALSE(fs::exists(dir_ / "checkpoints" / trial_id)) << "a range test keeps no checkpoints";
  }
  // --workers is for local runs only.
  args.push_back("--workers");
  args.push_back("2");
  EXPECT_EQ(RunCommand(args, dir_.string()).exit_code, 2);
}

}  // namespace
}  // namespace segtune::testing
