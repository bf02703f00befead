// The one place where internal errors become gRPC status codes.
#pragma once

#include <grpcpp/support/status.h>

#include "absl/status/status.h"

namespace segtune::api {

grpc::Status ToGrpcStatus(const absl::Status& status);

}  // namespace segtune::api
