#!/usr/bin/python3
"""mkbad.py — writes the small ONNX models of tests/e2e/onnx_bad/: models the importer must
refuse with a message naming the node or tensor (never a crash), a few it must accept
(mapped names, external data beside the model), and the ONNX seeds of the fuzz target
(tools/fuzz/seeds/onnx/). The files are committed: the tests do not need python-onnx.

    /usr/bin/python3 tools/onnx/mkbad.py      (needs python3-onnx; idempotent)

e2e_onnx_bad (tests/e2e/e2e_onnx_bad.c) says what each file must give."""
import os
import struct

import onnx
from onnx import TensorProto, helper

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
OUT = os.path.join(ROOT, "tests", "e2e", "onnx_bad")
F = TensorProto.FLOAT


def inp(name, dims, t=F):
    return helper.make_tensor_value_info(name, t, dims)


def model(nodes, inputs, outputs, inits=(), opset=13, domains=None, ir=8):
    g = helper.make_graph(nodes, "g", inputs, outputs, initializer=list(inits))
    ops = domains or [helper.make_opsetid("", opset)]
    m = helper.make_model(g, producer_name="mkbad", opset_imports=ops)
    m.ir_version = ir
    return m


def save(name, m):
    data = m if isinstance(m, bytes) else m.SerializeToString()
    with open(os.path.join(OUT, name), "wb") as f:
        f.write(data)


def add_model(**kw):
    """y = x + w: the base most cases change one thing of."""
    w = helper.make_tensor("w", F, [2], [1.0, 2.0])
    return model([helper.make_node("Add", ["x", "w"], ["y"], name="add")], [inp("x", [2])], [inp("y", [2])],
                 [w], **kw)


def external(name, loc, offset=None, length=None, dims=(2,)):
    """y = x + w, w's values in an external file."""
    w = TensorProto(name="w", data_type=F, dims=list(dims))
    w.data_location = TensorProto.EXTERNAL
    for k, v in (("location", loc), ("offset", offset), ("length", length)):
        if v is not None:
            e = w.external_data.add()
            e.key, e.value = k, str(v)
    return model([helper.make_node("Add", ["x", "w"], ["y"], name="add")], [inp("x", list(dims))],
                 [inp("y", list(dims))], [w])


def protobuf_cases():
    ok = add_model()
    save("ok_add.onnx", ok)
    b = ok.SerializeToString()
    save("truncated.onnx", b[: len(b) - 7])
    save("corrupt.onnx", b"\x0a\xff\xff\xff\xff\x0f" + b"not a model" * 3)
    save("no_graph.onnx", b"")


def opset_cases():
    save("opset_new.onnx", add_model(opset=18))
    # opset 4: Concat's definition then (axis optional, default 1) is not opset 6's
    save("opset_old.onnx", model([helper.make_node("Concat", ["x", "x"], ["y"], name="cat", axis=0)],
                                 [inp("x", [2])], [inp("y", [4])], opset=4))
    save("opset_none.onnx", add_model(domains=[helper.make_opsetid("com.microsoft", 1)]))
    n = helper.make_node("FusedGemm", ["x", "w"], ["y"], name="fused", domain="com.microsoft")
    save("domain.onnx", model([n], [inp("x", [2])], [inp("y", [2])],
                              [helper.make_tensor("w", F, [2], [1.0, 2.0])],
                              domains=[helper.make_opsetid("", 13), helper.make_opsetid("com.microsoft", 1)]))


def graph_cases():
    # a -> b -> a: add reads relu's output, relu reads add's; sink reads the cycle.
    nodes = [helper.make_node("Relu", ["a"], ["y"], name="sink"),
             helper.make_node("Add", ["x", "b"], ["a"], name="first"),
             helper.make_node("Relu", ["a"], ["b"], name="second")]
    save("cycle.onnx", model(nodes, [inp("x", [2])], [inp("y", [2])]))
    nodes = [helper.make_node("Relu", ["x"], ["r"], name="ok"),
             helper.make_node("Add", ["r", "ghost"], ["y"], name="reader")]
    save("undefined.onnx", model(nodes, [inp("x", [2])], [inp("y", [2])]))
    nodes = [helper.make_node("Relu", ["x"], ["y"], name="one"), helper.make_node("Neg", ["x"], ["y"], name="two")]
    save("twice_node.onnx", model(nodes, [inp("x", [2])], [inp("y", [2])]))
    w = helper.make_tensor("w", F, [2], [1.0, 2.0])
    save("twice_init.onnx", model([helper.make_node("Add", ["x", "w"], ["y"], name="add")],
                                  [inp("x", [2])], [inp("y", [2])], [w, w]))
    save("twice_input.onnx", model([helper.make_node("Relu", ["x"], ["y"], name="r")],
                                   [inp("x", [2]), inp("x", [2])], [inp("y", [2])]))
    save("no_output.onnx", model([helper.make_node("Relu", ["x"], ["y"], name="r")],
                                 [inp("x", [2])], [inp("z", [2])]))


def name_cases():
    # Not C identifiers, colliding once mapped, keywords of C and of the language.
    w = helper.make_tensor("fc1.weight", F, [2], [0.5, -1.0])
    w2 = helper.make_tensor("fc1_weight", F, [2], [2.0, 3.0])
    nodes = [helper.make_node("Mul", ["input", "fc1.weight"], ["/0/Mul_output_0"], name="/0/Mul"),
             helper.make_node("Add", ["/0/Mul_output_0", "fc1_weight"], ["1st"], name="add.1"),
             helper.make_node("Relu", ["1st"], ["float"], name="int"),
             helper.make_node("Neg", ["float"], ["output"], name="model")]
    save("names.onnx", model(nodes, [inp("input", [2])], [inp("output", [2]), inp("float", [2])], [w, w2]))


def size_cases():
    big = 1 << 32
    t = TensorProto(name="w", data_type=F, dims=[big, big], raw_data=b"\0" * 8)
    save("huge_overflow.onnx", model([helper.make_node("Add", ["x", "w"], ["y"], name="add")],
                                     [inp("x", [2])], [inp("y", [2])], [t]))
    t = TensorProto(name="w", data_type=F, dims=[(1 << 31) + 1], raw_data=b"\0" * 8)
    save("huge_2g.onnx", model([helper.make_node("Add", ["x", "w"], ["y"], name="add")],
                               [inp("x", [2])], [inp("y", [2])], [t]))
    t = TensorProto(name="w", data_type=F, dims=[4], raw_data=struct.pack("<2f", 1, 2))
    save("raw_short.onnx", model([helper.make_node("Add", ["x", "w"], ["y"], name="add")],
                                 [inp("x", [4])], [inp("y", [4])], [t]))
    t = TensorProto(name="w", data_type=F, dims=[4], float_data=[1, 2, 3])
    save("typed_short.onnx", model([helper.make_node("Add", ["x", "w"], ["y"], name="add")],
                                   [inp("x", [4])], [inp("y", [4])], [t]))
    save("huge_input.onnx", model([helper.make_node("Relu", ["x"], ["y"], name="r")],
                                  [inp("x", [1 << 20, 1 << 20])], [inp("y", [1 << 20, 1 << 20])]))
    save("zero_dim.onnx", model([helper.make_node("Relu", ["x"], ["y"], name="r")],
                                [inp("x", [2, 0])], [inp("y", [2, 0])]))


def external_cases():
    save("ext_ok.onnx", external("ext_ok", "ext_ok.bin"))
    with open(os.path.join(OUT, "ext_ok.bin"), "wb") as f:
        f.write(struct.pack("<4f", 9, 9, 10, 20))  # w = [10, 20] at offset 8
    save("ext_ok_offset.onnx", external("ext_ok_offset", "ext_ok.bin", offset=8, length=8))
    save("ext_parent.onnx", external("ext_parent", "../outside.bin"))
    save("ext_absolute.onnx", external("ext_absolute", "/etc/passwd"))
    save("ext_missing.onnx", external("ext_missing", "nothere.bin"))
    save("ext_past_end.onnx", external("ext_past_end", "ext_ok.bin", offset=12))
    save("ext_length.onnx", external("ext_length", "ext_ok.bin", length=4))
    save("ext_no_location.onnx", external("ext_no_location", None))


def support_cases():
    n = helper.make_node("NonMaxSuppression", ["x", "x"], ["y"], name="nms")
    save("op.onnx", model([n], [inp("x", [2])], [inp("y", [2])]))
    save("double_input.onnx", model([helper.make_node("Relu", ["x"], ["y"], name="r")],
                                    [inp("x", [2], TensorProto.DOUBLE)], [inp("y", [2], TensorProto.DOUBLE)]))
    save("uint8_input.onnx", model([helper.make_node("Relu", ["x"], ["y"], name="r")],
                                   [inp("x", [2], TensorProto.UINT8)], [inp("y", [2], TensorProto.UINT8)]))
    w = helper.make_tensor("w", TensorProto.DOUBLE, [2], [1.0, 2.0])
    save("double_init.onnx", model([helper.make_node("Add", ["x", "w"], ["y"], name="add")],
                                   [inp("x", [2])], [inp("y", [2])], [w]))
    c = helper.make_node("Constant", [], ["c"], name="k",
                         value=helper.make_tensor("v", TensorProto.UINT8, [2], [1, 2]))
    save("uint8_constant.onnx", model([c, helper.make_node("Add", ["x", "c"], ["y"], name="add")],
                                      [inp("x", [2])], [inp("y", [2])]))
    save("no_shape.onnx", model([helper.make_node("Relu", ["x"], ["y"], name="r")],
                                [helper.make_tensor_value_info("x", F, None)], [inp("y", [2])]))
    save("symbolic.onnx", model([helper.make_node("Relu", ["x"], ["y"], name="r")],
                                [inp("x", ["N", 3])], [inp("y", ["N", 3])]))
    shape = inp("shape", [2], TensorProto.INT64)
    save("unbound.onnx", model([helper.make_node("Reshape", ["x", "shape"], ["y"], name="reshape")],
                               [inp("x", [6]), shape], [inp("y", [2, 3])]))


def fuzz_seeds():
    seeds = os.path.join(ROOT, "tools", "fuzz", "seeds", "onnx")
    os.makedirs(seeds, exist_ok=True)
    node = "/usr/include/onnx/backend/test/data/node"
    for t in ("test_add_bcast", "test_relu", "test_constant", "test_sigmoid"):
        with open(os.path.join(node, t, "model.onnx"), "rb") as f:
            data = f.read()
        with open(os.path.join(seeds, t[5:] + ".onnx"), "wb") as f:
            f.write(data)
    # An initializer in raw_data, one in float_data and one external (the target writes
    # a 64-byte data.bin beside its input); and a TensorProto as input_0.pb holds one.
    ext = external("seed", "data.bin", offset=16, length=8)
    ext.graph.initializer.append(helper.make_tensor("k", F, [2], [3.0, 4.0]))
    with open(os.path.join(seeds, "external.onnx"), "wb") as f:
        f.write(ext.SerializeToString())
    with open(os.path.join(seeds, "names.onnx"), "wb") as f:
        with open(os.path.join(OUT, "names.onnx"), "rb") as g:
            f.write(g.read())
    t = helper.make_tensor("x", F, [2, 2], struct.pack("<4f", 1, 2, 3, 4), raw=True)
    with open(os.path.join(seeds, "tensor.pb"), "wb") as f:
        f.write(t.SerializeToString())


def main():
    os.makedirs(OUT, exist_ok=True)
    protobuf_cases()
    opset_cases()
    graph_cases()
    name_cases()
    size_cases()
    external_cases()
    support_cases()
    fuzz_seeds()


if __name__ == "__main__":
    main()
