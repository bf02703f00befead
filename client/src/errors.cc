#include "segtune/client/errors.h"

#include "absl/strings/str_cat.h"

namespace segtune::client {

absl::Status FromGrpcStatus(const grpc::Status& status, const std::string& address,
                            bool server_reached) {
  if (status.ok()) return absl::OkStatus();
  const std::string& message = status.error_message();
  switch (status.error_code()) {
    case grpc::StatusCode::UNAVAILABLE:
      return absl::UnavailableError(
          absl::StrCat("cannot reach segtune coordinator at ", address, ": ", message));
    case grpc::StatusCode::DEADLINE_EXCEEDED:
      if (!server_reached) {
        return absl::UnavailableError(absl::StrCat(
            "cannot reach segtune coordinator at ", address, ": no connection before the deadline"));
      }
      return absl::DeadlineExceededError(
          absl::StrCat("the coordinator at ", address, " did not answer in time: ", message));
    case grpc::StatusCode::CANCELLED:
      // kCancelled (exit 130) is kept for interrupts of this process; a call
      // ended by the other side, or by gRPC on its behalf, is a failure.
      return absl::AbortedError(
          absl::StrCat("the coordinator at ", address, " cancelled the request: ", message));
    default:
      // grpc::StatusCode and absl::StatusCode share their numbering (both are
      // the canonical google.rpc.Code values).
      return absl::Status(static_cast<absl::StatusCode>(status.error_code()), message);
  }
}

int ExitCodeFor(const absl::Status& status) {
  switch (status.code()) {
    case absl::StatusCode::kOk:
      return kExitOk;
    case absl::StatusCode::kInvalidArgument:
      return kExitUsage;
    case absl::StatusCode::kUnavailable:
      return kExitUnreachable;
    case absl::StatusCode::kCancelled:
      return kExitInterrupted;
    default:
      return kExitFailed;
  }
}

std::string ErrorText(const absl::Status& status) {
  if (status.ok()) return "";
  if (status.message().empty()) {
    return absl::StrCat("error: ", absl::StatusCodeToString(status.code()), "\n");
  }
  return absl::StrCat("error: ", status.message(), "\n");
}

}  // namespace segtune::client
