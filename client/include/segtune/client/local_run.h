// `segtune run SPEC.yaml`: local mode. Starts a coordinator inside the CLI
// process (SQLite under --dir), submits the spec, starts --workers
// segtune-worker processes, follows the sweep like `segtune watch`, and
// prints the leaderboard and the best configuration (or what
// options.print_results prints: `segtune lr-find` runs this way too).
//
// This is the only part of the client that links the coordinator
// (segtune::api), so it is its own target, segtune_client_local.
//
// Thread-safety: call from the main thread, once at a time: it blocks
// SIGINT/SIGTERM in the calling thread (and so in every thread it starts) to
// handle them on a thread of its own, and forks the workers.
#pragma once

#include "absl/status/status.h"
#include "segtune/client/commands.h"

namespace segtune::client {

// Returns OK when the sweep completed; InvalidArgument for an unreadable or
// invalid spec (nothing started); Cancelled after SIGINT/SIGTERM (the sweep
// is cancelled, workers stopped, the coordinator shut down); another error
// when the sweep could not run (e.g. every worker died). Every child process
// is reaped before it returns.
absl::Status RunLocal(const LocalRunOptions& options, const Output& output);

}  // namespace segtune::client
