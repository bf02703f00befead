#include "segtune/optim/expression.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>

namespace segtune::optim {
namespace {

using ::testing::HasSubstr;

TEST(ExpressionTest, EvaluatesPowersAndVariables) {
  absl::StatusOr<Expression> expression = Expression::Parse("0.95 ^ epoch", {"epoch"});
  ASSERT_TRUE(expression.ok()) << expression.status();
  EXPECT_DOUBLE_EQ(*expression->Evaluate({{"epoch", 0}}), 1.0);
  EXPECT_DOUBLE_EQ(*expression->Evaluate({{"epoch", 3}}), std::pow(0.95, 3));
}

TEST(ExpressionTest, EvaluatesBudgetExpressions) {
  absl::StatusOr<Expression> expression =
      Expression::Parse("epochs * steps_per_epoch", {"epochs", "steps_per_epoch"});
  ASSERT_TRUE(expression.ok()) << expression.status();
  EXPECT_EQ(*expression->Evaluate({{"epochs", 8}, {"steps_per_epoch", 20}}), 160.0);
}

TEST(ExpressionTest, ConstantsHavePythonsPrecision) {
  absl::StatusOr<Expression> expression = Expression::Parse("cos(_pi) + ln(_e)", {});
  ASSERT_TRUE(expression.ok()) << expression.status();
  EXPECT_EQ(*expression->Evaluate({}), std::cos(3.141592653589793) + std::log(2.718281828459045));
}

TEST(ExpressionTest, CopiesAreIndependent) {
  absl::StatusOr<Expression> expression = Expression::Parse("2 * epoch", {"epoch"});
  ASSERT_TRUE(expression.ok());
  Expression copy = *expression;
  Expression moved = std::move(*expression);
  EXPECT_EQ(*copy.Evaluate({{"epoch", 2}}), 4.0);
  EXPECT_EQ(*moved.Evaluate({{"epoch", 5}}), 10.0);
  EXPECT_EQ(copy.text(), "2 * epoch");
}

TEST(ExpressionTest, RejectsUnknownNamesListingTheVariables) {
  absl::StatusOr<Expression> expression = Expression::Parse("0.9 ^ epoc", {"epoch"});
  ASSERT_FALSE(expression.ok());
  EXPECT_THAT(expression.status().message(), HasSubstr("epoc"));
  EXPECT_THAT(expression.status().message(), HasSubstr("variables: epoch"));
}

TEST(ExpressionTest, RejectsSyntaxErrors) {
  absl::StatusOr<Expression> expression = Expression::Parse("1 / (1 + ", {"epoch"});
  ASSERT_FALSE(expression.ok());
  EXPECT_THAT(expression.status().message(), HasSubstr("1 / (1 + "));
}

TEST(ExpressionTest, NonFiniteResultsAreErrors) {
  absl::StatusOr<Expression> expression = Expression::Parse("1 / epoch", {"epoch"});
  ASSERT_TRUE(expression.ok());
  absl::StatusOr<double> value = expression->Evaluate({{"epoch", 0}});
  ASSERT_FALSE(value.ok());
  EXPECT_THAT(value.status().message(), HasSubstr("epoch = 0"));
}

}  // namespace
}  // namespace segtune::optim
