#include "segtune/client/commands.h"

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <yaml-cpp/yaml.h>

#include "fake_tuner.h"
#include "segtune/client/errors.h"

namespace segtune::client {
namespace {

using nlohmann::json;
using ::testing::HasSubstr;
namespace fs = std::filesystem;

class CommandsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    spec_dir_ = fs::temp_directory_path() / ("segtune_commands_test_" + std::to_string(::getpid()));
    fs::create_directories(spec_dir_);
  }
  void TearDown() override { fs::remove_all(spec_dir_); }

  Output MakeOutput(OutputFormat format) {
    Output output;
    output.out = &out_;
    output.err = &err_;
    output.format = format;
    return output;
  }

  std::string WriteSpec(const std::string& name, const std::string& text) {
    fs::path path = spec_dir_ / name;
    std::ofstream(path) << text;
    return path.string();
  }

  testing::FakeTunerServer server_;
  TunerClient client_{server_.address(), std::chrono::seconds(5)};
  std::ostringstream out_;
  std::ostringstream err_;
  fs::path spec_dir_;
};

TEST_F(CommandsTest, SubmitPrintsTheSweepId) {
  std::string spec = WriteSpec("ok.yaml", "name: x\n");
  ASSERT_TRUE(Submit(client_, spec, MakeOutput(OutputFormat::kTable)).ok());
  EXPECT_EQ(out_.str(), "s1\n");
}

TEST_F(CommandsTest, SubmitJsonHasIdAndTrialCount) {
  std::string spec = WriteSpec("ok.yaml", "name: x\n");
  ASSERT_TRUE(Submit(client_, spec, MakeOutput(OutputFormat::kJson)).ok());
  EXPECT_EQ(json::parse(out_.str()), json({{"sweep_id", "s1"}, {"total_trials", 2}}));
}

TEST_F(CommandsTest, InvalidSpecListsEveryProblem) {
  std::string spec = WriteSpec("bad.yaml", "name: invalid\n");
  absl::Status status = Submit(client_, spec, MakeOutput(OutputFormat::kTable));
  EXPECT_EQ(ExitCodeFor(status), kExitUsage);
  EXPECT_EQ(status.message(), "spec " + spec + " is invalid:\n"
                              "  search.space.optimizer[0].lr: must be >= 0\n"
                              "  budget.epochs: must be > 0");
  EXPECT_EQ(out_.str(), "");
}

TEST_F(CommandsTest, SpecOverTheMessageLimitIsAUsageErrorNamingTheFile) {
  std::string spec = WriteSpec("big.yaml", "name: huge\n");
  absl::Status status = Submit(client_, spec, MakeOutput(OutputFormat::kTable));
  EXPECT_EQ(ExitCodeFor(status), kExitUsage);
  EXPECT_EQ(status.message(), "spec " + spec + " is too large for the coordinator (11 bytes): "
                              "Received message larger than max (9000000 vs. 8388608)");
}

TEST_F(CommandsTest, UnreadableSpecNamesTheFile) {
  std::string missing = (spec_dir_ / "missing.yaml").string();
  absl::Status status = Submit(client_, missing, MakeOutput(OutputFormat::kTable));
  EXPECT_EQ(ExitCodeFor(status), kExitUsage);
  EXPECT_THAT(std::string(status.message()), HasSubstr("'" + missing + "'"));
  EXPECT_EQ(ExitCodeFor(ReadSpecFile(spec_dir_.string()).status()), kExitUsage);
}

TEST_F(CommandsTest, TrialsJsonIsAnArrayWithParsedParams) {
  ASSERT_TRUE(ListTrials(client_, "s1", MakeOutput(OutputFormat::kJson)).ok());
  json trials = json::parse(out_.str());
  ASSERT_TRUE(trials.is_array());
  ASSERT_EQ(trials.size(), 2u);
  EXPECT_EQ(trials[0]["state"], "COMPLETED");
  EXPECT_EQ(trials[0]["params"]["optimizer"]["lr"], 0.05);
  EXPECT_EQ(trials[1]["state"], "RUNNING");
  EXPECT_EQ(trials[1]["worker_id"], "w-1");
}

TEST_F(CommandsTest, TrialsJsonListsEveryAttemptWithItsReason) {
  ASSERT_TRUE(ListTrials(client_, "s1", MakeOutput(OutputFormat::kJson)).ok());
  json trials = json::parse(out_.str());
  ASSERT_EQ(trials[0]["attempts"].size(), 2u);
  EXPECT_EQ(trials[0]["attempts"][0], json::parse(R"({"attempt": 1, "worker_id": "w-2", "state": "FAILED",
      "reason": "CUDA out of memory", "started_unix_ms": 1714564984123, "ended_unix_ms": 1714564990000})"));
  EXPECT_EQ(trials[0]["attempts"][1]["state"], "COMPLETED");
  EXPECT_EQ(trials[1]["attempts"], json::array());
}

TEST_F(CommandsTest, TrialsTableShowsAttemptsOnceATrialHadSeveral) {
  ASSERT_TRUE(ListTrials(client_, "s1", MakeOutput(OutputFormat::kTable)).ok());
  EXPECT_THAT(out_.str(), HasSubstr("ATTEMPTS"));
}

TEST_F(CommandsTest, TrialsTableNamesTheObjective) {
  ASSERT_TRUE(ListTrials(client_, "s1", MakeOutput(OutputFormat::kTable)).ok());
  EXPECT_THAT(out_.str(), HasSubstr("VAL_MIOU"));
  EXPECT_THAT(out_.str(), HasSubstr("8/8"));
}

TEST_F(CommandsTest, UnknownSweepIsAFailure) {
  absl::Status status = ShowStatus(client_, "nope", MakeOutput(OutputFormat::kJson));
  EXPECT_EQ(status.code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(ExitCodeFor(status), kExitFailed);
  EXPECT_EQ(out_.str(), "");
}

TEST_F(CommandsTest, StatusAndSweepsJson) {
  ASSERT_TRUE(ShowStatus(client_, "s1", MakeOutput(OutputFormat::kJson)).ok());
  json sweep = json::parse(out_.str());
  EXPECT_EQ(sweep["sweep_id"], "s1");
  EXPECT_TRUE(sweep.contains("spec_yaml"));
  out_.str("");
  ASSERT_TRUE(ListSweeps(client_, MakeOutput(OutputFormat::kJson)).ok());
  json sweeps = json::parse(out_.str());
  ASSERT_TRUE(sweeps.is_array());
  EXPECT_EQ(sweeps[0]["best_trial_id"], "s1-0000");
}

TEST_F(CommandsTest, MetricsJsonIsAnArrayOfEpochs) {
  ASSERT_TRUE(ShowMetrics(client_, "s1-0000", MakeOutput(OutputFormat::kJson)).ok());
  json epochs = json::parse(out_.str());
  ASSERT_EQ(epochs.size(), 2u);
  EXPECT_EQ(epochs[1]["epoch"], 2);
  EXPECT_EQ(epochs[1]["metrics"]["val_miou"], 0.5);
}

TEST_F(CommandsTest, WorkersAndCancelJson) {
  ASSERT_TRUE(ListWorkers(client_, MakeOutput(OutputFormat::kJson)).ok());
  EXPECT_EQ(json::parse(out_.str())[0]["name"], "local-1");
  out_.str("");
  ASSERT_TRUE(Cancel(client_, "s1", MakeOutput(OutputFormat::kJson)).ok());
  EXPECT_EQ(json::parse(out_.str())["state"], "CANCELLED");
}

TEST_F(CommandsTest, BestJsonIsAnObjectOrAnArrayWithTop) {
  ASSERT_TRUE(Best(client_, "s1", 1, MakeOutput(OutputFormat::kJson)).ok());
  json best = json::parse(out_.str());
  ASSERT_TRUE(best.is_object());
  EXPECT_EQ(best["trial_id"], "s1-0000");
  EXPECT_EQ(best["params"]["scheduler"]["name"], "StepLR");

  out_.str("");
  ASSERT_TRUE(Best(client_, "s1", 2, MakeOutput(OutputFormat::kJson)).ok());
  json top = json::parse(out_.str());
  ASSERT_TRUE(top.is_array());
  ASSERT_EQ(top.size(), 2u);
  EXPECT_EQ(top[1]["trial_id"], "s1-0001");
}

TEST_F(CommandsTest, BestYamlIsASpecFragment) {
  ASSERT_TRUE(Best(client_, "s1", 1, MakeOutput(OutputFormat::kYaml)).ok());
  YAML::Node fragment = YAML::Load(out_.str());
  EXPECT_EQ(fragment["search"]["space"]["optimizer"][0]["name"].as<std::string>(), "SGD");
  EXPECT_EQ(fragment["search"]["space"]["optimizer"][0]["lr"].as<double>(), 0.05);
}

TEST_F(CommandsTest, BestTableShowsTheConfigurationAndTheFragment) {
  ASSERT_TRUE(Best(client_, "s1", 1, MakeOutput(OutputFormat::kTable)).ok());
  EXPECT_THAT(out_.str(), HasSubstr("best trial s1-0000: val_miou 0.6120 (max) at epoch 7\n"));
  EXPECT_THAT(out_.str(), HasSubstr("search:\n  space:\n    optimizer:\n      - {name: SGD, lr: 0.05"));
}

TEST_F(CommandsTest, BestWithoutResultsIsAFailure) {
  server_.service().set_no_results();
  absl::Status status = Best(client_, "s1", 1, MakeOutput(OutputFormat::kJson));
  EXPECT_EQ(ExitCodeFor(status), kExitFailed);
  EXPECT_THAT(std::string(status.message()), HasSubstr("no trial of sweep s1 has reported val_miou yet"));
  EXPECT_EQ(out_.str(), "");
}

TEST_F(CommandsTest, WatchPrintsChangesThenTheLeaderboard) {
  ASSERT_TRUE(Watch(client_, "s1", MakeOutput(OutputFormat::kTable)).ok());
  std::string text = out_.str();
  EXPECT_THAT(text, HasSubstr("sweep s1 (seed-study): 2 trials"));
  EXPECT_THAT(text, HasSubstr("trial s1-0000 started: SGD(lr=0.05, momentum=0.9)"));
  EXPECT_THAT(text, HasSubstr("trial s1-0000 COMPLETED: best val_miou 0.6120 at epoch 7"));
  EXPECT_THAT(text, HasSubstr("RANK  TRIAL"));
  EXPECT_EQ(err_.str(), "");
}

TEST_F(CommandsTest, WatchJsonKeepsProgressOffStdout) {
  ASSERT_TRUE(Watch(client_, "s1", MakeOutput(OutputFormat::kJson)).ok());
  json result = json::parse(out_.str());  // exactly one document
  EXPECT_EQ(result["sweep"]["sweep_id"], "s1");
  EXPECT_EQ(result["leaderboard"][0]["trial_id"], "s1-0000");
  EXPECT_THAT(err_.str(), HasSubstr("trial s1-0000 started"));
}

TEST_F(CommandsTest, WatchOfACancelledSweepFails) {
  server_.service().set_final_state(v1::SWEEP_CANCELLED);
  absl::Status status = Watch(client_, "s1", MakeOutput(OutputFormat::kTable));
  EXPECT_EQ(ExitCodeFor(status), kExitFailed);
  EXPECT_THAT(std::string(status.message()), HasSubstr("cancelled"));
}

TEST_F(CommandsTest, RunResultsShowLeaderboardAndBestConfiguration) {
  ASSERT_TRUE(PrintRunResults(client_, "s1", MakeOutput(OutputFormat::kTable)).ok());
  EXPECT_THAT(out_.str(), HasSubstr("leaderboard (top 10):\nRANK"));
  EXPECT_THAT(out_.str(), HasSubstr("best trial s1-0000"));
  out_.str("");
  ASSERT_TRUE(PrintRunResults(client_, "s1", MakeOutput(OutputFormat::kJson)).ok());
  EXPECT_EQ(json::parse(out_.str())["trial_id"], "s1-0000");
}

TEST_F(CommandsTest, RunCancelsTheSweepsAnEarlierRunLeftRunning) {
  v1::Sweep left_running = testing::MakeSweep();
  left_running.set_sweep_id("s2");
  v1::Sweep completed = testing::MakeSweep();
  completed.set_sweep_id("s3");
  completed.set_state(v1::SWEEP_COMPLETED);
  server_.service().add_sweep(left_running);
  server_.service().add_sweep(completed);

  ASSERT_TRUE(CancelLeftoverSweeps(client_, "runs/a", MakeOutput(OutputFormat::kTable)).ok());
  EXPECT_EQ(server_.service().cancelled(), (std::vector<std::string>{"s1", "s2"}));
  EXPECT_EQ(err_.str(),
            "cancelled sweep s1 left running by an earlier `segtune run` in runs/a\n"
            "cancelled sweep s2 left running by an earlier `segtune run` in runs/a\n");
  EXPECT_EQ(out_.str(), "");
}

TEST(TunerClientTest, UnreachableServerIsExitCode3) {
  // Port 1 on loopback: nothing listens there, the connection is refused.
  TunerClient client("127.0.0.1:1", std::chrono::seconds(5));
  absl::Status status = client.ListSweeps().status();
  EXPECT_EQ(ExitCodeFor(status), kExitUnreachable);
  EXPECT_THAT(std::string(status.message()), HasSubstr("cannot reach segtune coordinator at 127.0.0.1:1: "));
  EXPECT_EQ(ExitCodeFor(client.WatchSweep("s1", [](const v1::SweepUpdate&) {}).status()), kExitUnreachable);
}

TEST(TunerClientTest, WatchReopensTheStreamWhenItsWindowEnds) {
  testing::FakeTunerServer server;
  server.service().set_stall_first_watch();
  TunerClient client(server.address(), std::chrono::seconds(5));
  int updates = 0;
  auto last = client.WatchSweep("s1", [&updates](const v1::SweepUpdate&) { ++updates; },
                                /*stream_window=*/std::chrono::milliseconds(300));
  ASSERT_TRUE(last.ok()) << last.status();
  EXPECT_EQ(last->sweep().state(), v1::SWEEP_COMPLETED);
  EXPECT_EQ(server.service().watch_calls(), 2);
  EXPECT_EQ(updates, 4);  // one from the stalled stream, three from the next
}

TEST(TunerClientTest, AWatchEndedByTheServerIsNotAnInterrupt) {
  testing::FakeTunerServer server;
  server.service().set_end_watch_with(grpc::Status(grpc::StatusCode::CANCELLED, "coordinator shutting down"));
  TunerClient client(server.address(), std::chrono::seconds(5));
  absl::Status status = client.WatchSweep("s1", [](const v1::SweepUpdate&) {}).status();
  EXPECT_EQ(ExitCodeFor(status), kExitFailed);
  EXPECT_THAT(std::string(status.message()), HasSubstr("coordinator shutting down"));

  server.service().set_end_watch_with(grpc::Status(grpc::StatusCode::UNAVAILABLE, "coordinator shutting down"));
  status = client.WatchSweep("s1", [](const v1::SweepUpdate&) {}).status();
  EXPECT_EQ(ExitCodeFor(status), kExitUnreachable);
}

TEST(TunerClientTest, CancelWatchEndsTheWatchAsInterrupted) {
  testing::FakeTunerServer server;
  TunerClient client(server.address(), std::chrono::seconds(5));
  client.CancelWatch();
  absl::Status status = client.WatchSweep("s1", [](const v1::SweepUpdate&) {}).status();
  EXPECT_EQ(ExitCodeFor(status), kExitInterrupted);
}

}  // namespace
}  // namespace segtune::client
