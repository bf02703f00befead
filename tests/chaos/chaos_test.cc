// Chaos test (issue 7): a real sweep on a real coordinator and three real
// workers survives SIGKILLed workers, SIGKILLed coordinators and a graceful
// SIGTERM of each, and ends with every trial COMPLETED, every epoch stored
// exactly once and every per-epoch metric bit-identical to the same sweep run
// without faults (on its own coordinator and workers, in parallel).
//
// The faults come from a seeded RNG; the seed is printed, and the environment
// variable SEGTUNE_CHAOS_SEED replays one. docs/faults.md says what this proves.
#include <sqlite3.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "process.h"

namespace segtune::testing {
namespace {

using nlohmann::json;
using std::chrono::milliseconds;
using std::chrono::seconds;
using Clock = std::chrono::steady_clock;
namespace fs = std::filesystem;

constexpr int kEpochs = 10;
constexpr int kTrials = 4;
constexpr int kChaosWorkers = 3;
constexpr int kReferenceWorkers = 2;
constexpr int kLeaseSeconds = 3;
// The spec's budget.max_retries lets a trial lose 10 attempts; worker kills
// stop well short of that (see PickVictim), so no trial ends FAILED. An
// attempt number counts every lease, releases included.
constexpr int kMaxAttempts = 8;

// Four trials of ten epochs, sized so that an epoch takes roughly 1-2 s on an
// idle 2-core machine (longer under load): kills at random moments land
// mid-epoch, and the sweep outlasts the planned faults even when the machine
// is quiet. The plateau scheduler carries the most state across a resume
// (best value and bad-epoch count besides the lr).
constexpr const char* kSpec = R"(name: chaos
objective: {metric: val_miou, mode: max}
budget: {epochs: 10, parallelism: 4, max_retries: 10}
data: {dataset: shapes, image_size: 24, num_classes: 3, train_size: 480, val_size: 32, seed: 11}
model: {arch: unet, base_channels: 4, depth: 2}
training: {batch_size: 8, seed: 2}
search:
  algorithm: grid
  space:
    optimizer:
      - {name: momentum, lr: [0.05, 0.01]}
      - {name: Adam, lr: 0.003}
      - {name: RMSprop, lr: 0.001}
    scheduler:
      - {name: ReduceLROnPlateau, factor: 0.5, patience: 0}
)";

// A coordinator and its workers on one port and one data directory; each
// process is replaced by a new incarnation when it is killed and restarted,
// with its own log files (NAME-INCARNATION.err) kept for the post-mortem.
class Cluster {
 public:
  Cluster(fs::path dir, int workers) : dir_(std::move(dir)), workers_(workers) {
    fs::create_directories(dir_ / "cli");
    address_ = "127.0.0.1:" + std::to_string(FreePort());
  }

  const fs::path& dir() const { return dir_; }
  int worker_count() const { return static_cast<int>(workers_.size()); }

  void StartCoordinator() {
    const std::string log = "coordinator-" + std::to_string(++coordinator_incarnations_);
    // Metrics off: a restart must not race its predecessor for a second port.
    coordinator_ = std::make_unique<Process>(
        std::vector<std::string>{BinDir() + "/segtune-coordinator", "--listen", address_, "--data-dir",
                                 dir_.string(), "--lease-seconds", std::to_string(kLeaseSeconds),
                                 "--metrics-listen", ""},
        Path(log + ".out"), Path(log + ".err"));
  }
  // Polls until the coordinator answers (the CLI exits 3 until it listens).
  bool WaitUntilServing(seconds timeout) {
    const auto deadline = Clock::now() + timeout;
    while (Clock::now() < deadline) {
      if (Cli({"sweeps"}).exit_code != 3) return true;
      if (!coordinator_->Running()) return false;
      std::this_thread::sleep_for(milliseconds(100));
    }
    return false;
  }
  // Returns the exit code (128 + signal when killed).
  int StopCoordinator(int signal) { return coordinator_->Stop(signal, seconds(30)); }

  // The name of worker `slot`'s current incarnation, as `segtune workers` shows it.
  const std::string& WorkerName(int slot) const { return workers_[slot].name; }
  bool WorkerRunning(int slot) { return workers_[slot].process != nullptr && workers_[slot].process->Running(); }
  void StartWorker(int slot) {
    Worker& worker = workers_[slot];
    worker.name = "w" + std::to_string(slot) + "-" + std::to_string(++worker.incarnations);
    worker.process = std::make_unique<Process>(
        std::vector<std::string>{BinDir() + "/segtune-worker", "--coordinator", address_, "--threads", "1",
                                 "--slots", "1", "--name", worker.name},
        Path(worker.name + ".out"), Path(worker.name + ".err"));
  }
  int StopWorker(int slot, int signal) { return workers_[slot].process->Stop(signal, seconds(30)); }

  void Start() {
    StartCoordinator();
    for (int slot = 0; slot < worker_count(); ++slot) StartWorker(slot);
  }
  // Workers first (they release nothing: the sweep is over), then the
  // coordinator, so that the database is closed before it is read.
  void Stop() {
    for (Worker& worker : workers_) {
      if (worker.process) worker.process->Stop(SIGTERM);
    }
    if (coordinator_) coordinator_->Stop(SIGTERM);
  }

  CommandResult Cli(std::vector<std::string> args) {
    args.insert(args.begin(), {BinDir() + "/segtune", "--server", address_});
    return RunCommand(args, (dir_ / "cli").string());
  }
  // The JSON answer of a verb, or nothing while the coordinator is away.
  std::optional<json> CliJson(std::vector<std::string> args) {
    args.insert(args.end(), {"-o", "json"});
    const CommandResult result = Cli(args);
    if (result.exit_code != 0) return std::nullopt;
    json parsed = json::parse(result.out, nullptr, /*allow_exceptions=*/false);
    if (parsed.is_discarded()) return std::nullopt;
    return parsed;
  }

  // Every log the cluster's processes wrote, concatenated, for evidence.
  std::string Logs(const std::string& prefix) const {
    std::string all;
    for (const auto& entry : fs::directory_iterator(dir_)) {
      const std::string name = entry.path().filename().string();
      const fs::path extension = entry.path().extension();
      if (name.rfind(prefix, 0) == 0 && (extension == ".err" || extension == ".out")) {
        all += "==== " + name + "\n" + ReadFile(entry.path().string());
      }
    }
    return all;
  }

 private:
  struct Worker {
    std::unique_ptr<Process> process;
    std::string name;
    int incarnations = 0;
  };

  std::string Path(const std::string& name) const { return (dir_ / name).string(); }

  fs::path dir_;
  std::string address_;
  std::unique_ptr<Process> coordinator_;
  int coordinator_incarnations_ = 0;
  std::vector<Worker> workers_;
};

// One epoch row as stored.
struct EpochRow {
  int count = 0;    // rows for (trial, epoch); the key makes > 1 impossible, checked anyway
  int attempt = 0;  // the attempt that reported it
  json metrics;
};

struct StoredTrial {
  std::string trial_id;
  std::string state;
  int attempt = 0;
  json params;
  std::map<int, EpochRow> epochs;  // by epoch
};

// The trials of the only sweep in `db_path`, by trial index, read with the
// sqlite3 C API (read-only; the coordinator has stopped).
std::map<int, StoredTrial> ReadStore(const fs::path& db_path) {
  std::map<int, StoredTrial> trials;
  sqlite3* db = nullptr;
  if (sqlite3_open_v2(db_path.c_str(), &db, SQLITE_OPEN_READONLY, nullptr) != SQLITE_OK) {
    ADD_FAILURE() << "cannot open " << db_path << ": " << sqlite3_errmsg(db);
    sqlite3_close(db);
    return trials;
  }
  auto text = [](sqlite3_stmt* stmt, int column) {
    return std::string(reinterpret_cast<const char*>(sqlite3_column_text(stmt, column)));
  };
  std::map<std::string, int> index_of;
  sqlite3_stmt* stmt = nullptr;
  EXPECT_EQ(sqlite3_prepare_v2(db, "SELECT trial_index, trial_id, state, attempt, params_json FROM trials", -1,
                               &stmt, nullptr),
            SQLITE_OK)
      << sqlite3_errmsg(db);
  while (sqlite3_step(stmt) == SQLITE_ROW) {
    StoredTrial& trial = trials[sqlite3_column_int(stmt, 0)];
    trial.trial_id = text(stmt, 1);
    trial.state = text(stmt, 2);
    trial.attempt = sqlite3_column_int(stmt, 3);
    trial.params = json::parse(text(stmt, 4));
    index_of[trial.trial_id] = sqlite3_column_int(stmt, 0);
  }
  sqlite3_finalize(stmt);
  // Grouped by (trial, epoch): a duplicate would show as a count above 1.
  EXPECT_EQ(sqlite3_prepare_v2(db,
                               "SELECT trial_id, epoch, COUNT(*), MAX(attempt), MAX(metrics_json) FROM epochs "
                               "GROUP BY trial_id, epoch",
                               -1, &stmt, nullptr),
            SQLITE_OK)
      << sqlite3_errmsg(db);
  while (sqlite3_step(stmt) == SQLITE_ROW) {
    const std::string trial_id = text(stmt, 0);
    EXPECT_EQ(index_of.count(trial_id), 1u) << "epoch row of unknown trial " << trial_id;
    EpochRow& row = trials[index_of[trial_id]].epochs[sqlite3_column_int(stmt, 1)];
    row.count = sqlite3_column_int(stmt, 2);
    row.attempt = sqlite3_column_int(stmt, 3);
    row.metrics = json::parse(text(stmt, 4));
  }
  sqlite3_finalize(stmt);
  sqlite3_close(db);
  return trials;
}

// Polls `segtune status` until the sweep leaves RUNNING; the last status seen.
json WaitForSweep(Cluster& cluster, const std::string& sweep_id, Clock::time_point deadline) {
  json status;
  while (Clock::now() < deadline) {
    if (std::optional<json> answer = cluster.CliJson({"status", sweep_id})) {
      status = *answer;
      if (status.value("state", "") != "RUNNING") return status;
    }
    std::this_thread::sleep_for(milliseconds(500));
  }
  return status;
}

std::string SubmitSpec(Cluster& cluster) {
  const std::string spec = (cluster.dir() / "spec.yaml").string();
  std::ofstream(spec) << kSpec;
  std::optional<json> submitted = cluster.CliJson({"submit", spec});
  if (!submitted) return "";
  return submitted->at("sweep_id");
}

enum class Fault { kWorkerKill, kWorkerTerm, kCoordinatorKill, kCoordinatorTerm };

// Injects faults into a cluster running one sweep and keeps count of them.
class ChaosMonkey {
 public:
  ChaosMonkey(Cluster& cluster, std::string sweep_id, std::uint32_t seed)
      : cluster_(cluster), sweep_id_(std::move(sweep_id)), rng_(seed) {}

  // Injects faults every 0.7-2 s: first, in a seeded order, the ones the test
  // must see (three coordinator SIGKILLs, a SIGTERM of the coordinator and of
  // a worker, two worker SIGKILLs), then worker SIGKILLs until the sweep is
  // near its end or `budget` has passed. Returns with every process running
  // again.
  void Run(Clock::duration budget) {
    std::vector<Fault> plan = {Fault::kCoordinatorKill, Fault::kCoordinatorKill, Fault::kCoordinatorKill,
                               Fault::kCoordinatorTerm, Fault::kWorkerTerm,      Fault::kWorkerKill,
                               Fault::kWorkerKill};
    std::shuffle(plan.begin(), plan.end(), rng_);
    const auto stop_at = Clock::now() + budget;
    auto next_fault = Clock::now() + Uniform(700, 2000);
    std::size_t planned = 0;
    while (Clock::now() < stop_at) {
      RestartDueWorkers();
      if (Clock::now() >= next_fault) {
        const bool plan_done = planned == plan.size();
        if (plan_done && NearTheEnd()) break;
        const Fault fault = plan_done ? Fault::kWorkerKill : plan[planned];
        if (Inject(fault)) {
          planned += plan_done ? 0 : 1;
          next_fault = Clock::now() + Uniform(700, 2000);
        } else {
          next_fault = Clock::now() + milliseconds(500);  // nothing to hit right now
        }
      }
      std::this_thread::sleep_for(milliseconds(50));
    }
    for (int slot = 0; slot < cluster_.worker_count(); ++slot) {
      if (!cluster_.WorkerRunning(slot)) Restart(slot);
    }
    restart_at_.clear();
  }

  int count(Fault fault) const {
    auto it = counts_.find(fault);
    return it == counts_.end() ? 0 : it->second;
  }
  int busy_worker_kills() const { return busy_worker_kills_; }
  int worker_restarts() const { return worker_restarts_; }
  int coordinator_restarts() const { return coordinator_restarts_; }
  // Exit codes of the processes stopped with SIGTERM (each should be 0).
  const std::vector<int>& graceful_exit_codes() const { return graceful_exit_codes_; }
  const std::vector<std::string>& log() const { return log_; }

 private:
  Clock::duration Uniform(int low_ms, int high_ms) {
    return milliseconds(std::uniform_int_distribution<int>(low_ms, high_ms)(rng_));
  }
  void Note(const std::string& line) {
    log_.push_back(line);
    std::cout << "[chaos] " << line << std::endl;
  }

  bool Inject(Fault fault) {
    switch (fault) {
      case Fault::kCoordinatorKill:
      case Fault::kCoordinatorTerm:
        return HitCoordinator(fault == Fault::kCoordinatorKill ? SIGKILL : SIGTERM, fault);
      case Fault::kWorkerKill:
      case Fault::kWorkerTerm:
        return HitWorker(fault == Fault::kWorkerKill ? SIGKILL : SIGTERM, fault);
    }
    return false;
  }

  // Stops the coordinator, leaves it down 0.5-2 s (pending worker restarts
  // still happen), then restarts it on the same port and data directory.
  bool HitCoordinator(int signal, Fault fault) {
    const int code = cluster_.StopCoordinator(signal);
    if (signal == SIGTERM) graceful_exit_codes_.push_back(code);
    ++counts_[fault];
    const auto down_until = Clock::now() + Uniform(500, 2000);
    Note(std::string(signal == SIGKILL ? "SIGKILL" : "SIGTERM") + " coordinator (exit " + std::to_string(code) +
         ")");
    while (Clock::now() < down_until) {
      RestartDueWorkers();
      std::this_thread::sleep_for(milliseconds(50));
    }
    cluster_.StartCoordinator();
    ++coordinator_restarts_;
    const bool serving = cluster_.WaitUntilServing(seconds(60));
    EXPECT_TRUE(serving) << "the restarted coordinator does not answer";
    Note("coordinator restarted");
    return true;
  }

  // A running worker to hit (slot, whether it trains a trial), or slot -1.
  // SIGTERM: one training a trial (a release is not a failure). SIGKILL: one
  // training a trial whose lease it may still lose without the trial
  // FAILING (attempt below kMaxAttempts) and with at least two epochs left
  // (so that it cannot finish and lease another trial between this look and
  // the kill); otherwise an idle one, but only while no trial can be leased
  // (none pending, none held by a dead worker), for the same reason.
  std::pair<int, bool> PickVictim(int signal) {
    std::optional<json> workers = cluster_.CliJson({"workers"});
    std::optional<json> trials = cluster_.CliJson({"trials", sweep_id_});
    if (!workers || !trials) return {-1, false};
    std::vector<int> busy;
    std::vector<int> idle;
    std::set<std::string> held;  // trials held by the workers running now
    std::map<std::string, json> trial_by_id;
    for (const json& trial : *trials) trial_by_id[trial.at("trial_id")] = trial;
    for (int slot = 0; slot < cluster_.worker_count(); ++slot) {
      if (!cluster_.WorkerRunning(slot)) continue;
      const json* seen = nullptr;
      for (const json& worker : *workers) {
        if (worker.at("name") == cluster_.WorkerName(slot) && worker.value("alive", false)) seen = &worker;
      }
      if (seen == nullptr) continue;  // not registered yet
      const json& running = seen->at("running_trial_ids");
      if (running.empty()) {
        idle.push_back(slot);
        continue;
      }
      const std::string trial_id = running[0];
      held.insert(trial_id);
      auto trial = trial_by_id.find(trial_id);
      if (trial == trial_by_id.end()) continue;
      const bool can_lose = trial->second.at("attempt").get<int>() < kMaxAttempts &&
                            trial->second.at("epochs_done").get<int>() <= kEpochs - 2;
      if (signal == SIGTERM || can_lose) busy.push_back(slot);
    }
    auto pick = [&](const std::vector<int>& pool) {
      return pool[std::uniform_int_distribution<std::size_t>(0, pool.size() - 1)(rng_)];
    };
    if (!busy.empty()) return {pick(busy), true};
    if (signal == SIGTERM || idle.empty()) return {-1, false};
    for (const auto& [trial_id, trial] : trial_by_id) {
      const std::string state = trial.at("state");
      if (state == "PENDING" || (state == "RUNNING" && held.count(trial_id) == 0)) return {-1, false};
    }
    return {pick(idle), false};
  }

  bool HitWorker(int signal, Fault fault) {
    const auto [slot, busy] = PickVictim(signal);
    if (slot < 0) return false;
    if (signal == SIGKILL && busy) ++busy_worker_kills_;
    const std::string name = cluster_.WorkerName(slot);
    const int code = cluster_.StopWorker(slot, signal);
    if (signal == SIGTERM) graceful_exit_codes_.push_back(code);
    ++counts_[fault];
    // Sometimes at once, otherwise after up to 2 s.
    const auto delay = std::bernoulli_distribution(0.3)(rng_) ? milliseconds(0) : Uniform(200, 2000);
    restart_at_[slot] = Clock::now() + delay;
    Note(std::string(signal == SIGKILL ? "SIGKILL" : "SIGTERM") + " worker " + name + (busy ? " (training" : " (idle") + ", exit " +
         std::to_string(code) + "), restart in " +
         std::to_string(std::chrono::duration_cast<milliseconds>(delay).count()) + " ms");
    return true;
  }

  void Restart(int slot) {
    cluster_.StartWorker(slot);
    ++worker_restarts_;
    Note("worker " + cluster_.WorkerName(slot) + " started");
  }
  void RestartDueWorkers() {
    for (auto it = restart_at_.begin(); it != restart_at_.end();) {
      if (Clock::now() >= it->second) {
        Restart(it->first);
        it = restart_at_.erase(it);
      } else {
        ++it;
      }
    }
  }

  // True when at most a few epochs are left: faults then would only stretch
  // the tail of the sweep.
  bool NearTheEnd() {
    std::optional<json> trials = cluster_.CliJson({"trials", sweep_id_});
    if (!trials) return false;
    int done = 0;
    for (const json& trial : *trials) done += trial.at("epochs_done").get<int>();
    return done >= kTrials * kEpochs - 3;
  }

  Cluster& cluster_;
  std::string sweep_id_;
  std::mt19937 rng_;
  std::map<int, Clock::time_point> restart_at_;  // killed worker slots, by when they come back
  std::map<Fault, int> counts_;
  int busy_worker_kills_ = 0;
  int worker_restarts_ = 0;
  int coordinator_restarts_ = 0;
  std::vector<int> graceful_exit_codes_;
  std::vector<std::string> log_;
};

std::uint32_t ChaosSeed() {
  if (const char* given = std::getenv("SEGTUNE_CHAOS_SEED"); given != nullptr && *given != '\0') {
    return static_cast<std::uint32_t>(std::strtoul(given, nullptr, 10));
  }
  return std::random_device{}();
}

json WithoutTimings(json metrics) {
  metrics.erase("epoch_seconds");
  metrics.erase("images_per_second");
  return metrics;
}

TEST(Chaos, SweepSurvivesKilledWorkersAndCoordinatorsWithEveryMetricIntact) {
  const std::uint32_t seed = ChaosSeed();
  std::cout << "chaos seed " << seed << " (replay: SEGTUNE_CHAOS_SEED=" << seed << ")" << std::endl;
  const auto started = Clock::now();
  const fs::path root = fs::temp_directory_path() / ("segtune-chaos-" + std::to_string(seed) + "-" +
                                                     std::to_string(std::random_device{}()));

  // The fault-free reference runs beside the chaos, on its own coordinator.
  Cluster reference(root / "reference", kReferenceWorkers);
  Cluster chaos(root / "chaos", kChaosWorkers);
  reference.Start();
  chaos.Start();
  ASSERT_TRUE(reference.WaitUntilServing(seconds(60)));
  ASSERT_TRUE(chaos.WaitUntilServing(seconds(60)));
  const std::string reference_id = SubmitSpec(reference);
  const std::string chaos_id = SubmitSpec(chaos);
  ASSERT_FALSE(reference_id.empty());
  ASSERT_FALSE(chaos_id.empty());

  ChaosMonkey monkey(chaos, chaos_id, seed);
  monkey.Run(seconds(90));
  const auto finish_deadline = Clock::now() + seconds(300);
  const json chaos_status = WaitForSweep(chaos, chaos_id, finish_deadline);
  const json reference_status = WaitForSweep(reference, reference_id, finish_deadline);
  const std::optional<json> chaos_trials = chaos.CliJson({"trials", chaos_id});
  const auto sweep_done = Clock::now();
  chaos.Stop();
  reference.Stop();

  const std::map<int, StoredTrial> stored = ReadStore(chaos.dir() / "segtune.db");
  const std::map<int, StoredTrial> expected = ReadStore(reference.dir() / "segtune.db");
  const std::string worker_logs = chaos.Logs("w");
  auto occurrences = [&](const std::string& needle) {
    int n = 0;
    for (std::size_t at = worker_logs.find(needle); at != std::string::npos; at = worker_logs.find(needle, at + 1)) {
      ++n;
    }
    return n;
  };

  // The summary comes first so that a failure below still shows it.
  std::ostringstream summary;
  summary << "chaos summary: seed " << seed << "; coordinator SIGKILL " << monkey.count(Fault::kCoordinatorKill)
          << ", SIGTERM " << monkey.count(Fault::kCoordinatorTerm) << ", restarts " << monkey.coordinator_restarts()
          << "; worker SIGKILL " << monkey.count(Fault::kWorkerKill) << " (" << monkey.busy_worker_kills()
          << " training a trial), SIGTERM " << monkey.count(Fault::kWorkerTerm) << ", restarts "
          << monkey.worker_restarts() << "; resumed from a checkpoint " << occurrences("resuming from the checkpoint")
          << "x, replayed " << occurrences("replaying epochs") << "x; attempts:";
  double epoch_seconds = 0;
  int epoch_rows = 0;
  for (const auto& [index, trial] : stored) {
    summary << " #" << index << "=" << trial.attempt << " (epochs by attempt";
    for (const auto& [epoch, row] : trial.epochs) {
      summary << " " << row.attempt;
      epoch_seconds += row.metrics.value("epoch_seconds", 0.0);
      ++epoch_rows;
    }
    summary << ")";
  }
  summary << "; mean epoch " << (epoch_rows == 0 ? 0 : epoch_seconds / epoch_rows) << " s";
  summary << "; sweep " << std::chrono::duration_cast<seconds>(sweep_done - started).count() << " s";
  std::cout << summary.str() << std::endl;

  EXPECT_EQ(chaos_status.value("state", ""), "COMPLETED") << chaos_status.dump();
  EXPECT_EQ(reference_status.value("state", ""), "COMPLETED") << reference_status.dump();
  ASSERT_TRUE(chaos_trials.has_value());
  for (const json& trial : *chaos_trials) EXPECT_EQ(trial.at("state"), "COMPLETED") << trial.dump();

  // The faults happened, and at least one trial was taken over by another attempt.
  EXPECT_GE(monkey.count(Fault::kCoordinatorKill), 3);
  EXPECT_GE(monkey.count(Fault::kCoordinatorTerm), 1);
  EXPECT_GE(monkey.count(Fault::kWorkerKill), 2);
  EXPECT_GE(monkey.count(Fault::kWorkerTerm), 1);
  EXPECT_GE(monkey.busy_worker_kills(), 1);
  for (int code : monkey.graceful_exit_codes()) EXPECT_EQ(code, 0) << "a SIGTERM did not drain cleanly";
  int resumed_trials = 0;
  for (const auto& [index, trial] : stored) {
    int first_attempt = -1;
    for (const auto& [epoch, row] : trial.epochs) {
      if (first_attempt < 0) first_attempt = row.attempt;
      if (row.attempt != first_attempt) {
        ++resumed_trials;  // its epochs came from more than one attempt
        break;
      }
    }
  }
  EXPECT_GE(resumed_trials, 1) << "no trial continued on another attempt";
  EXPECT_GE(occurrences("resuming from the checkpoint"), 1) << "no attempt started from a checkpoint";

  // Every trial COMPLETED with exactly one row per epoch 1..E, each equal,
  // bit for bit, to the fault-free run's (timings aside).
  ASSERT_EQ(stored.size(), static_cast<std::size_t>(kTrials));
  ASSERT_EQ(expected.size(), static_cast<std::size_t>(kTrials));
  for (const auto& [index, trial] : stored) {
    const StoredTrial& plain = expected.at(index);
    EXPECT_EQ(trial.state, "COMPLETED") << trial.trial_id;
    EXPECT_EQ(trial.params, plain.params) << "trial #" << index;
    ASSERT_EQ(trial.epochs.size(), static_cast<std::size_t>(kEpochs)) << trial.trial_id;
    ASSERT_EQ(plain.epochs.size(), static_cast<std::size_t>(kEpochs)) << plain.trial_id;
    for (int epoch = 1; epoch <= kEpochs; ++epoch) {
      ASSERT_EQ(trial.epochs.count(epoch), 1u) << trial.trial_id << " has no epoch " << epoch;
      const EpochRow& row = trial.epochs.at(epoch);
      EXPECT_EQ(row.count, 1) << trial.trial_id << " epoch " << epoch;
      EXPECT_EQ(WithoutTimings(row.metrics), WithoutTimings(plain.epochs.at(epoch).metrics))
          << trial.trial_id << " (attempt " << row.attempt << ") vs " << plain.trial_id << ", epoch " << epoch;
    }
  }

  if (HasFailure()) {
    std::cerr << summary.str() << "\nfaults:\n";
    for (const std::string& line : monkey.log()) std::cerr << "  " << line << "\n";
    std::cerr << "logs kept in " << root << "\n" << chaos.Logs("coordinator") << worker_logs;
  } else {
    fs::remove_all(root);
  }
}

}  // namespace
}  // namespace segtune::testing
