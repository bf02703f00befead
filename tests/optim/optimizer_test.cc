// Our optimizers (sgd.h, adam.h, ...): trajectories against torch.optim
// 1.13, state save/load, loss closures, maximize, param groups, float32.
#include <cmath>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <torch/torch.h>

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

using nlohmann::json;
using ::testing::HasSubstr;

// Two parameters, [3] and [2, 2], holding 0.3 * j - 0.5 for j = 0..6.
std::vector<torch::Tensor> Parameters(torch::Dtype dtype = torch::kFloat64) {
  std::vector<double> values;
  for (int j = 0; j < 7; ++j) values.push_back(0.3 * j - 0.5);
  torch::Tensor all = torch::tensor(values, torch::kFloat64);
  return {all.slice(0, 0, 3).to(dtype).requires_grad_(),
          all.slice(0, 3, 7).reshape({2, 2}).to(dtype).requires_grad_()};
}

// Step k's gradient of element j, counting across both parameters:
// ((7j + 3k) % 11 - 5) / 4, so signs change and some gradients are zero.
// `sign` -1 negates them.
void SetGradients(std::vector<torch::Tensor>& params, int step, double sign = 1) {
  int j = 0;
  for (torch::Tensor& param : params) {
    std::vector<double> grad;
    for (int64_t i = 0; i < param.numel(); ++i, ++j) {
      grad.push_back(sign * (((7 * j + 3 * step) % 11) - 5) / 4.0);
    }
    param.mutable_grad() =
        torch::tensor(grad, torch::kFloat64).reshape(param.sizes()).to(param.scalar_type());
  }
}

std::unique_ptr<torch::optim::Optimizer> Make(const json& args,
                                              const std::vector<torch::Tensor>& params) {
  absl::StatusOr<std::unique_ptr<torch::optim::Optimizer>> optimizer = MakeOptimizer(args, params);
  EXPECT_TRUE(optimizer.ok()) << optimizer.status();
  return optimizer.ok() ? *std::move(optimizer) : nullptr;
}

// Steps `optimizer` over `params` for steps [first, last).
void Steps(torch::optim::Optimizer& optimizer, std::vector<torch::Tensor>& params, int first,
           int last, double sign = 1) {
  for (int step = first; step < last; ++step) {
    SetGradients(params, step, sign);
    optimizer.step();
  }
}

std::vector<double> Values(const std::vector<torch::Tensor>& params) {
  std::vector<double> values;
  for (const torch::Tensor& param : params) {
    torch::Tensor flat = param.detach().to(torch::kFloat64).flatten();
    for (int64_t i = 0; i < flat.numel(); ++i) values.push_back(flat[i].item<double>());
  }
  return values;
}

std::vector<torch::Tensor> Clone(const std::vector<torch::Tensor>& params) {
  std::vector<torch::Tensor> clones;
  for (const torch::Tensor& param : params) {
    clones.push_back(param.detach().clone().requires_grad_());
  }
  return clones;
}

bool Identical(const std::vector<torch::Tensor>& a, const std::vector<torch::Tensor>& b) {
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (!torch::equal(a[i], b[i])) return false;
  }
  return a.size() == b.size();
}

struct Trajectory {
  json args;
  std::vector<double> expected;  // both parameters after 8 steps, flattened
};

// Generated with /usr/bin/python3 (torch 1.13.1) as follows, printing
// repr(trajectory(name, **kwargs)) for each row:
//
//   def trajectory(name, steps=8, **kwargs):
//       params = [torch.tensor([0.3 * j - 0.5 for j in range(3)], dtype=torch.float64,
//                              requires_grad=True),
//                 torch.tensor([0.3 * j - 0.5 for j in range(3, 7)],
//                              dtype=torch.float64).reshape(2, 2).requires_grad_()]
//       optimizer = getattr(torch.optim, name)(params, **kwargs)
//       for k in range(steps):
//           for p, offset in zip(params, (0, 3)):
//               p.grad = torch.tensor([((7 * (offset + j) + 3 * k) % 11 - 5) / 4.0
//                                      for j in range(p.numel())],
//                                     dtype=torch.float64).reshape(p.shape)
//           optimizer.step()
//       return [v for p in params for v in p.detach().flatten().tolist()]
//
// Our optimizers run the same ATen kernels in the same order, so the values
// match bit for bit; tensors this small take ATen's scalar loops, whatever
// the CPU's vector width.
std::vector<Trajectory> Trajectories() {
  return {
      {{{"name", "SGD"},
        {"lr", 0.1},
        {"momentum", 0.9},
        {"dampening", 0.1},
        {"weight_decay", 0.01}},
       {0.15078685110234125, -0.6088186796992028, 0.019869189485936127, 0.1337209005331505,
        0.2550856313305164, 1.5536522509906554, 0.8183617520107972}},
      {{{"name", "SGD"}, {"lr", 0.1}, {"momentum", 0.9}, {"nesterov", true}, {"maximize", true}},
       {-1.07399100875, 0.216185918, 0.25506004200000004, 0.6639065462499999, 1.2152148177500002,
        0.3083639417500001, 1.8433629459999998}},
      {{{"name", "Adam"},
        {"lr", 0.1},
        {"betas", {0.8, 0.9}},
        {"weight_decay", 0.1},
        {"amsgrad", true}},
       {-0.21706272775846902, -0.41150575353402463, 0.1282268544272505, 0.2577975794156811,
        0.40128049204477984, 1.1775494356494287, 1.033392886052879}},
      {{{"name", "AdamW"}, {"lr", 0.1}, {"weight_decay", 0.1}, {"maximize", true}},
       {-0.7568527527604108, 0.07961420593641085, 0.03489126246033207, 0.506134995872254,
        0.9033246074022425, 0.6348490459776592, 1.3694949723517802}},
      {{{"name", "Adagrad"},
        {"lr", 0.1},
        {"lr_decay", 0.05},
        {"weight_decay", 0.1},
        {"initial_accumulator_value", 0.2}},
       {-0.4306270752463634, -0.2865758302983911, 0.08498088620106484, 0.3317272697136599,
        0.5678465906057878, 1.054794972656825, 1.1747853449583106}},
      {{{"name", "RMSprop"},
        {"lr", 0.01},
        {"momentum", 0.5},
        {"centered", true},
        {"weight_decay", 0.1}},
       {-0.3278480227694421, -0.42097542052541337, 0.0705588088155507, 0.28824726385259264,
        0.3347834851025592, 1.1139413313175541, 1.0437033081019995}},
      {{{"name", "Adadelta"}, {"lr", 0.5}, {"rho", 0.8}, {"weight_decay", 0.1}},
       {-0.4999211183243421, -0.2004678769684215, 0.09928548752124161, 0.3989693018097825,
        0.697332432213726, 1.0009888599147878, 1.2973191462258955}},
      {{{"name", "Adamax"}, {"lr", 0.05}, {"weight_decay", 0.1}},
       {-0.36723882629053967, -0.30770442942161086, 0.13672847684485678, 0.3245431904086029,
        0.5749742227110195, 1.0855457884024007, 1.192710353931783}},
      {{{"name", "NAdam"}, {"lr", 0.05}, {"weight_decay", 0.1}, {"momentum_decay", 0.01}},
       {-0.4643193197411255, -0.25480603462200246, 0.08512064529500521, 0.34574937291537217,
        0.5798236401371003, 1.0452922853162756, 1.186191874486585}},
      // Rectification starts at step 6 (rho_t > 5).
      {{{"name", "RAdam"}, {"lr", 0.05}, {"weight_decay", 0.1}},
       {-0.3461177456576965, -0.3050086097704006, 0.12122404859158022, 0.3008199532251611,
        0.6328909937595802, 1.0620272777176052, 1.205492907409132}},
      // Averaging starts after t0 = 3 steps.
      {{{"name", "ASGD"},
        {"lr", 0.05},
        {"lambd", 0.01},
        {"alpha", 0.5},
        {"t0", 3},
        {"weight_decay", 0.1}},
       {-0.48088618767568925, -0.20218185361917285, 0.0708658318574551, 0.34601514589844806,
        0.6211929710218668, 1.0300650799258524, 1.1701023763677363}},
      {{{"name", "Rprop"}, {"lr", 0.05}, {"etas", {0.4, 1.3}}, {"step_sizes", {1e-3, 0.2}}},
       {-0.40476, -0.3306, 0.13479999999999995, 0.33479999999999993, 0.6006, 1.012,
        1.2587999999999997}},
  };
}

void PrintTo(const Trajectory& trajectory, std::ostream* os) { *os << trajectory.args.dump(); }

class TrajectoryTest : public ::testing::TestWithParam<Trajectory> {};

TEST_P(TrajectoryTest, MatchesTorchBitForBit) {
  std::vector<torch::Tensor> params = Parameters();
  auto optimizer = Make(GetParam().args, params);
  ASSERT_NE(optimizer, nullptr);
  Steps(*optimizer, params, 0, 8);
  const std::vector<double> actual = Values(params);
  ASSERT_EQ(actual.size(), GetParam().expected.size());
  for (std::size_t i = 0; i < actual.size(); ++i) {
    EXPECT_EQ(actual[i], GetParam().expected[i]) << "element " << i;
  }
}

// The same trajectories with float32 parameters: the state follows the
// parameters' dtype, and the values stay within float32's precision of
// torch's float64 ones.
TEST_P(TrajectoryTest, WorksWithFloat32Parameters) {
  std::vector<torch::Tensor> params = Parameters(torch::kFloat32);
  auto optimizer = Make(GetParam().args, params);
  ASSERT_NE(optimizer, nullptr);
  Steps(*optimizer, params, 0, 8);
  for (const torch::Tensor& param : params) EXPECT_EQ(param.scalar_type(), torch::kFloat32);
  const std::vector<double> actual = Values(params);
  for (std::size_t i = 0; i < actual.size(); ++i) {
    EXPECT_NEAR(actual[i], GetParam().expected[i], 1e-5) << "element " << i;
  }
}

// Saved after 4 steps and loaded into a new optimizer over copies of the
// parameters, the state continues exactly as without the interruption,
// including an lr changed since construction (torch's load_state_dict
// restores hyperparameters too).
TEST_P(TrajectoryTest, SaveAndLoadContinueBitForBit) {
  std::vector<torch::Tensor> params = Parameters();
  auto optimizer = Make(GetParam().args, params);
  ASSERT_NE(optimizer, nullptr);
  Steps(*optimizer, params, 0, 4);
  auto& options = optimizer->param_groups()[0].options();
  options.set_lr(options.get_lr() / 2);

  std::stringstream stream;
  torch::serialize::OutputArchive output;
  optimizer->save(output);
  output.save_to(stream);

  std::vector<torch::Tensor> resumed_params = Clone(params);
  auto resumed = Make(GetParam().args, resumed_params);
  ASSERT_NE(resumed, nullptr);
  torch::serialize::InputArchive input;
  input.load_from(stream);
  resumed->load(input);
  EXPECT_EQ(resumed->param_groups()[0].options().get_lr(), options.get_lr());

  Steps(*optimizer, params, 4, 8);
  Steps(*resumed, resumed_params, 4, 8);
  EXPECT_TRUE(Identical(params, resumed_params));
}

TEST_P(TrajectoryTest, CallsTheClosureWithGradientsAndReturnsItsLoss) {
  std::vector<torch::Tensor> params = Parameters();
  auto optimizer = Make(GetParam().args, params);
  ASSERT_NE(optimizer, nullptr);
  int calls = 0;
  bool grad_enabled = false;
  torch::NoGradGuard no_grad;
  const torch::Tensor loss = optimizer->step([&] {
    ++calls;
    grad_enabled = torch::GradMode::is_enabled();
    SetGradients(params, 0);
    return torch::tensor(2.5);
  });
  EXPECT_EQ(calls, 1);
  EXPECT_TRUE(grad_enabled);
  ASSERT_TRUE(loss.defined());
  EXPECT_EQ(loss.item<double>(), 2.5);
  EXPECT_FALSE(Identical(params, Parameters()));  // the closure's gradients were used
}

INSTANTIATE_TEST_SUITE_P(Optimizers, TrajectoryTest, ::testing::ValuesIn(Trajectories()),
                         [](const ::testing::TestParamInfo<Trajectory>& info) {
                           return info.param.args.at("name").get<std::string>() +
                                  std::to_string(info.index);
                         });

TEST(OptimizerTest, StepWithoutClosureReturnsAnUndefinedLoss) {
  std::vector<torch::Tensor> params = Parameters();
  auto optimizer = Make({{"name", "Adam"}}, params);
  SetGradients(params, 0);
  EXPECT_FALSE(optimizer->step().defined());
}

// maximize with gradient g steps exactly as minimizing with -g.
TEST(OptimizerTest, MaximizeFollowsTheGradientUpward) {
  const std::vector<json> optimizers = {
      {{"name", "SGD"}, {"lr", 0.1}, {"momentum", 0.9}, {"weight_decay", 0.1}},
      {{"name", "Adam"}, {"weight_decay", 0.1}, {"amsgrad", true}},
      {{"name", "AdamW"}},
      {{"name", "Adagrad"}, {"weight_decay", 0.1}},
      {{"name", "RMSprop"}, {"centered", true}, {"momentum", 0.5}, {"weight_decay", 0.1}},
      {{"name", "Adadelta"}, {"weight_decay", 0.1}},
      {{"name", "Adamax"}, {"weight_decay", 0.1}},
      {{"name", "ASGD"}, {"t0", 2}, {"weight_decay", 0.1}},
      {{"name", "Rprop"}},
  };
  for (json args : optimizers) {
    SCOPED_TRACE(args.dump());
    std::vector<torch::Tensor> minimized = Parameters();
    auto minimizer = Make(args, minimized);
    args["maximize"] = true;
    std::vector<torch::Tensor> maximized = Parameters();
    auto maximizer = Make(args, maximized);
    ASSERT_NE(minimizer, nullptr);
    ASSERT_NE(maximizer, nullptr);
    Steps(*minimizer, minimized, 0, 6, -1);
    Steps(*maximizer, maximized, 0, 6);
    EXPECT_TRUE(Identical(minimized, maximized));
  }
}

TEST(OptimizerTest, MaximizedSgdMovesAlongTheGradient) {
  std::vector<torch::Tensor> params = Parameters();
  auto optimizer = Make({{"name", "SGD"}, {"lr", 0.5}, {"maximize", true}}, params);
  SetGradients(params, 0);
  const torch::Tensor expected = params[0].detach() + 0.5 * params[0].grad();
  optimizer->step();
  EXPECT_TRUE(torch::allclose(params[0], expected));
}

TEST(OptimizerTest, SkipsParametersWithoutGradient) {
  std::vector<torch::Tensor> params = Parameters();
  auto optimizer = Make({{"name", "Adam"}, {"lr", 0.1}}, params);
  SetGradients(params, 0);
  params[1].mutable_grad() = torch::Tensor();
  optimizer->step();
  EXPECT_TRUE(torch::equal(params[1], Parameters()[1]));
  EXPECT_FALSE(torch::equal(params[0], Parameters()[0]));
}

TEST(OptimizerTest, AdagradCreatesItsStateAtConstruction) {
  std::vector<torch::Tensor> params = Parameters();
  Adagrad optimizer(params, AdagradOptions().initial_accumulator_value(0.25));
  ASSERT_EQ(optimizer.state().size(), 2u);
  for (const auto& [key, state] : optimizer.state()) {
    const auto& adagrad_state = static_cast<const AdagradParamState&>(*state);
    EXPECT_EQ(adagrad_state.step(), 0);
    EXPECT_TRUE(torch::equal(adagrad_state.sum(), torch::full_like(adagrad_state.sum(), 0.25)));
  }
}

TEST(OptimizerTest, ConstructorsRefuseWhatTorchRefuses) {
  auto message = [](auto build) -> std::string {
    try {
      build();
    } catch (const c10::Error& error) {
      return error.what();
    }
    return "no error";
  };
  const std::vector<torch::Tensor> params = Parameters();
  EXPECT_THAT(message([&] { SGD(params, SGDOptions(-1)); }), HasSubstr("Invalid learning rate"));
  EXPECT_THAT(message([&] { SGD(params, SGDOptions(0.1).nesterov(true)); }),
              HasSubstr("Nesterov momentum requires a momentum and zero dampening"));
  EXPECT_THAT(message([&] {
                Adam(params, AdamOptions().betas({0.9, 1.0}));
              }),
              HasSubstr("Invalid beta parameter at index 1"));
  EXPECT_THAT(message([&] { Adadelta(params, AdadeltaOptions().rho(1.5)); }),
              HasSubstr("Invalid rho value"));
  EXPECT_THAT(message([&] { NAdam(params, NAdamOptions().momentum_decay(-1)); }),
              HasSubstr("Invalid momentum_decay value"));
  EXPECT_THAT(message([&] {
                Rprop(params, RpropOptions().etas({0.5, 1.0}));
              }),
              HasSubstr("Invalid eta values"));
  EXPECT_THAT(message([&] { ASGD(params, ASGDOptions().weight_decay(-1)); }),
              HasSubstr("Invalid weight_decay value"));
}

// An optimizer with two param groups steps each with its own options, as
// two separate optimizers would.
template <typename OptimizerT, typename OptionsT>
struct Kind {
  using Optimizer = OptimizerT;
  using Options = OptionsT;
};

template <typename K>
class ParamGroupTest : public ::testing::Test {};

using AllOptimizers =
    ::testing::Types<Kind<SGD, SGDOptions>, Kind<Adam, AdamOptions>, Kind<AdamW, AdamWOptions>,
                     Kind<Adagrad, AdagradOptions>, Kind<RMSprop, RMSpropOptions>,
                     Kind<Adadelta, AdadeltaOptions>, Kind<Adamax, AdamaxOptions>,
                     Kind<NAdam, NAdamOptions>, Kind<RAdam, RAdamOptions>, Kind<ASGD, ASGDOptions>,
                     Kind<Rprop, RpropOptions>>;
TYPED_TEST_SUITE(ParamGroupTest, AllOptimizers);

TYPED_TEST(ParamGroupTest, EachGroupUsesItsOwnOptions) {
  using Optimizer = typename TypeParam::Optimizer;
  using Options = typename TypeParam::Options;
  const Options first(0.1);
  const Options second(0.02);

  std::vector<torch::Tensor> params = Parameters();
  std::vector<torch::optim::OptimizerParamGroup> groups;
  groups.emplace_back(std::vector<torch::Tensor>{params[0]});
  groups.emplace_back(std::vector<torch::Tensor>{params[1]}, std::make_unique<Options>(second));
  Optimizer grouped(std::move(groups), first);

  std::vector<torch::Tensor> alone = Clone(params);
  Optimizer first_alone(std::vector<torch::Tensor>{alone[0]}, first);
  Optimizer second_alone(std::vector<torch::Tensor>{alone[1]}, second);

  for (int step = 0; step < 5; ++step) {
    SetGradients(params, step);
    SetGradients(alone, step);
    grouped.step();
    first_alone.step();
    second_alone.step();
  }
  EXPECT_TRUE(Identical(params, alone));
  EXPECT_EQ(grouped.param_groups()[1].options().get_lr(), 0.02);
}

}  // namespace
}  // namespace segtune::optim
