#include "segtune/client/params.h"

#include <gtest/gtest.h>

#include "fixtures.h"

namespace segtune::client {
namespace {

using nlohmann::json;

TEST(ParamsSummaryTest, ShowsLrAndNonDefaultArgumentsThenOtherValues) {
  EXPECT_EQ(ParamsJsonSummary(testing::kSgdParams),
            "SGD(lr=0.05, momentum=0.9) + StepLR(step_size=3, gamma=0.5), training.batch_size=16");
}

TEST(ParamsSummaryTest, KeepsLrAtItsDefaultAndOrdersArgumentsLikeTorch) {
  EXPECT_EQ(ParamsJsonSummary(testing::kAdamParams),
            "Adam(lr=0.001, weight_decay=0.0001) + CosineAnnealingLR(T_max=8), training.batch_size=8");
}

TEST(ParamsSummaryTest, WithoutSchedulerShowsTheOptimizerOnly) {
  json params = {{"optimizer", {{"name", "Adagrad"}, {"lr", 0.05}}}, {"scheduler", nullptr}};
  EXPECT_EQ(ParamsSummary(params), "Adagrad(lr=0.05)");
}

TEST(ParamsSummaryTest, ShowsEveryArgumentOfAnUnknownAlgorithm) {
  json params = {{"optimizer", {{"name", "Lion"}, {"lr", 0.0001}, {"beta", 0.0}}}};
  EXPECT_EQ(ParamsSummary(params), "Lion(lr=0.0001, beta=0.0)");
}

TEST(ParamsSummaryTest, RoundsSampledValuesToFourSignificantDigits) {
  json params = {{"optimizer", {{"name", "Adam"}, {"lr", 0.0021755244125068853}, {"eps", 1e-10}}},
                 {"scheduler", {{"name", "ExponentialLR"}, {"gamma", 0.9619480002642297}}},
                 {"training.weight", 0.123456789}};
  EXPECT_EQ(ParamsSummary(params),
            "Adam(lr=0.002176, eps=1e-10) + ExponentialLR(gamma=0.9619), training.weight=0.1235");
  // The full view keeps every digit: it is what a spec fragment reproduces.
  EXPECT_EQ(AlgorithmCall(params["optimizer"], /*is_scheduler=*/false, /*all_args=*/true),
            "Adam(lr=0.0021755244125068853, eps=1e-10)");
}

TEST(ParamsSummaryTest, ReturnsTextThatIsNotAnObjectAsItIs) {
  EXPECT_EQ(ParamsJsonSummary("not json"), "not json");
  EXPECT_EQ(ParamsJsonSummary("[1, 2]"), "[1, 2]");
}

TEST(AlgorithmCallTest, AllArgsShowsDefaultsToo) {
  json sgd = json::parse(testing::kSgdParams)["optimizer"];
  EXPECT_EQ(AlgorithmCall(sgd, /*is_scheduler=*/false, /*all_args=*/true),
            "SGD(lr=0.05, momentum=0.9, dampening=0.0, weight_decay=0.0, nesterov=false)");
}

TEST(ParseParamsTest, RejectsNonObjectsNamingTheTrial) {
  auto parsed = ParseParams("[1]", "s1-0003");
  ASSERT_FALSE(parsed.ok());
  EXPECT_NE(parsed.status().message().find("s1-0003"), std::string::npos);
  EXPECT_FALSE(ParseParams("{broken", "s1-0003").ok());
  auto good = ParseParams(R"({"optimizer": {"name": "SGD", "lr": 0.1}})", "s1-0000");
  ASSERT_TRUE(good.ok());
  EXPECT_EQ((*good)["optimizer"]["lr"], 0.1);
}

TEST(FormatTest, ValuesUseTheShortestExactText) {
  EXPECT_EQ(FormatValue(json(0.05)), "0.05");
  EXPECT_EQ(FormatValue(json(1e-5)), "1e-05");
  EXPECT_EQ(FormatValue(json(3)), "3");
  EXPECT_EQ(FormatValue(json("1 / (1 + epoch)")), "\"1 / (1 + epoch)\"");
  EXPECT_EQ(FormatValue(json::array({4, 6})), "[4,6]");
}

TEST(FormatTest, MetricsUseFourDecimalsOrScientificNotation) {
  EXPECT_EQ(FormatMetric(0.61234), "0.6123");
  EXPECT_EQ(FormatMetric(12.5), "12.5000");
  EXPECT_EQ(FormatMetric(0.0), "0.0000");
  EXPECT_EQ(FormatMetric(0.00012), "1.200e-04");
  EXPECT_EQ(FormatMetric(std::nan("")), "nan");
}

}  // namespace
}  // namespace segtune::client
