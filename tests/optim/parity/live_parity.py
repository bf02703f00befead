#!/usr/bin/python3
"""Live parity check: fresh random optim-trace cases, run by torch.optim and
by `segtune-worker optim-trace`, compared as parity_test.cc compares the
committed fixtures.

    /usr/bin/python3 tests/optim/parity/live_parity.py --worker build/bin/segtune-worker \\
        [--cases N] [--seed S] [--save DIR]

Each case draws a random optimizer with random non-default arguments within
their valid ranges, usually a random scheduler (composites included), random
params and gradients, and 100 to 160 steps. Prints one line per mismatch and a
summary; exits 1 on any mismatch, 77 when torch cannot be imported (a skip for
ctest), 2 on bad usage.
"""

import argparse
import concurrent.futures
import json
import math
import os
import random
import subprocess
import sys
import time

try:
    import torch  # noqa: F401: the reference
except ImportError:
    print("live_parity: torch is not importable (Debian's python3-torch, /usr/bin/python3): "
          "skipped")
    sys.exit(77)

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from make_fixtures import draw_grads, draw_metrics, draw_value  # noqa: E402
from torch_trace import compare, run_trace  # noqa: E402

MOMENTUM_OPTIMIZERS = {"SGD", "RMSprop"}
BETAS_OPTIMIZERS = {"Adam", "AdamW", "Adamax", "NAdam", "RAdam"}
# Inner schedulers of SequentialLR and ChainedScheduler.
CHILDREN = ["StepLR", "MultiStepLR", "ConstantLR", "LinearLR", "ExponentialLR", "PolynomialLR",
            "CosineAnnealingLR", "CosineAnnealingWarmRestarts", "LambdaLR", "MultiplicativeLR"]


def log_uniform(rng, low, high):
    return math.exp(rng.uniform(math.log(low), math.log(high)))


def optimizer_samplers(rng):
    """Per optimizer, a sampler per argument giving a valid non-default value."""
    lr = lambda: log_uniform(rng, 1e-3, 0.1)  # noqa: E731
    common = {
        "weight_decay": lambda: log_uniform(rng, 1e-4, 0.1),
        "eps": lambda: log_uniform(rng, 1e-10, 1e-4),
        "betas": lambda: [rng.uniform(0.0, 0.95), rng.uniform(0.9, 0.9999)],
        "maximize": lambda: True,
        "amsgrad": lambda: True,
    }
    pick = lambda *names, **own: dict({n: common[n] for n in names}, lr=lr, **own)  # noqa: E731
    return {
        "SGD": pick("weight_decay", "maximize", momentum=lambda: rng.uniform(0.0, 0.99),
                    dampening=lambda: rng.uniform(0.0, 1.0), nesterov=lambda: True),
        "Adam": pick("betas", "eps", "weight_decay", "amsgrad", "maximize"),
        "AdamW": pick("betas", "eps", "weight_decay", "amsgrad", "maximize"),
        "Adagrad": pick("weight_decay", "eps", "maximize",
                        lr_decay=lambda: log_uniform(rng, 1e-4, 0.1),
                        initial_accumulator_value=lambda: rng.uniform(0.0, 1.0)),
        "RMSprop": pick("eps", "weight_decay", "maximize", alpha=lambda: rng.uniform(0.5, 0.999),
                        momentum=lambda: rng.uniform(0.0, 0.95), centered=lambda: True),
        "Adadelta": dict(pick("eps", "weight_decay", "maximize"),
                         lr=lambda: rng.uniform(0.1, 2.0), rho=lambda: rng.uniform(0.5, 0.99)),
        "Adamax": pick("betas", "eps", "weight_decay", "maximize"),
        "NAdam": pick("betas", "eps", "weight_decay",
                      momentum_decay=lambda: log_uniform(rng, 1e-4, 0.05)),
        "RAdam": pick("betas", "eps", "weight_decay"),
        "ASGD": pick("weight_decay", "maximize", lambd=lambda: log_uniform(rng, 1e-5, 1e-2),
                     alpha=lambda: rng.uniform(0.5, 1.0), t0=lambda: rng.uniform(1.0, 200.0)),
        "Rprop": pick("maximize",
                      etas=lambda: [rng.uniform(0.1, 0.9), rng.uniform(1.05, 2.0)],
                      step_sizes=lambda: [log_uniform(rng, 1e-7, 1e-3), rng.uniform(0.1, 50.0)]),
    }


def draw_optimizer(rng):
    samplers = optimizer_samplers(rng)
    name = rng.choice(sorted(samplers))
    spec = {"name": name}
    for arg, sample in samplers[name].items():
        if rng.random() < 0.5 or (name == "SGD" and arg == "lr"):
            spec[arg] = sample()
    if spec.get("nesterov"):
        spec["momentum"] = spec.get("momentum") or rng.uniform(0.1, 0.99)
        spec["dampening"] = 0.0
    return spec


def draw_lambda(rng, steps, multiplicative):
    a = round(rng.uniform(0.9, 0.999), 4)
    if multiplicative:
        choices = ["%r" % a, "1 - %r * epoch / %d" % (round(rng.uniform(0.0, 0.05), 4), steps),
                   "%r^(1 / (1 + epoch))" % a]
    else:
        choices = ["%r^epoch" % a, "1 / (1 + %r * epoch)" % round(rng.uniform(0.01, 0.2), 4),
                   "exp(-%r * epoch)" % round(rng.uniform(0.001, 0.05), 4),
                   "0.5 * (1 + cos(_pi * epoch / %d))" % rng.randint(steps, 2 * steps),
                   "max(%r, 1 - epoch / %d)" % (round(rng.uniform(0.01, 0.3), 4), steps)]
    return rng.choice(choices)


def draw_simple_scheduler(rng, name, steps):
    r = rng
    if name == "StepLR":
        return {"step_size": r.randint(1, 30), "gamma": r.uniform(0.1, 0.99)}
    if name == "MultiStepLR":
        return {"milestones": sorted(r.sample(range(1, steps), r.randint(1, 4))),
                "gamma": r.uniform(0.1, 0.99)}
    if name == "ConstantLR":
        return {"factor": r.uniform(0.05, 1.0), "total_iters": r.randint(0, 50)}
    if name == "LinearLR":
        return {"start_factor": r.uniform(0.05, 1.0), "end_factor": r.uniform(0.0, 1.0),
                "total_iters": r.randint(1, 80)}
    if name == "ExponentialLR":
        return {"gamma": r.uniform(0.9, 1.02)}
    if name == "PolynomialLR":
        return {"total_iters": r.randint(1, steps), "power": r.uniform(0.3, 3.0)}
    if name == "CosineAnnealingLR":
        return {"T_max": r.randint(1, steps), "eta_min": r.choice([0.0, r.uniform(0.0, 0.01)])}
    if name == "CosineAnnealingWarmRestarts":
        return {"T_0": r.randint(1, 30), "T_mult": r.randint(1, 3),
                "eta_min": r.choice([0.0, r.uniform(0.0, 0.001)])}
    if name in ("LambdaLR", "MultiplicativeLR"):
        return {"lr_lambda": draw_lambda(r, steps, name == "MultiplicativeLR")}
    raise ValueError(name)


def draw_cyclic(rng, optimizer):
    base_lr = log_uniform(rng, 1e-4, 1e-2)
    spec = {"base_lr": base_lr, "max_lr": base_lr * rng.uniform(2.0, 20.0),
            "step_size_up": rng.randint(1, 30), "mode": rng.choice(["triangular", "triangular2",
                                                                    "exp_range"]),
            "gamma": rng.uniform(0.9, 1.0), "scale_mode": rng.choice(["cycle", "iterations"]),
            "base_momentum": rng.uniform(0.5, 0.85), "max_momentum": rng.uniform(0.85, 0.99)}
    if rng.random() < 0.5:
        spec["step_size_down"] = rng.randint(1, 30)
    if optimizer["name"] not in MOMENTUM_OPTIMIZERS or rng.random() < 0.2:
        spec["cycle_momentum"] = False
    return spec


def draw_one_cycle(rng, optimizer, steps):
    total = steps + rng.randint(0, 50)
    three_phase = rng.random() < 0.4
    # Each phase at least 2 steps long: torch divides by their lengths.
    high = 0.45 if three_phase else 0.9
    pct_start = rng.uniform(max(0.05, 3.0 / total), high)
    spec = {"max_lr": log_uniform(rng, 1e-3, 0.5), "pct_start": pct_start,
            "anneal_strategy": rng.choice(["cos", "linear"]), "three_phase": three_phase,
            "div_factor": rng.uniform(2.0, 50.0), "final_div_factor": log_uniform(rng, 10, 1e5),
            "base_momentum": rng.uniform(0.7, 0.88), "max_momentum": rng.uniform(0.9, 0.99)}
    if rng.random() < 0.3:
        spec["steps_per_epoch"] = rng.randint(1, 10)
        spec["epochs"] = -(-total // spec["steps_per_epoch"])
    else:
        spec["total_steps"] = total
    if optimizer["name"] not in MOMENTUM_OPTIMIZERS | BETAS_OPTIMIZERS or rng.random() < 0.2:
        spec["cycle_momentum"] = False
    return spec


def draw_plateau(rng):
    spec = {"mode": rng.choice(["min", "max"]), "factor": rng.uniform(0.1, 0.9),
            "patience": rng.randint(0, 5), "threshold": log_uniform(rng, 1e-5, 0.05),
            "threshold_mode": rng.choice(["rel", "abs"]), "cooldown": rng.randint(0, 4),
            "min_lr": rng.choice([0.0, log_uniform(rng, 1e-6, 1e-3)]),
            "eps": log_uniform(rng, 1e-10, 1e-3)}
    if spec["mode"] == "max":
        spec["monitor"] = "val_miou"  # segtune refuses mode max on a loss
    return spec


def draw_scheduler(rng, optimizer, steps):
    name = rng.choice(CHILDREN + ["CyclicLR", "OneCycleLR", "ReduceLROnPlateau",
                                  "SequentialLR", "ChainedScheduler"])
    if name == "CyclicLR":
        args = draw_cyclic(rng, optimizer)
    elif name == "OneCycleLR":
        args = draw_one_cycle(rng, optimizer, steps)
    elif name == "ReduceLROnPlateau":
        args = draw_plateau(rng)
    elif name in ("SequentialLR", "ChainedScheduler"):
        children = [rng.choice(CHILDREN) for _ in range(rng.randint(2, 3))]
        args = {"schedulers": [dict(name=child, **draw_simple_scheduler(rng, child, steps))
                               for child in children]}
        if name == "SequentialLR":
            args["milestones"] = sorted(rng.sample(range(1, steps), len(children) - 1))
    else:
        args = draw_simple_scheduler(rng, name, steps)
    # Drop some arguments to exercise the defaults, keeping the required ones.
    # and those that keep the case valid.
    kept = {"milestones", "schedulers", "step_size", "gamma", "T_max", "T_0", "base_lr",
            "max_lr", "lr_lambda", "total_steps", "epochs", "steps_per_epoch", "monitor",
            "cycle_momentum", "mode"}
    args = {k: v for k, v in args.items() if k in kept or rng.random() < 0.7}
    return dict(name=name, **args)


def draw_case(rng):
    steps = rng.randint(100, 160)
    shapes = [rng.choice([(), (1,), (3,), (4,), (2, 3)]) for _ in range(rng.randint(1, 3))]
    optimizer = draw_optimizer(rng)
    case = {"optimizer": optimizer}
    if rng.random() < 0.85:
        case["scheduler"] = draw_scheduler(rng, optimizer, steps)
    case["params"] = [draw_value(rng, list(shape), 2.0) for shape in shapes]
    case["grads"] = draw_grads(rng, [list(shape) for shape in shapes], steps)
    scheduler = case.get("scheduler", {})
    if scheduler.get("name") == "ReduceLROnPlateau":
        case["metrics"] = draw_metrics(rng, steps, scheduler.get("mode", "min"),
                                       scheduler.get("threshold_mode", "rel"))
    return case


def describe(case):
    text = json.dumps(case["optimizer"])
    if "scheduler" in case:
        text += " + " + json.dumps(case["scheduler"])
    return text


def run_worker(worker, case):
    result = subprocess.run([worker, "optim-trace"], input=json.dumps(case), text=True,
                            capture_output=True, timeout=120)
    if result.returncode != 0:
        return None, "segtune-worker exited %d: %s" % (result.returncode, result.stderr.strip())
    return json.loads(result.stdout), None


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--worker", required=True, help="path to segtune-worker")
    parser.add_argument("--cases", type=int, default=40)
    parser.add_argument("--seed", type=int, default=None,
                        help="random seed (default: a fresh one, printed)")
    parser.add_argument("--save", help="directory to write each mismatching case to")
    parser.add_argument("--jobs", type=int, default=2, help="segtune-worker runs at once")
    args = parser.parse_args()
    if not os.access(args.worker, os.X_OK):
        parser.error("--worker %s: not an executable" % args.worker)
    seed = args.seed if args.seed is not None else random.SystemRandom().randrange(2 ** 32)
    rng = random.Random(seed)
    torch.set_num_threads(1)
    start = time.time()

    cases = [draw_case(rng) for _ in range(args.cases)]
    expected = []
    for case in cases:
        try:
            expected.append(run_trace(case))
        except Exception as error:  # noqa: BLE001: a case drawn outside torch's domain
            expected.append("torch refused it (%s: %s): the generator drew an invalid case" % (
                type(error).__name__, error))
    with concurrent.futures.ThreadPoolExecutor(max_workers=max(1, args.jobs)) as pool:
        results = list(pool.map(lambda case: run_worker(args.worker, case), cases))

    failures = 0
    worst = {"params": 0.0, "lr": 0.0}
    for index, (case, want, (got, error)) in enumerate(zip(cases, expected, results)):
        if isinstance(want, str):
            mismatch = want
        elif error is not None:
            mismatch = error
        else:
            mismatch, case_worst = compare(want, got)
            for key in worst:
                worst[key] = max(worst[key], case_worst[key])
        if mismatch is None:
            continue
        failures += 1
        print("case %d (%d steps) %s: %s" % (index, len(case["grads"]), describe(case), mismatch))
        if args.save:
            os.makedirs(args.save, exist_ok=True)
            with open(os.path.join(args.save, "case_%d.json" % index), "w") as out:
                json.dump(case, out)
    print("live parity: %d cases (seed %d), %d passed, %d failed; worst relative error: "
          "params %.3g, lr %.3g; %.1f s" % (len(cases), seed, len(cases) - failures, failures,
                                            worst["params"], worst["lr"], time.time() - start))
    if failures:
        print("rerun: %s --worker %s --cases %d --seed %d" % (sys.argv[0], args.worker,
                                                               args.cases, seed))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
