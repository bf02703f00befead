#include "median_stopper.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "reason_text.h"

namespace segtune::search::internal {
namespace {

constexpr double kWorst = -std::numeric_limits<double>::infinity();

// NaN would make every comparison false and every mean NaN; it means the
// trial produced no usable value, the worst outcome.
double Sanitize(double objective) { return std::isnan(objective) ? kWorst : objective; }


class MedianStopper final : public Stopper {
 public:
  MedianStopper(const spec::MedianSettings& settings, int budget_epochs, bool maximize)
      : grace_epochs_(settings.grace_epochs),
        min_trials_(std::max(settings.min_trials, 1)),
        budget_epochs_(budget_epochs),
        maximize_(maximize) {}

  Verdict OnEpoch(int trial_index, int epoch, double objective) override;
  void OnTrialEnd(int trial_index, TrialEnd end) override;
  void Restore(const std::vector<TrialHistory>& trials) override;

 private:
  struct Trial {
    std::vector<double> objectives;  // sanitized, epochs 1..n
    bool diverged = false;
  };

  // `trial`'s running average over epochs 1..epoch; nullopt when it has not
  // reached `epoch` (and did not diverge before it).
  static std::optional<double> RunningAverage(const Trial& trial, int epoch);

  int grace_epochs_;
  int min_trials_;
  int budget_epochs_;
  bool maximize_;  // objectives come oriented; reasons show the metric's own values
  std::map<int, Trial> trials_;  // by index; ordered, so sums add up the same way every time
};

std::optional<double> MedianStopper::RunningAverage(const Trial& trial, int epoch) {
  if (static_cast<int>(trial.objectives.size()) < epoch) {
    if (trial.diverged) return kWorst;
    return std::nullopt;
  }
  double sum = 0;
  for (int i = 0; i < epoch; ++i) sum += trial.objectives[i];
  return sum / epoch;
}

Verdict MedianStopper::OnEpoch(int trial_index, int epoch, double objective) {
  if (epoch < 1) return {};
  Trial& trial = trials_[trial_index];
  // Reports come in epoch order. A repeated epoch is a retried attempt that
  // resumed from an earlier checkpoint: its value replaces the old one and
  // the old attempt's later epochs are gone. (A gap, which the scheduler
  // never leaves, would be filled with this value.)
  trial.objectives.resize(epoch, Sanitize(objective));
  trial.objectives[epoch - 1] = Sanitize(objective);

  if (epoch < grace_epochs_ || (budget_epochs_ > 0 && epoch >= budget_epochs_)) return {};

  std::vector<double> averages;
  for (const auto& [index, other] : trials_) {
    if (index == trial_index) continue;
    if (std::optional<double> average = RunningAverage(other, epoch)) averages.push_back(*average);
  }
  if (static_cast<int>(averages.size()) < min_trials_) return {};

  std::sort(averages.begin(), averages.end());
  const std::size_t middle = averages.size() / 2;
  const double median = averages.size() % 2 == 1
                            ? averages[middle]
                            : (averages[middle - 1] + averages[middle]) / 2;
  const double best = *std::max_element(trial.objectives.begin(), trial.objectives.end());
  if (!(best < median)) return {};

  Verdict verdict;
  verdict.decision = Decision::kStop;
  auto metric = [this](double oriented) { return Significant(maximize_ ? oriented : -oriented, 6); };
  verdict.reason = "best " + metric(best) + (maximize_ ? " < " : " > ") + "median " + metric(median) + " of " +
                   std::to_string(averages.size()) + " other trials' running averages at epoch " +
                   std::to_string(epoch);
  return verdict;
}

void MedianStopper::OnTrialEnd(int trial_index, TrialEnd end) {
  if (end == TrialEnd::kDiverged) trials_[trial_index].diverged = true;
}

void MedianStopper::Restore(const std::vector<TrialHistory>& trials) {
  trials_.clear();
  for (const TrialHistory& history : trials) {
    Trial& trial = trials_[history.index];
    for (double objective : history.objectives) trial.objectives.push_back(Sanitize(objective));
    trial.diverged = history.status == TrialHistory::Status::kDiverged;
  }
}

}  // namespace

std::unique_ptr<Stopper> MakeMedianStopper(const spec::SweepSpec& spec) {
  return std::make_unique<MedianStopper>(spec.search.median, spec.budget.epochs, spec.objective.maximize);
}

}  // namespace segtune::search::internal
