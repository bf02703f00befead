// Store on SQLite: one writer connection behind a mutex, a pool of reader
// connections, WAL journal so that readers see the last commit and never wait
// for the writer, and synchronous=FULL so that a commit is on disk when it
// returns.
#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <cmath>
#include <cstring>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <utility>

#include "absl/cleanup/cleanup.h"
#include "absl/strings/str_cat.h"
#include "schema.h"
#include "segtune/store/store.h"
#include "sqlite.h"

namespace segtune::store {
namespace {

using sqlite::Connection;
using sqlite::Query;
using sqlite::Transaction;

// ---------------------------------------------------------- validation --

absl::Status ValidateParamsJson(const std::vector<std::string>& trial_params_json) {
  for (std::size_t i = 0; i < trial_params_json.size(); ++i) {
    nlohmann::json params =
        nlohmann::json::parse(trial_params_json[i], nullptr, /*allow_exceptions=*/false);
    if (params.is_discarded() || !params.is_object()) {
      return absl::InvalidArgumentError(
          absl::StrCat("trial_params_json[", i, "]: must be a JSON object"));
    }
  }
  return absl::OkStatus();
}

absl::Status ValidateSweep(const SweepRecord& sweep) {
  if (sweep.sweep_id.empty())
    return absl::InvalidArgumentError("sweep.sweep_id: must not be empty");
  if (sweep.epochs < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("sweep.epochs: must be >= 0, got ", sweep.epochs));
  }
  if (sweep.parallelism < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("sweep.parallelism: must be >= 0, got ", sweep.parallelism));
  }
  return absl::OkStatus();
}

absl::Status ValidateEpoch(const EpochRecord& epoch) {
  if (epoch.trial_id.empty())
    return absl::InvalidArgumentError("epoch.trial_id: must not be empty");
  if (epoch.epoch < 1) {
    return absl::InvalidArgumentError(absl::StrCat("epoch.epoch: must be >= 1, got ", epoch.epoch));
  }
  // Only a leased attempt (1, 2, ...) trains and reports epochs.
  if (epoch.attempt < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("epoch.attempt: must be >= 1, got ", epoch.attempt));
  }
  for (const auto& [name, value] : epoch.metrics) {
    if (name.empty()) return absl::InvalidArgumentError("epoch.metrics: a metric name is empty");
  }
  return absl::OkStatus();
}

absl::Status ValidateTrial(const TrialRecord& trial) {
  if (trial.attempt < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("trial.attempt: must be >= 0, got ", trial.attempt));
  }
  const nlohmann::json params =
      nlohmann::json::parse(trial.params_json, nullptr, /*allow_exceptions=*/false);
  if (!params.is_object()) return absl::InvalidArgumentError("trial.params_json: must be a JSON object");
  const nlohmann::json lineage =
      nlohmann::json::parse(trial.lineage_json, nullptr, /*allow_exceptions=*/false);
  if (!lineage.is_array()) {
    return absl::InvalidArgumentError("trial.lineage_json: must be a JSON array");
  }
  return absl::OkStatus();
}

absl::Status ValidateAttempt(const TrialRecord& trial, const AttemptRecord& attempt) {
  if (attempt.trial_id != trial.trial_id) {
    return absl::InvalidArgumentError(absl::StrCat("attempt.trial_id: \"", attempt.trial_id,
                                                   "\" is not the trial's \"", trial.trial_id, "\""));
  }
  if (attempt.attempt < 1) {
    return absl::InvalidArgumentError(absl::StrCat("attempt.attempt: must be >= 1, got ", attempt.attempt));
  }
  return absl::OkStatus();
}

// ------------------------------------------------------- metrics as JSON --

// JSON has no NaN or infinity, yet a diverged trial reports exactly those, so
// they are stored as these strings.
constexpr const char* kNaN = "NaN";
constexpr const char* kInfinity = "Infinity";
constexpr const char* kMinusInfinity = "-Infinity";

std::string MetricsToJson(const std::map<std::string, double>& metrics) {
  nlohmann::json object = nlohmann::json::object();
  for (const auto& [name, value] : metrics) {
    if (std::isnan(value)) {
      object[name] = kNaN;
    } else if (std::isinf(value)) {
      object[name] = value > 0 ? kInfinity : kMinusInfinity;
    } else {
      object[name] = value;  // written with enough digits to read back exactly
    }
  }
  // `replace` rather than throwing on a metric name that is not valid UTF-8.
  return object.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

absl::StatusOr<std::map<std::string, double>> MetricsFromJson(const std::string& text,
                                                              const std::string& trial_id,
                                                              int epoch) {
  auto corrupt = [&](absl::string_view what) {
    return absl::DataLossError(
        absl::StrCat("metrics of trial \"", trial_id, "\" epoch ", epoch, ": ", what));
  };
  nlohmann::json object = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (object.is_discarded() || !object.is_object()) return corrupt("not a JSON object");
  std::map<std::string, double> metrics;
  for (const auto& [name, value] : object.items()) {
    if (value.is_number()) {
      metrics[name] = value.get<double>();
    } else if (value == kNaN) {
      metrics[name] = std::nan("");
    } else if (value == kInfinity) {
      metrics[name] = HUGE_VAL;
    } else if (value == kMinusInfinity) {
      metrics[name] = -HUGE_VAL;
    } else {
      return corrupt(absl::StrCat("\"", name, "\" is not a number"));
    }
  }
  return metrics;
}

// ------------------------------------------------------------ row reading --

// Columns: sweep_id, name, spec_yaml, objective_metric, maximize, algorithm,
// epochs, parallelism, state, created_unix_ms, finished_unix_ms.
absl::StatusOr<SweepRecord> ReadSweep(const Query& row) {
  SweepRecord sweep;
  sweep.sweep_id = row.Text(0);
  sweep.name = row.Text(1);
  sweep.spec_yaml = row.Text(2);
  sweep.objective_metric = row.Text(3);
  sweep.maximize = row.Int(4) != 0;
  sweep.algorithm = row.Text(5);
  sweep.epochs = row.Int(6);
  sweep.parallelism = row.Int(7);
  absl::StatusOr<SweepState> state = ParseSweepState(row.Text(8));
  if (!state.ok()) {
    return absl::DataLossError(
        absl::StrCat("sweep \"", sweep.sweep_id, "\": ", state.status().message()));
  }
  sweep.state = *state;
  sweep.created_unix_ms = row.Int64(9);
  sweep.finished_unix_ms = row.Int64(10);
  return sweep;
}

// Columns: trial_id, sweep_id, trial_index, state, params_json, attempt,
// worker_id, reason, started_unix_ms, finished_unix_ms, lineage_json.
absl::StatusOr<TrialRecord> ReadTrial(const Query& row) {
  TrialRecord trial;
  trial.trial_id = row.Text(0);
  trial.sweep_id = row.Text(1);
  trial.index = row.Int(2);
  absl::StatusOr<TrialState> state = ParseTrialState(row.Text(3));
  if (!state.ok()) {
    return absl::DataLossError(
        absl::StrCat("trial \"", trial.trial_id, "\": ", state.status().message()));
  }
  trial.state = *state;
  trial.params_json = row.Text(4);
  trial.attempt = row.Int(5);
  trial.worker_id = row.Text(6);
  trial.reason = row.Text(7);
  trial.started_unix_ms = row.Int64(8);
  trial.finished_unix_ms = row.Int64(9);
  trial.lineage_json = row.Text(10);
  return trial;
}

// Columns: trial_id, attempt, worker_id, state, reason, started_unix_ms,
// ended_unix_ms.
absl::StatusOr<AttemptRecord> ReadAttempt(const Query& row) {
  AttemptRecord attempt;
  attempt.trial_id = row.Text(0);
  attempt.attempt = row.Int(1);
  attempt.worker_id = row.Text(2);
  absl::StatusOr<TrialState> state = ParseTrialState(row.Text(3));
  if (!state.ok()) {
    return absl::DataLossError(absl::StrCat("attempt ", attempt.attempt, " of trial \"", attempt.trial_id,
                                            "\": ", state.status().message()));
  }
  attempt.state = *state;
  attempt.reason = row.Text(4);
  attempt.started_unix_ms = row.Int64(5);
  attempt.ended_unix_ms = row.Int64(6);
  return attempt;
}

// Columns: trial_id, epoch, attempt, metrics_json, reported_unix_ms.
absl::StatusOr<EpochRecord> ReadEpoch(const Query& row) {
  EpochRecord epoch;
  epoch.trial_id = row.Text(0);
  epoch.epoch = row.Int(1);
  epoch.attempt = row.Int(2);
  absl::StatusOr<std::map<std::string, double>> metrics =
      MetricsFromJson(row.Text(3), epoch.trial_id, epoch.epoch);
  if (!metrics.ok()) return metrics.status();
  epoch.metrics = *std::move(metrics);
  epoch.reported_unix_ms = row.Int64(4);
  return epoch;
}

// Columns: worker_id, name, hostname, device, slots, registered_unix_ms,
// last_seen_unix_ms, deregistered, slot_devices_json.
absl::StatusOr<WorkerRecord> ReadWorker(const Query& row) {
  WorkerRecord worker;
  worker.worker_id = row.Text(0);
  worker.name = row.Text(1);
  worker.hostname = row.Text(2);
  worker.device = row.Text(3);
  worker.slots = row.Int(4);
  worker.registered_unix_ms = row.Int64(5);
  worker.last_seen_unix_ms = row.Int64(6);
  worker.deregistered = row.Int(7) != 0;
  const nlohmann::json slot_devices = nlohmann::json::parse(row.Text(8), nullptr, /*allow_exceptions=*/false);
  if (!slot_devices.is_array()) {
    return absl::DataLossError(
        absl::StrCat("worker ", worker.worker_id, ": slot_devices_json is not a JSON array"));
  }
  for (const nlohmann::json& device : slot_devices) {
    if (!device.is_string()) {
      return absl::DataLossError(
          absl::StrCat("worker ", worker.worker_id, ": slot_devices_json holds a non-string"));
    }
    worker.slot_devices.push_back(device.get<std::string>());
  }
  return worker;
}

// Steps `query` to the end, reading each row with `read`.
template <typename Record>
absl::StatusOr<std::vector<Record>> ReadAll(Query& query,
                                            absl::StatusOr<Record> (*read)(const Query&)) {
  std::vector<Record> records;
  for (;;) {
    absl::StatusOr<bool> row = query.Step();
    if (!row.ok()) return row.status();
    if (!*row) return records;
    absl::StatusOr<Record> record = read(query);
    if (!record.ok()) return record.status();
    records.push_back(*std::move(record));
  }
}

// Whether a row matches `sql` (one `?`, bound to `key`).
absl::StatusOr<bool> Exists(Connection& connection, const char* sql, const std::string& key,
                            absl::string_view operation) {
  absl::StatusOr<Query> query = connection.Prepare(sql, operation);
  if (!query.ok()) return query.status();
  query->Bind(1, key);
  return query->Step();
}

constexpr const char* kSweepExistsSql = "SELECT 1 FROM sweeps WHERE sweep_id = ?";
constexpr const char* kTrialExistsSql = "SELECT 1 FROM trials WHERE trial_id = ?";

absl::Status SweepNotFound(absl::string_view operation, absl::string_view sweep_id) {
  return absl::NotFoundError(absl::StrCat(operation, ": sweep \"", sweep_id, "\" not found"));
}
absl::Status TrialNotFound(absl::string_view operation, absl::string_view trial_id) {
  return absl::NotFoundError(absl::StrCat(operation, ": trial \"", trial_id, "\" not found"));
}

// -------------------------------------------------------------- the store --

class SqliteStore final : public Store {
 public:
  SqliteStore(std::string path, std::unique_ptr<Connection> writer, int owner_lock_fd)
      : writer_(std::move(writer)), readers_(std::move(path)), owner_lock_fd_(owner_lock_fd) {}
  ~SqliteStore() override { ::close(owner_lock_fd_); }  // releases the flock

  absl::Status CreateSweep(const SweepRecord& sweep,
                           const std::vector<std::string>& trial_params_json) override;
  absl::Status AddTrials(const std::string& sweep_id,
                         const std::vector<std::string>& trial_params_json) override;
  absl::StatusOr<SweepRecord> GetSweep(const std::string& sweep_id) override;
  absl::StatusOr<std::vector<SweepRecord>> ListSweeps() override;
  absl::Status SetSweepState(const std::string& sweep_id, SweepState state,
                             std::int64_t finished_unix_ms) override;
  absl::Status CancelSweep(const std::string& sweep_id, const std::string& reason,
                           std::int64_t now_unix_ms) override;

  absl::StatusOr<TrialRecord> GetTrial(const std::string& trial_id) override;
  absl::StatusOr<std::vector<TrialRecord>> ListTrials(const std::string& sweep_id) override;
  absl::StatusOr<std::map<TrialState, int>> CountTrials(const std::string& sweep_id) override;
  absl::StatusOr<std::vector<TrialRecord>> ListUnfinishedTrials() override;
  absl::Status UpdateTrial(const TrialRecord& trial) override;

  absl::Status UpdateTrialAndAttempt(const TrialRecord& trial, const AttemptRecord& attempt) override;
  absl::StatusOr<std::vector<AttemptRecord>> ListAttempts(const std::string& trial_id) override;
  absl::StatusOr<std::map<std::string, std::vector<AttemptRecord>>> ListSweepAttempts(
      const std::string& sweep_id) override;

  absl::StatusOr<EpochInsert> InsertEpoch(const EpochRecord& epoch) override;
  absl::StatusOr<std::vector<absl::StatusOr<EpochInsert>>> InsertEpochs(
      const std::vector<EpochRecord>& epochs) override;
  absl::StatusOr<std::vector<EpochRecord>> ListEpochs(const std::string& trial_id) override;
  absl::StatusOr<std::map<std::string, std::vector<EpochRecord>>> ListSweepEpochs(
      const std::string& sweep_id) override;

  absl::Status UpsertWorker(const WorkerRecord& worker) override;
  absl::StatusOr<std::vector<WorkerRecord>> ListWorkers() override;

 private:
  // Inserts PENDING trials `first_index`, `first_index` + 1, ... of a sweep.
  // REQUIRES: write_mutex_ held, inside a transaction.
  absl::Status InsertTrialsLocked(const std::string& sweep_id, int first_index,
                                  const std::vector<std::string>& trial_params_json,
                                  absl::string_view operation);
  // The UPDATE of `trial`'s row, bound and ready to run.
  // REQUIRES: write_mutex_ held.
  absl::StatusOr<Query> PrepareTrialUpdateLocked(const TrialRecord& trial, absl::string_view operation);
  // The attempt that wrote the stored row for this epoch, if there is one.
  // REQUIRES: write_mutex_ held.
  absl::StatusOr<std::optional<int>> StoredEpochAttemptLocked(const EpochRecord& epoch);
  // Writes one epoch. The outer status is a failure of the database (the
  // transaction must roll back), the inner one the epoch's own outcome.
  // REQUIRES: write_mutex_ held, inside a transaction.
  absl::StatusOr<absl::StatusOr<EpochInsert>> WriteEpochLocked(const EpochRecord& epoch,
                                                               const std::string& metrics_json);

  // Serializes every write: SQLite allows one writer at a time anyway, and a
  // single connection lets the statement cache serve every write.
  std::mutex write_mutex_;
  std::unique_ptr<Connection> writer_;  // GUARDED_BY(write_mutex_)
  // Declared after writer_ so that readers close first and the writer, the
  // last connection, checkpoints the WAL into the database when it closes.
  sqlite::ReaderPool readers_;
  const int owner_lock_fd_;  // holds flock(LOCK_EX) on the database file
};

// ------------------------------------------------------ sweeps and trials --

absl::Status SqliteStore::CreateSweep(const SweepRecord& sweep,
                                      const std::vector<std::string>& trial_params_json) {
  constexpr absl::string_view kOperation = "CreateSweep";
  STORE_RETURN_IF_ERROR(ValidateSweep(sweep));
  STORE_RETURN_IF_ERROR(ValidateParamsJson(trial_params_json));

  std::lock_guard<std::mutex> lock(write_mutex_);
  absl::StatusOr<Transaction> transaction = Transaction::Begin(*writer_, kOperation);
  if (!transaction.ok()) return transaction.status();

  absl::StatusOr<bool> exists = Exists(*writer_, kSweepExistsSql, sweep.sweep_id, kOperation);
  if (!exists.ok()) return exists.status();
  if (*exists) {
    return absl::AlreadyExistsError(
        absl::StrCat(kOperation, ": sweep \"", sweep.sweep_id, "\" already exists"));
  }

  absl::StatusOr<Query> insert = writer_->Prepare(
      "INSERT INTO sweeps (sweep_id, name, spec_yaml, objective_metric, maximize, algorithm, "
      "epochs, parallelism, state, created_unix_ms, finished_unix_ms) "
      "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
      kOperation);
  if (!insert.ok()) return insert.status();
  insert->Bind(1, sweep.sweep_id)
      .Bind(2, sweep.name)
      .Bind(3, sweep.spec_yaml)
      .Bind(4, sweep.objective_metric)
      .Bind(5, sweep.maximize)
      .Bind(6, sweep.algorithm)
      .Bind(7, sweep.epochs)
      .Bind(8, sweep.parallelism)
      .Bind(9, ToString(sweep.state))
      .Bind(10, sweep.created_unix_ms)
      .Bind(11, sweep.finished_unix_ms);
  STORE_RETURN_IF_ERROR(insert->Run());

  STORE_RETURN_IF_ERROR(InsertTrialsLocked(sweep.sweep_id, 0, trial_params_json, kOperation));
  return transaction->Commit();
}

absl::Status SqliteStore::AddTrials(const std::string& sweep_id,
                                    const std::vector<std::string>& trial_params_json) {
  constexpr absl::string_view kOperation = "AddTrials";
  STORE_RETURN_IF_ERROR(ValidateParamsJson(trial_params_json));

  std::lock_guard<std::mutex> lock(write_mutex_);
  absl::StatusOr<Transaction> transaction = Transaction::Begin(*writer_, kOperation);
  if (!transaction.ok()) return transaction.status();

  absl::StatusOr<bool> exists = Exists(*writer_, kSweepExistsSql, sweep_id, kOperation);
  if (!exists.ok()) return exists.status();
  if (!*exists) return SweepNotFound(kOperation, sweep_id);

  int next_index = 0;
  {
    absl::StatusOr<Query> query = writer_->Prepare(
        "SELECT COALESCE(MAX(trial_index) + 1, 0) FROM trials WHERE sweep_id = ?", kOperation);
    if (!query.ok()) return query.status();
    query->Bind(1, sweep_id);
    absl::StatusOr<bool> row = query->Step();
    if (!row.ok()) return row.status();
    next_index = query->Int(0);  // an aggregate always yields one row
  }

  STORE_RETURN_IF_ERROR(InsertTrialsLocked(sweep_id, next_index, trial_params_json, kOperation));
  return transaction->Commit();
}

absl::Status SqliteStore::InsertTrialsLocked(const std::string& sweep_id, int first_index,
                                             const std::vector<std::string>& trial_params_json,
                                             absl::string_view operation) {
  for (std::size_t i = 0; i < trial_params_json.size(); ++i) {
    const int index = first_index + static_cast<int>(i);
    absl::StatusOr<Query> insert = writer_->Prepare(
        "INSERT INTO trials (trial_id, sweep_id, trial_index, state, params_json, attempt, "
        "worker_id, reason, started_unix_ms, finished_unix_ms) "
        "VALUES (?, ?, ?, 'PENDING', ?, 0, '', '', 0, 0)",
        operation);
    if (!insert.ok()) return insert.status();
    insert->Bind(1, TrialId(sweep_id, index))
        .Bind(2, sweep_id)
        .Bind(3, index)
        .Bind(4, trial_params_json[i]);
    STORE_RETURN_IF_ERROR(insert->Run());
  }
  return absl::OkStatus();
}

absl::StatusOr<SweepRecord> SqliteStore::GetSweep(const std::string& sweep_id) {
  constexpr absl::string_view kOperation = "GetSweep";
  absl::StatusOr<sqlite::ReaderPool::Lease> reader = readers_.Acquire();
  if (!reader.ok()) return reader.status();
  absl::StatusOr<Query> query = (*reader)->Prepare(
      "SELECT sweep_id, name, spec_yaml, objective_metric, maximize, algorithm, epochs, "
      "parallelism, state, created_unix_ms, finished_unix_ms FROM sweeps WHERE sweep_id = ?",
      kOperation);
  if (!query.ok()) return query.status();
  query->Bind(1, sweep_id);
  absl::StatusOr<bool> row = query->Step();
  if (!row.ok()) return row.status();
  if (!*row) return SweepNotFound(kOperation, sweep_id);
  return ReadSweep(*query);
}

absl::StatusOr<std::vector<SweepRecord>> SqliteStore::ListSweeps() {
  absl::StatusOr<sqlite::ReaderPool::Lease> reader = readers_.Acquire();
  if (!reader.ok()) return reader.status();
  // rowid breaks ties between sweeps created in the same millisecond.
  absl::StatusOr<Query> query = (*reader)->Prepare(
      "SELECT sweep_id, name, spec_yaml, objective_metric, maximize, algorithm, epochs, "
      "parallelism, state, created_unix_ms, finished_unix_ms FROM sweeps "
      "ORDER BY created_unix_ms DESC, rowid DESC",
      "ListSweeps");
  if (!query.ok()) return query.status();
  return ReadAll(*query, &ReadSweep);
}

absl::Status SqliteStore::SetSweepState(const std::string& sweep_id, SweepState state,
                                        std::int64_t finished_unix_ms) {
  constexpr absl::string_view kOperation = "SetSweepState";
  std::lock_guard<std::mutex> lock(write_mutex_);
  absl::StatusOr<Query> update = writer_->Prepare(
      "UPDATE sweeps SET state = ?, finished_unix_ms = ? WHERE sweep_id = ?", kOperation);
  if (!update.ok()) return update.status();
  update->Bind(1, ToString(state)).Bind(2, finished_unix_ms).Bind(3, sweep_id);
  STORE_RETURN_IF_ERROR(writer_->RunCommitted(*update));
  if (writer_->changes() == 0) return SweepNotFound(kOperation, sweep_id);
  return absl::OkStatus();
}

absl::Status SqliteStore::CancelSweep(const std::string& sweep_id, const std::string& reason,
                                      std::int64_t now_unix_ms) {
  constexpr absl::string_view kOperation = "CancelSweep";
  std::lock_guard<std::mutex> lock(write_mutex_);
  absl::StatusOr<Transaction> transaction = Transaction::Begin(*writer_, kOperation);
  if (!transaction.ok()) return transaction.status();
  absl::StatusOr<Query> sweep = writer_->Prepare(
      "UPDATE sweeps SET state = ?, finished_unix_ms = ? WHERE sweep_id = ? AND state = ?", kOperation);
  if (!sweep.ok()) return sweep.status();
  sweep->Bind(1, ToString(SweepState::kCancelled))
      .Bind(2, now_unix_ms)
      .Bind(3, sweep_id)
      .Bind(4, ToString(SweepState::kRunning));
  STORE_RETURN_IF_ERROR(sweep->Run());
  if (writer_->changes() == 0) {
    absl::StatusOr<Query> exists =
        writer_->Prepare("SELECT state FROM sweeps WHERE sweep_id = ?", kOperation);
    if (!exists.ok()) return exists.status();
    exists->Bind(1, sweep_id);
    absl::StatusOr<bool> row = exists->Step();
    if (!row.ok()) return row.status();
    if (!*row) return SweepNotFound(kOperation, sweep_id);
    return absl::FailedPreconditionError(
        absl::StrCat("sweep \"", sweep_id, "\" is already ", exists->Text(0)));
  }
  absl::StatusOr<Query> trials = writer_->Prepare(
      "UPDATE trials SET state = ?, reason = ?, finished_unix_ms = ? "
      "WHERE sweep_id = ? AND state IN (?, ?)",
      kOperation);
  if (!trials.ok()) return trials.status();
  trials->Bind(1, ToString(TrialState::kCancelled))
      .Bind(2, reason)
      .Bind(3, now_unix_ms)
      .Bind(4, sweep_id)
      .Bind(5, ToString(TrialState::kPending))
      .Bind(6, ToString(TrialState::kRunning));
  STORE_RETURN_IF_ERROR(trials->Run());
  absl::StatusOr<Query> attempts = writer_->Prepare(
      "UPDATE attempts SET state = ?, reason = ?, ended_unix_ms = ? "
      "WHERE state = ? AND trial_id IN (SELECT trial_id FROM trials WHERE sweep_id = ?)",
      kOperation);
  if (!attempts.ok()) return attempts.status();
  attempts->Bind(1, ToString(TrialState::kCancelled))
      .Bind(2, reason)
      .Bind(3, now_unix_ms)
      .Bind(4, ToString(TrialState::kRunning))
      .Bind(5, sweep_id);
  STORE_RETURN_IF_ERROR(attempts->Run());
  return transaction->Commit();
}

absl::StatusOr<TrialRecord> SqliteStore::GetTrial(const std::string& trial_id) {
  constexpr absl::string_view kOperation = "GetTrial";
  absl::StatusOr<sqlite::ReaderPool::Lease> reader = readers_.Acquire();
  if (!reader.ok()) return reader.status();
  absl::StatusOr<Query> query = (*reader)->Prepare(
      "SELECT trial_id, sweep_id, trial_index, state, params_json, attempt, worker_id, reason, "
      "started_unix_ms, finished_unix_ms, lineage_json FROM trials WHERE trial_id = ?",
      kOperation);
  if (!query.ok()) return query.status();
  query->Bind(1, trial_id);
  absl::StatusOr<bool> row = query->Step();
  if (!row.ok()) return row.status();
  if (!*row) return TrialNotFound(kOperation, trial_id);
  return ReadTrial(*query);
}

absl::StatusOr<std::vector<TrialRecord>> SqliteStore::ListTrials(const std::string& sweep_id) {
  constexpr absl::string_view kOperation = "ListTrials";
  absl::StatusOr<sqlite::ReaderPool::Lease> reader = readers_.Acquire();
  if (!reader.ok()) return reader.status();
  absl::StatusOr<std::vector<TrialRecord>> trials;
  {
    absl::StatusOr<Query> query = (*reader)->Prepare(
        "SELECT trial_id, sweep_id, trial_index, state, params_json, attempt, worker_id, "
        "reason, started_unix_ms, finished_unix_ms, lineage_json FROM trials WHERE sweep_id = ? "
        "ORDER BY trial_index",
        kOperation);
    if (!query.ok()) return query.status();
    query->Bind(1, sweep_id);
    trials = ReadAll(*query, &ReadTrial);
  }
  // Only an empty answer needs telling apart from an unknown sweep.
  if (trials.ok() && trials->empty()) {
    absl::StatusOr<bool> exists = Exists(**reader, kSweepExistsSql, sweep_id, kOperation);
    if (!exists.ok()) return exists.status();
    if (!*exists) return SweepNotFound(kOperation, sweep_id);
  }
  return trials;
}

absl::StatusOr<std::map<TrialState, int>> SqliteStore::CountTrials(const std::string& sweep_id) {
  constexpr absl::string_view kOperation = "CountTrials";
  absl::StatusOr<sqlite::ReaderPool::Lease> reader = readers_.Acquire();
  if (!reader.ok()) return reader.status();
  std::map<TrialState, int> counts;
  for (TrialState state : kAllTrialStates) counts[state] = 0;
  int total = 0;
  {
    absl::StatusOr<Query> query =
        (*reader)->Prepare("SELECT state, COUNT(*) FROM trials WHERE sweep_id = ? GROUP BY state", kOperation);
    if (!query.ok()) return query.status();
    query->Bind(1, sweep_id);
    while (true) {
      absl::StatusOr<bool> row = query->Step();
      if (!row.ok()) return row.status();
      if (!*row) break;
      absl::StatusOr<TrialState> state = ParseTrialState(query->Text(0));
      if (!state.ok()) return absl::DataLossError(absl::StrCat(kOperation, ": ", state.status().message()));
      counts[*state] = query->Int(1);
      total += query->Int(1);
    }
  }
  if (total == 0) {
    absl::StatusOr<bool> exists = Exists(**reader, kSweepExistsSql, sweep_id, kOperation);
    if (!exists.ok()) return exists.status();
    if (!*exists) return SweepNotFound(kOperation, sweep_id);
  }
  return counts;
}

absl::StatusOr<std::vector<TrialRecord>> SqliteStore::ListUnfinishedTrials() {
  absl::StatusOr<sqlite::ReaderPool::Lease> reader = readers_.Acquire();
  if (!reader.ok()) return reader.status();
  // Oldest sweep first (its rowid breaks ties in created time), so a rebuilt
  // queue serves sweeps in the order they were submitted.
  absl::StatusOr<Query> query = (*reader)->Prepare(
      "SELECT t.trial_id, t.sweep_id, t.trial_index, t.state, t.params_json, t.attempt, "
      "t.worker_id, t.reason, t.started_unix_ms, t.finished_unix_ms, t.lineage_json "
      "FROM trials AS t JOIN sweeps AS s ON s.sweep_id = t.sweep_id "
      "WHERE t.state IN ('PENDING', 'RUNNING') "
      "ORDER BY s.created_unix_ms, s.rowid, t.trial_index",
      "ListUnfinishedTrials");
  if (!query.ok()) return query.status();
  return ReadAll(*query, &ReadTrial);
}

absl::StatusOr<Query> SqliteStore::PrepareTrialUpdateLocked(const TrialRecord& trial,
                                                          absl::string_view operation) {
  absl::StatusOr<Query> update = writer_->Prepare(
      "UPDATE trials SET state = ?, attempt = ?, worker_id = ?, reason = ?, "
      "started_unix_ms = ?, finished_unix_ms = ?, params_json = ?, lineage_json = ? "
      "WHERE trial_id = ?",
      operation);
  if (!update.ok()) return update.status();
  update->Bind(1, ToString(trial.state))
      .Bind(2, trial.attempt)
      .Bind(3, trial.worker_id)
      .Bind(4, trial.reason)
      .Bind(5, trial.started_unix_ms)
      .Bind(6, trial.finished_unix_ms)
      .Bind(7, trial.params_json)
      .Bind(8, trial.lineage_json)
      .Bind(9, trial.trial_id);
  return update;
}

absl::Status SqliteStore::UpdateTrial(const TrialRecord& trial) {
  constexpr absl::string_view kOperation = "UpdateTrial";
  STORE_RETURN_IF_ERROR(ValidateTrial(trial));
  std::lock_guard<std::mutex> lock(write_mutex_);
  absl::StatusOr<Query> update = PrepareTrialUpdateLocked(trial, kOperation);
  if (!update.ok()) return update.status();
  STORE_RETURN_IF_ERROR(writer_->RunCommitted(*update));
  if (writer_->changes() == 0) return TrialNotFound(kOperation, trial.trial_id);
  return absl::OkStatus();
}

// ---------------------------------------------------------------- attempts --

absl::Status SqliteStore::UpdateTrialAndAttempt(const TrialRecord& trial, const AttemptRecord& attempt) {
  constexpr absl::string_view kOperation = "UpdateTrialAndAttempt";
  STORE_RETURN_IF_ERROR(ValidateTrial(trial));
  STORE_RETURN_IF_ERROR(ValidateAttempt(trial, attempt));
  std::lock_guard<std::mutex> lock(write_mutex_);
  absl::StatusOr<Transaction> transaction = Transaction::Begin(*writer_, kOperation);
  if (!transaction.ok()) return transaction.status();
  absl::StatusOr<Query> update = PrepareTrialUpdateLocked(trial, kOperation);
  if (!update.ok()) return update.status();
  STORE_RETURN_IF_ERROR(update->Run());
  if (writer_->changes() == 0) return TrialNotFound(kOperation, trial.trial_id);
  // The row written when the attempt started knows its worker and start.
  absl::StatusOr<Query> upsert = writer_->Prepare(
      "INSERT INTO attempts (trial_id, attempt, worker_id, state, reason, started_unix_ms, ended_unix_ms) "
      "VALUES (?, ?, ?, ?, ?, ?, ?) "
      "ON CONFLICT (trial_id, attempt) DO UPDATE SET state = excluded.state, reason = excluded.reason, "
      "ended_unix_ms = excluded.ended_unix_ms",
      kOperation);
  if (!upsert.ok()) return upsert.status();
  upsert->Bind(1, attempt.trial_id)
      .Bind(2, attempt.attempt)
      .Bind(3, attempt.worker_id)
      .Bind(4, ToString(attempt.state))
      .Bind(5, attempt.reason)
      .Bind(6, attempt.started_unix_ms)
      .Bind(7, attempt.ended_unix_ms);
  STORE_RETURN_IF_ERROR(upsert->Run());
  return transaction->Commit();
}

absl::StatusOr<std::vector<AttemptRecord>> SqliteStore::ListAttempts(const std::string& trial_id) {
  constexpr absl::string_view kOperation = "ListAttempts";
  absl::StatusOr<sqlite::ReaderPool::Lease> reader = readers_.Acquire();
  if (!reader.ok()) return reader.status();
  absl::StatusOr<std::vector<AttemptRecord>> attempts;
  {
    absl::StatusOr<Query> query = (*reader)->Prepare(
        "SELECT trial_id, attempt, worker_id, state, reason, started_unix_ms, ended_unix_ms "
        "FROM attempts WHERE trial_id = ? ORDER BY attempt",
        kOperation);
    if (!query.ok()) return query.status();
    query->Bind(1, trial_id);
    attempts = ReadAll(*query, &ReadAttempt);
  }
  if (attempts.ok() && attempts->empty()) {
    absl::StatusOr<bool> exists = Exists(**reader, kTrialExistsSql, trial_id, kOperation);
    if (!exists.ok()) return exists.status();
    if (!*exists) return TrialNotFound(kOperation, trial_id);
  }
  return attempts;
}

absl::StatusOr<std::map<std::string, std::vector<AttemptRecord>>> SqliteStore::ListSweepAttempts(
    const std::string& sweep_id) {
  constexpr absl::string_view kOperation = "ListSweepAttempts";
  absl::StatusOr<sqlite::ReaderPool::Lease> reader = readers_.Acquire();
  if (!reader.ok()) return reader.status();
  absl::StatusOr<std::vector<AttemptRecord>> attempts;
  {
    absl::StatusOr<Query> query = (*reader)->Prepare(
        "SELECT a.trial_id, a.attempt, a.worker_id, a.state, a.reason, a.started_unix_ms, a.ended_unix_ms "
        "FROM trials AS t JOIN attempts AS a ON a.trial_id = t.trial_id "
        "WHERE t.sweep_id = ? ORDER BY t.trial_index, a.attempt",
        kOperation);
    if (!query.ok()) return query.status();
    query->Bind(1, sweep_id);
    attempts = ReadAll(*query, &ReadAttempt);
  }
  if (!attempts.ok()) return attempts.status();
  if (attempts->empty()) {
    absl::StatusOr<bool> exists = Exists(**reader, kSweepExistsSql, sweep_id, kOperation);
    if (!exists.ok()) return exists.status();
    if (!*exists) return SweepNotFound(kOperation, sweep_id);
  }
  std::map<std::string, std::vector<AttemptRecord>> by_trial;
  for (AttemptRecord& attempt : *attempts) {
    std::string trial_id = attempt.trial_id;
    by_trial[trial_id].push_back(std::move(attempt));  // rows arrive by attempt
  }
  return by_trial;
}

// ----------------------------------------------------------------- epochs --

absl::StatusOr<EpochInsert> SqliteStore::InsertEpoch(const EpochRecord& epoch) {
  auto outcomes = InsertEpochs({epoch});
  if (!outcomes.ok()) return outcomes.status();
  return std::move(outcomes->front());
}

absl::StatusOr<std::vector<absl::StatusOr<EpochInsert>>> SqliteStore::InsertEpochs(
    const std::vector<EpochRecord>& epochs) {
  constexpr absl::string_view kOperation = "InsertEpoch";
  std::vector<absl::StatusOr<EpochInsert>> outcomes(epochs.size(), EpochInsert::kDuplicate);
  std::vector<std::string> metrics_json(epochs.size());  // built outside the lock
  bool any_valid = false;
  for (std::size_t i = 0; i < epochs.size(); ++i) {
    if (absl::Status s = ValidateEpoch(epochs[i]); !s.ok()) {
      outcomes[i] = s;
      continue;
    }
    metrics_json[i] = MetricsToJson(epochs[i].metrics);
    any_valid = true;
  }
  if (!any_valid) return outcomes;

  std::lock_guard<std::mutex> lock(write_mutex_);
  absl::StatusOr<Transaction> transaction = Transaction::Begin(*writer_, kOperation);
  if (!transaction.ok()) return transaction.status();
  bool any_written = false;
  for (std::size_t i = 0; i < epochs.size(); ++i) {
    if (!outcomes[i].ok()) continue;
    auto written = WriteEpochLocked(epochs[i], metrics_json[i]);
    if (!written.ok()) return written.status();  // rolls the whole batch back
    if (written->ok() && **written != EpochInsert::kDuplicate) any_written = true;
    outcomes[i] = *std::move(written);
  }
  // Nothing to flush when every epoch was a retry or refused: the
  // transaction rolls back having written nothing.
  if (any_written) STORE_RETURN_IF_ERROR(transaction->Commit());  // durable from here (synchronous=FULL)
  return outcomes;
}

absl::StatusOr<std::optional<int>> SqliteStore::StoredEpochAttemptLocked(const EpochRecord& epoch) {
  absl::StatusOr<Query> query = writer_->Prepare(
      "SELECT attempt FROM epochs WHERE trial_id = ? AND epoch = ?", "InsertEpoch");
  if (!query.ok()) return query.status();
  query->Bind(1, epoch.trial_id).Bind(2, epoch.epoch);
  absl::StatusOr<bool> row = query->Step();
  if (!row.ok()) return row.status();
  if (!*row) return std::optional<int>();
  return std::optional<int>(query->Int(0));
}

absl::StatusOr<absl::StatusOr<EpochInsert>> SqliteStore::WriteEpochLocked(const EpochRecord& epoch,
                                                                           const std::string& metrics_json) {
  constexpr absl::string_view kOperation = "InsertEpoch";
  absl::StatusOr<std::optional<int>> stored_attempt = StoredEpochAttemptLocked(epoch);
  if (!stored_attempt.ok()) return stored_attempt.status();

  EpochInsert outcome;
  if (stored_attempt->has_value()) {
    const int stored = **stored_attempt;
    // A retry of a report that is already durable: the first copy stands.
    if (stored == epoch.attempt) return absl::StatusOr<EpochInsert>(EpochInsert::kDuplicate);
    if (stored > epoch.attempt) {
      return absl::StatusOr<EpochInsert>(absl::FailedPreconditionError(
          absl::StrCat(kOperation, ": trial \"", epoch.trial_id, "\" epoch ", epoch.epoch,
                       " is stored from attempt ", stored,
                       "; refusing a report from older attempt ", epoch.attempt)));
    }
    absl::StatusOr<Query> update = writer_->Prepare(
        "UPDATE epochs SET attempt = ?, metrics_json = ?, reported_unix_ms = ? "
        "WHERE trial_id = ? AND epoch = ?",
        kOperation);
    if (!update.ok()) return update.status();
    update->Bind(1, epoch.attempt)
        .Bind(2, metrics_json)
        .Bind(3, epoch.reported_unix_ms)
        .Bind(4, epoch.trial_id)
        .Bind(5, epoch.epoch);
    STORE_RETURN_IF_ERROR(update->Run());
    outcome = EpochInsert::kReplaced;
  } else {
    // Checked here rather than left to the foreign key, for a clear NotFound.
    absl::StatusOr<bool> trial_exists =
        Exists(*writer_, kTrialExistsSql, epoch.trial_id, kOperation);
    if (!trial_exists.ok()) return trial_exists.status();
    if (!*trial_exists) return absl::StatusOr<EpochInsert>(TrialNotFound(kOperation, epoch.trial_id));

    absl::StatusOr<Query> insert = writer_->Prepare(
        "INSERT INTO epochs (trial_id, epoch, attempt, metrics_json, reported_unix_ms) "
        "VALUES (?, ?, ?, ?, ?)",
        kOperation);
    if (!insert.ok()) return insert.status();
    insert->Bind(1, epoch.trial_id)
        .Bind(2, epoch.epoch)
        .Bind(3, epoch.attempt)
        .Bind(4, metrics_json)
        .Bind(5, epoch.reported_unix_ms);
    STORE_RETURN_IF_ERROR(insert->Run());
    outcome = EpochInsert::kInserted;
  }
  return absl::StatusOr<EpochInsert>(outcome);
}

absl::StatusOr<std::vector<EpochRecord>> SqliteStore::ListEpochs(const std::string& trial_id) {
  constexpr absl::string_view kOperation = "ListEpochs";
  absl::StatusOr<sqlite::ReaderPool::Lease> reader = readers_.Acquire();
  if (!reader.ok()) return reader.status();
  absl::StatusOr<std::vector<EpochRecord>> epochs;
  {
    absl::StatusOr<Query> query = (*reader)->Prepare(
        "SELECT trial_id, epoch, attempt, metrics_json, reported_unix_ms FROM epochs "
        "WHERE trial_id = ? ORDER BY epoch",
        kOperation);
    if (!query.ok()) return query.status();
    query->Bind(1, trial_id);
    epochs = ReadAll(*query, &ReadEpoch);
  }
  // Only an empty answer needs telling apart from an unknown trial.
  if (epochs.ok() && epochs->empty()) {
    absl::StatusOr<bool> exists = Exists(**reader, kTrialExistsSql, trial_id, kOperation);
    if (!exists.ok()) return exists.status();
    if (!*exists) return TrialNotFound(kOperation, trial_id);
  }
  return epochs;
}

absl::StatusOr<std::map<std::string, std::vector<EpochRecord>>> SqliteStore::ListSweepEpochs(
    const std::string& sweep_id) {
  constexpr absl::string_view kOperation = "ListSweepEpochs";
  absl::StatusOr<sqlite::ReaderPool::Lease> reader = readers_.Acquire();
  if (!reader.ok()) return reader.status();
  absl::StatusOr<std::vector<EpochRecord>> epochs;
  {
    absl::StatusOr<Query> query = (*reader)->Prepare(
        "SELECT e.trial_id, e.epoch, e.attempt, e.metrics_json, e.reported_unix_ms "
        "FROM trials AS t JOIN epochs AS e ON e.trial_id = t.trial_id "
        "WHERE t.sweep_id = ? ORDER BY t.trial_index, e.epoch",
        kOperation);
    if (!query.ok()) return query.status();
    query->Bind(1, sweep_id);
    epochs = ReadAll(*query, &ReadEpoch);
  }
  if (!epochs.ok()) return epochs.status();
  if (epochs->empty()) {
    absl::StatusOr<bool> exists = Exists(**reader, kSweepExistsSql, sweep_id, kOperation);
    if (!exists.ok()) return exists.status();
    if (!*exists) return SweepNotFound(kOperation, sweep_id);
  }
  std::map<std::string, std::vector<EpochRecord>> by_trial;
  for (EpochRecord& epoch : *epochs) {
    std::string trial_id = epoch.trial_id;
    by_trial[trial_id].push_back(std::move(epoch));  // rows arrive by epoch
  }
  return by_trial;
}

// ---------------------------------------------------------------- workers --

absl::Status SqliteStore::UpsertWorker(const WorkerRecord& worker) {
  constexpr absl::string_view kOperation = "UpsertWorker";
  if (worker.worker_id.empty()) {
    return absl::InvalidArgumentError("worker.worker_id: must not be empty");
  }
  if (worker.slots < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("worker.slots: must be >= 0, got ", worker.slots));
  }
  const std::string slot_devices_json = nlohmann::json(worker.slot_devices).dump();
  std::lock_guard<std::mutex> lock(write_mutex_);
  absl::StatusOr<Query> upsert = writer_->Prepare(
      "INSERT INTO workers (worker_id, name, hostname, device, slots, registered_unix_ms, "
      "last_seen_unix_ms, deregistered, slot_devices_json) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) "
      "ON CONFLICT (worker_id) DO UPDATE SET name = excluded.name, "
      "hostname = excluded.hostname, device = excluded.device, slots = excluded.slots, "
      "registered_unix_ms = excluded.registered_unix_ms, "
      "last_seen_unix_ms = excluded.last_seen_unix_ms, deregistered = excluded.deregistered, "
      "slot_devices_json = excluded.slot_devices_json",
      kOperation);
  if (!upsert.ok()) return upsert.status();
  upsert->Bind(1, worker.worker_id)
      .Bind(2, worker.name)
      .Bind(3, worker.hostname)
      .Bind(4, worker.device)
      .Bind(5, worker.slots)
      .Bind(6, worker.registered_unix_ms)
      .Bind(7, worker.last_seen_unix_ms)
      .Bind(8, worker.deregistered)
      .Bind(9, slot_devices_json);
  return writer_->RunCommitted(*upsert);
}

absl::StatusOr<std::vector<WorkerRecord>> SqliteStore::ListWorkers() {
  absl::StatusOr<sqlite::ReaderPool::Lease> reader = readers_.Acquire();
  if (!reader.ok()) return reader.status();
  absl::StatusOr<Query> query = (*reader)->Prepare(
      "SELECT worker_id, name, hostname, device, slots, registered_unix_ms, last_seen_unix_ms, "
      "deregistered, slot_devices_json FROM workers ORDER BY registered_unix_ms, worker_id",
      "ListWorkers");
  if (!query.ok()) return query.status();
  return ReadAll(*query, &ReadWorker);
}

}  // namespace

// ------------------------------------------------------------------- Open --

absl::StatusOr<std::unique_ptr<Store>> Store::Open(const std::string& path, StoreOptions options) {
  constexpr absl::string_view kOperation = "open store";
  if (path.empty() || path == ":memory:") {
    // Readers open their own connections to the file, which neither an
    // in-memory nor SQLite's anonymous temporary database can offer.
    return absl::InvalidArgumentError(
        absl::StrCat("store path: must name a file, got \"", path, "\""));
  }
  // NOMUTEX: the writer is only used under write_mutex_.
  absl::StatusOr<std::unique_ptr<Connection>> writer =
      Connection::Open(path, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX);
  if (!writer.ok()) return writer.status();

  // One process owns a database: two coordinators over one file would lease
  // the same trials twice. flock is independent of SQLite's own fcntl locks,
  // and the kernel drops it when the process dies, however it dies.
  const int owner_lock_fd = ::open(path.c_str(), O_RDWR | O_CLOEXEC);
  if (owner_lock_fd < 0) {
    return absl::FailedPreconditionError(
        absl::StrCat(kOperation, " \"", path, "\": ", std::strerror(errno)));
  }
  if (::flock(owner_lock_fd, LOCK_EX | LOCK_NB) != 0) {
    ::close(owner_lock_fd);
    return absl::FailedPreconditionError(absl::StrCat(
        kOperation, " \"", path, "\": in use by another process (another segtune coordinator?)"));
  }
  auto close_lock = absl::MakeCleanup([&] { ::close(owner_lock_fd); });

  // The journal mode is stored in the file; the PRAGMA answers the mode in
  // force, which stays "delete" where WAL is impossible.
  absl::StatusOr<std::string> journal_mode =
      (*writer)->QueryText("PRAGMA journal_mode = WAL", kOperation);
  if (!journal_mode.ok()) return journal_mode.status();
  if (*journal_mode != "wal") {
    return absl::FailedPreconditionError(
        absl::StrCat(kOperation, " \"", path, "\": journal mode is \"", *journal_mode,
                     "\" but WAL is required (WAL does not work on network filesystems)"));
  }
  // synchronous=FULL: in WAL mode a commit syncs the WAL, so a transaction is
  // durable, not just consistent, when COMMIT returns; the default (NORMAL)
  // could lose the last commits on power loss. Both settings are per
  // connection and the readers never write.
  STORE_RETURN_IF_ERROR(
      (*writer)->Exec("PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON", kOperation));
  // Every epoch report looks up the epochs' and trials' indexes: with
  // SQLite's default 2 MiB page cache a busy coordinator re-reads their pages
  // from the OS on every write (bench/coordinator_load). 64 MiB holds them
  // for hundreds of thousands of epochs.
  STORE_RETURN_IF_ERROR((*writer)->Exec("PRAGMA cache_size = -65536", kOperation));
  STORE_RETURN_IF_ERROR(MigrateSchema(**writer));
  (*writer)->set_commit_observer(std::move(options.on_commit));

  std::move(close_lock).Cancel();
  return std::unique_ptr<Store>(new SqliteStore(path, *std::move(writer), owner_lock_fd));
}

}  // namespace segtune::store
