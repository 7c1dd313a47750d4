#!/usr/bin/python3
"""gen_op_fixtures.py — PyTorch 1.13 reference fixtures for every operator of gradc.

Run (needs torch; on the build machines it is installed for /usr/bin/python3 only):

    /usr/bin/python3 tools/torch/gen_op_fixtures.py            # rewrites tests/fixtures/ops/*.json
    /usr/bin/python3 tools/torch/gen_op_fixtures.py --check    # regenerates in memory, fails if the files differ

Its output, tests/fixtures/ops/*.json, is COMMITTED: the test suite (tests/test_torch_ops.c)
reads those files and never needs torch. Rerun this script only when a case is added or
changed, and commit the script and the data together. The output is deterministic (each
case draws its values from a torch.Generator seeded by a CRC of the case's name, so adding
a case changes no other case).

    /usr/bin/python3 tools/torch/gen_op_fixtures.py --repro CASE [--gradc build/bin/gradc]

prints (from the committed JSON, no torch needed) a `gradc run` command line that
reproduces CASE, with its model written to /tmp/CASE.grad, and torch's expected values.

A fixture file is {"family", "generator", "torch", "cases": [CASE...]} where CASE is

    {"name": identifier,
     "model": the model text in the gradc language,
     "inputs":  {NAME: {"dtype": "f32"|"i32", "shape": [..], "data": [..]}},
     "params":  {NAME: {"dtype": "f32", "shape": [..], "data": [..]}},
     "outputs": {NAME: {"shape": [..], "data": [..]}},   # torch's forward values
     "loss": NUMBER,                                      # torch's loss
     "grads":   {NAME: {"shape": [..], "data": [..]}},   # torch's .grad of every param (0 if None)
     "tol": {"abs": A, "rel": R, "why": TEXT}             # optional; default abs 1e-5, rel 1e-4
     "note": TEXT}                                         # optional: what the case checks

Data are row-major; every number is written with 9 significant digits (float32 values
round-trip exactly). A case made with nonfinite=True (pow's special values) may hold NaN,
infinities and negative zeros, which JSON numbers cannot: they are written as the strings
"nan", "inf", "-inf" and "-0", and the tests expect NaN and infinities exactly
(tests/support/fixtures.h, fx_number). Most cases are `y = EXPR; loss = sum(y * r)` with r a fixed random
input, so that every element of dloss/dy differs; loss cases minimise the loss op itself.
The reference is float32 torch on the CPU.
"""
import json
import math
import os
import sys
import zlib

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
OUTDIR = os.path.join(ROOT, "tests", "fixtures", "ops")

# ----------------------------------------------------------------------------- output


def fmt(v):
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        if v != v or v in (float("inf"), float("-inf")):
            raise ValueError("non-finite value in a fixture")
        s = "%.9g" % v
        return "0" if s == "-0" else s
    if isinstance(v, str):
        return json.dumps(v)
    if isinstance(v, list):
        return "[" + ", ".join(fmt(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{" + ", ".join(json.dumps(k) + ": " + fmt(x) for k, x in v.items()) + "}"
    raise TypeError(type(v))


def dump_file(family, cases, torch_version):
    out = ["{", '  "family": %s,' % json.dumps(family),
           '  "generator": "tools/torch/gen_op_fixtures.py",',
           '  "torch": %s,' % json.dumps(torch_version), '  "cases": [']
    for i, c in enumerate(cases):
        lines = []
        for k, v in c.items():
            if isinstance(v, dict) and k in ("inputs", "params", "outputs", "grads", "buffers"):
                inner = ",\n".join("      %s: %s" % (json.dumps(n), fmt(t)) for n, t in v.items())
                lines.append("    %s: {%s}" % (json.dumps(k), ("\n" + inner + "\n    ") if inner else ""))
            else:
                lines.append("    %s: %s" % (json.dumps(k), fmt(v)))
        out.append("   {\n" + ",\n".join(lines) + "\n   }" + ("," if i + 1 < len(cases) else ""))
    out.append("  ]")
    out.append("}")
    return "\n".join(out) + "\n"


# ----------------------------------------------------------------------------- repro


def repro(name, gradc):
    for fn in sorted(os.listdir(OUTDIR)):
        if not fn.endswith(".json"):
            continue
        with open(os.path.join(OUTDIR, fn)) as f:
            doc = json.load(f)
        for c in doc["cases"]:
            if c["name"] != name:
                continue
            path = "/tmp/%s.grad" % name
            with open(path, "w") as f:
                f.write(c["model"])
            sets = []
            for group in ("inputs", "params"):
                for n, t in c[group].items():
                    sets.append("--set %s=%s" % (n, ",".join(fmt(x) for x in t["data"])))
            print("# %s (%s)\n%s" % (name, fn, c["model"]))
            print("%s run %s %s --backward --json" % (gradc, path, " ".join(sets)))
            print("# torch: loss %s" % fmt(c["loss"]))
            for n, t in c["outputs"].items():
                print("# torch: output %s %s %s" % (n, t["shape"], fmt(t["data"])))
            for n, t in c["grads"].items():
                print("# torch: grad %s %s %s" % (n, t["shape"], fmt(t["data"])))
            return 0
    print("no case named %s in %s" % (name, OUTDIR), file=sys.stderr)
    return 1


# ----------------------------------------------------------------------------- cases

if __name__ == "__main__" and "--repro" in sys.argv:
    i = sys.argv.index("--repro")
    g = sys.argv[sys.argv.index("--gradc") + 1] if "--gradc" in sys.argv else "build/bin/gradc"
    sys.exit(repro(sys.argv[i + 1], g))

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

torch.manual_seed(0)
torch.set_num_threads(1)

FAMILIES = {}  # family -> [case]
_gen = None


def _g():
    return _gen


def U(shape, lo, hi):
    return torch.rand(shape, generator=_g(), dtype=torch.float32) * (hi - lo) + lo


def ANY(*shape):  # uniform in [-1.5, 1.5]
    return U(shape, -1.5, 1.5)


def POS(*shape):  # uniform in [0.5, 2]: log, sqrt, fractional and negative powers, divisors
    return U(shape, 0.5, 2.0)


def WIDE(*shape):  # uniform in [-4, 4]: sigmoid, tanh, softplus, gelu
    return U(shape, -4.0, 4.0)


def AWAY(*shape):  # +-[0.3, 1.5]: away from the kinks of relu, abs, leaky_relu
    m = U(shape, 0.3, 1.5)
    s = torch.where(torch.rand(shape, generator=_g()) < 0.5, -1.0, 1.0)
    return m * s


def T(vals):
    return torch.tensor(vals, dtype=torch.float32)


def tdecl(t, dtype="f32"):
    return "%s[%s]" % (dtype, ", ".join(str(d) for d in t.shape))


def tjson(t, dtype="f32"):
    d = {"shape": list(t.shape)}
    if dtype is None and t.dtype in (torch.int32, torch.int64):  # an i32 output (argmax)
        dtype = "i32"
    if dtype:
        d = {"dtype": dtype, "shape": list(t.shape)}
    flat = t.detach().reshape(-1).tolist()
    d["data"] = [int(x) for x in flat] if dtype == "i32" else [float(x) for x in flat]
    return d


def seed_for(name):
    global _gen
    _gen = torch.Generator().manual_seed(zlib.crc32(name.encode()))


def special_text(x):
    """x, or the text of a value JSON (or fmt) does not keep: "nan", "inf", "-inf", "-0"."""
    if x != x:
        return "nan"
    if abs(x) == float("inf"):
        return "inf" if x > 0 else "-inf"
    if x == 0 and math.copysign(1.0, x) < 0:
        return "-0"
    return x


def nonfinite_as_text(t):
    """A tjson tensor whose NaN, infinities and negative zeros are written as text (JSON has
    no such numbers, fmt writes -0 as 0; the tests read them back, tests/support/fixtures.h)."""
    t["data"] = [special_text(x) for x in t["data"]]
    return t


def add(family, name, params, body, fn, inputs=(), outputs=("y",), ew=True, tol=None, note=None, nonfinite=False):
    """params/inputs: lists of (name, tensor) (lambdas are called after seeding); body: the
    gradc statements; fn(env) -> dict of torch values for every name in outputs (and
    'loss' unless ew). ew: append `loss = sum(y * r)` with a random input r. nonfinite:
    inputs, outputs and gradients may hold NaN and infinities (the loss may not), which
    the tests expect exactly."""
    assert name.isidentifier() and all(name != c["name"] for f in FAMILIES.values() for c in f), name
    seed_for(name)
    params = [(n, (v() if callable(v) else v).clone().float().requires_grad_(True)) for n, v in params]
    inputs = [(n, v() if callable(v) else v) for n, v in inputs]
    env = dict(inputs)
    env.update(params)
    vals = fn(env)
    if ew:
        y = vals["y"]
        r = U(tuple(y.shape), -1.0, 1.0)
        inputs.append(("r", r))
        vals["loss"] = (y * r).sum()
        body = list(body) + ["loss = sum(y * r)"]
    loss = vals["loss"]
    assert loss.dim() == 0
    loss.backward()
    lines = ["model " + name]
    for n, v in inputs:
        lines.append("input %s : %s" % (n, tdecl(v, "i32" if v.dtype in (torch.int32, torch.int64) else "f32")))
    for n, v in params:
        lines.append("param %s : %s" % (n, tdecl(v)))
    lines += list(body)
    if outputs:
        lines.append("output " + ", ".join(outputs))
    lines.append("minimize loss")
    case = {"name": name, "model": "\n".join(lines) + "\n"}
    if note:
        case["note"] = note
    case["inputs"] = {n: tjson(v, "i32" if v.dtype in (torch.int32, torch.int64) else "f32") for n, v in inputs}
    case["params"] = {n: tjson(v) for n, v in params}
    case["outputs"] = {n: tjson(vals[n], None) for n in outputs}
    case["loss"] = float(loss.detach())
    case["grads"] = {n: tjson(v.grad if v.grad is not None else torch.zeros_like(v), None) for n, v in params}
    if tol:
        case["tol"] = tol
    assert case["loss"] == case["loss"] and abs(case["loss"]) < 1e30, name
    for group in ("inputs", "outputs", "grads"):
        for n, t in case[group].items():
            if nonfinite:
                nonfinite_as_text(t)
            else:
                assert all(x == x and abs(x) < 1e30 for x in t["data"]), (name, n)
    FAMILIES.setdefault(family, []).append(case)


def ew(family, name, params, expr, fn, **kw):
    add(family, name, params, ["y = " + expr], lambda e: {"y": fn(e)}, **kw)


# ---- elementwise: + - * / with broadcasting, unary -, **, the unary functions, maximum/minimum, detach
E = "elementwise"
for nm, expr, fn, ps in [
    ("add_same", "a + b", lambda e: e["a"] + e["b"], [("a", lambda: ANY(2, 3)), ("b", lambda: ANY(2, 3))]),
    ("add_row", "a + b", lambda e: e["a"] + e["b"], [("a", lambda: ANY(3, 4)), ("b", lambda: ANY(4))]),
    ("add_col_row", "a + b", lambda e: e["a"] + e["b"], [("a", lambda: ANY(3, 1)), ("b", lambda: ANY(1, 4))]),
    ("add_3d_bcast", "a + b", lambda e: e["a"] + e["b"], [("a", lambda: ANY(2, 1, 4)), ("b", lambda: ANY(3, 1))]),
    ("add_scalar_param", "s + a", lambda e: e["s"] + e["a"], [("s", lambda: ANY()), ("a", lambda: ANY(2, 3))]),
    ("add_const", "a + 2.5", lambda e: e["a"] + 2.5, [("a", lambda: ANY(2, 3))]),
    ("sub_row", "a - b", lambda e: e["a"] - e["b"], [("a", lambda: ANY(3, 4)), ("b", lambda: ANY(4))]),
    ("sub_rev_bcast", "b - a", lambda e: e["b"] - e["a"], [("a", lambda: ANY(2, 3, 4)), ("b", lambda: ANY(3, 1))]),
    ("sub_const_left", "1 - a", lambda e: 1 - e["a"], [("a", lambda: ANY(2, 3))]),
    ("mul_same", "a * b", lambda e: e["a"] * e["b"], [("a", lambda: ANY(2, 3)), ("b", lambda: ANY(2, 3))]),
    ("mul_outer", "a * b", lambda e: e["a"] * e["b"], [("a", lambda: ANY(3, 1)), ("b", lambda: ANY(1, 4))]),
    ("mul_3d_bcast", "a * b", lambda e: e["a"] * e["b"], [("a", lambda: ANY(2, 3, 4)), ("b", lambda: ANY(3, 1))]),
    ("mul_4d_bcast", "a * b", lambda e: e["a"] * e["b"],
     [("a", lambda: ANY(2, 1, 3, 1)), ("b", lambda: ANY(4, 1, 5))]),
    ("mul_scalar_param", "a * s", lambda e: e["a"] * e["s"], [("a", lambda: ANY(4)), ("s", lambda: ANY())]),
    ("mul_self", "a * a", lambda e: e["a"] * e["a"], [("a", lambda: ANY(5))]),
    ("div_same", "a / b", lambda e: e["a"] / e["b"], [("a", lambda: ANY(2, 3)), ("b", lambda: POS(2, 3))]),
    ("div_row", "a / b", lambda e: e["a"] / e["b"], [("a", lambda: ANY(3, 4)), ("b", lambda: POS(4))]),
    ("div_3d_col", "a / b", lambda e: e["a"] / e["b"], [("a", lambda: ANY(2, 3, 4)), ("b", lambda: POS(3, 1))]),
    ("div_by_scalar_param", "a / s", lambda e: e["a"] / e["s"], [("a", lambda: ANY(2, 3)), ("s", lambda: POS())]),
    ("div_const_by", "2 / a", lambda e: 2 / e["a"], [("a", lambda: POS(2, 3))]),
    ("div_by_const", "a / 4", lambda e: e["a"] / 4, [("a", lambda: ANY(2, 3))]),
    ("neg", "-a", lambda e: -e["a"], [("a", lambda: ANY(2, 3))]),
    ("neg_expr_bcast", "-(a * b) + a", lambda e: -(e["a"] * e["b"]) + e["a"],
     [("a", lambda: ANY(3, 4)), ("b", lambda: ANY(4))]),
    ("precedence", "a + b * c - a / c ** 2", lambda e: e["a"] + e["b"] * e["c"] - e["a"] / e["c"] ** 2,
     [("a", lambda: ANY(3, 4)), ("b", lambda: ANY(4)), ("c", lambda: POS(3, 1))]),
    ("neg_pow_precedence", "-a ** 2", lambda e: -e["a"] ** 2, [("a", lambda: ANY(5))]),
]:
    ew(E, nm, ps, expr, fn)

for nm, p, dom in [("pow_2", "2", ANY), ("pow_3", "3", ANY), ("pow_0_5", "0.5", POS), ("pow_m1", "-1", POS),
                   ("pow_1_5", "1.5", POS), ("pow_m0_5", "-0.5", POS)]:
    val = float(p)
    ew(E, nm, [("a", (lambda d: lambda: d(2, 3))(dom))], "a ** " + p, (lambda v: lambda e: e["a"] ** v)(val))
ew(E, "pow_2_bcast_sum", [("a", lambda: ANY(3, 1)), ("b", lambda: ANY(4))], "(a + b) ** 2",
   lambda e: (e["a"] + e["b"]) ** 2)

UNARY = [
    ("exp", torch.exp, ANY), ("log", torch.log, POS), ("sqrt", torch.sqrt, POS), ("abs", torch.abs, AWAY),
    ("tanh", torch.tanh, WIDE), ("sigmoid", torch.sigmoid, WIDE), ("relu", torch.relu, AWAY),
    ("leaky_relu", F.leaky_relu, AWAY), ("gelu", F.gelu, WIDE), ("silu", F.silu, WIDE),
    ("softplus", F.softplus, WIDE),
]
for op, fn, dom in UNARY:
    ew(E, op, [("a", (lambda d: lambda: d(2, 3))(dom))], "%s(a)" % op, (lambda f: lambda e: f(e["a"]))(fn))
    ew(E, op + "_3d", [("a", (lambda d: lambda: d(2, 3, 5))(dom))], "%s(a)" % op,
       (lambda f: lambda e: f(e["a"]))(fn))
ew(E, "log_small_large", [("a", lambda: T([1e-3, 0.02, 0.5, 7.0, 150.0, 3000.0]))], "log(a)",
   lambda e: torch.log(e["a"]))
ew(E, "exp_range", [("a", lambda: T([-20.0, -8.5, -3.0, 0.0, 2.5, 9.0, 15.0]))], "exp(a)",
   lambda e: torch.exp(e["a"]))
ew(E, "tanh_range", [("a", lambda: T([-12.0, -5.0, -0.7, -1e-3, 0.0, 0.02, 1.3, 4.0, 9.5]))], "tanh(a)",
   lambda e: torch.tanh(e["a"]))
ew(E, "sigmoid_range", [("a", lambda: T([-30.0, -12.0, -5.0, -0.5, 0.0, 0.25, 3.0, 8.0, 14.0, 30.0]))],
   "sigmoid(a)", lambda e: torch.sigmoid(e["a"]))
ew(E, "softplus_range", [("a", lambda: T([-30.0, -10.0, -1.0, 0.0, 0.5, 6.0, 19.0, 21.0, 40.0]))],
   "softplus(a)", lambda e: F.softplus(e["a"]),
   note="torch's softplus returns x itself above threshold 20 (gradient 1)")
ew(E, "gelu_range", [("a", lambda: T([-9.0, -5.0, -2.0, -0.6, 0.0, 0.3, 1.0, 3.5, 8.0]))], "gelu(a)",
   lambda e: F.gelu(e["a"]))
ew(E, "sqrt_range", [("a", lambda: T([1e-4, 0.01, 0.3, 1.0, 4.0, 90.0, 1e4]))], "sqrt(a)",
   lambda e: torch.sqrt(e["a"]))
ew(E, "leaky_relu_slope_0_2", [("a", lambda: AWAY(2, 3))], "leaky_relu(a, slope=0.2)",
   lambda e: F.leaky_relu(e["a"], 0.2))
ew(E, "leaky_relu_slope_pos", [("a", lambda: AWAY(2, 4))], "leaky_relu(a, 0.3)",
   lambda e: F.leaky_relu(e["a"], 0.3))
for op, fn in [("maximum", torch.maximum), ("minimum", torch.minimum)]:
    ew(E, op, [("a", lambda: ANY(2, 3)), ("b", lambda: ANY(2, 3))], "%s(a, b)" % op,
       (lambda f: lambda e: f(e["a"], e["b"]))(fn))
    ew(E, op + "_bcast", [("a", lambda: ANY(3, 4)), ("b", lambda: ANY(4))], "%s(a, b)" % op,
       (lambda f: lambda e: f(e["a"], e["b"]))(fn))
    ew(E, op + "_const", [("a", lambda: AWAY(2, 3))], "%s(a, 0.1)" % op,
       (lambda f: lambda e: f(e["a"], torch.tensor(0.1)))(fn))
ew(E, "unary_chain", [("a", lambda: ANY(3, 4))], "sigmoid(tanh(a) * 2) + exp(-a * a) + softplus(a) * gelu(a)",
   lambda e: torch.sigmoid(torch.tanh(e["a"]) * 2) + torch.exp(-e["a"] * e["a"]) + F.softplus(e["a"]) * F.gelu(e["a"]))
ew(E, "log_sqrt_chain", [("a", lambda: POS(2, 3)), ("b", lambda: POS(3))], "log(a * b) + sqrt(a + b) - a ** 1.5 / b",
   lambda e: torch.log(e["a"] * e["b"]) + torch.sqrt(e["a"] + e["b"]) - e["a"] ** 1.5 / e["b"])
# detach: the value, no gradient
ew(E, "detach_self", [("a", lambda: ANY(2, 3))], "a * detach(a)", lambda e: e["a"] * e["a"].detach())
ew(E, "detach_other", [("a", lambda: ANY(2, 3)), ("b", lambda: ANY(3))], "a * detach(b) + detach(exp(b))",
   lambda e: e["a"] * e["b"].detach() + torch.exp(e["b"]).detach(), note="b gets no gradient: torch .grad is None (0)")
ew(E, "detach_partial", [("a", lambda: ANY(4))], "tanh(a) * detach(sigmoid(a)) + a",
   lambda e: torch.tanh(e["a"]) * torch.sigmoid(e["a"]).detach() + e["a"])
# kinks and ties: the subgradient torch picks
ew(E, "tie_relu_zero", [("a", lambda: T([-1.0, 0.0, 0.0, 2.0, -0.0, 0.5]))], "relu(a)", lambda e: torch.relu(e["a"]),
   note="relu'(0) = 0 in torch")
ew(E, "tie_abs_zero", [("a", lambda: T([-1.0, 0.0, 2.0, -0.0, 0.5]))], "abs(a)", lambda e: torch.abs(e["a"]),
   note="abs'(0) = sign(0) = 0 in torch")
ew(E, "tie_leaky_relu_zero", [("a", lambda: T([-1.0, 0.0, 2.0, -0.0]))], "leaky_relu(a, slope=0.2)",
   lambda e: F.leaky_relu(e["a"], 0.2), note="leaky_relu'(0) = slope in torch (x > 0 ? 1 : slope)")
ew(E, "tie_maximum_self", [("a", lambda: ANY(2, 3))], "maximum(a, a)", lambda e: torch.maximum(e["a"], e["a"]),
   note="torch gives each operand half the gradient at a tie: a gets the whole")
ew(E, "tie_minimum_self", [("a", lambda: ANY(4))], "minimum(a, a) * 3", lambda e: torch.minimum(e["a"], e["a"]) * 3)
ew(E, "tie_maximum_split", [("a", lambda: T([1.0, 2.0, 3.0, -1.0, 0.0])), ("b", lambda: T([1.0, 5.0, -3.0, -1.0, 0.5]))],
   "maximum(a, b)", lambda e: torch.maximum(e["a"], e["b"]), note="ties at elements 0 and 3: half to each operand")
ew(E, "tie_minimum_split", [("a", lambda: T([1.0, 2.0, 3.0, -1.0])), ("b", lambda: T([1.0, 5.0, -3.0, -1.0]))],
   "minimum(a, b)", lambda e: torch.minimum(e["a"], e["b"]))
ew(E, "tie_maximum_const", [("a", lambda: T([0.0, 1.0, -1.0, 0.0]))], "maximum(a, 0)",
   lambda e: torch.maximum(e["a"], torch.tensor(0.0)), note="maximum(a, 0) at a = 0: half the gradient (unlike relu)")

# ---- matmul (torch.matmul)
M = "matmul"
for nm, sa, sb in [("mm_1d_1d", (4,), (4,)), ("mm_1d_1d_long", (37,), (37,)), ("mm_2d_1d", (3, 4), (4,)),
                   ("mm_1d_2d", (4,), (4, 3)), ("mm_2d_2d", (3, 4), (4, 5)), ("mm_2d_2d_tall", (7, 3), (3, 2)),
                   ("mm_2d_2d_row", (1, 6), (6, 4)), ("mm_2d_2d_big", (9, 17), (17, 11)),
                   ("mm_3d_3d", (2, 3, 4), (2, 4, 5)), ("mm_3d_3d_b3", (3, 2, 5), (3, 5, 2)),
                   ("mm_3d_2d", (2, 3, 4), (4, 5)), ("mm_3d_1d", (2, 3, 4), (4,)), ("mm_2d_3d", (3, 4), (2, 4, 5)),
                   ("mm_1d_3d", (4,), (2, 4, 3)),
                   # a batch of 1 broadcasts against a batch of 3, either side
                   ("mm_3d_b1_3d", (1, 2, 4), (3, 4, 5)), ("mm_3d_3d_b1", (3, 2, 4), (1, 4, 5))]:
    ew(M, nm, [("a", (lambda s: lambda: ANY(*s))(sa)), ("b", (lambda s: lambda: ANY(*s))(sb))], "a @ b",
       lambda e: torch.matmul(e["a"], e["b"]))
ew(M, "mm_self_t", [("a", lambda: ANY(3, 4))], "a @ transpose(a)", lambda e: e["a"] @ e["a"].t())
ew(M, "mm_chain_bias", [("x", lambda: ANY(4, 5)), ("w", lambda: ANY(5, 3)), ("v", lambda: ANY(3, 2)), ("b", lambda: ANY(3))],
   "(x @ w + b) @ v", lambda e: (e["x"] @ e["w"] + e["b"]) @ e["v"])
ew(M, "mm_precedence", [("a", lambda: ANY(2, 3)), ("b", lambda: ANY(3, 3)), ("c", lambda: ANY(3))],
   "a @ b * c + a @ b", lambda e: (e["a"] @ e["b"]) * e["c"] + e["a"] @ e["b"],
   note="@ binds like * (left to right): (a @ b) * c")
ew(M, "mm_input_operand", [("w", lambda: ANY(6, 3))], "x @ w", lambda e: e["x"] @ e["w"], inputs=[("x", lambda: ANY(5, 6))])

# ---- shape
S = "shape"
ew(S, "transpose_2d", [("a", lambda: ANY(3, 5))], "transpose(a)", lambda e: e["a"].t())
ew(S, "transpose_2d_mul", [("a", lambda: ANY(3, 4)), ("b", lambda: ANY(4, 3))], "transpose(a) * b",
   lambda e: e["a"].t() * e["b"])
for perm in [(0, 2, 1), (1, 0, 2), (2, 0, 1), (1, 2, 0), (2, 1, 0)]:
    ew(S, "transpose_perm_%d%d%d" % perm, [("a", lambda: ANY(2, 3, 4))], "transpose(a, perm=[%d, %d, %d])" % perm,
       (lambda p: lambda e: e["a"].permute(*p))(perm))
ew(S, "transpose_perm_4d", [("a", lambda: ANY(2, 3, 2, 4))], "transpose(a, perm=[3, 1, 0, 2])",
   lambda e: e["a"].permute(3, 1, 0, 2))
ew(S, "transpose_perm_bcast", [("a", lambda: ANY(2, 3, 4)), ("b", lambda: ANY(3, 1))],
   "transpose(a, perm=[2, 1, 0]) * b", lambda e: e["a"].permute(2, 1, 0) * e["b"])
for nm, src, shp, to in [("reshape_2d_3d", (4, 6), "[2, 3, 4]", (2, 3, 4)), ("reshape_m1_first", (4, 6), "[-1, 3]", (-1, 3)),
                         ("reshape_m1_mid", (2, 3, 4), "[2, -1, 2]", (2, -1, 2)), ("reshape_to_1d", (3, 4), "[-1]", (-1,)),
                         ("reshape_from_1d", (12,), "[3, 4]", (3, 4)), ("reshape_to_4d", (24,), "[2, 1, 3, -1]", (2, 1, 3, -1))]:
    ew(S, nm, [("a", (lambda s: lambda: ANY(*s))(src))], "reshape(a, %s)" % shp, (lambda t: lambda e: e["a"].reshape(t))(to))
ew(S, "reshape_then_bcast", [("a", lambda: ANY(6)), ("b", lambda: ANY(3))], "reshape(a, [2, 3]) + b",
   lambda e: e["a"].reshape(2, 3) + e["b"])
ew(S, "reshape_transpose", [("a", lambda: ANY(2, 6))], "transpose(reshape(a, [4, 3])) * 2",
   lambda e: e["a"].reshape(4, 3).t() * 2)
for nm, shp in [("flatten_2d", (3, 4)), ("flatten_3d", (2, 3, 4)), ("flatten_4d", (2, 3, 2, 2))]:
    ew(S, nm, [("a", (lambda s: lambda: ANY(*s))(shp))], "flatten(a)", lambda e: torch.flatten(e["a"], 1))
ew(S, "flatten_transposed", [("a", lambda: ANY(2, 3, 4))], "flatten(transpose(a, perm=[0, 2, 1]))",
   lambda e: torch.flatten(e["a"].permute(0, 2, 1), 1))

# ---- reductions
R = "reduce"
RED = {"sum": torch.sum, "mean": torch.mean}


def t_reduce(op, x, axis, keep):
    if op in RED:
        if axis is None:
            return RED[op](x, dim=tuple(range(x.dim())), keepdim=True) if keep else RED[op](x)
        return RED[op](x, dim=axis, keepdim=keep)
    # max: the op of the same name. torch.max(x, dim=int) sends the gradient of a tie to the
    # index it returns (the first maximum); a list of axes needs torch.amax, and max() over
    # everything (torch.max(x) / torch.amax) shares it evenly among the tied maxima.
    if axis is None:
        return torch.amax(x, dim=tuple(range(x.dim())), keepdim=True) if keep else torch.max(x)
    if isinstance(axis, int):
        return torch.max(x, dim=axis, keepdim=keep).values
    return torch.amax(x, dim=axis, keepdim=keep)


def axis_txt(axis):
    if axis is None:
        return ""
    if isinstance(axis, int):
        return ", axis=%d" % axis
    return ", axis=[%s]" % ", ".join(str(a) for a in axis)


for op in ("sum", "mean", "max"):
    for axis in [None, 0, 1, 2, -1, [0, 2], [1, 2], [0, 1, 2]]:
        for keep in (False, True):
            if axis in ([0, 1, 2],) and not keep and op != "max":
                continue
            tag = "all" if axis is None else (("m%d" % -axis if axis < 0 else "%d" % axis) if isinstance(axis, int)
                                              else "".join(str(a) for a in axis))
            nm = "%s_axis_%s%s" % (op, tag, "_keep" if keep else "")
            ktxt = ", keepdims=true" if keep else (", keepdims=false" if axis == 1 else "")
            ew(R, nm, [("a", lambda: ANY(2, 3, 4))], "%s(a%s%s)" % (op, axis_txt(axis), ktxt),
               (lambda o, ax, k: lambda e: t_reduce(o, e["a"], ax, k))(op, axis, keep))
    ew(R, op + "_2d_rows", [("a", lambda: ANY(5, 7))], "%s(a, axis=1)" % op,
       (lambda o: lambda e: t_reduce(o, e["a"], 1, False))(op))
    ew(R, op + "_1d", [("a", lambda: ANY(9))], "%s(a)" % op, (lambda o: lambda e: t_reduce(o, e["a"], None, False))(op))
    ew(R, op + "_1d_long", [("a", lambda: ANY(300))], "%s(a, axis=0)" % op,
       (lambda o: lambda e: t_reduce(o, e["a"], 0, False))(op))
    ew(R, op + "_keep_bcast", [("a", lambda: ANY(3, 5))], "a - %s(a, axis=1, keepdims=true)" % op,
       (lambda o: lambda e: e["a"] - t_reduce(o, e["a"], 1, True))(op))
ew(R, "sum_scalar", [("a", lambda: ANY())], "sum(a) * 3", lambda e: torch.sum(e["a"]) * 3)
ew(R, "mean_of_square", [("a", lambda: ANY(4, 6))], "mean(a * a, axis=0)", lambda e: torch.mean(e["a"] * e["a"], dim=0))
TIE2 = [[1.0, 3.0, 3.0, 2.0], [5.0, 5.0, 5.0, 1.0], [0.0, -1.0, 4.0, 4.0]]
ew(R, "tie_max_axis_int", [("a", lambda: T(TIE2))], "max(a, axis=1)", lambda e: t_reduce("max", e["a"], 1, False),
   note="torch.max(x, dim) gives a tie's whole gradient to the first maximum")
ew(R, "tie_max_axis_int_keep", [("a", lambda: T([[2.0, 1.0, 4.0, 0.5], [2.0, 3.0, 4.0, -1.0], [0.0, 3.0, 4.0, 0.0]]))],
   "max(a, axis=0, keepdims=true)", lambda e: t_reduce("max", e["a"], 0, True),
   note="ties down every column but the last: torch.max(x, dim) gives the whole gradient to the first maximum")
ew(R, "tie_max_axis_list", [("a", lambda: T([[[5.0, 5.0], [1.0, 2.0]], [[5.0, 0.0], [2.0, 2.0]]]))],
   "max(a, axis=[0, 2])", lambda e: t_reduce("max", e["a"], [0, 2], False),
   note="torch.amax shares a tie evenly among the maxima")
ew(R, "tie_max_all", [("a", lambda: T(TIE2))], "max(a)", lambda e: t_reduce("max", e["a"], None, False),
   note="torch.max(x) shares a tie evenly among the maxima")

# ---- nn: softmax, log_softmax, conv2d, pooling
N = "nn"
for op, fn in [("softmax", torch.softmax), ("log_softmax", torch.log_softmax)]:
    ew(N, op + "_default", [("a", lambda: WIDE(3, 5))], "%s(a)" % op, (lambda f: lambda e: f(e["a"], -1))(fn))
    ew(N, op + "_axis0", [("a", lambda: WIDE(4, 3))], "%s(a, axis=0)" % op, (lambda f: lambda e: f(e["a"], 0))(fn))
    ew(N, op + "_3d_axis1", [("a", lambda: WIDE(2, 4, 3))], "%s(a, axis=1)" % op, (lambda f: lambda e: f(e["a"], 1))(fn))
    ew(N, op + "_3d_axism1", [("a", lambda: WIDE(2, 3, 6))], "%s(a, axis=-1)" % op, (lambda f: lambda e: f(e["a"], -1))(fn))
    ew(N, op + "_1d", [("a", lambda: WIDE(7))], "%s(a, axis=0)" % op, (lambda f: lambda e: f(e["a"], 0))(fn))
    ew(N, op + "_large_logits", [("a", lambda: T([[100.0, 98.0, 40.0, -100.0], [-50.0, -52.0, -51.0, -80.0]]))],
       "%s(a)" % op, (lambda f: lambda e: f(e["a"], -1))(fn), note="needs the max-shifted form")
    ew(N, op + "_tied", [("a", lambda: T([[1.0, 1.0, 0.5], [2.0, 2.0, 2.0]]))], "%s(a)" % op,
       (lambda f: lambda e: f(e["a"], -1))(fn))
ew(N, "softmax_attention", [("q", lambda: ANY(3, 4)), ("k", lambda: ANY(5, 4)), ("v", lambda: ANY(5, 2))],
   "softmax(q @ transpose(k) / 2) @ v", lambda e: torch.softmax(e["q"] @ e["k"].t() / 2, -1) @ e["v"])

CONV = [
    # name, x shape, w shape, bias, stride, padding
    ("conv_basic", (1, 1, 4, 4), (1, 1, 3, 3), False, 1, 0),
    ("conv_bias", (2, 3, 5, 5), (4, 3, 3, 3), True, 1, 0),
    ("conv_pad1", (2, 3, 5, 5), (4, 3, 3, 3), True, 1, 1),
    ("conv_stride2", (2, 2, 7, 7), (3, 2, 3, 3), True, 2, 0),
    ("conv_stride2_pad1", (2, 2, 7, 7), (3, 2, 3, 3), True, 2, 1),
    ("conv_stride2_even", (1, 2, 6, 6), (2, 2, 3, 3), False, 2, 0),
    ("conv_stride2_pad1_nobias", (1, 3, 8, 8), (2, 3, 3, 3), False, 2, 1),
    ("conv_rect", (2, 2, 5, 7), (3, 2, 2, 3), True, 1, 0),
    ("conv_rect_pad1", (1, 2, 4, 6), (2, 2, 3, 2), False, 1, 1),
    ("conv_1x1", (2, 4, 3, 3), (5, 4, 1, 1), True, 1, 0),
    ("conv_1x1_stride2_pad1", (1, 3, 5, 5), (2, 3, 1, 1), True, 2, 1),
    ("conv_5x5_pad1", (1, 2, 6, 6), (3, 2, 5, 5), True, 1, 1),
    ("conv_full_kernel", (2, 2, 3, 3), (4, 2, 3, 3), True, 1, 0),
]
for nm, xs, ws, bias, st, pad in CONV:
    ps = [("x", (lambda s: lambda: ANY(*s))(xs)), ("w", (lambda s: lambda: ANY(*s))(ws))]
    args = "x, w"
    if bias:
        ps.append(("b", (lambda o: lambda: ANY(o))(ws[0])))
        args += ", b"
    if st != 1:
        args += ", stride=%d" % st
    if pad != 0:
        args += ", padding=%d" % pad
    ew(N, nm, ps, "conv2d(%s)" % args,
       (lambda s, p, bb: lambda e: F.conv2d(e["x"], e["w"], e["b"] if bb else None, stride=s, padding=p))(st, pad, bias))
ew(N, "conv_explicit_defaults", [("x", lambda: ANY(1, 2, 4, 4)), ("w", lambda: ANY(2, 2, 3, 3))],
   "conv2d(x, w, stride=1, padding=0)", lambda e: F.conv2d(e["x"], e["w"]))
ew(N, "conv_positional", [("x", lambda: ANY(1, 2, 5, 5)), ("w", lambda: ANY(2, 2, 3, 3)), ("b", lambda: ANY(2))],
   "conv2d(x, w, b, 2, 1)", lambda e: F.conv2d(e["x"], e["w"], e["b"], 2, 1))
ew(N, "conv_input_x", [("w", lambda: ANY(3, 2, 3, 3)), ("b", lambda: ANY(3))], "conv2d(x, w, b, padding=1)",
   lambda e: F.conv2d(e["x"], e["w"], e["b"], padding=1), inputs=[("x", lambda: ANY(2, 2, 4, 4))])

POOL = [
    ("max_pool_k2", "max", (2, 3, 4, 4), 2, None),
    ("max_pool_k2_odd", "max", (1, 2, 5, 5), 2, None),
    ("max_pool_k3_s2", "max", (2, 2, 7, 7), 3, 2),
    ("max_pool_k3_s2_even", "max", (1, 2, 6, 6), 3, 2),
    ("max_pool_k2_s1", "max", (1, 2, 4, 5), 2, 1),
    ("max_pool_k3", "max", (1, 1, 6, 9), 3, None),
    ("avg_pool_k2", "avg", (2, 3, 4, 4), 2, None),
    ("avg_pool_k2_odd", "avg", (1, 2, 5, 5), 2, None),
    ("avg_pool_k3_s2", "avg", (2, 2, 7, 7), 3, 2),
    ("avg_pool_k2_s1", "avg", (1, 2, 4, 5), 2, 1),
    ("avg_pool_k3", "avg", (1, 1, 6, 9), 3, None),
]
for nm, kind, xs, k, st in POOL:
    op = kind + "_pool2d"
    txt = "%s(x, %d%s)" % (op, k, "" if st is None else ", stride=%d" % st)
    tf = F.max_pool2d if kind == "max" else F.avg_pool2d
    ew(N, nm, [("x", (lambda s: lambda: ANY(*s))(xs))], txt,
       (lambda f, kk, ss: lambda e: f(e["x"], kk, ss if ss is not None else kk))(tf, k, st))
ew(N, "max_pool_keyword_k", [("x", lambda: ANY(1, 1, 4, 4))], "max_pool2d(x, k=2, stride=2)",
   lambda e: F.max_pool2d(e["x"], 2, 2))
TIEP = [[[[1.0, 1.0, 0.0, 2.0], [1.0, 1.0, 2.0, 2.0], [3.0, -1.0, 0.0, 0.0], [0.0, 3.0, 0.0, 0.0]]]]
ew(N, "tie_max_pool_k2", [("x", lambda: T(TIEP))], "max_pool2d(x, 2)", lambda e: F.max_pool2d(e["x"], 2),
   note="torch sends a tied window's gradient to its first maximum in row-major order")
ew(N, "tie_max_pool_k3_s2", [("x", lambda: T([[[[float(v) for v in row] for row in
                                                [[1, 2, 2, 0, 1], [2, 2, 1, 2, 2], [0, 1, 2, 0, 2], [2, 2, 0, 1, 1],
                                                 [1, 0, 2, 2, 1]]]]]))],
   "max_pool2d(x, 3, stride=2)", lambda e: F.max_pool2d(e["x"], 3, 2),
   note="overlapping windows with ties: each window's first maximum gets its gradient, summed over windows")
ew(N, "tie_max_pool_const", [("x", lambda: torch.full((1, 2, 4, 4), 0.5))], "max_pool2d(x, 2)",
   lambda e: F.max_pool2d(e["x"], 2), note="every window all tied")

# ---- convolution and pooling (issue 15): groups, dilation, "same", conv1d, conv_transpose2d, padded pools
W = "window"
WCONV = [
    # name, x shape, w shape, bias, gradc keyword arguments, torch keyword arguments
    ("conv_1x1_b1", (1, 3, 4, 4), (5, 3, 1, 1), True, "", {}),
    ("conv_3x3_pad1", (2, 2, 5, 5), (3, 2, 3, 3), True, ", padding=1", dict(padding=1)),
    ("conv_strided_hw", (2, 2, 7, 6), (3, 2, 3, 3), False, ", stride=[2, 1]", dict(stride=(2, 1))),
    ("conv_pad_hw", (1, 2, 5, 6), (2, 2, 3, 3), True, ", padding=[2, 0]", dict(padding=(2, 0))),
    ("conv_dilated", (1, 2, 7, 7), (2, 2, 3, 3), False, ", padding=1, dilation=2", dict(padding=1, dilation=2)),
    ("conv_dilated_hw_s2", (2, 1, 9, 8), (2, 1, 3, 2), True, ", stride=2, dilation=[2, 3]", dict(stride=2, dilation=(2, 3))),
    ("conv_grouped", (2, 4, 5, 5), (6, 2, 3, 3), True, ", padding=1, groups=2", dict(padding=1, groups=2)),
    ("conv_depthwise", (2, 3, 6, 6), (3, 1, 3, 3), True, ", padding=1, groups=3", dict(padding=1, groups=3)),
    ("conv_depthwise_mult2_s2", (1, 2, 7, 7), (4, 1, 3, 3), False, ", stride=2, padding=1, groups=2",
     dict(stride=2, padding=1, groups=2)),
    ("conv_10x4_s2", (1, 1, 20, 12), (4, 1, 10, 4), True, ", stride=2, padding=[4, 1]", dict(stride=2, padding=(4, 1))),
    ("conv_same_odd", (1, 2, 5, 5), (3, 2, 3, 3), True, ", padding=\"same\"", dict(padding="same")),
    ("conv_same_even", (1, 2, 5, 6), (2, 2, 2, 4), False, ", padding=\"same\"", dict(padding="same")),
    ("conv_same_dilated", (1, 1, 6, 7), (2, 1, 3, 2), False, ", padding=\"same\", dilation=2",
     dict(padding="same", dilation=2)),
    ("conv_valid", (1, 2, 5, 5), (2, 2, 3, 3), False, ", padding=\"valid\"", dict(padding="valid")),
    # depthwise rows wider than a vector (issue 17: lower_conv_dw.c's interior loop, tail, border columns)
    ("conv_dw_wide", (2, 3, 7, 21), (3, 1, 3, 3), True, ", padding=1, groups=3", dict(padding=1, groups=3)),
    ("conv_dw_s2_b1", (1, 4, 9, 23), (4, 1, 3, 3), True, ", stride=2, padding=1, groups=4",
     dict(stride=2, padding=1, groups=4)),
    ("conv_dw_dilated", (2, 2, 10, 20), (2, 1, 3, 3), False, ", padding=2, dilation=2, groups=2",
     dict(padding=2, dilation=2, groups=2)),
    ("conv_dw_same_even", (1, 2, 6, 18), (2, 1, 2, 4), False, ", padding=\"same\", groups=2",
     dict(padding="same", groups=2)),
    ("conv_dw_k5_hw", (1, 2, 8, 30), (2, 1, 5, 3), True, ", stride=[1, 3], padding=[2, 1], groups=2",
     dict(stride=(1, 3), padding=(2, 1), groups=2)),
    ("conv_dw_all_border", (1, 2, 3, 3), (2, 1, 5, 5), False, ", padding=2, groups=2", dict(padding=2, groups=2)),
    # the weight gradient's blocks of output channels (several per load of x), per group
    ("conv_1x1_grouped_wide", (2, 4, 3, 19), (8, 2, 1, 1), False, ", groups=2", dict(groups=2)),
    ("conv_k3x1_grouped_wide", (2, 4, 5, 19), (8, 2, 3, 1), True, ", padding=[1, 0], groups=2",
     dict(padding=(1, 0), groups=2)),
]
for nm, xs, ws, bias, kw, tkw in WCONV:
    ps = [("x", (lambda s: lambda: ANY(*s))(xs)), ("w", (lambda s: lambda: ANY(*s))(ws))]
    if bias:
        ps.append(("b", (lambda o: lambda: ANY(o))(ws[0])))
    ew(W, nm, ps, "conv2d(x, w%s%s)" % (", b" if bias else "", kw),
       (lambda t, bb: lambda e: F.conv2d(e["x"], e["w"], e["b"] if bb else None, **t))(tkw, bias))
ew(W, "conv_positional_all", [("x", lambda: ANY(1, 4, 6, 6)), ("w", lambda: ANY(2, 2, 3, 3)), ("b", lambda: ANY(2))],
   "conv2d(x, w, b, 1, 2, 2, 2)", lambda e: F.conv2d(e["x"], e["w"], e["b"], 1, 2, 2, 2))
WCONV1 = [
    ("conv1d_basic", (2, 3, 9), (4, 3, 3), True, ", stride=2, padding=1", dict(stride=2, padding=1)),
    ("conv1d_same_grouped", (1, 4, 8), (4, 2, 3), False, ", padding=\"same\", dilation=2, groups=2",
     dict(padding="same", dilation=2, groups=2)),
    ("conv1d_depthwise_b1", (1, 3, 10), (3, 1, 5), True, ", padding=[2], groups=3", dict(padding=2, groups=3)),
]
for nm, xs, ws, bias, kw, tkw in WCONV1:
    ps = [("x", (lambda s: lambda: ANY(*s))(xs)), ("w", (lambda s: lambda: ANY(*s))(ws))]
    if bias:
        ps.append(("b", (lambda o: lambda: ANY(o))(ws[0])))
    ew(W, nm, ps, "conv1d(x, w%s%s)" % (", b" if bias else "", kw),
       (lambda t, bb: lambda e: F.conv1d(e["x"], e["w"], e["b"] if bb else None, **t))(tkw, bias))
WCONVT = [
    ("convt_basic", (1, 2, 3, 3), (2, 3, 3, 3), True, "", {}),
    ("convt_s2_p1_op1", (2, 2, 3, 4), (2, 3, 3, 3), True, ", stride=2, padding=1, output_padding=1",
     dict(stride=2, padding=1, output_padding=1)),
    ("convt_grouped_dilated", (2, 4, 3, 4), (4, 1, 2, 2), False, ", groups=2, dilation=2", dict(groups=2, dilation=2)),
    ("convt_depthwise_s2", (1, 3, 4, 4), (3, 1, 4, 4), False, ", stride=2, padding=1, groups=3",
     dict(stride=2, padding=1, groups=3)),
    ("convt_hw", (1, 2, 3, 5), (2, 2, 3, 2), True, ", stride=[2, 3], padding=[1, 0], output_padding=[0, 2]",
     dict(stride=(2, 3), padding=(1, 0), output_padding=(0, 2))),
]
for nm, xs, ws, bias, kw, tkw in WCONVT:
    ps = [("x", (lambda s: lambda: ANY(*s))(xs)), ("w", (lambda s: lambda: ANY(*s))(ws))]
    if bias:
        ps.append(("b", (lambda o: lambda: ANY(o))(ws[1] * tkw.get("groups", 1))))
    ew(W, nm, ps, "conv_transpose2d(x, w%s%s)" % (", b" if bias else "", kw),
       (lambda t, bb: lambda e: F.conv_transpose2d(e["x"], e["w"], e["b"] if bb else None, **t))(tkw, bias))
WPOOL = [
    # name, kind, x shape, gradc arguments, torch (kernel, stride, padding)
    ("max_pool_pad1", "max", (1, 2, 5, 5), "3, stride=2, padding=1", (3, 2, 1)),
    ("max_pool_pad1_s1", "max", (2, 1, 4, 4), "3, stride=1, padding=1", (3, 1, 1)),
    ("max_pool_rect_pad", "max", (1, 2, 5, 6), "[3, 2], padding=[1, 1]", ((3, 2), (3, 2), (1, 1))),
    ("max_pool_default_stride", "max", (1, 1, 6, 6), "[2, 3]", ((2, 3), (2, 3), 0)),
    ("avg_pool_pad1", "avg", (1, 2, 5, 5), "3, stride=2, padding=1", (3, 2, 1)),
    ("avg_pool_pad1_s1", "avg", (2, 1, 4, 4), "3, stride=1, padding=1", (3, 1, 1)),
    ("avg_pool_rect_pad", "avg", (2, 1, 4, 5), "[3, 2], padding=[1, 1]", ((3, 2), (3, 2), (1, 1))),
]
for nm, kind, xs, txt, (k, st, pad) in WPOOL:
    tf = F.max_pool2d if kind == "max" else F.avg_pool2d
    ew(W, nm, [("x", (lambda s: lambda: ANY(*s))(xs))], "%s_pool2d(x, %s)" % (kind, txt),
       (lambda f, kk, ss, pp: lambda e: f(e["x"], kk, ss, pp))(tf, k, st, pad))
ew(W, "max_pool_pad_negative", [("x", lambda: -POS(1, 1, 4, 4) - 5)], "max_pool2d(x, 2, stride=2, padding=1)",
   lambda e: F.max_pool2d(e["x"], 2, 2, 1), note="all values negative: a zero of the padding must never win")
ew(W, "global_avg_pool", [("x", lambda: ANY(2, 3, 4, 5))], "global_avg_pool(x)",
   lambda e: F.adaptive_avg_pool2d(e["x"], 1))
ew(W, "adaptive_avg_pool2d_1", [("x", lambda: ANY(1, 4, 3, 3))], "adaptive_avg_pool2d(x, 1)",
   lambda e: F.adaptive_avg_pool2d(e["x"], 1))
ew(W, "adaptive_avg_pool2d_11", [("x", lambda: ANY(2, 2, 5, 2))], "adaptive_avg_pool2d(x, output_size=[1, 1])",
   lambda e: F.adaptive_avg_pool2d(e["x"], (1, 1)))
ew(W, "ds_block", [("x", lambda: ANY(1, 3, 6, 6)), ("dw", lambda: ANY(3, 1, 3, 3)), ("pw", lambda: ANY(4, 3, 1, 1))],
   "global_avg_pool(relu(conv2d(relu(conv2d(x, dw, padding=1, groups=3)), pw)))",
   lambda e: F.adaptive_avg_pool2d(F.relu(F.conv2d(F.relu(F.conv2d(e["x"], e["dw"], padding=1, groups=3)), e["pw"])), 1),
   note="a depthwise-separable block")
# ---- indexing and assembling (issue 15): concat/cat, stack, narrow, squeeze/unsqueeze, expand, repeat, pad
I = "index"
ew(I, "cat_axis1", [("a", lambda: ANY(2, 3)), ("b", lambda: ANY(2, 4))], "concat([a, b * b], axis=1)",
   lambda e: torch.cat([e["a"], e["b"] * e["b"]], dim=1))
ew(I, "cat_three_default_axis", [("a", lambda: ANY(1, 3)), ("b", lambda: ANY(2, 3)), ("c", lambda: ANY(3, 3))],
   "cat([a, b, c * a])", lambda e: torch.cat([e["a"], e["b"], e["c"] * e["a"]]))
ew(I, "cat_same_twice", [("a", lambda: ANY(2, 2, 3))], "cat([a, a], axis=-2)", lambda e: torch.cat([e["a"], e["a"]], -2),
   note="one tensor twice: its gradient is the sum of both blocks")
ew(I, "stack_axis0", [("a", lambda: ANY(3, 4)), ("b", lambda: ANY(3, 4))], "stack([a, tanh(b)])",
   lambda e: torch.stack([e["a"], torch.tanh(e["b"])]))
ew(I, "stack_last_axis", [("a", lambda: ANY(2, 3)), ("b", lambda: ANY(2, 3))], "stack([a, b], axis=-1)",
   lambda e: torch.stack([e["a"], e["b"]], -1))
ew(I, "narrow_mid", [("a", lambda: ANY(3, 6))], "narrow(a, 1, 2, 3) * 2", lambda e: torch.narrow(e["a"], 1, 2, 3) * 2)
ew(I, "narrow_negative_start", [("a", lambda: ANY(5, 2))], "narrow(a, 0, -3, 2)", lambda e: torch.narrow(e["a"], 0, -3, 2))
ew(I, "squeeze_all", [("a", lambda: ANY(1, 3, 1, 2))], "squeeze(a)", lambda e: torch.squeeze(e["a"]))
ew(I, "squeeze_axis_not_one", [("a", lambda: ANY(3, 1, 2))], "squeeze(a, 0) + unsqueeze(squeeze(a, axis=1), 1)",
   lambda e: torch.squeeze(e["a"], 0) + torch.squeeze(e["a"], 1).unsqueeze(1), note="an axis of size 3 is left, as torch")
ew(I, "unsqueeze_neg", [("a", lambda: ANY(3, 3))], "unsqueeze(a, -1) * unsqueeze(a, 0)",
   lambda e: torch.unsqueeze(e["a"], -1) * torch.unsqueeze(e["a"], 0))
ew(I, "expand_new_axes", [("a", lambda: ANY(3, 1))], "expand(a, [2, -1, 4])", lambda e: e["a"].expand(2, -1, 4))
ew(I, "repeat_tile", [("a", lambda: ANY(2, 3))], "repeat(a, [2, 1, 3])", lambda e: e["a"].repeat(2, 1, 3))
ew(I, "repeat_ones", [("a", lambda: ANY(4))], "repeat(a, [1])", lambda e: e["a"].repeat(1))
ew(I, "pad_last_two", [("a", lambda: ANY(2, 3, 4))], "pad(a, [1, 2, 0, 1])", lambda e: F.pad(e["a"], (1, 2, 0, 1)))
ew(I, "pad_value", [("a", lambda: ANY(1, 2, 3, 3))], "pad(a, [2, 2, 2, 2], value=-1.5)",
   lambda e: F.pad(e["a"], (2, 2, 2, 2), value=-1.5))
ew(I, "pad_negative_crops", [("a", lambda: ANY(3, 6))], "pad(a, [-2, 1, 1, -1])",
   lambda e: F.pad(e["a"], (-2, 1, 1, -1)), note="negative pads crop, as F.pad")

# ---- losses (mean reduction, as torch's default)
L = "losses"


def loss_case(name, params, inputs, expr, fn, outputs=("loss",), extra=(), note=None, tol=None):
    add(L, name, params, list(extra) + ["loss = " + expr], fn, inputs=inputs, outputs=outputs, ew=False, note=note, tol=tol)


def labels(n, c):
    return lambda: torch.randint(0, c, (n,), generator=_g(), dtype=torch.int32)


loss_case("mse_1d", [("a", lambda: ANY(5))], [("t", lambda: ANY(5))], "mse(a, t)",
          lambda e: {"loss": F.mse_loss(e["a"], e["t"])})
loss_case("mse_2d", [("a", lambda: ANY(3, 4))], [("t", lambda: ANY(3, 4))], "mse(a, t)",
          lambda e: {"loss": F.mse_loss(e["a"], e["t"])})
loss_case("mse_both_params", [("a", lambda: ANY(2, 3)), ("t", lambda: ANY(2, 3))], [], "mse(a, t)",
          lambda e: {"loss": F.mse_loss(e["a"], e["t"])}, note="the target is differentiable too")
loss_case("mse_scalar", [("a", lambda: ANY())], [("t", lambda: ANY())], "mse(a, t)",
          lambda e: {"loss": F.mse_loss(e["a"], e["t"])})
loss_case("mse_linear", [("w", lambda: ANY(4, 2)), ("b", lambda: ANY(2))], [("x", lambda: ANY(6, 4)), ("t", lambda: ANY(6, 2))],
          "mse(z, t)", lambda e: {"z": e["x"] @ e["w"] + e["b"], "loss": F.mse_loss(e["x"] @ e["w"] + e["b"], e["t"])},
          outputs=("z",), extra=["z = x @ w + b"])
loss_case("bce_1d", [("z", lambda: WIDE(6))], [("t", lambda: U((6,), 0.0, 1.0))], "bce_with_logits(z, t)",
          lambda e: {"loss": F.binary_cross_entropy_with_logits(e["z"], e["t"])})
loss_case("bce_2d_binary", [("z", lambda: WIDE(4, 3))],
          [("t", lambda: (torch.rand((4, 3), generator=_g()) < 0.5).float())], "bce_with_logits(z, t)",
          lambda e: {"loss": F.binary_cross_entropy_with_logits(e["z"], e["t"])})
loss_case("bce_extreme_logits", [("z", lambda: T([-60.0, -20.0, -3.0, 0.0, 3.0, 20.0, 60.0, 95.0]))],
          [("t", lambda: T([0.0, 1.0, 0.25, 0.5, 1.0, 0.0, 1.0, 0.0]))], "bce_with_logits(z, t)",
          lambda e: {"loss": F.binary_cross_entropy_with_logits(e["z"], e["t"])}, note="needs the stable form")
loss_case("bce_target_param", [("z", lambda: WIDE(5)), ("t", lambda: U((5,), 0.0, 1.0))], [], "bce_with_logits(z, t)",
          lambda e: {"loss": F.binary_cross_entropy_with_logits(e["z"], e["t"])},
          note="torch differentiates the target: d/dt = -z / n")
loss_case("bce_logreg", [("w", lambda: torch.randn((5, 3), generator=_g())), ("b", lambda: torch.randn((3,), generator=_g()))],
          [("x", lambda: torch.ones(5)), ("y", lambda: torch.zeros(3))], "bce_with_logits(z, y)",
          lambda e: {"z": e["x"] @ e["w"] + e["b"],
                     "loss": F.binary_cross_entropy_with_logits(e["x"] @ e["w"] + e["b"], e["y"])},
          outputs=("z",), extra=["z = x @ w + b"], note="the PyTorch autograd tutorial's network (README's seed example)")
for nm, n, c, dom in [("ce_basic", 4, 5, ANY), ("ce_one_row", 1, 3, ANY), ("ce_wide_logits", 6, 4, WIDE),
                      ("ce_two_classes", 5, 2, WIDE), ("ce_many_classes", 3, 17, ANY)]:
    loss_case(nm, [("z", (lambda d, a, b: lambda: d(a, b))(dom, n, c))], [("label", labels(n, c))], "cross_entropy(z, label)",
              lambda e: {"loss": F.cross_entropy(e["z"], e["label"].long())})
loss_case("ce_large_logits", [("z", lambda: T([[1000.0, 0.0, -1000.0], [-500.0, -499.0, -600.0], [3.0, 3.0, 3.0]]))],
          [("label", lambda: torch.tensor([2, 1, 0], dtype=torch.int32))], "cross_entropy(z, label)",
          lambda e: {"loss": F.cross_entropy(e["z"], e["label"].long())}, note="needs the max-shifted form")
loss_case("ce_linear", [("w", lambda: ANY(6, 4)), ("b", lambda: ANY(4))], [("x", lambda: ANY(8, 6)), ("label", labels(8, 4))],
          "cross_entropy(logits, label)",
          lambda e: {"logits": e["x"] @ e["w"] + e["b"], "loss": F.cross_entropy(e["x"] @ e["w"] + e["b"], e["label"].long())},
          outputs=("logits",), extra=["logits = x @ w + b"])
loss_case("loss_sum_of_losses", [("z", lambda: ANY(3, 4))], [("t", lambda: ANY(3, 4)), ("label", labels(3, 4))],
          "mse(z, t) + bce_with_logits(z, t * t) * 0.5 + cross_entropy(z, label)",
          lambda e: {"loss": F.mse_loss(e["z"], e["t"]) + F.binary_cross_entropy_with_logits(e["z"], e["t"] * e["t"]) * 0.5
                     + F.cross_entropy(e["z"], e["label"].long())})

# ---- composite: small networks mixing the families
C = "composite"
add(C, "mlp_relu_ce",
    [("w1", lambda: ANY(8, 6) * 0.5), ("b1", lambda: AWAY(6)), ("w2", lambda: ANY(6, 3) * 0.5), ("b2", lambda: ANY(3))],
    ["h = relu(x @ w1 + b1)", "logits = h @ w2 + b2", "loss = cross_entropy(logits, label)"],
    lambda e: (lambda h: {"h": h, "logits": h @ e["w2"] + e["b2"],
                          "loss": F.cross_entropy(h @ e["w2"] + e["b2"], e["label"].long())})(torch.relu(e["x"] @ e["w1"] + e["b1"])),
    inputs=[("x", lambda: ANY(5, 8)), ("label", labels(5, 3))], outputs=("h", "logits"), ew=False)
add(C, "convnet_ce",
    [("w1", lambda: ANY(4, 1, 3, 3) * 0.5), ("b1", lambda: ANY(4) * 0.2), ("w2", lambda: ANY(16, 3) * 0.4), ("b2", lambda: ANY(3))],
    ["c = tanh(conv2d(x, w1, b1, padding=1))", "p = max_pool2d(c, 2)", "f = flatten(avg_pool2d(p, 2))",
     "logits = f @ w2 + b2", "loss = cross_entropy(logits, label)"],
    lambda e: (lambda f: {"f": f, "logits": f @ e["w2"] + e["b2"],
                          "loss": F.cross_entropy(f @ e["w2"] + e["b2"], e["label"].long())})(
        torch.flatten(F.avg_pool2d(F.max_pool2d(torch.tanh(F.conv2d(e["x"], e["w1"], e["b1"], padding=1)), 2), 2), 1)),
    inputs=[("x", lambda: ANY(2, 1, 8, 8)), ("label", labels(2, 3))], outputs=("f", "logits"), ew=False)
add(C, "gelu_layernorm_mse",
    [("w", lambda: ANY(5, 4)), ("g", lambda: POS(4))],
    ["h = gelu(x @ w)", "mu = mean(h, axis=-1, keepdims=true)", "d = h - mu",
     "n = d / sqrt(mean(d * d, axis=-1, keepdims=true) + 0.001) * g", "loss = mse(n, t)"],
    lambda e: (lambda h: (lambda d: {"n": d / torch.sqrt((d * d).mean(-1, keepdim=True) + 0.001) * e["g"],
                                     "loss": F.mse_loss(d / torch.sqrt((d * d).mean(-1, keepdim=True) + 0.001) * e["g"], e["t"])})(
        h - h.mean(-1, keepdim=True)))(F.gelu(e["x"] @ e["w"])),
    inputs=[("x", lambda: ANY(3, 5)), ("t", lambda: ANY(3, 4))], outputs=("n",), ew=False)
add(C, "attention_bce",
    [("wq", lambda: ANY(4, 4) * 0.5), ("wk", lambda: ANY(4, 4) * 0.5), ("wv", lambda: ANY(4, 2))],
    ["q = x @ wq", "k = x @ wk", "att = softmax(q @ transpose(k, perm=[0, 2, 1]) * 0.5, axis=-1)",
     "o = sum(att @ (x @ wv), axis=1)", "loss = bce_with_logits(o, t)"],
    lambda e: (lambda att: {"att": att, "o": (att @ (e["x"] @ e["wv"])).sum(1),
                            "loss": F.binary_cross_entropy_with_logits((att @ (e["x"] @ e["wv"])).sum(1), e["t"])})(
        torch.softmax((e["x"] @ e["wq"]) @ (e["x"] @ e["wk"]).permute(0, 2, 1) * 0.5, -1)),
    inputs=[("x", lambda: ANY(2, 3, 4)), ("t", lambda: U((2, 2), 0.0, 1.0))], outputs=("att", "o"), ew=False)
add(C, "shared_param_reuse", [("w", lambda: AWAY(3, 3))],
    ["y = tanh(w @ tanh(w @ x)) + (w * detach(w)) @ s + leaky_relu(transpose(w), slope=0.2) @ s", "loss = sum(y * r)"],
    lambda e: (lambda y: {"y": y, "loss": (y * e["r"]).sum()})(
        torch.tanh(e["w"] @ torch.tanh(e["w"] @ e["x"])) + (e["w"] * e["w"].detach()) @ e["s"]
        + F.leaky_relu(e["w"].t(), 0.2) @ e["s"]),
    inputs=[("x", lambda: ANY(3, 2)), ("s", lambda: ANY(3, 2)), ("r", lambda: ANY(3, 2))], ew=False,
    note="one parameter reached along several paths: the gradients add up")


# ---- reductions and losses (issue 15), in cases_reductions.py
import cases_reductions  # noqa: E402

cases_reductions.register(sys.modules[__name__])

# ---- pointwise: comparisons and elementwise (issue 15), in cases_pointwise.py
import cases_pointwise  # noqa: E402

cases_pointwise.register(sys.modules[__name__])

# ---- normalization and attention (issue 15), in cases_norm.py
import cases_norm  # noqa: E402

cases_norm.register(sys.modules[__name__])

# ---- batch norm and buffers (issue 15), in cases_bn.py
import cases_bn  # noqa: E402

cases_bn.register(sys.modules[__name__])

# ---- attention (issue 15), in cases_attn.py
import cases_attn  # noqa: E402

cases_attn.register(sys.modules[__name__])
# ---- indexing II (issue 15): embedding, gather, one_hot, x[...], split/chunk, pad modes, in cases_index2.py
import cases_index2  # noqa: E402

cases_index2.register(sys.modules[__name__])
# ---- dropout and modes (issue 15), in cases_dropout.py
import cases_dropout  # noqa: E402

cases_dropout.register(sys.modules[__name__])


# ----------------------------------------------------------------------------- main


def main():
    check = "--check" in sys.argv
    os.makedirs(OUTDIR, exist_ok=True)
    total, stale = 0, []
    for family, cases in FAMILIES.items():
        text = dump_file(family, cases, torch.__version__)
        path = os.path.join(OUTDIR, family + ".json")
        total += len(text)
        old = open(path).read() if os.path.exists(path) else None
        if check:
            if old != text:
                stale.append(path)
        elif old != text:
            with open(path + ".tmp", "w") as f:
                f.write(text)
            os.replace(path + ".tmp", path)
        print("%-12s %3d cases %7d bytes" % (family, len(cases), len(text)))
    print("total        %3d cases %7d bytes" % (sum(len(c) for c in FAMILIES.values()), total))
    if stale:
        print("stale (rerun the generator): " + " ".join(stale), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
