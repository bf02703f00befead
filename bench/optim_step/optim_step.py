"""Times one step of each torch.optim optimizer on the parameter shapes that
segtune_bench_optim_step wrote, the way optim_step.cc does; one JSON line per
optimizer. Run by compare.py."""
import argparse
import json
import statistics
import time

import torch

# The same list as optim_step.cc.
OPTIMIZERS = [
    ("SGD", torch.optim.SGD, {"lr": 0.01}),
    ("SGD(nesterov)", torch.optim.SGD, {"lr": 0.01, "momentum": 0.9, "nesterov": True}),
    ("Adam", torch.optim.Adam, {"lr": 1e-3}),
    ("AdamW", torch.optim.AdamW, {"lr": 1e-3}),
    ("Adagrad", torch.optim.Adagrad, {"lr": 1e-2}),
    ("RMSprop", torch.optim.RMSprop, {"lr": 1e-2}),
    ("Adadelta", torch.optim.Adadelta, {"lr": 1.0}),
    ("Adamax", torch.optim.Adamax, {"lr": 2e-3}),
    ("NAdam", torch.optim.NAdam, {"lr": 2e-3}),
    ("RAdam", torch.optim.RAdam, {"lr": 1e-3}),
    ("ASGD", torch.optim.ASGD, {"lr": 1e-2}),
    ("Rprop", torch.optim.Rprop, {"lr": 1e-2}),
]


def time_steps(optimizer, seconds):
    for _ in range(3):  # state allocation happens here
        optimizer.step()
    samples = []
    start = time.perf_counter()
    while len(samples) < 5 or time.perf_counter() - start < seconds:
        before = time.perf_counter()
        optimizer.step()
        samples.append(time.perf_counter() - before)
    return statistics.median(samples)


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--shapes", required=True, help="JSON list of parameter shapes")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--seconds", type=float, default=1.0)
    args = parser.parse_args()

    torch.set_num_threads(args.threads)
    with open(args.shapes) as f:
        shapes = json.load(f)
    torch.manual_seed(0)
    for label, optimizer_class, kwargs in OPTIMIZERS:
        parameters = []
        for shape in shapes:
            parameter = torch.randn(shape, requires_grad=True)
            parameter.grad = torch.randn(shape) * 1e-3
            parameters.append(parameter)
        # PyTorch 1.13's default on CPU: foreach=None means the per-tensor loop.
        optimizer = optimizer_class(parameters, **kwargs)
        print(json.dumps({"optimizer": label,
                          "seconds_per_step": time_steps(optimizer, args.seconds)}), flush=True)


if __name__ == "__main__":
    main()
