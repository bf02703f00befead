"""bench/search_efficiency: search algorithms side by side on one space.

Runs the sweep of space.yaml (27 grid points: optimizers x learning rates x
schedulers, 9 epochs each, on `shapes`) once per algorithm with the real
command line, `segtune run SPEC --workers N --dir DIR -o json`, each in its
own directory. run.py only adds the algorithm's settings to the spec:

  grid       every grid point, all epochs
  random     --sampled-trials random points (a third of the grid by default)
  asha       sampler grid, eta 3, min_epochs 1: every grid point starts, the
             rungs at epochs 1 and 3 keep the top third
  hyperband  sampler grid, eta 3, min_epochs 1, every bracket (2 here)
  tpe        --sampled-trials trials, the first 4 random

Then it serves each directory with `segtune-coordinator --data-dir DIR` and
reads the sweep back with `segtune trials` and `segtune metrics` (-o json).
For each algorithm it prints the best val_miou (at any epoch of any trial,
as `segtune best` ranks), the epochs trained (the rows of `segtune
metrics`, one per epoch a trial reported; an epoch trained again after a
lost worker counts once), the trials, the wall time of `segtune run`, and
the ratios against grid; then the goal "ASHA reaches within 1% of grid's
best val_miou using at most 30% of grid's epochs" with PASS or FAIL.

Every seed is fixed and training is deterministic per configuration, so a
configuration gives the same numbers under every algorithm and in every run
with the same --workers (which sets each worker's thread count, and with it
the floating-point summation order).
Times vary with the machine's load; which trials asynchronous ASHA and
Hyperband promote, and what TPE suggests after its start-up trials, depend
on the order in which the workers' results arrive (bench/README.md).

  /usr/bin/python3 bench/search_efficiency/run.py --build build
      [--algorithms grid,random,asha,hyperband,tpe] [--workers 2]
      [--sampled-trials 9] [--json results.json] [--keep DIR]

Exits 1 when a run or a read-back fails, 0 otherwise (FAIL of the goal
included: it is a measurement, printed).
"""
import argparse
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ALGORITHMS = ["grid", "random", "asha", "hyperband", "tpe"]
OBJECTIVE = "val_miou"

# The goal: ASHA's best within 1% of grid's, with at most 30% of its epochs.
GOAL_MAX_SHORTFALL = 0.01
GOAL_MAX_EPOCH_SHARE = 0.30


def search_settings(algorithm, sampled_trials):
    """(lines under `search:`, budget.max_trials or None) of one algorithm."""
    if algorithm == "grid":
        return ["algorithm: grid"], None
    if algorithm == "random":
        return ["algorithm: random"], sampled_trials
    if algorithm in ("asha", "hyperband"):
        return [f"algorithm: {algorithm}", "sampler: grid", "eta: 3", "min_epochs: 1"], None
    if algorithm == "tpe":
        return ["algorithm: tpe", "n_startup_trials: 4"], sampled_trials
    raise ValueError(algorithm)


def make_spec(template, algorithm, sampled_trials):
    """The template with the algorithm's settings inserted after the
    top-level `search:` and `budget:` lines (both block mappings)."""
    settings, max_trials = search_settings(algorithm, sampled_trials)
    lines = template.splitlines()
    out = []
    for line in lines:
        out.append(line)
        if line.rstrip() == "search:":
            out.extend("  " + setting for setting in settings)
        elif line.rstrip() == "budget:" and max_trials is not None:
            out.append(f"  max_trials: {max_trials}")
    if "search:" not in lines or "budget:" not in lines:
        sys.exit("space.yaml needs `budget:` and `search:` as top-level block mappings")
    return "\n".join(out) + "\n"


def free_port():
    # The port is free now; the coordinator binds it a moment later. Nothing
    # else on this loopback is expected to take it in between.
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Coordinator:
    """A segtune-coordinator serving a finished run's directory, and the
    CLI's JSON answers from it."""

    def __init__(self, build, data_dir):
        self.cli = os.path.join(build, "bin", "segtune")
        self.address = f"127.0.0.1:{free_port()}"
        self.log = open(os.path.join(data_dir, "coordinator.log"), "w")
        self.process = subprocess.Popen(
            [os.path.join(build, "bin", "segtune-coordinator"), "--listen", self.address,
             "--metrics-listen", "", "--data-dir", data_dir],
            stdout=self.log, stderr=subprocess.STDOUT)

    def query(self, *args):
        completed = subprocess.run([self.cli, "--server", self.address, *args, "-o", "json"],
                                   capture_output=True, text=True)
        if completed.returncode != 0:
            raise RuntimeError(f"segtune {' '.join(args)} failed ({completed.returncode}): "
                               f"{completed.stderr.strip()}")
        return json.loads(completed.stdout)

    def wait_ready(self, seconds=30):
        deadline = time.monotonic() + seconds
        while True:
            try:
                return self.query("sweeps")
            except RuntimeError:
                if self.process.poll() is not None or time.monotonic() > deadline:
                    raise
                time.sleep(0.2)

    def close(self):
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.log.close()


def describe(params):
    """SGD(lr=0.03) + CosineAnnealingLR, short enough for a table."""
    optimizer = params["optimizer"]
    text = f"{optimizer['name']}(lr={optimizer['lr']:g})"
    if params.get("scheduler"):
        text += " + " + params["scheduler"]["name"]
    return text


def read_back(build, data_dir):
    """Trials, epochs and best trial of the one sweep in data_dir."""
    coordinator = Coordinator(build, data_dir)
    try:
        sweeps = coordinator.wait_ready()
        if len(sweeps) != 1:
            raise RuntimeError(f"{data_dir} holds {len(sweeps)} sweeps, expected 1")
        sweep = sweeps[0]
        trials = coordinator.query("trials", sweep["sweep_id"])
        metric_rows = 0
        for trial in trials:
            metric_rows += len(coordinator.query("metrics", trial["trial_id"]))
        best = coordinator.query("best", sweep["sweep_id"])
    finally:
        coordinator.close()
    states = {}
    for trial in trials:
        states[trial["state"]] = states.get(trial["state"], 0) + 1
    return {
        "sweep_state": sweep["state"],
        "trials": len(trials),
        "trial_states": states,
        "epochs_trained": metric_rows,
        "epochs_done": sum(trial["epochs_done"] for trial in trials),
        "distinct_configurations": len({json.dumps(t["params"], sort_keys=True) for t in trials}),
        "best_value": best["value"],
        "best_epoch": best["epoch"],
        "best_trial": best["trial_id"],
        "best_params": describe(best["params"]),
    }


def run_algorithm(args, template, algorithm, root):
    data_dir = os.path.join(root, algorithm)
    os.makedirs(data_dir)
    spec_path = os.path.join(data_dir, "spec.yaml")
    with open(spec_path, "w") as spec:
        spec.write(make_spec(template, algorithm, args.sampled_trials))
    command = [os.path.join(args.build, "bin", "segtune"), "run", spec_path,
               "--workers", str(args.workers), "--dir", data_dir, "-o", "json"]
    print(f"{algorithm}: {' '.join(command)}", file=sys.stderr, flush=True)
    started = time.monotonic()
    with open(os.path.join(data_dir, "run.log"), "w") as progress:
        completed = subprocess.run(command, stdout=subprocess.PIPE, stderr=progress, text=True)
    wall = time.monotonic() - started
    if completed.returncode != 0:
        log = os.path.join(data_dir, "run.log")
        with open(log) as progress:
            tail = "".join(progress.readlines()[-20:])
        raise RuntimeError(f"{algorithm}: segtune run exited {completed.returncode}; "
                           f"the end of {log}:\n{tail}")
    result = {"algorithm": algorithm, "wall_seconds": wall}
    result.update(read_back(args.build, data_dir))
    # run's own answer and the read-back name the same best trial.
    run_best = json.loads(completed.stdout)
    if run_best["trial_id"] != result["best_trial"]:
        raise RuntimeError(f"{algorithm}: run's best {run_best['trial_id']} differs from "
                           f"best's {result['best_trial']}")
    print(f"{algorithm}: {result['trials']} trials, {result['epochs_trained']} epochs, "
          f"best {OBJECTIVE} {result['best_value']:.4f}, {wall:.1f} s", file=sys.stderr, flush=True)
    return result


def add_ratios(results):
    """Each result against grid's, when grid ran."""
    grid = next((r for r in results if r["algorithm"] == "grid"), None)
    for result in results:
        if grid is None:
            result["vs_grid"] = None
            continue
        result["vs_grid"] = {
            "best_ratio": result["best_value"] / grid["best_value"],
            "best_difference_percent": 100 * (result["best_value"] - grid["best_value"]) /
                                       grid["best_value"],
            "epochs_percent": 100 * result["epochs_trained"] / grid["epochs_trained"],
            "wall_percent": 100 * result["wall_seconds"] / grid["wall_seconds"],
        }


def goal(results):
    """PASS, FAIL, or None when grid or asha did not run."""
    by_name = {r["algorithm"]: r for r in results}
    if "grid" not in by_name or "asha" not in by_name:
        return None
    versus = by_name["asha"]["vs_grid"]
    ok = (versus["best_ratio"] >= 1 - GOAL_MAX_SHORTFALL and
          versus["epochs_percent"] <= 100 * GOAL_MAX_EPOCH_SHARE)
    return "PASS" if ok else "FAIL"


def print_table(results, args, total_wall):
    print(f"\nsearch efficiency: {os.path.basename(args.spec)}, {args.workers} workers, "
          f"{OBJECTIVE} (max); whole benchmark {total_wall:.0f} s")
    print("| algorithm | trials | best val_miou | vs grid | epochs | % of grid's epochs "
          "| wall s | % of grid's wall | best trial |")
    print("|---|---|---|---|---|---|---|---|---|")
    for r in results:
        versus = r["vs_grid"]
        difference = f"{versus['best_difference_percent']:+.2f}%" if versus else "-"
        epochs_share = f"{versus['epochs_percent']:.0f}%" if versus else "-"
        wall_share = f"{versus['wall_percent']:.0f}%" if versus else "-"
        trials = f"{r['trials']}"
        if r["distinct_configurations"] != r["trials"]:
            trials += f" ({r['distinct_configurations']} distinct)"
        print(f"| {r['algorithm']} | {trials} | {r['best_value']:.4f} | {difference} "
              f"| {r['epochs_trained']} | {epochs_share} | {r['wall_seconds']:.1f} | {wall_share} "
              f"| {r['best_params']} @ epoch {r['best_epoch']} |")
    verdict = goal(results)
    line = (f"goal: ASHA within {100 * GOAL_MAX_SHORTFALL:g}% of grid's best {OBJECTIVE} "
            f"using at most {100 * GOAL_MAX_EPOCH_SHARE:g}% of grid's epochs: ")
    if verdict is None:
        print(line + "not evaluated (needs grid and asha)")
    else:
        asha = next(r for r in results if r["algorithm"] == "asha")["vs_grid"]
        print(line + f"{verdict} ({asha['best_difference_percent']:+.2f}%, "
                     f"{asha['epochs_percent']:.0f}% of the epochs)")
    return verdict


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--build", default="build", help="build directory holding bin/segtune")
    parser.add_argument("--algorithms", default=",".join(ALGORITHMS),
                        help="comma-separated, from " + ",".join(ALGORITHMS))
    parser.add_argument("--workers", type=int, default=2, help="segtune run --workers")
    parser.add_argument("--sampled-trials", type=int, default=9,
                        help="budget.max_trials of random and tpe (default: a third of the grid)")
    parser.add_argument("--spec", default=os.path.join(HERE, "space.yaml"), help="the spec template")
    parser.add_argument("--json", help="also write the results to this file")
    parser.add_argument("--keep", help="run in this new directory and keep it (databases, logs)")
    args = parser.parse_args()
    args.algorithms = [name.strip() for name in args.algorithms.split(",") if name.strip()]
    unknown = [name for name in args.algorithms if name not in ALGORITHMS]
    if unknown or not args.algorithms:
        parser.error(f"--algorithms: unknown {unknown}, choose from {','.join(ALGORITHMS)}")
    if args.keep and os.path.exists(args.keep):
        parser.error(f"--keep {args.keep}: exists already (each run needs an empty directory)")
    for program in ("segtune", "segtune-worker", "segtune-coordinator"):
        if not os.access(os.path.join(args.build, "bin", program), os.X_OK):
            parser.error(f"{os.path.join(args.build, 'bin', program)} is missing: build "
                         "segtune, segtune-worker and segtune-coordinator")
    return args


def main():
    args = parse_args()
    with open(args.spec) as spec:
        template = spec.read()
    root = args.keep if args.keep else tempfile.mkdtemp(prefix="segtune-search-efficiency-")
    if args.keep:
        os.makedirs(root)
    started = time.monotonic()
    results = []
    try:
        for algorithm in args.algorithms:
            results.append(run_algorithm(args, template, algorithm, root))
    except (RuntimeError, KeyError, ValueError) as error:
        sys.exit(f"error: {error} (run directories kept in {root})")
    total_wall = time.monotonic() - started
    if not args.keep:
        shutil.rmtree(root)
    add_ratios(results)
    verdict = print_table(results, args, total_wall)
    if args.json:
        with open(args.json, "w") as out:
            json.dump({"spec": os.path.basename(args.spec), "workers": args.workers,
                       "sampled_trials": args.sampled_trials, "total_wall_seconds": total_wall,
                       "goal": verdict, "results": results}, out, indent=2)
            out.write("\n")


if __name__ == "__main__":
    main()
