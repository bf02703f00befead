#include "segtune/client/tuner_client.h"

#include <optional>
#include <utility>

#include "segtune/client/errors.h"

namespace segtune::client {

TunerClient::TunerClient(std::string address, std::chrono::milliseconds timeout,
                         const common::ClientSecurity& security)
    : address_(std::move(address)),
      timeout_(timeout),
      channel_(common::MakeChannel(address_, security)),
      stub_(v1::Tuner::NewStub(channel_)) {}

absl::Status TunerClient::Convert(const grpc::Status& status) {
  // Said here rather than in FromGrpcStatus: only this client sends tokens.
  if (status.error_code() == grpc::StatusCode::UNAUTHENTICATED ||
      status.error_code() == grpc::StatusCode::PERMISSION_DENIED) {
    return absl::Status(static_cast<absl::StatusCode>(status.error_code()),
                        "the coordinator at " + address_ + " refused this token: " + status.error_message() +
                            " (see --token-file in docs/security.md)");
  }
  // A channel that is READY (or was, and went IDLE) reached the server.
  grpc_connectivity_state state = channel_->GetState(/*try_to_connect=*/false);
  bool reached = state == GRPC_CHANNEL_READY || state == GRPC_CHANNEL_IDLE;
  return FromGrpcStatus(status, address_, reached);
}

template <typename Request, typename Response, typename Method>
absl::StatusOr<Response> TunerClient::Call(Method method, const Request& request) {
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + timeout_);
  Response response;
  grpc::Status status = (stub_.get()->*method)(&context, request, &response);
  if (!status.ok()) return Convert(status);
  return response;
}

absl::StatusOr<v1::SubmitSweepResponse> TunerClient::SubmitSweep(const std::string& spec_yaml) {
  v1::SubmitSweepRequest request;
  request.set_spec_yaml(spec_yaml);
  return Call<v1::SubmitSweepRequest, v1::SubmitSweepResponse>(&v1::Tuner::Stub::SubmitSweep, request);
}

absl::StatusOr<v1::Sweep> TunerClient::GetSweep(const std::string& sweep_id) {
  v1::GetSweepRequest request;
  request.set_sweep_id(sweep_id);
  return Call<v1::GetSweepRequest, v1::Sweep>(&v1::Tuner::Stub::GetSweep, request);
}

absl::StatusOr<v1::ListSweepsResponse> TunerClient::ListSweeps() {
  return Call<v1::ListSweepsRequest, v1::ListSweepsResponse>(&v1::Tuner::Stub::ListSweeps,
                                                              v1::ListSweepsRequest());
}

absl::StatusOr<v1::Sweep> TunerClient::CancelSweep(const std::string& sweep_id) {
  v1::CancelSweepRequest request;
  request.set_sweep_id(sweep_id);
  return Call<v1::CancelSweepRequest, v1::Sweep>(&v1::Tuner::Stub::CancelSweep, request);
}

absl::StatusOr<v1::ListTrialsResponse> TunerClient::ListTrials(const std::string& sweep_id) {
  v1::ListTrialsRequest request;
  request.set_sweep_id(sweep_id);
  return Call<v1::ListTrialsRequest, v1::ListTrialsResponse>(&v1::Tuner::Stub::ListTrials, request);
}

absl::StatusOr<v1::GetTrialMetricsResponse> TunerClient::GetTrialMetrics(const std::string& trial_id) {
  v1::GetTrialMetricsRequest request;
  request.set_trial_id(trial_id);
  return Call<v1::GetTrialMetricsRequest, v1::GetTrialMetricsResponse>(
      &v1::Tuner::Stub::GetTrialMetrics, request);
}

absl::StatusOr<v1::GetBestResponse> TunerClient::GetBest(const std::string& sweep_id, int top_k) {
  v1::GetBestRequest request;
  request.set_sweep_id(sweep_id);
  request.set_top_k(top_k);
  return Call<v1::GetBestRequest, v1::GetBestResponse>(&v1::Tuner::Stub::GetBest, request);
}

absl::StatusOr<v1::ListWorkersResponse> TunerClient::ListWorkers() {
  return Call<v1::ListWorkersRequest, v1::ListWorkersResponse>(&v1::Tuner::Stub::ListWorkers,
                                                                v1::ListWorkersRequest());
}

absl::StatusOr<v1::ExportWeightsMetadata> TunerClient::ExportWeights(
    const v1::ExportWeightsRequest& request, const std::function<absl::Status(const std::string&)>& on_data,
    std::chrono::milliseconds transfer_allowance) {
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + timeout_ + transfer_allowance);
  std::unique_ptr<grpc::ClientReader<v1::ExportWeightsResponse>> reader = stub_->ExportWeights(&context, request);
  v1::ExportWeightsResponse message;
  std::optional<v1::ExportWeightsMetadata> metadata;
  absl::Status failure;
  while (failure.ok() && reader->Read(&message)) {
    if (!metadata) {
      if (!message.has_metadata()) {
        failure = absl::DataLossError("the coordinator's export did not start with the weights' metadata");
      } else {
        metadata = message.metadata();
      }
    } else {
      failure = on_data(message.data());
    }
  }
  if (!failure.ok()) context.TryCancel();
  const grpc::Status status = reader->Finish();
  if (!failure.ok()) return failure;
  if (!status.ok()) return Convert(status);
  if (!metadata) return absl::DataLossError("the coordinator's export ended before the weights' metadata");
  return *std::move(metadata);
}

absl::StatusOr<v1::SweepUpdate> TunerClient::WatchSweep(
    const std::string& sweep_id, const std::function<void(const v1::SweepUpdate&)>& on_update,
    std::chrono::milliseconds stream_window) {
  v1::WatchSweepRequest request;
  request.set_sweep_id(sweep_id);
  while (true) {
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + stream_window);
    {
      std::lock_guard<std::mutex> lock(watch_mutex_);
      if (watch_cancelled_) return absl::CancelledError("interrupted");
      watch_context_ = &context;
    }
    std::unique_ptr<grpc::ClientReader<v1::SweepUpdate>> reader = stub_->WatchSweep(&context, request);
    v1::SweepUpdate update;
    bool received = false;
    bool finished = false;
    while (reader->Read(&update)) {
      received = true;
      on_update(update);
      if (update.sweep().state() != v1::SWEEP_RUNNING) {
        finished = true;
        break;
      }
    }
    if (finished) context.TryCancel();  // the server ends the stream anyway; do not wait for it
    grpc::Status status = reader->Finish();
    bool cancelled;
    {
      std::lock_guard<std::mutex> lock(watch_mutex_);
      watch_context_ = nullptr;
      cancelled = watch_cancelled_;
    }
    if (finished) return update;
    if (cancelled) return absl::CancelledError("interrupted");
    // The stream window ran out on a healthy stream: open the next one.
    if (status.error_code() == grpc::StatusCode::DEADLINE_EXCEEDED && received) continue;
    if (!status.ok()) return Convert(status);
    return absl::UnavailableError("the coordinator at " + address_ +
                                  " ended the watch before sweep " + sweep_id + " finished");
  }
}

void TunerClient::CancelWatch() {
  std::lock_guard<std::mutex> lock(watch_mutex_);
  watch_cancelled_ = true;
  if (watch_context_ != nullptr) watch_context_->TryCancel();
}

}  // namespace segtune::client
