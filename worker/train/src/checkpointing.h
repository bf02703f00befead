// Turns a trial's training state into a Checkpoint and back.
//
// The weights go through models::SaveWeights (torch.save's format, what
// users export); the rest (optimizer, scheduler, mixed-precision scale, the
// epoch) goes into one torch::serialize archive. Randomness needs no saved
// state: batch order and augmentation are drawn from (seed, epoch, sample).
//
// Thread-safety: none; the state belongs to one trial's thread.
#pragma once

#include <torch/optim/optimizer.h>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "grad_scaler.h"
#include "segtune/models/model.h"
#include "segtune/optim/factory.h"
#include "segtune/train/checkpoint.h"

namespace segtune::train::internal {

// What a checkpoint captures; the pointers are borrowed. scheduler and
// scaler may be null (none configured).
struct TrainingState {
  models::SegmentationModel* model = nullptr;
  torch::optim::Optimizer* optimizer = nullptr;
  optim::Scheduler* scheduler = nullptr;
  GradScaler* scaler = nullptr;
};

Checkpoint SaveCheckpoint(const TrainingState& state, int epoch);

// Loads `checkpoint` into a state built from the same configuration.
// DataLoss naming the part when the bytes cannot be read, InvalidArgument
// when they do not fit the configuration (another model, optimizer or
// scheduler than the checkpoint was made with).
absl::Status RestoreCheckpoint(const Checkpoint& checkpoint, const TrainingState& state);

}  // namespace segtune::train::internal
