#include "segtune/store/checkpoint_store.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "segtune/proto/checksum.h"

namespace segtune::store {
namespace {

namespace fs = std::filesystem;

constexpr char kWeightsFile[] = "weights.pt";
constexpr char kStateFile[] = "state.bin";
constexpr char kInfoFile[] = "checkpoint.json";
constexpr char kEpochPrefix[] = "epoch-";
// Everything under a trial's directory whose name starts with this is
// unfinished work, removed at Open.
constexpr char kTempPrefix[] = ".tmp-";

absl::Status ErrnoStatus(int error, const std::string& what, const std::string& path) {
  const std::string message = absl::StrCat(what, " ", path, ": ", std::strerror(error));
  switch (error) {
    case ENOSPC:
    case EDQUOT:
      return absl::ResourceExhaustedError(message);
    case ENOENT:
      return absl::NotFoundError(message);
    case EACCES:
    case EPERM:
    case EROFS:
      return absl::PermissionDeniedError(message);
    default:
      return absl::InternalError(message);
  }
}

absl::Status FsStatus(const std::error_code& error, const std::string& what, const std::string& path) {
  return ErrnoStatus(error.value(), what, path);
}

// Makes a directory's entries (files created, renamed or removed in it) durable.
absl::Status SyncDir(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return ErrnoStatus(errno, "cannot open directory", path);
  const int synced = ::fsync(fd);
  const int error = errno;
  ::close(fd);
  if (synced != 0) return ErrnoStatus(error, "cannot sync directory", path);
  return absl::OkStatus();
}

absl::Status WriteAll(int fd, std::string_view data, const std::string& path) {
  while (!data.empty()) {
    const ssize_t n = ::write(fd, data.data(), data.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return ErrnoStatus(errno, "cannot write", path);
    }
    data.remove_prefix(static_cast<std::size_t>(n));
  }
  return absl::OkStatus();
}

// A trial id becomes a directory name: only plain names are accepted.
absl::Status ValidateTrialId(const std::string& trial_id) {
  if (trial_id.empty() || trial_id.size() > 200 || trial_id.front() == '.') {
    return absl::InvalidArgumentError(absl::StrCat("trial_id '", trial_id, "': not a valid trial id"));
  }
  for (char c : trial_id) {
    const bool plain = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
                       c == '_' || c == '.';
    if (!plain) return absl::InvalidArgumentError(absl::StrCat("trial_id '", trial_id, "': not a valid trial id"));
  }
  return absl::OkStatus();
}

std::string EpochDirName(int epoch) { return absl::StrCat(kEpochPrefix, epoch); }

// The epoch of an "epoch-<k>" entry, or 0 for any other name.
int EpochOfDirName(const std::string& name) {
  int epoch = 0;
  if (name.rfind(kEpochPrefix, 0) != 0) return 0;
  const std::string digits = name.substr(std::strlen(kEpochPrefix));
  if (digits.empty() || digits.front() == '0' || !absl::SimpleAtoi(digits, &epoch) || epoch < 1) return 0;
  return epoch;
}

std::string InfoJson(const CheckpointInfo& info) {
  return nlohmann::json{{"epoch", info.epoch},
                        {"attempt", info.attempt},
                        {"weights_bytes", info.weights_bytes},
                        {"weights_crc32", info.weights_crc32},
                        {"training_state_bytes", info.training_state_bytes},
                        {"training_state_crc32", info.training_state_crc32}}
      .dump(2);
}

absl::StatusOr<CheckpointInfo> ParseInfo(const std::string& text, const std::string& path) {
  const nlohmann::json json = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  CheckpointInfo info;
  const auto field = [&](const char* name, auto* value) {
    const auto it = json.find(name);
    if (it == json.end() || !it->is_number_unsigned()) return false;
    *value = it->template get<std::remove_pointer_t<decltype(value)>>();
    return true;
  };
  if (json.is_discarded() || !json.is_object() || !field("epoch", &info.epoch) ||
      !field("attempt", &info.attempt) || !field("weights_bytes", &info.weights_bytes) ||
      !field("weights_crc32", &info.weights_crc32) || !field("training_state_bytes", &info.training_state_bytes) ||
      !field("training_state_crc32", &info.training_state_crc32)) {
    return absl::DataLossError(absl::StrCat(path, ": not a valid checkpoint description"));
  }
  return info;
}

// Opens `path` for reading and checks that it holds `expected` bytes.
absl::StatusOr<int> OpenSized(const std::string& path, std::uint64_t expected) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return ErrnoStatus(errno, "cannot open", path);
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    const int error = errno;
    ::close(fd);
    return ErrnoStatus(error, "cannot stat", path);
  }
  if (static_cast<std::uint64_t>(st.st_size) != expected) {
    ::close(fd);
    return absl::DataLossError(
        absl::StrCat(path, ": ", st.st_size, " bytes, but its checkpoint.json says ", expected));
  }
  return fd;
}

}  // namespace

std::uint32_t CheckpointInfo::crc32() const {
  return proto::Crc32Combine(weights_crc32, training_state_crc32,
                             static_cast<std::uint64_t>(training_state_bytes));
}

// ------------------------------------------------------------- writer --

CheckpointWriter::CheckpointWriter(CheckpointStore* store, std::string trial_dir, std::string temp_dir,
                                   CheckpointInfo info)
    : store_(store), trial_dir_(std::move(trial_dir)), temp_dir_(std::move(temp_dir)), info_(info) {}

CheckpointWriter::~CheckpointWriter() {
  if (done_) return;
  CloseFiles();
  std::error_code ignored;
  fs::remove_all(temp_dir_, ignored);
}

absl::Status CheckpointWriter::OpenFiles() {
  const std::string weights = temp_dir_ + "/" + kWeightsFile;
  const std::string state = temp_dir_ + "/" + kStateFile;
  weights_fd_ = ::open(weights.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  if (weights_fd_ < 0) return ErrnoStatus(errno, "cannot create", weights);
  state_fd_ = ::open(state.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  if (state_fd_ < 0) return ErrnoStatus(errno, "cannot create", state);
  return absl::OkStatus();
}

void CheckpointWriter::CloseFiles() {
  if (weights_fd_ >= 0) ::close(weights_fd_);
  if (state_fd_ >= 0) ::close(state_fd_);
  weights_fd_ = state_fd_ = -1;
}

absl::Status CheckpointWriter::WritePart(int fd, const char* file, std::string_view data, std::uint32_t* crc) {
  *crc = proto::Crc32(*crc, data);
  return WriteAll(fd, data, temp_dir_ + "/" + file);
}

absl::Status CheckpointWriter::Append(std::string_view data) {
  if (done_) return absl::FailedPreconditionError("checkpoint writer: already committed or failed");
  const std::uint64_t total = info_.weights_bytes + info_.training_state_bytes;
  if (data.size() > total - written_) {
    return absl::DataLossError(
        absl::StrCat("checkpoint data: more than the ", total, " bytes announced in the header"));
  }
  if (written_ < info_.weights_bytes) {
    const std::size_t n =
        static_cast<std::size_t>(std::min<std::uint64_t>(data.size(), info_.weights_bytes - written_));
    if (absl::Status s = WritePart(weights_fd_, kWeightsFile, data.substr(0, n), &info_.weights_crc32); !s.ok()) {
      return s;
    }
    written_ += n;
    data.remove_prefix(n);
  }
  if (!data.empty()) {
    if (absl::Status s = WritePart(state_fd_, kStateFile, data, &info_.training_state_crc32); !s.ok()) return s;
    written_ += data.size();
  }
  return absl::OkStatus();
}

absl::Status CheckpointWriter::Commit(std::uint32_t expected_crc32) {
  if (done_) return absl::FailedPreconditionError("checkpoint writer: already committed or failed");
  absl::Status status = [&]() -> absl::Status {
    const std::uint64_t total = info_.weights_bytes + info_.training_state_bytes;
    if (written_ != total) {
      return absl::DataLossError(
          absl::StrCat("checkpoint data: ", written_, " bytes arrived, the header announced ", total));
    }
    if (info_.crc32() != expected_crc32) {
      return absl::DataLossError(absl::StrCat("checkpoint data: checksum mismatch (crc32 of the data is ",
                                              info_.crc32(), ", the header says ", expected_crc32, ")"));
    }
    const std::string info_path = temp_dir_ + "/" + kInfoFile;
    const int info_fd = ::open(info_path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (info_fd < 0) return ErrnoStatus(errno, "cannot create", info_path);
    absl::Status written = WriteAll(info_fd, InfoJson(info_), info_path);
    if (written.ok() && ::fsync(info_fd) != 0) written = ErrnoStatus(errno, "cannot sync", info_path);
    ::close(info_fd);
    if (!written.ok()) return written;
    for (const auto& [fd, file] : {std::pair{weights_fd_, kWeightsFile}, std::pair{state_fd_, kStateFile}}) {
      if (::fsync(fd) != 0) return ErrnoStatus(errno, "cannot sync", temp_dir_ + "/" + file);
    }
    CloseFiles();
    if (absl::Status s = SyncDir(temp_dir_); !s.ok()) return s;
    return store_->Publish(trial_dir_, temp_dir_, info_.epoch);
  }();
  if (!status.ok()) {
    CloseFiles();
    std::error_code ignored;
    fs::remove_all(temp_dir_, ignored);
  }
  done_ = true;
  return status;
}

// ------------------------------------------------------------- reader --

CheckpointReader::CheckpointReader(CheckpointInfo info, std::string dir, int weights_fd, int state_fd,
                                   bool with_training_state)
    : info_(info),
      dir_(std::move(dir)),
      weights_fd_(weights_fd),
      state_fd_(state_fd),
      total_(info.weights_bytes + (with_training_state ? info.training_state_bytes : 0)) {}

CheckpointReader::~CheckpointReader() {
  ::close(weights_fd_);
  if (state_fd_ >= 0) ::close(state_fd_);
}

absl::StatusOr<std::string> CheckpointReader::Next(std::size_t max_bytes) {
  if (read_ == total_ || max_bytes == 0) return std::string();
  const bool in_weights = read_ < info_.weights_bytes;
  const int fd = in_weights ? weights_fd_ : state_fd_;
  const std::uint64_t offset = in_weights ? read_ : read_ - info_.weights_bytes;
  const std::uint64_t part_left = in_weights ? info_.weights_bytes - read_ : total_ - read_;
  std::string chunk(static_cast<std::size_t>(std::min<std::uint64_t>(max_bytes, part_left)), '\0');
  std::size_t filled = 0;
  while (filled < chunk.size()) {
    const ssize_t n = ::pread(fd, chunk.data() + filled, chunk.size() - filled, static_cast<off_t>(offset + filled));
    if (n < 0) {
      if (errno == EINTR) continue;
      return ErrnoStatus(errno, "cannot read", absl::StrCat(dir_, "/", in_weights ? kWeightsFile : kStateFile));
    }
    if (n == 0) {
      return absl::DataLossError(
          absl::StrCat(dir_, "/", in_weights ? kWeightsFile : kStateFile, ": shorter than its checkpoint.json says"));
    }
    filled += static_cast<std::size_t>(n);
  }
  read_ += filled;
  return chunk;
}

// -------------------------------------------------------------- store --

absl::StatusOr<std::unique_ptr<CheckpointStore>> CheckpointStore::Open(const std::string& root) {
  if (root.empty()) return absl::InvalidArgumentError("checkpoint directory: must not be empty");
  std::error_code error;
  fs::create_directories(root, error);
  if (error) return FsStatus(error, "cannot create checkpoint directory", root);
  for (fs::directory_iterator trial(root, error), end; !error && trial != end; trial.increment(error)) {
    if (!trial->is_directory()) continue;
    for (fs::directory_iterator entry(trial->path(), error); !error && entry != fs::directory_iterator();
         entry.increment(error)) {
      if (entry->path().filename().string().rfind(kTempPrefix, 0) != 0) continue;
      fs::remove_all(entry->path(), error);
      if (error) return FsStatus(error, "cannot remove the unfinished checkpoint", entry->path().string());
    }
    if (error) return FsStatus(error, "cannot list", trial->path().string());
  }
  if (error) return FsStatus(error, "cannot list checkpoint directory", root);
  return std::unique_ptr<CheckpointStore>(new CheckpointStore(root));
}

absl::StatusOr<std::string> CheckpointStore::TrialDir(const std::string& trial_id) const {
  if (absl::Status s = ValidateTrialId(trial_id); !s.ok()) return s;
  return absl::StrCat(root_, "/", trial_id);
}

absl::StatusOr<std::unique_ptr<CheckpointWriter>> CheckpointStore::StartWrite(const std::string& trial_id,
                                                                               int epoch, int attempt,
                                                                               std::uint64_t weights_bytes,
                                                                               std::uint64_t training_state_bytes) {
  auto trial_dir = TrialDir(trial_id);
  if (!trial_dir.ok()) return trial_dir.status();
  if (epoch < 1) return absl::InvalidArgumentError(absl::StrCat("epoch: must be >= 1, got ", epoch));
  if (weights_bytes > kMaxCheckpointBytes || training_state_bytes > kMaxCheckpointBytes - weights_bytes) {
    return absl::InvalidArgumentError(absl::StrCat("checkpoint: weights (", weights_bytes,
                                                   " bytes) and training state (", training_state_bytes,
                                                   " bytes) exceed the limit of ", kMaxCheckpointBytes,
                                                   " bytes (4 GiB)"));
  }
  std::string temp_dir;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (::mkdir(trial_dir->c_str(), 0755) == 0) {
      // A new trial directory must survive a crash together with what is renamed into it.
      if (absl::Status s = SyncDir(root_); !s.ok()) return s;
    } else if (errno != EEXIST) {
      return ErrnoStatus(errno, "cannot create", *trial_dir);
    }
    temp_dir = absl::StrCat(*trial_dir, "/", kTempPrefix, EpochDirName(epoch), "-", next_temp_++);
  }
  if (::mkdir(temp_dir.c_str(), 0755) != 0) return ErrnoStatus(errno, "cannot create", temp_dir);
  CheckpointInfo info;
  info.epoch = epoch;
  info.attempt = attempt;
  info.weights_bytes = weights_bytes;
  info.training_state_bytes = training_state_bytes;
  std::unique_ptr<CheckpointWriter> writer(new CheckpointWriter(this, *trial_dir, temp_dir, info));
  if (absl::Status s = writer->OpenFiles(); !s.ok()) return s;  // the writer removes temp_dir
  return writer;
}

absl::Status CheckpointStore::Publish(const std::string& trial_dir, const std::string& temp_dir, int epoch) {
  const std::string final_dir = absl::StrCat(trial_dir, "/", EpochDirName(epoch));
  std::lock_guard<std::mutex> lock(mu_);
  // Exchanging the two directories replaces an earlier copy in one step: at
  // every moment one complete copy is visible. The old copy ends up under the
  // temporary name and is removed.
  if (::renameat2(AT_FDCWD, temp_dir.c_str(), AT_FDCWD, final_dir.c_str(), RENAME_EXCHANGE) != 0) {
    if (errno == ENOENT) {
      // No earlier copy: a plain rename.
      if (::rename(temp_dir.c_str(), final_dir.c_str()) != 0) return ErrnoStatus(errno, "cannot rename to", final_dir);
    } else if (errno == EINVAL || errno == ENOSYS) {
      // A filesystem without exchange: move the old copy aside first. A crash
      // in between leaves no copy of this epoch (the resumed trial replays),
      // never a partial one.
      const std::string old_dir = temp_dir + "-old";
      if (::rename(final_dir.c_str(), old_dir.c_str()) != 0) return ErrnoStatus(errno, "cannot rename", final_dir);
      if (::rename(temp_dir.c_str(), final_dir.c_str()) != 0) return ErrnoStatus(errno, "cannot rename to", final_dir);
      std::error_code ignored;
      fs::remove_all(old_dir, ignored);
    } else {
      return ErrnoStatus(errno, "cannot exchange with", final_dir);
    }
  } else {
    std::error_code error;
    fs::remove_all(temp_dir, error);  // the replaced copy
    if (error) return FsStatus(error, "cannot remove the replaced checkpoint", temp_dir);
  }
  return SyncDir(trial_dir);
}

absl::StatusOr<std::unique_ptr<CheckpointReader>> CheckpointStore::Read(const std::string& trial_id, int epoch,
                                                                        bool with_training_state) {
  auto trial_dir = TrialDir(trial_id);
  if (!trial_dir.ok()) return trial_dir.status();
  const std::string dir = absl::StrCat(*trial_dir, "/", EpochDirName(epoch));
  const std::string info_path = dir + "/" + kInfoFile;
  std::lock_guard<std::mutex> lock(mu_);
  std::ifstream file(info_path, std::ios::binary);
  if (!file) {
    if (errno == ENOENT) {
      return absl::NotFoundError(absl::StrCat("no checkpoint of trial ", trial_id, " epoch ", epoch, " is stored"));
    }
    return ErrnoStatus(errno, "cannot open", info_path);
  }
  std::ostringstream text;
  text << file.rdbuf();
  auto info = ParseInfo(text.str(), info_path);
  if (!info.ok()) return info.status();
  if (info->epoch != epoch) {
    return absl::DataLossError(absl::StrCat(info_path, ": describes epoch ", info->epoch, ", not ", epoch));
  }
  auto weights_fd = OpenSized(dir + "/" + kWeightsFile, info->weights_bytes);
  if (!weights_fd.ok()) return weights_fd.status();
  int state_fd = -1;
  if (with_training_state) {
    auto opened = OpenSized(dir + "/" + kStateFile, info->training_state_bytes);
    if (!opened.ok()) {
      ::close(*weights_fd);
      return opened.status();
    }
    state_fd = *opened;
  }
  return std::unique_ptr<CheckpointReader>(
      new CheckpointReader(*info, dir, *weights_fd, state_fd, with_training_state));
}

absl::StatusOr<std::vector<int>> CheckpointStore::ListEpochs(const std::string& trial_id) {
  auto trial_dir = TrialDir(trial_id);
  if (!trial_dir.ok()) return trial_dir.status();
  std::vector<int> epochs;
  std::lock_guard<std::mutex> lock(mu_);
  std::error_code error;
  if (!fs::exists(*trial_dir, error)) return epochs;
  for (fs::directory_iterator entry(*trial_dir, error), end; !error && entry != end; entry.increment(error)) {
    if (const int epoch = EpochOfDirName(entry->path().filename().string()); epoch > 0) epochs.push_back(epoch);
  }
  if (error) return FsStatus(error, "cannot list", *trial_dir);
  std::sort(epochs.begin(), epochs.end());
  return epochs;
}

absl::Status CheckpointStore::Retain(const std::string& trial_id, int latest_epoch, int best_epoch,
                                    int keep_every) {
  if (keep_every < 0) {
    return absl::InvalidArgumentError(absl::StrCat("keep_every: must be >= 0, got ", keep_every));
  }
  auto epochs = ListEpochs(trial_id);
  if (!epochs.ok()) return epochs.status();
  const std::string trial_dir = absl::StrCat(root_, "/", trial_id);
  std::lock_guard<std::mutex> lock(mu_);
  for (int epoch : *epochs) {
    if (epoch >= latest_epoch || epoch == best_epoch) continue;
    if (keep_every > 0 && epoch % keep_every == 0) continue;
    // Renamed away first, so that a crash while its files are removed never
    // leaves part of a checkpoint under its visible name.
    const std::string dir = absl::StrCat(trial_dir, "/", EpochDirName(epoch));
    const std::string doomed = absl::StrCat(trial_dir, "/", kTempPrefix, "deleted-", next_temp_++);
    if (::rename(dir.c_str(), doomed.c_str()) != 0) return ErrnoStatus(errno, "cannot rename", dir);
    std::error_code error;
    fs::remove_all(doomed, error);
    if (error) return FsStatus(error, "cannot remove", doomed);
  }
  return absl::OkStatus();
}

absl::Status CheckpointStore::CopyCheckpoint(const std::string& from_trial, int epoch,
                                            const std::string& to_trial) {
  if (absl::Status s = ValidateTrialId(to_trial); !s.ok()) return s;
  if (from_trial == to_trial) {
    return absl::InvalidArgumentError(
        absl::StrCat("to_trial '", to_trial, "': a checkpoint cannot be copied onto itself"));
  }
  if (epoch < 1) return absl::InvalidArgumentError(absl::StrCat("epoch: must be >= 1, got ", epoch));
  // The reader holds the donor's files open, so a Retain deleting them
  // meanwhile does not cut the copy short.
  auto reader = Read(from_trial, epoch, /*with_training_state=*/true);
  if (!reader.ok()) return reader.status();
  const CheckpointInfo& info = (*reader)->info();
  auto writer = StartWrite(to_trial, epoch, info.attempt, info.weights_bytes, info.training_state_bytes);
  if (!writer.ok()) return writer.status();
  // On an error the writer removes what it wrote.
  const absl::Status copied = [&]() -> absl::Status {
    constexpr std::size_t kChunkBytes = std::size_t{1} << 20;
    while (true) {
      auto chunk = (*reader)->Next(kChunkBytes);
      if (!chunk.ok()) return chunk.status();
      if (chunk->empty()) break;
      if (absl::Status s = (*writer)->Append(*chunk); !s.ok()) return s;
    }
    // The checksum the donor's checkpoint.json records: a damaged donor
    // fails here, and nothing becomes visible.
    return (*writer)->Commit(info.crc32());
  }();
  if (copied.ok()) return copied;
  return absl::Status(copied.code(), absl::StrCat("copying trial ", from_trial, "'s checkpoint of epoch ", epoch,
                                                  " to trial ", to_trial, ": ", copied.message()));
}

}  // namespace segtune::store
