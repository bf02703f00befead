// Tuner.ListTrials carries every attempt of each trial, against an
// in-process coordinator on loopback.
#include <string>

#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include "in_process_coordinator.h"
#include "segtune/v1/segtune.grpc.pb.h"

namespace segtune::api {
namespace {

// Two trials, each allowed one retry.
const std::string kSpec = segtune::testing::TinyGridSpec("attempts", "{epochs: 1, max_retries: 1}", "[0.1, 0.2]");

TEST(AttemptsRpcTest, ListTrialsShowsEveryAttemptWithItsReason) {
  segtune::testing::InProcessCoordinator server("segtune-attempts-rpc");
  ASSERT_TRUE(server.Start());
  std::string sweep_id, worker_id;
  ASSERT_TRUE(server.SubmitSweep(kSpec, &sweep_id).ok());
  ASSERT_TRUE(server.RegisterWorker("w", 1, &worker_id).ok());

  // Attempt 1 fails; the trial goes back to the queue and attempt 2 runs.
  for (int attempt = 1; attempt <= 2; ++attempt) {
    v1::AcquireTrialResponse acquired;
    ASSERT_TRUE(server.AcquireTrial(worker_id, &acquired).ok());
    ASSERT_EQ(acquired.assignment().attempt(), attempt);
    if (attempt == 2) break;
    v1::FinishTrialRequest finish;
    finish.set_worker_id(worker_id);
    finish.set_trial_id(acquired.assignment().trial_id());
    finish.set_attempt(attempt);
    finish.set_state(v1::FAILED);
    finish.set_reason("CUDA out of memory");
    v1::FinishTrialResponse finished;
    grpc::ClientContext finish_context;
    ASSERT_TRUE(server.hub().FinishTrial(&finish_context, finish, &finished).ok());
  }

  v1::ListTrialsRequest list;
  list.set_sweep_id(sweep_id);
  v1::ListTrialsResponse trials;
  grpc::ClientContext list_context;
  ASSERT_TRUE(server.tuner().ListTrials(&list_context, list, &trials).ok());
  ASSERT_EQ(trials.trials_size(), 2);
  const v1::Trial& retried = trials.trials(0);
  EXPECT_EQ(retried.state(), v1::RUNNING);
  ASSERT_EQ(retried.attempts_size(), 2);
  EXPECT_EQ(retried.attempts(0).attempt(), 1);
  EXPECT_EQ(retried.attempts(0).worker_id(), worker_id);
  EXPECT_EQ(retried.attempts(0).state(), v1::FAILED);
  EXPECT_EQ(retried.attempts(0).reason(), "CUDA out of memory");
  EXPECT_GT(retried.attempts(0).ended_unix_ms(), 0);
  EXPECT_EQ(retried.attempts(1).state(), v1::RUNNING);
  EXPECT_EQ(retried.attempts(1).ended_unix_ms(), 0);
  EXPECT_EQ(trials.trials(1).attempts_size(), 0);  // never leased
}

}  // namespace
}  // namespace segtune::api
