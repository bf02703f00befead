// Live progress of a sweep from its WatchSweep updates (`segtune watch` and
// `segtune run`).
//
// On a terminal: trial start/finish lines, and below them one progress line
// refreshed in place:
//   [########------------] 5/12 trials done, 2 running | best val_miou 0.6120 (trial s1-0003)
// Elsewhere (a pipe, a log file): plain lines only when something changed:
//   trial s1-0003 started: SGD(lr=0.05) + StepLR(step_size=3)
//   trial s1-0003 epoch 2/8: val_miou 0.4120
//   trial s1-0003 COMPLETED: best val_miou 0.6120 at epoch 7 [5/12 done]
//
// Thread-safety: ProgressPrinter is thread-safe (one mutex); Note may be
// called from another thread while Update runs. The free functions have no
// shared state.
#pragma once

#include <map>
#include <mutex>
#include <ostream>
#include <string>
#include <string_view>
#include <vector>

#include "segtune/v1/segtune.pb.h"

namespace segtune::client {

// What the printer remembers of a trial between updates.
struct TrialSnapshot {
  v1::TrialState state = v1::TRIAL_STATE_UNSPECIFIED;
  int epochs_done = 0;
  int attempt = 0;
};
using SweepSnapshot = std::map<std::string, TrialSnapshot>;  // by trial id

SweepSnapshot Snapshot(const v1::SweepUpdate& update);

// The lines describing what changed from `before` to `now`, in trial order.
// Epoch lines are left out when `with_epochs` is false.
std::vector<std::string> DescribeChanges(const SweepSnapshot& before, const v1::SweepUpdate& now,
                                         bool with_epochs);

// "[####----] 5/12 trials done, 2 running | best val_miou 0.6120 (trial s1-0003)"
std::string ProgressLine(const v1::SweepUpdate& update, int bar_width);

class ProgressPrinter {
 public:
  // `terminal`: refresh one line in place; `columns` is the terminal width
  // (0: unknown), the progress line is cut to fit so it never wraps.
  ProgressPrinter(std::ostream& out, bool terminal, int columns = 0);

  // Prints what changed since the previous update (the first update prints a
  // one-line description of the sweep).
  void Update(const v1::SweepUpdate& update);

  // Prints a line of its own, above the progress line on a terminal.
  void Note(std::string_view line);

  // Leaves the progress line as it is and moves below it; later output
  // starts on a fresh line. Called once the sweep has ended.
  void Finish();

 private:
  void ClearProgressLine();  // REQUIRES: mutex_ held
  void DrawProgressLine();   // REQUIRES: mutex_ held

  std::ostream& out_;
  const bool terminal_;
  const int columns_;

  std::mutex mutex_;
  bool has_update_ = false;        // GUARDED_BY(mutex_)
  SweepSnapshot snapshot_;         // GUARDED_BY(mutex_)
  std::string progress_line_;      // GUARDED_BY(mutex_): drawn on the terminal now
  v1::SweepUpdate last_;           // GUARDED_BY(mutex_)
};

}  // namespace segtune::client
