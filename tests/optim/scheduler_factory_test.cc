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

class MakeSchedulerTest : public ::testing::Test {
 protected:
  MakeSchedulerTest() : optimizer_(Parameters(), torch::optim::SGDOptions(0.1)) {}

  double lr() const { return optimizer_.param_groups()[0].options().get_lr(); }

  std::unique_ptr<Scheduler> BuildOrDie(const json& params) {
    absl::StatusOr<std::unique_ptr<Scheduler>> scheduler = MakeScheduler(params, optimizer_, Budget{});
    EXPECT_TRUE(scheduler.ok()) << scheduler.status();
    return scheduler.ok() ? *std::move(scheduler) : nullptr;
  }

  std::string ErrorOf(const json& params) {
    absl::StatusOr<std::unique_ptr<Scheduler>> scheduler = MakeScheduler(params, optimizer_, Budget{});
    EXPECT_FALSE(scheduler.ok()) << params.dump();
    return std::string(scheduler.status().message());
  }

  torch::optim::SGD optimizer_;
};

TEST_F(MakeSchedulerTest, BuildsEpochDrivenSchedulers) {
  auto step = BuildOrDie({{"name", "StepLR"}, {"step_size", 1}, {"gamma", 0.5}});
  ASSERT_NE(step, nullptr);
  EXPECT_EQ(step->monitor(), "");
  ASSERT_TRUE(step->Step(std::nullopt).ok());
  EXPECT_DOUBLE_EQ(lr(), 0.05);

  auto cosine = BuildOrDie({{"name", "cosine"}, {"T_max", 2}});
  ASSERT_NE(cosine, nullptr);
  ASSERT_TRUE(cosine->Step(std::nullopt).ok());
  EXPECT_NEAR(lr(), 0.025, 1e-12);  // halfway down from 0.05 to 0

  auto multistep = BuildOrDie({{"name", "MultiStepLR"}, {"milestones", {1, 3}}});
  ASSERT_NE(multistep, nullptr);
  ASSERT_TRUE(multistep->Step(std::nullopt).ok());
  EXPECT_NEAR(lr(), 0.0025, 1e-12);  // default gamma 0.1

  auto exponential = BuildOrDie({{"name", "ExponentialLR"}, {"gamma", 0.5}});
  ASSERT_NE(exponential, nullptr);
  ASSERT_TRUE(exponential->Step(std::nullopt).ok());
  EXPECT_NEAR(lr(), 0.00125, 1e-12);
}

TEST_F(MakeSchedulerTest, ReduceLROnPlateauWatchesItsMonitor) {
  auto plateau = BuildOrDie({{"name", "ReduceLROnPlateau"}, {"patience", 0}, {"factor", 0.5}});
  ASSERT_NE(plateau, nullptr);
  EXPECT_EQ(plateau->monitor(), "val_loss");
  EXPECT_THAT(plateau->Step(std::nullopt).message(), HasSubstr("val_loss"));
  ASSERT_TRUE(plateau->Step(1.0).ok());
  ASSERT_TRUE(plateau->Step(1.0).ok());
  EXPECT_DOUBLE_EQ(lr(), 0.05);

  auto on_miou =
      BuildOrDie({{"name", "plateau"}, {"mode", "max"}, {"monitor", "val_miou"}, {"patience", 0}});
  ASSERT_NE(on_miou, nullptr);
  EXPECT_EQ(on_miou->monitor(), "val_miou");
  ASSERT_TRUE(on_miou->Step(0.5).ok());
  ASSERT_TRUE(on_miou->Step(0.6).ok());  // better: no decay
  EXPECT_DOUBLE_EQ(lr(), 0.05);
}

TEST_F(MakeSchedulerTest, RejectsBadArgumentsNamingThem) {
  EXPECT_THAT(ErrorOf({{"name", "StepLR"}}), HasSubstr("scheduler.step_size"));
  EXPECT_THAT(ErrorOf({{"name", "StepLR"}, {"step_size", 0}}), HasSubstr("scheduler.step_size"));
  EXPECT_THAT(ErrorOf({{"name", "CosineAnnealingLR"}, {"T_max", 0}}), HasSubstr("scheduler.T_max"));
  EXPECT_THAT(ErrorOf({{"name", "ReduceLROnPlateau"}, {"mode", "sideways"}}),
              HasSubstr("scheduler.mode"));
  EXPECT_THAT(ErrorOf({{"name", "ReduceLROnPlateau"}, {"factor", 1.5}}),
              HasSubstr("scheduler.factor"));
  EXPECT_THAT(ErrorOf({{"name", "ReduceLROnPlateau"}, {"monitor", "accuracy"}}),
              HasSubstr("scheduler.monitor"));
  EXPECT_THAT(ErrorOf({{"name", "StepLR"}, {"step_size", 2}, {"monitor", "val_loss"}}),
              HasSubstr("scheduler.monitor"));
  EXPECT_THAT(ErrorOf({{"name", "Warmup"}}), HasSubstr("scheduler.name"));
  EXPECT_THAT(ErrorOf({{"name", "StepLR"}, {"step_size", 2}, {"gama", 0.5}}),
              HasSubstr("scheduler.gama"));
  // Nothing was built: the lr is untouched.
  EXPECT_DOUBLE_EQ(lr(), 0.1);
}

}  // namespace
}  // namespace segtune::optim
