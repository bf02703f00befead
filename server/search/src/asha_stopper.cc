#include "asha_stopper.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <utility>

#include "reason_text.h"

namespace segtune::search::internal {
namespace {

constexpr double kWorst = -std::numeric_limits<double>::infinity();

// Rankings need a strict weak order, which NaN would break; the scheduler
// only passes finite objectives, so this is a guard, and NaN counts as worst.
double RungValue(double objective) { return std::isnan(objective) ? kWorst : objective; }

bool IsFinal(TrialHistory::Status status) {
  using Status = TrialHistory::Status;
  return status != Status::kPending && status != Status::kRunning && status != Status::kPaused;
}

}  // namespace

AshaStopper::AshaStopper(int eta, int min_epochs, int max_epochs, int brackets)
    : eta_(std::max(2, eta)) {
  // Only brackets with a rung are kept (ParseSpec allows no others); bracket
  // 0 always is, with no rungs when min_epochs >= max_epochs. 64 bits hold
  // every product: rung epochs below max_epochs times eta.
  std::int64_t first = std::max(1, min_epochs);
  for (int s = 0; s < std::max(1, brackets) && (s == 0 || first < max_epochs); ++s, first *= eta_) {
    std::vector<Rung>& bracket = rungs_.emplace_back();
    for (std::int64_t epoch = first; epoch < max_epochs; epoch *= eta_) {
      bracket.push_back(Rung{static_cast<int>(epoch), {}, {}});
    }
  }
  // Hyperband's n_s = ceil((H+1) * eta^h / (h+1)).
  const std::int64_t top = static_cast<std::int64_t>(rungs_[0].size()) + 1;
  for (const std::vector<Rung>& bracket : rungs_) {
    const std::int64_t h = static_cast<std::int64_t>(bracket.size());
    std::int64_t power = 1;
    for (std::int64_t i = 0; i < h; ++i) power *= eta_;
    bracket_sizes_.push_back((top * power + h) / (h + 1));
    cycle_length_ += bracket_sizes_.back();
  }
  cycle_credit_.assign(rungs_.size(), 0);
}

int AshaStopper::BracketOf(int trial_index) {
  // Trial indexes start at 0; a negative one has no place in the cycle.
  if (trial_index < 0) return 0;
  const std::int64_t position = trial_index % cycle_length_;
  // Smooth weighted round robin: every step each bracket earns its size, the
  // richest (the lower bracket on ties) takes the position and pays the
  // cycle's length.
  while (static_cast<std::int64_t>(cycle_.size()) <= position) {
    std::size_t richest = 0;
    for (std::size_t s = 0; s < cycle_credit_.size(); ++s) {
      cycle_credit_[s] += bracket_sizes_[s];
      if (cycle_credit_[s] > cycle_credit_[richest]) richest = s;
    }
    cycle_credit_[richest] -= cycle_length_;
    cycle_.push_back(static_cast<int>(richest));
  }
  return cycle_[position];
}

std::vector<int> AshaStopper::RungEpochs(int bracket) const {
  std::vector<int> epochs;
  if (bracket < 0 || bracket >= brackets()) return epochs;
  for (const Rung& rung : rungs_[bracket]) epochs.push_back(rung.epoch);
  return epochs;
}

AshaStopper::Rung* AshaStopper::FindRung(int bracket, int epoch) {
  for (Rung& rung : rungs_[bracket]) {
    if (rung.epoch == epoch) return &rung;
  }
  return nullptr;
}

std::vector<int> AshaStopper::Ranking(const Rung& rung) {
  std::vector<std::pair<double, int>> results;
  for (const auto& [index, value] : rung.results) results.emplace_back(value, index);
  std::sort(results.begin(), results.end(), [](const auto& a, const auto& b) {
    return a.first != b.first ? a.first > b.first : a.second < b.second;
  });
  std::vector<int> ranking;
  for (const auto& result : results) ranking.push_back(result.second);
  return ranking;
}

bool AshaStopper::Waiting(const Rung& rung, int trial_index) const {
  auto trial = trials_.find(trial_index);
  return trial != trials_.end() && !trial->second.ended && trial->second.epochs == rung.epoch &&
         rung.promoted.count(trial_index) == 0;
}

void AshaStopper::Promote(Rung& rung, int reporting) {
  const std::size_t places = rung.results.size() / eta_;
  const std::vector<int> ranking = Ranking(rung);
  for (std::size_t rank = 0; rank < places && rank < ranking.size(); ++rank) {
    if (rung.promoted.size() >= places) return;
    const int index = ranking[rank];
    if (!Waiting(rung, index)) continue;
    rung.promoted.insert(index);
    if (index != reporting) resumes_.push_back(index);
  }
}

std::string AshaStopper::PauseReason(int bracket, int rung_number, const Rung& rung,
                                     int trial_index) const {
  const std::vector<int> ranking = Ranking(rung);
  const int rank = static_cast<int>(std::find(ranking.begin(), ranking.end(), trial_index) - ranking.begin());
  const int n = static_cast<int>(ranking.size());
  const int places = n / eta_;
  std::string reason = brackets() > 1 ? "bracket " + std::to_string(bracket) + ", " : "";
  reason += "rung " + std::to_string(rung_number) + " (epoch " + std::to_string(rung.epoch) +
            "): " + Ordinal(rank + 1) + " of " + std::to_string(n) + ", ";
  if (places == 0) {
    return reason + "no promotions until the rung has " + std::to_string(eta_) + " results";
  }
  reason += "promotions go to the top " + std::to_string(places);
  if (rank < places) {
    // In the top, but the rung's places went to trials ranked higher now or
    // when they were promoted.
    reason += " and the rung has promoted " + std::to_string(rung.promoted.size()) + " already";
  }
  return reason;
}

Verdict AshaStopper::OnEpoch(int trial_index, int epoch, double objective) {
  TrialState& trial = trials_[trial_index];
  trial.epochs = std::max(trial.epochs, epoch);
  const int bracket = BracketOf(trial_index);
  Rung* rung = FindRung(bracket, epoch);
  if (rung == nullptr) return {};
  rung->results[trial_index] = RungValue(objective);
  Promote(*rung, trial_index);
  if (rung->promoted.count(trial_index) > 0) return {};
  const int rung_number = static_cast<int>(rung - rungs_[bracket].data());
  return Verdict{Decision::kPause, PauseReason(bracket, rung_number, *rung, trial_index), std::nullopt};
}

void AshaStopper::OnTrialEnd(int trial_index, TrialEnd end) {
  TrialState& trial = trials_[trial_index];
  trial.ended = true;
  resumes_.erase(std::remove(resumes_.begin(), resumes_.end(), trial_index), resumes_.end());
  const int bracket = BracketOf(trial_index);
  // A promotion the trial never used (it reported nothing past the rung) goes
  // back to the rung, as Restore cannot tell it from no promotion.
  Rung* last = FindRung(bracket, trial.epochs);
  if (last != nullptr && last->promoted.erase(trial_index) > 0) Promote(*last, -1);
  if (end != TrialEnd::kDiverged) return;
  for (Rung& rung : rungs_[bracket]) {
    if (rung.epoch > trial.epochs) {
      rung.results[trial_index] = kWorst;
      Promote(rung, -1);
      return;
    }
  }
}

std::vector<int> AshaStopper::TakeResumes() { return std::exchange(resumes_, {}); }

void AshaStopper::Restore(const std::vector<TrialHistory>& trials) {
  for (std::vector<Rung>& bracket : rungs_) {
    for (Rung& rung : bracket) rung = Rung{rung.epoch, {}, {}};
  }
  trials_.clear();
  resumes_.clear();
  using Status = TrialHistory::Status;
  for (const TrialHistory& history : trials) {
    const int epochs = static_cast<int>(history.objectives.size());
    trials_[history.index] = TrialState{epochs, IsFinal(history.status)};
    const bool goes_on = history.status == Status::kPending || history.status == Status::kRunning;
    // A diverged trial is worst in the first rung it did not reach.
    bool worst_unrecorded = history.status == Status::kDiverged;
    for (Rung& rung : rungs_[BracketOf(history.index)]) {
      if (rung.epoch <= epochs) {
        rung.results[history.index] = RungValue(history.objectives[rung.epoch - 1]);
        if (epochs > rung.epoch || goes_on) rung.promoted.insert(history.index);
      } else if (worst_unrecorded) {
        rung.results[history.index] = kWorst;
        worst_unrecorded = false;
      }
    }
  }
  for (std::vector<Rung>& bracket : rungs_) {
    for (Rung& rung : bracket) Promote(rung, -1);
  }
}

std::unique_ptr<Stopper> MakeAshaStopper(const spec::SweepSpec& spec) {
  const spec::AshaSettings& asha = spec.search.asha;
  const int max_epochs = asha.max_epochs > 0 ? asha.max_epochs : spec.budget.epochs;
  return std::make_unique<AshaStopper>(asha.eta, asha.min_epochs, max_epochs, asha.brackets);
}

}  // namespace segtune::search::internal
