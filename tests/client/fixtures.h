// Proto messages shaped like the coordinator's, for the client tests.
#pragma once

#include <string>

#include "segtune/v1/segtune.pb.h"

namespace segtune::client::testing {

// SGD with momentum, every torch default spelled out as the searcher does,
// plus StepLR and one sampled dotted key.
inline constexpr char kSgdParams[] =
    R"({"optimizer": {"name": "SGD", "lr": 0.05, "momentum": 0.9, "dampening": 0.0,
                      "weight_decay": 0.0, "nesterov": false},
        "scheduler": {"name": "StepLR", "step_size": 3, "gamma": 0.5},
        "training.batch_size": 16})";

inline constexpr char kAdamParams[] =
    R"({"optimizer": {"name": "Adam", "lr": 0.001, "betas": [0.9, 0.999], "eps": 1e-08,
                      "weight_decay": 0.0001, "amsgrad": false},
        "scheduler": {"name": "CosineAnnealingLR", "T_max": 8, "eta_min": 0.0},
        "training.batch_size": 8})";

inline v1::Sweep MakeSweep() {
  v1::Sweep sweep;
  sweep.set_sweep_id("s1");
  sweep.set_name("seed-study");
  sweep.set_state(v1::SWEEP_RUNNING);
  sweep.set_objective_metric("val_miou");
  sweep.set_objective_mode("max");
  sweep.set_algorithm("grid");
  sweep.set_epochs(8);
  sweep.set_parallelism(4);
  sweep.set_total_trials(2);
  (*sweep.mutable_trials_by_state())["COMPLETED"] = 1;
  (*sweep.mutable_trials_by_state())["RUNNING"] = 1;
  sweep.set_created_unix_ms(1714564984123);  // 2024-05-01T12:03:04.123Z
  sweep.set_has_best(true);
  sweep.set_best_value(0.612);
  sweep.set_best_trial_id("s1-0000");
  sweep.set_spec_yaml("name: seed-study\n");
  return sweep;
}

inline v1::Trial MakeTrial(const std::string& id, v1::TrialState state, const std::string& params_json) {
  v1::Trial trial;
  trial.set_trial_id(id);
  trial.set_sweep_id("s1");
  trial.set_state(state);
  trial.set_params_json(params_json);
  return trial;
}

inline v1::Trial CompletedSgdTrial() {
  v1::Trial trial = MakeTrial("s1-0000", v1::COMPLETED, kSgdParams);
  trial.set_epochs_done(8);
  trial.set_has_best(true);
  trial.set_best_value(0.612);
  trial.set_best_epoch(7);
  trial.set_attempt(1);
  (*trial.mutable_last_metrics())["val_miou"] = 0.6;
  trial.set_started_unix_ms(1714564984123);
  trial.set_finished_unix_ms(1714565000000);
  return trial;
}

inline v1::Trial RunningAdamTrial() {
  v1::Trial trial = MakeTrial("s1-0001", v1::RUNNING, kAdamParams);
  trial.set_epochs_done(3);
  trial.set_has_best(true);
  trial.set_best_value(0.41);
  trial.set_best_epoch(3);
  trial.set_attempt(1);
  trial.set_worker_id("w-1");
  (*trial.mutable_last_metrics())["val_miou"] = 0.41;
  return trial;
}

inline v1::BestTrial MakeBest(const v1::Trial& trial) {
  v1::BestTrial best;
  *best.mutable_trial() = trial;
  best.set_value(trial.best_value());
  best.set_metric("val_miou");
  best.set_epoch(trial.best_epoch());
  return best;
}

}  // namespace segtune::client::testing
