// Shared by optimizer_factory.cc and exploit.cc: every optimizer's options
// read from catalog-completed arguments, and written back as arguments, so
// that building an optimizer (MakeOptimizer) and changing a running one's
// arguments (ApplyHyperparameters) accept the same names and values.
#pragma once

#include <memory>
#include <string>

#include <torch/optim/optimizer.h>
#include <nlohmann/json.hpp>

#include "absl/status/statusor.h"
#include "factory_arguments.h"

namespace segtune::optim::internal {

// The options of optimizer args.algorithm_name(), read from `args`;
// InvalidArgument naming the argument when `args` hold a problem
// (Arguments::Finish).
absl::StatusOr<std::unique_ptr<torch::optim::OptimizerOptions>> ReadOptimizerOptions(
    Arguments& args);

// `options`, a param group's or an optimizer's defaults, as the arguments of
// optimizer `name` (a torch name) that would build them, every argument of
// the catalog's included; InvalidArgument when they are another optimizer's
// options.
absl::StatusOr<nlohmann::json> OptimizerArgs(const std::string& name,
                                             const torch::optim::OptimizerOptions& options);

}  // namespace segtune::optim::internal
