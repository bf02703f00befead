#include "pbt_searcher.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include <gtest/gtest.h>

#include "segtune/search/searcher.h"
#include "segtune/spec/spec.h"
#include "trial_builder.h"

namespace segtune::search::internal {
namespace {

using Json = nlohmann::json;

// SGD explores lr and momentum (weight_decay is a grid list); Adam explores
// lr and weight_decay. The scheduler and the batch size are categorical.
constexpr const char* kSpace = R"yaml(
  algorithm: random
  space:
    optimizer:
      - {name: SGD, lr: {loguniform: [1.0e-3, 1.0e-1]}, momentum: {uniform: [0.5, 0.99]},
         weight_decay: [0, 1.0e-4]}
      - {name: Adam, lr: {loguniform: [1.0e-4, 1.0e-2]}, weight_decay: {uniform: [0, 1.0e-3]}}
    scheduler:
      - {name: StepLR, step_size: [2, 3], gamma: 0.5}
      - {name: CosineAnnealingLR, T_max: 8}
    training.batch_size: [8, 16]
)yaml";

// The [low, high] of every explored argument of kSpace, by optimizer name.
const std::map<std::string, std::map<std::string, std::pair<double, double>>> kRanges = {
    {"SGD", {{"lr", {1e-3, 1e-1}}, {"momentum", {0.5, 0.99}}}},
    {"Adam", {{"lr", {1e-4, 1e-2}}, {"weight_decay", {0.0, 1e-3}}}},
};

// pbt's settings and the budget, with fluent setters.
struct Settings {
  int population_ = 4;
  int epochs_ = 8;
  int interval_ = 2;
  double quantile_ = 0.25;
  double resample_ = 0.0;
  std::uint64_t seed_ = 11;

  Settings& population(int value) {
    population_ = value;
    return *this;
  }
  Settings& epochs(int value) {
    epochs_ = value;
    return *this;
  }
  Settings& interval(int value) {
    interval_ = value;
    return *this;
  }
  Settings& quantile(double value) {
    quantile_ = value;
    return *this;
  }
  Settings& resample(double value) {
    resample_ = value;
    return *this;
  }
  Settings& seed(std::uint64_t value) {
    seed_ = value;
    return *this;
  }
};

spec::SweepSpec PbtSpec(const Settings& settings, const std::string& search = kSpace) {
  spec::ParseResult result = spec::ParseSpec(
      "name: t\nobjective: {metric: val_miou}\nbudget: {epochs: " +
      std::to_string(settings.epochs_) + ", max_trials: " + std::to_string(settings.population_) +
      "}\nsearch:\n" + search);
  EXPECT_TRUE(result.ok()) << result.ErrorText();
  spec::SweepSpec spec = result.spec;
  // The parser does not take pbt's keys yet: set them here.
  spec.search.algorithm = "pbt";
  spec.search.seed = settings.seed_;
  spec.search.pbt.perturbation_interval = settings.interval_;
  spec.search.pbt.quantile_fraction = settings.quantile_;
  spec.search.pbt.resample_probability = settings.resample_;
  return spec;
}

absl::StatusOr<std::unique_ptr<Searcher>> TryMake(const spec::SweepSpec& spec) {
  absl::StatusOr<TrialBuilder> builder = TrialBuilder::Create(spec);
  if (!builder.ok()) return builder.status();
  return MakePbtSearcher(*std::move(builder), spec);
}

std::unique_ptr<Searcher> Make(const spec::SweepSpec& spec) {
  absl::StatusOr<std::unique_ptr<Searcher>> searcher = TryMake(spec);
  EXPECT_TRUE(searcher.ok()) << searcher.status();
  return searcher.ok() ? *std::move(searcher) : nullptr;
}

// Reports `epoch` for each (member, objective) in order; the verdicts by member.
std::map<int, Verdict> Report(Searcher& searcher, int epoch,
                              const std::vector<std::pair<int, double>>& reports) {
  std::map<int, Verdict> verdicts;
  for (const auto& [member, objective] : reports) {
    verdicts[member] = searcher.OnEpoch(member, epoch, objective);
  }
  return verdicts;
}

// Epoch 1 for everyone (off the interval), then epoch 2 reported so that each
// of members 1, 0, 2 is the best when it reports and member 3, the worst,
// comes last: only member 3 is in the bottom quantile when it reports.
std::map<int, Verdict> ScriptWorstLast(Searcher& searcher) {
  Report(searcher, 1, {{0, 0.1}, {1, 0.1}, {2, 0.1}, {3, 0.1}});
  return Report(searcher, 2, {{1, 0.5}, {0, 0.6}, {2, 0.63}, {3, 0.41}});
}

// Checks that `exploit` is `donor`'s params with every explored argument
// moved by exactly x0.8 or x1.2 (then clipped) or resampled in its range, and
// everything else copied.
void ExpectExploreOf(const Json& donor, const Exploit& exploit, bool resampled) {
  // Copies: a missing key reads as null instead of asserting.
  Json params = exploit.params;
  Json changes = exploit.lineage_entry.value("changes", Json::object());
  const std::string name = donor["optimizer"]["name"];
  const auto& ranges = kRanges.at(name);
  // Categorical values: copied.
  for (const auto& [key, value] : donor.items()) {
    if (key != "optimizer") {
      EXPECT_EQ(params[key], value) << key;
    }
  }
  for (const auto& [arg, value] : donor["optimizer"].items()) {
    if (ranges.count(arg) == 0) {
      EXPECT_EQ(params["optimizer"][arg], value) << arg;
    }
  }
  // Explored values: every continuous argument, and nothing else.
  ASSERT_EQ(changes.size(), ranges.size()) << changes;
  Json changed_args = Json::object();
  for (const auto& [arg, range] : ranges) {
    Json change = changes["optimizer." + arg];
    ASSERT_TRUE(change.is_object()) << arg << " " << changes;
    const double from = change["from"];
    const double to = change["to"];
    EXPECT_EQ(change["from"], donor["optimizer"][arg]) << arg;
    EXPECT_EQ(change["to"], params["optimizer"][arg]) << arg;
    EXPECT_GE(to, range.first) << arg;
    EXPECT_LE(to, range.second) << arg;
    const std::string how = change["how"];
    if (resampled) {
      EXPECT_EQ(how, "resampled") << arg;
    } else {
      ASSERT_TRUE(how == "x0.8" || how == "x1.2") << arg << " " << how;
      const double factor = how == "x0.8" ? 0.8 : 1.2;
      EXPECT_DOUBLE_EQ(to, std::clamp(from * factor, range.first, range.second)) << arg;
    }
    if (arg == "lr") {
      EXPECT_DOUBLE_EQ(exploit.resume["lr_scale"].get<double>(), to / from);
    } else if (to != from) {
      changed_args[arg] = change["to"];
    }
  }
  EXPECT_EQ(exploit.resume["optimizer"], changed_args);
  EXPECT_EQ(exploit.resume["epoch"], exploit.epoch);
  EXPECT_EQ(exploit.lineage_entry["epoch"], exploit.epoch);
  EXPECT_EQ(exploit.lineage_entry["donor"], exploit.donor_index);
}

TEST(PbtSearcherTest, InitialPopulationIsRandomSearchWithTheSameSeed) {
  spec::SweepSpec spec = PbtSpec(Settings().population(6));
  std::unique_ptr<Searcher> pbt = Make(spec);
  ASSERT_NE(pbt, nullptr);
  EXPECT_EQ(pbt->TotalTrials(), 6);

  spec::SweepSpec random_spec = spec;
  random_spec.search.algorithm = "random";
  absl::StatusOr<std::unique_ptr<Searcher>> random = Searcher::Create(random_spec);
  ASSERT_TRUE(random.ok()) << random.status();
  std::vector<Json> population = pbt->Suggest(4);
  std::vector<Json> rest = pbt->Suggest(100);
  population.insert(population.end(), rest.begin(), rest.end());
  EXPECT_EQ(population, (*random)->Suggest(100));
  EXPECT_TRUE(pbt->Suggest(1).empty());
}

TEST(PbtSearcherTest, SearcherCreateMakesOneFromAParsedSpec) {
  spec::ParseResult parsed = spec::ParseSpec(R"yaml(
name: t
objective: {metric: val_miou}
budget: {epochs: 6, max_trials: 4}
search:
  algorithm: pbt
  perturbation_interval: 3
  quantile_fraction: 0.5
  resample_probability: 0
  space:
    optimizer:
      - {name: SGD, lr: {loguniform: [1.0e-3, 1.0e-1]}}
)yaml");
  ASSERT_TRUE(parsed.ok()) << parsed.ErrorText();
  absl::StatusOr<std::unique_ptr<Searcher>> searcher = Searcher::Create(parsed.spec);
  ASSERT_TRUE(searcher.ok()) << searcher.status();
  EXPECT_EQ((*searcher)->TotalTrials(), 4);
  // Epoch 3 is the interval: 2nd of 2 is in the bottom half.
  EXPECT_EQ((*searcher)->OnEpoch(0, 2, 0.9).decision, Decision::kContinue);
  EXPECT_EQ((*searcher)->OnEpoch(1, 2, 0.1).decision, Decision::kContinue);
  EXPECT_EQ((*searcher)->OnEpoch(0, 3, 0.9).decision, Decision::kContinue);
  Verdict verdict = (*searcher)->OnEpoch(1, 3, 0.1);
  ASSERT_EQ(verdict.decision, Decision::kPause);
  EXPECT_NE(verdict.exploit->lineage_entry["changes"]["optimizer.lr"]["how"], "resampled");
}

TEST(PbtSearcherTest, RejectsBadSettings) {
  auto error_of = [](const Settings& settings) {
    return std::string(TryMake(PbtSpec(settings)).status().message());
  };
  EXPECT_NE(error_of(Settings().population(1)).find("budget.max_trials"), std::string::npos);
  EXPECT_NE(error_of(Settings().interval(0)).find("search.perturbation_interval"),
            std::string::npos);
  EXPECT_NE(error_of(Settings().quantile(0.6)).find("search.quantile_fraction"), std::string::npos);
  EXPECT_NE(error_of(Settings().quantile(0)).find("search.quantile_fraction"), std::string::npos);
  EXPECT_NE(error_of(Settings().resample(1.5)).find("search.resample_probability"),
            std::string::npos);
  EXPECT_TRUE(TryMake(PbtSpec(Settings().population(2).quantile(0.5).resample(1))).ok());
}

TEST(PbtSearcherTest, BottomMemberCopiesTheTopMemberAndExplores) {
  std::unique_ptr<Searcher> searcher = Make(PbtSpec(Settings()));
  ASSERT_NE(searcher, nullptr);
  const std::vector<Json> population = searcher->Suggest(4);
  std::map<int, Verdict> verdicts = ScriptWorstLast(*searcher);

  for (int member : {0, 1, 2}) {
    EXPECT_EQ(verdicts[member].decision, Decision::kContinue) << member;
    EXPECT_FALSE(verdicts[member].exploit.has_value());
  }
  const Verdict& verdict = verdicts[3];
  ASSERT_EQ(verdict.decision, Decision::kPause);
  ASSERT_TRUE(verdict.exploit.has_value());
  const Exploit& exploit = *verdict.exploit;
  // With 4 members and a quantile of 0.25 the top holds member 2 alone.
  EXPECT_EQ(exploit.donor_index, 2);
  EXPECT_EQ(exploit.epoch, 2);
  ExpectExploreOf(population[2], exploit, /*resampled=*/false);

  std::string explored;
  for (const auto& [path, change] : exploit.lineage_entry["changes"].items()) {
    explored +=
        (explored.empty() ? "" : ", ") + path.substr(std::string("optimizer.").size()) + " " + change["how"].get<std::string>();
  }
  EXPECT_EQ(verdict.reason,
            "pbt epoch 2: 4th of 4 (0.41), copies trial 2 (0.63) and explores " + explored);

  // The scheduler queues the exploited member again itself.
  EXPECT_TRUE(searcher->TakeResumes().empty());
  // A retried report of the same epoch does not exploit again.
  EXPECT_EQ(searcher->OnEpoch(3, 2, 0.41).decision, Decision::kContinue);
  EXPECT_TRUE(searcher->TakeResumes().empty());
}

TEST(PbtSearcherTest, ReasonsShowAMinimizedMetricAsItIs) {
  spec::SweepSpec spec = PbtSpec(Settings());
  spec.objective.metric = "val_loss";
  spec.objective.maximize = false;
  std::unique_ptr<Searcher> searcher = Make(spec);
  ASSERT_NE(searcher, nullptr);
  // Oriented objectives: the negated losses 0.2 and 0.7.
  searcher->OnEpoch(0, 2, -0.2);
  Verdict verdict = searcher->OnEpoch(1, 2, -0.7);
  ASSERT_EQ(verdict.decision, Decision::kPause);
  EXPECT_EQ(verdict.reason.rfind("pbt epoch 2: 2nd of 2 (0.7), copies trial 0 (0.2) and ", 0), 0u)
      << verdict.reason;
}

TEST(PbtSearcherTest, PerturbationFactorsAreExactlyPointEightAndOnePointTwo) {
  std::set<std::string> seen;
  for (std::uint64_t seed = 1; seed <= 12; ++seed) {
    std::unique_ptr<Searcher> searcher = Make(PbtSpec(Settings().seed(seed)));
    ASSERT_NE(searcher, nullptr);
    const std::vector<Json> population = searcher->Suggest(4);
    Verdict verdict = ScriptWorstLast(*searcher)[3];
    ASSERT_TRUE(verdict.exploit.has_value()) << seed;
    ExpectExploreOf(population[2], *verdict.exploit, /*resampled=*/false);
    for (const auto& [path, change] : verdict.exploit->lineage_entry["changes"].items()) {
      seen.insert(change["how"].get<std::string>());
    }
  }
  EXPECT_EQ(seen, (std::set<std::string>{"x0.8", "x1.2"}));
}

TEST(PbtSearcherTest, ResamplingDrawsWithinTheDomain) {
  for (std::uint64_t seed = 1; seed <= 8; ++seed) {
    std::unique_ptr<Searcher> searcher = Make(PbtSpec(Settings().resample(1.0).seed(seed)));
    ASSERT_NE(searcher, nullptr);
    const std::vector<Json> population = searcher->Suggest(4);
    Verdict verdict = ScriptWorstLast(*searcher)[3];
    ASSERT_TRUE(verdict.exploit.has_value()) << seed;
    ExpectExploreOf(population[2], *verdict.exploit, /*resampled=*/true);
    EXPECT_NE(verdict.exploit->params, population[2]);
  }
}

TEST(PbtSearcherTest, IntegerAndQuantizedArgumentsStayOnTheirGrid) {
  constexpr const char* kSteps = R"yaml(
  algorithm: random
  space:
    optimizer:
      - {name: Adadelta, lr: {int: [1, 5]}, rho: {uniform: [0.8, 0.95], q: 0.05},
         weight_decay: {int: [0, 40], q: 10}}
)yaml";
  std::set<std::string> seen;
  for (std::uint64_t seed = 1; seed <= 12; ++seed) {
    std::unique_ptr<Searcher> searcher =
        Make(PbtSpec(Settings().resample(seed % 3 == 0 ? 1.0 : 0.0).seed(seed), kSteps));
    ASSERT_NE(searcher, nullptr);
    const std::vector<Json> population = searcher->Suggest(4);
    Verdict verdict = ScriptWorstLast(*searcher)[3];
    ASSERT_TRUE(verdict.exploit.has_value()) << seed;
    Json changes = verdict.exploit->lineage_entry["changes"];
    ASSERT_EQ(changes.size(), 3u) << changes;

    Json lr = changes["optimizer.lr"];
    ASSERT_TRUE(lr["to"].is_number_integer()) << lr;
    EXPECT_GE(lr["to"].get<int>(), 1);
    EXPECT_LE(lr["to"].get<int>(), 5);
    Json rho = changes["optimizer.rho"];
    const double rho_to = rho["to"];
    EXPECT_NEAR(rho_to / 0.05, std::round(rho_to / 0.05), 1e-9) << rho;
    EXPECT_GE(rho_to, 0.8 - 1e-12);
    EXPECT_LE(rho_to, 0.95 + 1e-12);
    Json weight_decay = changes["optimizer.weight_decay"];
    ASSERT_TRUE(weight_decay["to"].is_number_integer()) << weight_decay;
    EXPECT_EQ(weight_decay["to"].get<int>() % 10, 0);
    if (lr["how"] != "resampled") {
      const double factor = lr["how"] == "x0.8" ? 0.8 : 1.2;
      EXPECT_EQ(lr["to"].get<double>(),
                std::round(std::clamp(lr["from"].get<double>() * factor, 1.0, 5.0)));
    }
    for (const auto& [path, change] : changes.items())
      seen.insert(change["how"].get<std::string>());
  }
  EXPECT_EQ(seen, (std::set<std::string>{"x0.8", "x1.2", "resampled"}));
}

TEST(PbtSearcherTest, OnlyTheBottomQuantileExploitsFromTheTopQuantile) {
  // 8 members, quantile 0.25: of m members reporting, the bottom and the top
  // ceil(m / 4) (at most m / 2) count.
  std::unique_ptr<Searcher> searcher = Make(PbtSpec(Settings().population(8).seed(3)));
  ASSERT_NE(searcher, nullptr);
  // Ascending: each of members 0..5 is the best when it reports.
  std::vector<std::pair<int, double>> ascending;
  for (int member = 0; member < 6; ++member) ascending.push_back({member, 0.1 * (member + 1)});
  for (const auto& [member, verdict] : Report(*searcher, 2, ascending)) {
    EXPECT_EQ(verdict.decision, Decision::kContinue) << member;
  }
  // 4th of 7 is above the bottom 2: continues. 8th of 8: exploits.
  std::map<int, Verdict> late = Report(*searcher, 2, {{6, 0.35}, {7, 0.05}});
  EXPECT_EQ(late[6].decision, Decision::kContinue);
  ASSERT_EQ(late[7].decision, Decision::kPause);
  EXPECT_TRUE(late[7].exploit->donor_index == 5 || late[7].exploit->donor_index == 4);

  // At epoch 4 the last two reporters are 7th of 7 and 7th of 8.
  Report(*searcher, 4, ascending);
  std::map<int, Verdict> last = Report(*searcher, 4, {{7, 0.05}, {6, 0.07}});
  for (int member : {6, 7}) {
    ASSERT_EQ(last[member].decision, Decision::kPause) << member;
    EXPECT_TRUE(last[member].exploit->donor_index == 5 || last[member].exploit->donor_index == 4);
  }
  EXPECT_NE(last[6].reason.find("7th of 8"), std::string::npos) << last[6].reason;
  EXPECT_NE(last[7].reason.find("7th of 7"), std::string::npos) << last[7].reason;

  // 6th of 7 is in the bottom ceil(7 / 4) = 2.
  Report(*searcher, 6, ascending);
  Verdict sixth = searcher->OnEpoch(6, 6, 0.15);
  ASSERT_EQ(sixth.decision, Decision::kPause);
  EXPECT_NE(sixth.reason.find("6th of 7"), std::string::npos) << sixth.reason;
}

TEST(PbtSearcherTest, DonorsAreDrawnUniformlyFromTheTop) {
  std::set<int> donors;
  for (std::uint64_t seed = 1; seed <= 16; ++seed) {
    std::unique_ptr<Searcher> searcher =
        Make(PbtSpec(Settings().population(4).quantile(0.5).seed(seed)));
    ASSERT_NE(searcher, nullptr);
    // Ranking 2, 0, 1, 3: the top half is {2, 0}; member 3 (4th) exploits.
    Verdict verdict = ScriptWorstLast(*searcher)[3];
    ASSERT_TRUE(verdict.exploit.has_value()) << seed;
    donors.insert(verdict.exploit->donor_index);
  }
  EXPECT_EQ(donors, (std::set<int>{0, 2}));
}

TEST(PbtSearcherTest, AMemberThatExploitedAtAnEpochIsNoDonorAtIt) {
  for (std::uint64_t seed = 1; seed <= 8; ++seed) {
    std::unique_ptr<Searcher> searcher = Make(PbtSpec(Settings().population(8).seed(seed)));
    ASSERT_NE(searcher, nullptr);
    // Member 1 is 2nd of 2 and copies member 0; later it is 2nd of 8, in the
    // top quarter with member 0, but its checkpoint of epoch 2 is a copy.
    ASSERT_EQ(Report(*searcher, 2, {{0, 0.9}, {1, 0.8}})[1].decision, Decision::kPause);
    std::map<int, Verdict> verdicts =
        Report(*searcher, 2, {{2, 0.5}, {3, 0.4}, {4, 0.3}, {5, 0.2}, {6, 0.1}, {7, 0.05}});
    for (const auto& [member, verdict] : verdicts) {
      ASSERT_EQ(verdict.decision, Decision::kPause) << member;
      EXPECT_EQ(verdict.exploit->donor_index, 0) << "seed " << seed << " member " << member;
    }
  }
}

TEST(PbtSearcherTest, OffIntervalEpochsAndTheLastEpochContinue) {
  std::unique_ptr<Searcher> searcher = Make(PbtSpec(Settings().epochs(4)));
  ASSERT_NE(searcher, nullptr);
  const std::vector<std::pair<int, double>> worst_last = {{1, 0.5}, {0, 0.6}, {2, 0.63}, {3, 0.41}};
  for (int epoch : {1, 3, 4}) {
    for (const auto& [member, verdict] : Report(*searcher, epoch, worst_last)) {
      EXPECT_EQ(verdict.decision, Decision::kContinue) << "epoch " << epoch << " member " << member;
    }
  }
  // The same reports at the one inner interval epoch exploit.
  EXPECT_EQ(Report(*searcher, 2, worst_last)[3].decision, Decision::kPause);
}

// Epoch 2: members 2, 1, 0 each the best when they report (no exploit), then
// member 0 diverges and member 1 completes.
void ScriptDivergedBestAndCompleted(Searcher& searcher) {
  Report(searcher, 2, {{2, 0.5}, {1, 0.6}, {0, 0.9}});
  searcher.OnTrialEnd(0, TrialEnd::kDiverged);
  searcher.OnTrialEnd(1, TrialEnd::kCompleted);
}

TEST(PbtSearcherTest, DivergedMembersRankLast) {
  std::unique_ptr<Searcher> searcher = Make(PbtSpec(Settings()));
  ASSERT_NE(searcher, nullptr);
  ScriptDivergedBestAndCompleted(*searcher);
  // Ranking 1, 2, 3, then the diverged 0: with a quantile of 0.25 the bottom
  // is member 0 alone, and member 3 (3rd of 4) continues.
  EXPECT_EQ(searcher->OnEpoch(3, 2, 0.4).decision, Decision::kContinue);
}

TEST(PbtSearcherTest, EndedMembersDonateButDivergedOnesNever) {
  std::set<int> donors;
  for (std::uint64_t seed = 1; seed <= 10; ++seed) {
    std::unique_ptr<Searcher> searcher = Make(PbtSpec(Settings().quantile(0.5).seed(seed)));
    ASSERT_NE(searcher, nullptr);
    ScriptDivergedBestAndCompleted(*searcher);
    // Top half: 1 (completed) and 2; the diverged 0 had the best objective.
    Verdict verdict = searcher->OnEpoch(3, 2, 0.4);
    ASSERT_EQ(verdict.decision, Decision::kPause) << seed;
    EXPECT_NE(verdict.reason.find("3rd of 4"), std::string::npos) << verdict.reason;
    donors.insert(verdict.exploit->donor_index);
  }
  EXPECT_EQ(donors, (std::set<int>{1, 2}));
}

TEST(PbtSearcherTest, EndedMembersAreNoRecipients) {
  // Member 1 is last of 3 at epoch 4: it exploits while it runs, not once it
  // has ended.
  for (bool ended : {false, true}) {
    std::unique_ptr<Searcher> searcher = Make(PbtSpec(Settings().quantile(0.5)));
    ASSERT_NE(searcher, nullptr);
    Report(*searcher, 4, {{3, 0.8}, {2, 0.9}});
    if (ended) searcher->OnTrialEnd(1, TrialEnd::kFailed);
    EXPECT_EQ(searcher->OnEpoch(1, 4, 0.1).decision,
              ended ? Decision::kContinue : Decision::kPause);
  }
}

TEST(PbtSearcherTest, DonorGivesTheConfigurationOfItsCheckpointsEpoch) {
  std::unique_ptr<Searcher> searcher = Make(PbtSpec(Settings().seed(5)));
  ASSERT_NE(searcher, nullptr);
  const std::vector<Json> population = searcher->Suggest(4);
  Report(*searcher, 1, {{0, 0.1}, {1, 0.1}, {2, 0.1}, {3, 0.1}});
  Report(*searcher, 2, {{1, 0.5}, {0, 0.9}});
  // Members 0 and 1 run ahead; at epoch 4 member 0 copies member 1.
  Report(*searcher, 3, {{0, 0.1}, {1, 0.1}});
  Verdict ahead = Report(*searcher, 4, {{1, 0.9}, {0, 0.3}})[0];
  ASSERT_EQ(ahead.decision, Decision::kPause);
  ASSERT_EQ(ahead.exploit->donor_index, 1);
  ASSERT_NE(ahead.exploit->params, population[0]);

  // Member 3 copies member 0's checkpoint of epoch 2, trained with member 0's
  // initial configuration, not the one it has now.
  std::map<int, Verdict> late = Report(*searcher, 2, {{2, 0.7}, {3, 0.1}});
  EXPECT_EQ(late[2].decision, Decision::kContinue);
  ASSERT_EQ(late[3].decision, Decision::kPause);
  EXPECT_EQ(late[3].exploit->donor_index, 0);
  ExpectExploreOf(population[0], *late[3].exploit, /*resampled=*/false);
}

TEST(PbtSearcherTest, AFailedExploitLeavesTheMembersConfiguration) {
  std::unique_ptr<Searcher> searcher = Make(PbtSpec(Settings().seed(5)));
  ASSERT_NE(searcher, nullptr);
  const std::vector<Json> population = searcher->Suggest(4);
  Report(*searcher, 1, {{0, 0.1}, {1, 0.1}, {2, 0.1}, {3, 0.1}});
  Verdict failed = Report(*searcher, 2, {{0, 0.9}, {1, 0.5}, {2, 0.4}, {3, 0.1}})[3];
  ASSERT_EQ(failed.decision, Decision::kPause);
  ASSERT_EQ(failed.exploit->donor_index, 0);
  // The scheduler could not copy member 0's checkpoint: member 3 trains on
  // with its own weights and params, so what it donates later is its own.
  searcher->OnExploitFailed(3, 2);
  Report(*searcher, 3, {{0, 0.1}, {1, 0.1}, {2, 0.1}, {3, 0.1}});
  Verdict copied = Report(*searcher, 4, {{3, 0.9}, {0, 0.5}, {1, 0.4}, {2, 0.1}})[2];
  ASSERT_EQ(copied.decision, Decision::kPause);
  ASSERT_EQ(copied.exploit->donor_index, 3);
  ExpectExploreOf(population[3], *copied.exploit, /*resampled=*/false);
}

// --- Restore and determinism over a longer, asynchronous run. ---

struct Event {
  enum class Kind { kEpoch, kEnd } kind = Kind::kEpoch;
  int member = 0;
  int epoch = 0;
  double objective = 0;
  TrialEnd end = TrialEnd::kCompleted;
};

// Six members at different speeds over 8 epochs; member 4 leads at epoch 2
// and then diverges, member 5, the slowest, is cancelled after epoch 5; the
// others complete.
std::vector<Event> AsynchronousRun() {
  struct Timed {
    int time;
    Event event;
  };
  std::vector<Timed> timed;
  for (int member = 0; member < 6; ++member) {
    const int last = member == 4 ? 2 : member == 5 ? 5 : 8;
    const int pace = member == 5 ? 8 : 3 + member % 3;
    for (int epoch = 1; epoch <= last; ++epoch) {
      // Scattered objectives without ties, the same on every platform.
      const double objective =
          member == 4 ? 0.99 : ((member + 1) * 7919 * (epoch + 3) % 1009) / 1009.0;
      timed.push_back({epoch * pace + member, {Event::Kind::kEpoch, member, epoch, objective}});
    }
    const TrialEnd end = member == 4   ? TrialEnd::kDiverged
                         : member == 5 ? TrialEnd::kCancelled
                                       : TrialEnd::kCompleted;
    timed.push_back({(last + 1) * pace + member, {Event::Kind::kEnd, member, 0, 0, end}});
  }
  std::stable_sort(timed.begin(), timed.end(),
                   [](const Timed& a, const Timed& b) { return a.time < b.time; });
  std::vector<Event> events;
  for (const Timed& t : timed) events.push_back(t.event);
  // A stale report after member 0 completed, the worst at its epoch: ignored.
  events.push_back({Event::Kind::kEpoch, 0, 2, 0.0});
  return events;
}

Json ToJson(const Verdict& verdict) {
  Json json = {{"decision", static_cast<int>(verdict.decision)}, {"reason", verdict.reason}};
  if (verdict.exploit) {
    json["exploit"] = {{"donor", verdict.exploit->donor_index},
                       {"epoch", verdict.exploit->epoch},
                       {"params", verdict.exploit->params},
                       {"lineage", verdict.exploit->lineage_entry},
                       {"resume", verdict.exploit->resume}};
  }
  return json;
}

TrialHistory::Status StatusOf(TrialEnd end) {
  switch (end) {
    case TrialEnd::kCompleted:
      return TrialHistory::Status::kCompleted;
    case TrialEnd::kStopped:
      return TrialHistory::Status::kStopped;
    case TrialEnd::kFailed:
      return TrialHistory::Status::kFailed;
    case TrialEnd::kDiverged:
      return TrialHistory::Status::kDiverged;
    case TrialEnd::kCancelled:
      return TrialHistory::Status::kCancelled;
  }
  return TrialHistory::Status::kFailed;
}

// Plays events on a searcher and keeps the store's view of the trials as the
// scheduler does: epochs; an exploit stores the new params and the lineage
// entry (with the resume beside it) and queues the member again (PENDING);
// ends. Returns what the searcher said about each event (null for ends).
class Driver {
 public:
  // A new sweep: the searcher's population, all running.
  Driver(Searcher& searcher, const std::vector<Json>& population) : searcher_(searcher) {
    for (std::size_t i = 0; i < population.size(); ++i) {
      TrialHistory trial;
      trial.index = static_cast<int>(i);
      trial.params = population[i];
      trial.status = TrialHistory::Status::kRunning;
      history_.push_back(trial);
    }
  }
  // A restored sweep: the store as it was.
  Driver(Searcher& searcher, std::vector<TrialHistory> history)
      : searcher_(searcher), history_(std::move(history)) {}

  Json Decide(const Event& event) {
    TrialHistory& trial = history_[event.member];
    if (event.kind == Event::Kind::kEnd) {
      searcher_.OnTrialEnd(event.member, event.end);
      trial.status = StatusOf(event.end);
      return nullptr;
    }
    trial.objectives.resize(std::max<std::size_t>(trial.objectives.size(), event.epoch));
    trial.objectives[event.epoch - 1] = event.objective;
    Verdict verdict = searcher_.OnEpoch(event.member, event.epoch, event.objective);
    EXPECT_TRUE(searcher_.TakeResumes().empty());
    // No exploit can copy its checkpoint: the member goes on as it was.
    if (verdict.decision == Decision::kPause && copies_fail_) {
      searcher_.OnExploitFailed(event.member, event.epoch);
      return ToJson(verdict);
    }
    if (verdict.decision == Decision::kPause) {
      trial.status = TrialHistory::Status::kPending;
      trial.params = verdict.exploit->params;
      Json entry = verdict.exploit->lineage_entry;
      entry["resume"] = verdict.exploit->resume;
      trial.lineage.push_back(entry);
    }
    return ToJson(verdict);
  }

  std::vector<Json> Play(const std::vector<Event>& events, std::size_t from, std::size_t to) {
    std::vector<Json> said;
    for (std::size_t i = from; i < to; ++i) said.push_back(Decide(events[i]));
    return said;
  }

  const std::vector<TrialHistory>& history() const { return history_; }
  // From now on, every exploit fails to copy its checkpoint.
  void FailCopies() { copies_fail_ = true; }

 private:
  Searcher& searcher_;
  std::vector<TrialHistory> history_;
  bool copies_fail_ = false;
};

Settings RunSettings() { return Settings().population(6).quantile(0.34).resample(0.3).seed(9); }

TEST(PbtSearcherTest, AsynchronousRunKeepsTheRules) {
  const std::vector<Event> events = AsynchronousRun();
  std::unique_ptr<Searcher> searcher = Make(PbtSpec(RunSettings()));
  ASSERT_NE(searcher, nullptr);
  Driver driver(*searcher, searcher->Suggest(6));
  std::vector<Json> said = driver.Play(events, 0, events.size());
  int pauses = 0;
  for (std::size_t i = 0; i < events.size(); ++i) {
    if (said[i].is_null() || !said[i].contains("exploit")) continue;
    ++pauses;
    const Event& event = events[i];
    const int donor = said[i]["exploit"]["donor"];
    EXPECT_NE(donor, event.member);
    EXPECT_NE(donor, 4) << "the diverged member donated";
    EXPECT_EQ(event.epoch % 2, 0);
    EXPECT_LT(event.epoch, 8);
    // The donor reported the epoch before the recipient did.
    bool donor_reported = false;
    for (std::size_t j = 0; j < i; ++j) {
      donor_reported |= events[j].kind == Event::Kind::kEpoch && events[j].member == donor &&
                        events[j].epoch == event.epoch;
    }
    EXPECT_TRUE(donor_reported) << "event " << i;
  }
  EXPECT_GE(pauses, 4);
}

TEST(PbtSearcherTest, SameSpecAndEventsGiveTheSameDecisions) {
  const std::vector<Event> events = AsynchronousRun();
  std::vector<std::vector<Json>> runs;
  for (std::uint64_t seed : {9, 9, 10}) {
    Settings settings = RunSettings();
    settings.seed(seed);
    std::unique_ptr<Searcher> searcher = Make(PbtSpec(settings));
    ASSERT_NE(searcher, nullptr);
    Driver driver(*searcher, searcher->Suggest(6));
    runs.push_back(driver.Play(events, 0, events.size()));
  }
  EXPECT_EQ(runs[0], runs[1]);
  EXPECT_NE(runs[0], runs[2]);
}

// Restarts after every event; with `failing`, exploits fail to copy their
// checkpoint (OnExploitFailed) and leave no trace in the store.
void ExpectRestoresDecideLikeTheOriginal(bool failing) {
  const std::vector<Event> events = AsynchronousRun();
  const spec::SweepSpec spec = PbtSpec(RunSettings());
  std::unique_ptr<Searcher> original = Make(spec);
  ASSERT_NE(original, nullptr);
  Driver original_driver(*original, original->Suggest(6));
  if (failing) original_driver.FailCopies();
  const std::vector<Json> expected = original_driver.Play(events, 0, events.size());

  // The coordinator dies after every event in turn: its successor restores a
  // fresh searcher from the store and must decide the rest as the original.
  int exploits_after_a_restore = 0;
  for (std::size_t cut = 1; cut < events.size(); ++cut) {
    std::unique_ptr<Searcher> before = Make(spec);
    ASSERT_NE(before, nullptr);
    Driver before_driver(*before, before->Suggest(6));
    if (failing) before_driver.FailCopies();
    before_driver.Play(events, 0, cut);

    std::unique_ptr<Searcher> restored = Make(spec);
    ASSERT_NE(restored, nullptr);
    restored->Restore(before_driver.history());
    EXPECT_TRUE(restored->Suggest(1).empty());
    Driver after_driver(*restored, before_driver.history());
    if (failing) after_driver.FailCopies();
    const std::vector<Json> said = after_driver.Play(events, cut, events.size());
    for (std::size_t i = 0; i < said.size(); ++i) {
      EXPECT_EQ(said[i], expected[cut + i]) << "cut " << cut << " event " << cut + i;
      exploits_after_a_restore += said[i].is_object() && said[i].contains("exploit") ? 1 : 0;
    }
  }
  EXPECT_GT(exploits_after_a_restore, 0);
}

TEST(PbtSearcherTest, RestoredSearcherDecidesLikeOneThatNeverStopped) {
  ExpectRestoresDecideLikeTheOriginal(/*failing=*/false);
}

TEST(PbtSearcherTest, FailedExploitsAreForgottenAsTheStoreForgetsThem) {
  ExpectRestoresDecideLikeTheOriginal(/*failing=*/true);
}

TEST(PbtSearcherTest, RestoreRebuildsEveryConfigurationOfAMember) {
  const spec::SweepSpec spec = PbtSpec(Settings().epochs(10).seed(4));
  // Members 0 and 1 run ahead: member 0 copies member 1 at epochs 2 and 6.
  // Then member 2, late, copies member 0's checkpoint of epoch 4, made with
  // the configuration member 0 took at epoch 2.
  std::vector<Event> events;
  auto report = [&events](int member, int epoch, double objective) {
    events.push_back({Event::Kind::kEpoch, member, epoch, objective});
  };
  report(1, 2, 0.9);
  report(0, 2, 0.1);
  report(1, 4, 0.9);
  report(0, 4, 0.95);
  report(1, 6, 0.9);
  report(0, 6, 0.1);
  const std::size_t restart = events.size();
  report(2, 4, 0.5);

  std::unique_ptr<Searcher> original = Make(spec);
  ASSERT_NE(original, nullptr);
  Driver original_driver(*original, original->Suggest(4));
  std::vector<Json> expected = original_driver.Play(events, 0, events.size());
  ASSERT_EQ(expected[1]["exploit"]["donor"], 1);
  ASSERT_EQ(expected[5]["exploit"]["donor"], 1);
  ASSERT_EQ(expected[6]["exploit"]["donor"], 0);
  EXPECT_EQ(expected[6]["exploit"]["lineage"]["changes"]["optimizer.lr"]["from"],
            expected[1]["exploit"]["params"]["optimizer"]["lr"]);

  std::unique_ptr<Searcher> before = Make(spec);
  ASSERT_NE(before, nullptr);
  Driver before_driver(*before, before->Suggest(4));
  before_driver.Play(events, 0, restart);
  std::unique_ptr<Searcher> restored = Make(spec);
  ASSERT_NE(restored, nullptr);
  restored->Restore(before_driver.history());
  Driver after_driver(*restored, before_driver.history());
  EXPECT_EQ(after_driver.Play(events, restart, events.size()).back(), expected.back());
}

TEST(PbtSearcherTest, RestoreTakesEachMembersCurrentParamsFromTheStore) {
  const spec::SweepSpec spec = PbtSpec(Settings());
  std::unique_ptr<Searcher> searcher = Make(spec);
  ASSERT_NE(searcher, nullptr);
  std::vector<TrialHistory> history(4);
  std::vector<Json> population = searcher->Suggest(4);
  for (int i = 0; i < 4; ++i) {
    history[i].index = i;
    history[i].params = population[i];
    history[i].status = TrialHistory::Status::kRunning;
  }
  // Trial 2 runs with params this version would not have made (say an older
  // coordinator filled in other defaults): copies of it take what it runs with.
  history[2].params["optimizer"]["legacy_default"] = 1;
  std::unique_ptr<Searcher> restored = Make(spec);
  ASSERT_NE(restored, nullptr);
  restored->Restore(history);
  Verdict verdict = ScriptWorstLast(*restored)[3];
  ASSERT_TRUE(verdict.exploit.has_value());
  EXPECT_EQ(verdict.exploit->params["optimizer"]["legacy_default"], 1);
  ExpectExploreOf(history[2].params, *verdict.exploit, /*resampled=*/false);
}

TEST(PbtSearcherTest, ADecisionDependsOnlyOnSeedTrialEpochAndState) {
  // Member 7's exploit at epoch 2 is the same whether or not member 5 made an
  // unrelated exploit at epoch 4 before it.
  auto exploit_of_7 = [](bool other_exploit_first) {
    std::unique_ptr<Searcher> searcher = Make(PbtSpec(Settings().population(8).seed(21)));
    Report(*searcher, 2, {{0, 0.1}, {1, 0.2}, {2, 0.3}, {3, 0.4}, {4, 0.5}, {5, 0.6}, {6, 0.7}});
    if (other_exploit_first) {
      Report(*searcher, 4, {{0, 0.9}});
      EXPECT_EQ(searcher->OnEpoch(5, 4, 0.1).decision, Decision::kPause);
    }
    Verdict verdict = searcher->OnEpoch(7, 2, 0.05);
    EXPECT_EQ(verdict.decision, Decision::kPause);
    return ToJson(verdict);
  };
  EXPECT_EQ(exploit_of_7(false), exploit_of_7(true));
}

}  // namespace
}  // namespace segtune::search::internal
