// gRPC service implementations (callback API). They translate between the
// wire and the scheduler/store and map errors once, in status_mapping.
//
// Thread-safety: gRPC calls these from its own threads; all shared state is
// in the thread-safe Scheduler, Store and CheckpointStore, plus the waiter
// list below.
#pragma once

#include <atomic>
#include <cstdint>
#include <list>
#include <mutex>

#include "auth.h"
#include "segtune/api/coordinator.h"
#include "segtune/scheduler/scheduler.h"
#include "segtune/store/checkpoint_store.h"
#include "segtune/store/store.h"
#include "segtune/v1/segtune.grpc.pb.h"
#include "stream_limit.h"

namespace segtune::api {

class TunerService final : public v1::Tuner::CallbackService {
 public:
  TunerService(store::Store* store, store::CheckpointStore* checkpoints, scheduler::Scheduler* scheduler,
               const std::atomic<bool>* stopping, const Authorizer* auth)
      : store_(store), checkpoints_(checkpoints), scheduler_(scheduler), stopping_(stopping), auth_(auth) {}

  grpc::ServerUnaryReactor* SubmitSweep(grpc::CallbackServerContext* ctx, const v1::SubmitSweepRequest* request,
                                        v1::SubmitSweepResponse* response) override;
  grpc::ServerUnaryReactor* GetSweep(grpc::CallbackServerContext* ctx, const v1::GetSweepRequest* request,
                                     v1::Sweep* response) override;
  grpc::ServerUnaryReactor* ListSweeps(grpc::CallbackServerContext* ctx, const v1::ListSweepsRequest* request,
                                       v1::ListSweepsResponse* response) override;
  grpc::ServerUnaryReactor* CancelSweep(grpc::CallbackServerContext* ctx, const v1::CancelSweepRequest* request,
                                        v1::Sweep* response) override;
  grpc::ServerUnaryReactor* ListTrials(grpc::CallbackServerContext* ctx, const v1::ListTrialsRequest* request,
                                       v1::ListTrialsResponse* response) override;
  grpc::ServerUnaryReactor* GetTrialMetrics(grpc::CallbackServerContext* ctx,
                                            const v1::GetTrialMetricsRequest* request,
                                            v1::GetTrialMetricsResponse* response) override;
  grpc::ServerUnaryReactor* GetBest(grpc::CallbackServerContext* ctx, const v1::GetBestRequest* request,
                                    v1::GetBestResponse* response) override;
  grpc::ServerWriteReactor<v1::SweepUpdate>* WatchSweep(grpc::CallbackServerContext* ctx,
                                                       const v1::WatchSweepRequest* request) override;
  grpc::ServerUnaryReactor* ListWorkers(grpc::CallbackServerContext* ctx, const v1::ListWorkersRequest* request,
                                        v1::ListWorkersResponse* response) override;
  grpc::ServerWriteReactor<v1::ExportWeightsResponse>* ExportWeights(grpc::CallbackServerContext* ctx,
                                                                     const v1::ExportWeightsRequest* request) override;

  // Call before the service is registered with the server.
  void ApplyLimits(const Limits& limits);

 private:
  store::Store* const store_;
  store::CheckpointStore* const checkpoints_;
  scheduler::Scheduler* const scheduler_;
  const std::atomic<bool>* const stopping_;
  const Authorizer* const auth_;
  std::size_t max_spec_bytes_ = Limits{}.max_spec_bytes;
  StreamLimit watch_streams_{"WatchSweep streams (--max-watch-streams)", Limits{}.max_watch_streams};
  StreamLimit export_streams_{"weight exports (--max-checkpoint-streams)", Limits{}.max_checkpoint_streams};
};

class WorkerHubService final : public v1::WorkerHub::CallbackService {
 public:
  WorkerHubService(store::Store* store, store::CheckpointStore* checkpoints, scheduler::Scheduler* scheduler,
                   const Authorizer* auth, int heartbeat_interval_ms, int max_acquire_wait_ms)
      : store_(store),
        checkpoints_(checkpoints),
        scheduler_(scheduler),
        auth_(auth),
        heartbeat_interval_ms_(heartbeat_interval_ms),
        max_acquire_wait_ms_(max_acquire_wait_ms) {}

  grpc::ServerUnaryReactor* RegisterWorker(grpc::CallbackServerContext* ctx,
                                           const v1::RegisterWorkerRequest* request,
                                           v1::RegisterWorkerResponse* response) override;
  grpc::ServerUnaryReactor* AcquireTrial(grpc::CallbackServerContext* ctx, const v1::AcquireTrialRequest* request,
                                         v1::AcquireTrialResponse* response) override;
  grpc::ServerUnaryReactor* Heartbeat(grpc::CallbackServerContext* ctx, const v1::HeartbeatRequest* request,
                                      v1::HeartbeatResponse* response) override;
  grpc::ServerUnaryReactor* ReportEpoch(grpc::CallbackServerContext* ctx, const v1::ReportEpochRequest* request,
                                        v1::ReportEpochResponse* response) override;
  grpc::ServerUnaryReactor* FinishTrial(grpc::CallbackServerContext* ctx, const v1::FinishTrialRequest* request,
                                        v1::FinishTrialResponse* response) override;
  grpc::ServerUnaryReactor* DeregisterWorker(grpc::CallbackServerContext* ctx,
                                             const v1::DeregisterWorkerRequest* request,
                                             v1::DeregisterWorkerResponse* response) override;
  grpc::ServerReadReactor<v1::CheckpointChunk>* UploadCheckpoint(grpc::CallbackServerContext* ctx,
                                                                 v1::UploadCheckpointResponse* response) override;
  grpc::ServerWriteReactor<v1::CheckpointChunk>* DownloadCheckpoint(
      grpc::CallbackServerContext* ctx, const v1::DownloadCheckpointRequest* request) override;

  // Call before the service is registered with the server.
  void ApplyLimits(const Limits& limits);

  // Answers long polls that can be served now or whose wait ran out. The
  // coordinator's dispatcher thread calls it whenever the scheduler changes
  // and periodically. With `shutting_down`, answers every waiter (no trial).
  void ServeWaiters(bool shutting_down);

 private:
  struct Waiter {
    grpc::CallbackServerContext* ctx;
    grpc::ServerUnaryReactor* reactor;
    std::string worker_id;
    int slot;  // the slot asking
    v1::AcquireTrialResponse* response;
    std::int64_t deadline_ms;
  };
  // Fills `response` when a trial is there; returns false when there is none.
  absl::StatusOr<bool> TryAssign(const std::string& worker_id, int slot, v1::AcquireTrialResponse* response);

  store::Store* const store_;
  store::CheckpointStore* const checkpoints_;
  scheduler::Scheduler* const scheduler_;
  const Authorizer* const auth_;
  const int heartbeat_interval_ms_;
  const int max_acquire_wait_ms_;
  StreamLimit checkpoint_streams_{"checkpoint uploads and downloads (--max-checkpoint-streams)",
                                  Limits{}.max_checkpoint_streams};
  std::mutex waiters_mu_;
  std::list<Waiter> waiters_;   // GUARDED_BY(waiters_mu_), oldest first
  bool shutting_down_ = false;  // GUARDED_BY(waiters_mu_)
};

}  // namespace segtune::api
