"""cases_dropout.py — the "dropout" family of gen_op_fixtures.py (issue 15: dropout and
modes). torch.nn.functional.dropout where PyTorch is deterministic: p = 0 (the identity),
p = 1 (zeros: torch multiplies by 0), eval mode (the identity, as model.eval()), and, given
a mask, the scaling torch applies (noise = keep.float().div_(1 - p), y = x * noise, the
gradient dy * noise): the masks themselves necessarily differ from PyTorch's CPU generator,
so the "given a mask" cases draw gradc's own (Philox4x32-10, docs/LANGUAGE.md "dropout",
re-implemented here from the specification) and let torch do the rest.

A case carries "mode": "train" (the tests compare gradc's backward entry, which runs in
training mode, and the tape's tape_backward, with the step seed of optimizer step 0 under
"seed": gradc_dropout_seed(seed, 0)) or "eval" (the forward entry and tape_forward only).
Imported by gen_op_fixtures.py, which passes itself to register()."""
import torch
import torch.nn.functional as F

DROP = "dropout"
M64 = (1 << 64) - 1
M32 = (1 << 32) - 1


def mix64(z):
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & M64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & M64
    return z ^ (z >> 31)


def fnv1a64(s):
    h = 0xCBF29CE484222325
    for c in s.encode():
        h = ((h ^ c) * 0x100000001B3) & M64
    return h


def step_seed(seed, step):
    """gradc_dropout_seed (include/gradc/runtime_core.h)."""
    state = mix64(seed) ^ fnv1a64("gradc.dropout")
    return mix64((state + (step + 1) * 0x9E3779B97F4A7C15) & M64)


def philox_first(seed, salt, i):
    """Philox4x32-10 of counter (i, salt, 0, 0) under key (low, high 32 bits of seed): word 0."""
    c = [i & M32, salt & M32, 0, 0]
    k0, k1 = seed & M32, seed >> 32
    for _ in range(10):
        p0, p1 = 0xD2511F53 * c[0], 0xCD9E8D57 * c[2]
        c = [((p1 >> 32) ^ c[1] ^ k0) & M32, p1 & M32, ((p0 >> 32) ^ c[3] ^ k1) & M32, p0 & M32]
        k0, k1 = (k0 + 0x9E3779B9) & M32, (k1 + 0xBB67AE85) & M32
    return c[0]


def keep_mask(shape, p, seed, line, col):
    """gradc's mask of a dropout call at line:col, step 0 of user seed `seed`."""
    s, salt = step_seed(seed, 0), line * 65536 + col
    n = 1
    for d in shape:
        n *= d
    return torch.tensor([philox_first(s, salt, i) / 2.0 ** 32 >= p for i in range(n)]).reshape(shape)


def register(g):
    add, ANY = g.add, g.ANY

    def case(name, shape, p, expr, ref, mode, seed=0, note=None):
        """y = EXPR (its dropout call on line 5, column 5: model, input x, input r, param a);
        ref(env) -> y in torch."""
        add(DROP, name, [("a", lambda: ANY(*shape))], ["y = " + expr, "loss = sum(y * r)"],
            lambda e: (lambda y: {"y": y, "loss": (y * e["r"]).sum()})(ref(e)),
            inputs=[("x", lambda: ANY(*shape)), ("r", lambda: ANY(*shape))], ew=False, note=note)
        c = g.FAMILIES[DROP][-1]
        assert c["model"].splitlines()[4].startswith("y = dropout("), c["model"]
        c["mode"] = mode
        if mode == "train":
            c["seed"] = seed

    case("dropout_p0", (3, 4), 0.0, "dropout(a * x, p=0)", lambda e: F.dropout(e["a"] * e["x"], 0.0, True), "train",
         note="p = 0: the identity in training mode")
    case("dropout_p1", (2, 5), 1.0, "dropout(a * x, 1)", lambda e: F.dropout(e["a"] * e["x"], 1.0, True), "train",
         note="p = 1: zeros (torch multiplies by 0), no gradient")
    case("dropout_eval", (4, 3), 0.5, "dropout(a * x, 0.5)", lambda e: F.dropout(e["a"] * e["x"], 0.5, False), "eval",
         note="eval mode (model.eval()): the identity")
    for name, shape, p, seed in [("dropout_scale_half", (4, 6), 0.5, 3), ("dropout_scale_tenth", (5, 7), 0.1, 17),
                                 ("dropout_scale_07", (2, 3, 5), 0.7, 12345)]:
        keep = keep_mask(shape, p, seed, 5, 5)
        case(name, shape, p, "dropout(a * x, p=%g)" % p,
             (lambda k, pp: lambda e: (e["a"] * e["x"]) * k.float().div_(1 - pp))(keep, p), "train", seed,
             note="gradc's mask (seed %d, step 0) with torch's scaling: noise = keep.float().div_(1 - p)" % seed)
