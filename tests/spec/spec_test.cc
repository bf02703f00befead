#include "segtune/spec/spec.h"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <string>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "segtune/optim/catalog.h"

namespace segtune::spec {
namespace {

using ::testing::HasSubstr;
using Json = nlohmann::json;

// The spec of design.md section 4, verbatim.
constexpr const char* kDesignSpec = R"yaml(
name: seed-optimizers
objective: {metric: val_miou, mode: max}
budget: {epochs: 8, max_trials: 0, parallelism: 4}   # max_trials 0 = every grid point
data: {dataset: shapes, image_size: 48, num_classes: 4, train_size: 256, val_size: 64, seed: 7}
model: {arch: unet, base_channels: 8, depth: 3}
training: {batch_size: 16, seed: 0}
search:
  algorithm: grid
  space:
    optimizer:
      - {name: SGD, lr: [0.1, 0.03]}
      - {name: momentum, lr: 0.05}
      - {name: nag, lr: 0.05}
      - {name: Adagrad, lr: 0.05}
      - {name: Adadelta, lr: 1.0}
      - {name: RMSprop, lr: {loguniform: [1.0e-4, 1.0e-2]}}
      - {name: Adam, lr: {loguniform: [1.0e-4, 1.0e-2]}, weight_decay: [0, 1.0e-4]}
    scheduler:
      - {name: StepLR, step_size: 3, gamma: 0.5}
      - {name: MultiStepLR, milestones: [4, 6], gamma: 0.3}
      - {name: ExponentialLR, gamma: 0.8}
      - {name: CosineAnnealingLR, T_max: 8}
      - {name: ReduceLROnPlateau, factor: 0.5, patience: 1}
      - {name: LambdaLR, lr_lambda: "1 / (1 + 0.3 * epoch)"}
)yaml";

// A valid spec around the given `search.space` body (indented by 4).
std::string WithSpace(const std::string& space, const std::string& search_extra = "",
                      const std::string& budget = "{epochs: 2}") {
  return "name: t\nobjective: {metric: val_loss}\nbudget: " + budget +
         "\nsearch:\n" + search_extra + "  space:\n" + space;
}

// Passes when some error sits exactly at `path` and its message contains
// `message_part`; otherwise prints every error.
::testing::AssertionResult HasError(const ParseResult& result, const std::string& path,
                                    const std::string& message_part) {
  for (const SpecError& error : result.errors) {
    if (error.path == path && error.message.find(message_part) != std::string::npos) {
      return ::testing::AssertionSuccess();
    }
  }
  return ::testing::AssertionFailure() << "no error at \"" << path << "\" containing \""
                                       << message_part << "\"; errors were:\n"
                                       << result.ErrorText();
}

TEST(ParseSpecTest, DesignSpecParses) {
  ParseResult result = ParseSpec(kDesignSpec);
  ASSERT_TRUE(result.ok()) << result.ErrorText();
  const SweepSpec& spec = result.spec;
  EXPECT_EQ(spec.name, "seed-optimizers");
  EXPECT_EQ(spec.objective.metric, "val_miou");
  EXPECT_TRUE(spec.objective.maximize);
  EXPECT_EQ(spec.budget.epochs, 8);
  EXPECT_EQ(spec.budget.parallelism, 4);
  EXPECT_EQ(spec.data, Json::parse(R"({"dataset": "shapes", "image_size": 48, "num_classes": 4,
                                       "train_size": 256, "val_size": 64, "seed": 7,
                                       "flip": false, "ignore_index": 255,
                                       "mean": [0.5, 0.5, 0.5], "std": [0.25, 0.25, 0.25]})"));
  EXPECT_EQ(spec.search.algorithm, "grid");

  const SearchSpace& space = spec.search.space;
  ASSERT_EQ(space.optimizers.size(), 7u);
  ASSERT_EQ(space.schedulers.size(), 6u);
  EXPECT_EQ(space.optimizers[0].name, "SGD");
  EXPECT_EQ(space.optimizers[0].alias, "");
  EXPECT_EQ(space.optimizers[0].args.at("lr").kind, Domain::Kind::kGrid);
  EXPECT_EQ(space.optimizers[0].args.at("lr").values, (std::vector<Json>{0.1, 0.03}));

  const Alternative& nag = space.optimizers[2];
  EXPECT_EQ(nag.name, "SGD");
  EXPECT_EQ(nag.alias, "nag");
  EXPECT_EQ(nag.args.at("momentum").fixed, Json(0.9));
  EXPECT_EQ(nag.args.at("nesterov").fixed, Json(true));

  EXPECT_EQ(space.optimizers[4].name, "Adadelta");
  const Domain& rmsprop_lr = space.optimizers[5].args.at("lr");
  EXPECT_EQ(rmsprop_lr.kind, Domain::Kind::kLogUniform);
  EXPECT_DOUBLE_EQ(rmsprop_lr.low, 1e-4);
  EXPECT_DOUBLE_EQ(rmsprop_lr.high, 1e-2);
  EXPECT_EQ(space.optimizers[6].arg_order, (std::vector<std::string>{"lr", "weight_decay"}));
  EXPECT_EQ(space.schedulers[5].args.at("lr_lambda").fixed, Json("1 / (1 + 0.3 * epoch)"));

  // A list of numbers is MultiStepLR's fixed milestones, not a grid axis.
  const Domain& milestones = space.schedulers[1].args.at("milestones");
  EXPECT_EQ(milestones.kind, Domain::Kind::kFixed);
  EXPECT_EQ(milestones.fixed, Json::parse("[4, 6]"));

  // (2 + 1 + 1 + 1 + 1 + 1 + 2) optimizer points times 6 schedulers.
  EXPECT_EQ(CountGridPoints(space), 54u);
}

TEST(ParseSpecTest, MinimalSpecGetsEveryDefault) {
  ParseResult result = ParseSpec(WithSpace("    optimizer: {name: adam}\n"));
  ASSERT_TRUE(result.ok()) << result.ErrorText();
  const SweepSpec& spec = result.spec;
  EXPECT_EQ(spec.objective.metric, "val_loss");
  EXPECT_FALSE(spec.objective.maximize);  // a loss is minimized by default
  EXPECT_EQ(spec.budget.max_trials, 0);
  EXPECT_EQ(spec.budget.parallelism, 0);
  EXPECT_EQ(spec.data, Json::parse(R"({"dataset": "shapes", "image_size": 48, "num_classes": 4,
                                       "train_size": 256, "val_size": 64, "seed": 7,
                                       "flip": false, "ignore_index": 255,
                                       "mean": [0.5, 0.5, 0.5], "std": [0.25, 0.25, 0.25]})"));
  EXPECT_EQ(spec.model, Json::parse(R"({"arch": "unet", "base_channels": 8, "depth": 3})"));
  EXPECT_EQ(spec.training, Json::parse(R"({"batch_size": 16, "seed": 0, "amp": false,
                                           "loss": {"label_smoothing": 0.0, "dice_weight": 0.0}})"));
  EXPECT_EQ(spec.search.algorithm, "grid");
  EXPECT_EQ(spec.search.seed, 0u);
  ASSERT_EQ(spec.search.space.optimizers.size(), 1u);
  EXPECT_EQ(spec.search.space.optimizers[0].name, "Adam");
  EXPECT_EQ(spec.search.space.optimizers[0].alias, "adam");
  EXPECT_TRUE(spec.search.space.schedulers.empty());
}

TEST(ParseSpecTest, UnknownKeyIsReportedWithSuggestion) {
  ParseResult result = ParseSpec(
      "name: t\nobjective: {metric: val_loss}\nbudget: {epoch: 3}\nsearch:\n"
      "  space: {optimizer: {name: SGD, lr: 0.1, momentun: 0.9}}\nmodle: {}\n");
  EXPECT_TRUE(HasError(result, "budget.epoch", "unknown key (did you mean \"epochs\"?)"));
  EXPECT_TRUE(HasError(result, "budget.epochs", "is required"));
  EXPECT_TRUE(HasError(result, "modle", "did you mean \"model\"?"));
  EXPECT_TRUE(HasError(result, "search.space.optimizer.momentun",
                       "unknown argument of SGD (did you mean \"momentum\"?)"));
}

TEST(ParseSpecTest, WrongTypeNamesPathAndValue) {
  ParseResult result =
      ParseSpec(WithSpace("    optimizer: {name: SGD, lr: 0.1}\n", "", "{epochs: ten}"));
  ASSERT_EQ(result.errors.size(), 1u) << result.ErrorText();
  EXPECT_EQ(result.errors[0].ToString(),
            "budget.epochs: must be an integer from 1 to 10000, got \"ten\"");

  // Quoted numbers are strings; integral floats are integers.
  EXPECT_TRUE(HasError(ParseSpec(WithSpace("    optimizer: {name: SGD, lr: 0.1}\n", "",
                                           "{epochs: \"3\"}")),
                       "budget.epochs", "got \"3\""));
  EXPECT_TRUE(ParseSpec(WithSpace("    optimizer: {name: SGD, lr: 0.1}\n", "", "{epochs: 3.0}"))
                  .ok());
  EXPECT_TRUE(HasError(ParseSpec(WithSpace("    optimizer: {name: SGD, nesterov: 1, lr: 1}\n")),
                       "search.space.optimizer.nesterov", "must be true or false, got 1"));
  EXPECT_TRUE(HasError(ParseSpec(WithSpace("    optimizer: {name: SGD, lr: 0.1}\n"
                                           "    scheduler: {name: StepLR, step_size: 2.5}\n")),
                       "search.space.scheduler.step_size", "must be an integer, got 2.5"));
}

TEST(ParseSpecTest, NegativeLearningRateIsRejectedInEveryForm) {
  EXPECT_TRUE(HasError(ParseSpec(WithSpace("    optimizer: [{name: SGD, lr: -1}]\n")),
                       "search.space.optimizer[0].lr", "must be >= 0, got -1"));
  EXPECT_TRUE(HasError(ParseSpec(WithSpace("    optimizer: [{name: SGD, lr: [0.1, -1]}]\n")),
                       "search.space.optimizer[0].lr[1]", "Invalid learning rate"));
  EXPECT_TRUE(HasError(ParseSpec(WithSpace("    optimizer: [{name: Adam, lr: {uniform: [-1, 1]}}]\n")),
                       "search.space.optimizer[0].lr.uniform[0]", "must be >= 0"));
  EXPECT_TRUE(
      HasError(ParseSpec(WithSpace("    optimizer: [{name: Adam, lr: {choice: [0.1, -0.5]}}]\n")),
               "search.space.optimizer[0].lr.choice[1]", "must be >= 0"));
}

TEST(ParseSpecTest, EmptySpaceIsRejected) {
  EXPECT_TRUE(HasError(ParseSpec(WithSpace("    optimizer: []\n")), "search.space.optimizer",
                       "is empty"));
  EXPECT_TRUE(HasError(ParseSpec(WithSpace("    optimizer: [{name: SGD, lr: []}]\n")),
                       "search.space.optimizer[0].lr", "empty list"));
  EXPECT_TRUE(HasError(ParseSpec(WithSpace("    scheduler: {name: StepLR, step_size: 2}\n")),
                       "search.space.optimizer", "is required"));
  EXPECT_TRUE(HasError(ParseSpec(WithSpace("    optimizer: {name: SGD, lr: 0.1}\n"
                                           "    scheduler: []\n")),
                       "search.space.scheduler", "is empty"));
}

TEST(ParseSpecTest, LargeGridNeedsMaxTrials) {
  // 101 learning rates x 100 momenta = 10100 points.
  std::string lrs, momenta;
  for (int i = 0; i <= 100; ++i) lrs += (i ? ", " : "") + std::to_string(0.001 * (i + 1));
  for (int i = 0; i < 100; ++i) momenta += (i ? ", " : "") + std::to_string(0.005 * i);
  std::string space = "    optimizer: {name: SGD, lr: [" + lrs + "], momentum: [" + momenta + "]}\n";

  ParseResult unlimited = ParseSpec(WithSpace(space));
  EXPECT_TRUE(HasError(unlimited, "budget.max_trials", "the grid has 10100 points"));
  EXPECT_EQ(unlimited.errors.size(), 1u) << unlimited.ErrorText();

  ParseResult limited = ParseSpec(WithSpace(space, "", "{epochs: 2, max_trials: 50}"));
  EXPECT_TRUE(limited.ok()) << limited.ErrorText();
}

TEST(ParseSpecTest, MaxRetriesDefaultsToTwoAndIsRangeChecked) {
  const std::string space = "    optimizer: {name: adam}\n";
  ParseResult defaulted = ParseSpec(WithSpace(space));
  ASSERT_TRUE(defaulted.ok()) << defaulted.ErrorText();
  EXPECT_EQ(defaulted.spec.budget.max_retries, 2);

  ParseResult none = ParseSpec(WithSpace(space, "", "{epochs: 2, max_retries: 0}"));
  ASSERT_TRUE(none.ok()) << none.ErrorText();
  EXPECT_EQ(none.spec.budget.max_retries, 0);

  EXPECT_TRUE(HasError(ParseSpec(WithSpace(space, "", "{epochs: 2, max_retries: -1}")), "budget.max_retries",
                       "0 to 100"));
  EXPECT_TRUE(HasError(ParseSpec(WithSpace(space, "", "{epochs: 2, max_retries: 101}")), "budget.max_retries",
                       "0 to 100"));
  EXPECT_TRUE(HasError(ParseSpec(WithSpace(space, "", "{epochs: 2, max_retries: two}")), "budget.max_retries",
                       "integer"));
}

TEST(ParseSpecTest, RandomSearchNeedsMaxTrials) {
  std::string space = "    optimizer: {name: SGD, lr: {loguniform: [0.001, 0.1]}}\n";
  EXPECT_TRUE(HasError(ParseSpec(WithSpace(space, "  algorithm: random\n")), "budget.max_trials",
                       "must be >= 1 for random search"));
  EXPECT_TRUE(
      ParseSpec(WithSpace(space, "  algorithm: random\n", "{epochs: 2, max_trials: 4}")).ok());
}

TEST(ParseSpecTest, SearchAlgorithmSettingsHaveDefaults) {
  const std::string space = "    optimizer: {name: SGD, lr: {loguniform: [0.001, 0.1]}}\n";
  const std::string budget = "{epochs: 9, max_trials: 12}";
  ParseResult asha = ParseSpec(WithSpace(space, "  algorithm: asha\n", budget));
  ASSERT_TRUE(asha.ok()) << asha.ErrorText();
  EXPECT_EQ(asha.spec.search.asha.eta, 3);
  EXPECT_EQ(asha.spec.search.asha.min_epochs, 1);
  EXPECT_EQ(asha.spec.search.asha.max_epochs, 9);
  EXPECT_EQ(asha.spec.search.asha.brackets, 1);
  EXPECT_EQ(asha.spec.search.sampler, "random");

  // Brackets whose first rung (1, 3) is below max_epochs 9: two.
  ParseResult hyperband = ParseSpec(WithSpace(space, "  algorithm: hyperband\n", budget));
  ASSERT_TRUE(hyperband.ok()) << hyperband.ErrorText();
  EXPECT_EQ(hyperband.spec.search.asha.brackets, 2);

  ParseResult median = ParseSpec(WithSpace(
      space, "  algorithm: median\n  sampler: tpe\n  grace_epochs: 2\n  gamma: 0.3\n", budget));
  ASSERT_TRUE(median.ok()) << median.ErrorText();
  EXPECT_EQ(median.spec.search.median.grace_epochs, 2);
  EXPECT_EQ(median.spec.search.median.min_trials, 3);
  EXPECT_EQ(median.spec.search.sampler, "tpe");
  EXPECT_DOUBLE_EQ(median.spec.search.tpe.gamma, 0.3);

  ParseResult pbt = ParseSpec(WithSpace(space, "  algorithm: pbt\n  perturbation_interval: 2\n", budget));
  ASSERT_TRUE(pbt.ok()) << pbt.ErrorText();
  EXPECT_EQ(pbt.spec.search.pbt.perturbation_interval, 2);
  EXPECT_DOUBLE_EQ(pbt.spec.search.pbt.quantile_fraction, 0.25);
  EXPECT_DOUBLE_EQ(pbt.spec.search.pbt.resample_probability, 0.25);

  ParseResult tpe = ParseSpec(WithSpace(space, "  algorithm: tpe\n  n_startup_trials: 4\n", budget));
  ASSERT_TRUE(tpe.ok()) << tpe.ErrorText();
  EXPECT_EQ(tpe.spec.search.tpe.n_startup_trials, 4);
  EXPECT_EQ(tpe.spec.search.tpe.n_ei_candidates, 24);
}

TEST(ParseSpecTest, SearchAlgorithmSettingsAreChecked) {
  const std::string space = "    optimizer: {name: SGD, lr: 0.1}\n";
  ParseResult asha = ParseSpec(WithSpace(
      space, "  algorithm: asha\n  sampler: grid\n  eta: 1\n  min_epochs: 20\n  grace_epochs: 2\n",
      "{epochs: 9}"));
  EXPECT_TRUE(HasError(asha, "search.eta", "must be an integer from 2 to 100, got 1"));
  EXPECT_TRUE(HasError(asha, "search.min_epochs", "from 1 to 9, got 20"));
  EXPECT_TRUE(HasError(asha, "search.grace_epochs", "is a setting of algorithm median, not of asha"));

  ParseResult no_rung = ParseSpec(WithSpace(space, "  algorithm: asha\n  sampler: grid\n  min_epochs: 4\n  max_epochs: 4\n"
                                                   "  brackets: 2\n", "{epochs: 9}"));
  EXPECT_TRUE(HasError(no_rung, "search.min_epochs", "must be < max_epochs (4) for a rung to exist"));
  ParseResult brackets = ParseSpec(WithSpace(space, "  algorithm: hyperband\n  sampler: grid\n  brackets: 3\n",
                                             "{epochs: 9}"));
  EXPECT_TRUE(HasError(brackets, "search.brackets", "from 1 to 2, got 3"));

  EXPECT_TRUE(HasError(ParseSpec(WithSpace(space, "  algorithm: pbt\n", "{epochs: 4, max_trials: 1}")),
                       "budget.max_trials", "must be >= 2 for pbt"));
  EXPECT_TRUE(HasError(ParseSpec(WithSpace(space, "  algorithm: pbt\n  quantile_fraction: 0.7\n",
                                           "{epochs: 4, max_trials: 4}")),
                       "search.quantile_fraction", "<= 0.5"));
  EXPECT_TRUE(HasError(ParseSpec(WithSpace(space, "  algorithm: tpe\n")), "budget.max_trials",
                       "must be >= 1 for tpe search"));
  EXPECT_TRUE(HasError(ParseSpec(WithSpace(space, "  algorithm: median\n  sampler: bohb\n")),
                       "search.sampler", "must be one of grid, random, tpe"));
  EXPECT_TRUE(HasError(ParseSpec(WithSpace(space, "  algorithm: grid\n  etaa: 2\n")), "search.etaa",
                       "did you mean \"eta\"?"));
}

TEST(ParseSpecTest, LrRangeTestSetsItsOwnBudgetObjectiveAndLr) {
  ParseResult result = ParseSpec(
      "name: t\nobjective: {metric: val_miou}\nbudget: {}\n"
      "search:\n  algorithm: lr_range_test\n  iterations: 50\n  max_lr: 1\n  space:\n"
      "    optimizer: [{name: SGD, lr: [0.1, 0.01]}, {name: Adam, lr: {loguniform: [0.0001, 0.01]}}]\n"
      "    scheduler: {name: StepLR, step_size: 2}\n");
  ASSERT_TRUE(result.ok()) << result.ErrorText();
  EXPECT_EQ(result.spec.budget.epochs, 50);
  EXPECT_EQ(result.spec.objective.metric, "smoothed_loss");
  EXPECT_FALSE(result.spec.objective.maximize);
  EXPECT_TRUE(result.spec.search.space.schedulers.empty());
  // One trial per optimizer alternative, starting at min_lr.
  EXPECT_EQ(CountGridPoints(result.spec.search.space), 2u);
  EXPECT_DOUBLE_EQ(result.spec.search.space.optimizers[0].args.at("lr").fixed.get<double>(), 1e-7);
  EXPECT_DOUBLE_EQ(result.spec.search.lr_range.max_lr, 1.0);

  EXPECT_TRUE(HasError(ParseSpec(WithSpace("    optimizer: {name: SGD, lr: 0.1}\n",
                                           "  algorithm: lr_range_test\n  min_lr: 1\n  max_lr: 0.1\n")),
                       "search.max_lr", "must be greater than min_lr"));
}

TEST(ParseSpecTest, EveryExampleSpecIsValid) {
  int examples = 0;
  for (const auto& entry : std::filesystem::directory_iterator(SEGTUNE_EXAMPLES_DIR)) {
    if (entry.path().extension() != ".yaml") continue;
    std::ifstream file(entry.path());
    std::stringstream text;
    text << file.rdbuf();
    ParseResult result = ParseSpec(text.str());
    EXPECT_TRUE(result.ok()) << entry.path() << ":\n" << result.ErrorText();
    ++examples;
  }
  EXPECT_GE(examples, 7);
}

TEST(ParseSpecTest, UnknownOptimizerAndSchedulerNames) {
  ParseResult result = ParseSpec(WithSpace("    optimizer: [{name: Adamm}, {name: Adagard, lr: 1}]\n"
                                           "    scheduler: [{name: StepLr, step_size: 2}]\n"));
  EXPECT_TRUE(HasError(result, "search.space.optimizer[0].name",
                       "unknown optimizer \"Adamm\" (did you mean \"Adam\"?)"));
  EXPECT_TRUE(HasError(result, "search.space.optimizer[1].name",
                       "unknown optimizer \"Adagard\" (did you mean \"Adagrad\"?)"));
  ParseResult far = ParseSpec(WithSpace("    optimizer: {name: Shampoo, lr: 1}\n"));
  EXPECT_TRUE(HasError(far, "search.space.optimizer.name", "(supported: Adadelta, Adagrad, Adam,"));
  EXPECT_TRUE(HasError(result, "search.space.scheduler[0].name",
                       "unknown scheduler \"StepLr\" (did you mean \"StepLR\"?)"));
}

TEST(ParseSpecTest, MissingObjectiveMetric) {
  ParseResult result = ParseSpec(
      "name: t\nobjective: {mode: max}\nbudget: {epochs: 1}\n"
      "search: {space: {optimizer: {name: adam}}}\n");
  EXPECT_TRUE(HasError(result, "objective.metric", "is required"));
  ParseResult no_section =
      ParseSpec("name: t\nbudget: {epochs: 1}\nsearch: {space: {optimizer: {name: adam}}}\n");
  EXPECT_TRUE(HasError(no_section, "objective.metric", "is required"));
  EXPECT_TRUE(HasError(ParseSpec("name: t\nobjective: {metric: miou}\nbudget: {epochs: 1}\n"
                                 "search: {space: {optimizer: {name: adam}}}\n"),
                       "objective.metric", "got \"miou\""));
}

TEST(ParseSpecTest, NesterovNeedsMomentum) {
  EXPECT_TRUE(HasError(ParseSpec(WithSpace("    optimizer: {name: SGD, lr: 0.1, nesterov: true}\n")),
                       "search.space.optimizer.nesterov", "needs momentum > 0 and dampening 0"));
  // The alias supplies the momentum; a grid that includes 0 is caught per value.
  EXPECT_TRUE(ParseSpec(WithSpace("    optimizer: {name: nag, lr: 0.1}\n")).ok());
  EXPECT_TRUE(HasError(
      ParseSpec(WithSpace("    optimizer: {name: nag, lr: 0.1, momentum: [0.9, 0]}\n")),
      "search.space.optimizer.nesterov", "got momentum 0 and dampening 0"));
}

TEST(ParseSpecTest, MilestonesMustIncrease) {
  std::string optimizer = "    optimizer: {name: SGD, lr: 0.1}\n";
  EXPECT_TRUE(HasError(
      ParseSpec(WithSpace(optimizer + "    scheduler: {name: MultiStepLR, milestones: [6, 4]}\n")),
      "search.space.scheduler.milestones", "strictly increasing"));
  // A list of lists is a grid over milestone lists; each is checked.
  ParseResult grid = ParseSpec(
      WithSpace(optimizer + "    scheduler: {name: multistep, milestones: [[2, 4], [3, 3]]}\n"));
  EXPECT_TRUE(HasError(grid, "search.space.scheduler.milestones[1]", "strictly increasing"));
  EXPECT_TRUE(HasError(
      ParseSpec(WithSpace(optimizer + "    scheduler: {name: MultiStepLR, milestones: [[2], 4]}\n")),
      "search.space.scheduler.milestones", "mixes lists and single values"));
}

TEST(ParseSpecTest, LogUniformLowMustBePositive) {
  ParseResult result = ParseSpec(WithSpace(
      "    optimizer:\n      - {name: SGD, lr: 0.1}\n      - {name: SGD, lr: 0.2}\n"
      "      - {name: SGD, lr: {loguniform: [0, 0.1]}}\n"));
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.errors[0].ToString(),
            "search.space.optimizer[2].lr.loguniform: low must be > 0, got 0");
}

TEST(ParseSpecTest, DistributionForms) {
  std::string prefix = "    optimizer: {name: SGD, lr: ";
  EXPECT_TRUE(ParseSpec(WithSpace(prefix + "{uniform: [0.01, 0.1], q: 0.01}}\n")).ok());
  EXPECT_TRUE(HasError(ParseSpec(WithSpace(prefix + "{uniform: [0.1, 0.01]}}\n")),
                       "search.space.optimizer.lr.uniform", "low must be <= high"));
  EXPECT_TRUE(HasError(ParseSpec(WithSpace(prefix + "{uniform: [0.01, 0.1], q: 0}}\n")),
                       "search.space.optimizer.lr.q", "must be a number > 0"));
  EXPECT_TRUE(HasError(ParseSpec(WithSpace(prefix + "{unifrom: [0.01, 0.1]}}\n")),
                       "search.space.optimizer.lr.unifrom", "did you mean \"uniform\"?"));
  EXPECT_TRUE(HasError(ParseSpec(WithSpace(prefix + "{uniform: [0.01]}}\n")),
                       "search.space.optimizer.lr.uniform", "must be [low, high]"));
  EXPECT_TRUE(HasError(ParseSpec(WithSpace(prefix + "{choice: [0.1], q: 1}}\n")),
                       "search.space.optimizer.lr.q", "applies only to"));
  // Integer arguments take {int: ...}, not fractional distributions.
  std::string step = "    optimizer: {name: SGD, lr: 0.1}\n    scheduler: {name: StepLR, step_size: ";
  EXPECT_TRUE(ParseSpec(WithSpace(step + "{int: [1, 5]}}\n")).ok());
  EXPECT_TRUE(HasError(ParseSpec(WithSpace(step + "{uniform: [1, 5]}}\n")),
                       "search.space.scheduler.step_size.uniform", "takes an integer"));
  EXPECT_TRUE(HasError(ParseSpec(WithSpace(step + "{int: [0, 5]}}\n")),
                       "search.space.scheduler.step_size.int[0]", "must be >= 1, got 0"));
  // Booleans and lists take lists or choices only.
  EXPECT_TRUE(HasError(ParseSpec(WithSpace(prefix + "0.1, nesterov: {uniform: [0, 1]}}\n")),
                       "search.space.optimizer.nesterov.uniform", "needs a numeric argument"));
}

TEST(ParseSpecTest, ListTypedArguments) {
  std::string adam = "    optimizer: {name: Adam, betas: ";
  ParseResult fixed = ParseSpec(WithSpace(adam + "[0.8, 0.99]}\n"));
  ASSERT_TRUE(fixed.ok()) << fixed.ErrorText();
  EXPECT_EQ(fixed.spec.search.space.optimizers[0].args.at("betas").kind, Domain::Kind::kFixed);

  ParseResult grid = ParseSpec(WithSpace(adam + "[[0.8, 0.99], [0.9, 0.999]]}\n"));
  ASSERT_TRUE(grid.ok()) << grid.ErrorText();
  EXPECT_EQ(grid.spec.search.space.optimizers[0].args.at("betas").kind, Domain::Kind::kGrid);
  EXPECT_EQ(CountGridPoints(grid.spec.search.space), 2u);

  EXPECT_TRUE(HasError(ParseSpec(WithSpace(adam + "[1.0, 0.9]}\n")),
                       "search.space.optimizer.betas", "must both be in [0, 1), got [1, 0.9]"));
  EXPECT_TRUE(HasError(ParseSpec(WithSpace(adam + "[0.9]}\n")), "search.space.optimizer.betas",
                       "must be a list of 2 numbers"));
}

TEST(ParseSpecTest, BudgetExpressionsAreCheckedAgainstTheBudget) {
  // epochs 8; 256 training images in batches of 16: 16 steps per epoch.
  const std::string budget = "{epochs: 8}\ndata: {train_size: 256}\ntraining: {batch_size: 16}";
  ParseResult cosine = ParseSpec(WithSpace(
      "    optimizer: {name: SGD, lr: 0.1}\n"
      "    scheduler: {name: CosineAnnealingLR, T_max: epochs, interval: epoch}\n",
      "", budget));
  ASSERT_TRUE(cosine.ok()) << cosine.ErrorText();
  // The expression travels as written; workers evaluate it with their budget.
  EXPECT_EQ(cosine.spec.search.space.schedulers[0].args.at("T_max").fixed, Json("epochs"));

  EXPECT_TRUE(HasError(ParseSpec(WithSpace("    optimizer: {name: SGD, lr: 0.1}\n"
                                           "    scheduler: {name: CosineAnnealingLR, T_max: "
                                           "\"epochs / 3\"}\n",
                                           "", budget)),
                       "search.space.scheduler.T_max", "not a whole number"));
  EXPECT_TRUE(HasError(ParseSpec(WithSpace("    optimizer: {name: SGD, lr: 0.1}\n"
                                           "    scheduler: {name: StepLR, step_size: "
                                           "\"epoch * 2\"}\n",
                                           "", budget)),
                       "search.space.scheduler.step_size", "unknown name \"epoch\""));
  EXPECT_TRUE(HasError(ParseSpec(WithSpace("    optimizer: {name: SGD, lr: 0.1}\n"
                                           "    scheduler: {name: StepLR, step_size: "
                                           "\"epochs - 8\"}\n",
                                           "", budget)),
                       "search.space.scheduler.step_size", "must be >= 1"));
}

TEST(ParseSpecTest, CompositeSchedulersTakeAListOfInnerSchedulers) {
  ParseResult sequential = ParseSpec(WithSpace(
      "    optimizer: {name: SGD, lr: 0.1}\n"
      "    scheduler:\n"
      "      name: SequentialLR\n"
      "      milestones: [2]\n"
      "      schedulers: [{name: LinearLR, start_factor: 0.1, total_iters: 2},\n"
      "                   {name: cosine, T_max: epochs}]\n"));
  ASSERT_TRUE(sequential.ok()) << sequential.ErrorText();
  const Domain& inner = sequential.spec.search.space.schedulers[0].args.at("schedulers");
  EXPECT_EQ(inner.kind, Domain::Kind::kFixed);
  EXPECT_EQ(CountGridPoints(sequential.spec.search.space), 1u);

  ParseResult bad = ParseSpec(WithSpace(
      "    optimizer: {name: SGD, lr: 0.1}\n"
      "    scheduler: {name: ChainedScheduler, schedulers: [{name: ExponentialLR, gamma: 0.9},\n"
      "                {name: ReduceLROnPlateau}, {name: StepLR}]}\n"));
  EXPECT_TRUE(HasError(bad, "search.space.scheduler.schedulers[1].name", "cannot be an inner"));
  EXPECT_TRUE(HasError(bad, "search.space.scheduler.schedulers[2].step_size", "is required"));
}

TEST(ParseSpecTest, RequiredArgumentsMustBeGiven) {
  ParseResult result = ParseSpec(WithSpace("    optimizer: [{name: SGD, momentum: 0.9}]\n"
                                           "    scheduler: [{name: cosine}]\n"));
  EXPECT_TRUE(HasError(result, "search.space.optimizer[0].lr", "required"));
  EXPECT_TRUE(HasError(result, "search.space.scheduler[0].T_max", "required"));
}

TEST(ParseSpecTest, OtherSpaceKeys) {
  std::string optimizer = "    optimizer: {name: SGD, lr: 0.1}\n";
  ParseResult good = ParseSpec(WithSpace(optimizer + "    training.batch_size: [8, 16.0]\n"
                                                     "    model.depth: {int: [2, 4]}\n"));
  ASSERT_TRUE(good.ok()) << good.ErrorText();
  const SearchSpace& space = good.spec.search.space;
  EXPECT_EQ(space.other_order, (std::vector<std::string>{"training.batch_size", "model.depth"}));
  EXPECT_EQ(space.others.at("training.batch_size").values, (std::vector<Json>{8, 16}));
  EXPECT_TRUE(space.others.at("training.batch_size").values[1].is_number_integer());

  ParseResult bad = ParseSpec(WithSpace(optimizer + "    training.batch_size: [8, 0]\n"
                                                    "    model.depth: [3, 6]\n"
                                                    "    training.batchsize: 4\n"
                                                    "    lr: 0.1\n"));
  EXPECT_TRUE(HasError(bad, "search.space.training.batch_size[1]", "must be an integer from 1"));
  EXPECT_TRUE(HasError(bad, "search.space.model.depth[1]", "not divisible by 2^(depth - 1) = 32"));
  EXPECT_TRUE(HasError(bad, "search.space.training.batchsize",
                       "did you mean \"training.batch_size\"?"));
  EXPECT_TRUE(HasError(bad, "search.space.lr", "unknown key (known keys: optimizer, scheduler"));
}

TEST(ParseSpecTest, SectionRangesAndUnsupportedChoices) {
  ParseResult result = ParseSpec(
      "name: 'bad name!'\nobjective: {metric: val_miou, mode: maximum}\nbudget: {epochs: 0}\n"
      "data: {dataset: vco, num_classes: 256}\nmodel: {arch: fcn}\n"
      "training: {batch_size: 0}\n"
      "search: {algorithm: bayes, space: {optimizer: {name: adam}}}\n");
  EXPECT_TRUE(HasError(result, "name", "letters, digits"));
  EXPECT_TRUE(HasError(result, "objective.mode", "must be one of max, min, got \"maximum\""));
  EXPECT_TRUE(HasError(result, "budget.epochs", "got 0"));
  EXPECT_TRUE(HasError(result, "data.dataset",
                       "must be one of shapes, voc, folder, got \"vco\" (did you mean \"voc\"?)"));
  EXPECT_TRUE(HasError(result, "data.num_classes", "from 2 to 255, got 256"));
  EXPECT_TRUE(HasError(result, "model.arch", "must be one of unet, lraspp, got \"fcn\""));
  EXPECT_TRUE(HasError(result, "training.batch_size", "got 0"));
  EXPECT_TRUE(HasError(result, "search.algorithm", "must be one of grid, random, asha"));
}

TEST(ParseSpecTest, YamlSyntaxErrorGivesLineAndColumn) {
  ParseResult result = ParseSpec("name: t\nbudget: {epochs: 3\nsearch: x\n");
  ASSERT_EQ(result.errors.size(), 1u);
  EXPECT_THAT(result.errors[0].message, HasSubstr("YAML syntax error at line"));
  EXPECT_THAT(result.errors[0].message, HasSubstr("column"));

  EXPECT_TRUE(HasError(ParseSpec(""), "", "the spec is empty"));
  EXPECT_TRUE(HasError(ParseSpec("name: a\nname: b\n"), "name", "duplicate key"));
}

TEST(ParseSpecTest, AliasExpansionIsBounded) {
  // Seven levels of ten aliases each would expand to 10^7 values.
  std::string yaml = "l0: &l0 [1, 1, 1, 1, 1, 1, 1, 1, 1, 1]\n";
  for (int level = 1; level <= 7; ++level) {
    std::string previous = "*l" + std::to_string(level - 1);
    yaml += "l" + std::to_string(level) + ": &l" + std::to_string(level) + " [";
    for (int i = 0; i < 10; ++i) yaml += (i ? ", " : "") + previous;
    yaml += "]\n";
  }
  EXPECT_TRUE(HasError(ParseSpec(yaml), "", "the spec is too large"));
}

TEST(ParseSpecTest, EveryProblemIsReported) {
  ParseResult result = ParseSpec(R"yaml(
name: multi
objective: {metric: val_miou}
budget: {epochs: -3, max_trials: 2}
training: {batch_size: big}
search:
  algorithm: random
  space:
    optimizer:
      - {name: SGD, lr: -1}
      - {name: Adamm}
      - {name: RMSprop, lr: {loguniform: [0, 1]}}
    scheduler: {name: StepLR}
)yaml");
  EXPECT_TRUE(HasError(result, "budget.epochs", "got -3"));
  EXPECT_TRUE(HasError(result, "training.batch_size", "got \"big\""));
  EXPECT_TRUE(HasError(result, "search.space.optimizer[0].lr", "must be >= 0"));
  EXPECT_TRUE(HasError(result, "search.space.optimizer[1].name", "unknown optimizer"));
  EXPECT_TRUE(HasError(result, "search.space.optimizer[2].lr.loguniform", "low must be > 0"));
  EXPECT_TRUE(HasError(result, "search.space.scheduler.step_size", "required"));
  EXPECT_EQ(result.errors.size(), 6u) << result.ErrorText();
  std::string text = result.ErrorText();
  EXPECT_EQ(std::count(text.begin(), text.end(), '\n'), 5);
}

// A valid spec with the given sections (YAML lines) and a plain SGD space.
std::string WithSections(const std::string& sections, const std::string& space_extra = "") {
  return "name: t\nobjective: {metric: val_loss}\nbudget: {epochs: 2}\n" + sections +
         "\nsearch:\n  space:\n    optimizer: {name: SGD, lr: 0.1}\n" + space_extra;
}

TEST(ParseSpecTest, VocSpecGetsItsDefaults) {
  ParseResult result =
      ParseSpec(WithSections("data: {dataset: voc, root: /data/VOC2012, num_classes: 21}"));
  ASSERT_TRUE(result.ok()) << result.ErrorText();
  // Every default is explicit, so the trial does not depend on the worker's.
  EXPECT_EQ(result.spec.data,
            Json::parse(R"({"dataset": "voc", "root": "/data/VOC2012", "image_size": 48,
                            "resize": 48, "num_classes": 21, "train_size": 0, "val_size": 0,
                            "seed": 7, "flip": true, "ignore_index": 255,
                            "mean": [0.485, 0.456, 0.406], "std": [0.229, 0.224, 0.225]})"));
}

TEST(ParseSpecTest, FolderSpecGetsItsDefaults) {
  ParseResult result = ParseSpec(WithSections(
      "data: {dataset: folder, root: data/leaves, image_size: 64, resize: 80, num_classes: 3,\n"
      "       train_size: 100, flip: false, ignore_index: 3, mean: [0.4, 0.4, 0.4]}"));
  ASSERT_TRUE(result.ok()) << result.ErrorText();
  EXPECT_EQ(result.spec.data,
            Json::parse(R"({"dataset": "folder", "root": "data/leaves", "image_size": 64,
                            "resize": 80, "num_classes": 3, "train_size": 100, "val_size": 0,
                            "seed": 7, "flip": false, "ignore_index": 3,
                            "mean": [0.4, 0.4, 0.4], "std": [0.229, 0.224, 0.225],
                            "val_fraction": 0.2})"));
}

TEST(ParseSpecTest, DataErrorsNameTheirPaths) {
  ParseResult shapes = ParseSpec(WithSections(
      "data: {root: /data, resize: 64, val_fraction: 0.1, train_size: 0, flip: yes,\n"
      "       num_classes: 4, ignore_index: 3, mean: [0.5, 0.5], std: [0.2, 0, 2]}"));
  EXPECT_TRUE(HasError(shapes, "data.root", "applies only to the voc and folder datasets"));
  EXPECT_TRUE(HasError(shapes, "data.resize", "applies only to the voc and folder datasets"));
  EXPECT_TRUE(HasError(shapes, "data.val_fraction", "applies only to the folder dataset"));
  EXPECT_TRUE(HasError(shapes, "data.train_size", "from 1 to 1000000, got 0"));
  EXPECT_TRUE(HasError(shapes, "data.flip", "must be true or false, got \"yes\""));
  EXPECT_TRUE(HasError(shapes, "data.ignore_index",
                       "must not be a class index: must be >= data.num_classes (4), got 3"));
  EXPECT_TRUE(HasError(shapes, "data.mean", "must be a list of 3 numbers"));
  EXPECT_TRUE(HasError(shapes, "data.std[1]", "must be a number > 0 and <= 1, got 0"));
  EXPECT_TRUE(HasError(shapes, "data.std[2]", "got 2"));
  EXPECT_EQ(shapes.errors.size(), 9u) << shapes.ErrorText();

  EXPECT_TRUE(HasError(ParseSpec(WithSections("data: {dataset: voc}")), "data.root",
                       "is required for dataset voc"));
  EXPECT_TRUE(HasError(ParseSpec(WithSections("data: {dataset: folder, root: ''}")), "data.root",
                       "must be a non-empty path"));
  ParseResult voc = ParseSpec(WithSections(
      "data: {dataset: voc, root: /v, image_size: 64, resize: 48, train_size: -1, "
      "val_fraction: 0.3}"));
  EXPECT_TRUE(HasError(voc, "data.resize", "must be >= data.image_size (64) to crop from, got 48"));
  EXPECT_TRUE(HasError(voc, "data.train_size", "from 0 to 1000000, got -1"));
  EXPECT_TRUE(HasError(voc, "data.val_fraction", "applies only to the folder dataset"));
  EXPECT_TRUE(HasError(ParseSpec(WithSections("data: {dataset: folder, root: /f, val_fraction: 1}")),
                       "data.val_fraction", "must be a number > 0 and < 1, got 1"));
  EXPECT_TRUE(HasError(ParseSpec(WithSections("data: {dataset: voc, root: /v, resize: 5000}")),
                       "data.resize", "from 16 to 4096, got 5000"));
}

TEST(ParseSpecTest, LrasppNeedsDepthTwo) {
  ParseResult fixed = ParseSpec(WithSections("model: {arch: lraspp, depth: 1}"));
  EXPECT_TRUE(HasError(fixed, "model.depth",
                       "lraspp needs at least 2 (its head reads stride-4 features)"));
  EXPECT_EQ(fixed.errors.size(), 1u) << fixed.ErrorText();

  // Each value a search can produce is checked, at the path it was written.
  ParseResult searched = ParseSpec(
      WithSections("model: {arch: lraspp}", "    model.depth: {int: [1, 3]}\n"));
  EXPECT_TRUE(HasError(searched, "search.space.model.depth.int[0]", "lraspp needs at least 2"));
  EXPECT_EQ(searched.errors.size(), 1u) << searched.ErrorText();

  ParseResult arch_searched = ParseSpec(
      WithSections("model: {depth: 1}", "    model.arch: [unet, lraspp]\n"));
  EXPECT_TRUE(HasError(arch_searched, "model.depth",
                       "lraspp needs at least 2 (its head reads stride-4 features); "
                       "search.space.model.arch[1] chooses lraspp"));
  EXPECT_EQ(arch_searched.errors.size(), 1u) << arch_searched.ErrorText();
}

TEST(ParseSpecTest, ImageSizeDivisibilityAppliesToUnetOnly) {
  EXPECT_TRUE(ParseSpec(WithSections("data: {image_size: 50}\nmodel: {arch: lraspp, depth: 4}"))
                  .ok());
  EXPECT_TRUE(HasError(ParseSpec(WithSections("data: {image_size: 50}\nmodel: {depth: 4}")),
                       "data.image_size", "not divisible by 2^(depth - 1) = 8"));

  ParseResult both = ParseSpec(WithSections("data: {image_size: 50}\nmodel: {depth: 2}",
                                            "    model.arch: {choice: [lraspp, unet]}\n"
                                            "    model.depth: [2, 3]\n"));
  EXPECT_TRUE(HasError(both, "search.space.model.depth[1]",
                       "not divisible by 2^(depth - 1) = 4 for model.depth 3 (the UNet halves "
                       "the image depth - 1 times); search.space.model.arch.choice[1] chooses "
                       "unet"));
  EXPECT_EQ(both.errors.size(), 1u) << both.ErrorText();

  // A depth the space overrides is never used, so it is not checked.
  EXPECT_TRUE(ParseSpec(WithSections("data: {image_size: 40}\nmodel: {depth: 5}",
                                     "    model.depth: [2, 3]\n"))
                  .ok());
}

TEST(ParseSpecTest, ModelArchIsSearchable) {
  ParseResult grid = ParseSpec(WithSections("", "    model.arch: [unet, lraspp]\n"
                                                "    data.flip: [true, false]\n"));
  ASSERT_TRUE(grid.ok()) << grid.ErrorText();
  const Domain& arch = grid.spec.search.space.others.at("model.arch");
  EXPECT_EQ(arch.kind, Domain::Kind::kGrid);
  EXPECT_EQ(arch.values, (std::vector<Json>{"unet", "lraspp"}));
  EXPECT_EQ(CountGridPoints(grid.spec.search.space), 4u);

  ParseResult bad = ParseSpec(WithSections("", "    model.arch: [unet, lrasp, 3]\n"
                                               "    data.flip: {uniform: [0, 1]}\n"));
  EXPECT_TRUE(HasError(bad, "search.space.model.arch[1]",
                       "must be one of unet, lraspp, got \"lrasp\" (did you mean \"lraspp\"?)"));
  EXPECT_TRUE(HasError(bad, "search.space.model.arch[2]", "got 3"));
  EXPECT_TRUE(HasError(bad, "search.space.data.flip.uniform", "takes true or false"));
  EXPECT_TRUE(HasError(ParseSpec(WithSections("", "    model.arch: {uniform: [0, 1]}\n")),
                       "search.space.model.arch.uniform", "takes a string"));
}

TEST(ParseSpecTest, AmpAndLossAreParsed) {
  ParseResult result = ParseSpec(WithSections(
      "data: {dataset: voc, root: /v, num_classes: 21}\n"
      "training: {amp: true, loss: {label_smoothing: 0.1, dice_weight: 0.5, weight: "
      "[1, 2, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0.5]}}",
      "    training.loss.dice_weight: {uniform: [0, 2]}\n"
      "    training.loss.label_smoothing: [0, 0.05]\n"));
  ASSERT_TRUE(result.ok()) << result.ErrorText();
  const Json& training = result.spec.training;
  EXPECT_EQ(training["amp"], true);
  EXPECT_EQ(training["loss"]["label_smoothing"], 0.1);
  EXPECT_EQ(training["loss"]["dice_weight"], 0.5);
  ASSERT_EQ(training["loss"]["weight"].size(), 21u);
  EXPECT_EQ(training["loss"]["weight"][20], 0.5);
  EXPECT_EQ(result.spec.search.space.others.at("training.loss.dice_weight").kind,
            Domain::Kind::kUniform);

  ParseResult bad = ParseSpec(WithSections(
      "training: {amp: 1, loss: {weight: [1, 0, 1, 1], label_smoothing: 1, dice_weight: 1001,\n"
      "           dice_wieght: 1}}",
      "    training.loss.label_smoothing: [0, 1]\n"
      "    training.loss.dice_weight: {loguniform: [1.0e-3, 2000]}\n"));
  EXPECT_TRUE(HasError(bad, "training.amp", "must be true or false, got 1"));
  EXPECT_TRUE(HasError(bad, "training.loss.weight[1]", "must be a number > 0"));
  EXPECT_TRUE(HasError(bad, "training.loss.label_smoothing",
                       "must be a number >= 0 and < 1, got 1"));
  EXPECT_TRUE(HasError(bad, "training.loss.dice_weight", "from 0 to 1000, got 1001"));
  EXPECT_TRUE(HasError(bad, "training.loss.dice_wieght",
                       "unknown key (did you mean \"dice_weight\"?)"));
  EXPECT_TRUE(HasError(bad, "search.space.training.loss.label_smoothing[1]", "got 1"));
  EXPECT_TRUE(HasError(bad, "search.space.training.loss.dice_weight.loguniform[1]", "got 2000"));
  EXPECT_EQ(bad.errors.size(), 7u) << bad.ErrorText();

  EXPECT_TRUE(HasError(ParseSpec(WithSections("training: {loss: {weight: [1, 1]}}")),
                       "training.loss.weight", "must be a list of 4 numbers (one per class"));
  EXPECT_TRUE(HasError(ParseSpec(WithSections("training: {loss: 0.5}")), "training.loss",
                       "must be a mapping"));
}

TEST(ParseSpecTest, UnknownTrainSizeLeavesBudgetExpressionsToTheWorker) {
  // train_size 0 reads the whole dataset: steps_per_epoch is not known here.
  const std::string voc = "data: {dataset: voc, root: /v}";
  ParseResult thirds = ParseSpec(WithSections(
      voc, "    scheduler: {name: StepLR, step_size: \"steps_per_epoch / 3\"}\n"));
  EXPECT_TRUE(thirds.ok()) << thirds.ErrorText();
  // Syntax is still checked.
  EXPECT_TRUE(HasError(ParseSpec(WithSections(
                           voc, "    scheduler: {name: StepLR, step_size: \"epoch * 2\"}\n")),
                       "search.space.scheduler.step_size", "unknown name \"epoch\""));
  // With a train_size, the same value is checked: 256 / 16 / 3 is not whole.
  EXPECT_TRUE(HasError(ParseSpec(WithSections(
                           "data: {dataset: voc, root: /v, train_size: 256}",
                           "    scheduler: {name: StepLR, step_size: \"steps_per_epoch / 3\"}\n")),
                       "search.space.scheduler.step_size", "not a whole number"));
}

TEST(ParseSpecTest, FullBatchNeedsAKnownTrainSize) {
  std::string space = "search:\n  space:\n    optimizer: [{name: SGD, lr: 0.1}, {name: bgd, lr: 0.1}]\n";
  std::string head = "name: t\nobjective: {metric: val_loss}\nbudget: {epochs: 2}\n";
  EXPECT_TRUE(HasError(ParseSpec(head + "data: {dataset: folder, root: /f}\n" + space),
                       "search.space.optimizer[1].name",
                       "bgd sets training.batch_size to data.train_size, which is 0"));
  EXPECT_TRUE(
      ParseSpec(head + "data: {dataset: folder, root: /f, train_size: 500}\n" + space).ok());
}

TEST(CatalogTest, CompleteArgsFillsTorchDefaults) {
  const optim::AlgorithmSpec* sgd = optim::ResolveOptimizer("SGD").algorithm;
  ASSERT_NE(sgd, nullptr);
  optim::Completed completed = optim::CompleteArgs(*sgd, {{"lr", 1}});
  EXPECT_TRUE(completed.problems.empty());
  EXPECT_EQ(completed.args, Json::parse(R"({"lr": 1.0, "momentum": 0.0, "dampening": 0.0,
                                            "weight_decay": 0.0, "nesterov": false, "maximize": false})"));
  EXPECT_TRUE(completed.args["lr"].is_number_float());  // an int where a float goes is a float

  const optim::AlgorithmSpec* adamw = optim::ResolveOptimizer("adamw").algorithm;
  ASSERT_NE(adamw, nullptr);
  EXPECT_EQ(optim::CompleteArgs(*adamw, Json::object()).args,
            Json::parse(R"({"lr": 0.001, "betas": [0.9, 0.999], "eps": 1e-8,
                            "weight_decay": 0.01, "amsgrad": false, "maximize": false})"));

  const optim::AlgorithmSpec* plateau = optim::ResolveScheduler("plateau").algorithm;
  ASSERT_NE(plateau, nullptr);
  optim::Completed plateau_args = optim::CompleteArgs(*plateau, {{"patience", 2.0}});
  EXPECT_TRUE(plateau_args.problems.empty());
  EXPECT_TRUE(plateau_args.args["patience"].is_number_integer());
  EXPECT_EQ(plateau_args.args["monitor"], "val_loss");
  EXPECT_EQ(plateau_args.args["mode"], "min");
}

TEST(CatalogTest, CompleteArgsReportsProblems) {
  const optim::AlgorithmSpec* plateau = optim::ResolveScheduler("ReduceLROnPlateau").algorithm;
  optim::Completed completed = optim::CompleteArgs(
      *plateau, {{"factor", 1.0}, {"patience", 1.5}, {"monitor", "val_acc"}, {"typo", 1}});
  std::map<std::string, std::string> problems;
  for (const optim::ArgProblem& problem : completed.problems) problems[problem.arg] = problem.message;
  ASSERT_EQ(problems.size(), 4u);
  EXPECT_THAT(problems["factor"], HasSubstr("Factor should be < 1.0."));
  EXPECT_THAT(problems["patience"], HasSubstr("must be an integer, got 1.5"));
  EXPECT_THAT(problems["monitor"], HasSubstr("got \"val_acc\""));
  EXPECT_THAT(problems["typo"], HasSubstr("unknown argument of ReduceLROnPlateau"));

  // A score must be watched with mode max.
  optim::Completed score = optim::CompleteArgs(*plateau, {{"monitor", "val_miou"}});
  ASSERT_EQ(score.problems.size(), 1u);
  EXPECT_EQ(score.problems[0].arg, "mode");
  EXPECT_THAT(score.problems[0].message, HasSubstr("must be max when monitor is val_miou"));
  EXPECT_TRUE(
      optim::CompleteArgs(*plateau, {{"monitor", "val_miou"}, {"mode", "max"}}).problems.empty());

  const optim::AlgorithmSpec* exponential = optim::ResolveScheduler("exp").algorithm;
  optim::Completed missing = optim::CompleteArgs(*exponential, Json::object());
  ASSERT_EQ(missing.problems.size(), 1u);
  EXPECT_EQ(missing.problems[0].arg, "gamma");
}

TEST(CatalogTest, AliasesResolve) {
  optim::Resolved momentum = optim::ResolveOptimizer("momentum");
  ASSERT_NE(momentum.algorithm, nullptr);
  EXPECT_EQ(momentum.algorithm->name, "SGD");
  EXPECT_EQ(momentum.implied_args, Json::parse(R"({"momentum": 0.9})"));
  optim::Resolved bgd = optim::ResolveOptimizer("bgd");
  EXPECT_EQ(bgd.implied_others, Json::parse(R"({"training.batch_size": "full"})"));
  EXPECT_EQ(optim::ResolveScheduler("cosine").algorithm->name, "CosineAnnealingLR");
  EXPECT_EQ(optim::ResolveOptimizer("Sgd").algorithm, nullptr);  // torch names are case-sensitive
  EXPECT_EQ(optim::ResolveOptimizer("StepLR").algorithm, nullptr);
}

}  // namespace
}  // namespace segtune::spec
