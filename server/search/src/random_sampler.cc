#include "random_sampler.h"

namespace segtune::search::internal {

std::vector<nlohmann::json> RandomSampler::Suggest(int n) {
  std::vector<nlohmann::json> trials;
  while (static_cast<int>(trials.size()) < n && next_ < max_trials_) {
    const TrialChoice choice = builder_.RandomChoice(random_);
    trials.push_back(builder_.Build(choice, random_));
    ++next_;
  }
  return trials;
}

}  // namespace segtune::search::internal
