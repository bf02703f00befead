// Reading an LR range test's curve (the trials of an lr_range_test sweep):
// which learning rate to use, and which range is worth searching.
//
// The test (Smith, "Cyclical Learning Rates for Training Neural Networks",
// 2017, section 3.3) trains with an lr rising exponentially, step by step,
// and records the loss's smoothed value at each step. Read against
// log10(lr), the curve is flat while the lr is too small to matter, falls
// while it helps, reaches a minimum, and turns up as training becomes
// unstable. The rule used here:
//
//   suggested_lr  the lr where the smoothed loss falls fastest against
//                 log10(lr): the most negative central difference
//                 (L[i+1] - L[i-1]) / (log10 lr[i+1] - log10 lr[i-1]), among
//                 the points up to the minimum, skipping the first n/10 and
//                 the last n/20 points (at least 1 each: the first steps'
//                 average rests on few batches, the last are diverging).
//   min_loss_lr   the lr where the smoothed loss is lowest.
//   range_low     where the loss starts to fall clearly (Smith's lower bound):
//                 the first lr, after the highest smoothed loss between the
//                 skipped first points and the minimum, at which 10% of the
//                 drop from there to the minimum is done.
//   range_high    min_loss_lr / 10 (the customary upper bound, as in
//                 fastai's lr_min and Smith's 1cycle advice): at the minimum
//                 training is already at the edge of diverging, and the
//                 smoothing lags, so the minimum shows to the right of where
//                 the loss really bottomed.
//   The range is widened to contain suggested_lr where a steep, short descent
//   puts the steepest point outside it.
//
// Thread-safety: a pure function, safe from any thread.
#pragma once

#include <vector>

#include "absl/status/statusor.h"

namespace segtune::search {

struct LrRangeSuggestion {
  double suggested_lr = 0;
  double min_loss_lr = 0;
  double range_low = 0;
  double range_high = 0;
  // False when the smoothed loss never fell within the curve (it only rose,
  // or stayed flat): every lr tested was already too large, or none was large
  // enough to matter. suggested_lr and the range are then the smallest lr
  // tested.
  bool loss_fell = true;
};

// `lrs` rise strictly and are > 0; `smoothed_losses` pair up with them and
// are finite; 5 points at least. InvalidArgument naming the argument (and the
// index) otherwise.
absl::StatusOr<LrRangeSuggestion> SuggestLrRange(const std::vector<double>& lrs,
                                                 const std::vector<double>& smoothed_losses);

}  // namespace segtune::search
