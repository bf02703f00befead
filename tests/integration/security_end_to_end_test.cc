// The real coordinator with a tokens file and TLS (client certificates
// required), a real worker presenting its worker token, and the real CLI with
// read and admin tokens.
#include <filesystem>
#include <fstream>
#include <random>
#include <thread>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "process.h"
#include "test_certificates.h"

namespace segtune::testing {
namespace {

using nlohmann::json;
namespace fs = std::filesystem;

constexpr const char* kOneTrial = R"(name: secured
objective: {metric: val_miou, mode: max}
budget: {epochs: 1, parallelism: 1}
data: {dataset: shapes, image_size: 16, num_classes: 3, train_size: 16, val_size: 8, seed: 3}
model: {arch: unet, base_channels: 4, depth: 2}
training: {batch_size: 8, seed: 1}
search:
  algorithm: grid
  space:
    optimizer:
      - {name: Adam, lr: 0.003}
)";

class SecurityEndToEnd : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("segtune-secure-e2e-" + std::to_string(std::random_device{}()));
    ASSERT_TRUE(MakeCertificates(dir_ / "certs", &certs_)) << ReadText((dir_ / "certs" / "openssl.log").string());
    address_ = "127.0.0.1:" + std::to_string(FreePort());
    Write("tokens", "# role token\nadmin admin-0123456789abcdef\nread read-0123456789abcdef\n"
                    "worker worker-0123456789abcdef\n");
    Write("admin.token", "admin-0123456789abcdef\n");
    Write("read.token", "read-0123456789abcdef\n");
    Write("worker.token", "worker-0123456789abcdef\n");
    Write("spec.yaml", kOneTrial);
  }
  void TearDown() override {
    if (worker_) worker_->Stop();
    if (coordinator_) coordinator_->Stop();
    if (HasFailure()) {
      if (coordinator_) std::cerr << "coordinator log:\n" << coordinator_->Stderr() << "\n";
      if (worker_) std::cerr << "worker log:\n" << worker_->Stderr() << "\n";
    } else {
      fs::remove_all(dir_);
    }
  }

  std::string Path(const std::string& name) const { return (dir_ / name).string(); }
  void Write(const std::string& name, const std::string& text) { std::ofstream(Path(name)) << text; }
  std::vector<std::string> ClientTls() const {
    return {"--tls-ca", certs_.ca, "--tls-cert", certs_.client_cert, "--tls-key", certs_.client_key};
  }

  CommandResult Cli(const std::string& token, std::vector<std::string> args) {
    std::vector<std::string> argv = {BinDir() + "/segtune", "--server", address_, "--token-file", Path(token)};
    const std::vector<std::string> tls = ClientTls();
    argv.insert(argv.end(), tls.begin(), tls.end());
    argv.insert(argv.end(), args.begin(), args.end());
    return RunCommand(argv, dir_.string());
  }

  fs::path dir_;
  CertificateFiles certs_;
  std::string address_;
  std::unique_ptr<Process> coordinator_;
  std::unique_ptr<Process> worker_;
};

TEST_F(SecurityEndToEnd, RolesAndTlsFromTheCommandLine) {
  coordinator_ = std::make_unique<Process>(
      std::vector<std::string>{BinDir() + "/segtune-coordinator", "--listen", address_, "--data-dir", dir_.string(),
                               "--metrics-listen", "", "--tokens-file", Path("tokens"), "--tls-cert",
                               certs_.server_cert, "--tls-key", certs_.server_key, "--tls-client-ca", certs_.ca},
      Path("coordinator.out"), Path("coordinator.err"));
  // The CLI exits 3 until the coordinator listens.
  CommandResult listed{3, "", ""};
  for (int i = 0; i < 120 && listed.exit_code == 3; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(250));
    listed = Cli("read.token", {"sweeps"});
  }
  ASSERT_EQ(listed.exit_code, 0) << listed.err;

  const CommandResult refused = Cli("read.token", {"submit", Path("spec.yaml")});
  EXPECT_EQ(refused.exit_code, 1) << refused.err;
  EXPECT_NE(refused.err.find("refused this token"), std::string::npos) << refused.err;
  EXPECT_NE(refused.err.find("a read token may not call /segtune.v1.Tuner/SubmitSweep"), std::string::npos)
      << refused.err;

  const CommandResult submitted = Cli("admin.token", {"submit", Path("spec.yaml"), "-o", "json"});
  ASSERT_EQ(submitted.exit_code, 0) << submitted.err;
  const std::string sweep_id = json::parse(submitted.out).at("sweep_id");

  std::vector<std::string> worker_argv = {BinDir() + "/segtune-worker", "--coordinator", address_, "--threads", "1",
                                          "--token-file", Path("worker.token")};
  const std::vector<std::string> tls = ClientTls();
  worker_argv.insert(worker_argv.end(), tls.begin(), tls.end());
  worker_ = std::make_unique<Process>(worker_argv, Path("worker.out"), Path("worker.err"));

  json trials;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(120);
  while (std::chrono::steady_clock::now() < deadline) {
    const CommandResult result = Cli("read.token", {"trials", sweep_id, "-o", "json"});
    ASSERT_EQ(result.exit_code, 0) << result.err;
    trials = json::parse(result.out);
    if (trials.size() == 1 && trials[0].value("state", "") == "COMPLETED") break;
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
  }
  ASSERT_EQ(trials.size(), 1u) << trials.dump();
  EXPECT_EQ(trials[0].value("state", ""), "COMPLETED") << trials.dump();
  EXPECT_EQ(trials[0].value("epochs_done", 0), 1) << trials.dump();
}

TEST_F(SecurityEndToEnd, AWorkerWithARefusedTokenStopsWithExitOne) {
  coordinator_ = std::make_unique<Process>(
      std::vector<std::string>{BinDir() + "/segtune-coordinator", "--listen", address_, "--data-dir", dir_.string(),
                               "--metrics-listen", "", "--tokens-file", Path("tokens")},
      Path("coordinator.out"), Path("coordinator.err"));
  // A read token may not use WorkerHub: the worker must give up, not retry.
  worker_ = std::make_unique<Process>(
      std::vector<std::string>{BinDir() + "/segtune-worker", "--coordinator", address_, "--threads", "1",
                               "--token-file", Path("read.token")},
      Path("worker.out"), Path("worker.err"));
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (worker_->Running() && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  ASSERT_FALSE(worker_->Running()) << "the worker kept retrying a refused token";
  EXPECT_EQ(worker_->Wait(), 1);
  EXPECT_NE(worker_->Stderr().find("the coordinator refused this worker's token"), std::string::npos)
      << worker_->Stderr();
}

TEST_F(SecurityEndToEnd, BadSecurityFilesAreUsageErrors) {
  Write("bad-tokens", "admin short\n");
  CommandResult result = RunCommand({BinDir() + "/segtune-coordinator", "--listen", address_, "--data-dir",
                                     dir_.string(), "--metrics-listen", "", "--tokens-file", Path("bad-tokens")},
                                    dir_.string());
  EXPECT_EQ(result.exit_code, 2);
  EXPECT_NE(result.err.find(Path("bad-tokens") + ":1: token shorter than 16 characters"), std::string::npos)
      << result.err;
  result = RunCommand({BinDir() + "/segtune", "--server", address_, "--token-file", Path("missing"), "sweeps"},
                      dir_.string());
  EXPECT_EQ(result.exit_code, 2);
  EXPECT_NE(result.err.find("--token-file: cannot read " + Path("missing")), std::string::npos) << result.err;
}

}  // namespace
}  // namespace segtune::testing
