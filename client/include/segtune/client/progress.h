// Progress of a sweep from its WatchSweep updates as plain lines, printed
// only when something changed: what `segtune watch`, `segtune run` and
// `segtune lr-find --server` print when the progress stream is not a
// terminal (on one they draw the frame of live_view.h, whose log above the
// frame uses DescribeChanges too):
//   trial s1-0003 started: SGD(lr=0.05) + StepLR(step_size=3)
//   trial s1-0003 epoch 2/8: val_miou 0.4120
//   trial s1-0003 COMPLETED: best val_miou 0.6120 at epoch 7 [5/12 done]
// and at the end one progress line:
//   [########------------] 5/12 trials done, 2 running | best val_miou 0.6120 (trial s1-0003)
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

// "sweep s1 (seed-study): 12 trials, grid search, 8 epochs each, max val_miou":
// the first line printed for a sweep.
std::string SweepHeadline(const v1::SweepUpdate& update);

// "[####----] 5/12 trials done, 2 running | best val_miou 0.6120 (trial s1-0003)"
std::string ProgressLine(const v1::SweepUpdate& update, int bar_width);

class ProgressPrinter {
 public:
  explicit ProgressPrinter(std::ostream& out);

  // Prints what changed since the previous update (the first update prints a
  // one-line description of the sweep).
  void Update(const v1::SweepUpdate& update);

  // Prints a line of its own.
  void Note(std::string_view line);

  // Prints the progress line. Called once the sweep has ended.
  void Finish();

 private:
  std::ostream& out_;

  std::mutex mutex_;
  bool has_update_ = false;        // GUARDED_BY(mutex_)
  SweepSnapshot snapshot_;         // GUARDED_BY(mutex_)
  v1::SweepUpdate last_;           // GUARDED_BY(mutex_)
};

}  // namespace segtune::client
