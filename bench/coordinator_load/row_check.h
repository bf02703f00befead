// After a load run: the coordinator's epochs table read back (SQLite,
// read-only) against the reports the simulated workers sent and had
// acknowledged.
//
// Thread-safety: a pure function of its arguments (opens its own connection).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "simulated_workers.h"

namespace segtune::bench {

struct RowCheck {
  std::int64_t rows = 0;           // rows in the epochs table
  std::int64_t acked = 0;          // distinct (trial, epoch) acknowledged
  std::int64_t lost = 0;           // acknowledged, but no row of that attempt
  std::int64_t duplicated = 0;     // rows beyond one per (trial, epoch)
  std::int64_t unacked_rows = 0;   // rows of reports sent but never answered (in flight at the end: fine)
  std::int64_t phantom_rows = 0;   // rows of reports never sent
};

absl::StatusOr<RowCheck> CheckRows(const std::string& db_path, const std::vector<SentReport>& reports);

}  // namespace segtune::bench
