// `segtune-worker --simulate` end to end: a real coordinator, two simulating
// workers with 8 slots each and the real CLI run a 16-trial ASHA sweep
// (promotions resume from the simulated checkpoints) in seconds; and the
// worker's simulate flags are validated.
#include <chrono>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "process.h"

namespace segtune::testing {
namespace {

using nlohmann::json;
namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

// 2 optimizers x 4 lrs x 2 schedulers = 16 trials; ASHA with eta 3 trains
// every one 1 epoch, a third of them 3, a ninth 9.
constexpr const char* kSpec = R"(name: simulate-e2e
objective: {metric: val_miou, mode: max}
budget: {epochs: 9, parallelism: 16}
data: {dataset: shapes, image_size: 32, num_classes: 4, train_size: 256, val_size: 64, seed: 7}
model: {arch: unet, base_channels: 8, depth: 3}
training: {batch_size: 16, seed: 0}
search:
  algorithm: asha
  sampler: grid
  eta: 3
  min_epochs: 1
  space:
    optimizer:
      - {name: momentum, lr: [0.003, 0.01, 0.03, 0.1]}
      - {name: Adam, lr: [1.0e-4, 1.0e-3, 3.0e-3, 1.0e-2]}
    scheduler:
      - {name: StepLR, step_size: 3, gamma: 0.5}
      - {name: CosineAnnealingLR, T_max: epochs}
)";

class SimulateEndToEnd : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("segtune-simulate-" + std::to_string(std::random_device{}()));
    fs::create_directories(dir_);
    address_ = "127.0.0.1:" + std::to_string(FreePort());
  }
  void TearDown() override {
    for (auto& worker : workers_) worker->Stop();
    if (coordinator_) coordinator_->Stop();
    if (HasFailure()) {
      if (coordinator_) std::cerr << "coordinator log:\n" << coordinator_->Stderr() << "\n";
      for (auto& worker : workers_) std::cerr << "worker log:\n" << worker->Stderr() << "\n";
      std::cerr << "files kept in " << dir_ << "\n";
    } else {
      fs::remove_all(dir_);
    }
  }

  std::string Path(const std::string& name) const { return (dir_ / name).string(); }

  CommandResult Cli(std::vector<std::string> args) {
    args.insert(args.begin(), {BinDir() + "/segtune", "--server", address_});
    return RunCommand(args, dir_.string());
  }
  json CliJson(std::vector<std::string> args) {
    args.insert(args.end(), {"-o", "json"});
    const CommandResult result = Cli(args);
    EXPECT_EQ(result.exit_code, 0) << result.err;
    return json::parse(result.out);
  }
  CommandResult Worker(std::vector<std::string> args) {
    args.insert(args.begin(), {BinDir() + "/segtune-worker", "--coordinator", address_});
    return RunCommand(args, dir_.string());
  }

  fs::path dir_;
  std::string address_;
  std::unique_ptr<Process> coordinator_;
  std::vector<std::unique_ptr<Process>> workers_;
};

TEST_F(SimulateEndToEnd, SixteenTrialAshaSweepOnTwoSimulatingWorkers) {
  coordinator_ = std::make_unique<Process>(
      std::vector<std::string>{BinDir() + "/segtune-coordinator", "--listen", address_, "--data-dir",
                               dir_.string(), "--metrics-listen",
                               "127.0.0.1:" + std::to_string(FreePort())},
      Path("coordinator.out"), Path("coordinator.err"));
  for (const char* name : {"sim-a", "sim-b"}) {
    workers_.push_back(std::make_unique<Process>(
        std::vector<std::string>{BinDir() + "/segtune-worker", "--coordinator", address_, "--simulate",
                                 "--simulate-epoch-seconds", "0.02", "--slots", "8", "--name", name},
        Path(std::string(name) + ".out"), Path(std::string(name) + ".err")));
  }
  json workers;
  for (int i = 0; i < 120 && workers.size() != 2; ++i) {
    const CommandResult result = Cli({"workers", "-o", "json"});
    if (result.exit_code == 0) workers = json::parse(result.out);
    if (workers.size() != 2) std::this_thread::sleep_for(std::chrono::milliseconds(250));
  }
  ASSERT_EQ(workers.size(), 2u) << "workers did not register";
  for (const json& worker : workers) EXPECT_EQ(worker.at("device"), "simulated") << worker.dump();

  std::ofstream(Path("spec.yaml")) << kSpec;
  const Clock::time_point start = Clock::now();
  const std::string sweep_id = CliJson({"submit", Path("spec.yaml")}).at("sweep_id");
  json status;
  while (Clock::now() - start < std::chrono::seconds(60)) {
    status = CliJson({"status", sweep_id});
    if (status.value("state", "") != "RUNNING") break;
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  const double seconds = std::chrono::duration<double>(Clock::now() - start).count();
  ASSERT_EQ(status.value("state", ""), "COMPLETED") << status.dump();
  // 16 + 5 x 2 + 1 x 6 epochs at 0.02 s each, 16 slots: well under a second
  // of simulated time; the rest is scheduling and the CLI's polling.
  EXPECT_LT(seconds, 30) << "the sweep took " << seconds << " s";

  const json trials = CliJson({"trials", sweep_id});
  ASSERT_EQ(trials.size(), 16u);
  std::map<int, int> trials_by_epochs;
  for (const json& trial : trials) {
    const std::string state = trial.at("state");
    EXPECT_TRUE(state == "COMPLETED" || state == "STOPPED") << trial.dump();
    const int epochs_done = trial.at("epochs_done");
    ++trials_by_epochs[epochs_done];
    const json epochs = CliJson({"metrics", trial.at("trial_id")});
    ASSERT_EQ(epochs.size(), static_cast<size_t>(epochs_done)) << trial.dump();
    for (int e = 0; e < epochs_done; ++e) {
      EXPECT_EQ(epochs[e].at("epoch"), e + 1);
      for (const char* key : {"train_loss", "val_loss", "val_miou", "val_pixel_acc", "lr", "epoch_seconds",
                              "images_per_second"}) {
        EXPECT_TRUE(epochs[e].at("metrics").contains(key)) << key;
      }
    }
  }
  // ASHA's rungs: 16 at 1 epoch, 5 promoted to 3, 1 of them to 9.
  EXPECT_EQ(trials_by_epochs, (std::map<int, int>{{1, 11}, {3, 4}, {9, 1}}));

  // Simulated curves learn: the best configuration's val_miou is far above
  // an untrained model's (about 0.3 / num_classes).
  EXPECT_GT(CliJson({"best", sweep_id}).at("value").get<double>(), 0.3);
}

TEST_F(SimulateEndToEnd, SimulateFlagsAreValidated) {
  struct BadFlags {
    std::vector<std::string> args;
    std::string named;  // the flag the error must name
  };
  const std::vector<BadFlags> cases = {
      {{"--simulate", "--simulate-epoch-seconds", "-1"}, "--simulate-epoch-seconds"},
      {{"--simulate", "--simulate-epoch-seconds", "nan"}, "--simulate-epoch-seconds"},
      {{"--simulate", "--simulate-epoch-seconds", "inf"}, "--simulate-epoch-seconds"},
      {{"--simulate-epoch-seconds", "0.5"}, "--simulate"},
      {{"--simulate", "--device", "cpu"}, "--device"},
      {{"--simulate", "--threads", "2"}, "--threads"},
  };
  for (const BadFlags& c : cases) {
    const CommandResult result = Worker(c.args);
    EXPECT_EQ(result.exit_code, 2) << c.args.back() << ": " << result.err;
    EXPECT_NE(result.err.find(c.named), std::string::npos) << c.named << ": " << result.err;
  }
}

}  // namespace
}  // namespace segtune::testing
