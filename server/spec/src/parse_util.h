// Helpers shared by the spec parser's parts: the problem list, paths, value
// descriptions and "did you mean" suggestions. Internal to segtune_spec.
//
// Thread-safety: Problems is not thread-safe (one per parse); the free
// functions are pure.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "segtune/spec/spec.h"

namespace segtune::spec::internal {

// The parsed YAML document. Ordered, because the spec's order of arguments and
// keys is the grid's order of axes.
using Tree = nlohmann::ordered_json;

class Problems {
 public:
  void Add(std::string path, std::string message) {
    errors_.push_back({std::move(path), std::move(message)});
  }
  std::size_t count() const { return errors_.size(); }
  std::vector<SpecError> Take() { return std::move(errors_); }

 private:
  std::vector<SpecError> errors_;
};

// "budget" + "epochs" -> "budget.epochs"; "" + "name" -> "name"; an empty
// key reads "budget.\"\"".
std::string Key(const std::string& path, std::string_view key);
// "search.space.optimizer" + 2 -> "search.space.optimizer[2]".
std::string Index(const std::string& path, std::size_t index);

// A value as the user wrote it, for messages: "ten" quoted, -1, [4, 6],
// "a mapping".
std::string Describe(const Tree& value);
std::string Describe(const nlohmann::json& value);

// " (did you mean \"epochs\"?)" when a candidate is within edit distance 2 of
// `word`, else "".
std::string DidYouMean(std::string_view word, const std::vector<std::string>& candidates);

// "a, b, c".
std::string JoinNames(const std::vector<std::string>& names);

// Reports every key of `mapping` that is not in `known`, with a suggestion
// when one is close, else the list of known keys.
void CheckKeys(const Tree& mapping, const std::string& path, const std::vector<std::string>& known,
               Problems& problems);

// The value as an integer when it is one (2 or 2.0), else nullopt.
std::optional<std::int64_t> WholeNumber(const Tree& value);
std::optional<std::int64_t> WholeNumber(const nlohmann::json& value);

// An integer setting's allowed range; no max means unbounded.
struct IntRange {
  std::int64_t min;
  std::optional<std::int64_t> max;
};

// nullopt when `value` is an integer within `range`, else the message:
// "must be an integer >= 1, got \"ten\"".
std::optional<std::string> IntRangeProblem(const nlohmann::json& value, IntRange range);
std::string DescribeRange(IntRange range);

// A number setting's allowed range, each end open or closed.
struct NumberRange {
  double min;
  bool min_inclusive;
  double max;
  bool max_inclusive;
};

// nullopt when `value` is a number within `range`, else the message:
// "must be a number >= 0 and < 1, got 1".
std::optional<std::string> NumberRangeProblem(const nlohmann::json& value, NumberRange range);
std::string DescribeRange(NumberRange range);

// The ranges of the settings that the search space may also vary.
inline constexpr IntRange kBatchSizeRange{1, 1000000};
inline constexpr IntRange kTrainingSeedRange{0, std::nullopt};
inline constexpr IntRange kBaseChannelsRange{1, 256};
inline constexpr IntRange kDepthRange{1, 6};
inline constexpr NumberRange kLabelSmoothingRange{0, true, 1, false};
inline constexpr NumberRange kDiceWeightRange{0, true, 1000, true};

// The networks the workers build (model.arch).
const std::vector<std::string>& Architectures();

// Whether `arch` at `depth` takes image_size x image_size inputs: nullopt
// when it does, else the message. A UNet's image_size must halve cleanly at
// every one of its depth - 1 poolings; LR-ASPP's head needs a stride-4
// stage, so depth >= 2.
std::optional<std::string> ModelProblem(const std::string& arch, std::int64_t depth,
                                        std::int64_t image_size);

}  // namespace segtune::spec::internal
