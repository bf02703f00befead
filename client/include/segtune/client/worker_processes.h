// The segtune-worker child processes of `segtune run` (local mode).
//
// Children run in their own process group, so a Ctrl-C on the terminal
// reaches only the CLI, which then stops them in order (cancel the sweep,
// SIGTERM the workers, wait). They also get SIGTERM if the CLI dies first
// (PR_SET_PDEATHSIG), so no worker outlives a crashed CLI.
//
// Thread-safety: WorkerProcesses is thread-safe (one mutex); ReapExited may
// run on a monitoring thread while the main thread waits for the sweep.
// PR_SET_PDEATHSIG is tied to the thread that forks: call Start from a thread
// that outlives the workers (the main thread).
#pragma once

#include <sys/types.h>

#include <chrono>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace segtune::client {

// segtune-worker next to the running executable (`self_exe`, from
// /proc/self/exe), else the first one on `path_env` ($PATH). NotFound names
// the places looked at.
absl::StatusOr<std::string> FindWorkerBinary(const std::string& self_exe, const std::string& path_env);

// "exited with status 1", "was killed by signal 9 (Killed)".
std::string DescribeWaitStatus(int wait_status);

struct ExitedProcess {
  std::string name;
  pid_t pid = 0;
  std::string log_path;
  int wait_status = 0;
};

class WorkerProcesses {
 public:
  WorkerProcesses() = default;
  // Stops and reaps every child still running: no zombie or orphan is left.
  ~WorkerProcesses();
  WorkerProcesses(const WorkerProcesses&) = delete;
  WorkerProcesses& operator=(const WorkerProcesses&) = delete;

  // Starts `binary` with `args` (argv[1..]); its stdout and stderr go to
  // `log_path` (truncated), its stdin is /dev/null. An exec failure shows as
  // an exit with status 127 and a line in the log.
  absl::Status Start(const std::string& binary, const std::vector<std::string>& args,
                     const std::string& name, const std::string& log_path);

  // The children that exited since the last call, reaped.
  std::vector<ExitedProcess> ReapExited();

  // How many children have been started and not yet reaped.
  int running() const;

  // SIGTERM to every running child, then waits up to `grace` for them to
  // exit; any still running gets SIGKILL. Every child is reaped.
  void StopAll(std::chrono::milliseconds grace);

 private:
  struct Child {
    std::string name;
    pid_t pid = 0;
    std::string log_path;
  };

  mutable std::mutex mutex_;
  std::vector<Child> children_;  // GUARDED_BY(mutex_): started, not yet reaped
};

}  // namespace segtune::client
