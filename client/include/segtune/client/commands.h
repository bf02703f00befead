// The verbs of the `segtune` CLI (design.md section 3; docs/cli.md). Each
// prints its result on `Output::out` and returns a Status; the caller prints
// a failure once and turns it into the exit code (segtune/client/errors.h).
//
// Thread-safety: a command uses its Output's streams from the calling thread
// only (FollowSweep's printer excepted, see live_view.h); concurrent commands
// need their own Outputs.
#pragma once

#include <chrono>
#include <functional>
#include <optional>
#include <ostream>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "segtune/client/tuner_client.h"
#include "segtune/v1/segtune.pb.h"

namespace segtune::client {

enum class OutputFormat { kTable, kJson, kYaml };

// Where and how a command prints.
struct Output {
  std::ostream* out = nullptr;  // results: one JSON document with -o json, nothing else
  std::ostream* err = nullptr;  // messages and, with -o json, live progress
  bool out_is_terminal = false;
  bool err_is_terminal = false;
  int terminal_columns = 0;     // 0: unknown
  OutputFormat format = OutputFormat::kTable;

  // Live progress goes to stdout for tables and to stderr with -o json, so
  // that stdout holds exactly one JSON document.
  std::ostream& progress_stream() const { return format == OutputFormat::kJson ? *err : *out; }
  bool progress_is_terminal() const {
    return format == OutputFormat::kJson ? err_is_terminal : out_is_terminal;
  }
};

// What is printed once a local sweep has ended, through a client of its
// coordinator.
using ResultPrinter = std::function<absl::Status(TunerClient&, const std::string& sweep_id, const Output&)>;

// What `segtune run` needs; the local mode itself is in segtune/client/local_run.h.
struct LocalRunOptions {
  std::string spec_path;
  // The spec to submit when it is not spec_path's text as written (`segtune
  // lr-find` rewrites it); spec_path still names it in messages.
  std::optional<std::string> spec_yaml;
  int workers = 2;
  std::string dir = "./segtune-data";
  std::chrono::milliseconds timeout{10000};  // deadline of each unary RPC
  // The embedded coordinator's Prometheus /metrics, HOST:PORT; empty: off.
  std::string metrics_listen;
  // Unset: PrintRunResults (the leaderboard and the best configuration).
  ResultPrinter print_results;
};

// What `segtune export` needs.
struct ExportOptions {
  std::string trial_id;
  std::string file;            // written as FILE.tmp, renamed to FILE once complete
  std::string epoch = "best";  // best | last | an epoch number
};

// What `segtune report` needs.
struct ReportOptions {
  std::string sweep_id;
  std::string file;  // empty: report-SWEEP.html
};

// The whole file, or InvalidArgument naming it when it cannot be read.
absl::StatusOr<std::string> ReadSpecFile(const std::string& path);

absl::Status Submit(TunerClient& client, const std::string& spec_path, const Output& output);
absl::Status ListSweeps(TunerClient& client, const Output& output);
absl::Status ShowStatus(TunerClient& client, const std::string& sweep_id, const Output& output);
absl::Status ListTrials(TunerClient& client, const std::string& sweep_id, const Output& output);
absl::Status ShowMetrics(TunerClient& client, const std::string& trial_id, const Output& output);
absl::Status ListWorkers(TunerClient& client, const Output& output);
absl::Status Cancel(TunerClient& client, const std::string& sweep_id, const Output& output);
// Follows the sweep to its end, then prints the leaderboard. A sweep that
// ends cancelled is a failure (after the leaderboard).
absl::Status Watch(TunerClient& client, const std::string& sweep_id, const Output& output);
// `top_k` >= 1. With -o json: one object for top_k 1, an array otherwise.
absl::Status Best(TunerClient& client, const std::string& sweep_id, int top_k, const Output& output);

// `--epoch` of `segtune export`: best, last or an epoch number >= 1;
// InvalidArgument naming --epoch otherwise.
absl::StatusOr<v1::ExportWeightsRequest> ExportRequest(const std::string& trial_id, const std::string& epoch);
// Streams a trial's weights into options.file (through FILE.tmp, so FILE is
// either complete or untouched), checks their size and CRC-32, and prints
// "wrote FILE: trial T epoch E (val_miou 0.8100), N bytes", or with
// OutputFormat::kJson {"file", "trial_id", "sweep_id", "epoch", "metric",
// "value", "bytes"}. An output file that cannot be created is InvalidArgument.
absl::Status Export(TunerClient& client, const ExportOptions& options, const Output& output);

// Fetches a sweep, its trials and each trial's epochs and writes the HTML
// report (segtune/client/report.h) into options.file through FILE.tmp, so
// FILE is either complete or untouched; prints "wrote FILE (N trials, M
// epochs)". While fetching, a terminal's stderr shows "fetching metrics I/N"
// in place. An unknown sweep fails before anything is written; a FILE whose
// FILE.tmp cannot be created is InvalidArgument, as for Export.
absl::Status Report(TunerClient& client, const ReportOptions& options, const Output& output);

// Submits `spec_yaml`; an invalid spec becomes InvalidArgument listing every
// problem on its own line, under a line naming `spec_path`.
absl::StatusOr<v1::SubmitSweepResponse> SubmitSpec(TunerClient& client, const std::string& spec_path,
                                                   const std::string& spec_yaml);

// Shows the sweep's live view (live_view.h) on the progress stream until the
// sweep ends; returns the last update.
absl::StatusOr<v1::SweepUpdate> FollowSweep(TunerClient& client, const std::string& sweep_id, const Output& output);

// What `segtune run` does before it submits: cancels every sweep still
// RUNNING in the database it reuses (DIR/segtune.db). Such a sweep was left by
// an earlier run that was killed; the coordinator would otherwise schedule
// its trials again, ahead of the new sweep. Prints one line per cancelled
// sweep on `output.err`, naming `dir`.
absl::Status CancelLeftoverSweeps(TunerClient& client, const std::string& dir, const Output& output);

// What `segtune run` prints at the end: the top-10 leaderboard and the best
// configuration (tables), or the best trial's JSON (-o json).
absl::Status PrintRunResults(TunerClient& client, const std::string& sweep_id, const Output& output);

}  // namespace segtune::client
