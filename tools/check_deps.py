#!/usr/bin/env python3
"""check_deps.py — gradc's module dependency check (ctest: check_deps).

Reads the #include lines of every source under compiler/, runtime/, tape/, tools/gradc/,
common/, formats/ and include/, resolves each to a file of the repository (the including
file's directory first, then include/, common/, formats/, compiler/, as the build's
include paths do) or to a system header, and fails on:

  (a) runtime/ or include/gradc/runtime*.h reaching (through includes) anything in
      compiler/ or tape/: the runtime never depends on the compiler;
  (b) the freestanding runtime core, runtime/core.c and what it includes, including
      anything but the freestanding C headers and gradc/runtime_core.h;
  (c) tape/ reaching a compiler/ header outside TAPE_ALLOWED (the tape shares the
      compiler's parser, nothing else);
  (d) an include cycle between modules of compiler/ (a module is a .c file with its .h;
      MODULE_OF names the exceptions);
  (e) a public header (include/gradc/) including anything but public headers and
      system headers;
  (f) the file formats (formats/, library gradc_formats, which the compiler and the
      runtime both link) reaching anything but formats/, common/ and FORMATS_ALLOWED:
      never the compiler, the tape, the runtime or their headers;
  (g) the ONNX importer (onnx/, and its conformance runner tools/onnx/) reaching anything
      but its own files, the public headers (include/gradc/: it builds on the compiler's
      interface only), formats/ and common/; or the compiler, runtime, tape or formats
      reaching the importer (it sits above them).

Usage: check_deps.py [--root DIR] [--print] [--self-test]
  --print      also prints the module graph (each module and what it includes) and its
               cycles;
  --self-test  checks that each rule fires on small trees built for the purpose.
Exit status 0 when the tree passes, 1 when it breaks a rule (each violation on stderr).
"""
import os
import re
import sys
import tempfile

DIRS = ["compiler", "runtime", "tape", "tools/gradc", "tools/onnx", "common", "formats", "include", "onnx"]
SEARCH = ["include", "common", "formats", "compiler"]  # after the including file's own directory

# C11 section 4: the headers a freestanding implementation provides.
FREESTANDING = {"float.h", "iso646.h", "limits.h", "stdalign.h", "stdarg.h", "stdbool.h", "stddef.h", "stdint.h",
                "stdnoreturn.h"}
CORE = "runtime/core.c"
CORE_ALLOWED = {CORE, "include/gradc/runtime_core.h"}

# The compiler headers the tape may reach: the front end it shares — the parser's syntax
# tree (with the dtypes it names, dtype.h), its arena and its diagnostics (tape/model.h,
# tape/tape_internal.h; the tape links lex.c and parse.c), and the operators' signatures
# with argument binding and reading (signature.h) — never the graph, autodiff or code generation.
TAPE_ALLOWED = {"compiler/arena.h", "compiler/ast.h", "compiler/diag.h", "compiler/dtype.h", "compiler/signature.h"}

# The public header the formats may include besides formats/ and common/: the
# descriptor's constants (GRADC_MAX_RANK), no code.
FORMATS_ALLOWED = {"include/gradc/descriptor.h"}

# Files whose module is not their own name: a header that declares what another file
# defines belongs to that file's module.
MODULE_OF = {
    # The builders of the language's operators, one module split by family for size:
    # builtins.c's table lists the indexing builders that builtins_index.c defines.
    "compiler/builtins_index.h": "compiler/builtins",
    "compiler/builtins_index.c": "compiler/builtins",
    # The IR: graph.h's Node and Graph, the list of primitives (ops.h) and the op table's
    # interface (opinfo.h: the row type and the extern table gc_ops). graph_node (graph.c)
    # runs a new node's dtype and shape rules through that interface; the rows, with the
    # rules themselves, are defined above the IR in ops.c and the op-family files, which
    # build nodes through graph.h.
    "compiler/ops.h": "compiler/graph",
    "compiler/opinfo.h": "compiler/graph",
}

# Cycles through definitions rather than includes are not seen here: graph.c reads the
# rows of gc_ops (defined in ops.c) through opinfo.h, as above; emit.c and irprint.c
# call gc_version(), defined in compile.c, through the public header gradc/compiler.h.

# Headers generated at build time, outside the tree: treated as system headers.
GENERATED = {"onnx.pb-c.h"}  # protoc-c on Debian's onnx.proto (onnx/CMakeLists.txt)

INCLUDE_RE = re.compile(r'^\s*#\s*include\s*([<"])([^">]+)[">]')


def sources(root):
    """Every .c and .h under DIRS, as paths relative to root."""
    out = []
    for d in DIRS:
        for dirpath, _, names in os.walk(os.path.join(root, d)):
            for n in names:
                if n.endswith((".c", ".h")):
                    out.append(os.path.relpath(os.path.join(dirpath, n), root))
    return sorted(out)


def resolve(root, src, kind, name):
    """The repository file an include names (relative to root), or None for a system header."""
    dirs = ([os.path.dirname(src)] if kind == '"' else []) + SEARCH
    for d in dirs:
        p = os.path.normpath(os.path.join(d, name))
        if os.path.isfile(os.path.join(root, p)):
            return p
    return None


def read_includes(root, files):
    """{file: [(target or None, name)]} for every file's #include lines."""
    inc = {}
    for f in files:
        lines = open(os.path.join(root, f), encoding="utf-8", errors="replace").read().splitlines()
        inc[f] = []
        for line in lines:
            m = INCLUDE_RE.match(line)
            if m:
                target = resolve(root, f, m.group(1), m.group(2))
                if m.group(1) == '"' and target is None and m.group(2) not in GENERATED:
                    raise SystemExit(f"check_deps: {f}: cannot find \"{m.group(2)}\"")
                inc[f].append((target, m.group(2)))
    return inc


def reach(inc, start):
    """Files reachable from start through includes (start included), and the system
    headers they include, as {file: the file that first included it}."""
    seen, system, todo = {start: None}, {}, [start]
    while todo:
        f = todo.pop()
        for target, name in inc.get(f, []):
            if target is None:
                system.setdefault(name, f)
            elif target not in seen:
                seen[target] = f
                todo.append(target)
    return seen, system


def chain(seen, f):
    """start -> ... -> f, through the first includer of each."""
    path = [f]
    while seen[path[-1]] is not None:
        path.append(seen[path[-1]])
    return " -> ".join(reversed(path))


def module(f):
    return MODULE_OF.get(f, os.path.splitext(f)[0])


def module_graph(inc):
    g = {}
    for f, targets in inc.items():
        m = module(f)
        g.setdefault(m, set())
        for target, _ in targets:
            if target is not None and module(target) != m:
                g[m].add(module(target))
    return g


def cycles(g):
    """The strongly connected components of g with more than one module (Tarjan)."""
    index, low, stack, on, out, counter = {}, {}, [], set(), [], [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in sorted(g.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = set()
            while True:
                w = stack.pop()
                on.discard(w)
                comp.add(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(comp)

    sys.setrecursionlimit(10000)
    for v in sorted(g):
        if v not in index:
            visit(v)
    return out


def crossings(inc, starts, forbidden):
    """The includes by which files reachable from starts (without passing through a
    forbidden file) reach a forbidden one: {(includer, target): chain from a start}."""
    out = {}
    for start in starts:
        seen, todo = {start: None}, [start]
        while todo:
            f = todo.pop()
            for target, _ in inc.get(f, []):
                if target is None or target in seen:
                    continue
                seen[target] = f
                if forbidden(target):
                    out.setdefault((f, target), chain(seen, target))
                else:
                    todo.append(target)
    return out


def check_runtime(inc, files):
    starts = [f for f in files if f.startswith("runtime/") or re.match(r"include/gradc/runtime[^/]*\.h$", f)]
    found = crossings(inc, starts, lambda t: t.startswith(("compiler/", "tape/")))
    return [f"(a) the runtime includes the {t.split('/')[0]}'s {t}: {c}" for (_, t), c in sorted(found.items())]


def check_core(inc, files):
    if CORE not in files:
        return []
    seen, system = reach(inc, CORE)
    bad = [f"(b) the freestanding core includes {t}: {chain(seen, t)}" for t in seen if t not in CORE_ALLOWED]
    bad += [f"(b) the freestanding core includes <{h}>, not a freestanding header: {chain(seen, f)} -> <{h}>"
            for h, f in system.items() if h not in FREESTANDING]
    return bad


def check_tape(inc, files):
    starts = [f for f in files if f.startswith("tape/")]
    found = crossings(inc, starts, lambda t: t.startswith("compiler/") and t not in TAPE_ALLOWED)
    return [f"(c) the tape reaches the compiler's {t}, which is not shared with it: {c}"
            for (_, t), c in sorted(found.items())]


def check_formats(inc, files):
    starts = [f for f in files if f.startswith("formats/")]
    found = crossings(inc, starts, lambda t: not t.startswith(("formats/", "common/")) and t not in FORMATS_ALLOWED)
    return [f"(f) the file formats reach {t}, which is not theirs: {c}" for (_, t), c in sorted(found.items())]


def check_onnx(inc, files):
    importer = ("onnx/", "tools/onnx/")
    starts = [f for f in files if f.startswith(importer)]
    found = crossings(inc, starts, lambda t: not t.startswith(importer + ("include/gradc/", "formats/", "common/")))
    bad = [f"(g) the ONNX importer reaches {t}, which is not a public header: {c}" for (_, t), c in sorted(found.items())]
    below = [f for f in files if f.startswith(("compiler/", "runtime/", "tape/", "formats/"))]
    found = crossings(inc, below, lambda t: t.startswith(importer))
    return bad + [f"(g) the importer is reached from below it: {c}" for (_, t), c in sorted(found.items())]


def check_cycles(g):
    bad = []
    found = [c for c in cycles(g) if all(m.startswith("compiler/") for m in c)]
    for c in found:
        bad.append("(d) an include cycle between compiler modules: " + ", ".join(sorted(c)))
    return bad


def check_public(inc, files):
    return [f"(e) the public header {f} includes {t}"
            for f in files if f.startswith("include/")
            for t, _ in inc[f] if t is not None and not t.startswith("include/")]


def check(root, show=False):
    """The violations of the tree at root, as messages."""
    files = sources(root)
    inc = read_includes(root, files)
    g = module_graph(inc)
    if show:
        print("module graph (module: the modules its files include):")
        for m in sorted(g):
            print(f"  {m}: {' '.join(sorted(g[m])) or '-'}")
        print("include cycles between modules:")
        for c in cycles(g):
            print("  " + ", ".join(sorted(c)))
    fset = set(files)
    # dedupe (a violation reached from several files is reported by each, once)
    return list(dict.fromkeys(check_runtime(inc, files) + check_core(inc, fset) + check_tape(inc, files) +
                              check_cycles(g) + check_public(inc, files) + check_formats(inc, files) +
                              check_onnx(inc, files)))


# ---- self-test: each rule fires on a tree made to break it ----

CLEAN = {
    "compiler/graph.h": '#include "ops.h"\n',
    "compiler/graph.c": '#include "graph.h"\n#include "opinfo.h"\n',
    "compiler/opinfo.h": '#include "graph.h"\n',
    "compiler/ops.h": "",
    "compiler/ops.c": '#include "opinfo.h"\n#include "ops_window.h"\n',
    "compiler/ops_window.h": '#include "opinfo.h"\n',
    "compiler/ops_window.c": '#include "ops_window.h"\n',
    "compiler/lower_builder.h": '#include "entry.h"\n',
    "compiler/mathlib.h": '#include "lower_builder.h"\n',
    "compiler/mathlib.c": '#include "mathlib.h"\n',
    "compiler/lower_elem.h": '#include "lower_builder.h"\n#include "opinfo.h"\n',
    "compiler/lower_elem.c": '#include "lower_elem.h"\n#include "mathlib.h"\n',
    "compiler/matmul.h": '#include "lower_builder.h"\n',
    "compiler/matmul.c": '#include "matmul.h"\n#include "lower_elem.h"\n',
    "compiler/lower_ops.h": '#include "lower_builder.h"\n#include "opinfo.h"\n',
    "compiler/lower_ops.c": '#include "lower_ops.h"\n#include "lower_elem.h"\n#include "matmul.h"\n',
    "compiler/lower.h": '#include "lower_builder.h"\n',
    "compiler/lower.c": '#include "lower.h"\n#include "lower_ops.h"\n#include "matmul.h"\n',
    "compiler/entry.h": '#include "graph.h"\n',
    "compiler/build.h": '#include "graph.h"\n',
    "compiler/build.c": '#include "build.h"\n#include "builtins.h"\n',
    "compiler/builtins.h": '#include "graph.h"\n',
    "compiler/arena.h": "#include <stddef.h>\n",
    "compiler/diag.h": "#include <setjmp.h>\n",
    "compiler/ast.h": '#include "arena.h"\n#include "diag.h"\n',
    "runtime/core.c": '#include <stdint.h>\n#include "gradc/runtime_core.h"\n',
    "runtime/host.c": '#include <stdio.h>\n#include "gradc/runtime.h"\n#include "outfile.h"\n',
    "include/gradc/runtime.h": '#include <stddef.h>\n#include "gradc/descriptor.h"\n',
    "include/gradc/runtime_core.h": "#include <stdint.h>\n",
    "include/gradc/descriptor.h": "",
    "common/outfile.h": "#include <stdio.h>\n",
    "tape/model.h": '#include "ast.h"\n',
    "tools/gradc/main.c": '#include "graph.h"\n',
    "compiler/weights.c": '#include "graph.h"\n#include "safetensors.h"\n',
    "runtime/safetensors.c": '#include "gradc/runtime.h"\n#include "safetensors.h"\n',
    "formats/safetensors.h": "#include <stdint.h>\n",
    "formats/st_read.c": '#include "safetensors.h"\n#include "gradc/descriptor.h"\n#include "outfile.h"\n',
    "include/gradc/compiler.h": "#include <stddef.h>\n",
    "onnx/import.h": '#include "onnx.pb-c.h"\n',
    "onnx/import.c": '#include "import.h"\n#include "gradc/compiler.h"\n#include "safetensors.h"\n',
}

BROKEN = [  # (file, text added to it, the rules that must fire)
    ("runtime/host.c", '#include "graph.h"\n', {"(a)"}),
    ("include/gradc/descriptor.h", '#include "../../tape/model.h"\n', {"(a)", "(e)", "(f)"}),
    ("runtime/core.c", "#include <string.h>\n", {"(b)"}),
    ("runtime/core.c", '#include "gradc/runtime.h"\n', {"(b)"}),
    ("tape/model.h", '#include "graph.h"\n', {"(c)"}),
    ("compiler/ast.h", '#include "build.h"\n', {"(c)"}),  # the tape reaches it through ast.h
    ("compiler/graph.h", '#include "entry.h"\n', {"(d)"}),  # graph -> entry -> graph
    ("compiler/matmul.c", '#include "lower_ops.h"\n', {"(d)"}),  # the backend's old cycle, back
    ("compiler/builtins.h", '#include "build.h"\n', {"(d)"}),  # the builders reaching back into build.c
    ("compiler/arena.h", '#include "diag.h"\n', set()),  # a new edge, no cycle: still clean
    ("include/gradc/runtime_core.h", '#include "outfile.h"\n', {"(b)", "(e)"}),
    ("formats/st_read.c", '#include "gradc/runtime.h"\n', {"(f)"}),  # the runtime's header
    ("formats/safetensors.h", '#include "graph.h"\n', {"(a)", "(f)", "(g)"}),  # the runtime, the importer reach it too
    ("formats/st_read.c", '#include "../tape/model.h"\n', {"(f)"}),
    ("onnx/import.c", '#include "graph.h"\n', {"(g)"}),  # the importer past the compiler's interface
    ("compiler/graph.c", '#include "../onnx/import.h"\n', {"(g)"}),  # the compiler reaching up
]


def self_test():
    failures = []
    for case in [None] + BROKEN:
        with tempfile.TemporaryDirectory() as root:
            for f, text in CLEAN.items():
                if case and f == case[0]:
                    text += case[1]
                os.makedirs(os.path.join(root, os.path.dirname(f)), exist_ok=True)
                open(os.path.join(root, f), "w").write(text)
            got = check(root)
            want = case[2] if case else set()
            what = f"{case[0]} + {case[1].strip()}" if case else "the clean tree"
            if {v[:3] for v in got} != want:
                failures.append(f"{what}: expected violations of {sorted(want) or 'no rule'}, got {got}")
    for f in failures:
        print("check_deps self-test: " + f, file=sys.stderr)
    print(f"check_deps self-test: {len(BROKEN) + 1 - len(failures)} of {len(BROKEN) + 1} cases as expected")
    return 1 if failures else 0


def main(argv):
    root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
    if "--root" in argv:
        root = argv[argv.index("--root") + 1]
    if "--self-test" in argv:
        return self_test()
    bad = check(root, "--print" in argv)
    for v in bad:
        print("check_deps: " + v, file=sys.stderr)
    if not bad:
        print(f"check_deps: {len(sources(root))} files, no backward dependency, no include cycle")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
