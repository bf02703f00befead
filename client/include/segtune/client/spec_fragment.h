// `segtune best -o yaml`: the best configuration as a piece of sweep spec,
// ready to paste into the next spec:
//
//   search:
//     space:
//       optimizer:
//         - {name: SGD, lr: 0.05, momentum: 0.9, dampening: 0, weight_decay: 0, nesterov: false}
//       scheduler:
//         - {name: StepLR, step_size: 3, gamma: 0.5}
//       training.batch_size: 16
//
// Every argument of the resolved configuration is written, so the fragment
// reproduces the trial exactly. With several trials (--top K) each list holds
// the distinct values among them, best first: a narrowed space containing
// every one of them.
//
// Thread-safety: free functions without shared state; safe from any thread.
#pragma once

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "absl/status/statusor.h"

namespace segtune::client {

// `params_best_first` are trial params objects (segtune/client/params.h).
// Fails on an empty list or a params value that is not an object.
absl::StatusOr<std::string> SpecFragmentYaml(const std::vector<nlohmann::json>& params_best_first);

}  // namespace segtune::client
