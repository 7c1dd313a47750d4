#!/usr/bin/python3
"""gen_optim_fixtures.py — PyTorch 1.13 references for gradc's optimizers, clipping and
learning-rate schedules: 100 training steps of models/digits.grad's MLP (64 -> 32 ReLU
-> 10, softmax cross-entropy, batch 32) from fixed initial weights on fixed batches.

    /usr/bin/python3 tools/torch/gen_optim_fixtures.py           # rewrites tests/fixtures/optim_digits_torch.json
    /usr/bin/python3 tools/torch/gen_optim_fixtures.py --check   # regenerates in memory, fails if the file differs

Its output is COMMITTED: tests/test_optim_torch.c replays every configuration through
gradc's compiled train step and through the runtime's unfused step, and never needs
torch. Rerun only when a configuration is added or changed; commit script and data
together. Needs python3-torch (Debian) for /usr/bin/python3.

Step k (from 0) trains on rows (32 k + r) mod R, r < 32, of models/data/digits_train.csv
(R rows; pixels as written, the model divides by 16). The initial weights come from a
numpy generator of seed 0 (kaiming-like normal weights, zero biases). Each configuration
is one torch.optim optimizer (foreach off, as 1.13's default), optionally
torch.nn.utils.clip_grad_norm_ before each step and a scheduler stepped after it:

    cosine + warm-up: SequentialLR([LinearLR(start_factor, total_iters=warmup),
                                    CosineAnnealingLR(T_max=steps - warmup)], [warmup])
    onecycle:         OneCycleLR(max_lr=lr, total_steps=steps, cycle_momentum=False), or
                      with "cycle_momentum": [base, max], cycle_momentum=True between them
    step:             StepLR(step_size, gamma)

The file: {"torch", "model", "data", "batch", "steps", "init": {PARAM: [..]},
"configs": [{"name", "optimizer", "lr", "hyper": {NAME: VALUE} (gradc's names:
beta1/beta2, not betas), "clip" (0: none), "schedule": {"kind", ...} or null, "lrs":
[the lr of each step], "losses": [..], "final": {PARAM: [..] after the last step},
"momenta": [momentum or beta1 of each step] when the schedule cycles it}]}.
Every number has 9 significant digits (float32 values round-trip exactly).
"""
import argparse
import json
import os
import sys
import warnings

import numpy as np
import torch

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
OUT = os.path.join(ROOT, "tests", "fixtures", "optim_digits_torch.json")
STEPS, BATCH = 100, 32
SHAPES = [("w1", (64, 32)), ("b1", (32,)), ("w2", (32, 10)), ("b2", (10,))]

CONFIGS = [
    {"name": "sgd_momentum_dampening_decay", "optimizer": "sgd", "lr": 0.05,
     "hyper": {"momentum": 0.9, "dampening": 0.1, "weight_decay": 1e-3}},
    {"name": "sgd_nesterov_decay", "optimizer": "sgd", "lr": 0.05,
     "hyper": {"momentum": 0.9, "nesterov": 1, "weight_decay": 1e-3}},
    {"name": "adam_decay", "optimizer": "adam", "lr": 1e-3, "hyper": {"weight_decay": 1e-4}},
    {"name": "adamw_amsgrad", "optimizer": "adamw", "lr": 2e-3,
     "hyper": {"beta1": 0.85, "beta2": 0.99, "amsgrad": 1, "weight_decay": 0.05}},
    {"name": "rmsprop_centered_momentum", "optimizer": "rmsprop", "lr": 1e-3,
     "hyper": {"centered": 1, "momentum": 0.5, "weight_decay": 1e-4}},
    {"name": "adamw_cosine_warmup_clip", "optimizer": "adamw", "lr": 3e-3, "hyper": {}, "clip": 1.0,
     "schedule": {"kind": "cosine", "warmup": 10, "start_factor": 1.0 / 3}},
    {"name": "sgd_onecycle_clip", "optimizer": "sgd", "lr": 0.1, "hyper": {"momentum": 0.9}, "clip": 0.5,
     "schedule": {"kind": "onecycle"}},
    {"name": "rmsprop_step", "optimizer": "rmsprop", "lr": 1e-3, "hyper": {},
     "schedule": {"kind": "step", "step_size": 30, "gamma": 0.5}},
    {"name": "sgd_onecycle_cycle_momentum", "optimizer": "sgd", "lr": 0.1, "hyper": {"momentum": 0.9,
     "weight_decay": 1e-4}, "schedule": {"kind": "onecycle", "cycle_momentum": [0.85, 0.95]}},
    {"name": "adam_onecycle_cycle_momentum", "optimizer": "adam", "lr": 3e-3, "hyper": {},
     "schedule": {"kind": "onecycle", "cycle_momentum": [0.8, 0.9]}},
]


def g9(x):
    return float("%.9g" % x)


def initial_weights():
    rng = np.random.default_rng(0)
    w = {}
    for name, shape in SHAPES:
        if name.startswith("w"):
            w[name] = (rng.standard_normal(shape) * np.sqrt(2.0 / shape[0])).astype(np.float32)
        else:
            w[name] = np.zeros(shape, np.float32)
    return w


def make_optimizer(cfg, params):
    h = dict(cfg["hyper"])
    lr = cfg["lr"]
    if cfg["optimizer"] == "sgd":
        return torch.optim.SGD(params, lr=lr, momentum=h.get("momentum", 0), dampening=h.get("dampening", 0),
                               weight_decay=h.get("weight_decay", 0), nesterov=bool(h.get("nesterov", 0)))
    if cfg["optimizer"] in ("adam", "adamw"):
        cls = torch.optim.Adam if cfg["optimizer"] == "adam" else torch.optim.AdamW
        wd = h.get("weight_decay", 0 if cfg["optimizer"] == "adam" else 0.01)
        return cls(params, lr=lr, betas=(h.get("beta1", 0.9), h.get("beta2", 0.999)), eps=h.get("eps", 1e-8),
                   weight_decay=wd, amsgrad=bool(h.get("amsgrad", 0)))
    return torch.optim.RMSprop(params, lr=lr, alpha=h.get("alpha", 0.99), eps=h.get("eps", 1e-8),
                               weight_decay=h.get("weight_decay", 0), momentum=h.get("momentum", 0),
                               centered=bool(h.get("centered", 0)))


def make_scheduler(cfg, opt):
    s = cfg.get("schedule")
    if not s:
        return None
    sch = torch.optim.lr_scheduler
    if s["kind"] == "cosine":
        warm = sch.LinearLR(opt, start_factor=s["start_factor"], end_factor=1.0, total_iters=s["warmup"])
        cos = sch.CosineAnnealingLR(opt, T_max=STEPS - s["warmup"])
        return sch.SequentialLR(opt, [warm, cos], milestones=[s["warmup"]])
    if s["kind"] == "onecycle":
        cyc = s.get("cycle_momentum")
        if cyc:
            return sch.OneCycleLR(opt, max_lr=cfg["lr"], total_steps=STEPS, cycle_momentum=True,
                                  base_momentum=cyc[0], max_momentum=cyc[1])
        return sch.OneCycleLR(opt, max_lr=cfg["lr"], total_steps=STEPS, cycle_momentum=False)
    return sch.StepLR(opt, step_size=s["step_size"], gamma=s["gamma"])


def run(cfg, init, x_all, y_all):
    params = {k: torch.tensor(v).requires_grad_() for k, v in init.items()}
    opt = make_optimizer(cfg, [params[n] for n, _ in SHAPES])
    sched = make_scheduler(cfg, opt)
    rows = x_all.shape[0]
    lrs, losses, momenta = [], [], []
    for k in range(STEPS):
        idx = [(BATCH * k + r) % rows for r in range(BATCH)]
        x, y = x_all[idx], y_all[idx]
        opt.zero_grad()
        h = torch.relu((x / 16) @ params["w1"] + params["b1"])
        loss = torch.nn.functional.cross_entropy(h @ params["w2"] + params["b2"], y)
        loss.backward()
        if cfg.get("clip"):
            torch.nn.utils.clip_grad_norm_([params[n] for n, _ in SHAPES], cfg["clip"])
        lrs.append(g9(opt.param_groups[0]["lr"]))
        group = opt.param_groups[0]
        momenta.append(g9(group["betas"][0] if "betas" in group else group["momentum"]))
        opt.step()
        if sched:
            sched.step()
        losses.append(g9(loss.item()))
    final = {n: [g9(v) for v in params[n].detach().numpy().ravel()] for n, _ in SHAPES}
    return lrs, losses, momenta, final


def generate():
    torch.set_num_threads(1)
    warnings.filterwarnings("ignore", message="The epoch parameter")  # SequentialLR's own call, in 1.13
    data = np.loadtxt(os.path.join(ROOT, "models/data/digits_train.csv"), delimiter=",", dtype=np.float32)
    x_all, y_all = torch.tensor(data[:, :64]), torch.tensor(data[:, 64].astype(np.int64))
    init = initial_weights()
    out = {"torch": torch.__version__, "model": "models/digits.grad", "data": "models/data/digits_train.csv",
           "batch": BATCH, "steps": STEPS, "init": {n: [g9(v) for v in init[n].ravel()] for n, _ in SHAPES},
           "configs": []}
    for cfg in CONFIGS:
        lrs, losses, momenta, final = run(cfg, init, x_all, y_all)
        c = {"name": cfg["name"], "optimizer": cfg["optimizer"], "lr": cfg["lr"], "hyper": cfg["hyper"],
             "clip": cfg.get("clip", 0), "schedule": cfg.get("schedule"), "lrs": lrs, "losses": losses,
             "final": final}
        if (cfg.get("schedule") or {}).get("cycle_momentum"):
            c["momenta"] = momenta  # momentum (SGD) or beta1 (Adam) of each step
        out["configs"].append(c)
    return json.dumps(out, separators=(",", ":")) + "\n"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--check", action="store_true")
    a = ap.parse_args()
    text = generate()
    if a.check:
        same = os.path.exists(OUT) and open(OUT).read() == text
        print("%s: %s" % (OUT, "up to date" if same else "DIFFERS"))
        return 0 if same else 1
    with open(OUT, "w") as f:
        f.write(text)
    print("wrote %s (%d bytes)" % (OUT, len(text)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
