// MakeOptimizer, and the table of optimizers behind it: for each optimizer
// of the catalog, its options read from arguments and written back, and its
// constructor (optimizer_options.h).
#include <memory>
#include <optional>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include <torch/optim/lbfgs.h>

#include "factory_arguments.h"
#include "optimizer_options.h"
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
namespace internal {
namespace {

using OptimizerPtr = std::unique_ptr<torch::optim::Optimizer>;
using Pair = std::tuple<double, double>;

json PairArg(const Pair& pair) { return json::array({std::get<0>(pair), std::get<1>(pair)}); }

// Each optimizer's options from completed arguments (Read...) and back
// (...Args), argument for argument in the catalog's order.

SGDOptions ReadSgd(Arguments& args) {
  const std::optional<double> lr = args.Float("lr");
  if (!lr) args.AddProblem("lr", "required");
  SGDOptions options(lr.value_or(0.0));
  if (auto v = args.Float("momentum")) options.momentum(*v);
  if (auto v = args.Float("dampening")) options.dampening(*v);
  if (auto v = args.Float("weight_decay")) options.weight_decay(*v);
  if (auto v = args.Bool("nesterov")) options.nesterov(*v);
  if (auto v = args.Bool("maximize")) options.maximize(*v);
  return options;
}

json SgdArgs(const SGDOptions& options) {
  return {{"lr", options.lr()},
          {"momentum", options.momentum()},
          {"dampening", options.dampening()},
          {"weight_decay", options.weight_decay()},
          {"nesterov", options.nesterov()},
          {"maximize", options.maximize()}};
}

// Adam and AdamW.
template <typename Options>
Options ReadAdamFamily(Arguments& args) {
  Options options;
  if (auto v = args.Float("lr")) options.lr(*v);
  if (auto v = args.FloatPair("betas")) options.betas(*v);
  if (auto v = args.Float("eps")) options.eps(*v);
  if (auto v = args.Float("weight_decay")) options.weight_decay(*v);
  if (auto v = args.Bool("amsgrad")) options.amsgrad(*v);
  if (auto v = args.Bool("maximize")) options.maximize(*v);
  return options;
}

template <typename Options>
json AdamFamilyArgs(const Options& options) {
  return {{"lr", options.lr()},
          {"betas", PairArg(options.betas())},
          {"eps", options.eps()},
          {"weight_decay", options.weight_decay()},
          {"amsgrad", options.amsgrad()},
          {"maximize", options.maximize()}};
}

AdagradOptions ReadAdagrad(Arguments& args) {
  AdagradOptions options;
  if (auto v = args.Float("lr")) options.lr(*v);
  if (auto v = args.Float("lr_decay")) options.lr_decay(*v);
  if (auto v = args.Float("weight_decay")) options.weight_decay(*v);
  if (auto v = args.Float("initial_accumulator_value")) options.initial_accumulator_value(*v);
  if (auto v = args.Float("eps")) options.eps(*v);
  if (auto v = args.Bool("maximize")) options.maximize(*v);
  return options;
}

json AdagradArgs(const AdagradOptions& options) {
  return {{"lr", options.lr()},
          {"lr_decay", options.lr_decay()},
          {"weight_decay", options.weight_decay()},
          {"initial_accumulator_value", options.initial_accumulator_value()},
          {"eps", options.eps()},
          {"maximize", options.maximize()}};
}

RMSpropOptions ReadRmsprop(Arguments& args) {
  RMSpropOptions options;
  if (auto v = args.Float("lr")) options.lr(*v);
  if (auto v = args.Float("alpha")) options.alpha(*v);
  if (auto v = args.Float("eps")) options.eps(*v);
  if (auto v = args.Float("weight_decay")) options.weight_decay(*v);
  if (auto v = args.Float("momentum")) options.momentum(*v);
  if (auto v = args.Bool("centered")) options.centered(*v);
  if (auto v = args.Bool("maximize")) options.maximize(*v);
  return options;
}

json RmspropArgs(const RMSpropOptions& options) {
  return {{"lr", options.lr()},
          {"alpha", options.alpha()},
          {"eps", options.eps()},
          {"weight_decay", options.weight_decay()},
          {"momentum", options.momentum()},
          {"centered", options.centered()},
          {"maximize", options.maximize()}};
}

AdadeltaOptions ReadAdadelta(Arguments& args) {
  AdadeltaOptions options;
  if (auto v = args.Float("lr")) options.lr(*v);
  if (auto v = args.Float("rho")) options.rho(*v);
  if (auto v = args.Float("eps")) options.eps(*v);
  if (auto v = args.Float("weight_decay")) options.weight_decay(*v);
  if (auto v = args.Bool("maximize")) options.maximize(*v);
  return options;
}

json AdadeltaArgs(const AdadeltaOptions& options) {
  return {{"lr", options.lr()},
          {"rho", options.rho()},
          {"eps", options.eps()},
          {"weight_decay", options.weight_decay()},
          {"maximize", options.maximize()}};
}

AdamaxOptions ReadAdamax(Arguments& args) {
  AdamaxOptions options;
  if (auto v = args.Float("lr")) options.lr(*v);
  if (auto v = args.FloatPair("betas")) options.betas(*v);
  if (auto v = args.Float("eps")) options.eps(*v);
  if (auto v = args.Float("weight_decay")) options.weight_decay(*v);
  if (auto v = args.Bool("maximize")) options.maximize(*v);
  return options;
}

json AdamaxArgs(const AdamaxOptions& options) {
  return {{"lr", options.lr()},
          {"betas", PairArg(options.betas())},
          {"eps", options.eps()},
          {"weight_decay", options.weight_decay()},
          {"maximize", options.maximize()}};
}

NAdamOptions ReadNadam(Arguments& args) {
  NAdamOptions options;
  if (auto v = args.Float("lr")) options.lr(*v);
  if (auto v = args.FloatPair("betas")) options.betas(*v);
  if (auto v = args.Float("eps")) options.eps(*v);
  if (auto v = args.Float("weight_decay")) options.weight_decay(*v);
  if (auto v = args.Float("momentum_decay")) options.momentum_decay(*v);
  return options;
}

json NadamArgs(const NAdamOptions& options) {
  return {{"lr", options.lr()},
          {"betas", PairArg(options.betas())},
          {"eps", options.eps()},
          {"weight_decay", options.weight_decay()},
          {"momentum_decay", options.momentum_decay()}};
}

RAdamOptions ReadRadam(Arguments& args) {
  RAdamOptions options;
  if (auto v = args.Float("lr")) options.lr(*v);
  if (auto v = args.FloatPair("betas")) options.betas(*v);
  if (auto v = args.Float("eps")) options.eps(*v);
  if (auto v = args.Float("weight_decay")) options.weight_decay(*v);
  return options;
}

json RadamArgs(const RAdamOptions& options) {
  return {{"lr", options.lr()},
          {"betas", PairArg(options.betas())},
          {"eps", options.eps()},
          {"weight_decay", options.weight_decay()}};
}

ASGDOptions ReadAsgd(Arguments& args) {
  ASGDOptions options;
  if (auto v = args.Float("lr")) options.lr(*v);
  if (auto v = args.Float("lambd")) options.lambd(*v);
  if (auto v = args.Float("alpha")) options.alpha(*v);
  if (auto v = args.Float("t0")) options.t0(*v);
  if (auto v = args.Float("weight_decay")) options.weight_decay(*v);
  if (auto v = args.Bool("maximize")) options.maximize(*v);
  return options;
}

json AsgdArgs(const ASGDOptions& options) {
  return {{"lr", options.lr()},
          {"lambd", options.lambd()},
          {"alpha", options.alpha()},
          {"t0", options.t0()},
          {"weight_decay", options.weight_decay()},
          {"maximize", options.maximize()}};
}

RpropOptions ReadRprop(Arguments& args) {
  RpropOptions options;
  if (auto v = args.Float("lr")) options.lr(*v);
  if (auto v = args.FloatPair("etas")) options.etas(*v);
  if (auto v = args.FloatPair("step_sizes")) options.step_sizes(*v);
  if (auto v = args.Bool("maximize")) options.maximize(*v);
  return options;
}

json RpropArgs(const RpropOptions& options) {
  return {{"lr", options.lr()},
          {"etas", PairArg(options.etas())},
          {"step_sizes", PairArg(options.step_sizes())},
          {"maximize", options.maximize()}};
}

// LibTorch's LBFGS, which works out max_eval from max_iter when it is None.
torch::optim::LBFGSOptions ReadLbfgs(Arguments& args) {
  torch::optim::LBFGSOptions options;
  if (auto v = args.Float("lr")) options.lr(*v);
  if (auto v = args.Int("max_iter")) options.max_iter(*v);
  if (auto v = args.Int("max_eval")) options.max_eval(*v);
  if (auto v = args.Float("tolerance_grad")) options.tolerance_grad(*v);
  if (auto v = args.Float("tolerance_change")) options.tolerance_change(*v);
  if (auto v = args.Int("history_size")) options.history_size(*v);
  if (auto v = args.String("line_search_fn")) options.line_search_fn(*v);
  return options;
}

json LbfgsArgs(const torch::optim::LBFGSOptions& options) {
  return {{"lr", options.lr()},
          {"max_iter", options.max_iter()},
          {"max_eval", options.max_eval() ? json(*options.max_eval()) : json(nullptr)},
          {"tolerance_grad", options.tolerance_grad()},
          {"tolerance_change", options.tolerance_change()},
          {"history_size", options.history_size()},
          {"line_search_fn",
           options.line_search_fn() ? json(*options.line_search_fn()) : json(nullptr)}};
}

// One optimizer of the catalog: its options from arguments and back, and
// the optimizer itself.
struct OptimizerKind {
  std::string name;
  std::unique_ptr<torch::optim::OptimizerOptions> (*read)(Arguments& args);
  // Null when `options` are another optimizer's.
  std::optional<json> (*write)(const torch::optim::OptimizerOptions& options);
  OptimizerPtr (*build)(std::vector<torch::Tensor> parameters,
                        const torch::optim::OptimizerOptions& options);
};

template <typename Optimizer, typename Options, Options (*Read)(Arguments&),
          json (*Write)(const Options&)>
OptimizerKind Kind(std::string name) {
  return {std::move(name),
          [](Arguments& args) -> std::unique_ptr<torch::optim::OptimizerOptions> {
            return std::make_unique<Options>(Read(args));
          },
          [](const torch::optim::OptimizerOptions& options) -> std::optional<json> {
            const auto* typed = dynamic_cast<const Options*>(&options);
            if (typed == nullptr) return std::nullopt;
            return Write(*typed);
          },
          [](std::vector<torch::Tensor> parameters,
             const torch::optim::OptimizerOptions& options) -> OptimizerPtr {
            return std::make_unique<Optimizer>(std::move(parameters),
                                               static_cast<const Options&>(options));
          }};
}

const OptimizerKind* FindKind(const std::string& name) {
  static const std::vector<OptimizerKind>* const kKinds = new std::vector<OptimizerKind>{
      Kind<Adadelta, AdadeltaOptions, &ReadAdadelta, &AdadeltaArgs>("Adadelta"),
      Kind<Adagrad, AdagradOptions, &ReadAdagrad, &AdagradArgs>("Adagrad"),
      Kind<Adam, AdamOptions, &ReadAdamFamily<AdamOptions>, &AdamFamilyArgs<AdamOptions>>("Adam"),
      Kind<AdamW, AdamWOptions, &ReadAdamFamily<AdamWOptions>, &AdamFamilyArgs<AdamWOptions>>(
          "AdamW"),
      Kind<Adamax, AdamaxOptions, &ReadAdamax, &AdamaxArgs>("Adamax"),
      Kind<ASGD, ASGDOptions, &ReadAsgd, &AsgdArgs>("ASGD"),
      Kind<torch::optim::LBFGS, torch::optim::LBFGSOptions, &ReadLbfgs, &LbfgsArgs>("LBFGS"),
      Kind<NAdam, NAdamOptions, &ReadNadam, &NadamArgs>("NAdam"),
      Kind<RAdam, RAdamOptions, &ReadRadam, &RadamArgs>("RAdam"),
      Kind<RMSprop, RMSpropOptions, &ReadRmsprop, &RmspropArgs>("RMSprop"),
      Kind<Rprop, RpropOptions, &ReadRprop, &RpropArgs>("Rprop"),
      Kind<SGD, SGDOptions, &ReadSgd, &SgdArgs>("SGD"),
  };
  for (const OptimizerKind& kind : *kKinds) {
    if (kind.name == name) return &kind;
  }
  return nullptr;
}

absl::Status NoBuilder(const std::string& name) {
  return absl::InternalError(
      absl::StrCat("optimizer.name: ", name, " is in the catalog but has no builder"));
}

}  // namespace

absl::StatusOr<std::unique_ptr<torch::optim::OptimizerOptions>> ReadOptimizerOptions(
    Arguments& args) {
  const OptimizerKind* kind = FindKind(args.algorithm_name());
  if (kind == nullptr) return NoBuilder(args.algorithm_name());
  std::unique_ptr<torch::optim::OptimizerOptions> options = kind->read(args);
  if (absl::Status status = args.Finish(); !status.ok()) return status;
  return options;
}

absl::StatusOr<json> OptimizerArgs(const std::string& name,
                                   const torch::optim::OptimizerOptions& options) {
  const OptimizerKind* kind = FindKind(name);
  if (kind == nullptr) return NoBuilder(name);
  std::optional<json> args = kind->write(options);
  if (!args) {
    return absl::InvalidArgumentError(
        absl::StrCat("optimizer.name: the optimizer is not a ", name));
  }
  return *std::move(args);
}

}  // namespace internal

absl::StatusOr<std::unique_ptr<torch::optim::Optimizer>> MakeOptimizer(
    const nlohmann::json& params, std::vector<torch::Tensor> parameters) {
  absl::StatusOr<internal::Arguments> args =
      internal::ResolveAndComplete(params, "optimizer", &ResolveOptimizer);
  if (!args.ok()) return args.status();
  using OptimizerPtr = std::unique_ptr<torch::optim::Optimizer>;
  return internal::CatchTorchErrors("optimizer", [&]() -> absl::StatusOr<OptimizerPtr> {
    absl::StatusOr<std::unique_ptr<torch::optim::OptimizerOptions>> options =
        internal::ReadOptimizerOptions(*args);
    if (!options.ok()) return options.status();
    return internal::FindKind(args->algorithm_name())->build(std::move(parameters), **options);
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
