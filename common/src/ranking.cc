#include "segtune/common/ranking.h"

#include <cmath>

namespace segtune::common {

bool RanksAbove(const RankKey& a, const RankKey& b, bool maximize) {
  const bool a_nan = std::isnan(a.value);
  const bool b_nan = std::isnan(b.value);
  if (a_nan != b_nan) return b_nan;
  if (!a_nan && a.value != b.value) return maximize ? a.value > b.value : a.value < b.value;
  if (a.epoch != b.epoch) return a.epoch < b.epoch;
  return a.index < b.index;
}

}  // namespace segtune::common
