#include "segtune/search/searcher.h"

#include <cmath>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "segtune/spec/spec.h"

namespace segtune::search {
namespace {

using Json = nlohmann::json;

// A validated spec around the given search section body (indented by 2).
spec::SweepSpec Spec(const std::string& search, const std::string& budget = "{epochs: 2}") {
  spec::ParseResult result = spec::ParseSpec("name: t\nobjective: {metric: val_miou}\nbudget: " +
                                             budget + "\nsearch:\n" + search);
  EXPECT_TRUE(result.ok()) << result.ErrorText();
  return result.spec;
}

// A searcher that restores `already_suggested` trials created before a restart.
std::unique_ptr<Searcher> Make(const spec::SweepSpec& spec, int already_suggested = 0) {
  absl::StatusOr<std::unique_ptr<Searcher>> searcher = Searcher::Create(spec);
  EXPECT_TRUE(searcher.ok()) << searcher.status();
  if (!searcher.ok()) return nullptr;
  std::vector<TrialHistory> history(already_suggested);
  for (int i = 0; i < already_suggested; ++i) history[i].index = i;
  (*searcher)->Restore(history);
  return *std::move(searcher);
}

std::vector<Json> AllTrials(const spec::SweepSpec& spec) {
  std::unique_ptr<Searcher> searcher = Make(spec);
  if (!searcher) return {};
  return searcher->Suggest(1000000);
}

constexpr const char* kSmallGrid = R"yaml(
  algorithm: grid
  space:
    optimizer:
      - {name: SGD, lr: [0.1, 0.01], momentum: [0, 0.9]}
      - {name: Adam, lr: 0.001}
    scheduler:
      - {name: StepLR, step_size: [2, 4]}
    training.batch_size: [8, 16]
)yaml";

TEST(GridSearcherTest, SizeOrderAndContents) {
  spec::SweepSpec spec = Spec(kSmallGrid);
  std::unique_ptr<Searcher> searcher = Make(spec);
  ASSERT_NE(searcher, nullptr);
  // (2 x 2 SGD points + 1 Adam point) x 2 step sizes x 2 batch sizes.
  EXPECT_EQ(searcher->TotalTrials(), 20);

  std::vector<Json> first = searcher->Suggest(3);
  ASSERT_EQ(first.size(), 3u);
  EXPECT_EQ(first[0], Json::parse(R"({
      "optimizer": {"name": "SGD", "lr": 0.1, "momentum": 0.0, "dampening": 0.0,
                    "weight_decay": 0.0, "nesterov": false, "maximize": false},
      "scheduler": {"name": "StepLR", "step_size": 2, "gamma": 0.1, "interval": "epoch"},
      "training.batch_size": 8})"));
  // The last key varies fastest, then the scheduler, then the optimizer's axes.
  EXPECT_EQ(first[1]["training.batch_size"], 16);
  EXPECT_EQ(first[2]["scheduler"]["step_size"], 4);
  EXPECT_EQ(first[2]["training.batch_size"], 8);

  std::vector<Json> rest = searcher->Suggest(100);
  ASSERT_EQ(rest.size(), 17u);
  EXPECT_TRUE(searcher->Suggest(1).empty());
  // Trial 4: momentum (the second SGD axis) moves after the scheduler block.
  EXPECT_EQ(rest[1]["optimizer"]["lr"], 0.1);
  EXPECT_EQ(rest[1]["optimizer"]["momentum"], 0.9);
  // Trial 8: the first axis, lr, moves last among SGD's.
  EXPECT_EQ(rest[5]["optimizer"]["lr"], 0.01);
  EXPECT_EQ(rest[5]["optimizer"]["momentum"], 0.0);
  // Trials 16..19: the second alternative, Adam, with every default.
  EXPECT_EQ(rest[13]["optimizer"], Json::parse(R"({"name": "Adam", "lr": 0.001,
      "betas": [0.9, 0.999], "eps": 1e-8, "weight_decay": 0.0, "amsgrad": false, "maximize": false})"));

  std::set<std::string> distinct;
  for (const Json& trial : first) distinct.insert(trial.dump());
  for (const Json& trial : rest) distinct.insert(trial.dump());
  EXPECT_EQ(distinct.size(), 20u);
}

TEST(GridSearcherTest, AliasesResolveWithDefaults) {
  spec::SweepSpec spec = Spec(R"yaml(
  space:
    optimizer:
      - {name: momentum, lr: 0.05}
      - {name: nag, lr: 0.05}
      - {name: bgd, lr: 0.5}
    training.batch_size: 32
)yaml");
  std::vector<Json> trials = AllTrials(spec);
  ASSERT_EQ(trials.size(), 3u);
  EXPECT_EQ(trials[0], Json::parse(R"({
      "optimizer": {"name": "SGD", "lr": 0.05, "momentum": 0.9, "dampening": 0.0,
                    "weight_decay": 0.0, "nesterov": false, "maximize": false},
      "training.batch_size": 32})"));
  EXPECT_EQ(trials[1]["optimizer"]["nesterov"], true);
  EXPECT_EQ(trials[1]["optimizer"]["momentum"], 0.9);
  // bgd: plain SGD on the whole training set (data.train_size, 256 by default).
  EXPECT_EQ(trials[2]["optimizer"]["momentum"], 0.0);
  EXPECT_EQ(trials[2]["training.batch_size"], 256);
  EXPECT_FALSE(trials[2].contains("scheduler"));
}

TEST(GridSearcherTest, MaxTrialsTakesSeededSubsetInGridOrder) {
  std::vector<Json> full = AllTrials(Spec(kSmallGrid));
  ASSERT_EQ(full.size(), 20u);

  auto subset = [&](int seed) {
    return AllTrials(Spec(std::string(kSmallGrid) + "  seed: " + std::to_string(seed) + "\n",
                          "{epochs: 2, max_trials: 5}"));
  };
  std::vector<Json> picked = subset(1);
  ASSERT_EQ(picked.size(), 5u);
  // A subsequence of the full grid: distinct points, still in grid order.
  std::size_t position = 0;
  for (const Json& trial : picked) {
    while (position < full.size() && full[position] != trial) ++position;
    ASSERT_LT(position, full.size()) << trial.dump() << " is not in grid order";
    ++position;
  }
  EXPECT_EQ(subset(1), picked);
  EXPECT_NE(subset(2), picked);

  spec::SweepSpec larger_budget = Spec(kSmallGrid, "{epochs: 2, max_trials: 50}");
  EXPECT_EQ(Make(larger_budget)->TotalTrials(), 20);
  EXPECT_EQ(AllTrials(larger_budget), full);
}

TEST(GridSearcherTest, DistributionsAreSampledPerTrial) {
  spec::SweepSpec spec = Spec(R"yaml(
  space:
    optimizer: {name: Adam, lr: {loguniform: [0.0001, 0.01]}, weight_decay: [0, 0.0001]}
    training.seed: {choice: [1, 2, 3]}
)yaml");
  std::vector<Json> trials = AllTrials(spec);
  ASSERT_EQ(trials.size(), 2u);
  EXPECT_NE(trials[0]["optimizer"]["lr"], trials[1]["optimizer"]["lr"]);
  for (const Json& trial : trials) {
    double lr = trial["optimizer"]["lr"];
    EXPECT_GE(lr, 0.0001);
    EXPECT_LT(lr, 0.01);
    EXPECT_TRUE(trial["training.seed"] == 1 || trial["training.seed"] == 2 ||
                trial["training.seed"] == 3);
  }
  EXPECT_EQ(AllTrials(spec), trials);
}

constexpr const char* kRandomSpace = R"yaml(
  algorithm: random
  space:
    optimizer:
      - {name: SGD, lr: {loguniform: [0.001, 0.1]}, momentum: {uniform: [0.5, 0.9], q: 0.1}}
      - {name: Adam, lr: [0.001, 0.003]}
    scheduler:
      - {name: StepLR, step_size: {int: [1, 4]}}
      - {name: CosineAnnealingLR, T_max: {int: [2, 10], q: 2}}
    training.batch_size: {choice: [8, 16, 32]}
)yaml";

spec::SweepSpec RandomSpec(int seed, int max_trials = 200) {
  return Spec(std::string(kRandomSpace) + "  seed: " + std::to_string(seed) + "\n",
              "{epochs: 2, max_trials: " + std::to_string(max_trials) + "}");
}

TEST(RandomSearcherTest, ReproducibleWithSameSeedOnly) {
  std::vector<Json> trials = AllTrials(RandomSpec(7));
  ASSERT_EQ(trials.size(), 200u);
  EXPECT_EQ(AllTrials(RandomSpec(7)), trials);
  EXPECT_NE(AllTrials(RandomSpec(8)), trials);
  EXPECT_EQ(Make(RandomSpec(7))->TotalTrials(), 200);
}

TEST(RandomSearcherTest, ValuesStayWithinTheirDomains) {
  std::set<std::string> optimizers, schedulers;
  std::set<std::int64_t> step_sizes, t_maxes, batch_sizes;
  std::set<double> momenta, adam_lrs;
  for (const Json& trial : AllTrials(RandomSpec(3))) {
    const Json& optimizer = trial["optimizer"];
    const Json& scheduler = trial["scheduler"];
    optimizers.insert(optimizer["name"]);
    schedulers.insert(scheduler["name"]);
    if (optimizer["name"] == "SGD") {
      double lr = optimizer["lr"];
      EXPECT_GE(lr, 0.001);
      EXPECT_LT(lr, 0.1);
      momenta.insert(optimizer["momentum"].get<double>());
    } else {
      adam_lrs.insert(optimizer["lr"].get<double>());
    }
    if (scheduler["name"] == "StepLR") {
      ASSERT_TRUE(scheduler["step_size"].is_number_integer());
      step_sizes.insert(scheduler["step_size"].get<std::int64_t>());
    } else {
      t_maxes.insert(scheduler["T_max"].get<std::int64_t>());
      EXPECT_DOUBLE_EQ(scheduler["eta_min"].get<double>(), 0.0);
    }
    batch_sizes.insert(trial["training.batch_size"].get<std::int64_t>());
  }
  EXPECT_EQ(optimizers, (std::set<std::string>{"SGD", "Adam"}));
  EXPECT_EQ(schedulers, (std::set<std::string>{"StepLR", "CosineAnnealingLR"}));
  // q: 0.1 over [0.5, 0.9] gives exactly the tenths, both ends included.
  EXPECT_EQ(momenta, (std::set<double>{0.5, 0.6, 0.7, 0.8, 0.9}));
  EXPECT_EQ(adam_lrs, (std::set<double>{0.001, 0.003}));
  // int is inclusive at both ends; q: 2 keeps the even ones.
  EXPECT_EQ(step_sizes, (std::set<std::int64_t>{1, 2, 3, 4}));
  EXPECT_EQ(t_maxes, (std::set<std::int64_t>{2, 4, 6, 8, 10}));
  EXPECT_EQ(batch_sizes, (std::set<std::int64_t>{8, 16, 32}));
}

TEST(RandomSearcherTest, LogUniformIsUniformInLogSpace) {
  spec::SweepSpec spec = Spec(R"yaml(
  algorithm: random
  space:
    optimizer: {name: SGD, lr: {loguniform: [0.0001, 1]}}
)yaml", "{epochs: 2, max_trials: 2000}");
  int below_hundredth = 0;
  for (const Json& trial : AllTrials(spec)) {
    if (trial["optimizer"]["lr"].get<double>() < 0.01) ++below_hundredth;
  }
  // Half the log range lies below 0.01 (uniform sampling would put 1% there).
  EXPECT_NEAR(below_hundredth / 2000.0, 0.5, 0.05);
}

TEST(RandomSearcherTest, SameTrialsOnEveryPlatform) {
  // Integer draws use only mt19937_64 and integer arithmetic, so these are
  // fixed for seed 0 wherever segtune runs (checked against an independent
  // mt19937_64 written in Python: each trial takes three draws, and the
  // third gives 1 + x % 1000).
  spec::SweepSpec spec = Spec(R"yaml(
  algorithm: random
  space:
    optimizer: {name: SGD, lr: 0.1}
    scheduler: {name: StepLR, step_size: {int: [1, 1000]}}
)yaml", "{epochs: 2, max_trials: 3}");
  std::vector<std::int64_t> step_sizes;
  for (const Json& trial : AllTrials(spec)) step_sizes.push_back(trial["scheduler"]["step_size"]);
  EXPECT_EQ(step_sizes, (std::vector<std::int64_t>{834, 919, 319}));
}

TEST(SearcherTest, RestoreContinuesAfterTrialsCreatedBefore) {
  for (const spec::SweepSpec& spec : {RandomSpec(5, 10), Spec(R"yaml(
  space:
    optimizer: {name: SGD, lr: {uniform: [0.01, 0.1]}, momentum: [0, 0.5, 0.9]}
    training.batch_size: [4, 8]
)yaml")}) {
    std::vector<Json> all = AllTrials(spec);
    ASSERT_GE(all.size(), 6u);
    std::unique_ptr<Searcher> resumed = Make(spec, 3);
    ASSERT_NE(resumed, nullptr);
    std::vector<Json> next = resumed->Suggest(2);
    ASSERT_EQ(next.size(), 2u);
    EXPECT_EQ(next[0], all[3]);
    EXPECT_EQ(next[1], all[4]);
    EXPECT_EQ(resumed->Suggest(1000).size(), all.size() - 5);

    std::unique_ptr<Searcher> finished = Make(spec, static_cast<int>(all.size()) + 4);
    EXPECT_TRUE(finished->Suggest(1).empty());
  }
}

TEST(SearcherTest, TrialsAlwaysContinue) {
  std::unique_ptr<Searcher> searcher = Make(Spec(kSmallGrid));
  EXPECT_EQ(searcher->OnEpoch(0, 1, -5.0).decision, Decision::kContinue);
  EXPECT_EQ(searcher->OnEpoch(3, 100, 0.9).decision, Decision::kContinue);
  searcher->OnTrialEnd(0, TrialEnd::kDiverged);
  EXPECT_TRUE(searcher->TakeResumes().empty());
}

TEST(SearcherTest, CreateRejectsSpecsValidationWouldReject) {
  spec::SweepSpec random = RandomSpec(1);
  random.budget.max_trials = 0;
  EXPECT_EQ(Searcher::Create(random).status().code(), absl::StatusCode::kInvalidArgument);

  spec::SweepSpec unknown = Spec(kSmallGrid);
  unknown.search.algorithm = "bayes";
  EXPECT_EQ(Searcher::Create(unknown).status().code(), absl::StatusCode::kInvalidArgument);

  spec::SweepSpec empty = Spec(kSmallGrid);
  empty.search.space.optimizers.clear();
  EXPECT_EQ(Searcher::Create(empty).status().code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace segtune::search
