#include "segtune/client/cli.h"

#include <fstream>
#include <sstream>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "fake_tuner.h"

namespace segtune::client {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

class CliTest : public ::testing::Test {
 protected:
  int Run(std::vector<std::string> args) {
    args.insert(args.begin(), "segtune");
    std::vector<const char*> argv;
    for (const std::string& arg : args) argv.push_back(arg.c_str());
    CliEnvironment environment;
    environment.out = &out_;
    environment.err = &err_;
    environment.server_env = server_env_;
    environment.run_local = [this](const LocalRunOptions& options, const Output& output) {
      run_calls_.push_back(options);
      run_format_ = output.format;
      return run_result_;
    };
    return RunCli(static_cast<int>(argv.size()), argv.data(), environment);
  }

  std::ostringstream out_;
  std::ostringstream err_;
  std::optional<std::string> server_env_;
  std::vector<LocalRunOptions> run_calls_;
  OutputFormat run_format_ = OutputFormat::kTable;
  absl::Status run_result_;
};

TEST_F(CliTest, HelpListsTheVerbsAndExitsZero) {
  EXPECT_EQ(Run({"--help"}), 0);
  for (const char* verb : {"run", "submit", "sweeps", "status", "trials", "metrics", "workers", "cancel",
                           "watch", "best", "export", "lr-find"}) {
    EXPECT_THAT(out_.str(), HasSubstr(verb));
  }
  EXPECT_THAT(out_.str(), HasSubstr("Exit codes"));
}

TEST_F(CliTest, VerbHelpDescribesItsOptions) {
  EXPECT_EQ(Run({"best", "--help"}), 0);
  EXPECT_THAT(out_.str(), HasSubstr("--top"));
  EXPECT_THAT(out_.str(), HasSubstr("table|json|yaml"));
}

TEST_F(CliTest, UsageErrorsExitTwo) {
  EXPECT_EQ(Run({}), 2);
  EXPECT_EQ(Run({"frobnicate"}), 2);
  EXPECT_EQ(Run({"trials"}), 2);                     // missing SWEEP
  EXPECT_EQ(Run({"trials", "s1", "-o", "yaml"}), 2);  // yaml is for best only
  EXPECT_EQ(Run({"best", "s1", "-o", "xml"}), 2);
  EXPECT_EQ(Run({"best", "s1", "--top", "0"}), 2);
  EXPECT_EQ(Run({"sweeps", "--timeout", "-1"}), 2);
  EXPECT_EQ(Run({"run", "spec.yaml", "--workers", "0"}), 2);
  EXPECT_TRUE(run_calls_.empty());
}

TEST_F(CliTest, EmptyServerFlagIsAUsageError) {
  EXPECT_EQ(Run({"sweeps", "--server", ""}), 2);
  EXPECT_THAT(err_.str(), HasSubstr("--server"));
}

TEST_F(CliTest, UnreadableSpecIsAUsageErrorNamingTheFile) {
  EXPECT_EQ(Run({"--server", "127.0.0.1:1", "submit", "/nonexistent/spec.yaml"}), 2);
  EXPECT_THAT(err_.str(), HasSubstr("/nonexistent/spec.yaml"));
  EXPECT_EQ(out_.str(), "");
}

TEST_F(CliTest, UnreachableServerExitsThree) {
  EXPECT_EQ(Run({"sweeps", "--server", "127.0.0.1:1", "--timeout", "5"}), 3);
  EXPECT_THAT(err_.str(), HasSubstr("cannot reach segtune coordinator at 127.0.0.1:1"));
}

TEST_F(CliTest, ServerComesFromTheEnvironment) {
  server_env_ = "127.0.0.1:1";
  EXPECT_EQ(Run({"workers"}), 3);
  EXPECT_THAT(err_.str(), HasSubstr("at 127.0.0.1:1"));
}

TEST_F(CliTest, JsonOutputIsOneDocumentOnStdout) {
  testing::FakeTunerServer server;
  EXPECT_EQ(Run({"--server", server.address(), "trials", "s1", "-o", "json"}), 0);
  nlohmann::json trials = nlohmann::json::parse(out_.str());
  EXPECT_EQ(trials.size(), 2u);
  EXPECT_EQ(err_.str(), "");
}

TEST_F(CliTest, GlobalFlagsMayFollowTheVerb) {
  testing::FakeTunerServer server;
  EXPECT_EQ(Run({"status", "s1", "--server", server.address(), "--timeout", "3"}), 0);
  EXPECT_THAT(out_.str(), HasSubstr("seed-study"));
}

TEST_F(CliTest, NotFoundExitsOne) {
  testing::FakeTunerServer server;
  EXPECT_EQ(Run({"--server", server.address(), "metrics", "s9-0000"}), 1);
  EXPECT_THAT(err_.str(), HasSubstr("error: no such sweep or trial: s9-0000"));
}

TEST_F(CliTest, RunPassesItsOptionsToLocalMode) {
  EXPECT_EQ(Run({"run", "spec.yaml", "--workers", "3", "--dir", "data", "-o", "json", "--timeout", "2.5"}), 0);
  ASSERT_EQ(run_calls_.size(), 1u);
  EXPECT_EQ(run_calls_[0].spec_path, "spec.yaml");
  EXPECT_EQ(run_calls_[0].workers, 3);
  EXPECT_EQ(run_calls_[0].dir, "data");
  EXPECT_EQ(run_calls_[0].timeout, std::chrono::milliseconds(2500));
  EXPECT_EQ(run_format_, OutputFormat::kJson);
}

TEST_F(CliTest, RunDefaults) {
  EXPECT_EQ(Run({"run", "spec.yaml"}), 0);
  ASSERT_EQ(run_calls_.size(), 1u);
  EXPECT_EQ(run_calls_[0].workers, 2);
  EXPECT_EQ(run_calls_[0].dir, "./segtune-data");
  EXPECT_EQ(run_calls_[0].timeout, std::chrono::seconds(10));
}

// A spec file under the test's temporary directory.
std::string WriteSpec(const std::string& name, const std::string& text) {
  const std::string path = ::testing::TempDir() + name;
  std::ofstream(path) << text;
  return path;
}

constexpr char kTwoOptimizers[] = R"(name: s
data: {dataset: shapes, image_size: 32, num_classes: 3, train_size: 16, val_size: 8, seed: 1}
search:
  algorithm: random
  seed: 3
  space:
    optimizer:
      - {name: SGD, lr: 0.1}
      - {name: Adam, lr: 0.001}
)";

TEST_F(CliTest, LrFindRunsTheRewrittenSpecLocally) {
  const std::string path = WriteSpec("lr_find_local.yaml", kTwoOptimizers);
  EXPECT_EQ(Run({"lr-find", path, "--workers", "3", "--dir", "data", "--min-lr", "1e-5", "--max-lr", "0.5",
                 "--iterations", "30", "-o", "json"}),
            0)
      << err_.str();
  ASSERT_EQ(run_calls_.size(), 1u);
  const LocalRunOptions& options = run_calls_[0];
  EXPECT_EQ(options.spec_path, path);
  ASSERT_TRUE(options.spec_yaml.has_value());
  for (const char* line : {"algorithm: lr_range_test", "seed: 3", "min_lr: 1e-05", "max_lr: 0.5",
                           "iterations: 30"}) {
    EXPECT_THAT(*options.spec_yaml, HasSubstr(line));
  }
  EXPECT_THAT(*options.spec_yaml, Not(HasSubstr("random")));
  EXPECT_EQ(options.workers, 3);
  EXPECT_EQ(options.dir, "data");
  EXPECT_TRUE(static_cast<bool>(options.print_results));
  EXPECT_EQ(run_format_, OutputFormat::kJson);
}

TEST_F(CliTest, LrFindUsageErrorsExitTwo) {
  const std::string path = WriteSpec("lr_find_usage.yaml", kTwoOptimizers);
  EXPECT_EQ(Run({"lr-find", path, "--server", "127.0.0.1:1", "--workers", "2"}), 2);
  EXPECT_THAT(err_.str(), HasSubstr("--workers and --dir: only for a local run"));
  server_env_ = "127.0.0.1:1";
  EXPECT_EQ(Run({"lr-find", path, "--dir", "data"}), 2);
  server_env_.reset();
  EXPECT_EQ(Run({"lr-find", path, "--min-lr", "0"}), 2);
  EXPECT_EQ(Run({"lr-find", path, "-o", "yaml"}), 2);
  EXPECT_EQ(Run({"lr-find", "/nonexistent/spec.yaml"}), 2);
  EXPECT_TRUE(run_calls_.empty());
}

TEST_F(CliTest, LrFindOfASpecWithoutOptimizersExitsTwoNamingTheField) {
  const std::string path = WriteSpec("lr_find_invalid.yaml", "name: s\nsearch: {algorithm: grid}\n");
  EXPECT_EQ(Run({"lr-find", path}), 2);
  EXPECT_THAT(err_.str(), HasSubstr("search.space.optimizer: required"));
  EXPECT_TRUE(run_calls_.empty());
}

TEST_F(CliTest, LrFindOnAnUnreachableServerExitsThree) {
  const std::string path = WriteSpec("lr_find_remote.yaml", kTwoOptimizers);
  EXPECT_EQ(Run({"lr-find", path, "--server", "127.0.0.1:1", "--timeout", "5"}), 3);
  EXPECT_TRUE(run_calls_.empty());
}

TEST_F(CliTest, InterruptedRunExits130) {
  run_result_ = absl::CancelledError("interrupted; sweep s1 cancelled");
  EXPECT_EQ(Run({"run", "spec.yaml"}), 130);
  EXPECT_THAT(err_.str(), HasSubstr("interrupted"));
}

}  // namespace
}  // namespace segtune::client
