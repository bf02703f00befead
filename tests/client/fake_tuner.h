// An in-process Tuner service on 127.0.0.1 with canned answers, for testing
// the client against real gRPC calls.
#pragma once

#include <algorithm>
#include <atomic>
#include <chrono>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <grpcpp/grpcpp.h>
#include <zlib.h>

#include "fixtures.h"
#include "segtune/v1/segtune.grpc.pb.h"

namespace segtune::client::testing {

// Knows sweep "s1" (fixtures.h) with trials s1-0000 (completed) and s1-0001
// (running). A spec containing "invalid" is rejected with two problems.
// ExportWeights serves s1-0000's checkpoints of epochs 7 (its best, val_miou
// 0.612) and 8 (its last, 0.6).
class FakeTuner final : public v1::Tuner::Service {
 public:
  grpc::Status SubmitSweep(grpc::ServerContext*, const v1::SubmitSweepRequest* request,
                           v1::SubmitSweepResponse* response) override {
    if (request->spec_yaml().find("huge") != std::string::npos) {
      // What gRPC answers for a message over the server's limit.
      return grpc::Status(grpc::StatusCode::RESOURCE_EXHAUSTED, "Received message larger than max (9000000 vs. 8388608)");
    }
    if (request->spec_yaml().find("invalid") != std::string::npos) {
      return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                          "search.space.optimizer[0].lr: must be >= 0\nbudget.epochs: must be > 0");
    }
    response->set_sweep_id("s1");
    response->set_total_trials(2);
    return grpc::Status::OK;
  }

  grpc::Status GetSweep(grpc::ServerContext*, const v1::GetSweepRequest* request, v1::Sweep* sweep) override {
    if (request->sweep_id() != "s1") return NotFound(request->sweep_id());
    *sweep = MakeSweep();
    return grpc::Status::OK;
  }

  grpc::Status ListSweeps(grpc::ServerContext*, const v1::ListSweepsRequest*,
                          v1::ListSweepsResponse* response) override {
    *response->add_sweeps() = MakeSweep();
    std::lock_guard<std::mutex> lock(mu_);
    for (const v1::Sweep& sweep : more_sweeps_) *response->add_sweeps() = sweep;
    return grpc::Status::OK;
  }

  grpc::Status CancelSweep(grpc::ServerContext*, const v1::CancelSweepRequest* request,
                           v1::Sweep* sweep) override {
    std::lock_guard<std::mutex> lock(mu_);
    if (request->sweep_id() == "s1") {
      *sweep = MakeSweep();
    } else {
      const auto known = std::find_if(more_sweeps_.begin(), more_sweeps_.end(), [&](const v1::Sweep& listed) {
        return listed.sweep_id() == request->sweep_id();
      });
      if (known == more_sweeps_.end()) return NotFound(request->sweep_id());
      *sweep = *known;
    }
    sweep->set_state(v1::SWEEP_CANCELLED);
    cancelled_.push_back(request->sweep_id());
    return grpc::Status::OK;
  }

  grpc::Status ListTrials(grpc::ServerContext*, const v1::ListTrialsRequest* request,
                          v1::ListTrialsResponse* response) override {
    if (request->sweep_id() != "s1") return NotFound(request->sweep_id());
    v1::Trial* completed = response->add_trials();
    *completed = CompletedSgdTrial();
    // Its first attempt failed; the second completed.
    completed->set_attempt(2);
    v1::TrialAttempt* failed = completed->add_attempts();
    failed->set_attempt(1);
    failed->set_worker_id("w-2");
    failed->set_state(v1::FAILED);
    failed->set_reason("CUDA out of memory");
    failed->set_started_unix_ms(1714564984123);
    failed->set_ended_unix_ms(1714564990000);
    v1::TrialAttempt* done = completed->add_attempts();
    done->set_attempt(2);
    done->set_worker_id("w-1");
    done->set_state(v1::COMPLETED);
    done->set_started_unix_ms(1714564991000);
    done->set_ended_unix_ms(1714565000000);
    *response->add_trials() = RunningAdamTrial();
    return grpc::Status::OK;
  }

  grpc::Status GetTrialMetrics(grpc::ServerContext*, const v1::GetTrialMetricsRequest* request,
                               v1::GetTrialMetricsResponse* response) override {
    if (request->trial_id() != "s1-0000") return NotFound(request->trial_id());
    *response->mutable_trial() = CompletedSgdTrial();
    for (int epoch = 1; epoch <= 2; ++epoch) {
      v1::EpochMetrics* row = response->add_epochs();
      row->set_epoch(epoch);
      row->set_attempt(1);
      (*row->mutable_metrics())["val_miou"] = 0.25 * epoch;
    }
    return grpc::Status::OK;
  }

  grpc::Status GetBest(grpc::ServerContext*, const v1::GetBestRequest* request,
                       v1::GetBestResponse* response) override {
    if (request->sweep_id() != "s1") return NotFound(request->sweep_id());
    *response->mutable_sweep() = MakeSweep();
    if (no_results_) return grpc::Status::OK;
    *response->add_best() = MakeBest(CompletedSgdTrial());
    if (request->top_k() > 1) *response->add_best() = MakeBest(RunningAdamTrial());
    return grpc::Status::OK;
  }

  // Three updates: both trials pending; s1-0000 running; the sweep completed.
  // With stall_first_watch, the first stream sends the first update only and
  // then waits for the client's deadline. With end_watch_with, every stream
  // ends with that status after the first update.
  grpc::Status WatchSweep(grpc::ServerContext* context, const v1::WatchSweepRequest* request,
                          grpc::ServerWriter<v1::SweepUpdate>* writer) override {
    if (request->sweep_id() != "s1") return NotFound(request->sweep_id());
    ++watch_calls_;
    v1::SweepUpdate update;
    *update.mutable_sweep() = MakeSweep();
    update.mutable_sweep()->set_has_best(false);
    *update.add_trials() = MakeTrial("s1-0000", v1::PENDING, kSgdParams);
    *update.add_trials() = MakeTrial("s1-0001", v1::PENDING, kAdamParams);
    writer->Write(update);
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (!end_watch_with_.ok()) return end_watch_with_;
    }
    if (stall_first_watch_.exchange(false)) {
      while (!context->IsCancelled()) std::this_thread::sleep_for(std::chrono::milliseconds(10));
      return grpc::Status::OK;
    }
    update.mutable_trials(0)->set_state(v1::RUNNING);
    update.mutable_trials(0)->set_attempt(1);
    writer->Write(update);
    *update.mutable_sweep() = MakeSweep();
    update.mutable_sweep()->set_state(final_state_.load());
    *update.mutable_trials(0) = CompletedSgdTrial();
    *update.mutable_trials(1) = CompletedSgdTrial();
    update.mutable_trials(1)->set_trial_id("s1-0001");
    writer->Write(update);
    return grpc::Status::OK;
  }

  grpc::Status ListWorkers(grpc::ServerContext*, const v1::ListWorkersRequest*,
                           v1::ListWorkersResponse* response) override {
    v1::Worker* worker = response->add_workers();
    worker->set_worker_id("w-1");
    worker->set_name("local-1");
    worker->set_slots(1);
    worker->set_alive(true);
    return grpc::Status::OK;
  }

  grpc::Status ExportWeights(grpc::ServerContext*, const v1::ExportWeightsRequest* request,
                             grpc::ServerWriter<v1::ExportWeightsResponse>* writer) override {
    std::lock_guard<std::mutex> lock(mu_);
    export_requests_.push_back(*request);
    if (request->trial_id() != "s1-0000") return NotFound(request->trial_id());
    const int epoch = request->which() == v1::EXPORT_LAST    ? 8
                      : request->which() == v1::EXPORT_EPOCH ? request->epoch()
                                                             : 7;
    if (epoch != 7 && epoch != 8) {
      return grpc::Status(grpc::StatusCode::NOT_FOUND,
                          "no checkpoint of trial s1-0000 epoch " + std::to_string(epoch) + " is stored");
    }
    const std::string weights = export_weights_ + " of epoch " + std::to_string(epoch);
    v1::ExportWeightsResponse message;
    v1::ExportWeightsMetadata* metadata = message.mutable_metadata();
    metadata->set_trial_id("s1-0000");
    metadata->set_sweep_id("s1");
    metadata->set_epoch(epoch);
    metadata->set_size_bytes(static_cast<std::int64_t>(weights.size()));
    const auto crc = static_cast<std::uint32_t>(
        ::crc32(0, reinterpret_cast<const Bytef*>(weights.data()), static_cast<uInt>(weights.size())));
    metadata->set_crc32(corrupt_export_ ? crc ^ 1u : crc);
    metadata->set_metric("val_miou");
    metadata->set_mode("max");
    metadata->set_has_value(true);
    metadata->set_value(epoch == 7 ? 0.612 : 0.6);
    writer->Write(message);
    constexpr std::size_t kChunk = std::size_t{1} << 20;
    for (std::size_t at = 0; at < weights.size(); at += kChunk) {
      message.Clear();
      message.set_data(weights.substr(at, kChunk));
      writer->Write(message);
    }
    return grpc::Status::OK;
  }

  void set_no_results() { no_results_ = true; }
  // The weights ExportWeights sends start with `weights` (" of epoch N" follows).
  void set_export_weights(std::string weights) {
    std::lock_guard<std::mutex> lock(mu_);
    export_weights_ = std::move(weights);
  }
  // ExportWeights sends a crc32 that does not match the weights.
  void set_corrupt_export() {
    std::lock_guard<std::mutex> lock(mu_);
    corrupt_export_ = true;
  }
  std::vector<v1::ExportWeightsRequest> export_requests() {
    std::lock_guard<std::mutex> lock(mu_);
    return export_requests_;
  }
  // Listed by ListSweeps after s1; CancelSweep knows them too.
  void add_sweep(v1::Sweep sweep) {
    std::lock_guard<std::mutex> lock(mu_);
    more_sweeps_.push_back(std::move(sweep));
  }
  // The ids CancelSweep cancelled, in order.
  std::vector<std::string> cancelled() {
    std::lock_guard<std::mutex> lock(mu_);
    return cancelled_;
  }
  void set_end_watch_with(grpc::Status status) {
    std::lock_guard<std::mutex> lock(mu_);
    end_watch_with_ = std::move(status);
  }
  void set_stall_first_watch() { stall_first_watch_ = true; }
  int watch_calls() const { return watch_calls_; }
  void set_final_state(v1::SweepState state) { final_state_ = state; }

 private:
  static grpc::Status NotFound(const std::string& id) {
    return grpc::Status(grpc::StatusCode::NOT_FOUND, "no such sweep or trial: " + id);
  }

  std::mutex mu_;
  grpc::Status end_watch_with_ = grpc::Status::OK;  // GUARDED_BY(mu_)
  std::vector<v1::Sweep> more_sweeps_;              // GUARDED_BY(mu_)
  std::vector<std::string> cancelled_;              // GUARDED_BY(mu_)
  std::string export_weights_ = "fake weights";     // GUARDED_BY(mu_)
  bool corrupt_export_ = false;                     // GUARDED_BY(mu_)
  std::vector<v1::ExportWeightsRequest> export_requests_;  // GUARDED_BY(mu_)
  std::atomic<bool> no_results_{false};
  std::atomic<bool> stall_first_watch_{false};
  std::atomic<int> watch_calls_{0};
  std::atomic<v1::SweepState> final_state_{v1::SWEEP_COMPLETED};
};

// Serves a FakeTuner on 127.0.0.1 at a free port for the lifetime of the object.
class FakeTunerServer {
 public:
  FakeTunerServer() {
    grpc::ServerBuilder builder;
    builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port_);
    builder.RegisterService(&service_);
    server_ = builder.BuildAndStart();
  }
  ~FakeTunerServer() { server_->Shutdown(); }

  std::string address() const { return "127.0.0.1:" + std::to_string(port_); }
  FakeTuner& service() { return service_; }

 private:
  FakeTuner service_;
  int port_ = 0;
  std::unique_ptr<grpc::Server> server_;
};

}  // namespace segtune::client::testing
