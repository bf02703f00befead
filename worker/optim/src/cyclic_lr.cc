// torch/optim/lr_scheduler.py's CyclicLR, in its order of operations.
#include "segtune/optim/cyclic_lr.h"

#include <cmath>
#include <stdexcept>
#include <utility>

#include "absl/strings/str_cat.h"
#include "lr_scheduler_internal.h"
#include "segtune/optim/hyperparameters.h"

namespace segtune::optim {

using namespace internal;  // NOLINT: the schedulers' shared helpers

absl::Status CyclicLROptions::Validate() const {
  for (const auto& [arg, value] : {std::pair<const char*, double>{"base_lr", base_lr()},
                                   {"max_lr", max_lr()},
                                   {"gamma", gamma()},
                                   {"base_momentum", base_momentum()},
                                   {"max_momentum", max_momentum()}}) {
    if (absl::Status status = CheckFinite(arg, value); !status.ok()) return status;
  }
  // torch would divide by zero (x / step_ratio) at the initial step.
  if (step_size_up() < 1) {
    return BadArgument("step_size_up", absl::StrCat("must be >= 1, got ", step_size_up()));
  }
  if (step_size_down() && *step_size_down() < 0) {
    return BadArgument("step_size_down", absl::StrCat("must be >= 0, got ", *step_size_down()));
  }
  return absl::OkStatus();
}

CyclicLR::CyclicLR(torch::optim::Optimizer& optimizer, const CyclicLROptions& options,
                   std::shared_ptr<ParamGroupEntries> entries)
    : EpochLRScheduler(optimizer, std::move(entries)),
      options_(options),
      max_lr_(options.max_lr()) {
  ThrowIfError(options_.Validate());
  auto& groups = optimizer.param_groups();
  for (auto& group : groups) group.options().set_lr(options_.base_lr());
  const double step_size_up = static_cast<double>(options_.step_size_up());
  const double step_size_down =
      options_.step_size_down() ? static_cast<double>(*options_.step_size_down()) : step_size_up;
  total_size_ = step_size_up + step_size_down;
  step_ratio_ = step_size_up / total_size_;
  if (options_.cycle_momentum()) {
    if (!GetMomentum(optimizer.defaults())) {
      throw std::invalid_argument(
          "cycle_momentum: the optimizer has no momentum; set cycle_momentum to false (torch: "
          "optimizer must support momentum with `cycle_momentum` option enabled)");
    }
    for (auto& group : groups) SetMomentum(group.options(), options_.base_momentum());
  }
  Start();
  // torch's initial step above used the base lrs from `initial_lr`, which
  // another scheduler of the optimizer may have set; from now on, base_lr.
  base_lrs_.assign(groups.size(), options_.base_lr());
}

absl::StatusOr<std::vector<double>> CyclicLR::get_lr() {
  const double epoch = static_cast<double>(last_epoch_);
  const double cycle = std::floor(1 + epoch / total_size_);
  const double x = 1. + epoch / total_size_ - cycle;
  const double scale_factor = x <= step_ratio_ ? x / step_ratio_ : (x - 1) / (step_ratio_ - 1);
  double scale = 1.;
  switch (options_.mode()) {
    case CyclicLROptions::Mode::kTriangular:
      break;
    case CyclicLROptions::Mode::kTriangular2:
      scale = 1 / std::pow(2., cycle - 1);
      break;
    case CyclicLROptions::Mode::kExpRange:
      scale = std::pow(options_.gamma(), epoch);
      break;
  }
  std::vector<double> lrs;
  for (double base_lr : base_lrs_) {
    lrs.push_back(base_lr + (max_lr_ - base_lr) * scale_factor * scale);
  }
  if (options_.cycle_momentum()) {
    const double max_momentum = options_.max_momentum();
    const double momentum =
        max_momentum - (max_momentum - options_.base_momentum()) * scale_factor * scale;
    for (auto& group : optimizer().param_groups()) SetMomentum(group.options(), momentum);
  }
  return lrs;
}

std::vector<double> CyclicLR::ScaleBaseLrs(double scale) {
  max_lr_ *= scale;
  return EpochLRScheduler::ScaleBaseLrs(scale);
}

void CyclicLR::save(torch::serialize::OutputArchive& archive) const {
  EpochLRScheduler::save(archive);
  WriteDouble(archive, "max_lr", max_lr_);
}

void CyclicLR::load(torch::serialize::InputArchive& archive) {
  EpochLRScheduler::load(archive);
  c10::IValue max_lr;
  max_lr_ = archive.try_read("max_lr", max_lr) ? max_lr.toDouble() : options_.max_lr();
}

}  // namespace segtune::optim
