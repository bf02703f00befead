#include "segtune/client/worker_processes.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <thread>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"

namespace segtune::client {
namespace {

constexpr char kWorkerBinary[] = "segtune-worker";

bool IsExecutableFile(const std::string& path) {
  struct stat info;
  return ::stat(path.c_str(), &info) == 0 && S_ISREG(info.st_mode) && ::access(path.c_str(), X_OK) == 0;
}

// Writes "segtune: cannot execute PATH (errno N)" on fd 2 with
// async-signal-safe calls only: we are between fork and exec in a process
// that has other threads, so no allocation, no locale (strerror).
void WriteExecError(const char* path) {
  char errno_text[16];
  int length = 0;
  for (int value = errno > 0 ? errno : 0; length == 0 || value > 0; value /= 10) {
    errno_text[length++] = static_cast<char>('0' + value % 10);
  }
  for (int i = 0; i < length / 2; ++i) std::swap(errno_text[i], errno_text[length - 1 - i]);
  errno_text[length] = '\0';
  const char* parts[] = {"segtune: cannot execute ", path, " (errno ", errno_text, ")\n"};
  for (const char* part : parts) {
    ssize_t ignored = ::write(STDERR_FILENO, part, std::strlen(part));
    (void)ignored;
  }
}

}  // namespace

absl::StatusOr<std::string> FindWorkerBinary(const std::string& self_exe, const std::string& path_env) {
  std::vector<std::string> tried;
  if (!self_exe.empty()) {
    std::string beside = (std::filesystem::path(self_exe).parent_path() / kWorkerBinary).string();
    if (IsExecutableFile(beside)) return beside;
    tried.push_back(beside);
  }
  for (absl::string_view dir : absl::StrSplit(path_env, ':', absl::SkipEmpty())) {
    std::string candidate = (std::filesystem::path(std::string(dir)) / kWorkerBinary).string();
    if (IsExecutableFile(candidate)) return candidate;
  }
  tried.push_back("$PATH");
  return absl::NotFoundError(
      absl::StrCat("cannot find ", kWorkerBinary, " (looked at ", absl::StrJoin(tried, ", "), ")"));
}

std::string DescribeWaitStatus(int wait_status) {
  if (WIFEXITED(wait_status)) return absl::StrCat("exited with status ", WEXITSTATUS(wait_status));
  if (WIFSIGNALED(wait_status)) {
    int signal_number = WTERMSIG(wait_status);
    return absl::StrCat("was killed by signal ", signal_number, " (", strsignal(signal_number), ")");
  }
  return absl::StrCat("ended with wait status ", wait_status);
}

WorkerProcesses::~WorkerProcesses() { StopAll(std::chrono::seconds(10)); }

absl::Status WorkerProcesses::Start(const std::string& binary, const std::vector<std::string>& args,
                                    const std::string& name, const std::string& log_path) {
  // Everything the child needs is prepared before fork: after it, only
  // async-signal-safe calls are allowed.
  std::vector<std::string> argv_storage = {binary};
  argv_storage.insert(argv_storage.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (std::string& arg : argv_storage) argv.push_back(arg.data());
  argv.push_back(nullptr);

  int log_fd = ::open(log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (log_fd < 0) {
    return absl::InternalError(absl::StrCat("cannot open worker log ", log_path, ": ", std::strerror(errno)));
  }
  int null_fd = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
  if (null_fd < 0) {
    ::close(log_fd);
    return absl::InternalError(absl::StrCat("cannot open /dev/null: ", std::strerror(errno)));
  }
  const pid_t parent = ::getpid();

  std::lock_guard<std::mutex> lock(mutex_);
  pid_t pid = ::fork();
  if (pid < 0) {
    int error = errno;
    ::close(log_fd);
    ::close(null_fd);
    return absl::InternalError(absl::StrCat("cannot start ", name, ": fork: ", std::strerror(error)));
  }
  if (pid == 0) {
    // The CLI blocks SIGINT/SIGTERM to handle them on one thread; the worker
    // must get them normally.
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, nullptr);
    ::setpgid(0, 0);
    ::prctl(PR_SET_PDEATHSIG, SIGTERM);
    if (::getppid() != parent) _exit(1);  // the CLI died before prctl took effect
    ::dup2(null_fd, STDIN_FILENO);
    ::dup2(log_fd, STDOUT_FILENO);
    ::dup2(log_fd, STDERR_FILENO);
    ::execv(argv[0], argv.data());
    WriteExecError(argv[0]);
    _exit(127);
  }
  // Also set in the parent, so the group exists before Start returns
  // whichever process runs first.
  ::setpgid(pid, pid);
  ::close(log_fd);
  ::close(null_fd);
  children_.push_back(Child{name, pid, log_path});
  return absl::OkStatus();
}

std::vector<ExitedProcess> WorkerProcesses::ReapExited() {
  std::lock_guard<std::mutex> lock(mutex_);
  std::vector<ExitedProcess> exited;
  for (auto child = children_.begin(); child != children_.end();) {
    int wait_status = 0;
    if (::waitpid(child->pid, &wait_status, WNOHANG) == child->pid) {
      exited.push_back(ExitedProcess{child->name, child->pid, child->log_path, wait_status});
      child = children_.erase(child);
    } else {
      ++child;
    }
  }
  return exited;
}

int WorkerProcesses::running() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return static_cast<int>(children_.size());
}

void WorkerProcesses::StopAll(std::chrono::milliseconds grace) {
  std::lock_guard<std::mutex> lock(mutex_);
  for (const Child& child : children_) ::kill(child.pid, SIGTERM);
  const auto deadline = std::chrono::steady_clock::now() + grace;
  while (!children_.empty()) {
    for (auto child = children_.begin(); child != children_.end();) {
      int wait_status = 0;
      if (::waitpid(child->pid, &wait_status, WNOHANG) == child->pid) {
        child = children_.erase(child);
      } else {
        ++child;
      }
    }
    if (children_.empty()) break;
    if (std::chrono::steady_clock::now() >= deadline) {
      for (const Child& child : children_) {
        // The whole group: whatever the worker started goes with it.
        ::kill(-child.pid, SIGKILL);
        int wait_status = 0;
        ::waitpid(child.pid, &wait_status, 0);
      }
      children_.clear();
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
}

}  // namespace segtune::client
