#include "sqlite.h"

#include <chrono>
#include <utility>

#include "absl/strings/str_cat.h"

namespace segtune::store::sqlite {
namespace {

// How long a connection waits for a lock held by another connection (another
// process on the same file, or a WAL checkpoint) before giving up with BUSY.
constexpr int kBusyTimeoutMs = 5000;

absl::StatusCode CodeFor(int rc) {
  switch (rc & 0xff) {  // the primary result code
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
    // Worth retrying, but the server was reached: not kUnavailable, which
    // clients read as "cannot reach the coordinator".
    case SQLITE_IOERR: return absl::StatusCode::kAborted;
    case SQLITE_FULL:
    case SQLITE_NOMEM:
    case SQLITE_TOOBIG: return absl::StatusCode::kResourceExhausted;
    case SQLITE_CORRUPT:
    case SQLITE_NOTADB: return absl::StatusCode::kDataLoss;
    case SQLITE_CONSTRAINT:
    case SQLITE_READONLY:
    case SQLITE_CANTOPEN:
    case SQLITE_PERM: return absl::StatusCode::kFailedPrecondition;
    default: return absl::StatusCode::kInternal;
  }
}

}  // namespace

absl::Status Error(sqlite3* db, int rc, absl::string_view operation) {
  // sqlite3_errmsg is more specific ("no such table: x") than sqlite3_errstr,
  // but only describes the most recent call on this connection.
  const char* message = db != nullptr ? sqlite3_errmsg(db) : sqlite3_errstr(rc);
  return absl::Status(CodeFor(rc), absl::StrCat(operation, ": sqlite: ", message));
}

// ---------------------------------------------------------------- Query --

Query::Query(Query&& other) noexcept
    : db_(other.db_),
      stmt_(std::exchange(other.stmt_, nullptr)),
      operation_(other.operation_),
      bind_rc_(other.bind_rc_) {}

Query::~Query() {
  if (stmt_ == nullptr) return;
  // sqlite3_reset repeats the last step's error, which the caller has already
  // seen from Step(); nothing more to report here.
  sqlite3_reset(stmt_);
  sqlite3_clear_bindings(stmt_);
}

Query& Query::Bind(int index, absl::string_view text) {
  // SQLITE_TRANSIENT: SQLite copies the text, so callers may bind temporaries.
  int rc =
      sqlite3_bind_text(stmt_, index, text.data(), static_cast<int>(text.size()), SQLITE_TRANSIENT);
  if (bind_rc_ == SQLITE_OK) bind_rc_ = rc;
  return *this;
}

Query& Query::Bind(int index, std::int64_t value) {
  int rc = sqlite3_bind_int64(stmt_, index, value);
  if (bind_rc_ == SQLITE_OK) bind_rc_ = rc;
  return *this;
}

absl::StatusOr<bool> Query::Step() {
  if (bind_rc_ != SQLITE_OK) return Error(db_, bind_rc_, operation_);
  int rc = sqlite3_step(stmt_);
  if (rc == SQLITE_ROW) return true;
  if (rc == SQLITE_DONE) return false;
  return Error(db_, rc, operation_);
}

absl::Status Query::Run() {
  absl::StatusOr<bool> row = Step();
  if (!row.ok()) return row.status();
  return absl::OkStatus();
}

std::string Query::Text(int column) const {
  const unsigned char* text = sqlite3_column_text(stmt_, column);
  if (text == nullptr) return std::string();
  return std::string(reinterpret_cast<const char*>(text),
                     static_cast<std::size_t>(sqlite3_column_bytes(stmt_, column)));
}

// ----------------------------------------------------------- Connection --

absl::StatusOr<std::unique_ptr<Connection>> Connection::Open(const std::string& path, int flags) {
  sqlite3* raw = nullptr;
  int rc = sqlite3_open_v2(path.c_str(), &raw, flags, nullptr);
  // sqlite3_open_v2 hands back a handle even on failure; it must be closed.
  std::unique_ptr<sqlite3, CloseDatabase> db(raw);
  if (rc != SQLITE_OK) {
    return Error(db.get(), rc, absl::StrCat("open \"", path, "\""));
  }
  sqlite3_extended_result_codes(db.get(), 1);
  rc = sqlite3_busy_timeout(db.get(), kBusyTimeoutMs);
  if (rc != SQLITE_OK) return Error(db.get(), rc, "set busy timeout");
  return std::unique_ptr<Connection>(new Connection(db.release()));
}

absl::Status Connection::Exec(const char* sql, absl::string_view operation) {
  int rc = sqlite3_exec(db_.get(), sql, nullptr, nullptr, nullptr);
  if (rc != SQLITE_OK) return Error(db_.get(), rc, operation);
  return absl::OkStatus();
}

absl::StatusOr<std::string> Connection::QueryText(const char* sql, absl::string_view operation) {
  absl::StatusOr<Query> query = Prepare(sql, operation);
  if (!query.ok()) return query.status();
  absl::StatusOr<bool> row = query->Step();
  if (!row.ok()) return row.status();
  if (!*row) return absl::InternalError(absl::StrCat(operation, ": no result row"));
  return query->Text(0);
}

absl::StatusOr<std::int64_t> Connection::QueryInt64(const char* sql, absl::string_view operation) {
  absl::StatusOr<Query> query = Prepare(sql, operation);
  if (!query.ok()) return query.status();
  absl::StatusOr<bool> row = query->Step();
  if (!row.ok()) return row.status();
  if (!*row) return absl::InternalError(absl::StrCat(operation, ": no result row"));
  return query->Int64(0);
}

absl::StatusOr<Query> Connection::Prepare(const char* sql, absl::string_view operation) {
  auto& cached = statements_[sql];
  if (cached == nullptr) {
    sqlite3_stmt* stmt = nullptr;
    int rc = sqlite3_prepare_v3(db_.get(), sql, -1, SQLITE_PREPARE_PERSISTENT, &stmt, nullptr);
    if (rc != SQLITE_OK) {
      statements_.erase(sql);
      return Error(db_.get(), rc, operation);
    }
    cached.reset(stmt);
  }
  return Query(db_.get(), cached.get(), operation);
}

// ---------------------------------------------------------- Transaction --

absl::StatusOr<Transaction> Transaction::Begin(Connection& connection,
                                               absl::string_view operation) {
  STORE_RETURN_IF_ERROR(connection.Exec("BEGIN IMMEDIATE", operation));
  return Transaction(&connection, operation);
}

Transaction::Transaction(Transaction&& other) noexcept
    : connection_(std::exchange(other.connection_, nullptr)), operation_(other.operation_) {}

Transaction::~Transaction() {
  if (connection_ == nullptr) return;
  // Undoing an unfinished transaction. If ROLLBACK itself fails SQLite has
  // already rolled back (that is when ROLLBACK can fail), so there is nothing
  // left to undo or report.
  connection_->Exec("ROLLBACK", operation_).IgnoreError();
}

absl::Status Connection::RunCommitted(Query& query) {
  const auto start = std::chrono::steady_clock::now();
  absl::Status status = query.Run();
  if (status.ok() && commit_observer_) {
    commit_observer_(std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
  }
  return status;
}

absl::Status Transaction::Commit() {
  const auto start = std::chrono::steady_clock::now();
  absl::Status status = connection_->Exec("COMMIT", operation_);
  // On failure the destructor rolls back what is left of the transaction.
  if (!status.ok()) return status;
  if (const auto& observer = connection_->commit_observer()) {
    observer(std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
  }
  connection_ = nullptr;
  return status;
}

// ----------------------------------------------------------- ReaderPool --

ReaderPool::Lease::~Lease() {
  if (connection_ != nullptr) pool_->Release(std::move(connection_));
}

absl::StatusOr<ReaderPool::Lease> ReaderPool::Acquire() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (!idle_.empty()) {
      std::unique_ptr<Connection> connection = std::move(idle_.back());
      idle_.pop_back();
      return Lease(this, std::move(connection));
    }
  }
  // NOMUTEX: a leased connection is used by one thread at a time.
  absl::StatusOr<std::unique_ptr<Connection>> connection =
      Connection::Open(path_, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX);
  if (!connection.ok()) return connection.status();
  // Readers open read-write (a WAL reader writes the shared-memory index) but
  // must never change the database: that is the writer's job alone.
  STORE_RETURN_IF_ERROR((*connection)->Exec("PRAGMA query_only = ON", "open reader"));
  return Lease(this, *std::move(connection));
}

void ReaderPool::Release(std::unique_ptr<Connection> connection) {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (idle_.size() < kMaxIdle) {
      idle_.push_back(std::move(connection));
      return;
    }
  }
  // A burst of readers is over: this one closes here, outside the lock.
}

}  // namespace segtune::store::sqlite
