#include "segtune/client/live_view.h"

#include <atomic>
#include <chrono>
#include <limits>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "fixtures.h"
#include "segtune/client/progress.h"

namespace segtune::client {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::SizeIs;
using ::testing::StartsWith;

constexpr char kSgd[] = R"({"optimizer": {"name": "SGD", "lr": 0.1}})";
constexpr char kAdam[] = R"({"optimizer": {"name": "Adam", "lr": 0.003}, "scheduler": {"name": "StepLR", "step_size": 3}})";

constexpr std::int64_t kCreated = 1714564984123;  // the fixture sweep's creation
constexpr TerminalSize kWide{200, 0};

v1::Trial Trial(const std::string& id, int index, v1::TrialState state, const std::string& params) {
  v1::Trial trial = testing::MakeTrial(id, state, params);
  trial.set_index(index);
  return trial;
}

void SetBest(v1::Trial& trial, double value, int epoch) {
  trial.set_has_best(true);
  trial.set_best_value(value);
  trial.set_best_epoch(epoch);
}

// 4 trials of 8 epochs: s1-0000 completed (its best 0.612 at epoch 7),
// s1-0001 running at epoch 3/8 with 10 s epochs, s1-0002 running with no
// epoch done yet, s1-0003 pending.
v1::SweepUpdate ScriptedUpdate() {
  v1::SweepUpdate update;
  *update.mutable_sweep() = testing::MakeSweep();
  update.mutable_sweep()->set_total_trials(4);

  v1::Trial done = Trial("s1-0000", 0, v1::COMPLETED, kSgd);
  done.set_epochs_done(8);
  SetBest(done, 0.612, 7);
  *update.add_trials() = done;

  v1::Trial running = Trial("s1-0001", 1, v1::RUNNING, kAdam);
  running.set_epochs_done(3);
  SetBest(running, 0.41, 3);
  (*running.mutable_last_metrics())["val_miou"] = 0.41;
  (*running.mutable_last_metrics())["epoch_seconds"] = 10.0;
  *update.add_trials() = running;

  *update.add_trials() = Trial("s1-0002", 2, v1::RUNNING, kSgd);
  *update.add_trials() = Trial("s1-0003", 3, v1::PENDING, kSgd);
  return update;
}

TEST(RenderFrameTest, ShowsProgressRunningTrialsAndTheTopFive) {
  // 100 s in, 11 epochs trained: 21 left (the pending trial's 8 as the
  // finished one trained, 5 and 8 for the running ones) at 100/11 s each.
  EXPECT_THAT(
      RenderFrame(ScriptedUpdate(), kCreated + 100'000, kWide),
      ElementsAre("[#####---------------] 1/4 trials done, 2 running | best val_miou 0.6120 (trial s1-0000)"
                  " | 1m40s elapsed, ETA ~3m10s",
                  "running:",
                  "  TRIAL    EPOCH  ETA  VAL_MIOU  CONFIG",
                  "  s1-0001  3/8    50s    0.4100  Adam(lr=0.003) + StepLR(step_size=3)",
                  "  s1-0002  0/8    -           -  SGD(lr=0.1)",
                  "top 5:",
                  "  RANK  TRIAL    VAL_MIOU  EPOCH  CONFIG",
                  "     1  s1-0000    0.6120      7  SGD(lr=0.1)",
                  "     2  s1-0001    0.4100      3  Adam(lr=0.003) + StepLR(step_size=3)"));
}

TEST(RenderFrameTest, SweepEtaIsNeverBelowTheSlowestRunningTrial) {
  v1::SweepUpdate update = ScriptedUpdate();
  update.mutable_trials()->RemoveLast();  // no pending trial left
  update.mutable_sweep()->set_total_trials(3);
  // Epochs trained fast so far (11 in 10 s), but s1-0001's epochs take 100 s.
  (*update.mutable_trials(1)->mutable_last_metrics())["epoch_seconds"] = 100.0;
  EXPECT_THAT(RenderFrame(update, kCreated + 10'000, kWide)[0], HasSubstr("10s elapsed, ETA ~8m20s"));
}

TEST(RenderFrameTest, SweepEtaExpectsTrialsToTrainAsLongAsTheFinishedOnes) {
  // An early-stopping search: three trials stopped after 1 epoch each, one
  // pending and one the searcher has not created yet. 30 s for 3 epochs, so
  // 2 more epochs take 20 s (not 2 x 8 epochs of the budget).
  v1::SweepUpdate update;
  *update.mutable_sweep() = testing::MakeSweep();
  update.mutable_sweep()->set_total_trials(5);
  for (int i = 0; i < 3; ++i) {
    v1::Trial stopped = Trial("s1-000" + std::to_string(i), i, v1::STOPPED, kSgd);
    stopped.set_epochs_done(1);
    *update.add_trials() = stopped;
  }
  *update.add_trials() = Trial("s1-0003", 3, v1::PENDING, kSgd);
  EXPECT_THAT(RenderFrame(update, kCreated + 30'000, kWide)[0], HasSubstr("| 30s elapsed, ETA ~20s"));
}

TEST(RenderFrameTest, EtaIsUnknownBeforeTheFirstEpoch) {
  v1::SweepUpdate update;
  *update.mutable_sweep() = testing::MakeSweep();
  update.mutable_sweep()->set_has_best(false);
  *update.add_trials() = Trial("s1-0000", 0, v1::RUNNING, kSgd);
  *update.add_trials() = Trial("s1-0001", 1, v1::PENDING, kSgd);
  EXPECT_THAT(RenderFrame(update, kCreated + 5'000, kWide),
              ElementsAre("[--------------------] 0/2 trials done, 1 running | no val_miou reported yet"
                          " | 5s elapsed, ETA -",
                          "running:", "  TRIAL    EPOCH  ETA  VAL_MIOU  CONFIG",
                          "  s1-0000  0/8    -           -  SGD(lr=0.1)", "top 5: no val_miou reported yet"));
}

TEST(RenderFrameTest, AnEndedSweepShowsItsDuration) {
  v1::SweepUpdate update = ScriptedUpdate();
  for (v1::Trial& trial : *update.mutable_trials()) trial.set_state(v1::COMPLETED);
  update.mutable_sweep()->set_state(v1::SWEEP_COMPLETED);
  update.mutable_sweep()->set_finished_unix_ms(kCreated + 472'000);
  std::vector<std::string> frame = RenderFrame(update, kCreated + 999'000, kWide);
  EXPECT_THAT(frame[0], HasSubstr("4/4 trials done, 0 running"));
  EXPECT_THAT(frame[0], HasSubstr("| COMPLETED in 7m52s"));
  EXPECT_EQ(frame[1], "running: none");

  update.mutable_sweep()->set_state(v1::SWEEP_CANCELLED);
  EXPECT_THAT(RenderFrame(update, kCreated + 999'000, kWide)[0], HasSubstr("| CANCELLED after 7m52s"));
}

// Seven ranked trials and one that has reported nothing: values 0.5, 0.9,
// 0.7 (epoch 4), 0.7 (epoch 2), NaN, 0.1, 0.3.
v1::SweepUpdate RankingUpdate(const std::string& mode) {
  v1::SweepUpdate update;
  *update.mutable_sweep() = testing::MakeSweep();
  update.mutable_sweep()->set_objective_mode(mode);
  const std::vector<std::pair<double, int>> bests = {
      {0.5, 1}, {0.9, 3}, {0.7, 4}, {0.7, 2}, {std::numeric_limits<double>::quiet_NaN(), 1}, {0.1, 1}, {0.3, 5}};
  for (int i = 0; i < static_cast<int>(bests.size()); ++i) {
    v1::Trial trial = Trial("t" + std::to_string(i), i, v1::COMPLETED, kSgd);
    SetBest(trial, bests[i].first, bests[i].second);
    *update.add_trials() = trial;
  }
  *update.add_trials() = Trial("t7", 7, v1::PENDING, kSgd);
  return update;
}

// The trial ids of the frame's top section, best first.
std::vector<std::string> TopIds(const std::vector<std::string>& frame) {
  std::vector<std::string> ids;
  bool in_top = false;
  for (const std::string& line : frame) {
    if (line == "top 5:") {
      in_top = true;
    } else if (in_top && line.find("RANK") == std::string::npos) {
      std::istringstream fields(line);
      std::string rank, id;
      fields >> rank >> id;
      ids.push_back(id);
    }
  }
  return ids;
}

TEST(RenderFrameTest, TopFiveFollowsTheObjectiveMode) {
  // A tie goes to the earlier best epoch; NaN ranks last.
  EXPECT_THAT(TopIds(RenderFrame(RankingUpdate("max"), kCreated, kWide)), ElementsAre("t1", "t3", "t2", "t0", "t6"));
  EXPECT_THAT(TopIds(RenderFrame(RankingUpdate("min"), kCreated, kWide)), ElementsAre("t5", "t6", "t0", "t3", "t2"));
}

TEST(RenderFrameTest, LinesAreCutToTheTerminalWidth) {
  const std::vector<std::string> wide = RenderFrame(ScriptedUpdate(), kCreated + 100'000, kWide);
  const std::vector<std::string> narrow = RenderFrame(ScriptedUpdate(), kCreated + 100'000, {40, 0});
  ASSERT_EQ(narrow.size(), wide.size());
  for (std::size_t i = 0; i < narrow.size(); ++i) {
    EXPECT_EQ(narrow[i], wide[i].substr(0, 39)) << "line " << i;
  }
}

v1::SweepUpdate TenRunningTrials() {
  v1::SweepUpdate update;
  *update.mutable_sweep() = testing::MakeSweep();
  update.mutable_sweep()->set_has_best(false);
  update.mutable_sweep()->set_total_trials(10);
  for (int i = 0; i < 10; ++i) *update.add_trials() = Trial("s1-000" + std::to_string(i), i, v1::RUNNING, kSgd);
  return update;
}

TEST(RenderFrameTest, RunningTrialsShrinkToFitTheTerminal) {
  // 12 rows: 11 for the frame, 7 of them for running trials, so 6 and "+4 more".
  std::vector<std::string> frame = RenderFrame(TenRunningTrials(), kCreated, {80, 12});
  ASSERT_THAT(frame, SizeIs(11));
  EXPECT_EQ(frame[2], "  TRIAL    EPOCH  ETA  VAL_MIOU  CONFIG");
  EXPECT_THAT(frame[8], StartsWith("  s1-0005"));
  EXPECT_EQ(frame[9], "  +4 more");
  EXPECT_EQ(frame[10], "top 5: no val_miou reported yet");

  // Room for all ten: no "+N more".
  frame = RenderFrame(TenRunningTrials(), kCreated, {80, 16});
  EXPECT_THAT(frame, SizeIs(14));
  EXPECT_THAT(frame[12], StartsWith("  s1-0009"));

  // Too small for the sections: the frame is cut at the bottom to fit.
  frame = RenderFrame(TenRunningTrials(), kCreated, {80, 4});
  EXPECT_THAT(frame, ElementsAre(StartsWith("[---"), "running:", "  TRIAL    EPOCH  ETA  VAL_MIOU  CONFIG"));
}

TEST(FormatDurationTest, PicksTwoUnits) {
  EXPECT_EQ(FormatDuration(-5), "0s");
  EXPECT_EQ(FormatDuration(59'999), "59s");
  EXPECT_EQ(FormatDuration(60'000), "1m00s");
  EXPECT_EQ(FormatDuration(3'599'000), "59m59s");
  EXPECT_EQ(FormatDuration(3'660'000), "1h01m");
  EXPECT_EQ(FormatDuration(90'061'000), "1d01h");
}

TEST(CutToWidthTest, CountsCodePointsAndKeepsThemWhole) {
  EXPECT_EQ(CutToWidth("abcdef", 3), "abc");
  EXPECT_EQ(CutToWidth("abc", 3), "abc");
  EXPECT_EQ(CutToWidth("abc", 0), "");
  EXPECT_EQ(CutToWidth("abc", -1), "abc");
  EXPECT_EQ(CutToWidth("1 / (1 + 0.3 \xCE\xB5)x", 14), "1 / (1 + 0.3 \xCE\xB5");
}

class LivePrinterTest : public ::testing::Test {
 protected:
  // The frame's lines as the printer writes them, each clearing its row.
  static std::string Drawn(const v1::SweepUpdate& update) {
    std::string text;
    for (const std::string& line : RenderFrame(update, kCreated + 100'000, kWide)) text += "\x1b[2K" + line + "\n";
    return text;
  }

  std::ostringstream out_;
};

TEST_F(LivePrinterTest, RedrawsTheFrameInPlace) {
  LivePrinter printer(out_, /*terminal=*/true, [] { return kWide; }, [] { return kCreated + 100'000; });
  v1::SweepUpdate first = ScriptedUpdate();
  const std::string up = "\x1b[" + std::to_string(RenderFrame(first, kCreated + 100'000, kWide).size()) + "A\r";

  printer.Update(first);
  EXPECT_EQ(out_.str(), SweepHeadline(first) + "\n" + Drawn(first));

  // An epoch: no log line, the frame is overwritten row by row.
  out_.str("");
  v1::SweepUpdate second = first;
  second.mutable_trials(1)->set_epochs_done(4);
  printer.Update(second);
  EXPECT_EQ(out_.str(), up + Drawn(second) + "\x1b[J");

  // A trial ends: its line goes where the frame was, the frame below it.
  out_.str("");
  v1::SweepUpdate third = second;
  third.mutable_trials(2)->set_state(v1::FAILED);
  third.mutable_trials(2)->set_reason("out of memory");
  printer.Update(third);
  EXPECT_EQ(out_.str(), up + "\x1b[J" + "trial s1-0002 FAILED after 0 epochs (out of memory) [2/4 done]\n" +
                            Drawn(third) + "\x1b[J");

  // The frame lost a running trial's row: the next redraw moves up one row less.
  out_.str("");
  printer.Note("worker local-1 exited");
  const std::string up_less =
      "\x1b[" + std::to_string(RenderFrame(third, kCreated + 100'000, kWide).size()) + "A\r";
  EXPECT_NE(up_less, up);
  EXPECT_EQ(out_.str(), up_less + "\x1b[J" + "worker local-1 exited\n" + Drawn(third) + "\x1b[J");

  // Finished: the frame stays, later lines go below it.
  out_.str("");
  printer.Finish();
  printer.Note("interrupted");
  EXPECT_EQ(out_.str(), "interrupted\n");
}

TEST_F(LivePrinterTest, ANoteBeforeTheFirstUpdateIsAPlainLine) {
  LivePrinter printer(out_, /*terminal=*/true, [] { return kWide; }, [] { return kCreated; });
  printer.Note("started 2 workers");
  EXPECT_EQ(out_.str(), "started 2 workers\n");
}

TEST_F(LivePrinterTest, AwayFromATerminalItPrintsProgressPrinterLines) {
  auto script = [](auto& printer) {
    v1::SweepUpdate update = ScriptedUpdate();
    printer.Update(update);
    printer.Update(update);
    update.mutable_trials(1)->set_epochs_done(4);
    printer.Update(update);
    printer.Note("a note");
    update.mutable_trials(2)->set_state(v1::FAILED);
    printer.Update(update);
    printer.Finish();
  };
  bool size_asked = false;
  LivePrinter live(out_, /*terminal=*/false, [&size_asked] {
    size_asked = true;
    return kWide;
  });
  script(live);
  std::ostringstream expected;
  ProgressPrinter plain(expected);
  script(plain);

  EXPECT_EQ(out_.str(), expected.str());
  EXPECT_THAT(out_.str(), HasSubstr("trial s1-0001 epoch 4/8"));
  EXPECT_THAT(out_.str(), Not(HasSubstr("\x1b")));
  EXPECT_FALSE(size_asked);
}

TEST_F(LivePrinterTest, RedrawsBetweenUpdatesSoTimesMove) {
  std::atomic<std::int64_t> now{kCreated + 100'000};
  LivePrinter printer(out_, /*terminal=*/true, [] { return kWide; }, [&now] { return now += 1000; },
                      /*refresh_ms=*/10);
  const v1::SweepUpdate update = ScriptedUpdate();
  printer.Update(update);
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  printer.Finish();
  const std::string written = out_.str();  // the refresh thread has stopped
  const std::string up = "\x1b[" + std::to_string(RenderFrame(update, now, kWide).size()) + "A\r";
  std::size_t redraws = 0;
  for (std::size_t at = written.find(up); at != std::string::npos; at = written.find(up, at + 1)) ++redraws;
  EXPECT_GE(redraws, 3u) << "one update, yet the frame was redrawn with the clock moving";
  const std::size_t after_finish = written.size();
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  EXPECT_EQ(out_.str().size(), after_finish) << "no redraw after Finish";
}

}  // namespace
}  // namespace segtune::client
