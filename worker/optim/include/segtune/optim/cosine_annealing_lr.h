// Cosine annealing (SGDR, https://arxiv.org/abs/1608.03983): without restarts
// (CosineAnnealingLR) and with them (CosineAnnealingWarmRestarts), computing
// PyTorch 1.13's values. See lr_scheduler.h for what all schedulers share.
//
// Thread-safety: none. A scheduler and its optimizer belong to one thread.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <vector>

#include <torch/arg.h>
#include <torch/optim/optimizer.h>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "segtune/optim/lr_scheduler.h"

namespace segtune::optim {

struct CosineAnnealingLROptions {
  explicit CosineAnnealingLROptions(int64_t T_max) : T_max_(T_max) {}
  absl::Status Validate() const;

  TORCH_ARG(int64_t, T_max);
  TORCH_ARG(double, eta_min) = 0.0;
};

// Anneals the lr from its base value to eta_min over T_max epochs along a
// cosine, then back up, as torch's recursive formula does past T_max.
class CosineAnnealingLR final : public EpochLRScheduler {
 public:
  CosineAnnealingLR(torch::optim::Optimizer& optimizer, const CosineAnnealingLROptions& options,
                    std::shared_ptr<ParamGroupEntries> entries = nullptr);
  const char* name() const override { return "CosineAnnealingLR"; }

 private:
  absl::StatusOr<std::vector<double>> get_lr() override;
  absl::StatusOr<std::vector<double>> closed_form_lr() override;
  // The closed form: eta_min is not scaled, so the lrs are not
  // proportional to the base lrs.
  std::vector<double> ScaleBaseLrs(double scale) override;
  std::vector<double> ClosedForm() const;

  CosineAnnealingLROptions options_;
};

struct CosineAnnealingWarmRestartsOptions {
  explicit CosineAnnealingWarmRestartsOptions(int64_t T_0) : T_0_(T_0) {}
  absl::Status Validate() const;

  TORCH_ARG(int64_t, T_0);
  TORCH_ARG(int64_t, T_mult) = 1;
  TORCH_ARG(double, eta_min) = 0.0;
};

// Anneals the lr from its base value towards eta_min along a cosine over T_i
// epochs, then restarts at the base value; T_0 epochs at first, T_i * T_mult
// after each restart.
class CosineAnnealingWarmRestarts final : public EpochLRScheduler {
 public:
  CosineAnnealingWarmRestarts(torch::optim::Optimizer& optimizer,
                              const CosineAnnealingWarmRestartsOptions& options,
                              std::shared_ptr<ParamGroupEntries> entries = nullptr);
  const char* name() const override { return "CosineAnnealingWarmRestarts"; }

  void save(torch::serialize::OutputArchive& archive) const override;
  void load(torch::serialize::InputArchive& archive) override;

 private:
  // torch's own step(epoch=None): counts T_cur within the cycle of T_i
  // epochs, or places `epoch` in its cycle (which must be >= 0).
  absl::Status Advance(std::optional<int64_t> epoch) override;
  absl::StatusOr<std::vector<double>> get_lr() override;
  // get_lr's closed form, as for CosineAnnealingLR.
  std::vector<double> ScaleBaseLrs(double scale) override;
  std::vector<double> ClosedForm() const;

  CosineAnnealingWarmRestartsOptions options_;
  int64_t T_i_;    // the epochs of the current cycle
  int64_t T_cur_;  // the epochs since the last restart
};

}  // namespace segtune::optim
