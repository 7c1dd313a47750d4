#!/usr/bin/python3
"""Trains models/digits.grad with PyTorch eager from gradc's initial weights and data
order, and records the loss of every SGD step: the reference for gradc's training.

    /usr/bin/python3 tools/torch/train_compare.py [--gradc build/bin/gradc] [--steps 50]
        [--write tests/fixtures/train_digits_torch.json]

It asks gradc for the initial parameters (`gradc train --steps 0 -o`), reproduces
gradc's shuffle (splitmix64, documented in include/gradc/runtime_core.h), trains the
same MLP with torch.optim.SGD, and compares the per-step losses with `gradc train
--log-steps` when gradc is given; exit 1 if any differs by more than 1e-4. --write
saves torch's losses as the fixture tests/test_train_torch.c checks without torch.
Needs python3-torch (Debian) for /usr/bin/python3."""
import argparse, json, os, struct, subprocess, sys, tempfile

import numpy as np
import torch

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
MASK = (1 << 64) - 1


def mix64(z):
    z = ((z ^ (z >> 30)) * 0xbf58476d1ce4e5b9) & MASK
    z = ((z ^ (z >> 27)) * 0x94d049bb133111eb) & MASK
    return z ^ (z >> 31)


def fnv1a64(name):
    h = 0xcbf29ce484222325
    for c in name.encode():
        h = ((h ^ c) * 0x100000001b3) & MASK
    return h


class Rng:
    def __init__(self, seed, name):
        self.state = mix64(seed & MASK) ^ fnv1a64(name)

    def next(self):
        self.state = (self.state + 0x9e3779b97f4a7c15) & MASK
        return mix64(self.state)


def shuffle(order, rng):  # as cmd_train.c: Fisher-Yates from the end
    for i in range(len(order), 1, -1):
        j = rng.next() % i
        order[i - 1], order[j] = order[j], order[i - 1]


def read_safetensors(path):
    raw = open(path, "rb").read()
    n = struct.unpack("<Q", raw[:8])[0]
    header = json.loads(raw[8:8 + n])
    data = raw[8 + n:]
    out = {}
    for name, t in header.items():
        if name == "__metadata__":
            continue
        b, e = t["data_offsets"]
        out[name] = torch.tensor(np.frombuffer(data[b:e], dtype="<f4").reshape(t["shape"]).copy())
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--gradc", default=os.path.join(ROOT, "build/bin/gradc"))
    ap.add_argument("--steps", type=int, default=50)
    ap.add_argument("--lr", type=float, default=0.05)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--write")
    a = ap.parse_args()
    torch.set_num_threads(1)
    model = os.path.join(ROOT, "models/digits.grad")
    data = os.path.join(ROOT, "models/data/digits_train.csv")
    with tempfile.TemporaryDirectory() as tmp:
        init = os.path.join(tmp, "init.safetensors")
        subprocess.run([a.gradc, "train", model, "--data", data, "--steps", "0", "--seed", str(a.seed), "-o", init],
                       check=True, stderr=subprocess.DEVNULL)
        p = {k: v.requires_grad_() for k, v in read_safetensors(init).items()}
    rows = np.loadtxt(data, delimiter=",", dtype=np.float32)
    x_all, y_all = torch.tensor(rows[:, :64]), torch.tensor(rows[:, 64].astype(np.int64))
    opt = torch.optim.SGD(list(p.values()), lr=a.lr)
    B, per_epoch = 32, len(rows) // 32
    order, rng, losses = list(range(len(rows))), Rng(a.seed, "shuffle"), []
    while len(losses) < a.steps:
        shuffle(order, rng)
        for s in range(per_epoch):
            if len(losses) == a.steps:
                break
            idx = order[s * B:(s + 1) * B]
            x, y = x_all[idx], y_all[idx]
            opt.zero_grad()
            h = torch.relu((x / 16) @ p["w1"] + p["b1"])
            loss = torch.nn.functional.cross_entropy(h @ p["w2"] + p["b2"], y)
            loss.backward()
            opt.step()
            losses.append(loss.item())
    if a.write:
        with open(a.write, "w") as f:
            json.dump({"model": "models/digits.grad", "data": "models/data/digits_train.csv", "seed": a.seed,
                       "lr": a.lr, "torch": torch.__version__, "losses": [float("%.9g" % l) for l in losses]}, f,
                      indent=1)
            f.write("\n")
    out = subprocess.run([a.gradc, "train", model, "--data", data, "--steps", str(a.steps), "--lr", str(a.lr),
                          "--seed", str(a.seed), "--log-steps"], check=True, capture_output=True, text=True).stdout
    ours = [float(l.split()[3]) for l in out.splitlines() if l.startswith("step ")]
    worst = max(abs(u - v) for u, v in zip(ours, losses))
    print("step  torch          gradc          |diff|")
    for i in sorted({0, 9, 19, 29, 39, len(losses) - 1}):
        print("%4d  %.9f  %.9f  %.2e" % (i + 1, losses[i], ours[i], abs(losses[i] - ours[i])))
    print("max |loss difference| over %d steps: %.3e (%s)" % (len(losses), worst, "ok" if worst <= 1e-4 else "FAIL"))
    return 0 if worst <= 1e-4 and len(ours) == len(losses) else 1


if __name__ == "__main__":
    sys.exit(main())
