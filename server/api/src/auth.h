// Bearer-token authorization of the Tuner and WorkerHub calls: one table maps
// each method's full name to the roles allowed to call it, and every handler
// calls Authorizer::Check first. grpc.health.v1 and server reflection are not
// checked (probes and tools need them; reflection shows only the public
// schema). docs/security.md describes the roles.
//
// Thread-safety: an Authorizer is immutable after construction; Check may be
// called from any thread.
#pragma once

#include <vector>

#include <grpcpp/server_context.h>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "segtune/api/security.h"

namespace segtune::api {

class Authorizer {
 public:
  // No grants: every call is allowed (no authentication configured).
  explicit Authorizer(std::vector<TokenGrant> grants) : grants_(std::move(grants)) {}

  bool enabled() const { return !grants_.empty(); }

  // OK when the call's "authorization: Bearer TOKEN" metadata names a token
  // whose role may call `method` ("/segtune.v1.Tuner/SubmitSweep").
  // Unauthenticated when the token is missing or unknown, PermissionDenied
  // naming the role and the method when the role may not call it (or the
  // method is not in the table: unknown methods are denied).
  absl::Status Check(const grpc::ServerContextBase& context, absl::string_view method) const;

 private:
  const std::vector<TokenGrant> grants_;
};

}  // namespace segtune::api
