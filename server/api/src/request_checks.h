// Checks of request fields shared by the gRPC services: every string the
// server stores or echoes has a length limit, every repeated field a count
// limit (docs/architecture.md, "Limits").
//
// Thread-safety: free functions without state.
#pragma once

#include <cstddef>
#include <string>

#include <google/protobuf/map.h>

#include "absl/status/status.h"
#include "segtune/common/worker_limits.h"
#include "segtune/v1/segtune.pb.h"

namespace segtune::api {

inline constexpr std::size_t kMaxIdLength = 256;          // sweep, trial and worker ids
inline constexpr std::size_t kMaxWorkerNameLength = 256;  // worker name and hostname
inline constexpr std::size_t kMaxDeviceLength = 64;       // "cpu", "cuda:0", ...
// A worker's `device` lists all of its devices ("cuda:0,cuda:1,..."): room
// for over a hundred GPUs.
inline constexpr std::size_t kMaxDeviceListLength = 1024;
// FinishTrial reasons (exception messages); workers cut theirs to fit.
inline constexpr std::size_t kMaxReasonLength = 4096;
inline constexpr std::size_t kMaxMetricNameLength = 64;
// Above what a trainer reports: 6 metrics plus val_iou_<c> for up to 255
// classes, and epoch_seconds.
inline constexpr int kMaxMetricsPerReport = 512;
inline constexpr int kMaxSlots = common::kMaxWorkerSlots;  // per worker

// An id field (sweep, trial, worker): required, at most kMaxIdLength
// characters. InvalidArgument naming `field` otherwise.
absl::Status RequireId(const std::string& value, const char* field);

// At most `max` bytes; InvalidArgument naming `field`, the limit and the
// length otherwise.
absl::Status CheckLength(const std::string& value, const char* field, std::size_t max);

// Slots in [1, kMaxSlots]; name, hostname and device within their lengths;
// slot_devices empty or one non-empty device (within kMaxDeviceLength) per slot.
absl::Status CheckRegistration(const v1::RegisterWorkerRequest& request);

// A valid worker id, wait_ms >= 0 and slot in [0, kMaxSlots) (the scheduler
// checks it against the worker's own slots).
absl::Status CheckAcquire(const v1::AcquireTrialRequest& request);

// At most kMaxMetricsPerReport metrics, each named by 1 to
// kMaxMetricNameLength characters. Values are checked where they are used
// (the scheduler refuses non-finite ones).
absl::Status CheckMetrics(const google::protobuf::Map<std::string, double>& metrics);

// At most kMaxSlots running trials, each with a valid trial id; at most
// kMaxSlots slot times, each for a slot in [0, kMaxSlots) with a finite,
// non-negative training_seconds.
absl::Status CheckHeartbeat(const v1::HeartbeatRequest& request);

}  // namespace segtune::api
