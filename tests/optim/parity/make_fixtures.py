#!/usr/bin/python3
"""Generates fixtures.json: torch.optim 1.13's trajectories for optim-trace
cases covering every optimizer (LBFGS excepted) and every LR scheduler, so
that parity_test.cc checks segtune's against them.

    /usr/bin/python3 tests/optim/parity/make_fixtures.py

Deterministic: each case draws its params, grads and metrics from a random
generator seeded with SEED and the case's id, so regenerating gives the same
file, and adding a case changes no other.

fixtures.json holds
- "trajectories": {"id", "case", "expected"}: the optim-trace input and
  torch's output for it. Every argument of every constructor takes a value
  other than its default in at least one case (checked below), and every
  optimizer meets several schedulers.
- "rejections": {"id", "case", "argument", "torch_error"}: cases torch
  refuses (in the constructor, or when stepping); segtune must refuse them
  with an error naming `argument`.
- "segtune_rejections": {"id", "case", "argument", "reason"}: cases torch
  runs but segtune refuses on purpose; the generator checks that torch does
  run them.
"""

import argparse
import inspect
import json
import os
import random
import sys

try:
    import torch
except ImportError:
    print("make_fixtures: torch is not importable (Debian's python3-torch, /usr/bin/python3)")
    sys.exit(77)  # a skip for ctest's --check run

from torch_trace import SEGTUNE_ONLY_ARGS, run_trace  # noqa: E402

SEED = 1913
STEPS = 100
REJECTION_STEPS = 5
HERE = os.path.dirname(os.path.abspath(__file__))

OPTIMIZERS = ["SGD", "Adam", "AdamW", "Adagrad", "RMSprop", "Adadelta", "Adamax", "NAdam",
              "RAdam", "ASGD", "Rprop"]
SCHEDULERS = ["StepLR", "MultiStepLR", "ConstantLR", "LinearLR", "ExponentialLR",
              "PolynomialLR", "CosineAnnealingLR", "CosineAnnealingWarmRestarts", "CyclicLR",
              "OneCycleLR", "LambdaLR", "MultiplicativeLR", "ReduceLROnPlateau", "SequentialLR",
              "ChainedScheduler"]

# Constructor arguments that are not the algorithm's: implementation choices
# (foreach, fused, ...), resuming (last_epoch), printing (verbose). CyclicLR's
# scale_fn is a Python callable, which a trace case cannot hold.
NOT_ALGORITHM_ARGS = {"self", "params", "optimizer", "foreach", "capturable", "differentiable",
                      "fused", "last_epoch", "verbose", "scale_fn"}

# The optimizer a scheduler case drives when the scheduler does not need a
# particular one: the case's index picks one, so every optimizer meets
# several schedulers.
ROTATION = [
    {"name": "SGD", "lr": 0.1, "momentum": 0.9},
    {"name": "Adam", "lr": 0.05},
    {"name": "AdamW", "lr": 0.05, "weight_decay": 0.05},
    {"name": "Adagrad", "lr": 0.1},
    {"name": "RMSprop", "lr": 0.01},
    {"name": "Adadelta", "lr": 1.0},
    {"name": "Adamax", "lr": 0.05},
    {"name": "NAdam", "lr": 0.05},
    {"name": "RAdam", "lr": 0.05},
    {"name": "ASGD", "lr": 0.05},
    {"name": "Rprop", "lr": 0.05},
]


# --- case data ---------------------------------------------------------------

def draw_value(rng, shape, scale):
    if not shape:
        return round(rng.uniform(-scale, scale), 4)
    return [draw_value(rng, shape[1:], scale) for _ in range(shape[0])]


def draw_grads(rng, shapes, steps):
    """Noisy gradients around a per-element drift, with an occasional exact
    zero (Rprop treats a zero product of signs apart)."""
    drifts = [draw_value(rng, shape, 1.0) for shape in shapes]

    def around(drift):
        if isinstance(drift, list):
            return [around(d) for d in drift]
        return 0.0 if rng.random() < 0.04 else round(drift + rng.gauss(0.0, 1.0), 4)

    return [[around(drift) for drift in drifts] for _ in range(steps)]


def draw_metrics(rng, steps, mode, threshold_mode):
    """A metric that improves now and then and stalls in between, so that
    ReduceLROnPlateau reduces the lr several times."""
    value = 1.0 if mode == "min" else 0.2
    metrics = []
    for _ in range(steps):
        improves = rng.random() < 0.3
        if threshold_mode == "abs":
            change = rng.uniform(0.01, 0.05) if improves else -rng.uniform(0.0, 0.01)
        else:
            change = value * (rng.uniform(0.02, 0.1) if improves else -rng.uniform(0.0, 0.02))
        value += -change if mode == "min" else change
        metrics.append(round(value, 6))
    return metrics


def make_case(case_id, optimizer, scheduler=None, shapes=((3,), (2,)), steps=STEPS,
              budget=None):
    rng = random.Random("%d:%s" % (SEED, case_id))
    case = {"optimizer": optimizer}
    if scheduler is not None:
        case["scheduler"] = scheduler
    case["params"] = [draw_value(rng, list(shape), 2.0) for shape in shapes]
    case["grads"] = draw_grads(rng, [list(shape) for shape in shapes], steps)
    if scheduler is not None and scheduler["name"] == "ReduceLROnPlateau":
        case["metrics"] = draw_metrics(rng, steps, scheduler.get("mode", "min"),
                                       scheduler.get("threshold_mode", "rel"))
    if budget is not None:
        case["budget"] = budget
    return case


# --- trajectories --------------------------------------------------------------

def optimizer_cases():
    """(id, optimizer, shapes): each optimizer with its defaults, and every
    argument away from its default, alone and combined."""
    matrix = ((), (2, 2), (3,))  # a 0-d, a 2-d and a 1-d param
    o = lambda name, **args: dict(name=name, **args)  # noqa: E731
    return [
        ("SGD_lr", o("SGD", lr=0.05), None),
        ("SGD_momentum", o("SGD", lr=0.05, momentum=0.9), matrix),
        ("SGD_momentum_dampening_weight_decay",
         o("SGD", lr=0.05, momentum=0.9, dampening=0.3, weight_decay=0.01), None),
        ("SGD_full_dampening", o("SGD", lr=0.05, momentum=0.5, dampening=1.0), None),
        ("SGD_nesterov", o("SGD", lr=0.05, momentum=0.8, weight_decay=0.001, nesterov=True),
         None),
        ("SGD_maximize", o("SGD", lr=0.05, momentum=0.5, maximize=True), None),
        ("SGD_maximize_nesterov_weight_decay",
         o("SGD", lr=0.02, momentum=0.9, nesterov=True, weight_decay=0.1, maximize=True), None),
        ("Adam_defaults", o("Adam"), None),
        ("Adam_betas_eps", o("Adam", lr=0.05, betas=[0.8, 0.99], eps=1e-6), matrix),
        ("Adam_weight_decay_amsgrad", o("Adam", lr=0.05, weight_decay=0.1, amsgrad=True), None),
        ("Adam_maximize", o("Adam", lr=0.02, maximize=True), None),
        ("Adam_amsgrad_maximize_weight_decay",
         o("Adam", lr=0.03, betas=[0.5, 0.9], weight_decay=0.05, amsgrad=True, maximize=True),
         None),
        ("AdamW_defaults", o("AdamW"), None),
        ("AdamW_weight_decay_amsgrad", o("AdamW", lr=0.05, weight_decay=0.3, amsgrad=True),
         None),
        ("AdamW_betas_eps_maximize",
         o("AdamW", lr=0.02, betas=[0.7, 0.95], eps=1e-4, maximize=True), None),
        ("AdamW_amsgrad_maximize", o("AdamW", lr=0.02, amsgrad=True, maximize=True), None),
        ("Adagrad_defaults", o("Adagrad"), None),
        ("Adagrad_lr_decay", o("Adagrad", lr=0.2, lr_decay=0.05), None),
        ("Adagrad_weight_decay_initial_accumulator",
         o("Adagrad", lr=0.1, weight_decay=0.02, initial_accumulator_value=0.5), matrix),
        ("Adagrad_eps_maximize", o("Adagrad", lr=0.1, eps=1e-3, maximize=True), None),
        ("Adagrad_everything",
         o("Adagrad", lr=0.3, lr_decay=0.01, weight_decay=0.05, initial_accumulator_value=0.1,
           eps=1e-6, maximize=True), None),
        ("RMSprop_defaults", o("RMSprop"), None),
        ("RMSprop_alpha_eps", o("RMSprop", lr=0.02, alpha=0.9, eps=1e-4), None),
        ("RMSprop_momentum_weight_decay",
         o("RMSprop", lr=0.01, momentum=0.9, weight_decay=0.01), None),
        ("RMSprop_centered", o("RMSprop", lr=0.01, centered=True), matrix),
        ("RMSprop_centered_momentum_maximize",
         o("RMSprop", lr=0.005, momentum=0.5, centered=True, maximize=True), None),
        ("Adadelta_defaults", o("Adadelta"), None),
        ("Adadelta_lr_rho_eps", o("Adadelta", lr=0.5, rho=0.5, eps=1e-4), matrix),
        ("Adadelta_weight_decay_maximize",
         o("Adadelta", lr=2.0, weight_decay=0.05, maximize=True), None),
        ("Adamax_defaults", o("Adamax"), None),
        ("Adamax_betas_eps", o("Adamax", lr=0.05, betas=[0.8, 0.99], eps=1e-5), None),
        ("Adamax_weight_decay_maximize",
         o("Adamax", lr=0.05, weight_decay=0.1, maximize=True), None),
        ("NAdam_defaults", o("NAdam"), None),
        ("NAdam_betas_eps", o("NAdam", lr=0.05, betas=[0.85, 0.95], eps=1e-6), None),
        ("NAdam_weight_decay_momentum_decay",
         o("NAdam", lr=0.05, weight_decay=0.1, momentum_decay=0.02), None),
        ("RAdam_defaults", o("RAdam"), None),
        ("RAdam_betas_eps", o("RAdam", lr=0.05, betas=[0.5, 0.9], eps=1e-6), matrix),
        ("RAdam_weight_decay", o("RAdam", lr=0.05, betas=[0.9, 0.99], weight_decay=0.1), None),
        ("ASGD_defaults", o("ASGD"), None),
        ("ASGD_lambd_alpha_t0", o("ASGD", lr=0.05, lambd=0.01, alpha=0.5, t0=10.0), None),
        ("ASGD_weight_decay_maximize", o("ASGD", lr=0.05, weight_decay=0.05, maximize=True),
         None),
        ("Rprop_defaults", o("Rprop"), matrix),
        ("Rprop_etas_step_sizes", o("Rprop", lr=0.05, etas=[0.3, 1.5], step_sizes=[1e-4, 0.5]),
         None),
        ("Rprop_maximize", o("Rprop", lr=0.02, maximize=True), None),
        # Values torch accepts although unusual: segtune must run them too.
        ("SGD_zero_lr", o("SGD", lr=0.0, momentum=0.9), None),
        ("SGD_negative_dampening", o("SGD", lr=0.02, momentum=0.9, dampening=-0.5), None),
        ("Adam_zero_betas", o("Adam", lr=0.02, betas=[0.0, 0.0]), None),
        ("Adadelta_rho_one", o("Adadelta", lr=1.0, rho=1.0), None),
        ("ASGD_negative_lambd_zero_alpha", o("ASGD", lr=0.05, lambd=-0.001, alpha=0.0, t0=0.0),
         None),
        ("Rprop_step_sizes_inverted", o("Rprop", lr=0.01, step_sizes=[0.05, 0.01]), None),
    ]


def scheduler_cases():
    """(id, scheduler, optimizer or None for the rotation, extra make_case
    arguments): every scheduler with its arguments away from their defaults,
    every mode, composites with several children."""
    s = lambda name, **args: dict(name=name, **args)  # noqa: E731
    sgd_momentum = {"name": "SGD", "lr": 0.1, "momentum": 0.9}
    rmsprop_momentum = {"name": "RMSprop", "lr": 0.01, "momentum": 0.5}
    adam = {"name": "Adam", "lr": 0.01, "betas": [0.9, 0.99]}
    plain = {"name": "SGD", "lr": 0.1}
    steps_budget = {"epochs": 20, "steps_per_epoch": 6}
    return [
        ("StepLR", s("StepLR", step_size=10), None, {}),
        ("StepLR_gamma", s("StepLR", step_size=7, gamma=0.5), None, {}),
        ("StepLR_interval_ignored", s("StepLR", step_size=9, gamma=0.8, interval="step"), None,
         {}),
        ("MultiStepLR", s("MultiStepLR", milestones=[20, 50, 80]), None, {}),
        ("MultiStepLR_gamma", s("MultiStepLR", milestones=[5, 6, 30], gamma=0.5), None, {}),
        ("ConstantLR", s("ConstantLR"), None, {}),
        ("ConstantLR_factor_total_iters", s("ConstantLR", factor=0.5, total_iters=20), None, {}),
        ("ConstantLR_factor_one", s("ConstantLR", factor=1.0, total_iters=3), None, {}),
        ("LinearLR", s("LinearLR"), None, {}),
        ("LinearLR_warmup", s("LinearLR", start_factor=0.1, total_iters=30), None, {}),
        ("LinearLR_decay", s("LinearLR", start_factor=1.0, end_factor=0.1, total_iters=60),
         None, {}),
        ("LinearLR_to_zero", s("LinearLR", start_factor=0.5, end_factor=0.0, total_iters=50),
         plain, {}),
        ("LinearLR_budget", s("LinearLR", start_factor=0.25, total_iters="epochs / 4"), None, {}),
        ("ExponentialLR", s("ExponentialLR", gamma=0.97), None, {}),
        ("ExponentialLR_growing", s("ExponentialLR", gamma=1.01), None, {}),
        ("PolynomialLR", s("PolynomialLR"), None, {}),
        ("PolynomialLR_power", s("PolynomialLR", total_iters=50, power=2.0), None, {}),
        ("PolynomialLR_sqrt", s("PolynomialLR", total_iters=80, power=0.5), None, {}),
        ("PolynomialLR_zero_total_iters", s("PolynomialLR", total_iters=0), None, {}),
        ("CosineAnnealingLR_periods", s("CosineAnnealingLR", T_max=25), None, {}),
        ("CosineAnnealingLR_eta_min", s("CosineAnnealingLR", T_max=100, eta_min=0.001), None,
         {}),
        ("CosineAnnealingLR_eta_min_above_lr",
         s("CosineAnnealingLR", T_max=30, eta_min=0.2), plain, {}),
        ("CosineAnnealingLR_budget", s("CosineAnnealingLR", T_max="epochs"), None, {}),
        ("CosineAnnealingWarmRestarts", s("CosineAnnealingWarmRestarts", T_0=10), None, {}),
        ("CosineAnnealingWarmRestarts_T_mult",
         s("CosineAnnealingWarmRestarts", T_0=5, T_mult=2, eta_min=0.01), None, {}),
        ("CosineAnnealingWarmRestarts_T_mult_3",
         s("CosineAnnealingWarmRestarts", T_0=3, T_mult=3), None, {}),
        ("CosineAnnealingWarmRestarts_budget",
         s("CosineAnnealingWarmRestarts", T_0="steps_per_epoch * 2"), None,
         {"budget": {"epochs": 10, "steps_per_epoch": 10}}),
        ("CyclicLR_triangular", s("CyclicLR", base_lr=0.01, max_lr=0.1, step_size_up=10),
         sgd_momentum, {}),
        ("CyclicLR_triangular2",
         s("CyclicLR", base_lr=0.01, max_lr=0.1, step_size_up=8, step_size_down=12,
           mode="triangular2"), sgd_momentum, {}),
        ("CyclicLR_exp_range",
         s("CyclicLR", base_lr=0.005, max_lr=0.05, step_size_up=5, mode="exp_range",
           gamma=0.99), sgd_momentum, {}),
        ("CyclicLR_scale_mode_without_scale_fn",
         s("CyclicLR", base_lr=0.01, max_lr=0.1, step_size_up=6, mode="triangular2",
           scale_mode="iterations"), sgd_momentum, {}),
        ("CyclicLR_exp_range_scale_mode_cycle",
         s("CyclicLR", base_lr=0.01, max_lr=0.1, step_size_up=7, mode="exp_range", gamma=0.98,
           scale_mode="cycle"), sgd_momentum, {}),
        ("CyclicLR_momentums",
         s("CyclicLR", base_lr=0.001, max_lr=0.02, step_size_up=15, base_momentum=0.7,
           max_momentum=0.95), rmsprop_momentum, {}),
        ("CyclicLR_no_momentum_cycle",
         s("CyclicLR", base_lr=0.001, max_lr=0.02, step_size_up=12, cycle_momentum=False),
         adam, {}),
        ("CyclicLR_nesterov",
         s("CyclicLR", base_lr=0.01, max_lr=0.05, step_size_up=4, step_size_down=2),
         {"name": "SGD", "lr": 0.1, "momentum": 0.9, "nesterov": True}, {}),
        ("OneCycleLR_cos", s("OneCycleLR", max_lr=0.1, total_steps=100), sgd_momentum, {}),
        ("OneCycleLR_linear",
         s("OneCycleLR", max_lr=0.1, total_steps=100, pct_start=0.4, anneal_strategy="linear",
           div_factor=10.0, final_div_factor=100.0), sgd_momentum, {}),
        ("OneCycleLR_three_phase",
         s("OneCycleLR", max_lr=0.2, total_steps=100, three_phase=True), sgd_momentum, {}),
        ("OneCycleLR_three_phase_linear",
         s("OneCycleLR", max_lr=0.2, total_steps=110, three_phase=True,
           anneal_strategy="linear", pct_start=0.25), rmsprop_momentum, {}),
        ("OneCycleLR_adam_betas",
         s("OneCycleLR", max_lr=0.05, total_steps=100, base_momentum=0.8, max_momentum=0.9),
         adam, {}),
        ("OneCycleLR_adamw", s("OneCycleLR", max_lr=0.05, total_steps=100),
         {"name": "AdamW", "lr": 0.01, "amsgrad": True}, {}),
        ("OneCycleLR_adamax", s("OneCycleLR", max_lr=0.05, total_steps=100, three_phase=True),
         {"name": "Adamax"}, {}),
        ("OneCycleLR_nadam",
         s("OneCycleLR", max_lr=0.05, total_steps=100, anneal_strategy="linear"),
         {"name": "NAdam"}, {}),
        ("OneCycleLR_radam", s("OneCycleLR", max_lr=0.05, total_steps=100), {"name": "RAdam"},
         {}),
        ("OneCycleLR_no_momentum_cycle",
         s("OneCycleLR", max_lr=0.3, total_steps=100, cycle_momentum=False),
         {"name": "Adagrad"}, {}),
        ("OneCycleLR_epochs_steps_per_epoch",
         s("OneCycleLR", max_lr=0.1, epochs=10, steps_per_epoch=10), sgd_momentum, {}),
        ("OneCycleLR_unfinished", s("OneCycleLR", max_lr=0.1, total_steps=150), sgd_momentum,
         {}),
        ("OneCycleLR_zero_pct_start",
         s("OneCycleLR", max_lr=0.1, total_steps=100, pct_start=0.0), sgd_momentum, {}),
        ("OneCycleLR_budget_interval_ignored",
         s("OneCycleLR", max_lr=0.1, total_steps="epochs * steps_per_epoch", interval="epoch"),
         sgd_momentum, {"steps": 120, "budget": steps_budget}),
        ("LambdaLR_power", s("LambdaLR", lr_lambda="0.95^epoch"), None, {}),
        ("LambdaLR_inverse", s("LambdaLR", lr_lambda="1 / (1 + 0.05 * epoch)"), None, {}),
        ("LambdaLR_cosine", s("LambdaLR", lr_lambda="0.5 * (1 + cos(_pi * epoch / 100))"),
         None, {}),
        ("MultiplicativeLR_constant", s("MultiplicativeLR", lr_lambda="0.97"), None, {}),
        ("MultiplicativeLR_linear", s("MultiplicativeLR", lr_lambda="1 - 0.002 * epoch"), None,
         {}),
        ("MultiplicativeLR_exp", s("MultiplicativeLR", lr_lambda="exp(-0.01 * sqrt(epoch))"),
         None, {}),
        ("ReduceLROnPlateau_min_rel",
         s("ReduceLROnPlateau", patience=3), plain, {}),
        ("ReduceLROnPlateau_min_abs_cooldown",
         s("ReduceLROnPlateau", threshold_mode="abs", threshold=0.005, patience=2, cooldown=3,
           factor=0.5), None, {}),
        ("ReduceLROnPlateau_max_rel_min_lr",
         s("ReduceLROnPlateau", mode="max", monitor="val_miou", patience=2, factor=0.3,
           min_lr=0.002, threshold=0.01), plain, {}),
        ("ReduceLROnPlateau_max_abs_eps",
         s("ReduceLROnPlateau", mode="max", monitor="val_miou", threshold_mode="abs",
           threshold=0.0, patience=1, factor=0.5, eps=0.002), plain, {}),
        ("ReduceLROnPlateau_defaults", s("ReduceLROnPlateau"), None, {"steps": 200}),
        ("ReduceLROnPlateau_min_rel_everything",
         s("ReduceLROnPlateau", factor=0.7, patience=4, threshold=0.02, cooldown=1,
           min_lr=0.02, eps=1e-4), plain, {}),
        ("SequentialLR_warmup_cosine",
         s("SequentialLR", schedulers=[s("LinearLR", start_factor=0.1, total_iters=10),
                                       s("CosineAnnealingLR", T_max=90)], milestones=[10]),
         None, {}),
        ("SequentialLR_three",
         s("SequentialLR", schedulers=[s("ConstantLR", factor=0.5, total_iters=5),
                                       s("ExponentialLR", gamma=0.97),
                                       s("StepLR", step_size=10, gamma=0.5)],
           milestones=[20, 60]), None, {}),
        ("SequentialLR_docs_example",
         s("SequentialLR", schedulers=[s("ConstantLR", factor=0.1, total_iters=2),
                                       s("ExponentialLR", gamma=0.9)], milestones=[2]),
         None, {}),
        ("SequentialLR_closed_forms",
         s("SequentialLR", schedulers=[s("PolynomialLR", total_iters=30, power=2.0),
                                       s("MultiStepLR", milestones=[40, 70], gamma=0.5),
                                       s("CosineAnnealingWarmRestarts", T_0=10, T_mult=2)],
           milestones=[30, 60]), None, {}),
        ("SequentialLR_lambdas",
         s("SequentialLR", schedulers=[s("LambdaLR", lr_lambda="0.97^epoch"),
                                       s("MultiplicativeLR", lr_lambda="0.99")],
           milestones=[50]), None, {}),
        ("SequentialLR_budget",
         s("SequentialLR", schedulers=[s("LinearLR", start_factor=0.2, total_iters=20),
                                       s("CosineAnnealingLR", T_max="epochs - 20",
                                         eta_min=0.001)], milestones=[20]), None, {}),
        ("ChainedScheduler_docs_example",
         s("ChainedScheduler", schedulers=[s("ConstantLR", factor=0.1, total_iters=2),
                                           s("ExponentialLR", gamma=0.9)]), None, {}),
        ("ChainedScheduler_three",
         s("ChainedScheduler", schedulers=[s("LinearLR", start_factor=0.25, total_iters=8),
                                           s("StepLR", step_size=15, gamma=0.7),
                                           s("ExponentialLR", gamma=0.99)]), None, {}),
        ("ChainedScheduler_multistep_cosine_constant",
         s("ChainedScheduler", schedulers=[s("MultiStepLR", milestones=[25, 50, 75],
                                             gamma=0.5),
                                           s("CosineAnnealingLR", T_max=20),
                                           s("ConstantLR", factor=0.5, total_iters=30)]),
         None, {}),
        ("ChainedScheduler_multiplicative_restarts",
         s("ChainedScheduler", schedulers=[s("MultiplicativeLR", lr_lambda="0.995"),
                                           s("CosineAnnealingWarmRestarts", T_0=15,
                                             T_mult=2)]), None, {}),
    ]


def trajectories():
    entries = []
    for case_id, optimizer, shapes in optimizer_cases():
        case = make_case(case_id, optimizer, shapes=shapes or ((3,), (2,)))
        entries.append({"id": case_id, "case": case})
    for index, (case_id, scheduler, optimizer, extra) in enumerate(scheduler_cases()):
        optimizer = optimizer or ROTATION[index % len(ROTATION)]
        case_id = "%s__%s" % (case_id, optimizer["name"])
        case = make_case(case_id, optimizer, scheduler, steps=extra.get("steps", STEPS),
                         budget=extra.get("budget"))
        entries.append({"id": case_id, "case": case})
    for entry in entries:
        entry["expected"] = run_trace(entry["case"])
        check_trajectory(entry, entry["id"].split("__")[0])
    return entries


# Scheduler cases whose lr stays put by design: ConstantLR with factor 1,
# PolynomialLR with no iterations to decay over.
CONSTANT_LR_CASES = {"ConstantLR_factor_one", "PolynomialLR_zero_total_iters"}


def check_trajectory(entry, scheduler_case_id=None):
    """Guards against fixtures that would test little."""
    expected = entry["expected"]
    scheduler = entry["case"].get("scheduler")
    lrs = expected["lr"]
    if scheduler is not None and len(set(lrs)) < 2 and \
            scheduler_case_id not in CONSTANT_LR_CASES:
        sys.exit("%s: the scheduler never changes the lr" % entry["id"])
    if scheduler is not None and scheduler["name"] == "ReduceLROnPlateau":
        reductions = sum(1 for a, b in zip(lrs, lrs[1:]) if b < a)
        if reductions < 3:
            sys.exit("%s: ReduceLROnPlateau reduces the lr only %d times" % (
                entry["id"], reductions))
    if entry["case"]["optimizer"].get("lr") != 0.0 and \
            expected["params"][-1] == entry["case"]["params"]:
        sys.exit("%s: the params never move" % entry["id"])


# --- rejections ----------------------------------------------------------------

def rejection_cases():
    """(id, optimizer, scheduler, argument): cases torch refuses, and the
    argument segtune's error must name."""
    o = lambda name, **args: dict(name=name, **args)  # noqa: E731
    s = o
    sgd = o("SGD", lr=0.1, momentum=0.9)
    adam = o("Adam")
    cases = [
        ("SGD_negative_lr", o("SGD", lr=-0.1), None, "optimizer.lr"),
        ("SGD_missing_lr", o("SGD", momentum=0.9), None, "optimizer.lr"),
        ("SGD_negative_momentum", o("SGD", lr=0.1, momentum=-0.5), None, "optimizer.momentum"),
        ("SGD_negative_weight_decay", o("SGD", lr=0.1, weight_decay=-1.0), None,
         "optimizer.weight_decay"),
        ("SGD_nesterov_without_momentum", o("SGD", lr=0.1, nesterov=True), None,
         "optimizer.nesterov"),
        ("SGD_nesterov_with_dampening",
         o("SGD", lr=0.1, momentum=0.9, dampening=0.1, nesterov=True), None,
         "optimizer.nesterov"),
        ("Adam_unknown_argument", o("Adam", momentum=0.9), None, "optimizer.momentum"),
        ("Optimizer_unknown_name", o("Lion", lr=0.1), None, "optimizer.name"),
        ("LBFGS_needs_a_closure", o("LBFGS"), None, "optimizer.name"),
    ]
    for name in ("Adam", "AdamW", "Adamax", "NAdam", "RAdam"):
        cases += [
            ("%s_negative_lr" % name, o(name, lr=-0.001), None, "optimizer.lr"),
            ("%s_negative_eps" % name, o(name, eps=-1e-8), None, "optimizer.eps"),
            ("%s_beta1_one" % name, o(name, betas=[1.0, 0.999]), None, "optimizer.betas"),
            ("%s_beta2_one" % name, o(name, betas=[0.9, 1.0]), None, "optimizer.betas"),
            ("%s_negative_beta1" % name, o(name, betas=[-0.1, 0.999]), None, "optimizer.betas"),
            ("%s_negative_weight_decay" % name, o(name, weight_decay=-0.1), None,
             "optimizer.weight_decay"),
        ]
    cases += [
        ("NAdam_negative_momentum_decay", o("NAdam", momentum_decay=-0.004), None,
         "optimizer.momentum_decay"),
        ("Adagrad_negative_lr", o("Adagrad", lr=-0.01), None, "optimizer.lr"),
        ("Adagrad_negative_lr_decay", o("Adagrad", lr_decay=-0.1), None, "optimizer.lr_decay"),
        ("Adagrad_negative_weight_decay", o("Adagrad", weight_decay=-0.1), None,
         "optimizer.weight_decay"),
        ("Adagrad_negative_initial_accumulator_value",
         o("Adagrad", initial_accumulator_value=-0.1), None,
         "optimizer.initial_accumulator_value"),
        ("Adagrad_negative_eps", o("Adagrad", eps=-1e-10), None, "optimizer.eps"),
        ("RMSprop_negative_lr", o("RMSprop", lr=-0.01), None, "optimizer.lr"),
        ("RMSprop_negative_alpha", o("RMSprop", alpha=-0.1), None, "optimizer.alpha"),
        ("RMSprop_negative_eps", o("RMSprop", eps=-1e-8), None, "optimizer.eps"),
        ("RMSprop_negative_momentum", o("RMSprop", momentum=-0.1), None, "optimizer.momentum"),
        ("RMSprop_negative_weight_decay", o("RMSprop", weight_decay=-0.1), None,
         "optimizer.weight_decay"),
        ("Adadelta_negative_lr", o("Adadelta", lr=-1.0), None, "optimizer.lr"),
        ("Adadelta_rho_above_one", o("Adadelta", rho=1.1), None, "optimizer.rho"),
        ("Adadelta_negative_rho", o("Adadelta", rho=-0.1), None, "optimizer.rho"),
        ("Adadelta_negative_eps", o("Adadelta", eps=-1e-6), None, "optimizer.eps"),
        ("Adadelta_negative_weight_decay", o("Adadelta", weight_decay=-0.1), None,
         "optimizer.weight_decay"),
        ("ASGD_negative_lr", o("ASGD", lr=-0.01), None, "optimizer.lr"),
        ("ASGD_negative_weight_decay", o("ASGD", weight_decay=-0.1), None,
         "optimizer.weight_decay"),
        ("Rprop_negative_lr", o("Rprop", lr=-0.01), None, "optimizer.lr"),
        ("Rprop_etas_minus_one", o("Rprop", etas=[1.0, 1.2]), None, "optimizer.etas"),
        ("Rprop_etas_minus_zero", o("Rprop", etas=[0.0, 1.2]), None, "optimizer.etas"),
        ("Rprop_etas_plus_one", o("Rprop", etas=[0.5, 1.0]), None, "optimizer.etas"),
        ("Scheduler_unknown_name", sgd, s("WarmupLR", warmup=5), "scheduler.name"),
        ("StepLR_missing_step_size", sgd, s("StepLR", gamma=0.5), "scheduler.step_size"),
        ("StepLR_zero_step_size", sgd, s("StepLR", step_size=0), "scheduler.step_size"),
        ("MultiStepLR_missing_milestones", sgd, s("MultiStepLR"), "scheduler.milestones"),
        ("ExponentialLR_missing_gamma", sgd, s("ExponentialLR"), "scheduler.gamma"),
        ("ConstantLR_factor_above_one", sgd, s("ConstantLR", factor=1.5), "scheduler.factor"),
        ("ConstantLR_negative_factor", sgd, s("ConstantLR", factor=-0.1), "scheduler.factor"),
        ("ConstantLR_zero_factor", sgd, s("ConstantLR", factor=0.0, total_iters=3),
         "scheduler.factor"),
        ("LinearLR_start_factor_above_one", sgd, s("LinearLR", start_factor=1.5),
         "scheduler.start_factor"),
        ("LinearLR_negative_start_factor", sgd, s("LinearLR", start_factor=-0.1),
         "scheduler.start_factor"),
        ("LinearLR_zero_start_factor", sgd, s("LinearLR", start_factor=0.0),
         "scheduler.start_factor"),
        ("LinearLR_end_factor_above_one", sgd, s("LinearLR", end_factor=2.0),
         "scheduler.end_factor"),
        ("LinearLR_negative_end_factor", sgd, s("LinearLR", end_factor=-1.0),
         "scheduler.end_factor"),
        ("CosineAnnealingLR_missing_T_max", sgd, s("CosineAnnealingLR"), "scheduler.T_max"),
        ("CosineAnnealingLR_zero_T_max", sgd, s("CosineAnnealingLR", T_max=0),
         "scheduler.T_max"),
        ("CosineAnnealingWarmRestarts_missing_T_0", sgd, s("CosineAnnealingWarmRestarts"),
         "scheduler.T_0"),
        ("CosineAnnealingWarmRestarts_zero_T_0", sgd, s("CosineAnnealingWarmRestarts", T_0=0),
         "scheduler.T_0"),
        ("CosineAnnealingWarmRestarts_negative_T_0", sgd,
         s("CosineAnnealingWarmRestarts", T_0=-1), "scheduler.T_0"),
        ("CosineAnnealingWarmRestarts_fractional_T_0", sgd,
         s("CosineAnnealingWarmRestarts", T_0=2.5), "scheduler.T_0"),
        ("CosineAnnealingWarmRestarts_zero_T_mult", sgd,
         s("CosineAnnealingWarmRestarts", T_0=5, T_mult=0), "scheduler.T_mult"),
        ("CosineAnnealingWarmRestarts_fractional_T_mult", sgd,
         s("CosineAnnealingWarmRestarts", T_0=5, T_mult=1.5), "scheduler.T_mult"),
        ("CyclicLR_missing_max_lr", sgd, s("CyclicLR", base_lr=0.01), "scheduler.max_lr"),
        ("CyclicLR_missing_base_lr", sgd, s("CyclicLR", max_lr=0.1), "scheduler.base_lr"),
        ("CyclicLR_unknown_mode", sgd, s("CyclicLR", base_lr=0.01, max_lr=0.1, mode="sawtooth"),
         "scheduler.mode"),
        ("CyclicLR_cycle_momentum_without_momentum", adam,
         s("CyclicLR", base_lr=0.001, max_lr=0.01), "scheduler.cycle_momentum"),
        ("CyclicLR_zero_step_size_up", sgd,
         s("CyclicLR", base_lr=0.01, max_lr=0.1, step_size_up=0), "scheduler.step_size_up"),
        ("OneCycleLR_missing_max_lr", sgd, s("OneCycleLR", total_steps=10),
         "scheduler.max_lr"),
        ("OneCycleLR_no_length", sgd, s("OneCycleLR", max_lr=0.1), "scheduler.total_steps"),
        ("OneCycleLR_zero_total_steps", sgd, s("OneCycleLR", max_lr=0.1, total_steps=0),
         "scheduler.total_steps"),
        ("OneCycleLR_negative_total_steps", sgd, s("OneCycleLR", max_lr=0.1, total_steps=-5),
         "scheduler.total_steps"),
        ("OneCycleLR_zero_epochs", sgd,
         s("OneCycleLR", max_lr=0.1, epochs=0, steps_per_epoch=10), "scheduler.epochs"),
        ("OneCycleLR_zero_steps_per_epoch", sgd,
         s("OneCycleLR", max_lr=0.1, epochs=10, steps_per_epoch=0),
         "scheduler.steps_per_epoch"),
        ("OneCycleLR_epochs_without_steps_per_epoch", sgd,
         s("OneCycleLR", max_lr=0.1, epochs=10), "scheduler.steps_per_epoch"),
        ("OneCycleLR_pct_start_above_one", sgd,
         s("OneCycleLR", max_lr=0.1, total_steps=10, pct_start=1.5), "scheduler.pct_start"),
        ("OneCycleLR_negative_pct_start", sgd,
         s("OneCycleLR", max_lr=0.1, total_steps=10, pct_start=-0.1), "scheduler.pct_start"),
        ("OneCycleLR_unknown_anneal_strategy", sgd,
         s("OneCycleLR", max_lr=0.1, total_steps=10, anneal_strategy="exp"),
         "scheduler.anneal_strategy"),
        ("OneCycleLR_zero_div_factor", sgd,
         s("OneCycleLR", max_lr=0.1, total_steps=10, div_factor=0.0), "scheduler.div_factor"),
        ("OneCycleLR_zero_final_div_factor", sgd,
         s("OneCycleLR", max_lr=0.1, total_steps=10, final_div_factor=0.0),
         "scheduler.final_div_factor"),
        ("OneCycleLR_cycle_momentum_without_momentum", o("Adagrad"),
         s("OneCycleLR", max_lr=0.1, total_steps=10), "scheduler.cycle_momentum"),
        ("OneCycleLR_more_steps_than_total_steps", sgd,
         s("OneCycleLR", max_lr=0.1, total_steps=3), "scheduler.total_steps"),
        ("LambdaLR_missing_lr_lambda", sgd, s("LambdaLR"), "scheduler.lr_lambda"),
        ("MultiplicativeLR_missing_lr_lambda", sgd, s("MultiplicativeLR"),
         "scheduler.lr_lambda"),
        ("ReduceLROnPlateau_factor_one", sgd, s("ReduceLROnPlateau", factor=1.0),
         "scheduler.factor"),
        ("ReduceLROnPlateau_unknown_mode", sgd, s("ReduceLROnPlateau", mode="maximum"),
         "scheduler.mode"),
        ("ReduceLROnPlateau_unknown_threshold_mode", sgd,
         s("ReduceLROnPlateau", threshold_mode="relative"), "scheduler.threshold_mode"),
        ("SequentialLR_missing_milestones", sgd,
         s("SequentialLR", schedulers=[s("ConstantLR"), s("ExponentialLR", gamma=0.9)]),
         "scheduler.milestones"),
        ("SequentialLR_too_many_milestones", sgd,
         s("SequentialLR", schedulers=[s("ConstantLR"), s("ExponentialLR", gamma=0.9)],
           milestones=[2, 4]), "scheduler.milestones"),
        ("SequentialLR_too_few_milestones", sgd,
         s("SequentialLR", schedulers=[s("ConstantLR"), s("ExponentialLR", gamma=0.9),
                                       s("StepLR", step_size=2)], milestones=[2]),
         "scheduler.milestones"),
        ("SequentialLR_plateau_inside", sgd,
         s("SequentialLR", schedulers=[s("ReduceLROnPlateau"), s("ExponentialLR", gamma=0.9)],
           milestones=[2]), "scheduler.schedulers[0].name"),
        ("ChainedScheduler_plateau_inside", sgd,
         s("ChainedScheduler", schedulers=[s("ExponentialLR", gamma=0.9),
                                           s("ReduceLROnPlateau")]),
         "scheduler.schedulers[1].name"),
        ("ChainedScheduler_invalid_child", sgd,
         s("ChainedScheduler", schedulers=[s("ExponentialLR", gamma=0.9),
                                           s("LinearLR", start_factor=2.0)]),
         "scheduler.schedulers[1].start_factor"),
    ]
    return cases


def segtune_rejection_cases():
    """(id, optimizer, scheduler, argument, reason): cases torch runs but
    segtune refuses on purpose."""
    s = lambda name, **args: dict(name=name, **args)  # noqa: E731
    sgd = {"name": "SGD", "lr": 0.1, "momentum": 0.9}
    return [
        ("StepLR_negative_step_size", sgd, s("StepLR", step_size=-3), "scheduler.step_size",
         "a period must be >= 1"),
        ("StepLR_zero_gamma", sgd, s("StepLR", step_size=2, gamma=0.0), "scheduler.gamma",
         "a decay factor must be > 0"),
        ("MultiStepLR_decreasing_milestones", sgd, s("MultiStepLR", milestones=[3, 2]),
         "scheduler.milestones", "milestones must be strictly increasing"),
        ("MultiStepLR_repeated_milestones", sgd, s("MultiStepLR", milestones=[2, 2]),
         "scheduler.milestones", "milestones must be strictly increasing"),
        ("MultiStepLR_empty_milestones", sgd, s("MultiStepLR", milestones=[]),
         "scheduler.milestones", "at least one milestone"),
        ("MultiStepLR_zero_milestone", sgd, s("MultiStepLR", milestones=[0, 2]),
         "scheduler.milestones", "milestones are epochs >= 1"),
        ("MultiStepLR_negative_gamma", sgd, s("MultiStepLR", milestones=[2], gamma=-0.5),
         "scheduler.gamma", "a decay factor must be > 0"),
        ("ExponentialLR_zero_gamma", sgd, s("ExponentialLR", gamma=0.0), "scheduler.gamma",
         "a decay factor must be > 0"),
        ("CosineAnnealingLR_negative_T_max", sgd, s("CosineAnnealingLR", T_max=-5),
         "scheduler.T_max", "a period must be >= 1"),
        ("CosineAnnealingLR_negative_eta_min", sgd, s("CosineAnnealingLR", T_max=5,
                                                      eta_min=-0.01),
         "scheduler.eta_min", "a learning rate must be >= 0"),
        ("CosineAnnealingWarmRestarts_negative_eta_min", sgd,
         s("CosineAnnealingWarmRestarts", T_0=3, eta_min=-0.01), "scheduler.eta_min",
         "a learning rate must be >= 0"),
        ("CyclicLR_negative_step_size_down", sgd,
         s("CyclicLR", base_lr=0.01, max_lr=0.1, step_size_up=4, step_size_down=-1),
         "scheduler.step_size_down", "a number of steps must be >= 0"),
        ("OneCycleLR_negative_div_factor", sgd,
         s("OneCycleLR", max_lr=0.1, total_steps=10, div_factor=-25.0), "scheduler.div_factor",
         "a negative divisor makes the learning rates negative"),
        ("StepLR_unknown_interval", sgd, s("StepLR", step_size=2, interval="batch"),
         "scheduler.interval", "a scheduler steps per epoch or per step"),
        ("ReduceLROnPlateau_step_interval", sgd, s("ReduceLROnPlateau", interval="step"),
         "scheduler.interval", "the metrics it watches come once per epoch"),
        ("ReduceLROnPlateau_zero_factor", sgd, s("ReduceLROnPlateau", factor=0.0),
         "scheduler.factor", "a decay factor must be > 0"),
        ("ReduceLROnPlateau_negative_patience", sgd, s("ReduceLROnPlateau", patience=-1),
         "scheduler.patience", "a count of epochs must be >= 0"),
        ("ReduceLROnPlateau_negative_threshold", sgd, s("ReduceLROnPlateau", threshold=-0.1),
         "scheduler.threshold", "a threshold must be >= 0"),
        ("ReduceLROnPlateau_negative_cooldown", sgd, s("ReduceLROnPlateau", cooldown=-1),
         "scheduler.cooldown", "a count of epochs must be >= 0"),
        ("ReduceLROnPlateau_negative_min_lr", sgd, s("ReduceLROnPlateau", min_lr=-0.1),
         "scheduler.min_lr", "a learning rate must be >= 0"),
        ("ReduceLROnPlateau_negative_eps", sgd, s("ReduceLROnPlateau", eps=-1e-8),
         "scheduler.eps", "eps must be >= 0"),
        ("ReduceLROnPlateau_unknown_monitor", sgd, s("ReduceLROnPlateau", monitor="accuracy"),
         "scheduler.monitor", "monitor must name a metric the trainer reports"),
        ("ReduceLROnPlateau_max_mode_on_a_loss", sgd, s("ReduceLROnPlateau", mode="max"),
         "scheduler.mode", "mode max on the default monitor val_loss is almost surely a mistake"),
        ("LambdaLR_syntax_error", sgd, s("LambdaLR", lr_lambda="0.95^"), "scheduler.lr_lambda",
         "the expression does not parse"),
        ("LambdaLR_unknown_variable", sgd, s("LambdaLR", lr_lambda="0.95^step"),
         "scheduler.lr_lambda", "the expression's only variable is epoch"),
    ]


def rejections():
    entries = []
    for case_id, optimizer, scheduler, argument in rejection_cases():
        case = make_case(case_id, optimizer, scheduler, steps=REJECTION_STEPS)
        try:
            run_trace(case)
        except Exception as error:  # noqa: BLE001: torch raises ValueError, TypeError, ...
            entries.append({"id": case_id, "case": case, "argument": argument,
                            "torch_error": "%s: %s" % (type(error).__name__, error)})
            continue
        sys.exit("%s: torch runs this case, so it is no rejection" % case_id)
    return entries


def segtune_rejections():
    entries = []
    for case_id, optimizer, scheduler, argument, reason in segtune_rejection_cases():
        case = make_case(case_id, optimizer, scheduler, steps=REJECTION_STEPS)
        # torch takes a Python callable, not an expression: nothing to run.
        if argument != "scheduler.lr_lambda":
            try:
                run_trace(case)
            except Exception as error:  # noqa: BLE001
                sys.exit("%s: torch refuses it (%s), so it belongs among the rejections" % (
                    case_id, error))
        entries.append({"id": case_id, "case": case, "argument": argument, "reason": reason})
    return entries


# --- coverage --------------------------------------------------------------------

def algorithm_args(cls):
    return {name: p.default for name, p in inspect.signature(cls.__init__).parameters.items()
            if name not in NOT_ALGORITHM_ARGS and p.kind != p.VAR_KEYWORD}


def check_coverage(entries):
    """Every optimizer and scheduler appears, and every argument of each
    takes a non-default value somewhere."""
    seen = {}

    def note(spec):
        args = seen.setdefault(spec["name"], set())
        for key, value in spec.items():
            if key == "schedulers":
                for inner in value:
                    note(inner)
            if key != "name" and key not in SEGTUNE_ONLY_ARGS:
                args.add((key, json.dumps(value)))

    for entry in entries:
        note(entry["case"]["optimizer"])
        if "scheduler" in entry["case"]:
            note(entry["case"]["scheduler"])
    problems = []
    for name in OPTIMIZERS + SCHEDULERS:
        if name not in seen:
            problems.append("%s is never traced" % name)
            continue
        module = torch.optim if name in OPTIMIZERS else torch.optim.lr_scheduler
        for arg, default in algorithm_args(getattr(module, name)).items():
            default_text = json.dumps(list(default) if isinstance(default, tuple) else default,
                                      default=str)
            if not any(key == arg and value != default_text for key, value in seen[name]):
                problems.append("%s.%s never differs from its default" % (name, arg))
    if problems:
        sys.exit("coverage:\n  " + "\n  ".join(problems))


# --- output ----------------------------------------------------------------------

def render(sections):
    """One entry per line, so that a regenerated file diffs readably."""
    lines = ['{"generator": "tests/optim/parity/make_fixtures.py", "torch": %s,' %
             json.dumps(torch.__version__)]
    for index, (name, entries) in enumerate(sections):
        lines.append(' "%s": [' % name)
        lines.append(",\n".join(json.dumps(entry, separators=(",", ":")) for entry in entries))
        lines.append(" ]%s" % ("," if index + 1 < len(sections) else "}"))
    return "\n".join(lines) + "\n"


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default=os.path.join(HERE, "fixtures.json"))
    parser.add_argument("--check", action="store_true",
                        help="only check that --out holds what this script generates")
    args = parser.parse_args()
    if not torch.__version__.startswith("1.13"):
        sys.exit("torch %s: the fixtures are torch 1.13's" % torch.__version__)
    torch.set_num_threads(1)
    traced = trajectories()
    check_coverage(traced)
    sections = [("trajectories", traced), ("rejections", rejections()),
                ("segtune_rejections", segtune_rejections())]
    text = render(sections)
    summary = ", ".join("%d %s" % (len(entries), name) for name, entries in sections)
    if args.check:
        with open(args.out) as existing:
            if existing.read() != text:
                sys.exit("%s is not what make_fixtures.py generates: regenerate it" % args.out)
        print("%s: up to date (%s)" % (args.out, summary))
        return
    with open(args.out, "w") as out:
        out.write(text)
    print("%s: %s" % (args.out, summary))


if __name__ == "__main__":
    main()
