// Tuner.ListTrials carries every attempt of each trial, against an
// in-process coordinator on loopback.
#include <filesystem>
#include <memory>
#include <random>
#include <string>

#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include "segtune/api/coordinator.h"
#include "segtune/v1/segtune.grpc.pb.h"

namespace segtune::api {
namespace {

namespace fs = std::filesystem;

constexpr char kSpec[] = R"(name: attempts
objective: {metric: val_miou, mode: max}
budget: {epochs: 1, max_retries: 1}
data: {dataset: shapes, image_size: 16, train_size: 8, val_size: 4}
model: {arch: unet, base_channels: 4, depth: 2}
search:
  algorithm: grid
  space:
    optimizer:
      - {name: SGD, lr: [0.1, 0.2]}
)";

TEST(AttemptsRpcTest, ListTrialsShowsEveryAttemptWithItsReason) {
  const fs::path dir = fs::temp_directory_path() / ("segtune-attempts-rpc-" + std::to_string(std::random_device{}()));
  fs::create_directories(dir);
  CoordinatorOptions options;
  options.listen = "127.0.0.1:0";
  options.db_path = (dir / "segtune.db").string();
  options.data_dir = dir.string();
  auto coordinator = Coordinator::Start(options);
  ASSERT_TRUE(coordinator.ok()) << coordinator.status();
  auto channel = grpc::CreateChannel((*coordinator)->address(), grpc::InsecureChannelCredentials());
  auto tuner = v1::Tuner::NewStub(channel);
  auto hub = v1::WorkerHub::NewStub(channel);

  v1::SubmitSweepRequest submit;
  submit.set_spec_yaml(kSpec);
  v1::SubmitSweepResponse submitted;
  grpc::ClientContext submit_context;
  ASSERT_TRUE(tuner->SubmitSweep(&submit_context, submit, &submitted).ok());
  v1::RegisterWorkerRequest register_request;
  register_request.set_name("w");
  register_request.set_slots(1);
  v1::RegisterWorkerResponse registered;
  grpc::ClientContext register_context;
  ASSERT_TRUE(hub->RegisterWorker(&register_context, register_request, &registered).ok());

  // Attempt 1 fails; the trial goes back to the queue and attempt 2 runs.
  for (int attempt = 1; attempt <= 2; ++attempt) {
    v1::AcquireTrialRequest acquire;
    acquire.set_worker_id(registered.worker_id());
    v1::AcquireTrialResponse acquired;
    grpc::ClientContext acquire_context;
    ASSERT_TRUE(hub->AcquireTrial(&acquire_context, acquire, &acquired).ok());
    ASSERT_EQ(acquired.assignment().attempt(), attempt);
    if (attempt == 2) break;
    v1::FinishTrialRequest finish;
    finish.set_worker_id(registered.worker_id());
    finish.set_trial_id(acquired.assignment().trial_id());
    finish.set_attempt(attempt);
    finish.set_state(v1::FAILED);
    finish.set_reason("CUDA out of memory");
    v1::FinishTrialResponse finished;
    grpc::ClientContext finish_context;
    ASSERT_TRUE(hub->FinishTrial(&finish_context, finish, &finished).ok());
  }

  v1::ListTrialsRequest list;
  list.set_sweep_id(submitted.sweep_id());
  v1::ListTrialsResponse trials;
  grpc::ClientContext list_context;
  ASSERT_TRUE(tuner->ListTrials(&list_context, list, &trials).ok());
  ASSERT_EQ(trials.trials_size(), 2);
  const v1::Trial& retried = trials.trials(0);
  EXPECT_EQ(retried.state(), v1::RUNNING);
  ASSERT_EQ(retried.attempts_size(), 2);
  EXPECT_EQ(retried.attempts(0).attempt(), 1);
  EXPECT_EQ(retried.attempts(0).worker_id(), registered.worker_id());
  EXPECT_EQ(retried.attempts(0).state(), v1::FAILED);
  EXPECT_EQ(retried.attempts(0).reason(), "CUDA out of memory");
  EXPECT_GT(retried.attempts(0).ended_unix_ms(), 0);
  EXPECT_EQ(retried.attempts(1).state(), v1::RUNNING);
  EXPECT_EQ(retried.attempts(1).ended_unix_ms(), 0);
  EXPECT_EQ(trials.trials(1).attempts_size(), 0);  // never leased

  (*coordinator)->Shutdown();
  fs::remove_all(dir);
}

}  // namespace
}  // namespace segtune::api
