// Small text helpers for the reasons searchers give (stored as a trial's
// reason, shown by `segtune trials`). Internal to segtune_search.
//
// Thread-safety: pure functions.
#pragma once

#include <cstdio>
#include <string>

namespace segtune::search::internal {

// "1st", "2nd", "3rd", "4th", ..., "11th", "12th", "13th", "21st", ...
inline std::string Ordinal(int n) {
  const char* suffix = "th";
  if (n % 100 < 11 || n % 100 > 13) {
    if (n % 10 == 1) suffix = "st";
    if (n % 10 == 2) suffix = "nd";
    if (n % 10 == 3) suffix = "rd";
  }
  return std::to_string(n) + suffix;
}

// `value` with at most `digits` significant digits ("0.4123", "1e-05").
inline std::string Significant(double value, int digits) {
  char text[32];
  std::snprintf(text, sizeof(text), "%.*g", digits, value);
  return text;
}

}  // namespace segtune::search::internal
