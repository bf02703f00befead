// A math expression over named variables, evaluated with muparser: LambdaLR's
// `lr_lambda: "0.95 ^ epoch"` and budget expressions like
// `total_steps: "epochs * steps_per_epoch"`.
//
// Syntax is muparser's: + - * / ^ (power), parentheses, comparisons, the
// ternary `a ? b : c`, and functions such as sqrt, exp, ln, log10, sin, cos,
// abs, min, max, rint; the constants _pi and _e.
//
// Thread-safety: a const Expression may be evaluated from one thread at a
// time (muparser keeps its stack in the parser); copies are independent.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace segtune::optim {

class Expression {
 public:
  // Parses `text`, which may use only `variables`. Errors say what is wrong
  // and where ("unexpected token \"*\" at position 5"), or name the unknown
  // variable together with the ones allowed.
  static absl::StatusOr<Expression> Parse(const std::string& text,
                                          const std::vector<std::string>& variables);

  Expression(const Expression& other);
  Expression& operator=(const Expression& other);
  Expression(Expression&&) noexcept;
  Expression& operator=(Expression&&) noexcept;
  ~Expression();

  // The value with the variables set to `values` (missing ones are 0).
  // Errors only for a result that is not a finite number.
  absl::StatusOr<double> Evaluate(const std::map<std::string, double>& values) const;

  const std::string& text() const { return text_; }

 private:
  struct Parser;
  Expression(std::string text, std::vector<std::string> variables);

  std::string text_;
  std::vector<std::string> variables_;
  std::unique_ptr<Parser> parser_;
};

}  // namespace segtune::optim
