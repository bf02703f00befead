#include "parse_util.h"

#include "segtune/optim/catalog.h"

#include <algorithm>
#include <cmath>
#include <limits>

namespace segtune::spec::internal {
namespace {

std::size_t EditDistance(std::string_view a, std::string_view b) {
  std::vector<std::size_t> previous(b.size() + 1), current(b.size() + 1);
  for (std::size_t j = 0; j <= b.size(); ++j) previous[j] = j;
  for (std::size_t i = 1; i <= a.size(); ++i) {
    current[0] = i;
    for (std::size_t j = 1; j <= b.size(); ++j) {
      std::size_t substitution = previous[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1);
      current[j] = std::min({previous[j] + 1, current[j - 1] + 1, substitution});
    }
    std::swap(previous, current);
  }
  return previous[b.size()];
}

}  // namespace

std::string Key(const std::string& path, std::string_view key) {
  // An empty key is shown quoted, so that the path still names it.
  const std::string name = key.empty() ? "\"\"" : std::string(key);
  if (path.empty()) return name;
  return path + "." + name;
}

std::string Index(const std::string& path, std::size_t index) {
  return path + "[" + std::to_string(index) + "]";
}

std::string Describe(const nlohmann::json& value) { return optim::DescribeValue(value); }

std::string Describe(const Tree& value) { return Describe(nlohmann::json(value)); }

std::string DidYouMean(std::string_view word, const std::vector<std::string>& candidates) {
  constexpr std::size_t kMaxDistance = 2;
  const std::string* best = nullptr;
  std::size_t best_distance = kMaxDistance + 1;
  for (const std::string& candidate : candidates) {
    std::size_t distance = EditDistance(word, candidate);
    if (distance < best_distance) {
      best = &candidate;
      best_distance = distance;
    }
  }
  if (best == nullptr) return "";
  return " (did you mean \"" + *best + "\"?)";
}

std::string JoinNames(const std::vector<std::string>& names) {
  std::string joined;
  for (const std::string& name : names) joined += (joined.empty() ? "" : ", ") + name;
  return joined;
}

void CheckKeys(const Tree& mapping, const std::string& path, const std::vector<std::string>& known,
               Problems& problems) {
  for (const auto& [key, value] : mapping.items()) {
    if (std::find(known.begin(), known.end(), key) != known.end()) continue;
    std::string suggestion = DidYouMean(key, known);
    if (suggestion.empty()) suggestion = " (known keys: " + JoinNames(known) + ")";
    problems.Add(Key(path, key), "unknown key" + suggestion);
  }
}

std::optional<std::int64_t> WholeNumber(const nlohmann::json& value) {
  if (value.is_number_unsigned()) {
    std::uint64_t number = value.get<std::uint64_t>();
    if (number > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max())) {
      return std::nullopt;
    }
    return static_cast<std::int64_t>(number);
  }
  if (value.is_number_integer()) return value.get<std::int64_t>();
  if (value.is_number_float()) {
    double number = value.get<double>();
    // Beyond 2^53 a double no longer holds every integer.
    if (std::floor(number) == number && std::fabs(number) <= 9007199254740992.0) {
      return static_cast<std::int64_t>(number);
    }
  }
  return std::nullopt;
}

std::optional<std::int64_t> WholeNumber(const Tree& value) {
  return WholeNumber(nlohmann::json(value));
}

std::string DescribeRange(IntRange range) {
  if (range.max) {
    return "an integer from " + std::to_string(range.min) + " to " + std::to_string(*range.max);
  }
  return "an integer >= " + std::to_string(range.min);
}

std::optional<std::string> IntRangeProblem(const nlohmann::json& value, IntRange range) {
  std::optional<std::int64_t> number = WholeNumber(value);
  if (number && *number >= range.min && (!range.max || *number <= *range.max)) return std::nullopt;
  return "must be " + DescribeRange(range) + ", got " + Describe(value);
}

std::string DescribeRange(NumberRange range) {
  std::string low = Describe(nlohmann::json(range.min));
  std::string high = Describe(nlohmann::json(range.max));
  if (range.min_inclusive && range.max_inclusive) return "a number from " + low + " to " + high;
  return std::string("a number ") + (range.min_inclusive ? ">= " : "> ") + low + " and " +
         (range.max_inclusive ? "<= " : "< ") + high;
}

std::optional<std::string> NumberRangeProblem(const nlohmann::json& value, NumberRange range) {
  if (value.is_number()) {
    double number = value.get<double>();
    bool above_min = range.min_inclusive ? number >= range.min : number > range.min;
    bool below_max = range.max_inclusive ? number <= range.max : number < range.max;
    if (above_min && below_max) return std::nullopt;
  }
  return "must be " + DescribeRange(range) + ", got " + Describe(value);
}

const std::vector<std::string>& Architectures() {
  static const std::vector<std::string> kArchitectures = {"unet", "lraspp"};
  return kArchitectures;
}

std::optional<std::string> ModelProblem(const std::string& arch, std::int64_t depth,
                                        std::int64_t image_size) {
  if (arch == "lraspp") {
    if (depth >= 2) return std::nullopt;
    return std::string("lraspp needs at least 2 (its head reads stride-4 features)");
  }
  std::int64_t divisor = std::int64_t{1} << (depth - 1);
  if (image_size % divisor == 0) return std::nullopt;
  return "data.image_size " + std::to_string(image_size) + " is not divisible by 2^(depth - 1) = " +
         std::to_string(divisor) + " for model.depth " + std::to_string(depth) +
         " (the UNet halves the image depth - 1 times)";
}

}  // namespace segtune::spec::internal
