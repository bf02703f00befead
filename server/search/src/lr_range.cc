#include "segtune/search/lr_range.h"

#include <algorithm>
#include <cmath>
#include <cstddef>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace segtune::search {
namespace {

constexpr std::size_t kMinPoints = 5;
// The share of the drop to the minimum after which the loss "falls clearly".
constexpr double kClearDropFraction = 0.1;

absl::Status CheckCurve(const std::vector<double>& lrs, const std::vector<double>& losses) {
  if (lrs.size() != losses.size()) {
    return absl::InvalidArgumentError(absl::StrCat("lrs and smoothed_losses: ", lrs.size(), " and ",
                                                   losses.size(), " values; they must pair up"));
  }
  if (lrs.size() < kMinPoints) {
    return absl::InvalidArgumentError(absl::StrCat("lrs: at least ", kMinPoints,
                                                   " points are needed, got ", lrs.size()));
  }
  for (std::size_t i = 0; i < lrs.size(); ++i) {
    if (!std::isfinite(lrs[i]) || lrs[i] <= 0) {
      return absl::InvalidArgumentError(absl::StrCat("lrs[", i, "]: must be > 0, got ", lrs[i]));
    }
    if (i > 0 && lrs[i] <= lrs[i - 1]) {
      return absl::InvalidArgumentError(absl::StrCat(
          "lrs[", i, "]: must be larger than lrs[", i - 1, "] (", lrs[i - 1], "), got ", lrs[i]));
    }
    if (!std::isfinite(losses[i])) {
      return absl::InvalidArgumentError(
          absl::StrCat("smoothed_losses[", i, "]: must be finite, got ", losses[i]));
    }
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<LrRangeSuggestion> SuggestLrRange(const std::vector<double>& lrs,
                                                 const std::vector<double>& smoothed_losses) {
  if (absl::Status status = CheckCurve(lrs, smoothed_losses); !status.ok()) return status;
  const std::vector<double>& loss = smoothed_losses;
  const std::size_t n = lrs.size();
  const std::size_t min_index =
      static_cast<std::size_t>(std::min_element(loss.begin(), loss.end()) - loss.begin());

  LrRangeSuggestion suggestion;
  suggestion.min_loss_lr = lrs[min_index];

  // The steepest descent, among the points up to the minimum that are not
  // skipped (n >= 5, so first <= n - 2 and every i has both neighbours).
  const std::size_t first = std::max<std::size_t>(1, n / 10);
  const std::size_t last = std::min(min_index, n - 1 - std::max<std::size_t>(1, n / 20));
  double steepest = 0;
  std::size_t steepest_index = 0;
  for (std::size_t i = first; i <= last; ++i) {
    const double slope =
        (loss[i + 1] - loss[i - 1]) / (std::log10(lrs[i + 1]) - std::log10(lrs[i - 1]));
    if (slope < steepest) {
      steepest = slope;
      steepest_index = i;
    }
  }
  if (steepest == 0) {
    suggestion.loss_fell = false;
    suggestion.suggested_lr = suggestion.range_low = suggestion.range_high = lrs.front();
    return suggestion;
  }
  suggestion.suggested_lr = lrs[steepest_index];

  // Where the descent starts: the highest point before the minimum (past the
  // skipped first points, first <= steepest_index <= min_index); the loss
  // falls clearly once a tenth of the way from there to the minimum is done.
  const std::size_t top_index = static_cast<std::size_t>(
      std::max_element(loss.begin() + static_cast<std::ptrdiff_t>(first),
                       loss.begin() + static_cast<std::ptrdiff_t>(min_index) + 1) -
      loss.begin());
  const double clear_level =
      loss[top_index] - kClearDropFraction * (loss[top_index] - loss[min_index]);
  std::size_t low_index = top_index;
  while (loss[low_index] > clear_level) ++low_index;  // stops at min_index at the latest

  suggestion.range_low = std::min(lrs[low_index], suggestion.suggested_lr);
  suggestion.range_high = std::max(suggestion.min_loss_lr / 10, suggestion.suggested_lr);
  return suggestion;
}

}  // namespace segtune::search
