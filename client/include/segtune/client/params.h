// Trial parameters ("params": the full resolved configuration of a trial, see
// segtune/search/searcher.h) as the CLI shows them.
//
//   {"optimizer": {"name": "SGD", "lr": 0.05, "momentum": 0.9, "dampening": 0, ...},
//    "scheduler": {"name": "StepLR", "step_size": 3, "gamma": 0.5},
//    "training.batch_size": 16}
//   -> "SGD(lr=0.05, momentum=0.9) + StepLR(step_size=3, gamma=0.5), training.batch_size=16"
//
// Thread-safety: free functions without shared state; safe from any thread.
#pragma once

#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "absl/status/statusor.h"

namespace segtune::client {

// Parses a trial's params_json; it must be a JSON object. The error names the
// trial, since the text comes from the server.
absl::StatusOr<nlohmann::json> ParseParams(std::string_view params_json, const std::string& trial_id);

// One line for tables: optimizer and scheduler calls showing `lr` and every
// argument that differs from torch's default, then the other sampled values.
// ParamsJsonSummary takes params_json text; text that is not a params
// object is returned as it is.
std::string ParamsSummary(const nlohmann::json& params);
std::string ParamsJsonSummary(std::string_view params_json);

// One optimizer or scheduler ({"name": ..., args...}) as a call. With
// `all_args`, every argument is shown (torch's constructor order first);
// otherwise `lr` and the non-default ones only.
std::string AlgorithmCall(const nlohmann::json& algorithm, bool is_scheduler, bool all_args);

// A parameter value as it reads best: shortest round-trip numbers (0.05,
// 1e-05), JSON for strings and lists.
std::string FormatValue(const nlohmann::json& value);

// A metric value for tables: 4 decimals in the usual range, scientific
// notation for very small or large magnitudes.
std::string FormatMetric(double value);

}  // namespace segtune::client
