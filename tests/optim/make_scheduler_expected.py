#!/usr/bin/python3
"""Writes scheduler_expected.inc: what PyTorch 1.13's schedulers do in the
cases of scheduler_test.cc, which builds the same schedulers (same names,
optimizers and arguments) with segtune's C++ classes.

For every case: the lr of every param group right after the scheduler is
constructed and after each step, flattened [point][group]; with momentum
cycling, every group's momentum (or betas[0]) likewise; the metrics that
ReduceLROnPlateau is stepped with; the epochs of step(epoch) cases.

Run with Debian's python3-torch:  /usr/bin/python3 tests/optim/make_scheduler_expected.py
"""
import os
import warnings

import torch
from torch.optim import lr_scheduler as L

warnings.filterwarnings("ignore")  # step(epoch) is deprecated; step order

STEPS = 40
# step(epoch) cases: jumps back and forth, past every schedule's end.
EPOCHS = [0, 1, 2, 7, 3, 3, 12, 5, 30, 17, 4, 9, 25, 6, 11, 0, 40, 8, 13, 21, 2, 33, 15, 10, 19,
          1, 28, 14, 50, 16]
# Closed forms with Python's floor division and negative powers.
NEGATIVE_EPOCHS = EPOCHS[:10] + [-1, -4, -3] + EPOCHS[10:]
# A validation loss that improves, stalls, gets worse, improves again.
LOSS = [1.0, 0.9, 0.85, 0.86, 0.849, 0.85, 0.851, 0.84, 0.8, 0.81, 0.805, 0.8, 0.8, 0.79, 0.9,
        0.95, 0.7, 0.69, 0.69, 0.695, 0.68, 0.7, 0.71, 0.72, 0.6, 0.6, 0.59, 0.61, 0.6, 0.58,
        0.58, 0.58, 0.57, 0.6, 0.6, 0.6, 0.5, 0.52, 0.51, 0.5]
SCORE = [0.1, 0.2, 0.2, 0.205, 0.21, 0.3, 0.3, 0.3, 0.31, 0.305, 0.32, 0.32, 0.4, 0.39, 0.41,
         0.41, 0.41, 0.42, 0.5, 0.5, 0.495, 0.5, 0.51, 0.52, 0.52, 0.6, 0.6, 0.6, 0.6, 0.61,
         0.62, 0.62, 0.7, 0.69, 0.7, 0.7, 0.71, 0.71, 0.72, 0.72]


def optimizer(name, extra_lrs=(), **kwargs):
    """One float64 parameter per param group; the extra groups' lrs given."""
    groups = [{"params": [torch.zeros(1, dtype=torch.float64, requires_grad=True)]}]
    for lr in extra_lrs:
        groups.append({"params": [torch.zeros(1, dtype=torch.float64, requires_grad=True)],
                       "lr": lr})
    return getattr(torch.optim, name)(groups, **kwargs)


def sgd(extra_lrs=(), momentum=0.0):
    return optimizer("SGD", extra_lrs, lr=0.1, momentum=momentum)


def adam(extra_lrs=()):
    return optimizer("Adam", extra_lrs, lr=0.1)


def rmsprop(extra_lrs=()):
    return optimizer("RMSprop", extra_lrs, lr=0.1, momentum=0.5)


CASES = []


def case(name, make_optimizer, make_scheduler, momentum=False, steps=STEPS, epochs=None,
         metrics=None):
    CASES.append(dict(name=name, make_optimizer=make_optimizer, make_scheduler=make_scheduler,
                      momentum=momentum, steps=steps, epochs=epochs, metrics=metrics))


# LambdaLR and MultiplicativeLR: the C++ lr_lambda expressions are in the
# comments.
case("LambdaLR", sgd, lambda o: L.LambdaLR(o, lambda epoch: 0.95 ** epoch))  # "0.95 ^ epoch"
# "1 / (1 + 0.3 * epoch) * (epoch < epochs / 2 ? 1 : 0.5)" with epochs 20
case("LambdaLR_budget", lambda: sgd([0.02]),
     lambda o: L.LambdaLR(o, lambda epoch: 1 / (1 + 0.3 * epoch) * (1 if epoch < 20 / 2 else 0.5)))
case("MultiplicativeLR", sgd, lambda o: L.MultiplicativeLR(o, lambda epoch: 0.95))  # "0.95"
# "1 - 0.1 / (epoch + steps_per_epoch)" with steps_per_epoch 5
case("MultiplicativeLR_budget", lambda: sgd([0.02]),
     lambda o: L.MultiplicativeLR(o, lambda epoch: 1 - 0.1 / (epoch + 5)))

case("StepLR", sgd, lambda o: L.StepLR(o, 3))
case("StepLR_gamma", sgd, lambda o: L.StepLR(o, 4, gamma=0.5))
case("MultiStepLR", sgd, lambda o: L.MultiStepLR(o, [5, 12, 20]))
case("MultiStepLR_gamma", sgd, lambda o: L.MultiStepLR(o, [3, 8, 8, 15], gamma=0.3))
case("ConstantLR", sgd, lambda o: L.ConstantLR(o))
case("ConstantLR_args", sgd, lambda o: L.ConstantLR(o, factor=0.5, total_iters=10))
case("LinearLR", sgd, lambda o: L.LinearLR(o))
case("LinearLR_args", lambda: sgd([0.02]),
     lambda o: L.LinearLR(o, start_factor=0.25, end_factor=0.75, total_iters=12))
case("ExponentialLR", sgd, lambda o: L.ExponentialLR(o, 0.9))
case("PolynomialLR", sgd, lambda o: L.PolynomialLR(o))
case("PolynomialLR_args", sgd, lambda o: L.PolynomialLR(o, total_iters=30, power=2.5))
case("CosineAnnealingLR", sgd, lambda o: L.CosineAnnealingLR(o, 10))
case("CosineAnnealingLR_eta_min", lambda: sgd([0.02]),
     lambda o: L.CosineAnnealingLR(o, 7, eta_min=0.01))
case("CosineAnnealingWarmRestarts", sgd, lambda o: L.CosineAnnealingWarmRestarts(o, 5))
case("CosineAnnealingWarmRestarts_args", sgd,
     lambda o: L.CosineAnnealingWarmRestarts(o, 3, T_mult=2, eta_min=0.001))

case("CyclicLR", lambda: sgd(momentum=0.9),
     lambda o: L.CyclicLR(o, 0.01, 0.1, step_size_up=5), momentum=True)
case("CyclicLR_triangular2", adam,
     lambda o: L.CyclicLR(o, 0.01, 0.1, step_size_up=4, step_size_down=7, mode="triangular2",
                          cycle_momentum=False))
case("CyclicLR_exp_range", lambda: rmsprop([0.02]),
     lambda o: L.CyclicLR(o, 0.02, 0.2, step_size_up=6, mode="exp_range", gamma=0.97,
                          base_momentum=0.7, max_momentum=0.95), momentum=True)
case("OneCycleLR", lambda: sgd(momentum=0.9),
     lambda o: L.OneCycleLR(o, 0.1, total_steps=40), momentum=True)
case("OneCycleLR_linear_betas", adam,
     lambda o: L.OneCycleLR(o, 0.2, epochs=4, steps_per_epoch=10, pct_start=0.25,
                            anneal_strategy="linear", base_momentum=0.8, max_momentum=0.9,
                            div_factor=10.0, final_div_factor=100.0), momentum=True)
case("OneCycleLR_three_phase", lambda: sgd([0.02]),
     lambda o: L.OneCycleLR(o, 0.05, total_steps=35, three_phase=True, cycle_momentum=False),
     steps=35)

case("ReduceLROnPlateau", sgd, lambda o: L.ReduceLROnPlateau(o, patience=2, factor=0.5),
     metrics=LOSS)
case("ReduceLROnPlateau_max_abs", lambda: sgd([0.02]),
     lambda o: L.ReduceLROnPlateau(o, mode="max", threshold_mode="abs", threshold=0.01,
                                   patience=1, factor=0.3, cooldown=2, min_lr=0.005),
     metrics=SCORE)
case("ReduceLROnPlateau_min_abs", sgd,
     lambda o: L.ReduceLROnPlateau(o, threshold_mode="abs", threshold=0.005, patience=0,
                                   factor=0.7, eps=1e-3),
     metrics=LOSS)
case("ReduceLROnPlateau_max_rel", sgd,
     lambda o: L.ReduceLROnPlateau(o, mode="max", threshold=0.02, patience=1, cooldown=1,
                                   min_lr=0.02),
     metrics=SCORE)

case("SequentialLR_warmup_cosine", sgd,
     lambda o: L.SequentialLR(o, [L.LinearLR(o, start_factor=0.1, total_iters=5),
                                  L.CosineAnnealingLR(o, 20)], milestones=[5]))
case("SequentialLR_restarts", sgd,
     lambda o: L.SequentialLR(o, [L.ConstantLR(o, factor=0.5, total_iters=3),
                                  L.ExponentialLR(o, 0.9),
                                  L.CosineAnnealingWarmRestarts(o, 4, T_mult=2)],
                              milestones=[4, 12]))
case("SequentialLR_closed_forms", lambda: sgd([0.02]),
     lambda o: L.SequentialLR(o, [L.StepLR(o, 2, gamma=0.5),
                                  L.PolynomialLR(o, total_iters=8, power=2.0),
                                  L.LambdaLR(o, lambda epoch: 0.9 ** epoch),  # "0.9 ^ epoch"
                                  L.MultiStepLR(o, [3, 6]),
                                  L.MultiplicativeLR(o, lambda epoch: 0.97)],  # "0.97"
                              milestones=[5, 15, 22, 30]))
case("SequentialLR_linear", sgd,
     lambda o: L.SequentialLR(o, [L.ConstantLR(o, factor=0.2, total_iters=2),
                                  L.LinearLR(o, start_factor=0.5, total_iters=6),
                                  L.ExponentialLR(o, 0.95)], milestones=[3, 10]))
case("SequentialLR_one_cycle", lambda: sgd(momentum=0.9),
     lambda o: L.SequentialLR(o, [L.ExponentialLR(o, 0.8),
                                  L.OneCycleLR(o, 0.3, total_steps=40)], milestones=[6]),
     momentum=True)
case("SequentialLR_cyclic", lambda: sgd(momentum=0.9),
     lambda o: L.SequentialLR(o, [L.CyclicLR(o, 0.01, 0.1, step_size_up=3),
                                  L.ConstantLR(o, factor=0.1, total_iters=4)], milestones=[10]),
     momentum=True)
case("ChainedScheduler", sgd,
     lambda o: L.ChainedScheduler([L.ConstantLR(o, factor=0.1, total_iters=2),
                                   L.ExponentialLR(o, 0.9)]))
case("ChainedScheduler_mixed", lambda: sgd([0.02]),
     lambda o: L.ChainedScheduler([L.LinearLR(o, start_factor=0.2, total_iters=8),
                                   L.CosineAnnealingWarmRestarts(o, 6),
                                   L.MultiplicativeLR(o, lambda epoch: 0.99)]))  # "0.99"
case("ChainedScheduler_cyclic", lambda: sgd(momentum=0.9),
     lambda o: L.ChainedScheduler([L.ExponentialLR(o, 0.95),
                                   L.CyclicLR(o, 0.01, 0.05, step_size_up=4)]), momentum=True)
case("ChainedScheduler_cosine", sgd,
     lambda o: L.ChainedScheduler([L.CosineAnnealingLR(o, 8, eta_min=0.001),
                                   L.StepLR(o, 5, gamma=0.7)]))

# step(epoch): the closed forms, and get_lr() where the class has none.
case("StepLR_epochs", sgd, lambda o: L.StepLR(o, 3, gamma=0.5), epochs=NEGATIVE_EPOCHS)
case("MultiStepLR_epochs", sgd, lambda o: L.MultiStepLR(o, [5, 12, 12, 20], gamma=0.3),
     epochs=NEGATIVE_EPOCHS)
case("ConstantLR_epochs", sgd, lambda o: L.ConstantLR(o, factor=0.5, total_iters=10),
     epochs=NEGATIVE_EPOCHS)
case("LinearLR_epochs", sgd,
     lambda o: L.LinearLR(o, start_factor=0.25, end_factor=0.75, total_iters=12),
     epochs=NEGATIVE_EPOCHS)
case("ExponentialLR_epochs", sgd, lambda o: L.ExponentialLR(o, 0.9), epochs=NEGATIVE_EPOCHS)
case("PolynomialLR_epochs", sgd, lambda o: L.PolynomialLR(o, total_iters=30, power=2.5),
     epochs=NEGATIVE_EPOCHS)
case("CosineAnnealingLR_epochs", sgd, lambda o: L.CosineAnnealingLR(o, 7, eta_min=0.01),
     epochs=NEGATIVE_EPOCHS)
case("CosineAnnealingWarmRestarts_epochs", sgd,
     lambda o: L.CosineAnnealingWarmRestarts(o, 3, T_mult=2, eta_min=0.001), epochs=EPOCHS)
case("CosineAnnealingWarmRestarts_epochs_T_mult_1", sgd,
     lambda o: L.CosineAnnealingWarmRestarts(o, 4), epochs=EPOCHS)
case("LambdaLR_epochs", sgd, lambda o: L.LambdaLR(o, lambda epoch: 0.95 ** epoch),
     epochs=NEGATIVE_EPOCHS)
case("CyclicLR_epochs", lambda: sgd(momentum=0.9),
     lambda o: L.CyclicLR(o, 0.01, 0.1, step_size_up=5), momentum=True, epochs=EPOCHS)


def momentums(opt):
    return [g["betas"][0] if "betas" in g else g["momentum"] for g in opt.param_groups]


def run(c):
    opt = c["make_optimizer"]()
    scheduler = c["make_scheduler"](opt)
    lrs, moms = [], []

    def record():
        lrs.extend(g["lr"] for g in opt.param_groups)
        if c["momentum"]:
            moms.extend(momentums(opt))

    record()
    if c["metrics"] is not None:
        for metric in c["metrics"]:
            scheduler.step(metric)
            record()
    elif c["epochs"] is not None:
        for epoch in c["epochs"]:
            scheduler.step(epoch)
            record()
    else:
        for _ in range(c["steps"]):
            scheduler.step()
            record()
    return lrs, moms


def numbers(values):
    return "{" + ", ".join(repr(float(v)) for v in values) + "}"


def main():
    lines = ["// Generated by make_scheduler_expected.py with PyTorch " + torch.__version__ +
             "; do not edit.",
             "// {name, lrs [point][group], momentums [point][group], metrics, epochs}"]
    for c in CASES:
        lrs, moms = run(c)
        lines.append("{%s, %s, %s, %s, {%s}}," % (
            '"' + c["name"] + '"', numbers(lrs), numbers(moms), numbers(c["metrics"] or []),
            ", ".join(str(e) for e in c["epochs"] or [])))
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "scheduler_expected.inc")
    with open(path, "w") as out:
        out.write("\n".join(lines) + "\n")
    print("wrote %d cases to %s" % (len(CASES), path))


if __name__ == "__main__":
    main()
