// MakeOptimizer: one builder per optimizer of the catalog.
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include <torch/optim/lbfgs.h>

#include "factory_arguments.h"
#include "segtune/optim/adadelta.h"
#include "segtune/optim/adagrad.h"
#include "segtune/optim/adam.h"
#include "segtune/optim/adamax.h"
#include "segtune/optim/adamw.h"
#include "segtune/optim/asgd.h"
#include "segtune/optim/factory.h"
#include "segtune/optim/nadam.h"
#include "segtune/optim/radam.h"
#include "segtune/optim/rmsprop.h"
#include "segtune/optim/rprop.h"
#include "segtune/optim/sgd.h"

namespace segtune::optim {
namespace {

using namespace internal;  // NOLINT: the factory's shared building blocks

using OptimizerPtr = std::unique_ptr<torch::optim::Optimizer>;

// Builds the optimizer once every argument has been read.
template <typename Optimizer, typename Options>
absl::StatusOr<OptimizerPtr> Build(Arguments& args, std::vector<torch::Tensor> parameters,
                                   const Options& options) {
  if (absl::Status status = args.Finish(); !status.ok()) return status;
  return OptimizerPtr(std::make_unique<Optimizer>(std::move(parameters), options));
}

absl::StatusOr<OptimizerPtr> BuildSgd(Arguments& args, std::vector<torch::Tensor> parameters) {
  const std::optional<double> lr = args.Float("lr");
  if (!lr) args.AddProblem("lr", "required");
  SGDOptions options(lr.value_or(0.0));
  if (auto v = args.Float("momentum")) options.momentum(*v);
  if (auto v = args.Float("dampening")) options.dampening(*v);
  if (auto v = args.Float("weight_decay")) options.weight_decay(*v);
  if (auto v = args.Bool("nesterov")) options.nesterov(*v);
  if (auto v = args.Bool("maximize")) options.maximize(*v);
  return Build<SGD>(args, std::move(parameters), options);
}

// Adam and AdamW.
template <typename Optimizer, typename Options>
absl::StatusOr<OptimizerPtr> BuildAdamFamily(Arguments& args,
                                             std::vector<torch::Tensor> parameters) {
  Options options;
  if (auto v = args.Float("lr")) options.lr(*v);
  if (auto v = args.FloatPair("betas")) options.betas(*v);
  if (auto v = args.Float("eps")) options.eps(*v);
  if (auto v = args.Float("weight_decay")) options.weight_decay(*v);
  if (auto v = args.Bool("amsgrad")) options.amsgrad(*v);
  if (auto v = args.Bool("maximize")) options.maximize(*v);
  return Build<Optimizer>(args, std::move(parameters), options);
}

absl::StatusOr<OptimizerPtr> BuildAdagrad(Arguments& args, std::vector<torch::Tensor> parameters) {
  AdagradOptions options;
  if (auto v = args.Float("lr")) options.lr(*v);
  if (auto v = args.Float("lr_decay")) options.lr_decay(*v);
  if (auto v = args.Float("weight_decay")) options.weight_decay(*v);
  if (auto v = args.Float("initial_accumulator_value")) options.initial_accumulator_value(*v);
  if (auto v = args.Float("eps")) options.eps(*v);
  if (auto v = args.Bool("maximize")) options.maximize(*v);
  return Build<Adagrad>(args, std::move(parameters), options);
}

absl::StatusOr<OptimizerPtr> BuildRmsprop(Arguments& args, std::vector<torch::Tensor> parameters) {
  RMSpropOptions options;
  if (auto v = args.Float("lr")) options.lr(*v);
  if (auto v = args.Float("alpha")) options.alpha(*v);
  if (auto v = args.Float("eps")) options.eps(*v);
  if (auto v = args.Float("weight_decay")) options.weight_decay(*v);
  if (auto v = args.Float("momentum")) options.momentum(*v);
  if (auto v = args.Bool("centered")) options.centered(*v);
  if (auto v = args.Bool("maximize")) options.maximize(*v);
  return Build<RMSprop>(args, std::move(parameters), options);
}

absl::StatusOr<OptimizerPtr> BuildAdadelta(Arguments& args, std::vector<torch::Tensor> parameters) {
  AdadeltaOptions options;
  if (auto v = args.Float("lr")) options.lr(*v);
  if (auto v = args.Float("rho")) options.rho(*v);
  if (auto v = args.Float("eps")) options.eps(*v);
  if (auto v = args.Float("weight_decay")) options.weight_decay(*v);
  if (auto v = args.Bool("maximize")) options.maximize(*v);
  return Build<Adadelta>(args, std::move(parameters), options);
}

absl::StatusOr<OptimizerPtr> BuildAdamax(Arguments& args, std::vector<torch::Tensor> parameters) {
  AdamaxOptions options;
  if (auto v = args.Float("lr")) options.lr(*v);
  if (auto v = args.FloatPair("betas")) options.betas(*v);
  if (auto v = args.Float("eps")) options.eps(*v);
  if (auto v = args.Float("weight_decay")) options.weight_decay(*v);
  if (auto v = args.Bool("maximize")) options.maximize(*v);
  return Build<Adamax>(args, std::move(parameters), options);
}

absl::StatusOr<OptimizerPtr> BuildNadam(Arguments& args, std::vector<torch::Tensor> parameters) {
  NAdamOptions options;
  if (auto v = args.Float("lr")) options.lr(*v);
  if (auto v = args.FloatPair("betas")) options.betas(*v);
  if (auto v = args.Float("eps")) options.eps(*v);
  if (auto v = args.Float("weight_decay")) options.weight_decay(*v);
  if (auto v = args.Float("momentum_decay")) options.momentum_decay(*v);
  return Build<NAdam>(args, std::move(parameters), options);
}

absl::StatusOr<OptimizerPtr> BuildRadam(Arguments& args, std::vector<torch::Tensor> parameters) {
  RAdamOptions options;
  if (auto v = args.Float("lr")) options.lr(*v);
  if (auto v = args.FloatPair("betas")) options.betas(*v);
  if (auto v = args.Float("eps")) options.eps(*v);
  if (auto v = args.Float("weight_decay")) options.weight_decay(*v);
  return Build<RAdam>(args, std::move(parameters), options);
}

absl::StatusOr<OptimizerPtr> BuildAsgd(Arguments& args, std::vector<torch::Tensor> parameters) {
  ASGDOptions options;
  if (auto v = args.Float("lr")) options.lr(*v);
  if (auto v = args.Float("lambd")) options.lambd(*v);
  if (auto v = args.Float("alpha")) options.alpha(*v);
  if (auto v = args.Float("t0")) options.t0(*v);
  if (auto v = args.Float("weight_decay")) options.weight_decay(*v);
  if (auto v = args.Bool("maximize")) options.maximize(*v);
  return Build<ASGD>(args, std::move(parameters), options);
}

absl::StatusOr<OptimizerPtr> BuildRprop(Arguments& args, std::vector<torch::Tensor> parameters) {
  RpropOptions options;
  if (auto v = args.Float("lr")) options.lr(*v);
  if (auto v = args.FloatPair("etas")) options.etas(*v);
  if (auto v = args.FloatPair("step_sizes")) options.step_sizes(*v);
  if (auto v = args.Bool("maximize")) options.maximize(*v);
  return Build<Rprop>(args, std::move(parameters), options);
}

// LibTorch's LBFGS, which works out max_eval from max_iter when it is None.
absl::StatusOr<OptimizerPtr> BuildLbfgs(Arguments& args, std::vector<torch::Tensor> parameters) {
  torch::optim::LBFGSOptions options;
  if (auto v = args.Float("lr")) options.lr(*v);
  if (auto v = args.Int("max_iter")) options.max_iter(*v);
  if (auto v = args.Int("max_eval")) options.max_eval(*v);
  if (auto v = args.Float("tolerance_grad")) options.tolerance_grad(*v);
  if (auto v = args.Float("tolerance_change")) options.tolerance_change(*v);
  if (auto v = args.Int("history_size")) options.history_size(*v);
  if (auto v = args.String("line_search_fn")) options.line_search_fn(*v);
  return Build<torch::optim::LBFGS>(args, std::move(parameters), options);
}

}  // namespace

absl::StatusOr<std::unique_ptr<torch::optim::Optimizer>> MakeOptimizer(
    const nlohmann::json& params, std::vector<torch::Tensor> parameters) {
  absl::StatusOr<Arguments> args = ResolveAndComplete(params, "optimizer", &ResolveOptimizer);
  if (!args.ok()) return args.status();
  const std::string& name = args->algorithm_name();
  return CatchTorchErrors("optimizer", [&]() -> absl::StatusOr<OptimizerPtr> {
    if (name == "Adadelta") return BuildAdadelta(*args, std::move(parameters));
    if (name == "Adagrad") return BuildAdagrad(*args, std::move(parameters));
    if (name == "Adam") return BuildAdamFamily<Adam, AdamOptions>(*args, std::move(parameters));
    if (name == "AdamW") return BuildAdamFamily<AdamW, AdamWOptions>(*args, std::move(parameters));
    if (name == "Adamax") return BuildAdamax(*args, std::move(parameters));
    if (name == "ASGD") return BuildAsgd(*args, std::move(parameters));
    if (name == "LBFGS") return BuildLbfgs(*args, std::move(parameters));
    if (name == "NAdam") return BuildNadam(*args, std::move(parameters));
    if (name == "RAdam") return BuildRadam(*args, std::move(parameters));
    if (name == "RMSprop") return BuildRmsprop(*args, std::move(parameters));
    if (name == "Rprop") return BuildRprop(*args, std::move(parameters));
    if (name == "SGD") return BuildSgd(*args, std::move(parameters));
    return absl::InternalError(
        absl::StrCat("optimizer.name: ", name, " is in the catalog but has no builder"));
  });
}

bool NeedsLossClosure(const nlohmann::json& params) {
  if (!params.is_object() || !params.contains("name") || !params.at("name").is_string()) {
    return false;
  }
  const Resolved resolved = ResolveOptimizer(params.at("name").get<std::string>());
  return resolved.algorithm != nullptr && resolved.algorithm->name == "LBFGS";
}

}  // namespace segtune::optim
