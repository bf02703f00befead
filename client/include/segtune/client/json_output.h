// The JSON documents the CLI prints with `-o json` (design.md section 3; the
// field names are a contract, extend only).
//
// Thread-safety: free functions without shared state; safe from any thread.
#pragma once

#include <cstdint>
#include <string>

#include <nlohmann/json.hpp>

#include "absl/status/statusor.h"
#include "segtune/v1/segtune.pb.h"

namespace segtune::client {

// "PENDING", "RUNNING", ... (the proto enum names).
std::string TrialStateName(v1::TrialState state);
// "RUNNING", "COMPLETED", "CANCELLED" (the proto names without "SWEEP_").
std::string SweepStateName(v1::SweepState state);
bool IsFinal(v1::TrialState state);  // anything but PENDING and RUNNING

// "2024-05-01T12:03:04.123Z" (UTC); null for 0, which the proto uses for "not yet".
nlohmann::json IsoTime(std::int64_t unix_ms);

// {"sweep_id", "name", "state", "objective": {"metric", "mode"}, "algorithm",
//  "epochs", "parallelism", "total_trials", "trials_by_state": {...},
//  "best_value" (null when none), "best_trial_id" (null when none),
//  "created_at", "finished_at" (null while running)}, plus "spec_yaml" when
// `with_spec` (status shows it, the sweeps listing does not).
nlohmann::json SweepJson(const v1::Sweep& sweep, bool with_spec);

// {"trial_id", "sweep_id", "index", "state", "params": {...}, "epochs_done",
//  "best_value", "best_epoch" (both null when none), "attempt", "worker_id",
//  "reason" (null when empty), "last_metrics": {...}, "started_at", "finished_at"}.
// Fails when the server's params_json is not a JSON object.
absl::StatusOr<nlohmann::json> TrialJson(const v1::Trial& trial);

// [{"epoch": N, "metrics": {...}, "attempt": A, "reported_at": "..."}, ...]
nlohmann::json EpochsJson(const v1::GetTrialMetricsResponse& response);

// {"sweep_id", "trial_id", "value", "metric", "mode", "epoch", "params": {...}}
absl::StatusOr<nlohmann::json> BestJson(const v1::Sweep& sweep, const v1::BestTrial& best);

// {"worker_id", "name", "hostname", "device", "slots", "busy_slots", "alive",
//  "last_seen_at", "running_trial_ids": [...], "devices": [{"device",
//  "slots", "busy_slots", "utilization", "training_seconds"}, ...]}
nlohmann::json WorkerJson(const v1::Worker& worker);

}  // namespace segtune::client
