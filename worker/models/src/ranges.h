// Range checks shared by the models' option validation and CheckModel, so
// that every architecture words the same error the same way.
//
// Thread-safety: pure functions.
#pragma once

#include <cstdint>

#include "absl/status/status.h"

namespace segtune::models::internal {

// InvalidArgument "<field>: must be in [low, high], got <value>" (with
// `why`, when not empty, after the range), or OK.
absl::Status CheckRange(const char* field, int64_t value, int64_t low, int64_t high,
                        const char* why = "");

// The ranges every architecture shares: num_classes in [2, 1024],
// in_channels in [1, 64], base_channels in [1, 1024].
absl::Status CheckCommonOptions(int64_t num_classes, int64_t in_channels, int64_t base_channels);

}  // namespace segtune::models::internal
