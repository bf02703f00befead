#include "segtune/optim/expression.h"

#include <cmath>
#include <utility>

#include <muParser.h>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace segtune::optim {

// muparser binds variables by address, so the values live beside the parser.
struct Expression::Parser {
  mu::Parser parser;
  std::vector<double> values;
};

namespace {

// muparser reports the position from 0; people count from 1.
std::string Describe(const mu::Parser::exception_type& error) {
  std::string message = error.GetMsg();
  if (error.GetPos() >= 0 && message.find("position") == std::string::npos) {
    absl::StrAppend(&message, " at position ", error.GetPos() + 1);
  }
  return message;
}

}  // namespace

Expression::Expression(std::string text, std::vector<std::string> variables)
    : text_(std::move(text)), variables_(std::move(variables)), parser_(std::make_unique<Parser>()) {
  // muparser's _pi and _e have 13 digits; Python's math.pi and math.e, which
  // a torch lambda would use, have all 17.
  parser_->parser.DefineConst("_pi", 3.141592653589793);
  parser_->parser.DefineConst("_e", 2.718281828459045);
  parser_->values.assign(variables_.size(), 0.0);
  for (size_t i = 0; i < variables_.size(); ++i) {
    parser_->parser.DefineVar(variables_[i], &parser_->values[i]);
  }
  parser_->parser.SetExpr(text_);
}

absl::StatusOr<Expression> Expression::Parse(const std::string& text,
                                             const std::vector<std::string>& variables) {
  try {
    Expression expression(text, variables);
    // Evaluating once makes muparser parse the text, so syntax errors and
    // unknown variables are caught here rather than at the first use.
    expression.parser_->parser.Eval();
    return expression;
  } catch (const mu::Parser::exception_type& error) {
    if (error.GetCode() == mu::ecUNASSIGNABLE_TOKEN) {
      return absl::InvalidArgumentError(absl::StrCat(
          "\"", text, "\": unknown name \"", error.GetToken(), "\" (variables: ",
          variables.empty() ? "none" : absl::StrJoin(variables, ", "), ")"));
    }
    return absl::InvalidArgumentError(absl::StrCat("\"", text, "\": ", Describe(error)));
  }
}

Expression::Expression(const Expression& other) : Expression(other.text_, other.variables_) {}

Expression& Expression::operator=(const Expression& other) {
  if (this != &other) *this = Expression(other);
  return *this;
}

Expression::Expression(Expression&&) noexcept = default;
Expression& Expression::operator=(Expression&&) noexcept = default;
Expression::~Expression() = default;

absl::StatusOr<double> Expression::Evaluate(const std::map<std::string, double>& values) const {
  for (size_t i = 0; i < variables_.size(); ++i) {
    auto it = values.find(variables_[i]);
    parser_->values[i] = it == values.end() ? 0.0 : it->second;
  }
  double result = 0;
  try {
    result = parser_->parser.Eval();
  } catch (const mu::Parser::exception_type& error) {
    return absl::InvalidArgumentError(absl::StrCat("\"", text_, "\": ", Describe(error)));
  }
  if (!std::isfinite(result)) {
    std::vector<std::string> assignments;
    for (size_t i = 0; i < variables_.size(); ++i) {
      assignments.push_back(absl::StrCat(variables_[i], " = ", parser_->values[i]));
    }
    return absl::InvalidArgumentError(absl::StrCat("\"", text_, "\" is ", result, " for ",
                                                   absl::StrJoin(assignments, ", ")));
  }
  return result;
}

}  // namespace segtune::optim
