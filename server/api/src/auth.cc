#include "auth.h"

#include <initializer_list>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace segtune::api {
namespace {

using RoleSet = std::vector<Role>;

// Who may call what. A method missing here is denied to every role.
const std::map<std::string, RoleSet, std::less<>>& MethodRoles() {
  static const auto* const table = [] {
    auto* roles = new std::map<std::string, RoleSet, std::less<>>();
    for (const char* method : {"SubmitSweep", "CancelSweep"}) {
      (*roles)[absl::StrCat("/segtune.v1.Tuner/", method)] = {Role::kAdmin};
    }
    for (const char* method : {"GetSweep", "ListSweeps", "ListTrials", "GetTrialMetrics", "GetBest", "WatchSweep",
                               "ListWorkers", "ExportWeights"}) {
      (*roles)[absl::StrCat("/segtune.v1.Tuner/", method)] = {Role::kAdmin, Role::kRead};
    }
    for (const char* method : {"RegisterWorker", "AcquireTrial", "Heartbeat", "ReportEpoch", "FinishTrial",
                               "DeregisterWorker", "UploadCheckpoint", "DownloadCheckpoint"}) {
      (*roles)[absl::StrCat("/segtune.v1.WorkerHub/", method)] = {Role::kWorker};
    }
    return roles;
  }();
  return *table;
}

// Equality whose time depends only on the presented token's length, so a
// caller cannot learn a stored token's prefix from response times.
bool ConstantTimeEquals(absl::string_view presented, absl::string_view expected) {
  unsigned char difference = presented.size() == expected.size() ? 0 : 1;
  for (std::size_t i = 0; i < presented.size(); ++i) {
    difference |= static_cast<unsigned char>(presented[i] ^ expected[i % expected.size()]);
  }
  return difference == 0;
}

}  // namespace

absl::Status Authorizer::Check(const grpc::ServerContextBase& context, absl::string_view method) const {
  if (grants_.empty()) return absl::OkStatus();
  const auto& metadata = context.client_metadata();
  const auto header = metadata.find("authorization");
  constexpr absl::string_view kScheme = "Bearer ";
  if (header == metadata.end()) return absl::UnauthenticatedError("missing bearer token");
  const absl::string_view value(header->second.data(), header->second.size());
  if (!absl::StartsWithIgnoreCase(value, kScheme)) return absl::UnauthenticatedError("missing bearer token");
  const absl::string_view token = value.substr(kScheme.size());
  // Every grant is compared, so the time taken does not say which matched.
  std::optional<Role> role;
  for (const TokenGrant& grant : grants_) {
    if (ConstantTimeEquals(token, grant.token)) role = grant.role;
  }
  if (!role) return absl::UnauthenticatedError("unknown token");
  const auto allowed = MethodRoles().find(method);
  if (allowed == MethodRoles().end()) {
    return absl::PermissionDeniedError(absl::StrCat("no role may call ", method));
  }
  std::vector<absl::string_view> names;
  for (Role candidate : allowed->second) {
    if (candidate == *role) return absl::OkStatus();
    names.push_back(RoleName(candidate));
  }
  return absl::PermissionDeniedError(absl::StrCat("a ", RoleName(*role), " token may not call ", method,
                                                  " (allowed: ", absl::StrJoin(names, ", "), ")"));
}

}  // namespace segtune::api
