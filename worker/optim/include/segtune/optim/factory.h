// Builds LibTorch optimizers and our LR schedulers from a trial's resolved
// parameters, e.g. {"name": "SGD", "lr": 0.05, "momentum": 0.9} and
// {"name": "StepLR", "step_size": 3, "gamma": 0.5}.
//
// Names and aliases are resolved with the catalog (catalog.h) and arguments
// completed with torch's defaults and checked by catalog::CompleteArgs, so the
// worker accepts exactly what the coordinator validated. Arguments LibTorch
// cannot honour (e.g. SGD's `maximize`) are accepted only at torch's default.
//
// Errors are InvalidArgument naming the argument ("optimizer.lr: ..."), or
// Unimplemented for a catalog name this worker cannot build yet.
//
// Thread-safety: the functions are safe from any thread; what they build
// belongs to the caller's thread.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <torch/optim/optimizer.h>
#include <nlohmann/json.hpp>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "segtune/optim/lr_scheduler.h"

namespace segtune::optim {

// Builds SGD, Adam, AdamW, Adagrad or RMSprop (or an alias of one) over
// `parameters`, from {"name": ..., <argument>: <value>, ...}.
absl::StatusOr<std::unique_ptr<torch::optim::Optimizer>> MakeOptimizer(
    const nlohmann::json& params, std::vector<torch::Tensor> parameters);

// A learning-rate scheduler of either kind (epoch-driven LRScheduler or
// ReduceLROnPlateau), stepped once per epoch after the optimizer's steps.
class Scheduler {
 public:
  explicit Scheduler(std::unique_ptr<LRScheduler> by_epoch);
  Scheduler(std::unique_ptr<ReduceLROnPlateau> on_plateau, std::string monitor);

  // `monitored_value` is this epoch's value of monitor(); it is required
  // when monitor() is not empty and ignored otherwise.
  absl::Status Step(std::optional<double> monitored_value);

  // The metric ReduceLROnPlateau watches (its `monitor` argument, default
  // "val_loss"); empty for schedulers driven by the epoch count.
  const std::string& monitor() const { return monitor_; }

 private:
  std::unique_ptr<LRScheduler> by_epoch_;
  std::unique_ptr<ReduceLROnPlateau> on_plateau_;
  std::string monitor_;
};

// Builds StepLR, MultiStepLR, ExponentialLR, CosineAnnealingLR or
// ReduceLROnPlateau (or an alias of one) driving `optimizer`, which must
// outlive the result. ReduceLROnPlateau also takes `monitor`, the name of the
// metric it is stepped with (not a torch argument).
absl::StatusOr<std::unique_ptr<Scheduler>> MakeScheduler(const nlohmann::json& params,
                                                         torch::optim::Optimizer& optimizer);

}  // namespace segtune::optim
