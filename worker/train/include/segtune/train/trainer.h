// Trains one trial: builds the dataset, model, optimizer and scheduler a
// trial's configuration names, runs its epochs, and reports each epoch.
//
// Thread-safety: RunTrial may run on several threads at once (one per worker
// slot); each call owns its model and data. Callbacks are invoked on the
// calling thread.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <utility>

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
  kEndedEarly, // the trial ended itself before its last epoch, as meant to:
               // an LR range test whose loss diverged (reason says at which lr)
};

struct TrialResult {
  Outcome outcome = Outcome::kFailed;
  std::string reason;   // empty for kCompleted
  int epochs_done = 0;
};

// A TrialResult in one expression, for trial functions' many ways out.
inline TrialResult Finished(Outcome outcome, std::string reason, int epochs_done) {
  TrialResult result;
  result.outcome = outcome;
  result.reason = std::move(reason);
  result.epochs_done = epochs_done;
  return result;
}

struct TrainOptions {
  // "cpu", "cuda", "cuda:N", "auto" (CUDA if available). On CUDA the trial
  // runs on a stream of its own, so trials sharing a GPU overlap.
  std::string device = "cpu";
  // Optional progress while the dataset loads: (files decoded, files).
  std::function<void(int64_t, int64_t)> on_load_progress;
  // Epochs already done (resume point).
  int start_epoch = 0;
  // The checkpoint after epoch start_epoch, to continue from. Without one
  // (lost, or never uploaded), the first start_epoch epochs are replayed
  // without being reported, which on the CPU reproduces the same state;
  // except in a trial with `exploit`, which fails instead (see RunTrial).
  std::optional<Checkpoint> resume_from;
  // Called after each epoch, before on_epoch, with the state after it. An
  // error fails the trial before the epoch is reported: an epoch is only
  // reported once it can be resumed from. Not called in an LR range test.
  std::function<absl::Status(const Checkpoint&)> on_checkpoint;
  // Polled between batches; returning true abandons the trial (kStopped).
  std::function<bool()> should_abort;
  // Called after each epoch; returning false stops the trial (kStopped).
  std::function<bool(const EpochReport&)> on_epoch;
  // Optional progress within an epoch, after each training batch's step
  // (not after a batch whose loss diverged): (epoch, batch,
  // batches_per_epoch, images in the batch; an epoch's last batch may be
  // smaller). Replayed epochs (see resume_from) call it too.
  // In an LR range test each step is an epoch of one batch: (step, 1, 1, images).
  std::function<void(int, int, int, int64_t)> on_batch;
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
//
// With "lr_range" in the config ({"min_lr", "max_lr", "iterations",
// "smoothing", "diverge_factor"}, from an lr_range_test sweep), the trial
// runs Smith's learning-rate range test instead: step i (from 0) sets
// min_lr * (max_lr / min_lr)^(i / (iterations - 1)) on every param group (no
// scheduler), trains on the next batch of the training loader (epoch after
// epoch, as often as needed), and is reported as epoch i + 1 with metrics
// {"lr", "train_loss" (that batch's loss), "smoothed_loss" (its
// bias-corrected exponential average with beta = smoothing)}. There is no
// validation and no checkpoint: a resumed test replays its first
// start_epoch steps unreported (resume_from is not used). It ends kCompleted
// after `iterations` steps, or kEndedEarly once the smoothed loss exceeds
// diverge_factor x its minimum so far (that step is reported) or the loss is
// not finite (that step is not).
//
// With "exploit" in the config ({"epoch": k, "lr_scale": s, "optimizer":
// {argument: value}}, set by PBT), resume_from is the checkpoint of epoch k
// of another trial (the coordinator copied it over this one's). When
// start_epoch is k, the trainer loads it, sets the optimizer arguments on
// every param group, and scales the lr and the schedule by s
// (segtune/optim/exploit.h) before epoch k + 1; a later start_epoch resumes
// from a checkpoint taken after that, as usual. Without resume_from, or with
// start_epoch < k, the trial fails: replaying would not reach the donor's
// state.
//
// Never throws: every error becomes a kFailed (or kDiverged) result with a reason.
TrialResult RunTrial(const nlohmann::json& config, const TrainOptions& options);

}  // namespace segtune::train
