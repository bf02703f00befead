// Coordinator load: N simulated workers report epochs as fast as they can
// against one real segtune-coordinator process for a fixed time. Prints
// reports acknowledged per second, client-observed report latency, trial
// acquisition and scheduling latency, the coordinator's CPU and peak RSS,
// and then checks the coordinator's database against what was acknowledged:
// lost or duplicated rows make it exit 1. See bench/README.md.
//
//   build/bin/segtune_bench_coordinator_load [--workers 1,50,500] [--seconds 20] [--json FILE]
#include <signal.h>
#include <sys/resource.h>
#include <sys/statfs.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <CLI/CLI.hpp>
#include <grpcpp/grpcpp.h>
#include <nlohmann/json.hpp>

#include "absl/status/statusor.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "histogram_scrape.h"
#include "child_process.h"
#include "http_get.h"
#include "row_check.h"
#include "segtune/v1/segtune.grpc.pb.h"
#include "simulated_workers.h"

namespace {

namespace fs = std::filesystem;
using segtune::bench::Clock;

// The largest sweep the coordinator accepts (budget.max_trials).
constexpr int kMaxTrialsPerSweep = 10000;
// The report rate the sweeps are sized for: workers must never run out of
// trials below it (above it they may, and the run says so).
constexpr double kSizedForReportsPerSecond = 30000;
// Ray Tune's documented result throughput, results per second.
constexpr double kRayLow = 500;
constexpr double kRayHigh = 1000;

struct Options {
  std::vector<int> workers;
  double seconds = 20;
  double warmup = 2;
  std::string coordinator;
  double retry_fraction = 0.01;
  int epochs = 50;
  double rate = 0;  // reports/s offered by all workers together; 0: as fast as they can
  int threads = 2;
  std::string tmp;
  std::string json;
  bool keep = false;
};

// One run's figures; latencies in ms, -1 where nothing was observed.
struct Figures {
  int workers = 0;
  double seconds = 0;
  double reports_per_second = 0;
  double p50 = -1, p90 = -1, p99 = -1, max = -1;
  double acquire_p50 = -1, acquire_p99 = -1;
  std::int64_t acquires = 0;
  double scheduling_p50 = -1, scheduling_p99 = -1;
  double server_report_p50 = -1, server_report_p99 = -1;
  double commits_per_second = 0, commit_p50 = -1, commit_p99 = -1;
  double coordinator_cpu_percent = 0;
  double bench_cpu_percent = 0;
  double peak_rss_mib = 0;
  std::int64_t copies = 0, finishes = 0, starved = 0, errors = 0, cancelled_at_end = 0;
  segtune::bench::RowCheck rows;
  std::string load_before, load_after;
};

double Seconds(Clock::duration d) { return std::chrono::duration<double>(d).count(); }

double Percentile(std::vector<double>& v, double q) {
  if (v.empty()) return -1;
  const std::size_t i = std::min(v.size() - 1, static_cast<std::size_t>(q * v.size()));
  std::nth_element(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(i), v.end());
  return v[i];
}

std::string ReadText(const std::string& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

std::string LoadAverage() {
  std::string load = ReadText("/proc/loadavg");
  return load.substr(0, load.find(' ', load.find(' ', load.find(' ') + 1) + 1));
}

// User + system CPU seconds of a process, from /proc/PID/stat.
double ProcessCpuSeconds(pid_t pid) {
  const std::string stat = ReadText(absl::StrCat("/proc/", pid, "/stat"));
  const std::size_t name_end = stat.rfind(')');
  if (name_end == std::string::npos) return 0;  // the process is gone
  // Fields after the command name (which may hold spaces) start at state (3rd).
  std::istringstream fields(stat.substr(name_end + 1));
  std::string field;
  double utime = 0, stime = 0;
  for (int i = 3; i <= 15 && fields >> field; ++i) {
    if (i == 14) utime = std::strtod(field.c_str(), nullptr);
    if (i == 15) stime = std::strtod(field.c_str(), nullptr);
  }
  return (utime + stime) / static_cast<double>(sysconf(_SC_CLK_TCK));
}

double OwnCpuSeconds() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  auto s = [](const timeval& t) { return static_cast<double>(t.tv_sec) + t.tv_usec * 1e-6; };
  return s(usage.ru_utime) + s(usage.ru_stime);
}

// VmHWM of a process in MiB (0 when unreadable).
double PeakRssMib(pid_t pid) {
  std::istringstream status(ReadText(absl::StrCat("/proc/", pid, "/status")));
  for (std::string line; std::getline(status, line);) {
    if (line.rfind("VmHWM:", 0) == 0) return std::strtod(line.c_str() + 6, nullptr) / 1024.0;
  }
  return 0;
}

std::string FilesystemOf(const std::string& path) {
  struct statfs fs_info {};
  if (statfs(path.c_str(), &fs_info) != 0) return "unknown";
  switch (fs_info.f_type) {
    case 0x01021994: return "tmpfs (fsync costs nothing: figures are not durable ones)";
    case 0xEF53: return "ext2/3/4";
    case 0x58465342: return "xfs";
    case 0x9123683E: return "btrfs";
    case 0x794C7630: return "overlayfs";
    default: return absl::StrCat("type 0x", absl::Hex(fs_info.f_type));
  }
}

// A random-search sweep of `trials` trials of `epochs` epochs; the data and
// model are tiny, but nothing trains: the simulated workers only report.
std::string SweepSpec(int index, int trials, int epochs) {
  return absl::StrCat("name: coordinator-load-", index,
                      "\nobjective: {metric: val_miou, mode: max}\n"
                      "budget: {epochs: ", epochs, ", max_trials: ", trials, "}\n",
                      "data: {dataset: shapes, image_size: 16, train_size: 8, val_size: 4}\n"
                      "model: {arch: unet, base_channels: 4, depth: 2}\n"
                      "search:\n  algorithm: random\n  seed: ", index + 1,
                      "\n  space:\n    optimizer:\n"
                      "      - {name: momentum, lr: {loguniform: [1.0e-3, 0.3]}}\n"
                      "      - {name: Adam, lr: {loguniform: [1.0e-4, 1.0e-2]}, weight_decay: [0, 1.0e-4]}\n"
                      "    scheduler:\n      - {name: ExponentialLR, gamma: {uniform: [0.7, 0.99]}}\n");
}

absl::Status WaitForCoordinator(segtune::v1::Tuner::Stub& tuner, segtune::bench::ChildProcess& process) {
  const auto give_up = Clock::now() + std::chrono::seconds(60);
  while (Clock::now() < give_up) {
    if (!process.Running()) {
      return absl::UnavailableError(absl::StrCat("segtune-coordinator exited: ", process.LogTail()));
    }
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(1));
    segtune::v1::ListSweepsResponse sweeps;
    if (tuner.ListSweeps(&context, segtune::v1::ListSweepsRequest(), &sweeps).ok()) return absl::OkStatus();
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  return absl::DeadlineExceededError("segtune-coordinator did not answer within 60 s");
}

// Enough trials that workers never run dry below kSizedForReportsPerSecond.
absl::Status SubmitSweeps(segtune::v1::Tuner::Stub& tuner, const Options& options, int workers) {
  const double reports = kSizedForReportsPerSecond * (options.warmup + options.seconds + 5);
  int trials = workers + static_cast<int>(std::ceil(reports / options.epochs));
  for (int sweep = 0; trials > 0; ++sweep, trials -= kMaxTrialsPerSweep) {
    segtune::v1::SubmitSweepRequest request;
    request.set_spec_yaml(SweepSpec(sweep, std::min(trials, kMaxTrialsPerSweep), options.epochs));
    segtune::v1::SubmitSweepResponse response;
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(120));
    grpc::Status status = tuner.SubmitSweep(&context, request, &response);
    if (!status.ok()) return absl::InternalError(absl::StrCat("SubmitSweep: ", status.error_message()));
  }
  return absl::OkStatus();
}

struct Scrape {
  segtune::bench::Histogram scheduling, commit, report_rpc;
};

Scrape ScrapeMetrics(int port) {
  const std::string page = segtune::testing::HttpGet(port, "/metrics");
  return {segtune::bench::ParseHistogram(page, "segtune_scheduling_latency_seconds"),
          segtune::bench::ParseHistogram(page, "segtune_store_commit_seconds"),
          segtune::bench::ParseHistogram(page, "segtune_rpc_duration_seconds", "method=\"WorkerHub/ReportEpoch\"")};
}

double QuantileMs(const segtune::bench::Histogram& h, double q) {
  const double seconds = segtune::bench::Quantile(h, q);
  return seconds < 0 ? -1 : seconds * 1e3;
}

// Starts a coordinator, runs `workers` simulated workers against it, stops
// it and checks its database (in `dir`, a fresh directory).
absl::StatusOr<Figures> RunOnce(const Options& options, int workers, const fs::path& dir) {
  auto port = segtune::bench::FreeLoopbackPort();
  if (!port.ok()) return port.status();
  auto metrics_port = segtune::bench::FreeLoopbackPort();
  if (!metrics_port.ok()) return metrics_port.status();
  const std::string address = absl::StrCat("127.0.0.1:", *port);
  // The lease outlives the run: the simulated workers send no heartbeats
  // (a real worker's, every 5 s, are noise next to its reports).
  auto coordinator = segtune::bench::ChildProcess::Spawn(
      {options.coordinator, "--listen", address, "--metrics-listen", absl::StrCat("127.0.0.1:", *metrics_port),
       "--data-dir", dir.string(), "--lease-seconds", "600"},
      (dir / "coordinator.log").string());
  if (!coordinator.ok()) return coordinator.status();
  auto tuner = segtune::v1::Tuner::NewStub(grpc::CreateChannel(address, grpc::InsecureChannelCredentials()));
  if (absl::Status s = WaitForCoordinator(*tuner, *coordinator); !s.ok()) return s;
  if (absl::Status s = SubmitSweeps(*tuner, options, workers); !s.ok()) return s;

  Figures f;
  f.workers = workers;
  f.load_before = LoadAverage();
  segtune::bench::SimulatedWorkers load(
      {address, workers, options.threads, options.retry_fraction, options.epochs, options.rate});
  if (absl::Status s = load.Start(); !s.ok()) return s;
  std::this_thread::sleep_for(std::chrono::duration<double>(options.warmup));

  const Scrape scrape_before = ScrapeMetrics(*metrics_port);
  const double coordinator_cpu_before = ProcessCpuSeconds(coordinator->pid());
  const double own_cpu_before = OwnCpuSeconds();
  const auto start = Clock::now();
  load.OpenWindow();
  std::this_thread::sleep_for(std::chrono::duration<double>(options.seconds));
  load.CloseWindow();
  const double window = Seconds(Clock::now() - start);
  const double coordinator_cpu = ProcessCpuSeconds(coordinator->pid()) - coordinator_cpu_before;
  const double own_cpu = OwnCpuSeconds() - own_cpu_before;
  const Scrape scrape_after = ScrapeMetrics(*metrics_port);
  f.load_after = LoadAverage();

  segtune::bench::LoadResults results = load.Stop(std::chrono::seconds(5));
  f.peak_rss_mib = PeakRssMib(coordinator->pid());
  const int exit_code = coordinator->Stop(SIGTERM, std::chrono::seconds(60));
  if (exit_code != 0) {
    return absl::InternalError(absl::StrCat("segtune-coordinator exited with ", exit_code, " on SIGTERM: ",
                                            coordinator->LogTail()));
  }
  auto rows = segtune::bench::CheckRows((dir / "segtune.db").string(), results.reports);
  if (!rows.ok()) return rows.status();
  f.rows = *rows;

  f.seconds = window;
  f.reports_per_second = results.window_reports / window;
  f.p50 = Percentile(results.report_ms, 0.50);
  f.p90 = Percentile(results.report_ms, 0.90);
  f.p99 = Percentile(results.report_ms, 0.99);
  f.max = results.report_ms.empty() ? -1 : *std::max_element(results.report_ms.begin(), results.report_ms.end());
  f.acquires = static_cast<std::int64_t>(results.acquire_ms.size());
  f.acquire_p50 = Percentile(results.acquire_ms, 0.50);
  f.acquire_p99 = Percentile(results.acquire_ms, 0.99);
  const auto scheduling = segtune::bench::Delta(scrape_after.scheduling, scrape_before.scheduling);
  f.scheduling_p50 = QuantileMs(scheduling, 0.50);
  f.scheduling_p99 = QuantileMs(scheduling, 0.99);
  const auto report_rpc = segtune::bench::Delta(scrape_after.report_rpc, scrape_before.report_rpc);
  f.server_report_p50 = QuantileMs(report_rpc, 0.50);
  f.server_report_p99 = QuantileMs(report_rpc, 0.99);
  const auto commits = segtune::bench::Delta(scrape_after.commit, scrape_before.commit);
  f.commits_per_second = commits.count / window;
  f.commit_p50 = QuantileMs(commits, 0.50);
  f.commit_p99 = QuantileMs(commits, 0.99);
  f.coordinator_cpu_percent = 100 * coordinator_cpu / window;
  f.bench_cpu_percent = 100 * own_cpu / window;
  f.copies = results.window_copies;
  f.finishes = results.window_finishes;
  f.starved = results.starved_acquires;
  f.errors = results.errors;
  f.cancelled_at_end = results.cancelled_at_end;
  for (const auto& [what, count] : results.error_samples) std::fprintf(stderr, "error x%d: %s\n", count, what.c_str());
  return f;
}

std::string Ms(double ms) { return ms < 0 ? "-" : absl::StrFormat("%.2f", ms); }

void PrintTables(const std::vector<Figures>& runs) {
  std::printf("\n| workers | seconds | reports/s | p50 ms | p99 ms | max ms | acquire p50/p99 ms | "
              "scheduling p50/p99 ms | coordinator CPU %% | peak RSS MiB | lost | duplicated |\n"
              "|---|---|---|---|---|---|---|---|---|---|---|---|\n");
  for (const Figures& f : runs) {
    std::printf("| %d | %.1f | %.0f | %s | %s | %s | %s / %s | %s / %s | %.0f | %.1f | %lld | %lld |\n", f.workers,
                f.seconds, f.reports_per_second, Ms(f.p50).c_str(), Ms(f.p99).c_str(), Ms(f.max).c_str(),
                Ms(f.acquire_p50).c_str(), Ms(f.acquire_p99).c_str(), Ms(f.scheduling_p50).c_str(),
                Ms(f.scheduling_p99).c_str(), f.coordinator_cpu_percent, f.peak_rss_mib,
                static_cast<long long>(f.rows.lost), static_cast<long long>(f.rows.duplicated));
  }
  std::printf("\n| workers | p90 ms | server ReportEpoch p50/p99 ms | commits/s | commits per report | "
              "commit p50/p99 ms | acquires | retried copies | finished trials | bench CPU %% | "
              "rows | unacked rows | phantom rows | errors | load before / after |\n"
              "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n");
  for (const Figures& f : runs) {
    std::printf("| %d | %s | %s / %s | %.0f | %.2f | %s / %s | %lld | %lld | %lld | %.0f | %lld | %lld | %lld | %lld | "
                "%s / %s |\n",
                f.workers, Ms(f.p90).c_str(), Ms(f.server_report_p50).c_str(), Ms(f.server_report_p99).c_str(),
                f.commits_per_second,
                f.reports_per_second > 0 ? f.commits_per_second / f.reports_per_second : 0.0,
                Ms(f.commit_p50).c_str(), Ms(f.commit_p99).c_str(), static_cast<long long>(f.acquires),
                static_cast<long long>(f.copies), static_cast<long long>(f.finishes), f.bench_cpu_percent,
                static_cast<long long>(f.rows.rows), static_cast<long long>(f.rows.unacked_rows),
                static_cast<long long>(f.rows.phantom_rows), static_cast<long long>(f.errors),
                f.load_before.c_str(), f.load_after.c_str());
  }
  for (const Figures& f : runs) {
    if (f.starved > 0) {
      std::printf("\nwarning: %d workers: %lld polls found no trial (the sweeps ran dry; raise --epochs)\n",
                  f.workers, static_cast<long long>(f.starved));
    }
  }
}

nlohmann::json ToJson(const Figures& f) {
  return {{"workers", f.workers}, {"seconds", f.seconds}, {"reports_per_second", f.reports_per_second},
          {"report_ms", {{"p50", f.p50}, {"p90", f.p90}, {"p99", f.p99}, {"max", f.max}}},
          {"acquire_ms", {{"p50", f.acquire_p50}, {"p99", f.acquire_p99}, {"count", f.acquires}}},
          {"scheduling_ms", {{"p50", f.scheduling_p50}, {"p99", f.scheduling_p99}}},
          {"server_report_ms", {{"p50", f.server_report_p50}, {"p99", f.server_report_p99}}},
          {"commits", {{"per_second", f.commits_per_second}, {"p50_ms", f.commit_p50}, {"p99_ms", f.commit_p99}}},
          {"coordinator_cpu_percent", f.coordinator_cpu_percent}, {"bench_cpu_percent", f.bench_cpu_percent},
          {"coordinator_peak_rss_mib", f.peak_rss_mib}, {"retried_copies", f.copies},
          {"finished_trials", f.finishes}, {"starved_acquires", f.starved}, {"errors", f.errors},
          {"cancelled_at_end", f.cancelled_at_end},
          {"rows", {{"total", f.rows.rows}, {"acked", f.rows.acked}, {"lost", f.rows.lost},
                    {"duplicated", f.rows.duplicated}, {"unacked", f.rows.unacked_rows},
                    {"phantom", f.rows.phantom_rows}}},
          {"loadavg_before", f.load_before}, {"loadavg_after", f.load_after}};
}

std::string DefaultCoordinator() {
  std::error_code ec;
  const fs::path self = fs::read_symlink("/proc/self/exe", ec);
  return ec ? "segtune-coordinator" : (self.parent_path() / "segtune-coordinator").string();
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"Load on one segtune-coordinator from many simulated workers (see bench/README.md)"};
  Options options;
  options.coordinator = DefaultCoordinator();
  std::error_code tmp_error;
  options.tmp = fs::temp_directory_path(tmp_error).string();
  if (tmp_error) options.tmp = "/tmp";
  std::string workers = "500";
  app.add_option("--workers", workers, "simulated workers; a list (1,50,500) runs each in turn")->capture_default_str();
  app.add_option("--seconds", options.seconds, "measured seconds per run")->check(CLI::Range(1.0, 3600.0))
      ->capture_default_str();
  app.add_option("--warmup", options.warmup, "seconds of load before measuring")->check(CLI::Range(0.0, 600.0))
      ->capture_default_str();
  app.add_option("--coordinator", options.coordinator, "segtune-coordinator binary")->capture_default_str();
  app.add_option("--retry-fraction", options.retry_fraction,
                 "share of reports sent twice at once, as after a lost reply")
      ->check(CLI::Range(0.0, 1.0))->capture_default_str();
  app.add_option("--epochs", options.epochs, "epochs per trial (a worker then finishes it and acquires the next)")
      ->check(CLI::Range(1, 10000))->capture_default_str();
  app.add_option("--rate", options.rate,
                 "reports/s offered by all workers together, each worker paced evenly (open loop); "
                 "0: every worker reports as fast as it is acknowledged (closed loop)")
      ->check(CLI::Range(0.0, 1e7))->capture_default_str();
  app.add_option("--client-threads", options.threads, "client threads driving the simulated workers")
      ->check(CLI::Range(1, 64))->capture_default_str();
  app.add_option("--tmp", options.tmp, "where the coordinator's fresh data directory goes")->capture_default_str();
  app.add_option("--json", options.json, "also write the figures to this file as JSON");
  app.add_flag("--keep", options.keep, "keep each run's data directory (database, coordinator log)");
  CLI11_PARSE(app, argc, argv);
  for (absl::string_view n : absl::StrSplit(workers, ',', absl::SkipWhitespace())) {
    int count = 0;
    if (!absl::SimpleAtoi(n, &count) || count < 1 || count > 100000) {
      std::fprintf(stderr, "--workers: each count must be an integer from 1 to 100000, got \"%s\"\n",
                   std::string(n).c_str());
      return 2;
    }
    options.workers.push_back(count);
  }
  if (options.workers.empty()) {
    std::fprintf(stderr, "--workers: give at least one count\n");
    return 2;
  }

  std::printf("segtune coordinator load: %.0f s measured after %.0f s warm-up, %d epochs per trial, "
              "retry fraction %.3f, %d client threads, %u cores\n",
              options.seconds, options.warmup, options.epochs, options.retry_fraction, options.threads,
              std::thread::hardware_concurrency());
  if (options.rate > 0) {
    std::printf("offered load: %.0f reports/s in all, each worker paced evenly (open loop)\n", options.rate);
  } else {
    std::printf("offered load: as fast as acknowledged (closed loop: latency = workers / throughput)\n");
  }
  std::printf("coordinator %s; data directory under %s (%s)\n", options.coordinator.c_str(), options.tmp.c_str(),
              FilesystemOf(options.tmp).c_str());
  std::vector<Figures> runs;
  bool rows_ok = true;
  for (int n : options.workers) {
    std::printf("running %d workers ...\n", n);
    std::fflush(stdout);
    const fs::path dir = fs::path(options.tmp) / absl::StrCat("segtune-load-", std::random_device{}());
    std::error_code ec;
    if (!fs::create_directories(dir, ec)) {
      std::fprintf(stderr, "--tmp: cannot create %s: %s\n", dir.c_str(), ec.message().c_str());
      return 1;
    }
    auto figures = RunOnce(options, n, dir);
    if (!figures.ok()) {
      // The coordinator's log and database stay for a look.
      std::fprintf(stderr, "%d workers: %s (kept %s)\n", n, figures.status().ToString().c_str(), dir.c_str());
      return 1;
    }
    if (!options.keep) fs::remove_all(dir, ec);
    rows_ok = rows_ok && figures->rows.lost == 0 && figures->rows.duplicated == 0 &&
              figures->rows.phantom_rows == 0 && figures->errors == 0;
    runs.push_back(*figures);
  }
  PrintTables(runs);

  // The goal is about the most workers run.
  const Figures& top = *std::max_element(runs.begin(), runs.end(),
                                         [](const Figures& a, const Figures& b) { return a.workers < b.workers; });
  const bool pass = top.reports_per_second >= 20000 && top.p99 >= 0 && top.p99 < 10;
  std::printf("\ngoal: >= 20000 reports/s and p99 < 10 ms: %s (%d workers: %.0f reports/s, p99 %s ms)\n",
              pass ? "PASS" : "FAIL", top.workers, top.reports_per_second, Ms(top.p99).c_str());
  std::printf("Ray Tune documents about 500-1,000 results/s: %.0f reports/s is %.1f-%.1fx that\n",
              top.reports_per_second, top.reports_per_second / kRayHigh, top.reports_per_second / kRayLow);
  std::printf("rows: %s\n", rows_ok ? "every acknowledged report stored exactly once, no errors"
                                    : "LOST, DUPLICATED OR UNEXPECTED ROWS, OR FAILED CALLS (see above)");

  if (!options.json.empty()) {
    nlohmann::json out = {{"goal_pass", pass}, {"rows_ok", rows_ok}, {"runs", nlohmann::json::array()}};
    for (const Figures& f : runs) out["runs"].push_back(ToJson(f));
    std::ofstream file(options.json);
    file << out.dump(2) << "\n";
    if (!file) {
      std::fprintf(stderr, "--json: cannot write %s\n", options.json.c_str());
      return 1;
    }
  }
  return rows_ok ? 0 : 1;
}
