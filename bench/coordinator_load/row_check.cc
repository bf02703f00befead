#include "row_check.h"

#include <sqlite3.h>

#include <map>
#include <utility>

#include "absl/strings/str_cat.h"

namespace segtune::bench {
namespace {

using Key = std::pair<std::string, int>;  // (trial_id, epoch)

struct Row {
  int attempt = 0;
  int copies = 0;
};

absl::Status SqliteError(sqlite3* db, const std::string& db_path, const char* what) {
  return absl::InternalError(absl::StrCat(db_path, ": ", what, ": ", db ? sqlite3_errmsg(db) : "out of memory"));
}

absl::StatusOr<std::map<Key, Row>> ReadEpochRows(const std::string& db_path, std::int64_t* rows) {
  sqlite3* db = nullptr;
  if (sqlite3_open_v2(db_path.c_str(), &db, SQLITE_OPEN_READONLY, nullptr) != SQLITE_OK) {
    absl::Status error = SqliteError(db, db_path, "open");
    sqlite3_close(db);
    return error;
  }
  sqlite3_stmt* select = nullptr;
  if (sqlite3_prepare_v2(db, "SELECT trial_id, epoch, attempt FROM epochs", -1, &select, nullptr) != SQLITE_OK) {
    absl::Status error = SqliteError(db, db_path, "SELECT FROM epochs");
    sqlite3_close(db);
    return error;
  }
  std::map<Key, Row> by_key;
  int step = SQLITE_ROW;
  while ((step = sqlite3_step(select)) == SQLITE_ROW) {
    const auto* trial = reinterpret_cast<const char*>(sqlite3_column_text(select, 0));
    Row& row = by_key[{trial ? trial : "", sqlite3_column_int(select, 1)}];
    row.attempt = sqlite3_column_int(select, 2);
    ++row.copies;
    ++*rows;
  }
  absl::Status status = step == SQLITE_DONE ? absl::OkStatus() : SqliteError(db, db_path, "reading epochs");
  sqlite3_finalize(select);
  sqlite3_close(db);
  if (!status.ok()) return status;
  return by_key;
}

}  // namespace

absl::StatusOr<RowCheck> CheckRows(const std::string& db_path, const std::vector<SentReport>& reports) {
  RowCheck check;
  auto rows = ReadEpochRows(db_path, &check.rows);
  if (!rows.ok()) return rows.status();
  // What was sent, by key: acknowledged if any report of that key was.
  std::map<Key, const SentReport*> sent;
  for (const SentReport& report : reports) {
    const SentReport*& seen = sent[{report.trial_id, report.epoch}];
    if (!seen || report.acked) seen = &report;
  }
  for (const auto& [key, report] : sent) {
    if (!report->acked) continue;
    ++check.acked;
    auto row = rows->find(key);
    if (row == rows->end() || row->second.attempt != report->attempt) ++check.lost;
  }
  for (const auto& [key, row] : *rows) {
    check.duplicated += row.copies - 1;
    auto report = sent.find(key);
    if (report == sent.end()) {
      ++check.phantom_rows;
    } else if (!report->second->acked) {
      ++check.unacked_rows;
    }
  }
  return check;
}

}  // namespace segtune::bench
