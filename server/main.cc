// segtune-coordinator: serves the Tuner and WorkerHub gRPC services over a
// SQLite store. Stops cleanly on SIGINT or SIGTERM.
#include <csignal>
#include <filesystem>
#include <iostream>

#include <CLI/CLI.hpp>
#include <spdlog/spdlog.h>

#include "segtune/api/coordinator.h"
#include "segtune/common/listen_address.h"

int main(int argc, char** argv) {
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
  CLI11_PARSE(app, argc, argv);
  if (!metrics_listen.empty()) {
    if (absl::Status valid = segtune::common::ValidateListenAddress("--metrics-listen", metrics_listen); !valid.ok()) {
      std::cerr << "segtune-coordinator: " << valid.message() << "\n";
      return 2;
    }
  }

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
  spdlog::info("segtune-coordinator listening on {} (database {}, checkpoints {}/checkpoints, metrics {})",
               (*coordinator)->address(), db_path, data_dir,
               metrics_listen.empty() ? "off" : "http://" + metrics_listen + "/metrics");
  int signal = 0;
  sigwait(&signals, &signal);
  spdlog::info("received {}, shutting down", signal == SIGINT ? "SIGINT" : "SIGTERM");
  (*coordinator)->Shutdown();
  return 0;
}
