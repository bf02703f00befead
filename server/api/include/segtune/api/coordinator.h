// The coordinator as an embeddable object: the gRPC server (Tuner, WorkerHub,
// health, reflection), its stores (SQLite, checkpoint files) and its scheduler. `segtune-coordinator`
// runs one; `segtune run` (local mode) embeds one in the CLI process.
//
// Thread-safety: Start, Shutdown and Wait may be called from any thread;
// Shutdown is idempotent.
#pragma once

#include <memory>
#include <string>

#include "absl/status/statusor.h"

namespace segtune::api {

struct CoordinatorOptions {
  std::string listen = "127.0.0.1:50051";  // port 0 picks a free port
  std::string db_path = "segtune.db";
  // Checkpoints are kept under DATA_DIR/checkpoints (created if missing).
  std::string data_dir = ".";
  std::string metrics_listen;              // Prometheus /metrics, HOST:PORT; empty: off
  int lease_ms = 30000;                    // a trial whose worker is silent this long is requeued
  int heartbeat_interval_ms = 5000;        // told to workers at registration
  int max_acquire_wait_ms = 30000;         // cap on a worker's long poll
};

class Coordinator {
 public:
  virtual ~Coordinator() = default;

  // Opens the stores, rebuilds the queue from the database and starts serving.
  static absl::StatusOr<std::unique_ptr<Coordinator>> Start(const CoordinatorOptions& options);

  // The address actually bound, e.g. "127.0.0.1:41237" when the port was 0.
  virtual std::string address() const = 0;
  // The /metrics port actually bound; 0 when metrics are off.
  virtual int metrics_port() const = 0;

  // Stops accepting calls, ends long polls and streams, and closes the store.
  virtual void Shutdown() = 0;

  // Blocks until Shutdown has completed.
  virtual void Wait() = 0;
};

}  // namespace segtune::api
