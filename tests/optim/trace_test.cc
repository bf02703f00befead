#include "segtune/optim/trace.h"

#include <string>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace segtune::optim {
namespace {

using nlohmann::json;
using ::testing::HasSubstr;

// SGD without momentum: each step subtracts lr * grad, exactly.
json SgdCase() {
  return json::parse(R"({
    "optimizer": {"name": "SGD", "lr": 0.5},
    "params": [[1.0, -2.0], [3.0]],
    "grads": [[[1.0, 2.0], [4.0]], [[-1.0, 0.5], [0.0]]]
  })");
}

json RunOrDie(const json& trace_case) {
  absl::StatusOr<json> result = RunTrace(trace_case);
  EXPECT_TRUE(result.ok()) << result.status();
  return result.ok() ? *result : json();
}

std::string ErrorOf(const json& trace_case) {
  absl::StatusOr<json> result = RunTrace(trace_case);
  EXPECT_FALSE(result.ok()) << trace_case.dump();
  EXPECT_EQ(result.status().code(), absl::StatusCode::kInvalidArgument);
  return std::string(result.status().message());
}

TEST(RunTraceTest, RecordsParamsAndLrAfterEveryStep) {
  const json result = RunOrDie(SgdCase());
  EXPECT_EQ(result.at("params"), json::parse("[[[0.5, -3.0], [1.0]], [[1.0, -3.25], [1.0]]]"));
  EXPECT_EQ(result.at("lr"), json::parse("[0.5, 0.5]"));
}

TEST(RunTraceTest, KeepsTheShapeOfScalarAndMatrixParams) {
  const json result = RunOrDie(json::parse(R"({
    "optimizer": {"name": "SGD", "lr": 1.0},
    "params": [2.0, [[1.0, 2.0], [3.0, 4.0]], [[]]],
    "grads": [[1.0, [[0.5, 0.5], [1.0, 1.0]], [[]]]]
  })"));
  EXPECT_EQ(result.at("params"), json::parse("[[1.0, [[0.5, 1.5], [2.0, 3.0]], [[]]]]"));
}

TEST(RunTraceTest, StepsTheSchedulerAfterTheOptimizerWhateverItsInterval) {
  json trace_case = SgdCase();
  trace_case["scheduler"] = {{"name", "StepLR"}, {"step_size", 1}, {"gamma", 0.5}};
  const json result = RunOrDie(trace_case);
  // The first step used lr 0.5; the second 0.25.
  EXPECT_EQ(result.at("params")[1][0], json::parse("[0.75, -3.125]"));
  EXPECT_EQ(result.at("lr"), json::parse("[0.25, 0.125]"));
}

TEST(RunTraceTest, BudgetDefaultsToOneEpochPerStep) {
  json trace_case = SgdCase();
  trace_case["scheduler"] = {{"name", "CosineAnnealingLR"}, {"T_max", "epochs"}};
  // T_max 2: the lr reaches eta_min (0) after the second step.
  EXPECT_EQ(RunOrDie(trace_case).at("lr")[1], 0.0);
}

TEST(RunTraceTest, BudgetExpressionsUseTheGivenBudget) {
  json trace_case = SgdCase();
  trace_case["scheduler"] = {{"name", "StepLR"}, {"step_size", "steps_per_epoch"}};
  trace_case["budget"] = {{"epochs", 1}, {"steps_per_epoch", 2}};
  EXPECT_EQ(RunOrDie(trace_case).at("lr"), json::parse("[0.5, 0.05]"));
}

TEST(RunTraceTest, PassesMetricsToReduceLROnPlateau) {
  json trace_case = SgdCase();
  trace_case["scheduler"] = {{"name", "ReduceLROnPlateau"}, {"patience", 0}, {"factor", 0.5}};
  trace_case["metrics"] = {1.0, 2.0};
  EXPECT_EQ(RunOrDie(trace_case).at("lr"), json::parse("[0.5, 0.25]"));
}

TEST(RunTraceTest, RefusesMalformedCases) {
  EXPECT_THAT(ErrorOf(json::array()), HasSubstr("case: must be an object"));
  json unknown = SgdCase();
  unknown["steps"] = 3;
  EXPECT_THAT(ErrorOf(unknown), HasSubstr("case: unknown key 'steps'"));
  for (const char* key : {"optimizer", "params", "grads"}) {
    json missing = SgdCase();
    missing.erase(key);
    EXPECT_THAT(ErrorOf(missing), HasSubstr(std::string(key) + ": required"));
  }
  json no_steps = SgdCase();
  no_steps["grads"] = json::array();
  EXPECT_THAT(ErrorOf(no_steps), HasSubstr("grads: must be a non-empty list"));
  json no_params = SgdCase();
  no_params["params"] = json::array();
  EXPECT_THAT(ErrorOf(no_params), HasSubstr("params: must be a non-empty list"));
}

TEST(RunTraceTest, RefusesParamsThatAreNotTensors) {
  json ragged = SgdCase();
  ragged["params"][0] = json::parse("[[1.0, 2.0], [3.0]]");
  EXPECT_THAT(ErrorOf(ragged), HasSubstr("params[0]: not rectangular"));
  json mixed = SgdCase();
  mixed["params"][0] = json::parse("[1.0, [2.0]]");
  EXPECT_THAT(ErrorOf(mixed), HasSubstr("params[0]: not rectangular"));
  json text = SgdCase();
  text["params"][1] = json::parse(R"(["a"])");
  EXPECT_THAT(ErrorOf(text), HasSubstr("params[1]: must be a number or a list of numbers"));
}

TEST(RunTraceTest, RefusesGradsShapedUnlikeParams) {
  json count = SgdCase();
  count["grads"][1] = json::parse("[[1.0, 2.0]]");
  EXPECT_THAT(ErrorOf(count), HasSubstr("grads[1]: must be a list of 2 gradients"));
  json shape = SgdCase();
  shape["grads"][1][0] = json::parse("[1.0, 2.0, 3.0]");
  EXPECT_THAT(ErrorOf(shape),
              HasSubstr("grads[1][0]: shape [3] does not match params[0], shape [2]"));
  json scalar = SgdCase();
  scalar["grads"][0][1] = 4.0;
  EXPECT_THAT(ErrorOf(scalar), HasSubstr("grads[0][1]: shape [] does not match params[1]"));
}

TEST(RunTraceTest, RefusesMetricsOfTheWrongLength) {
  json trace_case = SgdCase();
  trace_case["metrics"] = {1.0};
  EXPECT_THAT(ErrorOf(trace_case), HasSubstr("metrics: must be a list of 2 numbers"));
  trace_case["metrics"] = {1.0, "low"};
  EXPECT_THAT(ErrorOf(trace_case), HasSubstr("metrics[1]: must be a number"));
}

TEST(RunTraceTest, ReduceLROnPlateauNeedsMetrics) {
  json trace_case = SgdCase();
  trace_case["scheduler"] = {{"name", "ReduceLROnPlateau"}};
  EXPECT_THAT(ErrorOf(trace_case), HasSubstr("metrics: required"));
}

TEST(RunTraceTest, RefusesABadBudget) {
  json trace_case = SgdCase();
  trace_case["budget"] = {{"epochs", 0}};
  EXPECT_THAT(ErrorOf(trace_case), HasSubstr("budget.epochs: must be a whole number >= 1"));
  trace_case["budget"] = {{"steps", 2}};
  EXPECT_THAT(ErrorOf(trace_case), HasSubstr("budget: unknown key 'steps'"));
}

TEST(RunTraceTest, RefusesLbfgs) {
  json trace_case = SgdCase();
  trace_case["optimizer"] = {{"name", "LBFGS"}};
  EXPECT_THAT(ErrorOf(trace_case), HasSubstr("optimizer.name: LBFGS re-evaluates the loss"));
}

TEST(RunTraceTest, ReportsFactoryErrorsByArgument) {
  json optimizer = SgdCase();
  optimizer["optimizer"]["lr"] = -1.0;
  EXPECT_THAT(ErrorOf(optimizer), HasSubstr("optimizer.lr:"));
  json scheduler = SgdCase();
  scheduler["scheduler"] = {{"name", "StepLR"}};
  EXPECT_THAT(ErrorOf(scheduler), HasSubstr("scheduler.step_size:"));
}

TEST(RunTraceTest, RefusesValuesJsonCannotHold) {
  json trace_case = SgdCase();
  trace_case["optimizer"]["lr"] = 1e308;
  trace_case["grads"][0][0] = json::parse("[1e308, 0.0]");
  EXPECT_THAT(ErrorOf(trace_case), HasSubstr("step 1: params[0]: not finite"));
}

}  // namespace
}  // namespace segtune::optim
