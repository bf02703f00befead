// The optimizers of torch.optim 1.13: arguments in constructor order with
// torch's defaults, and the checks its constructors make.
#include <set>
#include <string>
#include <vector>

#include "catalog_internal.h"

namespace segtune::optim::internal {
namespace {

void CheckSgd(const Json& args, Problems& problems) {
  NonNegative(args, "lr", "Invalid learning rate", problems);
  NonNegative(args, "momentum", "Invalid momentum value", problems);
  NonNegative(args, "weight_decay", "Invalid weight_decay value", problems);
  auto nesterov = args.find("nesterov");
  std::optional<double> momentum = Number(args, "momentum");
  std::optional<double> dampening = Number(args, "dampening");
  if (nesterov != args.end() && nesterov->is_boolean() && nesterov->get<bool>() && momentum &&
      dampening && (*momentum <= 0 || *dampening != 0)) {
    problems.push_back({"nesterov",
                        "needs momentum > 0 and dampening 0, got momentum " +
                            DescribeValue(args.at("momentum")) + " and dampening " +
                            DescribeValue(args.at("dampening")) +
                            " (torch: Nesterov momentum requires a momentum and zero dampening)"});
  }
}

void CheckAdam(const Json& args, Problems& problems) {
  NonNegative(args, "lr", "Invalid learning rate", problems);
  NonNegative(args, "eps", "Invalid epsilon value", problems);
  auto betas = args.find("betas");
  if (betas != args.end() && betas->is_array()) {
    for (std::size_t i = 0; i < betas->size(); ++i) {
      double beta = (*betas)[i].get<double>();
      if (beta < 0 || beta >= 1) {
        problems.push_back({"betas", "must both be in [0, 1), got " + DescribeValue(*betas) +
                                         " (torch: Invalid beta parameter at index " +
                                         std::to_string(i) + ")"});
      }
    }
  }
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

void CheckRmsprop(const Json& args, Problems& problems) {
  NonNegative(args, "lr", "Invalid learning rate", problems);
  NonNegative(args, "alpha", "Invalid alpha value", problems);
  NonNegative(args, "eps", "Invalid epsilon value", problems);
  NonNegative(args, "weight_decay", "Invalid weight_decay value", problems);
  NonNegative(args, "momentum", "Invalid momentum value", problems);
}

}  // namespace

const std::vector<Entry>& OptimizerEntries() {
  static const std::vector<Entry> kOptimizers = {
      {{"SGD",
        {RequiredArg("lr", ArgType::kFloat),
         {"momentum", ArgType::kFloat, 0.0},
         {"dampening", ArgType::kFloat, 0.0},
         {"weight_decay", ArgType::kFloat, 0.0},
         {"nesterov", ArgType::kBool, false}}},
       CheckSgd},
      {{"Adam",
        {{"lr", ArgType::kFloat, 1e-3},
         {"betas", ArgType::kFloatPair, {0.9, 0.999}},
         {"eps", ArgType::kFloat, 1e-8},
         {"weight_decay", ArgType::kFloat, 0.0},
         {"amsgrad", ArgType::kBool, false}}},
       CheckAdam},
      {{"AdamW",
        {{"lr", ArgType::kFloat, 1e-3},
         {"betas", ArgType::kFloatPair, {0.9, 0.999}},
         {"eps", ArgType::kFloat, 1e-8},
         {"weight_decay", ArgType::kFloat, 1e-2},
         {"amsgrad", ArgType::kBool, false}}},
       CheckAdam},
      {{"Adagrad",
        {{"lr", ArgType::kFloat, 1e-2},
         {"lr_decay", ArgType::kFloat, 0.0},
         {"weight_decay", ArgType::kFloat, 0.0},
         {"initial_accumulator_value", ArgType::kFloat, 0.0},
         {"eps", ArgType::kFloat, 1e-10}}},
       CheckAdagrad},
      {{"RMSprop",
        {{"lr", ArgType::kFloat, 1e-2},
         {"alpha", ArgType::kFloat, 0.99},
         {"eps", ArgType::kFloat, 1e-8},
         {"weight_decay", ArgType::kFloat, 0.0},
         {"momentum", ArgType::kFloat, 0.0},
         {"centered", ArgType::kBool, false}}},
       CheckRmsprop},
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
  };
  return kAliases;
}

}  // namespace segtune::optim::internal
