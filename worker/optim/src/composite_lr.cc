// torch/optim/lr_scheduler.py's SequentialLR and ChainedScheduler.
#include "segtune/optim/composite_lr.h"

#include <stdexcept>
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "lr_scheduler_internal.h"

namespace segtune::optim {

using namespace internal;  // NOLINT: the schedulers' shared helpers

namespace {

using Schedulers = std::vector<std::unique_ptr<EpochLRScheduler>>;

// torch compares optimizers; ours must share the param-group keys too.
// `optimizer` null: the first scheduler's.
void CheckSameOptimizer(const char* composite, const Schedulers& schedulers,
                        const torch::optim::Optimizer* optimizer) {
  if (schedulers.empty()) {
    throw std::invalid_argument(absl::StrCat("schedulers: ", composite, " needs at least one"));
  }
  if (optimizer == nullptr) optimizer = &schedulers[0]->optimizer();
  for (size_t i = 0; i < schedulers.size(); ++i) {
    if (&schedulers[i]->optimizer() != optimizer) {
      throw std::invalid_argument(
          absl::StrCat("schedulers[", i, "]: ", composite,
                       " expects all schedulers to belong to the same optimizer"));
    }
    if (schedulers[i]->entries() != schedulers[0]->entries()) {
      throw std::invalid_argument(absl::StrCat(
          "schedulers[", i, "]: was constructed with other ParamGroupEntries than schedulers[0]"));
    }
  }
}

// Python's bisect.bisect_right, probe for probe: torch does not require the
// milestones to be sorted.
size_t BisectRight(const std::vector<int64_t>& values, int64_t x) {
  size_t low = 0;
  size_t high = values.size();
  while (low < high) {
    const size_t middle = (low + high) / 2;
    if (x < values[middle]) {
      high = middle;
    } else {
      low = middle + 1;
    }
  }
  return low;
}

// "schedulers[1]: <message>".
absl::Status InInner(size_t index, const absl::Status& status) {
  if (status.ok()) return status;
  return absl::Status(status.code(), absl::StrCat("schedulers[", index, "]: ", status.message()));
}

std::string InnerKey(size_t index) { return absl::StrCat("_schedulers/", index); }

void SaveInner(const Schedulers& schedulers, torch::serialize::OutputArchive& archive) {
  WriteInt(archive, "_schedulers/size", static_cast<int64_t>(schedulers.size()));
  for (size_t i = 0; i < schedulers.size(); ++i) {
    torch::serialize::OutputArchive inner(archive.compilation_unit());
    schedulers[i]->save(inner);
    archive.write(InnerKey(i), inner);
  }
}

void LoadInner(Schedulers& schedulers, torch::serialize::InputArchive& archive) {
  const int64_t saved = ReadInt(archive, "_schedulers/size");
  TORCH_CHECK(saved == static_cast<int64_t>(schedulers.size()), "cannot load the state of ", saved,
              " inner schedulers into ", schedulers.size());
  for (size_t i = 0; i < schedulers.size(); ++i) {
    torch::serialize::InputArchive inner;
    archive.read(InnerKey(i), inner);
    schedulers[i]->load(inner);
  }
}

}  // namespace

SequentialLR::SequentialLR(torch::optim::Optimizer& optimizer, Schedulers schedulers,
                           std::vector<int64_t> milestones)
    : schedulers_(std::move(schedulers)), milestones_(std::move(milestones)) {
  CheckSameOptimizer("SequentialLR", schedulers_, &optimizer);
  if (milestones_.size() != schedulers_.size() - 1) {
    throw std::invalid_argument(absl::StrCat(
        "milestones: must list one epoch fewer than there are schedulers, got ", milestones_.size(),
        " for ", schedulers_.size(),
        " schedulers (torch: Sequential "
        "Schedulers expects number of schedulers provided to be one more than the number of "
        "milestone points)"));
  }
  auto& groups = optimizer.param_groups();
  const std::vector<double>& initial_lr = schedulers_[0]->entries()->initial_lr;
  for (size_t i = 0; i < groups.size(); ++i) groups[i].options().set_lr(initial_lr[i]);
  for (auto& scheduler : schedulers_) scheduler->last_epoch_ -= 1;
  ThrowIfError(InInner(0, schedulers_[0]->InitialStep()));
  last_lr_ = schedulers_[0]->get_last_lr();
}

absl::Status SequentialLR::step() {
  ++last_epoch_;
  const size_t index = BisectRight(milestones_, last_epoch_);
  EpochLRScheduler& scheduler = *schedulers_[index];
  const bool on_milestone = index > 0 && milestones_[index - 1] == last_epoch_;
  if (absl::Status status = on_milestone ? scheduler.step(0) : scheduler.step(); !status.ok()) {
    return InInner(index, status);
  }
  last_lr_ = scheduler.get_last_lr();
  return absl::OkStatus();
}

absl::Status SequentialLR::Rescale(double scale) {
  // The scheduler step() last stepped; the first one before any step.
  const size_t active = last_epoch_ == 0 ? 0 : BisectRight(milestones_, last_epoch_);
  std::vector<double> lrs;
  for (size_t i = 0; i < schedulers_.size(); ++i) {
    std::vector<double> scaled = schedulers_[i]->ScaleBaseLrs(scale);
    if (i == active) lrs = std::move(scaled);
  }
  schedulers_[0]->entries()->ScaleLrs(scale);
  if (absl::Status status = schedulers_[active]->SetLrs(lrs); !status.ok()) {
    return InInner(active, status);
  }
  last_lr_ = schedulers_[active]->get_last_lr();
  return absl::OkStatus();
}

void SequentialLR::save(torch::serialize::OutputArchive& archive) const {
  SaveName(archive);
  WriteInt(archive, "last_epoch", last_epoch_);
  WriteDoubles(archive, "_last_lr", last_lr_);
  SaveInner(schedulers_, archive);
}

void SequentialLR::load(torch::serialize::InputArchive& archive) {
  LoadName(archive);
  last_epoch_ = ReadInt(archive, "last_epoch");
  last_lr_ = ReadDoubles(archive, "_last_lr");
  LoadInner(schedulers_, archive);
}

ChainedScheduler::ChainedScheduler(Schedulers schedulers) : schedulers_(std::move(schedulers)) {
  CheckSameOptimizer("ChainedScheduler", schedulers_, nullptr);
  last_lr_ = schedulers_.back()->get_last_lr();
}

absl::Status ChainedScheduler::step() {
  for (size_t i = 0; i < schedulers_.size(); ++i) {
    if (absl::Status status = schedulers_[i]->step(); !status.ok()) return InInner(i, status);
  }
  last_lr_ = schedulers_.back()->get_last_lr();
  return absl::OkStatus();
}

absl::Status ChainedScheduler::Rescale(double scale) {
  EpochLRScheduler& last = *schedulers_.back();
  std::vector<double> lrs = last.current_lrs();
  for (double& lr : lrs) lr *= scale;
  for (auto& scheduler : schedulers_) scheduler->ScaleBaseLrs(scale);
  schedulers_[0]->entries()->ScaleLrs(scale);
  if (absl::Status status = last.SetLrs(lrs); !status.ok()) {
    return InInner(schedulers_.size() - 1, status);
  }
  last_lr_ = last.get_last_lr();
  return absl::OkStatus();
}

void ChainedScheduler::save(torch::serialize::OutputArchive& archive) const {
  SaveName(archive);
  WriteDoubles(archive, "_last_lr", last_lr_);
  SaveInner(schedulers_, archive);
}

void ChainedScheduler::load(torch::serialize::InputArchive& archive) {
  LoadName(archive);
  last_lr_ = ReadDoubles(archive, "_last_lr");
  LoadInner(schedulers_, archive);
}

}  // namespace segtune::optim
