// What /metrics must not show: it is often scraped without authentication,
// so with a sweep running the page holds ids and catalog names only, never a
// token or the spec's contents (its name, dataset root, lambda expressions).
#include <string>

#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include "http_get.h"
#include "in_process_coordinator.h"
#include "segtune/api/security.h"
#include "segtune/common/channel.h"
#include "segtune/v1/segtune.grpc.pb.h"

namespace segtune::api {
namespace {

constexpr char kAdminToken[] = "admin-token-4b1d0c9e";
constexpr char kWorkerToken[] = "worker-token-77f3a2c5";
constexpr char kSweepName[] = "confidential-sweep-name";
constexpr char kDatasetRoot[] = "/srv/confidential-dataset-root";
constexpr char kLambda[] = "1 / (1 + 0.987654 * epoch)";

std::string Spec() {
  return std::string("name: ") + kSweepName + R"(
objective: {metric: val_miou, mode: max}
budget: {epochs: 2}
data: {dataset: folder, root: )" + kDatasetRoot + R"(, image_size: 16, num_classes: 2}
model: {arch: unet, base_channels: 4, depth: 2}
search:
  algorithm: grid
  space:
    optimizer:
      - {name: momentum, lr: 0.05}
    scheduler:
      - {name: LambdaLR, lr_lambda: ")" + kLambda + R"("}
)";
}

TEST(MetricsExposureTest, ThePageHoldsNoTokenAndNoSpecContents) {
  segtune::testing::InProcessCoordinator server("segtune-exposure");
  CoordinatorOptions options;
  options.metrics_listen = "127.0.0.1:0";
  options.tokens = {{Role::kAdmin, kAdminToken}, {Role::kWorker, kWorkerToken}};
  ASSERT_TRUE(server.Start(options));
  common::ClientSecurity admin;
  admin.token = kAdminToken;
  common::ClientSecurity worker;
  worker.token = kWorkerToken;
  auto tuner = v1::Tuner::NewStub(common::MakeChannel(server.coordinator().address(), admin));
  auto hub = v1::WorkerHub::NewStub(common::MakeChannel(server.coordinator().address(), worker));

  v1::SubmitSweepRequest submit;
  submit.set_spec_yaml(Spec());
  v1::SubmitSweepResponse submitted;
  grpc::ClientContext submit_context;
  const grpc::Status submit_status = tuner->SubmitSweep(&submit_context, submit, &submitted);
  ASSERT_TRUE(submit_status.ok()) << submit_status.error_message();
  v1::RegisterWorkerRequest register_request;
  register_request.set_name("w");
  register_request.set_slots(1);
  v1::RegisterWorkerResponse registered;
  grpc::ClientContext register_context;
  ASSERT_TRUE(hub->RegisterWorker(&register_context, register_request, &registered).ok());
  v1::AcquireTrialRequest acquire;
  acquire.set_worker_id(registered.worker_id());
  v1::AcquireTrialResponse acquired;
  grpc::ClientContext acquire_context;
  ASSERT_TRUE(hub->AcquireTrial(&acquire_context, acquire, &acquired).ok());
  ASSERT_TRUE(acquired.has_trial());
  v1::ReportEpochRequest report;
  report.set_worker_id(registered.worker_id());
  report.set_trial_id(acquired.assignment().trial_id());
  report.set_attempt(acquired.assignment().attempt());
  report.set_epoch(1);
  (*report.mutable_metrics())["val_miou"] = 0.5;
  (*report.mutable_metrics())["lr"] = 0.05;
  v1::ReportEpochResponse reported;
  grpc::ClientContext report_context;
  ASSERT_TRUE(hub->ReportEpoch(&report_context, report, &reported).ok());

  const std::string page = segtune::testing::HttpGet(server.coordinator().metrics_port(), "/metrics");
  // The running trial is there, labelled with ids and catalog names...
  EXPECT_NE(page.find("segtune_trial_lr{optimizer=\"SGD\",scheduler=\"LambdaLR\",sweep=\"" + submitted.sweep_id() +
                      "\",trial=\"" + acquired.assignment().trial_id() + "\"} 0.05\n"),
            std::string::npos)
      << page;
  // ...and nothing secret is.
  for (const char* secret : {kAdminToken, kWorkerToken, kSweepName, kDatasetRoot, "confidential", "0.987654",
                             "lr_lambda", "Bearer"}) {
    EXPECT_EQ(page.find(secret), std::string::npos) << secret << " on the page:\n" << page;
  }
}

}  // namespace
}  // namespace segtune::api
