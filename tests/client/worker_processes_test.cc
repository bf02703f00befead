#include "segtune/client/worker_processes.h"

#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace segtune::client {
namespace {

using ::testing::HasSubstr;
namespace fs = std::filesystem;

class WorkerProcessesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("segtune_client_test_" + std::to_string(::getpid()) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  std::string MakeExecutable(const fs::path& path) {
    fs::create_directories(path.parent_path());
    std::ofstream(path) << "#!/bin/sh\nexit 0\n";
    fs::permissions(path, fs::perms::owner_all);
    return path.string();
  }

  static std::string ReadFile(const fs::path& path) {
    std::ifstream file(path);
    std::stringstream text;
    text << file.rdbuf();
    return text.str();
  }

  // Waits until `processes` reports an exit, for at most five seconds.
  static std::vector<ExitedProcess> WaitForExit(WorkerProcesses& processes) {
    for (int i = 0; i < 500; ++i) {
      std::vector<ExitedProcess> exited = processes.ReapExited();
      if (!exited.empty()) return exited;
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return {};
  }

  fs::path dir_;
};

TEST_F(WorkerProcessesTest, FindsTheWorkerBesideTheExecutableFirst) {
  std::string beside = MakeExecutable(dir_ / "bin" / "segtune-worker");
  MakeExecutable(dir_ / "path" / "segtune-worker");
  auto found = FindWorkerBinary((dir_ / "bin" / "segtune").string(), (dir_ / "path").string());
  ASSERT_TRUE(found.ok()) << found.status();
  EXPECT_EQ(*found, beside);
}

TEST_F(WorkerProcessesTest, FallsBackToPath) {
  std::string on_path = MakeExecutable(dir_ / "path2" / "segtune-worker");
  auto found = FindWorkerBinary((dir_ / "bin" / "segtune").string(),
                                "/nonexistent:" + (dir_ / "path1").string() + ":" + (dir_ / "path2").string());
  ASSERT_TRUE(found.ok()) << found.status();
  EXPECT_EQ(*found, on_path);
}

TEST_F(WorkerProcessesTest, NotFoundNamesWhereItLooked) {
  std::ofstream(dir_ / "segtune-worker") << "not executable";  // exists, but no x bit
  auto found = FindWorkerBinary((dir_ / "segtune").string(), "/nonexistent");
  ASSERT_FALSE(found.ok());
  EXPECT_EQ(found.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(std::string(found.status().message()), HasSubstr((dir_ / "segtune-worker").string()));
  EXPECT_THAT(std::string(found.status().message()), HasSubstr("$PATH"));
}

TEST_F(WorkerProcessesTest, ReportsAnExitWithItsStatusAndLogsOutput) {
  WorkerProcesses processes;
  std::string log = (dir_ / "worker-1.log").string();
  ASSERT_TRUE(processes.Start("/bin/sh", {"-c", "echo to-stdout; echo to-stderr >&2; exit 3"}, "local-1", log).ok());
  std::vector<ExitedProcess> exited = WaitForExit(processes);
  ASSERT_EQ(exited.size(), 1u);
  EXPECT_EQ(exited[0].name, "local-1");
  EXPECT_EQ(exited[0].log_path, log);
  EXPECT_EQ(DescribeWaitStatus(exited[0].wait_status), "exited with status 3");
  EXPECT_EQ(processes.running(), 0);
  EXPECT_EQ(ReadFile(log), "to-stdout\nto-stderr\n");
}

TEST_F(WorkerProcessesTest, ExecFailureExitsWith127AndSaysWhy) {
  WorkerProcesses processes;
  std::string log = (dir_ / "worker-1.log").string();
  ASSERT_TRUE(processes.Start((dir_ / "missing").string(), {}, "local-1", log).ok());
  std::vector<ExitedProcess> exited = WaitForExit(processes);
  ASSERT_EQ(exited.size(), 1u);
  EXPECT_EQ(DescribeWaitStatus(exited[0].wait_status), "exited with status 127");
  EXPECT_THAT(ReadFile(log), HasSubstr("cannot execute " + (dir_ / "missing").string()));
}

TEST_F(WorkerProcessesTest, StopAllTerminatesAndReaps) {
  WorkerProcesses processes;
  ASSERT_TRUE(processes.Start("/bin/sleep", {"30"}, "a", (dir_ / "a.log").string()).ok());
  ASSERT_TRUE(processes.Start("/bin/sleep", {"30"}, "b", (dir_ / "b.log").string()).ok());
  EXPECT_EQ(processes.running(), 2);
  EXPECT_TRUE(processes.ReapExited().empty());
  auto start = std::chrono::steady_clock::now();
  processes.StopAll(std::chrono::seconds(5));
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(4));
  EXPECT_EQ(processes.running(), 0);
}

TEST_F(WorkerProcessesTest, StopAllKillsAChildThatIgnoresSigterm) {
  WorkerProcesses processes;
  ASSERT_TRUE(processes.Start("/bin/sh", {"-c", "trap '' TERM; while :; do sleep 0.05; done"}, "stubborn",
                              (dir_ / "s.log").string())
                  .ok());
  std::this_thread::sleep_for(std::chrono::milliseconds(100));  // let the shell install its trap
  processes.StopAll(std::chrono::milliseconds(300));
  EXPECT_EQ(processes.running(), 0);
}

TEST(DescribeWaitStatusTest, NamesTheSignal) {
  pid_t child = ::fork();
  if (child == 0) {
    ::pause();
    _exit(0);
  }
  ::kill(child, SIGKILL);
  int status = 0;
  ::waitpid(child, &status, 0);
  EXPECT_THAT(DescribeWaitStatus(status), HasSubstr("was killed by signal 9"));
}

}  // namespace
}  // namespace segtune::client
