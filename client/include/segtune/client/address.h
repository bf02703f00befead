// Which coordinator the CLI talks to: `--server`, else $SEGTUNE_SERVER, else
// the default of design.md section 3.
//
// Thread-safety: free functions without shared state; safe from any thread.
#pragma once

#include <optional>
#include <string>

#include "absl/status/statusor.h"

namespace segtune::client {

inline constexpr char kDefaultServerAddress[] = "127.0.0.1:50051";
inline constexpr char kServerEnvVar[] = "SEGTUNE_SERVER";

// `flag` is the value of --server when given; `env` the value of
// SEGTUNE_SERVER when set. An empty environment variable counts as unset; an
// empty or blank --server, or an address with whitespace in it, is an
// InvalidArgument error naming where it came from.
absl::StatusOr<std::string> ResolveServerAddress(const std::optional<std::string>& flag,
                                                 const std::optional<std::string>& env);

}  // namespace segtune::client
