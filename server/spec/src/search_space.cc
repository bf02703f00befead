#include "segtune/spec/search_space.h"

#include <algorithm>
#include <limits>

namespace segtune::spec {
namespace {

constexpr std::uint64_t kSaturated = std::numeric_limits<std::uint64_t>::max();

std::uint64_t SaturatingMultiply(std::uint64_t a, std::uint64_t b) {
  if (a != 0 && b > kSaturated / a) return kSaturated;
  return a * b;
}

std::uint64_t SaturatingAdd(std::uint64_t a, std::uint64_t b) {
  return b > kSaturated - a ? kSaturated : a + b;
}

std::uint64_t GridAxesProduct(const std::map<std::string, Domain>& domains) {
  std::uint64_t points = 1;
  for (const auto& [name, domain] : domains) {
    if (domain.kind == Domain::Kind::kGrid) points = SaturatingMultiply(points, domain.values.size());
  }
  return points;
}

std::uint64_t AlternativesPoints(const std::vector<Alternative>& alternatives) {
  std::uint64_t points = 0;
  for (const Alternative& alternative : alternatives) {
    points = SaturatingAdd(points, GridAxesProduct(alternative.args));
  }
  return points;
}

}  // namespace

std::uint64_t CountGridPoints(const SearchSpace& space) {
  std::uint64_t points = AlternativesPoints(space.optimizers);
  if (!space.schedulers.empty()) {
    points = SaturatingMultiply(points, AlternativesPoints(space.schedulers));
  }
  return SaturatingMultiply(points, GridAxesProduct(space.others));
}

std::vector<std::string> OrderedKeys(const std::map<std::string, Domain>& domains,
                                     const std::vector<std::string>& order) {
  std::vector<std::string> keys;
  for (const std::string& key : order) {
    if (domains.count(key) > 0 && std::find(keys.begin(), keys.end(), key) == keys.end()) {
      keys.push_back(key);
    }
  }
  for (const auto& [key, domain] : domains) {
    if (std::find(keys.begin(), keys.end(), key) == keys.end()) keys.push_back(key);
  }
  return keys;
}

}  // namespace segtune::spec
