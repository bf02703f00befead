// Test support for the API tests: a real coordinator started in process on
// loopback, with its database and data in a fresh temporary directory, an
// insecure channel with Tuner and WorkerHub stubs to it, and the first calls
// most tests make (submit a sweep, register a worker, lease a trial); plus the
// tiny sweep spec and the gRPC status assertion several tests share. The
// coordinator is shut down and the directory removed on destruction.
//
// Thread-safety: start, stop and destroy it on the test's own thread; the
// stubs, like any gRPC stub, may be used from several threads while it runs.
#pragma once

#include <filesystem>
#include <memory>
#include <random>
#include <string>

#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include "segtune/api/coordinator.h"
#include "segtune/v1/segtune.grpc.pb.h"

namespace segtune::testing {

// Whether `status` has `code` and a message containing `part`.
inline ::testing::AssertionResult IsError(const grpc::Status& status, grpc::StatusCode code, const std::string& part) {
  if (status.error_code() == code && status.error_message().find(part) != std::string::npos) {
    return ::testing::AssertionSuccess();
  }
  return ::testing::AssertionFailure() << "got code " << status.error_code() << " \"" << status.error_message()
                                       << "\"; wanted code " << code << " with \"" << part << "\"";
}

// A grid sweep named `name` over SGD learning rates `lrs` (a YAML value, e.g.
// "[0.1, 0.2]": one trial each) on 16-pixel shapes with a tiny U-Net, its
// budget `budget` (e.g. "{epochs: 1}").
inline std::string TinyGridSpec(const std::string& name, const std::string& budget, const std::string& lrs) {
  return "name: " + name + "\nobjective: {metric: val_miou, mode: max}\nbudget: " + budget + R"(
data: {dataset: shapes, image_size: 16, train_size: 8, val_size: 4}
model: {arch: unet, base_channels: 4, depth: 2}
search:
  algorithm: grid
  space:
    optimizer:
      - {name: SGD, lr: )" + lrs + "}\n";
}

class InProcessCoordinator {
 public:
  // Makes the directory <temp>/<name_prefix>-<random>; Start starts the coordinator.
  explicit InProcessCoordinator(const std::string& name_prefix)
      : dir_(std::filesystem::temp_directory_path() / (name_prefix + "-" + std::to_string(std::random_device{}()))) {
    std::filesystem::create_directories(dir_);
  }
  ~InProcessCoordinator() {
    Stop();
    std::filesystem::remove_all(dir_);
  }
  InProcessCoordinator(const InProcessCoordinator&) = delete;
  InProcessCoordinator& operator=(const InProcessCoordinator&) = delete;

  // Starts the coordinator on 127.0.0.1:0 with its database and data in dir()
  // and the rest of `options` as given, and connects the stubs with
  // `channel_args` (no token, no TLS: tests that set tokens make their own
  // channels to coordinator().address()). After Stop it starts again on the
  // same directory.
  ::testing::AssertionResult Start(api::CoordinatorOptions options = {},
                                   const grpc::ChannelArguments& channel_args = {}) {
    options.listen = "127.0.0.1:0";
    options.db_path = (dir_ / "segtune.db").string();
    options.data_dir = dir_.string();
    auto started = api::Coordinator::Start(options);
    if (!started.ok()) return ::testing::AssertionFailure() << "the coordinator did not start: " << started.status();
    coordinator_ = *std::move(started);
    auto channel = grpc::CreateCustomChannel(coordinator_->address(), grpc::InsecureChannelCredentials(), channel_args);
    tuner_ = v1::Tuner::NewStub(channel);
    hub_ = v1::WorkerHub::NewStub(channel);
    return ::testing::AssertionSuccess();
  }

  // Shuts the coordinator down, keeping dir(); nothing when it is not running.
  void Stop() {
    if (coordinator_) coordinator_->Shutdown();
    coordinator_.reset();
  }

  const std::filesystem::path& dir() const { return dir_; }
  api::Coordinator& coordinator() { return *coordinator_; }
  v1::Tuner::Stub& tuner() { return *tuner_; }
  v1::WorkerHub::Stub& hub() { return *hub_; }

  // Submits a sweep of `spec_yaml`; its id goes to `sweep_id` when given.
  grpc::Status SubmitSweep(const std::string& spec_yaml, std::string* sweep_id = nullptr) {
    grpc::ClientContext context;
    v1::SubmitSweepRequest request;
    request.set_spec_yaml(spec_yaml);
    v1::SubmitSweepResponse response;
    const grpc::Status status = tuner_->SubmitSweep(&context, request, &response);
    if (sweep_id != nullptr) *sweep_id = response.sweep_id();
    return status;
  }

  // Registers `request`; the worker's id goes to `worker_id` when given.
  grpc::Status RegisterWorker(const v1::RegisterWorkerRequest& request, std::string* worker_id = nullptr) {
    grpc::ClientContext context;
    v1::RegisterWorkerResponse response;
    const grpc::Status status = hub_->RegisterWorker(&context, request, &response);
    if (worker_id != nullptr) *worker_id = response.worker_id();
    return status;
  }

  // Registers a worker named `name` with `slots` slots and no other details.
  grpc::Status RegisterWorker(const std::string& name, int slots, std::string* worker_id) {
    v1::RegisterWorkerRequest request;
    request.set_name(name);
    request.set_slots(slots);
    return RegisterWorker(request, worker_id);
  }

  // Asks for a trial for `worker_id`'s slot `slot`.
  grpc::Status AcquireTrial(const std::string& worker_id, v1::AcquireTrialResponse* response, int slot = 0) {
    grpc::ClientContext context;
    v1::AcquireTrialRequest request;
    request.set_worker_id(worker_id);
    request.set_slot(slot);
    return hub_->AcquireTrial(&context, request, response);
  }

 private:
  std::filesystem::path dir_;
  std::unique_ptr<api::Coordinator> coordinator_;
  std::unique_ptr<v1::Tuner::Stub> tuner_;
  std::unique_ptr<v1::WorkerHub::Stub> hub_;
};

}  // namespace segtune::testing
