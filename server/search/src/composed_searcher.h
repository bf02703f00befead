// A searcher made of a sampler (which configurations become trials) and an
// optional stopper (whether a running trial deserves more epochs): grid,
// random and tpe alone; asha, hyperband and median on top of one of them.
// Internal to segtune_search.
//
// Thread-safety: not thread-safe (see Searcher).
#pragma once

#include <memory>
#include <utility>
#include <vector>

#include "sampler.h"
#include "segtune/search/searcher.h"
#include "stopper.h"

namespace segtune::search::internal {

class ComposedSearcher final : public Searcher {
 public:
  // `stopper` may be null: every trial runs all its epochs.
  ComposedSearcher(std::unique_ptr<Sampler> sampler, std::unique_ptr<Stopper> stopper)
      : sampler_(std::move(sampler)), stopper_(std::move(stopper)) {}

  std::vector<nlohmann::json> Suggest(int n) override { return sampler_->Suggest(n); }
  int TotalTrials() const override { return sampler_->TotalTrials(); }

  Verdict OnEpoch(int trial_index, int epoch, double objective) override {
    sampler_->Observe(trial_index, epoch, objective);
    return stopper_ ? stopper_->OnEpoch(trial_index, epoch, objective) : Verdict{};
  }
  void OnTrialEnd(int trial_index, TrialEnd end) override {
    sampler_->OnTrialEnd(trial_index, end);
    if (stopper_) stopper_->OnTrialEnd(trial_index, end);
  }
  std::vector<int> TakeResumes() override {
    return stopper_ ? stopper_->TakeResumes() : std::vector<int>{};
  }
  void Restore(const std::vector<TrialHistory>& trials) override {
    sampler_->Restore(trials);
    if (stopper_) stopper_->Restore(trials);
  }

 private:
  std::unique_ptr<Sampler> sampler_;
  std::unique_ptr<Stopper> stopper_;
};

}  // namespace segtune::search::internal
