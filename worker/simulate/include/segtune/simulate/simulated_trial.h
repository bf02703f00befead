// `segtune-worker --simulate`: a trial function that trains nothing. It
// reports, epoch by epoch, synthetic learning curves shaped like real ones
// (the lr follows the trial's own scheduler; the loss falls with the
// integrated lr times an optimizer-dependent efficiency that has a sweet spot
// in lr; val_miou rises towards an asymptote set by the configuration; too
// large an lr diverges) at a chosen pace, so that hundreds of slots fit on one
// machine for load tests, benchmarks and trying out the coordinator, the
// dashboards and the searchers without GPUs. docs/simulate.md describes the
// curve model.
//
// The numbers (every metric except epoch_seconds and images_per_second, which
// measure the actual pace) are a pure function of the trial's config
// (training.seed included) and the epoch: whichever worker runs whichever
// epoch, and whether an attempt resumes from a checkpoint or replays, a trial
// reports the same values. It honours RunTrial's contract
// (segtune/train/trainer.h): start_epoch, resume_from, on_checkpoint,
// should_abort, on_epoch, on_batch, lr_range and exploit, and the same
// outcomes and reasons. TrainOptions::device and on_load_progress are not
// used: nothing is loaded and no device is touched.
//
// Thread-safety: the returned function may run on several threads at once;
// each call keeps its state on its own stack.
#pragma once

#include <functional>

#include <nlohmann/json.hpp>

#include "segtune/train/trainer.h"

namespace segtune::simulate {

struct SimulateOptions {
  // Wall-clock seconds each epoch takes (>= 0 and finite; 0: as fast as the
  // callbacks allow). The time is spread over the epoch's batches.
  double epoch_seconds = 0.5;
};

// A trial function with segtune::train::RunTrial's signature and contract
// (agent::TrialFunction). REQUIRES: options.epoch_seconds >= 0 and finite.
std::function<train::TrialResult(const nlohmann::json&, const train::TrainOptions&)>
SimulatedTrialFunction(SimulateOptions options);

}  // namespace segtune::simulate
