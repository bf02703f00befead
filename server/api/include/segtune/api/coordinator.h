// The coordinator as an embeddable object: the gRPC server (Tuner, WorkerHub,
// health, reflection), its stores (SQLite, checkpoint files) and its scheduler. `segtune-coordinator`
// runs one; `segtune run` (local mode) embeds one in the CLI process.
//
// Thread-safety: Start, Shutdown and Wait may be called from any thread;
// Shutdown is idempotent.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "segtune/api/security.h"

namespace segtune::api {

// What one request may ask of the coordinator (docs/architecture.md,
// "Limits"). Each limit answers with an error naming it.
struct Limits {
  // Any one gRPC message received; larger ones get RESOURCE_EXHAUSTED from
  // gRPC itself. Checkpoint chunks are 1 MiB, well under the default.
  int max_message_bytes = 8 << 20;
  // SubmitSweep's spec_yaml (INVALID_ARGUMENT); at most max_message_bytes.
  int max_spec_bytes = 1 << 20;
  // Trials one sweep may create (INVALID_ARGUMENT at submission).
  int max_trials_per_sweep = 10000;
  // WatchSweep streams open at once (RESOURCE_EXHAUSTED beyond).
  int max_watch_streams = 256;
  // Checkpoint uploads, downloads and weight exports open at once
  // (RESOURCE_EXHAUSTED beyond).
  int max_checkpoint_streams = 256;
  // GRPC_ARG_MAX_CONCURRENT_STREAMS: calls in flight on one connection
  // (more wait for a free stream). Above what one worker sends at once
  // (one call per slot, up to 1024 slots, plus its poll and heartbeat),
  // so a worker's heartbeat never waits behind its own uploads.
  int max_streams_per_connection = 2048;
};

// InvalidArgument naming the first limit out of range (each >= 1,
// max_spec_bytes <= max_message_bytes).
absl::Status ValidateLimits(const Limits& limits);

struct CoordinatorOptions {
  std::string listen = "127.0.0.1:50051";  // port 0 picks a free port
  std::string db_path = "segtune.db";
  // Checkpoints are kept under DATA_DIR/checkpoints (created if missing).
  std::string data_dir = ".";
  std::string metrics_listen;              // Prometheus /metrics, HOST:PORT; empty: off
  int lease_ms = 30000;                    // a trial whose worker is silent this long is requeued
  int heartbeat_interval_ms = 5000;        // told to workers at registration
  int max_acquire_wait_ms = 30000;         // cap on a worker's long poll
  Limits limits;
  // Bearer tokens and their roles (segtune/api/security.h); empty: every
  // call is allowed, as local mode wants.
  std::vector<TokenGrant> tokens;
  ServerTls tls;                           // empty cert_pem: plaintext
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
