"""cases_attn.py — the "attn" family of gen_op_fixtures.py (issue 15): tril, triu,
masked_fill (with -inf into softmax) and scaled_dot_product_attention.

PyTorch 1.13 has no F.scaled_dot_product_attention (it came in 2.0), so its fixtures are
generated from the explicit formula softmax(q @ k^T * scale + mask) @ v, evaluated in
float64 (then rounded to float32), with torch 2.x's is_causal mask: ones(T, S).tril(0),
top-left aligned. Shapes: T != S, D != Dv, batch axes, causal with T == S and T != S.

Imported by gen_op_fixtures.py, which passes itself (its helpers add, ew, ANY, ...) to
register()."""
import math

import torch

ATTN = "attn"


def sdpa_ref(q, k, v, causal=False, scale=None):
    """softmax(q k^T scale + mask) v in float64, the formula F.scaled_dot_product_attention computes."""
    q64, k64, v64 = q.double(), k.double(), v.double()
    scale = 1 / math.sqrt(q.shape[-1]) if scale is None else scale
    s = q64 @ k64.transpose(-2, -1) * scale
    if causal:
        keep = torch.ones(q.shape[-2], k.shape[-2], dtype=torch.bool).tril(diagonal=0)
        s = s.masked_fill(~keep, float("-inf"))
    return (torch.softmax(s, dim=-1) @ v64).float()


def register(g):
    ew, add, ANY = g.ew, g.add, g.ANY

    # ---- tril, triu
    ew(ATTN, "tril_plain", [("a", lambda: ANY(4, 5))], "tril(a)", lambda e: torch.tril(e["a"]))
    ew(ATTN, "tril_diag", [("a", lambda: ANY(2, 3, 5))], "tril(a, diagonal=1)", lambda e: torch.tril(e["a"], 1))
    ew(ATTN, "triu_neg", [("a", lambda: ANY(5, 3))], "triu(a, diagonal=-1)", lambda e: torch.triu(e["a"], -1))
    ew(ATTN, "triu_batch", [("a", lambda: ANY(2, 2, 4, 4))], "triu(a * 2, 2)", lambda e: torch.triu(e["a"] * 2, 2))

    # ---- masked_fill
    ew(ATTN, "masked_fill_num", [("a", lambda: ANY(3, 4)), ("b", lambda: ANY(4))], "masked_fill(a, b > 0, 0.5)",
       lambda e: e["a"].masked_fill(e["b"] > 0, 0.5))
    ew(ATTN, "masked_fill_causal_softmax", [("a", lambda: ANY(2, 4, 4))],
       "softmax(masked_fill(a, triu(ones44, diagonal=1), -inf), axis=-1)",
       lambda e: torch.softmax(e["a"].masked_fill(torch.ones(4, 4).triu(1) > 0, float("-inf")), dim=-1),
       inputs=[("ones44", torch.ones(4, 4))], note="-inf in the masked positions: their probability is exactly 0")

    # ---- scaled_dot_product_attention (formula in float64; torch 1.13 has no F.sdpa)
    note = "PyTorch 1.13 has no F.scaled_dot_product_attention: the explicit formula, in float64"
    for nm, (qs, ks, vs), kw, src in [
        ("sdpa_plain", ((5, 4), (7, 4), (7, 3)), {}, ""),
        ("sdpa_batch", ((2, 3, 6, 8), (2, 3, 5, 8), (2, 3, 5, 4)), {}, ""),
        ("sdpa_causal", ((2, 6, 5), (2, 6, 5), (2, 6, 7)), {"causal": True}, ", causal=true"),
        ("sdpa_causal_t_gt_s", ((7, 4), (4, 4), (4, 2)), {"causal": True}, ", causal=true"),
        ("sdpa_causal_t_lt_s", ((1, 3, 16), (1, 9, 16), (1, 9, 16)), {"causal": True}, ", causal=true"),
        ("sdpa_scale", ((2, 4, 3), (2, 5, 3), (2, 5, 3)), {"scale": 0.8}, ", scale=0.8"),
        ("sdpa_wide", ((2, 9, 33), (2, 11, 33), (2, 11, 17)), {"causal": True, "scale": 0.2}, ", causal=true, scale=0.2"),
    ]:
        ew(ATTN, nm, [("q", (lambda s: lambda: ANY(*s))(qs)), ("k", (lambda s: lambda: ANY(*s))(ks)),
                      ("v", (lambda s: lambda: ANY(*s))(vs))],
           "scaled_dot_product_attention(q * 2, k, v" + src + ")",
           (lambda kw: lambda e: sdpa_ref(e["q"] * 2, e["k"], e["v"], **kw))(kw), note=note)
    add(ATTN, "sdpa_heads_block",
        [("wq", lambda: ANY(8, 8) * 0.5), ("wk", lambda: ANY(8, 8) * 0.5), ("wv", lambda: ANY(8, 8) * 0.5),
         ("wo", lambda: ANY(8, 8) * 0.5)],
        ["q = transpose(reshape(x @ wq, [2, 5, 2, 4]), perm=[0, 2, 1, 3])",
         "k = transpose(reshape(x @ wk, [2, 5, 2, 4]), perm=[0, 2, 1, 3])",
         "v = transpose(reshape(x @ wv, [2, 5, 2, 4]), perm=[0, 2, 1, 3])",
         "a = scaled_dot_product_attention(q, k, v, causal=true)",
         "y = reshape(transpose(a, perm=[0, 2, 1, 3]), [2, 5, 8]) @ wo",
         "loss = mse(y, t)"],
        lambda e: (lambda y: {"y": y, "loss": torch.nn.functional.mse_loss(y, e["t"])})(
            sdpa_ref(*[(e["x"] @ e[w]).reshape(2, 5, 2, 4).permute(0, 2, 1, 3) for w in ("wq", "wk", "wv")],
                     causal=True).permute(0, 2, 1, 3).reshape(2, 5, 8) @ e["wo"]),
        inputs=[("x", lambda: ANY(2, 5, 8)), ("t", lambda: ANY(2, 5, 8))], ew=False, note=note + "; two heads")
