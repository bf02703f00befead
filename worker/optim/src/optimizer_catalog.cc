// The optimizers of torch.optim 1.13: arguments in constructor order with
// torch's defaults, and the checks its constructors make. Switches that only
// pick one of torch's code paths (foreach, differentiable, capturable,
// fused) are not arguments: they change how torch computes, not what.
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "catalog_internal.h"

namespace segtune::optim::internal {
namespace {

// For SGD, whose constructor tests `value < 0.0` rather than `not 0.0 <= value`
// (the two differ on NaN, which budget expressions can produce).
void NotNegative(const Json& args, const char* name, const char* torch_message,
                 Problems& problems) {
  std::optional<double> value = Number(args, name);
  if (!value || !(*value < 0)) return;
  problems.push_back({name, "must be >= 0, got " + DescribeValue(args.at(name)) +
                                " (torch: " + torch_message + ")"});
}

void CheckBetas(const Json& args, Problems& problems) {
  auto betas = args.find("betas");
  if (betas == args.end() || !betas->is_array()) return;
  for (std::size_t i = 0; i < betas->size(); ++i) {
    double beta = (*betas)[i].get<double>();
    if (!(0 <= beta && beta < 1)) {
      problems.push_back({"betas", "must both be in [0, 1), got " + DescribeValue(*betas) +
                                       " (torch: Invalid beta parameter at index " +
                                       std::to_string(i) + ")"});
    }
  }
}

void CheckAdadelta(const Json& args, Problems& problems) {
  NonNegative(args, "lr", "Invalid learning rate", problems);
  std::optional<double> rho = Number(args, "rho");
  if (rho && !(0 <= *rho && *rho <= 1)) {
    problems.push_back({"rho", "must be in [0, 1], got " + DescribeValue(args.at("rho")) +
                                   " (torch: Invalid rho value)"});
  }
  NonNegative(args, "eps", "Invalid epsilon value", problems);
  NonNegative(args, "weight_decay", "Invalid weight_decay value", problems);
}

void CheckAdagrad(const Json& args, Problems& problems) {
  NonNegative(args, "lr", "Invalid learning rate", problems);
  NonNegative(args, "lr_decay", "Invalid lr_decay value", problems);
  NonNegative(args, "weight_decay", "Invalid weight_decay value", problems);
  NonNegative(args, "initial_accumulator_value", "Invalid initial_accumulator_value value",
              problems);
  NonNegative(args, "eps", "Invalid epsilon value", problems);
}

// Adam, AdamW, Adamax and RAdam.
void CheckAdam(const Json& args, Problems& problems) {
  NonNegative(args, "lr", "Invalid learning rate", problems);
  NonNegative(args, "eps", "Invalid epsilon value", problems);
  CheckBetas(args, problems);
  NonNegative(args, "weight_decay", "Invalid weight_decay value", problems);
}

void CheckAsgd(const Json& args, Problems& problems) {
  NonNegative(args, "lr", "Invalid learning rate", problems);
  NonNegative(args, "weight_decay", "Invalid weight_decay value", problems);
}

// torch's constructor accepts any line_search_fn; its step() refuses all but
// None and "strong_wolfe".
void CheckLbfgs(const Json& args, Problems& problems) {
  OneOf(args, "line_search_fn", {"strong_wolfe"}, "only 'strong_wolfe' is supported", problems);
}

void CheckNadam(const Json& args, Problems& problems) {
  CheckAdam(args, problems);
  NonNegative(args, "momentum_decay", "Invalid momentum_decay value", problems);
}

void CheckRmsprop(const Json& args, Problems& problems) {
  NonNegative(args, "lr", "Invalid learning rate", problems);
  NonNegative(args, "eps", "Invalid epsilon value", problems);
  NonNegative(args, "momentum", "Invalid momentum value", problems);
  NonNegative(args, "weight_decay", "Invalid weight_decay value", problems);
  NonNegative(args, "alpha", "Invalid alpha value", problems);
}

void CheckRprop(const Json& args, Problems& problems) {
  NonNegative(args, "lr", "Invalid learning rate", problems);
  auto etas = args.find("etas");
  if (etas == args.end() || !etas->is_array()) return;
  const double etaminus = (*etas)[0].get<double>();
  const double etaplus = (*etas)[1].get<double>();
  if (!(0 < etaminus && etaminus < 1 && 1 < etaplus)) {
    problems.push_back(
        {"etas", "must be [etaminus, etaplus] with 0 < etaminus < 1 < etaplus, got " +
                     DescribeValue(*etas) + " (torch: Invalid eta values)"});
  }
}

void CheckSgd(const Json& args, Problems& problems) {
  NotNegative(args, "lr", "Invalid learning rate", problems);
  NotNegative(args, "momentum", "Invalid momentum value", problems);
  NotNegative(args, "weight_decay", "Invalid weight_decay value", problems);
  auto nesterov = args.find("nesterov");
  std::optional<double> momentum = Number(args, "momentum");
  std::optional<double> dampening = Number(args, "dampening");
  if (nesterov != args.end() && nesterov->is_boolean() && nesterov->get<bool>() && momentum &&
      dampening && (*momentum <= 0 || *dampening != 0)) {
    problems.push_back(
        {"nesterov", "needs momentum > 0 and dampening 0, got momentum " +
                         DescribeValue(args.at("momentum")) + " and dampening " +
                         DescribeValue(args.at("dampening")) +
                         " (torch: Nesterov momentum requires a momentum and zero dampening)"});
  }
}

ArgSpec Betas() { return {"betas", ArgType::kFloatPair, {0.9, 0.999}}; }
ArgSpec Maximize() { return {"maximize", ArgType::kBool, false}; }

}  // namespace

const std::vector<Entry>& OptimizerEntries() {
  static const std::vector<Entry> kOptimizers = {
      {{"Adadelta",
        {{"lr", ArgType::kFloat, 1.0},
         {"rho", ArgType::kFloat, 0.9},
         {"eps", ArgType::kFloat, 1e-6},
         {"weight_decay", ArgType::kFloat, 0.0},
         Maximize()}},
       CheckAdadelta},
      {{"Adagrad",
        {{"lr", ArgType::kFloat, 1e-2},
         {"lr_decay", ArgType::kFloat, 0.0},
         {"weight_decay", ArgType::kFloat, 0.0},
         {"initial_accumulator_value", ArgType::kFloat, 0.0},
         {"eps", ArgType::kFloat, 1e-10},
         Maximize()}},
       CheckAdagrad},
      {{"Adam",
        {{"lr", ArgType::kFloat, 1e-3},
         Betas(),
         {"eps", ArgType::kFloat, 1e-8},
         {"weight_decay", ArgType::kFloat, 0.0},
         {"amsgrad", ArgType::kBool, false},
         Maximize()}},
       CheckAdam},
      {{"AdamW",
        {{"lr", ArgType::kFloat, 1e-3},
         Betas(),
         {"eps", ArgType::kFloat, 1e-8},
         {"weight_decay", ArgType::kFloat, 1e-2},
         {"amsgrad", ArgType::kBool, false},
         Maximize()}},
       CheckAdam},
      {{"Adamax",
        {{"lr", ArgType::kFloat, 2e-3},
         Betas(),
         {"eps", ArgType::kFloat, 1e-8},
         {"weight_decay", ArgType::kFloat, 0.0},
         Maximize()}},
       CheckAdam},
      {{"ASGD",
        {{"lr", ArgType::kFloat, 1e-2},
         {"lambd", ArgType::kFloat, 1e-4},
         {"alpha", ArgType::kFloat, 0.75},
         {"t0", ArgType::kFloat, 1e6},
         {"weight_decay", ArgType::kFloat, 0.0},
         Maximize()}},
       CheckAsgd},
      {{"LBFGS",
        {{"lr", ArgType::kFloat, 1.0},
         {"max_iter", ArgType::kInt, 20},
         NoneArg("max_eval", ArgType::kInt),  // None: max_iter * 5 // 4
         {"tolerance_grad", ArgType::kFloat, 1e-7},
         {"tolerance_change", ArgType::kFloat, 1e-9},
         {"history_size", ArgType::kInt, 100},
         NoneArg("line_search_fn", ArgType::kString)}},
       CheckLbfgs},
      {{"NAdam",
        {{"lr", ArgType::kFloat, 2e-3},
         Betas(),
         {"eps", ArgType::kFloat, 1e-8},
         {"weight_decay", ArgType::kFloat, 0.0},
         {"momentum_decay", ArgType::kFloat, 4e-3}}},
       CheckNadam},
      {{"RAdam",
        {{"lr", ArgType::kFloat, 1e-3},
         Betas(),
         {"eps", ArgType::kFloat, 1e-8},
         {"weight_decay", ArgType::kFloat, 0.0}}},
       CheckAdam},
      {{"RMSprop",
        {{"lr", ArgType::kFloat, 1e-2},
         {"alpha", ArgType::kFloat, 0.99},
         {"eps", ArgType::kFloat, 1e-8},
         {"weight_decay", ArgType::kFloat, 0.0},
         {"momentum", ArgType::kFloat, 0.0},
         {"centered", ArgType::kBool, false},
         Maximize()}},
       CheckRmsprop},
      {{"Rprop",
        {{"lr", ArgType::kFloat, 1e-2},
         {"etas", ArgType::kFloatPair, {0.5, 1.2}},
         {"step_sizes", ArgType::kFloatPair, {1e-6, 50.0}},
         Maximize()}},
       CheckRprop},
      {{"SGD",
        {RequiredArg("lr", ArgType::kFloat),
         {"momentum", ArgType::kFloat, 0.0},
         {"dampening", ArgType::kFloat, 0.0},
         {"weight_decay", ArgType::kFloat, 0.0},
         {"nesterov", ArgType::kBool, false},
         Maximize()}},
       CheckSgd},
  };
  return kOptimizers;
}

const std::vector<Alias>& OptimizerAliases() {
  static const std::vector<Alias> kAliases = {
      {"sgd", "SGD", Json::object(), Json::object()},
      {"momentum", "SGD", {{"momentum", 0.9}}, Json::object()},
      {"nag", "SGD", {{"momentum", 0.9}, {"nesterov", true}}, Json::object()},
      {"nesterov", "SGD", {{"momentum", 0.9}, {"nesterov", true}}, Json::object()},
      {"bgd", "SGD", Json::object(), {{"training.batch_size", "full"}}},
      {"adam", "Adam", Json::object(), Json::object()},
      {"adamw", "AdamW", Json::object(), Json::object()},
      {"adagrad", "Adagrad", Json::object(), Json::object()},
      {"rmsprop", "RMSprop", Json::object(), Json::object()},
      {"adadelta", "Adadelta", Json::object(), Json::object()},
      {"adamax", "Adamax", Json::object(), Json::object()},
      {"nadam", "NAdam", Json::object(), Json::object()},
      {"radam", "RAdam", Json::object(), Json::object()},
      {"asgd", "ASGD", Json::object(), Json::object()},
      {"rprop", "Rprop", Json::object(), Json::object()},
      {"lbfgs", "LBFGS", Json::object(), Json::object()},
  };
  return kAliases;
}

}  // namespace segtune::optim::internal
