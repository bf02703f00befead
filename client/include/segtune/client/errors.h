// How the CLI turns failures into messages and exit codes.
//
// Every failure in the client is an absl::Status. gRPC statuses become
// absl::Status in FromGrpcStatus (the only place that looks at gRPC codes),
// and ExitCodeFor is the only place that picks an exit code, so the mapping
// below is the whole contract (design.md section 3):
//   0    success
//   1    the operation failed (server error, NOT_FOUND, timeout, ...)
//   2    usage error or invalid spec (INVALID_ARGUMENT)
//   3    cannot reach the server (UNAVAILABLE)
//   130  interrupted by SIGINT/SIGTERM (CANCELLED)
// CANCELLED means an interrupt of this process only: the client creates it
// when it handles SIGINT/SIGTERM or a local CancelWatch. FromGrpcStatus never
// returns it; a call that the server (or gRPC) cancelled fails with exit 1.
//
// Thread-safety: free functions without shared state; safe from any thread.
#pragma once

#include <string>
#include <string_view>

#include <grpcpp/support/status.h>

#include "absl/status/status.h"

namespace segtune::client {

enum ExitCode : int {
  kExitOk = 0,
  kExitFailed = 1,
  kExitUsage = 2,
  kExitUnreachable = 3,
  kExitInterrupted = 130,
};

// Converts the status of an RPC to `address`. `server_reached` says whether
// the channel had connected: a deadline that expires while still connecting
// means the server cannot be reached (exit 3), one that expires on a
// connected channel means the server was too slow (exit 1). Unreachable
// servers are reported as "cannot reach segtune coordinator at ADDR: ...".
// CANCELLED becomes kAborted (exit 1) with the server's message.
absl::Status FromGrpcStatus(const grpc::Status& status, const std::string& address,
                            bool server_reached);

// The process exit code for the outcome of a command.
int ExitCodeFor(const absl::Status& status);

// The text printed on stderr for a failed command ("error: ..." ; multi-line
// messages, such as every problem of an invalid spec, are kept whole).
std::string ErrorText(const absl::Status& status);

}  // namespace segtune::client
