"""bench/optim_step: one optimizer step, segtune's C++ optimizers against
PyTorch 1.13's Python ones, on the same parameter shapes and thread count.

Runs the two programs alternately for several rounds (these machines are
shared and noisy), keeps each optimizer's best median, and prints a table of
milliseconds per step and the ratio C++ / Python (below 1: C++ is faster).

  /usr/bin/python3 bench/optim_step/compare.py --build build [--threads 1] [--rounds 3]
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile


def run_lines(command):
    output = subprocess.run(command, check=True, capture_output=True, text=True).stdout
    return {entry["optimizer"]: entry["seconds_per_step"]
            for entry in map(json.loads, output.splitlines())}


def best(rounds):
    merged = {}
    for result in rounds:
        for name, seconds in result.items():
            merged[name] = min(seconds, merged.get(name, float("inf")))
    return merged


def main():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--build", default="build", help="the CMake build directory")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=0.5, help="per optimizer and round")
    parser.add_argument("--params", nargs="+", default=["unet", "25m"])
    args = parser.parse_args()

    binary = os.path.join(args.build, "bin", "segtune_bench_optim_step")
    script = os.path.join(os.path.dirname(os.path.abspath(__file__)), "optim_step.py")
    if not os.path.exists(binary):
        sys.exit(f"{binary} not found: build the target segtune_bench_optim_step first")

    worst_ratio = 0.0
    for params in args.params:
        with tempfile.TemporaryDirectory() as tmp:
            shapes = os.path.join(tmp, "shapes.json")
            common = ["--threads", str(args.threads), "--seconds", str(args.seconds)]
            cpp_rounds, python_rounds = [], []
            for round_number in range(args.rounds):
                print(f"[{params}] round {round_number + 1}/{args.rounds}", file=sys.stderr,
                      flush=True)
                cpp_rounds.append(run_lines([binary, "--params", params, "--shapes-out", shapes]
                                            + common))
                python_rounds.append(run_lines([sys.executable, script, "--shapes", shapes]
                                               + common))
            with open(shapes) as f:
                count = sum(_numel(shape) for shape in json.load(f))
        cpp, python = best(cpp_rounds), best(python_rounds)
        print(f"\n{params}: {count:,} parameters, {args.threads} thread(s), best of "
              f"{args.rounds} rounds")
        print(f"{'optimizer':<16}{'C++ ms':>10}{'Python ms':>12}{'C++/Python':>12}")
        for name in cpp:
            ratio = cpp[name] / python[name]
            worst_ratio = max(worst_ratio, ratio)
            print(f"{name:<16}{cpp[name] * 1e3:>10.3f}{python[name] * 1e3:>12.3f}{ratio:>12.2f}")
    print(f"\nslowest ratio C++/Python: {worst_ratio:.2f} (goal: <= 1.00)")


def _numel(shape):
    count = 1
    for size in shape:
        count *= size
    return count


if __name__ == "__main__":
    main()
