#include "checkpointing.h"

#include <sstream>
#include <string>
#include <type_traits>
#include <utility>

#include <c10/util/Exception.h>
#include <torch/optim/optimizer.h>
#include <torch/serialize/input-archive.h>
#include <torch/serialize/output-archive.h>

#include "absl/strings/str_cat.h"
#include "segtune/models/weights.h"

namespace segtune::train::internal {
namespace {

// Bumped when the archive's layout changes, so an old checkpoint is refused
// by name rather than misread.
constexpr int64_t kFormatVersion = 1;

// How Optimizer::state() keys a parameter's state in this LibTorch: the
// TensorImpl address printed as a string (1.13), or the address itself
// (newer 2.x). LibTorch's optimizer serialization writes those keys, and a
// pointer-keyed LibTorch reads string keys back as 0, which would mix every
// parameter's optimizer state up. Checkpoints therefore say which kind they
// hold; one without the field comes from before it existed, when segtune
// built against 1.13 only.
enum class StateKeys : int64_t { kStrings = 0, kPointers = 1 };
using OptimizerStateKey =
    std::remove_reference_t<decltype(std::declval<torch::optim::Optimizer&>().state())>::key_type;
constexpr StateKeys kThisBuildsStateKeys =
    std::is_same_v<OptimizerStateKey, std::string> ? StateKeys::kStrings : StateKeys::kPointers;

}  // namespace

Checkpoint SaveCheckpoint(const TrainingState& state, int epoch) {
  Checkpoint checkpoint;
  checkpoint.epoch = epoch;
  checkpoint.weights = models::SaveWeights(*state.model);

  torch::serialize::OutputArchive archive;
  archive.write("format_version", torch::tensor(kFormatVersion));
  archive.write("epoch", torch::tensor(static_cast<int64_t>(epoch)));
  archive.write("optimizer_state_keys", torch::tensor(static_cast<int64_t>(kThisBuildsStateKeys)));
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
    torch::Tensor state_keys;
    const StateKeys written_with = archive.try_read("optimizer_state_keys", state_keys)
                                       ? static_cast<StateKeys>(state_keys.item<int64_t>())
                                       : StateKeys::kStrings;
    if (written_with == StateKeys::kStrings && kThisBuildsStateKeys == StateKeys::kPointers) {
      return absl::FailedPreconditionError(absl::StrCat(
          "checkpoint of epoch ", checkpoint.epoch,
          " was written by a LibTorch that keys optimizer state by strings (such as 1.13); this worker's "
          "LibTorch keys it by address and would misread it: keep a sweep's workers on one LibTorch version"));
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
