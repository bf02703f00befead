// The store's schema and its migrations.
#pragma once

#include "absl/status/status.h"
#include "sqlite.h"

namespace segtune::store {

// Brings the database on `writer` to kSchemaVersion, one migration step per
// transaction; a step that fails leaves the database at the previous version.
// FailedPrecondition if the database was written by a newer segtune (its
// version is above kSchemaVersion): an old binary must not guess at a newer
// schema. The version lives in PRAGMA user_version (0 = empty database).
//
// Call before any other use of the database; `writer` must not be in a
// transaction and must have foreign keys on.
absl::Status MigrateSchema(sqlite::Connection& writer);

}  // namespace segtune::store
