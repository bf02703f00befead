#include "segtune/client/progress.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "segtune/client/json_output.h"
#include "segtune/client/params.h"

namespace segtune::client {
namespace {

constexpr int kBarWidth = 20;

struct Counts {
  int done = 0;
  int running = 0;
  int total = 0;
};

Counts CountTrials(const v1::SweepUpdate& update) {
  Counts counts;
  for (const v1::Trial& trial : update.trials()) {
    if (IsFinal(trial.state())) ++counts.done;
    if (trial.state() == v1::RUNNING) ++counts.running;
  }
  counts.total = std::max(update.sweep().total_trials(), update.trials_size());
  return counts;
}

std::string EpochsOf(const v1::Sweep& sweep, int epochs_done) {
  return sweep.epochs() > 0 ? absl::StrCat(epochs_done, "/", sweep.epochs())
                            : absl::StrCat(epochs_done);
}

std::string FinishLine(const v1::Trial& trial, const v1::Sweep& sweep, const Counts& counts) {
  std::string line = absl::StrCat("trial ", trial.trial_id(), " ", TrialStateName(trial.state()));
  if (trial.has_best()) {
    absl::StrAppend(&line, ": best ", sweep.objective_metric(), " ", FormatMetric(trial.best_value()),
                    " at epoch ", trial.best_epoch());
  } else {
    absl::StrAppend(&line, " after ", trial.epochs_done(), trial.epochs_done() == 1 ? " epoch" : " epochs");
  }
  if (!trial.reason().empty()) absl::StrAppend(&line, " (", trial.reason(), ")");
  absl::StrAppend(&line, " [", counts.done, "/", counts.total, " done]");
  return line;
}

}  // namespace

SweepSnapshot Snapshot(const v1::SweepUpdate& update) {
  SweepSnapshot snapshot;
  for (const v1::Trial& trial : update.trials()) {
    snapshot[trial.trial_id()] = TrialSnapshot{trial.state(), trial.epochs_done(), trial.attempt()};
  }
  return snapshot;
}

std::vector<std::string> DescribeChanges(const SweepSnapshot& before, const v1::SweepUpdate& now,
                                         bool with_epochs) {
  const v1::Sweep& sweep = now.sweep();
  const Counts counts = CountTrials(now);
  std::vector<std::string> lines;
  int cancelled_with_sweep = 0;
  for (const v1::Trial& trial : now.trials()) {
    auto found = before.find(trial.trial_id());
    // A trial not seen before was pending, with nothing done.
    const TrialSnapshot previous =
        found != before.end() ? found->second : TrialSnapshot{v1::PENDING, 0, 0};

    bool started = trial.state() == v1::RUNNING &&
                   (previous.state != v1::RUNNING || trial.attempt() != previous.attempt);
    if (started) {
      std::string line = absl::StrCat("trial ", trial.trial_id(), " started: ",
                                      ParamsJsonSummary(trial.params_json()));
      if (trial.attempt() > 1) absl::StrAppend(&line, " (attempt ", trial.attempt(), ")");
      lines.push_back(std::move(line));
    }
    if (with_epochs && trial.epochs_done() > previous.epochs_done) {
      std::string line =
          absl::StrCat("trial ", trial.trial_id(), " epoch ", EpochsOf(sweep, trial.epochs_done()));
      auto value = trial.last_metrics().find(sweep.objective_metric());
      if (value != trial.last_metrics().end()) {
        absl::StrAppend(&line, ": ", sweep.objective_metric(), " ", FormatMetric(value->second));
      }
      lines.push_back(std::move(line));
    }
    if (IsFinal(trial.state()) && trial.state() != previous.state) {
      // Cancelling a sweep cancels its trials: one line below says it for all.
      if (sweep.state() == v1::SWEEP_CANCELLED && trial.state() == v1::CANCELLED) {
        ++cancelled_with_sweep;
      } else {
        lines.push_back(FinishLine(trial, sweep, counts));
      }
    }
  }
  if (cancelled_with_sweep > 0) {
    lines.push_back(absl::StrCat("sweep ", sweep.sweep_id(), " cancelled: ", cancelled_with_sweep,
                                 cancelled_with_sweep == 1 ? " trial" : " trials", " cancelled"));
  }
  return lines;
}

std::string SweepHeadline(const v1::SweepUpdate& update) {
  const v1::Sweep& sweep = update.sweep();
  return absl::StrCat("sweep ", sweep.sweep_id(), " (", sweep.name(), "): ",
                      std::max(sweep.total_trials(), update.trials_size()), " trials, ", sweep.algorithm(),
                      " search, ", sweep.epochs(), " epochs each, ", sweep.objective_mode(), " ",
                      sweep.objective_metric());
}

std::string ProgressLine(const v1::SweepUpdate& update, int bar_width) {
  const Counts counts = CountTrials(update);
  int filled = counts.total > 0 ? counts.done * bar_width / counts.total : 0;
  std::string line = absl::StrCat("[", std::string(filled, '#'), std::string(bar_width - filled, '-'),
                                  "] ", counts.done, "/", counts.total, " trials done, ",
                                  counts.running, " running | ");
  const v1::Sweep& sweep = update.sweep();
  if (sweep.has_best()) {
    absl::StrAppend(&line, "best ", sweep.objective_metric(), " ", FormatMetric(sweep.best_value()),
                    " (trial ", sweep.best_trial_id(), ")");
  } else {
    absl::StrAppend(&line, "no ", sweep.objective_metric(), " reported yet");
  }
  return line;
}

ProgressPrinter::ProgressPrinter(std::ostream& out) : out_(out) {}

void ProgressPrinter::Update(const v1::SweepUpdate& update) {
  std::lock_guard<std::mutex> lock(mutex_);
  std::vector<std::string> lines;
  if (!has_update_) {
    lines.push_back(SweepHeadline(update));
  } else {
    lines = DescribeChanges(snapshot_, update, /*with_epochs=*/true);
  }
  has_update_ = true;
  snapshot_ = Snapshot(update);
  last_ = update;

  for (const std::string& line : lines) out_ << line << "\n";
  out_.flush();
}

void ProgressPrinter::Note(std::string_view line) {
  std::lock_guard<std::mutex> lock(mutex_);
  out_ << line << "\n";
  out_.flush();
}

void ProgressPrinter::Finish() {
  std::lock_guard<std::mutex> lock(mutex_);
  if (!has_update_) return;
  out_ << ProgressLine(last_, kBarWidth) << "\n";
  has_update_ = false;
  out_.flush();
}

}  // namespace segtune::client
