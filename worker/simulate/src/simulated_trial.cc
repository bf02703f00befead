#include "segtune/simulate/simulated_trial.h"

#include <chrono>
#include <cmath>
#include <cstdio>
#include <limits>
#include <optional>
#include <string>
#include <thread>
#include <utility>

#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "curve_model.h"
#include "lr_schedule.h"

namespace segtune::simulate {
namespace {

using Clock = std::chrono::steady_clock;
using internal::LrSchedule;
using internal::ScheduleState;
using internal::SimConfig;
using train::Finished;
using train::Outcome;
using train::TrainOptions;
using train::TrialResult;

// Sleeps are cut into pieces this long so should_abort is polled often
// enough to stop within ~20 ms; shorter waits than kMinSleep are skipped and
// caught up later, so fast paces cost no wake-up per batch.
constexpr auto kPollInterval = std::chrono::milliseconds(20);
constexpr auto kMinSleep = std::chrono::milliseconds(2);
constexpr const char* kFormat = "segtune-simulate/1";

double SecondsSince(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

// Waits until `deadline`; false as soon as should_abort says so.
bool SleepUntil(Clock::time_point deadline, const TrainOptions& options) {
  while (true) {
    if (options.should_abort && options.should_abort()) return false;
    const Clock::duration left = deadline - Clock::now();
    if (left < kMinSleep) return true;
    std::this_thread::sleep_for(std::min<Clock::duration>(left, kPollInterval));
  }
}

// Everything that carries from one epoch to the next.
struct SimState {
  int epoch = 0;
  double progress = 0;
  ScheduleState schedule;
};

nlohmann::json StateBody(const SimState& state) {
  return {{"epoch", state.epoch}, {"progress", state.progress}, {"schedule", state.schedule.ToJson()}};
}

std::string Checksum(const nlohmann::json& body) {
  char hex[17];
  std::snprintf(hex, sizeof(hex), "%016llx",
                static_cast<unsigned long long>(internal::Fnv1a(body.dump())));
  return hex;
}

// A checkpoint holds the state as JSON and its checksum; simulated trials
// have no weights. nlohmann writes doubles with 17 digits, so the state
// read back is bit for bit the one written.
train::Checkpoint SaveCheckpoint(const SimState& state) {
  const nlohmann::json body = StateBody(state);
  train::Checkpoint checkpoint;
  checkpoint.epoch = state.epoch;
  checkpoint.training_state =
      nlohmann::json{{"format", kFormat}, {"state", body}, {"checksum", Checksum(body)}}.dump();
  return checkpoint;
}

absl::StatusOr<SimState> LoadCheckpoint(const train::Checkpoint& checkpoint) {
  const nlohmann::json document = nlohmann::json::parse(checkpoint.training_state, nullptr, false);
  if (document.is_discarded() || !document.is_object() || document.value("format", "") != kFormat) {
    return absl::InvalidArgumentError(
        "resume_from: not a simulated trial's checkpoint (a real trial's, or damaged)");
  }
  const nlohmann::json body = document.value("state", nlohmann::json());
  if (document.value("checksum", "") != Checksum(body)) {
    return absl::DataLossError("resume_from: the checkpoint's checksum does not match its state");
  }
  SimState state;
  if (!body.contains("epoch") || !body["epoch"].is_number_integer() || !body.contains("progress") ||
      !body["progress"].is_number()) {
    return absl::InvalidArgumentError("resume_from: the checkpoint's state lacks epoch or progress");
  }
  state.epoch = body["epoch"].get<int>();
  state.progress = body["progress"].get<double>();
  absl::StatusOr<ScheduleState> schedule = ScheduleState::FromJson(body.value("schedule", nlohmann::json()));
  if (!schedule.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("resume_from: schedule.", schedule.status().message()));
  }
  state.schedule = *schedule;
  if (state.epoch != checkpoint.epoch) {
    return absl::InvalidArgumentError(absl::StrCat("resume_from: the checkpoint says epoch ",
                                                   checkpoint.epoch, ", its state epoch ", state.epoch));
  }
  return state;
}

class SimulatedTrial {
 public:
  SimulatedTrial(SimConfig config, LrSchedule schedule, const TrainOptions& options,
                 double epoch_seconds, Clock::time_point trial_start)
      : config_(std::move(config)),
        schedule_(std::move(schedule)),
        options_(options),
        epoch_seconds_(epoch_seconds),
        trial_start_(trial_start),
        divergence_ratio_(internal::DivergenceRatio(config_)) {}

  // Runs epochs state.epoch + 1 .. epochs; those up to start_epoch are
  // replayed unreported, at no pace.
  TrialResult RunEpochs(SimState state);
  // Smith's LR range test, one step per reported "epoch" (trainer.h).
  TrialResult RunRangeTest();

 private:
  // The optimizer in effect during `epoch` (PBT's exploit changes it).
  const internal::OptimizerModel& OptimizerAt(int epoch) const {
    return config_.exploit && epoch > config_.exploit->epoch ? config_.exploit->optimizer
                                                             : config_.optimizer;
  }

  SimConfig config_;
  LrSchedule schedule_;
  const TrainOptions& options_;
  double epoch_seconds_;
  Clock::time_point trial_start_;
  double divergence_ratio_;
  bool first_batch_of_run_ = true;
};

TrialResult SimulatedTrial::RunEpochs(SimState state) {
  const int batches = config_.batches_per_epoch;
  for (int epoch = state.epoch + 1; epoch <= config_.epochs; ++epoch) {
    const bool replay = epoch <= options_.start_epoch;
    const Clock::time_point epoch_start = Clock::now();
    const internal::OptimizerModel& optimizer = OptimizerAt(epoch);
    train::EpochTiming timing;
    const double lr = state.schedule.lr;
    double ratio_sum = 0;
    for (int batch = 1; batch <= batches; ++batch) {
      if (options_.should_abort && options_.should_abort()) {
        return Finished(Outcome::kStopped, absl::StrCat("aborted during epoch ", epoch), state.epoch);
      }
      if (first_batch_of_run_ && !replay) {
        timing.startup_seconds = SecondsSince(trial_start_);
        first_batch_of_run_ = false;
      }
      if (!replay && !SleepUntil(epoch_start + std::chrono::duration_cast<Clock::duration>(
                                                     std::chrono::duration<double>(
                                                         epoch_seconds_ * batch / batches)),
                                 options_)) {
        return Finished(Outcome::kStopped, absl::StrCat("aborted during epoch ", epoch), state.epoch);
      }
      const double step_lr = state.schedule.lr;
      const double ratio = internal::LrRatio(optimizer, step_lr);
      if (ratio > divergence_ratio_) {
        return Finished(Outcome::kDiverged,
                        absl::StrCat("train_loss is nan at epoch ", epoch, ", batch ", batch,
                                     " with lr ", step_lr),
                        state.epoch);
      }
      state.progress += internal::StepProgress(config_, optimizer, step_lr);
      ratio_sum += ratio;
      if (schedule_.per_step()) {
        if (absl::Status status = schedule_.Step(state.schedule, std::nullopt); !status.ok()) {
          return Finished(Outcome::kFailed, std::string(status.message()), state.epoch);
        }
      }
      if (options_.on_batch) {
        const int64_t images = batch < batches ? config_.batch_size
                                               : config_.train_size - (batches - 1) * config_.batch_size;
        options_.on_batch(epoch, batch, batches, images);
      }
    }
    const double train_seconds = SecondsSince(epoch_start);
    timing.model_seconds = train_seconds;
    train::EpochReport report;
    report.epoch = epoch;
    report.metrics = internal::EpochMetrics(config_, optimizer, epoch, state.progress, ratio_sum / batches);
    report.metrics["lr"] = lr;
    report.metrics["images_per_second"] =
        static_cast<double>(config_.train_size) / std::max(train_seconds, 1e-9);
    if (!schedule_.per_step()) {
      std::optional<double> monitored;
      if (!schedule_.monitor().empty()) {
        const auto it = report.metrics.find(schedule_.monitor());
        if (it == report.metrics.end()) {
          return Finished(Outcome::kFailed,
                          absl::StrCat("scheduler.monitor: the trainer reports no metric '",
                                       schedule_.monitor(), "'"),
                          state.epoch);
        }
        monitored = it->second;
      }
      if (absl::Status status = schedule_.Step(state.schedule, monitored); !status.ok()) {
        return Finished(Outcome::kFailed, std::string(status.message()), state.epoch);
      }
    }
    state.epoch = epoch;
    if (replay) continue;
    if (options_.on_checkpoint) {
      const Clock::time_point checkpoint_start = Clock::now();
      if (absl::Status status = options_.on_checkpoint(SaveCheckpoint(state)); !status.ok()) {
        return Finished(Outcome::kFailed,
                        absl::StrCat("checkpoint of epoch ", epoch, ": ", status.message()), epoch - 1);
      }
      timing.checkpoint_seconds = SecondsSince(checkpoint_start);
    }
    timing.total_seconds = SecondsSince(epoch_start);
    report.metrics["epoch_seconds"] = timing.total_seconds;
    report.timing = timing;
    if (options_.on_epoch && !options_.on_epoch(report)) {
      return Finished(Outcome::kStopped, absl::StrCat("stopped after epoch ", epoch), epoch);
    }
  }
  return Finished(Outcome::kCompleted, "", state.epoch);
}

TrialResult SimulatedTrial::RunRangeTest() {
  const internal::LrRangeModel& range = *config_.lr_range;
  const double step_seconds = epoch_seconds_ / config_.batches_per_epoch;
  double progress = 0;
  double average = 0;
  double min_smoothed = std::numeric_limits<double>::infinity();
  int epochs_done = 0;
  for (int step = 1; step <= range.iterations; ++step) {
    if (options_.should_abort && options_.should_abort()) {
      return Finished(Outcome::kStopped, absl::StrCat("aborted at step ", step), epochs_done);
    }
    const bool replay = step <= options_.start_epoch;
    const Clock::time_point step_start = Clock::now();
    train::EpochTiming timing;
    if (step == 1) timing.startup_seconds = SecondsSince(trial_start_);
    if (!replay && !SleepUntil(step_start + std::chrono::duration_cast<Clock::duration>(
                                                std::chrono::duration<double>(step_seconds)),
                               options_)) {
      return Finished(Outcome::kStopped, absl::StrCat("aborted at step ", step), epochs_done);
    }
    const double lr = range.min_lr * std::pow(range.max_lr / range.min_lr,
                                              static_cast<double>(step - 1) / (range.iterations - 1));
    const double ratio = internal::LrRatio(config_.optimizer, lr);
    if (ratio > divergence_ratio_) {
      char reason[128];
      std::snprintf(reason, sizeof(reason), "loss is nan at lr %.1e (step %d)", lr, step);
      return Finished(Outcome::kEndedEarly, reason, epochs_done);
    }
    progress += internal::StepProgress(config_, config_.optimizer, lr);
    const double loss = internal::RangeTestLoss(config_, step, progress, ratio);
    // The bias-corrected exponential average, as the trainer's LrRangeTest.
    average = range.smoothing * average + (1 - range.smoothing) * loss;
    const double smoothed = average / (1 - std::pow(range.smoothing, step));
    min_smoothed = std::min(min_smoothed, smoothed);
    if (options_.on_batch) options_.on_batch(step, 1, 1, config_.batch_size);
    epochs_done = step;
    if (!replay) {
      timing.total_seconds = SecondsSince(step_start);
      timing.model_seconds = timing.total_seconds;
      train::EpochReport report;
      report.epoch = step;
      report.metrics = {{"lr", lr}, {"train_loss", loss}, {"smoothed_loss", smoothed}};
      report.timing = timing;
      if (options_.on_epoch && !options_.on_epoch(report)) {
        return Finished(Outcome::kStopped, absl::StrCat("stopped after step ", step), step);
      }
    }
    if (smoothed > range.diverge_factor * min_smoothed) {
      char reason[160];
      std::snprintf(reason, sizeof(reason), "loss diverged at lr %.1e (smoothed %.3g > %g x min %.3g)",
                    lr, smoothed, range.diverge_factor, min_smoothed);
      return Finished(Outcome::kEndedEarly, reason, epochs_done);
    }
  }
  return Finished(Outcome::kCompleted, "", epochs_done);
}

// The state to start from: the checkpoint's (checked), else the initial one,
// from which RunEpochs replays.
absl::StatusOr<SimState> StartState(const SimConfig& config, const LrSchedule& schedule,
                                    const TrainOptions& options) {
  if (options.resume_from) {
    absl::StatusOr<SimState> state = LoadCheckpoint(*options.resume_from);
    if (!state.ok()) return state.status();
    // PBT's exploit, once: a later resume starts from a checkpoint taken after it.
    if (config.exploit && config.exploit->epoch == options.start_epoch) {
      schedule.Rescale(state->schedule, config.exploit->lr_scale);
    }
    return state;
  }
  absl::StatusOr<ScheduleState> initial = schedule.Initial();
  if (!initial.ok()) return initial.status();
  SimState state;
  state.schedule = *initial;
  return state;
}

TrialResult RunSimulatedTrial(const nlohmann::json& config_json, const TrainOptions& options,
                              double epoch_seconds) {
  const Clock::time_point trial_start = Clock::now();
  absl::StatusOr<SimConfig> config = internal::ParseSimConfig(config_json);
  if (!config.ok()) return Finished(Outcome::kFailed, std::string(config.status().message()), 0);
  if (options.start_epoch < 0) {
    return Finished(Outcome::kFailed, absl::StrCat("start_epoch: must be >= 0, got ", options.start_epoch), 0);
  }
  if (options.start_epoch >= config->epochs) return Finished(Outcome::kCompleted, "", config->epochs);
  if (options.resume_from && options.resume_from->epoch != options.start_epoch) {
    return Finished(Outcome::kFailed,
                    absl::StrCat("resume_from: the checkpoint is of epoch ", options.resume_from->epoch,
                                 ", the trial resumes after epoch ", options.start_epoch),
                    0);
  }
  if (config->exploit && !config->lr_range) {
    if (options.start_epoch < config->exploit->epoch) {
      return Finished(Outcome::kFailed,
                      absl::StrCat("exploit.epoch: the trial continues from another trial's checkpoint of epoch ",
                                   config->exploit->epoch, " and cannot start from epoch ",
                                   options.start_epoch, ", before it"),
                      options.start_epoch);
    }
    if (!options.resume_from) {
      return Finished(Outcome::kFailed,
                      absl::StrCat("exploit: the checkpoint of epoch ", options.start_epoch,
                                   " is missing; the trial continues from another trial's checkpoint of epoch ",
                                   config->exploit->epoch, " (PBT exploit) and cannot replay its epochs without it"),
                      options.start_epoch);
    }
  }
  // The range test sets the lr itself: no scheduler.
  absl::StatusOr<LrSchedule> schedule =
      LrSchedule::Make(config->lr_range ? nlohmann::json() : config->scheduler, config->optimizer.lr,
                       config->budget);
  if (!schedule.ok()) return Finished(Outcome::kFailed, std::string(schedule.status().message()), 0);
  SimulatedTrial trial(*config, *schedule, options, epoch_seconds, trial_start);
  if (config->lr_range) return trial.RunRangeTest();
  absl::StatusOr<SimState> state = StartState(*config, *schedule, options);
  if (!state.ok()) {
    return Finished(Outcome::kFailed, std::string(state.status().message()),
                    options.resume_from ? options.start_epoch : 0);
  }
  return trial.RunEpochs(*std::move(state));
}

}  // namespace

std::function<train::TrialResult(const nlohmann::json&, const train::TrainOptions&)>
SimulatedTrialFunction(SimulateOptions options) {
  return [epoch_seconds = options.epoch_seconds](const nlohmann::json& config,
                                                 const train::TrainOptions& train_options) {
    try {
      return RunSimulatedTrial(config, train_options, epoch_seconds);
    } catch (const std::exception& error) {
      // nlohmann's type errors on a malformed config, or an exception from a
      // callback: a failed trial, never a crashed worker.
      return Finished(Outcome::kFailed, absl::StrCat("exception: ", error.what()), 0);
    }
  };
}

}  // namespace segtune::simulate
