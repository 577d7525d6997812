#!/usr/bin/python3
"""Writes the PyTorch reference values the `train` tests compare with (tests/train/data/).

Run with Debian's python3-torch:  /usr/bin/python3 tests/train/make_loss_fixture.py

  fixtures.json   the cases: loss specs (condense's CLI strings), optimizer options, schedules
  losses.npz      <case>.output, <case>.target, <case>.loss, and the gradients of sum(loss) with
                  respect to the output (<case>.grad_output) and, for float targets, the target
                  (<case>.grad_target); the gradient test comes with the autograd
  optimizers.npz  <case>.p<i>.init, .grad (steps, ...), .after (steps, ...) the parameter after
                  each step, <case>.lr / .momentum (steps,) set before each step, <case>.skip
                  (steps, params) 1 where the parameter has no gradient that step
  schedules.npz   <case>.lr and <case>.momentum (total steps,): the value used at each step
  clip.npz        <case>.grad<i>, <case>.clipped<i>, <case>.norm, <case>.max_norm / .clip_value
"""
import json
import math
import os

import numpy as np
import torch
import torch.nn.functional as F

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data")
torch.manual_seed(0)


def f32(*shape, scale=1.0):
    return (torch.randn(*shape) * scale).float()


# ------------------------------------------------------------------------------------------------
# Losses: (name, condense spec, output, target, torch function of (output, target))


def soft_targets(n, k):
    return torch.softmax(f32(n, k) * 2, dim=1)


def kl(t, reduction="batchmean"):
    def fn(s, te):
        return F.kl_div(F.log_softmax(s / t, dim=1), F.softmax(te / t, dim=1),
                        reduction=reduction) * t * t
    return fn


def cosine(dim):
    def fn(a, b):
        return (1 - F.cosine_similarity(a, b, dim=dim)).mean()
    return fn


# Smooth L1 inputs straddle beta = 1 and 0.5 without touching either (the kink).
sl1_out = torch.tensor([[0.2, -1.7, 3.0], [0.9, -0.3, 1.4], [-2.2, 0.05, 0.6], [1.1, -0.8, 0.0]])
sl1_tgt = torch.tensor([[0.0, 0.1, 0.3], [0.1, 0.4, -0.2], [0.0, -0.6, 0.25], [-0.3, 0.1, 0.7]])

LOSSES = [
    ("ce", "ce", f32(4, 5), torch.tensor([0, 3, 4, 1]), lambda x, y: F.cross_entropy(x, y)),
    ("ce_smooth", "ce:0.1", f32(4, 5, scale=2), torch.tensor([2, 2, 0, 4]),
     lambda x, y: F.cross_entropy(x, y, label_smoothing=0.1)),
    ("ce_sum", "ce:reduction=sum", f32(3, 4), torch.tensor([1, 0, 3]),
     lambda x, y: F.cross_entropy(x, y, reduction="sum")),
    ("ce_none_smooth", "ce:0.2:reduction=none", f32(3, 6), torch.tensor([5, 0, 2]),
     lambda x, y: F.cross_entropy(x, y, label_smoothing=0.2, reduction="none")),
    ("ce_int32_labels", "cross_entropy", f32(2, 3), torch.tensor([2, 1], dtype=torch.int32),
     lambda x, y: F.cross_entropy(x, y.long())),
    ("ce_soft", "ce", f32(4, 5), soft_targets(4, 5), lambda x, t: F.cross_entropy(x, t)),
    ("ce_soft_smooth", "ce:0.15", f32(4, 5), soft_targets(4, 5),
     lambda x, t: F.cross_entropy(x, t, label_smoothing=0.15)),
    ("ce_spatial_smooth", "ce:0.05", f32(2, 3, 4), torch.tensor([[0, 1, 2, 1], [2, 2, 0, 1]]),
     lambda x, y: F.cross_entropy(x, y, label_smoothing=0.05)),
    ("ce_batchmean_spatial", "ce:reduction=batchmean", f32(2, 3, 4),
     torch.tensor([[1, 1, 0, 2], [0, 2, 2, 1]]),
     lambda x, y: F.cross_entropy(x, y, reduction="sum") / x.shape[0]),
    ("nll", "nll", F.log_softmax(f32(4, 5), dim=1), torch.tensor([4, 0, 0, 2]),
     lambda x, y: F.nll_loss(x, y)),
    ("nll_sum", "nll:reduction=sum", F.log_softmax(f32(3, 5), dim=1), torch.tensor([1, 2, 3]),
     lambda x, y: F.nll_loss(x, y, reduction="sum")),
    ("mse", "mse", f32(4, 3), f32(4, 3), lambda x, t: F.mse_loss(x, t)),
    ("mse_sum", "mse:reduction=sum", f32(2, 3, 2), f32(2, 3, 2),
     lambda x, t: F.mse_loss(x, t, reduction="sum")),
    ("mse_none", "mse:reduction=none", f32(2, 3), f32(2, 3),
     lambda x, t: F.mse_loss(x, t, reduction="none")),
    ("l1", "l1", f32(4, 3), f32(4, 3), lambda x, t: F.l1_loss(x, t)),
    ("l1_batchmean", "l1:reduction=batchmean", f32(3, 4), f32(3, 4),
     lambda x, t: F.l1_loss(x, t, reduction="sum") / 3),
    ("smooth_l1", "smooth_l1", sl1_out, sl1_tgt, lambda x, t: F.smooth_l1_loss(x, t)),
    ("smooth_l1_beta05", "smooth_l1:0.5", sl1_out, sl1_tgt,
     lambda x, t: F.smooth_l1_loss(x, t, beta=0.5)),
    ("smooth_l1_beta0", "smooth_l1:beta=0:reduction=sum", sl1_out, sl1_tgt,
     lambda x, t: F.smooth_l1_loss(x, t, beta=0.0, reduction="sum")),
    ("kl", "kl", f32(4, 5), f32(4, 5), kl(1.0)),
    ("kl_t4", "kl:4", f32(4, 10, scale=3), f32(4, 10, scale=3), kl(4.0)),
    ("kl_t2_mean", "kl_div:2:reduction=mean", f32(3, 5), f32(3, 5), kl(2.0, "mean")),
    ("cosine", "cosine", f32(4, 6), f32(4, 6), cosine(1)),
    ("cosine_last_axis", "cosine:axis=-1", f32(2, 3, 4), f32(2, 3, 4), cosine(-1)),
    ("cosine_sum", "cosine:0:reduction=sum", f32(5, 3), f32(5, 3),
     lambda a, b: (1 - F.cosine_similarity(a, b, dim=0)).sum()),
]


def make_losses(cases_json):
    arrays = {}
    for name, spec, out, tgt, fn in LOSSES:
        out = out.detach().clone().requires_grad_(True)
        tgt = tgt.detach().clone()
        soft = tgt.is_floating_point()
        if soft:
            tgt.requires_grad_(True)
        loss = fn(out, tgt)
        loss.sum().backward()
        arrays[f"{name}.output"] = out.detach().numpy()
        arrays[f"{name}.target"] = tgt.detach().numpy()
        arrays[f"{name}.loss"] = loss.detach().numpy()
        arrays[f"{name}.grad_output"] = out.grad.numpy()
        if soft:
            arrays[f"{name}.grad_target"] = tgt.grad.numpy()
        cases_json.append({"name": name, "spec": spec})
    # CosineEmbeddingLoss with y = 1 is the same loss: cross-check the definition.
    a, b = torch.tensor(arrays["cosine.output"]), torch.tensor(arrays["cosine.target"])
    emb = torch.nn.CosineEmbeddingLoss()(a, b, torch.ones(a.shape[0]))
    assert abs(emb.item() - arrays["cosine.loss"].item()) < 1e-6
    return arrays


# ------------------------------------------------------------------------------------------------
# Optimizers: a few steps over fixed parameters and per-step gradients.

STEPS = 5
SHAPES = [(3, 4), (5,), (2, 1, 3)]

OPTIMIZERS = [
    {"name": "sgd", "kind": "sgd", "lr": 0.1},
    {"name": "sgd_wd", "kind": "sgd", "lr": 0.1, "weight_decay": 0.01},
    {"name": "sgd_momentum", "kind": "sgd", "lr": 0.05, "momentum": 0.9},
    {"name": "sgd_dampening", "kind": "sgd", "lr": 0.05, "momentum": 0.8, "dampening": 0.3,
     "weight_decay": 1e-3},
    {"name": "sgd_nesterov", "kind": "sgd", "lr": 0.1, "momentum": 0.9, "nesterov": True,
     "weight_decay": 5e-4},
    {"name": "sgd_schedule", "kind": "sgd", "lr": 0.1, "momentum": 0.9,
     "lrs": [0.1, 0.05, 0.2, 0.01, 0.1], "momenta": [0.95, 0.9, 0.85, 0.9, 0.95]},
    {"name": "sgd_no_decay_on_p1", "kind": "sgd", "lr": 0.1, "momentum": 0.5,
     "weight_decay": 0.1, "no_decay": [1]},
    {"name": "adam", "kind": "adam", "lr": 1e-3},
    {"name": "adam_wd", "kind": "adam", "lr": 1e-2, "weight_decay": 0.1, "beta1": 0.8,
     "beta2": 0.99, "eps": 1e-6},
    {"name": "adam_amsgrad", "kind": "adam", "lr": 1e-2, "amsgrad": True},
    {"name": "adam_skip", "kind": "adam", "lr": 1e-2, "skip": [[2, 1], [3, 1], [3, 2]]},
    {"name": "adam_schedule", "kind": "adam", "lr": 1e-2, "lrs": [1e-2, 2e-2, 5e-3, 1e-2, 1e-3],
     "momenta": [0.95, 0.9, 0.85, 0.9, 0.95]},
    {"name": "adamw", "kind": "adamw", "lr": 1e-2},
    {"name": "adamw_amsgrad", "kind": "adamw", "lr": 1e-2, "weight_decay": 0.1,
     "amsgrad": True, "beta2": 0.9},
]


def torch_optimizer(cfg, params):
    kind = cfg["kind"]
    wd = cfg.get("weight_decay", 0.01 if kind == "adamw" else 0.0)
    no_decay = set(cfg.get("no_decay", []))
    decay = [p for i, p in enumerate(params) if i not in no_decay]
    groups = [{"params": decay, "weight_decay": wd}]
    if no_decay:
        groups.append({"params": [params[i] for i in sorted(no_decay)], "weight_decay": 0.0})
    if kind == "sgd":
        return torch.optim.SGD(groups, lr=cfg["lr"], momentum=cfg.get("momentum", 0.0),
                               dampening=cfg.get("dampening", 0.0),
                               nesterov=cfg.get("nesterov", False))
    cls = torch.optim.Adam if kind == "adam" else torch.optim.AdamW
    return cls(groups, lr=cfg["lr"], betas=(cfg.get("beta1", 0.9), cfg.get("beta2", 0.999)),
               eps=cfg.get("eps", 1e-8), amsgrad=cfg.get("amsgrad", False))


def make_optimizers(cases_json):
    arrays = {}
    for cfg in OPTIMIZERS:
        name = cfg["name"]
        params = [torch.nn.Parameter(f32(*s)) for s in SHAPES]
        grads = [f32(STEPS, *s) for s in SHAPES]
        skip = np.zeros((STEPS, len(SHAPES)), dtype=np.int64)
        for step, i in cfg.get("skip", []):
            skip[step, i] = 1
        for i, p in enumerate(params):
            arrays[f"{name}.p{i}.init"] = p.detach().numpy().copy()
            arrays[f"{name}.p{i}.grad"] = grads[i].numpy()
        opt = torch_optimizer(cfg, params)
        after = [[] for _ in params]
        lrs = cfg.get("lrs", [cfg["lr"]] * STEPS)
        momenta = cfg.get("momenta")
        for step in range(STEPS):
            for group in opt.param_groups:
                group["lr"] = lrs[step]
                if momenta and cfg["kind"] == "sgd":
                    group["momentum"] = momenta[step]
                elif momenta:
                    group["betas"] = (momenta[step], group["betas"][1])
            for i, p in enumerate(params):
                p.grad = None if skip[step, i] else grads[i][step].clone()
            opt.step()
            for i, p in enumerate(params):
                after[i].append(p.detach().numpy().copy())
        for i in range(len(params)):
            arrays[f"{name}.p{i}.after"] = np.stack(after[i])
        arrays[f"{name}.lr"] = np.array(lrs, dtype=np.float64)
        if momenta:
            arrays[f"{name}.momentum"] = np.array(momenta, dtype=np.float64)
        arrays[f"{name}.skip"] = skip
        entry = {k: v for k, v in cfg.items() if k not in ("lrs", "momenta", "skip")}
        entry["params"] = len(SHAPES)
        entry["steps"] = STEPS
        cases_json.append(entry)
    return arrays


# ------------------------------------------------------------------------------------------------
# Schedules: torch's schedulers, stepped per batch (or per epoch for the per-epoch ones); the
# value recorded for step t is the lr the optimizer uses for update t.

SPE, EPOCHS, BASE = 4, 10, 0.1


def record(spec, make, per_epoch=False, optimizer="sgd", momentum_key=None):
    p = torch.nn.Parameter(torch.zeros(1))
    opt = (torch.optim.SGD([p], lr=BASE, momentum=0.9) if optimizer == "sgd"
           else torch.optim.Adam([p], lr=BASE))
    sched = make(opt)
    lrs, moms = [], []
    for epoch in range(EPOCHS):
        for _ in range(SPE):
            group = opt.param_groups[0]
            lrs.append(group["lr"])
            if momentum_key == "momentum":
                moms.append(group["momentum"])
            elif momentum_key == "betas":
                moms.append(group["betas"][0])
            opt.step()
            if not per_epoch:
                sched.step()
        if per_epoch:
            sched.step()
    return spec, np.array(lrs), (np.array(moms) if momentum_key else None)


def make_schedules(cases_json):
    S = torch.optim.lr_scheduler
    T = SPE * EPOCHS
    cases = {
        "constant": record("constant", lambda o: S.LambdaLR(o, lambda t: 1.0)),
        "step": record("step:3:0.5", lambda o: S.StepLR(o, 3, 0.5), per_epoch=True),
        "multistep": record("multistep:2,5,7:0.1", lambda o: S.MultiStepLR(o, [2, 5, 7], 0.1),
                            per_epoch=True),
        "cosine": record("cosine", lambda o: S.CosineAnnealingLR(o, T_max=T)),
        "cosine_eta_min": record("cosine:0.001",
                                 lambda o: S.CosineAnnealingLR(o, T_max=T, eta_min=0.001)),
        "cosine_per_epoch": record("cosine:per=epoch",
                                   lambda o: S.CosineAnnealingLR(o, T_max=EPOCHS), per_epoch=True),
        "onecycle": record("onecycle", lambda o: S.OneCycleLR(o, max_lr=BASE, total_steps=T),
                           momentum_key="momentum"),
        "onecycle_adam": record("onecycle:0.25:10:100",
                                lambda o: S.OneCycleLR(o, max_lr=BASE, total_steps=T,
                                                       pct_start=0.25, div_factor=10,
                                                       final_div_factor=100),
                                optimizer="adam", momentum_key="betas"),
        "onecycle_no_momentum": record(
            "onecycle:cycle_momentum=0",
            lambda o: S.OneCycleLR(o, max_lr=BASE, total_steps=T, cycle_momentum=False)),
        "warmup_cosine": record(
            "warmup:5,cosine",
            lambda o: S.ChainedScheduler([S.LinearLR(o, start_factor=0.001, total_iters=5),
                                          S.CosineAnnealingLR(o, T_max=T)])),
        "warmup_step": record(
            "warmup:6:0.1,step:3:0.5",
            lambda o: S.ChainedScheduler([S.LinearLR(o, start_factor=0.1, total_iters=6),
                                          S.StepLR(o, 3 * SPE, 0.5)])),
        "warmup_multistep": record(
            "warmup:8:0.25,multistep:1,5:0.2",
            lambda o: S.ChainedScheduler([S.LinearLR(o, start_factor=0.25, total_iters=8),
                                          S.MultiStepLR(o, [1 * SPE, 5 * SPE], 0.2)])),
        "warmup_only": record("warmup:7",
                              lambda o: S.LinearLR(o, start_factor=0.001, total_iters=7)),
    }
    arrays = {}
    for name, (spec, lrs, moms) in cases.items():
        arrays[f"{name}.lr"] = lrs
        if moms is not None:
            arrays[f"{name}.momentum"] = moms
        cases_json.append({"name": name, "spec": spec, "base_lr": BASE, "steps_per_epoch": SPE,
                           "epochs": EPOCHS})
    return arrays


# ------------------------------------------------------------------------------------------------
# Gradient clipping

def make_clip():
    arrays = {}
    shapes = [(4, 3), (7,), (2, 2, 2)]
    for name, max_norm in (("norm_clips", 1.0), ("norm_keeps", 100.0)):
        grads = [f32(*s) for s in shapes]
        params = [torch.nn.Parameter(torch.zeros(s)) for s in shapes]
        for p, g in zip(params, grads):
            p.grad = g.clone()
        norm = torch.nn.utils.clip_grad_norm_(params, max_norm)
        for i, (g, p) in enumerate(zip(grads, params)):
            arrays[f"{name}.grad{i}"] = g.numpy()
            arrays[f"{name}.clipped{i}"] = p.grad.numpy()
        arrays[f"{name}.norm"] = np.array(norm.item(), dtype=np.float64)
        arrays[f"{name}.max_norm"] = np.array(max_norm, dtype=np.float64)
    grads = [f32(*s, scale=2) for s in shapes]
    params = [torch.nn.Parameter(torch.zeros(s)) for s in shapes]
    for p, g in zip(params, grads):
        p.grad = g.clone()
    torch.nn.utils.clip_grad_value_(params, 0.75)
    for i, (g, p) in enumerate(zip(grads, params)):
        arrays[f"value.grad{i}"] = g.numpy()
        arrays[f"value.clipped{i}"] = p.grad.numpy()
    arrays["value.clip_value"] = np.array(0.75, dtype=np.float64)
    return arrays


def main():
    os.makedirs(OUT, exist_ok=True)
    cases = {"torch_version": torch.__version__, "losses": [], "optimizers": [], "schedules": []}
    np.savez_compressed(os.path.join(OUT, "losses.npz"), **make_losses(cases["losses"]))
    np.savez_compressed(os.path.join(OUT, "optimizers.npz"),
                        **make_optimizers(cases["optimizers"]))
    np.savez_compressed(os.path.join(OUT, "schedules.npz"), **make_schedules(cases["schedules"]))
    np.savez_compressed(os.path.join(OUT, "clip.npz"), **make_clip())
    with open(os.path.join(OUT, "fixtures.json"), "w") as f:
        json.dump(cases, f, indent=1)
        f.write("\n")


if __name__ == "__main__":
    main()
