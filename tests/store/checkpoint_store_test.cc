#include "segtune/store/checkpoint_store.h"

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>
#include <zlib.h>

#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <vector>

#include "gtest/gtest.h"

namespace segtune::store {
namespace {

namespace fs = std::filesystem;

std::uint32_t Crc32(const std::string& data) {
  return static_cast<std::uint32_t>(
      ::crc32(0, reinterpret_cast<const Bytef*>(data.data()), static_cast<uInt>(data.size())));
}

// Bytes that differ from position to position, so that a misplaced chunk shows.
std::string Pattern(std::size_t size, char seed) {
  std::string data(size, '\0');
  for (std::size_t i = 0; i < size; ++i) data[i] = static_cast<char>(seed + i * 7 + i / 251);
  return data;
}

class CheckpointStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = fs::temp_directory_path() / ("segtune-checkpoints-" + std::to_string(std::random_device{}()));
    Reopen();
  }
  void TearDown() override {
    store_.reset();
    fs::remove_all(root_);
  }

  void Reopen() {
    store_.reset();
    auto store = CheckpointStore::Open(root_.string());
    ASSERT_TRUE(store.ok()) << store.status();
    store_ = *std::move(store);
  }

  // Writes a checkpoint in pieces of `piece` bytes and commits it.
  absl::Status Put(const std::string& trial_id, int epoch, const std::string& weights, const std::string& state,
                   std::size_t piece = 1000, int attempt = 1) {
    auto writer = store_->StartWrite(trial_id, epoch, attempt, weights.size(), state.size());
    if (!writer.ok()) return writer.status();
    const std::string data = weights + state;
    for (std::size_t at = 0; at < data.size(); at += piece) {
      if (absl::Status s = (*writer)->Append(std::string_view(data).substr(at, piece)); !s.ok()) return s;
    }
    return (*writer)->Commit(Crc32(data));
  }

  // Everything a reader returns, read `piece` bytes at a time.
  std::string ReadAll(CheckpointReader& reader, std::size_t piece = 700) {
    std::string data;
    while (true) {
      auto chunk = reader.Next(piece);
      EXPECT_TRUE(chunk.ok()) << chunk.status();
      if (!chunk.ok() || chunk->empty()) return data;
      EXPECT_LE(chunk->size(), piece);
      data += *chunk;
    }
  }

  std::vector<int> Epochs(const std::string& trial_id) {
    auto epochs = store_->ListEpochs(trial_id);
    EXPECT_TRUE(epochs.ok()) << epochs.status();
    return epochs.ok() ? *epochs : std::vector<int>{};
  }

  // Entries of the trial's directory, hidden ones included.
  std::vector<std::string> Entries(const std::string& trial_id) {
    std::vector<std::string> names;
    for (const auto& entry : fs::directory_iterator(root_ / trial_id)) names.push_back(entry.path().filename());
    std::sort(names.begin(), names.end());
    return names;
  }

  fs::path root_;
  std::unique_ptr<CheckpointStore> store_;
};

TEST_F(CheckpointStoreTest, WrittenCheckpointReadsBackWholeOrWeightsOnly) {
  const std::string weights = Pattern(2500, 'w');
  const std::string state = Pattern(1300, 's');
  ASSERT_TRUE(Put("s1-0000", 3, weights, state).ok());

  EXPECT_TRUE(fs::exists(root_ / "s1-0000" / "epoch-3" / "weights.pt"));
  EXPECT_TRUE(fs::exists(root_ / "s1-0000" / "epoch-3" / "state.bin"));
  auto whole = store_->Read("s1-0000", 3, /*with_training_state=*/true);
  ASSERT_TRUE(whole.ok()) << whole.status();
  EXPECT_EQ((*whole)->info().epoch, 3);
  EXPECT_EQ((*whole)->info().attempt, 1);
  EXPECT_EQ((*whole)->info().weights_bytes, weights.size());
  EXPECT_EQ((*whole)->info().weights_crc32, Crc32(weights));
  EXPECT_EQ((*whole)->info().crc32(), Crc32(weights + state));
  EXPECT_EQ((*whole)->size(), weights.size() + state.size());
  EXPECT_EQ(ReadAll(**whole), weights + state);

  auto weights_only = store_->Read("s1-0000", 3, /*with_training_state=*/false);
  ASSERT_TRUE(weights_only.ok()) << weights_only.status();
  EXPECT_EQ((*weights_only)->size(), weights.size());
  EXPECT_EQ(ReadAll(**weights_only), weights);
}

TEST_F(CheckpointStoreTest, ChecksumMismatchCommitsNothing) {
  auto writer = store_->StartWrite("s1-0000", 1, 1, 4, 2);
  ASSERT_TRUE(writer.ok());
  ASSERT_TRUE((*writer)->Append("abcdef").ok());
  const absl::Status committed = (*writer)->Commit(Crc32("abcdeX"));
  EXPECT_EQ(committed.code(), absl::StatusCode::kDataLoss);
  EXPECT_NE(committed.message().find("checksum"), std::string::npos) << committed;
  EXPECT_TRUE(Epochs("s1-0000").empty());
  EXPECT_TRUE(Entries("s1-0000").empty());  // the temporary directory is gone too
}

TEST_F(CheckpointStoreTest, SizesMustMatchTheAnnouncedOnes) {
  auto short_writer = store_->StartWrite("s1-0000", 1, 1, 4, 2);
  ASSERT_TRUE(short_writer.ok());
  ASSERT_TRUE((*short_writer)->Append("abc").ok());
  EXPECT_EQ((*short_writer)->Commit(Crc32("abc")).code(), absl::StatusCode::kDataLoss);

  auto long_writer = store_->StartWrite("s1-0000", 1, 1, 4, 2);
  ASSERT_TRUE(long_writer.ok());
  EXPECT_EQ((*long_writer)->Append("abcdefg").code(), absl::StatusCode::kDataLoss);
  long_writer->reset();
  EXPECT_TRUE(Epochs("s1-0000").empty());
  EXPECT_TRUE(Entries("s1-0000").empty());
}

TEST_F(CheckpointStoreTest, NothingIsVisibleBeforeCommitAndAnAbandonedWriteLeavesNothing) {
  auto writer = store_->StartWrite("s1-0000", 2, 1, 3, 0);
  ASSERT_TRUE(writer.ok());
  ASSERT_TRUE((*writer)->Append("abc").ok());
  EXPECT_TRUE(Epochs("s1-0000").empty());
  EXPECT_EQ(store_->Read("s1-0000", 2, true).status().code(), absl::StatusCode::kNotFound);
  writer->reset();
  EXPECT_TRUE(Entries("s1-0000").empty());
}

TEST_F(CheckpointStoreTest, ReuploadReplacesTheEpochWhileAReaderKeepsTheOldCopy) {
  const std::string old_weights = Pattern(3000, 'a');
  const std::string new_weights = Pattern(2000, 'b');
  ASSERT_TRUE(Put("s1-0000", 2, old_weights, "old").ok());
  auto reader = store_->Read("s1-0000", 2, true);
  ASSERT_TRUE(reader.ok());

  ASSERT_TRUE(Put("s1-0000", 2, new_weights, "new").ok());
  EXPECT_EQ(Epochs("s1-0000"), (std::vector<int>{2}));
  EXPECT_EQ(Entries("s1-0000"), (std::vector<std::string>{"epoch-2"}));  // the old copy is gone from disk
  EXPECT_EQ(ReadAll(**reader), old_weights + "old");
  auto fresh = store_->Read("s1-0000", 2, true);
  ASSERT_TRUE(fresh.ok());
  EXPECT_EQ(ReadAll(**fresh), new_weights + "new");
}

TEST_F(CheckpointStoreTest, RetainKeepsTheLatestTheBestAndLaterEpochs) {
  for (int epoch = 1; epoch <= 6; ++epoch) ASSERT_TRUE(Put("s1-0000", epoch, "w", "s").ok());
  ASSERT_TRUE(store_->Retain("s1-0000", /*latest_epoch=*/5, /*best_epoch=*/2).ok());
  EXPECT_EQ(Epochs("s1-0000"), (std::vector<int>{2, 5, 6}));
  EXPECT_EQ(Entries("s1-0000"), (std::vector<std::string>{"epoch-2", "epoch-5", "epoch-6"}));

  // The best is the latest: only later epochs stay beside it.
  ASSERT_TRUE(store_->Retain("s1-0000", 6, 6).ok());
  EXPECT_EQ(Epochs("s1-0000"), (std::vector<int>{6}));
  // No best yet, and a trial without checkpoints.
  ASSERT_TRUE(Put("s1-0001", 1, "w", "s").ok());
  ASSERT_TRUE(store_->Retain("s1-0001", 1, 0).ok());
  EXPECT_EQ(Epochs("s1-0001"), (std::vector<int>{1}));
  EXPECT_TRUE(store_->Retain("s1-0002", 4, 2).ok());
}

TEST_F(CheckpointStoreTest, RetainAlsoKeepsEveryKeepEveryThEpoch) {
  for (int epoch = 1; epoch <= 9; ++epoch) ASSERT_TRUE(Put("s1-0000", epoch, "w", "s").ok());
  ASSERT_TRUE(store_->Retain("s1-0000", /*latest_epoch=*/8, /*best_epoch=*/5, /*keep_every=*/3).ok());
  EXPECT_EQ(Epochs("s1-0000"), (std::vector<int>{3, 5, 6, 8, 9}));
  // A later call with another interval keeps its own multiples only.
  ASSERT_TRUE(store_->Retain("s1-0000", 9, 5, 4).ok());
  EXPECT_EQ(Epochs("s1-0000"), (std::vector<int>{5, 8, 9}));
  const absl::Status negative = store_->Retain("s1-0000", 9, 5, -1);
  EXPECT_EQ(negative.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(negative.message().find("keep_every"), std::string::npos) << negative;
  EXPECT_EQ(Epochs("s1-0000"), (std::vector<int>{5, 8, 9}));
}

TEST_F(CheckpointStoreTest, CopyMakesTheDonorsCheckpointTheRecipientsOfTheSameEpoch) {
  const std::string weights = Pattern(2500, 'd');
  const std::string state = Pattern(1300, 'e');
  ASSERT_TRUE(Put("s1-0000", 3, weights, state, 1000, /*attempt=*/4).ok());
  ASSERT_TRUE(Put("s1-0001", 2, "own weights 2", "own state 2").ok());
  ASSERT_TRUE(Put("s1-0001", 3, "own weights 3", "own state 3").ok());

  ASSERT_TRUE(store_->CopyCheckpoint("s1-0000", 3, "s1-0001").ok());
  auto copy = store_->Read("s1-0001", 3, true);
  ASSERT_TRUE(copy.ok()) << copy.status();
  EXPECT_EQ(ReadAll(**copy), weights + state);
  EXPECT_EQ((*copy)->info().epoch, 3);
  EXPECT_EQ((*copy)->info().attempt, 4);  // the donor's
  EXPECT_EQ((*copy)->info().crc32(), Crc32(weights + state));
  // The recipient's other epochs, and the donor, are as they were; nothing
  // temporary is left behind.
  EXPECT_EQ(Entries("s1-0001"), (std::vector<std::string>{"epoch-2", "epoch-3"}));
  auto own = store_->Read("s1-0001", 2, true);
  ASSERT_TRUE(own.ok());
  EXPECT_EQ(ReadAll(**own), "own weights 2own state 2");
  auto donor = store_->Read("s1-0000", 3, true);
  ASSERT_TRUE(donor.ok());
  EXPECT_EQ(ReadAll(**donor), weights + state);

  // A recipient without any checkpoint yet gets its directory.
  ASSERT_TRUE(store_->CopyCheckpoint("s1-0000", 3, "s1-0002").ok());
  EXPECT_EQ(Epochs("s1-0002"), (std::vector<int>{3}));
}

TEST_F(CheckpointStoreTest, CopyOfAMissingCheckpointIsNotFoundAndChangesNothing) {
  ASSERT_TRUE(Put("s1-0000", 2, "w", "s").ok());
  ASSERT_TRUE(Put("s1-0001", 3, "own", "state").ok());
  const absl::Status missing_epoch = store_->CopyCheckpoint("s1-0000", 3, "s1-0001");
  EXPECT_EQ(missing_epoch.code(), absl::StatusCode::kNotFound);
  EXPECT_NE(missing_epoch.message().find("s1-0000 epoch 3"), std::string::npos) << missing_epoch;
  EXPECT_EQ(store_->CopyCheckpoint("s9-0000", 2, "s1-0002").code(), absl::StatusCode::kNotFound);
  EXPECT_FALSE(fs::exists(root_ / "s1-0002"));
  EXPECT_EQ(Entries("s1-0001"), (std::vector<std::string>{"epoch-3"}));
  auto own = store_->Read("s1-0001", 3, true);
  ASSERT_TRUE(own.ok());
  EXPECT_EQ(ReadAll(**own), "ownstate");
}

TEST_F(CheckpointStoreTest, CopyRejectsBadIdsAndEpochs) {
  ASSERT_TRUE(Put("s1-0000", 1, "w", "s").ok());
  for (const char* bad : {"", "../escape", "a/b", ".hidden"}) {
    EXPECT_EQ(store_->CopyCheckpoint(bad, 1, "s1-0001").code(), absl::StatusCode::kInvalidArgument) << bad;
    EXPECT_EQ(store_->CopyCheckpoint("s1-0000", 1, bad).code(), absl::StatusCode::kInvalidArgument) << bad;
  }
  EXPECT_EQ(store_->CopyCheckpoint("s1-0000", 0, "s1-0001").code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(store_->CopyCheckpoint("s1-0000", 1, "s1-0000").code(), absl::StatusCode::kInvalidArgument);
  EXPECT_FALSE(fs::exists(root_ / "s1-0001"));
  EXPECT_EQ(Entries("s1-0000"), (std::vector<std::string>{"epoch-1"}));
}

TEST_F(CheckpointStoreTest, CopyOfADamagedCheckpointIsDataLossAndKeepsTheRecipientsCopy) {
  ASSERT_TRUE(Put("s1-0000", 2, Pattern(3000, 'w'), "state").ok());
  ASSERT_TRUE(Put("s1-0001", 2, "own", "state").ok());
  {
    // Same size, one byte changed: only the checksum can tell.
    std::fstream weights(root_ / "s1-0000" / "epoch-2" / "weights.pt", std::ios::in | std::ios::out | std::ios::binary);
    weights.seekp(1234);
    weights.put('!');
  }
  const absl::Status damaged = store_->CopyCheckpoint("s1-0000", 2, "s1-0001");
  EXPECT_EQ(damaged.code(), absl::StatusCode::kDataLoss);
  EXPECT_NE(damaged.message().find("copying trial s1-0000's checkpoint of epoch 2"), std::string::npos) << damaged;
  EXPECT_EQ(Entries("s1-0001"), (std::vector<std::string>{"epoch-2"}));
  auto own = store_->Read("s1-0001", 2, true);
  ASSERT_TRUE(own.ok());
  EXPECT_EQ(ReadAll(**own), "ownstate");
}

TEST_F(CheckpointStoreTest, ACrashMidCopyLeavesOneWholeCopyVisible) {
  // Two donors of a few MiB and a recipient; a child process copies them
  // over the recipient's epoch in turn until it is killed, at whatever point
  // of a copy it has reached.
  const std::string a = Pattern(3 << 20, 'a');
  const std::string b = Pattern(3 << 20, 'b');
  ASSERT_TRUE(Put("s1-0000", 4, a, "state a", 1 << 20).ok());
  ASSERT_TRUE(Put("s1-0001", 4, b, "state b", 1 << 20).ok());
  ASSERT_TRUE(Put("s1-0002", 4, "own", "state").ok());
  int ready[2];
  ASSERT_EQ(pipe(ready), 0);
  pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    close(ready[0]);
    for (int i = 0;; ++i) {
      if (!store_->CopyCheckpoint(i % 2 == 0 ? "s1-0000" : "s1-0001", 4, "s1-0002").ok()) _exit(1);
      if (i == 1) {
        const char byte = 1;
        if (write(ready[1], &byte, 1) != 1) _exit(1);
      }
    }
  }
  close(ready[1]);
  char byte = 0;
  // Both donors were copied once (end of file instead: the child failed).
  const bool copying = read(ready[0], &byte, 1) == 1;
  close(ready[0]);
  if (copying) usleep(20000);
  kill(child, SIGKILL);
  int wait_status = 0;
  ASSERT_EQ(waitpid(child, &wait_status, 0), child);
  ASSERT_TRUE(copying && WIFSIGNALED(wait_status)) << "the copying child stopped on its own";

  Reopen();
  EXPECT_EQ(Entries("s1-0002"), (std::vector<std::string>{"epoch-4"}));
  auto copy = store_->Read("s1-0002", 4, true);
  ASSERT_TRUE(copy.ok()) << copy.status();
  const std::string data = ReadAll(**copy);
  EXPECT_TRUE(data == a + "state a" || data == b + "state b") << data.size() << " bytes";
  EXPECT_EQ((*copy)->info().crc32(), Crc32(data));
}

TEST_F(CheckpointStoreTest, MissingCheckpointsAreNotFound) {
  ASSERT_TRUE(Put("s1-0000", 1, "w", "s").ok());
  const absl::Status epoch = store_->Read("s1-0000", 2, true).status();
  EXPECT_EQ(epoch.code(), absl::StatusCode::kNotFound);
  EXPECT_NE(epoch.message().find("s1-0000 epoch 2"), std::string::npos) << epoch;
  EXPECT_EQ(store_->Read("s9-0000", 1, false).status().code(), absl::StatusCode::kNotFound);
  EXPECT_TRUE(Epochs("s9-0000").empty());
}

TEST_F(CheckpointStoreTest, BadInputIsRejectedBeforeAnythingIsWritten) {
  for (const char* trial_id : {"", "../escape", "a/b", ".hidden"}) {
    EXPECT_EQ(store_->StartWrite(trial_id, 1, 1, 1, 1).status().code(), absl::StatusCode::kInvalidArgument)
        << trial_id;
    EXPECT_EQ(store_->Read(trial_id, 1, true).status().code(), absl::StatusCode::kInvalidArgument) << trial_id;
  }
  EXPECT_EQ(store_->StartWrite("s1-0000", 0, 1, 1, 1).status().code(), absl::StatusCode::kInvalidArgument);
  const absl::Status too_big = store_->StartWrite("s1-0000", 1, 1, kMaxCheckpointBytes, 1).status();
  EXPECT_EQ(too_big.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(too_big.message().find("4 GiB"), std::string::npos) << too_big;
  EXPECT_FALSE(fs::exists(root_ / "s1-0000"));
  EXPECT_FALSE(fs::exists(root_.parent_path() / "escape"));
}

TEST_F(CheckpointStoreTest, DamagedFilesAreDataLoss) {
  ASSERT_TRUE(Put("s1-0000", 1, Pattern(100, 'w'), "state").ok());
  fs::resize_file(root_ / "s1-0000" / "epoch-1" / "weights.pt", 50);
  EXPECT_EQ(store_->Read("s1-0000", 1, false).status().code(), absl::StatusCode::kDataLoss);
  std::ofstream(root_ / "s1-0000" / "epoch-1" / "checkpoint.json") << "{not json";
  EXPECT_EQ(store_->Read("s1-0000", 1, false).status().code(), absl::StatusCode::kDataLoss);
}

TEST_F(CheckpointStoreTest, ACrashMidWriteLeavesNothingVisibleAndOpenCleansUp) {
  ASSERT_TRUE(Put("s1-0000", 1, "old weights", "old state").ok());
  pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    // Dies in the middle of replacing epoch 1 and writing epoch 2, without
    // running any destructor, as a killed coordinator would.
    auto replace = store_->StartWrite("s1-0000", 1, 2, 100, 100);
    auto fresh = store_->StartWrite("s1-0000", 2, 2, 100, 100);
    const bool started = replace.ok() && fresh.ok() && (*replace)->Append(std::string(150, 'x')).ok() &&
                         (*fresh)->Append(std::string(10, 'y')).ok();
    _exit(started ? 0 : 1);
  }
  int wait_status = 0;
  ASSERT_EQ(waitpid(child, &wait_status, 0), child);
  ASSERT_TRUE(WIFEXITED(wait_status));
  ASSERT_EQ(WEXITSTATUS(wait_status), 0);

  EXPECT_EQ(Epochs("s1-0000"), (std::vector<int>{1}));
  EXPECT_EQ(Entries("s1-0000").size(), 3u);  // epoch-1 and the two unfinished writes
  Reopen();
  EXPECT_EQ(Entries("s1-0000"), (std::vector<std::string>{"epoch-1"}));
  auto reader = store_->Read("s1-0000", 1, true);
  ASSERT_TRUE(reader.ok()) << reader.status();
  EXPECT_EQ(ReadAll(**reader), "old weightsold state");
}

}  // namespace
}  // namespace segtune::store
