// The live terminal view of a sweep (`segtune watch`, `segtune run`): a frame
// of lines redrawn in place on every WatchSweep update.
//
//   [########------------] 5/12 trials done, 2 running | best val_miou 0.6120 (trial s1-0003) | 3m12s elapsed, ETA ~4m40s
//   running:
//     TRIAL    EPOCH  ETA  VAL_MIOU  CONFIG
//     s1-0004  2/8    42s    0.4120  SGD(lr=0.05, momentum=0.9) + StepLR(step_size=3, gamma=0.5)
//     +3 more
//   top 5:
//     RANK  TRIAL    VAL_MIOU  EPOCH  CONFIG
//        1  s1-0003    0.6120      7  Adam(lr=0.003) + CosineAnnealingLR(T_max=8)
//
// Above the frame the printer keeps ProgressPrinter's log of trial starts and
// ends, so the history scrolls up while the frame stays at the bottom. When
// the progress stream is not a terminal it prints ProgressPrinter's plain
// lines instead, with no escape sequence.
//
// Thread-safety: RenderFrame and the other free functions have no shared
// state. LivePrinter is thread-safe (one mutex): Note may be called from
// another thread while Update runs.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <ostream>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "segtune/client/commands.h"
#include "segtune/client/progress.h"
#include "segtune/v1/segtune.pb.h"

namespace segtune::client {

struct TerminalSize {
  int columns = 0;  // 0: unknown, lines are not cut
  int rows = 0;     // 0: unknown, the frame is not capped
};

// How many trials the frame's leaderboard shows.
inline constexpr int kLiveTopK = 5;

// One frame, top line first, for `update` seen at `now_ms` (Unix ms). With
// size.columns known every line is shorter than it; with size.rows known the
// frame has at most rows - 1 lines (the cursor needs the last row): the
// running trials shrink first, to a "+N more" line, then the frame is cut at
// the bottom. ETAs are estimates: a trial's is its remaining epochs (of the
// sweep's budget) at the pace of its last epoch; the sweep's is explained in
// docs/cli.md (`watch`).
std::vector<std::string> RenderFrame(const v1::SweepUpdate& update, std::int64_t now_ms, TerminalSize size);

// "42s", "4m40s", "1h02m", "2d03h"; negative durations count as 0.
std::string FormatDuration(std::int64_t ms);

// `line` cut to at most `width` code points (UTF-8 sequences are kept
// whole); a negative width leaves it whole.
std::string CutToWidth(std::string_view line, int width);

// The size of the terminal on `fd`; zeros when it is not one.
TerminalSize ReadTerminalSize(int fd);

// How often `segtune watch`, `run` and `lr-find` redraw between updates.
inline constexpr int kLiveRefreshMs = 1000;

class LivePrinter {
 public:
  using SizeSource = std::function<TerminalSize()>;
  using Clock = std::function<std::int64_t()>;  // Unix ms

  // `terminal`: redraw the frame in place, asking `size` before every frame
  // so that a resized window is followed, and every `refresh_ms` (0: only on
  // updates) from a thread of its own, so that elapsed times and ETAs move
  // during long epochs. Otherwise `size` is not used and the output is
  // ProgressPrinter's plain lines.
  LivePrinter(std::ostream& out, bool terminal, SizeSource size, Clock now_ms = SystemNowMs, int refresh_ms = 0);
  ~LivePrinter();
  LivePrinter(const LivePrinter&) = delete;
  LivePrinter& operator=(const LivePrinter&) = delete;

  // Prints the log lines for what changed, then redraws the frame.
  void Update(const v1::SweepUpdate& update);

  // Prints a line of its own, above the frame on a terminal.
  void Note(std::string_view line);

  // Leaves the last frame on the screen; later output starts below it.
  // Called once the sweep has ended.
  void Finish();

  static std::int64_t SystemNowMs();

 private:
  // Writes the `log` lines where the frame was, then the frame below them.
  void Redraw(const std::vector<std::string>& log);  // REQUIRES: mutex_ held
  void RefreshEvery(int refresh_ms);                 // the refresh thread's loop
  void StopRefreshing();

  std::ostream& out_;
  const bool terminal_;
  const SizeSource size_;
  const Clock now_ms_;
  ProgressPrinter plain_;  // all the output when !terminal_

  std::mutex mutex_;
  bool has_update_ = false;  // GUARDED_BY(mutex_)
  SweepSnapshot snapshot_;   // GUARDED_BY(mutex_)
  v1::SweepUpdate last_;     // GUARDED_BY(mutex_)
  int frame_lines_ = 0;      // GUARDED_BY(mutex_): lines of the frame on the screen now
  bool stopping_ = false;    // GUARDED_BY(mutex_)
  std::condition_variable stop_;
  std::thread refresher_;  // last: started once everything above exists
};

// The size source for a command's live progress: the terminal behind
// Output::progress_stream() (stdout, or stderr with -o json, as
// client/main.cc connects them). Where that cannot be read: the width the
// CLI found at start and 24 rows.
LivePrinter::SizeSource ProgressTerminalSize(const Output& output);

}  // namespace segtune::client
