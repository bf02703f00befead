// Starts a real coordinator and two real workers on loopback, runs sweeps
// through the real CLI and checks what it reports against the database.
#include <sqlite3.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <random>
#include <sstream>
#include <thread>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <yaml-cpp/yaml.h>

#include "process.h"

namespace segtune::testing {
namespace {

using nlohmann::json;
namespace fs = std::filesystem;

// The Python that has torch on Debian (python3-torch).
constexpr const char* kPython = "/usr/bin/python3";

constexpr const char* kFourTrials = R"(name: e2e
objective: {metric: val_miou, mode: max}
budget: {epochs: 2, parallelism: 4}
data: {dataset: shapes, image_size: 16, num_classes: 3, train_size: 32, val_size: 16, seed: 3}
model: {arch: unet, base_channels: 4, depth: 2}
training: {batch_size: 8, seed: 1}
search:
  algorithm: grid
  space:
    optimizer:
      - {name: momentum, lr: [0.05, 0.01]}
      - {name: Adam, lr: 0.003}
      - {name: RMSprop, lr: 0.001}
    scheduler:
      - {name: StepLR, step_size: 1, gamma: 0.5}
)";

class EndToEnd : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("segtune-e2e-" + std::to_string(std::random_device{}()));
    fs::create_directories(dir_);
    address_ = "127.0.0.1:" + std::to_string(FreePort());
    metrics_port_ = FreePort();
  }
  void TearDown() override {
    for (auto& worker : workers_) worker->Stop();
    if (coordinator_) coordinator_->Stop();
    if (HasFailure()) {
      if (coordinator_) std::cerr << "coordinator log:\n" << coordinator_->Stderr() << "\n";
      for (auto& worker : workers_) std::cerr << "worker log:\n" << worker->Stderr() << "\n";
    } else {
      fs::remove_all(dir_);
    }
  }

  std::string Path(const std::string& name) const { return (dir_ / name).string(); }

  void StartCoordinator(int lease_seconds = 6) {
    coordinator_ = std::make_unique<Process>(
        std::vector<std::string>{BinDir() + "/segtune-coordinator", "--listen", address_, "--data-dir",
                                 dir_.string(), "--lease-seconds", std::to_string(lease_seconds),
                                 "--metrics-listen",
                                 "127.0.0.1:" + std::to_string(metrics_port_)},
        Path("coordinator.out"), Path("coordinator.err"));
  }
  // Polls until the coordinator answers (the CLI exits 3 until it listens).
  void WaitForCoordinator() {
    for (int i = 0; i < 120; ++i) {
      if (Cli({"sweeps"}).exit_code != 3) return;
      std::this_thread::sleep_for(std::chrono::milliseconds(250));
    }
    FAIL() << "the coordinator did not start listening";
  }
  void StartWorker(const std::string& name, int slots = 1) {
    workers_.push_back(std::make_unique<Process>(
        std::vector<std::string>{BinDir() + "/segtune-worker", "--coordinator", address_, "--threads", "1",
                                 "--name", name, "--slots", std::to_string(slots)},
        Path(name + ".out"), Path(name + ".err")));
  }

  CommandResult Cli(std::vector<std::string> args) {
    args.insert(args.begin(), {BinDir() + "/segtune", "--server", address_});
    return RunCommand(args, dir_.string());
  }
  json CliJson(std::vector<std::string> args) {
    args.push_back("-o");
    args.push_back("json");
    CommandResult result = Cli(args);
    EXPECT_EQ(result.exit_code, 0) << result.err;
    return json::parse(result.out);  // the whole of stdout is one document
  }
  std::string WriteSpec(const std::string& name, const std::string& text) {
    std::ofstream(Path(name)) << text;
    return Path(name);
  }

  // Polls `segtune status` until the sweep leaves RUNNING.
  json WaitForSweep(const std::string& sweep_id, std::chrono::seconds timeout) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    json status;
    while (std::chrono::steady_clock::now() < deadline) {
      status = CliJson({"status", sweep_id});
      if (status.value("state", "") != "RUNNING") return status;
      std::this_thread::sleep_for(std::chrono::milliseconds(500));
    }
    ADD_FAILURE() << "sweep still running after " << timeout.count() << " s: " << status.dump();
    return status;
  }

  // Epoch rows per trial, read straight from the coordinator's database.
  std::map<std::string, std::vector<int>> EpochRows() {
    sqlite3* db = nullptr;
    EXPECT_EQ(sqlite3_open_v2(Path("segtune.db").c_str(), &db, SQLITE_OPEN_READONLY, nullptr), SQLITE_OK);
    sqlite3_stmt* stmt = nullptr;
    EXPECT_EQ(sqlite3_prepare_v2(db, "SELECT trial_id, epoch FROM epochs ORDER BY trial_id, epoch", -1, &stmt,
                                 nullptr),
              SQLITE_OK);
    std::map<std::string, std::vector<int>> rows;
    while (sqlite3_step(stmt) == SQLITE_ROW) {
      rows[reinterpret_cast<const char*>(sqlite3_column_text(stmt, 0))].push_back(sqlite3_column_int(stmt, 1));
    }
    sqlite3_finalize(stmt);
    sqlite3_close(db);
    return rows;
  }

  fs::path dir_;
  std::string address_;
  int metrics_port_ = 0;
  std::unique_ptr<Process> coordinator_;
  std::vector<std::unique_ptr<Process>> workers_;
};

TEST_F(EndToEnd, FourTrialSweepOnTwoWorkers) {
  StartCoordinator();
  StartWorker("worker-a");
  StartWorker("worker-b");

  // Both workers register (the CLI exits 3 until the coordinator listens).
  json workers;
  for (int i = 0; i < 120; ++i) {
    CommandResult result = Cli({"workers", "-o", "json"});
    if (result.exit_code == 0 && json::parse(result.out).size() == 2) {
      workers = json::parse(result.out);
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(250));
  }
  ASSERT_EQ(workers.size(), 2u) << "workers did not register";

  json submitted = CliJson({"submit", WriteSpec("spec.yaml", kFourTrials)});
  const std::string sweep_id = submitted.at("sweep_id");
  ASSERT_FALSE(sweep_id.empty());

  json status = WaitForSweep(sweep_id, std::chrono::seconds(300));
  EXPECT_EQ(status.at("state"), "COMPLETED");

  json trials = CliJson({"trials", sweep_id});
  ASSERT_TRUE(trials.is_array());
  ASSERT_EQ(trials.size(), 4u);
  std::map<std::string, double> trial_best;  // best val_miou per trial
  double best_value = -1;
  const auto rows = EpochRows();
  for (const json& trial : trials) {
    const std::string trial_id = trial.at("trial_id");
    EXPECT_EQ(trial.at("state"), "COMPLETED") << trial.dump();
    EXPECT_EQ(trial.at("epochs_done"), 2);
    EXPECT_TRUE(trial.at("params").is_object());
    EXPECT_TRUE(trial.at("params").at("optimizer").contains("name"));
    // Every epoch row exists exactly once, in the database and through the CLI.
    EXPECT_EQ(rows.at(trial_id), (std::vector<int>{1, 2})) << trial_id;
    json epochs = CliJson({"metrics", trial_id});
    ASSERT_EQ(epochs.size(), 2u);
    for (int e = 0; e < 2; ++e) {
      EXPECT_EQ(epochs[e].at("epoch"), e + 1);
      for (const char* key : {"train_loss", "val_loss", "val_miou", "val_pixel_acc", "lr", "epoch_seconds",
                              "images_per_second"}) {
        EXPECT_TRUE(epochs[e].at("metrics").contains(key)) << key;
      }
      const double miou = epochs[e].at("metrics").at("val_miou");
      best_value = std::max(best_value, miou);
      trial_best[trial_id] = std::max(trial_best.count(trial_id) ? trial_best[trial_id] : -1.0, miou);
    }
  }

  json best = CliJson({"best", sweep_id});
  // The best trial is one whose best epoch has the highest val_miou (ties allowed).
  EXPECT_DOUBLE_EQ(best.at("value").get<double>(), best_value);
  EXPECT_DOUBLE_EQ(trial_best.at(best.at("trial_id").get<std::string>()), best_value);
  EXPECT_EQ(best.at("metric"), "val_miou");
  EXPECT_TRUE(best.at("params").at("optimizer").contains("lr"));
  EXPECT_TRUE(best.at("params").at("scheduler").contains("step_size"));

  // Each trial keeps the checkpoints of its latest and its best epoch, and
  // the best trial's weights export as a torch.save zip.
  for (const json& trial : trials) {
    const fs::path trial_dir = dir_ / "checkpoints" / trial.at("trial_id").get<std::string>();
    EXPECT_TRUE(fs::exists(trial_dir / "epoch-2" / "weights.pt")) << trial_dir;
    EXPECT_TRUE(fs::exists(trial_dir / ("epoch-" + std::to_string(trial.at("best_epoch").get<int>()))))
        << trial_dir;
  }
  CommandResult exported = Cli({"export", best.at("trial_id").get<std::string>(), "-o", Path("best.pt")});
  ASSERT_EQ(exported.exit_code, 0) << exported.err;
  EXPECT_NE(exported.out.find("wrote " + Path("best.pt")), std::string::npos) << exported.out;
  std::ifstream weights(Path("best.pt"), std::ios::binary);
  char magic[4] = {};
  weights.read(magic, sizeof magic);
  EXPECT_EQ(std::string(magic, sizeof magic), std::string("PK\x03\x04", 4));  // a zip archive
  // PyTorch in Python reads it into the model's Python twin, name for name.
  if (RunCommand({kPython, "-c", "import torch"}, dir_.string()).exit_code == 0) {
    CommandResult loaded = RunCommand(
        {kPython, "-c",
         "import sys, torch; sys.path.insert(0, sys.argv[1]); from models import make_model; "
         "m = make_model('unet', num_classes=3, base_channels=4, depth=2); "
         "missing = m.load_state_dict(torch.load(sys.argv[2]), strict=True); "
         "print('loaded', len(m.state_dict()))",
         std::string(SEGTUNE_SOURCE_DIR) + "/bench/reference", Path("best.pt")},
        dir_.string());
    EXPECT_EQ(loaded.exit_code, 0) << loaded.err;
    EXPECT_NE(loaded.out.find("loaded"), std::string::npos) << loaded.out;
  }

  // The YAML fragment pastes into a spec.
  CommandResult yaml = Cli({"best", sweep_id, "-o", "yaml"});
  ASSERT_EQ(yaml.exit_code, 0) << yaml.err;
  YAML::Node fragment = YAML::Load(yaml.out);
  EXPECT_TRUE(fragment["search"]["space"]["optimizer"].IsDefined()) << yaml.out;

  // Prometheus sees the eight epoch reports (the dispatcher refreshes within 200 ms).
  std::string scraped;
  for (int i = 0; i < 20; ++i) {
    scraped = HttpGet(metrics_port_, "/metrics");
    if (scraped.find("segtune_epochs_reported_total 8") != std::string::npos) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  EXPECT_NE(scraped.find("segtune_epochs_reported_total 8"), std::string::npos) << scraped;
  EXPECT_NE(scraped.find("segtune_workers 2"), std::string::npos) << scraped;

  json sweeps = CliJson({"sweeps"});
  ASSERT_EQ(sweeps.size(), 1u);
  EXPECT_EQ(sweeps[0].at("sweep_id"), sweep_id);

  // Workers drain cleanly on SIGTERM.
  for (auto& worker : workers_) EXPECT_EQ(worker->Stop(SIGTERM), 0);
}

TEST_F(EndToEnd, CancelEndsTheSweepAndFreesTheWorker) {
  StartCoordinator();
  WaitForCoordinator();
  StartWorker("worker-a");
  std::string spec = kFourTrials;
  spec.replace(spec.find("epochs: 2"), 9, "epochs: 50");
  json submitted = CliJson({"submit", WriteSpec("long.yaml", spec)});
  const std::string sweep_id = submitted.at("sweep_id");
  // Wait until a trial runs, then cancel.
  bool running = false;
  for (int i = 0; i < 120 && !running; ++i) {
    for (const json& t : CliJson({"trials", sweep_id})) running |= t.at("state") == "RUNNING";
    if (!running) std::this_thread::sleep_for(std::chrono::milliseconds(250));
  }
  ASSERT_TRUE(running) << "no trial started";
  json cancelled = CliJson({"cancel", sweep_id});
  EXPECT_EQ(cancelled.at("state"), "CANCELLED");
  for (const json& trial : CliJson({"trials", sweep_id})) EXPECT_EQ(trial.at("state"), "CANCELLED");
  // The worker notices and frees its slot within a heartbeat or an epoch.
  bool freed = false;
  for (int i = 0; i < 120 && !freed; ++i) {
    json workers = CliJson({"workers"});
    freed = workers.size() == 1 && workers[0].value("busy_slots", 0) == 0;
    std::this_thread::sleep_for(std::chrono::milliseconds(250));
  }
  EXPECT_TRUE(freed);
  EXPECT_TRUE(workers_[0]->Running());
}

TEST_F(EndToEnd, TrialOfAKilledWorkerFinishesElsewhereWithEveryEpochOnce) {
  StartCoordinator(/*lease_seconds=*/2);
  WaitForCoordinator();
  StartWorker("doomed");
  json submitted = CliJson({"submit", WriteSpec("one.yaml", R"(name: lost-worker
objective: {metric: val_miou}
budget: {epochs: 8}
data: {dataset: shapes, image_size: 32, num_classes: 3, train_size: 192, val_size: 16}
model: {arch: unet, base_channels: 8, depth: 2}
search: {space: {optimizer: {name: Adam, lr: 0.003}}}
)")});
  const std::string sweep_id = submitted.at("sweep_id");
  const std::string trial_id = sweep_id + "-0000";
  // Kill the worker with SIGKILL once it has reported an epoch: no goodbye, no release.
  bool reported = false;
  for (int i = 0; i < 400 && !reported; ++i) {
    reported = CliJson({"metrics", trial_id}).size() >= 1;
    if (!reported) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  ASSERT_TRUE(reported);
  workers_[0]->Stop(SIGKILL);

  // The lease expires and another worker takes the trial over as attempt 2.
  StartWorker("rescuer");
  json status = WaitForSweep(sweep_id, std::chrono::seconds(120));
  EXPECT_EQ(status.at("state"), "COMPLETED");
  json trials = CliJson({"trials", sweep_id});
  ASSERT_EQ(trials.size(), 1u);
  EXPECT_EQ(trials[0].at("state"), "COMPLETED");
  EXPECT_EQ(trials[0].at("attempt"), 2);
  EXPECT_EQ(EpochRows().at(trial_id), (std::vector<int>{1, 2, 3, 4, 5, 6, 7, 8}));
  // Attempt 2 resumed after the epochs attempt 1 had made durable: each epoch
  // was reported by exactly one attempt, and both attempts contributed.
  std::vector<int> attempts;
  for (const json& epoch : CliJson({"metrics", trial_id})) attempts.push_back(epoch.at("attempt"));
  ASSERT_EQ(attempts.size(), 8u);
  EXPECT_EQ(attempts.front(), 1);
  EXPECT_EQ(attempts.back(), 2);
  EXPECT_TRUE(std::is_sorted(attempts.begin(), attempts.end()));
  // ... loading the checkpoint attempt 1 uploaded rather than replaying.
  EXPECT_NE(workers_[1]->Stderr().find("resuming from the checkpoint of epoch"), std::string::npos)
      << workers_[1]->Stderr();

  // The same trial run without interruption, by the surviving worker with
  // the same thread count, gives bit-identical metrics for every epoch:
  // resuming in another process changed nothing.
  json again = CliJson({"submit", Path("one.yaml")});
  const std::string again_id = again.at("sweep_id");
  EXPECT_EQ(WaitForSweep(again_id, std::chrono::seconds(120)).at("state"), "COMPLETED");
  const json interrupted = CliJson({"metrics", trial_id});
  const json uninterrupted = CliJson({"metrics", again_id + "-0000"});
  ASSERT_EQ(interrupted.size(), uninterrupted.size());
  for (size_t i = 0; i < interrupted.size(); ++i) {
    json resumed_metrics = interrupted[i].at("metrics");
    json plain_metrics = uninterrupted[i].at("metrics");
    for (const char* timing : {"epoch_seconds", "images_per_second"}) {
      resumed_metrics.erase(timing);
      plain_metrics.erase(timing);
    }
    EXPECT_EQ(resumed_metrics, plain_metrics) << "epoch " << i + 1;
  }
}

TEST_F(EndToEnd, BadInputGivesTheDocumentedExitCodes) {
  // Nothing listens yet: exit 3 with a clear message.
  CommandResult unreachable = Cli({"sweeps"});
  EXPECT_EQ(unreachable.exit_code, 3);
  EXPECT_NE(unreachable.err.find("cannot reach"), std::string::npos) << unreachable.err;

  StartCoordinator();
  WaitForCoordinator();
  CommandResult missing = Cli({"submit", Path("no-such-spec.yaml")});
  EXPECT_EQ(missing.exit_code, 2);
  EXPECT_NE(missing.err.find("no-such-spec.yaml"), std::string::npos) << missing.err;

  // Every problem is listed, each with its path; nothing is created.
  CommandResult invalid = Cli({"submit", WriteSpec("bad.yaml", R"(name: bad
objective: {mode: max}
budget: {epochs: 2, colour: red}
search:
  algorithm: grid
  space:
    optimizer:
      - {name: SGD, lr: -1}
      - {name: Adamm, lr: 0.1}
)")});
  EXPECT_EQ(invalid.exit_code, 2);
  for (const char* path : {"objective.metric", "budget.colour", "search.space.optimizer[0].lr",
                           "search.space.optimizer[1].name"}) {
    EXPECT_NE(invalid.err.find(path), std::string::npos) << path << " not in:\n" << invalid.err;
  }
  EXPECT_EQ(CliJson({"sweeps"}).size(), 0u);

  CommandResult unknown = Cli({"status", "no-such-sweep"});
  EXPECT_EQ(unknown.exit_code, 1);
}

TEST_F(EndToEnd, LocalModeRunsASweepToTheEnd) {
  std::string spec = kFourTrials;
  spec.replace(spec.find("epochs: 2"), 9, "epochs: 1");
  CommandResult run = RunCommand({BinDir() + "/segtune", "run", WriteSpec("local.yaml", spec), "--workers", "2",
                                  "--dir", Path("local"), "-o", "json"},
                                 dir_.string());
  ASSERT_EQ(run.exit_code, 0) << run.err;
  json best = json::parse(run.out);
  EXPECT_TRUE(best.at("trial_id").is_string());
  EXPECT_EQ(best.at("epoch"), 1);
  EXPECT_TRUE(fs::exists(Path("local/segtune.db")));
  EXPECT_TRUE(fs::exists(Path("local/checkpoints/" + best.at("trial_id").get<std::string>() + "/epoch-1")));
}

TEST_F(EndToEnd, LocalModeServesTheCoordinatorsMetricsWhileItRuns) {
  CommandResult malformed = RunCommand({BinDir() + "/segtune", "run", WriteSpec("bad.yaml", kFourTrials),
                                        "--metrics-listen", "9464", "--dir", Path("bad")},
                                       dir_.string());
  EXPECT_EQ(malformed.exit_code, 2);
  EXPECT_NE(malformed.err.find("--metrics-listen '9464'"), std::string::npos) << malformed.err;

  const int port = FreePort();
  Process run({BinDir() + "/segtune", "run", WriteSpec("metrics.yaml", kFourTrials), "--workers", "2",
               "--metrics-listen", "127.0.0.1:" + std::to_string(port), "--dir", Path("metrics")},
              Path("metrics.out"), Path("metrics.err"));
  // Scrape until a page shows the sweep running (or the run ends).
  std::string page;
  while (run.Running() && page.find("segtune_running_sweeps 1") == std::string::npos) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    page = segtune::testing::HttpGet(port, "/metrics");
  }
  EXPECT_EQ(run.Wait(), 0) << ReadFile(Path("metrics.err"));
  EXPECT_NE(page.find("segtune_running_sweeps 1"), std::string::npos) << page;
  EXPECT_NE(page.find("segtune_sweep_trials{state=\"PENDING\""), std::string::npos) << page;
  EXPECT_NE(ReadFile(Path("metrics.out")).find("Prometheus metrics on http://127.0.0.1:" + std::to_string(port)),
            std::string::npos);
}

// Three SGD learning rates under asha: one rung, at epoch 1 of 3, so the
// best of the three is promoted and the others stay STOPPED.
constexpr const char* kAshaThreeLrs = R"(name: e2e-asha
objective: {metric: val_miou, mode: max}
budget: {epochs: 3, parallelism: 1}
data: {dataset: shapes, image_size: 16, num_classes: 3, train_size: 32, val_size: 16, seed: 3}
model: {arch: unet, base_channels: 4, depth: 2}
training: {batch_size: 8, seed: 1}
search:
  algorithm: asha
  sampler: grid
  eta: 3
  space:
    optimizer:
      - {name: momentum, lr: LRS}
    scheduler:
      - {name: CosineAnnealingLR, T_max: epochs}
)";

std::string WithLrs(const std::string& lrs) {
  std::string spec = kAshaThreeLrs;
  spec.replace(spec.find("LRS"), 3, lrs);
  return spec;
}

TEST_F(EndToEnd, AshaPromotedTrialContinuesFromItsCheckpointAsIfNeverPaused) {
  StartCoordinator();
  StartWorker("worker-a");
  WaitForCoordinator();

  const std::string asha_id = CliJson({"submit", WriteSpec("asha.yaml", WithLrs("[0.05, 0.01, 0.002]"))}).at("sweep_id");
  EXPECT_EQ(WaitForSweep(asha_id, std::chrono::seconds(300)).at("state"), "COMPLETED");
  json trials = CliJson({"trials", asha_id});
  ASSERT_EQ(trials.size(), 3u);
  std::string promoted;
  for (const json& trial : trials) {
    if (trial.at("state") == "COMPLETED") {
      EXPECT_TRUE(promoted.empty()) << "two trials were promoted";
      promoted = trial.at("trial_id");
      EXPECT_EQ(trial.at("epochs_done"), 3);
      EXPECT_GE(trial.at("attempt"), 2) << "a promoted trial runs a second attempt";
    } else {
      EXPECT_EQ(trial.at("state"), "STOPPED") << trial.dump();
      EXPECT_EQ(trial.at("epochs_done"), 1);
      EXPECT_NE(trial.at("reason").get<std::string>().find("rung 0"), std::string::npos) << trial.dump();
    }
  }
  ASSERT_FALSE(promoted.empty());

  // The same configuration trained straight through (a one-point sweep)
  // gives the same numbers at every epoch: the promoted trial resumed from
  // its epoch-1 checkpoint, optimizer and cosine schedule included.
  const double lr = CliJson({"metrics", promoted})[0].at("metrics").at("lr");
  json promoted_params;
  for (const json& trial : trials) {
    if (trial.at("trial_id") == promoted) promoted_params = trial.at("params");
  }
  const double promoted_lr = promoted_params.at("optimizer").at("lr");
  std::ostringstream lr_text;
  lr_text.precision(17);
  lr_text << promoted_lr;
  std::string straight_spec = WithLrs(lr_text.str());
  straight_spec.replace(straight_spec.find("algorithm: asha"), 15, "algorithm: grid");
  straight_spec.replace(straight_spec.find("  sampler: grid\n  eta: 3\n"), 25, "");
  const std::string grid_id = CliJson({"submit", WriteSpec("straight.yaml", straight_spec)}).at("sweep_id");
  EXPECT_EQ(WaitForSweep(grid_id, std::chrono::seconds(300)).at("state"), "COMPLETED");
  json straight = CliJson({"trials", grid_id});
  ASSERT_EQ(straight.size(), 1u);
  EXPECT_EQ(straight[0].at("params"), promoted_params);
  json resumed_epochs = CliJson({"metrics", promoted});
  json straight_epochs = CliJson({"metrics", straight[0].at("trial_id").get<std::string>()});
  ASSERT_EQ(resumed_epochs.size(), 3u);
  ASSERT_EQ(straight_epochs.size(), 3u);
  for (int e = 0; e < 3; ++e) {
    for (const char* key : {"val_miou", "val_loss", "train_loss", "lr"}) {
      EXPECT_EQ(resumed_epochs[e].at("metrics").at(key), straight_epochs[e].at("metrics").at(key))
          << key << " at epoch " << e + 1;
    }
  }
  EXPECT_GT(lr, 0);
}

constexpr const char* kPbtFourMembers = R"(name: e2e-pbt
objective: {metric: val_miou, mode: max}
budget: {epochs: 4, max_trials: 4, parallelism: 4}
data: {dataset: shapes, image_size: 16, num_classes: 3, train_size: 32, val_size: 16, seed: 3}
model: {arch: unet, base_channels: 4, depth: 2}
training: {batch_size: 8, seed: 1}
search:
  algorithm: pbt
  perturbation_interval: 1
  quantile_fraction: 0.5
  seed: 5
  space:
    optimizer:
      - {name: SGD, lr: {loguniform: [0.0001, 0.3]}, momentum: {uniform: [0.5, 0.95]}}
    scheduler:
      - {name: StepLR, step_size: 2, gamma: 0.5}
)";

TEST_F(EndToEnd, PbtMembersCopyTheBestOnRealWorkersAndKeepTheirLineage) {
  StartCoordinator();
  StartWorker("worker-a", /*slots=*/2);
  StartWorker("worker-b", /*slots=*/2);
  WaitForCoordinator();

  const std::string sweep_id = CliJson({"submit", WriteSpec("pbt.yaml", kPbtFourMembers)}).at("sweep_id");
  EXPECT_EQ(WaitForSweep(sweep_id, std::chrono::seconds(300)).at("state"), "COMPLETED");
  json trials = CliJson({"trials", sweep_id});
  ASSERT_EQ(trials.size(), 4u);
  const auto rows = EpochRows();
  int exploits = 0;
  for (const json& trial : trials) {
    const std::string trial_id = trial.at("trial_id");
    EXPECT_EQ(trial.at("state"), "COMPLETED") << trial.dump();
    // Every epoch exactly once, also for members that switched weights midway.
    EXPECT_EQ(rows.at(trial_id), (std::vector<int>{1, 2, 3, 4})) << trial_id;
    const json& lineage = trial.at("lineage");
    ASSERT_TRUE(lineage.is_array());
    json epochs = CliJson({"metrics", trial_id});
    for (const json& entry : lineage) {
      ++exploits;
      const int epoch = entry.at("epoch");
      const int donor = entry.at("donor");
      EXPECT_NE(donor, trial.at("index"));
      EXPECT_GE(epoch, 1);
      EXPECT_LT(epoch, 4);
      // The epoch after the exploit trains on the donor's schedule (its
      // checkpoint holds the scheduler's state) scaled by lr_scale.
      const double scale = entry.at("resume").at("lr_scale");
      json donor_epochs = CliJson({"metrics", trials[donor].at("trial_id").get<std::string>()});
      const double donor_lr = donor_epochs[epoch].at("metrics").at("lr");
      const double lr = epochs[epoch].at("metrics").at("lr");
      EXPECT_NEAR(lr, donor_lr * scale, 1e-12 * donor_lr * scale) << trial_id << " " << entry.dump();
    }
  }
  EXPECT_GE(exploits, 1) << "no member ever copied another";
  // The table shows where each member's weights came from.
  CommandResult table = Cli({"trials", sweep_id});
  EXPECT_NE(table.out.find("LINEAGE"), std::string::npos) << table.out;
}

}  // namespace
}  // namespace segtune::testing
