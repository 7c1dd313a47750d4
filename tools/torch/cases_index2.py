"""cases_index2.py — the "index2" family of gen_op_fixtures.py (issue 15, indexing II):
integer tensors as indices (embedding with repeated ids, gather, one_hot), indexing
x[a:b, ::s, i, ...] with negative and clamped bounds, split/chunk bound to several names,
and pad's reflect and replicate modes, each against torch.nn.functional / torch.

Imported by gen_op_fixtures.py, which passes itself (its helpers add, ew, ANY, ...) to
register()."""
import torch
import torch.nn.functional as F

IDX2 = "index2"


def register(g):
    ew, add, ANY = g.ew, g.add, g.ANY

    def randint(hi, *shape):
        return lambda: torch.randint(0, hi, shape, generator=g._g(), dtype=torch.int32)

    def fixed(vals):
        return lambda: torch.tensor(vals, dtype=torch.int32)

    # ---- embedding: F.embedding (ids as int64 for torch), gradient a scatter-add
    ew(IDX2, "embedding_2d_ids", [("t", lambda: ANY(5, 3))], "embedding(ids, t)",
       lambda e: F.embedding(e["ids"].long(), e["t"]), inputs=[("ids", randint(5, 3, 4))])
    ew(IDX2, "embedding_repeated_ids", [("t", lambda: ANY(4, 2))], "embedding(ids, t * t)",
       lambda e: F.embedding(e["ids"].long(), e["t"] * e["t"]), inputs=[("ids", fixed([1, 1, 3, 0, 1, 3]))],
       note="a repeated id accumulates its rows' gradients")
    add(IDX2, "embedding_bag_mlp", [("t", lambda: ANY(6, 4)), ("w", lambda: ANY(4, 3))],
        ["h = mean(embedding(ids, t), axis=1)", "loss = cross_entropy(h @ w, lab)"],
        lambda e: (lambda h: {"h": h, "loss": F.cross_entropy(h @ e["w"], e["lab"].long())})(
            F.embedding(e["ids"].long(), e["t"]).mean(1)),
        inputs=[("ids", randint(6, 3, 5)), ("lab", randint(3, 3))], outputs=("h",), ew=False)
    # ---- gather: torch.gather
    ew(IDX2, "gather_axis1", [("a", lambda: ANY(3, 4))], "gather(a, 1, ix)",
       lambda e: torch.gather(e["a"], 1, e["ix"].long()), inputs=[("ix", randint(4, 3, 2))])
    ew(IDX2, "gather_axis0_smaller", [("a", lambda: ANY(4, 3))], "gather(a * a, 0, ix)",
       lambda e: torch.gather(e["a"] * e["a"], 0, e["ix"].long()), inputs=[("ix", randint(4, 2, 2))],
       note="the index is smaller than x outside the axis, as torch allows")
    ew(IDX2, "gather_last_axis_3d", [("a", lambda: ANY(2, 3, 4))], "gather(a, axis=-1, index=ix)",
       lambda e: torch.gather(e["a"], -1, e["ix"].long()), inputs=[("ix", randint(4, 2, 3, 6))],
       note="more indices than the axis has elements: repeats accumulate")
    # ---- one_hot: F.one_hot(..).float(), no gradient
    ew(IDX2, "one_hot_2d", [("a", lambda: ANY(2, 3, 4))], "one_hot(ids, 4) * a",
       lambda e: F.one_hot(e["ids"].long(), 4).float() * e["a"], inputs=[("ids", randint(4, 2, 3))])
    # ---- indexing
    for nm, expr, fn, shape in [
        ("index_range_keep", "a[1:3]", lambda a: a[1:3], (4, 3)),
        ("index_int_drops", "a[1:3, :, 0]", lambda a: a[1:3, :, 0], (4, 3, 2)),
        ("index_step", "a[::2]", lambda a: a[::2], (5, 2)),
        ("index_negative_from_end", "a[-3:]", lambda a: a[-3:], (5, 2)),
        ("index_ellipsis", "a[..., 1]", lambda a: a[..., 1], (2, 3, 4)),
        ("index_mixed", "a[-1, 1::2, -3:-1]", lambda a: a[-1, 1::2, -3:-1], (2, 5, 4)),
        ("index_clamped_bounds", "a[-10:2, 1:100]", lambda a: a[-10:2, 1:100], (3, 4)),
        ("index_step_3_stop", "a[:, 1:7:3]", lambda a: a[:, 1:7:3], (2, 8)),
        ("index_of_expression", "(a * a)[0][2:]", lambda a: (a * a)[0][2:], (2, 4)),
    ]:
        ew(IDX2, nm, [("a", (lambda s: lambda: ANY(*s))(shape))], expr, (lambda f: lambda e: f(e["a"]))(fn))
    add(IDX2, "index_i32_shifted_ids", [("t", lambda: ANY(7, 4)), ("w", lambda: ANY(4, 7))],
        ["logits = reshape(embedding(ids[:, :-1], t) @ w, [10, 7])", "loss = cross_entropy(logits, reshape(ids[:, 1:], [10]))",
         "last = ids[..., -1]"],
        lambda e: {"logits": (F.embedding(e["ids"][:, :-1].long(), e["t"]) @ e["w"]).reshape(10, 7),
                   "last": e["ids"][..., -1],
                   "loss": F.cross_entropy((F.embedding(e["ids"][:, :-1].long(), e["t"]) @ e["w"]).reshape(10, 7),
                                           e["ids"][:, 1:].reshape(10).long())},
        inputs=[("ids", randint(7, 2, 6))], outputs=("logits", "last"), ew=False,
        note="i32 ids sliced into inputs and next-token targets, as a language model does; an i32 output")
    # ---- split / chunk bound to several names
    add(IDX2, "split_size", [("a", lambda: ANY(3, 5))],
        ["p, q, s = split(a, 2, axis=1)", "y = p * q + concat([s, s], axis=1)"],
        lambda e: (lambda p, q, s: {"y": p * q + torch.cat([s, s], 1)})(*torch.split(e["a"], 2, 1)))
    add(IDX2, "split_sizes_list", [("a", lambda: ANY(4, 2))],
        ["u, v = split(tanh(a), [1, 3])", "y = u * sum(v, axis=0)"],
        lambda e: (lambda u, v: {"y": u * v.sum(0)})(*torch.split(torch.tanh(e["a"]), [1, 3])))
    add(IDX2, "chunk_last_axis", [("a", lambda: ANY(2, 7))],
        ["c1, c2, c3 = chunk(a, 3, axis=-1)", "y = c1 * c2 + concat([c3, c3, c3], axis=1)"],
        lambda e: (lambda c1, c2, c3: {"y": c1 * c2 + torch.cat([c3, c3, c3], 1)})(*torch.chunk(e["a"], 3, -1)))
    add(IDX2, "chunk_fewer_pieces", [("a", lambda: ANY(6, 2))],
        ["x, y1, z = chunk(a * a, 4)", "y = x * y1 - z"],
        lambda e: (lambda x, y1, z: {"y": x * y1 - z})(*torch.chunk(e["a"] * e["a"], 4)),
        note="torch.chunk(6 rows, 4) gives 3 pieces of 2")
    # ---- pad: reflect and replicate
    ew(IDX2, "pad_reflect_2d", [("a", lambda: ANY(1, 2, 4, 5))], "pad(a, [2, 1, 3, 1], mode=\"reflect\")",
       lambda e: F.pad(e["a"], (2, 1, 3, 1), mode="reflect"))
    ew(IDX2, "pad_reflect_1d", [("a", lambda: ANY(2, 3, 6))], "pad(a * a, [3, 5], \"reflect\")",
       lambda e: F.pad(e["a"] * e["a"], (3, 5), mode="reflect"), note="the mode as the third argument, torch's order")
    ew(IDX2, "pad_replicate_2d", [("a", lambda: ANY(1, 2, 3, 4))], "pad(a, [2, 3, 1, 0], mode=\"replicate\")",
       lambda e: F.pad(e["a"], (2, 3, 1, 0), mode="replicate"))
    ew(IDX2, "pad_replicate_wide", [("a", lambda: ANY(2, 2, 3))], "pad(a, [4, 1], mode=\"replicate\")",
       lambda e: F.pad(e["a"], (4, 1), mode="replicate"), note="a pad larger than the axis")
