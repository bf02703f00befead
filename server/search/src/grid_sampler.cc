#include "grid_sampler.h"

#include <set>
#include <utility>

namespace segtune::search::internal {
namespace {

std::uint64_t AlternativesPoints(const std::vector<TrialBuilder::AlternativeBlock>& alternatives) {
  std::uint64_t points = 0;
  for (const auto& alternative : alternatives) points += alternative.block.grid_points;
  return points;
}

// Finds the alternative that grid point `point` of a section falls in and
// decodes its axes; alternatives take consecutive runs of points.
std::pair<std::size_t, AxisPicks> DecodeAlternative(
    const std::vector<TrialBuilder::AlternativeBlock>& alternatives, std::uint64_t point) {
  std::size_t index = 0;
  while (point >= alternatives[index].block.grid_points) {
    point -= alternatives[index].block.grid_points;
    ++index;
  }
  return {index, TrialBuilder::DecodeAxes(alternatives[index].block, point)};
}

}  // namespace

GridSampler::GridSampler(TrialBuilder builder, std::uint64_t seed, std::uint64_t grid_points,
                           int max_trials)
    : builder_(std::move(builder)),
      random_(seed),
      total_(grid_points),
      sampled_subset_(max_trials > 0 && static_cast<std::uint64_t>(max_trials) < grid_points) {
  if (!sampled_subset_) return;
  // Floyd's algorithm: max_trials distinct points, each subset equally likely,
  // without enumerating the grid. The set keeps them in grid order.
  std::set<std::uint64_t> chosen;
  for (std::uint64_t j = grid_points - max_trials; j < grid_points; ++j) {
    std::uint64_t candidate = random_.Below(j + 1);
    if (!chosen.insert(candidate).second) chosen.insert(j);
  }
  subset_.assign(chosen.begin(), chosen.end());
  total_ = subset_.size();
}

TrialChoice GridSampler::Decode(std::uint64_t point) const {
  // point = ((optimizer_point * scheduler_points) + scheduler_point) * other_points + other_point
  TrialChoice choice;
  const std::uint64_t other_points = builder_.others().grid_points;
  choice.other_axes = TrialBuilder::DecodeAxes(builder_.others(), point % other_points);
  point /= other_points;
  if (!builder_.schedulers().empty()) {
    const std::uint64_t scheduler_points = AlternativesPoints(builder_.schedulers());
    auto [scheduler, axes] = DecodeAlternative(builder_.schedulers(), point % scheduler_points);
    choice.scheduler = scheduler;
    choice.scheduler_axes = std::move(axes);
    point /= scheduler_points;
  }
  auto [optimizer, axes] = DecodeAlternative(builder_.optimizers(), point);
  choice.optimizer = optimizer;
  choice.optimizer_axes = std::move(axes);
  return choice;
}

std::vector<nlohmann::json> GridSampler::Suggest(int n) {
  std::vector<nlohmann::json> trials;
  while (static_cast<int>(trials.size()) < n && next_ < total_) {
    std::uint64_t point = sampled_subset_ ? subset_[next_] : next_;
    trials.push_back(builder_.Build(Decode(point), random_));
    ++next_;
  }
  return trials;
}

}  // namespace segtune::search::internal
