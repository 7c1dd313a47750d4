#!/usr/bin/python3
"""Final test accuracy of models/digits.grad over many seeds, gradc and PyTorch side by side.

    /usr/bin/python3 tools/torch/accuracy_seeds.py [--seeds 20] [--epochs 30] [--lr 0.05]
        [--momentum 0] [--gradc build/bin/gradc]

One seed's accuracy on the 359 test images moves in steps of 0.28% (one image) and,
between seeds, over about two points; this script shows the distribution a recipe
gives, so that a single seed's number can be read against it. For each seed S it runs
`gradc train models/digits.grad --seed S` with the recipe (gradc's initial weights and
shuffle come from S), and trains the same MLP in PyTorch eager with the same recipe from
torch.manual_seed(S): nn.Linear layers with kaiming_normal_ (fan-in, ReLU gain) weights
and zero biases, as `kaiming` and the default `zeros` in the model, inputs divided by 16,
F.cross_entropy, torch.optim.SGD, a shuffling DataLoader of batch 32 with drop_last
(gradc drops the short last batch too). The two use different random streams, so they
agree in distribution, not seed by seed (tools/torch/model_compare.py checks the
step-by-step agreement from identical weights and order).

Prints one line per seed and, per system, the mean, median, range and how many seeds
reach 95%. Without torch it reports gradc alone. Needs python3-torch (Debian) for the
PyTorch column, under /usr/bin/python3."""
import argparse
import os
import re
import statistics
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
MODEL = os.path.join(ROOT, "models/digits.grad")
TRAIN = os.path.join(ROOT, "models/data/digits_train.csv")
TEST = os.path.join(ROOT, "models/data/digits_test.csv")


def gradc_accuracy(gradc, seed, a):
    cmd = [gradc, "train", MODEL, "--data", TRAIN, "--val", TEST, "--epochs", str(a.epochs), "--lr", str(a.lr),
           "--momentum", str(a.momentum), "--seed", str(seed)]
    p = subprocess.run(cmd, capture_output=True, text=True)
    if p.returncode:
        sys.exit(f"accuracy_seeds: {' '.join(cmd)} failed:\n{p.stderr}")
    acc = re.findall(r"val accuracy\s+([0-9.]+)%", p.stdout + p.stderr)
    if not acc:
        sys.exit(f"accuracy_seeds: no 'val accuracy' in the output of {' '.join(cmd)}")
    return float(acc[-1])


def read_csv(path):
    rows = []
    with open(path) as fh:
        for line in fh:
            cells = line.strip().split(",")
            try:
                rows.append([float(c) for c in cells])
            except ValueError:
                continue  # the header line
    return rows


def torch_trainer(a):
    try:
        import torch
    except Exception as e:  # ImportError, or a broken install
        print(f"accuracy_seeds: no PyTorch column: cannot import torch with {sys.executable}: {e}", file=sys.stderr)
        return None
    torch.set_num_threads(1)
    tr, te = torch.tensor(read_csv(TRAIN)), torch.tensor(read_csv(TEST))
    xtr, ytr = tr[:, :64] / 16, tr[:, 64].long()
    xte, yte = te[:, :64] / 16, te[:, 64].long()

    def train(seed):
        torch.manual_seed(seed)
        l1, l2 = torch.nn.Linear(64, 32), torch.nn.Linear(32, 10)
        for layer in (l1, l2):
            torch.nn.init.kaiming_normal_(layer.weight, nonlinearity="relu")
            torch.nn.init.zeros_(layer.bias)
        net = torch.nn.Sequential(l1, torch.nn.ReLU(), l2)
        opt = torch.optim.SGD(net.parameters(), lr=a.lr, momentum=a.momentum)
        data = torch.utils.data.TensorDataset(xtr, ytr)
        loader = torch.utils.data.DataLoader(data, batch_size=32, shuffle=True, drop_last=True)
        for _ in range(a.epochs):
            for xb, yb in loader:
                opt.zero_grad()
                torch.nn.functional.cross_entropy(net(xb), yb).backward()
                opt.step()
        with torch.no_grad():
            return 100.0 * (net(xte).argmax(1) == yte).float().mean().item()

    return train


def summary(name, accs):
    reach = sum(v >= 95.0 for v in accs)
    return (f"{name:8s} mean {statistics.mean(accs):.2f}%  median {statistics.median(accs):.2f}%  "
            f"range {min(accs):.2f}-{max(accs):.2f}%  >= 95%: {reach} of {len(accs)} seeds")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seeds", type=int, default=20, help="seeds 0 .. N-1 (default 20)")
    ap.add_argument("--epochs", type=int, default=30)
    ap.add_argument("--lr", type=float, default=0.05)
    ap.add_argument("--momentum", type=float, default=0.0)
    ap.add_argument("--gradc", default=os.path.join(ROOT, "build/bin/gradc"))
    a = ap.parse_args()
    if not os.access(a.gradc, os.X_OK):
        sys.exit(f"accuracy_seeds: {a.gradc} not found: build gradc first (cmake --build build)")
    torch_train = torch_trainer(a)
    print(f"digits MLP, {a.epochs} epochs, lr {a.lr}, momentum {a.momentum}, batch 32; final test accuracy (359 images)")
    print(f"{'seed':>4s} {'gradc':>8s} {'PyTorch':>8s}")
    g, t = [], []
    for seed in range(a.seeds):
        g.append(gradc_accuracy(a.gradc, seed, a))
        if torch_train:
            t.append(torch_train(seed))
        print(f"{seed:4d} {g[-1]:7.2f}% {f'{t[-1]:7.2f}%' if torch_train else '     n/a'}", flush=True)
    print(summary("gradc", g))
    if t:
        print(summary("PyTorch", t))


if __name__ == "__main__":
    main()
