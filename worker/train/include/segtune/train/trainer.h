// Trains one trial: builds the dataset, model, optimizer and scheduler a
// trial's configuration names, runs its epochs, and reports each epoch.
//
// Thread-safety: RunTrial may run on several threads at once (one per worker
// slot); each call owns its model and data. Callbacks are invoked on the
// calling thread.
#pragma once

#include <functional>
#include <map>
#include <string>

#include <nlohmann/json.hpp>

namespace segtune::train {

// The metrics of one finished epoch: train_loss, val_loss, val_miou,
// val_pixel_acc, lr, epoch_seconds, images_per_second.
struct EpochReport {
  int epoch = 0;  // from 1
  std::map<std::string, double> metrics;
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
  // Epochs already done (resume point). There are no checkpoints: the first
  // start_epoch epochs are replayed without being reported, which reproduces
  // the same state because training is deterministic.
  int start_epoch = 0;
  // Polled between batches; returning true abandons the trial (kStopped).
  std::function<bool()> should_abort;
  // Called after each epoch; returning false stops the trial (kStopped).
  std::function<bool(const EpochReport&)> on_epoch;
  // Optional progress within an epoch: (epoch, batch, batches_per_epoch).
  std::function<void(int, int, int)> on_batch;
};

// `config` is a TrialAssignment's config_json:
//   {"params": {"optimizer": {...}, "scheduler": {...}, "training.batch_size": 8, ...},
//    "data": {"dataset": "shapes", "image_size", "num_classes", "train_size", "val_size", "seed"},
//    "model": {"arch": "unet", "base_channels", "depth"},
//    "training": {"batch_size", "seed"},
//    "epochs": N,
//    "objective": {"metric": "val_miou", "mode": "max"}}
// Dotted keys in params ("training.batch_size") override that section's key.
// Never throws: every error becomes a kFailed (or kDiverged) result with a reason.
TrialResult RunTrial(const nlohmann::json& config, const TrainOptions& options);

}  // namespace segtune::train
