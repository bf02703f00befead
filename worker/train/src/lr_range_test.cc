#include "lr_range_test.h"

#include <cmath>

#include "absl/strings/str_format.h"

namespace segtune::train::internal {

LrRangeTest::LrRangeTest(const LrRangeConfig& config) : config_(config) {}

double LrRangeTest::LrAt(int step) const {
  const double fraction = static_cast<double>(step) / static_cast<double>(config_.iterations - 1);
  return config_.min_lr * std::pow(config_.max_lr / config_.min_lr, fraction);
}

LrRangeTest::StepResult LrRangeTest::Record(double loss) {
  const double lr = NextLr();
  ++steps_;
  StepResult result;
  if (!std::isfinite(loss)) {
    // NaN's sign is noise ("-nan" from printf).
    const char* value = std::isnan(loss) ? "nan" : loss > 0 ? "inf" : "-inf";
    result.end_reason = absl::StrFormat("loss is %s at lr %.1e (step %d)", value, lr, steps_);
    return result;
  }
  // The average starts at 0, which biases the first steps towards 0; dividing
  // by 1 - beta^steps removes that (as Adam does for its moments), so the
  // first smoothed value is the first loss itself.
  const double beta = config_.smoothing;
  average_ = beta * average_ + (1 - beta) * loss;
  const double smoothed = average_ / (1 - std::pow(beta, steps_));
  result.metrics = {{"lr", lr}, {"train_loss", loss}, {"smoothed_loss", smoothed}};
  if (smoothed < min_smoothed_) min_smoothed_ = smoothed;
  if (smoothed > config_.diverge_factor * min_smoothed_) {
    result.end_reason =
        absl::StrFormat("loss diverged at lr %.1e (smoothed %.3g > %g x min %.3g)", lr, smoothed,
                        config_.diverge_factor, min_smoothed_);
  }
  return result;
}

}  // namespace segtune::train::internal
