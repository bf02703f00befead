// The checkpoint RPCs: WorkerHub.UploadCheckpoint and DownloadCheckpoint
// (workers) and Tuner.ExportWeights (users), as gRPC callback reactors over
// the CheckpointStore, plus the retention run after each epoch report.
//
// Thread-safety: each reactor is driven by gRPC, one callback at a time, and
// deletes itself when its call is done. The stores and the scheduler they use
// are thread-safe.
#pragma once

#include <cstddef>
#include <string>

#include <grpcpp/grpcpp.h>

#include "absl/status/status.h"
#include "segtune/scheduler/scheduler.h"
#include "segtune/store/checkpoint_store.h"
#include "segtune/store/store.h"
#include "segtune/v1/segtune.grpc.pb.h"
#include "stream_limit.h"

namespace segtune::api {

// The most data one streamed message carries.
inline constexpr std::size_t kCheckpointChunkBytes = std::size_t{1} << 20;

// Each reactor holds `slot` (a place under the coordinator's cap on
// checkpoint streams) until the stream is done.

// Receives a checkpoint: checks the header and the lease, writes the data as
// it arrives, and commits it only when sizes and crc32 match.
grpc::ServerReadReactor<v1::CheckpointChunk>* NewUploadReactor(scheduler::Scheduler* scheduler,
                                                             store::CheckpointStore* checkpoints,
                                                             StreamLimit::Slot slot);

// Sends the header, then the weights and the training state.
grpc::ServerWriteReactor<v1::CheckpointChunk>* NewDownloadReactor(scheduler::Scheduler* scheduler,
                                                                store::CheckpointStore* checkpoints,
                                                                const v1::DownloadCheckpointRequest& request,
                                                                StreamLimit::Slot slot);

// Sends the metadata, then the weights.
grpc::ServerWriteReactor<v1::ExportWeightsResponse>* NewExportReactor(store::Store* store,
                                                                    store::CheckpointStore* checkpoints,
                                                                    const v1::ExportWeightsRequest& request,
                                                                    StreamLimit::Slot slot);

// A server stream that ends at once with `status`.
template <typename Message>
grpc::ServerWriteReactor<Message>* FailedStream(const grpc::Status& status) {
  class Failed final : public grpc::ServerWriteReactor<Message> {
   public:
    explicit Failed(const grpc::Status& status) { this->Finish(status); }
    void OnDone() override { delete this; }
  };
  return new Failed(status);
}

// A client stream that ends at once with `status`, reading nothing.
template <typename Message>
grpc::ServerReadReactor<Message>* FailedReadStream(const grpc::Status& status) {
  class Failed final : public grpc::ServerReadReactor<Message> {
   public:
    explicit Failed(const grpc::Status& status) { this->Finish(status); }
    void OnDone() override { delete this; }
  };
  return new Failed(status);
}

}  // namespace segtune::api
