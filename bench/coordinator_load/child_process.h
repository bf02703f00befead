// The coordinator under load as a child process: spawned with its output in
// a log file, its /proc figures readable by pid, stopped by a signal.
// (tests/integration/process.h hides the pid, which the CPU and RSS figures need.)
//
// Thread-safety: one ChildProcess is used from one thread.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace segtune::bench {

// A free TCP port on 127.0.0.1, bound and released (another process could
// take it in between; good enough on a bench machine).
absl::StatusOr<int> FreeLoopbackPort();

class ChildProcess {
 public:
  // Starts argv[0] with stdout and stderr appended to `log_path`.
  static absl::StatusOr<ChildProcess> Spawn(const std::vector<std::string>& argv, const std::string& log_path);
  ChildProcess(ChildProcess&& other) noexcept;
  ChildProcess& operator=(ChildProcess&&) = delete;
  ChildProcess(const ChildProcess&) = delete;
  ~ChildProcess();  // SIGKILLs a child still running

  pid_t pid() const { return pid_; }
  bool Running();
  // Sends `signal`, waits up to `timeout`, then SIGKILLs; the exit code, or
  // 128 + the signal that ended it.
  int Stop(int signal, std::chrono::seconds timeout);
  // The end of the child's log, for error messages.
  std::string LogTail() const;

 private:
  ChildProcess(pid_t pid, std::string log_path) : pid_(pid), log_path_(std::move(log_path)) {}
  bool Reap(int options);

  pid_t pid_ = -1;
  bool exited_ = false;
  int exit_code_ = -1;
  std::string log_path_;
};

}  // namespace segtune::bench
