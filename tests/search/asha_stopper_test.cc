#include "asha_stopper.h"

#include <algorithm>
#include <array>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <ostream>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "segtune/search/searcher.h"
#include "segtune/spec/spec.h"

namespace segtune::search {

// Makes failed EXPECT_EQs on Outcome readable.
void PrintTo(Decision decision, std::ostream* os) {
  *os << (decision == Decision::kContinue ? "continue" : decision == Decision::kPause ? "pause" : "stop");
}

namespace {

using internal::AshaStopper;
using Status = TrialHistory::Status;

// One scripted event: trial `trial` reports `epoch` with `value`, or ends.
struct Event {
  int trial = 0;
  int epoch = 0;
  double value = 0;
  std::optional<TrialEnd> end;
};

Event Report(int trial, int epoch, double value) { return Event{trial, epoch, value, std::nullopt}; }
Event End(int trial, TrialEnd end) { return Event{trial, 0, 0, end}; }

// What the stopper answered to one event: its verdict (for a report) and
// what TakeResumes returned right after.
struct Outcome {
  Decision decision = Decision::kContinue;
  std::string reason;
  std::vector<int> resumes;
  bool operator==(const Outcome& other) const {
    return decision == other.decision && reason == other.reason && resumes == other.resumes;
  }
};

void PrintTo(const Outcome& outcome, std::ostream* os) {
  PrintTo(outcome.decision, os);
  *os << " \"" << outcome.reason << "\" resumes {";
  for (int trial : outcome.resumes) *os << " " << trial;
  *os << " }";
}

Outcome Continue(std::vector<int> resumes = {}) {
  return Outcome{Decision::kContinue, "", std::move(resumes)};
}
Outcome Pause(std::string reason, std::vector<int> resumes = {}) {
  return Outcome{Decision::kPause, std::move(reason), std::move(resumes)};
}

// The trials as the scheduler's store would have them after each event:
// epochs reported, PAUSED on kPause, PENDING when resumed, final on an end.
class FakeStore {
 public:
  explicit FakeStore(int trials) : history_(trials) {
    for (int i = 0; i < trials; ++i) history_[i].index = i;
  }

  // Feeds `event` to `stopper` and stores what it means; resumes are not taken.
  Outcome Apply(internal::Stopper& stopper, const Event& event) {
    TrialHistory& trial = history_.at(event.trial);
    if (event.end) {
      stopper.OnTrialEnd(event.trial, *event.end);
      trial.status = kEnds.at(*event.end);
      return Outcome{};
    }
    const Verdict verdict = stopper.OnEpoch(event.trial, event.epoch, event.value);
    trial.objectives.resize(std::max<std::size_t>(trial.objectives.size(), event.epoch));
    trial.objectives[event.epoch - 1] = event.value;
    trial.status = verdict.decision == Decision::kPause ? Status::kPaused : Status::kRunning;
    return Outcome{verdict.decision, verdict.reason, {}};
  }

  // Takes the stopper's resumes and marks them PENDING.
  std::vector<int> Resume(internal::Stopper& stopper) {
    std::vector<int> resumes = stopper.TakeResumes();
    for (int trial : resumes) history_.at(trial).status = Status::kPending;
    return resumes;
  }

  Outcome ApplyAndResume(internal::Stopper& stopper, const Event& event) {
    Outcome outcome = Apply(stopper, event);
    outcome.resumes = Resume(stopper);
    return outcome;
  }

  const std::vector<TrialHistory>& history() const { return history_; }

 private:
  inline static const std::map<TrialEnd, Status> kEnds = {
      {TrialEnd::kCompleted, Status::kCompleted}, {TrialEnd::kStopped, Status::kStopped},
      {TrialEnd::kFailed, Status::kFailed},       {TrialEnd::kDiverged, Status::kDiverged},
      {TrialEnd::kCancelled, Status::kCancelled}};
  std::vector<TrialHistory> history_;
};

struct Script {
  int trials = 0;
  std::vector<Event> events;
  std::vector<Outcome> expected;  // empty: only compared with a restarted stopper
};

std::unique_ptr<AshaStopper> Asha93() { return std::make_unique<AshaStopper>(3, 1, 9, 1); }

void ExpectScript(AshaStopper& stopper, const Script& script) {
  ASSERT_EQ(script.events.size(), script.expected.size());
  FakeStore store(script.trials);
  for (std::size_t i = 0; i < script.events.size(); ++i) {
    EXPECT_EQ(store.ApplyAndResume(stopper, script.events[i]), script.expected[i]) << "event " << i + 1;
  }
}

// The hand-worked example: eta 3, min_epochs 1, max_epochs 9, one bracket, so
// rung 0 sits at epoch 1 and rung 1 at epoch 3; a rung of n results promotes
// floor(n/3) trials in all.
//
//  #  event           rung after (best first; * promoted)          verdict, resumes
//  1  T0 e1 0.50      r0: T0                                       pause (1 result: no places)
//  2  T1 e1 0.30      r0: T0 T1                                    pause (2 results: no places)
//  3  T2 e1 0.70      r0: T2* T0 T1                                continue (1 place)
//  4  T3 e1 0.60      r0: T2* T3 T0 T1                             pause, 2nd of 4
//  5  T2 e2 0.72      (not a rung)                                 continue
//  6  T4 e1 0.20      r0: T2* T3 T0 T1 T4                          pause, 5th of 5
//  7  T2 e3 0.55      r1: T2                                       pause (no places)
//  8  T5 e1 0.80      r0: T5* T2* T3 T0 T1 T4                      continue (2nd place)
//  9  T6 e1 0.50      r0: T5* T2* T3 T0 T6 T1 T4                   pause, 5th of 7 (ties: lower index first)
// 10  T7 e1 0.75      r0: T5* T7 T2* T3 T0 T6 T1 T4                pause, 2nd of 8 but both places are used
// 11  T5 e2 0.85      (not a rung)                                 continue
// 12  T5 e3 0.78      r1: T5 T2                                    pause (no places)
// 13  T8 e1 0.10      r0: T5* T7* T2* T3 T0 T6 T1 T4 T8            pause, 9th of 9; 3rd place -> resume T7
// 14  T7 e2 0.90      (not a rung)                                 continue
// 15  T7 e3 0.60      r1: T5* T7 T2                                pause, 2nd of 3; 1 place -> resume T5
//                     (T7's 0.90 at epoch 2 does not count: rung 1 compares epoch 3)
// 16  T5 e4 0.86      (not a rung)                                 continue
// 17  T5 e9 0.90      (max_epochs: no rung)                        continue
// 18  T5 completed                                                 no resumes
const Script kWorked = {
    9,
    {Report(0, 1, 0.50), Report(1, 1, 0.30), Report(2, 1, 0.70), Report(3, 1, 0.60), Report(2, 2, 0.72),
     Report(4, 1, 0.20), Report(2, 3, 0.55), Report(5, 1, 0.80), Report(6, 1, 0.50), Report(7, 1, 0.75),
     Report(5, 2, 0.85), Report(5, 3, 0.78), Report(8, 1, 0.10), Report(7, 2, 0.90), Report(7, 3, 0.60),
     Report(5, 4, 0.86), Report(5, 9, 0.90), End(5, TrialEnd::kCompleted)},
    {Pause("rung 0 (epoch 1): 1st of 1, no promotions until the rung has 3 results"),
     Pause("rung 0 (epoch 1): 2nd of 2, no promotions until the rung has 3 results"),
     Continue(),
     Pause("rung 0 (epoch 1): 2nd of 4, promotions go to the top 1"),
     Continue(),
     Pause("rung 0 (epoch 1): 5th of 5, promotions go to the top 1"),
     Pause("rung 1 (epoch 3): 1st of 1, no promotions until the rung has 3 results"),
     Continue(),
     Pause("rung 0 (epoch 1): 5th of 7, promotions go to the top 2"),
     Pause("rung 0 (epoch 1): 2nd of 8, promotions go to the top 2 and the rung has promoted 2 already"),
     Continue(),
     Pause("rung 1 (epoch 3): 1st of 2, no promotions until the rung has 3 results"),
     Pause("rung 0 (epoch 1): 9th of 9, promotions go to the top 3", {7}),
     Continue(),
     Pause("rung 1 (epoch 3): 2nd of 3, promotions go to the top 1", {5}),
     Continue(),
     Continue(),
     Continue()}};

// Diverged, failed and cancelled trials, same settings.
//
//  #  event           rung 0 after (best first; * promoted, x ended)   verdict, resumes
//  1  T0 e1 0.50      T0                                               pause
//  2  T1 e1 0.40      T0 T1                                            pause
//  3  T2 diverged     T0* T1 T2x(-inf)                                 resume T0: a 3rd result, a place
//  4  T3 e1 -1e300    T0* T1 T3 T2x                                    pause, 3rd of 4: T2 is below anything
//  5  T0 e2 0.55      (not a rung)                                     continue
//  6  T0 diverged     T0x* ... and rung 1: T0x(-inf)                   T0 is past rung 0: keeps its place
//  7  T4 e1 0.60      T4 T0x* T1 T3 T2x                                pause, 1st of 5 but the place is used
//  8  T5 e1 0.58      T4* T5 T0x* T1 T3 T2x                            pause, 2nd of 6 but the 2nd place
//                                                                      goes to T4, ranked higher: resume T4
//  9  T6 e1 0.70      T6 T4* T5 T0x* ...                               pause, 1st of 7, both places used
// 10  T4 failed       T6* T4x T5 T0x* ...                              T4 never reported past rung 0: its
//                                                                      place goes back -> resume T6
// 11  T5 cancelled    T6* T4x T5x T0x* ...                             (paused: nothing to resume)
// 12  T7 e1 0.30      T6* T4x T5x T0x* T1 T7 T3 T2x                    pause, 6th of 8
// 13  T8 e1 0.20      T6* T4x T5x T0x* T1 T7 T8 T3 T2x                 pause, 7th of 9: the 3rd place
//                                                                      would go to T5, but T5 was cancelled
const Script kEnds = {
    9,
    {Report(0, 1, 0.50), Report(1, 1, 0.40), End(2, TrialEnd::kDiverged), Report(3, 1, -1e300),
     Report(0, 2, 0.55), End(0, TrialEnd::kDiverged), Report(4, 1, 0.60), Report(5, 1, 0.58),
     Report(6, 1, 0.70), End(4, TrialEnd::kFailed), End(5, TrialEnd::kCancelled), Report(7, 1, 0.30),
     Report(8, 1, 0.20)},
    {Pause("rung 0 (epoch 1): 1st of 1, no promotions until the rung has 3 results"),
     Pause("rung 0 (epoch 1): 2nd of 2, no promotions until the rung has 3 results"),
     Continue({0}),
     Pause("rung 0 (epoch 1): 3rd of 4, promotions go to the top 1"),
     Continue(),
     Continue(),
     Pause("rung 0 (epoch 1): 1st of 5, promotions go to the top 1 and the rung has promoted 1 already"),
     Pause("rung 0 (epoch 1): 2nd of 6, promotions go to the top 2 and the rung has promoted 2 already", {4}),
     Pause("rung 0 (epoch 1): 1st of 7, promotions go to the top 2 and the rung has promoted 2 already"),
     Continue({6}),
     Continue(),
     Pause("rung 0 (epoch 1): 6th of 8, promotions go to the top 2"),
     Pause("rung 0 (epoch 1): 7th of 9, promotions go to the top 3")}};

// Hyperband with eta 3 over 9 epochs: bracket 0 has rungs at epochs 1 and 3,
// bracket 1 one rung at 3; trials 1, 4, 7, 9 and 12 are bracket 1's.
const Script kHyperband = {
    13,
    {Report(0, 1, 0.4), Report(1, 1, 0.1), Report(1, 2, 0.2), Report(1, 3, 0.5), Report(2, 1, 0.3),
     Report(4, 3, 0.6), Report(3, 1, 0.45), Report(7, 3, 0.7), Report(5, 1, 0.2), Report(6, 1, 0.5),
     Report(9, 3, 0.65), End(7, TrialEnd::kFailed), Report(8, 1, 0.1), Report(10, 1, 0.9),
     Report(12, 3, 0.55), Report(11, 1, 0.35), Report(3, 3, 0.5), End(6, TrialEnd::kDiverged),
     Report(10, 2, 0.9), Report(10, 3, 0.8), Report(10, 9, 0.85), End(10, TrialEnd::kCompleted)},
    {}};

TEST(AshaStopperTest, HandWorkedExample) {
  std::unique_ptr<AshaStopper> stopper = Asha93();
  ExpectScript(*stopper, kWorked);
}

TEST(AshaStopperTest, DivergedCountsAsWorstAndEndedTrialsAreNotResumed) {
  std::unique_ptr<AshaStopper> stopper = Asha93();
  ExpectScript(*stopper, kEnds);
}

TEST(AshaStopperTest, EpochsOffTheRungsAndAtMaxEpochsContinue) {
  // eta 2, rungs at epochs 1 and 2 (4 is max_epochs, where trials complete).
  AshaStopper stopper(2, 1, 4, 1);
  EXPECT_EQ(stopper.RungEpochs(0), (std::vector<int>{1, 2}));
  EXPECT_EQ(stopper.OnEpoch(0, 1, 0.5).decision, Decision::kPause);
  EXPECT_EQ(stopper.OnEpoch(1, 1, 0.6).decision, Decision::kContinue);
  EXPECT_EQ(stopper.OnEpoch(1, 2, 0.6).decision, Decision::kPause);
  // Past the last rung, up to max_epochs and beyond (budget.epochs may be
  // larger), every epoch continues.
  for (int epoch = 3; epoch <= 6; ++epoch) {
    EXPECT_EQ(stopper.OnEpoch(2, epoch, 0.1).decision, Decision::kContinue) << "epoch " << epoch;
  }
  EXPECT_TRUE(stopper.TakeResumes().empty());
}

TEST(AshaStopperTest, HyperbandBracketsRungsAndAssignment) {
  AshaStopper stopper(3, 1, 27, 3);
  ASSERT_EQ(stopper.brackets(), 3);
  EXPECT_EQ(stopper.RungEpochs(0), (std::vector<int>{1, 3, 9}));
  EXPECT_EQ(stopper.RungEpochs(1), (std::vector<int>{3, 9}));
  EXPECT_EQ(stopper.RungEpochs(2), (std::vector<int>{9}));
  // Hyperband's sizes ceil(4 * 3^h / (h + 1)) for h = 3, 2, 1 rungs: 27, 12
  // and 6 trials of every 45, interleaved, the same cycle after cycle.
  std::array<int, 3> counts{};
  for (int i = 0; i < 45; ++i) {
    const int bracket = stopper.BracketOf(i);
    ASSERT_GE(bracket, 0);
    ASSERT_LT(bracket, 3);
    ++counts[bracket];
    EXPECT_EQ(stopper.BracketOf(i + 45), bracket) << "trial " << i;
    EXPECT_EQ(stopper.BracketOf(i + 450), bracket) << "trial " << i;
  }
  EXPECT_EQ(counts, (std::array<int, 3>{27, 12, 6}));
  std::vector<int> first;
  for (int i = 0; i < 8; ++i) first.push_back(stopper.BracketOf(i));
  EXPECT_EQ(first, (std::vector<int>{0, 1, 0, 2, 0, 0, 1, 0}));
  // Assignment depends on the index alone, not on the order of the calls.
  AshaStopper other(3, 1, 27, 3);
  EXPECT_EQ(other.BracketOf(450 + 7), 0);
  EXPECT_EQ(other.BracketOf(3), 2);
}

TEST(AshaStopperTest, HyperbandRungsArePerBracket) {
  AshaStopper stopper(3, 1, 9, 2);
  ASSERT_EQ(stopper.BracketOf(0), 0);
  ASSERT_EQ(stopper.BracketOf(1), 1);
  ASSERT_EQ(stopper.BracketOf(2), 0);
  ASSERT_EQ(stopper.BracketOf(4), 1);
  ASSERT_EQ(stopper.BracketOf(7), 1);
  // Epochs 1 and 2 are no rung of bracket 1.
  EXPECT_EQ(stopper.OnEpoch(1, 1, 0.1).decision, Decision::kContinue);
  EXPECT_EQ(stopper.OnEpoch(1, 2, 0.2).decision, Decision::kContinue);
  Verdict verdict = stopper.OnEpoch(1, 3, 0.5);
  EXPECT_EQ(verdict.decision, Decision::kPause);
  EXPECT_EQ(verdict.reason,
            "bracket 1, rung 0 (epoch 3): 1st of 1, no promotions until the rung has 3 results");
  // Bracket 0's rung 0 holds only bracket 0's trials.
  EXPECT_EQ(stopper.OnEpoch(0, 1, 0.4).reason,
            "bracket 0, rung 0 (epoch 1): 1st of 1, no promotions until the rung has 3 results");
  EXPECT_EQ(stopper.OnEpoch(2, 1, 0.3).reason,
            "bracket 0, rung 0 (epoch 1): 2nd of 2, no promotions until the rung has 3 results");
  EXPECT_EQ(stopper.OnEpoch(4, 3, 0.6).reason,
            "bracket 1, rung 0 (epoch 3): 1st of 2, no promotions until the rung has 3 results");
  // The third result of bracket 1's rung promotes the best of the three.
  EXPECT_EQ(stopper.OnEpoch(7, 3, 0.7).decision, Decision::kContinue);
  EXPECT_TRUE(stopper.TakeResumes().empty());
  EXPECT_EQ(stopper.OnEpoch(7, 9, 0.8).decision, Decision::kContinue);
}

TEST(AshaStopperTest, SettingsParseSpecWouldRejectStayUsable) {
  // Brackets 2..4 would have no rung: only 0 and 1 remain.
  AshaStopper stopper(3, 1, 9, 5);
  EXPECT_EQ(stopper.brackets(), 2);
  EXPECT_TRUE(stopper.RungEpochs(2).empty());
  // min_epochs >= max_epochs: no rungs, every trial runs on.
  AshaStopper no_rungs(3, 9, 9, 1);
  ASSERT_EQ(no_rungs.brackets(), 1);
  EXPECT_TRUE(no_rungs.RungEpochs(0).empty());
  for (int trial = 0; trial < 4; ++trial) {
    EXPECT_EQ(no_rungs.OnEpoch(trial, 9, 0.5).decision, Decision::kContinue);
  }
}

// Restarting from the store at any point, including between an event and the
// TakeResumes after it, gives the same verdicts and resumes from then on.
void ExpectRestartsChangeNothing(const std::function<std::unique_ptr<AshaStopper>()>& make,
                                 const Script& script) {
  std::vector<Outcome> uninterrupted;
  {
    std::unique_ptr<AshaStopper> stopper = make();
    FakeStore store(script.trials);
    for (const Event& event : script.events) uninterrupted.push_back(store.ApplyAndResume(*stopper, event));
  }
  // The script must exercise what a restart could lose: a resume.
  EXPECT_TRUE(std::any_of(uninterrupted.begin(), uninterrupted.end(),
                          [](const Outcome& outcome) { return !outcome.resumes.empty(); }));
  for (std::size_t cut = 0; cut <= script.events.size(); ++cut) {
    for (bool before_resumes : {false, true}) {
      if (before_resumes && cut == script.events.size()) continue;
      SCOPED_TRACE("restart after event " + std::to_string(cut) +
                   (before_resumes ? " (and the next one's verdict, before its resumes)" : ""));
      std::unique_ptr<AshaStopper> first = make();
      FakeStore store(script.trials);
      for (std::size_t i = 0; i < cut; ++i) store.ApplyAndResume(*first, script.events[i]);
      std::size_t next = cut;
      std::unique_ptr<AshaStopper> restarted = make();
      if (before_resumes) {
        Outcome outcome = store.Apply(*first, script.events[cut]);
        restarted->Restore(store.history());
        outcome.resumes = store.Resume(*restarted);
        EXPECT_EQ(outcome, uninterrupted[cut]) << "event " << cut + 1;
        ++next;
      } else {
        restarted->Restore(store.history());
      }
      for (std::size_t i = next; i < script.events.size(); ++i) {
        EXPECT_EQ(store.ApplyAndResume(*restarted, script.events[i]), uninterrupted[i]) << "event " << i + 1;
      }
    }
  }
}

TEST(AshaStopperTest, RestoreMidSequenceGivesTheSameLaterDecisions) {
  ExpectRestartsChangeNothing(Asha93, kWorked);
  ExpectRestartsChangeNothing(Asha93, kEnds);
  ExpectRestartsChangeNothing([] { return std::make_unique<AshaStopper>(3, 1, 9, 2); }, kHyperband);
}

TEST(AshaStopperTest, RestoreQueuesTrialsPromotableBeforeTheCrash) {
  // T0..T2 paused at rung 0 (as if the coordinator died after recording T2's
  // epoch 1 and before resuming anyone); T3 was resumed from rung 0 and is
  // PENDING; T4 failed there and T5 diverged before epoch 1.
  std::vector<TrialHistory> trials(6);
  const std::array<Status, 6> statuses = {Status::kPaused, Status::kPaused, Status::kPaused,
                                          Status::kPending, Status::kFailed, Status::kDiverged};
  const std::array<double, 5> values = {0.5, 0.9, 0.4, 0.3, 0.95};
  for (int i = 0; i < 6; ++i) {
    trials[i].index = i;
    trials[i].status = statuses[i];
    if (i < 5) trials[i].objectives = {values[i]};
  }
  // Rung 0: T4x 0.95, T1 0.9, T0 0.5, T2 0.4, T3* 0.3, T5x -inf: 2 places, T3
  // holds one, T1 gets the other (T4 ended).
  std::unique_ptr<AshaStopper> stopper = Asha93();
  stopper->Restore(trials);
  EXPECT_EQ(stopper->TakeResumes(), (std::vector<int>{1}));
  EXPECT_TRUE(stopper->TakeResumes().empty());
  EXPECT_EQ(stopper->OnEpoch(6, 1, 0.45).reason, "rung 0 (epoch 1): 4th of 7, promotions go to the top 2");
}

spec::SweepSpec ParsedSpec(const std::string& search, int epochs) {
  spec::ParseResult result = spec::ParseSpec(
      "name: t\nobjective: {metric: val_miou}\nbudget: {epochs: " + std::to_string(epochs) +
      ", max_trials: 10}\nsearch:\n" + search +
      "  space:\n    optimizer:\n      - {name: SGD, lr: {loguniform: [0.001, 0.1]}}\n");
  EXPECT_TRUE(result.ok()) << result.ErrorText();
  return result.spec;
}

TEST(AshaStopperTest, MakeAshaStopperReadsTheSpec) {
  // hyperband: the parser's default brackets are all those with a rung.
  std::unique_ptr<internal::Stopper> made =
      internal::MakeAshaStopper(ParsedSpec("  algorithm: hyperband\n", 27));
  auto* hyperband = dynamic_cast<AshaStopper*>(made.get());
  ASSERT_NE(hyperband, nullptr);
  ASSERT_EQ(hyperband->brackets(), 3);
  EXPECT_EQ(hyperband->RungEpochs(2), (std::vector<int>{9}));

  spec::SweepSpec spec = ParsedSpec("  algorithm: asha\n  eta: 2\n  min_epochs: 2\n", 20);
  spec.search.asha.max_epochs = 0;  // means budget.epochs
  made = internal::MakeAshaStopper(spec);
  auto* asha = dynamic_cast<AshaStopper*>(made.get());
  ASSERT_NE(asha, nullptr);
  ASSERT_EQ(asha->brackets(), 1);
  EXPECT_EQ(asha->RungEpochs(0), (std::vector<int>{2, 4, 8, 16}));
}

}  // namespace
}  // namespace segtune::search
