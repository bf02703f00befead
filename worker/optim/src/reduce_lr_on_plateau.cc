// torch/optim/lr_scheduler.py's ReduceLROnPlateau.
#include "segtune/optim/reduce_lr_on_plateau.h"

#include <algorithm>
#include <limits>

#include "absl/strings/str_cat.h"
#include "lr_scheduler_internal.h"

namespace segtune::optim {

using namespace internal;  // NOLINT: the schedulers' shared helpers

absl::Status ReduceLROnPlateauOptions::Validate() const {
  if (!(factor() < 1.0)) {
    return BadArgument("factor", absl::StrCat("must be < 1.0, got ", factor(),
                                              " (torch: Factor should be < 1.0.)"));
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
  ThrowIfError(options_.Validate());
  // torch's mode_worse: any first value is an improvement.
  best_ = options_.mode() == ReduceLROnPlateauOptions::Mode::kMin
              ? std::numeric_limits<double>::infinity()
              : -std::numeric_limits<double>::infinity();
  last_lr_ = current_lrs();
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
  last_lr_ = current_lrs();
}

bool ReduceLROnPlateau::IsBetter(double value) const {
  using Mode = ReduceLROnPlateauOptions::Mode;
  using ThresholdMode = ReduceLROnPlateauOptions::ThresholdMode;
  const double threshold = options_.threshold();
  const bool relative = options_.threshold_mode() == ThresholdMode::kRel;
  if (options_.mode() == Mode::kMin) {
    return relative ? value < best_ * (1. - threshold) : value < best_ - threshold;
  }
  return relative ? value > best_ * (threshold + 1.) : value > best_ + threshold;
}

void ReduceLROnPlateau::ReduceLr() {
  for (auto& group : optimizer_.param_groups()) {
    const double old_lr = group.options().get_lr();
    const double new_lr = std::max(old_lr * options_.factor(), options_.min_lr());
    // Decays smaller than eps are not worth applying (torch's rule).
    if (old_lr - new_lr > options_.eps()) group.options().set_lr(new_lr);
  }
}

void ReduceLROnPlateau::Rescale(double scale) {
  for (auto& group : optimizer_.param_groups()) {
    group.options().set_lr(group.options().get_lr() * scale);
  }
  last_lr_ = current_lrs();
}

std::vector<double> ReduceLROnPlateau::current_lrs() const {
  std::vector<double> lrs;
  for (const auto& group : optimizer_.param_groups()) lrs.push_back(group.options().get_lr());
  return lrs;
}

void ReduceLROnPlateau::save(torch::serialize::OutputArchive& archive) const {
  archive.write("name", c10::IValue(std::string("ReduceLROnPlateau")));
  WriteDouble(archive, "best", best_);
  WriteInt(archive, "num_bad_epochs", num_bad_epochs_);
  WriteInt(archive, "cooldown_counter", cooldown_counter_);
  WriteInt(archive, "last_epoch", last_epoch_);
  WriteDoubles(archive, "_last_lr", last_lr_);
}

void ReduceLROnPlateau::load(torch::serialize::InputArchive& archive) {
  c10::IValue name;
  archive.read("name", name);
  TORCH_CHECK(name.isString() && name.toStringRef() == "ReduceLROnPlateau",
              "cannot load the state of ", name.isString() ? name.toStringRef() : "something",
              " into ReduceLROnPlateau");
  best_ = ReadDouble(archive, "best");
  num_bad_epochs_ = ReadInt(archive, "num_bad_epochs");
  cooldown_counter_ = ReadInt(archive, "cooldown_counter");
  last_epoch_ = ReadInt(archive, "last_epoch");
  last_lr_ = ReadDoubles(archive, "_last_lr");
}

}  // namespace segtune::optim
