#include "segtune/client/live_view.h"

#include <sys/ioctl.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <limits>
#include <optional>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "segtune/client/json_output.h"
#include "segtune/client/params.h"
#include "segtune/client/table.h"
#include "segtune/common/ranking.h"

namespace segtune::client {
namespace {

constexpr int kBarWidth = 20;
constexpr int kFallbackRows = 24;  // a terminal whose size cannot be read: the classic height

// The rows of a rendered Table, each indented under its section heading.
std::vector<std::string> IndentedRows(const Table& table) {
  std::vector<std::string> lines;
  for (absl::string_view row : absl::StrSplit(table.Render(), '\n', absl::SkipEmpty())) {
    lines.push_back(absl::StrCat("  ", row));
  }
  return lines;
}

std::optional<double> LastMetric(const v1::Trial& trial, const std::string& name) {
  auto found = trial.last_metrics().find(name);
  if (found == trial.last_metrics().end()) return std::nullopt;
  return found->second;
}

// What is left of a running trial at the pace of its last epoch. The sweep's
// epoch budget is the most a trial trains; an early-stopping search may end
// it sooner.
std::optional<std::int64_t> TrialRemainingMs(const v1::Trial& trial, const v1::Sweep& sweep) {
  std::optional<double> epoch_seconds = LastMetric(trial, "epoch_seconds");
  if (!epoch_seconds || !std::isfinite(*epoch_seconds) || *epoch_seconds < 0 || sweep.epochs() <= 0) {
    return std::nullopt;
  }
  const int remaining = std::max(sweep.epochs() - trial.epochs_done(), 0);
  return std::llround(remaining * *epoch_seconds * 1000.0);
}

// What is left of the sweep: the epochs still to train at the pace the sweep
// has kept so far. A trial still to run is expected to train as many epochs
// as the finished ones that trained did on average (an early-stopping search
// stops most of them early; a trial that failed before its first epoch says
// nothing about that), or the whole budget while none has; a queued trial
// that trained already (requeued, promoted) only the rest of that; a running
// one at least the epoch it is in. Never less than the slowest running
// trial's own ETA, which is what the last trials of a sweep wait for.
std::optional<std::int64_t> SweepRemainingMs(const v1::SweepUpdate& update, std::int64_t elapsed_ms) {
  const v1::Sweep& sweep = update.sweep();
  // Trials a searcher has not created yet are pending too.
  const int not_created = std::max(sweep.total_trials() - update.trials_size(), 0);
  double epochs_done = 0;
  int finished = 0;
  double finished_epochs = 0;
  std::vector<int> pending_epochs;  // epochs done by each queued trial
  std::vector<int> running_epochs;
  std::int64_t slowest_running_ms = 0;
  for (const v1::Trial& trial : update.trials()) {
    epochs_done += trial.epochs_done();
    if (trial.state() == v1::PENDING) pending_epochs.push_back(trial.epochs_done());
    if (trial.state() == v1::RUNNING) {
      running_epochs.push_back(trial.epochs_done());
      slowest_running_ms = std::max(slowest_running_ms, TrialRemainingMs(trial, sweep).value_or(0));
    }
    if (IsFinal(trial.state()) && trial.state() != v1::CANCELLED && trial.epochs_done() > 0) {
      ++finished;
      finished_epochs += trial.epochs_done();
    }
  }
  if (epochs_done <= 0 || elapsed_ms <= 0) return std::nullopt;
  const double expected_epochs = finished > 0 ? finished_epochs / finished : sweep.epochs();
  double remaining_epochs = not_created * expected_epochs;
  for (int done : pending_epochs) remaining_epochs += std::max(expected_epochs - done, 0.0);
  for (int done : running_epochs) remaining_epochs += std::max(expected_epochs - done, 1.0);
  const double ms_per_epoch = elapsed_ms / epochs_done;
  return std::max<std::int64_t>(std::llround(remaining_epochs * ms_per_epoch), slowest_running_ms);
}

// "3m12s elapsed, ETA ~4m40s" while the sweep runs, "COMPLETED in 7m52s"
// once it has ended; empty when the sweep's start is unknown.
std::string SweepTiming(const v1::SweepUpdate& update, std::int64_t now_ms) {
  const v1::Sweep& sweep = update.sweep();
  if (sweep.created_unix_ms() <= 0) return "";
  if (sweep.state() != v1::SWEEP_RUNNING) {
    const std::int64_t end = sweep.finished_unix_ms() > 0 ? sweep.finished_unix_ms() : now_ms;
    return absl::StrCat(SweepStateName(sweep.state()), sweep.state() == v1::SWEEP_COMPLETED ? " in " : " after ",
                        FormatDuration(end - sweep.created_unix_ms()));
  }
  const std::int64_t elapsed_ms = now_ms - sweep.created_unix_ms();
  std::optional<std::int64_t> remaining_ms = SweepRemainingMs(update, elapsed_ms);
  return absl::StrCat(FormatDuration(elapsed_ms), " elapsed, ETA ",
                      remaining_ms ? "~" + FormatDuration(*remaining_ms) : "-");
}

std::string EpochOf(const v1::Trial& trial, const v1::Sweep& sweep) {
  return sweep.epochs() > 0 ? absl::StrCat(trial.epochs_done(), "/", sweep.epochs())
                            : absl::StrCat(trial.epochs_done());
}

// The running trials, at most `max_rows` of them (then a "+N more" line in
// the last row's place when some are left out).
std::vector<std::string> RunningSection(const v1::SweepUpdate& update, int max_rows) {
  const v1::Sweep& sweep = update.sweep();
  std::vector<const v1::Trial*> running;
  for (const v1::Trial& trial : update.trials()) {
    if (trial.state() == v1::RUNNING) running.push_back(&trial);
  }
  if (running.empty()) return {"running: none"};

  const int total = static_cast<int>(running.size());
  // At least one trial is listed; the frame is cut at the bottom if even that does not fit.
  const int shown = total <= max_rows ? total : std::max(max_rows - 1, 1);
  Table table({"TRIAL", "EPOCH", "ETA", absl::AsciiStrToUpper(sweep.objective_metric()), "CONFIG"});
  table.SetAlign(3, Table::Align::kRight);
  for (int i = 0; i < shown; ++i) {
    const v1::Trial& trial = *running[i];
    std::optional<std::int64_t> eta = TrialRemainingMs(trial, sweep);
    std::optional<double> value = LastMetric(trial, sweep.objective_metric());
    table.AddRow({trial.trial_id(), EpochOf(trial, sweep), eta ? FormatDuration(*eta) : "-",
                  value ? FormatMetric(*value) : "-", ParamsJsonSummary(trial.params_json())});
  }
  std::vector<std::string> lines = {"running:"};
  for (std::string& row : IndentedRows(table)) lines.push_back(std::move(row));
  if (shown < total) lines.push_back(absl::StrCat("  +", total - shown, " more"));
  return lines;
}

std::vector<std::string> TopSection(const v1::SweepUpdate& update) {
  const v1::Sweep& sweep = update.sweep();
  std::vector<const v1::Trial*> ranked;
  for (const v1::Trial& trial : update.trials()) {
    if (trial.has_best()) ranked.push_back(&trial);
  }
  const std::string heading = absl::StrCat("top ", kLiveTopK, ":");
  if (ranked.empty()) return {absl::StrCat(heading, " no ", sweep.objective_metric(), " reported yet")};

  const bool maximize = sweep.objective_mode() != "min";
  std::stable_sort(ranked.begin(), ranked.end(), [maximize](const v1::Trial* a, const v1::Trial* b) {
    return common::RanksAbove({a->best_value(), a->best_epoch(), a->index()},
                              {b->best_value(), b->best_epoch(), b->index()}, maximize);
  });
  if (static_cast<int>(ranked.size()) > kLiveTopK) ranked.resize(kLiveTopK);
  Table table({"RANK", "TRIAL", absl::AsciiStrToUpper(sweep.objective_metric()), "EPOCH", "CONFIG"});
  table.SetAlign(0, Table::Align::kRight).SetAlign(2, Table::Align::kRight).SetAlign(3, Table::Align::kRight);
  int rank = 0;
  for (const v1::Trial* trial : ranked) {
    table.AddRow({absl::StrCat(++rank), trial->trial_id(), FormatMetric(trial->best_value()),
                  absl::StrCat(trial->best_epoch()), ParamsJsonSummary(trial->params_json())});
  }
  std::vector<std::string> lines = {heading};
  for (std::string& row : IndentedRows(table)) lines.push_back(std::move(row));
  return lines;
}

}  // namespace

std::string FormatDuration(std::int64_t ms) {
  const std::int64_t seconds = std::max<std::int64_t>(ms, 0) / 1000;
  if (seconds < 60) return absl::StrCat(seconds, "s");
  if (seconds < 3600) return absl::StrFormat("%dm%02ds", seconds / 60, seconds % 60);
  if (seconds < 86400) return absl::StrFormat("%dh%02dm", seconds / 3600, seconds % 3600 / 60);
  return absl::StrFormat("%dd%02dh", seconds / 86400, seconds % 86400 / 3600);
}

std::string CutToWidth(std::string_view line, int width) {
  if (width < 0) return std::string(line);
  int code_points = 0;
  for (std::size_t i = 0; i < line.size(); ++i) {
    // A UTF-8 continuation byte (10xxxxxx) belongs to the code point before it.
    if ((static_cast<unsigned char>(line[i]) & 0xC0) == 0x80) continue;
    if (code_points == width) return std::string(line.substr(0, i));
    ++code_points;
  }
  return std::string(line);
}

std::vector<std::string> RenderFrame(const v1::SweepUpdate& update, std::int64_t now_ms, TerminalSize size) {
  // The cursor rests on the row below the frame, so the frame gets one row less.
  const int max_lines = size.rows > 0 ? std::max(size.rows - 1, 1) : std::numeric_limits<int>::max();

  std::string progress = ProgressLine(update, kBarWidth);
  if (std::string timing = SweepTiming(update, now_ms); !timing.empty()) absl::StrAppend(&progress, " | ", timing);
  std::vector<std::string> top = TopSection(update);
  // What is left for the running trials' rows, after the progress line, the
  // top section and the running section's heading and column titles.
  const int running_rows = max_lines - 1 - static_cast<int>(top.size()) - 2;

  std::vector<std::string> frame = {std::move(progress)};
  for (std::string& line : RunningSection(update, running_rows)) frame.push_back(std::move(line));
  for (std::string& line : top) frame.push_back(std::move(line));
  if (static_cast<int>(frame.size()) > max_lines) frame.resize(max_lines);
  // A line as wide as the terminal may wrap, and the redraw would then
  // move up too few rows: every line stays one column short.
  if (size.columns > 0) {
    for (std::string& line : frame) line = CutToWidth(line, size.columns - 1);
  }
  return frame;
}

TerminalSize ReadTerminalSize(int fd) {
  winsize size{};
  if (::isatty(fd) == 0 || ::ioctl(fd, TIOCGWINSZ, &size) != 0) return {};
  return {size.ws_col, size.ws_row};
}

LivePrinter::SizeSource ProgressTerminalSize(const Output& output) {
  const int fd = output.format == OutputFormat::kJson ? STDERR_FILENO : STDOUT_FILENO;
  const int fallback_columns = output.terminal_columns;
  return [fd, fallback_columns] {
    TerminalSize size = ReadTerminalSize(fd);
    if (size.columns <= 0) size.columns = fallback_columns;
    if (size.rows <= 0) size.rows = kFallbackRows;
    return size;
  };
}

LivePrinter::LivePrinter(std::ostream& out, bool terminal, SizeSource size, Clock now_ms, int refresh_ms)
    : out_(out), terminal_(terminal), size_(std::move(size)), now_ms_(std::move(now_ms)), plain_(out) {
  if (terminal_ && refresh_ms > 0) refresher_ = std::thread([this, refresh_ms] { RefreshEvery(refresh_ms); });
}

LivePrinter::~LivePrinter() { StopRefreshing(); }

void LivePrinter::RefreshEvery(int refresh_ms) {
  std::unique_lock<std::mutex> lock(mutex_);
  while (!stop_.wait_for(lock, std::chrono::milliseconds(refresh_ms), [this] { return stopping_; })) {
    if (has_update_) Redraw({});
  }
}

void LivePrinter::StopRefreshing() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stopping_ = true;
  }
  stop_.notify_all();
  if (refresher_.joinable()) refresher_.join();
}

std::int64_t LivePrinter::SystemNowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

void LivePrinter::Update(const v1::SweepUpdate& update) {
  if (!terminal_) {
    plain_.Update(update);
    return;
  }
  std::lock_guard<std::mutex> lock(mutex_);
  std::vector<std::string> log;
  if (!has_update_) {
    log.push_back(SweepHeadline(update));
  } else {
    // The frame shows every running trial's epochs; the log keeps starts and ends.
    log = DescribeChanges(snapshot_, update, /*with_epochs=*/false);
  }
  has_update_ = true;
  snapshot_ = Snapshot(update);
  last_ = update;
  Redraw(log);
}

void LivePrinter::Note(std::string_view line) {
  if (!terminal_) {
    plain_.Note(line);
    return;
  }
  std::lock_guard<std::mutex> lock(mutex_);
  Redraw({std::string(line)});
}

void LivePrinter::Finish() {
  if (!terminal_) {
    plain_.Finish();
    return;
  }
  StopRefreshing();
  std::lock_guard<std::mutex> lock(mutex_);
  // The frame stays; the cursor is already on the row below it.
  frame_lines_ = 0;
  has_update_ = false;
}

void LivePrinter::Redraw(const std::vector<std::string>& log) {
  // One write per redraw, so the terminal never shows half a frame.
  std::string text;
  const bool had_frame = frame_lines_ > 0;
  if (had_frame) absl::StrAppend(&text, "\x1b[", frame_lines_, "A\r");  // to the frame's first row
  // Log lines are not cut and may wrap over several rows: clear every row
  // below first, so no piece of the old frame is left beside them.
  if (had_frame && !log.empty()) text += "\x1b[J";
  for (const std::string& line : log) absl::StrAppend(&text, line, "\n");
  frame_lines_ = 0;
  if (has_update_) {
    // Frame lines never wrap: each overwrites one row.
    const std::vector<std::string> frame = RenderFrame(last_, now_ms_(), size_());
    for (const std::string& line : frame) absl::StrAppend(&text, "\x1b[2K", line, "\n");
    frame_lines_ = static_cast<int>(frame.size());
  }
  if (had_frame) text += "\x1b[J";  // the rows of a taller previous frame
  out_ << text;
  out_.flush();
}

}  // namespace segtune::client
