"""cases_reductions.py — the PyTorch 1.13 fixture cases of the reductions and losses of
issue 15 (families "reductions" and "criteria"), part of tools/torch/gen_op_fixtures.py,
which calls register() with itself (its helpers add, ew, ANY, T, U, ...) at this point of
its list: the cases keep their place, so the output stays the same."""

torch = F = add = ew = T = U = labels = ANY = POS = WIDE = AWAY = None  # set by register()


def register(g):
    global torch, F, add, ew, T, U, labels, ANY, POS, WIDE, AWAY
    torch, F = g.torch, g.F
    add, ew, T, U, labels = g.add, g.ew, g.T, g.U, g.labels
    ANY, POS, WIDE, AWAY = g.ANY, g.POS, g.WIDE, g.AWAY
    min_cases()
    prod_var_std_cases()
    logsumexp_cases()
    arg_norm_cases()
    pointwise_loss_cases()
    kl_div_cases()
    classification_cases()


# ---- reductions and losses (issue 15): min, prod, var, std, logsumexp, argmax, argmin, norm;
# nll_loss, l1_loss, smooth_l1_loss, huber_loss, kl_div, cross_entropy's options, reduction=
RR = "reductions"


def red_case(name, shape, expr, fn, dom=None, note=None, tol=None):
    dom = dom or ANY
    ew(RR, name, [("a", (lambda d: lambda: d(*shape) if isinstance(shape, tuple) else shape())(dom))], expr,
       fn, note=note, tol=tol)


def min_cases():
    """min: every axis form, and ties as torch.min(x, dim) and amin give them."""
    for nm, axis, keep, expr_axis in [("all", None, False, ""), ("ax1", 1, False, ", axis=1"),
                                      ("axm1_keep", -1, True, ", axis=-1, keepdims=true"),
                                      ("ax02", [0, 2], False, ", axis=[0, 2]"), ("ax0_keep", 0, True, ", axis=0, keepdims=true")]:
        def t_min(e, axis=axis, keep=keep):
            x = e["a"]
            if axis is None:
                return torch.min(x)
            if isinstance(axis, int):
                return torch.min(x, dim=axis, keepdim=keep).values
            return torch.amin(x, dim=axis, keepdim=keep)
        red_case("min_" + nm, (2, 3, 4), "min(a%s)" % expr_axis, t_min)
    red_case("tie_min_axis_int", lambda: T([[1.0, -3.0, -3.0, 2.0], [5.0, 5.0, 5.0, 6.0], [0.0, -1.0, -4.0, -4.0]]),
             "min(a, axis=1)", lambda e: torch.min(e["a"], dim=1).values,
             note="torch.min(x, dim) gives a tie's whole gradient to the first minimum")
    red_case("tie_min_all", lambda: T([[1.0, -3.0, -3.0], [2.0, -3.0, 0.0]]), "min(a)", lambda e: torch.min(e["a"]),
             note="torch.min(x) shares a tie evenly among the minima")
    red_case("tie_min_list", lambda: T([[[1.0, 0.0], [0.0, 2.0]], [[0.0, 3.0], [4.0, 5.0]]]), "min(a, axis=[0, 1])",
             lambda e: torch.amin(e["a"], dim=(0, 1)), note="torch.amin shares a tie evenly")


def prod_var_std_cases():
    """prod (with zeros), var and std (correction, keepdims, a constant row)."""
    red_case("prod_ax1", (3, 4), "prod(a, axis=1)", lambda e: torch.prod(e["a"], 1), dom=POS)
    red_case("prod_all", (2, 3), "prod(a)", lambda e: torch.prod(e["a"]))
    red_case("prod_ax0_keep", (3, 4), "prod(a, axis=0, keepdims=true)", lambda e: torch.prod(e["a"], 0, keepdim=True))
    red_case("prod_3d_axm1", (2, 3, 4), "prod(a, axis=-1)", lambda e: torch.prod(e["a"], -1))
    red_case("prod_list", (2, 3, 4), "prod(a, axis=[0, 2])", lambda e: torch.prod(torch.prod(e["a"], 2), 0),
             note="torch.prod takes one dim: the reference is two products in a row")
    red_case("prod_zeros", lambda: T([[2.0, 0.0, 3.0, 1.5], [0.0, 0.0, 1.0, 2.0], [1.0, 2.0, -3.0, 0.5]]),
             "prod(a, axis=1)", lambda e: torch.prod(e["a"], 1),
             note="one zero in row 0 (its gradient is the product of the others), two in row 1 (all 0); torch never "
                  "divides by x")
    red_case("prod_zero_all", lambda: T([[2.0, 0.0, 3.0], [4.0, 5.0, -1.0]]), "prod(a)", lambda e: torch.prod(e["a"]),
             note="one zero in the whole tensor")

    for nm, expr, fn in [
            ("var_all", "var(a)", lambda e: torch.var(e["a"])),
            ("var_ax1", "var(a, axis=1)", lambda e: torch.var(e["a"], dim=1)),
            ("var_ax0_c0_keep", "var(a, axis=0, correction=0, keepdims=true)",
             lambda e: torch.var(e["a"], dim=0, correction=0, keepdim=True)),
            ("var_list_c2", "var(a, axis=[0, 2], correction=2)", lambda e: torch.var(e["a"], dim=(0, 2), correction=2)),
            ("std_all", "std(a)", lambda e: torch.std(e["a"])),
            ("std_axm1", "std(a, axis=-1)", lambda e: torch.std(e["a"], dim=-1)),
            ("std_ax1_c0_keep", "std(a, axis=1, correction=0, keepdims=true)",
             lambda e: torch.std(e["a"], dim=1, correction=0, keepdim=True))]:
        red_case(nm, (2, 3, 4) if "list" in nm else (3, 5), expr, fn)
    red_case("std_constant_row", lambda: T([[1.0, 2.0, 4.0], [0.5, 0.5, 0.5]]), "std(a, axis=1)",
             lambda e: torch.std(e["a"], dim=1), note="std 0 in row 1: torch's gradient is 0 there (masked), not NaN")
    red_case("var_large_offset", lambda: T([[1000.0, 1001.0, 1002.0, 1003.0], [-500.5, -500.0, -499.5, -499.0]]),
             "var(a, axis=1)", lambda e: torch.var(e["a"], dim=1), note="two passes: no cancellation")


def logsumexp_cases():
    """logsumexp along rows, columns, everything, and of large values."""
    for nm, expr, fn in [
            ("logsumexp_ax1", "logsumexp(a, axis=1)", lambda e: torch.logsumexp(e["a"], 1)),
            ("logsumexp_axm1_keep", "logsumexp(a, axis=-1, keepdims=true)", lambda e: torch.logsumexp(e["a"], -1, True)),
            ("logsumexp_all", "logsumexp(a)", lambda e: torch.logsumexp(e["a"], (0, 1))),
            ("logsumexp_ax0", "logsumexp(a, axis=0)", lambda e: torch.logsumexp(e["a"], 0))]:
        red_case(nm, (3, 5), expr, fn, dom=WIDE)
    red_case("logsumexp_large", lambda: T([[1000.0, 999.0, -1000.0], [-800.0, -801.0, -799.5], [88.0, 89.0, 90.0]]),
             "logsumexp(a, axis=1)", lambda e: torch.logsumexp(e["a"], 1), note="needs the max-shifted form")


def argcase(name, x, body, fn, note=None):
    """An i32 output i (argmax/argmin) beside y = max(a) so that the model has a loss."""
    add(RR, name, [("a", x)], ["i = " + body, "y = max(a, axis=-1)", "loss = sum(y * r)"],
        lambda e: {"i": fn(e["a"]).int(), "y": torch.max(e["a"], -1).values,
                   "loss": (torch.max(e["a"], -1).values * e["r"]).sum()},
        inputs=[("r", lambda: ANY(*x().shape[:-1]) if callable(x) else None)], outputs=("i", "y"), ew=False,
        note=note)


def arg_norm_cases():
    """argmax/argmin (i32 outputs, ties) and norm (p 1, 2, inf; a zero row; inf ties)."""
    TIEA = [[1.0, 3.0, 3.0, 2.0], [5.0, 5.0, -1.0, 5.0], [0.0, -1.0, -1.0, 4.0]]
    argcase("argmax_ax1", lambda: ANY(3, 5), "argmax(a, axis=1)", lambda a: torch.argmax(a, 1))
    argcase("argmax_all", lambda: ANY(3, 5), "argmax(a)", lambda a: torch.argmax(a))
    argcase("argmax_all_keep", lambda: ANY(3, 5), "argmax(a, keepdims=true)", lambda a: torch.argmax(a, keepdim=True))
    argcase("argmax_3d_ax1_keep", lambda: ANY(2, 3, 4), "argmax(a, axis=1, keepdims=true)",
            lambda a: torch.argmax(a, 1, keepdim=True))
    argcase("argmin_ax0", lambda: ANY(3, 5), "argmin(a, axis=0)", lambda a: torch.argmin(a, 0))
    argcase("argmin_all", lambda: ANY(3, 5), "argmin(a)", lambda a: torch.argmin(a))
    argcase("tie_argmax", lambda: T(TIEA), "argmax(a, axis=1)", lambda a: torch.argmax(a, 1),
            note="torch.argmax returns the first index of the maximum")
    argcase("tie_argmin", lambda: T(TIEA), "argmin(a, axis=-1)", lambda a: torch.argmin(a, -1),
            note="torch.argmin returns the first index of the minimum")

    for nm, expr, fn, dom in [
            ("norm_all", "norm(a)", lambda e: torch.linalg.vector_norm(e["a"]), ANY),
            ("norm_ax1", "norm(a, axis=1)", lambda e: torch.linalg.vector_norm(e["a"], 2, 1), ANY),
            ("norm_p2_list_keep", "norm(a, 2, axis=[0, 1], keepdims=true)",
             lambda e: torch.linalg.vector_norm(e["a"], 2, (0, 1), True), ANY),
            ("norm_p1_ax0", "norm(a, p=1, axis=0)", lambda e: torch.linalg.vector_norm(e["a"], 1, 0), AWAY),
            ("norm_p1_all", "norm(a, 1)", lambda e: torch.linalg.vector_norm(e["a"], 1), AWAY),
            ("norm_inf_ax1_keep", "norm(a, inf, axis=1, keepdims=true)",
             lambda e: torch.linalg.vector_norm(e["a"], float("inf"), 1, True), ANY),
            ("norm_inf_all", "norm(a, p=inf)", lambda e: torch.linalg.vector_norm(e["a"], float("inf")), ANY)]:
        red_case(nm, (3, 4), expr, fn, dom=dom)
    red_case("norm_zero_row", lambda: T([[0.0, 0.0, 0.0], [3.0, -4.0, 0.0]]), "norm(a, axis=1)",
             lambda e: torch.linalg.vector_norm(e["a"], 2, 1), note="the 2-norm of a zero vector has gradient 0 (torch)")
    red_case("tie_norm_inf", lambda: T([[-2.0, 2.0, 1.0], [0.5, -1.0, 1.0]]), "norm(a, inf, axis=1)",
             lambda e: torch.linalg.vector_norm(e["a"], float("inf"), 1),
             note="torch shares the gradient of |x| ties evenly, with x's sign")


CR = "criteria"
NONE_SHAPE = {}


def crit(name, params, inputs, expr, fn, extra=(), outputs=("loss",), note=None, tol=None):
    add(CR, name, params, list(extra) + ["loss = " + expr], fn, inputs=inputs, outputs=outputs, ew=False, note=note,
        tol=tol)


def crit_none(name, params, inputs, expr, fn, note=None):
    """reduction="none": the unreduced losses u, weighted by r into the loss."""
    def f(e):
        u = fn(e)
        return {"u": u, "loss": (u * e["r"]).sum()}
    shape_of = params[0][1]
    add(CR, name, params, ["u = " + expr, "loss = sum(u * r)"], f,
        inputs=list(inputs) + [("r", lambda: ANY(*NONE_SHAPE[name]))], outputs=("u",), ew=False, note=note)


def pointwise_loss_cases():
    """l1, smooth_l1, huber, mse and bce with their reductions and options."""
    PW = [("l1_loss", F.l1_loss, ""), ("smooth_l1_loss", F.smooth_l1_loss, ""),
          ("smooth_l1_loss", lambda a, t, reduction="mean": F.smooth_l1_loss(a, t, reduction=reduction, beta=0.5),
           ", beta=0.5"),
          ("smooth_l1_loss", lambda a, t, reduction="mean": F.smooth_l1_loss(a, t, reduction=reduction, beta=0.0),
           ", beta=0"),
          ("huber_loss", F.huber_loss, ""),
          ("huber_loss", lambda a, t, reduction="mean": F.huber_loss(a, t, reduction=reduction, delta=0.4), ", delta=0.4"),
          ("huber_loss", lambda a, t, reduction="mean": F.huber_loss(a, t, reduction=reduction, delta=2.5), ", delta=2.5"),
          ("mse", F.mse_loss, ""), ("bce_with_logits", F.binary_cross_entropy_with_logits, "")]
    for op, tf, opt in PW:
        tag = op + opt.replace(", ", "_").replace("=", "").replace(".", "_")
        tdom = (lambda: U((3, 4), 0.0, 1.0)) if op == "bce_with_logits" else (lambda: WIDE(3, 4))
        for red in ("mean", "sum"):
            if op in ("mse", "bce_with_logits") and red == "mean":
                continue  # the default: the losses family has it
            rtxt = "" if red == "mean" else ', reduction="%s"' % red
            crit("%s_%s" % (tag, red), [("a", lambda: WIDE(3, 4))], [("t", tdom)], "%s(a, t%s%s)" % (op, rtxt, opt),
                 (lambda f, rr: lambda e: {"loss": f(e["a"], e["t"], reduction=rr)})(tf, red))
        NONE_SHAPE[tag + "_none"] = (3, 4)
        crit_none(tag + "_none", [("a", lambda: WIDE(3, 4)), ("t", tdom)], [], '%s(a, t, reduction="none"%s)' % (op, opt),
                  (lambda f: lambda e: f(e["a"], e["t"], reduction="none"))(tf),
                  note="both operands differentiable, as torch")
    crit("smooth_l1_boundary", [("a", lambda: T([0.0, 0.5, -0.5, 1.0, -1.0, 1.5, 3.0, 0.25]))],
         [("t", lambda: torch.zeros(8))], "smooth_l1_loss(a, t, beta=0.5, reduction=\"sum\")",
         lambda e: {"loss": F.smooth_l1_loss(e["a"], e["t"], beta=0.5, reduction="sum")},
         note="|d| at beta: both branches meet, the gradient is continuous")
    crit("huber_boundary", [("a", lambda: T([0.0, 0.4, -0.4, 1.0, -2.0, 0.1]))], [("t", lambda: torch.zeros(6))],
         "huber_loss(a, t, delta=0.4, reduction=\"sum\")",
         lambda e: {"loss": F.huber_loss(e["a"], e["t"], delta=0.4, reduction="sum")})
    crit("l1_bcast", [("a", lambda: ANY(3, 4))], [("t", lambda: ANY(4))], "l1_loss(a, t)",
         lambda e: {"loss": F.l1_loss(e["a"], e["t"].expand(3, 4))}, note="the target broadcasts (torch warns)")


def probs(*shape):
    return lambda: torch.softmax(WIDE(*shape), -1)


def kl_div_cases():
    """kl_div: its reductions, log_target, a differentiable target, zeros in the target."""
    for red in ("mean", "batchmean", "sum"):
        rtxt = "" if red == "mean" else ', reduction="%s"' % red
        crit("kl_div_" + red, [("a", lambda: WIDE(4, 5))], [("t", probs(4, 5))], "kl_div(log_softmax(a), t%s)" % rtxt,
             (lambda rr: lambda e: {"loss": F.kl_div(F.log_softmax(e["a"], -1), e["t"], reduction=rr)})(red))
    crit("kl_div_target_param", [("a", lambda: WIDE(4, 5)), ("b", lambda: WIDE(4, 5))], [],
         "kl_div(log_softmax(a), softmax(b), reduction=\"batchmean\")",
         lambda e: {"loss": F.kl_div(F.log_softmax(e["a"], -1), torch.softmax(e["b"], -1), reduction="batchmean")},
         note="the target is differentiable too: log t + 1 - input")
    crit("kl_div_log_target", [("a", lambda: WIDE(4, 5)), ("b", lambda: WIDE(4, 5))], [],
         "kl_div(log_softmax(a), log_softmax(b), log_target=true)",
         lambda e: {"loss": F.kl_div(F.log_softmax(e["a"], -1), F.log_softmax(e["b"], -1), log_target=True)})
    crit("kl_div_zero_target", [("a", lambda: WIDE(3, 4))], [("t", lambda: T([[0.0, 0.5, 0.5, 0.0], [1.0, 0.0, 0.0, 0.0],
                                                                             [0.25, 0.25, 0.25, 0.25]]))],
         "kl_div(a, t, reduction=\"sum\")", lambda e: {"loss": F.kl_div(e["a"], e["t"], reduction="sum")},
         note="0 log 0 = 0 (torch's xlogy)")
    NONE_SHAPE["kl_div_none"] = (3, 4)
    crit_none("kl_div_none", [("a", lambda: WIDE(3, 4))], [("t", probs(3, 4))], 'kl_div(a, t, reduction="none")',
              lambda e: F.kl_div(e["a"], e["t"], reduction="none"))


def classification_cases():
    """nll_loss and cross_entropy: weight, label_smoothing, probability targets, reduction."""
    W5 = lambda: U((5,), 0.2, 2.0)  # noqa: E731
    for nm, args, fn in [
            ("nll_basic", "nll_loss(log_softmax(z), label)", lambda e, lsm: F.nll_loss(lsm, e["label"].long())),
            ("nll_weight", "nll_loss(log_softmax(z), label, w)",
             lambda e, lsm: F.nll_loss(lsm, e["label"].long(), weight=e["w"])),
            ("nll_sum", "nll_loss(log_softmax(z), label, reduction=\"sum\")",
             lambda e, lsm: F.nll_loss(lsm, e["label"].long(), reduction="sum")),
            ("nll_weight_sum", "nll_loss(log_softmax(z), label, weight=w, reduction=\"sum\")",
             lambda e, lsm: F.nll_loss(lsm, e["label"].long(), weight=e["w"], reduction="sum")),
            ("ce_weight", "cross_entropy(z, label, w)", lambda e, lsm: F.cross_entropy(e["z"], e["label"].long(), e["w"])),
            ("ce_smoothing", "cross_entropy(z, label, label_smoothing=0.1)",
             lambda e, lsm: F.cross_entropy(e["z"], e["label"].long(), label_smoothing=0.1)),
            ("ce_weight_smoothing", "cross_entropy(z, label, weight=w, label_smoothing=0.25)",
             lambda e, lsm: F.cross_entropy(e["z"], e["label"].long(), weight=e["w"], label_smoothing=0.25)),
            ("ce_weight_smoothing_sum", "cross_entropy(z, label, w, \"sum\", 0.3)",
             lambda e, lsm: F.cross_entropy(e["z"], e["label"].long(), weight=e["w"], reduction="sum",
                                            label_smoothing=0.3)),
            ("ce_sum", "cross_entropy(z, label, reduction=\"sum\")",
             lambda e, lsm: F.cross_entropy(e["z"], e["label"].long(), reduction="sum"))]:
        crit(nm, [("z", lambda: WIDE(6, 5))], [("label", labels(6, 5)), ("w", W5)], args,
             (lambda f: lambda e: {"loss": f(e, F.log_softmax(e["z"], -1))})(fn))
    for nm, args, fn in [
            ("nll_none", 'nll_loss(log_softmax(z), label, w, reduction="none")',
             lambda e: F.nll_loss(F.log_softmax(e["z"], -1), e["label"].long(), weight=e["w"], reduction="none")),
            ("ce_none_smoothing", 'cross_entropy(z, label, w, reduction="none", label_smoothing=0.2)',
             lambda e: F.cross_entropy(e["z"], e["label"].long(), weight=e["w"], reduction="none", label_smoothing=0.2)),
            ("ce_soft_none", 'cross_entropy(z, t, reduction="none")',
             lambda e: F.cross_entropy(e["z"], e["t"], reduction="none"))]:
        NONE_SHAPE[nm] = (6,)
        crit_none(nm, [("z", lambda: WIDE(6, 5))], [("label", labels(6, 5)), ("w", W5), ("t", probs(6, 5))], args, fn)
    for nm, args, fn in [
            ("ce_soft", "cross_entropy(z, t)", lambda e: F.cross_entropy(e["z"], e["t"])),
            ("ce_soft_weight_smoothing", "cross_entropy(z, t, w, label_smoothing=0.15)",
             lambda e: F.cross_entropy(e["z"], e["t"], weight=e["w"], label_smoothing=0.15)),
            ("ce_soft_sum", "cross_entropy(z, t, reduction=\"sum\")",
             lambda e: F.cross_entropy(e["z"], e["t"], reduction="sum"))]:
        crit(nm, [("z", lambda: WIDE(6, 5))], [("t", probs(6, 5)), ("w", W5)], args, (lambda f: lambda e: {"loss": f(e)})(fn))
    crit("ce_soft_target_param", [("z", lambda: WIDE(4, 3)), ("s", lambda: WIDE(4, 3))], [("w", lambda: U((3,), 0.2, 2.0))],
         "cross_entropy(z, softmax(s), w, label_smoothing=0.1)",
         lambda e: {"loss": F.cross_entropy(e["z"], torch.softmax(e["s"], -1), weight=e["w"], label_smoothing=0.1)},
         note="probability targets are differentiable, as torch")
    add(CR, "classifier_pred_output",
        [("w", lambda: ANY(6, 4)), ("b", lambda: ANY(4))],
        ["logits = x @ w + b", "pred = argmax(logits, axis=1)", "p = softmax(logits)",
         "conf = max(p, axis=1)", "loss = cross_entropy(logits, label, label_smoothing=0.1)"],
        lambda e: (lambda lg: {"pred": torch.argmax(lg, 1).int(), "conf": torch.softmax(lg, 1).max(1).values,
                               "loss": F.cross_entropy(lg, e["label"].long(), label_smoothing=0.1)})(e["x"] @ e["w"] + e["b"]),
        inputs=[("x", lambda: ANY(7, 6)), ("label", labels(7, 4))], outputs=("pred", "conf"), ew=False,
        note="the predicted class as an i32 output beside the loss")
