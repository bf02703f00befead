// Every limit of docs/architecture.md "Limits" against an in-process
// coordinator on loopback: each answers with a clear error naming it.
#include <chrono>
#include <memory>
#include <string>
#include <thread>

#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include "in_process_coordinator.h"
#include "request_checks.h"
#include "segtune/v1/segtune.grpc.pb.h"

namespace segtune::api {
namespace {

using segtune::testing::IsError;

// Four trials (grid of 4 learning rates) of one epoch.
const std::string kSpec = segtune::testing::TinyGridSpec("limits", "{epochs: 1}", "[0.1, 0.2, 0.3, 0.4]");

class LimitsTest : public ::testing::Test {
 protected:
  void Start(const Limits& limits) {
    CoordinatorOptions options;
    options.limits = limits;
    grpc::ChannelArguments args;
    args.SetMaxSendMessageSize(-1);  // the server's limit is under test, not the client's
    ASSERT_TRUE(server_.Start(options, args));
  }

  static v1::RegisterWorkerRequest Worker() {
    v1::RegisterWorkerRequest request;
    request.set_name("w");
    request.set_hostname("host");
    request.set_device("cpu");
    request.set_slots(1);
    return request;
  }

  // A registered worker holding the first trial of a submitted sweep.
  void LeaseATrial() {
    ASSERT_TRUE(server_.SubmitSweep(kSpec, &sweep_id_).ok());
    ASSERT_TRUE(server_.RegisterWorker(Worker(), &worker_id_).ok());
    v1::AcquireTrialResponse response;
    ASSERT_TRUE(server_.AcquireTrial(worker_id_, &response).ok());
    ASSERT_TRUE(response.has_trial());
    trial_id_ = response.assignment().trial_id();
    attempt_ = response.assignment().attempt();
  }

  grpc::Status Finish(const std::string& reason) {
    grpc::ClientContext context;
    v1::FinishTrialRequest request;
    request.set_worker_id(worker_id_);
    request.set_trial_id(trial_id_);
    request.set_attempt(attempt_);
    request.set_state(v1::FAILED);
    request.set_reason(reason);
    v1::FinishTrialResponse response;
    return server_.hub().FinishTrial(&context, request, &response);
  }

  grpc::Status Report(const google::protobuf::Map<std::string, double>& metrics) {
    grpc::ClientContext context;
    v1::ReportEpochRequest request;
    request.set_worker_id(worker_id_);
    request.set_trial_id(trial_id_);
    request.set_attempt(attempt_);
    request.set_epoch(1);
    *request.mutable_metrics() = metrics;
    v1::ReportEpochResponse response;
    return server_.hub().ReportEpoch(&context, request, &response);
  }

  segtune::testing::InProcessCoordinator server_{"segtune-limits"};
  std::string sweep_id_, worker_id_, trial_id_;
  int attempt_ = 0;
};

TEST(ValidateLimitsTest, NamesTheLimitOutOfRange) {
  EXPECT_TRUE(ValidateLimits(Limits{}).ok());
  Limits zero;
  zero.max_watch_streams = 0;
  EXPECT_EQ(ValidateLimits(zero).message(), "limits.max_watch_streams: must be >= 1, got 0");
  Limits spec_over_message;
  spec_over_message.max_spec_bytes = spec_over_message.max_message_bytes + 1;
  EXPECT_EQ(ValidateLimits(spec_over_message).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(ValidateLimits(spec_over_message).message().find("limits.max_spec_bytes"), absl::string_view::npos);
  Limits tiny_messages;
  tiny_messages.max_message_bytes = 1 << 20;
  tiny_messages.max_spec_bytes = 1000;
  EXPECT_NE(ValidateLimits(tiny_messages).message().find("twice a checkpoint chunk"), absl::string_view::npos);
}

TEST_F(LimitsTest, MessageOverTheLimitIsResourceExhausted) {
  Limits limits;
  limits.max_message_bytes = 2 << 20;
  Start(limits);
  EXPECT_TRUE(
      IsError(server_.SubmitSweep(std::string(3 << 20, '#')), grpc::StatusCode::RESOURCE_EXHAUSTED, "larger than max"));
}

TEST_F(LimitsTest, SpecOverTheLimitIsInvalidNamingBothSizes) {
  Limits limits;
  limits.max_spec_bytes = 1000;
  Start(limits);
  EXPECT_TRUE(IsError(server_.SubmitSweep(kSpec + "#" + std::string(1000, '-')),
                      grpc::StatusCode::INVALID_ARGUMENT, "spec_yaml: 1" /* 1xxx bytes */));
  EXPECT_TRUE(IsError(server_.SubmitSweep(kSpec + "#" + std::string(1000, '-')),
                      grpc::StatusCode::INVALID_ARGUMENT, "larger than the limit of 1000 bytes (--max-spec-bytes)"));
  EXPECT_TRUE(server_.SubmitSweep(kSpec).ok());
}

TEST_F(LimitsTest, SweepWithMoreTrialsThanTheLimitIsInvalid) {
  Limits limits;
  limits.max_trials_per_sweep = 3;
  Start(limits);
  EXPECT_TRUE(IsError(server_.SubmitSweep(kSpec), grpc::StatusCode::INVALID_ARGUMENT,
                      "search.space: the sweep would create 4 trials, more than this coordinator's limit of 3"));
}

TEST_F(LimitsTest, WorkerFieldsAreBounded) {
  Start(Limits{});
  v1::RegisterWorkerRequest request = Worker();
  request.set_slots(0);
  EXPECT_TRUE(IsError(server_.RegisterWorker(request), grpc::StatusCode::INVALID_ARGUMENT,
                      "slots: must be in [1, 1024], got 0"));
  request.set_slots(kMaxSlots + 1);
  EXPECT_TRUE(IsError(server_.RegisterWorker(request), grpc::StatusCode::INVALID_ARGUMENT, "slots"));
  request = Worker();
  request.set_name(std::string(kMaxWorkerNameLength + 1, 'n'));
  EXPECT_TRUE(
      IsError(server_.RegisterWorker(request), grpc::StatusCode::INVALID_ARGUMENT, "name: longer than 256 characters"));
  request = Worker();
  request.set_hostname(std::string(kMaxWorkerNameLength + 1, 'h'));
  EXPECT_TRUE(
      IsError(server_.RegisterWorker(request), grpc::StatusCode::INVALID_ARGUMENT, "hostname: longer than 256"));
  request = Worker();
  request.set_device(std::string(kMaxDeviceListLength + 1, 'd'));
  EXPECT_TRUE(IsError(server_.RegisterWorker(request), grpc::StatusCode::INVALID_ARGUMENT, "device: longer than 1024"));
  request = Worker();
  request.set_name(std::string(kMaxWorkerNameLength, 'n'));
  request.set_slots(kMaxSlots);
  std::string worker_id;
  ASSERT_TRUE(server_.RegisterWorker(request, &worker_id).ok());

  grpc::ClientContext context;
  v1::HeartbeatRequest heartbeat;
  heartbeat.set_worker_id(worker_id);
  for (int i = 0; i <= kMaxSlots; ++i) heartbeat.add_running()->set_trial_id("t");
  v1::HeartbeatResponse response;
  EXPECT_TRUE(IsError(server_.hub().Heartbeat(&context, heartbeat, &response), grpc::StatusCode::INVALID_ARGUMENT,
                      "running: more than 1024 trials"));
}

TEST_F(LimitsTest, IdsAreBounded) {
  Start(Limits{});
  grpc::ClientContext context;
  v1::GetSweepRequest request;
  request.set_sweep_id(std::string(kMaxIdLength + 1, 's'));
  v1::Sweep response;
  EXPECT_TRUE(IsError(server_.tuner().GetSweep(&context, request, &response), grpc::StatusCode::INVALID_ARGUMENT,
                      "sweep_id: longer than 256 characters"));
}

TEST_F(LimitsTest, MetricNamesAndCountsAreBounded) {
  Start(Limits{});
  LeaseATrial();
  google::protobuf::Map<std::string, double> metrics;
  metrics["val_miou"] = 0.5;
  metrics[std::string(kMaxMetricNameLength + 1, 'm')] = 1;
  EXPECT_TRUE(IsError(Report(metrics), grpc::StatusCode::INVALID_ARGUMENT, "name longer than 64 characters"));
  metrics.clear();
  for (int i = 0; i <= kMaxMetricsPerReport; ++i) metrics["m" + std::to_string(i)] = i;
  EXPECT_TRUE(IsError(Report(metrics), grpc::StatusCode::INVALID_ARGUMENT, "metrics: more than 512 entries"));
  // What a trainer with 255 classes reports still fits.
  metrics.clear();
  metrics["val_miou"] = 0.5;
  for (int c = 0; c < 255; ++c) metrics["val_iou_" + std::to_string(c)] = 0.5;
  EXPECT_TRUE(Report(metrics).ok());
}

TEST_F(LimitsTest, ReasonsAreBounded) {
  Start(Limits{});
  LeaseATrial();
  EXPECT_TRUE(IsError(Finish(std::string(kMaxReasonLength + 1, 'r')), grpc::StatusCode::INVALID_ARGUMENT,
                      "reason: longer than 4096 characters (4097)"));
  EXPECT_TRUE(Finish(std::string(kMaxReasonLength, 'r')).ok());
}

TEST_F(LimitsTest, WatchStreamsOverTheCapAreResourceExhausted) {
  Limits limits;
  limits.max_watch_streams = 1;
  Start(limits);
  ASSERT_TRUE(server_.SubmitSweep(kSpec, &sweep_id_).ok());
  v1::WatchSweepRequest request;
  request.set_sweep_id(sweep_id_);
  v1::SweepUpdate update;

  auto first_context = std::make_unique<grpc::ClientContext>();
  auto first = server_.tuner().WatchSweep(first_context.get(), request);
  ASSERT_TRUE(first->Read(&update));  // open, and holding the one slot

  grpc::ClientContext second_context;
  auto second = server_.tuner().WatchSweep(&second_context, request);
  EXPECT_FALSE(second->Read(&update));
  EXPECT_TRUE(IsError(second->Finish(), grpc::StatusCode::RESOURCE_EXHAUSTED,
                      "too many WatchSweep streams (--max-watch-streams) open at once: the limit is 1"));

  // The slot comes back when the first stream ends.
  first_context->TryCancel();
  first->Finish();
  bool reopened = false;
  for (int i = 0; i < 50 && !reopened; ++i) {
    grpc::ClientContext context;
    auto again = server_.tuner().WatchSweep(&context, request);
    reopened = again->Read(&update);
    context.TryCancel();
    again->Finish();
    if (!reopened) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  EXPECT_TRUE(reopened);
}

TEST_F(LimitsTest, CheckpointStreamsOverTheCapAreResourceExhausted) {
  Limits limits;
  limits.max_checkpoint_streams = 1;
  Start(limits);
  LeaseATrial();
  v1::DownloadCheckpointRequest request;
  request.set_worker_id(worker_id_);
  request.set_trial_id(trial_id_);
  request.set_attempt(attempt_);
  request.set_epoch(1);
  // A valid header announcing bytes that never come: the upload stays open
  // (waiting for its data) and holds the one slot. (A header the server
  // refused at once would free the slot again before the download came.)
  v1::CheckpointChunk chunk;
  v1::CheckpointHeader* header = chunk.mutable_header();
  header->set_worker_id(worker_id_);
  header->set_trial_id(trial_id_);
  header->set_attempt(attempt_);
  header->set_epoch(1);
  header->set_weights_bytes(1000);
  header->set_training_state_bytes(1000);
  grpc::Status status;
  // The upload reaches the server asynchronously, and one that arrives while
  // a download holds the slot is refused itself; so each round opens a fresh
  // upload, gives it time to arrive, and then asks for a download.
  for (int round = 0; round < 50; ++round) {
    grpc::ClientContext upload_context;
    v1::UploadCheckpointResponse uploaded;
    auto upload = server_.hub().UploadCheckpoint(&upload_context, &uploaded);
    ASSERT_TRUE(upload->Write(chunk));
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    grpc::ClientContext context;
    auto download = server_.hub().DownloadCheckpoint(&context, request);
    v1::CheckpointChunk received;
    while (download->Read(&received)) {
    }
    status = download->Finish();
    upload_context.TryCancel();
    upload->Finish();
    if (status.error_code() == grpc::StatusCode::RESOURCE_EXHAUSTED) break;
  }
  EXPECT_TRUE(IsError(status, grpc::StatusCode::RESOURCE_EXHAUSTED,
                      "checkpoint uploads and downloads (--max-checkpoint-streams) open at once: the limit is 1"));
}

}  // namespace
}  // namespace segtune::api
