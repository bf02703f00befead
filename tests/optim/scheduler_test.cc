// Expected sequences come from PyTorch 1.13 (python3-torch), float64:
//   opt = torch.optim.SGD([p], lr=0.1); s = <scheduler>(opt, ...)
//   for each epoch: opt.step(); s.step()  # or s.step(metric)
//   record opt.param_groups[0]['lr']
#include "segtune/optim/lr_scheduler.h"

#include <memory>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <torch/torch.h>

namespace segtune::optim {
namespace {

using ::testing::HasSubstr;

constexpr double kTolerance = 1e-12;

class LRSchedulerTest : public ::testing::Test {
 protected:
  LRSchedulerTest()
      : parameter_(torch::zeros({1}, torch::kFloat64).requires_grad_()),
        optimizer_(std::vector<torch::Tensor>{parameter_}, torch::optim::SGDOptions(0.1)) {}

  double lr() const { return optimizer_.param_groups()[0].options().get_lr(); }

  // The lr after each of `epochs` steps of an epoch-driven scheduler.
  std::vector<double> Run(LRScheduler& scheduler, int epochs) {
    std::vector<double> lrs;
    for (int i = 0; i < epochs; ++i) {
      scheduler.step();
      lrs.push_back(lr());
    }
    return lrs;
  }

  std::vector<double> Run(ReduceLROnPlateau& scheduler, const std::vector<double>& metrics) {
    std::vector<double> lrs;
    for (double metric : metrics) {
      scheduler.step(metric);
      lrs.push_back(lr());
    }
    return lrs;
  }

  void ExpectSequence(const std::vector<double>& actual, const std::vector<double>& expected) {
    ASSERT_EQ(actual.size(), expected.size());
    for (size_t i = 0; i < expected.size(); ++i) {
      EXPECT_NEAR(actual[i], expected[i], kTolerance) << "epoch " << i + 1;
    }
  }

  torch::Tensor parameter_;
  torch::optim::SGD optimizer_;
};

TEST_F(LRSchedulerTest, StepLR) {
  // StepLR(opt, 3, 0.5)
  StepLR scheduler(optimizer_, StepLROptions(3).gamma(0.5));
  ExpectSequence(Run(scheduler, 10),
                 {0.1, 0.1, 0.05, 0.05, 0.05, 0.025, 0.025, 0.025, 0.0125, 0.0125});
  EXPECT_EQ(scheduler.last_epoch(), 10);
}

TEST_F(LRSchedulerTest, MultiStepLRCountsRepeatedMilestones) {
  // MultiStepLR(opt, [2, 5, 5, 7], 0.3): epoch 5 decays twice
  MultiStepLR scheduler(optimizer_, MultiStepLROptions({2, 5, 5, 7}).gamma(0.3));
  ExpectSequence(Run(scheduler, 9),
                 {0.1, 0.03, 0.03, 0.03, 0.0026999999999999997, 0.0026999999999999997,
                  0.0008099999999999998, 0.0008099999999999998, 0.0008099999999999998});
}

TEST_F(LRSchedulerTest, ExponentialLR) {
  // ExponentialLR(opt, 0.8)
  ExponentialLR scheduler(optimizer_, ExponentialLROptions(0.8));
  ExpectSequence(Run(scheduler, 6),
                 {0.08000000000000002, 0.06400000000000002, 0.051200000000000016,
                  0.04096000000000002, 0.03276800000000001, 0.026214400000000013});
}

TEST_F(LRSchedulerTest, CosineAnnealingLRGoesBackUpPastTMax) {
  // CosineAnnealingLR(opt, 4, 0.001): down to eta_min at 4, up again to 8, ...
  CosineAnnealingLR scheduler(optimizer_, CosineAnnealingLROptions(4).eta_min(0.001));
  ExpectSequence(
      Run(scheduler, 14),
      {0.0855017856687341, 0.0505, 0.0154982143312659, 0.001, 0.015498214331265896,
       0.05050000000000001, 0.08550178566873413, 0.10000000000000003, 0.08550178566873413,
       0.05050000000000003, 0.015498214331265945, 0.001, 0.015498214331265896, 0.0504999999999999});
}

TEST_F(LRSchedulerTest, CosineAnnealingLRIsRecursiveLikeTorch) {
  // The recursive formula accumulates rounding that the closed form
  // (eta_min + (base - eta_min) * (1 + cos(pi * 8 / 4)) / 2 = 0.1) does not;
  // torch reports 0.10000000000000003 at epoch 8, bit for bit.
  CosineAnnealingLR scheduler(optimizer_, CosineAnnealingLROptions(4).eta_min(0.001));
  const std::vector<double> lrs = Run(scheduler, 8);
  EXPECT_EQ(lrs[7], 0.10000000000000003);
  EXPECT_NE(lrs[7], 0.1);
}

TEST_F(LRSchedulerTest, CosineAnnealingLRWithTMaxOneUsesTheClimbBackBranch) {
  // CosineAnnealingLR(opt, 1): every other epoch hits the special case
  CosineAnnealingLR scheduler(optimizer_, CosineAnnealingLROptions(1));
  ExpectSequence(Run(scheduler, 5), {0.0, 0.1, 0.0, 0.1, 0.0});
}

TEST_F(LRSchedulerTest, SchedulersSetEveryParamGroup) {
  torch::Tensor other = torch::zeros({1}, torch::kFloat64).requires_grad_();
  optimizer_.add_param_group(
      torch::optim::OptimizerParamGroup({other}, std::make_unique<torch::optim::SGDOptions>(0.01)));
  StepLR scheduler(optimizer_, StepLROptions(1).gamma(0.5));
  scheduler.step();
  EXPECT_NEAR(optimizer_.param_groups()[0].options().get_lr(), 0.05, kTolerance);
  EXPECT_NEAR(optimizer_.param_groups()[1].options().get_lr(), 0.005, kTolerance);
  EXPECT_EQ(scheduler.get_last_lr().size(), 2U);
}

const std::vector<double> kPlateauMetrics = {1.0,  0.9, 0.95, 0.91, 0.9, 0.92,
                                             0.93, 0.5, 0.6,  0.6,  0.6, 0.6};

TEST_F(LRSchedulerTest, ReduceLROnPlateauMinRel) {
  // ReduceLROnPlateau(opt, patience=1, factor=0.5)
  ReduceLROnPlateau scheduler(optimizer_, ReduceLROnPlateauOptions().patience(1).factor(0.5));
  ExpectSequence(Run(scheduler, kPlateauMetrics),
                 {0.1, 0.1, 0.1, 0.05, 0.05, 0.025, 0.025, 0.025, 0.025, 0.0125, 0.0125, 0.00625});
}

TEST_F(LRSchedulerTest, ReduceLROnPlateauCooldownAndMinLr) {
  // ReduceLROnPlateau(opt, patience=0, factor=0.5, cooldown=2, min_lr=0.02)
  ReduceLROnPlateau scheduler(
      optimizer_, ReduceLROnPlateauOptions().patience(0).factor(0.5).cooldown(2).min_lr(0.02));
  ExpectSequence(Run(scheduler, kPlateauMetrics),
                 {0.1, 0.1, 0.05, 0.05, 0.05, 0.025, 0.025, 0.025, 0.02, 0.02, 0.02, 0.02});
}

TEST_F(LRSchedulerTest, ReduceLROnPlateauMaxAbs) {
  // ReduceLROnPlateau(opt, mode='max', threshold_mode='abs', threshold=0.01,
  //                   patience=1, factor=0.1)
  using Options = ReduceLROnPlateauOptions;
  ReduceLROnPlateau scheduler(optimizer_, Options()
                                              .mode(Options::Mode::kMax)
                                              .threshold_mode(Options::ThresholdMode::kAbs)
                                              .threshold(0.01)
                                              .patience(1)
                                              .factor(0.1));
  ExpectSequence(Run(scheduler, {0.1, 0.2, 0.2, 0.205, 0.21, 0.3, 0.3, 0.3}),
                 {0.1, 0.1, 0.1, 0.010000000000000002, 0.010000000000000002, 0.010000000000000002,
                  0.010000000000000002, 0.0010000000000000002});
}

TEST_F(LRSchedulerTest, ReduceLROnPlateauSkipsDecaysSmallerThanEps) {
  // ReduceLROnPlateau(opt, patience=0, factor=0.5, eps=0.03): 0.05 -> 0.025 is too small
  ReduceLROnPlateau scheduler(optimizer_,
                              ReduceLROnPlateauOptions().patience(0).factor(0.5).eps(0.03));
  ExpectSequence(Run(scheduler, {1, 1, 1, 1, 1}), {0.1, 0.05, 0.05, 0.05, 0.05});
}

TEST(LRSchedulerOptionsTest, ValidateNamesTheBadArgument) {
  EXPECT_THAT(StepLROptions(0).Validate().message(), HasSubstr("step_size"));
  EXPECT_THAT(CosineAnnealingLROptions(0).Validate().message(), HasSubstr("T_max"));
  EXPECT_THAT(ExponentialLROptions(std::nan("")).Validate().message(), HasSubstr("gamma"));
  EXPECT_THAT(ReduceLROnPlateauOptions().factor(1.0).Validate().message(), HasSubstr("factor"));
  EXPECT_THAT(ReduceLROnPlateauOptions().patience(-1).Validate().message(), HasSubstr("patience"));
  EXPECT_TRUE(StepLROptions(1).Validate().ok());
  EXPECT_TRUE(ReduceLROnPlateauOptions().Validate().ok());
}

}  // namespace
}  // namespace segtune::optim
