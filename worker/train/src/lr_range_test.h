// The arithmetic of Smith's learning-rate range test ("Cyclical Learning
// Rates for Training Neural Networks", 2017, section 3.3): the lr of each
// step, the loss's bias-corrected exponential average, and when the test
// ends. The trainer (trainer.cc) runs the steps and reports what Record
// returns.
//
// Thread-safety: none; one instance belongs to one trial's thread.
#pragma once

#include <limits>
#include <map>
#include <string>

#include "segtune/train/trial_config.h"

namespace segtune::train::internal {

class LrRangeTest {
 public:
  explicit LrRangeTest(const LrRangeConfig& config);

  // The lr of step `step` (from 0): min_lr * (max_lr / min_lr)^(step / (iterations - 1)),
  // so the first step trains at min_lr and the last at max_lr.
  double LrAt(int step) const;

  // The lr of the step Record expects next.
  double NextLr() const { return LrAt(steps_); }
  int steps_recorded() const { return steps_; }
  int iterations() const { return config_.iterations; }

  struct StepResult {
    // {"lr", "train_loss", "smoothed_loss"}; empty for a non-finite loss,
    // which has nothing worth reporting.
    std::map<std::string, double> metrics;
    // Set when the test ends after this step: the loss is not finite, or
    // the smoothed loss rose above diverge_factor x its minimum so far.
    // Both are the expected end of a range test, not a failure.
    std::string end_reason;
  };

  // Records the loss of step steps_recorded(), trained at NextLr().
  StepResult Record(double loss);

 private:
  LrRangeConfig config_;
  int steps_ = 0;
  double average_ = 0;  // the exponential average, before bias correction
  double min_smoothed_ = std::numeric_limits<double>::infinity();
};

}  // namespace segtune::train::internal
