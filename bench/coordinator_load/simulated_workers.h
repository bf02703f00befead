// Many simulated workers driving one coordinator over gRPC, each reporting
// epochs back to back: register (1 slot), acquire a trial, report epochs
// 1, 2, 3, ... (each sent once the previous one is acknowledged), finish the
// trial when its epochs run out or the reply says stop, acquire the next.
//
// A worker is a small state machine, not a thread: its calls go through the
// async CompletionQueue API, and `threads` client threads each poll one
// queue serving a fixed share of the workers, so hundreds of workers cost a
// few threads (500 OS threads on 2 cores would measure the kernel's
// scheduler). Each worker has its own channel (a TCP connection, as real
// workers on different hosts have).
//
// Thread-safety: Start, OpenWindow, CloseWindow and Stop are called from one
// controlling thread; a worker's state is only touched by the client thread
// owning its queue, and the results are read after Stop has joined them.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"

namespace segtune::bench {

using Clock = std::chrono::steady_clock;

struct LoadOptions {
  std::string address;          // the coordinator's gRPC address
  int workers = 500;
  int threads = 2;              // client threads, one CompletionQueue each
  double retry_fraction = 0.01; // reports sent twice, both copies in flight at once
  int epochs = 50;              // the sweep's budget.epochs (a trial ends after it)
  // Reports per second offered by all workers together; 0: each worker sends
  // its next report as soon as the previous one is acknowledged (closed
  // loop). Paced, a worker sends at most one report per workers/rate seconds,
  // as real workers do at the end of each epoch.
  double rate = 0;
};

// One report sent, by the first copy's send; `acked` once any copy got OK.
struct SentReport {
  std::string trial_id;
  int attempt = 0;
  int epoch = 0;
  bool acked = false;
};

// What the client threads measured, merged after Stop.
struct LoadResults {
  std::vector<SentReport> reports;      // every report sent, whole run
  std::vector<double> report_ms;        // send to ack of the first copy, acked inside the window
  std::vector<double> acquire_ms;       // AcquireTrial calls that got a trial, answered inside the window
  std::int64_t window_reports = 0;      // reports acknowledged inside the window
  std::int64_t window_copies = 0;       // retried copies acknowledged inside the window
  std::int64_t window_finishes = 0;     // trials finished inside the window
  std::int64_t stop_decisions = 0;      // replies that said stop (whole run)
  std::int64_t starved_acquires = 0;    // AcquireTrial answered without a trial (whole run)
  std::int64_t errors = 0;              // calls that failed other than by the final cancel
  std::int64_t cancelled_at_end = 0;    // calls still unanswered when the drain gave up
  std::map<std::string, int> error_samples;  // "method: status" -> count
};

class SimulatedWorkers {
 public:
  explicit SimulatedWorkers(LoadOptions options);
  ~SimulatedWorkers();
  SimulatedWorkers(const SimulatedWorkers&) = delete;
  SimulatedWorkers& operator=(const SimulatedWorkers&) = delete;

  // Registers every worker (blocking calls, before any load) and starts the
  // client threads, which begin acquiring and reporting at once.
  absl::Status Start();
  // Calls acknowledged between OpenWindow and CloseWindow are measured.
  void OpenWindow();
  void CloseWindow();
  // No new calls; waits up to `drain` for the ones in flight, cancels the
  // rest, joins the threads and returns everything measured.
  LoadResults Stop(std::chrono::milliseconds drain);

 private:
  struct Worker;
  struct Call;
  struct Shard;

  void Poll(Shard& shard);
  void Acquire(Shard& shard, Worker& worker);
  void SendReport(Shard& shard, Worker& worker);
  // SendReport now, or when the worker's pace allows it.
  void NextReport(Shard& shard, Worker& worker);
  void Finish(Shard& shard, Worker& worker, bool stopped);
  void OnDone(Shard& shard, std::unique_ptr<Call> call);
  void RecordError(Shard& shard, const Call& call);
  bool InWindow(Clock::time_point t) const;

  LoadOptions options_;
  std::vector<std::unique_ptr<Shard>> shards_;
  std::vector<std::thread> threads_;
  std::atomic<std::int64_t> window_start_ns_;
  std::atomic<std::int64_t> window_end_ns_;
  std::atomic<bool> stopping_{false};
  std::atomic<std::int64_t> drain_deadline_ns_;
};

}  // namespace segtune::bench
