// `segtune export`: the command against the fake Tuner, and its flags and
// exit codes through RunCli.
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "fake_tuner.h"
#include "segtune/client/cli.h"
#include "segtune/client/commands.h"
#include "segtune/client/errors.h"

namespace segtune::client {
namespace {

using ::testing::HasSubstr;
namespace fs = std::filesystem;

std::string ReadFile(const fs::path& path) {
  std::ifstream file(path, std::ios::binary);
  std::ostringstream text;
  text << file.rdbuf();
  return text.str();
}

class ExportTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("segtune_export_test_" + std::to_string(::getpid()));
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  Output MakeOutput(OutputFormat format = OutputFormat::kTable) {
    Output output;
    output.out = &out_;
    output.err = &err_;
    output.format = format;
    return output;
  }

  absl::Status Export(const std::string& trial_id, const std::string& epoch = "best",
                      OutputFormat format = OutputFormat::kTable) {
    ExportOptions options;
    options.trial_id = trial_id;
    options.file = File();
    options.epoch = epoch;
    return client::Export(client_, options, MakeOutput(format));
  }

  int Cli(std::vector<std::string> args) {
    args.insert(args.begin(), {"segtune", "--server", server_.address()});
    std::vector<const char*> argv;
    for (const std::string& arg : args) argv.push_back(arg.c_str());
    CliEnvironment environment;
    environment.out = &out_;
    environment.err = &err_;
    return RunCli(static_cast<int>(argv.size()), argv.data(), environment);
  }

  std::string File() const { return (dir_ / "model.pt").string(); }

  testing::FakeTunerServer server_;
  TunerClient client_{server_.address(), std::chrono::seconds(5)};
  std::ostringstream out_;
  std::ostringstream err_;
  fs::path dir_;
};

TEST_F(ExportTest, WritesTheBestEpochsWeightsAndSaysWhatItWrote) {
  ASSERT_TRUE(Export("s1-0000").ok());
  EXPECT_EQ(ReadFile(File()), "fake weights of epoch 7");
  EXPECT_FALSE(fs::exists(File() + ".tmp"));
  EXPECT_EQ(out_.str(), "wrote " + File() + ": trial s1-0000 epoch 7 (val_miou 0.6120), 23 bytes\n");
  const auto requests = server_.service().export_requests();
  ASSERT_EQ(requests.size(), 1u);
  EXPECT_EQ(requests[0].trial_id(), "s1-0000");
  EXPECT_EQ(requests[0].which(), v1::EXPORT_BEST);
}

TEST_F(ExportTest, EpochChoosesBestLastOrANumber) {
  auto best = ExportRequest("t", "best");
  ASSERT_TRUE(best.ok());
  EXPECT_EQ(best->which(), v1::EXPORT_BEST);
  auto last = ExportRequest("t", "last");
  ASSERT_TRUE(last.ok());
  EXPECT_EQ(last->which(), v1::EXPORT_LAST);
  auto third = ExportRequest("t", "3");
  ASSERT_TRUE(third.ok());
  EXPECT_EQ(third->which(), v1::EXPORT_EPOCH);
  EXPECT_EQ(third->epoch(), 3);
  EXPECT_EQ(third->trial_id(), "t");
  for (const char* bad : {"0", "-2", "first", "", "3.5"}) {
    const absl::Status status = ExportRequest("t", bad).status();
    EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << bad;
    EXPECT_THAT(std::string(status.message()), HasSubstr("--epoch")) << bad;
  }

  ASSERT_TRUE(Export("s1-0000", "last").ok());
  EXPECT_EQ(ReadFile(File()), "fake weights of epoch 8");
}

TEST_F(ExportTest, WeightsLargerThanOneMessageArriveWhole) {
  const std::string big((5u << 20) / 2, 'x');  // 2.5 MiB: three messages
  server_.service().set_export_weights(big);
  ASSERT_TRUE(Export("s1-0000").ok());
  EXPECT_EQ(ReadFile(File()), big + " of epoch 7");
}

TEST_F(ExportTest, JsonSummary) {
  ASSERT_TRUE(Export("s1-0000", "best", OutputFormat::kJson).ok());
  const nlohmann::json summary = nlohmann::json::parse(out_.str());
  EXPECT_EQ(summary["file"], File());
  EXPECT_EQ(summary["trial_id"], "s1-0000");
  EXPECT_EQ(summary["sweep_id"], "s1");
  EXPECT_EQ(summary["epoch"], 7);
  EXPECT_EQ(summary["metric"], "val_miou");
  EXPECT_DOUBLE_EQ(summary["value"].get<double>(), 0.612);
  EXPECT_EQ(summary["bytes"], 23);
}

TEST_F(ExportTest, ADamagedTransferWritesNothingAndKeepsAnOlderFile) {
  std::ofstream(File()) << "an older export";
  server_.service().set_corrupt_export();
  const absl::Status status = Export("s1-0000");
  EXPECT_EQ(status.code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(std::string(status.message()), HasSubstr("arrived damaged"));
  EXPECT_EQ(ExitCodeFor(status), kExitFailed);
  EXPECT_EQ(ReadFile(File()), "an older export");
  EXPECT_FALSE(fs::exists(File() + ".tmp"));
}

TEST_F(ExportTest, NoSuchTrialOrCheckpointExitsOneWithTheServersMessage) {
  EXPECT_EQ(Cli({"export", "s9-0000", "-o", File()}), kExitFailed);
  EXPECT_THAT(err_.str(), HasSubstr("error: no such sweep or trial: s9-0000"));
  EXPECT_EQ(Cli({"export", "s1-0000", "-o", File(), "--epoch", "2"}), kExitFailed);
  EXPECT_THAT(err_.str(), HasSubstr("no checkpoint of trial s1-0000 epoch 2 is stored"));
  EXPECT_FALSE(fs::exists(File()));
  EXPECT_FALSE(fs::exists(File() + ".tmp"));
}

TEST_F(ExportTest, CliWritesTheFileAndPrintsJsonWithFormat) {
  EXPECT_EQ(Cli({"export", "s1-0000", "-o", File(), "--epoch", "last", "--format", "json"}), kExitOk);
  EXPECT_EQ(ReadFile(File()), "fake weights of epoch 8");
  EXPECT_EQ(nlohmann::json::parse(out_.str())["epoch"], 8);
  EXPECT_EQ(err_.str(), "");
}

TEST_F(ExportTest, UsageErrorsExitTwo) {
  EXPECT_EQ(Cli({"export", "s1-0000"}), kExitUsage);                                  // no -o FILE
  EXPECT_EQ(Cli({"export", "-o", File()}), kExitUsage);                               // no TRIAL
  EXPECT_EQ(Cli({"export", "s1-0000", "-o", File(), "--epoch", "latest"}), kExitUsage);
  EXPECT_THAT(err_.str(), HasSubstr("--epoch"));
  EXPECT_EQ(Cli({"export", "s1-0000", "-o", File(), "--format", "yaml"}), kExitUsage);
  EXPECT_EQ(Cli({"export", "s1-0000", "-o", (dir_ / "missing" / "model.pt").string()}), kExitUsage);
  EXPECT_THAT(err_.str(), HasSubstr("cannot write " + (dir_ / "missing" / "model.pt.tmp").string()));
  EXPECT_TRUE(server_.service().export_requests().empty());
}

TEST_F(ExportTest, UnreachableServerExitsThree) {
  CliEnvironment environment;
  environment.out = &out_;
  environment.err = &err_;
  const std::string file = File();
  const char* argv[] = {"segtune", "--server", "127.0.0.1:1", "--timeout", "5", "export", "s1-0000", "-o",
                        file.c_str()};
  EXPECT_EQ(RunCli(9, argv, environment), kExitUnreachable);
  EXPECT_THAT(err_.str(), HasSubstr("cannot reach segtune coordinator at 127.0.0.1:1"));
  EXPECT_FALSE(fs::exists(File() + ".tmp"));
}

TEST_F(ExportTest, HelpSaysThatOIsTheOutputFile) {
  EXPECT_EQ(Cli({"export", "--help"}), kExitOk);
  EXPECT_THAT(out_.str(), HasSubstr("-o names the output FILE"));
  EXPECT_THAT(out_.str(), HasSubstr("--epoch"));
  EXPECT_THAT(out_.str(), HasSubstr("torch.load"));
}

}  // namespace
}  // namespace segtune::client
