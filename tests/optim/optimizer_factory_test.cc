#include "segtune/optim/factory.h"
#include "segtune/optim/hyperparameters.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <torch/torch.h>

#include "segtune/optim/adadelta.h"
#include "segtune/optim/adagrad.h"
#include "segtune/optim/adam.h"
#include "segtune/optim/adamax.h"
#include "segtune/optim/adamw.h"
#include "segtune/optim/asgd.h"
#include "segtune/optim/nadam.h"
#include "segtune/optim/radam.h"
#include "segtune/optim/rmsprop.h"
#include "segtune/optim/rprop.h"
#include "segtune/optim/sgd.h"

namespace segtune::optim {
namespace {

using nlohmann::json;
using ::testing::HasSubstr;

std::vector<torch::Tensor> Parameters() {
  return {torch::zeros({3}, torch::kFloat64).requires_grad_()};
}

std::unique_ptr<torch::optim::Optimizer> BuildOrDie(const json& params) {
  absl::StatusOr<std::unique_ptr<torch::optim::Optimizer>> optimizer =
      MakeOptimizer(params, Parameters());
  EXPECT_TRUE(optimizer.ok()) << optimizer.status();
  return optimizer.ok() ? *std::move(optimizer) : nullptr;
}

template <typename Options>
const Options& OptionsOf(const torch::optim::Optimizer& optimizer) {
  return static_cast<const Options&>(optimizer.param_groups()[0].options());
}

std::string ErrorOf(const json& params) {
  absl::StatusOr<std::unique_ptr<torch::optim::Optimizer>> optimizer =
      MakeOptimizer(params, Parameters());
  EXPECT_FALSE(optimizer.ok()) << params.dump();
  return std::string(optimizer.status().message());
}

TEST(MakeOptimizerTest, BuildsSgdWithItsArguments) {
  auto optimizer = BuildOrDie({{"name", "SGD"},
                               {"lr", 0.05},
                               {"momentum", 0.9},
                               {"dampening", 0},
                               {"weight_decay", 0.001},
                               {"nesterov", false}});
  ASSERT_NE(dynamic_cast<SGD*>(optimizer.get()), nullptr);
  const auto& options = OptionsOf<SGDOptions>(*optimizer);
  EXPECT_EQ(options.lr(), 0.05);
  EXPECT_EQ(options.momentum(), 0.9);
  EXPECT_EQ(options.weight_decay(), 0.001);
  EXPECT_FALSE(options.nesterov());
  EXPECT_FALSE(options.maximize());
}

TEST(MakeOptimizerTest, AliasesImplyTheirArguments) {
  auto optimizer = BuildOrDie({{"name", "nag"}, {"lr", 0.05}});
  ASSERT_NE(dynamic_cast<SGD*>(optimizer.get()), nullptr);
  const auto& options = OptionsOf<SGDOptions>(*optimizer);
  EXPECT_EQ(options.momentum(), 0.9);
  EXPECT_TRUE(options.nesterov());
}

TEST(MakeOptimizerTest, MissingArgumentsGetTorchDefaults) {
  auto adam = BuildOrDie({{"name", "Adam"}});
  ASSERT_NE(dynamic_cast<Adam*>(adam.get()), nullptr);
  EXPECT_EQ(OptionsOf<AdamOptions>(*adam).lr(), 1e-3);

  auto adamw = BuildOrDie({{"name", "AdamW"}, {"lr", 0.01}, {"betas", {0.8, 0.99}}});
  ASSERT_NE(dynamic_cast<AdamW*>(adamw.get()), nullptr);
  const auto& adamw_options = OptionsOf<AdamWOptions>(*adamw);
  EXPECT_EQ(adamw_options.weight_decay(), 1e-2);
  EXPECT_EQ(std::get<0>(adamw_options.betas()), 0.8);
  EXPECT_EQ(std::get<1>(adamw_options.betas()), 0.99);

  auto adagrad = BuildOrDie({{"name", "Adagrad"}, {"lr_decay", 0.1}});
  ASSERT_NE(dynamic_cast<Adagrad*>(adagrad.get()), nullptr);
  EXPECT_EQ(OptionsOf<AdagradOptions>(*adagrad).lr(), 1e-2);
  EXPECT_EQ(OptionsOf<AdagradOptions>(*adagrad).lr_decay(), 0.1);

  auto rmsprop = BuildOrDie({{"name", "RMSprop"}, {"centered", true}});
  ASSERT_NE(dynamic_cast<RMSprop*>(rmsprop.get()), nullptr);
  EXPECT_EQ(OptionsOf<RMSpropOptions>(*rmsprop).alpha(), 0.99);
  EXPECT_TRUE(OptionsOf<RMSpropOptions>(*rmsprop).centered());
}

TEST(MakeOptimizerTest, RejectsBadArgumentsNamingThem) {
  EXPECT_THAT(ErrorOf({{"name", "SGD"}, {"lr", -1.0}}), HasSubstr("optimizer.lr"));
  EXPECT_THAT(ErrorOf({{"name", "SGD"}}), HasSubstr("optimizer.lr"));
  EXPECT_THAT(ErrorOf({{"name", "SGD"}, {"lr", 0.1}, {"momentun", 0.9}}),
              HasSubstr("optimizer.momentun"));
  EXPECT_THAT(ErrorOf({{"name", "SGD"}, {"lr", "fast"}}), HasSubstr("optimizer.lr"));
  EXPECT_THAT(ErrorOf({{"name", "Adam"}, {"betas", {1.5, 0.9}}}), HasSubstr("optimizer.betas"));
  EXPECT_THAT(ErrorOf({{"name", "SGD"}, {"lr", 0.1}, {"nesterov", true}}),
              HasSubstr("optimizer.nesterov"));
  EXPECT_THAT(ErrorOf({{"name", "Adamm"}}), HasSubstr("optimizer.name"));
  EXPECT_THAT(ErrorOf({{"lr", 0.1}}), HasSubstr("optimizer.name"));
  EXPECT_THAT(ErrorOf(json("SGD")), HasSubstr("optimizer"));
}

TEST(MakeOptimizerTest, BuildsEveryOptimizerOfTheCatalog) {
  auto adadelta = BuildOrDie({{"name", "adadelta"}, {"rho", 0.5}, {"maximize", true}});
  ASSERT_NE(dynamic_cast<Adadelta*>(adadelta.get()), nullptr);
  EXPECT_EQ(OptionsOf<AdadeltaOptions>(*adadelta).lr(), 1.0);
  EXPECT_EQ(OptionsOf<AdadeltaOptions>(*adadelta).rho(), 0.5);
  EXPECT_EQ(OptionsOf<AdadeltaOptions>(*adadelta).eps(), 1e-6);
  EXPECT_TRUE(OptionsOf<AdadeltaOptions>(*adadelta).maximize());

  auto adamax = BuildOrDie({{"name", "adamax"}, {"betas", {0.5, 0.6}}});
  ASSERT_NE(dynamic_cast<Adamax*>(adamax.get()), nullptr);
  EXPECT_EQ(OptionsOf<AdamaxOptions>(*adamax).lr(), 2e-3);
  EXPECT_EQ(std::get<1>(OptionsOf<AdamaxOptions>(*adamax).betas()), 0.6);

  auto nadam = BuildOrDie({{"name", "nadam"}, {"momentum_decay", 0.01}});
  ASSERT_NE(dynamic_cast<NAdam*>(nadam.get()), nullptr);
  EXPECT_EQ(OptionsOf<NAdamOptions>(*nadam).lr(), 2e-3);
  EXPECT_EQ(OptionsOf<NAdamOptions>(*nadam).momentum_decay(), 0.01);

  auto radam = BuildOrDie({{"name", "radam"}, {"weight_decay", 0.1}});
  ASSERT_NE(dynamic_cast<RAdam*>(radam.get()), nullptr);
  EXPECT_EQ(OptionsOf<RAdamOptions>(*radam).lr(), 1e-3);
  EXPECT_EQ(OptionsOf<RAdamOptions>(*radam).weight_decay(), 0.1);

  auto asgd = BuildOrDie({{"name", "asgd"}, {"t0", 100}});
  ASSERT_NE(dynamic_cast<ASGD*>(asgd.get()), nullptr);
  EXPECT_EQ(OptionsOf<ASGDOptions>(*asgd).lambd(), 1e-4);
  EXPECT_EQ(OptionsOf<ASGDOptions>(*asgd).alpha(), 0.75);
  EXPECT_EQ(OptionsOf<ASGDOptions>(*asgd).t0(), 100);

  auto rprop = BuildOrDie({{"name", "rprop"}, {"step_sizes", {1e-4, 1}}});
  ASSERT_NE(dynamic_cast<Rprop*>(rprop.get()), nullptr);
  EXPECT_EQ(std::get<0>(OptionsOf<RpropOptions>(*rprop).etas()), 0.5);
  EXPECT_EQ(std::get<1>(OptionsOf<RpropOptions>(*rprop).etas()), 1.2);
  EXPECT_EQ(std::get<0>(OptionsOf<RpropOptions>(*rprop).step_sizes()), 1e-4);
  EXPECT_EQ(std::get<1>(OptionsOf<RpropOptions>(*rprop).step_sizes()), 1.0);

  auto adam = BuildOrDie({{"name", "Adam"}, {"amsgrad", true}, {"maximize", true}});
  EXPECT_TRUE(OptionsOf<AdamOptions>(*adam).amsgrad());
  EXPECT_TRUE(OptionsOf<AdamOptions>(*adam).maximize());
}

TEST(MakeOptimizerTest, BuildsLibTorchsLbfgs) {
  auto lbfgs = BuildOrDie({{"name", "lbfgs"}});
  ASSERT_NE(dynamic_cast<torch::optim::LBFGS*>(lbfgs.get()), nullptr);
  const auto& options = OptionsOf<torch::optim::LBFGSOptions>(*lbfgs);
  EXPECT_EQ(options.lr(), 1.0);
  EXPECT_EQ(options.max_iter(), 20);
  EXPECT_EQ(options.max_eval(), 25);  // torch's max_iter * 5 // 4
  EXPECT_EQ(options.history_size(), 100);
  EXPECT_FALSE(options.line_search_fn().has_value());
  EXPECT_TRUE(NeedsLossClosure({{"name", "lbfgs"}}));
  EXPECT_FALSE(NeedsLossClosure({{"name", "Adam"}}));

  auto wolfe = BuildOrDie(
      {{"name", "LBFGS"}, {"max_iter", 4}, {"max_eval", 7}, {"line_search_fn", "strong_wolfe"}});
  const auto& wolfe_options = OptionsOf<torch::optim::LBFGSOptions>(*wolfe);
  EXPECT_EQ(wolfe_options.max_eval(), 7);
  EXPECT_EQ(wolfe_options.line_search_fn(), "strong_wolfe");
}

TEST(MakeOptimizerTest, LbfgsMinimizesWithAClosure) {
  torch::Tensor x = torch::tensor({3.0, -2.0}, torch::kFloat64).requires_grad_();
  auto lbfgs = MakeOptimizer({{"name", "LBFGS"}, {"line_search_fn", "strong_wolfe"}}, {x});
  ASSERT_TRUE(lbfgs.ok()) << lbfgs.status();
  auto closure = [&] {
    (*lbfgs)->zero_grad();
    torch::Tensor loss = (x - torch::tensor({1.0, 1.0}, torch::kFloat64)).pow(2).sum();
    loss.backward();
    return loss;
  };
  for (int i = 0; i < 3; ++i) (*lbfgs)->step(closure);
  EXPECT_TRUE(torch::allclose(x, torch::tensor({1.0, 1.0}, torch::kFloat64)));
}

// The checks torch's constructors make, with torch's message.
TEST(MakeOptimizerTest, RejectsWhatTorchsConstructorsReject) {
  EXPECT_THAT(ErrorOf({{"name", "Adam"}, {"lr", -0.1}}),
              HasSubstr("optimizer.lr: must be >= 0, got -0.1 (torch: Invalid learning rate)"));
  EXPECT_THAT(ErrorOf({{"name", "AdamW"}, {"betas", {0.9, 1}}}),
              HasSubstr("optimizer.betas: must both be in [0, 1), got [0.9, 1] (torch: Invalid "
                        "beta parameter at index 1)"));
  EXPECT_THAT(ErrorOf({{"name", "RAdam"}, {"eps", -1e-8}}), HasSubstr("optimizer.eps"));
  EXPECT_THAT(ErrorOf({{"name", "NAdam"}, {"momentum_decay", -1}}),
              HasSubstr("optimizer.momentum_decay: must be >= 0, got -1 (torch: Invalid "
                        "momentum_decay value)"));
  EXPECT_THAT(ErrorOf({{"name", "Adamax"}, {"weight_decay", -1}}),
              HasSubstr("optimizer.weight_decay"));
  EXPECT_THAT(ErrorOf({{"name", "Adadelta"}, {"rho", 1.5}}),
              HasSubstr("optimizer.rho: must be in [0, 1], got 1.5 (torch: Invalid rho value)"));
  EXPECT_THAT(ErrorOf({{"name", "Adagrad"}, {"initial_accumulator_value", -1}}),
              HasSubstr("optimizer.initial_accumulator_value"));
  EXPECT_THAT(ErrorOf({{"name", "RMSprop"}, {"alpha", -0.5}}), HasSubstr("optimizer.alpha"));
  EXPECT_THAT(ErrorOf({{"name", "ASGD"}, {"weight_decay", -1}}),
              HasSubstr("optimizer.weight_decay"));
  EXPECT_THAT(ErrorOf({{"name", "Rprop"}, {"etas", {0.5, 1}}}),
              HasSubstr("optimizer.etas: must be [etaminus, etaplus] with 0 < etaminus < 1 < "
                        "etaplus, got [0.5, 1] (torch: Invalid eta values)"));
  EXPECT_THAT(ErrorOf({{"name", "SGD"},
                       {"lr", 0.1},
                       {"momentum", 0.9},
                       {"dampening", 0.1},
                       {"nesterov", true}}),
              HasSubstr("optimizer.nesterov"));
  EXPECT_THAT(ErrorOf({{"name", "LBFGS"}, {"line_search_fn", "backtracking"}}),
              HasSubstr("optimizer.line_search_fn"));
  EXPECT_THAT(ErrorOf({{"name", "LBFGS"}, {"max_eval", 2.5}}), HasSubstr("optimizer.max_eval"));
  EXPECT_THAT(ErrorOf({{"name", "NAdam"}, {"maximize", true}}), HasSubstr("optimizer.maximize"));
}

// Only what torch checks: values torch accepts are accepted.
TEST(MakeOptimizerTest, AcceptsWhatTorchsConstructorsAccept) {
  BuildOrDie({{"name", "Adadelta"}, {"rho", 1.0}});
  BuildOrDie({{"name", "Adam"}, {"betas", {0, 0}}, {"lr", 0}, {"eps", 0}});
  BuildOrDie({{"name", "SGD"}, {"lr", 0.1}, {"dampening", -1}});
  BuildOrDie({{"name", "ASGD"}, {"lambd", -1}, {"alpha", -2}, {"t0", -5}});
  BuildOrDie({{"name", "Rprop"}, {"step_sizes", {5, 1}}});
  BuildOrDie({{"name", "RMSprop"}, {"alpha", 2}});
}

// What torch's CyclicLR and OneCycleLR cycle: momentum, or betas[0].
TEST(MakeOptimizerTest, HyperparametersReachMomentumAndBetas) {
  for (const char* name : {"SGD", "RMSprop"}) {
    auto optimizer = BuildOrDie({{"name", name}, {"lr", 0.1}, {"momentum", 0.5}});
    auto& options = optimizer->param_groups()[0].options();
    EXPECT_EQ(GetMomentum(options), 0.5) << name;
    EXPECT_TRUE(SetMomentum(options, 0.8)) << name;
    EXPECT_EQ(GetMomentum(options), 0.8) << name;
    EXPECT_FALSE(GetBetas(options).has_value()) << name;
  }
  for (const char* name : {"Adam", "AdamW", "Adamax", "NAdam", "RAdam"}) {
    auto optimizer = BuildOrDie({{"name", name}, {"betas", {0.7, 0.8}}});
    auto& options = optimizer->param_groups()[0].options();
    EXPECT_EQ(GetBetas(options), std::make_tuple(0.7, 0.8)) << name;
    EXPECT_TRUE(SetBetas(options, {0.95, 0.8})) << name;
    EXPECT_EQ(GetBetas(options), std::make_tuple(0.95, 0.8)) << name;
    EXPECT_FALSE(GetMomentum(options).has_value()) << name;
    EXPECT_FALSE(SetMomentum(options, 0.9)) << name;
  }
  auto adagrad = BuildOrDie({{"name", "Adagrad"}});
  EXPECT_FALSE(GetMomentum(adagrad->param_groups()[0].options()).has_value());
  EXPECT_FALSE(SetBetas(adagrad->param_groups()[0].options(), {0.9, 0.9}));
}

}  // namespace
}  // namespace segtune::optim
