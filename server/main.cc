// segtune-coordinator: serves the Tuner and WorkerHub gRPC services over a
// SQLite store. Stops cleanly on SIGINT or SIGTERM.
#include <csignal>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>

#include <CLI/CLI.hpp>
#include <spdlog/spdlog.h>

#include "absl/synchronization/mutex.h"
#include "segtune/api/coordinator.h"
#include "segtune/api/security.h"
#include "segtune/common/listen_address.h"

namespace {

// The tokens from --tokens-file, else from $SEGTUNE_TOKENS; none when neither
// is given. Tokens never come from argv, where `ps` would show them.
absl::StatusOr<std::vector<segtune::api::TokenGrant>> LoadTokens(const std::string& tokens_file) {
  if (!tokens_file.empty()) {
    std::ifstream in(tokens_file);
    if (!in) return absl::InvalidArgumentError("--tokens-file: cannot read " + tokens_file);
    std::ostringstream text;
    text << in.rdbuf();
    return segtune::api::ParseTokens(text.str(), tokens_file);
  }
  if (const char* text = std::getenv("SEGTUNE_TOKENS")) return segtune::api::ParseTokens(text, "$SEGTUNE_TOKENS");
  return std::vector<segtune::api::TokenGrant>();
}

// Whether `value` of `flag` is in [min, max]; says why not on stderr.
bool InRange(const char* flag, std::int64_t value, std::int64_t min, std::int64_t max) {
  if (value >= min && value <= max) return true;
  std::cerr << "segtune-coordinator: " << flag << ": must be in [" << min << ", " << max << "], got " << value << "\n";
  return false;
}

}  // namespace

int main(int argc, char** argv) {
  // Debian's Abseil keeps absl::Mutex's deadlock detection on, and gRPC locks
  // absl::Mutexes on every call: the lock graph it maintains cost a few
  // percent of the coordinator's CPU under load (bench/coordinator_load). A
  // process-wide setting, so the process's main decides it.
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
  CLI::App app{"segtune-coordinator: schedules sweep trials onto workers and keeps every metric in SQLite."};
  segtune::api::CoordinatorOptions options;
  std::string metrics_listen = "127.0.0.1:9464";
  std::string data_dir = "./segtune-data";
  std::string db_path;
  int lease_seconds = options.lease_ms / 1000;
  app.add_option("--listen", options.listen, "gRPC address, HOST:PORT")->capture_default_str();
  app.add_option("--metrics-listen", metrics_listen, "Prometheus /metrics address, HOST:PORT; empty to turn off")
      ->capture_default_str();
  app.add_option("--data-dir", data_dir, "Directory for the database and the trials' checkpoints (under checkpoints/)")
      ->capture_default_str();
  app.add_option("--db", db_path, "SQLite database file (default: DATA_DIR/segtune.db)");
  app.add_option("--lease-seconds", lease_seconds, "Requeue a trial whose worker is silent this long")
      ->check(CLI::Range(2, 3600))
      ->capture_default_str();
  std::string tokens_file;
  std::string tls_cert;
  std::string tls_key;
  std::string tls_client_ca;
  app.add_option("--tokens-file", tokens_file,
                 "Bearer tokens and their roles, one 'ROLE TOKEN' per line (else $SEGTUNE_TOKENS; "
                 "neither: no authentication). See docs/security.md");
  app.add_option("--tls-cert", tls_cert, "Serve TLS with this PEM certificate (chain); needs --tls-key");
  app.add_option("--tls-key", tls_key, "The PEM private key of --tls-cert");
  app.add_option("--tls-client-ca", tls_client_ca,
                 "Require client certificates signed by this PEM CA (needs --tls-cert)");
  // Limits an operator may tune (docs/architecture.md, "Limits").
  segtune::api::Limits& limits = options.limits;
  std::int64_t max_message_bytes = limits.max_message_bytes;
  std::int64_t max_spec_bytes = limits.max_spec_bytes;
  std::int64_t max_trials_per_sweep = limits.max_trials_per_sweep;
  std::int64_t max_watch_streams = limits.max_watch_streams;
  std::int64_t max_checkpoint_streams = limits.max_checkpoint_streams;
  app.add_option("--max-message-bytes", max_message_bytes,
                 "Largest gRPC message accepted (RESOURCE_EXHAUSTED beyond); at least 2 MiB (checkpoint chunks)")
      ->capture_default_str();
  app.add_option("--max-spec-bytes", max_spec_bytes, "Largest sweep spec accepted; at most --max-message-bytes")
      ->capture_default_str();
  app.add_option("--max-trials-per-sweep", max_trials_per_sweep, "Refuse sweeps that would create more trials (specs allow at most 10000)")
      ->capture_default_str();
  app.add_option("--max-watch-streams", max_watch_streams,
                 "WatchSweep streams open at once (RESOURCE_EXHAUSTED beyond)")
      ->capture_default_str();
  app.add_option("--max-checkpoint-streams", max_checkpoint_streams,
                 "Checkpoint uploads and downloads open at once, and weight exports likewise "
                 "(RESOURCE_EXHAUSTED beyond; workers retry)")
      ->capture_default_str();
  CLI11_PARSE(app, argc, argv);
  if (!InRange("--max-message-bytes", max_message_bytes, std::int64_t{2} << 20, std::int64_t{1} << 30) ||
      !InRange("--max-spec-bytes", max_spec_bytes, 1, max_message_bytes) ||
      !InRange("--max-trials-per-sweep", max_trials_per_sweep, 1, 10000) ||
      !InRange("--max-watch-streams", max_watch_streams, 1, 100000) ||
      !InRange("--max-checkpoint-streams", max_checkpoint_streams, 1, 100000)) {
    return 2;
  }
  limits.max_message_bytes = static_cast<int>(max_message_bytes);
  limits.max_spec_bytes = static_cast<int>(max_spec_bytes);
  limits.max_trials_per_sweep = static_cast<int>(max_trials_per_sweep);
  limits.max_watch_streams = static_cast<int>(max_watch_streams);
  limits.max_checkpoint_streams = static_cast<int>(max_checkpoint_streams);
  if (!metrics_listen.empty()) {
    if (absl::Status valid = segtune::common::ValidateListenAddress("--metrics-listen", metrics_listen); !valid.ok()) {
      std::cerr << "segtune-coordinator: " << valid.message() << "\n";
      return 2;
    }
  }

  auto tokens = LoadTokens(tokens_file);
  if (!tokens.ok()) {
    std::cerr << "segtune-coordinator: " << tokens.status().message() << "\n";
    return 2;
  }
  auto tls = segtune::api::LoadServerTls(tls_cert, tls_key, tls_client_ca);
  if (!tls.ok()) {
    std::cerr << "segtune-coordinator: " << tls.status().message() << "\n";
    return 2;
  }
  options.tokens = *std::move(tokens);
  options.tls = *std::move(tls);

  std::error_code ec;
  std::filesystem::create_directories(data_dir, ec);
  if (ec) {
    std::cerr << "--data-dir: cannot create " << data_dir << ": " << ec.message() << "\n";
    return 2;
  }
  if (db_path.empty()) db_path = (std::filesystem::path(data_dir) / "segtune.db").string();
  options.db_path = db_path;
  options.data_dir = data_dir;
  options.metrics_listen = metrics_listen;
  options.lease_ms = lease_seconds * 1000;
  options.heartbeat_interval_ms = std::max(500, options.lease_ms / 6);

  // Block the stop signals in every thread; this thread waits for them.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  auto coordinator = segtune::api::Coordinator::Start(options);
  if (!coordinator.ok()) {
    std::cerr << "segtune-coordinator: " << coordinator.status().message() << "\n";
    return 1;
  }
  spdlog::info("segtune-coordinator listening on {} (database {}, checkpoints {}/checkpoints, metrics {}, {}, {})",
               (*coordinator)->address(), db_path, data_dir,
               metrics_listen.empty() ? "off" : "http://" + metrics_listen + "/metrics",
               options.tls.cert_pem.empty() ? "plaintext"
                                            : (options.tls.client_ca_pem.empty() ? "TLS" : "TLS with client certificates"),
               options.tokens.empty() ? "no authentication"
                                      : std::to_string(options.tokens.size()) + " token(s)");
  int signal = 0;
  sigwait(&signals, &signal);
  spdlog::info("received {}, shutting down", signal == SIGINT ? "SIGINT" : "SIGTERM");
  (*coordinator)->Shutdown();
  return 0;
}
