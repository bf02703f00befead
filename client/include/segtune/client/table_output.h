// The human-readable (`-o table`, the default) output of each verb, built
// with segtune/client/table.h. Unlike the JSON output these are not a
// contract: they are meant for people and may change.
//
// Thread-safety: free functions without shared state; safe from any thread.
#pragma once

#include <cstdint>
#include <string>

#include "segtune/v1/segtune.pb.h"

namespace segtune::client {

// "2024-05-01 14:03:04" in local time; "-" for 0 (not yet).
std::string LocalTime(std::int64_t unix_ms);

std::string RenderSweeps(const v1::ListSweepsResponse& sweeps);
std::string RenderSweepStatus(const v1::Sweep& sweep);
// `sweep` supplies the objective metric and the epochs per trial.
std::string RenderTrials(const v1::Sweep& sweep, const v1::ListTrialsResponse& trials);
std::string RenderMetrics(const v1::GetTrialMetricsResponse& metrics);
// One row per worker; DEVICES lists each device as "cuda:0 1/2 87%" (busy
// slots / slots, utilization between the worker's last two heartbeats).
std::string RenderWorkers(const v1::ListWorkersResponse& workers);
// "cuda:0 1/1 87%, cuda:1 0/1 0%"; the worker's `device` when the
// coordinator sent no devices.
std::string RenderDevices(const v1::Worker& worker);
// Rank, trial, params summary, best objective value, epoch.
std::string RenderLeaderboard(const v1::GetBestResponse& best);
// One trial's result and its full configuration, every argument shown.
std::string RenderBestDetail(const v1::Sweep& sweep, const v1::BestTrial& best);

}  // namespace segtune::client
