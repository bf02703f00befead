// torch/optim/lr_scheduler.py's OneCycleLR, in its order of operations.
#include "segtune/optim/one_cycle_lr.h"

#include <cmath>
#include <stdexcept>
#include <tuple>
#include <utility>

#include "absl/strings/str_cat.h"
#include "lr_scheduler_internal.h"
#include "segtune/optim/hyperparameters.h"

namespace segtune::optim {

using namespace internal;  // NOLINT: the schedulers' shared helpers

namespace {

absl::Status CheckPositiveSteps(const char* arg, const std::optional<int64_t>& value) {
  if (value && *value > 0) return absl::OkStatus();
  return BadArgument(
      arg, absl::StrCat("must be a positive integer, got ", value ? absl::StrCat(*value) : "none",
                        " (torch: Expected positive integer ", arg, ")"));
}

}  // namespace

absl::Status OneCycleLROptions::Validate() const {
  if (!total_steps() && !epochs() && !steps_per_epoch()) {
    return BadArgument("total_steps",
                       "is required unless epochs and steps_per_epoch are given (torch: You must "
                       "define either total_steps OR (epochs AND steps_per_epoch))");
  }
  if (total_steps()) {
    if (absl::Status status = CheckPositiveSteps("total_steps", total_steps()); !status.ok()) {
      return status;
    }
  } else {
    if (absl::Status status = CheckPositiveSteps("epochs", epochs()); !status.ok()) return status;
    if (absl::Status status = CheckPositiveSteps("steps_per_epoch", steps_per_epoch());
        !status.ok()) {
      return status;
    }
  }
  if (absl::Status status = CheckInRange("pct_start", pct_start(), 0.0, 1.0,
                                         "Expected float between 0 and 1 pct_start");
      !status.ok()) {
    return status;
  }
  for (const auto& [arg, value] : {std::pair<const char*, double>{"max_lr", max_lr()},
                                   {"base_momentum", base_momentum()},
                                   {"max_momentum", max_momentum()}}) {
    if (absl::Status status = CheckFinite(arg, value); !status.ok()) return status;
  }
  // torch divides by both when it constructs the schedule.
  for (const auto& [arg, value] : {std::pair<const char*, double>{"div_factor", div_factor()},
                                   {"final_div_factor", final_div_factor()}}) {
    if (!(value > 0) || !std::isfinite(value)) {
      return BadArgument(arg, absl::StrCat("must be a finite number > 0, got ", value));
    }
  }
  return absl::OkStatus();
}

int64_t OneCycleLROptions::TotalSteps() const {
  return total_steps() ? *total_steps() : *epochs() * *steps_per_epoch();
}

OneCycleLR::OneCycleLR(torch::optim::Optimizer& optimizer, const OneCycleLROptions& options,
                       std::shared_ptr<ParamGroupEntries> entries)
    : EpochLRScheduler(optimizer, std::move(entries)), options_(options) {
  ThrowIfError(options_.Validate());
  total_steps_ = options_.TotalSteps();
  const double total_steps = static_cast<double>(total_steps_);
  const double pct_start = options_.pct_start();
  using Keys = ParamGroupEntries;
  if (options_.three_phase()) {
    phases_ = {
        {pct_start * total_steps - 1, &Keys::initial_lr, &Keys::max_lr, &Keys::max_momentum,
         &Keys::base_momentum},
        {2 * pct_start * total_steps - 2, &Keys::max_lr, &Keys::initial_lr, &Keys::base_momentum,
         &Keys::max_momentum},
        {total_steps - 1, &Keys::initial_lr, &Keys::min_lr, &Keys::max_momentum,
         &Keys::max_momentum},
    };
  } else {
    phases_ = {
        {pct_start * total_steps - 1, &Keys::initial_lr, &Keys::max_lr, &Keys::max_momentum,
         &Keys::base_momentum},
        {total_steps - 1, &Keys::max_lr, &Keys::min_lr, &Keys::base_momentum, &Keys::max_momentum},
    };
  }

  auto& groups = optimizer.param_groups();
  ParamGroupEntries& keys = *this->entries();
  const double initial_lr = options_.max_lr() / options_.div_factor();
  keys.initial_lr.assign(groups.size(), initial_lr);
  keys.max_lr.assign(groups.size(), options_.max_lr());
  keys.min_lr.assign(groups.size(), initial_lr / options_.final_div_factor());

  if (options_.cycle_momentum()) {
    const torch::optim::OptimizerOptions& defaults = optimizer.defaults();
    if (!GetMomentum(defaults) && !GetBetas(defaults)) {
      throw std::invalid_argument(
          "cycle_momentum: the optimizer has neither momentum nor betas; set cycle_momentum to "
          "false (torch: optimizer must support momentum with `cycle_momentum` option enabled)");
    }
    use_beta1_ = GetBetas(defaults).has_value();
    for (auto& group : groups) {
      if (use_beta1_) {
        SetBetas(group.options(),
                 {options_.max_momentum(), std::get<1>(*GetBetas(group.options()))});
      } else {
        SetMomentum(group.options(), options_.max_momentum());
      }
    }
    keys.max_momentum.assign(groups.size(), options_.max_momentum());
    keys.base_momentum.assign(groups.size(), options_.base_momentum());
  }
  Start();
}

double OneCycleLR::Anneal(double start, double end, double pct) const {
  if (options_.anneal_strategy() == OneCycleLROptions::AnnealStrategy::kLinear) {
    return (end - start) * pct + start;
  }
  const double cos_out = std::cos(kPi * pct) + 1;
  return end + (start - end) / 2.0 * cos_out;
}

absl::StatusOr<std::vector<double>> OneCycleLR::get_lr() {
  const int64_t step_num = last_epoch_;
  if (step_num > total_steps_) {
    return BadArgument(
        "total_steps",
        absl::StrCat("OneCycleLR cannot be stepped more than ", total_steps_,
                     " times (torch: Tried to step ", step_num + 1,
                     " times. The specified number of total steps is ", total_steps_, ")"));
  }
  auto& groups = optimizer().param_groups();
  std::vector<double> lrs;
  std::vector<double> momentums;
  for (size_t group = 0; group < groups.size(); ++group) {
    double start_step = 0;
    for (size_t i = 0; i < phases_.size(); ++i) {
      const Phase& phase = phases_[i];
      if (step_num <= phase.end_step || i == phases_.size() - 1) {
        const double pct =
            (static_cast<double>(step_num) - start_step) / (phase.end_step - start_step);
        lrs.push_back(Anneal(EntryOf(phase.start_lr, group), EntryOf(phase.end_lr, group), pct));
        if (options_.cycle_momentum()) {
          momentums.push_back(Anneal(EntryOf(phase.start_momentum, group),
                                     EntryOf(phase.end_momentum, group), pct));
        }
        break;
      }
      start_step = phase.end_step;
    }
  }
  // A phase without steps (e.g. pct_start * total_steps == 1) divides by
  // zero, where torch raises ZeroDivisionError before setting anything.
  for (double lr : lrs) {
    if (!std::isfinite(lr)) {
      return BadArgument("pct_start",
                         absl::StrCat("a phase of the schedule has no steps at step ", step_num,
                                      " (pct_start * total_steps is ",
                                      options_.pct_start() * static_cast<double>(total_steps_),
                                      "; torch divides by zero)"));
    }
  }
  for (size_t group = 0; group < momentums.size(); ++group) {
    torch::optim::OptimizerOptions& options = groups[group].options();
    if (use_beta1_) {
      SetBetas(options, {momentums[group], std::get<1>(*GetBetas(options))});
    } else {
      SetMomentum(options, momentums[group]);
    }
  }
  return lrs;
}

void OneCycleLR::save(torch::serialize::OutputArchive& archive) const {
  EpochLRScheduler::save(archive);
  const ParamGroupEntries& keys = *entries();
  WriteDoubles(archive, "initial_lr", keys.initial_lr);
  WriteDoubles(archive, "max_lr", keys.max_lr);
  WriteDoubles(archive, "min_lr", keys.min_lr);
  WriteDoubles(archive, "max_momentum", keys.max_momentum);
  WriteDoubles(archive, "base_momentum", keys.base_momentum);
}

void OneCycleLR::load(torch::serialize::InputArchive& archive) {
  EpochLRScheduler::load(archive);
  ParamGroupEntries& keys = *entries();
  keys.initial_lr = ReadDoubles(archive, "initial_lr");
  keys.max_lr = ReadDoubles(archive, "max_lr");
  keys.min_lr = ReadDoubles(archive, "min_lr");
  keys.max_momentum = ReadDoubles(archive, "max_momentum");
  keys.base_momentum = ReadDoubles(archive, "base_momentum");
}

}  // namespace segtune::optim
