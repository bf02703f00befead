// The simulator's lrs against torch's: each expected list is the lr at the
// start of epochs 1..8 (SGD lr 0.1, 3 optimizer steps per epoch), printed by
// this script with torch 1.13.1 (/usr/bin/python3):
//
//   import torch
//   def run(make, per_step=False, epochs=8, spe=3):
//       p = torch.nn.Parameter(torch.zeros(1))
//       opt = torch.optim.SGD([p], lr=0.1)
//       s = make(opt)
//       out = []
//       for e in range(epochs):
//           out.append(opt.param_groups[0]['lr'])
//           for _ in range(spe):
//               opt.step()
//               if per_step: s.step()
//           if not per_step: s.step()
//       return out
//   S = torch.optim.lr_scheduler
//   print(run(lambda o: S.StepLR(o, 3, 0.5)))    # and likewise for each case below
//   print(run(lambda o: S.OneCycleLR(o, 0.1, total_steps=24, cycle_momentum=False),
//             per_step=True))
#include <cmath>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "simulation_fixture.h"

namespace segtune::simulate::testing {
namespace {

using nlohmann::json;

struct ScheduleCase {
  std::string label;
  json scheduler;
  std::vector<double> expected;
};

class SimulatedSchedules : public ::testing::TestWithParam<ScheduleCase> {};

TEST_P(SimulatedSchedules, LrsEqualTorchs) {
  const ScheduleCase& c = GetParam();
  const Recorded run = Simulate(Config({{"name", "SGD"}, {"lr", 0.1}}, c.scheduler));
  ASSERT_EQ(run.result.outcome, train::Outcome::kCompleted) << run.result.reason;
  const std::vector<double> lrs = Lrs(run);
  ASSERT_EQ(lrs.size(), c.expected.size());
  for (size_t i = 0; i < lrs.size(); ++i) {
    EXPECT_NEAR(lrs[i], c.expected[i], 1e-12 + 1e-12 * std::abs(c.expected[i])) << "epoch " << i + 1;
  }
}

INSTANTIATE_TEST_SUITE_P(
    Torch, SimulatedSchedules,
    ::testing::Values(
        ScheduleCase{"StepLR", {{"name", "StepLR"}, {"step_size", 3}, {"gamma", 0.5}},
                     {0.1, 0.1, 0.1, 0.05, 0.05, 0.05, 0.025, 0.025}},
        ScheduleCase{"MultiStepLR", {{"name", "MultiStepLR"}, {"milestones", {4, 6}}, {"gamma", 0.3}},
                     {0.1, 0.1, 0.1, 0.1, 0.03, 0.03, 0.009, 0.009}},
        ScheduleCase{"ExponentialLR", {{"name", "exponential"}, {"gamma", 0.8}},
                     {0.1, 0.08000000000000002, 0.06400000000000002, 0.051200000000000016,
                      0.04096000000000002, 0.03276800000000001, 0.026214400000000013,
                      0.02097152000000001}},
        // T_max 3 over 8 epochs: past T_max the cosine climbs back, as torch's does.
        ScheduleCase{"CosineAnnealingLR", {{"name", "CosineAnnealingLR"}, {"T_max", 3}, {"eta_min", 0.001}},
                     {0.1, 0.07525000000000001, 0.025750000000000016, 0.001, 0.025749999999999995,
                      0.07525000000000005, 0.10000000000000006, 0.07525000000000007}},
        ScheduleCase{"LambdaLR", {{"name", "LambdaLR"}, {"lr_lambda", "1 / (1 + 0.3 * epoch)"}},
                     {0.1, 0.07692307692307693, 0.0625, 0.05263157894736842, 0.045454545454545456,
                      0.04000000000000001, 0.03571428571428572, 0.03225806451612903}},
        ScheduleCase{"CosineAnnealingWarmRestarts",
                     {{"name", "CosineAnnealingWarmRestarts"}, {"T_0", 2}, {"T_mult", 2}, {"eta_min", 0.005}},
                     {0.1, 0.0525, 0.1, 0.086087572106361, 0.0525, 0.018912427893638995, 0.1,
                      0.09638427779428613}},
        ScheduleCase{"LinearLR",
                     {{"name", "LinearLR"}, {"start_factor", 0.25}, {"end_factor", 1.0}, {"total_iters", 4}},
                     {0.025, 0.043750000000000004, 0.06250000000000001, 0.08125000000000002,
                      0.10000000000000002, 0.10000000000000002, 0.10000000000000002, 0.10000000000000002}},
        ScheduleCase{"ConstantLR", {{"name", "ConstantLR"}, {"factor", 0.5}, {"total_iters", 2}},
                     {0.05, 0.05, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1}},
        ScheduleCase{"PolynomialLR", {{"name", "PolynomialLR"}, {"total_iters", 4}, {"power", 2.0}},
                     {0.1, 0.05625, 0.024999999999999998, 0.0062499999999999995, 0.0, 0.0, 0.0, 0.0}},
        // Stepped per epoch here (segtune's interval), as the script does.
        ScheduleCase{"CyclicLR",
                     {{"name", "CyclicLR"}, {"base_lr", 0.01}, {"max_lr", 0.1}, {"step_size_up", 2},
                      {"mode", "triangular2"}, {"cycle_momentum", false}, {"interval", "epoch"}},
                     {0.01, 0.05500000000000001, 0.1, 0.05500000000000001, 0.01, 0.0325,
                      0.05500000000000001, 0.0325}},
        // Stepped per optimizer step (its default interval): the lr at each
        // epoch's start is the one after 3 (e - 1) steps.
        ScheduleCase{"OneCycleLR",
                     {{"name", "OneCycleLR"}, {"max_lr", 0.1}, {"total_steps", 24}, {"cycle_momentum", false}},
                     {0.0040000000000000036, 0.049568839895741804, 0.09975372752281098,
                      0.09330129698414118, 0.07336353795992745, 0.046263710266697504,
                      0.020309309485362026, 0.0034566987425395223}}),
    [](const ::testing::TestParamInfo<ScheduleCase>& info) { return info.param.label; });

// ReduceLROnPlateau watches the simulated val_loss; at a tiny lr the loss
// stays flat, so patience 1 must cut the lr, each time by the factor.
TEST(SimulatedPlateau, CutsTheLrByItsFactorWhenTheMonitoredLossStalls) {
  const Recorded run = Simulate(Config({{"name", "SGD"}, {"lr", 1e-6}},
                                  {{"name", "ReduceLROnPlateau"}, {"factor", 0.5}, {"patience", 1}},
                                  12));
  ASSERT_EQ(run.result.outcome, train::Outcome::kCompleted) << run.result.reason;
  const std::vector<double> lrs = Lrs(run);
  int cuts = 0;
  for (size_t i = 1; i < lrs.size(); ++i) {
    if (lrs[i] != lrs[i - 1]) {
      EXPECT_DOUBLE_EQ(lrs[i], lrs[i - 1] * 0.5) << "epoch " << i + 1;
      ++cuts;
    }
  }
  EXPECT_GE(cuts, 1);
}

TEST(SimulatedSchedules, SequentialLrIsRejectedByName) {
  const Recorded run = Simulate(Config(
      {{"name", "SGD"}, {"lr", 0.1}},
      {{"name", "SequentialLR"},
       {"schedulers", {{{"name", "ConstantLR"}}, {{"name", "ExponentialLR"}, {"gamma", 0.9}}}},
       {"milestones", {2}}}));
  EXPECT_EQ(run.result.outcome, train::Outcome::kFailed);
  EXPECT_NE(run.result.reason.find("scheduler.name: SequentialLR is not simulated"), std::string::npos)
      << run.result.reason;
}

}  // namespace
}  // namespace segtune::simulate::testing
