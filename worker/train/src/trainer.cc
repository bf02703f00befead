#include "segtune/train/trainer.h"

#include <chrono>
#include <cmath>
#include <exception>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <tuple>
#include <utility>
#include <vector>

#include <ATen/autocast_mode.h>
#include <c10/core/InferenceMode.h>
#include <c10/core/StreamGuard.h>
#include <c10/core/impl/DeviceGuardImplInterface.h>
#include <c10/util/Exception.h>
#include <torch/cuda.h>
#include <torch/utils.h>
#include <torch/version.h>

#include "absl/status/statusor.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "checkpointing.h"
#include "exploit.h"
#include "grad_scaler.h"
#include "lr_range_test.h"
#include "segtune/data/dataset.h"
#include "segtune/data/loader.h"
#include "segtune/models/model.h"
#include "segtune/optim/factory.h"
#include "segtune/train/loss.h"
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

// Stores `model`'s 4-D weights (its convolutions') in `format`, as Python's
// module.to(memory_format=...) does. LibTorch's CPU convolutions (oneDNN)
// reorder NCHW tensors into a layout of their own and back around every
// convolution, forward and backward, and take channels-last (NHWC) ones as
// they are: with channels-last weights and batches (the loader lays them
// out), bench/train_throughput's U-Net trains 1.2x and its LR-ASPP 1.9x
// faster. The values, and so the math, stay the same; checkpoints and
// exports are written contiguous (models::SaveWeights). Only on the CPU,
// where it was measured, and not for LBFGS (see BuildSetup).
void ConvertWeights(torch::nn::Module& model, at::MemoryFormat format) {
  torch::NoGradGuard no_grad;
  for (torch::Tensor& parameter : model.parameters()) {
    if (parameter.dim() == 4) parameter.set_data(parameter.contiguous(format));
  }
}

// Everything a trial trains with, built from its configuration.
struct TrialSetup {
  data::SampleSet train_set;
  data::SampleSet val_set;
  int64_t batch_size = 0;  // "full" resolved
  std::shared_ptr<models::SegmentationModel> model;
  std::unique_ptr<torch::optim::Optimizer> optimizer;
  std::unique_ptr<optim::Scheduler> scheduler;   // null: constant lr
  std::unique_ptr<internal::GradScaler> scaler;  // null: float32 training
  std::unique_ptr<SegmentationLoss> loss;
  // The layout of the model's 4-D weights and of the batches' images.
  at::MemoryFormat memory_format = at::MemoryFormat::Contiguous;

  internal::TrainingState state() const {
    return {model.get(), optimizer.get(), scheduler.get(), scaler.get()};
  }
};

absl::StatusOr<data::SampleSet> LoadData(const DataConfig& config, data::Split split,
                                         const TrainOptions& options) {
  data::DatasetOptions dataset;
  dataset.dataset = config.dataset;
  dataset.root = config.root;
  dataset.load_size = config.resize;
  dataset.num_classes = config.num_classes;
  dataset.ignore_index = config.ignore_index;
  dataset.train_size = config.train_size;
  dataset.val_size = config.val_size;
  dataset.val_fraction = config.val_fraction;
  dataset.seed = config.seed;
  dataset.on_progress = options.on_load_progress;
  absl::StatusOr<data::SampleSet> set = data::LoadSplit(dataset, split);
  if (!set.ok()) {
    return absl::Status(set.status().code(), absl::StrCat("data: ", set.status().message()));
  }
  return set;
}

absl::StatusOr<TrialSetup> BuildSetup(const TrialConfig& config, const torch::Device& device,
                                      const TrainOptions& options) {
  TrialSetup setup;
  absl::StatusOr<data::SampleSet> train_set = LoadData(config.data, data::Split::kTrain, options);
  if (!train_set.ok()) return train_set.status();
  setup.train_set = *std::move(train_set);
  absl::StatusOr<data::SampleSet> val_set = LoadData(config.data, data::Split::kVal, options);
  if (!val_set.ok()) return val_set.status();
  setup.val_set = *std::move(val_set);
  setup.batch_size =
      config.training.batch_size == 0 ? setup.train_set.size() : config.training.batch_size;

  models::ModelSpec model_spec;
  model_spec.arch = config.model.arch;
  model_spec.num_classes = config.data.num_classes;
  model_spec.base_channels = config.model.base_channels;
  model_spec.depth = config.model.depth;
  {
    std::lock_guard<std::mutex> lock(ModelInitMutex());
    torch::manual_seed(config.training.seed);
    absl::StatusOr<std::shared_ptr<models::SegmentationModel>> model =
        models::MakeModel(model_spec);
    if (!model.ok()) {
      return absl::InvalidArgumentError(absl::StrCat("model.", model.status().message()));
    }
    setup.model = *std::move(model);
  }
  setup.model->to(device);
  // LibTorch's LBFGS flattens each gradient with view(-1), which needs it
  // contiguous; gradients take their parameter's layout.
  if (device.is_cpu() && !optim::NeedsLossClosure(config.optimizer)) {
    setup.memory_format = at::MemoryFormat::ChannelsLast;
    ConvertWeights(*setup.model, setup.memory_format);
  }

  absl::StatusOr<std::unique_ptr<torch::optim::Optimizer>> optimizer =
      optim::MakeOptimizer(config.optimizer, setup.model->parameters());
  if (!optimizer.ok()) return optimizer.status();
  setup.optimizer = *std::move(optimizer);

  if (!config.scheduler.is_null()) {
    absl::StatusOr<std::unique_ptr<optim::Scheduler>> scheduler = optim::MakeScheduler(
        config.scheduler, *setup.optimizer,
        optim::TrainingBudget(config.epochs, setup.train_set.size(), setup.batch_size));
    if (!scheduler.ok()) return scheduler.status();
    setup.scheduler = *std::move(scheduler);
  }

  // Mixed precision needs CUDA's float16 kernels; on the CPU the trial
  // trains in float32, as documented for training.amp.
  if (config.training.amp && device.is_cuda()) {
    if (optim::NeedsLossClosure(config.optimizer)) {
      return absl::InvalidArgumentError(
          "training.amp: LBFGS re-evaluates the loss inside its step, which loss scaling "
          "cannot follow; train LBFGS without amp");
    }
    setup.scaler = std::make_unique<internal::GradScaler>(device);
  }
  setup.loss = std::make_unique<SegmentationLoss>(config.training.loss, config.data.num_classes,
                                                  config.data.ignore_index, device);
  return setup;
}

data::LoaderOptions MakeLoaderOptions(const DataConfig& data, int64_t batch_size,
                                      std::optional<uint64_t> shuffle_seed,
                                      at::MemoryFormat memory_format) {
  data::LoaderOptions options;
  options.memory_format = memory_format;
  options.batch_size = batch_size;
  options.shuffle_seed = shuffle_seed;
  options.crop_size = data.image_size;
  options.flip = shuffle_seed.has_value() && data.flip;
  options.mean = data.mean;
  options.std = data.std;
  return options;
}

// LibTorch 2.4 keeps autocast's state per device type, and its CUDA-only
// is_enabled/set_enabled warn on every call (that is, every batch).
#if TORCH_VERSION_MAJOR > 2 || (TORCH_VERSION_MAJOR == 2 && TORCH_VERSION_MINOR >= 4)
bool CudaAutocastEnabled() { return at::autocast::is_autocast_enabled(at::kCUDA); }
void SetCudaAutocast(bool enabled) { at::autocast::set_autocast_enabled(at::kCUDA, enabled); }
#else
bool CudaAutocastEnabled() { return at::autocast::is_enabled(); }
void SetCudaAutocast(bool enabled) { at::autocast::set_enabled(enabled); }
#endif

// Autocast (float16 on CUDA) for the scope, when enabled.
class AutocastScope {
 public:
  explicit AutocastScope(bool enabled) : enabled_(enabled) {
    if (!enabled_) return;
    previous_ = CudaAutocastEnabled();
    SetCudaAutocast(true);
    at::autocast::increment_nesting();
  }
  ~AutocastScope() {
    if (!enabled_) return;
    // Casts are cached only while the outermost scope lives.
    if (at::autocast::decrement_nesting() == 0) at::autocast::clear_cache();
    SetCudaAutocast(previous_);
  }
  AutocastScope(const AutocastScope&) = delete;
  AutocastScope& operator=(const AutocastScope&) = delete;

 private:
  bool enabled_;
  bool previous_ = false;
};

struct Evaluation {
  double loss = 0;  // the training loss's value, averaged over images
  ConfusionMatrix confusion;
};

Evaluation Evaluate(TrialSetup& setup, data::Loader& loader, const torch::Device& device,
                    const DataConfig& data, EpochTiming& timing) {
  c10::InferenceMode inference;
  setup.model->eval();
  const int64_t num_classes = data.num_classes;
  torch::Tensor counts =
      torch::zeros({num_classes * num_classes}, torch::TensorOptions(torch::kLong).device(device));
  double loss_sum = 0;
  int64_t images = 0;
  loader.StartEpoch(1);
  const double wait_before = loader.wait_seconds();
  while (std::optional<data::Batch> batch = loader.Next()) {
    const torch::Tensor batch_images = batch->images.to(device);
    const torch::Tensor masks = batch->masks.to(device);
    const Clock::time_point model_start = Clock::now();
    torch::Tensor logits;
    {
      AutocastScope autocast(setup.scaler != nullptr);
      logits = setup.model->forward(batch_images);
    }
    const double batch_loss = setup.loss->Compute(logits, masks).item<double>();
    timing.model_seconds += SecondsSince(model_start);
    loss_sum += batch_loss * static_cast<double>(masks.size(0));
    images += masks.size(0);
    // max(1)'s indices are argmax(1)'s (the first maximum on ties, NaN as
    // the maximum), but LibTorch 1.13's CPU argmax over the channels of
    // [16, 4, 64, 64] logits takes 6.5 ms against max's 0.8 ms on one
    // thread, and 12 ms against 0.4 ms on two.
    const torch::Tensor predictions = std::get<1>(logits.max(1));
    counts += ConfusionCounts(masks, predictions, num_classes, data.ignore_index);
  }
  timing.data_wait_seconds += loader.wait_seconds() - wait_before;
  counts = counts.cpu();
  const int64_t* cell_counts = counts.data_ptr<int64_t>();
  Evaluation evaluation{loss_sum / static_cast<double>(images),
                        ConfusionMatrix(static_cast<int>(num_classes))};
  evaluation.confusion.AddCounts(
      std::vector<int64_t>(cell_counts, cell_counts + counts.numel()));
  return evaluation;
}

// One optimizer step on a batch; the batch's loss, evaluated before the step.
double TrainStep(TrialSetup& setup, const torch::Tensor& images, const torch::Tensor& masks,
                 EpochTiming& timing) {
  const Clock::time_point step_start = Clock::now();
  double closure_seconds = 0;
  std::optional<double> loss_value;
  if (setup.scaler == nullptr) {
    // Every optimizer takes the loss as a closure, as torch's step(closure)
    // does: LBFGS evaluates it several times per step, the others once.
    // The batch's loss is that of its first evaluation.
    auto closure = [&]() -> torch::Tensor {
      const Clock::time_point closure_start = Clock::now();
      setup.optimizer->zero_grad();
      const torch::Tensor loss = setup.loss->Compute(setup.model->forward(images), masks);
      if (!loss_value) loss_value = loss.item<double>();
      loss.backward();
      closure_seconds += SecondsSince(closure_start);
      return loss;
    };
    setup.optimizer->step(closure);
  } else {
    // torch.cuda.amp's recipe: scaled backward, unscale, step unless the
    // gradients overflowed, update the scale.
    setup.optimizer->zero_grad();
    torch::Tensor loss;
    {
      AutocastScope autocast(true);
      loss = setup.loss->Compute(setup.model->forward(images), masks);
    }
    loss_value = loss.item<double>();
    setup.scaler->Scale(loss).backward();
    closure_seconds = SecondsSince(step_start);
    if (setup.scaler->Unscale(setup.model->parameters())) {
      setup.optimizer->step([&loss] { return loss; });
    }
    setup.scaler->Update();
  }
  timing.model_seconds += closure_seconds;
  timing.optimizer_seconds += SecondsSince(step_start) - closure_seconds;
  return *loss_value;
}

// The per-epoch metrics reported to the coordinator.
std::map<std::string, double> EpochMetrics(double train_loss, const Evaluation& evaluation,
                                           double lr, int64_t images, double train_seconds) {
  std::map<std::string, double> metrics = {
      {"train_loss", train_loss},
      {"val_loss", evaluation.loss},
      {"val_miou", evaluation.confusion.MeanIoU()},
      {"val_pixel_acc", evaluation.confusion.PixelAccuracy()},
      {"lr", lr},
      {"images_per_second", static_cast<double>(images) / train_seconds},
  };
  for (int c = 0; c < evaluation.confusion.num_classes(); ++c) {
    if (const std::optional<double> iou = evaluation.confusion.ClassIoU(c)) {
      metrics[absl::StrCat("val_iou_", c)] = *iou;
    }
  }
  return metrics;
}

// Runs epochs first_epoch..epochs; `epochs_done` follows progress so that
// the caller can report it when LibTorch throws.
TrialResult RunEpochs(const TrialConfig& config, TrialSetup& setup, const TrainOptions& options,
                      const torch::Device& device, int first_epoch,
                      Clock::time_point trial_start, int& epochs_done) {
  data::Loader train_loader(setup.train_set,
                            MakeLoaderOptions(config.data, setup.batch_size, config.training.seed,
                                              setup.memory_format));
  data::Loader val_loader(setup.val_set, MakeLoaderOptions(config.data, setup.batch_size,
                                                           std::nullopt, setup.memory_format));
  const int batches_per_epoch = static_cast<int>(train_loader.batches_per_epoch());
  const double exploded_loss = kExplodedLossFactor * std::log(config.data.num_classes);
  bool first_batch_of_run = true;
  for (int epoch = first_epoch; epoch <= config.epochs; ++epoch) {
    const Clock::time_point epoch_start = Clock::now();
    EpochTiming timing;
    const double lr = setup.optimizer->param_groups()[0].options().get_lr();
    setup.model->train();
    train_loader.StartEpoch(epoch);
    const double wait_before = train_loader.wait_seconds();
    double loss_sum = 0;
    int64_t images = 0;
    int batch_number = 0;
    while (std::optional<data::Batch> batch = train_loader.Next()) {
      if (options.should_abort && options.should_abort()) {
        return Finished(Outcome::kStopped, absl::StrCat("aborted during epoch ", epoch),
                        epochs_done);
      }
      if (first_batch_of_run) {
        timing.startup_seconds = SecondsSince(trial_start);
        first_batch_of_run = false;
      }
      ++batch_number;
      const torch::Tensor batch_images = batch->images.to(device);
      const torch::Tensor masks = batch->masks.to(device);
      const double step_lr = setup.optimizer->param_groups()[0].options().get_lr();
      const double loss_value = TrainStep(setup, batch_images, masks, timing);
      if (!std::isfinite(loss_value) || loss_value > exploded_loss) {
        const std::string limit = std::isfinite(loss_value)
                                      ? absl::StrCat(" (over the limit ", exploded_loss, ")")
                                      : "";
        return Finished(Outcome::kDiverged,
                        absl::StrCat("train_loss is ", loss_value, limit, " at epoch ", epoch,
                                     ", batch ", batch_number, " with lr ", step_lr),
                        epochs_done);
      }
      if (setup.scheduler != nullptr && setup.scheduler->interval() == optim::Interval::kStep) {
        const Clock::time_point scheduler_start = Clock::now();
        if (absl::Status status = setup.scheduler->Step(std::nullopt); !status.ok()) {
          return Finished(Outcome::kFailed, std::string(status.message()), epochs_done);
        }
        timing.optimizer_seconds += SecondsSince(scheduler_start);
      }
      loss_sum += loss_value * static_cast<double>(masks.size(0));
      images += masks.size(0);
      if (options.on_batch) options.on_batch(epoch, batch_number, batches_per_epoch, masks.size(0));
    }
    timing.data_wait_seconds += train_loader.wait_seconds() - wait_before;
    const double train_seconds = SecondsSince(epoch_start);

    const Evaluation evaluation = Evaluate(setup, val_loader, device, config.data, timing);
    if (!std::isfinite(evaluation.loss)) {
      return Finished(Outcome::kDiverged,
                      absl::StrCat("val_loss is ", evaluation.loss, " at epoch ", epoch),
                      epochs_done);
    }
    EpochReport report;
    report.epoch = epoch;
    report.metrics = EpochMetrics(loss_sum / static_cast<double>(images), evaluation, lr, images,
                                  train_seconds);

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
        return Finished(Outcome::kFailed, std::string(status.message()), epochs_done);
      }
    }

    epochs_done = epoch;
    // A trial resumed without its checkpoint replays its first start_epoch
    // epochs: training is deterministic, so it arrives at the same state, and
    // those epochs were already reported.
    if (epoch <= options.start_epoch) continue;
    if (options.on_checkpoint) {
      const Clock::time_point checkpoint_start = Clock::now();
      const Checkpoint checkpoint = internal::SaveCheckpoint(setup.state(), epoch);
      if (absl::Status status = options.on_checkpoint(checkpoint); !status.ok()) {
        return Finished(Outcome::kFailed,
                        absl::StrCat("checkpoint of epoch ", epoch, ": ", status.message()),
                        epoch - 1);
      }
      timing.checkpoint_seconds = SecondsSince(checkpoint_start);
    }
    timing.total_seconds = SecondsSince(epoch_start);
    report.metrics["epoch_seconds"] = timing.total_seconds;
    report.timing = timing;
    if (options.on_epoch && !options.on_epoch(report)) {
      return Finished(Outcome::kStopped, absl::StrCat("stopped after epoch ", epoch), epoch);
    }
  }
  return Finished(Outcome::kCompleted, "", epochs_done);
}

// Smith's LR range test (trainer.h, lr_range_test.h): one step per
// "epoch" at an exponentially rising lr, on the training loader's batches,
// epoch after epoch. `epochs_done` counts the steps done.
TrialResult RunLrRangeTest(const TrialConfig& config, TrialSetup& setup,
                           const TrainOptions& options, const torch::Device& device,
                           Clock::time_point trial_start, int& epochs_done) {
  internal::LrRangeTest test(*config.lr_range);
  data::Loader loader(setup.train_set,
                      MakeLoaderOptions(config.data, setup.batch_size, config.training.seed,
                                        setup.memory_format));
  int64_t loader_epoch = 0;  // Next() gives nothing before the first StartEpoch
  setup.model->train();
  while (test.steps_recorded() < test.iterations()) {
    const int step = test.steps_recorded() + 1;  // the epoch it is reported as
    if (options.should_abort && options.should_abort()) {
      return Finished(Outcome::kStopped, absl::StrCat("aborted at step ", step), epochs_done);
    }
    const Clock::time_point step_start = Clock::now();
    EpochTiming timing;
    if (step == 1) timing.startup_seconds = SecondsSince(trial_start);
    const double wait_before = loader.wait_seconds();
    std::optional<data::Batch> batch = loader.Next();
    if (!batch) {
      loader.StartEpoch(++loader_epoch);
      batch = loader.Next();
      if (!batch) return Finished(Outcome::kFailed, "data: no training batches", epochs_done);
    }
    timing.data_wait_seconds = loader.wait_seconds() - wait_before;
    const double lr = test.NextLr();
    for (torch::optim::OptimizerParamGroup& group : setup.optimizer->param_groups()) {
      group.options().set_lr(lr);
    }
    const double loss =
        TrainStep(setup, batch->images.to(device), batch->masks.to(device), timing);
    internal::LrRangeTest::StepResult result = test.Record(loss);
    if (result.metrics.empty()) {
      return Finished(Outcome::kEndedEarly, result.end_reason, epochs_done);
    }
    if (options.on_batch) options.on_batch(step, 1, 1, batch->masks.size(0));
    epochs_done = step;
    // An earlier attempt reported the steps up to start_epoch: they are
    // replayed to arrive at its state (see RunEpochs), not reported again.
    if (step > options.start_epoch) {
      timing.total_seconds = SecondsSince(step_start);
      EpochReport report;
      report.epoch = step;
      report.metrics = std::move(result.metrics);
      report.timing = timing;
      if (options.on_epoch && !options.on_epoch(report)) {
        return Finished(Outcome::kStopped, absl::StrCat("stopped after step ", step), step);
      }
    }
    if (!result.end_reason.empty()) {
      return Finished(Outcome::kEndedEarly, result.end_reason, epochs_done);
    }
  }
  return Finished(Outcome::kCompleted, "", epochs_done);
}

TrialResult RunTrialOrThrow(const nlohmann::json& config_json, const TrainOptions& options,
                            int& epochs_done) {
  const Clock::time_point trial_start = Clock::now();
  absl::StatusOr<TrialConfig> config = ParseTrialConfig(config_json);
  if (!config.ok()) return Finished(Outcome::kFailed, std::string(config.status().message()), 0);
  if (options.start_epoch < 0) {
    return Finished(Outcome::kFailed,
                    absl::StrCat("start_epoch: must be >= 0, got ", options.start_epoch), 0);
  }
  if (options.start_epoch >= config->epochs) {
    return Finished(Outcome::kCompleted, "", config->epochs);
  }
  if (options.resume_from && options.resume_from->epoch != options.start_epoch) {
    return Finished(Outcome::kFailed,
                    absl::StrCat("resume_from: the checkpoint is of epoch ",
                                 options.resume_from->epoch, ", the trial resumes after epoch ",
                                 options.start_epoch),
                    0);
  }
  if (config->exploit) {
    if (absl::Status status = internal::CheckExploitStart(*config->exploit, options.start_epoch,
                                                          options.resume_from.has_value());
        !status.ok()) {
      return Finished(Outcome::kFailed, std::string(status.message()), options.start_epoch);
    }
  }
  absl::StatusOr<torch::Device> device = ParseDevice(options.device);
  if (!device.ok()) return Finished(Outcome::kFailed, std::string(device.status().message()), 0);
  // A trial's kernels go to a stream of its own (from LibTorch's pool), so
  // that trials sharing a GPU (segtune-worker --slots-per-device) overlap
  // instead of queueing on the device's default stream. The guard also makes
  // the trial's device current on this thread until the trial ends.
  std::optional<c10::StreamGuard> own_stream;
  if (device->is_cuda()) {
    const torch::Device indexed(torch::kCUDA, device->has_index() ? device->index() : 0);
    own_stream.emplace(c10::impl::getDeviceGuardImpl(indexed.type())->getStreamFromGlobalPool(indexed));
  }
  // The range test sets the lr itself.
  if (config->lr_range) config->scheduler = nullptr;
  absl::StatusOr<TrialSetup> setup = BuildSetup(*config, *device, options);
  if (!setup.ok()) return Finished(Outcome::kFailed, std::string(setup.status().message()), 0);
  if (config->lr_range) {
    return RunLrRangeTest(*config, *setup, options, *device, trial_start, epochs_done);
  }
  int first_epoch = 1;
  if (options.resume_from) {
    if (absl::Status status = internal::RestoreCheckpoint(*options.resume_from, setup->state());
        !status.ok()) {
      return Finished(Outcome::kFailed, std::string(status.message()), options.start_epoch);
    }
    // Once only: a later resume starts from a checkpoint taken after it.
    if (config->exploit && config->exploit->epoch == options.start_epoch) {
      if (absl::Status status =
              internal::ApplyExploit(*config->exploit, config->optimizer, setup->state());
          !status.ok()) {
        return Finished(Outcome::kFailed, std::string(status.message()), options.start_epoch);
      }
    }
    first_epoch = options.start_epoch + 1;
    epochs_done = options.start_epoch;
  }
  return RunEpochs(*config, *setup, options, *device, first_epoch, trial_start, epochs_done);
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
