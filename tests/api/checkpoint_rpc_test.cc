// The checkpoint RPCs (WorkerHub.UploadCheckpoint, DownloadCheckpoint,
// Tuner.ExportWeights) against a real in-process coordinator on loopback.
#include <zlib.h>

#include <algorithm>
#include <filesystem>
#include <string>
#include <vector>

#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include "checkpoint_streams.h"
#include "in_process_coordinator.h"
#include "segtune/v1/segtune.grpc.pb.h"

namespace segtune::api {
namespace {

namespace fs = std::filesystem;

// One trial of three epochs.
const std::string kSpec = segtune::testing::TinyGridSpec("checkpoints", "{epochs: 3}", "0.1");

std::uint32_t Crc32(const std::string& data) {
  return static_cast<std::uint32_t>(
      ::crc32(0, reinterpret_cast<const Bytef*>(data.data()), static_cast<uInt>(data.size())));
}

std::string Pattern(std::size_t size, char seed) {
  std::string data(size, '\0');
  for (std::size_t i = 0; i < size; ++i) data[i] = static_cast<char>(seed + i * 13 + i / 509);
  return data;
}

// What a download or an export received.
struct Received {
  grpc::Status status;
  v1::CheckpointHeader header;         // downloads
  v1::ExportWeightsMetadata metadata;  // exports
  std::string data;
  int data_messages = 0;
  std::size_t largest_message = 0;
};

class CheckpointRpcTest : public ::testing::Test {
 protected:
  void SetUp() override {
    StartCoordinator();
    ASSERT_TRUE(server_.SubmitSweep(kSpec, &sweep_id_).ok());
    worker_id_ = RegisterWorker();
    v1::AcquireTrialResponse acquired;
    ASSERT_TRUE(server_.AcquireTrial(worker_id_, &acquired).ok());
    ASSERT_TRUE(acquired.has_trial());
    trial_id_ = acquired.assignment().trial_id();
    attempt_ = acquired.assignment().attempt();
  }

  void StartCoordinator() {
    CoordinatorOptions options;
    options.lease_ms = 30000;
    options.heartbeat_interval_ms = 1000;
    ASSERT_TRUE(server_.Start(options));
  }

  std::string RegisterWorker() {
    std::string worker_id;
    EXPECT_TRUE(server_.RegisterWorker("test", 1, &worker_id).ok());
    return worker_id;
  }

  v1::CheckpointHeader Header(int epoch, const std::string& weights, const std::string& state) {
    v1::CheckpointHeader header;
    header.set_worker_id(worker_id_);
    header.set_trial_id(trial_id_);
    header.set_attempt(attempt_);
    header.set_epoch(epoch);
    header.set_weights_bytes(static_cast<std::int64_t>(weights.size()));
    header.set_training_state_bytes(static_cast<std::int64_t>(state.size()));
    header.set_crc32(Crc32(weights + state));
    return header;
  }

  // Streams `data` after `header` (none when nullptr) in chunks of `chunk_bytes`.
  grpc::Status Upload(const v1::CheckpointHeader* header, const std::string& data,
                      std::size_t chunk_bytes = kCheckpointChunkBytes) {
    grpc::ClientContext context;
    v1::UploadCheckpointResponse response;
    auto writer = server_.hub().UploadCheckpoint(&context, &response);
    v1::CheckpointChunk chunk;
    if (header != nullptr) *chunk.mutable_header() = *header;
    std::size_t at = 0;
    do {
      chunk.set_data(data.substr(at, chunk_bytes));
      if (!writer->Write(chunk)) break;
      chunk.clear_header();
      at += chunk_bytes;
    } while (at < data.size());
    writer->WritesDone();
    return writer->Finish();
  }

  grpc::Status Upload(int epoch, const std::string& weights, const std::string& state) {
    const v1::CheckpointHeader header = Header(epoch, weights, state);
    return Upload(&header, weights + state);
  }

  grpc::Status Report(int epoch, double miou) {
    grpc::ClientContext context;
    v1::ReportEpochRequest request;
    request.set_worker_id(worker_id_);
    request.set_trial_id(trial_id_);
    request.set_attempt(attempt_);
    request.set_epoch(epoch);
    (*request.mutable_metrics())["val_miou"] = miou;
    v1::ReportEpochResponse response;
    return server_.hub().ReportEpoch(&context, request, &response);
  }

  Received Download(int epoch, int attempt = 0) {
    grpc::ClientContext context;
    v1::DownloadCheckpointRequest request;
    request.set_worker_id(worker_id_);
    request.set_trial_id(trial_id_);
    request.set_attempt(attempt == 0 ? attempt_ : attempt);
    request.set_epoch(epoch);
    auto reader = server_.hub().DownloadCheckpoint(&context, request);
    Received received;
    v1::CheckpointChunk chunk;
    while (reader->Read(&chunk)) {
      if (chunk.has_header()) received.header = chunk.header();
      if (!chunk.data().empty()) received.data_messages++;
      received.largest_message = std::max(received.largest_message, chunk.data().size());
      received.data += chunk.data();
    }
    received.status = reader->Finish();
    return received;
  }

  Received Export(const std::string& trial_id, v1::ExportChoice which, int epoch = 0) {
    grpc::ClientContext context;
    v1::ExportWeightsRequest request;
    request.set_trial_id(trial_id);
    request.set_which(which);
    request.set_epoch(epoch);
    auto reader = server_.tuner().ExportWeights(&context, request);
    Received received;
    v1::ExportWeightsResponse message;
    bool first = true;
    while (reader->Read(&message)) {
      EXPECT_EQ(message.has_metadata(), first);
      if (message.has_metadata()) received.metadata = message.metadata();
      if (!message.data().empty()) received.data_messages++;
      received.largest_message = std::max(received.largest_message, message.data().size());
      received.data += message.data();
      first = false;
    }
    received.status = reader->Finish();
    return received;
  }

  std::vector<int> StoredEpochs() {
    std::vector<int> epochs;
    const fs::path trial_dir = server_.dir() / "checkpoints" / trial_id_;
    if (!fs::exists(trial_dir)) return epochs;
    for (const auto& entry : fs::directory_iterator(trial_dir)) {
      const std::string name = entry.path().filename();
      if (name.rfind("epoch-", 0) == 0) epochs.push_back(std::stoi(name.substr(6)));
    }
    std::sort(epochs.begin(), epochs.end());
    return epochs;
  }

  segtune::testing::InProcessCoordinator server_{"segtune-checkpoint-rpc"};
  std::string sweep_id_;
  std::string worker_id_;
  std::string trial_id_;
  int attempt_ = 0;
};

TEST_F(CheckpointRpcTest, UploadedCheckpointDownloadsBackInChunksOfAtMostOneMiB) {
  const std::string weights = Pattern(2 * kCheckpointChunkBytes + 12345, 'w');
  const std::string state = Pattern(777, 's');
  ASSERT_TRUE(Upload(1, weights, state).ok());
  EXPECT_TRUE(fs::exists(server_.dir() / "checkpoints" / trial_id_ / "epoch-1" / "weights.pt"));
  EXPECT_TRUE(fs::exists(server_.dir() / "checkpoints" / trial_id_ / "epoch-1" / "state.bin"));

  const Received received = Download(1);
  ASSERT_TRUE(received.status.ok()) << received.status.error_message();
  EXPECT_EQ(received.header.trial_id(), trial_id_);
  EXPECT_EQ(received.header.epoch(), 1);
  EXPECT_EQ(received.header.attempt(), attempt_);
  EXPECT_EQ(received.header.weights_bytes(), static_cast<std::int64_t>(weights.size()));
  EXPECT_EQ(received.header.training_state_bytes(), static_cast<std::int64_t>(state.size()));
  EXPECT_EQ(received.header.crc32(), Crc32(weights + state));
  EXPECT_EQ(received.data, weights + state);
  EXPECT_GE(received.data_messages, 3);
  EXPECT_LE(received.largest_message, kCheckpointChunkBytes);
}

TEST_F(CheckpointRpcTest, OnlyTheAttemptHoldingTheLeaseMayUploadOrDownload) {
  v1::CheckpointHeader stale = Header(1, "w", "s");
  stale.set_attempt(attempt_ + 1);
  EXPECT_EQ(Upload(&stale, "ws").error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  v1::CheckpointHeader other_worker = Header(1, "w", "s");
  other_worker.set_worker_id(RegisterWorker());
  EXPECT_EQ(Upload(&other_worker, "ws").error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  v1::CheckpointHeader unknown_trial = Header(1, "w", "s");
  unknown_trial.set_trial_id(sweep_id_ + "-0099");
  EXPECT_EQ(Upload(&unknown_trial, "ws").error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_TRUE(StoredEpochs().empty());

  ASSERT_TRUE(Upload(1, "w", "s").ok());
  EXPECT_EQ(Download(1, attempt_ + 1).status.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
}

TEST_F(CheckpointRpcTest, ChecksumOrSizeMismatchIsDataLossAndStoresNothing) {
  const std::string weights = Pattern(kCheckpointChunkBytes + 10, 'w');
  v1::CheckpointHeader header = Header(1, weights, "state");
  header.set_crc32(header.crc32() ^ 1);
  const grpc::Status corrupt = Upload(&header, weights + "state");
  EXPECT_EQ(corrupt.error_code(), grpc::StatusCode::DATA_LOSS);
  EXPECT_NE(corrupt.error_message().find("checksum"), std::string::npos) << corrupt.error_message();

  const v1::CheckpointHeader truncated = Header(1, weights, "state");
  EXPECT_EQ(Upload(&truncated, weights + "sta").error_code(), grpc::StatusCode::DATA_LOSS);
  EXPECT_TRUE(StoredEpochs().empty());
  EXPECT_EQ(Download(1).status.error_code(), grpc::StatusCode::NOT_FOUND);
}

TEST_F(CheckpointRpcTest, BadUploadsAreInvalidArgument) {
  for (int epoch : {0, 4}) {  // the sweep has 3 epochs
    const v1::CheckpointHeader header = Header(epoch, "w", "s");
    EXPECT_EQ(Upload(&header, "ws").error_code(), grpc::StatusCode::INVALID_ARGUMENT) << epoch;
  }
  EXPECT_EQ(Upload(nullptr, "ws").error_code(), grpc::StatusCode::INVALID_ARGUMENT);  // no header

  const std::string big = Pattern(kCheckpointChunkBytes + 1, 'b');
  const v1::CheckpointHeader oversized_chunk = Header(1, big, "");
  EXPECT_EQ(Upload(&oversized_chunk, big, big.size()).error_code(), grpc::StatusCode::INVALID_ARGUMENT);

  v1::CheckpointHeader too_large = Header(1, "w", "s");
  too_large.set_weights_bytes(std::int64_t{5} << 30);
  const grpc::Status refused = Upload(&too_large, "ws");
  EXPECT_EQ(refused.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_NE(refused.error_message().find("4 GiB"), std::string::npos) << refused.error_message();
  EXPECT_TRUE(StoredEpochs().empty());
}

TEST_F(CheckpointRpcTest, MissingCheckpointIsNotFound) {
  const Received received = Download(2);
  EXPECT_EQ(received.status.error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_TRUE(received.data.empty());
}

TEST_F(CheckpointRpcTest, ReuploadingAnEpochReplacesIt) {
  ASSERT_TRUE(Upload(1, "first weights", "first state").ok());
  ASSERT_TRUE(Upload(1, "second weights", "second state").ok());
  const Received received = Download(1);
  ASSERT_TRUE(received.status.ok());
  EXPECT_EQ(received.data, "second weightssecond state");
  EXPECT_EQ(StoredEpochs(), (std::vector<int>{1}));
}

TEST_F(CheckpointRpcTest, ReportsKeepTheLatestAndBestCheckpointsAndExportServesThem) {
  EXPECT_EQ(Export(trial_id_, v1::EXPORT_BEST).status.error_code(), grpc::StatusCode::NOT_FOUND);
  const double miou[] = {0.5, 0.7, 0.6};
  for (int epoch = 1; epoch <= 3; ++epoch) {
    ASSERT_TRUE(Upload(epoch, "weights of epoch " + std::to_string(epoch), "state").ok());
    ASSERT_TRUE(Report(epoch, miou[epoch - 1]).ok());
  }
  EXPECT_EQ(StoredEpochs(), (std::vector<int>{2, 3}));

  const Received best = Export(trial_id_, v1::EXPORT_CHOICE_UNSPECIFIED);
  ASSERT_TRUE(best.status.ok()) << best.status.error_message();
  EXPECT_EQ(best.metadata.trial_id(), trial_id_);
  EXPECT_EQ(best.metadata.sweep_id(), sweep_id_);
  EXPECT_EQ(best.metadata.epoch(), 2);
  EXPECT_EQ(best.metadata.metric(), "val_miou");
  EXPECT_EQ(best.metadata.mode(), "max");
  EXPECT_TRUE(best.metadata.has_value());
  EXPECT_DOUBLE_EQ(best.metadata.value(), 0.7);
  EXPECT_EQ(best.data, "weights of epoch 2");  // the weights only, no training state
  EXPECT_EQ(best.metadata.size_bytes(), static_cast<std::int64_t>(best.data.size()));
  EXPECT_EQ(best.metadata.crc32(), Crc32(best.data));

  const Received last = Export(trial_id_, v1::EXPORT_LAST);
  ASSERT_TRUE(last.status.ok());
  EXPECT_EQ(last.metadata.epoch(), 3);
  EXPECT_DOUBLE_EQ(last.metadata.value(), 0.6);
  EXPECT_EQ(last.data, "weights of epoch 3");

  const Received deleted = Export(trial_id_, v1::EXPORT_EPOCH, 1);
  EXPECT_EQ(deleted.status.error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_NE(deleted.status.error_message().find("stored: epochs 2, 3"), std::string::npos)
      << deleted.status.error_message();
  EXPECT_EQ(Export(sweep_id_ + "-0099", v1::EXPORT_BEST).status.error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_EQ(Export(trial_id_, v1::EXPORT_EPOCH, 0).status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
}

TEST_F(CheckpointRpcTest, ExportAfterARestartReadsTheSameCheckpoint) {
  ASSERT_TRUE(Upload(1, "durable weights", "state").ok());
  ASSERT_TRUE(Report(1, 0.4).ok());
  server_.Stop();
  StartCoordinator();
  const Received best = Export(trial_id_, v1::EXPORT_BEST);
  ASSERT_TRUE(best.status.ok()) << best.status.error_message();
  EXPECT_EQ(best.data, "durable weights");
}

TEST_F(CheckpointRpcTest, ACancelledTrialsRunningAttemptMayStillStoreItsLastCheckpoint) {
  grpc::ClientContext context;
  v1::CancelSweepRequest cancel;
  cancel.set_sweep_id(sweep_id_);
  v1::Sweep cancelled;
  ASSERT_TRUE(server_.tuner().CancelSweep(&context, cancel, &cancelled).ok());
  ASSERT_TRUE(Upload(1, "last weights", "state").ok());
  ASSERT_TRUE(Report(1, 0.3).ok());
  const Received best = Export(trial_id_, v1::EXPORT_BEST);
  ASSERT_TRUE(best.status.ok()) << best.status.error_message();
  EXPECT_EQ(best.data, "last weights");
}

}  // namespace
}  // namespace segtune::api
