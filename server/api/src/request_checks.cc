#include "request_checks.h"

#include "absl/strings/str_cat.h"

namespace segtune::api {

absl::Status RequireId(const std::string& value, const char* field) {
  if (value.empty()) return absl::InvalidArgumentError(absl::StrCat(field, ": required"));
  if (value.size() > 256) return absl::InvalidArgumentError(absl::StrCat(field, ": longer than 256 characters"));
  return absl::OkStatus();
}

}  // namespace segtune::api
