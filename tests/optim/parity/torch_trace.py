"""PyTorch's side of an optimizer trace (design.md section 6).

run_trace(case) drives torch.optim exactly as `segtune-worker optim-trace`
drives segtune's optimizers: for each step it sets every parameter's
gradient, calls optimizer.step(), then scheduler.step() (step(metric) for
ReduceLROnPlateau), then records the parameters and param group 0's lr.

Shared by make_fixtures.py (the committed fixtures) and live_parity.py
(fresh random cases), together with the comparison rule both apply.

Needs Debian's python3-torch 1.13 (/usr/bin/python3). torch's default dtype
is left alone: params and grads are float64 tensors, and whatever torch.optim
creates with the default dtype (ASGD's eta, the step counters) stays as torch
makes it, which segtune mirrors.
"""

import math
import warnings

import torch

# Tolerances of the comparison: |expected - got| <= tol * max(|expected|, |got|).
PARAM_RTOL = 1e-10
LR_RTOL = 1e-12

# segtune's own scheduler arguments, which torch does not take: the metric
# ReduceLROnPlateau watches, and how often a trainer steps the scheduler.
SEGTUNE_ONLY_ARGS = frozenset({"monitor", "interval"})

# Arguments holding text; any other string is a budget expression.
TEXT_ARGS = frozenset({"mode", "threshold_mode", "anneal_strategy", "scale_mode", "lr_lambda"})

# Arguments torch wants as tuples rather than lists.
PAIR_ARGS = frozenset({"betas", "etas", "step_sizes"})

# torch checks isinstance(x, int) on some of these; a budget expression's
# whole value is passed to torch as an int.
INT_ARGS = frozenset({"step_size", "total_iters", "T_max", "T_0", "T_mult", "total_steps",
                      "epochs", "steps_per_epoch", "patience", "cooldown", "step_size_up",
                      "step_size_down"})

# Names a muparser expression may call, with Python's equivalents.
EXPRESSION_FUNCTIONS = {"exp": math.exp, "sqrt": math.sqrt, "cos": math.cos, "sin": math.sin,
                        "ln": math.log, "log10": math.log10, "abs": abs, "min": min,
                        "max": max, "_pi": math.pi, "_e": math.e}


def evaluate(expression, variables):
    """A simple muparser expression (numbers, variables, + - * / ^, calls)."""
    namespace = dict(EXPRESSION_FUNCTIONS)
    namespace.update(variables)
    return eval(expression.replace("^", "**"), {"__builtins__": {}}, namespace)


def default_budget(case):
    budget = {"epochs": len(case["grads"]), "steps_per_epoch": 1}
    budget.update(case.get("budget", {}))
    return budget


def _torch_args(spec, budget):
    args = {}
    for key, value in spec.items():
        if key == "name" or key in SEGTUNE_ONLY_ARGS:
            continue
        if isinstance(value, str) and key not in TEXT_ARGS:
            value = evaluate(value, budget)
            if key in INT_ARGS and float(value).is_integer():
                value = int(value)
        if key in PAIR_ARGS and isinstance(value, list):
            value = tuple(value)
        args[key] = value
    return args


def make_optimizer(spec, params):
    name = spec["name"]
    if name == "LBFGS" or not hasattr(torch.optim, name):
        # LBFGS.step needs a loss closure: fixed gradients cannot drive it.
        raise ValueError("optimizer %s cannot be traced" % name)
    return getattr(torch.optim, name)(params, **_torch_args(spec, {}))


def make_scheduler(spec, optimizer, budget):
    name = spec["name"]
    lr_scheduler = torch.optim.lr_scheduler
    args = _torch_args(spec, budget)
    if name in ("LambdaLR", "MultiplicativeLR") and "lr_lambda" in args:
        expression = args["lr_lambda"]
        # segtune's expressions may use the budget too.
        args["lr_lambda"] = lambda epoch: evaluate(expression, dict(budget, epoch=epoch))
    if name in ("SequentialLR", "ChainedScheduler") and "schedulers" in args:
        # Built in order over the same optimizer, as a torch user would.
        args["schedulers"] = [make_scheduler(inner, optimizer, budget)
                              for inner in args["schedulers"]]
    if name == "ChainedScheduler":
        return lr_scheduler.ChainedScheduler(**args)
    if not hasattr(lr_scheduler, name) or name.startswith("_"):
        raise ValueError("unknown scheduler %s" % name)
    return getattr(lr_scheduler, name)(optimizer, **args)


def run_trace(case):
    """The expected optim-trace output for `case`; raises where torch does."""
    with warnings.catch_warnings():
        # Deprecation notes, e.g. SequentialLR stepping with an epoch.
        warnings.simplefilter("ignore")
        params = [torch.tensor(p, dtype=torch.float64, requires_grad=True)
                  for p in case["params"]]
        optimizer = make_optimizer(case["optimizer"], params)
        scheduler = None
        if "scheduler" in case:
            scheduler = make_scheduler(case["scheduler"], optimizer, default_budget(case))
        plateau = isinstance(scheduler, torch.optim.lr_scheduler.ReduceLROnPlateau)
        trajectory = {"params": [], "lr": []}
        for step, grads in enumerate(case["grads"]):
            for param, grad in zip(params, grads):
                param.grad = torch.tensor(grad, dtype=torch.float64)
            optimizer.step()
            if plateau:
                scheduler.step(case["metrics"][step])
            elif scheduler is not None:
                scheduler.step()
            trajectory["params"].append([p.detach().tolist() for p in params])
            trajectory["lr"].append(float(optimizer.param_groups[0]["lr"]))
        return trajectory


def _flatten(value):
    if isinstance(value, list):
        for element in value:
            yield from _flatten(element)
    else:
        yield value


def relative_error(expected, got):
    """|expected - got| / max(|expected|, |got|); 0 when both are equal
    (zero included), so a zero matches only a zero."""
    if expected == got:
        return 0.0
    return abs(expected - got) / max(abs(expected), abs(got))


def compare(expected, got):
    """The first mismatch as a message (None if none), and the worst
    relative errors seen for params and lrs."""
    worst = {"params": 0.0, "lr": 0.0}
    if len(got.get("params", [])) != len(expected["params"]) or \
            len(got.get("lr", [])) != len(expected["lr"]):
        return "got %d steps, expected %d" % (len(got.get("lr", [])), len(expected["lr"])), worst
    first = None
    for step, (want_params, got_params) in enumerate(zip(expected["params"], got["params"])):
        if len(want_params) != len(got_params):
            return "step %d: got %d params, expected %d" % (
                step + 1, len(got_params), len(want_params)), worst
        for param, (want_param, got_param) in enumerate(zip(want_params, got_params)):
            want_values = list(_flatten(want_param))
            got_values = list(_flatten(got_param))
            if len(want_values) != len(got_values):
                return "step %d: params[%d] has %d values, expected %d" % (
                    step + 1, param, len(got_values), len(want_values)), worst
            for index, (want, value) in enumerate(zip(want_values, got_values)):
                error = relative_error(want, value)
                worst["params"] = max(worst["params"], error)
                if error > PARAM_RTOL and first is None:
                    first = ("step %d: params[%d] element %d: expected %r, got %r "
                             "(relative error %.3g)" % (step + 1, param, index, want, value, error))
        want_lr, got_lr = expected["lr"][step], got["lr"][step]
        error = relative_error(want_lr, got_lr)
        worst["lr"] = max(worst["lr"], error)
        if error > LR_RTOL and first is None:
            first = "step %d: lr: expected %r, got %r (relative error %.3g)" % (
                step + 1, want_lr, got_lr, error)
    return first, worst
