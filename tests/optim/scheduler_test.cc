// The schedulers against PyTorch 1.13. Each case below builds a scheduler
// over an optimizer made by MakeOptimizer and steps it; the case of the same
// name in make_scheduler_expected.py builds the same with torch, and
// scheduler_expected.inc holds what torch did: the lr of every param group
// (and with momentum cycling, every momentum or beta1) after construction
// and after every step, in float64. Regenerate it with
//   /usr/bin/python3 tests/optim/make_scheduler_expected.py
#include <cmath>
#include <functional>
#include <memory>
#include <sstream>
#include <string>
#include <tuple>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <torch/torch.h>

#include "segtune/optim/composite_lr.h"
#include "segtune/optim/cosine_annealing_lr.h"
#include "segtune/optim/cyclic_lr.h"
#include "segtune/optim/factory.h"
#include "segtune/optim/hyperparameters.h"
#include "segtune/optim/lr_scheduler.h"
#include "segtune/optim/one_cycle_lr.h"
#include "segtune/optim/reduce_lr_on_plateau.h"

namespace segtune::optim {
namespace {

using nlohmann::json;
using ::testing::HasSubstr;

// What torch did in one case (scheduler_expected.inc).
struct Expected {
  std::string name;
  std::vector<double> lrs;        // [point][group]: after construction, after every step
  std::vector<double> momentums;  // likewise, when the case cycles momentum
  std::vector<double> metrics;    // ReduceLROnPlateau's step(metric)s
  std::vector<int64_t> epochs;    // step(epoch)s instead of step()s
};

const std::vector<Expected>& AllExpected() {
  static const std::vector<Expected> kExpected = {
#include "scheduler_expected.inc"
  };
  return kExpected;
}

const Expected* FindExpected(const std::string& name) {
  for (const Expected& expected : AllExpected()) {
    if (expected.name == name) return &expected;
  }
  return nullptr;
}

using Optimizer = torch::optim::Optimizer;
using Entries = std::shared_ptr<ParamGroupEntries>;
using EpochPtr = std::unique_ptr<EpochLRScheduler>;

using Build = std::function<std::unique_ptr<LRScheduler>(Optimizer&)>;
using BuildPlateau = std::function<std::unique_ptr<ReduceLROnPlateau>(Optimizer&)>;

// One case: the optimizer, and the scheduler over it.
struct Case {
  Case(std::string name, json optimizer, std::vector<double> extra_lrs, Build build)
      : name(std::move(name)),
        optimizer(std::move(optimizer)),
        extra_lrs(std::move(extra_lrs)),
        build(std::move(build)) {}
  Case(std::string name, json optimizer, std::vector<double> extra_lrs, BuildPlateau build)
      : name(std::move(name)),
        optimizer(std::move(optimizer)),
        extra_lrs(std::move(extra_lrs)),
        build_plateau(std::move(build)) {}

  std::string name;
  json optimizer;                 // MakeOptimizer's params
  std::vector<double> extra_lrs;  // one more param group per entry, with that lr
  Build build;                    // or
  BuildPlateau build_plateau;
};

void PrintTo(const Case& test_case, std::ostream* os) { *os << test_case.name; }

json Sgd(double momentum = 0.0) { return {{"name", "SGD"}, {"lr", 0.1}, {"momentum", momentum}}; }
const json kAdam = {{"name", "Adam"}, {"lr", 0.1}};
const json kRmsprop = {{"name", "RMSprop"}, {"lr", 0.1}, {"momentum", 0.5}};

template <typename Schedule, typename Options>
Build Make(Options options) {
  return [options](Optimizer& optimizer) { return std::make_unique<Schedule>(optimizer, options); };
}

BuildPlateau MakePlateau(ReduceLROnPlateauOptions options) {
  return [options](Optimizer& optimizer) {
    return std::make_unique<ReduceLROnPlateau>(optimizer, options);
  };
}

// Inner schedulers are built like torch's, one after another over the
// optimizer, sharing its param-group keys.
template <typename Schedule, typename Options>
std::function<EpochPtr(Optimizer&, const Entries&)> Inner(Options options) {
  return [options](Optimizer& optimizer, const Entries& entries) -> EpochPtr {
    return std::make_unique<Schedule>(optimizer, options, entries);
  };
}

using InnerBuilders = std::vector<std::function<EpochPtr(Optimizer&, const Entries&)>>;

std::vector<EpochPtr> BuildInner(Optimizer& optimizer, const InnerBuilders& builders) {
  auto entries = std::make_shared<ParamGroupEntries>();
  std::vector<EpochPtr> schedulers;
  for (const auto& build : builders) schedulers.push_back(build(optimizer, entries));
  return schedulers;
}

Build Sequential(InnerBuilders builders, std::vector<int64_t> milestones) {
  return [builders, milestones](Optimizer& optimizer) {
    return std::make_unique<SequentialLR>(optimizer, BuildInner(optimizer, builders), milestones);
  };
}

Build Chained(InnerBuilders builders) {
  return [builders](Optimizer& optimizer) {
    return std::make_unique<ChainedScheduler>(BuildInner(optimizer, builders));
  };
}

LambdaLROptions Lambda(const std::string& lr_lambda, Budget budget = {}) {
  return LambdaLROptions(lr_lambda).budget(budget);
}

CyclicLROptions Cyclic(double base_lr, double max_lr, int64_t step_size_up) {
  return CyclicLROptions(base_lr, max_lr).step_size_up(step_size_up);
}

std::vector<Case> AllCases() {
  using Plateau = ReduceLROnPlateauOptions;
  using OneCycle = OneCycleLROptions;
  return {
      {"LambdaLR", Sgd(), {}, Make<LambdaLR>(Lambda("0.95 ^ epoch"))},
      {"LambdaLR_budget", Sgd(), {0.02},
       Make<LambdaLR>(Lambda("1 / (1 + 0.3 * epoch) * (epoch < epochs / 2 ? 1 : 0.5)", {20, 5}))},
      {"MultiplicativeLR", Sgd(), {}, Make<MultiplicativeLR>(Lambda("0.95"))},
      {"MultiplicativeLR_budget", Sgd(), {0.02},
       Make<MultiplicativeLR>(Lambda("1 - 0.1 / (epoch + steps_per_epoch)", {10, 5}))},
      {"StepLR", Sgd(), {}, Make<StepLR>(StepLROptions(3))},
      {"StepLR_gamma", Sgd(), {}, Make<StepLR>(StepLROptions(4).gamma(0.5))},
      {"MultiStepLR", Sgd(), {}, Make<MultiStepLR>(MultiStepLROptions({5, 12, 20}))},
      {"MultiStepLR_gamma", Sgd(), {},
       Make<MultiStepLR>(MultiStepLROptions({3, 8, 8, 15}).gamma(0.3))},
      {"ConstantLR", Sgd(), {}, Make<ConstantLR>(ConstantLROptions())},
      {"ConstantLR_args", Sgd(), {},
       Make<ConstantLR>(ConstantLROptions().factor(0.5).total_iters(10))},
      {"LinearLR", Sgd(), {}, Make<LinearLR>(LinearLROptions())},
      {"LinearLR_args", Sgd(), {0.02},
       Make<LinearLR>(LinearLROptions().start_factor(0.25).end_factor(0.75).total_iters(12))},
      {"ExponentialLR", Sgd(), {}, Make<ExponentialLR>(ExponentialLROptions(0.9))},
      {"PolynomialLR", Sgd(), {}, Make<PolynomialLR>(PolynomialLROptions())},
      {"PolynomialLR_args", Sgd(), {},
       Make<PolynomialLR>(PolynomialLROptions().total_iters(30).power(2.5))},
      {"CosineAnnealingLR", Sgd(), {}, Make<CosineAnnealingLR>(CosineAnnealingLROptions(10))},
      {"CosineAnnealingLR_eta_min", Sgd(), {0.02},
       Make<CosineAnnealingLR>(CosineAnnealingLROptions(7).eta_min(0.01))},
      {"CosineAnnealingWarmRestarts", Sgd(), {},
       Make<CosineAnnealingWarmRestarts>(CosineAnnealingWarmRestartsOptions(5))},
      {"CosineAnnealingWarmRestarts_args", Sgd(), {},
       Make<CosineAnnealingWarmRestarts>(
           CosineAnnealingWarmRestartsOptions(3).T_mult(2).eta_min(0.001))},

      {"CyclicLR", Sgd(0.9), {}, Make<CyclicLR>(Cyclic(0.01, 0.1, 5))},
      {"CyclicLR_triangular2", kAdam, {},
       Make<CyclicLR>(Cyclic(0.01, 0.1, 4)
                          .step_size_down(7)
                          .mode(CyclicLROptions::Mode::kTriangular2)
                          .cycle_momentum(false))},
      {"CyclicLR_exp_range", kRmsprop, {0.02},
       Make<CyclicLR>(Cyclic(0.02, 0.2, 6)
                          .mode(CyclicLROptions::Mode::kExpRange)
                          .gamma(0.97)
                          .base_momentum(0.7)
                          .max_momentum(0.95))},
      {"OneCycleLR", Sgd(0.9), {}, Make<OneCycleLR>(OneCycle(0.1).total_steps(40))},
      {"OneCycleLR_linear_betas", kAdam, {},
       Make<OneCycleLR>(OneCycle(0.2)
                            .epochs(4)
                            .steps_per_epoch(10)
                            .pct_start(0.25)
                            .anneal_strategy(OneCycle::AnnealStrategy::kLinear)
                            .base_momentum(0.8)
                            .max_momentum(0.9)
                            .div_factor(10.0)
                            .final_div_factor(100.0))},
      {"OneCycleLR_three_phase", Sgd(), {0.02},
       Make<OneCycleLR>(OneCycle(0.05).total_steps(35).three_phase(true).cycle_momentum(false))},

      {"ReduceLROnPlateau", Sgd(), {}, MakePlateau(Plateau().patience(2).factor(0.5))},
      {"ReduceLROnPlateau_max_abs", Sgd(), {0.02},
       MakePlateau(Plateau()
                   .mode(Plateau::Mode::kMax)
                   .threshold_mode(Plateau::ThresholdMode::kAbs)
                   .threshold(0.01)
                   .patience(1)
                   .factor(0.3)
                   .cooldown(2)
                   .min_lr(0.005))},
      {"ReduceLROnPlateau_min_abs", Sgd(), {},
       MakePlateau(Plateau()
                   .threshold_mode(Plateau::ThresholdMode::kAbs)
                   .threshold(0.005)
                   .patience(0)
                   .factor(0.7)
                   .eps(1e-3))},
      {"ReduceLROnPlateau_max_rel", Sgd(), {},
       MakePlateau(Plateau()
                   .mode(Plateau::Mode::kMax)
                   .threshold(0.02)
                   .patience(1)
                   .cooldown(1)
                   .min_lr(0.02))},

      {"SequentialLR_warmup_cosine", Sgd(), {},
       Sequential({Inner<LinearLR>(LinearLROptions().start_factor(0.1).total_iters(5)),
                   Inner<CosineAnnealingLR>(CosineAnnealingLROptions(20))},
                  {5})},
      {"SequentialLR_restarts", Sgd(), {},
       Sequential({Inner<ConstantLR>(ConstantLROptions().factor(0.5).total_iters(3)),
                   Inner<ExponentialLR>(ExponentialLROptions(0.9)),
                   Inner<CosineAnnealingWarmRestarts>(
                       CosineAnnealingWarmRestartsOptions(4).T_mult(2))},
                  {4, 12})},
      {"SequentialLR_closed_forms", Sgd(), {0.02},
       Sequential({Inner<StepLR>(StepLROptions(2).gamma(0.5)),
                   Inner<PolynomialLR>(PolynomialLROptions().total_iters(8).power(2.0)),
                   Inner<LambdaLR>(Lambda("0.9 ^ epoch")),
                   Inner<MultiStepLR>(MultiStepLROptions({3, 6})),
                   Inner<MultiplicativeLR>(Lambda("0.97"))},
                  {5, 15, 22, 30})},
      {"SequentialLR_linear", Sgd(), {},
       Sequential({Inner<ConstantLR>(ConstantLROptions().factor(0.2).total_iters(2)),
                   Inner<LinearLR>(LinearLROptions().start_factor(0.5).total_iters(6)),
                   Inner<ExponentialLR>(ExponentialLROptions(0.95))},
                  {3, 10})},
      {"SequentialLR_one_cycle", Sgd(0.9), {},
       Sequential({Inner<ExponentialLR>(ExponentialLROptions(0.8)),
                   Inner<OneCycleLR>(OneCycle(0.3).total_steps(40))},
                  {6})},
      {"SequentialLR_cyclic", Sgd(0.9), {},
       Sequential({Inner<CyclicLR>(Cyclic(0.01, 0.1, 3)),
                   Inner<ConstantLR>(ConstantLROptions().factor(0.1).total_iters(4))},
                  {10})},
      {"ChainedScheduler", Sgd(), {},
       Chained({Inner<ConstantLR>(ConstantLROptions().factor(0.1).total_iters(2)),
                Inner<ExponentialLR>(ExponentialLROptions(0.9))})},
      {"ChainedScheduler_mixed", Sgd(), {0.02},
       Chained({Inner<LinearLR>(LinearLROptions().start_factor(0.2).total_iters(8)),
                Inner<CosineAnnealingWarmRestarts>(CosineAnnealingWarmRestartsOptions(6)),
                Inner<MultiplicativeLR>(Lambda("0.99"))})},
      {"ChainedScheduler_cyclic", Sgd(0.9), {},
       Chained({Inner<ExponentialLR>(ExponentialLROptions(0.95)),
                Inner<CyclicLR>(Cyclic(0.01, 0.05, 4))})},
      {"ChainedScheduler_cosine", Sgd(), {},
       Chained({Inner<CosineAnnealingLR>(CosineAnnealingLROptions(8).eta_min(0.001)),
                Inner<StepLR>(StepLROptions(5).gamma(0.7))})},

      {"StepLR_epochs", Sgd(), {}, Make<StepLR>(StepLROptions(3).gamma(0.5))},
      {"MultiStepLR_epochs", Sgd(), {},
       Make<MultiStepLR>(MultiStepLROptions({5, 12, 12, 20}).gamma(0.3))},
      {"ConstantLR_epochs", Sgd(), {},
       Make<ConstantLR>(ConstantLROptions().factor(0.5).total_iters(10))},
      {"LinearLR_epochs", Sgd(), {},
       Make<LinearLR>(LinearLROptions().start_factor(0.25).end_factor(0.75).total_iters(12))},
      {"ExponentialLR_epochs", Sgd(), {}, Make<ExponentialLR>(ExponentialLROptions(0.9))},
      {"PolynomialLR_epochs", Sgd(), {},
       Make<PolynomialLR>(PolynomialLROptions().total_iters(30).power(2.5))},
      {"CosineAnnealingLR_epochs", Sgd(), {},
       Make<CosineAnnealingLR>(CosineAnnealingLROptions(7).eta_min(0.01))},
      {"CosineAnnealingWarmRestarts_epochs", Sgd(), {},
       Make<CosineAnnealingWarmRestarts>(
           CosineAnnealingWarmRestartsOptions(3).T_mult(2).eta_min(0.001))},
      {"CosineAnnealingWarmRestarts_epochs_T_mult_1", Sgd(), {},
       Make<CosineAnnealingWarmRestarts>(CosineAnnealingWarmRestartsOptions(4))},
      {"LambdaLR_epochs", Sgd(), {}, Make<LambdaLR>(Lambda("0.95 ^ epoch"))},
      {"CyclicLR_epochs", Sgd(0.9), {}, Make<CyclicLR>(Cyclic(0.01, 0.1, 5))},
  };
}

// A case's optimizer and scheduler, stepped as torch's were.
class Subject {
 public:
  Subject(const Case& test_case, const Expected& expected) : expected_(expected) {
    absl::StatusOr<std::unique_ptr<Optimizer>> optimizer =
        MakeOptimizer(test_case.optimizer, {Parameter()});
    if (!optimizer.ok()) throw std::runtime_error(optimizer.status().ToString());
    optimizer_ = *std::move(optimizer);
    for (double lr : test_case.extra_lrs) {
      std::unique_ptr<torch::optim::OptimizerOptions> options = optimizer_->defaults().clone();
      options->set_lr(lr);
      optimizer_->add_param_group(
          torch::optim::OptimizerParamGroup({Parameter()}, std::move(options)));
    }
    if (test_case.build_plateau) {
      plateau_ = test_case.build_plateau(*optimizer_);
    } else {
      schedule_ = test_case.build(*optimizer_);
    }
  }

  // The `point`-th step: step(), step(epoch) or step(metric), as torch's.
  absl::Status Step(size_t point) {
    if (plateau_ != nullptr) {
      plateau_->step(expected_.metrics[point]);
      return absl::OkStatus();
    }
    if (!expected_.epochs.empty()) {
      return dynamic_cast<EpochLRScheduler&>(*schedule_).step(expected_.epochs[point]);
    }
    return schedule_->step();
  }

  size_t Steps() const {
    if (!expected_.metrics.empty()) return expected_.metrics.size();
    if (!expected_.epochs.empty()) return expected_.epochs.size();
    return expected_.lrs.size() / optimizer_->param_groups().size() - 1;
  }

  // Appends every group's lr (and momentum) to `lrs` (`momentums`).
  void Record(std::vector<double>& lrs, std::vector<double>& momentums) const {
    for (const auto& group : optimizer_->param_groups()) {
      lrs.push_back(group.options().get_lr());
      if (expected_.momentums.empty()) continue;
      if (auto betas = GetBetas(group.options())) {
        momentums.push_back(std::get<0>(*betas));
      } else {
        momentums.push_back(GetMomentum(group.options()).value_or(std::nan("")));
      }
    }
  }

  void Save(std::ostream& stream) const {
    torch::serialize::OutputArchive optimizer_archive;
    optimizer_->save(optimizer_archive);
    torch::serialize::OutputArchive scheduler_archive;
    if (plateau_ != nullptr) {
      plateau_->save(scheduler_archive);
    } else {
      schedule_->save(scheduler_archive);
    }
    torch::serialize::OutputArchive archive;
    archive.write("optimizer", optimizer_archive);
    archive.write("scheduler", scheduler_archive);
    archive.save_to(stream);
  }

  void Load(std::istream& stream) {
    torch::serialize::InputArchive archive;
    archive.load_from(stream);
    torch::serialize::InputArchive optimizer_archive;
    archive.read("optimizer", optimizer_archive);
    optimizer_->load(optimizer_archive);
    torch::serialize::InputArchive scheduler_archive;
    archive.read("scheduler", scheduler_archive);
    if (plateau_ != nullptr) {
      plateau_->load(scheduler_archive);
    } else {
      schedule_->load(scheduler_archive);
    }
  }

  LRScheduler* schedule() const { return schedule_.get(); }
  const Optimizer& optimizer() const { return *optimizer_; }

 private:
  static torch::Tensor Parameter() { return torch::zeros({1}, torch::kFloat64).requires_grad_(); }

  const Expected& expected_;
  std::unique_ptr<Optimizer> optimizer_;
  std::unique_ptr<LRScheduler> schedule_;
  std::unique_ptr<ReduceLROnPlateau> plateau_;
};

// Relative to torch's value; our operations are torch's, in its order.
void ExpectMatches(const std::vector<double>& actual, const std::vector<double>& expected,
                   size_t offset, const char* what) {
  if (expected.empty()) {
    EXPECT_TRUE(actual.empty()) << what;
    return;
  }
  ASSERT_LE(actual.size() + offset, expected.size()) << what;
  for (size_t i = 0; i < actual.size(); ++i) {
    const double want = expected[offset + i];
    EXPECT_LE(std::abs(actual[i] - want), 1e-12 * std::abs(want))
        << what << " [" << offset + i << "]: " << actual[i] << " vs torch's " << want;
  }
}

class SchedulerMatchesTorch : public ::testing::TestWithParam<Case> {
 protected:
  const Expected& expected() const {
    const Expected* expected = FindExpected(GetParam().name);
    if (expected == nullptr) throw std::runtime_error("no expected values for " + GetParam().name);
    return *expected;
  }
};

TEST_P(SchedulerMatchesTorch, EveryStep) {
  Subject subject(GetParam(), expected());
  std::vector<double> lrs;
  std::vector<double> momentums;
  subject.Record(lrs, momentums);
  for (size_t point = 0; point < subject.Steps(); ++point) {
    ASSERT_TRUE(subject.Step(point).ok()) << "step " << point;
    subject.Record(lrs, momentums);
  }
  EXPECT_EQ(lrs.size(), expected().lrs.size());
  ExpectMatches(lrs, expected().lrs, 0, "lr");
  ExpectMatches(momentums, expected().momentums, 0, "momentum");
  if (subject.schedule() != nullptr) {
    const size_t groups = subject.optimizer().param_groups().size();
    EXPECT_EQ(subject.schedule()->get_last_lr(),
              std::vector<double>(lrs.end() - static_cast<std::ptrdiff_t>(groups), lrs.end()));
  }
}

// Stop halfway, save the optimizer and the scheduler, build both afresh from
// the same arguments, load, and go on: the numbers of an uninterrupted run.
TEST_P(SchedulerMatchesTorch, ResumesFromItsSavedState) {
  Subject first(GetParam(), expected());
  const size_t halfway = first.Steps() / 2;
  for (size_t point = 0; point < halfway; ++point) ASSERT_TRUE(first.Step(point).ok());
  std::stringstream checkpoint;
  first.Save(checkpoint);

  Subject resumed(GetParam(), expected());
  resumed.Load(checkpoint);
  std::vector<double> lrs;
  std::vector<double> momentums;
  for (size_t point = halfway; point < resumed.Steps(); ++point) {
    ASSERT_TRUE(resumed.Step(point).ok()) << "step " << point;
    resumed.Record(lrs, momentums);
  }
  const size_t groups = resumed.optimizer().param_groups().size();
  ExpectMatches(lrs, expected().lrs, (halfway + 1) * groups, "lr");
  ExpectMatches(momentums, expected().momentums, (halfway + 1) * groups, "momentum");
}

INSTANTIATE_TEST_SUITE_P(
    Torch, SchedulerMatchesTorch, ::testing::ValuesIn(AllCases()),
    [](const ::testing::TestParamInfo<Case>& info) { return info.param.name; });

TEST(SchedulerExpectedTest, EveryGeneratedCaseIsTested) {
  std::vector<std::string> tested;
  for (const Case& test_case : AllCases()) tested.push_back(test_case.name);
  for (const Expected& expected : AllExpected()) {
    EXPECT_THAT(tested, ::testing::Contains(expected.name));
  }
}

// A fresh optimizer made by MakeOptimizer, for the tests below.
std::unique_ptr<Optimizer> NewOptimizer(const json& params) {
  absl::StatusOr<std::unique_ptr<Optimizer>> optimizer =
      MakeOptimizer(params, {torch::zeros({1}, torch::kFloat64).requires_grad_()});
  EXPECT_TRUE(optimizer.ok()) << optimizer.status();
  return optimizer.ok() ? *std::move(optimizer) : nullptr;
}

double LrOf(const Optimizer& optimizer) { return optimizer.param_groups()[0].options().get_lr(); }

TEST(OneCycleLRTest, StepPastTotalStepsIsAnErrorNamingTotalSteps) {
  auto optimizer = NewOptimizer(Sgd(0.9));
  OneCycleLR scheduler(*optimizer, OneCycleLROptions(0.1).total_steps(3));
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(scheduler.step().ok());
  const double last_lr = LrOf(*optimizer);
  absl::Status status = scheduler.step();
  EXPECT_THAT(status.message(), HasSubstr("total_steps"));
  EXPECT_THAT(status.message(), HasSubstr("Tried to step 5 times"));
  EXPECT_EQ(LrOf(*optimizer), last_lr);
}

TEST(OneCycleLRTest, APhaseWithoutStepsIsAnErrorAtConstruction) {
  // pct_start * total_steps == 1: torch divides zero by zero at the initial step.
  auto optimizer = NewOptimizer(Sgd(0.9));
  EXPECT_THROW(OneCycleLR(*optimizer, OneCycleLROptions(0.1).total_steps(10).pct_start(0.1)),
               std::invalid_argument);
}

TEST(CyclicMomentumTest, NeedsAnOptimizerWithMomentum) {
  auto adam = NewOptimizer(kAdam);
  try {
    CyclicLR scheduler(*adam, CyclicLROptions(0.01, 0.1));
    ADD_FAILURE() << "CyclicLR cycled the momentum of Adam";
  } catch (const std::invalid_argument& error) {
    EXPECT_THAT(error.what(), HasSubstr("cycle_momentum"));
    EXPECT_THAT(error.what(), HasSubstr("optimizer must support momentum"));
  }
  // OneCycleLR takes betas[0] instead; Adagrad has neither.
  auto adagrad = NewOptimizer({{"name", "Adagrad"}, {"lr", 0.1}});
  EXPECT_THROW(OneCycleLR(*adagrad, OneCycleLROptions(0.1).total_steps(10)), std::invalid_argument);
  EXPECT_NO_THROW(
      OneCycleLR(*adagrad, OneCycleLROptions(0.1).total_steps(10).cycle_momentum(false)));
}

TEST(LambdaLRTest, ALambdaThatIsNotFiniteFailsTheStep) {
  auto optimizer = NewOptimizer(Sgd());
  MultiplicativeLR scheduler(*optimizer, LambdaLROptions("1 / (3 - epoch)"));
  ASSERT_TRUE(scheduler.step().ok());
  ASSERT_TRUE(scheduler.step().ok());
  const double lr = LrOf(*optimizer);
  absl::Status status = scheduler.step();
  EXPECT_THAT(status.message(), HasSubstr("lr_lambda"));
  EXPECT_THAT(status.message(), HasSubstr("epoch = 3"));
  EXPECT_EQ(LrOf(*optimizer), lr);
  // LambdaLR evaluates it at epoch 0, when it is constructed.
  EXPECT_THROW(LambdaLR(*optimizer, LambdaLROptions("1 / epoch")), std::invalid_argument);
}

TEST(DivisionByZeroTest, FailsWhereTorchRaisesNamingTheArgument) {
  auto optimizer = NewOptimizer(Sgd());
  ConstantLR constant(*optimizer, ConstantLROptions().factor(0.0).total_iters(2));
  EXPECT_EQ(LrOf(*optimizer), 0.0);
  ASSERT_TRUE(constant.step().ok());
  EXPECT_THAT(constant.step().message(), HasSubstr("factor: is 0"));

  optimizer = NewOptimizer(Sgd());
  PolynomialLR polynomial(*optimizer, PolynomialLROptions().total_iters(2).power(-1.0));
  ASSERT_TRUE(polynomial.step().ok());
  EXPECT_THAT(polynomial.step().message(), HasSubstr("power: is negative"));
  EXPECT_THAT(polynomial.step(7).message(), HasSubstr("power: is negative"));

  // The closed forms divide by total_iters: SequentialLR switching to one.
  for (auto make : {Inner<LinearLR>(LinearLROptions().total_iters(0)),
                    Inner<PolynomialLR>(PolynomialLROptions().total_iters(0))}) {
    optimizer = NewOptimizer(Sgd());
    SequentialLR sequential(
        *optimizer, BuildInner(*optimizer, {Inner<ExponentialLR>(ExponentialLROptions(0.9)), make}),
        {1});
    EXPECT_THAT(sequential.step().message(), HasSubstr("schedulers[1]: total_iters: is 0"));
  }
}

TEST(CosineAnnealingWarmRestartsTest, RejectsANegativeEpoch) {
  auto optimizer = NewOptimizer(Sgd());
  CosineAnnealingWarmRestarts scheduler(*optimizer, CosineAnnealingWarmRestartsOptions(3));
  EXPECT_THAT(scheduler.step(-1).message(), HasSubstr("Expected non-negative epoch"));
  EXPECT_EQ(scheduler.last_epoch(), 0);
}

TEST(CompositeTest, SequentialLRChecksItsArguments) {
  auto optimizer = NewOptimizer(Sgd());
  auto other = NewOptimizer(Sgd());
  auto entries = std::make_shared<ParamGroupEntries>();
  auto two = [&](Optimizer& second) {
    std::vector<EpochPtr> schedulers;
    schedulers.push_back(std::make_unique<StepLR>(*optimizer, StepLROptions(2), entries));
    schedulers.push_back(std::make_unique<StepLR>(second, StepLROptions(2), entries));
    return schedulers;
  };
  try {
    SequentialLR(*optimizer, two(*optimizer), {2, 4});
    ADD_FAILURE() << "two milestones for two schedulers";
  } catch (const std::invalid_argument& error) {
    EXPECT_THAT(error.what(), HasSubstr("milestones"));
  }
  EXPECT_THROW(SequentialLR(*optimizer, two(*other), {2}), std::invalid_argument);
  EXPECT_THROW(ChainedScheduler(two(*other)), std::invalid_argument);
  EXPECT_THROW(ChainedScheduler(std::vector<EpochPtr>{}), std::invalid_argument);

  std::vector<EpochPtr> unshared;
  unshared.push_back(std::make_unique<StepLR>(*optimizer, StepLROptions(2)));
  unshared.push_back(std::make_unique<StepLR>(*optimizer, StepLROptions(2)));
  EXPECT_THROW(ChainedScheduler(std::move(unshared)), std::invalid_argument);
}

TEST(CompositeTest, InnerErrorsNameTheInnerScheduler) {
  auto optimizer = NewOptimizer(Sgd(0.9));
  ChainedScheduler chained(BuildInner(
      *optimizer, {Inner<ExponentialLR>(ExponentialLROptions(0.9)),
                   Inner<OneCycleLR>(OneCycleLROptions(0.1).total_steps(1))}));
  ASSERT_TRUE(chained.step().ok());
  EXPECT_THAT(chained.step().message(), HasSubstr("schedulers[1]: total_steps"));
}

TEST(SerializationTest, LoadingAnotherSchedulersStateThrows) {
  auto optimizer = NewOptimizer(Sgd());
  StepLR step(*optimizer, StepLROptions(2));
  torch::serialize::OutputArchive archive;
  step.save(archive);
  std::stringstream stream;
  archive.save_to(stream);
  torch::serialize::InputArchive input;
  input.load_from(stream);
  ExponentialLR exponential(*optimizer, ExponentialLROptions(0.9));
  EXPECT_THROW(exponential.load(input), c10::Error);
}

TEST(LRSchedulerOptionsTest, ValidateNamesTheBadArgument) {
  auto message = [](const absl::Status& status) { return std::string(status.message()); };
  EXPECT_THAT(message(LambdaLROptions("0.9 ^ epochs_").Validate()), HasSubstr("lr_lambda"));
  EXPECT_THAT(message(StepLROptions(0).Validate()), HasSubstr("step_size"));
  EXPECT_THAT(message(MultiStepLROptions({2}).gamma(NAN).Validate()), HasSubstr("gamma"));
  EXPECT_THAT(message(ConstantLROptions().factor(1.5).Validate()),
              HasSubstr("factor: must be in [0, 1], got 1.5 (torch: Constant multiplicative"));
  EXPECT_TRUE(ConstantLROptions().factor(0.0).Validate().ok());
  EXPECT_THAT(message(LinearLROptions().start_factor(0.0).Validate()), HasSubstr("start_factor"));
  EXPECT_THAT(message(LinearLROptions().start_factor(1.5).Validate()), HasSubstr("start_factor"));
  EXPECT_THAT(message(LinearLROptions().end_factor(-0.1).Validate()), HasSubstr("end_factor"));
  EXPECT_THAT(message(ExponentialLROptions(INFINITY).Validate()), HasSubstr("gamma"));
  EXPECT_THAT(message(PolynomialLROptions().power(NAN).Validate()), HasSubstr("power"));
  EXPECT_THAT(message(CosineAnnealingLROptions(0).Validate()), HasSubstr("T_max"));
  EXPECT_THAT(message(CosineAnnealingWarmRestartsOptions(0).Validate()),
              HasSubstr("T_0: must be >= 1, got 0 (torch: Expected positive integer T_0)"));
  EXPECT_THAT(message(CosineAnnealingWarmRestartsOptions(2).T_mult(0).Validate()),
              HasSubstr("T_mult"));
  EXPECT_THAT(message(CyclicLROptions(0.01, 0.1).step_size_up(0).Validate()),
              HasSubstr("step_size_up"));
  EXPECT_THAT(message(CyclicLROptions(0.01, 0.1).step_size_down(-1).Validate()),
              HasSubstr("step_size_down"));
  EXPECT_THAT(message(CyclicLROptions(NAN, 0.1).Validate()), HasSubstr("base_lr"));
  EXPECT_THAT(message(OneCycleLROptions(0.1).Validate()),
              HasSubstr("total_steps: is required unless epochs and steps_per_epoch"));
  EXPECT_THAT(message(OneCycleLROptions(0.1).total_steps(0).Validate()),
              HasSubstr("Expected positive integer total_steps"));
  EXPECT_THAT(message(OneCycleLROptions(0.1).epochs(3).Validate()), HasSubstr("steps_per_epoch"));
  EXPECT_THAT(message(OneCycleLROptions(0.1).epochs(0).steps_per_epoch(3).Validate()),
              HasSubstr("epochs"));
  EXPECT_THAT(message(OneCycleLROptions(0.1).total_steps(9).pct_start(1.2).Validate()),
              HasSubstr("pct_start"));
  EXPECT_THAT(message(OneCycleLROptions(0.1).total_steps(9).div_factor(0).Validate()),
              HasSubstr("div_factor"));
  EXPECT_THAT(message(ReduceLROnPlateauOptions().factor(1.0).Validate()), HasSubstr("factor"));
  EXPECT_THAT(message(ReduceLROnPlateauOptions().patience(-1).Validate()), HasSubstr("patience"));
  EXPECT_THAT(message(ReduceLROnPlateauOptions().cooldown(-1).Validate()), HasSubstr("cooldown"));
  EXPECT_TRUE(OneCycleLROptions(0.1).epochs(3).steps_per_epoch(4).Validate().ok());
  EXPECT_TRUE(ReduceLROnPlateauOptions().Validate().ok());
}

TEST(LRSchedulerOptionsTest, ConstructorsThrowForInvalidOptions) {
  auto optimizer = NewOptimizer(Sgd());
  EXPECT_THROW(StepLR(*optimizer, StepLROptions(0)), std::invalid_argument);
  EXPECT_THROW(ReduceLROnPlateau(*optimizer, ReduceLROnPlateauOptions().factor(2)),
               std::invalid_argument);
  // Nothing was stepped: the lr is untouched.
  EXPECT_EQ(LrOf(*optimizer), 0.1);
}

}  // namespace
}  // namespace segtune::optim
