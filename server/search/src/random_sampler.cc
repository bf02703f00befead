#include "random_sampler.h"

namespace segtune::search::internal {

std::vector<nlohmann::json> RandomSampler::Suggest(int n) {
  std::vector<nlohmann::json> trials;
  while (static_cast<int>(trials.size()) < n && next_ < max_trials_) {
    TrialChoice choice;
    choice.optimizer = random_.Below(builder_.optimizers().size());
    choice.optimizer_axes =
        TrialBuilder::RandomAxes(builder_.optimizers()[choice.optimizer].block, random_);
    if (!builder_.schedulers().empty()) {
      choice.scheduler = random_.Below(builder_.schedulers().size());
      choice.scheduler_axes =
          TrialBuilder::RandomAxes(builder_.schedulers()[*choice.scheduler].block, random_);
    }
    choice.other_axes = TrialBuilder::RandomAxes(builder_.others(), random_);
    trials.push_back(builder_.Build(choice, random_));
    ++next_;
  }
  return trials;
}

}  // namespace segtune::search::internal
