// Durable state of the coordinator: sweeps, trials, per-epoch metrics and
// workers. The coordinator holds no state that is not here or cannot be
// rebuilt from here; it can be killed at any moment and reopen the store.
//
// Thread-safety: every method is thread-safe. Writes are serialized on one
// writer connection; reads use their own connections and never block writes
// (SQLite WAL).
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace segtune::store {

// Names match segtune.v1.TrialState / SweepState and what the CLI prints.
enum class TrialState { kPending, kRunning, kCompleted, kStopped, kFailed, kDiverged, kCancelled };
enum class SweepState { kRunning, kCompleted, kCancelled };

inline constexpr TrialState kAllTrialStates[] = {
    TrialState::kPending, TrialState::kRunning,  TrialState::kCompleted, TrialState::kStopped,
    TrialState::kFailed,  TrialState::kDiverged, TrialState::kCancelled,
};

const char* ToString(TrialState state);  // "PENDING", "RUNNING", ...
const char* ToString(SweepState state);  // "RUNNING", "COMPLETED", "CANCELLED"
bool IsFinal(TrialState state);          // anything but PENDING and RUNNING

// The reverse of ToString; ignores ASCII case. InvalidArgument naming the
// value and the accepted names otherwise.
absl::StatusOr<TrialState> ParseTrialState(std::string_view name);
absl::StatusOr<SweepState> ParseSweepState(std::string_view name);

// "<sweep_id>-<index>", the index zero-padded to 4 digits ("s1-0007"); an
// index above 9999 takes as many digits as it needs.
std::string TrialId(std::string_view sweep_id, int index);

// The database schema version this build writes and reads (PRAGMA
// user_version). Store::Open migrates older databases up to it and refuses
// newer ones.
inline constexpr int kSchemaVersion = 4;

struct SweepRecord {
  std::string sweep_id;
  std::string name;
  std::string spec_yaml;       // as submitted
  std::string objective_metric;
  bool maximize = true;
  std::string algorithm;
  int epochs = 0;
  int parallelism = 0;         // 0 = no cap
  SweepState state = SweepState::kRunning;
  std::int64_t created_unix_ms = 0;
  std::int64_t finished_unix_ms = 0;
};

struct TrialRecord {
  std::string trial_id;        // "<sweep_id>-<index, 4 digits>"
  std::string sweep_id;
  int index = 0;
  TrialState state = TrialState::kPending;
  std::string params_json;     // a JSON object; pbt changes it when the trial exploits another
  int attempt = 0;             // 0 = never leased
  std::string worker_id;       // set while RUNNING
  std::string reason;
  std::int64_t started_unix_ms = 0;
  std::int64_t finished_unix_ms = 0;
  // A JSON array: where pbt copied this trial's weights and hyperparameters
  // from, oldest first (search::Exploit::lineage_entry); [] for other trials.
  std::string lineage_json = "[]";
};

// One attempt of a trial: a lease to one worker, from its start to its end.
// `state` is RUNNING while it runs, then how it ended: the trial's final
// state (COMPLETED, STOPPED, FAILED, DIVERGED, CANCELLED), STOPPED for an
// asha pause or a pbt exploit, FAILED for a worker that reported FAILED or
// went silent (the failures budget.max_retries counts, also when the trial
// is retried), PENDING for a release by a draining worker.
struct AttemptRecord {
  std::string trial_id;
  int attempt = 0;             // from 1, as TrialRecord::attempt
  std::string worker_id;
  TrialState state = TrialState::kRunning;
  std::string reason;
  std::int64_t started_unix_ms = 0;  // 0: unknown (started before schema version 3)
  std::int64_t ended_unix_ms = 0;    // 0 while it runs
};

struct EpochRecord {
  std::string trial_id;
  int epoch = 0;               // from 1
  int attempt = 0;
  std::map<std::string, double> metrics;
  std::int64_t reported_unix_ms = 0;
};

struct WorkerRecord {
  std::string worker_id;
  std::string name;
  std::string hostname;
  std::string device;  // a summary when the slots use several: "cuda:0,cuda:1"
  int slots = 0;
  // The device of each slot, slot 0 first (size == slots); empty: every
  // slot is on `device` (workers before multi-device support).
  std::vector<std::string> slot_devices;
  std::int64_t registered_unix_ms = 0;
  std::int64_t last_seen_unix_ms = 0;
  bool deregistered = false;
};

// Outcome of an epoch insert.
enum class EpochInsert {
  kInserted,    // new row, durable
  kDuplicate,   // same (trial, attempt, epoch) already stored: a retry, nothing written
  kReplaced,    // an older attempt's row for this epoch was replaced by this attempt's
};

struct StoreOptions {
  // Optional: called after each successful COMMIT with its duration in
  // seconds (the durable flush). Called with the store's write mutex held:
  // it must be cheap and must not call back into the store.
  std::function<void(double seconds)> on_commit;
};

class Store {
 public:
  virtual ~Store() = default;

  // Opens (creating if needed) the database at `path` and migrates its schema
  // to the current version. ":memory:" is not supported (readers need the file).
  // FailedPrecondition if the file's schema is newer than kSchemaVersion or
  // the filesystem cannot do WAL. The directory must exist.
  static absl::StatusOr<std::unique_ptr<Store>> Open(const std::string& path, StoreOptions options = {});

  // ---- sweeps and trials
  // Creates the sweep and its trials (params in order; indexes from 0) in one
  // transaction. Fills in trial ids. AlreadyExists for a known sweep_id;
  // InvalidArgument if a params entry is not a JSON object.
  virtual absl::Status CreateSweep(const SweepRecord& sweep,
                                   const std::vector<std::string>& trial_params_json) = 0;
  // Appends trials to an existing sweep (searchers that suggest as they go),
  // indexes continuing after the highest one. NotFound for an unknown sweep.
  virtual absl::Status AddTrials(const std::string& sweep_id,
                                 const std::vector<std::string>& trial_params_json) = 0;
  virtual absl::StatusOr<SweepRecord> GetSweep(const std::string& sweep_id) = 0;  // NotFound
  virtual absl::StatusOr<std::vector<SweepRecord>> ListSweeps() = 0;  // newest first
  // NotFound for an unknown sweep.
  virtual absl::Status SetSweepState(const std::string& sweep_id, SweepState state,
                                     std::int64_t finished_unix_ms) = 0;
  // In one transaction: every PENDING or RUNNING trial of the sweep becomes
  // CANCELLED with `reason` (worker and attempt kept, so a late report from
  // the attempt that ran can still be recognized), so does every attempt
  // still running, and the sweep CANCELLED.
  // NotFound for an unknown sweep; FailedPrecondition when it already ended.
  virtual absl::Status CancelSweep(const std::string& sweep_id, const std::string& reason,
                                   std::int64_t now_unix_ms) = 0;

  virtual absl::StatusOr<TrialRecord> GetTrial(const std::string& trial_id) = 0;  // NotFound
  // By index. NotFound for an unknown sweep.
  virtual absl::StatusOr<std::vector<TrialRecord>> ListTrials(const std::string& sweep_id) = 0;
  // How many of the sweep's trials are in each state (every state present,
  // 0 included), read without reading the trials. NotFound for an unknown sweep.
  virtual absl::StatusOr<std::map<TrialState, int>> CountTrials(const std::string& sweep_id) = 0;
  // Every trial in PENDING or RUNNING state, of every sweep (for rebuilding the
  // queue): oldest sweep first, then by index.
  virtual absl::StatusOr<std::vector<TrialRecord>> ListUnfinishedTrials() = 0;
  // Overwrites state, attempt, worker_id, reason, started/finished times,
  // params and lineage (pbt changes them; the sweep and index never change).
  // NotFound; InvalidArgument for params that are not a JSON object or a
  // lineage that is not a JSON array.
  virtual absl::Status UpdateTrial(const TrialRecord& trial) = 0;

  // ---- attempts
  // UpdateTrial and a write of the attempt's row in one transaction, so the
  // trial's state and its attempt history never disagree. A new (trial,
  // attempt) row is inserted as given; an existing one keeps its worker and
  // start time and takes `attempt`'s state, reason and end time. Errors as
  // UpdateTrial; InvalidArgument unless attempt.attempt >= 1 and
  // attempt.trial_id is the trial's.
  virtual absl::Status UpdateTrialAndAttempt(const TrialRecord& trial, const AttemptRecord& attempt) = 0;
  // The trial's attempts by number (none for a trial never leased). NotFound
  // for an unknown trial.
  virtual absl::StatusOr<std::vector<AttemptRecord>> ListAttempts(const std::string& trial_id) = 0;
  // Every attempt of the sweep's trials, keyed by trial id, each by number;
  // trials never leased have no entry. NotFound for an unknown sweep.
  virtual absl::StatusOr<std::map<std::string, std::vector<AttemptRecord>>> ListSweepAttempts(
      const std::string& sweep_id) = 0;

  // ---- epochs
  // Durable when this returns OK. Idempotent on (trial, attempt, epoch); a
  // report from a newer attempt replaces the older attempt's row, so each
  // epoch of a trial has exactly one row. A report from an older attempt than
  // the stored row's is FailedPrecondition; an unknown trial is NotFound.
  // InvalidArgument unless epoch >= 1 and attempt >= 1.
  virtual absl::StatusOr<EpochInsert> InsertEpoch(const EpochRecord& epoch) = 0;
  // Group commit: InsertEpoch for each of `epochs`, in order, in one
  // transaction, so one durable flush serves them all. Each gets its own
  // outcome (as InsertEpoch would answer it; a later copy of an earlier one
  // is kDuplicate). An error of the transaction itself (the database, the
  // disk) is returned instead, and then none of them is written.
  virtual absl::StatusOr<std::vector<absl::StatusOr<EpochInsert>>> InsertEpochs(
      const std::vector<EpochRecord>& epochs) = 0;
  // By epoch. NotFound for an unknown trial.
  virtual absl::StatusOr<std::vector<EpochRecord>> ListEpochs(const std::string& trial_id) = 0;
  // All epochs of all trials of a sweep, keyed by trial id (leaderboards);
  // trials without epochs have no entry. NotFound for an unknown sweep.
  virtual absl::StatusOr<std::map<std::string, std::vector<EpochRecord>>> ListSweepEpochs(
      const std::string& sweep_id) = 0;

  // ---- workers
  // Inserts the worker or overwrites every field of the stored one.
  virtual absl::Status UpsertWorker(const WorkerRecord& worker) = 0;
  virtual absl::StatusOr<std::vector<WorkerRecord>> ListWorkers() = 0;  // by registration time
};

}  // namespace segtune::store
