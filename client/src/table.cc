#include "segtune/client/table.h"

#include <algorithm>
#include <utility>

namespace segtune::client {

std::size_t DisplayWidth(const std::string& text) {
  // Continuation bytes (10xxxxxx) do not start a code point.
  return static_cast<std::size_t>(std::count_if(
      text.begin(), text.end(), [](char c) { return (static_cast<unsigned char>(c) & 0xC0) != 0x80; }));
}

Table::Table(std::vector<std::string> headers) : headers_(std::move(headers)) {}

Table& Table::SetAlign(std::size_t column, Align align) {
  if (aligns_.size() <= column) aligns_.resize(column + 1, Align::kLeft);
  aligns_[column] = align;
  return *this;
}

void Table::AddRow(std::vector<std::string> cells) { rows_.push_back(std::move(cells)); }

std::string Table::Render() const {
  std::size_t columns = headers_.size();
  for (const auto& row : rows_) columns = std::max(columns, row.size());

  std::vector<std::size_t> widths(columns, 0);
  auto measure = [&widths](const std::vector<std::string>& cells) {
    for (std::size_t i = 0; i < cells.size(); ++i) widths[i] = std::max(widths[i], DisplayWidth(cells[i]));
  };
  measure(headers_);
  for (const auto& row : rows_) measure(row);

  std::string text;
  auto render_line = [&](const std::vector<std::string>& cells) {
    std::string line;
    for (std::size_t i = 0; i < columns; ++i) {
      const std::string empty;
      const std::string& cell = i < cells.size() ? cells[i] : empty;
      std::string padding(widths[i] - DisplayWidth(cell), ' ');
      if (i > 0) line += "  ";
      bool right = i < aligns_.size() && aligns_[i] == Align::kRight;
      line += right ? padding + cell : cell + padding;
    }
    line.erase(line.find_last_not_of(' ') + 1);
    text += line + "\n";
  };
  if (!headers_.empty()) render_line(headers_);
  for (const auto& row : rows_) render_line(row);
  return text;
}

}  // namespace segtune::client
