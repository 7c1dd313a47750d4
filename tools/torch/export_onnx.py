#!/usr/bin/python3
"""export_onnx.py — real PyTorch models exported to ONNX, with PyTorch's own numbers, as
the test data of gradc's ONNX importer (tests/test_onnx_models.c, tests/e2e/e2e_onnx.c,
tests/firmware/run.sh).

    /usr/bin/python3 tools/torch/export_onnx.py [MODEL...]   # writes tests/fixtures/onnx/

For each model of MODELS (seeded, small: the digits data's 8x8 images, 10 classes) it
writes tests/fixtures/onnx/NAME.onnx with torch.onnx.export (eval mode, dynamic batch
axis `batch`, constant folding on, the row's opset) and NAME.json holding:
  - "input": a batch of 16 digits images (the first 16 rows of
    models/data/digits_train.csv, raw pixels 0..16; every model divides by 16 itself),
    "labels" their classes, "shape" the input's shape with that batch;
  - "outputs": PyTorch's outputs in eval mode on that batch (row-major);
  - for the rows with "train": the loss of 20 torch.optim.SGD steps (row's lr and
    momentum, cross_entropy on the labels, model.train(): batch norm on the batch's
    statistics) from the exported initial weights on the same batch every step, and
    for each parameter and batch norm running statistic (by its ONNX initializer name) its sum and first 8 values after
    the 20 steps.
tests/fixtures/onnx/digits16.csv holds the same 16 rows (pixels, label) for `gradc
train --data`. Needs python3-torch 1.13 (Debian); the tests read the committed files.
"""
import json, os, sys, warnings

import torch
import torch.nn as nn
import torch.nn.functional as F

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
OUT = os.path.join(ROOT, "tests", "fixtures", "onnx")
ROWS = 16
STEPS = 20


class MLP(nn.Module):  # the digits MLP: 64 -> 32 -> 10
    def __init__(self):
        super().__init__()
        self.fc1, self.fc2 = nn.Linear(64, 32), nn.Linear(32, 10)

    def forward(self, x):
        return self.fc2(torch.relu(self.fc1(x / 16)))


class LeNet(nn.Module):  # LeNet-5 adapted to 1x8x8: conv5(pad 2)-pool-conv3-pool-fc-fc-fc
    def __init__(self):
        super().__init__()
        self.conv1, self.conv2 = nn.Conv2d(1, 6, 5, padding=2), nn.Conv2d(6, 16, 3, padding=1)
        self.fc1, self.fc2, self.fc3 = nn.Linear(16 * 2 * 2, 32), nn.Linear(32, 24), nn.Linear(24, 10)

    def forward(self, x):
        h = F.max_pool2d(torch.tanh(self.conv1(x / 16)), 2)
        h = F.avg_pool2d(torch.tanh(self.conv2(h)), 2)
        h = torch.flatten(h, 1)
        return self.fc3(torch.tanh(self.fc2(torch.tanh(self.fc1(h)))))


class PreActBlock(nn.Module):  # ResNet v2: BN-ReLU-conv twice, plus the identity
    def __init__(self, c):
        super().__init__()
        self.bn1, self.conv1 = nn.BatchNorm2d(c), nn.Conv2d(c, c, 3, padding=1, bias=False)
        self.bn2, self.conv2 = nn.BatchNorm2d(c), nn.Conv2d(c, c, 3, padding=1, bias=False)

    def forward(self, x):
        h = self.conv1(F.relu(self.bn1(x)))
        return x + self.conv2(F.relu(self.bn2(h)))


class ResNet(nn.Module):  # a stem, two pre-activation residual blocks, BN, global pool, fc
    def __init__(self):
        super().__init__()
        self.stem = nn.Conv2d(1, 8, 3, padding=1)
        self.block1, self.block2 = PreActBlock(8), PreActBlock(8)
        self.bn, self.fc = nn.BatchNorm2d(8), nn.Linear(8, 10)

    def forward(self, x):
        h = self.block2(self.block1(self.stem(x / 16)))
        h = F.adaptive_avg_pool2d(F.relu(self.bn(h)), 1)
        return self.fc(torch.flatten(h, 1))


class DSCNN(nn.Module):  # depthwise-separable: conv-BN-ReLU, (depthwise-BN-ReLU, pointwise-BN-ReLU) x2
    def __init__(self):
        super().__init__()
        def cbr(ci, co, k, stride=1, groups=1):
            return nn.Sequential(nn.Conv2d(ci, co, k, stride, k // 2, groups=groups, bias=False), nn.BatchNorm2d(co),
                                 nn.ReLU())
        self.body = nn.Sequential(cbr(1, 8, 3), cbr(8, 8, 3, groups=8), cbr(8, 16, 1),
                                  cbr(16, 16, 3, stride=2, groups=16), cbr(16, 16, 1))
        self.fc = nn.Linear(16, 10)

    def forward(self, x):
        return self.fc(torch.flatten(F.adaptive_avg_pool2d(self.body(x / 16), 1), 1))


class Encoder(nn.Module):  # an 8x8 image as 8 tokens of 8 pixels: one pre-norm encoder layer, 2 heads
    def __init__(self, d=16, heads=2):
        super().__init__()
        self.d, self.heads = d, heads
        self.embed, self.pos = nn.Linear(8, d), nn.Parameter(torch.randn(8, d) * 0.1)
        self.ln1, self.qkv, self.proj = nn.LayerNorm(d), nn.Linear(d, 3 * d), nn.Linear(d, d)
        self.ln2, self.ff1, self.ff2 = nn.LayerNorm(d), nn.Linear(d, 2 * d), nn.Linear(2 * d, d)
        self.ln, self.head = nn.LayerNorm(d), nn.Linear(d, 10)

    def attention(self, h):
        b, t, d = h.shape
        q, k, v = self.qkv(h).reshape(b, t, 3, self.heads, d // self.heads).permute(2, 0, 3, 1, 4)
        a = torch.softmax(q @ k.transpose(-2, -1) / (d // self.heads) ** 0.5, dim=-1)
        return self.proj((a @ v).transpose(1, 2).reshape(b, t, d))

    def forward(self, x):
        h = self.embed(x.reshape(x.shape[0], 8, 8) / 16) + self.pos
        h = h + self.attention(self.ln1(h))
        h = h + self.ff2(F.gelu(self.ff1(self.ln2(h))))
        return self.head(self.ln(h).mean(dim=1))


# name: (class, input shape without the batch, opset, training row or None). The ResNet
# is exported with training=PRESERVE (its modules in eval mode, so batch norm still reads
# the running statistics): the default, EVAL, also folds each batch norm that follows a
# convolution into it, which suits inference (the DS-CNN is exported so) but leaves
# nothing of the batch norm to train.
MODELS = {
    "mlp": (MLP, (64,), 13, {"lr": 0.05, "momentum": 0.9}),
    "lenet": (LeNet, (1, 8, 8), 13, {"lr": 0.1, "momentum": 0.0}),
    "resnet": (ResNet, (1, 8, 8), 17, {"lr": 0.05, "momentum": 0.9, "preserve": True}),
    "dscnn": (DSCNN, (1, 8, 8), 13, None),
    "transformer": (Encoder, (1, 8, 8), 17, {"lr": 0.05, "momentum": 0.9}),
}


def digits_rows():
    with open(os.path.join(ROOT, "models", "data", "digits_train.csv")) as f:
        rows = [[float(v) for v in line.split(",")] for line in f.read().split("\n")[:ROWS]]
    return torch.tensor([r[:64] for r in rows]), torch.tensor([int(r[64]) for r in rows])


def flat(t):
    return [float(v) for v in t.detach().reshape(-1)]


def train(model, x, y, row):
    """PyTorch's loss at each of STEPS SGD steps on (x, y), and the final parameters."""
    model.train()
    opt = torch.optim.SGD(model.parameters(), lr=row["lr"], momentum=row["momentum"])
    losses = []
    for _ in range(STEPS):
        opt.zero_grad()
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
        losses.append(float(loss))
    return losses


def randomize_norms(model):
    """Batch and layer norms' statistics and affine parameters made distinct (as a trained model's
    are): the exporter shares equal initializers (all the BNs' ones and zeros) between
    nodes, which would tie parameters that PyTorch trains separately."""
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, (nn.BatchNorm2d, nn.LayerNorm)):
                m.weight.uniform_(0.8, 1.2), m.bias.uniform_(-0.1, 0.1)
            if isinstance(m, nn.BatchNorm2d):
                m.running_mean.uniform_(-0.2, 0.2), m.running_var.uniform_(0.5, 1.5)


def onnx_final(path, model):
    """The final value of every trainable initializer of the exported model, by its ONNX
    name and in its ONNX layout: a parameter of the same name, or one the exporter
    stored transposed under a new name (a Linear's weight before a MatMul), found by its
    initial values."""
    import onnx
    from onnx import numpy_helper
    tensors = lambda: {**dict(model.named_parameters()), **{n: b for n, b in model.named_buffers() if "running" in n}}
    initial = {n: p.detach().clone() for n, p in tensors().items()}
    return initial, lambda: final_values(onnx.load(path), numpy_helper, initial, tensors())


def final_values(proto, numpy_helper, initial, params):
    out = {}
    for init in proto.graph.initializer:
        v = torch.from_numpy(numpy_helper.to_array(init).copy())
        for n, p0 in initial.items():
            t = None
            if init.name == n:
                t = params[n]
            elif p0.dim() == 2 and v.shape == p0.T.shape and torch.equal(v, p0.T):
                t = params[n].T
            if t is not None:
                out[init.name] = {"param": n, "sum": float(t.detach().double().sum()), "first": flat(t)[:8]}
                break
    return out


def export(name):
    cls, shape, opset, row = MODELS[name]
    torch.manual_seed(0)
    model = cls().eval()
    randomize_norms(model)
    x, y = digits_rows()
    x = x.reshape((ROWS,) + shape)
    path = os.path.join(OUT, name + ".onnx")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(model, (x,), path, opset_version=opset, input_names=["x"], output_names=["logits"],
                          dynamic_axes={"x": {0: "batch"}, "logits": {0: "batch"}},
                          training=torch.onnx.TrainingMode.PRESERVE if row and row.get("preserve") else
                          torch.onnx.TrainingMode.EVAL)
    with torch.no_grad():
        out = model(x)
    fx = {"model": name + ".onnx", "opset": opset, "shape": list(x.shape), "input": flat(x),
          "labels": [int(v) for v in y], "outputs": flat(out)}
    if row:
        initial, final = onnx_final(path, model)
        fx.update(lr=row["lr"], momentum=row["momentum"], steps=STEPS, losses=train(model, x, y, row))
        fx["final"] = final()
        missing = set(initial) - {f["param"] for f in fx["final"].values()}
        if missing:
            sys.exit("%s: parameters not found among the initializers: %s" % (name, sorted(missing)))
    with open(os.path.join(OUT, name + ".json"), "w") as f:
        json.dump(fx, f, indent=1)
        f.write("\n")
    print("%s: %s, %d bytes; %s" % (name, path, os.path.getsize(path),
                                    "losses %.6f -> %.6f" % (fx["losses"][0], fx["losses"][-1]) if row else "inference"))


def main():
    os.makedirs(OUT, exist_ok=True)
    x, y = digits_rows()
    with open(os.path.join(OUT, "digits16.csv"), "w") as f:
        for r, c in zip(x.tolist(), y.tolist()):
            f.write(",".join("%d" % v for v in r) + ",%d\n" % c)
    for name in sys.argv[1:] or MODELS:
        export(name)


if __name__ == "__main__":
    main()
