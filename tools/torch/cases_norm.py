"""cases_norm.py — the "norm" family of gen_op_fixtures.py (issue 15): layer_norm and
group_norm as torch.nn.functional's (biased variance, eps inside the square root), with
and without weight and bias, over one or several trailing axes, on inputs with a large
offset (where E[x^2] - E[x]^2 would cancel) and on constant rows (variance 0).

Imported by gen_op_fixtures.py, which passes itself (its helpers add, ew, ANY, ...) to
register()."""
import torch
import torch.nn.functional as F

NORM = "norm"


def register(g):
    ew, add, ANY, POS, U = g.ew, g.add, g.ANY, g.POS, g.U

    # ---- layer_norm
    ew(NORM, "layer_norm_affine", [("a", lambda: ANY(4, 6)), ("w", lambda: POS(6)), ("b", lambda: ANY(6))],
       "layer_norm(a, [6], weight=w, bias=b)", lambda e: F.layer_norm(e["a"], [6], e["w"], e["b"]))
    ew(NORM, "layer_norm_plain", [("a", lambda: ANY(3, 5))], "layer_norm(a, 5)",
       lambda e: F.layer_norm(e["a"], [5]))
    ew(NORM, "layer_norm_two_axes", [("a", lambda: ANY(2, 3, 4)), ("w", lambda: ANY(3, 4)), ("b", lambda: ANY(3, 4))],
       "layer_norm(a, [3, 4], w, b, eps=0.001)", lambda e: F.layer_norm(e["a"], [3, 4], e["w"], e["b"], eps=0.001))
    ew(NORM, "layer_norm_whole", [("a", lambda: ANY(3, 4)), ("w", lambda: ANY(3, 4))],
       "layer_norm(a, [3, 4], weight=w)", lambda e: F.layer_norm(e["a"], [3, 4], e["w"]))
    ew(NORM, "layer_norm_3d_last", [("a", lambda: ANY(2, 3, 8)), ("b", lambda: ANY(8))],
       "layer_norm(a * 3, [8], bias=b)", lambda e: F.layer_norm(e["a"] * 3, [8], None, e["b"]))
    ew(NORM, "layer_norm_offset", [("a", lambda: ANY(3, 16)), ("w", lambda: POS(16))],
       "layer_norm(a + 1000, [16], w)", lambda e: F.layer_norm(e["a"] + 1000, [16], e["w"]),
       tol={"abs": 1e-3, "rel": 1e-2, "why": "values near 1000 carry 6e-5 of f32 rounding each: torch, gradc and the tape (double sums) differ by up to 5e-4"},
       note="an offset of 1000: the mean-subtracted variance keeps about 4 digits (E[x^2]-E[x]^2 would keep none)")
    ew(NORM, "layer_norm_constant_row", [("a", lambda: ANY(2, 1)), ("w", lambda: ANY(5))],
       "layer_norm(a * ones5, [5], w)", lambda e: F.layer_norm(e["a"] * torch.ones(5), [5], e["w"]),
       inputs=[("ones5", torch.ones(5))], tol={"abs": 1e-4, "rel": 1e-4, "why": "variance 0: torch's mean of equal "
       "values is off by an ulp, which rstd = 1/sqrt(eps) magnifies into gradients of 1e-5; the exact ones are 0"},
       note="variance 0: the output is the bias (0) and the gradient 0")
    add(NORM, "layer_norm_linear_mse",
        [("w1", lambda: ANY(5, 8) * 0.5), ("g", lambda: POS(8)), ("b", lambda: ANY(8))],
        ["h = layer_norm(x @ w1, [8], g, b)", "loss = mse(h, t)"],
        lambda e: (lambda h: {"h": h, "loss": F.mse_loss(h, e["t"])})(F.layer_norm(e["x"] @ e["w1"], [8], e["g"], e["b"])),
        inputs=[("x", lambda: ANY(4, 5)), ("t", lambda: ANY(4, 8))], outputs=("h",), ew=False)

    # ---- group_norm
    ew(NORM, "group_norm_affine", [("a", lambda: ANY(2, 4, 3, 3)), ("w", lambda: POS(4)), ("b", lambda: ANY(4))],
       "group_norm(a, 2, weight=w, bias=b)", lambda e: F.group_norm(e["a"], 2, e["w"], e["b"]))
    ew(NORM, "group_norm_one_group", [("a", lambda: ANY(3, 4, 5)), ("w", lambda: ANY(4))],
       "group_norm(a, 1, w)", lambda e: F.group_norm(e["a"], 1, e["w"]))
    ew(NORM, "group_norm_instance", [("a", lambda: ANY(2, 3, 2, 4)), ("b", lambda: ANY(3))],
       "group_norm(a, 3, bias=b, eps=0.01)", lambda e: F.group_norm(e["a"], 3, torch.ones(3), e["b"], eps=0.01),
       note="one channel per group: instance norm; torch 1.13's group_norm backward fails with a bias and no "
       "weight (tensor does not have a device), so the reference passes a weight of ones")
    ew(NORM, "group_norm_2d", [("a", lambda: ANY(4, 6))], "group_norm(a, 3)", lambda e: F.group_norm(e["a"], 3),
       tol={"abs": 1e-4, "rel": 1e-3, "why": "groups of 2 close values (rstd 46): torch's f32 gradient is 4.5e-5 "
            "from float64's, gradc's 5e-6"})
    ew(NORM, "group_norm_offset", [("a", lambda: ANY(2, 4, 8)), ("w", lambda: POS(4)), ("b", lambda: ANY(4))],
       "group_norm(a - 500, 2, w, b)", lambda e: F.group_norm(e["a"] - 500, 2, e["w"], e["b"]),
       tol={"abs": 1e-3, "rel": 1e-2, "why": "values near 500 carry 3e-5 of f32 rounding each: torch, gradc and the tape (double sums) differ by up to 5e-4"})
