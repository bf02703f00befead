#include "request_checks.h"

#include <cmath>

#include "absl/strings/str_cat.h"

namespace segtune::api {

absl::Status RequireId(const std::string& value, const char* field) {
  if (value.empty()) return absl::InvalidArgumentError(absl::StrCat(field, ": required"));
  return CheckLength(value, field, kMaxIdLength);
}

absl::Status CheckLength(const std::string& value, const char* field, std::size_t max) {
  if (value.size() <= max) return absl::OkStatus();
  return absl::InvalidArgumentError(
      absl::StrCat(field, ": longer than ", max, " characters (", value.size(), ")"));
}

absl::Status CheckRegistration(const v1::RegisterWorkerRequest& request) {
  if (request.slots() < 1 || request.slots() > kMaxSlots) {
    return absl::InvalidArgumentError(
        absl::StrCat("slots: must be in [1, ", kMaxSlots, "], got ", request.slots()));
  }
  if (absl::Status s = CheckLength(request.name(), "name", kMaxWorkerNameLength); !s.ok()) return s;
  if (absl::Status s = CheckLength(request.hostname(), "hostname", kMaxWorkerNameLength); !s.ok()) return s;
  if (absl::Status s = CheckLength(request.device(), "device", kMaxDeviceListLength); !s.ok()) return s;
  if (request.slot_devices_size() != 0 && request.slot_devices_size() != request.slots()) {
    return absl::InvalidArgumentError(absl::StrCat("slot_devices: must be empty or have one entry per slot (",
                                                   request.slots(), "), got ", request.slot_devices_size()));
  }
  for (const std::string& device : request.slot_devices()) {
    if (device.empty()) return absl::InvalidArgumentError("slot_devices: an entry is empty");
    if (absl::Status s = CheckLength(device, "slot_devices", kMaxDeviceLength); !s.ok()) return s;
  }
  return absl::OkStatus();
}

absl::Status CheckAcquire(const v1::AcquireTrialRequest& request) {
  if (absl::Status s = RequireId(request.worker_id(), "worker_id"); !s.ok()) return s;
  if (request.wait_ms() < 0) return absl::InvalidArgumentError("wait_ms: must be >= 0");
  // The upper bound is the worker's own slots, which the scheduler checks.
  if (request.slot() < 0 || request.slot() >= kMaxSlots) {
    return absl::InvalidArgumentError(absl::StrCat("slot: must be in [0, ", kMaxSlots, "), got ", request.slot()));
  }
  return absl::OkStatus();
}

absl::Status CheckMetrics(const google::protobuf::Map<std::string, double>& metrics) {
  if (metrics.size() > static_cast<std::size_t>(kMaxMetricsPerReport)) {
    return absl::InvalidArgumentError(
        absl::StrCat("metrics: more than ", kMaxMetricsPerReport, " entries (", metrics.size(), ")"));
  }
  for (const auto& [name, value] : metrics) {
    if (name.empty()) return absl::InvalidArgumentError("metrics: a metric name is empty");
    if (name.size() > kMaxMetricNameLength) {
      // The name itself may be huge: show its start only.
      return absl::InvalidArgumentError(absl::StrCat("metrics.", name.substr(0, 32), "...: name longer than ",
                                                     kMaxMetricNameLength, " characters (", name.size(), ")"));
    }
  }
  return absl::OkStatus();
}

absl::Status CheckHeartbeat(const v1::HeartbeatRequest& request) {
  if (absl::Status s = RequireId(request.worker_id(), "worker_id"); !s.ok()) return s;
  if (request.running_size() > kMaxSlots) {
    return absl::InvalidArgumentError(
        absl::StrCat("running: more than ", kMaxSlots, " trials (", request.running_size(), ")"));
  }
  for (const v1::RunningTrial& trial : request.running()) {
    if (absl::Status s = RequireId(trial.trial_id(), "running.trial_id"); !s.ok()) return s;
  }
  if (request.slots_size() > kMaxSlots) {
    return absl::InvalidArgumentError(
        absl::StrCat("slots: more than ", kMaxSlots, " entries (", request.slots_size(), ")"));
  }
  // Slots beyond the worker's own are refused by the scheduler, which knows them.
  for (const v1::SlotUsage& usage : request.slots()) {
    if (usage.slot() < 0 || usage.slot() >= kMaxSlots) {
      return absl::InvalidArgumentError(
          absl::StrCat("slots.slot: must be in [0, ", kMaxSlots, "), got ", usage.slot()));
    }
    if (!std::isfinite(usage.training_seconds()) || usage.training_seconds() < 0) {
      return absl::InvalidArgumentError(absl::StrCat("slots.training_seconds: must be finite and >= 0, got ",
                                                     usage.training_seconds(), " for slot ", usage.slot()));
    }
  }
  return absl::OkStatus();
}

}  // namespace segtune::api
