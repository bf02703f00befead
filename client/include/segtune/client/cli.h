// The `segtune` command line: flags, verbs and dispatch (docs/cli.md).
// client/main.cc only supplies the process's streams and environment.
//
// Thread-safety: RunCli runs one command on the calling thread; `run` must be
// called from the main thread (see local_run.h).
#pragma once

#include <functional>
#include <optional>
#include <ostream>
#include <string>

#include "absl/status/status.h"
#include "segtune/client/commands.h"

namespace segtune::client {

// Local mode (`segtune run`). Passed in so that this library does not link
// the coordinator: the executable passes RunLocal (local_run.h).
using LocalRunner = std::function<absl::Status(const LocalRunOptions&, const Output&)>;

struct CliEnvironment {
  std::ostream* out = nullptr;
  std::ostream* err = nullptr;
  bool out_is_terminal = false;
  bool err_is_terminal = false;
  int terminal_columns = 0;               // 0: unknown
  std::optional<std::string> server_env;  // $SEGTUNE_SERVER, when set
  LocalRunner run_local;
};

// Parses `argv`, runs the verb, prints any error on `err`, and returns the
// process exit code (segtune/client/errors.h).
int RunCli(int argc, const char* const* argv, const CliEnvironment& environment);

}  // namespace segtune::client
