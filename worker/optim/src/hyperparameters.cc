#include "segtune/optim/hyperparameters.h"

#include <torch/optim/adam.h>
#include <torch/optim/adamw.h>
#include <torch/optim/rmsprop.h>
#include <torch/optim/sgd.h>

namespace segtune::optim {

std::optional<double> GetMomentum(const torch::optim::OptimizerOptions& options) {
  if (auto* sgd = dynamic_cast<const torch::optim::SGDOptions*>(&options)) return sgd->momentum();
  if (auto* rmsprop = dynamic_cast<const torch::optim::RMSpropOptions*>(&options)) {
    return rmsprop->momentum();
  }
  return std::nullopt;
}

bool SetMomentum(torch::optim::OptimizerOptions& options, double momentum) {
  if (auto* sgd = dynamic_cast<torch::optim::SGDOptions*>(&options)) {
    sgd->momentum(momentum);
    return true;
  }
  if (auto* rmsprop = dynamic_cast<torch::optim::RMSpropOptions*>(&options)) {
    rmsprop->momentum(momentum);
    return true;
  }
  return false;
}

std::optional<std::tuple<double, double>> GetBetas(const torch::optim::OptimizerOptions& options) {
  if (auto* adam = dynamic_cast<const torch::optim::AdamOptions*>(&options)) return adam->betas();
  if (auto* adamw = dynamic_cast<const torch::optim::AdamWOptions*>(&options)) return adamw->betas();
  return std::nullopt;
}

bool SetBetas(torch::optim::OptimizerOptions& options, std::tuple<double, double> betas) {
  if (auto* adam = dynamic_cast<torch::optim::AdamOptions*>(&options)) {
    adam->betas(betas);
    return true;
  }
  if (auto* adamw = dynamic_cast<torch::optim::AdamWOptions*>(&options)) {
    adamw->betas(betas);
    return true;
  }
  return false;
}

}  // namespace segtune::optim
