// Builds our optimizers and LR schedulers from a trial's resolved parameters,
// e.g. {"name": "SGD", "lr": 0.05, "momentum": 0.9} and
// {"name": "StepLR", "step_size": 3, "gamma": 0.5}.
//
// Names and aliases are resolved with the catalog (catalog.h) and arguments
// completed with torch's defaults and checked by catalog::CompleteArgs, so the
// worker accepts exactly what the coordinator validated.
//
// Errors are InvalidArgument naming the argument ("optimizer.lr: ...").
//
// Thread-safety: the functions are safe from any thread; what they build
// belongs to the caller's thread.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <torch/optim/optimizer.h>
#include <torch/serialize/archive.h>
#include <nlohmann/json.hpp>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "segtune/optim/catalog.h"

namespace segtune::optim {

// Builds any optimizer of the catalog (or an alias of one) over `parameters`,
// from {"name": ..., <argument>: <value>, ...}. LBFGS is LibTorch's; the
// others are ours (sgd.h, adam.h, ...). Every one accepts a loss closure in
// step(), and LBFGS requires one.
absl::StatusOr<std::unique_ptr<torch::optim::Optimizer>> MakeOptimizer(
    const nlohmann::json& params, std::vector<torch::Tensor> parameters);

// Whether the optimizer `params` name must be stepped with a closure that
// re-evaluates the loss (LBFGS).
bool NeedsLossClosure(const nlohmann::json& params);

// When a schedule advances: after every epoch, or after every optimizer step.
enum class Interval { kEpoch, kStep };

// A learning-rate schedule of any kind, with segtune's stepping arguments:
// `interval` (epoch or step; OneCycleLR and CyclicLR default to step) and,
// for ReduceLROnPlateau, `monitor` (the metric it watches, default val_loss).
class Scheduler {
 public:
  virtual ~Scheduler() = default;

  Interval interval() const { return interval_; }

  // The metric ReduceLROnPlateau is stepped with; empty for the others.
  const std::string& monitor() const { return monitor_; }

  // One torch `scheduler.step()`, or `step(metric)` for ReduceLROnPlateau,
  // which requires `metric` (the others ignore it).
  virtual absl::Status Step(std::optional<double> metric) = 0;

  // PBT's exploit: continues as a run whose initial lrs were `scale` (> 0)
  // times larger would (LRScheduler::Rescale, ReduceLROnPlateau::Rescale);
  // sets the optimizer's lrs. Use ScaleLearningRate (exploit.h), which
  // checks `scale`.
  virtual absl::Status Rescale(double scale) = 0;

  // The schedule's whole state (epoch counters, base lrs, plateau counters,
  // ...). Loading it into a scheduler built from the same params over an
  // optimizer whose state was loaded too continues exactly where the saved
  // one stopped.
  virtual void save(torch::serialize::OutputArchive& archive) const = 0;
  virtual void load(torch::serialize::InputArchive& archive) = 0;

 protected:
  Scheduler(Interval interval, std::string monitor)
      : interval_(interval), monitor_(std::move(monitor)) {}

 private:
  Interval interval_;
  std::string monitor_;
};

// Builds any scheduler of the catalog (or an alias of one) driving
// `optimizer`, which must outlive the result. Budget expressions among the
// arguments (`T_max: epochs`, `total_steps: epochs * steps_per_epoch`) are
// evaluated with `budget`.
absl::StatusOr<std::unique_ptr<Scheduler>> MakeScheduler(const nlohmann::json& params,
                                                         torch::optim::Optimizer& optimizer,
                                                         const Budget& budget);

}  // namespace segtune::optim
