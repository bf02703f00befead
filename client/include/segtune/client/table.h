// Aligned text tables for the CLI's human-readable output.
//
//   TRIAL        STATE      BEST
//   s1-0000      COMPLETED  0.6120
//   s1-0001      RUNNING         -
//
// Columns are separated by two spaces and as wide as their widest cell
// (counted in UTF-8 code points); trailing spaces are trimmed.
//
// Thread-safety: not thread-safe; a Table is built and rendered by one thread.
#pragma once

#include <cstddef>
#include <string>
#include <vector>

namespace segtune::client {

class Table {
 public:
  enum class Align { kLeft, kRight };

  // One header per column. With no headers the table has no header line and
  // takes its column count from the widest row (a key/value listing).
  explicit Table(std::vector<std::string> headers = {});

  // Right-aligns numbers; columns are left-aligned by default.
  Table& SetAlign(std::size_t column, Align align);

  // Rows shorter than the header are padded with empty cells.
  void AddRow(std::vector<std::string> cells);

  bool empty() const { return rows_.empty(); }

  // The table, one line per row, each ending in '\n'.
  std::string Render() const;

 private:
  std::vector<std::string> headers_;
  std::vector<Align> aligns_;
  std::vector<std::vector<std::string>> rows_;
};

// Display width of UTF-8 text: its code point count.
std::size_t DisplayWidth(const std::string& text);

}  // namespace segtune::client
