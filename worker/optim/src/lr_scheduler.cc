// The formulas follow torch/optim/lr_scheduler.py (PyTorch 1.13) line by
// line; comments name the branch of get_lr each piece mirrors.
#include "segtune/optim/lr_scheduler.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "absl/strings/str_cat.h"

namespace segtune::optim {
namespace {

constexpr double kPi = 3.14159265358979323846;

absl::Status BadArgument(const char* arg, const std::string& message) {
  return absl::InvalidArgumentError(absl::StrCat(arg, ": ", message));
}

absl::Status CheckFinite(const char* arg, double value) {
  if (!std::isfinite(value)) return BadArgument(arg, "must be a finite number");
  return absl::OkStatus();
}

}  // namespace

LRScheduler::LRScheduler(torch::optim::Optimizer& optimizer) : optimizer_(optimizer) {
  base_lrs_ = get_current_lrs();
}

void LRScheduler::step() {
  ++last_epoch_;
  const std::vector<double> learning_rates = get_lrs();
  auto& groups = optimizer_.param_groups();
  for (size_t i = 0; i < groups.size(); ++i) {
    groups[i].options().set_lr(learning_rates[i]);
  }
}

std::vector<double> LRScheduler::get_current_lrs() const {
  std::vector<double> learning_rates;
  for (const auto& group : optimizer_.param_groups()) {
    learning_rates.push_back(group.options().get_lr());
  }
  return learning_rates;
}

absl::Status StepLROptions::Validate() const {
  // torch would divide by zero (last_epoch % step_size) at the first step.
  if (step_size() < 1) {
    return BadArgument("step_size", absl::StrCat("must be >= 1, got ", step_size()));
  }
  return CheckFinite("gamma", gamma());
}

StepLR::StepLR(torch::optim::Optimizer& optimizer, const StepLROptions& options)
    : LRScheduler(optimizer), options_(options) {}

std::vector<double> StepLR::get_lrs() {
  std::vector<double> learning_rates = get_current_lrs();
  if (last_epoch_ == 0 || last_epoch_ % options_.step_size() != 0) return learning_rates;
  for (double& lr : learning_rates) lr *= options_.gamma();
  return learning_rates;
}

absl::Status MultiStepLROptions::Validate() const { return CheckFinite("gamma", gamma()); }

MultiStepLR::MultiStepLR(torch::optim::Optimizer& optimizer, const MultiStepLROptions& options)
    : LRScheduler(optimizer), options_(options) {}

std::vector<double> MultiStepLR::get_lrs() {
  std::vector<double> learning_rates = get_current_lrs();
  const auto& milestones = options_.milestones();
  const auto times = std::count(milestones.begin(), milestones.end(), last_epoch_);
  if (times == 0) return learning_rates;
  // torch: group['lr'] * self.gamma ** self.milestones[self.last_epoch]
  const double decay = std::pow(options_.gamma(), static_cast<double>(times));
  for (double& lr : learning_rates) lr *= decay;
  return learning_rates;
}

absl::Status ExponentialLROptions::Validate() const { return CheckFinite("gamma", gamma()); }

ExponentialLR::ExponentialLR(torch::optim::Optimizer& optimizer,
                             const ExponentialLROptions& options)
    : LRScheduler(optimizer), options_(options) {}

std::vector<double> ExponentialLR::get_lrs() {
  std::vector<double> learning_rates = get_current_lrs();
  if (last_epoch_ == 0) return learning_rates;
  for (double& lr : learning_rates) lr *= options_.gamma();
  return learning_rates;
}

absl::Status CosineAnnealingLROptions::Validate() const {
  // torch would divide by zero (pi / T_max) at the first step.
  if (T_max() < 1) return BadArgument("T_max", absl::StrCat("must be >= 1, got ", T_max()));
  return CheckFinite("eta_min", eta_min());
}

CosineAnnealingLR::CosineAnnealingLR(torch::optim::Optimizer& optimizer,
                                     const CosineAnnealingLROptions& options)
    : LRScheduler(optimizer), options_(options) {}

std::vector<double> CosineAnnealingLR::get_lrs() {
  std::vector<double> learning_rates = get_current_lrs();
  if (last_epoch_ == 0) return learning_rates;
  // torch's `_step_count == 1 and last_epoch > 0` branch only serves a
  // scheduler constructed at a later epoch, which ours never is.
  const double epoch = static_cast<double>(last_epoch_);
  const double t_max = static_cast<double>(options_.T_max());
  const double eta_min = options_.eta_min();
  if ((last_epoch_ - 1 - options_.T_max()) % (2 * options_.T_max()) == 0) {
    // The minimum was passed: climb back by the first step's amount, which
    // the ratio below cannot express (its denominator would be zero).
    for (size_t i = 0; i < learning_rates.size(); ++i) {
      learning_rates[i] += (base_lrs()[i] - eta_min) * (1 - std::cos(kPi / t_max)) / 2;
    }
    return learning_rates;
  }
  for (double& lr : learning_rates) {
    lr = (1 + std::cos(kPi * epoch / t_max)) / (1 + std::cos(kPi * (epoch - 1) / t_max)) *
             (lr - eta_min) +
         eta_min;
  }
  return learning_rates;
}

absl::Status ReduceLROnPlateauOptions::Validate() const {
  if (!(factor() < 1.0)) {
    return BadArgument("factor", absl::StrCat("must be < 1.0, got ", factor()));
  }
  if (patience() < 0) {
    return BadArgument("patience", absl::StrCat("must be >= 0, got ", patience()));
  }
  if (cooldown() < 0) {
    return BadArgument("cooldown", absl::StrCat("must be >= 0, got ", cooldown()));
  }
  if (absl::Status status = CheckFinite("threshold", threshold()); !status.ok()) return status;
  if (absl::Status status = CheckFinite("min_lr", min_lr()); !status.ok()) return status;
  return CheckFinite("eps", eps());
}

ReduceLROnPlateau::ReduceLROnPlateau(torch::optim::Optimizer& optimizer,
                                     const ReduceLROnPlateauOptions& options)
    : optimizer_(optimizer), options_(options) {
  // torch's mode_worse: any first value is an improvement.
  best_ = options_.mode() == ReduceLROnPlateauOptions::Mode::kMin
              ? std::numeric_limits<double>::infinity()
              : -std::numeric_limits<double>::infinity();
}

void ReduceLROnPlateau::step(double metric) {
  ++last_epoch_;
  if (IsBetter(metric)) {
    best_ = metric;
    num_bad_epochs_ = 0;
  } else {
    ++num_bad_epochs_;
  }
  if (cooldown_counter_ > 0) {
    --cooldown_counter_;
    num_bad_epochs_ = 0;  // bad epochs during cooldown do not count
  }
  if (num_bad_epochs_ > options_.patience()) {
    ReduceLr();
    cooldown_counter_ = options_.cooldown();
    num_bad_epochs_ = 0;
  }
}

bool ReduceLROnPlateau::IsBetter(double value) const {
  using Mode = ReduceLROnPlateauOptions::Mode;
  using ThresholdMode = ReduceLROnPlateauOptions::ThresholdMode;
  const double threshold = options_.threshold();
  const bool relative = options_.threshold_mode() == ThresholdMode::kRel;
  if (options_.mode() == Mode::kMin) {
    return relative ? value < best_ * (1.0 - threshold) : value < best_ - threshold;
  }
  return relative ? value > best_ * (threshold + 1.0) : value > best_ + threshold;
}

void ReduceLROnPlateau::ReduceLr() {
  for (auto& group : optimizer_.param_groups()) {
    const double old_lr = group.options().get_lr();
    const double new_lr = std::max(old_lr * options_.factor(), options_.min_lr());
    // Decays smaller than eps are not worth applying (torch's rule).
    if (old_lr - new_lr > options_.eps()) group.options().set_lr(new_lr);
  }
}

}  // namespace segtune::optim
