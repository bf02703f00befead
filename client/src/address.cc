#include "segtune/client/address.h"

#include <algorithm>
#include <cctype>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace segtune::client {
namespace {

bool HasWhitespace(const std::string& text) {
  return std::any_of(text.begin(), text.end(),
                     [](unsigned char c) { return std::isspace(c) != 0; });
}

absl::StatusOr<std::string> CheckAddress(const std::string& address, const char* source) {
  if (address.empty()) return absl::InvalidArgumentError(absl::StrCat(source, ": must not be empty"));
  if (HasWhitespace(address)) {
    return absl::InvalidArgumentError(
        absl::StrCat(source, ": '", address, "' is not an address (expected HOST:PORT)"));
  }
  return address;
}

}  // namespace

absl::StatusOr<std::string> ResolveServerAddress(const std::optional<std::string>& flag,
                                                 const std::optional<std::string>& env) {
  if (flag.has_value()) return CheckAddress(*flag, "--server");
  if (env.has_value() && !env->empty()) return CheckAddress(*env, kServerEnvVar);
  return std::string(kDefaultServerAddress);
}

}  // namespace segtune::client
