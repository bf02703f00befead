// Trains one trial: builds the dataset, model, optimizer and scheduler a
// trial's configuration names, runs its epochs, and reports each epoch.
//
// Thread-safety: RunTrial may run on several threads at once (one per worker
// slot); each call owns its model and data. Callbacks are invoked on the
// calling thread.
#pragma once

#include <functional>
#include <map>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "absl/status/status.h"
#include "segtune/train/checkpoint.h"

namespace segtune::train {

// Where an epoch's time went, for benchmarks and the worker's metrics.
struct EpochTiming {
  double total_seconds = 0;       // the whole epoch, evaluation and checkpoint included
  double model_seconds = 0;       // forward and backward in training, forward in evaluation
  double optimizer_seconds = 0;   // optimizer and scheduler steps (less the closure's model time)
  double data_wait_seconds = 0;   // the loop waiting for the loader's next batch
  double checkpoint_seconds = 0;  // serializing the state and on_checkpoint
  // From RunTrial's start to the first training batch starting; set on the
  // first epoch this call trains, 0 on the others.
  double startup_seconds = 0;
};

// The metrics of one finished epoch: train_loss, val_loss, val_miou,
// val_pixel_acc, lr, epoch_seconds, images_per_second, and val_iou_<c> for
// each class c present in the validation truth or prediction (an absent
// class's IoU is undefined and left out).
struct EpochReport {
  int epoch = 0;  // from 1
  std::map<std::string, double> metrics;
  EpochTiming timing;
};

enum class Outcome {
  kCompleted,  // every epoch ran
  kStopped,    // the epoch callback said stop (early stopping or cancellation)
  kDiverged,   // loss became NaN or infinite, or exploded (train loss over
               // 1000 x ln(num_classes), 1000 times a uniform guess's)
  kFailed,     // bad configuration or an exception from LibTorch
};

struct TrialResult {
  Outcome outcome = Outcome::kFailed;
  std::string reason;   // empty for kCompleted
  int epochs_done = 0;
};

struct TrainOptions {
  std::string device = "cpu";  // "cpu", "cuda", "cuda:N", "auto" (CUDA if available)
  // Optional progress while the dataset loads: (files decoded, files).
  std::function<void(int64_t, int64_t)> on_load_progress;
  // Epochs already done (resume point).
  int start_epoch = 0;
  // The checkpoint after epoch start_epoch, to continue from. Without one
  // (lost, or never uploaded), the first start_epoch epochs are replayed
  // without being reported, which on the CPU reproduces the same state.
  std::optional<Checkpoint> resume_from;
  // Called after each epoch, before on_epoch, with the state after it. An
  // error fails the trial before the epoch is reported: an epoch is only
  // reported once it can be resumed from.
  std::function<absl::Status(const Checkpoint&)> on_checkpoint;
  // Polled between batches; returning true abandons the trial (kStopped).
  std::function<bool()> should_abort;
  // Called after each epoch; returning false stops the trial (kStopped).
  std::function<bool(const EpochReport&)> on_epoch;
  // Optional progress within an epoch: (epoch, batch, batches_per_epoch).
  std::function<void(int, int, int)> on_batch;
};

// `config` is a TrialAssignment's config_json:
//   {"params": {"optimizer": {...}, "scheduler": {...}, "training.batch_size": 8, ...},
//    "data": {"dataset": "shapes", "image_size", "num_classes", "train_size", "val_size", "seed", ...},
//    "model": {"arch": "unet", "base_channels", "depth"},
//    "training": {"batch_size", "seed", ...},
//    "epochs": N,
//    "objective": {"metric": "val_miou", "mode": "max"}}
// (trial_config.h lists every key.) Dotted keys in params
// ("training.batch_size") override that section's key.
// Never throws: every error becomes a kFailed (or kDiverged) result with a reason.
TrialResult RunTrial(const nlohmann::json& config, const TrainOptions& options);

}  // namespace segtune::train
