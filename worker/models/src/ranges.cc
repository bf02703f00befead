#include "ranges.h"

#include "absl/strings/str_cat.h"

namespace segtune::models::internal {

absl::Status CheckRange(const char* field, int64_t value, int64_t low, int64_t high,
                        const char* why) {
  if (value >= low && value <= high) return absl::OkStatus();
  return absl::InvalidArgumentError(absl::StrCat(field, ": must be in [", low, ", ", high, "]",
                                                 why, ", got ", value));
}

absl::Status CheckCommonOptions(int64_t num_classes, int64_t in_channels, int64_t base_channels) {
  if (absl::Status status = CheckRange("num_classes", num_classes, 2, 1024); !status.ok()) {
    return status;
  }
  if (absl::Status status = CheckRange("in_channels", in_channels, 1, 64); !status.ok()) {
    return status;
  }
  return CheckRange("base_channels", base_channels, 1, 1024);
}

}  // namespace segtune::models::internal
