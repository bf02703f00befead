// The CLI's side of the Tuner service: one method per RPC, each with a
// deadline, each returning absl::Status converted by FromGrpcStatus.
//
// Thread-safety: every method may be called from any thread; CancelWatch is
// meant to be called from another thread while WatchSweep blocks.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <string>

#include <grpcpp/grpcpp.h>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "segtune/common/channel.h"
#include "segtune/v1/segtune.grpc.pb.h"

namespace segtune::client {

class TunerClient {
 public:
  // `timeout` is the deadline of every unary call. The channel connects
  // lazily, on the first call, presenting `security` (token, TLS).
  TunerClient(std::string address, std::chrono::milliseconds timeout,
              const common::ClientSecurity& security = common::ClientSecurity());

  const std::string& address() const { return address_; }

  absl::StatusOr<v1::SubmitSweepResponse> SubmitSweep(const std::string& spec_yaml);
  absl::StatusOr<v1::Sweep> GetSweep(const std::string& sweep_id);
  absl::StatusOr<v1::ListSweepsResponse> ListSweeps();
  absl::StatusOr<v1::Sweep> CancelSweep(const std::string& sweep_id);
  absl::StatusOr<v1::ListTrialsResponse> ListTrials(const std::string& sweep_id);
  absl::StatusOr<v1::GetTrialMetricsResponse> GetTrialMetrics(const std::string& trial_id);
  absl::StatusOr<v1::GetBestResponse> GetBest(const std::string& sweep_id, int top_k);
  absl::StatusOr<v1::ListWorkersResponse> ListWorkers();

  // Streams a trial's weights: returns the metadata the stream starts with
  // after `on_data` has seen every data message, in order. An error from
  // `on_data` cancels the call and is returned. The call's deadline is the
  // timeout plus `transfer_allowance`, since the weights may be large.
  absl::StatusOr<v1::ExportWeightsMetadata> ExportWeights(
      const v1::ExportWeightsRequest& request, const std::function<absl::Status(const std::string&)>& on_data,
      std::chrono::milliseconds transfer_allowance = std::chrono::minutes(5));

  // Follows WatchSweep until the update that shows the sweep finished, which
  // it returns; `on_update` sees every update first. A sweep can run for
  // hours, so each stream has a deadline of `stream_window` and is reopened
  // when it expires (the server starts every stream with the full state).
  // Returns kCancelled after CancelWatch.
  absl::StatusOr<v1::SweepUpdate> WatchSweep(
      const std::string& sweep_id, const std::function<void(const v1::SweepUpdate&)>& on_update,
      std::chrono::milliseconds stream_window = std::chrono::minutes(5));

  // Ends a WatchSweep in progress (and any later one) with kCancelled.
  void CancelWatch();

 private:
  // Runs one unary RPC with a deadline and converts its status.
  template <typename Request, typename Response, typename Method>
  absl::StatusOr<Response> Call(Method method, const Request& request);

  absl::Status Convert(const grpc::Status& status);

  const std::string address_;
  const std::chrono::milliseconds timeout_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<v1::Tuner::Stub> stub_;

  std::mutex watch_mutex_;
  bool watch_cancelled_ = false;                        // GUARDED_BY(watch_mutex_)
  grpc::ClientContext* watch_context_ = nullptr;        // GUARDED_BY(watch_mutex_)
};

}  // namespace segtune::client
