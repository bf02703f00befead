// Optimizer traces (design.md section 6): one optimizer, and optionally one
// LR scheduler, driven with given gradients, recording the parameters and
// the learning rate after every step. `segtune-worker optim-trace` prints
// RunTrace's result, and the parity suite (tests/optim/parity/) compares it
// with torch.optim's trajectory for the same case.
//
// A case:
//   {"optimizer": {"name": "Adadelta", "lr": 1.0, ...},
//    "scheduler": {"name": "CosineAnnealingLR", "T_max": 10, ...},  optional
//    "params":  [[0.5, -1.2, 3.0], [1.0, 2.0]],
//    "grads":   [<step 1: one value per param, shaped like it>, ...],
//    "metrics": [<one number per step>],                            optional
//    "budget":  {"epochs": E, "steps_per_epoch": S}}                optional
// Each step sets every parameter's gradient, calls optimizer.step(), then
// scheduler.step() (step(metric) for ReduceLROnPlateau), then records. The
// result: {"params": [<per step: the params after it, shaped as given>],
//          "lr": [<per step: param group 0's lr after the scheduler step>]}.
//
// What the contract leaves open, decided here:
// - Arithmetic is float64: params, grads and the optimizer state are
//   torch::kFloat64 tensors; the optimizer's own scalar state keeps torch's
//   dtypes (as torch.optim does without changing the default dtype).
// - A param is a number (a 0-d tensor) or a rectangular nested list of
//   numbers of any depth (a tensor of that shape; empty dimensions are
//   allowed). Results come back in the same shape, 0-d ones as numbers.
// - All params form one param group built from the optimizer's arguments.
// - Arguments are the factory's (factory.h): torch's names and defaults,
//   segtune's aliases, and segtune's own arguments and checks, which apply
//   unchanged (ReduceLROnPlateau with mode "max" needs a `monitor` that is a
//   score, e.g. "val_miou", even though the trace passes `metrics` as given).
// - Budget expressions among the scheduler's arguments ("T_max": "epochs")
//   are evaluated with "budget", whose epochs default to the number of steps
//   and steps_per_epoch to 1.
// - The scheduler is stepped once per step, whatever its `interval`.
// - "metrics" is required when the scheduler watches a metric
//   (ReduceLROnPlateau) and then holds one number per step; others ignore it.
// - LBFGS is refused: it re-evaluates the loss through a closure, which
//   fixed gradients cannot provide.
// - At least one step; every value must stay finite, since JSON cannot
//   represent NaN or infinity (a step producing one is an error naming it).
// Errors are InvalidArgument, naming the offending field
// ("grads[3][1]: shape [2] does not match params[1], shape [3]") or the
// argument ("optimizer.betas: ...", "scheduler.schedulers[1].T_max: ...").
//
// Thread-safety: RunTrace is safe from any thread; each call builds its own
// optimizer and scheduler.
#pragma once

#include <nlohmann/json.hpp>

#include "absl/status/statusor.h"

namespace segtune::optim {

absl::StatusOr<nlohmann::json> RunTrace(const nlohmann::json& trace_case);

}  // namespace segtune::optim
