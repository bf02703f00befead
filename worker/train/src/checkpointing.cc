#include "checkpointing.h"

#include <sstream>
#include <string>

#include <c10/util/Exception.h>
#include <torch/serialize/input-archive.h>
#include <torch/serialize/output-archive.h>

#include "absl/strings/str_cat.h"
#include "segtune/models/weights.h"

namespace segtune::train::internal {
namespace {

// Bumped when the archive's layout changes, so an old checkpoint is refused
// by name rather than misread.
constexpr int64_t kFormatVersion = 1;

}  // namespace

Checkpoint SaveCheckpoint(const TrainingState& state, int epoch) {
  Checkpoint checkpoint;
  checkpoint.epoch = epoch;
  checkpoint.weights = models::SaveWeights(*state.model);

  torch::serialize::OutputArchive archive;
  archive.write("format_version", torch::tensor(kFormatVersion));
  archive.write("epoch", torch::tensor(static_cast<int64_t>(epoch)));
  torch::serialize::OutputArchive optimizer_archive;
  state.optimizer->save(optimizer_archive);
  archive.write("optimizer", optimizer_archive);
  if (state.scheduler != nullptr) {
    torch::serialize::OutputArchive scheduler_archive;
    state.scheduler->save(scheduler_archive);
    archive.write("scheduler", scheduler_archive);
  }
  if (state.scaler != nullptr) {
    torch::serialize::OutputArchive scaler_archive;
    state.scaler->save(scaler_archive);
    archive.write("grad_scaler", scaler_archive);
  }
  std::ostringstream bytes;
  archive.save_to(bytes);
  checkpoint.training_state = bytes.str();
  return checkpoint;
}

absl::Status RestoreCheckpoint(const Checkpoint& checkpoint, const TrainingState& state) {
  torch::serialize::InputArchive archive;
  try {
    std::istringstream bytes(checkpoint.training_state);
    archive.load_from(bytes);
  } catch (const c10::Error& error) {
    return absl::DataLossError(absl::StrCat("checkpoint of epoch ", checkpoint.epoch,
                                            ": training state unreadable: ",
                                            error.what_without_backtrace()));
  }
  try {
    torch::Tensor version;
    archive.read("format_version", version);
    if (version.item<int64_t>() != kFormatVersion) {
      return absl::InvalidArgumentError(
          absl::StrCat("checkpoint of epoch ", checkpoint.epoch, ": format version ",
                       version.item<int64_t>(), ", this worker reads ", kFormatVersion));
    }
    torch::Tensor epoch;
    archive.read("epoch", epoch);
    if (epoch.item<int64_t>() != checkpoint.epoch) {
      return absl::DataLossError(absl::StrCat("checkpoint labelled epoch ", checkpoint.epoch,
                                              " holds the state after epoch ",
                                              epoch.item<int64_t>()));
    }
    // Weights first: LoadWeights checks every name and shape before it
    // copies, so a checkpoint of another model changes nothing.
    if (absl::Status status = models::LoadWeights(*state.model, checkpoint.weights);
        !status.ok()) {
      return absl::Status(status.code(), absl::StrCat("checkpoint of epoch ", checkpoint.epoch,
                                                      ": weights: ", status.message()));
    }
    torch::serialize::InputArchive optimizer_archive;
    archive.read("optimizer", optimizer_archive);
    state.optimizer->load(optimizer_archive);
    if (state.scheduler != nullptr) {
      torch::serialize::InputArchive scheduler_archive;
      archive.read("scheduler", scheduler_archive);
      state.scheduler->load(scheduler_archive);
    }
    if (state.scaler != nullptr) {
      torch::serialize::InputArchive scaler_archive;
      archive.read("grad_scaler", scaler_archive);
      state.scaler->load(scaler_archive);
    }
  } catch (const c10::Error& error) {
    return absl::InvalidArgumentError(
        absl::StrCat("checkpoint of epoch ", checkpoint.epoch,
                     " does not fit this trial's optimizer or scheduler: ",
                     error.what_without_backtrace()));
  }
  return absl::OkStatus();
}

}  // namespace segtune::train::internal
