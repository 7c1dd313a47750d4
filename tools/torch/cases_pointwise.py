"""cases_pointwise.py — the "pointwise" family of gen_op_fixtures.py (issue 15): comparisons,
where, clamp, the hard activations, the ELU family, prelu, softsign, sin, cos, square, rsqrt,
reciprocal, erf, sign, floor, ceil, round and `**` with a tensor exponent; and the dtype
conversions float(x) and int(x) of issue 16 (x.float(), x.int(): toward zero), on values where
torch defines them (finite, inside the i32 range; test_cast.c has the ends and NaN).

Imported by gen_op_fixtures.py, which passes itself (its helpers add, ew, ANY, T, ...) to
register(). Besides random values, each operator has a case at its boundaries, where PyTorch
picks a gradient: clamp passes it at min and max (inclusive), hardtanh and relu6 do not
(exclusive), hardswish's is -0.5 at -3 and 1.5 at 3, elu's alpha at 0, prelu's at 0 goes to
the weight term. A comparison is compared with torch's (a < b).float(): a float 0/1 mask."""
import torch
import torch.nn.functional as F

PW = "pointwise"


def register(g):
    ew, add, T, ANY, POS, WIDE, AWAY, U = g.ew, g.add, g.T, g.ANY, g.POS, g.WIDE, g.AWAY, g.U

    def TIES(*shape):  # halves in [-2, 2]: many exact ties between operands and with bounds
        return torch.round(U(shape, -2.0, 2.0) * 2) / 2

    def f(cond):
        return cond.float()

    # ---- comparisons: f32 masks, no gradient through the mask
    for nm, expr, fn in [
        ("cmp_lt", "(a < b) * a", lambda e: f(e["a"] < e["b"]) * e["a"]),
        ("cmp_le", "(a <= b) * b", lambda e: f(e["a"] <= e["b"]) * e["b"]),
        ("cmp_gt", "(a > b) * (a - b)", lambda e: f(e["a"] > e["b"]) * (e["a"] - e["b"])),
        ("cmp_ge", "(a >= b) * a + b", lambda e: f(e["a"] >= e["b"]) * e["a"] + e["b"]),
        ("cmp_eq", "(a == b) * a + (a != b) * b", lambda e: f(e["a"] == e["b"]) * e["a"] + f(e["a"] != e["b"]) * e["b"]),
        ("cmp_precedence", "(a + 1 > b * 2) * a", lambda e: f(e["a"] + 1 > e["b"] * 2) * e["a"]),
    ]:
        ew(PW, nm, [("a", lambda: TIES(3, 4)), ("b", lambda: TIES(4))], expr, fn)
    ew(PW, "cmp_number", [("a", lambda: TIES(2, 5))], "(a > 0.5) * a + (1 <= a) + (a != 0) * a * a",
       lambda e: f(e["a"] > 0.5) * e["a"] + f(1 <= e["a"]) + f(e["a"] != 0) * e["a"] * e["a"])
    ew(PW, "cmp_mask_sum", [("a", lambda: ANY(3, 4))], "a * sum(a > 0, axis=1, keepdims=true)",
       lambda e: e["a"] * f(e["a"] > 0).sum(1, keepdim=True), note="a mask is a float: it sums, as .float().sum()")

    # ---- where
    ew(PW, "where_basic", [("a", lambda: ANY(3, 4)), ("b", lambda: ANY(3, 4))], "where(a > b, a * b, b - a)",
       lambda e: torch.where(e["a"] > e["b"], e["a"] * e["b"], e["b"] - e["a"]))
    ew(PW, "where_bcast3", [("c", lambda: TIES(3, 1)), ("a", lambda: ANY(4)), ("b", lambda: ANY())],
       "where(c, a, b)", lambda e: torch.where(e["c"] != 0, e["a"], e["b"]),
       note="a float condition: nonzero is true; no gradient to it")
    ew(PW, "where_number", [("a", lambda: ANY(2, 5))], "where(a < 0.25, exp(a), 0.5)",
       lambda e: torch.where(e["a"] < 0.25, torch.exp(e["a"]), torch.tensor(0.5)))
    ew(PW, "where_nan_branch", [("a", lambda: ANY(3, 4))], "where(a > 0, log(a), a * 2)",
       lambda e: torch.where(e["a"] > 0, torch.log(e["a"]), e["a"] * 2),
       note="the branch not taken is NaN (log of a negative): it contributes nothing, as torch.where")

    # ---- clamp (inclusive gradient at the bounds), hardtanh and relu6 (exclusive)
    edge = [-1.0, -0.5, -0.25, 0.0, 0.3, 0.7, 1.0, 2.0]
    ew(PW, "clamp_bounds", [("a", lambda: T(edge))], "clamp(a, min=-0.5, max=0.7)",
       lambda e: torch.clamp(e["a"], min=-0.5, max=0.7), note="a at both bounds: gradient 1 there (min <= x <= max)")
    ew(PW, "clamp_min_only", [("a", lambda: T(edge))], "clamp(a, min=0)", lambda e: torch.clamp(e["a"], min=0.0))
    ew(PW, "clamp_max_only", [("a", lambda: T(edge))], "clamp(a, max=0.3)", lambda e: torch.clamp(e["a"], max=0.3))
    ew(PW, "clamp_min_above_max", [("a", lambda: T(edge))], "clamp(a, 1, -1)",
       lambda e: torch.clamp(e["a"], 1.0, -1.0), note="min > max: every value is max, no gradient")
    ew(PW, "clamp_random", [("a", lambda: ANY(3, 4))], "clamp(a * 2, min=-1, max=1.5)",
       lambda e: torch.clamp(e["a"] * 2, min=-1.0, max=1.5))
    ew(PW, "clamp_tensors", [("a", lambda: TIES(3, 4)), ("lo", lambda: TIES(4)), ("hi", lambda: TIES(3, 1))],
       "clamp(a, min=lo, max=hi)", lambda e: torch.clamp(e["a"], min=e["lo"], max=e["hi"]),
       note="tensor bounds with ties, lo > hi and lo == hi: torch's clamp_backward_min_max")
    ew(PW, "clamp_tensor_min", [("a", lambda: TIES(2, 6)), ("lo", lambda: TIES(6))], "clamp(a, lo)",
       lambda e: torch.clamp(e["a"], min=e["lo"]))
    ew(PW, "hardtanh_bounds", [("a", lambda: T([-2.0, -1.0, -0.5, 0.0, 0.5, 1.0, 3.0]))], "hardtanh(a)",
       lambda e: F.hardtanh(e["a"]), note="gradient 0 at -1 and 1 (min < x < max)")
    ew(PW, "hardtanh_vals", [("a", lambda: T([-0.5, -0.3, 0.0, 0.5, 0.6, 2.0]))], "hardtanh(a, min_val=-0.3, max_val=0.5)",
       lambda e: F.hardtanh(e["a"], -0.3, 0.5))
    ew(PW, "hardtanh_random", [("a", lambda: ANY(3, 4))], "hardtanh(a * 2, -1.5, 0.5)",
       lambda e: F.hardtanh(e["a"] * 2, -1.5, 0.5))
    ew(PW, "relu6_bounds", [("a", lambda: T([-1.0, 0.0, 0.5, 3.0, 6.0, 7.0]))], "relu6(a)", lambda e: F.relu6(e["a"]))
    ew(PW, "relu6_random", [("a", lambda: WIDE(3, 4))], "relu6(a * 2)", lambda e: F.relu6(e["a"] * 2))
    ew(PW, "hardsigmoid_bounds", [("a", lambda: T([-4.0, -3.0, -1.0, 0.0, 2.5, 3.0, 5.0]))], "hardsigmoid(a)",
       lambda e: F.hardsigmoid(e["a"]), note="gradient 1/6 on (-3, 3), 0 at -3 and 3")
    ew(PW, "hardsigmoid_random", [("a", lambda: WIDE(3, 4))], "hardsigmoid(a)", lambda e: F.hardsigmoid(e["a"]))
    ew(PW, "hardswish_bounds", [("a", lambda: T([-4.0, -3.0, -1.5, 0.0, 1.0, 3.0, 4.0]))], "hardswish(a)",
       lambda e: F.hardswish(e["a"]), note="gradient x/3 + 1/2 on [-3, 3]: -0.5 at -3, 1.5 at 3")
    ew(PW, "hardswish_random", [("a", lambda: WIDE(3, 4))], "hardswish(a)", lambda e: F.hardswish(e["a"]))

    # ---- the ELU family, prelu, softsign
    elu_edge = [-20.0, -2.0, -0.5, 0.0, 0.5, 3.0, 100.0]
    ew(PW, "elu_edge", [("a", lambda: T(elu_edge))], "elu(a)", lambda e: F.elu(e["a"]),
       note="alpha at 0; 100: exp overflows in the branch not taken, the gradient stays 1")
    ew(PW, "elu_random", [("a", lambda: WIDE(3, 4))], "elu(a)", lambda e: F.elu(e["a"]))
    ew(PW, "elu_alpha", [("a", lambda: WIDE(3, 4))], "elu(a, alpha=0.3)", lambda e: F.elu(e["a"], 0.3))
    ew(PW, "selu_edge", [("a", lambda: T(elu_edge))], "selu(a)", lambda e: F.selu(e["a"]))
    ew(PW, "selu_random", [("a", lambda: WIDE(3, 4))], "selu(a)", lambda e: F.selu(e["a"]))
    ew(PW, "celu_edge", [("a", lambda: T(elu_edge))], "celu(a, alpha=2)", lambda e: F.celu(e["a"], 2.0))
    ew(PW, "celu_random", [("a", lambda: WIDE(3, 4))], "celu(a, 0.5)", lambda e: F.celu(e["a"], 0.5))
    ew(PW, "prelu_channels", [("a", lambda: TIES(2, 3, 4)), ("w", lambda: ANY(3))], "prelu(a, w)",
       lambda e: F.prelu(e["a"], e["w"]), note="a learned weight per channel (dimension 1); zeros in a: w's term")
    ew(PW, "prelu_one", [("a", lambda: ANY(3, 5)), ("w", lambda: T([0.25]))], "prelu(a, w)",
       lambda e: F.prelu(e["a"], e["w"]))
    ew(PW, "prelu_2d_channels", [("a", lambda: ANY(4, 3)), ("w", lambda: ANY(3))], "prelu(a * 2, w)",
       lambda e: F.prelu(e["a"] * 2, e["w"]))
    ew(PW, "prelu_1d", [("a", lambda: T([-1.0, 0.0, 2.0])), ("w", lambda: T([0.1]))], "prelu(a, w)",
       lambda e: F.prelu(e["a"], e["w"]))
    ew(PW, "softsign", [("a", lambda: WIDE(3, 4))], "softsign(a)", lambda e: F.softsign(e["a"]))
    ew(PW, "softsign_zero", [("a", lambda: T([-5.0, 0.0, 1e-3, 40.0]))], "softsign(a)", lambda e: F.softsign(e["a"]))

    # ---- sin, cos, square, rsqrt, reciprocal, erf
    big = [-12345.678, -1000.5, -100.25, -7.0, 0.0, 1.5707964, 3.1415927, 50.0, 777.77, 4096.1, 99999.5]
    ew(PW, "sin", [("a", lambda: WIDE(3, 4))], "sin(a)", lambda e: torch.sin(e["a"]))
    ew(PW, "cos", [("a", lambda: WIDE(3, 4))], "cos(a)", lambda e: torch.cos(e["a"]))
    ew(PW, "sin_large", [("a", lambda: T(big))], "sin(a)", lambda e: torch.sin(e["a"]),
       note="arguments up to 1e5, reduced by a four-part pi/2")
    ew(PW, "cos_large", [("a", lambda: T(big))], "cos(a)", lambda e: torch.cos(e["a"]))
    ew(PW, "square", [("a", lambda: ANY(3, 4))], "square(a)", lambda e: torch.square(e["a"]))
    ew(PW, "rsqrt", [("a", lambda: POS(3, 4))], "rsqrt(a)", lambda e: torch.rsqrt(e["a"]))
    ew(PW, "reciprocal", [("a", lambda: POS(3, 4) * torch.where(ANY(3, 4) > 0, 1.0, -1.0))], "reciprocal(a)",
       lambda e: torch.reciprocal(e["a"]))
    ew(PW, "erf", [("a", lambda: WIDE(3, 4))], "erf(a)", lambda e: torch.erf(e["a"]))

    # ---- sign, floor, ceil, round: no gradient through them
    halves = [0.5, 1.5, 2.5, -0.5, -1.5, -2.5, 0.49999997, 3.7, -3.7, 0.0, -2.0, 1e10, -8388609.0, 12.5]
    for op in ("floor", "ceil", "round", "sign"):
        tf = getattr(torch, op)
        ew(PW, op + "_values", [("a", lambda: T(halves))], "%s(a) + a" % op, (lambda t: lambda e: t(e["a"]) + e["a"])(tf),
           note="round: half to even; the gradient of the rounding term is 0")
        ew(PW, op + "_random", [("a", lambda: WIDE(3, 4)), ("b", lambda: ANY(4))], "%s(a * 2) * b" % op,
           (lambda t: lambda e: t(e["a"] * 2) * e["b"])(tf))
    ew(PW, "round_decimals", [("a", lambda: WIDE(3, 4))], "round(a, decimals=2) + round(a * 100, decimals=-1)",
       lambda e: torch.round(e["a"], decimals=2) + torch.round(e["a"] * 100, decimals=-1))

    # ---- ** with a tensor exponent (torch.pow), gradient with respect to both
    ew(PW, "pow_tensor", [("a", lambda: POS(3, 4)), ("b", lambda: ANY(3, 4))], "a ** b",
       lambda e: torch.pow(e["a"], e["b"]))
    ew(PW, "pow_tensor_bcast", [("a", lambda: POS(3, 1)), ("b", lambda: WIDE(4))], "a ** b",
       lambda e: torch.pow(e["a"], e["b"]))
    ew(PW, "pow_number_base", [("b", lambda: WIDE(2, 3))], "2 ** b + 0.5 ** (b * b)",
       lambda e: 2 ** e["b"] + 0.5 ** (e["b"] * e["b"]))
    ew(PW, "pow_negative_base", [("a", lambda: T([-2.0, -1.5, -0.5, -3.0])), ("b", lambda: T([2.0, 3.0, -1.0, 0.0]))],
       "a ** b", lambda e: torch.pow(e["a"], e["b"]), nonfinite=True,
       note="integer exponents of a negative base: real values; the exponent's gradient uses log(x): NaN")
    ew(PW, "pow_zero_base", [("a", lambda: T([0.0, 0.0, 0.0, 0.0, 1.0, 1.0])),
                              ("b", lambda: T([0.0, 0.5, 2.0, 1.0, 7.5, -3.0]))],
       "a ** b", lambda e: torch.pow(e["a"], e["b"]), nonfinite=True,
       note="0 ** 0 = 1; the base's gradient inf at 0 ** 0.5; the exponent's 0 where x = 0 and y >= 0")
    sx = [0.0, -0.0, 0.0, -0.0, -1.0, -1.0, -2.5, float("inf"), float("-inf"), float("-inf"), float("nan"), 1.0,
          float("nan"), 2.0, 0.5, -4.0]
    sy = [-1.0, -1.0, -2.0, -3.0, 0.5, float("inf"), 2.0, -2.0, 3.0, 0.5, 0.0, float("nan"), 1.0, float("-inf"),
          float("-inf"), 0.5]
    add(PW, "pow_special_values", [("w", lambda: ANY(2))],
        ["z = x ** e", "loss = sum(w * w)"],
        lambda e: {"z": torch.pow(e["x"], e["e"]), "loss": (e["w"] * e["w"]).sum()},
        inputs=[("x", lambda: T(sx)), ("e", lambda: T(sy))], outputs=("z",), ew=False, nonfinite=True,
        note="C99's (and torch's) special values of pow: zeros, infinities, NaN, (-1) ** inf")

    # ---- dtype conversions (issue 16): float(i) = i.float(), int(x) = x.int() (toward zero)
    def ints(lo, hi, *shape):
        return lambda: torch.randint(lo, hi, shape, generator=g._g(), dtype=torch.int32)

    ew(PW, "cast_float_ids", [("a", lambda: ANY(2, 3))], "a * float(ids) + float(ids)",
       lambda e: e["a"] * e["ids"].float() + e["ids"].float(), inputs=[("ids", ints(-5, 6, 2, 3))],
       note="the gradient flows to a through the float(ids) factor, none into the i32 operand")
    ew(PW, "cast_int_values", [("a", lambda: T([-2.7, 2.7, -0.5, 0.5, -1.0, 3.999, -3.999, 0.0]))],
       "float(int(a * 2)) * a", lambda e: (e["a"] * 2).int().float() * e["a"],
       note="int truncates toward zero; its own gradient is none (the factor is a constant)")
    add(PW, "cast_int_indices", [("t", lambda: ANY(4, 3))],
        ["k = int(u)", "e = embedding(k, t)", "z = gather(t * t, 1, reshape(int(v), [4, 1]))",
         "loss = cross_entropy(t, k) + sum(e * e) + sum(z)"],
        lambda e: {"k": e["u"].int(), "e": F.embedding(e["u"].int().long(), e["t"]),
                   "z": torch.gather(e["t"] * e["t"], 1, e["v"].int().long().reshape(4, 1)),
                   "loss": F.cross_entropy(e["t"], e["u"].int().long())
                   + (F.embedding(e["u"].int().long(), e["t"]) ** 2).sum()
                   + torch.gather(e["t"] * e["t"], 1, e["v"].int().long().reshape(4, 1)).sum()},
        inputs=[("u", lambda: T([2.7, 0.2, 1.9, 1.5])), ("v", lambda: T([0.9, 2.5, 1.0, 2.99]))],
        outputs=("k", "e", "z"), ew=False,
        note="computed ids: embedding ids, cross_entropy labels, gather indices, an i32 output")
