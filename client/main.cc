// segtune: the command-line client (docs/cli.md). Everything but the
// process's streams and environment lives in segtune_client.
#include <sys/ioctl.h>
#include <unistd.h>

#include <cstdlib>
#include <iostream>

#include "segtune/client/address.h"
#include "segtune/client/cli.h"
#include "segtune/client/local_run.h"

namespace {

int TerminalColumns() {
  for (int fd : {STDOUT_FILENO, STDERR_FILENO}) {
    winsize size{};
    if (::isatty(fd) && ::ioctl(fd, TIOCGWINSZ, &size) == 0 && size.ws_col > 0) return size.ws_col;
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  segtune::client::CliEnvironment environment;
  environment.out = &std::cout;
  environment.err = &std::cerr;
  environment.out_is_terminal = ::isatty(STDOUT_FILENO) != 0;
  environment.err_is_terminal = ::isatty(STDERR_FILENO) != 0;
  environment.terminal_columns = TerminalColumns();
  if (const char* server = std::getenv(segtune::client::kServerEnvVar)) environment.server_env = server;
  environment.run_local = segtune::client::RunLocal;
  return segtune::client::RunCli(argc, argv, environment);
}
