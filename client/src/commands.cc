#include "segtune/client/commands.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <vector>

#include <nlohmann/json.hpp>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "segtune/client/json_output.h"
#include "segtune/client/live_view.h"
#include "segtune/client/params.h"
#include "segtune/client/report.h"
#include "segtune/client/spec_fragment.h"
#include "segtune/client/table_output.h"
#include "segtune/proto/checksum.h"

namespace segtune::client {
namespace {

using Json = nlohmann::json;

constexpr int kLeaderboardSize = 10;

void PrintJson(const Output& output, const Json& document) {
  // Text from the server (a failure reason) may hold invalid UTF-8; replace
  // it rather than fail the whole document.
  *output.out << document.dump(2, ' ', /*ensure_ascii=*/false, Json::error_handler_t::replace) << "\n";
}

absl::Status NoResultYet(const v1::GetBestResponse& best, const std::string& sweep_id) {
  return absl::NotFoundError(absl::StrCat("no trial of sweep ", sweep_id, " has reported ",
                                          best.sweep().objective_metric(), " yet"));
}

absl::StatusOr<std::vector<Json>> ParamsOf(const v1::GetBestResponse& best) {
  std::vector<Json> params;
  for (const v1::BestTrial& entry : best.best()) {
    absl::StatusOr<Json> parsed = ParseParams(entry.trial().params_json(), entry.trial().trial_id());
    if (!parsed.ok()) return parsed.status();
    params.push_back(*std::move(parsed));
  }
  return params;
}

absl::StatusOr<Json> BestArrayJson(const v1::GetBestResponse& best) {
  Json array = Json::array();
  for (const v1::BestTrial& entry : best.best()) {
    absl::StatusOr<Json> json = BestJson(best.sweep(), entry);
    if (!json.ok()) return json.status();
    array.push_back(*std::move(json));
  }
  return array;
}

// The best trial in full, then the same as a spec fragment.
absl::StatusOr<std::string> BestConfigurationText(const v1::GetBestResponse& best) {
  absl::StatusOr<std::vector<Json>> params = ParamsOf(best);
  if (!params.ok()) return params.status();
  absl::StatusOr<std::string> fragment = SpecFragmentYaml({params->front()});
  if (!fragment.ok()) return fragment.status();
  return absl::StrCat(RenderBestDetail(best.sweep(), best.best(0)),
                      "\nas a spec fragment (segtune best ", best.sweep().sweep_id(), " -o yaml):\n",
                      *fragment);
}

// A file written through a temporary name: Commit syncs it and renames it
// to its final name; otherwise the destructor removes it.
class AtomicFile {
 public:
  explicit AtomicFile(std::string path) : path_(std::move(path)), temp_(path_ + ".tmp") {}
  ~AtomicFile() {
    if (fd_ >= 0) ::close(fd_);
    if (!committed_) std::remove(temp_.c_str());
  }
  AtomicFile(const AtomicFile&) = delete;
  AtomicFile& operator=(const AtomicFile&) = delete;

  // InvalidArgument: the path given on the command line cannot be written.
  absl::Status Open() {
    fd_ = ::open(temp_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd_ < 0) return absl::InvalidArgumentError(absl::StrCat("cannot write ", temp_, ": ", std::strerror(errno)));
    return absl::OkStatus();
  }

  absl::Status Write(std::string_view data) {
    while (!data.empty()) {
      const ssize_t n = ::write(fd_, data.data(), data.size());
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) return Error("cannot write");
      data.remove_prefix(static_cast<std::size_t>(n));
    }
    return absl::OkStatus();
  }

  absl::Status Commit() {
    if (::fsync(fd_) != 0) return Error("cannot sync");
    const int closed = ::close(fd_);
    fd_ = -1;
    if (closed != 0) return Error("cannot write");
    if (std::rename(temp_.c_str(), path_.c_str()) != 0) {
      return absl::InternalError(absl::StrCat("cannot rename ", temp_, " to ", path_, ": ", std::strerror(errno)));
    }
    committed_ = true;
    return absl::OkStatus();
  }

 private:
  absl::Status Error(const char* what) const {
    return absl::InternalError(absl::StrCat(what, " ", temp_, ": ", std::strerror(errno)));
  }

  const std::string path_;
  const std::string temp_;
  int fd_ = -1;
  bool committed_ = false;
};

// "fetching metrics I/N", redrawn in place on a terminal and erased once
// done (or on the way out of an error); nothing elsewhere.
class FetchProgress {
 public:
  FetchProgress(std::ostream& out, bool terminal) : out_(out), terminal_(terminal) {}
  ~FetchProgress() {
    if (shown_) out_ << "\r\x1b[2K" << std::flush;
  }
  FetchProgress(const FetchProgress&) = delete;
  FetchProgress& operator=(const FetchProgress&) = delete;

  void Show(int done, int total) {
    if (!terminal_) return;
    out_ << "\r\x1b[2Kfetching metrics " << done << "/" << total << std::flush;
    shown_ = true;
  }

 private:
  std::ostream& out_;
  const bool terminal_;
  bool shown_ = false;
};

}  // namespace

absl::StatusOr<std::string> ReadSpecFile(const std::string& path) {
  std::error_code error;
  if (std::filesystem::is_directory(path, error)) {
    return absl::InvalidArgumentError(absl::StrCat("cannot read spec file '", path, "': it is a directory"));
  }
  std::ifstream file(path, std::ios::binary);
  if (!file) {
    return absl::InvalidArgumentError(
        absl::StrCat("cannot read spec file '", path, "': ", std::strerror(errno)));
  }
  std::ostringstream text;
  text << file.rdbuf();
  if (file.bad()) {
    return absl::InvalidArgumentError(absl::StrCat("cannot read spec file '", path, "': read error"));
  }
  return text.str();
}

absl::StatusOr<v1::SubmitSweepResponse> SubmitSpec(TunerClient& client, const std::string& spec_path,
                                                   const std::string& spec_yaml) {
  absl::StatusOr<v1::SubmitSweepResponse> response = client.SubmitSweep(spec_yaml);
  if (response.status().code() == absl::StatusCode::kResourceExhausted) {
    // Over the coordinator's message size (gRPC's own check): the user's
    // input, like an invalid spec.
    return absl::InvalidArgumentError(absl::StrCat("spec ", spec_path, " is too large for the coordinator (",
                                                   spec_yaml.size(), " bytes): ", response.status().message()));
  }
  if (response.status().code() != absl::StatusCode::kInvalidArgument) return response;
  // The coordinator lists every problem of the spec, one per line.
  std::string message = absl::StrCat("spec ", spec_path, " is invalid:");
  for (absl::string_view problem : absl::StrSplit(response.status().message(), '\n', absl::SkipEmpty())) {
    absl::StrAppend(&message, "\n  ", problem);
  }
  return absl::InvalidArgumentError(message);
}

absl::Status Submit(TunerClient& client, const std::string& spec_path, const Output& output) {
  absl::StatusOr<std::string> spec = ReadSpecFile(spec_path);
  if (!spec.ok()) return spec.status();
  absl::StatusOr<v1::SubmitSweepResponse> response = SubmitSpec(client, spec_path, *spec);
  if (!response.ok()) return response.status();
  if (output.format == OutputFormat::kJson) {
    PrintJson(output, {{"sweep_id", response->sweep_id()}, {"total_trials", response->total_trials()}});
  } else {
    // The id alone, so that `id=$(segtune submit spec.yaml)` works.
    *output.out << response->sweep_id() << "\n";
  }
  return absl::OkStatus();
}

absl::Status ListSweeps(TunerClient& client, const Output& output) {
  absl::StatusOr<v1::ListSweepsResponse> response = client.ListSweeps();
  if (!response.ok()) return response.status();
  if (output.format == OutputFormat::kJson) {
    Json sweeps = Json::array();
    for (const v1::Sweep& sweep : response->sweeps()) sweeps.push_back(SweepJson(sweep, /*with_spec=*/false));
    PrintJson(output, sweeps);
  } else {
    *output.out << RenderSweeps(*response);
  }
  return absl::OkStatus();
}

absl::Status ShowStatus(TunerClient& client, const std::string& sweep_id, const Output& output) {
  absl::StatusOr<v1::Sweep> sweep = client.GetSweep(sweep_id);
  if (!sweep.ok()) return sweep.status();
  if (output.format == OutputFormat::kJson) {
    PrintJson(output, SweepJson(*sweep, /*with_spec=*/true));
  } else {
    *output.out << RenderSweepStatus(*sweep);
  }
  return absl::OkStatus();
}

// A trial's attempts, oldest first, for `segtune trials -o json`.
Json AttemptsJson(const v1::Trial& trial) {
  Json attempts = Json::array();
  for (const v1::TrialAttempt& attempt : trial.attempts()) {
    attempts.push_back({{"attempt", attempt.attempt()},
                        {"worker_id", attempt.worker_id()},
                        {"state", v1::TrialState_Name(attempt.state())},
                        {"reason", attempt.reason()},
                        {"started_unix_ms", attempt.started_unix_ms()},
                        {"ended_unix_ms", attempt.ended_unix_ms()}});
  }
  return attempts;
}

absl::Status ListTrials(TunerClient& client, const std::string& sweep_id, const Output& output) {
  absl::StatusOr<v1::ListTrialsResponse> trials = client.ListTrials(sweep_id);
  if (!trials.ok()) return trials.status();
  if (output.format == OutputFormat::kJson) {
    Json array = Json::array();
    for (const v1::Trial& trial : trials->trials()) {
      absl::StatusOr<Json> json = TrialJson(trial);
      if (!json.ok()) return json.status();
      (*json)["attempts"] = AttemptsJson(trial);
      array.push_back(*std::move(json));
    }
    PrintJson(output, array);
    return absl::OkStatus();
  }
  // The table shows epochs out of the sweep's budget and names its objective.
  absl::StatusOr<v1::Sweep> sweep = client.GetSweep(sweep_id);
  if (!sweep.ok()) return sweep.status();
  *output.out << RenderTrials(*sweep, *trials);
  return absl::OkStatus();
}

absl::Status ShowMetrics(TunerClient& client, const std::string& trial_id, const Output& output) {
  absl::StatusOr<v1::GetTrialMetricsResponse> metrics = client.GetTrialMetrics(trial_id);
  if (!metrics.ok()) return metrics.status();
  if (output.format == OutputFormat::kJson) {
    PrintJson(output, EpochsJson(*metrics));
  } else {
    *output.out << RenderMetrics(*metrics);
  }
  return absl::OkStatus();
}

absl::Status ListWorkers(TunerClient& client, const Output& output) {
  absl::StatusOr<v1::ListWorkersResponse> workers = client.ListWorkers();
  if (!workers.ok()) return workers.status();
  if (output.format == OutputFormat::kJson) {
    Json array = Json::array();
    for (const v1::Worker& worker : workers->workers()) array.push_back(WorkerJson(worker));
    PrintJson(output, array);
  } else {
    *output.out << RenderWorkers(*workers);
  }
  return absl::OkStatus();
}

absl::Status Cancel(TunerClient& client, const std::string& sweep_id, const Output& output) {
  absl::StatusOr<v1::Sweep> sweep = client.CancelSweep(sweep_id);
  if (!sweep.ok()) return sweep.status();
  if (output.format == OutputFormat::kJson) {
    PrintJson(output, SweepJson(*sweep, /*with_spec=*/false));
  } else {
    *output.out << "sweep " << sweep->sweep_id() << " " << SweepStateName(sweep->state()) << "\n";
  }
  return absl::OkStatus();
}

absl::StatusOr<v1::SweepUpdate> FollowSweep(TunerClient& client, const std::string& sweep_id, const Output& output) {
  LivePrinter progress(output.progress_stream(), output.progress_is_terminal(), ProgressTerminalSize(output),
                       LivePrinter::SystemNowMs, kLiveRefreshMs);
  absl::StatusOr<v1::SweepUpdate> last =
      client.WatchSweep(sweep_id, [&progress](const v1::SweepUpdate& update) { progress.Update(update); });
  progress.Finish();
  return last;
}

absl::Status Watch(TunerClient& client, const std::string& sweep_id, const Output& output) {
  absl::StatusOr<v1::SweepUpdate> last = FollowSweep(client, sweep_id, output);
  if (!last.ok()) return last.status();

  absl::StatusOr<v1::GetBestResponse> best = client.GetBest(sweep_id, kLeaderboardSize);
  if (!best.ok()) return best.status();
  if (output.format == OutputFormat::kJson) {
    absl::StatusOr<Json> leaderboard = BestArrayJson(*best);
    if (!leaderboard.ok()) return leaderboard.status();
    PrintJson(output, {{"sweep", SweepJson(best->sweep(), /*with_spec=*/false)},
                       {"leaderboard", *std::move(leaderboard)}});
  } else {
    *output.out << "\n" << RenderLeaderboard(*best);
  }
  if (last->sweep().state() == v1::SWEEP_CANCELLED) {
    return absl::FailedPreconditionError(absl::StrCat("sweep ", sweep_id, " was cancelled"));
  }
  return absl::OkStatus();
}

absl::Status Best(TunerClient& client, const std::string& sweep_id, int top_k, const Output& output) {
  absl::StatusOr<v1::GetBestResponse> best = client.GetBest(sweep_id, top_k);
  if (!best.ok()) return best.status();
  if (best->best().empty()) return NoResultYet(*best, sweep_id);

  switch (output.format) {
    case OutputFormat::kJson: {
      if (top_k <= 1) {
        absl::StatusOr<Json> json = BestJson(best->sweep(), best->best(0));
        if (!json.ok()) return json.status();
        PrintJson(output, *json);
      } else {
        absl::StatusOr<Json> array = BestArrayJson(*best);
        if (!array.ok()) return array.status();
        PrintJson(output, *array);
      }
      return absl::OkStatus();
    }
    case OutputFormat::kYaml: {
      absl::StatusOr<std::vector<Json>> params = ParamsOf(*best);
      if (!params.ok()) return params.status();
      absl::StatusOr<std::string> fragment = SpecFragmentYaml(*params);
      if (!fragment.ok()) return fragment.status();
      *output.out << *fragment;
      return absl::OkStatus();
    }
    case OutputFormat::kTable: {
      if (top_k > 1) {
        *output.out << RenderLeaderboard(*best);
        return absl::OkStatus();
      }
      absl::StatusOr<std::string> text = BestConfigurationText(*best);
      if (!text.ok()) return text.status();
      *output.out << *text;
      return absl::OkStatus();
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<v1::ExportWeightsRequest> ExportRequest(const std::string& trial_id, const std::string& epoch) {
  v1::ExportWeightsRequest request;
  request.set_trial_id(trial_id);
  int number = 0;
  if (epoch == "best") {
    request.set_which(v1::EXPORT_BEST);
  } else if (epoch == "last") {
    request.set_which(v1::EXPORT_LAST);
  } else if (absl::SimpleAtoi(epoch, &number) && number >= 1) {
    request.set_which(v1::EXPORT_EPOCH);
    request.set_epoch(number);
  } else {
    return absl::InvalidArgumentError(
        absl::StrCat("--epoch: expected best, last or an epoch number >= 1, got '", epoch, "'"));
  }
  return request;
}

absl::Status Export(TunerClient& client, const ExportOptions& options, const Output& output) {
  absl::StatusOr<v1::ExportWeightsRequest> request = ExportRequest(options.trial_id, options.epoch);
  if (!request.ok()) return request.status();
  AtomicFile file(options.file);
  if (absl::Status opened = file.Open(); !opened.ok()) return opened;
  std::uint64_t bytes = 0;
  std::uint32_t crc = 0;
  absl::StatusOr<v1::ExportWeightsMetadata> metadata =
      client.ExportWeights(*request, [&](const std::string& data) {
        bytes += data.size();
        crc = proto::Crc32(crc, data);
        return file.Write(data);
      });
  if (!metadata.ok()) return metadata.status();
  if (bytes != static_cast<std::uint64_t>(metadata->size_bytes()) || crc != metadata->crc32()) {
    return absl::DataLossError(absl::StrCat("the weights of trial ", metadata->trial_id(), " epoch ",
                                            metadata->epoch(), " arrived damaged (", bytes, " bytes, crc32 ", crc,
                                            "; expected ", metadata->size_bytes(), " bytes, crc32 ",
                                            metadata->crc32(), "); ", options.file, " was not written"));
  }
  if (absl::Status committed = file.Commit(); !committed.ok()) return committed;

  if (output.format == OutputFormat::kJson) {
    PrintJson(output, {{"file", options.file},
                       {"trial_id", metadata->trial_id()},
                       {"sweep_id", metadata->sweep_id()},
                       {"epoch", metadata->epoch()},
                       {"metric", metadata->metric()},
                       {"value", metadata->has_value() ? Json(metadata->value()) : Json(nullptr)},
                       {"bytes", bytes}});
    return absl::OkStatus();
  }
  *output.out << "wrote " << options.file << ": trial " << metadata->trial_id() << " epoch " << metadata->epoch();
  if (metadata->has_value()) *output.out << " (" << metadata->metric() << " " << FormatMetric(metadata->value()) << ")";
  *output.out << ", " << bytes << " bytes\n";
  return absl::OkStatus();
}

absl::Status Report(TunerClient& client, const ReportOptions& options, const Output& output) {
  absl::StatusOr<v1::Sweep> sweep = client.GetSweep(options.sweep_id);
  if (!sweep.ok()) return sweep.status();
  // Checked before the trials are fetched, which may take a while.
  const std::string path = options.file.empty() ? absl::StrCat("report-", options.sweep_id, ".html") : options.file;
  AtomicFile file(path);
  if (absl::Status opened = file.Open(); !opened.ok()) return opened;
  absl::StatusOr<v1::ListTrialsResponse> trials = client.ListTrials(options.sweep_id);
  if (!trials.ok()) return trials.status();

  ReportData data;
  data.sweep = *std::move(sweep);
  int epochs = 0;
  {
    FetchProgress progress(*output.err, output.err_is_terminal);
    for (const v1::Trial& listed : trials->trials()) {
      progress.Show(static_cast<int>(data.trials.size()) + 1, trials->trials_size());
      absl::StatusOr<v1::GetTrialMetricsResponse> metrics = client.GetTrialMetrics(listed.trial_id());
      if (!metrics.ok()) return metrics.status();
      absl::StatusOr<ReportTrial> trial = ReportTrialFrom(*metrics);
      if (!trial.ok()) return trial.status();
      epochs += static_cast<int>(trial->epochs.size());
      data.trials.push_back(*std::move(trial));
    }
  }
  data.generated_unix_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                               std::chrono::system_clock::now().time_since_epoch())
                               .count();
  if (absl::Status written = file.Write(RenderReport(data)); !written.ok()) return written;
  if (absl::Status committed = file.Commit(); !committed.ok()) return committed;
  *output.out << "wrote " << path << " (" << data.trials.size() << " trials, " << epochs << " epochs)\n";
  return absl::OkStatus();
}

absl::Status CancelLeftoverSweeps(TunerClient& client, const std::string& dir, const Output& output) {
  absl::StatusOr<v1::ListSweepsResponse> sweeps = client.ListSweeps();
  if (!sweeps.ok()) return sweeps.status();
  for (const v1::Sweep& sweep : sweeps->sweeps()) {
    if (sweep.state() != v1::SWEEP_RUNNING) continue;
    absl::Status cancelled = client.CancelSweep(sweep.sweep_id()).status();
    if (!cancelled.ok()) {
      return absl::Status(cancelled.code(), absl::StrCat("cannot cancel sweep ", sweep.sweep_id(),
                                                         " left running by an earlier `segtune run` in ", dir,
                                                         ": ", cancelled.message()));
    }
    *output.err << "cancelled sweep " << sweep.sweep_id() << " left running by an earlier `segtune run` in "
                << dir << "\n";
  }
  *output.err << std::flush;
  return absl::OkStatus();
}

absl::Status PrintRunResults(TunerClient& client, const std::string& sweep_id, const Output& output) {
  absl::StatusOr<v1::GetBestResponse> best = client.GetBest(sweep_id, kLeaderboardSize);
  if (!best.ok()) return best.status();
  if (best->best().empty()) return NoResultYet(*best, sweep_id);
  if (output.format == OutputFormat::kJson) {
    absl::StatusOr<Json> json = BestJson(best->sweep(), best->best(0));
    if (!json.ok()) return json.status();
    PrintJson(output, *json);
    return absl::OkStatus();
  }
  absl::StatusOr<std::string> configuration = BestConfigurationText(*best);
  if (!configuration.ok()) return configuration.status();
  *output.out << "\nleaderboard (top " << kLeaderboardSize << "):\n"
              << RenderLeaderboard(*best) << "\n"
              << *configuration;
  return absl::OkStatus();
}

}  // namespace segtune::client
