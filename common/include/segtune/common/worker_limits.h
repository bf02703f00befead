// Limits a worker and the coordinator must agree on: the worker refuses a
// flag combination the coordinator would refuse at registration.
//
// Thread-safety: constants only.
#pragma once

namespace segtune::common {

// Slots (trials trained at once) of one worker (docs/architecture.md, Limits).
inline constexpr int kMaxWorkerSlots = 1024;

}  // namespace segtune::common
