#include "status_mapping.h"

#include <gtest/gtest.h>

namespace segtune::api {
namespace {

TEST(StatusMappingTest, EveryCodeKeepsItsMeaningAndMessage) {
  const std::pair<absl::Status, grpc::StatusCode> cases[] = {
      {absl::OkStatus(), grpc::StatusCode::OK},
      {absl::InvalidArgumentError("budget.epochs: bad"), grpc::StatusCode::INVALID_ARGUMENT},
      {absl::NotFoundError("sweep x"), grpc::StatusCode::NOT_FOUND},
      {absl::AlreadyExistsError("x"), grpc::StatusCode::ALREADY_EXISTS},
      {absl::FailedPreconditionError("lease lost"), grpc::StatusCode::FAILED_PRECONDITION},
      {absl::AbortedError("database busy"), grpc::StatusCode::ABORTED},
      {absl::UnavailableError("down"), grpc::StatusCode::UNAVAILABLE},
      {absl::ResourceExhaustedError("full"), grpc::StatusCode::RESOURCE_EXHAUSTED},
      {absl::DataLossError("corrupt"), grpc::StatusCode::DATA_LOSS},
      {absl::DeadlineExceededError("slow"), grpc::StatusCode::DEADLINE_EXCEEDED},
      {absl::UnauthenticatedError("who"), grpc::StatusCode::UNAUTHENTICATED},
      {absl::PermissionDeniedError("no"), grpc::StatusCode::PERMISSION_DENIED},
      {absl::InternalError("bug"), grpc::StatusCode::INTERNAL},
      {absl::UnknownError("?"), grpc::StatusCode::INTERNAL},
  };
  for (const auto& [status, code] : cases) {
    const grpc::Status mapped = ToGrpcStatus(status);
    EXPECT_EQ(mapped.error_code(), code) << status;
    EXPECT_EQ(mapped.error_message(), std::string(status.message())) << status;
  }
}

}  // namespace
}  // namespace segtune::api
