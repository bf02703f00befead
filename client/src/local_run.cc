#include "segtune/client/local_run.h"

#include <pthread.h>
#include <signal.h>

#include <atomic>
#include <climits>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <string>
#include <thread>
#include <unistd.h>
#include <vector>

#include "absl/strings/str_cat.h"
#include "segtune/api/coordinator.h"
#include "segtune/client/live_view.h"
#include "segtune/client/tuner_client.h"
#include "segtune/client/worker_processes.h"
#include "segtune/common/listen_address.h"

namespace segtune::client {
namespace {

// Local runs use a shorter lease than a cluster: a worker that dies is
// noticed (and its trial requeued) within seconds.
constexpr int kLeaseMs = 15000;
constexpr int kHeartbeatIntervalMs = 3000;
// Idle workers poll briefly so that they notice SIGTERM at the end quickly.
constexpr int kMaxAcquireWaitMs = 5000;
constexpr std::chrono::seconds kWorkerStopGrace(15);
// A local worker stopped mid-epoch may finish that epoch, but well within
// kWorkerStopGrace, after which it is killed.
constexpr int kWorkerDrainSeconds = 10;
constexpr timespec kMonitorTick = {0, 200 * 1000 * 1000};

// Blocks SIGINT and SIGTERM in this thread and in the threads it starts
// from now on (gRPC's included), so that only the monitor thread receives
// them, with sigtimedwait. Restores the mask when it goes out of scope.
class BlockedTerminationSignals {
 public:
  BlockedTerminationSignals() {
    sigemptyset(&signals_);
    sigaddset(&signals_, SIGINT);
    sigaddset(&signals_, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &signals_, &previous_);
  }
  ~BlockedTerminationSignals() { pthread_sigmask(SIG_SETMASK, &previous_, nullptr); }
  BlockedTerminationSignals(const BlockedTerminationSignals&) = delete;
  BlockedTerminationSignals& operator=(const BlockedTerminationSignals&) = delete;

  const sigset_t& signals() const { return signals_; }

 private:
  sigset_t signals_;
  sigset_t previous_;
};

// Shuts the embedded coordinator down on every path out of RunLocal.
struct CoordinatorGuard {
  std::unique_ptr<api::Coordinator> coordinator;
  ~CoordinatorGuard() {
    if (coordinator == nullptr) return;
    coordinator->Shutdown();
    coordinator->Wait();
  }
};

std::string SelfExecutable() {
  char path[PATH_MAX];
  ssize_t length = ::readlink("/proc/self/exe", path, sizeof path - 1);
  if (length <= 0) return "";
  return std::string(path, static_cast<std::size_t>(length));
}

// What the monitor thread saw, for the main thread once the watch ends.
struct MonitorOutcome {
  std::atomic<int> signal_number{0};
  std::atomic<bool> no_worker_left{false};
};

}  // namespace

absl::Status RunLocal(const LocalRunOptions& options, const Output& output) {
  absl::StatusOr<std::string> spec =
      options.spec_yaml ? absl::StatusOr<std::string>(*options.spec_yaml) : ReadSpecFile(options.spec_path);
  if (!spec.ok()) return spec.status();
  if (options.workers < 1) return absl::InvalidArgumentError("--workers: must be at least 1");
  if (!options.metrics_listen.empty()) {
    if (absl::Status valid = common::ValidateListenAddress("--metrics-listen", options.metrics_listen); !valid.ok()) {
      return valid;
    }
  }
  const char* path_env = std::getenv("PATH");
  absl::StatusOr<std::string> worker_binary = FindWorkerBinary(SelfExecutable(), path_env ? path_env : "");
  if (!worker_binary.ok()) return worker_binary.status();

  const std::filesystem::path dir(options.dir);
  std::error_code error;
  std::filesystem::create_directories(dir, error);
  if (error) {
    return absl::FailedPreconditionError(
        absl::StrCat("cannot create directory ", options.dir, ": ", error.message()));
  }

  // Declaration order is teardown order in reverse: workers stop before the
  // coordinator shuts down, and signals are unblocked last.
  BlockedTerminationSignals blocked;
  CoordinatorGuard guard;
  api::CoordinatorOptions coordinator_options;
  coordinator_options.listen = "127.0.0.1:0";
  coordinator_options.db_path = (dir / "segtune.db").string();
  coordinator_options.data_dir = dir.string();  // checkpoints under DIR/checkpoints
  coordinator_options.lease_ms = kLeaseMs;
  coordinator_options.heartbeat_interval_ms = kHeartbeatIntervalMs;
  coordinator_options.max_acquire_wait_ms = kMaxAcquireWaitMs;
  coordinator_options.metrics_listen = options.metrics_listen;
  absl::StatusOr<std::unique_ptr<api::Coordinator>> coordinator = api::Coordinator::Start(coordinator_options);
  if (!coordinator.ok()) {
    return absl::InternalError(absl::StrCat("cannot start the local coordinator (database ",
                                            coordinator_options.db_path,
                                            "): ", coordinator.status().message()));
  }
  guard.coordinator = *std::move(coordinator);
  const std::string address = guard.coordinator->address();
  if (guard.coordinator->metrics_port() > 0) {
    const std::string& listen = options.metrics_listen;
    output.progress_stream() << "Prometheus metrics on http://" << listen.substr(0, listen.rfind(':')) << ":"
                             << guard.coordinator->metrics_port() << "/metrics\n";
  }

  TunerClient client(address, options.timeout);
  absl::Status leftovers = CancelLeftoverSweeps(client, options.dir, output);
  if (!leftovers.ok()) return leftovers;
  // An invalid spec stops here, before any worker starts.
  absl::StatusOr<v1::SubmitSweepResponse> submitted = SubmitSpec(client, options.spec_path, *spec);
  if (!submitted.ok()) return submitted.status();
  const std::string& sweep_id = submitted->sweep_id();

  std::ostream& progress_out = output.progress_stream();
  progress_out << "local coordinator on " << address << ", database " << coordinator_options.db_path << "\n";

  WorkerProcesses workers;
  const unsigned cores = std::max(1u, std::thread::hardware_concurrency());
  const int threads = std::max(1, static_cast<int>(cores) / options.workers);
  for (int i = 1; i <= options.workers; ++i) {
    const std::string name = absl::StrCat("local-", i);
    const std::string log_path = (dir / absl::StrCat("worker-", i, ".log")).string();
    absl::Status started = workers.Start(*worker_binary,
                                         {"--coordinator", address, "--threads", absl::StrCat(threads), "--name",
                                          name, "--drain-seconds", absl::StrCat(kWorkerDrainSeconds)},
                                         name, log_path);
    if (!started.ok()) {
      (void)client.CancelSweep(sweep_id);  // the sweep cannot run; the error below says why
      return started;
    }
  }
  progress_out << "started " << options.workers << (options.workers == 1 ? " worker (" : " workers (") << threads
               << (threads == 1 ? " thread" : " threads") << " each); output of worker N goes to "
               << (dir / "worker-N.log").string() << "\n";

  LivePrinter progress(progress_out, output.progress_is_terminal(), ProgressTerminalSize(output),
                       LivePrinter::SystemNowMs, kLiveRefreshMs);
  MonitorOutcome outcome;
  std::atomic<bool> stop_monitor{false};
  std::thread monitor([&] {
    while (!stop_monitor.load()) {
      int signal_number = sigtimedwait(&blocked.signals(), nullptr, &kMonitorTick);
      if (signal_number > 0) {
        outcome.signal_number = signal_number;
        client.CancelWatch();
        return;
      }
      for (const ExitedProcess& exited : workers.ReapExited()) {
        progress.Note(absl::StrCat("worker ", exited.name, " (pid ", exited.pid, ") ",
                                   DescribeWaitStatus(exited.wait_status), " unexpectedly; see ",
                                   exited.log_path));
      }
      if (workers.running() == 0) {
        outcome.no_worker_left = true;
        client.CancelWatch();
        return;
      }
    }
  });
  absl::StatusOr<v1::SweepUpdate> last =
      client.WatchSweep(sweep_id, [&progress](const v1::SweepUpdate& update) { progress.Update(update); });
  progress.Finish();
  stop_monitor = true;
  monitor.join();

  if (outcome.signal_number != 0) {
    progress.Note(absl::StrCat("interrupted (", strsignal(outcome.signal_number), "): cancelling sweep ",
                               sweep_id, ", stopping workers"));
    absl::Status cancelled = client.CancelSweep(sweep_id).status();
    if (!cancelled.ok()) progress.Note(absl::StrCat("cannot cancel sweep ", sweep_id, ": ", cancelled.message()));
    return absl::CancelledError(absl::StrCat("interrupted; sweep ", sweep_id, " cancelled"));
  }
  if (outcome.no_worker_left) {
    (void)client.CancelSweep(sweep_id);  // nothing can run it any more; the error says so
    return absl::AbortedError(absl::StrCat("every worker exited; sweep ", sweep_id,
                                           " cancelled (see the logs in ", options.dir, ")"));
  }
  if (!last.ok()) {
    (void)client.CancelSweep(sweep_id);  // best effort: the reason is `last`'s error
    return last.status();
  }
  absl::Status printed = options.print_results ? options.print_results(client, sweep_id, output)
                                               : PrintRunResults(client, sweep_id, output);
  if (!printed.ok()) return printed;
  if (last->sweep().state() == v1::SWEEP_CANCELLED) {
    return absl::FailedPreconditionError(absl::StrCat("sweep ", sweep_id, " was cancelled"));
  }
  workers.StopAll(kWorkerStopGrace);
  return absl::OkStatus();
}

}  // namespace segtune::client
