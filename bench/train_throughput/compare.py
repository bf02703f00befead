"""bench/train_throughput: segtune's C++ trainer against the same training
job written in PyTorch (bench/reference/train.py): same data (dumped once by
the C++ program), architecture and parameter count, optimizer, batch size,
epochs and thread count.

Runs the two alternately for several rounds (these machines are shared and
noisy; the one that goes first alternates too), and prints, as the median
over rounds: training images per second and the ratio C++ / Python (above 1:
C++ is faster), the share of epoch time outside the model's forward and
backward with its breakdown, and the start-up to the first training batch;
then the issue's goals with PASS or MISS. Exits 1 if the two models'
parameter counts differ.

  /usr/bin/python3 bench/train_throughput/compare.py --build build [--arch unet]
      [--threads 1] [--rounds 3] [--python-channels-last] [workload flags, see --help]
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile

# The goals.
MIN_RATIO = 1.3
MAX_OUTSIDE_SHARE = 0.10
MAX_STARTUP_SECONDS = 1.0

# Flags passed unchanged to both programs, with their defaults.
WORKLOAD = [("arch", str, "unet"), ("image-size", int, 64), ("train-size", int, 256),
            ("val-size", int, 64), ("batch-size", int, 16), ("base-channels", int, 16),
            ("depth", int, 3), ("epochs", int, 3), ("classes", int, 4), ("lr", float, 0.05),
            ("momentum", float, 0.9), ("threads", int, 1)]


def run_json(command):
    completed = subprocess.run(command, capture_output=True, text=True)
    if completed.returncode != 0:
        sys.exit(f"{' '.join(command)} failed ({completed.returncode}):\n{completed.stderr}")
    return json.loads(completed.stdout)


def median(results, *path):
    values = []
    for result in results:
        for key in path:
            result = result[key]
        values.append(result)
    return statistics.median(values)


def per_epoch(results, key):
    """Seconds per epoch, the median over rounds."""
    return median(results, "totals", key) / len(results[0]["epochs"])


def verdict(ok):
    return "PASS" if ok else "MISS"


def print_table(cpp, python, args):
    ratio = statistics.median(c["totals"]["images_per_second"] / p["totals"]["images_per_second"]
                              for c, p in zip(cpp, python))
    print(f"\n{args.arch} base {args.base_channels} depth {args.depth}, {args.image_size}px, "
          f"{args.train_size} train / {args.val_size} val images, batch {args.batch_size}, "
          f"{args.epochs} epochs, {args.threads} thread(s); median of {args.rounds} rounds")
    if args.python_channels_last:
        print("Python with --channels-last (not the reference script the goals are for)")
    print(f"parameters: C++ {cpp[0]['parameters']:,}, Python {python[0]['parameters']:,}")
    print(f"{'':<32}{'C++':>10}{'Python':>10}{'C++/Python':>12}")
    print(f"{'images/s (training)':<32}{median(cpp, 'totals', 'images_per_second'):>10.1f}"
          f"{median(python, 'totals', 'images_per_second'):>10.1f}{ratio:>12.2f}")
    for label, key in [("epoch s", "epoch_seconds"), ("  forward+backward s", "model_seconds"),
                       ("  optimizer s", "optimizer_seconds"), ("  data s", "data_wait_seconds"),
                       ("  checkpoint s", "checkpoint_seconds"), ("  other s", "other_seconds")]:
        print(f"{label + ' (per epoch)':<32}{per_epoch(cpp, key):>10.3f}"
              f"{per_epoch(python, key):>10.3f}")
    cpp_share = median(cpp, "totals", "outside_share")
    python_share = median(python, "totals", "outside_share")
    print(f"{'outside forward+backward':<32}{cpp_share:>10.1%}{python_share:>10.1%}")
    cpp_startup = median(cpp, "startup_seconds")
    print(f"{'start-up to first batch s':<32}{cpp_startup:>10.3f}"
          f"{median(python, 'startup_seconds'):>10.3f}")
    print(f"{'last epoch val mIoU':<32}{median(cpp, 'epochs', -1, 'val_miou'):>10.3f}"
          f"{median(python, 'epochs', -1, 'val_miou'):>10.3f}")
    print(f"goal images/s C++/Python >= {MIN_RATIO}: {ratio:.2f} {verdict(ratio >= MIN_RATIO)}")
    print(f"goal C++ share outside forward+backward < {MAX_OUTSIDE_SHARE:.0%}: {cpp_share:.1%} "
          f"{verdict(cpp_share < MAX_OUTSIDE_SHARE)}")
    print(f"goal C++ start-up < {MAX_STARTUP_SECONDS:.0f} s: {cpp_startup:.3f} s "
          f"{verdict(cpp_startup < MAX_STARTUP_SECONDS)}")


def main():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--build", default="build", help="the CMake build directory")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--python-channels-last", action="store_true",
                        help="run train.py with --channels-last: what that layout alone "
                             "gives the Python script (not the comparison the goals are for)")
    for name, kind, default in WORKLOAD:
        parser.add_argument(f"--{name}", type=kind, default=default)
    args = parser.parse_args()

    binary = os.path.join(args.build, "bin", "segtune_bench_train_throughput")
    script = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                          "reference", "train.py")
    if not os.path.exists(binary):
        sys.exit(f"{binary} not found: build the target segtune_bench_train_throughput first")
    workload = []
    for name, _, _ in WORKLOAD:
        workload += [f"--{name}", str(getattr(args, name.replace("-", "_")))]

    cpp, python = [], []
    with tempfile.TemporaryDirectory() as data:
        subprocess.run([binary, "--dump-data", data] + workload, check=True)
        commands = {"c++": [binary, "--json"] + workload,
                    "python": ["/usr/bin/python3", script, "--data", data] + workload
                              + (["--channels-last"] if args.python_channels_last else [])}
        for round_number in range(args.rounds):
            order = ["c++", "python"] if round_number % 2 == 0 else ["python", "c++"]
            for program in order:
                print(f"round {round_number + 1}/{args.rounds}: {program}", file=sys.stderr,
                      flush=True)
                (cpp if program == "c++" else python).append(run_json(commands[program]))

    print_table(cpp, python, args)
    if cpp[0]["parameters"] != python[0]["parameters"]:
        print("the models' parameter counts differ: the comparison is not like for like")
        sys.exit(1)


if __name__ == "__main__":
    main()
