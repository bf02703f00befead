#include "segtune/client/lr_find.h"

#include <cmath>
#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <yaml-cpp/yaml.h>

#include "segtune/spec/spec.h"

namespace segtune::client {
namespace {

using nlohmann::json;
using ::testing::HasSubstr;

constexpr char kSpec[] = R"(name: study
objective: {metric: val_miou, mode: max}
budget: {epochs: 8, max_trials: 0, parallelism: 4}
data: {dataset: shapes, image_size: 32, num_classes: 4, train_size: 64, val_size: 16, seed: 7}
model: {arch: unet, base_channels: 8, depth: 3}
training: {batch_size: 16, seed: 0}
search:
  algorithm: asha
  eta: 2
  seed: 11
  space:
    optimizer:
      - {name: momentum, lr: [0.1, 0.03]}
      - {name: Adam, lr: {loguniform: [1.0e-4, 1.0e-2]}, weight_decay: 1.0e-4}
    scheduler:
      - {name: StepLR, step_size: 3}
)";

std::vector<std::string> Keys(const YAML::Node& map) {
  std::vector<std::string> keys;
  for (const auto& entry : map) keys.push_back(entry.first.Scalar());
  return keys;
}

TEST(LrFindSpecTest, ReplacesTheSearchAndKeepsTheRest) {
  LrFindSettings settings;
  settings.min_lr = 1e-6;
  settings.iterations = 30;
  absl::StatusOr<std::string> rewritten = LrFindSpec(kSpec, "spec.yaml", settings);
  ASSERT_TRUE(rewritten.ok()) << rewritten.status();
  const YAML::Node original = YAML::Load(kSpec);
  const YAML::Node spec = YAML::Load(*rewritten);
  EXPECT_EQ(Keys(spec), Keys(original));
  for (const char* section : {"name", "objective", "data", "model", "training"}) {
    EXPECT_EQ(YAML::Dump(spec[section]), YAML::Dump(original[section])) << section;
  }
  // Every optimizer is tested (no max_trials subset), in steps, not epochs.
  EXPECT_EQ(Keys(spec["budget"]), (std::vector<std::string>{"parallelism"}));
  EXPECT_EQ(spec["budget"]["parallelism"].Scalar(), "4");
  const YAML::Node search = spec["search"];
  EXPECT_EQ(Keys(search), (std::vector<std::string>{"algorithm", "seed", "min_lr", "iterations", "space"}));
  EXPECT_EQ(search["algorithm"].Scalar(), "lr_range_test");
  EXPECT_EQ(search["seed"].Scalar(), "11");
  EXPECT_EQ(search["min_lr"].Scalar(), "1e-06");
  EXPECT_EQ(search["iterations"].Scalar(), "30");
  EXPECT_EQ(Keys(search["space"]), (std::vector<std::string>{"optimizer"}));
  EXPECT_EQ(YAML::Dump(search["space"]["optimizer"]), YAML::Dump(original["search"]["space"]["optimizer"]));
}

TEST(LrFindSpecTest, TheRewrittenSpecIsAValidRangeTest) {
  LrFindSettings settings;
  settings.min_lr = 1e-5;
  settings.max_lr = 1.0;
  settings.iterations = 30;
  absl::StatusOr<std::string> rewritten = LrFindSpec(kSpec, "spec.yaml", settings);
  ASSERT_TRUE(rewritten.ok()) << rewritten.status();
  const spec::ParseResult parsed = spec::ParseSpec(*rewritten);
  ASSERT_TRUE(parsed.ok()) << parsed.ErrorText();
  EXPECT_EQ(parsed.spec.search.algorithm, "lr_range_test");
  EXPECT_EQ(parsed.spec.search.seed, 11u);
  EXPECT_EQ(parsed.spec.search.lr_range.min_lr, 1e-5);
  EXPECT_EQ(parsed.spec.search.lr_range.max_lr, 1.0);
  EXPECT_EQ(parsed.spec.search.lr_range.iterations, 30);
  EXPECT_EQ(parsed.spec.search.space.optimizers.size(), 2u);
  EXPECT_TRUE(parsed.spec.search.space.schedulers.empty());
}

TEST(LrFindSpecTest, KeepsTheRangeSettingsOfARangeTestSpecUnlessFlagged) {
  const std::string spec = R"(name: s
search:
  algorithm: lr_range_test
  min_lr: 1.0e-5
  smoothing: 0.9
  space: {optimizer: {name: SGD}}
)";
  LrFindSettings settings;
  settings.min_lr = 1e-3;
  absl::StatusOr<std::string> rewritten = LrFindSpec(spec, "spec.yaml", settings);
  ASSERT_TRUE(rewritten.ok()) << rewritten.status();
  const YAML::Node search = YAML::Load(*rewritten)["search"];
  EXPECT_EQ(search["min_lr"].Scalar(), "0.001");
  EXPECT_EQ(search["smoothing"].Scalar(), "0.9");
  EXPECT_FALSE(search["seed"].IsDefined());
  EXPECT_EQ(search["space"]["optimizer"]["name"].Scalar(), "SGD");
}

TEST(LrFindSpecTest, ASpecWithoutOptimizersIsInvalidNamingTheField) {
  for (const std::string spec : {"name: s\n", "name: s\nsearch: grid\n", "name: s\nsearch: {space: {}}\n",
                                 "name: s\nsearch: {space: {optimizer: }}\n"}) {
    absl::StatusOr<std::string> rewritten = LrFindSpec(spec, "spec.yaml", {});
    EXPECT_EQ(rewritten.status().code(), absl::StatusCode::kInvalidArgument) << spec;
    EXPECT_THAT(rewritten.status().message(), HasSubstr("spec spec.yaml is invalid:\n  search.space.optimizer: "))
        << spec;
  }
  absl::StatusOr<std::string> broken = LrFindSpec("name: [s\n", "spec.yaml", {});
  EXPECT_EQ(broken.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(broken.status().message(), HasSubstr("not valid YAML"));
  EXPECT_THAT(LrFindSpec("- a\n", "spec.yaml", {}).status().message(), HasSubstr("mapping"));
}

// A range test's trial: lr 10^(-5 + 0.25 i), a loss that falls fastest at
// 1e-3 and is lowest at 1e-2.
v1::GetTrialMetricsResponse RangeTrial(int steps, v1::TrialState state, const std::string& reason) {
  v1::GetTrialMetricsResponse response;
  v1::Trial* trial = response.mutable_trial();
  trial->set_trial_id("s1-0000");
  trial->set_state(state);
  trial->set_reason(reason);
  trial->set_params_json(R"({"optimizer": {"name": "SGD", "lr": 1e-05, "momentum": 0.9, "dampening": 0.0}})");
  for (int i = 0; i < steps; ++i) {
    const double x = -5 + 0.25 * i;
    const double smoothed = 2 - 1.5 / (1 + std::exp(-3 * (x + 3))) + (x > -2 ? 3 * (x + 2) * (x + 2) : 0);
    v1::EpochMetrics* row = response.add_epochs();
    row->set_epoch(i + 1);
    row->set_attempt(1);
    (*row->mutable_metrics())["lr"] = std::pow(10.0, x);
    (*row->mutable_metrics())["train_loss"] = smoothed + (i % 2 == 0 ? 0.1 : -0.1);
    (*row->mutable_metrics())["smoothed_loss"] = smoothed;
  }
  return response;
}

TEST(LrFindResultTest, AnalysesATrialsCurve) {
  const std::string reason = "loss diverged at lr 3.2e-01 (smoothed 8.1 > 4 x min 0.503)";
  absl::StatusOr<LrFindResult> result = AnalyseLrRangeTrial(RangeTrial(17, v1::STOPPED, reason));
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(result->trial_id, "s1-0000");
  EXPECT_EQ(result->optimizer, json::parse(R"({"name": "SGD", "momentum": 0.9, "dampening": 0.0})"));
  EXPECT_EQ(result->state, v1::STOPPED);
  EXPECT_EQ(result->reason, reason);
  ASSERT_EQ(result->curve.size(), 17u);
  EXPECT_DOUBLE_EQ(result->curve[4].lr, 1e-4);
  ASSERT_TRUE(result->suggestion.has_value());
  EXPECT_NEAR(std::log10(result->suggestion->suggested_lr), -3, 1e-9);
  EXPECT_NEAR(std::log10(result->suggestion->min_loss_lr), -2, 1e-9);
  EXPECT_NEAR(std::log10(result->suggestion->range_high), -3, 1e-9);
  EXPECT_EQ(result->note, "");
}

TEST(LrFindResultTest, NotesWhatToChange) {
  absl::StatusOr<LrFindResult> short_run = AnalyseLrRangeTrial(RangeTrial(4, v1::STOPPED, "loss is nan"));
  ASSERT_TRUE(short_run.ok());
  EXPECT_FALSE(short_run->suggestion.has_value());
  EXPECT_EQ(short_run->note, "4 steps are too few to read a curve from (5 at least)");

  // Up to 1e-2.5: still falling when the test completed.
  absl::StatusOr<LrFindResult> falling = AnalyseLrRangeTrial(RangeTrial(11, v1::COMPLETED, ""));
  ASSERT_TRUE(falling.ok());
  EXPECT_EQ(falling->note, "the loss was still falling at the largest lr: try a higher --max-lr");

  v1::GetTrialMetricsResponse rising = RangeTrial(8, v1::STOPPED, "");
  for (int i = 0; i < 8; ++i) (*rising.mutable_epochs(i)->mutable_metrics())["smoothed_loss"] = 1 + i;
  absl::StatusOr<LrFindResult> never_fell = AnalyseLrRangeTrial(rising);
  ASSERT_TRUE(never_fell.ok());
  EXPECT_FALSE(never_fell->suggestion->loss_fell);
  EXPECT_EQ(never_fell->note, "the loss never fell: try a lower --min-lr");
}

TEST(LrFindResultTest, ATrialWithoutRangeMetricsIsAnError) {
  v1::GetTrialMetricsResponse response = RangeTrial(6, v1::COMPLETED, "");
  response.mutable_epochs(2)->mutable_metrics()->erase("smoothed_loss");
  absl::StatusOr<LrFindResult> result = AnalyseLrRangeTrial(response);
  EXPECT_THAT(result.status().message(), HasSubstr("trial s1-0000 epoch 3: no smoothed_loss metric"));
}

TEST(LrFindResultTest, ALaterAttemptsStepReplacesAnEarlierOne) {
  v1::GetTrialMetricsResponse response = RangeTrial(6, v1::COMPLETED, "");
  v1::EpochMetrics* again = response.add_epochs();
  *again = response.epochs(5);
  again->set_attempt(2);
  (*again->mutable_metrics())["train_loss"] = 42;
  absl::StatusOr<LrFindResult> result = AnalyseLrRangeTrial(response);
  ASSERT_TRUE(result.ok());
  ASSERT_EQ(result->curve.size(), 6u);
  EXPECT_EQ(result->curve.back().loss, 42);
}

TEST(LrFindResultTest, JsonHasOneElementPerOptimizerWithItsCurve) {
  const std::string reason = "loss diverged at lr 3.2e-01 (smoothed 8.1 > 4 x min 0.503)";
  std::vector<LrFindResult> results = {*AnalyseLrRangeTrial(RangeTrial(17, v1::STOPPED, reason)),
                                       *AnalyseLrRangeTrial(RangeTrial(3, v1::STOPPED, "loss is nan"))};
  const json document = LrFindJson(results);
  ASSERT_EQ(document.size(), 2u);
  const json& first = document[0];
  EXPECT_EQ(first.at("trial_id"), "s1-0000");
  EXPECT_EQ(first.at("optimizer").at("name"), "SGD");
  EXPECT_FALSE(first.at("optimizer").contains("lr"));
  EXPECT_NEAR(std::log10(first.at("suggested_lr").get<double>()), -3, 1e-9);
  ASSERT_EQ(first.at("range").size(), 2u);
  EXPECT_EQ(first.at("range")[0], results[0].suggestion->range_low);
  EXPECT_EQ(first.at("range")[1], results[0].suggestion->range_high);
  EXPECT_NEAR(std::log10(first.at("min_loss_lr").get<double>()), -2, 1e-9);
  EXPECT_EQ(first.at("steps"), 17);
  EXPECT_EQ(first.at("state"), "STOPPED");
  EXPECT_EQ(first.at("reason"), reason);
  EXPECT_TRUE(first.at("note").is_null());
  ASSERT_EQ(first.at("curve").size(), 17u);
  EXPECT_EQ(first.at("curve")[0], (json{{"lr", results[0].curve[0].lr},
                                        {"loss", results[0].curve[0].loss},
                                        {"smoothed_loss", results[0].curve[0].smoothed_loss}}));
  const json& second = document[1];
  EXPECT_TRUE(second.at("suggested_lr").is_null());
  EXPECT_TRUE(second.at("range").is_null());
  EXPECT_TRUE(second.at("min_loss_lr").is_null());
  EXPECT_EQ(second.at("steps"), 3);
  EXPECT_THAT(second.at("note").get<std::string>(), HasSubstr("too few"));
}

TEST(LrFindResultTest, TableNotesAndChart) {
  const std::string reason = "loss diverged at lr 3.2e-01 (smoothed 8.1 > 4 x min 0.503)";
  std::vector<LrFindResult> results = {*AnalyseLrRangeTrial(RangeTrial(17, v1::STOPPED, reason)),
                                       *AnalyseLrRangeTrial(RangeTrial(3, v1::STOPPED, "loss is nan"))};
  results[1].optimizer = json{{"name", "Adam"}};
  const std::string text = RenderLrFind(results, 0);
  // The range starts at 10^-3.5, where a tenth of the fall from 10^-4.75
  // (the first point after the skipped one) to the minimum is done.
  EXPECT_THAT(text,
              HasSubstr("OPTIMIZER          SUGGESTED LR  RANGE               MIN-LOSS LR  STEPS  ENDED\n"
                        "SGD(momentum=0.9)  1.0e-03       3.2e-04 to 1.0e-03  1.0e-02         17  STOPPED: " +
                        reason + "\n"));
  EXPECT_THAT(text, HasSubstr("Adam()             -             -                   -                3  STOPPED: "
                              "loss is nan\n"));
  EXPECT_THAT(text, HasSubstr("note: Adam(): 3 steps are too few"));
  EXPECT_THAT(text, HasSubstr("smoothed loss"));
  EXPECT_THAT(text, HasSubstr("lr (log scale)"));
  EXPECT_THAT(text, HasSubstr("o SGD(momentum=0.9)   x Adam()\n"));
}

}  // namespace
}  // namespace segtune::client
