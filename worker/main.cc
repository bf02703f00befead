// segtune-worker: trains the trials a segtune coordinator leases to it, or,
// with `optim-trace`, prints an optimizer's trajectory for one case (design.md
// section 6). Flag parsing and process concerns (signals, exit codes) only;
// the work is in segtune::agent and segtune::optim.
#include <pthread.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <iostream>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "segtune/agent/agent.h"
#include "segtune/agent/device.h"
#include "segtune/common/channel.h"
#include "segtune/common/worker_limits.h"
#include "segtune/optim/trace.h"
#include "segtune/simulate/simulated_trial.h"
#include "segtune/worker_metrics/worker_metrics.h"

namespace {

constexpr int kExitFailed = 1;
constexpr int kExitUsage = 2;
// --drain-seconds above this are cut to it (about 30 years: forever, for a
// drain), so that the conversion to milliseconds cannot overflow.
constexpr double kLongestDrainSeconds = 1e9;

// Logs why the worker stops and returns its exit code.
int ExitWith(int code, const absl::Status& status) {
  spdlog::error("{}", std::string(status.message()));
  return code;
}

// `optim-trace`: one case on stdin, its trajectory on stdout. Any error
// (malformed JSON, unknown name, bad argument, wrong shapes) is a usage
// error: the case is at fault.
int OptimTrace() {
  nlohmann::json trace_case;
  try {
    trace_case = nlohmann::json::parse(std::cin);
  } catch (const nlohmann::json::exception& error) {
    std::cerr << "optim-trace: stdin is not one JSON case: " << error.what() << "\n";
    return kExitUsage;
  }
  const absl::StatusOr<nlohmann::json> result = segtune::optim::RunTrace(trace_case);
  if (!result.ok()) {
    std::cerr << "optim-trace: " << result.status().message() << "\n";
    return kExitUsage;
  }
  std::cout << result->dump() << "\n";
  return 0;
}

std::string Hostname() {
  char name[256] = {};
  if (gethostname(name, sizeof(name) - 1) != 0) return "unknown-host";
  return name;
}

}  // namespace

int main(int argc, char** argv) {
  // Blocked before LibTorch, gRPC or spdlog start any thread, so every thread
  // inherits the mask and only the signal thread below receives SIGINT and
  // SIGTERM. A shell starting us in the background sets SIGINT to "ignored",
  // which would discard it before sigwait sees it: a worker stops on either.
  signal(SIGINT, SIG_DFL);
  signal(SIGTERM, SIG_DFL);
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);

  spdlog::set_default_logger(spdlog::stderr_color_mt("segtune-worker"));

  const int cores = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  std::string coordinator = "127.0.0.1:50051";
  std::string device_flag = "auto";
  int slots = 0;             // 0 until given: one per device
  int slots_per_device = 0;  // 0 until given
  int threads = 0;           // 0 until given: cores / slots
  std::string name;
  std::string metrics_listen;  // empty: no /metrics
  bool simulate = false;
  double simulate_epoch_seconds = segtune::simulate::SimulateOptions().epoch_seconds;
  double drain_seconds = 30;

  CLI::App app("segtune-worker: trains the trials a segtune coordinator leases to it");
  app.add_option("--coordinator", coordinator, "coordinator address, HOST:PORT")->capture_default_str();
  CLI::Option* device_option =
      app.add_option("--device", device_flag,
                     "auto, cpu, cuda, cuda:N, a list of CUDA devices (cuda:0,cuda:1) or all (every CUDA "
                     "device); auto: cuda:0 when available, else cpu")
          ->capture_default_str();
  CLI::Option* slots_option = app.add_option(
      "--slots", slots,
      "trials trained at once, dealt evenly over the devices (default: one per device); on the CPU they "
      "split the cores between them");
  app.add_option("--slots-per-device", slots_per_device,
                 "trials trained at once on each device, each on its own CUDA stream (default: 1)")
      ->excludes(slots_option);
  CLI::Option* threads_option =
      app.add_option("--threads", threads, "LibTorch threads per trial (default: cores / slots, at least 1)");
  // Simulated trials train nothing, so the device and thread flags would
  // only mislead: they are rejected rather than ignored.
  CLI::Option* simulate_option =
      app.add_flag("--simulate", simulate,
                   "report synthetic learning curves instead of training (docs/simulate.md); "
                   "no LibTorch device is used")
          ->excludes(device_option)
          ->excludes(threads_option);
  app.add_option("--simulate-epoch-seconds", simulate_epoch_seconds,
                 "with --simulate: wall-clock seconds per simulated epoch (>= 0; 0: as fast as possible)")
      ->capture_default_str()
      ->needs(simulate_option);
  app.add_option("--drain-seconds", drain_seconds,
                 "on SIGTERM/SIGINT, let running trials finish their epoch for up to this long before "
                 "releasing them (>= 0; 0: release them at once); a second signal stops at once")
      ->capture_default_str();
  app.add_option("--name", name, "worker name shown by `segtune workers` (default: HOSTNAME-PID)");
  app.add_option("--metrics-listen", metrics_listen,
                 "serve Prometheus /metrics on HOST:PORT (port 0: any free one; default: off)");
  segtune::common::ClientSecurityFlags security_flags;
  segtune::common::AddClientSecurityFlags(app, security_flags, "the worker token", "--coordinator");
  CLI::App* optim_trace = app.add_subcommand(
      "optim-trace",
      "read one optimizer trace case (JSON) on stdin, print its trajectory (JSON) on stdout; "
      "no coordinator needed");
  app.require_subcommand(0, 1);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    // --help is a ParseError too; CLI11 prints it and its exit code is 0.
    return app.exit(e) == 0 ? 0 : kExitUsage;
  }
  if (*optim_trace) {
    // No signal thread runs in a trace: Ctrl-C must end it as usual.
    pthread_sigmask(SIG_UNBLOCK, &stop_signals, nullptr);
    return OptimTrace();
  }

  const absl::StatusOr<segtune::common::ClientSecurity> security =
      segtune::common::LoadClientSecurity(security_flags, segtune::common::ProcessEnvironment());
  if (!security.ok()) return ExitWith(kExitUsage, security.status());
  // In simulate mode nothing asks LibTorch about devices (CUDA included).
  const absl::StatusOr<std::vector<std::string>> devices =
      simulate ? absl::StatusOr<std::vector<std::string>>(std::vector<std::string>{"simulated"})
               : segtune::agent::ResolveDevices(device_flag, segtune::agent::CudaDeviceCount());
  if (!devices.ok()) return ExitWith(kExitUsage, devices.status());
  const int device_count = static_cast<int>(devices->size());
  if (app.count("--slots") > 0) {
    // Every device gets the same number of slots: an uneven split would
    // leave one GPU with less work than it can take.
    if (slots < 1 || slots % device_count != 0) {
      spdlog::error("--slots {}: must be a positive multiple of the {} device(s) of --device {} (or use "
                    "--slots-per-device)",
                    slots, device_count, device_flag);
      return kExitUsage;
    }
    slots_per_device = slots / device_count;
  } else if (app.count("--slots-per-device") > 0) {
    if (slots_per_device < 1) {
      spdlog::error("--slots-per-device {}: must be at least 1", slots_per_device);
      return kExitUsage;
    }
  } else {
    slots_per_device = 1;
  }
  // Divided rather than multiplied: a huge --slots-per-device must not overflow.
  if (slots_per_device > segtune::common::kMaxWorkerSlots / device_count) {
    spdlog::error("{} slot(s) per device x {} device(s): at most {} slots per worker", slots_per_device,
                  device_count, segtune::common::kMaxWorkerSlots);
    return kExitUsage;
  }
  slots = slots_per_device * device_count;
  // Slots share the machine's cores: together they never ask for more
  // LibTorch threads than there are cores (LibTorch's thread count is
  // process-wide, so every slot trains with this many).
  if (app.count("--threads") == 0) threads = std::max(1, cores / slots);
  if (threads < 1) {
    spdlog::error("--threads {}: must be at least 1", threads);
    return kExitUsage;
  }
  if (!simulate && slots * threads > cores) {
    // More threads computing than cores: they take turns, and every trial
    // on the worker slows down (tests/integration/cpu_slots_end_to_end_test.cc
    // counts them).
    spdlog::warn("{} slot(s) x {} LibTorch thread(s) exceed the {} core(s): the trials will slow each other down",
                 slots, threads, cores);
  }
  if (!(std::isfinite(simulate_epoch_seconds) && simulate_epoch_seconds >= 0)) {
    spdlog::error("--simulate-epoch-seconds {}: must be >= 0 and finite", simulate_epoch_seconds);
    return kExitUsage;
  }
  if (!(std::isfinite(drain_seconds) && drain_seconds >= 0)) {
    spdlog::error("--drain-seconds {}: must be >= 0 and finite", drain_seconds);
    return kExitUsage;
  }
  const std::string device = absl::StrJoin(*devices, ",");
  // Declared before the agent, which records into it until it is destroyed.
  std::unique_ptr<segtune::worker_metrics::WorkerMetrics> metrics;
  if (!metrics_listen.empty()) {
    absl::StatusOr<std::unique_ptr<segtune::worker_metrics::WorkerMetrics>> started =
        segtune::worker_metrics::WorkerMetrics::Start(metrics_listen, device);
    if (!started.ok()) {
      const bool malformed = started.status().code() == absl::StatusCode::kInvalidArgument;
      return ExitWith(malformed ? kExitUsage : kExitFailed, started.status());
    }
    metrics = std::move(*started);
  }
  if (!simulate) {
    segtune::agent::ConfigureAllocator();
    if (const absl::Status status = segtune::agent::ConfigureTorchThreads(threads); !status.ok()) {
      return ExitWith(kExitFailed, status);
    }
  }

  segtune::agent::AgentOptions options;
  options.coordinator = coordinator;
  options.security = *security;
  options.device = device;
  options.slots = slots;
  options.slot_devices = segtune::agent::SlotDevices(*devices, slots_per_device);
  options.hostname = Hostname();
  options.name = name.empty() ? absl::StrCat(options.hostname, "-", getpid()) : name;
  options.metrics = metrics.get();
  if (simulate) {
    segtune::simulate::SimulateOptions simulate_options;
    simulate_options.epoch_seconds = simulate_epoch_seconds;
    options.run_trial = segtune::simulate::SimulatedTrialFunction(simulate_options);
    spdlog::info("simulating trials at {} s per epoch: nothing is trained", simulate_epoch_seconds);
  }

  spdlog::info("segtune-worker {}: coordinator {}, device {}, {} slot(s) ({} per device), {} LibTorch thread(s) "
               "each, metrics {}",
               options.name, options.coordinator, options.device, slots, slots_per_device, threads,
               metrics == nullptr ? "off"
                                  : absl::StrCat("http://", metrics_listen.substr(0, metrics_listen.rfind(':')), ":",
                                                 metrics->port(), "/metrics"));
  segtune::agent::Agent agent(options);
  if (const absl::Status status = agent.Start(); !status.ok()) return ExitWith(kExitUsage, status);

  const std::chrono::milliseconds drain_within(
      static_cast<std::int64_t>(std::min(drain_seconds, kLongestDrainSeconds) * 1000));
  // The first signal starts a drain (on its own thread, so that this one can
  // wait for a second signal), the second one stops at once.
  std::atomic<bool> stopped{false};  // the agent stopped: a signal now is main's wake-up call
  std::thread drain_thread;
  std::thread signal_thread([&] {
    int signal_number = 0;
    sigwait(&stop_signals, &signal_number);
    if (stopped) return;
    const char* const received = signal_number == SIGINT ? "SIGINT" : "SIGTERM";
    if (drain_within.count() == 0) {
      spdlog::info("{} received: shutting down, running trials go back to the queue", received);
      agent.Shutdown();
      return;
    }
    spdlog::info("{} received: draining: running trials finish their epoch (up to {} s), then go back to the "
                 "queue; send the signal again to stop at once",
                 received, drain_seconds);
    drain_thread = std::thread([&] { agent.Drain(drain_within); });
    sigwait(&stop_signals, &signal_number);
    if (stopped) return;
    spdlog::info("{} received while draining: stopping at once, running trials go back to the queue from their "
                 "last checkpoint",
                 signal_number == SIGINT ? "SIGINT" : "SIGTERM");
    agent.Shutdown();
  });

  const absl::Status status = agent.Wait();
  stopped = true;
  int code = 0;
  if (!status.ok()) {
    code = ExitWith(kExitFailed, status);
    agent.Shutdown();
  }
  // Wakes the signal thread if it still waits for a signal; it is blocked on
  // every thread, so this one stays pending (and harmless) if it does not.
  pthread_kill(signal_thread.native_handle(), SIGTERM);
  signal_thread.join();
  if (drain_thread.joinable()) drain_thread.join();
  return code;
}
