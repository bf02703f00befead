// Checks a HOST:PORT address a server is told to listen on (the coordinator's
// and the worker's --metrics-listen) before it reaches the HTTP server, whose
// own parser accepts forms we do not mean (a bare port binds every
// interface; commas list several ports) and reports every failure alike.
//
// Thread-safety: a free function without shared state.
#pragma once

#include <string>
#include <string_view>

#include "absl/status/status.h"

namespace segtune::common {

// OK for an IPv4 address or host name, a colon and a port from 0 to 65535
// (0: any free port). Otherwise InvalidArgument naming `flag` and the value.
absl::Status ValidateListenAddress(std::string_view flag, const std::string& address);

}  // namespace segtune::common
