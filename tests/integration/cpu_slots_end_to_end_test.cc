// Two CPU slots on one real worker: two trials train at once, and together
// they use no more threads than the machine has cores (LibTorch's thread
// count is process-wide, and the worker's default is cores / slots per
// trial). The threads are counted from /proc: a thread counts as computing
// when it used more than a tenth of a core while both trials trained.
#include <dirent.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <random>
#include <sstream>
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

// Two trials of a few seconds each on a 2-core machine.
constexpr const char* kSpec = R"(name: two-cpu-slots
objective: {metric: val_miou, mode: max}
budget: {epochs: 3, parallelism: 2}
data: {dataset: shapes, image_size: 64, num_classes: 3, train_size: 512, val_size: 32, seed: 3}
model: {arch: unet, base_channels: 16, depth: 2}
training: {batch_size: 16, seed: 0}
search:
  algorithm: grid
  space:
    optimizer:
      - {name: Adam, lr: [1.0e-3, 3.0e-3]}
)";

// CPU seconds (user + system) of each thread of `pid`, by thread id.
std::map<int, double> ThreadCpuSeconds(pid_t pid) {
  std::map<int, double> seconds;
  const std::string task_dir = "/proc/" + std::to_string(pid) + "/task";
  DIR* dir = opendir(task_dir.c_str());
  if (dir == nullptr) return seconds;
  const double ticks = static_cast<double>(sysconf(_SC_CLK_TCK));
  while (const dirent* entry = readdir(dir)) {
    if (entry->d_name[0] == '.') continue;
    std::ifstream stat(task_dir + "/" + entry->d_name + "/stat");
    std::string line;
    if (!std::getline(stat, line)) continue;  // the thread ended meanwhile
    // Fields after the command name (which may hold spaces, inside
    // parentheses): state is field 3, utime 14 and stime 15.
    std::istringstream fields(line.substr(line.rfind(')') + 2));
    std::vector<std::string> values;
    for (std::string value; fields >> value;) values.push_back(value);
    if (values.size() < 13) continue;
    seconds[std::stoi(entry->d_name)] = (std::stod(values[11]) + std::stod(values[12])) / ticks;
  }
  closedir(dir);
  return seconds;
}

class CpuSlotsEndToEnd : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("segtune-cpu-slots-" + std::to_string(std::random_device{}()));
    fs::create_directories(dir_);
    address_ = "127.0.0.1:" + std::to_string(FreePort());
  }
  void TearDown() override {
    if (worker_) worker_->Stop();
    if (coordinator_) coordinator_->Stop();
    if (HasFailure()) {
      if (coordinator_) std::cerr << "coordinator log:\n" << coordinator_->Stderr() << "\n";
      if (worker_) std::cerr << "worker log:\n" << worker_->Stderr() << "\n";
      std::cerr << "files kept in " << dir_ << "\n";
    } else {
      fs::remove_all(dir_);
    }
  }
  std::string Path(const std::string& name) const { return (dir_ / name).string(); }
  json CliJson(std::vector<std::string> args) {
    args.insert(args.begin(), {BinDir() + "/segtune", "--server", address_});
    args.insert(args.end(), {"-o", "json"});
    const CommandResult result = RunCommand(args, dir_.string());
    if (result.exit_code != 0) return json();
    return json::parse(result.out);
  }
  // The worker's busy slots as the coordinator sees them; -1 before it registered.
  int BusySlots() {
    const json workers = CliJson({"workers"});
    return workers.is_array() && workers.size() == 1 ? workers[0].value("busy_slots", -1) : -1;
  }

  fs::path dir_;
  std::string address_;
  std::unique_ptr<Process> coordinator_;
  std::unique_ptr<Process> worker_;
};

TEST_F(CpuSlotsEndToEnd, TwoTrialsTrainAtOnceWithoutOversubscribingTheCores) {
  const int cores = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  coordinator_ = std::make_unique<Process>(
      std::vector<std::string>{BinDir() + "/segtune-coordinator", "--listen", address_, "--data-dir",
                               dir_.string()},
      Path("coordinator.out"), Path("coordinator.err"));
  // No --threads: the worker picks cores / slots itself.
  worker_ = std::make_unique<Process>(
      std::vector<std::string>{BinDir() + "/segtune-worker", "--coordinator", address_, "--device", "cpu",
                               "--slots", "2", "--name", "two-slots"},
      Path("worker.out"), Path("worker.err"));
  std::ofstream(Path("spec.yaml")) << kSpec;
  json submitted;
  for (int i = 0; i < 80 && !submitted.contains("sweep_id"); ++i) {
    submitted = CliJson({"submit", Path("spec.yaml")});
    if (!submitted.contains("sweep_id")) std::this_thread::sleep_for(std::chrono::milliseconds(250));
  }
  ASSERT_TRUE(submitted.contains("sweep_id")) << "the coordinator did not take the sweep";
  const std::string sweep_id = submitted.at("sweep_id");

  // Both slots busy at once, as the coordinator sees it.
  const Clock::time_point start = Clock::now();
  while (BusySlots() != 2 && Clock::now() - start < std::chrono::seconds(60)) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  ASSERT_EQ(BusySlots(), 2) << "the two trials never ran at once";

  // Threads that computed while both trials trained.
  const std::map<int, double> before = ThreadCpuSeconds(worker_->pid());
  const Clock::time_point window_start = Clock::now();
  std::this_thread::sleep_for(std::chrono::seconds(2));
  const std::map<int, double> after = ThreadCpuSeconds(worker_->pid());
  const double window = std::chrono::duration<double>(Clock::now() - window_start).count();
  const bool both_still_training = BusySlots() == 2;
  int computing_threads = 0;
  double total_cpu = 0;
  for (const auto& [tid, seconds] : after) {
    const auto earlier = before.find(tid);
    const double used = seconds - (earlier == before.end() ? 0.0 : earlier->second);
    total_cpu += used;
    if (used > 0.1 * window) ++computing_threads;
  }
  std::cout << "two CPU slots on " << cores << " core(s): " << computing_threads << " computing thread(s) of "
            << after.size() << ", " << total_cpu / window << " cores used\n";
  if (both_still_training) {
    EXPECT_GE(computing_threads, 2) << "each trial should have a thread computing";
    EXPECT_LE(computing_threads, cores) << "more threads computing than cores: oversubscribed";
  } else {
    ADD_FAILURE() << "a trial ended inside the 2 s window; the spec must train longer";
  }

  // Both trials complete, and their epochs interleave in time.
  json status;
  while (Clock::now() - start < std::chrono::seconds(240)) {
    status = CliJson({"status", sweep_id});
    if (status.value("state", "") != "RUNNING") break;
    std::this_thread::sleep_for(std::chrono::milliseconds(250));
  }
  ASSERT_EQ(status.value("state", ""), "COMPLETED") << status.dump();
  const json trials = CliJson({"trials", sweep_id});
  ASSERT_EQ(trials.size(), 2u);
  // First and last epoch report of each trial: fixed-width UTC ISO 8601
  // times, so they compare as strings.
  std::vector<std::pair<std::string, std::string>> spans;
  for (const json& trial : trials) {
    EXPECT_EQ(trial.at("state"), "COMPLETED") << trial.dump();
    const json epochs = CliJson({"metrics", trial.at("trial_id")});
    ASSERT_EQ(epochs.size(), 3u);
    spans.emplace_back(epochs.front().at("reported_at").get<std::string>(),
                       epochs.back().at("reported_at").get<std::string>());
  }
  EXPECT_LT(spans[0].first, spans[1].second) << "trial 2 finished before trial 1 reported anything";
  EXPECT_LT(spans[1].first, spans[0].second) << "trial 1 finished before trial 2 reported anything";
}

}  // namespace
}  // namespace segtune::testing
