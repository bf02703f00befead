// Builds the read-side protobuf views (Sweep, Trial, leaderboards) from the
// store: per-trial progress and best values are derived from epoch rows, so
// they are always consistent with what is durable.
#pragma once

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "segtune/scheduler/scheduler.h"
#include "segtune/store/store.h"
#include "segtune/v1/segtune.pb.h"

namespace segtune::api {

// The sweep with every trial's summary.
absl::StatusOr<v1::SweepUpdate> LoadSweepView(store::Store& store, const std::string& sweep_id);
absl::StatusOr<v1::SweepUpdate> LoadSweepView(store::Store& store, const store::SweepRecord& sweep);

// Trials that reported at least one epoch, best first (ties: earlier epoch,
// then lower index); at most `top_k`.
std::vector<v1::BestTrial> RankTrials(const v1::SweepUpdate& view, int top_k);

v1::Trial TrialView(const store::TrialRecord& trial, const std::vector<store::EpochRecord>& epochs,
                    const std::string& metric, bool maximize);
v1::TrialState ToProto(store::TrialState state);
v1::EpochMetrics EpochView(const store::EpochRecord& epoch);
v1::TrialAttempt AttemptView(const store::AttemptRecord& attempt);
v1::DeviceUsage DeviceUsageView(const scheduler::DeviceUsage& device);

}  // namespace segtune::api
