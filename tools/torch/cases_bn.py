"""cases_bn.py — the "batchnorm" family of gen_op_fixtures.py (issue 15): F.batch_norm
in PyTorch's two modes, with running statistics as model state (`buffer`s).

A case holds, besides the common fields: "outputs"/"loss"/"grads" of the TRAINING-mode
pass (model.train(): the batch's statistics; what gradc's backward entry computes),
"eval": {"outputs", "loss"} of the EVAL-mode pass (model.eval(): the running statistics;
gradc's forward entry), and "buffers": the running statistics after one training-mode
pass (momentum update, unbiased variance). The initial running statistics are in
"params" (a buffer is set like a parameter). Cases cover BatchNorm1d on [N, C] and
[N, C, L], BatchNorm2d, BatchNorm3d, with and without weight and bias, other momentum
and eps, an offset input, and batch norm after conv2d, conv1d and a linear layer (which
gradc's eval mode folds into the weights).

Imported by gen_op_fixtures.py, which passes itself (its helpers) to register()."""
import torch
import torch.nn.functional as F

BN = "batchnorm"


def register(g):
    ANY, POS, U = g.ANY, g.POS, g.U

    def case(name, params, buffers, body, fn, inputs=(), outputs=("y",), tol=None, note=None):
        """params, inputs: (name, lambda) pairs; buffers: (name, lambda) of the running
        statistics; fn(env, training) -> {"y": ..., names of outputs, and "loss"}, with
        env's buffers updated in place in training mode, as F.batch_norm does."""
        assert all(name != c["name"] for f in g.FAMILIES.values() for c in f), name
        g.seed_for(name)
        ps = [(n, v().float()) for n, v in params]
        bs = [(n, v().float()) for n, v in buffers]
        ins = [(n, v() if callable(v) else v) for n, v in inputs]
        res = {}
        for training in (False, True):
            env = dict(ins)
            env.update((n, v.clone().requires_grad_(True)) for n, v in ps)
            env.update((n, v.clone()) for n, v in bs)
            vals = fn(env, training)
            vals["loss"].backward()
            res[training] = (env, vals)
        lines = ["model " + name]
        lines += ["input %s : %s" % (n, g.tdecl(v)) for n, v in ins]
        lines += ["param %s : %s" % (n, g.tdecl(v)) for n, v in ps]
        lines += ["buffer %s : %s" % (n, g.tdecl(v)) for n, v in bs]
        lines += list(body) + ["output " + ", ".join(outputs), "minimize loss"]
        env, vals = res[True]
        eenv, evals = res[False]
        c = {"name": name, "model": "\n".join(lines) + "\n"}
        if note:
            c["note"] = note
        c["inputs"] = {n: g.tjson(v) for n, v in ins}
        c["params"] = {n: g.tjson(v) for n, v in ps + bs}
        c["outputs"] = {n: g.tjson(vals[n], None) for n in outputs}
        c["loss"] = float(vals["loss"].detach())
        c["grads"] = {n: g.tjson(env[n].grad, None) for n, _ in ps}
        c["eval"] = {"outputs": {n: g.tjson(evals[n], None) for n in outputs}, "loss": float(evals["loss"].detach())}
        c["buffers"] = {n: g.tjson(env[n]) for n, _ in bs}
        if tol:
            c["tol"] = tol
        g.FAMILIES.setdefault(BN, []).append(c)

    def ew(name, shape, expr, call, affine=(True, True), **kw):
        """y = EXPR(a, rm, rv[, w][, b]); loss = sum(y * r)."""
        ch = shape[1]
        params = [("a", lambda: ANY(*shape))]
        if affine[0]:
            params.append(("w", lambda: POS(ch)))
        if affine[1]:
            params.append(("b", lambda: ANY(ch)))
        buffers = [("rm", lambda: ANY(ch) * 0.5), ("rv", lambda: POS(ch))]

        def fn(e, training):
            y = call(e, training)
            return {"y": y, "loss": (y * e["r"]).sum()}
        case(name, params, buffers, ["y = " + expr, "loss = sum(y * r)"], fn,
             inputs=[("r", lambda: U(tuple(shape), -1.0, 1.0))], **kw)

    def bn(e, training, momentum=0.1, eps=1e-5, x=None):
        return F.batch_norm(e["a"] if x is None else x, e["rm"], e["rv"], e.get("w"), e.get("b"), training,
                            momentum, eps)

    ew("bn2d_affine", (4, 3, 2, 2), "batch_norm(a, rm, rv, w, b)", lambda e, t: bn(e, t))
    ew("bn1d_rows", (5, 4), "batch_norm(a, rm, rv)", lambda e, t: bn(e, t), affine=(False, False))
    ew("bn1d_seq_weight", (3, 2, 5), "batch_norm(a, rm, rv, weight=w, momentum=0.3, eps=0.001)",
       lambda e, t: bn(e, t, 0.3, 1e-3), affine=(True, False))
    ew("bn3d_bias", (2, 2, 2, 2, 3), "batch_norm(a, rm, rv, bias=b)", lambda e, t: bn(e, t), affine=(False, True))
    ew("bn2d_momentum_1", (2, 3, 3, 2), "batch_norm(a, rm, rv, w, b, momentum=1, eps=0.01)",
       lambda e, t: bn(e, t, 1.0, 0.01), note="momentum 1: the running statistics become the batch's")
    ew("bn2d_offset", (4, 2, 3, 3), "batch_norm(a + 100, rm, rv, w, b)",
       lambda e, t: bn(e, t, x=e["a"] + 100),
       tol={"abs": 1e-4, "rel": 1e-3, "why": "values near 100 carry 4e-6 of f32 rounding each; the running mean "
            "(about 10) and the variance keep 5 digits"},
       note="an offset of 100: the mean-subtracted variance keeps its digits")

    def conv_bn(e, training):
        h = F.conv2d(e["x"], e["k"], e["kb"], padding=1)
        y = F.relu(F.batch_norm(h, e["rm"], e["rv"], e["w"], e["b"], training, 0.1, 1e-5))
        return {"y": y, "loss": F.mse_loss(y, e["t"])}
    case("conv2d_bn_relu", [("k", lambda: ANY(4, 2, 3, 3) * 0.5), ("kb", lambda: ANY(4)), ("w", lambda: POS(4)),
                            ("b", lambda: ANY(4))],
         [("rm", lambda: ANY(4) * 0.5), ("rv", lambda: POS(4))],
         ["h = conv2d(x, k, kb, padding=1)", "y = relu(batch_norm(h, rm, rv, w, b))", "loss = mse(y, t)"], conv_bn,
         inputs=[("x", lambda: ANY(3, 2, 4, 4)), ("t", lambda: ANY(3, 4, 4, 4))],
         note="eval mode folds the batch norm into the convolution (weights scaled per output channel)")

    def conv1d_bn(e, training):
        y = F.batch_norm(F.conv1d(e["x"], e["k"]), e["rm"], e["rv"], e["w"], None, training, 0.1, 1e-5)
        return {"y": y, "loss": F.mse_loss(y, e["t"])}
    case("conv1d_bn", [("k", lambda: ANY(3, 2, 3) * 0.5), ("w", lambda: POS(3))],
         [("rm", lambda: ANY(3) * 0.5), ("rv", lambda: POS(3))],
         ["y = batch_norm(conv1d(x, k), rm, rv, w)", "loss = mse(y, t)"], conv1d_bn,
         inputs=[("x", lambda: ANY(4, 2, 7)), ("t", lambda: ANY(4, 3, 5))],
         note="eval mode folds into the conv1d without bias (the shift becomes its bias)")

    def linear_bn(e, training):
        y = F.batch_norm(e["x"] @ e["m"] + e["mb"], e["rm"], e["rv"], e["w"], e["b"], training, 0.1, 1e-5)
        return {"y": y, "loss": F.mse_loss(y, e["t"])}
    case("linear_bn", [("m", lambda: ANY(4, 3)), ("mb", lambda: ANY(3)), ("w", lambda: POS(3)), ("b", lambda: ANY(3))],
         [("rm", lambda: ANY(3) * 0.5), ("rv", lambda: POS(3))],
         ["y = batch_norm(x @ m + mb, rm, rv, w, b)", "loss = mse(y, t)"], linear_bn,
         inputs=[("x", lambda: ANY(6, 4)), ("t", lambda: ANY(6, 3))],
         note="eval mode folds into the product (weights scaled per column)")
