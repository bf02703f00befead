#include "schema.h"

#include <iterator>

#include "absl/strings/str_cat.h"
#include "segtune/store/store.h"

namespace segtune::store {
namespace {

struct Migration {
  int version;  // the schema version once this step is applied
  const char* sql;
};

// The schema history. Append new steps at the end; never edit or reorder a
// step that has shipped, since databases in the field have already run it.
// Step N takes a database from version N-1 to N. Steps do not use IF NOT
// EXISTS: a step that ran twice would be a bug, and it fails loudly instead.
//
// States are stored by name (the same names the CLI prints) so that the
// database reads well in the sqlite3 shell. Times are Unix milliseconds, 0 for
// "not yet".
constexpr Migration kMigrations[] = {
    {1, R"sql(
CREATE TABLE sweeps (
  sweep_id         TEXT PRIMARY KEY NOT NULL,
  name             TEXT NOT NULL,
  spec_yaml        TEXT NOT NULL,
  objective_metric TEXT NOT NULL,
  maximize         INTEGER NOT NULL CHECK (maximize IN (0, 1)),
  algorithm        TEXT NOT NULL,
  epochs           INTEGER NOT NULL CHECK (epochs >= 0),
  parallelism      INTEGER NOT NULL CHECK (parallelism >= 0),
  state            TEXT NOT NULL CHECK (state IN ('RUNNING', 'COMPLETED', 'CANCELLED')),
  created_unix_ms  INTEGER NOT NULL,
  finished_unix_ms INTEGER NOT NULL
) STRICT;
-- ListSweeps (newest first) and ListUnfinishedTrials (oldest sweep first).
CREATE INDEX sweeps_by_created ON sweeps (created_unix_ms);

CREATE TABLE trials (
  trial_id         TEXT PRIMARY KEY NOT NULL,
  sweep_id         TEXT NOT NULL REFERENCES sweeps (sweep_id) ON DELETE CASCADE,
  trial_index      INTEGER NOT NULL CHECK (trial_index >= 0),
  state            TEXT NOT NULL CHECK (state IN ('PENDING', 'RUNNING', 'COMPLETED', 'STOPPED',
                                                  'FAILED', 'DIVERGED', 'CANCELLED')),
  params_json      TEXT NOT NULL,
  attempt          INTEGER NOT NULL CHECK (attempt >= 0),
  worker_id        TEXT NOT NULL,
  reason           TEXT NOT NULL,
  started_unix_ms  INTEGER NOT NULL,
  finished_unix_ms INTEGER NOT NULL,
  -- Its index is also "trials of a sweep, by index" (ListTrials, AddTrials).
  UNIQUE (sweep_id, trial_index)
) STRICT;
-- ListUnfinishedTrials: the few PENDING and RUNNING trials among many finished.
CREATE INDEX trials_by_state ON trials (state);

-- One row per epoch of a trial: a newer attempt's report replaces the row.
CREATE TABLE epochs (
  trial_id         TEXT NOT NULL REFERENCES trials (trial_id) ON DELETE CASCADE,
  epoch            INTEGER NOT NULL CHECK (epoch >= 1),
  attempt          INTEGER NOT NULL CHECK (attempt >= 1),
  metrics_json     TEXT NOT NULL,
  reported_unix_ms INTEGER NOT NULL,
  PRIMARY KEY (trial_id, epoch)
) STRICT, WITHOUT ROWID;

CREATE TABLE workers (
  worker_id          TEXT PRIMARY KEY NOT NULL,
  name               TEXT NOT NULL,
  hostname           TEXT NOT NULL,
  device             TEXT NOT NULL,
  slots              INTEGER NOT NULL CHECK (slots >= 0),
  registered_unix_ms INTEGER NOT NULL,
  last_seen_unix_ms  INTEGER NOT NULL,
  deregistered       INTEGER NOT NULL CHECK (deregistered IN (0, 1))
) STRICT;
)sql"},
    // PBT records where each trial's weights and hyperparameters came from.
    {2, R"sql(
ALTER TABLE trials ADD COLUMN lineage_json TEXT NOT NULL DEFAULT '[]';
)sql"},
    // Every attempt's end, so repeated failures keep their reasons
    // (budget.max_retries). Attempts running at the upgrade get their row
    // now; the history of earlier attempts was never recorded.
    {3, R"sql(
CREATE TABLE attempts (
  trial_id        TEXT NOT NULL REFERENCES trials (trial_id) ON DELETE CASCADE,
  attempt         INTEGER NOT NULL CHECK (attempt >= 1),
  worker_id       TEXT NOT NULL,
  state           TEXT NOT NULL CHECK (state IN ('PENDING', 'RUNNING', 'COMPLETED', 'STOPPED',
                                                 'FAILED', 'DIVERGED', 'CANCELLED')),
  reason          TEXT NOT NULL,
  started_unix_ms INTEGER NOT NULL,
  ended_unix_ms   INTEGER NOT NULL,
  PRIMARY KEY (trial_id, attempt)
) STRICT, WITHOUT ROWID;
INSERT INTO attempts (trial_id, attempt, worker_id, state, reason, started_unix_ms, ended_unix_ms)
  SELECT trial_id, attempt, worker_id, 'RUNNING', '', 0, 0 FROM trials
  WHERE state = 'RUNNING' AND attempt >= 1;
)sql"},
    // The device of each slot of a multi-device worker, as a JSON array of
    // strings ('[]': every slot on `device`), so a restarted coordinator
    // still counts each device's slots for the workers that outlived it.
    {4, R"sql(
ALTER TABLE workers ADD COLUMN slot_devices_json TEXT NOT NULL DEFAULT '[]';
)sql"},
};

static_assert(std::size(kMigrations) == kSchemaVersion,
              "kSchemaVersion in store.h must be the number of migration steps");

}  // namespace

absl::Status MigrateSchema(sqlite::Connection& writer) {
  // Each step reads the version and applies the next migration inside one
  // write transaction, so two processes opening a fresh file at once cannot
  // both apply the same step.
  for (;;) {
    absl::StatusOr<sqlite::Transaction> transaction =
        sqlite::Transaction::Begin(writer, "migrate schema");
    if (!transaction.ok()) return transaction.status();
    absl::StatusOr<std::int64_t> version =
        writer.QueryInt64("PRAGMA user_version", "read schema version");
    if (!version.ok()) return version.status();

    if (*version == kSchemaVersion) return absl::OkStatus();  // the rollback ends a read
    if (*version > kSchemaVersion) {
      return absl::FailedPreconditionError(absl::StrCat("database schema version ", *version,
                                                        " is newer than this segtune supports (",
                                                        kSchemaVersion, "); use a newer segtune"));
    }
    if (*version < 0) {
      return absl::FailedPreconditionError(
          absl::StrCat("database schema version ", *version, " is not a segtune schema version"));
    }

    const Migration& step = kMigrations[*version];
    std::string operation = absl::StrCat("migrate schema to version ", step.version);
    STORE_RETURN_IF_ERROR(writer.Exec(step.sql, operation));
    // user_version lives in the database header, so it commits (or rolls
    // back) together with the step.
    STORE_RETURN_IF_ERROR(
        writer.Exec(absl::StrCat("PRAGMA user_version = ", step.version).c_str(), operation));
    STORE_RETURN_IF_ERROR(transaction->Commit());
  }
}

}  // namespace segtune::store
