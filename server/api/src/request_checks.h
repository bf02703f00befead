// Checks of request fields shared by the gRPC services.
//
// Thread-safety: free functions without state.
#pragma once

#include <string>

#include "absl/status/status.h"

namespace segtune::api {

// An id field (sweep, trial, worker): required, at most 256 characters.
// InvalidArgument naming `field` otherwise.
absl::Status RequireId(const std::string& value, const char* field);

}  // namespace segtune::api
