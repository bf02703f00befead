#include "median_stopper.h"

#include <cmath>
#include <limits>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "segtune/search/searcher.h"
#include "segtune/spec/spec.h"

namespace segtune::search {
namespace {

using internal::MakeMedianStopper;
using internal::Stopper;

spec::SweepSpec MedianSpec(int grace_epochs, int min_trials, int epochs = 6) {
  spec::ParseResult result = spec::ParseSpec(
      "name: t\nobjective: {metric: val_miou}\nbudget: {epochs: " + std::to_string(epochs) +
      ", max_trials: 20}\nsearch:\n  algorithm: median\n  grace_epochs: " +
      std::to_string(grace_epochs) + "\n  min_trials: " + std::to_string(min_trials) +
      "\n  space:\n    optimizer: {name: SGD, lr: 0.1}\n");
  EXPECT_TRUE(result.ok()) << result.ErrorText();
  return result.spec;
}

// Reports `curve` as epochs 1..n of `trial` and returns the verdict of each.
std::vector<Verdict> Report(Stopper& stopper, int trial, const std::vector<double>& curve) {
  std::vector<Verdict> verdicts;
  for (std::size_t e = 0; e < curve.size(); ++e) {
    verdicts.push_back(stopper.OnEpoch(trial, static_cast<int>(e) + 1, curve[e]));
  }
  return verdicts;
}

std::vector<Decision> Decisions(const std::vector<Verdict>& verdicts) {
  std::vector<Decision> decisions;
  for (const Verdict& verdict : verdicts) decisions.push_back(verdict.decision);
  return decisions;
}

constexpr Decision kGo = Decision::kContinue;
constexpr Decision kStop = Decision::kStop;

// Four finished trials whose running averages at epoch 3 are 0.3, 0.5, 0.6
// and 0.3 (median 0.4), while their latest values (0.5, 0.9, 0.6, 0.9) and
// bests have median 0.75: a rule on either of those would decide differently.
std::unique_ptr<Stopper> WithFourCurves(int grace_epochs, int min_trials) {
  std::unique_ptr<Stopper> stopper = MakeMedianStopper(MedianSpec(grace_epochs, min_trials));
  Report(*stopper, 0, {0.1, 0.3, 0.5});
  Report(*stopper, 1, {0.2, 0.4, 0.9});
  Report(*stopper, 2, {0.6, 0.6, 0.6});
  Report(*stopper, 3, {0.0, 0.0, 0.9});
  for (int trial = 0; trial < 4; ++trial) stopper->OnTrialEnd(trial, TrialEnd::kCompleted);
  return stopper;
}

TEST(MedianStopperTest, ComparesBestSoFarWithMedianOfRunningAverages) {
  // Best 0.39 < median 0.4 at epoch 3. Before: epoch 1's averages are
  // 0.1, 0.2, 0.6, 0.0 (median 0.15) and epoch 2's 0.2, 0.3, 0.6, 0.0 (0.25).
  std::unique_ptr<Stopper> stopper = WithFourCurves(1, 3);
  std::vector<Verdict> verdicts = Report(*stopper, 4, {0.35, 0.39, 0.2});
  EXPECT_EQ(Decisions(verdicts), (std::vector<Decision>{kGo, kGo, kStop}));
  EXPECT_EQ(verdicts[2].reason,
            "best 0.39 < median 0.4 of 4 other trials' running averages at epoch 3");

  // Its latest value (0.38) and its own average (0.31) are below 0.4, but
  // its best (0.45) is not.
  stopper = WithFourCurves(1, 3);
  EXPECT_EQ(Decisions(Report(*stopper, 4, {0.45, 0.1, 0.38})), (std::vector<Decision>{kGo, kGo, kGo}));
}

TEST(MedianStopperTest, OddCountTakesTheMiddleAndTiesContinue) {
  std::unique_ptr<Stopper> stopper = WithFourCurves(1, 3);
  // A fifth curve: averages at epoch 1 are now 0.1, 0.2, 0.6, 0.0, 0.25.
  Report(*stopper, 4, {0.25, 0.25});
  stopper->OnTrialEnd(4, TrialEnd::kCompleted);
  // Median 0.2 exactly: not strictly worse.
  EXPECT_EQ(stopper->OnEpoch(5, 1, 0.2).decision, kGo);
  Verdict verdict = stopper->OnEpoch(6, 1, 0.19);
  EXPECT_EQ(verdict.decision, kStop);
  // Trial 5 (0.2) is among the others now: 0.0, 0.1, 0.2, 0.2, 0.25, 0.6.
  EXPECT_EQ(verdict.reason, "best 0.19 < median 0.2 of 6 other trials' running averages at epoch 1");
}

TEST(MedianStopperTest, ReasonsShowAMinimizedMetricAsItIs) {
  spec::SweepSpec spec = MedianSpec(1, 2);
  spec.objective = {"val_loss", false};
  std::unique_ptr<Stopper> stopper = MakeMedianStopper(spec);
  // val_loss 0.4 and 0.6 arrive oriented, as -0.4 and -0.6.
  Report(*stopper, 0, {-0.4});
  Report(*stopper, 1, {-0.6});
  Verdict verdict = stopper->OnEpoch(2, 1, -0.9);
  EXPECT_EQ(verdict.decision, kStop);
  EXPECT_EQ(verdict.reason, "best 0.9 > median 0.5 of 2 other trials' running averages at epoch 1");
}

TEST(MedianStopperTest, NoDecisionDuringGraceEpochs) {
  std::unique_ptr<Stopper> stopper = WithFourCurves(3, 3);
  EXPECT_EQ(Decisions(Report(*stopper, 4, {-1, -1, -1})), (std::vector<Decision>{kGo, kGo, kStop}));
  stopper = WithFourCurves(1, 3);
  EXPECT_EQ(Decisions(Report(*stopper, 4, {-1})), (std::vector<Decision>{kStop}));
}

TEST(MedianStopperTest, NeedsMinTrialsOthersAtTheEpoch) {
  for (int min_trials : {3, 4}) {
    SCOPED_TRACE("min_trials " + std::to_string(min_trials));
    std::unique_ptr<Stopper> stopper = MakeMedianStopper(MedianSpec(1, min_trials));
    Report(*stopper, 0, {0.1, 0.9});
    Report(*stopper, 1, {0.2, 0.8});
    // The worst at epoch 1, but with two others only.
    EXPECT_EQ(Decisions(Report(*stopper, 2, {0.0, 1.2})), (std::vector<Decision>{kGo, kGo}));
    // Only reached epoch 1, so it counts there and not at epoch 2.
    EXPECT_EQ(Decisions(Report(*stopper, 3, {0.15})), (std::vector<Decision>{kGo}));
    // Epoch 1: four others, median 0.125; epoch 2: three others, median 0.5.
    std::vector<Verdict> verdicts = Report(*stopper, 4, {0.3, 0.45});
    if (min_trials == 3) {
      EXPECT_EQ(Decisions(verdicts), (std::vector<Decision>{kGo, kStop}));
      EXPECT_EQ(verdicts[1].reason,
                "best 0.45 < median 0.5 of 3 other trials' running averages at epoch 2");
    } else {
      EXPECT_EQ(Decisions(verdicts), (std::vector<Decision>{kGo, kGo}));
    }
    // Epoch 1 has five others now: 0.1, 0.2, 0.0, 0.15, 0.3.
    Verdict verdict = stopper->OnEpoch(5, 1, 0.1);
    EXPECT_EQ(verdict.decision, kStop);
    EXPECT_EQ(verdict.reason,
              "best 0.1 < median 0.15 of 5 other trials' running averages at epoch 1");
  }
}

TEST(MedianStopperTest, LastEpochAlwaysContinues) {
  std::unique_ptr<Stopper> stopper = MakeMedianStopper(MedianSpec(1, 1, 2));
  Report(*stopper, 0, {0.9, 0.9});
  // Stopping at the last epoch saves nothing and would mark a finished trial STOPPED.
  EXPECT_EQ(Decisions(Report(*stopper, 1, {0.5, 0.5})), (std::vector<Decision>{kStop, kGo}));
}

TEST(MedianStopperTest, DivergedTrialsCountAsWorstAfterTheirLastReport) {
  for (TrialEnd end : {TrialEnd::kDiverged, TrialEnd::kFailed}) {
    std::unique_ptr<Stopper> stopper = MakeMedianStopper(MedianSpec(2, 3));
    Report(*stopper, 0, {0.5, 0.5, 0.5});
    Report(*stopper, 1, {0.6, 0.6, 0.6});
    Report(*stopper, 2, {0.7, 0.7, 0.7});
    Report(*stopper, 3, {0.9});  // ends after one epoch
    stopper->OnTrialEnd(3, end);
    // Epoch 2: 0.5, 0.6, 0.7 and, if trial 3 diverged, -inf.
    std::vector<Verdict> verdicts = Report(*stopper, 4, {0.1, 0.58});
    if (end == TrialEnd::kDiverged) {
      EXPECT_EQ(Decisions(verdicts), (std::vector<Decision>{kGo, kGo})) << "median 0.55";
    } else {
      EXPECT_EQ(Decisions(verdicts), (std::vector<Decision>{kGo, kStop}));
      EXPECT_EQ(verdicts[1].reason,
                "best 0.58 < median 0.6 of 3 other trials' running averages at epoch 2");
    }
  }

  // Mostly diverged others: the median is -inf and nothing is worse than it.
  std::unique_ptr<Stopper> stopper = MakeMedianStopper(MedianSpec(1, 3));
  Report(*stopper, 0, {0.9});
  for (int trial : {1, 2}) stopper->OnTrialEnd(trial, TrialEnd::kDiverged);
  EXPECT_EQ(stopper->OnEpoch(3, 1, -1e9).decision, kGo);
  // A NaN objective is the worst value too: best -inf, median -inf.
  EXPECT_EQ(stopper->OnEpoch(4, 1, std::nan("")).decision, kGo);
  // Others: 0.9, -inf, -inf, -1e9, -inf.
  EXPECT_EQ(stopper->OnEpoch(5, 1, 0.0).decision, kGo);
}

TEST(MedianStopperTest, RepeatedEpochReplacesTheRetriedAttempt) {
  std::unique_ptr<Stopper> stopper = WithFourCurves(1, 3);
  Report(*stopper, 4, {0.9, 0.9, 0.9});
  // A retried attempt resumes trial 4 from epoch 1's checkpoint.
  stopper->OnEpoch(4, 2, 0.0);
  // At epoch 3 the others are 0.3, 0.5, 0.6, 0.3: trial 4 no longer counts.
  std::vector<Verdict> verdicts = Report(*stopper, 5, {0.35, 0.39, 0.2});
  EXPECT_EQ(Decisions(verdicts), (std::vector<Decision>{kGo, kGo, kStop}));
  EXPECT_EQ(verdicts[2].reason,
            "best 0.39 < median 0.4 of 4 other trials' running averages at epoch 3");
}

// A scripted sweep of 8 trials over 6 epochs, three at a time in rounds:
// trial t reports base + slope * epoch up to its last epoch, then ends.
// Trial 2 diverges after epoch 2, and the decisions at epochs 3 and 4 of
// trials 3, 4 and 7 depend on it counting as -inf there.
struct Event {
  int trial;
  int epoch;  // 0: the trial ends with `end`
  double value;
  TrialEnd end;
};

std::vector<Event> Script() {
  struct Curve {
    double base, slope;
    int last_epoch;
    TrialEnd end;
  };
  const Curve curves[] = {
      {0.30, 0.05, 6, TrialEnd::kCompleted}, {0.20, 0.08, 6, TrialEnd::kCompleted},
      {0.60, 0.01, 2, TrialEnd::kDiverged},  {0.25, 0.04, 6, TrialEnd::kCompleted},
      {0.10, 0.05, 6, TrialEnd::kCompleted}, {0.35, 0.04, 6, TrialEnd::kCompleted},
      {0.40, 0.02, 4, TrialEnd::kFailed},    {0.20, 0.05, 6, TrialEnd::kCompleted},
  };
  std::vector<Event> events;
  for (int first = 0; first < 8; first += 3) {
    for (int epoch = 1; epoch <= 6; ++epoch) {
      for (int trial = first; trial < first + 3 && trial < 8; ++trial) {
        const Curve& curve = curves[trial];
        if (epoch > curve.last_epoch) continue;
        events.push_back({trial, epoch, curve.base + curve.slope * epoch, TrialEnd::kCompleted});
        if (epoch == curve.last_epoch) events.push_back({trial, 0, 0, curve.end});
      }
    }
  }
  return events;
}

// Feeds events to a stopper as the coordinator would: a kStop ends the trial
// (OnTrialEnd kStopped) and drops the trial's later events.
struct Driver {
  std::unique_ptr<Stopper> stopper;
  std::set<int> stopped;

  std::optional<Verdict> Feed(const Event& event) {
    if (stopped.count(event.trial) > 0) return std::nullopt;
    if (event.epoch == 0) {
      stopper->OnTrialEnd(event.trial, event.end);
      return std::nullopt;
    }
    Verdict verdict = stopper->OnEpoch(event.trial, event.epoch, event.value);
    if (verdict.decision == Decision::kStop) {
      stopper->OnTrialEnd(event.trial, TrialEnd::kStopped);
      stopped.insert(event.trial);
    }
    return verdict;
  }
};

TEST(MedianStopperTest, RestoreDecidesLikeANeverRestartedStopper) {
  const std::vector<Event> events = Script();
  const spec::SweepSpec spec = MedianSpec(3, 2);
  for (std::size_t cut : {std::size_t{3}, std::size_t{10}, std::size_t{20}, std::size_t{30}}) {
    SCOPED_TRACE("restart after event " + std::to_string(cut));
    Driver original{MakeMedianStopper(spec), {}};
    // What the store holds at the restart.
    std::map<int, TrialHistory> store;
    for (std::size_t i = 0; i < cut; ++i) {
      const Event& event = events[i];
      if (original.stopped.count(event.trial) > 0) continue;
      std::optional<Verdict> verdict = original.Feed(event);
      TrialHistory& history = store[event.trial];
      history.index = event.trial;
      if (event.epoch == 0) {
        history.status = event.end == TrialEnd::kDiverged ? TrialHistory::Status::kDiverged
                         : event.end == TrialEnd::kFailed ? TrialHistory::Status::kFailed
                                                          : TrialHistory::Status::kCompleted;
        continue;
      }
      history.objectives.push_back(event.value);
      history.status = verdict->decision == Decision::kStop ? TrialHistory::Status::kStopped
                                                            : TrialHistory::Status::kRunning;
    }
    std::vector<TrialHistory> histories;
    for (const auto& [index, history] : store) histories.push_back(history);
    Driver restored{MakeMedianStopper(spec), original.stopped};
    restored.stopper->Restore(histories);

    int stops_after = 0;
    for (std::size_t i = cut; i < events.size(); ++i) {
      std::optional<Verdict> expected = original.Feed(events[i]);
      std::optional<Verdict> actual = restored.Feed(events[i]);
      ASSERT_EQ(expected.has_value(), actual.has_value()) << "event " << i;
      if (!expected) continue;
      EXPECT_EQ(actual->decision, expected->decision) << "event " << i;
      EXPECT_EQ(actual->reason, expected->reason) << "event " << i;
      if (expected->decision == Decision::kStop) ++stops_after;
    }
    // The comparison means something only if the rule stops trials after the restart.
    EXPECT_GE(stops_after, 1);
  }
}

}  // namespace
}  // namespace segtune::search
