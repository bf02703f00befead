// Reading and writing a param group's momentum and betas whatever the
// optimizer, as torch's schedulers do through the param-group dict
// (CyclicLR and OneCycleLR cycle `momentum`, or `betas[0]` when the
// optimizer has betas).
//
// Works on the options of our optimizers (sgd.h, adam.h, ...); for any
// other options the getters return nothing and the setters return false.
// Pass optimizer.defaults() to ask what torch asks with
// `'momentum' in optimizer.defaults`.
//
// Thread-safety: as safe as the options they touch.
#pragma once

#include <optional>
#include <tuple>

#include <torch/optim/optimizer.h>

namespace segtune::optim {

// SGD's and RMSprop's `momentum`.
std::optional<double> GetMomentum(const torch::optim::OptimizerOptions& options);
bool SetMomentum(torch::optim::OptimizerOptions& options, double momentum);

// The `betas` of Adam, AdamW, Adamax, NAdam and RAdam.
std::optional<std::tuple<double, double>> GetBetas(const torch::optim::OptimizerOptions& options);
bool SetBetas(torch::optim::OptimizerOptions& options, std::tuple<double, double> betas);

}  // namespace segtune::optim
