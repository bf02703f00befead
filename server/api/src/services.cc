#include "services.h"

#include <chrono>
#include <condition_variable>
#include <thread>

#include <google/protobuf/util/message_differencer.h>

#include <spdlog/spdlog.h>

#include "absl/strings/str_cat.h"
#include "checkpoint_streams.h"
#include "request_checks.h"
#include "status_mapping.h"
#include "views.h"

namespace segtune::api {
namespace {

// Finishes a unary call right away with `status`.
grpc::ServerUnaryReactor* Done(grpc::CallbackServerContext* ctx, const absl::Status& status) {
  grpc::ServerUnaryReactor* reactor = ctx->DefaultReactor();
  reactor->Finish(ToGrpcStatus(status));
  return reactor;
}

absl::StatusOr<store::TrialState> FromProto(v1::TrialState state) {
  switch (state) {
    case v1::PENDING: return store::TrialState::kPending;
    case v1::COMPLETED: return store::TrialState::kCompleted;
    case v1::STOPPED: return store::TrialState::kStopped;
    case v1::FAILED: return store::TrialState::kFailed;
    case v1::DIVERGED: return store::TrialState::kDiverged;
    case v1::CANCELLED: return store::TrialState::kCancelled;
    default:
      return absl::InvalidArgumentError(
          absl::StrCat("state: ", v1::TrialState_Name(state), " does not end a trial"));
  }
}

// Streams a sweep's state: one update at the start, then one per change,
// ending after the update that shows the sweep finished. A thread per stream
// waits for scheduler changes; writes are serialized through OnWriteDone.
class WatchReactor final : public grpc::ServerWriteReactor<v1::SweepUpdate> {
 public:
  WatchReactor(store::Store* store, scheduler::Scheduler* scheduler, const std::atomic<bool>* stopping,
               std::string sweep_id, StreamLimit::Slot slot)
      : store_(store),
        scheduler_(scheduler),
        stopping_(stopping),
        sweep_id_(std::move(sweep_id)),
        slot_(std::move(slot)) {
    thread_ = std::thread([this] { Run(); });
  }

  void OnWriteDone(bool ok) override {
    std::lock_guard<std::mutex> lock(mu_);
    writing_ = false;
    write_failed_ = !ok;
    cv_.notify_all();
  }
  void OnCancel() override {
    std::lock_guard<std::mutex> lock(mu_);
    cancelled_ = true;
    cv_.notify_all();
    scheduler_->NotifyAll();
  }
  void OnDone() override {
    // Finish is the stream thread's last act; it may still be returning from it.
    if (std::this_thread::get_id() == thread_.get_id()) {
      thread_.detach();
    } else {
      thread_.join();
    }
    delete this;
  }

 private:
  bool Cancelled() {
    std::lock_guard<std::mutex> lock(mu_);
    return cancelled_ || write_failed_ || stopping_->load();
  }

  void Run() {
    v1::SweepUpdate last;
    bool sent_any = false;
    std::uint64_t seen = scheduler_->version();
    while (!Cancelled()) {
      auto view = LoadSweepView(*store_, sweep_id_);
      if (!view.ok()) {
        Finish(ToGrpcStatus(view.status()));
        return;
      }
      if (!sent_any || !google::protobuf::util::MessageDifferencer::Equals(*view, last)) {
        last = std::move(*view);
        sent_any = true;
        {
          std::unique_lock<std::mutex> lock(mu_);
          writing_ = true;
          StartWrite(&last);
          cv_.wait(lock, [&] { return !writing_ || cancelled_; });
          if (cancelled_ || write_failed_) break;
        }
        if (last.sweep().state() != v1::SWEEP_RUNNING) {
          Finish(grpc::Status::OK);
          return;
        }
      }
      seen = scheduler_->WaitForChange(seen, 1000);
    }
    if (stopping_->load()) {
      Finish(grpc::Status(grpc::StatusCode::UNAVAILABLE, "the coordinator is shutting down"));
    } else {
      Finish(grpc::Status(grpc::StatusCode::CANCELLED, "the client ended the watch"));
    }
  }

  store::Store* const store_;
  scheduler::Scheduler* const scheduler_;
  const std::atomic<bool>* const stopping_;
  const std::string sweep_id_;
  const StreamLimit::Slot slot_;
  std::thread thread_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool writing_ = false;      // GUARDED_BY(mu_)
  bool write_failed_ = false;  // GUARDED_BY(mu_)
  bool cancelled_ = false;     // GUARDED_BY(mu_)
};

}  // namespace

// ------------------------------------------------------------------ Tuner --

grpc::ServerUnaryReactor* TunerService::SubmitSweep(grpc::CallbackServerContext* ctx,
                                                    const v1::SubmitSweepRequest* request,
                                                    v1::SubmitSweepResponse* response) {
  if (absl::Status s = auth_->Check(*ctx, "/segtune.v1.Tuner/SubmitSweep"); !s.ok()) return Done(ctx, s);
  if (request->spec_yaml().empty()) return Done(ctx, absl::InvalidArgumentError("spec_yaml: required"));
  if (request->spec_yaml().size() > max_spec_bytes_) {
    return Done(ctx, absl::InvalidArgumentError(absl::StrCat("spec_yaml: ", request->spec_yaml().size(),
                                                             " bytes, larger than the limit of ", max_spec_bytes_,
                                                             " bytes (--max-spec-bytes)")));
  }
  auto submitted = scheduler_->Submit(request->spec_yaml());
  if (!submitted.ok()) return Done(ctx, submitted.status());
  response->set_sweep_id(submitted->sweep_id);
  response->set_total_trials(submitted->total_trials);
  return Done(ctx, absl::OkStatus());
}

grpc::ServerUnaryReactor* TunerService::GetSweep(grpc::CallbackServerContext* ctx,
                                                 const v1::GetSweepRequest* request, v1::Sweep* response) {
  if (absl::Status s = auth_->Check(*ctx, "/segtune.v1.Tuner/GetSweep"); !s.ok()) return Done(ctx, s);
  if (absl::Status s = RequireId(request->sweep_id(), "sweep_id"); !s.ok()) return Done(ctx, s);
  auto view = LoadSweepView(*store_, request->sweep_id());
  if (!view.ok()) return Done(ctx, view.status());
  *response = view->sweep();
  return Done(ctx, absl::OkStatus());
}

grpc::ServerUnaryReactor* TunerService::ListSweeps(grpc::CallbackServerContext* ctx,
                                                   const v1::ListSweepsRequest* request,
                                                   v1::ListSweepsResponse* response) {
  if (absl::Status s = auth_->Check(*ctx, "/segtune.v1.Tuner/ListSweeps"); !s.ok()) return Done(ctx, s);
  auto sweeps = store_->ListSweeps();
  if (!sweeps.ok()) return Done(ctx, sweeps.status());
  for (const store::SweepRecord& sweep : *sweeps) {
    auto view = LoadSweepView(*store_, sweep);
    if (!view.ok()) return Done(ctx, view.status());
    v1::Sweep* entry = response->add_sweeps();
    *entry = view->sweep();
    entry->clear_spec_yaml();  // listings stay small; GetSweep has it
  }
  return Done(ctx, absl::OkStatus());
}

grpc::ServerUnaryReactor* TunerService::CancelSweep(grpc::CallbackServerContext* ctx,
                                                    const v1::CancelSweepRequest* request, v1::Sweep* response) {
  if (absl::Status s = auth_->Check(*ctx, "/segtune.v1.Tuner/CancelSweep"); !s.ok()) return Done(ctx, s);
  if (absl::Status s = RequireId(request->sweep_id(), "sweep_id"); !s.ok()) return Done(ctx, s);
  if (absl::Status s = scheduler_->Cancel(request->sweep_id()); !s.ok()) return Done(ctx, s);
  auto view = LoadSweepView(*store_, request->sweep_id());
  if (!view.ok()) return Done(ctx, view.status());
  *response = view->sweep();
  return Done(ctx, absl::OkStatus());
}

grpc::ServerUnaryReactor* TunerService::ListTrials(grpc::CallbackServerContext* ctx,
                                                   const v1::ListTrialsRequest* request,
                                                   v1::ListTrialsResponse* response) {
  if (absl::Status s = auth_->Check(*ctx, "/segtune.v1.Tuner/ListTrials"); !s.ok()) return Done(ctx, s);
  if (absl::Status s = RequireId(request->sweep_id(), "sweep_id"); !s.ok()) return Done(ctx, s);
  auto view = LoadSweepView(*store_, request->sweep_id());
  if (!view.ok()) return Done(ctx, view.status());
  // Attempts read after the trials: a trial never shows fewer attempts than its count.
  auto attempts = store_->ListSweepAttempts(request->sweep_id());
  if (!attempts.ok()) return Done(ctx, attempts.status());
  *response->mutable_trials() = view->trials();
  for (v1::Trial& trial : *response->mutable_trials()) {
    auto trial_attempts = attempts->find(trial.trial_id());
    if (trial_attempts == attempts->end()) continue;
    for (const store::AttemptRecord& attempt : trial_attempts->second) *trial.add_attempts() = AttemptView(attempt);
  }
  return Done(ctx, absl::OkStatus());
}

grpc::ServerUnaryReactor* TunerService::GetTrialMetrics(grpc::CallbackServerContext* ctx,
                                                        const v1::GetTrialMetricsRequest* request,
                                                        v1::GetTrialMetricsResponse* response) {
  if (absl::Status s = auth_->Check(*ctx, "/segtune.v1.Tuner/GetTrialMetrics"); !s.ok()) return Done(ctx, s);
  if (absl::Status s = RequireId(request->trial_id(), "trial_id"); !s.ok()) return Done(ctx, s);
  auto trial = store_->GetTrial(request->trial_id());
  if (!trial.ok()) return Done(ctx, trial.status());
  auto sweep = store_->GetSweep(trial->sweep_id);
  if (!sweep.ok()) return Done(ctx, sweep.status());
  auto epochs = store_->ListEpochs(request->trial_id());
  if (!epochs.ok()) return Done(ctx, epochs.status());
  *response->mutable_trial() = TrialView(*trial, *epochs, sweep->objective_metric, sweep->maximize);
  for (const store::EpochRecord& epoch : *epochs) *response->add_epochs() = EpochView(epoch);
  return Done(ctx, absl::OkStatus());
}

grpc::ServerUnaryReactor* TunerService::GetBest(grpc::CallbackServerContext* ctx, const v1::GetBestRequest* request,
                                                v1::GetBestResponse* response) {
  if (absl::Status s = auth_->Check(*ctx, "/segtune.v1.Tuner/GetBest"); !s.ok()) return Done(ctx, s);
  if (absl::Status s = RequireId(request->sweep_id(), "sweep_id"); !s.ok()) return Done(ctx, s);
  if (request->top_k() < 0) return Done(ctx, absl::InvalidArgumentError("top_k: must be >= 0"));
  auto view = LoadSweepView(*store_, request->sweep_id());
  if (!view.ok()) return Done(ctx, view.status());
  *response->mutable_sweep() = view->sweep();
  for (v1::BestTrial& best : RankTrials(*view, std::max(1, request->top_k()))) {
    *response->add_best() = std::move(best);
  }
  return Done(ctx, absl::OkStatus());
}

grpc::ServerWriteReactor<v1::SweepUpdate>* TunerService::WatchSweep(grpc::CallbackServerContext* ctx,
                                                                   const v1::WatchSweepRequest* request) {
  if (absl::Status s = auth_->Check(*ctx, "/segtune.v1.Tuner/WatchSweep"); !s.ok()) return FailedStream<v1::SweepUpdate>(ToGrpcStatus(s));
  if (absl::Status s = RequireId(request->sweep_id(), "sweep_id"); !s.ok()) {
    return FailedStream<v1::SweepUpdate>(ToGrpcStatus(s));
  }
  auto slot = watch_streams_.Acquire();
  if (!slot.ok()) return FailedStream<v1::SweepUpdate>(ToGrpcStatus(slot.status()));
  return new WatchReactor(store_, scheduler_, stopping_, request->sweep_id(), *std::move(slot));
}

grpc::ServerUnaryReactor* TunerService::ListWorkers(grpc::CallbackServerContext* ctx,
                                                    const v1::ListWorkersRequest* request,
                                                    v1::ListWorkersResponse* response) {
  if (absl::Status s = auth_->Check(*ctx, "/segtune.v1.Tuner/ListWorkers"); !s.ok()) return Done(ctx, s);
  auto workers = store_->ListWorkers();
  if (!workers.ok()) return Done(ctx, workers.status());
  // The scheduler knows who is alive now; the store remembers everyone.
  const auto live = scheduler_->LiveWorkers();
  for (const store::WorkerRecord& stored : *workers) {
    auto live_worker = live.find(stored.worker_id);
    const store::WorkerRecord& worker = live_worker == live.end() ? stored : live_worker->second.record;
    v1::Worker* view = response->add_workers();
    view->set_worker_id(worker.worker_id);
    view->set_name(worker.name);
    view->set_hostname(worker.hostname);
    view->set_device(worker.device);
    view->set_slots(worker.slots);
    view->set_last_seen_unix_ms(worker.last_seen_unix_ms);
    view->set_alive(live_worker != live.end());
    if (live_worker != live.end()) {
      view->set_busy_slots(static_cast<int>(live_worker->second.running_trial_ids.size()));
      for (const std::string& trial_id : live_worker->second.running_trial_ids) view->add_running_trial_ids(trial_id);
    }
    const std::vector<scheduler::DeviceUsage> devices =
        live_worker != live.end() ? live_worker->second.devices : scheduler::IdleDevices(worker);
    for (const scheduler::DeviceUsage& device : devices) *view->add_devices() = DeviceUsageView(device);
  }
  return Done(ctx, absl::OkStatus());
}

grpc::ServerWriteReactor<v1::ExportWeightsResponse>* TunerService::ExportWeights(
    grpc::CallbackServerContext* ctx, const v1::ExportWeightsRequest* request) {
  if (absl::Status s = auth_->Check(*ctx, "/segtune.v1.Tuner/ExportWeights"); !s.ok()) return FailedStream<v1::ExportWeightsResponse>(ToGrpcStatus(s));
  auto slot = export_streams_.Acquire();
  if (!slot.ok()) return FailedStream<v1::ExportWeightsResponse>(ToGrpcStatus(slot.status()));
  return NewExportReactor(store_, checkpoints_, *request, *std::move(slot));
}

void TunerService::ApplyLimits(const Limits& limits) {
  max_spec_bytes_ = static_cast<std::size_t>(limits.max_spec_bytes);
  watch_streams_.set_max(limits.max_watch_streams);
  export_streams_.set_max(limits.max_checkpoint_streams);
}

// -------------------------------------------------------------- WorkerHub --

grpc::ServerUnaryReactor* WorkerHubService::RegisterWorker(grpc::CallbackServerContext* ctx,
                                                           const v1::RegisterWorkerRequest* request,
                                                           v1::RegisterWorkerResponse* response) {
  if (absl::Status s = auth_->Check(*ctx, "/segtune.v1.WorkerHub/RegisterWorker"); !s.ok()) return Done(ctx, s);
  if (absl::Status s = CheckRegistration(*request); !s.ok()) return Done(ctx, s);
  store::WorkerRecord worker;
  worker.name = request->name();
  worker.hostname = request->hostname();
  worker.device = request->device();
  worker.slots = request->slots();
  worker.slot_devices.assign(request->slot_devices().begin(), request->slot_devices().end());
  auto registered = scheduler_->RegisterWorker(worker);
  if (!registered.ok()) return Done(ctx, registered.status());
  response->set_worker_id(registered->worker_id);
  response->set_heartbeat_interval_ms(heartbeat_interval_ms_);
  response->set_lease_ms(static_cast<int>(scheduler_->lease_ms()));
  return Done(ctx, absl::OkStatus());
}

absl::StatusOr<bool> WorkerHubService::TryAssign(const std::string& worker_id, int slot,
                                                v1::AcquireTrialResponse* response) {
  auto assignment = scheduler_->TryAcquire(worker_id, slot);
  if (!assignment.ok()) return assignment.status();
  if (!assignment->has_value()) return false;
  const scheduler::Assignment& a = **assignment;
  response->set_has_trial(true);
  v1::TrialAssignment* out = response->mutable_assignment();
  out->set_trial_id(a.trial_id);
  out->set_sweep_id(a.sweep_id);
  out->set_attempt(a.attempt);
  out->set_config_json(a.config_json);
  out->set_start_epoch(a.start_epoch);
  return true;
}

grpc::ServerUnaryReactor* WorkerHubService::AcquireTrial(grpc::CallbackServerContext* ctx,
                                                         const v1::AcquireTrialRequest* request,
                                                         v1::AcquireTrialResponse* response) {
  if (absl::Status s = auth_->Check(*ctx, "/segtune.v1.WorkerHub/AcquireTrial"); !s.ok()) return Done(ctx, s);
  if (absl::Status s = CheckAcquire(*request); !s.ok()) return Done(ctx, s);
  auto assigned = TryAssign(request->worker_id(), request->slot(), response);
  if (!assigned.ok() || *assigned || request->wait_ms() == 0) {
    return Done(ctx, assigned.status());
  }
  // Nothing runnable now: park the call; ServeWaiters answers it later.
  grpc::ServerUnaryReactor* reactor = ctx->DefaultReactor();
  const int wait_ms = std::min(request->wait_ms(), max_acquire_wait_ms_);
  std::lock_guard<std::mutex> lock(waiters_mu_);
  if (shutting_down_) {
    // A call parked now would never be answered and would hold server shutdown.
    reactor->Finish(grpc::Status(grpc::StatusCode::UNAVAILABLE, "the coordinator is shutting down"));
    return reactor;
  }
  waiters_.push_back(
      Waiter{ctx, reactor, request->worker_id(), request->slot(), response, scheduler_->NowMs() + wait_ms});
  return reactor;
}

void WorkerHubService::ServeWaiters(bool shutting_down) {
  std::lock_guard<std::mutex> lock(waiters_mu_);
  if (shutting_down) shutting_down_ = true;
  const std::int64_t now = scheduler_->NowMs();
  for (auto it = waiters_.begin(); it != waiters_.end();) {
    Waiter& waiter = *it;
    grpc::Status status = grpc::Status::OK;
    bool answer = shutting_down || now >= waiter.deadline_ms;
    if (waiter.ctx->IsCancelled()) {
      status = grpc::Status(grpc::StatusCode::CANCELLED, "client went away");
      answer = true;
    } else if (!shutting_down) {
      auto assigned = TryAssign(waiter.worker_id, waiter.slot, waiter.response);
      if (!assigned.ok()) {
        status = ToGrpcStatus(assigned.status());
        answer = true;
      } else if (*assigned) {
        answer = true;
      }
    }
    if (!answer) {
      ++it;
      continue;
    }
    waiter.reactor->Finish(status);
    it = waiters_.erase(it);
  }
}

grpc::ServerUnaryReactor* WorkerHubService::Heartbeat(grpc::CallbackServerContext* ctx,
                                                      const v1::HeartbeatRequest* request,
                                                      v1::HeartbeatResponse* response) {
  if (absl::Status s = auth_->Check(*ctx, "/segtune.v1.WorkerHub/Heartbeat"); !s.ok()) return Done(ctx, s);
  if (absl::Status s = CheckHeartbeat(*request); !s.ok()) return Done(ctx, s);
  std::vector<scheduler::RunningTrialRef> running;
  for (const v1::RunningTrial& trial : request->running()) running.push_back({trial.trial_id(), trial.attempt()});
  std::vector<scheduler::SlotUsage> slots;
  for (const v1::SlotUsage& usage : request->slots()) slots.push_back({usage.slot(), usage.training_seconds()});
  auto stop = scheduler_->Heartbeat(request->worker_id(), running, slots);
  if (!stop.ok()) return Done(ctx, stop.status());
  for (const std::string& trial_id : *stop) response->add_stop_trial_ids(trial_id);
  return Done(ctx, absl::OkStatus());
}

grpc::ServerUnaryReactor* WorkerHubService::ReportEpoch(grpc::CallbackServerContext* ctx,
                                                        const v1::ReportEpochRequest* request,
                                                        v1::ReportEpochResponse* response) {
  if (absl::Status s = auth_->Check(*ctx, "/segtune.v1.WorkerHub/ReportEpoch"); !s.ok()) return Done(ctx, s);
  if (absl::Status s = RequireId(request->worker_id(), "worker_id"); !s.ok()) return Done(ctx, s);
  if (absl::Status s = RequireId(request->trial_id(), "trial_id"); !s.ok()) return Done(ctx, s);
  if (absl::Status s = CheckMetrics(request->metrics()); !s.ok()) return Done(ctx, s);
  std::map<std::string, double> metrics(request->metrics().begin(), request->metrics().end());
  // Answered from the scheduler's committer thread once the epoch is durable
  // (group commit), so no gRPC thread waits for the disk.
  grpc::ServerUnaryReactor* reactor = ctx->DefaultReactor();
  scheduler_->ReportEpochAsync(
      request->worker_id(), request->trial_id(), request->attempt(), request->epoch(), metrics,
      [this, reactor, request, response](absl::StatusOr<scheduler::EpochDecision> decision) {
        if (!decision.ok()) {
          reactor->Finish(ToGrpcStatus(decision.status()));
          return;
        }
        // Copied first: the call and its messages are gone once it is answered.
        const std::string trial_id = request->trial_id();
        const int epoch = request->epoch();
        response->set_decision(decision->stop ? v1::STOP : v1::CONTINUE);
        response->set_reason(decision->reason);
        reactor->Finish(grpc::Status::OK);
        // The epoch is durable: older checkpoints can go, after the answer so
        // that the worker never waits for the deletion. A failure here costs
        // disk space only.
        if (decision->best_epoch == 0) return;
        if (absl::Status s = checkpoints_->Retain(trial_id, epoch, decision->best_epoch,
                                                  scheduler_->CheckpointsKeptEvery(trial_id));
            !s.ok()) {
          spdlog::warn("trial {}: cannot delete checkpoints older than epoch {}: {}", trial_id, epoch, s.ToString());
        }
      });
  return reactor;
}

grpc::ServerUnaryReactor* WorkerHubService::FinishTrial(grpc::CallbackServerContext* ctx,
                                                        const v1::FinishTrialRequest* request,
                                                        v1::FinishTrialResponse* response) {
  if (absl::Status s = auth_->Check(*ctx, "/segtune.v1.WorkerHub/FinishTrial"); !s.ok()) return Done(ctx, s);
  if (absl::Status s = RequireId(request->worker_id(), "worker_id"); !s.ok()) return Done(ctx, s);
  if (absl::Status s = RequireId(request->trial_id(), "trial_id"); !s.ok()) return Done(ctx, s);
  auto state = FromProto(request->state());
  if (!state.ok()) return Done(ctx, state.status());
  if (absl::Status s = CheckLength(request->reason(), "reason", kMaxReasonLength); !s.ok()) return Done(ctx, s);
  return Done(ctx, scheduler_->FinishTrial(request->worker_id(), request->trial_id(), request->attempt(), *state,
                                           request->reason()));
}

grpc::ServerUnaryReactor* WorkerHubService::DeregisterWorker(grpc::CallbackServerContext* ctx,
                                                             const v1::DeregisterWorkerRequest* request,
                                                             v1::DeregisterWorkerResponse* response) {
  if (absl::Status s = auth_->Check(*ctx, "/segtune.v1.WorkerHub/DeregisterWorker"); !s.ok()) return Done(ctx, s);
  if (absl::Status s = RequireId(request->worker_id(), "worker_id"); !s.ok()) return Done(ctx, s);
  return Done(ctx, scheduler_->DeregisterWorker(request->worker_id()));
}

grpc::ServerReadReactor<v1::CheckpointChunk>* WorkerHubService::UploadCheckpoint(
    grpc::CallbackServerContext* ctx, v1::UploadCheckpointResponse* response) {
  if (absl::Status s = auth_->Check(*ctx, "/segtune.v1.WorkerHub/UploadCheckpoint"); !s.ok()) return FailedReadStream<v1::CheckpointChunk>(ToGrpcStatus(s));
  auto slot = checkpoint_streams_.Acquire();
  if (!slot.ok()) return FailedReadStream<v1::CheckpointChunk>(ToGrpcStatus(slot.status()));
  return NewUploadReactor(scheduler_, checkpoints_, *std::move(slot));
}

grpc::ServerWriteReactor<v1::CheckpointChunk>* WorkerHubService::DownloadCheckpoint(
    grpc::CallbackServerContext* ctx, const v1::DownloadCheckpointRequest* request) {
  if (absl::Status s = auth_->Check(*ctx, "/segtune.v1.WorkerHub/DownloadCheckpoint"); !s.ok()) return FailedStream<v1::CheckpointChunk>(ToGrpcStatus(s));
  auto slot = checkpoint_streams_.Acquire();
  if (!slot.ok()) return FailedStream<v1::CheckpointChunk>(ToGrpcStatus(slot.status()));
  return NewDownloadReactor(scheduler_, checkpoints_, *request, *std::move(slot));
}

void WorkerHubService::ApplyLimits(const Limits& limits) {
  checkpoint_streams_.set_max(limits.max_checkpoint_streams);
}

}  // namespace segtune::api
