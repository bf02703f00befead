#include "segtune/optim/factory.h"

#include <exception>
#include <set>
#include <string_view>
#include <utility>

#include <torch/optim/adagrad.h>
#include <torch/optim/adam.h>
#include <torch/optim/adamw.h>
#include <torch/optim/rmsprop.h>
#include <torch/optim/sgd.h>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "segtune/optim/catalog.h"

namespace segtune::optim {
namespace {

using nlohmann::json;

// A catalog-completed argument set, read by the builders. It remembers what
// was read so that Finish() can refuse arguments the builder ignored unless
// they hold torch's default (ignoring them then changes nothing).
class Arguments {
 public:
  Arguments(std::string kind, const AlgorithmSpec& algorithm, json args)
      : kind_(std::move(kind)), algorithm_(&algorithm), args_(std::move(args)) {}

  const std::string& algorithm_name() const { return algorithm_->name; }

  std::optional<double> Float(const std::string& name) {
    const json* value = Read(name);
    if (value == nullptr) return std::nullopt;
    if (!value->is_number()) return Mistyped(name, "a number");
    return value->get<double>();
  }

  std::optional<int64_t> Int(const std::string& name) {
    const json* value = Read(name);
    if (value == nullptr) return std::nullopt;
    // CompleteArgs has already turned whole floats like 3.0 into integers.
    if (!value->is_number_integer()) return Mistyped(name, "a whole number");
    return value->get<int64_t>();
  }

  std::optional<bool> Bool(const std::string& name) {
    const json* value = Read(name);
    if (value == nullptr) return std::nullopt;
    if (!value->is_boolean()) return Mistyped(name, "true or false");
    return value->get<bool>();
  }

  std::optional<std::string> String(const std::string& name) {
    const json* value = Read(name);
    if (value == nullptr) return std::nullopt;
    if (!value->is_string()) return Mistyped(name, "a string");
    return value->get<std::string>();
  }

  std::optional<std::tuple<double, double>> FloatPair(const std::string& name) {
    const json* value = Read(name);
    if (value == nullptr) return std::nullopt;
    if (!value->is_array() || value->size() != 2 || !(*value)[0].is_number() ||
        !(*value)[1].is_number()) {
      return Mistyped(name, "a pair of numbers [a, b]");
    }
    return std::make_tuple((*value)[0].get<double>(), (*value)[1].get<double>());
  }

  std::optional<std::vector<int64_t>> IntList(const std::string& name) {
    const json* value = Read(name);
    if (value == nullptr) return std::nullopt;
    if (!value->is_array()) return Mistyped(name, "a list of whole numbers");
    std::vector<int64_t> list;
    for (const json& element : *value) {
      if (!element.is_number_integer()) return Mistyped(name, "a list of whole numbers");
      list.push_back(element.get<int64_t>());
    }
    return list;
  }

  // Records a problem found by a builder.
  void AddProblem(const std::string& name, const std::string& message) {
    problems_.push_back(absl::StrCat(kind_, ".", name, ": ", message));
  }

  // OK when every argument was read or still has torch's default.
  absl::Status Finish() {
    for (const auto& [name, value] : args_.items()) {
      if (read_.count(name) > 0) continue;
      const ArgSpec* spec = FindSpec(name);
      if (spec != nullptr && value == spec->default_value) continue;
      problems_.push_back(absl::StrCat(kind_, ".", name, ": not supported by this worker's ",
                                       algorithm_->name, " (only torch's default ",
                                       spec != nullptr ? spec->default_value.dump() : "none",
                                       " is accepted)"));
    }
    if (problems_.empty()) return absl::OkStatus();
    return absl::InvalidArgumentError(absl::StrJoin(problems_, "; "));
  }

 private:
  const json* Read(const std::string& name) {
    read_.insert(name);
    auto it = args_.find(name);
    return it == args_.end() ? nullptr : &*it;
  }

  std::nullopt_t Mistyped(const std::string& name, const char* expected) {
    AddProblem(name, absl::StrCat("must be ", expected));
    return std::nullopt;
  }

  const ArgSpec* FindSpec(const std::string& name) const {
    for (const ArgSpec& spec : algorithm_->args) {
      if (spec.name == name) return &spec;
    }
    return nullptr;
  }

  std::string kind_;
  const AlgorithmSpec* algorithm_;  // static catalog data
  json args_;
  std::set<std::string> read_;
  std::vector<std::string> problems_;
};

// Resolves {"name": ..., args...} with the catalog and completes the
// arguments: the alias's implied arguments first, explicit ones over them.
absl::StatusOr<Arguments> ResolveAndComplete(const json& params, const std::string& kind,
                                             Resolved (*resolve)(std::string_view)) {
  if (!params.is_object()) {
    return absl::InvalidArgumentError(
        absl::StrCat(kind, ": must be an object like {\"name\": ...}, got ", params.dump()));
  }
  auto name_it = params.find("name");
  if (name_it == params.end() || !name_it->is_string()) {
    return absl::InvalidArgumentError(absl::StrCat(kind, ".name: required string"));
  }
  const std::string name = name_it->get<std::string>();
  const Resolved resolved = resolve(name);
  if (resolved.algorithm == nullptr) {
    return absl::InvalidArgumentError(absl::StrCat(kind, ".name: unknown ", kind, " '", name, "'"));
  }
  const AlgorithmSpec& algorithm = *resolved.algorithm;

  json args = resolved.implied_args.is_object() ? resolved.implied_args : json::object();
  for (const auto& [key, value] : params.items()) {
    if (key != "name") args[key] = value;
  }

  Completed completed = CompleteArgs(algorithm, args);
  if (!completed.problems.empty()) {
    std::vector<std::string> messages;
    for (const ArgProblem& problem : completed.problems) {
      messages.push_back(problem.arg.empty()
                             ? absl::StrCat(kind, " ", algorithm.name, ": ", problem.message)
                             : absl::StrCat(kind, ".", problem.arg, ": ", problem.message));
    }
    return absl::InvalidArgumentError(absl::StrJoin(messages, "; "));
  }
  return Arguments(kind, algorithm, std::move(completed.args));
}

// LibTorch's constructors check their options with TORCH_CHECK, which throws.
template <typename Build>
auto CatchTorchErrors(const std::string& kind, Build build) -> decltype(build()) {
  try {
    return build();
  } catch (const std::exception& error) {
    return absl::InvalidArgumentError(absl::StrCat(kind, ": ", error.what()));
  }
}

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

using LRSchedulerPtr = std::unique_ptr<LRScheduler>;

// Builds one epoch-driven scheduler after its options pass Validate().
template <typename SchedulerType, typename Options>
absl::StatusOr<std::unique_ptr<Scheduler>> Finish(Arguments& args,
                                                  torch::optim::Optimizer& optimizer,
                                                  const Options& options) {
  if (absl::Status status = args.Finish(); !status.ok()) return status;
  if (absl::Status status = options.Validate(); !status.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("scheduler.", status.message()));
  }
  return std::make_unique<Scheduler>(
      LRSchedulerPtr(std::make_unique<SchedulerType>(optimizer, options)));
}

// Reads a required argument; a missing one is recorded as a problem.
template <typename T>
T Required(Arguments& args, const std::string& name, std::optional<T> value) {
  if (!value) args.AddProblem(name, "required");
  return value.value_or(T{});
}

absl::StatusOr<std::unique_ptr<Scheduler>> BuildPlateau(Arguments& args,
                                                        torch::optim::Optimizer& optimizer) {
  using Options = ReduceLROnPlateauOptions;
  Options options;
  if (auto mode = args.String("mode")) {
    if (*mode == "min") {
      options.mode(Options::Mode::kMin);
    } else if (*mode == "max") {
      options.mode(Options::Mode::kMax);
    } else {
      args.AddProblem("mode", absl::StrCat("must be 'min' or 'max', got '", *mode, "'"));
    }
  }
  if (auto v = args.Float("factor")) options.factor(*v);
  if (auto v = args.Int("patience")) options.patience(*v);
  if (auto v = args.Float("threshold")) options.threshold(*v);
  if (auto mode = args.String("threshold_mode")) {
    if (*mode == "rel") {
      options.threshold_mode(Options::ThresholdMode::kRel);
    } else if (*mode == "abs") {
      options.threshold_mode(Options::ThresholdMode::kAbs);
    } else {
      args.AddProblem("threshold_mode", absl::StrCat("must be 'rel' or 'abs', got '", *mode, "'"));
    }
  }
  if (auto v = args.Int("cooldown")) options.cooldown(*v);
  if (auto v = args.Float("min_lr")) options.min_lr(*v);
  if (auto v = args.Float("eps")) options.eps(*v);
  // Not a torch argument: the metric the caller steps the scheduler with
  // (the catalog checks it is one the trainer reports).
  std::string monitor = args.String("monitor").value_or("val_loss");
  if (absl::Status status = args.Finish(); !status.ok()) return status;
  if (absl::Status status = options.Validate(); !status.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("scheduler.", status.message()));
  }
  return std::make_unique<Scheduler>(std::make_unique<ReduceLROnPlateau>(optimizer, options),
                                     std::move(monitor));
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

absl::StatusOr<std::unique_ptr<Scheduler>> MakeScheduler(const nlohmann::json& params,
                                                         torch::optim::Optimizer& optimizer) {
  absl::StatusOr<Arguments> args = ResolveAndComplete(params, "scheduler", &ResolveScheduler);
  if (!args.ok()) return args.status();
  const std::string& name = args->algorithm_name();
  return CatchTorchErrors("scheduler", [&]() -> absl::StatusOr<std::unique_ptr<Scheduler>> {
    if (name == "StepLR") {
      StepLROptions options(Required(*args, "step_size", args->Int("step_size")));
      if (auto v = args->Float("gamma")) options.gamma(*v);
      return Finish<StepLR>(*args, optimizer, options);
    }
    if (name == "MultiStepLR") {
      MultiStepLROptions options(Required(*args, "milestones", args->IntList("milestones")));
      if (auto v = args->Float("gamma")) options.gamma(*v);
      return Finish<MultiStepLR>(*args, optimizer, options);
    }
    if (name == "ExponentialLR") {
      ExponentialLROptions options(Required(*args, "gamma", args->Float("gamma")));
      return Finish<ExponentialLR>(*args, optimizer, options);
    }
    if (name == "CosineAnnealingLR") {
      CosineAnnealingLROptions options(Required(*args, "T_max", args->Int("T_max")));
      if (auto v = args->Float("eta_min")) options.eta_min(*v);
      return Finish<CosineAnnealingLR>(*args, optimizer, options);
    }
    if (name == "ReduceLROnPlateau") return BuildPlateau(*args, optimizer);
    return absl::UnimplementedError(absl::StrCat(
        "scheduler.name: ", name,
        " cannot be built by this worker yet (available: StepLR, MultiStepLR, ExponentialLR, "
        "CosineAnnealingLR, ReduceLROnPlateau)"));
  });
}

Scheduler::Scheduler(std::unique_ptr<LRScheduler> by_epoch) : by_epoch_(std::move(by_epoch)) {}

Scheduler::Scheduler(std::unique_ptr<ReduceLROnPlateau> on_plateau, std::string monitor)
    : on_plateau_(std::move(on_plateau)), monitor_(std::move(monitor)) {}

absl::Status Scheduler::Step(std::optional<double> monitored_value) {
  if (by_epoch_ != nullptr) {
    by_epoch_->step();
    return absl::OkStatus();
  }
  if (!monitored_value) {
    return absl::InvalidArgumentError(
        absl::StrCat("ReduceLROnPlateau needs this epoch's ", monitor_, " to step"));
  }
  on_plateau_->step(*monitored_value);
  return absl::OkStatus();
}

}  // namespace segtune::optim
