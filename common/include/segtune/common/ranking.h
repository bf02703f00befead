// The one order in which segtune ranks trials: `segtune best` (the
// coordinator), the live view's top 5 and the report's leaderboard.
//
// Thread-safety: a free function without shared state.
#pragma once

namespace segtune::common {

// What a trial is ranked by.
struct RankKey {
  double value = 0;  // its best objective value
  int epoch = 0;     // the epoch that value was reached at
  int index = 0;     // its position in the sweep
};

// True when `a` ranks above `b`: the better value (larger when `maximize`),
// then the earlier epoch, then sweep order. A NaN value ranks last.
bool RanksAbove(const RankKey& a, const RankKey& b, bool maximize);

}  // namespace segtune::common
