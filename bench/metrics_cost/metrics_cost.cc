// What the Prometheus metrics cost an epoch report, measured in one process:
// - the metric work each report does (two histogram observations and the
//   copy of the followed metrics into the trial's lease), in ns;
// - real reports end to end (gRPC on loopback, SQLite commit) in µs against
//   three coordinators: metrics off, metrics on (the RPC interceptor
//   included), and metrics on while a scraper fetches /metrics every 100 ms,
//   in rounds whose order turns;
// - a scrape (snapshot applied, page serialized) for 8 to 512 running trials.
//
//   build/bin/segtune_bench_metrics_cost [--trials N] [--rounds R]
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <map>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include <CLI/CLI.hpp>
#include <grpcpp/grpcpp.h>

#include "http_get.h"
#include "segtune/api/coordinator.h"
#include "segtune/metrics/coordinator_metrics.h"
#include "segtune/scheduler/scheduler.h"
#include "segtune/v1/segtune.grpc.pb.h"

#include <prometheus/histogram.h>

namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

double Seconds(Clock::duration d) { return std::chrono::duration<double>(d).count(); }

// Nanoseconds per call of `f`, the best of 5 runs of `n` calls.
template <typename F>
double NanosPerCall(int n, F f) {
  double best = 1e300;
  for (int run = 0; run < 5; ++run) {
    const auto start = Clock::now();
    for (int i = 0; i < n; ++i) f(i);
    best = std::min(best, Seconds(Clock::now() - start) * 1e9 / n);
  }
  return best;
}

const std::map<std::string, double> kReport = {{"train_loss", 0.5},      {"val_loss", 0.6},
                                               {"val_miou", 0.7},        {"val_pixel_acc", 0.9},
                                               {"lr", 0.01},             {"epoch_seconds", 12.0},
                                               {"images_per_second", 80}};

std::string Spec(int trials, int epochs) {
  std::string lrs;
  for (int i = 0; i < trials; ++i) lrs += (i ? ", " : "") + std::to_string(0.001 * (i + 1));
  return "name: metrics-cost\nobjective: {metric: val_miou, mode: max}\n"
         "budget: {epochs: " + std::to_string(epochs) + "}\n"
         "data: {dataset: shapes, image_size: 16, train_size: 8, val_size: 4}\n"
         "model: {arch: unet, base_channels: 4, depth: 2}\n"
         "search:\n  algorithm: grid\n  space:\n    optimizer:\n      - {name: SGD, lr: [" + lrs + "]}\n"
         "    scheduler:\n      - {name: StepLR, step_size: 3}\n";
}

// A coordinator with `trials` trials leased to one worker, ready for reports.
struct Fixture {
  fs::path dir;
  std::unique_ptr<segtune::api::Coordinator> coordinator;
  std::unique_ptr<segtune::v1::WorkerHub::Stub> hub;
  std::string worker_id;
  std::vector<segtune::v1::TrialAssignment> trials;
  int next_epoch = 1;
};

Fixture Start(int trials, int epochs, bool metrics_on) {
  Fixture f;
  f.dir = fs::temp_directory_path() / ("segtune-bench-metrics-" + std::to_string(std::random_device{}()));
  fs::create_directories(f.dir);
  segtune::api::CoordinatorOptions options;
  options.listen = "127.0.0.1:0";
  options.metrics_listen = metrics_on ? "127.0.0.1:0" : "";
  options.db_path = (f.dir / "segtune.db").string();
  options.data_dir = f.dir.string();
  auto coordinator = segtune::api::Coordinator::Start(options);
  if (!coordinator.ok()) {
    std::fprintf(stderr, "coordinator: %s\n", coordinator.status().ToString().c_str());
    std::exit(1);
  }
  f.coordinator = std::move(*coordinator);
  auto channel = grpc::CreateChannel(f.coordinator->address(), grpc::InsecureChannelCredentials());
  auto tuner = segtune::v1::Tuner::NewStub(channel);
  f.hub = segtune::v1::WorkerHub::NewStub(channel);
  segtune::v1::SubmitSweepRequest submit;
  submit.set_spec_yaml(Spec(trials, epochs));
  segtune::v1::SubmitSweepResponse submitted;
  grpc::ClientContext submit_context;
  if (!tuner->SubmitSweep(&submit_context, submit, &submitted).ok()) std::exit(1);
  segtune::v1::RegisterWorkerRequest reg;
  reg.set_name("bench");
  reg.set_slots(trials);
  segtune::v1::RegisterWorkerResponse registered;
  grpc::ClientContext reg_context;
  if (!f.hub->RegisterWorker(&reg_context, reg, &registered).ok()) std::exit(1);
  f.worker_id = registered.worker_id();
  for (int i = 0; i < trials; ++i) {
    segtune::v1::AcquireTrialRequest acquire;
    acquire.set_worker_id(f.worker_id);
    segtune::v1::AcquireTrialResponse acquired;
    grpc::ClientContext context;
    if (!f.hub->AcquireTrial(&context, acquire, &acquired).ok() || !acquired.has_trial()) std::exit(1);
    f.trials.push_back(acquired.assignment());
  }
  return f;
}

// Reports the next epoch of every trial, `rounds` times; returns seconds per report.
double ReportRounds(Fixture& f, int rounds) {
  const auto start = Clock::now();
  int reports = 0;
  for (int round = 0; round < rounds; ++round, ++f.next_epoch) {
    for (const auto& trial : f.trials) {
      segtune::v1::ReportEpochRequest report;
      report.set_worker_id(f.worker_id);
      report.set_trial_id(trial.trial_id());
      report.set_attempt(trial.attempt());
      report.set_epoch(f.next_epoch);
      for (const auto& [name, value] : kReport) (*report.mutable_metrics())[name] = value;
      segtune::v1::ReportEpochResponse reply;
      grpc::ClientContext context;
      context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
      if (!f.hub->ReportEpoch(&context, report, &reply).ok()) {
        std::fprintf(stderr, "report failed\n");
        std::exit(1);
      }
      ++reports;
    }
  }
  return Seconds(Clock::now() - start) / reports;
}

segtune::metrics::CoordinatorSnapshot RunningTrials(int n) {
  segtune::metrics::CoordinatorSnapshot snapshot;
  snapshot.scheduler.sweeps.push_back({"s1", "val_miou", n, 0, true, 0.8});
  for (int i = 0; i < n; ++i) {
    segtune::scheduler::RunningTrialStats trial;
    trial.sweep_id = "s1";
    trial.trial_id = "s1-" + std::to_string(10000 + i);
    trial.optimizer = "SGD";
    trial.scheduler = "StepLR";
    trial.epoch = 3;
    trial.epochs = 8;
    trial.metrics = {{"train_loss", 0.5}, {"val_loss", 0.6}, {"val_miou", 0.7}, {"lr", 0.01}};
    snapshot.scheduler.trials.push_back(trial);
  }
  return snapshot;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"Cost of segtune's Prometheus metrics per epoch report (see bench/README.md)"};
  int trials = 16;
  int rounds = 6;
  app.add_option("--trials", trials, "running trials reporting in turn")->check(CLI::Range(1, 256))->capture_default_str();
  app.add_option("--rounds", rounds, "alternating rounds with and without a scraper")
      ->check(CLI::Range(2, 100))->capture_default_str();
  CLI11_PARSE(app, argc, argv);

  // 1. The metric work of one report, piece by piece.
  segtune::metrics::CoordinatorMetrics metrics({"/segtune.v1.WorkerHub/ReportEpoch"});
  const double rpc_ns = NanosPerCall(1'000'000, [&](int i) {
    metrics.RpcHistogram("/segtune.v1.WorkerHub/ReportEpoch")->Observe(1e-4 * (i % 7));
  });
  const double commit_ns = NanosPerCall(1'000'000, [&](int i) { metrics.ObserveCommit(1e-4 * (i % 7)); });
  segtune::scheduler::RunningTrialStats lease_stats;
  const double lease_ns = NanosPerCall(1'000'000, [&](int i) {
    lease_stats.epoch = i;
    for (const char* name : segtune::scheduler::kMonitoredTrialMetrics) {
      if (auto value = kReport.find(name); value != kReport.end()) lease_stats.metrics[name] = value->second;
    }
  });
  const double per_report_ns = rpc_ns + commit_ns + lease_ns;

  // 2. Reports end to end: metrics off, on, on while scraped. Each setup has
  // its own coordinator, so every database grows alike, and the order of
  // the three turns each round.
  const int epochs = 10000;
  const char* kSetups[] = {"metrics off", "metrics on", "metrics on, scraped every 100 ms"};
  Fixture fixtures[] = {Start(trials, epochs, false), Start(trials, epochs, true), Start(trials, epochs, true)};
  const int rounds_per_measure = std::min(40, (epochs - 1) / (rounds + 1));
  for (Fixture& f : fixtures) ReportRounds(f, 1);  // warm-up
  std::vector<double> seconds[3];
  std::atomic<int> scrapes{0};
  for (int r = 0; r < rounds; ++r) {
    for (int k = 0; k < 3; ++k) {
      const int setup = (r + k) % 3;
      std::atomic<bool> stop{false};
      std::thread scraper;
      if (setup == 2) {
        scraper = std::thread([&] {
          while (!stop) {
            segtune::testing::HttpGet(fixtures[2].coordinator->metrics_port(), "/metrics");
            ++scrapes;
            std::this_thread::sleep_for(std::chrono::milliseconds(100));
          }
        });
      }
      seconds[setup].push_back(ReportRounds(fixtures[setup], rounds_per_measure));
      stop = true;
      if (scraper.joinable()) scraper.join();
    }
  }
  auto median = [](std::vector<double> v) {
    std::sort(v.begin(), v.end());
    return v[v.size() / 2];
  };
  const double off_median = median(seconds[0]);

  // 3. A scrape: the snapshot applied and the page serialized.
  std::printf("segtune metrics cost (%d running trials, %d reports per measurement, %d rounds)\n\n", trials,
              rounds_per_measure * trials, rounds);
  std::printf("| metric work per epoch report | ns |\n|---|---|\n");
  std::printf("| RPC duration histogram observation | %.0f |\n", rpc_ns);
  std::printf("| SQLite commit histogram observation | %.0f |\n", commit_ns);
  std::printf("| followed metrics copied into the lease | %.0f |\n", lease_ns);
  std::printf("| **total** | **%.0f** |\n\n", per_report_ns);
  std::printf("| epoch report end to end (gRPC loopback + SQLite commit) | µs per report | vs metrics off |\n"
              "|---|---|---|\n");
  for (int setup = 0; setup < 3; ++setup) {
    const double m = median(seconds[setup]);
    std::printf("| %s | %.1f | %.3f |\n", kSetups[setup], m * 1e6, m / off_median);
  }
  std::printf("\n");
  std::printf("metric work / report (metrics off): %.3f%%; scrapes served: %d\n\n",
              100.0 * per_report_ns * 1e-9 / off_median, scrapes.load());
  std::printf("| running trials | one scrape (apply + serialize), µs | per trial, µs |\n|---|---|---|\n");
  for (int n : {8, 64, 512}) {
    segtune::metrics::CoordinatorMetrics scraped_metrics({"/segtune.v1.WorkerHub/ReportEpoch"});
    const segtune::metrics::CoordinatorSnapshot snapshot = RunningTrials(n);
    scraped_metrics.Apply(snapshot);  // series created once, as for a trial that keeps running
    const double ns = NanosPerCall(20, [&](int) {
      scraped_metrics.Apply(snapshot);
      volatile std::size_t size = scraped_metrics.Exposition().size();
      (void)size;
    });
    std::printf("| %d | %.0f | %.2f |\n", n, ns / 1e3, ns / 1e3 / n);
  }
  for (Fixture& f : fixtures) {
    f.coordinator->Shutdown();
    f.coordinator.reset();
    fs::remove_all(f.dir);
  }
  return 0;
}
