#!/usr/bin/env python3
"""classify.py -- using a compiled gradc model from Python, with ctypes and nothing else.

    gradc compile models/digits.grad --inference --weights digits.safetensors -D N=1 -o digits.so
    python3 examples/classify.py digits.so < models/data/digits_test.csv

The same job as classify.c, but without the header: the shared object describes itself
(gradc_model_descriptor(), the JSON of include/gradc/descriptor.h), so this script
finds the forward entry point, its arguments and the workspace size there, and calls
the entry point through ctypes. It works for any single-input classifier compiled with
--inference: CSV rows are the input's values, optionally followed by the true label;
it prints the predicted class (the largest output) of each row and, with labels, the
accuracy. Standard library only.
"""
import ctypes
import json
import sys


def load(path):
    lib = ctypes.CDLL(path)
    lib.gradc_model_descriptor.restype = ctypes.c_char_p
    desc = json.loads(lib.gradc_model_descriptor().decode())
    return lib, desc


def size_of(tensor):
    n = 1
    for d in tensor["shape"]:
        n *= d
    return n


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: classify.py MODEL.so < ROWS.csv")
    lib, desc = load(sys.argv[1])
    tensors = {t["role"] + ":" + t["name"]: t for t in desc["tensors"]}
    entry = next(e for e in desc["entries"] if e["kind"] == "forward")
    inputs = [a for a in entry["args"] if a.startswith("input:")]
    outputs = [a for a in entry["args"] if a.startswith("output:")]
    if len(inputs) != 1 or len(outputs) != 1 or any(a.startswith("param:") or a == "loss" for a in entry["args"]):
        sys.exit("classify.py: expects one input, one output and baked weights (compile with "
                 "--inference --weights W -D N=1); this model's forward takes " + ", ".join(entry["args"]))
    x = (ctypes.c_float * size_of(tensors[inputs[0]]))()
    y = (ctypes.c_float * size_of(tensors[outputs[0]]))()
    # The workspace: workspace_bytes, 64-byte aligned (descriptor.h).
    raw = ctypes.create_string_buffer(desc["workspace_bytes"] + 64)
    workspace = ctypes.c_void_p((ctypes.addressof(raw) + 63) // 64 * 64)
    buffers = {inputs[0]: x, outputs[0]: y, "workspace": workspace}
    args = [buffers[a] for a in entry["args"]]
    forward = getattr(lib, entry["name"])
    forward.restype = None

    n = labelled = correct = 0
    for line in sys.stdin:
        fields = line.replace(",", " ").split()
        try:
            values = [float(v) for v in fields[:len(x)]]
        except ValueError:
            continue  # a header
        if len(values) < len(x):
            continue  # a short line
        x[:] = values
        forward(*args)
        best = max(range(len(y)), key=lambda c: y[c])
        label = int(float(fields[len(x)])) if len(fields) > len(x) else None
        if label is not None:
            labelled += 1
            correct += best == label
        if n < 10:
            print(f"sample {n}: predicted {best}" + (f" (label {label})" if label is not None else ""))
        n += 1
    line = f"{n} samples classified"
    if labelled:
        line += f", {correct} of {labelled} right ({100.0 * correct / labelled:.2f}%)"
    print(line)


if __name__ == "__main__":
    main()
