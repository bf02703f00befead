#include "segtune/client/errors.h"

#include <gtest/gtest.h>

namespace segtune::client {
namespace {

int ExitCodeOfRpc(grpc::StatusCode code, bool server_reached = true) {
  return ExitCodeFor(FromGrpcStatus(grpc::Status(code, "message"), "host:1", server_reached));
}

TEST(ExitCodeTest, MapsEveryOutcomeToTheContractCodes) {
  EXPECT_EQ(ExitCodeOfRpc(grpc::StatusCode::OK), 0);
  EXPECT_EQ(ExitCodeOfRpc(grpc::StatusCode::INVALID_ARGUMENT), 2);
  EXPECT_EQ(ExitCodeOfRpc(grpc::StatusCode::UNAVAILABLE), 3);
  EXPECT_EQ(ExitCodeOfRpc(grpc::StatusCode::NOT_FOUND), 1);
  EXPECT_EQ(ExitCodeOfRpc(grpc::StatusCode::FAILED_PRECONDITION), 1);
  EXPECT_EQ(ExitCodeOfRpc(grpc::StatusCode::INTERNAL), 1);
  EXPECT_EQ(ExitCodeOfRpc(grpc::StatusCode::UNKNOWN), 1);
  EXPECT_EQ(ExitCodeOfRpc(grpc::StatusCode::CANCELLED), 1);
  EXPECT_EQ(ExitCodeFor(absl::CancelledError("interrupted")), 130);
}

TEST(ExitCodeTest, DeadlineWhileConnectingMeansUnreachable) {
  EXPECT_EQ(ExitCodeOfRpc(grpc::StatusCode::DEADLINE_EXCEEDED, /*server_reached=*/false), 3);
  EXPECT_EQ(ExitCodeOfRpc(grpc::StatusCode::DEADLINE_EXCEEDED, /*server_reached=*/true), 1);
}

TEST(FromGrpcStatusTest, UnreachableMessageNamesTheAddress) {
  absl::Status status = FromGrpcStatus(grpc::Status(grpc::StatusCode::UNAVAILABLE, "connection refused"),
                                       "10.0.0.1:50051", false);
  EXPECT_EQ(status.message(), "cannot reach segtune coordinator at 10.0.0.1:50051: connection refused");
  status = FromGrpcStatus(grpc::Status(grpc::StatusCode::DEADLINE_EXCEEDED, "Deadline Exceeded"),
                          "10.0.0.1:50051", false);
  EXPECT_EQ(status.message().rfind("cannot reach segtune coordinator at 10.0.0.1:50051: ", 0), 0u);
}

TEST(FromGrpcStatusTest, ACancelledCallIsAFailureNotAnInterrupt) {
  // Exit 130 is for an interrupt of the CLI itself; a server that cancels a
  // call (say, while shutting down) must not look like one.
  absl::Status status =
      FromGrpcStatus(grpc::Status(grpc::StatusCode::CANCELLED, "server shutting down"), "host:1", true);
  EXPECT_NE(status.code(), absl::StatusCode::kCancelled);
  EXPECT_EQ(ExitCodeFor(status), kExitFailed);
  EXPECT_EQ(status.message(), "the coordinator at host:1 cancelled the request: server shutting down");
}

TEST(FromGrpcStatusTest, KeepsTheServerMessageOfOtherErrors) {
  absl::Status status =
      FromGrpcStatus(grpc::Status(grpc::StatusCode::NOT_FOUND, "no sweep s9"), "host:1", true);
  EXPECT_EQ(status.code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(status.message(), "no sweep s9");
}

TEST(ErrorTextTest, KeepsMultiLineMessagesWhole) {
  EXPECT_EQ(ErrorText(absl::InvalidArgumentError("spec bad:\n  a: x\n  b: y")),
            "error: spec bad:\n  a: x\n  b: y\n");
  EXPECT_EQ(ErrorText(absl::OkStatus()), "");
  EXPECT_EQ(ErrorText(absl::Status(absl::StatusCode::kInternal, "")), "error: INTERNAL\n");
}

}  // namespace
}  // namespace segtune::client
