#!/usr/bin/env python3
"""Combines the JSON of `gradc bench --json` (one file per model) and of
torch_bench.py into one table; writes it as markdown and JSON. Called by run.sh;
needs only the standard library (any python3 >= 3.8).

    report.py --gradc DIR --torch FILE --out DIR [--meta KEY=VALUE]...

DIR holds NAME.json per model, in the order given by --models."""
import argparse
import json
import os
import sys


def load(path):
    try:
        with open(path) as fh:
            return json.load(fh)
    except (OSError, ValueError) as e:
        print(f"report: {path}: {e}", file=sys.stderr)
        return None


def fmt_us(v):
    if v is None:
        return "n/a"
    if v >= 1000:
        return f"{v:,.0f}"
    if v >= 10:
        return f"{v:.1f}"
    return f"{v:.2f}"


def fmt_ratio(v):
    return "n/a" if v is None else f"{v:.1f}x" if v >= 10 else f"{v:.2f}x"


def fmt_pct(v):
    return "n/a" if v is None else "<1" if v < 1 else f"{v:.0f}"


def fmt(v, spec):
    return "n/a" if v is None else format(v, spec)


def cpu_share(path):
    try:
        with open(path) as fh:
            return float(fh.read().strip())
    except (OSError, ValueError):
        return None


def div(a, b):
    return a / b if a is not None and b else None


def table(header, rows):
    """A markdown table with aligned columns (readable as plain text too)."""
    cells = [header] + rows
    width = [max(len(r[i]) for r in cells) for i in range(len(header))]
    def line(r):
        return "| " + " | ".join(c.ljust(width[i]) if i == 0 else c.rjust(width[i]) for i, c in enumerate(r)) + " |"
    sep = "|" + "|".join("-" * (w + 1) + ":" if i else ":" + "-" * (w + 1) for i, w in enumerate(width)) + "|"
    return "\n".join([line(header), sep] + [line(r) for r in rows])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--gradc", required=True)
    ap.add_argument("--models", required=True, help="comma-separated names, table order")
    ap.add_argument("--torch", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--meta", action="append", default=[], help="KEY=VALUE shown in the header")
    args = ap.parse_args()

    meta = dict(m.split("=", 1) for m in args.meta)
    tb = load(args.torch) or {"torch": None, "error": f"no output from torch_bench.py ({args.torch})"}
    torch_ok = bool(tb.get("torch"))
    sgemm = (tb.get("sgemm") or {}).get("gflops")
    models = [m for m in args.models.split(",") if m]

    shares = {m: cpu_share(os.path.join(args.gradc, m + ".cpu")) for m in models}
    torch_share = cpu_share(os.path.join(args.gradc, "torch.cpu"))
    meta["cpu_share"] = {"gradc": shares, "torch_bench": torch_share}
    steals = {m: cpu_share(os.path.join(args.gradc, m + ".steal")) for m in models}
    torch_steal = cpu_share(os.path.join(args.gradc, "torch.steal"))
    meta["steal_pct"] = {"gradc": steals, "torch_bench": torch_steal}
    results = {"meta": meta, "torch": {k: v for k, v in tb.items() if k != "models"}, "models": {}}
    sections = []
    for phase, title, unit in (("train_step", "Training step (forward + backward + SGD)", "us/step"),
                               ("inference", "Inference (forward only)", "us/call")):
        header = ["model", "batch", f"gradc {unit}", f"gradc 1-thread {unit}", f"tape {unit}", f"PyTorch {unit}",
                  "PyTorch/gradc", "tape/gradc", "PyTorch/gradc 1-thread", "tape/gradc 1-thread",
                  "gradc GFLOP/s", "% of 1-core sgemm", "1-thread % of sgemm"]
        rows = []
        for name in models:
            g = load(os.path.join(args.gradc, name + ".json"))
            t = ((tb.get("models") or {}).get(name) or {}).get(phase) if torch_ok else None
            gp = g[phase] if g else {}
            r = {
                "threads": g.get("threads") if g else None,
                "gradc_us": gp.get("gradc_us"), "gradc_1thread_us": gp.get("gradc_1thread_us"),
                "tape_us": gp.get("tape_us"), "torch_us": t["torch_us"] if t else None, "flops": gp.get("flops"),
                "gradc_gflops": gp.get("gradc_gflops"), "gradc_1thread_gflops": gp.get("gradc_1thread_gflops"),
            }
            r["torch_over_gradc"] = div(r["torch_us"], r["gradc_us"])
            r["tape_over_gradc"] = div(r["tape_us"], r["gradc_us"])
            r["torch_over_gradc_1thread"] = div(r["torch_us"], r["gradc_1thread_us"])
            r["tape_over_gradc_1thread"] = div(r["tape_us"], r["gradc_1thread_us"])
            r["torch_gflops"] = div(r["flops"], r["torch_us"] and r["torch_us"] * 1e3)
            r["pct_of_sgemm"] = None if r["gradc_gflops"] is None or not sgemm else 100 * r["gradc_gflops"] / sgemm
            r["pct_of_sgemm_1thread"] = (None if r["gradc_1thread_gflops"] is None or not sgemm
                                         else 100 * r["gradc_1thread_gflops"] / sgemm)
            results["models"].setdefault(name, {"batch": g.get("batch") if g else None,
                                                "file": g.get("file") if g else None})[phase] = r
            rows.append([name, str(g["batch"]) if g else "n/a", fmt_us(r["gradc_us"]), fmt_us(r["gradc_1thread_us"]),
                         fmt_us(r["tape_us"]), fmt_us(r["torch_us"]), fmt_ratio(r["torch_over_gradc"]),
                         fmt_ratio(r["tape_over_gradc"]), fmt_ratio(r["torch_over_gradc_1thread"]),
                         fmt_ratio(r["tape_over_gradc_1thread"]), fmt(r["gradc_gflops"], ".2f"),
                         fmt_pct(r["pct_of_sgemm"]), fmt_pct(r["pct_of_sgemm_1thread"])])
        sections.append(f"### {title}\n\n" + table(header, rows))

    lines = ["## gradc benchmark (tools/bench/run.sh)", ""]
    for k in ("date", "gradc", "cpu", "cores", "load_before", "load_after"):
        if k in meta:
            lines.append(f"- {k.replace('_', ' ')}: {meta[k]}")
    def pct(v):
        return "n/a" if v is None else f"{v:.0f}%"
    share_txt = ", ".join(f"{m} {pct(shares[m])}" for m in models)
    if any(v is not None for v in list(shares.values()) + [torch_share]):
        lines.append(f"- CPU time / wall time of each process (100% = one core busy; gradc's thread pool can take it "
                     f"above; below ~90% other jobs took the CPU while it was timed): gradc bench {share_txt}; "
                     f"torch_bench.py {pct(torch_share)}")
    if any(v is not None for v in list(steals.values()) + [torch_steal]):
        steal_txt = ", ".join(f"{m} {'n/a' if v is None else f'{v:.1f}%'}" for m, v in steals.items())
        lines.append(f"- CPU steal (time the hypervisor gave other guests, share of all CPU time, /proc/stat) while "
                     f"each process ran: gradc bench {steal_txt}; torch_bench.py "
                     f"{'n/a' if torch_steal is None else f'{torch_steal:.1f}%'}")
    low = [f"{m} {pct(v)}" for m, v in list(shares.items()) + [("torch_bench.py", torch_share)]
           if v is not None and v < 90]
    low += [f"{m} steal {v:.1f}%" for m, v in list(steals.items()) + [("torch_bench.py", torch_steal)]
            if v is not None and v >= 5]
    if low:
        lines.insert(2, f"**WARNING: other jobs took the CPU during the timing ({', '.join(low)}): "
                        "these numbers and ratios are unreliable; rerun on an idle machine.**\n")
    if torch_ok:
        blas = "OpenBLAS" if tb.get("openblas_loaded") else "NOT OpenBLAS (reference BLAS?)"
        lines.append(f"- PyTorch: {tb['torch']} eager, {tb.get('num_threads')} thread, {tb.get('python')}; "
                     f"BLAS loaded: {blas} ({', '.join(p for p in tb.get('blas_libraries', []) if 'blas' in p)})")
    else:
        lines.append(f"- PyTorch: not available: {tb.get('error', 'unknown reason')} — PyTorch columns are n/a")
    if sgemm:
        shapes = ", ".join(f"{s['m']}x{s['k']}x{s['n']} {s['gflops']:.1f}" for s in tb["sgemm"]["shapes"])
        lines.append(f"- single-core sgemm ceiling: {sgemm:.1f} GFLOP/s ({tb['sgemm']['via']}, best of the runs "
                     f"before and after the models; {shapes})")
    else:
        lines.append("- single-core sgemm ceiling: not measured (needs torch or numpy for /usr/bin/python3)")
    threads = sorted({(load(os.path.join(args.gradc, m + ".json")) or {}).get("threads") or 1 for m in models})
    lines += ["- times: median of 11 repeats of a ~20 ms batch of calls, after a ~20 ms warm-up; "
              "ratios > 1 mean gradc is faster",
              f"- threads: gradc splits its large matrix products over the runtime's thread pool "
              f"({'/'.join(map(str, threads))} threads here; models whose products are all small run on one); "
              "the '1-thread' columns time the same object with the pool off. The tape and PyTorch run on one "
              "thread; the sgemm ceiling is one core's",
              "- GFLOP/s: the matrix-product FLOPs gradc reports (training: forward + weight gradients + "
              "input gradients of every layer but the first) / gradc's time", ""]
    md = "\n".join(lines) + "\n" + "\n\n".join(sections) + "\n"

    os.makedirs(args.out, exist_ok=True)
    with open(os.path.join(args.out, "latest.md"), "w") as fh:
        fh.write(md)
    with open(os.path.join(args.out, "latest.json"), "w") as fh:
        json.dump(results, fh, indent=1)
        fh.write("\n")
    print(md)


if __name__ == "__main__":
    main()
