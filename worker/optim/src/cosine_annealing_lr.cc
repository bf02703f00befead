// torch/optim/lr_scheduler.py's CosineAnnealingLR and
// CosineAnnealingWarmRestarts, in its order of operations.
#include "segtune/optim/cosine_annealing_lr.h"

#include <cmath>
#include <utility>

#include "absl/strings/str_cat.h"
#include "lr_scheduler_internal.h"

namespace segtune::optim {

using namespace internal;  // NOLINT: the schedulers' shared helpers

absl::Status CosineAnnealingLROptions::Validate() const {
  // torch would divide by zero (pi / T_max) at the first step.
  if (T_max() < 1) return BadArgument("T_max", absl::StrCat("must be >= 1, got ", T_max()));
  return CheckFinite("eta_min", eta_min());
}

CosineAnnealingLR::CosineAnnealingLR(torch::optim::Optimizer& optimizer,
                                     const CosineAnnealingLROptions& options,
                                     std::shared_ptr<ParamGroupEntries> entries)
    : EpochLRScheduler(optimizer, std::move(entries)), options_(options) {
  ThrowIfError(options_.Validate());
  Start();
}

absl::StatusOr<std::vector<double>> CosineAnnealingLR::get_lr() {
  std::vector<double> lrs = current_lrs();
  if (last_epoch_ == 0) return lrs;
  // torch's `_step_count == 1 and last_epoch > 0` branch serves schedulers
  // constructed with last_epoch >= 0; ours start at -1, as do the inner
  // schedulers SequentialLR rewinds before their initial step.
  const double epoch = static_cast<double>(last_epoch_);
  const double T_max = static_cast<double>(options_.T_max());
  const double eta_min = options_.eta_min();
  if ((last_epoch_ - 1 - options_.T_max()) % (2 * options_.T_max()) == 0) {
    // The minimum was passed: climb back by the first step's amount, which
    // the ratio below cannot express (its denominator would be zero).
    for (size_t i = 0; i < lrs.size(); ++i) {
      lrs[i] = lrs[i] + (base_lrs_[i] - eta_min) * (1 - std::cos(kPi / T_max)) / 2;
    }
    return lrs;
  }
  for (double& lr : lrs) {
    lr = (1 + std::cos(kPi * epoch / T_max)) / (1 + std::cos(kPi * (epoch - 1) / T_max)) *
             (lr - eta_min) +
         eta_min;
  }
  return lrs;
}

absl::StatusOr<std::vector<double>> CosineAnnealingLR::closed_form_lr() { return ClosedForm(); }

std::vector<double> CosineAnnealingLR::ClosedForm() const {
  const double eta_min = options_.eta_min();
  const double cosine =
      std::cos(kPi * static_cast<double>(last_epoch_) / static_cast<double>(options_.T_max()));
  std::vector<double> lrs;
  for (double base_lr : base_lrs_) lrs.push_back(eta_min + (base_lr - eta_min) * (1 + cosine) / 2);
  return lrs;
}

std::vector<double> CosineAnnealingLR::ScaleBaseLrs(double scale) {
  EpochLRScheduler::ScaleBaseLrs(scale);
  return ClosedForm();
}

absl::Status CosineAnnealingWarmRestartsOptions::Validate() const {
  if (T_0() < 1) {
    return BadArgument("T_0", absl::StrCat("must be >= 1, got ", T_0(),
                                           " (torch: Expected positive integer T_0)"));
  }
  if (T_mult() < 1) {
    return BadArgument("T_mult", absl::StrCat("must be >= 1, got ", T_mult(),
                                              " (torch: Expected integer T_mult >= 1)"));
  }
  return CheckFinite("eta_min", eta_min());
}

CosineAnnealingWarmRestarts::CosineAnnealingWarmRestarts(
    torch::optim::Optimizer& optimizer, const CosineAnnealingWarmRestartsOptions& options,
    std::shared_ptr<ParamGroupEntries> entries)
    : EpochLRScheduler(optimizer, std::move(entries)),
      options_(options),
      T_i_(options.T_0()),
      T_cur_(-1) {
  ThrowIfError(options_.Validate());
  Start();
}

namespace {

int64_t IntegerPower(int64_t base, int64_t exponent) {
  int64_t result = 1;
  for (int64_t i = 0; i < exponent; ++i) result *= base;
  return result;
}

}  // namespace

absl::Status CosineAnnealingWarmRestarts::Advance(std::optional<int64_t> epoch) {
  // Unlike _LRScheduler.step, torch's step here leaves _step_count alone.
  if (!epoch && last_epoch_ < 0) epoch = 0;
  const int64_t T_0 = options_.T_0();
  const int64_t T_mult = options_.T_mult();
  if (!epoch) {
    epoch = last_epoch_ + 1;
    T_cur_ = T_cur_ + 1;
    if (T_cur_ >= T_i_) {
      T_cur_ = T_cur_ - T_i_;
      T_i_ = T_i_ * T_mult;
    }
  } else if (*epoch < 0) {
    return BadArgument("epoch", absl::StrCat("must be >= 0, got ", *epoch,
                                             " (torch: Expected non-negative epoch)"));
  } else if (*epoch >= T_0) {
    if (T_mult == 1) {
      T_cur_ = *epoch % T_0;
    } else {
      // torch: int(math.log((epoch / T_0 * (T_mult - 1) + 1), T_mult)), the
      // number of whole cycles before `epoch`.
      const int64_t n =
          static_cast<int64_t>(std::log(static_cast<double>(*epoch) / static_cast<double>(T_0) *
                                            static_cast<double>(T_mult - 1) +
                                        1) /
                               std::log(static_cast<double>(T_mult)));
      // The epochs of those cycles, T_0 * (T_mult^n - 1) / (T_mult - 1), are
      // a whole number, as torch's float quotient is.
      T_cur_ = *epoch - T_0 * (IntegerPower(T_mult, n) - 1) / (T_mult - 1);
      T_i_ = T_0 * IntegerPower(T_mult, n);
    }
  } else {
    T_i_ = T_0;
    T_cur_ = *epoch;
  }
  last_epoch_ = *epoch;
  return SetLrs(get_lr());
}

absl::StatusOr<std::vector<double>> CosineAnnealingWarmRestarts::get_lr() { return ClosedForm(); }

std::vector<double> CosineAnnealingWarmRestarts::ScaleBaseLrs(double scale) {
  EpochLRScheduler::ScaleBaseLrs(scale);
  return ClosedForm();
}

std::vector<double> CosineAnnealingWarmRestarts::ClosedForm() const {
  const double eta_min = options_.eta_min();
  const double cosine = std::cos(kPi * static_cast<double>(T_cur_) / static_cast<double>(T_i_));
  std::vector<double> lrs;
  for (double base_lr : base_lrs_) lrs.push_back(eta_min + (base_lr - eta_min) * (1 + cosine) / 2);
  return lrs;
}

void CosineAnnealingWarmRestarts::save(torch::serialize::OutputArchive& archive) const {
  EpochLRScheduler::save(archive);
  WriteInt(archive, "T_i", T_i_);
  WriteInt(archive, "T_cur", T_cur_);
}

void CosineAnnealingWarmRestarts::load(torch::serialize::InputArchive& archive) {
  EpochLRScheduler::load(archive);
  T_i_ = ReadInt(archive, "T_i");
  T_cur_ = ReadInt(archive, "T_cur");
}

}  // namespace segtune::optim
