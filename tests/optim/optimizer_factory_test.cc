#include "segtune/optim/factory.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <torch/torch.h>

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
  ASSERT_NE(dynamic_cast<torch::optim::SGD*>(optimizer.get()), nullptr);
  const auto& options = OptionsOf<torch::optim::SGDOptions>(*optimizer);
  EXPECT_EQ(options.lr(), 0.05);
  EXPECT_EQ(options.momentum(), 0.9);
  EXPECT_EQ(options.weight_decay(), 0.001);
  EXPECT_FALSE(options.nesterov());
}

TEST(MakeOptimizerTest, AliasesImplyTheirArguments) {
  auto optimizer = BuildOrDie({{"name", "nag"}, {"lr", 0.05}});
  ASSERT_NE(dynamic_cast<torch::optim::SGD*>(optimizer.get()), nullptr);
  const auto& options = OptionsOf<torch::optim::SGDOptions>(*optimizer);
  EXPECT_EQ(options.momentum(), 0.9);
  EXPECT_TRUE(options.nesterov());
}

TEST(MakeOptimizerTest, MissingArgumentsGetTorchDefaults) {
  auto adam = BuildOrDie({{"name", "Adam"}});
  ASSERT_NE(dynamic_cast<torch::optim::Adam*>(adam.get()), nullptr);
  EXPECT_EQ(OptionsOf<torch::optim::AdamOptions>(*adam).lr(), 1e-3);

  auto adamw = BuildOrDie({{"name", "AdamW"}, {"lr", 0.01}, {"betas", {0.8, 0.99}}});
  ASSERT_NE(dynamic_cast<torch::optim::AdamW*>(adamw.get()), nullptr);
  const auto& adamw_options = OptionsOf<torch::optim::AdamWOptions>(*adamw);
  EXPECT_EQ(adamw_options.weight_decay(), 1e-2);
  EXPECT_EQ(std::get<0>(adamw_options.betas()), 0.8);
  EXPECT_EQ(std::get<1>(adamw_options.betas()), 0.99);

  auto adagrad = BuildOrDie({{"name", "Adagrad"}, {"lr_decay", 0.1}});
  ASSERT_NE(dynamic_cast<torch::optim::Adagrad*>(adagrad.get()), nullptr);
  EXPECT_EQ(OptionsOf<torch::optim::AdagradOptions>(*adagrad).lr(), 1e-2);
  EXPECT_EQ(OptionsOf<torch::optim::AdagradOptions>(*adagrad).lr_decay(), 0.1);

  auto rmsprop = BuildOrDie({{"name", "RMSprop"}, {"centered", true}});
  ASSERT_NE(dynamic_cast<torch::optim::RMSprop*>(rmsprop.get()), nullptr);
  EXPECT_EQ(OptionsOf<torch::optim::RMSpropOptions>(*rmsprop).alpha(), 0.99);
  EXPECT_TRUE(OptionsOf<torch::optim::RMSpropOptions>(*rmsprop).centered());
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


}  // namespace
}  // namespace segtune::optim
