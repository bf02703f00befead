// Small RAII wrappers over the SQLite C API, private to the store.
//
// Thread-safety: none of these classes is thread-safe. A Connection (and the
// Query objects it hands out) is used by one thread at a time; the store
// guarantees that with its writer mutex and its reader pool.
#pragma once

#include <sqlite3.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace segtune::store::sqlite {

#define STORE_RETURN_IF_ERROR(expr)                \
  do {                                             \
    absl::Status store_status_ = (expr);           \
    if (!store_status_.ok()) return store_status_; \
  } while (0)

// An absl::Status for SQLite result code `rc`, naming the operation and
// carrying SQLite's own message. `db` may be null (the message then comes
// from the result code alone).
absl::Status Error(sqlite3* db, int rc, absl::string_view operation);

struct CloseDatabase {
  void operator()(sqlite3* db) const { sqlite3_close_v2(db); }
};
struct FinalizeStatement {
  void operator()(sqlite3_stmt* stmt) const { sqlite3_finalize(stmt); }
};

// A prepared statement borrowed from a Connection's cache for one use. Binds
// parameters, steps through rows and reads columns; resets the statement and
// clears its bindings when destroyed, so the cached statement is ready for
// the next use and holds no read snapshot open.
//
// Bind errors are remembered and returned by the next Step(), which keeps call
// sites to a straight list of binds.
class Query {
 public:
  Query(sqlite3* db, sqlite3_stmt* stmt, absl::string_view operation)
      : db_(db), stmt_(stmt), operation_(operation) {}
  Query(Query&& other) noexcept;
  Query(const Query&) = delete;
  Query& operator=(const Query&) = delete;
  Query& operator=(Query&&) = delete;
  ~Query();

  // Parameters are numbered from 1, as in SQLite.
  Query& Bind(int index, absl::string_view text);
  Query& Bind(int index, const char* text) { return Bind(index, absl::string_view(text)); }
  Query& Bind(int index, std::int64_t value);
  Query& Bind(int index, int value) { return Bind(index, static_cast<std::int64_t>(value)); }
  Query& Bind(int index, bool value) { return Bind(index, static_cast<std::int64_t>(value)); }

  // true: a row is available to read; false: the statement is done.
  absl::StatusOr<bool> Step();
  // Steps a statement that returns no rows (INSERT, UPDATE, ...).
  absl::Status Run();

  // Columns are numbered from 0, as in SQLite. NULL reads as 0 or "".
  std::int64_t Int64(int column) const { return sqlite3_column_int64(stmt_, column); }
  int Int(int column) const { return sqlite3_column_int(stmt_, column); }
  std::string Text(int column) const;

 private:
  sqlite3* db_;
  sqlite3_stmt* stmt_;  // owned by the Connection's cache; null once moved from
  absl::string_view operation_;
  int bind_rc_ = SQLITE_OK;
};

// One sqlite3 connection and its cache of prepared statements.
class Connection {
 public:
  // `flags` are sqlite3_open_v2 flags. Sets the busy timeout.
  static absl::StatusOr<std::unique_ptr<Connection>> Open(const std::string& path, int flags);

  // Runs SQL that returns no rows we need (may hold several statements).
  absl::Status Exec(const char* sql, absl::string_view operation);

  // Runs a statement that returns one row with one column, e.g. a PRAGMA.
  absl::StatusOr<std::string> QueryText(const char* sql, absl::string_view operation);
  absl::StatusOr<std::int64_t> QueryInt64(const char* sql, absl::string_view operation);

  // Prepares `sql` on first use and caches it for the life of the connection.
  // `operation` names the caller in errors and must outlive the Query (pass
  // a string literal).
  absl::StatusOr<Query> Prepare(const char* sql, absl::string_view operation);

  // Rows changed by the most recent INSERT, UPDATE or DELETE.
  std::int64_t changes() const { return sqlite3_changes64(db_.get()); }

  // Called with the duration in seconds of each successful commit on this
  // connection: a Transaction's COMMIT, or a RunCommitted statement.
  void set_commit_observer(std::function<void(double seconds)> observer) { commit_observer_ = std::move(observer); }
  const std::function<void(double seconds)>& commit_observer() const { return commit_observer_; }

  // Runs a write that is a transaction of its own (autocommit mode), timed
  // for the commit observer like a Transaction's COMMIT.
  absl::Status RunCommitted(Query& query);

 private:
  explicit Connection(sqlite3* db) : db_(db) {}

  std::unique_ptr<sqlite3, CloseDatabase> db_;
  std::function<void(double seconds)> commit_observer_;
  // Declared after db_ so that statements are finalized before the close.
  std::unordered_map<std::string, std::unique_ptr<sqlite3_stmt, FinalizeStatement>> statements_;
};

// BEGIN IMMEDIATE ... COMMIT on a connection; rolls back when destroyed
// without a successful Commit(). IMMEDIATE takes the write lock up front, so a
// transaction never fails half way for want of it.
class Transaction {
 public:
  static absl::StatusOr<Transaction> Begin(Connection& connection, absl::string_view operation);
  Transaction(Transaction&& other) noexcept;
  Transaction(const Transaction&) = delete;
  Transaction& operator=(const Transaction&) = delete;
  Transaction& operator=(Transaction&&) = delete;
  ~Transaction();

  // With synchronous=FULL the data is on disk when this returns OK.
  absl::Status Commit();

 private:
  Transaction(Connection* connection, absl::string_view operation)
      : connection_(connection), operation_(operation) {}

  Connection* connection_;  // null once committed or moved from
  absl::string_view operation_;
};

// Read-only connections to one database file, handed out one caller at a
// time. Keeps a few idle connections (with their statement caches) for reuse
// and opens more when every one is busy, so readers never wait for each other.
//
// Thread-safe.
class ReaderPool {
 public:
  explicit ReaderPool(std::string path) : path_(std::move(path)) {}

  // Returns the connection to the pool when destroyed.
  class Lease {
   public:
    Lease(ReaderPool* pool, std::unique_ptr<Connection> connection)
        : pool_(pool), connection_(std::move(connection)) {}
    Lease(Lease&&) noexcept = default;
    Lease& operator=(Lease&&) = delete;
    ~Lease();
    Connection& operator*() const { return *connection_; }
    Connection* operator->() const { return connection_.get(); }

   private:
    ReaderPool* pool_;
    std::unique_ptr<Connection> connection_;
  };

  absl::StatusOr<Lease> Acquire();

 private:
  static constexpr std::size_t kMaxIdle = 4;

  void Release(std::unique_ptr<Connection> connection);

  const std::string path_;
  std::mutex mutex_;
  std::vector<std::unique_ptr<Connection>> idle_;  // GUARDED_BY(mutex_)
};

}  // namespace segtune::store::sqlite
