#include "segtune/train/trainer.h"

#include <chrono>
#include <cmath>
#include <exception>
#include <memory>
#include <mutex>
#include <optional>
#include <utility>
#include <vector>

#include <c10/util/Exception.h>
#include <torch/cuda.h>
#include <torch/nn/functional/loss.h>
#include <torch/utils.h>

#include "absl/status/statusor.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "segtune/data/batch_iterator.h"
#include "segtune/data/shapes.h"
#include "segtune/models/unet.h"
#include "segtune/optim/factory.h"
#include "segtune/train/segmentation_metrics.h"
#include "segtune/train/trial_config.h"

namespace segtune::train {
namespace {

using Clock = std::chrono::steady_clock;

// A train loss this many times a uniform guess's (ln num_classes) counts as
// diverged even while finite: with BatchNorm, an absurd lr can keep the loss
// finite but huge for ever, and such a model is useless.
constexpr double kExplodedLossFactor = 1000.0;

// Torch's global RNG is shared by every slot thread; seeding it and drawing
// the initial weights happen under this lock so each model's weights depend
// on its training.seed alone.
std::mutex& ModelInitMutex() {
  static auto* const mutex = new std::mutex;
  return *mutex;
}

TrialResult Finished(Outcome outcome, std::string reason, int epochs_done) {
  TrialResult result;
  result.outcome = outcome;
  result.reason = std::move(reason);
  result.epochs_done = epochs_done;
  return result;
}

double SecondsSince(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

absl::StatusOr<torch::Device> ParseDevice(const std::string& device) {
  if (device == "cpu") return torch::Device(torch::kCPU);
  if (device == "auto") {
    return torch::cuda::is_available() ? torch::Device(torch::kCUDA) : torch::Device(torch::kCPU);
  }
  if (device == "cuda" || absl::StartsWith(device, "cuda:")) {
    if (!torch::cuda::is_available()) {
      return absl::FailedPreconditionError(
          absl::StrCat("device: ", device, " requested but CUDA is not available"));
    }
    torch::Device parsed(device);  // throws c10::Error on a malformed index
    if (parsed.has_index() && parsed.index() >= static_cast<int>(torch::cuda::device_count())) {
      return absl::InvalidArgumentError(absl::StrCat("device: ", device, " does not exist (",
                                                     torch::cuda::device_count(), " GPUs)"));
    }
    return parsed;
  }
  return absl::InvalidArgumentError(
      absl::StrCat("device: unknown '", device, "' (expected auto, cpu, cuda or cuda:N)"));
}

// Everything a trial trains with, built from its configuration.
struct TrialSetup {
  data::SegmentationSet train_set;
  data::SegmentationSet val_set;
  models::UNet model{nullptr};
  std::unique_ptr<torch::optim::Optimizer> optimizer;
  std::unique_ptr<optim::Scheduler> scheduler;  // null: constant lr
};

absl::StatusOr<data::SegmentationSet> MakeSplit(const DataConfig& config, data::Split split,
                                                const torch::Device& device) {
  data::ShapesOptions options;
  options.image_size = config.image_size;
  options.num_classes = config.num_classes;
  options.size = split == data::Split::kTrain ? config.train_size : config.val_size;
  options.seed = config.seed;
  options.split = split;
  absl::StatusOr<data::SegmentationSet> set = data::MakeShapes(options);
  if (!set.ok()) return absl::InvalidArgumentError(absl::StrCat("data.", set.status().message()));
  set->images = set->images.to(device);
  set->masks = set->masks.to(device);
  return set;
}

absl::StatusOr<TrialSetup> BuildSetup(const TrialConfig& config, const torch::Device& device) {
  TrialSetup setup;
  absl::StatusOr<data::SegmentationSet> train_set =
      MakeSplit(config.data, data::Split::kTrain, device);
  if (!train_set.ok()) return train_set.status();
  setup.train_set = *std::move(train_set);
  absl::StatusOr<data::SegmentationSet> val_set = MakeSplit(config.data, data::Split::kVal, device);
  if (!val_set.ok()) return val_set.status();
  setup.val_set = *std::move(val_set);

  models::UNetOptions model_options(config.data.num_classes);
  model_options.base_channels(config.model.base_channels).depth(config.model.depth);
  if (absl::Status status = model_options.Validate(); !status.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("model.", status.message()));
  }
  {
    std::lock_guard<std::mutex> lock(ModelInitMutex());
    torch::manual_seed(config.training.seed);
    setup.model = models::UNet(model_options);
  }
  setup.model->to(device);

  absl::StatusOr<std::unique_ptr<torch::optim::Optimizer>> optimizer =
      optim::MakeOptimizer(config.optimizer, setup.model->parameters());
  if (!optimizer.ok()) return optimizer.status();
  setup.optimizer = *std::move(optimizer);

  if (!config.scheduler.is_null()) {
    absl::StatusOr<std::unique_ptr<optim::Scheduler>> scheduler =
        optim::MakeScheduler(config.scheduler, *setup.optimizer,
                             optim::TrainingBudget(config.epochs, setup.train_set.size(),
                                                   config.training.batch_size));
    if (!scheduler.ok()) return scheduler.status();
    setup.scheduler = *std::move(scheduler);
  }
  return setup;
}

struct Evaluation {
  double loss = 0;  // mean pixel-wise cross-entropy
  ConfusionMatrix confusion;
};

Evaluation Evaluate(models::UNet& model, const data::SegmentationSet& val_set, int64_t batch_size) {
  torch::NoGradGuard no_grad;
  model->eval();
  const int64_t num_classes = val_set.num_classes;
  torch::Tensor counts =
      torch::zeros({num_classes * num_classes},
                   torch::TensorOptions(torch::kLong).device(val_set.masks.device()));
  double loss_sum = 0;
  int64_t pixels = 0;
  data::BatchIterator batches(val_set, batch_size, std::nullopt);
  while (std::optional<data::Batch> batch = batches.Next()) {
    const torch::Tensor logits = model->forward(batch->images);
    namespace F = torch::nn::functional;
    loss_sum +=
        F::cross_entropy(logits, batch->masks, F::CrossEntropyFuncOptions().reduction(torch::kSum))
            .item<double>();
    pixels += batch->masks.numel();
    // Cell (true, predicted) of the confusion matrix, row-major.
    const torch::Tensor cells = batch->masks * num_classes + logits.argmax(1);
    counts += torch::bincount(cells.flatten(), {}, num_classes * num_classes);
  }
  counts = counts.cpu();
  const int64_t* data = counts.data_ptr<int64_t>();
  Evaluation evaluation{loss_sum / static_cast<double>(pixels),
                        ConfusionMatrix(static_cast<int>(num_classes))};
  evaluation.confusion.AddCounts(std::vector<int64_t>(data, data + counts.numel()));
  return evaluation;
}

// Runs the epochs; `epochs_done` follows progress so that the caller can
// report it when LibTorch throws.
TrialResult RunEpochs(const TrialConfig& config, TrialSetup& setup, const TrainOptions& options,
                      int& epochs_done) {
  data::BatchIterator train_batches(setup.train_set, config.training.batch_size,
                                    config.training.seed);
  const int batches_per_epoch = static_cast<int>(train_batches.batches_per_epoch());
  const double exploded_loss = kExplodedLossFactor * std::log(config.data.num_classes);
  for (int epoch = 1; epoch <= config.epochs; ++epoch) {
    const Clock::time_point epoch_start = Clock::now();
    const double lr = setup.optimizer->param_groups()[0].options().get_lr();
    setup.model->train();
    train_batches.StartEpoch(epoch);
    double loss_sum = 0;
    int64_t images = 0;
    int batch_number = 0;
    while (std::optional<data::Batch> batch = train_batches.Next()) {
      if (options.should_abort && options.should_abort()) {
        return Finished(Outcome::kStopped, absl::StrCat("aborted during epoch ", epoch),
                        epochs_done);
      }
      ++batch_number;
      // Every optimizer takes the loss as a closure, as torch's step(closure)
      // does: LBFGS evaluates it several times per step, the others once.
      // The batch's loss is that of its first evaluation.
      std::optional<double> loss_value;
      auto closure = [&]() -> torch::Tensor {
        setup.optimizer->zero_grad();
        const torch::Tensor logits = setup.model->forward(batch->images);
        torch::Tensor loss = torch::nn::functional::cross_entropy(logits, batch->masks);
        if (!loss_value) loss_value = loss.item<double>();
        loss.backward();
        return loss;
      };
      const double step_lr = setup.optimizer->param_groups()[0].options().get_lr();
      setup.optimizer->step(closure);
      if (!std::isfinite(*loss_value) || *loss_value > exploded_loss) {
        const std::string limit = std::isfinite(*loss_value)
                                      ? absl::StrCat(" (over the limit ", exploded_loss, ")")
                                      : "";
        return Finished(Outcome::kDiverged,
                        absl::StrCat("train_loss is ", *loss_value, limit, " at epoch ", epoch,
                                     ", batch ", batch_number, " with lr ", step_lr),
                        epochs_done);
      }
      if (setup.scheduler != nullptr && setup.scheduler->interval() == optim::Interval::kStep) {
        if (absl::Status status = setup.scheduler->Step(std::nullopt); !status.ok()) {
          return Finished(Outcome::kFailed, std::string(status.message()),
                          epochs_done);
        }
      }
      loss_sum += *loss_value * static_cast<double>(batch->images.size(0));
      images += batch->images.size(0);
      if (options.on_batch) options.on_batch(epoch, batch_number, batches_per_epoch);
    }
    const double train_seconds = SecondsSince(epoch_start);

    const Evaluation evaluation = Evaluate(setup.model, setup.val_set, config.training.batch_size);
    if (!std::isfinite(evaluation.loss)) {
      return Finished(Outcome::kDiverged,
                      absl::StrCat("val_loss is ", evaluation.loss, " at epoch ", epoch),
                      epochs_done);
    }
    EpochReport report;
    report.epoch = epoch;
    report.metrics = {
        {"train_loss", loss_sum / static_cast<double>(images)},
        {"val_loss", evaluation.loss},
        {"val_miou", evaluation.confusion.MeanIoU()},
        {"val_pixel_acc", evaluation.confusion.PixelAccuracy()},
        {"lr", lr},
        {"epoch_seconds", SecondsSince(epoch_start)},
        {"images_per_second", static_cast<double>(images) / train_seconds},
    };

    if (setup.scheduler != nullptr && setup.scheduler->interval() == optim::Interval::kEpoch) {
      std::optional<double> monitored;
      if (const std::string& monitor = setup.scheduler->monitor(); !monitor.empty()) {
        auto it = report.metrics.find(monitor);
        if (it == report.metrics.end()) {
          return Finished(
              Outcome::kFailed,
              absl::StrCat("scheduler.monitor: the trainer reports no metric '", monitor, "'"),
              epochs_done);
        }
        monitored = it->second;
      }
      if (absl::Status status = setup.scheduler->Step(monitored); !status.ok()) {
        return Finished(Outcome::kFailed, std::string(status.message()),
                        epochs_done);
      }
    }

    epochs_done = epoch;
    // Without checkpoints, a resumed trial replays its first start_epoch
    // epochs: training is deterministic, so it arrives at the same state, and
    // those epochs were already reported.
    if (epoch <= options.start_epoch) continue;
    if (options.on_epoch && !options.on_epoch(report)) {
      return Finished(Outcome::kStopped, absl::StrCat("stopped after epoch ", epoch), epoch);
    }
  }
  return Finished(Outcome::kCompleted, "", epochs_done);
}

TrialResult RunTrialOrThrow(const nlohmann::json& config_json, const TrainOptions& options,
                            int& epochs_done) {
  absl::StatusOr<TrialConfig> config = ParseTrialConfig(config_json);
  if (!config.ok()) return Finished(Outcome::kFailed, std::string(config.status().message()), 0);
  if (options.start_epoch < 0) {
    return Finished(Outcome::kFailed,
                    absl::StrCat("start_epoch: must be >= 0, got ", options.start_epoch), 0);
  }
  if (options.start_epoch >= config->epochs) {
    return Finished(Outcome::kCompleted, "", config->epochs);
  }
  absl::StatusOr<torch::Device> device = ParseDevice(options.device);
  if (!device.ok()) return Finished(Outcome::kFailed, std::string(device.status().message()), 0);
  absl::StatusOr<TrialSetup> setup = BuildSetup(*config, *device);
  if (!setup.ok()) return Finished(Outcome::kFailed, std::string(setup.status().message()), 0);
  return RunEpochs(*config, *setup, options, epochs_done);
}

}  // namespace

TrialResult RunTrial(const nlohmann::json& config, const TrainOptions& options) {
  int epochs_done = 0;
  try {
    return RunTrialOrThrow(config, options, epochs_done);
  } catch (const c10::Error& error) {
    return Finished(Outcome::kFailed, absl::StrCat("LibTorch: ", error.what_without_backtrace()),
                    epochs_done);
  } catch (const std::exception& error) {
    return Finished(Outcome::kFailed, absl::StrCat("exception: ", error.what()), epochs_done);
  }
}

}  // namespace segtune::train
