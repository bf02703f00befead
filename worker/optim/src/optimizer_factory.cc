// MakeOptimizer: one builder per optimizer of the catalog.
#include <memory>
#include <utility>
#include <vector>

#include <torch/optim/adagrad.h>
#include <torch/optim/adam.h>
#include <torch/optim/adamw.h>
#include <torch/optim/rmsprop.h>
#include <torch/optim/sgd.h>

#include "factory_arguments.h"
#include "segtune/optim/factory.h"

namespace segtune::optim {
namespace {

using namespace internal;  // NOLINT: the factory's shared building blocks

using OptimizerPtr = std::unique_ptr<torch::optim::Optimizer>;

absl::StatusOr<OptimizerPtr> BuildSgd(Arguments& args, std::vector<torch::Tensor> parameters) {
  const std::optional<double> lr = args.Float("lr");
  if (!lr) args.AddProblem("lr", "required");
  torch::optim::SGDOptions options(lr.value_or(0.0));
  if (auto v = args.Float("momentum")) options.momentum(*v);
  if (auto v = args.Float("dampening")) options.dampening(*v);
  if (auto v = args.Float("weight_decay")) options.weight_decay(*v);
  if (auto v = args.Bool("nesterov")) options.nesterov(*v);
  if (absl::Status status = args.Finish(); !status.ok()) return status;
  return OptimizerPtr(std::make_unique<torch::optim::SGD>(std::move(parameters), options));
}

template <typename Optimizer, typename Options>
absl::StatusOr<OptimizerPtr> BuildAdamFamily(Arguments& args,
                                             std::vector<torch::Tensor> parameters) {
  Options options;
  if (auto v = args.Float("lr")) options.lr(*v);
  if (auto v = args.FloatPair("betas")) options.betas(*v);
  if (auto v = args.Float("eps")) options.eps(*v);
  if (auto v = args.Float("weight_decay")) options.weight_decay(*v);
  if (auto v = args.Bool("amsgrad")) options.amsgrad(*v);
  if (absl::Status status = args.Finish(); !status.ok()) return status;
  return OptimizerPtr(std::make_unique<Optimizer>(std::move(parameters), options));
}

absl::StatusOr<OptimizerPtr> BuildAdagrad(Arguments& args, std::vector<torch::Tensor> parameters) {
  torch::optim::AdagradOptions options;
  if (auto v = args.Float("lr")) options.lr(*v);
  if (auto v = args.Float("lr_decay")) options.lr_decay(*v);
  if (auto v = args.Float("weight_decay")) options.weight_decay(*v);
  if (auto v = args.Float("initial_accumulator_value")) options.initial_accumulator_value(*v);
  if (auto v = args.Float("eps")) options.eps(*v);
  if (absl::Status status = args.Finish(); !status.ok()) return status;
  return OptimizerPtr(std::make_unique<torch::optim::Adagrad>(std::move(parameters), options));
}

absl::StatusOr<OptimizerPtr> BuildRmsprop(Arguments& args, std::vector<torch::Tensor> parameters) {
  torch::optim::RMSpropOptions options;
  if (auto v = args.Float("lr")) options.lr(*v);
  if (auto v = args.Float("alpha")) options.alpha(*v);
  if (auto v = args.Float("eps")) options.eps(*v);
  if (auto v = args.Float("weight_decay")) options.weight_decay(*v);
  if (auto v = args.Float("momentum")) options.momentum(*v);
  if (auto v = args.Bool("centered")) options.centered(*v);
  if (absl::Status status = args.Finish(); !status.ok()) return status;
  return OptimizerPtr(std::make_unique<torch::optim::RMSprop>(std::move(parameters), options));
}


}  // namespace

absl::StatusOr<std::unique_ptr<torch::optim::Optimizer>> MakeOptimizer(
    const nlohmann::json& params, std::vector<torch::Tensor> parameters) {
  absl::StatusOr<Arguments> args = ResolveAndComplete(params, "optimizer", &ResolveOptimizer);
  if (!args.ok()) return args.status();
  const std::string& name = args->algorithm_name();
  return CatchTorchErrors("optimizer", [&]() -> absl::StatusOr<OptimizerPtr> {
    if (name == "SGD") return BuildSgd(*args, std::move(parameters));
    if (name == "Adam") {
      return BuildAdamFamily<torch::optim::Adam, torch::optim::AdamOptions>(*args,
                                                                            std::move(parameters));
    }
    if (name == "AdamW") {
      return BuildAdamFamily<torch::optim::AdamW, torch::optim::AdamWOptions>(
          *args, std::move(parameters));
    }
    if (name == "Adagrad") return BuildAdagrad(*args, std::move(parameters));
    if (name == "RMSprop") return BuildRmsprop(*args, std::move(parameters));
    return absl::UnimplementedError(absl::StrCat(
        "optimizer.name: ", name,
        " cannot be built by this worker yet (available: SGD, Adam, AdamW, Adagrad, RMSprop)"));
  });
}

bool NeedsLossClosure(const nlohmann::json& params) {
  if (!params.is_object() || !params.contains("name") || !params.at("name").is_string()) return false;
  const Resolved resolved = ResolveOptimizer(params.at("name").get<std::string>());
  return resolved.algorithm != nullptr && resolved.algorithm->name == "LBFGS";
}

}  // namespace segtune::optim
