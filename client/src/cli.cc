#include "segtune/client/cli.h"

#include <cmath>
#include <vector>

#include <CLI/CLI.hpp>

#include "segtune/client/address.h"
#include "segtune/client/errors.h"
#include "segtune/client/lr_find.h"
#include "segtune/client/tuner_client.h"
#include "segtune/common/channel.h"

namespace segtune::client {
namespace {

constexpr char kDescription[] =
    "segtune: hyperparameter tuning for semantic-segmentation training.\n"
    "Submit a sweep spec to a segtune-coordinator and follow its trials, or run a whole\n"
    "sweep on this machine with `segtune run SPEC.yaml`. `segtune lr-find SPEC.yaml` runs a\n"
    "learning-rate range test for each optimizer of a spec.";

constexpr char kFooter[] =
    "Global options (may also follow the verb): --server HOST:PORT (else $SEGTUNE_SERVER,\n"
    "else 127.0.0.1:50051), --timeout SECONDS (each request's deadline, default 10),\n"
    "--token-file PATH (else $SEGTUNE_TOKEN or $SEGTUNE_TOKEN_FILE), --tls-ca FILE,\n"
    "--tls-cert FILE, --tls-key FILE, --tls-server-name NAME (docs/security.md).\n"
    "Exit codes: 0 ok, 1 the operation failed, 2 usage error or invalid spec,\n"
    "            3 cannot reach the coordinator, 130 interrupted.\n"
    "Run `segtune VERB --help` for a verb's options; docs/cli.md has the output formats.";

OutputFormat ParseFormat(const std::string& name) {
  if (name == "json") return OutputFormat::kJson;
  if (name == "yaml") return OutputFormat::kYaml;
  return OutputFormat::kTable;
}

// -o/--output on a verb; `formats` are the accepted names, the first is the default.
void AddOutputOption(CLI::App* verb, std::string* format, const std::vector<std::string>& formats) {
  std::string names;
  for (const std::string& name : formats) names += (names.empty() ? "" : "|") + name;
  verb->add_option("-o,--output", *format, "output format: " + names + " (default: table)")
      ->check(CLI::IsMember(formats));
}

}  // namespace

int RunCli(int argc, const char* const* argv, const CliEnvironment& environment) {
  CLI::App app(kDescription, "segtune");
  app.require_subcommand(1);
  // Global flags may also follow the verb: `segtune trials S1 --server host:1`.
  app.fallthrough();
  app.footer(kFooter);

  std::string server;
  double timeout_seconds = 10;
  CLI::Option* server_option = app.add_option(
      "--server", server, "coordinator address HOST:PORT (default: $SEGTUNE_SERVER, else 127.0.0.1:50051)");
  app.add_option("--timeout", timeout_seconds, "deadline of each request to the coordinator, in seconds")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  common::ClientSecurityFlags security_flags;
  common::AddClientSecurityFlags(app, security_flags, "the bearer token to present", "--server");

  std::string format = "table";
  std::string spec_path;
  std::string sweep_id;
  std::string trial_id;
  int top_k = 1;
  LocalRunOptions run_options;

  CLI::App* run = app.add_subcommand(
      "run",
      "Run a sweep on this machine: start a coordinator inside this process (SQLite under --dir)\n"
      "and --workers segtune-worker processes (logs in DIR/worker-N.log), follow the sweep to its\n"
      "end, then print the leaderboard and the best configuration. Ctrl-C cancels the sweep and\n"
      "stops everything (exit 130). With -o json, only the best trial's JSON goes to stdout.");
  run->add_option("SPEC", run_options.spec_path, "sweep spec (YAML)")->required();
  run->add_option("--workers", run_options.workers, "number of local segtune-worker processes")
      ->check(CLI::Range(1, 256))
      ->capture_default_str();
  run->add_option("--metrics-listen", run_options.metrics_listen,
                  "serve the embedded coordinator's Prometheus /metrics on HOST:PORT (default: off)");
  run->add_option("--dir", run_options.dir, "directory for the database and the worker logs")
      ->capture_default_str();
  AddOutputOption(run, &format, {"table", "json"});

  LocalRunOptions lr_find_local;
  double min_lr = 0;
  double max_lr = 0;
  int iterations = 0;
  CLI::App* lr_find = app.add_subcommand(
      "lr-find",
      "Smith's learning-rate range test for each optimizer of SPEC: one trial per alternative of\n"
      "search.space.optimizer trains with an lr rising exponentially from --min-lr to --max-lr,\n"
      "one step per batch, until --iterations steps or the loss diverges. The spec's data,\n"
      "model, training and budget.parallelism are used as written; its search algorithm,\n"
      "schedulers, lr values, budget.epochs and budget.max_trials are not. Prints per optimizer the suggested lr (the steepest fall of the\n"
      "smoothed loss), a range to search, the lr of the lowest loss, then a chart of the\n"
      "curves. Runs on this machine like `segtune run` (--workers, --dir), or on the\n"
      "coordinator given by --server or $SEGTUNE_SERVER. With -o json, stdout holds one JSON\n"
      "array: one element per optimizer with its whole curve.");
  lr_find->add_option("SPEC", spec_path, "sweep spec (YAML) whose optimizers to test")->required();
  CLI::Option* min_lr_option =
      lr_find->add_option("--min-lr", min_lr, "the first step's lr (default: the spec's search.min_lr, else 1e-7)")
          ->check(CLI::PositiveNumber);
  CLI::Option* max_lr_option =
      lr_find->add_option("--max-lr", max_lr, "the last step's lr (default: the spec's search.max_lr, else 10)")
          ->check(CLI::PositiveNumber);
  CLI::Option* iterations_option =
      lr_find
          ->add_option("--iterations", iterations,
                       "steps per optimizer (default: the spec's search.iterations, else 100)")
          ->check(CLI::Range(5, 10000));
  CLI::Option* lr_find_workers =
      lr_find->add_option("--workers", lr_find_local.workers, "local mode: number of segtune-worker processes")
          ->check(CLI::Range(1, 256))
          ->capture_default_str();
  CLI::Option* lr_find_dir =
      lr_find->add_option("--dir", lr_find_local.dir, "local mode: directory for the database and the worker logs")
          ->capture_default_str();
  AddOutputOption(lr_find, &format, {"table", "json"});

  CLI::App* submit = app.add_subcommand(
      "submit", "Submit a sweep spec to the coordinator and print the new sweep's id.\n"
                "An invalid spec is rejected with every problem listed (exit 2).");
  submit->add_option("SPEC", spec_path, "sweep spec (YAML)")->required();
  AddOutputOption(submit, &format, {"table", "json"});

  CLI::App* sweeps = app.add_subcommand("sweeps", "List every sweep: state, progress, best value.");
  AddOutputOption(sweeps, &format, {"table", "json"});

  CLI::App* status = app.add_subcommand(
      "status", "Show one sweep: state, objective, algorithm, trials by state, best value.");
  status->add_option("SWEEP", sweep_id, "sweep id")->required();
  AddOutputOption(status, &format, {"table", "json"});

  CLI::App* trials = app.add_subcommand(
      "trials", "List a sweep's trials: state, parameters, epochs done, best objective value.");
  trials->add_option("SWEEP", sweep_id, "sweep id")->required();
  AddOutputOption(trials, &format, {"table", "json"});

  CLI::App* metrics = app.add_subcommand(
      "metrics", "Show a trial's metrics, one row per epoch (losses, mIoU, pixel accuracy, lr, speed).");
  metrics->add_option("TRIAL", trial_id, "trial id")->required();
  AddOutputOption(metrics, &format, {"table", "json"});

  CLI::App* workers = app.add_subcommand(
      "workers", "List the workers known to the coordinator: device, slots, liveness, running trials.");
  AddOutputOption(workers, &format, {"table", "json"});

  CLI::App* cancel = app.add_subcommand(
      "cancel", "Cancel a sweep: pending trials are dropped, running trials are stopped.");
  cancel->add_option("SWEEP", sweep_id, "sweep id")->required();
  AddOutputOption(cancel, &format, {"table", "json"});

  CLI::App* watch = app.add_subcommand(
      "watch",
      "Follow a sweep live until it ends, then print the leaderboard. On a terminal a view of\n"
      "the progress, the running trials and the top 5 is redrawn in place; otherwise a line is\n"
      "printed for each trial start, epoch and end. Exit 0 when the sweep completes, 1 when it\n"
      "was cancelled.");
  watch->add_option("SWEEP", sweep_id, "sweep id")->required();
  AddOutputOption(watch, &format, {"table", "json"});

  CLI::App* best = app.add_subcommand(
      "best",
      "Show the best trial of a sweep and its full configuration. -o yaml prints it as a spec\n"
      "fragment to paste into the next spec; with --top K the fragment's lists hold the distinct\n"
      "values among the K best trials.");
  best->add_option("SWEEP", sweep_id, "sweep id")->required();
  best->add_option("--top", top_k, "show the K best trials, best first")
      ->check(CLI::Range(1, 100000))
      ->capture_default_str();
  AddOutputOption(best, &format, {"table", "json", "yaml"});

  ExportOptions export_options;
  CLI::App* export_verb = app.add_subcommand(
      "export",
      "Write a trial's weights to FILE: the model's state dict in the format of Python's\n"
      "torch.save (torch.load(FILE) reads it). The coordinator keeps the checkpoints of each\n"
      "trial's latest and best epoch. FILE is written as FILE.tmp and renamed once complete.\n"
      "Note: here -o names the output FILE, unlike the other verbs, where -o is the output\n"
      "format; --format json prints the summary as JSON.");
  export_verb->add_option("TRIAL", export_options.trial_id, "trial id")->required();
  export_verb->add_option("-o,--output", export_options.file, "FILE to write the weights to (here not a format)")
      ->required();
  export_verb
      ->add_option("--epoch", export_options.epoch,
                   "best (the epoch with the best objective value), last (the latest reported\n"
                   "epoch), or an epoch number")
      ->capture_default_str();
  export_verb->add_option("--format", format, "summary format: table|json (default: table)")
      ->check(CLI::IsMember({"table", "json"}));

  ReportOptions report_options;
  CLI::App* report = app.add_subcommand(
      "report",
      "Write a sweep's report to FILE: one self-contained HTML page (no network needed to view\n"
      "it) with the sweep's facts, the objective and the lr of every trial by epoch, a parallel-\n"
      "coordinates chart of the parameters against the objective, and the leaderboard.\n"
      "As for export, -o names the output FILE here, not a format.");
  report->add_option("SWEEP", report_options.sweep_id, "sweep id")->required();
  report->add_option("-o,--output", report_options.file,
                     "FILE to write (here not a format; default: report-SWEEP.html)");

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& error) {
    int code = app.exit(error, *environment.out, *environment.err);
    return code == 0 ? kExitOk : kExitUsage;
  }

  Output output;
  output.out = environment.out;
  output.err = environment.err;
  output.out_is_terminal = environment.out_is_terminal;
  output.err_is_terminal = environment.err_is_terminal;
  output.terminal_columns = environment.terminal_columns;
  output.format = ParseFormat(format);
  const auto timeout = std::chrono::milliseconds(std::llround(timeout_seconds * 1000));

  auto finish = [&environment](const absl::Status& status) {
    *environment.out << std::flush;
    if (!status.ok()) *environment.err << ErrorText(status) << std::flush;
    return ExitCodeFor(status);
  };

  if (run->parsed()) {
    run_options.timeout = timeout;
    return finish(environment.run_local(run_options, output));
  }

  std::optional<std::string> server_flag;
  if (server_option->count() > 0) server_flag = server;
  // Local mode's embedded coordinator needs none of it; a remote one may.
  const auto connect = [&](const std::string& address) -> absl::StatusOr<std::unique_ptr<TunerClient>> {
    absl::StatusOr<common::ClientSecurity> security =
        common::LoadClientSecurity(security_flags, common::ProcessEnvironment());
    if (!security.ok()) return security.status();
    return std::make_unique<TunerClient>(address, timeout, *security);
  };

  if (lr_find->parsed()) {
    const bool on_server = server_flag.has_value() || environment.server_env.has_value();
    if (on_server && (lr_find_workers->count() > 0 || lr_find_dir->count() > 0)) {
      return finish(absl::InvalidArgumentError(
          "--workers and --dir: only for a local run, not with --server or $SEGTUNE_SERVER"));
    }
    LrFindSettings settings;
    if (min_lr_option->count() > 0) settings.min_lr = min_lr;
    if (max_lr_option->count() > 0) settings.max_lr = max_lr;
    if (iterations_option->count() > 0) settings.iterations = iterations;
    absl::StatusOr<std::string> spec = ReadSpecFile(spec_path);
    if (spec.ok()) spec = LrFindSpec(*spec, spec_path, settings);
    if (!spec.ok()) return finish(spec.status());
    if (!on_server) {
      lr_find_local.spec_path = spec_path;
      lr_find_local.spec_yaml = *spec;
      lr_find_local.timeout = timeout;
      lr_find_local.print_results = PrintLrFindResults;
      return finish(environment.run_local(lr_find_local, output));
    }
    absl::StatusOr<std::string> address = ResolveServerAddress(server_flag, environment.server_env);
    if (!address.ok()) return finish(address.status());
    absl::StatusOr<std::unique_ptr<TunerClient>> client = connect(*address);
    if (!client.ok()) return finish(client.status());
    return finish(LrFindOnServer(**client, spec_path, *spec, output));
  }
  absl::StatusOr<std::string> address = ResolveServerAddress(server_flag, environment.server_env);
  if (!address.ok()) return finish(address.status());
  absl::StatusOr<std::unique_ptr<TunerClient>> connected = connect(*address);
  if (!connected.ok()) return finish(connected.status());
  TunerClient& client = **connected;

  if (submit->parsed()) return finish(Submit(client, spec_path, output));
  if (sweeps->parsed()) return finish(ListSweeps(client, output));
  if (status->parsed()) return finish(ShowStatus(client, sweep_id, output));
  if (trials->parsed()) return finish(ListTrials(client, sweep_id, output));
  if (metrics->parsed()) return finish(ShowMetrics(client, trial_id, output));
  if (workers->parsed()) return finish(ListWorkers(client, output));
  if (cancel->parsed()) return finish(Cancel(client, sweep_id, output));
  if (watch->parsed()) return finish(Watch(client, sweep_id, output));
  if (export_verb->parsed()) return finish(Export(client, export_options, output));
  if (report->parsed()) return finish(Report(client, report_options, output));
  return finish(Best(client, sweep_id, top_k, output));
}

}  // namespace segtune::client
