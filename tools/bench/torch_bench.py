#!/usr/bin/python3
"""PyTorch eager baseline and sgemm ceiling for gradc's reference models (tools/bench/README.md).

    /usr/bin/python3 tools/bench/torch_bench.py [--models logreg,digits,...] [-o FILE]

For each reference model it times, on one thread, a PyTorch eager training step
(opt.zero_grad(); loss = loss_fn(model(x), y); loss.backward(); opt.step() with
torch.optim.SGD(lr=1e-4)) and an inference (forward under torch.no_grad()), the way
`gradc bench` times gradc: warm up for about 20 ms (at least 3 calls), which also sizes
a batch of calls to about 20 ms, then 11 repeats of that batch; the result is the
median over the repeats of the mean microseconds per call. It also measures the
single-core sgemm rate (torch.mm on float32 matrices, same method, before and after the
models, the better of the two) as the ceiling,
and reports which BLAS torch loaded (torch.__config__.show() and /proc/self/maps).

It prints one JSON object (and writes it to FILE with -o). Without torch it still
prints JSON, with "torch": null, the reason, and the sgemm rate measured with numpy
(same libblas.so.3) if numpy is available. Must run under /usr/bin/python3 (Debian's
python3-torch); the python3 of pyenv on PATH has no torch."""
import os

# Before importing torch (or numpy): OpenBLAS has its own thread pool, sized at load time.
for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[var] = "1"

import argparse
import json
import platform
import math
import sys
import time

REPEATS = 11
WARMUP_US = 20000.0

# name -> (layer widths, batch, input scale, activation of each hidden layer, or one for
# all); logreg is special-cased.
MLPS = {
    "digits": ([64, 32, 10], 32, 1.0 / 16, "relu"),  # models/digits.grad divides pixels by 16
    "mlp784": ([784, 128, 10], 32, None, "relu"),
    "mlp784_silu": ([784, 128, 10], 32, None, "silu"),
    "mlp784_hswish_elu": ([784, 256, 256, 10], 64, None, ("hardswish", "elu")),
    "mlp784_layernorm": ([784, 256, 256, 10], 64, None, "layernorm_relu"),
    "mlp784_dropout": ([784, 256, 256, 10], 64, None, "relu_dropout"),  # issue 15: dropout and modes
    "mlp784x2": ([784, 256, 256, 10], 64, None, "relu"),
    "mlp1024": ([1024, 1024, 1024, 10], 256, None, "relu"),
}
# ---- convolution (issue 15): the depthwise-separable CNN of tools/bench/models/dscnn.grad
DSCNN = {"batch": 16, "input": (1, 49, 10), "channels": 32, "blocks": 2, "classes": 12}
# ---- batch norm and buffers (issue 15): tools/bench/models/cnn_bn.grad
CNN_BN = {"batch": 32, "input": (3, 16, 16), "channels": (16, 32), "classes": 10}
# ---- models (issue 15): models/dscnn_digits.grad, the DS-CNN of the 8x8 digits
DSCNN_DIGITS = {"batch": 32, "input": (1, 8, 8), "classes": 10}
# ---- indexing II (issue 15): the embedding-bag classifier of tools/bench/models/embbag.grad
EMBBAG = {"batch": 64, "tokens": 32, "vocab": 1000, "dim": 64, "hidden": 128, "classes": 10}
# ---- models (issue 15): models/char_transformer.grad, the 2-block character GPT
CHAR_GPT = {"batch": 32, "tokens": 64, "vocab": 94, "dim": 64, "heads": 4, "mlp": 256, "blocks": 2, "p": 0.1}
# ---- fast convolutions (issue 17): the CNN reference models, name -> (batch, input shape, classes)
CNNS = {"lenet5": (64, (1, 28, 28), 10), "cifar_cnn": (32, (3, 32, 32), 10), "kws_cnn": (32, (1, 49, 10), 12),
        "resnet_block": (32, (32, 16, 16), 10), "digits_cnn": (32, (1, 8, 8), 10)}
ALL = ["logreg"] + list(MLPS) + ["stats_losses", "dscnn", "attn_block", "embbag", "cnn_bn", "dscnn_digits",
                                  "resnet_digits", "char_transformer"] + list(CNNS)
SGEMM_SHAPES = [(1024, 1024, 1024), (256, 1024, 1024)]  # M, K, N


def median_us(f):
    """gradc bench's method: warm up ~20 ms (>= 3 calls) to size the batch, then the
    median over REPEATS of the mean microseconds per call of a batch."""
    now = time.perf_counter
    t0 = now()
    n = 0
    while (now() - t0) * 1e6 < WARMUP_US or n < 3:
        f()
        n += 1
    times = []
    for _ in range(REPEATS):
        s = now()
        for _ in range(n):
            f()
        times.append((now() - s) * 1e6 / n)
    times.sort()
    return times[REPEATS // 2], n


def blas_libraries():
    """The BLAS/LAPACK shared objects mapped into this process."""
    libs = set()
    with open("/proc/self/maps") as fh:
        for line in fh:
            parts = line.split()
            if len(parts) >= 6 and any(k in parts[-1] for k in ("blas", "lapack", "mkl")):
                libs.add(parts[-1])
    return sorted(libs)


def mlp_flops(widths, batch):
    """What gradc counts: forward 2*N*K*M per layer; training adds weight gradients of
    every layer and input gradients of every layer but the first."""
    fwd = sum(2 * batch * a * b for a, b in zip(widths, widths[1:]))
    dx = sum(2 * batch * a * b for a, b in list(zip(widths, widths[1:]))[1:])
    return fwd + fwd + dx, fwd


def stats_losses(torch, nn, F):
    """tools/bench/models/stats_losses.grad: 256 -> 128 normalised by its rows' variance,
    ReLU, -> 10; cross_entropy with label smoothing + 0.1 mean(logsumexp^2) + huber_loss
    against soft targets + 0.01 mean of the rows' 2-norms; inference returns the argmax."""
    batch = 64
    l1, l2 = nn.Linear(256, 128), nn.Linear(128, 10)
    for lin in (l1, l2):
        nn.init.kaiming_normal_(lin.weight, nonlinearity="relu")
        nn.init.zeros_(lin.bias)
    x, t = torch.randn(batch, 256), torch.randn(batch, 10)
    y = torch.randint(0, 10, (batch,))

    def forward():
        h0 = l1(x)
        h = torch.relu((h0 - h0.mean(1, keepdim=True)) / torch.sqrt(h0.var(1, unbiased=False, keepdim=True) + 1e-5))
        logits = l2(h)
        return logits, h, torch.argmax(logits, 1)

    def loss_fn(out):
        logits, h, _ = out
        lse = torch.logsumexp(logits, 1)
        return (F.cross_entropy(logits, y, label_smoothing=0.1) + (lse * lse).mean() * 0.1
                + F.huber_loss(logits, t) + torch.linalg.vector_norm(h, dim=1).mean() * 0.01)

    params = list(l1.parameters()) + list(l2.parameters())
    return (forward, loss_fn, params, batch) + mlp_flops([256, 128, 10], batch)


def attn_block(torch, nn, F):
    """tools/bench/models/attn_block.grad (issue 15): x [8, 64, 64] -> q, k, v (bias-free
    linear maps), 4 causal heads of 16 as a PyTorch 1.13 user writes attention (1.13 has
    no F.scaled_dot_product_attention): softmax(q k^T / 4 masked_fill -inf) v, heads
    merged, output projection, residual; mse against a target."""
    batch, t_, c, h = 8, 64, 64, 4
    d = c // h
    ws = [torch.empty(c, c) for _ in range(4)]
    for w in ws:
        nn.init.xavier_uniform_(w)
        w.requires_grad_(True)
    wq, wk, wv, wo = ws
    x, tgt = torch.randn(batch, t_, c), torch.randn(batch, t_, c)
    causal = torch.ones(t_, t_, dtype=torch.bool).tril()

    def heads(z):
        return z.reshape(batch, t_, h, d).permute(0, 2, 1, 3)

    def forward():
        q, k, v = heads(x @ wq), heads(x @ wk), heads(x @ wv)
        s = (q @ k.transpose(-2, -1)) / math.sqrt(d)
        a = torch.softmax(s.masked_fill(~causal, float("-inf")), dim=-1) @ v
        return x + a.permute(0, 2, 1, 3).reshape(batch, t_, c) @ wo

    def loss_fn(y):
        return F.mse_loss(y, tgt)

    proj = 2 * batch * t_ * c * c
    pairs = batch * h * t_ * (t_ + 1) // 2  # gradc's count (ops_attn.c, flops_sdpa): attended pairs only
    fwd = 4 * proj + 2 * pairs * (d + d)
    train = fwd + 4 * proj + 3 * proj + 2 * pairs * (5 * d + 2 * d)
    return forward, loss_fn, ws, batch, train, fwd


def dscnn_net(nn, F):
    """tools/bench/models/dscnn.grad: conv 10x4 stride 2 (padding 5, 1), blocks of
    depthwise 3x3 + pointwise 1x1 with ReLU, global average pool, linear."""
    c, k = DSCNN["channels"], DSCNN["classes"]
    layers = [nn.Conv2d(1, c, (10, 4), stride=2, padding=(5, 1)), nn.ReLU()]
    for _ in range(DSCNN["blocks"]):
        layers += [nn.Conv2d(c, c, 3, padding=1, groups=c), nn.ReLU(), nn.Conv2d(c, c, 1), nn.ReLU()]
    layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(c, k)]
    net = nn.Sequential(*layers)
    for m in net:
        if isinstance(m, (nn.Conv2d, nn.Linear)):
            nn.init.kaiming_normal_(m.weight, nonlinearity="relu")
            nn.init.zeros_(m.bias)
    return net


def cnn_bn_net(nn):
    """tools/bench/models/cnn_bn.grad: conv 3x3 (no bias) -> BatchNorm2d -> ReLU, twice
    (the second stride 2), global average pool, linear."""
    (c1, c2), k = CNN_BN["channels"], CNN_BN["classes"]
    net = nn.Sequential(nn.Conv2d(CNN_BN["input"][0], c1, 3, padding=1, bias=False), nn.BatchNorm2d(c1), nn.ReLU(),
                        nn.Conv2d(c1, c2, 3, stride=2, padding=1, bias=False), nn.BatchNorm2d(c2), nn.ReLU(),
                        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(c2, k))
    for m in net:
        if isinstance(m, (nn.Conv2d, nn.Linear)):
            nn.init.kaiming_normal_(m.weight, nonlinearity="relu")
    return net


def dscnn_digits_net(nn, F):
    """models/dscnn_digits.grad: conv 3x3 (16), depthwise 3x3 + pointwise 1x1 (32),
    depthwise 3x3 stride 2 + pointwise 1x1 (32), each conv (no bias) -> BatchNorm2d ->
    ReLU6, global average pool, linear 32 -> 10. The input is the [N, 1, 8, 8] image
    (the model's x / 16, reshaped)."""
    def cbr(cin, cout, k, **kw):
        return [nn.Conv2d(cin, cout, k, bias=False, **kw), nn.BatchNorm2d(cout), nn.ReLU6()]
    net = nn.Sequential(*cbr(1, 16, 3, padding=1), *cbr(16, 16, 3, padding=1, groups=16), *cbr(16, 32, 1),
                        *cbr(32, 32, 3, stride=2, padding=1, groups=32), *cbr(32, 32, 1),
                        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(32, 10))
    for m in net:
        if isinstance(m, (nn.Conv2d, nn.Linear)):
            nn.init.kaiming_normal_(m.weight, nonlinearity="relu")
    return net


def resnet_digits_net(nn, F):
    """models/resnet_digits.grad: conv 3x3 (16, no bias) -> BatchNorm2d -> ReLU, two
    residual blocks (conv-BN-ReLU-conv-BN + the input, ReLU), global average pool,
    linear 16 -> 10, as an nn.Module; the input is the [N, 1, 8, 8] image."""
    class ResNetDigits(nn.Module):
        def __init__(self):
            super().__init__()
            self.stem = nn.Sequential(nn.Conv2d(1, 16, 3, padding=1, bias=False), nn.BatchNorm2d(16), nn.ReLU())
            self.blocks = nn.ModuleList(nn.Sequential(
                nn.Conv2d(16, 16, 3, padding=1, bias=False), nn.BatchNorm2d(16), nn.ReLU(),
                nn.Conv2d(16, 16, 3, padding=1, bias=False), nn.BatchNorm2d(16)) for _ in range(2))
            self.fc = nn.Linear(16, 10)

        def forward(self, x):
            h = self.stem(x)
            for blk in self.blocks:
                h = F.relu(h + blk(h))
            return self.fc(F.adaptive_avg_pool2d(h, 1).flatten(1))
    net = ResNetDigits()
    for m in net.modules():
        if isinstance(m, (nn.Conv2d, nn.Linear)):
            nn.init.kaiming_normal_(m.weight, nonlinearity="relu")
    return net


def cnn_net(name, nn, F):
    """The twins of issue 17's CNNs: tools/bench/models/{lenet5,cifar_cnn,kws_cnn,
    resnet_block}.grad and models/digits_cnn.grad, layer for layer (conv with bias but
    in the ResNet block, ReLU, nn.MaxPool2d, BatchNorm2d in the block)."""
    if name == "lenet5":  # conv 5x5 (6, padding 2), pool, conv 5x5 (16), pool, 400-120-84-10
        net = nn.Sequential(nn.Conv2d(1, 6, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2),
                            nn.Conv2d(6, 16, 5), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
                            nn.Linear(400, 120), nn.ReLU(), nn.Linear(120, 84), nn.ReLU(), nn.Linear(84, 10))
    elif name == "cifar_cnn":  # conv 3x3 32, 32, pool, 64, pool, linear 4096-10
        net = nn.Sequential(nn.Conv2d(3, 32, 3, padding=1), nn.ReLU(),
                            nn.Conv2d(32, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                            nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                            nn.Flatten(), nn.Linear(4096, 10))
    elif name == "kws_cnn":  # conv 10x4 stride 2 (64, padding 5, 1), two conv 3x3 64, pool, 64-12
        net = nn.Sequential(nn.Conv2d(1, 64, (10, 4), stride=2, padding=(5, 1)), nn.ReLU(),
                            nn.Conv2d(64, 64, 3, padding=1), nn.ReLU(), nn.Conv2d(64, 64, 3, padding=1), nn.ReLU(),
                            nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(64, 12))
    elif name == "digits_cnn":  # conv 3x3 (8), pool, conv 3x3 (16), pool, 64-10
        net = nn.Sequential(nn.Conv2d(1, 8, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                            nn.Conv2d(8, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                            nn.Flatten(), nn.Linear(64, 10))
    else:  # resnet_block: conv-BN-ReLU-conv-BN + x, ReLU, global average pool, 32-10
        class Block(nn.Module):
            def __init__(self, c=32):
                super().__init__()
                self.body = nn.Sequential(nn.Conv2d(c, c, 3, padding=1, bias=False), nn.BatchNorm2d(c), nn.ReLU(),
                                          nn.Conv2d(c, c, 3, padding=1, bias=False), nn.BatchNorm2d(c))
                self.fc = nn.Linear(c, 10)

            def forward(self, x):
                return self.fc(F.adaptive_avg_pool2d(F.relu(x + self.body(x)), 1).flatten(1))
        net = Block()
    for m in net.modules():
        if isinstance(m, (nn.Conv2d, nn.Linear)):
            nn.init.kaiming_normal_(m.weight, nonlinearity="relu")
            if m.bias is not None:
                nn.init.zeros_(m.bias)
    return net


def cnn(name, torch, nn, F):
    """An issue-17 CNN as (forward, loss_fn, params, batch, train FLOPs, inference FLOPs);
    batch norm: model.train() for the step, model.eval() for inference. digits_cnn reads
    [N, 64] pixels, divides them by 16 and reshapes, as models/digits_cnn.grad."""
    batch, shape, classes = CNNS[name]
    net = cnn_net(name, nn, F)
    y = torch.randint(0, classes, (batch,))
    if name == "digits_cnn":
        x = torch.randn(batch, 64)

        def image(x=x):
            return (x / 16).reshape(-1, *shape)
    else:
        x = torch.randn(batch, *shape)

        def image(x=x):
            return x

    def forward():
        net.train(torch.is_grad_enabled())  # infer() runs under no_grad: eval mode
        return net(image())

    def loss_fn(z):
        return F.cross_entropy(z, y)

    with torch.no_grad():
        count = hooked_flops if name == "resnet_block" else conv_flops
        flops_train, flops_infer = count(net, image())
    return (forward, loss_fn, list(net.parameters()), batch, flops_train, flops_infer)


def hooked_flops(net, x):
    """conv_flops for a net that is not a Sequential: the same count from forward hooks."""
    import torch
    fs = []
    def hook(m, inp, y):
        if isinstance(m, torch.nn.Conv2d):
            fs.append(2 * y.numel() * (m.in_channels // m.groups) * m.kernel_size[0] * m.kernel_size[1])
        else:
            fs.append(2 * inp[0].shape[0] * m.in_features * m.out_features)
    hs = [m.register_forward_hook(hook) for m in net.modules() if isinstance(m, (torch.nn.Conv2d, torch.nn.Linear))]
    net(x)
    for h in hs:
        h.remove()
    return 2 * sum(fs) + sum(fs[1:]), sum(fs)


def conv_flops(net, x):
    """What gradc counts (compiler/ops_window.c, flops_conv): 2 * output elements *
    (C/groups * KH * KW) per convolution, for the forward, the weight gradient and the
    input gradient (all but the first layer); linear layers as mlp_flops."""
    import torch
    fwd = dx = 0
    h, first = x, True
    for m in net:
        y = m(h)
        if isinstance(m, torch.nn.Conv2d):
            f = 2 * y.numel() * (m.in_channels // m.groups) * m.kernel_size[0] * m.kernel_size[1]
        elif isinstance(m, torch.nn.Linear):
            f = 2 * h.shape[0] * m.in_features * m.out_features
        else:
            f = 0
        fwd += f
        if f and not first:
            dx += f
        first = first and not f
        h = y
    return fwd + fwd + dx, fwd


def embbag(torch, nn, F):
    """tools/bench/models/embbag.grad: nn.Embedding(1000, 64) of [64, 32] ids, the means
    of the first and the last 16 positions joined, 128 -> 128 ReLU -> 10, the negative
    log-likelihood of the label read with gather."""
    c = EMBBAG
    emb = nn.Embedding(c["vocab"], c["dim"])
    l1, l2 = nn.Linear(2 * c["dim"], c["hidden"]), nn.Linear(c["hidden"], c["classes"])
    ids = torch.randint(0, c["vocab"], (c["batch"], c["tokens"]))
    label = torch.randint(0, c["classes"], (c["batch"], 1))
    half = c["tokens"] // 2

    def forward():
        e = emb(ids)
        h = torch.cat([e[:, :half].mean(1), e[:, half:].mean(1)], 1)
        return l2(torch.relu(l1(h)))

    def loss_fn(z):
        return -torch.log_softmax(z, 1).gather(1, label).mean()

    b = c["batch"]
    fwd = 2 * b * (2 * c["dim"] * c["hidden"] + c["hidden"] * c["classes"])
    params = list(emb.parameters()) + list(l1.parameters()) + list(l2.parameters())
    return forward, loss_fn, params, b, 3 * fwd, fwd  # the first layer's dx too: emb is trained


def char_gpt(torch, nn, F):
    """models/char_transformer.grad as an nn.Module a PyTorch 1.13 user writes: token and
    positional embeddings, 2 pre-norm blocks (causal 4-head attention as softmax(q k^T /
    4 masked_fill -inf) v, bias-free projections; GELU MLP 64-256-64), nn.Dropout(0.1) on
    each block's attention and MLP output, final LayerNorm, head; cross_entropy over
    [B*T, 94]. The step runs in model.train() (dropout active), inference in eval()."""
    c = CHAR_GPT
    b, t_, v, d, h = c["batch"], c["tokens"], c["vocab"], c["dim"], c["heads"]

    class Block(nn.Module):
        def __init__(self):
            super().__init__()
            self.ln1, self.ln2 = nn.LayerNorm(d), nn.LayerNorm(d)
            self.qkv, self.proj = nn.Linear(d, 3 * d, bias=False), nn.Linear(d, d, bias=False)
            self.mlp = nn.Sequential(nn.Linear(d, c["mlp"]), nn.GELU(), nn.Linear(c["mlp"], d))
            self.drop1, self.drop2 = nn.Dropout(c["p"]), nn.Dropout(c["p"])
            self.register_buffer("causal", torch.ones(t_, t_, dtype=torch.bool).tril())

        def forward(self, x):
            q, k, w = (z.reshape(b, t_, h, d // h).transpose(1, 2) for z in self.qkv(self.ln1(x)).split(d, -1))
            s = (q @ k.transpose(-2, -1) / math.sqrt(d // h)).masked_fill(~self.causal, float("-inf"))
            a = (torch.softmax(s, -1) @ w).transpose(1, 2).reshape(b, t_, d)
            x = x + self.drop1(self.proj(a))
            return x + self.drop2(self.mlp(self.ln2(x)))

    class CharGPT(nn.Module):
        def __init__(self):
            super().__init__()
            self.tok, self.pos = nn.Embedding(v, d), nn.Parameter(torch.randn(t_, d) * 0.02)
            self.blocks = nn.Sequential(*[Block() for _ in range(c["blocks"])])
            self.ln, self.head = nn.LayerNorm(d), nn.Linear(d, v, bias=False)

        def forward(self, ids):
            return self.head(self.ln(self.blocks(self.tok(ids) + self.pos))).reshape(-1, v)

    net = CharGPT()
    ids, nxt = torch.randint(0, v, (b, t_)), torch.randint(0, v, (b * t_,))

    def forward():
        net.train(torch.is_grad_enabled())  # infer() runs under no_grad: eval mode
        return net(ids)

    def loss_fn(z):
        return F.cross_entropy(z, nxt)

    rows = b * t_
    mm = c["blocks"] * (2 * rows * d * 4 * d + 2 * 2 * rows * d * c["mlp"]) + 2 * rows * d * v
    pairs = c["blocks"] * b * h * t_ * (t_ + 1) // 2  # attended pairs, as attn_block
    fwd = mm + 2 * pairs * (2 * d // h)
    return forward, loss_fn, list(net.parameters()), b, 3 * mm + 2 * pairs * (9 * d // h), fwd


def bench_models(torch, names):
    import torch.nn as nn
    import torch.nn.functional as F

    torch.manual_seed(0)
    out = {}
    for name in names:
        if name == "logreg":
            # models/logreg.grad: z = x @ w + b, loss = bce_with_logits(z, y) (mean)
            x, y = torch.randn(5), torch.rand(3)
            w = torch.randn(5, 3, requires_grad=True)
            b = torch.randn(3, requires_grad=True)
            params = [w, b]

            def forward():
                return x @ w + b

            def loss_fn(z):
                return F.binary_cross_entropy_with_logits(z, y)

            batch, flops_train, flops_infer = 1, 60, 30
        elif name == "char_transformer":  # models (issue 15): nn.Module, model.train() / eval()
            forward, loss_fn, params, batch, flops_train, flops_infer = char_gpt(torch, nn, F)
        elif name == "attn_block":  # attention (issue 15)
            forward, loss_fn, params, batch, flops_train, flops_infer = attn_block(torch, nn, F)
        elif name in CNNS:  # fast convolutions (issue 17)
            forward, loss_fn, params, batch, flops_train, flops_infer = cnn(name, torch, nn, F)
        elif name == "stats_losses":
            forward, loss_fn, params, batch, flops_train, flops_infer = stats_losses(torch, nn, F)
        elif name == "cnn_bn":  # model.train() for the step, model.eval() for inference
            batch = CNN_BN["batch"]
            net = cnn_bn_net(nn)
            params = list(net.parameters())
            x = torch.randn(batch, *CNN_BN["input"])
            y = torch.randint(0, CNN_BN["classes"], (batch,))

            def forward(net=net, x=x):
                net.train(torch.is_grad_enabled())  # infer() runs under no_grad: eval mode
                return net(x)

            def loss_fn(z, y=y):
                return F.cross_entropy(z, y)

            with torch.no_grad():
                flops_train, flops_infer = conv_flops(net, x)
        elif name == "embbag":
            forward, loss_fn, params, batch, flops_train, flops_infer = embbag(torch, nn, F)
        elif name in ("dscnn", "dscnn_digits", "resnet_digits"):
            cfg = DSCNN if name == "dscnn" else DSCNN_DIGITS
            batch = cfg["batch"]
            net = {"dscnn": dscnn_net, "dscnn_digits": dscnn_digits_net, "resnet_digits": resnet_digits_net}[name](nn, F)
            params = list(net.parameters())
            x = torch.randn(batch, *cfg["input"])
            y = torch.randint(0, cfg["classes"], (batch,))

            if name == "dscnn":
                def forward(net=net, x=x):
                    return net(x)
            else:  # the model reads [N, 64] pixels, divides by 16 and reshapes
                x = torch.randn(batch, 64)

                def forward(net=net, x=x):  # batch norm: model.train() for the step, eval() for inference
                    net.train(torch.is_grad_enabled())
                    return net((x / 16).reshape(-1, 1, 8, 8))

            def loss_fn(z, y=y):
                return F.cross_entropy(z, y)

            with torch.no_grad():
                count = hooked_flops if name == "resnet_digits" else conv_flops
                flops_train, flops_infer = count(net, x if name == "dscnn" else x.reshape(-1, 1, 8, 8))
        else:
            widths, batch, scale, act = MLPS[name]
            layers = []
            for i, (a, b_) in enumerate(zip(widths, widths[1:])):
                lin = nn.Linear(a, b_)
                nn.init.kaiming_normal_(lin.weight, nonlinearity="relu")
                nn.init.zeros_(lin.bias)
                layers.append(lin)
                if i < len(widths) - 2:
                    name_i = act if isinstance(act, str) else act[i]
                    if name_i == "layernorm_relu":  # issue 15: nn.LayerNorm(b_) then ReLU
                        layers.append(nn.LayerNorm(b_))
                        name_i = "relu"
                    dropout = name_i == "relu_dropout"  # issue 15: ReLU then nn.Dropout(0.5)
                    name_i = "relu" if dropout else name_i
                    layers.append({"relu": nn.ReLU, "silu": nn.SiLU, "hardswish": nn.Hardswish,
                                   "elu": nn.ELU}[name_i]())
                    if dropout:
                        layers.append(nn.Dropout(0.5))
            net = nn.Sequential(*layers)
            params = list(net.parameters())
            x = torch.randn(batch, widths[0])
            y = torch.randint(0, widths[-1], (batch,))

            modes = (net.train, net.eval)  # the training step in training mode, inference in eval mode
            if scale is None:
                def forward(net=net, x=x):
                    return net(x)
            else:
                def forward(net=net, x=x, scale=scale):
                    return net(x * scale)

            def loss_fn(z, y=y):
                return F.cross_entropy(z, y)

            flops_train, flops_infer = mlp_flops(widths, batch)

        opt = torch.optim.SGD(params, lr=1e-4)
        train_mode, eval_mode = modes if name in MLPS else (lambda: None, lambda: None)

        def train(opt=opt, forward=forward, loss_fn=loss_fn, train_mode=train_mode):
            train_mode()
            opt.zero_grad()
            loss = loss_fn(forward())
            loss.backward()
            opt.step()

        def infer(forward=forward, eval_mode=eval_mode):
            eval_mode()
            with torch.no_grad():
                forward()

        t_us, t_calls = median_us(train)
        i_us, i_calls = median_us(infer)
        out[name] = {
            "batch": batch,
            "train_step": {"torch_us": t_us, "calls": t_calls, "flops": flops_train,
                           "torch_gflops": flops_train / t_us / 1e3},
            "inference": {"torch_us": i_us, "calls": i_calls, "flops": flops_infer,
                          "torch_gflops": flops_infer / i_us / 1e3},
        }
        print(f"torch_bench: {name}: train {t_us:.4g} us, inference {i_us:.4g} us", file=sys.stderr)
    return out


def bench_sgemm(mm, rand):
    rows = []
    for m, k, n in SGEMM_SHAPES:
        a, b = rand(m, k), rand(k, n)
        us, calls = median_us(lambda: mm(a, b))
        rows.append({"m": m, "k": k, "n": n, "us": us, "calls": calls, "gflops": 2.0 * m * k * n / us / 1e3})
        print(f"torch_bench: sgemm {m}x{k}x{n}: {rows[-1]['gflops']:.1f} GFLOP/s", file=sys.stderr)
    return {"shapes": rows, "gflops": max(r["gflops"] for r in rows)}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--models", default=",".join(ALL), help="comma-separated subset of " + ",".join(ALL))
    ap.add_argument("-o", "--output", help="also write the JSON here")
    args = ap.parse_args()
    names = [n for n in args.models.split(",") if n]
    for n in names:
        if n not in ALL:
            ap.error(f"unknown model '{n}' (known: {', '.join(ALL)})")

    res = {"python": sys.executable, "python_version": platform.python_version(),
           "threads_env": {v: os.environ[v] for v in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS")},
           "repeats": REPEATS}
    try:
        import torch
    except Exception as e:  # ImportError, or a broken install
        res.update({"torch": None, "error": f"cannot import torch with {sys.executable}: {e}"})
        print(f"torch_bench: {res['error']}", file=sys.stderr)
        try:
            import numpy as np
        except Exception:
            res["sgemm"] = None
        else:
            rng = np.random.default_rng(0)
            res["sgemm"] = bench_sgemm(np.matmul, lambda r, c: rng.standard_normal((r, c), dtype=np.float32))
            res["sgemm"]["via"] = "numpy " + np.__version__
            res["blas_libraries"] = blas_libraries()
    else:
        torch.set_num_threads(1)
        config = torch.__config__.show()
        blas_info = next((p.split("=", 1)[1] for p in config.replace(",", "\n").split()
                          if p.startswith("BLAS_INFO=")), "unknown")
        torch.manual_seed(0)
        res["sgemm"] = bench_sgemm(torch.mm, lambda r, c: torch.randn(r, c, dtype=torch.float32))
        res["sgemm"]["via"] = "torch.mm"
        libs = blas_libraries()  # after the first mm: libblas is certainly loaded by now
        res.update({"torch": torch.__version__, "num_threads": torch.get_num_threads(),
                    "blas_info": blas_info, "blas_libraries": libs,
                    "openblas_loaded": any("openblas" in p for p in libs)})
        res["models"] = bench_models(torch, names)
        # The ceiling again after the models: on a shared machine one of the two may have
        # been slowed down by other jobs; the ceiling is the better of the two medians.
        again = bench_sgemm(torch.mm, lambda r, c: torch.randn(r, c, dtype=torch.float32))
        for first, second in zip(res["sgemm"]["shapes"], again["shapes"]):
            first["gflops_runs"] = [first["gflops"], second["gflops"]]
            first["gflops"] = max(first["gflops_runs"])
        res["sgemm"]["gflops"] = max(r["gflops"] for r in res["sgemm"]["shapes"])
    text = json.dumps(res, indent=1)
    print(text)
    if args.output:
        with open(args.output, "w") as fh:
            fh.write(text + "\n")


if __name__ == "__main__":
    main()
