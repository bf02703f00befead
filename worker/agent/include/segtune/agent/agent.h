// The worker's side of the WorkerHub protocol: registers with the
// coordinator, leases trials into `slots` threads, trains them with a trial
// function (segtune::train::RunTrial), reports every epoch, heartbeats the
// running trials, and releases them when it shuts down.
//
// Delivery rules:
// - Every call has a deadline. Transient failures (coordinator down,
//   restarting, deadline passed) are retried with exponential backoff, so a
//   worker outlives coordinator restarts and carries on when it returns.
// - An epoch report is retried until the coordinator acknowledges it; the
//   trial does not move to the next epoch before that.
// - Each epoch's checkpoint is uploaded (retried the same way) before the
//   epoch is reported, so every reported epoch can be resumed from. An
//   attempt that resumes at start_epoch k > 0 downloads the checkpoint of
//   epoch k first; when there is none (NOT_FOUND) or it arrives damaged, it
//   logs why and the trainer replays epochs 1..k instead.
// - FAILED_PRECONDITION or NOT_FOUND on an epoch report, a checkpoint upload
//   or on finishing (FAILED_PRECONDITION only, on a download) means the
//   trial's lease is gone (given to another worker): the trial is
//   abandoned without reporting anything more. A heartbeat reply that lists a
//   trial (cancelled or re-leased) does the same to the attempt that
//   heartbeat listed, never to a newer attempt started since.
// - UNAUTHENTICATED or PERMISSION_DENIED (the coordinator refused the
//   token) is permanent wherever it comes: Wait returns it and the worker
//   stops, rather than retrying a token that will not start working.
// - NOT_FOUND on a call that names only the worker (AcquireTrial, Heartbeat)
//   means the coordinator forgot this worker: the agent registers again and
//   abandons the trials it held under its old id.
// - Drain stops acquiring trials, lets each running trial finish the epoch
//   in progress (uploaded and acknowledged as usual) and then releases it
//   (FinishTrial PENDING) instead of starting the next one; a trial that
//   has just finished its last epoch ends COMPLETED as usual. Then it shuts
//   down.
// - Shutdown aborts running trials and releases them back to the queue
//   (FinishTrial with state PENDING). Reports still undelivered when the
//   coordinator stays unreachable are retried for `shutdown_grace_ms`; after
//   that the coordinator's lease expiry requeues the trial, which resumes
//   from its last acknowledged epoch.
// - Each slot trains on its device (AgentOptions::slot_devices) and asks
//   for trials naming its slot, so the coordinator knows which device a
//   trial is on. Heartbeats carry each slot's training time (TrainingClocks)
//   for the coordinator's per-device utilisation.
// - With AgentOptions::metrics set, each slot records the trial it trains,
//   its batches and its epochs there (segtune/worker_metrics).
//
// Thread-safety: Start may be called once. Wait, Drain, Shutdown and worker_id are
// thread-safe and may be called from any thread except from inside the trial
// function. The trial function runs on the slot threads, several at once
// when slots > 1.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <grpcpp/grpcpp.h>
#include <nlohmann/json.hpp>

#include "absl/status/status.h"
#include "segtune/agent/training_clocks.h"
#include "segtune/common/channel.h"
#include "segtune/train/trainer.h"
#include "segtune/v1/segtune.grpc.pb.h"
#include "segtune/worker_metrics/worker_metrics.h"

namespace segtune::agent {

// Trains one trial (see segtune::train::RunTrial for the contract).
using TrialFunction =
    std::function<train::TrialResult(const nlohmann::json& config, const train::TrainOptions& options)>;

struct AgentOptions {
  std::string coordinator = "127.0.0.1:50051";  // HOST:PORT
  common::ClientSecurity security;               // token and TLS presented to it
  std::string device = "cpu";                    // every device, as in "cuda:0,cuda:1"
  int slots = 1;                                 // trials trained at once
  // The device each slot trains on, slot 0 first (size == slots, see
  // SlotDevices); empty: every slot trains on `device`.
  std::vector<std::string> slot_devices;
  std::string name;                              // shown by `segtune workers`
  std::string hostname;
  TrialFunction run_trial = train::RunTrial;
  // Where the slots record their training for /metrics; nullptr: nowhere.
  // Must outlive the agent.
  worker_metrics::WorkerMetrics* metrics = nullptr;

  // Timing; the defaults suit production, tests shrink them.
  int acquire_wait_ms = 10000;     // AcquireTrial long poll; its deadline is 5 s longer
  int rpc_timeout_ms = 10000;      // deadline of every other call
  int initial_backoff_ms = 500;    // first retry delay, doubled after each failure...
  int max_backoff_ms = 10000;      // ...up to this
  int shutdown_grace_ms = 10000;   // how long Shutdown keeps retrying undelivered reports
};

class Agent {
 public:
  explicit Agent(AgentOptions options);
  // Shuts down (see Shutdown) if still running.
  ~Agent();

  Agent(const Agent&) = delete;
  Agent& operator=(const Agent&) = delete;

  // Validates the options (InvalidArgument naming the bad one) and starts the
  // slot threads and the registration/heartbeat thread. Returns at once:
  // registration is retried in the background until the coordinator answers.
  absl::Status Start();

  // Blocks until Shutdown has completed (returns OK) or the agent hit an
  // error it cannot recover from, such as the coordinator rejecting the
  // registration or answering a call with a permanent error (returns that
  // error; call Shutdown next).
  absl::Status Wait();

  // Shuts down gracefully: stops acquiring trials at once (parked
  // AcquireTrial long polls are cancelled) and lets each running trial
  // finish the epoch in progress: its checkpoint is uploaded and its report
  // acknowledged as usual, and then, instead of starting the next epoch,
  // the trial is released back to the queue (FinishTrial PENDING, reason
  // "worker draining: released after epoch N"), to resume elsewhere from
  // that checkpoint. A trial that has just finished its last epoch ends
  // COMPLETED, one the searcher stops on that report ends STOPPED, as usual. Once no trial
  // is in hand, or after `within` (then the remaining trials are aborted and
  // released as Shutdown does: they resume from their last checkpoint), it
  // completes with Shutdown and returns. Returns at once (after Shutdown)
  // when nothing is running. A Shutdown meanwhile, from another thread, cuts
  // the drain short.
  void Drain(std::chrono::milliseconds within);

  // Stops acquiring trials, aborts the running ones and releases them back to
  // the queue, deregisters and joins every thread. Idempotent; a concurrent
  // caller waits for the first one to finish.
  void Shutdown();

  // The id the coordinator gave this worker; empty while not registered.
  std::string worker_id() const;

 private:
  // One trial attempt on a slot thread.
  struct ActiveTrial {
    std::string trial_id;
    int attempt = 0;
    std::string worker_id;                  // the registration it was leased under
    int slot = 0;                           // the slot thread training it, from 0
    std::atomic<bool> stop_requested{false};  // listed in a heartbeat reply
    std::atomic<bool> lease_lost{false};      // the coordinator refused its reports
  };
  // What the epoch reports of one trial learned from the coordinator.
  struct EpochFeedback {
    bool stop = false;            // the searcher said STOP
    std::string stop_reason;
    bool undelivered = false;     // gave up retrying during shutdown
    int drained_after = 0;        // the epoch after which a drain released it; 0: none
    absl::Status rejection;       // a permanent error answered to a report
  };
  // The FinishTrial call a trial ends with, if any.
  struct Ending {
    bool report = false;
    segtune::v1::TrialState state = segtune::v1::TRIAL_STATE_UNSPECIFIED;
    std::string reason;
    int epochs_done = 0;
  };
  using Call = std::function<grpc::Status(grpc::ClientContext*)>;

  void SessionLoop();
  bool Register();
  void SendHeartbeat(const std::string& worker_id);
  void ForgetWorker(const std::string& worker_id);
  void SlotLoop(int slot);
  const std::string& SlotDevice(int slot) const;
  std::string WaitForWorkerId();
  void RunAssignment(const segtune::v1::TrialAssignment& assignment, const std::string& worker_id, int slot);
  Ending Train(const segtune::v1::TrialAssignment& assignment, ActiveTrial& trial);
  bool ReportEpoch(ActiveTrial& trial, int epochs, const train::EpochReport& report, EpochFeedback& feedback);
  // Stores the checkpoint on the coordinator; an error fails (or, for a lost
  // lease, abandons) the trial before its epoch is reported.
  absl::Status UploadCheckpoint(ActiveTrial& trial, const train::Checkpoint& checkpoint, EpochFeedback& feedback);
  // The checkpoint of `epoch` to resume from; nullopt when there is none to
  // use (the trainer replays) or the lease is gone (trial.lease_lost).
  std::optional<train::Checkpoint> DownloadCheckpoint(ActiveTrial& trial, int epoch);
  Ending DecideEnding(const ActiveTrial& trial, const train::TrialResult& result,
                      const EpochFeedback& feedback) const;
  void FinishTrial(const ActiveTrial& trial, const Ending& ending);
  void Deregister();

  // Calls until the answer is not a transient failure; nullopt when it gave
  // up because the shutdown grace period ran out. `extra` lengthens each
  // try's deadline (large transfers).
  std::optional<grpc::Status> CallUntilAnswered(const char* what, const Call& call,
                                                std::chrono::milliseconds extra = std::chrono::milliseconds(0));
  // The deadline for a call: rpc_timeout_ms plus `extra`, cut to what is left
  // of the shutdown grace period while shutting down.
  std::chrono::milliseconds CallTimeout(std::chrono::milliseconds extra = std::chrono::milliseconds(0)) const;
  bool ShutdownGraceExpired() const;
  // Waits `delay`; returns early when shutdown begins. While shutting down it
  // waits at most until the grace period ends.
  void SleepForRetry(std::chrono::milliseconds delay);
  void LogRetry(const char* what, const grpc::Status& status, std::chrono::milliseconds delay) const;
  void Fail(absl::Status status);

  const AgentOptions options_;
  std::unique_ptr<segtune::v1::WorkerHub::Stub> stub_;  // set by Start, thread-safe

  std::mutex shutdown_mu_;  // serializes Shutdown callers

  mutable std::mutex mu_;
  std::condition_variable cv_;  // any change below
  bool started_ = false;                    // GUARDED_BY(mu_)
  std::atomic<bool> shutting_down_{false};  // written with mu_ held; read lock-free by trials
  std::atomic<bool> draining_{false};       // written with mu_ held; read lock-free by trials
  bool stop_session_ = false;               // GUARDED_BY(mu_)
  bool shutdown_done_ = false;              // GUARDED_BY(mu_)
  std::chrono::steady_clock::time_point grace_deadline_;  // GUARDED_BY(mu_)
  std::string worker_id_;                   // GUARDED_BY(mu_); empty: not registered
  int heartbeat_interval_ms_ = 0;           // GUARDED_BY(mu_)
  std::set<ActiveTrial*> running_;          // GUARDED_BY(mu_)
  // GUARDED_BY(mu_): assignments taken and not yet finished (FinishTrial
  // answered or given up); a drain waits for none to be left.
  int assignments_in_hand_ = 0;
  std::set<grpc::ClientContext*> acquire_calls_;  // GUARDED_BY(mu_): long polls in flight
  absl::Status fatal_;                      // GUARDED_BY(mu_)

  TrainingClocks training_clocks_;  // one per slot, thread-safe

  std::thread session_thread_;
  std::vector<std::thread> slot_threads_;
};

}  // namespace segtune::agent
