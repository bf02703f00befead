#include "checkpoint_streams.h"

#include <memory>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "request_checks.h"
#include "status_mapping.h"
#include "views.h"

namespace segtune::api {
namespace {

// `epoch` of a trial with `epochs` epochs, as ReportEpoch checks it.
absl::Status CheckEpoch(int epoch, int epochs) {
  if (epoch < 1 || epoch > epochs) {
    return absl::InvalidArgumentError(absl::StrCat("epoch: must be in [1, ", epochs, "], got ", epoch));
  }
  return absl::OkStatus();
}

// Receives CheckpointChunks into a CheckpointWriter. Nothing is visible until
// the stream ended with every byte and a matching checksum.
class UploadReactor final : public grpc::ServerReadReactor<v1::CheckpointChunk> {
 public:
  UploadReactor(scheduler::Scheduler* scheduler, store::CheckpointStore* checkpoints, StreamLimit::Slot slot)
      : scheduler_(scheduler), checkpoints_(checkpoints), slot_(std::move(slot)) {
    StartRead(&chunk_);
  }

  void OnReadDone(bool ok) override {
    // !ok: the client closed its side (or went away; then the commit's
    // checks fail and Finish goes nowhere).
    absl::Status status = !ok ? Commit() : writer_ ? Continue() : Begin();
    if (!ok || !status.ok()) {
      writer_.reset();  // uncommitted data is removed
      Finish(ToGrpcStatus(status));
      return;
    }
    StartRead(&chunk_);
  }

  void OnDone() override { delete this; }

 private:
  absl::Status CheckLease() {
    auto epochs = scheduler_->CheckpointEpochs(header_.worker_id(), header_.trial_id(), header_.attempt());
    if (!epochs.ok()) return epochs.status();
    return CheckEpoch(header_.epoch(), *epochs);
  }

  absl::Status CheckData() const {
    if (chunk_.data().size() > kCheckpointChunkBytes) {
      return absl::InvalidArgumentError(
          absl::StrCat("data: a chunk holds at most ", kCheckpointChunkBytes, " bytes, got ", chunk_.data().size()));
    }
    return absl::OkStatus();
  }

  absl::Status Begin() {
    if (!chunk_.has_header()) return absl::InvalidArgumentError("header: the first chunk must carry it");
    header_ = chunk_.header();
    if (absl::Status s = RequireId(header_.worker_id(), "header.worker_id"); !s.ok()) return s;
    if (absl::Status s = RequireId(header_.trial_id(), "header.trial_id"); !s.ok()) return s;
    if (header_.weights_bytes() < 0 || header_.training_state_bytes() < 0) {
      return absl::InvalidArgumentError("header.weights_bytes, header.training_state_bytes: must be >= 0");
    }
    // The lease first: a stale worker learns that it lost the trial before
    // it sends anything large.
    if (absl::Status s = CheckLease(); !s.ok()) return s;
    if (absl::Status s = CheckData(); !s.ok()) return s;
    auto writer = checkpoints_->StartWrite(header_.trial_id(), header_.epoch(), header_.attempt(),
                                           static_cast<std::uint64_t>(header_.weights_bytes()),
                                           static_cast<std::uint64_t>(header_.training_state_bytes()));
    if (!writer.ok()) return writer.status();
    writer_ = std::move(*writer);
    return writer_->Append(chunk_.data());
  }

  absl::Status Continue() {
    if (chunk_.has_header()) return absl::InvalidArgumentError("header: only the first chunk may carry it");
    if (absl::Status s = CheckData(); !s.ok()) return s;
    return writer_->Append(chunk_.data());
  }

  absl::Status Commit() {
    if (!writer_) return absl::InvalidArgumentError("header: the stream had no chunk");
    // The lease may have moved while the data streamed in.
    if (absl::Status s = CheckLease(); !s.ok()) return s;
    return writer_->Commit(header_.crc32());
  }

  scheduler::Scheduler* const scheduler_;
  store::CheckpointStore* const checkpoints_;
  v1::CheckpointChunk chunk_;
  v1::CheckpointHeader header_;
  std::unique_ptr<store::CheckpointWriter> writer_;
  const StreamLimit::Slot slot_;
};

// Streams `first`, then the reader's bytes, at most kCheckpointChunkBytes
// per message, each put into a message by `fill`.
template <typename Message>
class ChunkStreamReactor final : public grpc::ServerWriteReactor<Message> {
 public:
  using Fill = void (*)(std::string data, Message* message);

  ChunkStreamReactor(Message first, std::unique_ptr<store::CheckpointReader> reader, Fill fill,
                     StreamLimit::Slot slot)
      : message_(std::move(first)), reader_(std::move(reader)), fill_(fill), slot_(std::move(slot)) {
    this->StartWrite(&message_);
  }

  void OnWriteDone(bool ok) override {
    if (!ok) {
      this->Finish(grpc::Status(grpc::StatusCode::CANCELLED, "the stream broke"));
      return;
    }
    auto data = reader_->Next(kCheckpointChunkBytes);
    if (!data.ok()) {
      this->Finish(ToGrpcStatus(data.status()));
      return;
    }
    if (data->empty()) {
      this->Finish(grpc::Status::OK);
      return;
    }
    message_.Clear();
    fill_(*std::move(data), &message_);
    this->StartWrite(&message_);
  }

  void OnDone() override { delete this; }

 private:
  Message message_;
  const std::unique_ptr<store::CheckpointReader> reader_;
  const Fill fill_;
  const StreamLimit::Slot slot_;
};

absl::StatusOr<std::unique_ptr<store::CheckpointReader>> OpenDownload(scheduler::Scheduler* scheduler,
                                                                       store::CheckpointStore* checkpoints,
                                                                       const v1::DownloadCheckpointRequest& request) {
  if (absl::Status s = RequireId(request.worker_id(), "worker_id"); !s.ok()) return s;
  if (absl::Status s = RequireId(request.trial_id(), "trial_id"); !s.ok()) return s;
  auto epochs = scheduler->CheckpointEpochs(request.worker_id(), request.trial_id(), request.attempt());
  if (!epochs.ok()) return epochs.status();
  if (absl::Status s = CheckEpoch(request.epoch(), *epochs); !s.ok()) return s;
  return checkpoints->Read(request.trial_id(), request.epoch(), /*with_training_state=*/true);
}

// What ExportWeights sends: the chosen epoch's metadata and its weights.
struct Export {
  v1::ExportWeightsMetadata metadata;
  std::unique_ptr<store::CheckpointReader> reader;
};

absl::StatusOr<Export> OpenExport(store::Store& store, store::CheckpointStore& checkpoints,
                                  const v1::ExportWeightsRequest& request) {
  if (absl::Status s = RequireId(request.trial_id(), "trial_id"); !s.ok()) return s;
  auto trial = store.GetTrial(request.trial_id());
  if (!trial.ok()) return trial.status();
  auto sweep = store.GetSweep(trial->sweep_id);
  if (!sweep.ok()) return sweep.status();
  auto epochs = store.ListEpochs(trial->trial_id);
  if (!epochs.ok()) return epochs.status();
  const v1::Trial view = TrialView(*trial, *epochs, sweep->objective_metric, sweep->maximize);

  int epoch = 0;
  switch (request.which()) {
    case v1::EXPORT_CHOICE_UNSPECIFIED:
    case v1::EXPORT_BEST:
      if (!view.has_best()) {
        return absl::NotFoundError(absl::StrCat("trial ", trial->trial_id, " has not reported ",
                                                sweep->objective_metric, " yet, so it has no best epoch"));
      }
      epoch = view.best_epoch();
      break;
    case v1::EXPORT_LAST:
      if (epochs->empty()) {
        return absl::NotFoundError(absl::StrCat("trial ", trial->trial_id, " has not reported an epoch yet"));
      }
      epoch = epochs->back().epoch;
      break;
    case v1::EXPORT_EPOCH:
      if (request.epoch() < 1) {
        return absl::InvalidArgumentError(absl::StrCat("epoch: must be >= 1, got ", request.epoch()));
      }
      epoch = request.epoch();
      break;
    default:
      return absl::InvalidArgumentError(absl::StrCat("which: unknown choice ", request.which()));
  }

  auto reader = checkpoints.Read(trial->trial_id, epoch, /*with_training_state=*/false);
  if (reader.status().code() == absl::StatusCode::kNotFound) {
    // Say what is there: retention keeps only the latest and the best epoch.
    auto stored = checkpoints.ListEpochs(trial->trial_id);
    if (!stored.ok()) return stored.status();
    const std::string what_is_stored =
        stored->empty() ? "it has none" : absl::StrCat("stored: epochs ", absl::StrJoin(*stored, ", "));
    return absl::NotFoundError(absl::StrCat("no checkpoint of trial ", trial->trial_id, " epoch ", epoch,
                                            " is stored (", what_is_stored, ")"));
  }
  if (!reader.ok()) return reader.status();

  Export result;
  v1::ExportWeightsMetadata& metadata = result.metadata;
  metadata.set_trial_id(trial->trial_id);
  metadata.set_sweep_id(trial->sweep_id);
  metadata.set_epoch(epoch);
  metadata.set_size_bytes(static_cast<std::int64_t>((*reader)->size()));
  metadata.set_crc32((*reader)->info().weights_crc32);
  metadata.set_metric(sweep->objective_metric);
  metadata.set_mode(sweep->maximize ? "max" : "min");
  for (const store::EpochRecord& row : *epochs) {
    if (row.epoch != epoch) continue;
    const auto value = row.metrics.find(sweep->objective_metric);
    if (value == row.metrics.end()) break;
    metadata.set_has_value(true);
    metadata.set_value(value->second);
  }
  result.reader = *std::move(reader);
  return result;
}

}  // namespace

grpc::ServerReadReactor<v1::CheckpointChunk>* NewUploadReactor(scheduler::Scheduler* scheduler,
                                                             store::CheckpointStore* checkpoints,
                                                             StreamLimit::Slot slot) {
  return new UploadReactor(scheduler, checkpoints, std::move(slot));
}

grpc::ServerWriteReactor<v1::CheckpointChunk>* NewDownloadReactor(scheduler::Scheduler* scheduler,
                                                                store::CheckpointStore* checkpoints,
                                                                const v1::DownloadCheckpointRequest& request,
                                                                StreamLimit::Slot slot) {
  auto reader = OpenDownload(scheduler, checkpoints, request);
  if (!reader.ok()) return FailedStream<v1::CheckpointChunk>(ToGrpcStatus(reader.status()));
  const store::CheckpointInfo& info = (*reader)->info();
  v1::CheckpointChunk first;
  v1::CheckpointHeader* header = first.mutable_header();
  header->set_worker_id(request.worker_id());
  header->set_trial_id(request.trial_id());
  header->set_attempt(info.attempt);
  header->set_epoch(info.epoch);
  header->set_weights_bytes(static_cast<std::int64_t>(info.weights_bytes));
  header->set_training_state_bytes(static_cast<std::int64_t>(info.training_state_bytes));
  header->set_crc32(info.crc32());
  return new ChunkStreamReactor<v1::CheckpointChunk>(
      std::move(first), *std::move(reader),
      [](std::string data, v1::CheckpointChunk* chunk) { chunk->set_data(std::move(data)); }, std::move(slot));
}

grpc::ServerWriteReactor<v1::ExportWeightsResponse>* NewExportReactor(store::Store* store,
                                                                    store::CheckpointStore* checkpoints,
                                                                    const v1::ExportWeightsRequest& request,
                                                                    StreamLimit::Slot slot) {
  auto opened = OpenExport(*store, *checkpoints, request);
  if (!opened.ok()) return FailedStream<v1::ExportWeightsResponse>(ToGrpcStatus(opened.status()));
  v1::ExportWeightsResponse first;
  *first.mutable_metadata() = std::move(opened->metadata);
  return new ChunkStreamReactor<v1::ExportWeightsResponse>(
      std::move(first), std::move(opened->reader),
      [](std::string data, v1::ExportWeightsResponse* message) { message->set_data(std::move(data)); },
      std::move(slot));
}

}  // namespace segtune::api
