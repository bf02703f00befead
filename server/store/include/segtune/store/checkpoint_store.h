// Checkpoints of trials on the coordinator's disk: the state of a trial after
// an epoch, which a resumed attempt starts from and `segtune export` hands
// out. One directory per trial and epoch (docs/store.md):
//
//   <root>/<trial_id>/epoch-<k>/weights.pt       the model's state dict (torch.save zip)
//                               state.bin        optimizer, scheduler, trainer counters
//                               checkpoint.json  epoch, attempt, sizes and CRC-32s
//
// A checkpoint is written into a temporary directory beside its final one,
// synced, and renamed into place (atomically exchanged with an older copy of
// the same epoch), so that a crash never leaves a partial checkpoint visible;
// Open removes the temporary directories a crash left behind.
//
// Thread-safety: every CheckpointStore method is thread-safe. A writer or a
// reader belongs to one thread at a time. Readers hold their files open, so a
// checkpoint replaced or deleted while it is read is still read whole.
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace segtune::store {

// The largest checkpoint accepted, weights and training state together.
inline constexpr std::uint64_t kMaxCheckpointBytes = std::uint64_t{4} << 30;  // 4 GiB

// What checkpoint.json records.
struct CheckpointInfo {
  int epoch = 0;
  int attempt = 0;  // the attempt that uploaded it
  std::uint64_t weights_bytes = 0;
  std::uint32_t weights_crc32 = 0;
  std::uint64_t training_state_bytes = 0;
  std::uint32_t training_state_crc32 = 0;

  // zlib's CRC-32 of the weights followed by the training state, as
  // segtune.v1.CheckpointHeader.crc32 carries it.
  std::uint32_t crc32() const;
};

class CheckpointStore;

// One checkpoint being written. Destroying a writer that did not commit
// removes what it wrote.
class CheckpointWriter {
 public:
  ~CheckpointWriter();
  CheckpointWriter(const CheckpointWriter&) = delete;
  CheckpointWriter& operator=(const CheckpointWriter&) = delete;

  // Appends the next bytes of the checkpoint: the weights, then the training
  // state. DataLoss past the sizes given to StartWrite.
  absl::Status Append(std::string_view data);

  // Checks that exactly the announced sizes were written and that the CRC-32
  // of the data is `expected_crc32` (DataLoss otherwise, and nothing becomes
  // visible), syncs the files and puts the checkpoint in place of any earlier
  // one of the same epoch. Durable when it returns OK. Call at most once.
  absl::Status Commit(std::uint32_t expected_crc32);

 private:
  friend class CheckpointStore;
  CheckpointWriter(CheckpointStore* store, std::string trial_dir, std::string temp_dir, CheckpointInfo info);
  absl::Status OpenFiles();
  absl::Status WritePart(int fd, const char* file, std::string_view data, std::uint32_t* crc);
  void CloseFiles();

  CheckpointStore* const store_;
  const std::string trial_dir_;
  const std::string temp_dir_;
  CheckpointInfo info_;  // crc32 fields are filled in as data arrives
  int weights_fd_ = -1;
  int state_fd_ = -1;
  std::uint64_t written_ = 0;
  bool done_ = false;  // committed, or failed and cleaned up
};

// One stored checkpoint, read front to back.
class CheckpointReader {
 public:
  ~CheckpointReader();
  CheckpointReader(const CheckpointReader&) = delete;
  CheckpointReader& operator=(const CheckpointReader&) = delete;

  const CheckpointInfo& info() const { return info_; }
  // What Next returns in all: the weights, plus the training state if asked for.
  std::uint64_t size() const { return total_; }

  // The next bytes, at most `max_bytes` (> 0); empty once everything was read.
  absl::StatusOr<std::string> Next(std::size_t max_bytes);

 private:
  friend class CheckpointStore;
  CheckpointReader(CheckpointInfo info, std::string dir, int weights_fd, int state_fd, bool with_training_state);

  const CheckpointInfo info_;
  const std::string dir_;
  const int weights_fd_;
  const int state_fd_;  // -1 without the training state
  const std::uint64_t total_;
  std::uint64_t read_ = 0;
};

class CheckpointStore {
 public:
  // Creates `root` if needed and removes temporary directories left by a
  // crash. One process at a time may use a root (the coordinator that owns
  // the database beside it).
  static absl::StatusOr<std::unique_ptr<CheckpointStore>> Open(const std::string& root);

  const std::string& root() const { return root_; }

  // Starts writing the checkpoint of `trial_id` after `epoch` (>= 1), from
  // `attempt`. InvalidArgument for a trial id that is not a plain file name,
  // a bad epoch, or sizes over kMaxCheckpointBytes.
  absl::StatusOr<std::unique_ptr<CheckpointWriter>> StartWrite(const std::string& trial_id, int epoch, int attempt,
                                                                std::uint64_t weights_bytes,
                                                                std::uint64_t training_state_bytes);

  // Opens the stored checkpoint of `epoch`; NotFound when there is none.
  // Without `with_training_state` the reader returns the weights only.
  // DataLoss when its files do not match its checkpoint.json.
  absl::StatusOr<std::unique_ptr<CheckpointReader>> Read(const std::string& trial_id, int epoch,
                                                         bool with_training_state);

  // The epochs of the trial with a stored checkpoint, ascending (none for a
  // trial without checkpoints).
  absl::StatusOr<std::vector<int>> ListEpochs(const std::string& trial_id);

  // Deletes the trial's checkpoints of every epoch before `latest_epoch`
  // except `best_epoch`'s (0: none is best yet) and, with `keep_every` > 0,
  // those of the epochs divisible by it (PBT keeps every
  // perturbation_interval-th checkpoint for the trials that copy it). Later
  // epochs are kept: they may belong to a report still on its way.
  // InvalidArgument for a negative keep_every.
  absl::Status Retain(const std::string& trial_id, int latest_epoch, int best_epoch, int keep_every = 0);

  // PBT's exploit: makes `from_trial`'s checkpoint of `epoch` `to_trial`'s
  // checkpoint of `epoch` too, in place of any it had. The bytes are copied
  // through a CheckpointWriter, so the copy is as atomic and durable as
  // Commit (durable when it returns OK; a crash leaves the old copy or the
  // new one, never part of one) and its CRC-32s are checked against the
  // donor's checkpoint.json on the way. The copy's checkpoint.json keeps the
  // donor's `attempt`: the attempt that produced the state, not one of
  // `to_trial`'s. NotFound when `from_trial` has no checkpoint of `epoch`;
  // InvalidArgument for ids that are not plain file names, the same id
  // twice, or epoch < 1; DataLoss when the donor's files are damaged
  // (nothing changes).
  absl::Status CopyCheckpoint(const std::string& from_trial, int epoch, const std::string& to_trial);

 private:
  friend class CheckpointWriter;
  explicit CheckpointStore(std::string root) : root_(std::move(root)) {}
  absl::StatusOr<std::string> TrialDir(const std::string& trial_id) const;
  // Moves a synced temporary directory into place as `epoch`'s checkpoint.
  absl::Status Publish(const std::string& trial_dir, const std::string& temp_dir, int epoch);

  const std::string root_;
  // Serializes what changes or reads the set of visible checkpoints (publish,
  // delete, open for reading), so a reader never pairs one copy's
  // checkpoint.json with another copy's files.
  std::mutex mu_;
  std::uint64_t next_temp_ = 0;  // GUARDED_BY(mu_)
};

}  // namespace segtune::store
