// The trial scheduler: turns submitted sweeps into trials, leases trials to
// worker slots, keeps leases alive through heartbeats, requeues trials whose
// worker went silent, records epoch reports durably and asks the sweep's
// searcher whether a trial goes on.
//
// Every state change is written to the Store before it is acknowledged; the
// in-memory state (queue, leases, searchers) is a cache that Recover()
// rebuilds from the store after a restart.
//
// Thread-safety: every public method is thread-safe (one mutex; store writes
// happen with it held, so scheduling decisions and their records never
// disagree). The one exception is the epoch rows themselves: a committer
// thread writes them in batches without the mutex (group commit), and only
// acts on them, with the mutex, once they are durable.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "segtune/search/searcher.h"
#include "segtune/spec/spec.h"
#include "segtune/store/checkpoint_store.h"
#include "segtune/store/store.h"

namespace segtune::scheduler {

struct SchedulerOptions {
  std::int64_t lease_ms = 30000;  // silence after which a trial is requeued
  // Submit refuses a sweep that would create more trials than this.
  int max_trials_per_sweep = 10000;
  // Milliseconds since the epoch; injectable so tests control time.
  std::function<std::int64_t()> now_ms;
  // Where pbt copies a donor's checkpoint over the member that exploits it.
  // Without one, pbt members keep their own weights (exploits are skipped).
  store::CheckpointStore* checkpoints = nullptr;
  // Optional: called with each scheduling latency, the seconds from the
  // moment a free slot and a runnable trial were both there to the trial's
  // lease. Called with the scheduler's mutex held: it must be cheap (a
  // histogram observation) and must not call back into the scheduler.
  std::function<void(double seconds)> on_trial_scheduled;
};

struct Assignment {
  std::string trial_id;
  std::string sweep_id;
  int attempt = 0;
  std::string config_json;  // see segtune.v1.TrialAssignment
  int start_epoch = 0;
};

struct RunningTrialRef {
  std::string trial_id;
  int attempt = 0;
};

// One slot's cumulative training time, as a worker's heartbeat reports it.
struct SlotUsage {
  int slot = 0;                 // from 0, below the worker's slots
  double training_seconds = 0;  // since the worker process started; finite, >= 0
};

// How one device of a worker is used (segtune.v1.DeviceUsage).
struct DeviceUsage {
  std::string device;
  int slots = 0;
  int busy_slots = 0;  // its slots holding a lease (a slot holding two counts once)
  // Fraction of the device's slot time spent training between the worker's
  // last two heartbeats that reported slot times, in [0, 1]; 0 before then
  // and for workers that report none.
  double utilization = 0;
  // Training seconds of its slots between the first and the latest
  // heartbeat that reported them since the worker registered (or since the
  // coordinator started).
  double training_seconds = 0;
};

// The device of each of the worker's slots, slot 0 first: its slot_devices,
// or `device` for every slot when it registered without them.
std::vector<std::string> SlotDevices(const store::WorkerRecord& worker);
// The worker's devices in the order its slots first use them, each with its
// number of slots (busy 0, no usage): a worker that is not live.
std::vector<DeviceUsage> IdleDevices(const store::WorkerRecord& worker);

struct EpochDecision {
  bool stop = false;  // the attempt ends: stopped early, paused or exploiting (pbt)
  std::string reason;
  // The trial's best epoch so far (the earliest of equals), whose checkpoint
  // must be kept; 0 when the answer does not know it (keep them all).
  int best_epoch = 0;
};

// Gets the answer to an epoch report: the decision once the epoch is durable,
// or why it was refused.
using EpochReportDone = std::function<void(absl::StatusOr<EpochDecision>)>;

// The metrics of an epoch report that monitoring follows per running trial.
inline constexpr const char* kMonitoredTrialMetrics[] = {"train_loss", "val_loss", "val_miou", "lr"};

// A running trial as monitoring shows it: its labels and its last epoch.
struct RunningTrialStats {
  std::string sweep_id;
  std::string trial_id;
  std::string optimizer;  // torch.optim name
  std::string scheduler;  // torch.optim.lr_scheduler name; "none" without one
  int epoch = 0;          // the trial's last durable epoch (reported by any attempt); 0 before the first
  int epochs = 0;         // budget.epochs
  // The last report's values of the metrics monitoring follows
  // (train_loss, val_loss, val_miou, lr), when it had them.
  std::map<std::string, double> metrics;
};

// A running sweep as monitoring shows it.
struct SweepStats {
  std::string sweep_id;
  std::string objective_metric;
  int trials_planned = 0;
  std::uint64_t epochs_reported = 0;  // since the process started
  bool has_best = false;
  double best_value = 0;  // the objective's own value (not oriented)
};

// Counts for monitoring; cumulative counters start at 0 with the process.
struct SchedulerStats {
  int queue_depth = 0;
  int running_trials = 0;
  int running_sweeps = 0;
  int workers = 0;
  int slots_total = 0;
  int slots_busy = 0;
  std::uint64_t epochs_reported = 0;
  // Trials that reached a final state, by that state. A trial paused in an
  // asha rung counts as STOPPED when paused, and again when it ends if it
  // was promoted.
  std::map<store::TrialState, std::uint64_t> trials_finished;
  std::uint64_t leases_expired = 0;  // leases lost because a worker went silent
  std::vector<SweepStats> sweeps;
  std::vector<RunningTrialStats> trials;
  // Every device of every live worker, by worker id.
  std::map<std::string, std::vector<DeviceUsage>> devices;
};

struct SubmitResult {
  std::string sweep_id;
  int total_trials = 0;
};

class Scheduler {
 public:
  Scheduler(store::Store* store, SchedulerOptions options);
  // Answers the epoch reports still waiting for their commit, then stops the
  // committer thread.
  ~Scheduler();

  Scheduler(const Scheduler&) = delete;
  Scheduler& operator=(const Scheduler&) = delete;

  // Rebuilds queue, leases and searchers from the store. Trials RUNNING at the
  // time of a crash keep their lease for two more lease periods, so workers that
  // outlived the coordinator carry on; silent ones are requeued by Tick.
  absl::Status Recover();

  // Validates the spec (InvalidArgument listing every problem, one per line),
  // creates the sweep and its trials durably and queues them.
  absl::StatusOr<SubmitResult> Submit(const std::string& spec_yaml);
  // Cancels pending trials and tells running ones to stop.
  absl::Status Cancel(const std::string& sweep_id);

  absl::StatusOr<store::WorkerRecord> RegisterWorker(store::WorkerRecord worker);
  absl::Status DeregisterWorker(const std::string& worker_id);

  // The next trial for `slot` of `worker_id` (the worker has a free slot),
  // if any is runnable now. The lease is recorded on `slot`, or, when that
  // slot already holds one (a worker from before multi-device support asks
  // on slot 0 for all its slots; a worker whose FinishTrial gave up asks
  // again on its slot), on a free slot of the same device when there is one.
  // InvalidArgument naming `slot` unless 0 <= slot < the worker's slots.
  absl::StatusOr<std::optional<Assignment>> TryAcquire(const std::string& worker_id, int slot = 0);
  // Extends the leases of `running` and records the slots' training times
  // (utilization); returns the trials the worker must stop. InvalidArgument
  // naming `slots.slot` for a slot out of the worker's range or listed twice
  // (and no lease is extended).
  absl::StatusOr<std::vector<std::string>> Heartbeat(const std::string& worker_id,
                                                     const std::vector<RunningTrialRef>& running,
                                                     const std::vector<SlotUsage>& slots = {});
  // Stores the epoch (idempotent) and returns the searcher's decision.
  // FailedPrecondition when the attempt no longer holds the trial's lease.
  // Blocks until the epoch is durable: ReportEpochAsync, waited for.
  absl::StatusOr<EpochDecision> ReportEpoch(const std::string& worker_id, const std::string& trial_id,
                                            int attempt, int epoch,
                                            const std::map<std::string, double>& metrics);
  // ReportEpoch without blocking. A report that can be refused at once is
  // answered before this returns; the others are queued for the committer
  // thread, which writes every report queued while the previous commit was
  // being flushed in one transaction (group commit: one disk sync serves
  // them all). The answerer thread then gives each its decision, batch by
  // batch in arrival order, while the committer flushes the next batch.
  // `done` is called exactly once, without any of the scheduler's locks held.
  void ReportEpochAsync(const std::string& worker_id, const std::string& trial_id, int attempt, int epoch,
                        const std::map<std::string, double>& metrics, EpochReportDone done);
  // Whether `attempt` of `trial_id` may store or fetch a checkpoint: it holds
  // the trial's lease on `worker_id`, or it is the attempt that was running
  // when the trial was cancelled (its last epoch is still kept, like its
  // report). Returns the trial's number of epochs (budget.epochs). The
  // errors are ReportEpoch's: FailedPrecondition for a lost lease, NotFound
  // for an unknown trial.
  absl::StatusOr<int> CheckpointEpochs(const std::string& worker_id, const std::string& trial_id, int attempt);
  // Checkpoints of the trial's epochs divisible by this must be kept beside
  // the latest and the best (0: none): pbt members copy them from each other.
  int CheckpointsKeptEvery(const std::string& trial_id) const;
  // Ends an attempt. `state` PENDING releases the trial back to the queue.
  absl::Status FinishTrial(const std::string& worker_id, const std::string& trial_id, int attempt,
                           store::TrialState state, const std::string& reason);

  // Requeues trials whose lease expired. Called periodically.
  absl::Status Tick();

  // The live workers (registered, heard from within a lease) with their
  // running trial ids; last_seen is current, not the last persisted value.
  struct LiveWorker {
    store::WorkerRecord record;
    std::vector<std::string> running_trial_ids;
    std::vector<DeviceUsage> devices;  // in the order its slots first use them
  };
  std::map<std::string, LiveWorker> LiveWorkers() const;
  SchedulerStats Stats() const;
  std::int64_t lease_ms() const { return options_.lease_ms; }
  std::int64_t NowMs() const { return options_.now_ms(); }

  // A counter bumped by every change; WaitForChange blocks until it moves past
  // `seen` or `timeout_ms` passes, and returns the current value.
  std::uint64_t version() const;
  std::uint64_t WaitForChange(std::uint64_t seen, std::int64_t timeout_ms) const;
  // Wakes every waiter (shutdown).
  void NotifyAll();

 private:
  struct Queued {
    std::string sweep_id;  // lets TryAcquire skip capped sweeps without a store read
    std::string trial_id;
    std::int64_t since_ms = 0;  // when it became runnable (scheduling latency)
    // The worker its last attempt failed on: another worker with a free slot
    // gets it first (that worker's memory, disk or data may be the cause).
    std::string failed_on;
  };
  struct SweepRuntime {
    spec::SweepSpec spec;
    std::unique_ptr<search::Searcher> searcher;
    std::string config_base_json;  // data, model, training, epochs, objective
    int running = 0;
    std::int64_t created_unix_ms = 0;  // sweeps are served in submission order
    // Trials created so far and in all. Searchers that learn from results
    // (TotalTrials() -1) get their trials created one per free slot.
    int trials_created = 0;
    int trials_planned = 0;
    bool lazy() const { return searcher->TotalTrials() < 0; }
    // Since when the sweep may start another trial: below its parallelism
    // cap, and (lazy sweeps) with its previous trial leased.
    std::int64_t room_since_ms = 0;
    std::uint64_t epochs_reported = 0;  // since the process started
    std::optional<double> best_oriented;  // best objective so far, larger is better
  };
  struct Lease {
    std::string worker_id;
    int attempt = 0;
    std::int64_t expires_ms = 0;
    int index = 0;            // the trial's index in its sweep (the searcher's name for it)
    RunningTrialStats stats;  // labels and the last epoch, for monitoring
    // The trial's best durable epoch and its oriented objective (larger is
    // better); best_epoch 0 until the first report of the lease reads them.
    int best_epoch = 0;
    double best_oriented = 0;
    // The worker's slot it trains on; -1 when the worker has none free to
    // count it on (a lease recovered for a worker that is gone).
    int slot = -1;
    // Recovered after a restart (attempts do not record their slot): `slot`
    // is the first one that was free, and gives way to a request from it.
    bool slot_guessed = false;
  };
  // One slot's training-time samples from heartbeats.
  struct SlotClock {
    bool seen = false;  // a heartbeat reported this slot
    double first = 0;   // the first sample since registration (or restart)
    double previous = 0;
    double latest = 0;
  };
  struct WorkerRuntime {
    store::WorkerRecord record;     // last_seen_unix_ms is kept current here
    std::int64_t persisted_last_seen_ms = 0;
    std::set<std::string> trials;   // leased trial ids
    std::multiset<std::int64_t> free_slots_since_ms;  // one entry per free slot
    std::vector<std::string> slot_devices;  // SlotDevices(record)
    std::vector<SlotClock> clocks;          // one per slot
    // When the last two heartbeats with slot times came; 0 before them.
    std::int64_t previous_sample_ms = 0;
    std::int64_t latest_sample_ms = 0;
  };
  // The answer given to a trial's latest epoch report, replayed when the same
  // report is retried (its reply was lost) so a STOP is never turned into a
  // CONTINUE.
  struct LastDecision {
    int attempt = 0;
    int epoch = 0;
    EpochDecision decision;
  };
  // An epoch report checked against the lease and waiting for its commit.
  struct PendingReport {
    store::EpochRecord record;
    std::string worker_id;
    // The trial was cancelled while this epoch ran: the epoch is still kept
    // (never lose a metric) and the worker is told to stop.
    bool cancelled = false;
    EpochReportDone done;
  };

  // A batch of reports written in one transaction, waiting for its answers.
  struct CommittedBatch {
    std::vector<PendingReport> reports;
    absl::StatusOr<std::vector<absl::StatusOr<store::EpochInsert>>> inserted;
  };
  // The committer and answerer threads' loops (see ReportEpochAsync).
  void CommitReports();
  void AnswerReports();

  // All REQUIRES: mu_ held.
  // Checks a report against the lease and the sweep's spec before its commit.
  absl::StatusOr<PendingReport> PrepareReportLocked(const std::string& worker_id, const std::string& trial_id,
                                                    int attempt, int epoch,
                                                    const std::map<std::string, double>& metrics);
  // Acts on a report whose row was just written (`inserted`): extends the
  // lease and asks the searcher.
  absl::StatusOr<EpochDecision> CompleteReportLocked(const PendingReport& report,
                                                     const absl::StatusOr<store::EpochInsert>& inserted);
  // Brings the lease's best epoch up to date with `epoch`, now durable.
  absl::Status TrackBestEpochLocked(Lease& lease, const SweepRuntime& sweep, int epoch, double oriented);
  // Builds the sweep's runtime; `trials` (its stored trials) restore the
  // searcher's state after a restart.
  absl::Status LoadSweep(const store::SweepRecord& sweep, const std::vector<store::TrialRecord>& trials);
  // Leases `trial` to `worker_id`: the trial is PENDING and out of the queue.
  absl::StatusOr<Assignment> LeaseLocked(store::TrialRecord trial, const std::string& worker_id, int slot);
  // Leases the queued trial to `slot` of `worker_id` and takes it off the
  // queue; a failed lease leaves it queued.
  absl::StatusOr<std::optional<Assignment>> LeaseQueuedLocked(std::deque<Queued>::iterator queued,
                                                              const std::string& worker_id, int slot);
  // The oldest sweep that creates its trials one per free slot and may
  // create one now (under its cap, with none of its trials queued), if any.
  std::optional<std::string> LazySweepWithRoomLocked() const;
  // Creates the sweep's next trial and queues it; false when its searcher
  // suggested none.
  absl::StatusOr<bool> CreateLazyTrialLocked(const std::string& sweep_id);
  // Acts on a searcher's verdict about the trial's epoch. Reads the trial's
  // record only for a verdict that changes it.
  absl::StatusOr<EpochDecision> ApplyVerdictLocked(const std::string& trial_id, const std::string& sweep_id,
                                                   int epoch, search::Verdict verdict);
  // PBT: `trial` takes its donor's checkpoint and the perturbed params, and
  // goes back to the queue. False (and nothing changed) when the donor's
  // checkpoint cannot be copied.
  absl::StatusOr<bool> ExploitLocked(store::TrialRecord& trial, const search::Exploit& exploit);
  // Requeues the paused trials the sweep's searcher promotes now.
  absl::Status ResumePromotedLocked(const std::string& sweep_id);
  // Ends the trial as `state` with `reason`; its attempt ends the same way
  // with `attempt_reason`.
  absl::Status FinishLocked(store::TrialRecord trial, store::TrialState state, const std::string& reason,
                            const std::string& attempt_reason);
  // The leased attempt failed (its worker reported FAILED or went silent):
  // the trial goes back to the queue, or FAILS once it has failed
  // budget.max_retries + 1 times.
  absl::Status RetryOrFailLocked(store::TrialRecord trial, const std::string& why);
  // The trial was released on purpose (a draining or deregistered worker):
  // back to the queue, not counted as a failure.
  absl::Status RequeueLocked(const std::string& trial_id, const std::string& why);
  // Ends the leased attempt as `attempt_state` and queues the trial (front).
  absl::Status RequeueAttemptLocked(store::TrialRecord trial, store::TrialState attempt_state,
                                    const std::string& attempt_reason, const std::string& trial_reason);
  // Remembers the lease in memory (after the store write) and takes one of
  // the worker's free slots: `slot` (see TryAcquire), or the first free one
  // when `slot` is -1 (a lease recovered after a restart: attempts do not
  // record their slot).
  void AddLeaseLocked(const store::TrialRecord& trial, const std::string& worker_id, std::int64_t expires_ms,
                      int slot);
  // Where a new lease asking for `slot` (-1: any) of `worker` is counted. A
  // guessed lease on `slot` moves to the first free slot.
  int PlaceOnSlotLocked(const WorkerRuntime& worker, int slot);
  // Builds the worker's runtime from its record, all its slots free since `now`.
  static WorkerRuntime NewWorkerRuntime(const store::WorkerRecord& record, std::int64_t now);
  // The worker's devices with their busy slots and usage.
  std::vector<DeviceUsage> DevicesLocked(const WorkerRuntime& worker) const;
  // Takes a heartbeat's slot times (slots checked to be in range, once each).
  void RecordSlotTimesLocked(WorkerRuntime& worker, const std::vector<SlotUsage>& slots);
  // Forgets the lease of `trial_id` in memory; call after the store write.
  void DropLeaseLocked(const std::string& trial_id, const std::string& sweep_id);
  // Whether a live worker other than `worker_id` has a free slot.
  bool AnotherWorkerHasRoomLocked(const std::string& worker_id) const;
  // Puts `trial_id` at the back (or, retried and promoted trials, the
  // front) of the queue, runnable from now.
  void QueueLocked(const std::string& sweep_id, const std::string& trial_id, bool front);
  // Epochs 1..k durable for the trial: where a new attempt resumes.
  absl::StatusOr<int> DurableEpochsLocked(const std::string& trial_id);
  // The record of epoch k of those (none before the first).
  absl::StatusOr<std::optional<store::EpochRecord>> LastDurableEpochLocked(const std::string& trial_id);
  // Sets the leased trial's monitoring stats to its last durable epoch.
  absl::Status RecordDurableEpochLocked(const std::string& trial_id);
  absl::Status MaybeCompleteSweepLocked(const std::string& sweep_id);
  absl::Status TouchWorkerLocked(const std::string& worker_id);
  void ChangedLocked();

  store::Store* const store_;
  const SchedulerOptions options_;

  mutable std::mutex mu_;
  mutable std::condition_variable changed_;
  std::uint64_t version_ = 0;                       // GUARDED_BY(mu_)
  std::map<std::string, SweepRuntime> sweeps_;      // running sweeps only
  std::deque<Queued> queue_;                        // PENDING trials, in order
  std::map<std::string, Lease> leases_;             // RUNNING trial id -> lease
  std::map<std::string, WorkerRuntime> workers_;     // live workers only
  std::map<std::string, LastDecision> last_decisions_;  // by trial id
  std::uint64_t epochs_reported_ = 0;
  std::map<store::TrialState, std::uint64_t> trials_finished_;
  std::uint64_t leases_expired_ = 0;

  // Lock order: mu_ before commit_mu_; the committer and the answerer never
  // hold two of mu_, commit_mu_ and answer_mu_ at once.
  std::mutex commit_mu_;
  std::condition_variable commit_wanted_;
  std::vector<PendingReport> pending_reports_;  // GUARDED_BY(commit_mu_), in arrival order
  bool stop_committing_ = false;                // GUARDED_BY(commit_mu_)
  std::mutex answer_mu_;
  std::condition_variable answer_wanted_;
  std::deque<CommittedBatch> committed_;  // GUARDED_BY(answer_mu_), in commit order
  bool stop_answering_ = false;           // GUARDED_BY(answer_mu_)
  // Last: they start once everything above exists.
  std::thread answerer_;
  std::thread committer_;
};

}  // namespace segtune::scheduler
