#!/usr/bin/env python3
"""Combines the JSON of `gradc bench --json` and of torch_bench.py, model by model and
round by round, into one table; writes it as markdown and JSON. Called by run.sh;
needs only the standard library (any python3 >= 3.8).

    report.py --raw DIR --rounds R --models a,b,... --out DIR [--meta KEY=VALUE]...

DIR/roundI (I = 1..R) holds, per model NAME: NAME.json (gradc bench), torch_NAME.json
(torch_bench.py on that model alone, run right after), and NAME.cpu, NAME.steal,
torch_NAME.cpu, torch_NAME.steal (CPU share and steal of each process, in percent).

Every ratio is taken within a round (the two processes ran seconds apart); the table
shows the median over the rounds of each time and of each ratio, and a second table
the range of the ratios over the rounds."""
import argparse
import json
import os
import statistics
import sys


def load(path):
    try:
        with open(path) as fh:
            return json.load(fh)
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as e:
        print(f"report: {path}: {e}", file=sys.stderr)
        return None


def number(path):
    try:
        with open(path) as fh:
            return float(fh.read().strip())
    except (OSError, ValueError):
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


def div(a, b):
    return a / b if a is not None and b else None


def median(vals):
    vals = [v for v in vals if v is not None]
    return statistics.median(vals) if vals else None


def span(vals, f):
    vals = [v for v in vals if v is not None]
    if not vals:
        return "n/a"
    lo, hi = f(min(vals)), f(max(vals))
    return lo if lo == hi else f"{lo}-{hi}"


def table(header, rows):
    """A markdown table with aligned columns (readable as plain text too)."""
    cells = [header] + rows
    width = [max(len(r[i]) for r in cells) for i in range(len(header))]
    def line(r):
        return "| " + " | ".join(c.ljust(width[i]) if i == 0 else c.rjust(width[i]) for i, c in enumerate(r)) + " |"
    sep = "|" + "|".join("-" * (w + 1) + ":" if i else ":" + "-" * (w + 1) for i, w in enumerate(width)) + "|"
    return "\n".join([line(header), sep] + [line(r) for r in rows])


def one_round(name, g, tb, phase):
    """The numbers of model NAME in one round: gradc bench's JSON g, torch_bench's tb."""
    gp = (g or {}).get(phase) or {}
    t = ((tb.get("models") or {}).get(name) or {}).get(phase) if tb and tb.get("torch") else None
    t = t if t and t.get("torch_us") else None
    sgemm = ((tb or {}).get("sgemm") or {}).get("gflops")
    r = {
        "gradc_us": gp.get("gradc_us"), "gradc_1thread_us": gp.get("gradc_1thread_us"),
        "tape_us": gp.get("tape_us"), "torch_us": t.get("torch_us") if t else None, "flops": gp.get("flops"),
        "gradc_gflops": gp.get("gradc_gflops"), "gradc_1thread_gflops": gp.get("gradc_1thread_gflops"),
        "sgemm_gflops": sgemm,
    }
    r["torch_over_gradc"] = div(r["torch_us"], r["gradc_us"])
    r["tape_over_gradc"] = div(r["tape_us"], r["gradc_us"])
    r["torch_over_gradc_1thread"] = div(r["torch_us"], r["gradc_1thread_us"])
    r["tape_over_gradc_1thread"] = div(r["tape_us"], r["gradc_1thread_us"])
    r["torch_gflops"] = div(r["flops"], r["torch_us"] and r["torch_us"] * 1e3)
    r["pct_of_sgemm"] = None if r["gradc_gflops"] is None or not sgemm else 100 * r["gradc_gflops"] / sgemm
    r["pct_of_sgemm_1thread"] = None if r["gradc_1thread_gflops"] is None or not sgemm \
        else 100 * r["gradc_1thread_gflops"] / sgemm
    r["torch_pct_of_sgemm"] = None if r["torch_gflops"] is None or not sgemm else 100 * r["torch_gflops"] / sgemm
    return r


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--raw", required=True)
    ap.add_argument("--rounds", type=int, required=True)
    ap.add_argument("--models", required=True, help="comma-separated names, table order")
    ap.add_argument("--out", required=True)
    ap.add_argument("--meta", action="append", default=[], help="KEY=VALUE shown in the header")
    args = ap.parse_args()

    meta = dict(m.split("=", 1) for m in args.meta)
    models = [m for m in args.models.split(",") if m]
    rounds = [os.path.join(args.raw, f"round{i}") for i in range(1, args.rounds + 1)]
    g = {m: [load(os.path.join(d, m + ".json")) for d in rounds] for m in models}
    tb = {m: [load(os.path.join(d, f"torch_{m}.json")) for d in rounds] for m in models}
    any_tb = next((t for m in models for t in tb[m] if t), None) or \
        {"torch": None, "error": "torch_bench.py gave no output"}
    torch_ok = bool(any_tb.get("torch"))
    sgemms = [((t or {}).get("sgemm") or {}).get("gflops") for m in models for t in tb[m]]
    sgemm_shapes = [s for m in models for t in tb[m] if t and t.get("sgemm") for s in t["sgemm"]["shapes"]]

    procs = [(m, m) for m in models] + [(f"torch_bench.py {m}", f"torch_{m}") for m in models]
    shares = {label: [number(os.path.join(d, f + ".cpu")) for d in rounds] for label, f in procs}
    steals = {label: [number(os.path.join(d, f + ".steal")) for d in rounds] for label, f in procs}
    meta["cpu_share"], meta["steal_pct"] = shares, steals
    results = {"meta": meta, "rounds": args.rounds, "torch": {k: v for k, v in any_tb.items() if k != "models"},
               "sgemm_gflops": {"median": median(sgemms), "runs": sgemms}, "models": {}}

    ratio_keys = (("torch_over_gradc", "PyTorch/gradc", fmt_ratio),
                  ("torch_over_gradc_1thread", "PyTorch/gradc 1-thread", fmt_ratio),
                  ("tape_over_gradc", "tape/gradc", fmt_ratio),
                  ("tape_over_gradc_1thread", "tape/gradc 1-thread", fmt_ratio),
                  ("pct_of_sgemm", "% of 1-core sgemm", fmt_pct),
                  ("pct_of_sgemm_1thread", "1-thread % of sgemm", fmt_pct))
    sections = []
    for phase, title, unit in (("train_step", "Training step (forward + backward + SGD)", "us/step"),
                               ("inference", "Inference (forward only)", "us/call")):
        header = ["model", "batch", "threads", f"gradc {unit}", f"gradc 1-thread {unit}", f"tape {unit}",
                  f"PyTorch {unit}", "PyTorch/gradc", "tape/gradc", "PyTorch/gradc 1-thread", "tape/gradc 1-thread",
                  "gradc GFLOP/s", "gradc 1-thread GFLOP/s", "PyTorch GFLOP/s", "% of 1-core sgemm",
                  "1-thread % of sgemm", "PyTorch % of sgemm"]
        rows, spread = [], []
        for name in models:
            per = [one_round(name, gr, t, phase) for gr, t in zip(g[name], tb[name]) if gr]
            r = {k: median([p[k] for p in per]) for k in (per[0] if per else {})}
            first = next((x for x in g[name] if x), None)
            entry = results["models"].setdefault(name, {"batch": first and first.get("batch"),
                                                        "file": first and first.get("file"),
                                                        "threads": first and first.get("threads")})
            entry[phase] = dict(r, rounds=per)
            rows.append([name, str(entry["batch"] or "n/a"), str(entry["threads"] or "n/a"), fmt_us(r.get("gradc_us")),
                         fmt_us(r.get("gradc_1thread_us")), fmt_us(r.get("tape_us")), fmt_us(r.get("torch_us")),
                         fmt_ratio(r.get("torch_over_gradc")), fmt_ratio(r.get("tape_over_gradc")),
                         fmt_ratio(r.get("torch_over_gradc_1thread")), fmt_ratio(r.get("tape_over_gradc_1thread")),
                         fmt(r.get("gradc_gflops"), ".2f"), fmt(r.get("gradc_1thread_gflops"), ".2f"),
                         fmt(r.get("torch_gflops"), ".2f"), fmt_pct(r.get("pct_of_sgemm")),
                         fmt_pct(r.get("pct_of_sgemm_1thread")), fmt_pct(r.get("torch_pct_of_sgemm"))])
            spread.append([name, str(len(per))] + [span([p[k] for p in per], f) for k, _, f in ratio_keys])
        text = f"### {title}\n\n" + table(header, rows)
        if args.rounds > 1:
            text += (f"\n\nRange over the rounds (lowest-highest of the ratio of each round):\n\n"
                     + table(["model", "rounds"] + [h for _, h, _ in ratio_keys], spread))
        sections.append(text)

    lines = ["## gradc benchmark (tools/bench/run.sh)", ""]
    for k in ("date", "gradc", "cpu", "cores", "load_before", "load_after"):
        if k in meta:
            lines.append(f"- {k.replace('_', ' ')}: {meta[k]}")
    def pct(v):
        return "n/a" if v is None else f"{v:.0f}%"
    low_share = {p: min((v for v in vs if v is not None), default=None) for p, vs in shares.items()}
    high_steal = {p: max((v for v in vs if v is not None), default=None) for p, vs in steals.items()}
    if any(v is not None for v in low_share.values()):
        lines.append("- CPU time / wall time of each process, the lowest over the rounds (100% = one core busy; "
                     "gradc's thread pool can take it above; below ~90% other jobs took the CPU while it was "
                     "timed): " + ", ".join(f"{p} {pct(v)}" for p, v in low_share.items()))
    if any(v is not None for v in high_steal.values()):
        lines.append("- CPU steal (time the hypervisor gave other guests, share of all CPU time, /proc/stat) "
                     "while each process ran, the highest over the rounds: "
                     + ", ".join(f"{p} {'n/a' if v is None else f'{v:.1f}%'}" for p, v in high_steal.items()))
    low = [f"{p} {pct(v)}" for p, v in low_share.items() if v is not None and v < 90]
    low += [f"{p} steal {v:.1f}%" for p, v in high_steal.items() if v is not None and v >= 5]
    if low:
        lines.insert(2, f"**WARNING: other jobs took the CPU during the timing ({', '.join(low)}): "
                        "these numbers and ratios are unreliable; rerun on an idle machine.**\n")
    if torch_ok:
        blas = "OpenBLAS" if any_tb.get("openblas_loaded") else "NOT OpenBLAS (reference BLAS?)"
        lines.append(f"- PyTorch: {any_tb['torch']} eager, {any_tb.get('num_threads')} thread, "
                     f"{any_tb.get('python')}; BLAS loaded: {blas} "
                     f"({', '.join(p for p in any_tb.get('blas_libraries', []) if 'blas' in p)})")
    else:
        lines.append(f"- PyTorch: not available: {any_tb.get('error', 'unknown reason')} — PyTorch columns are n/a")
    if median(sgemms):
        via = next((t["sgemm"].get("via", "?") for m in models for t in tb[m] if t and t.get("sgemm")), "?")
        shapes = sorted({(s["m"], s["k"], s["n"]) for s in sgemm_shapes})
        lines.append(f"- single-core sgemm ceiling: {median(sgemms):.1f} GFLOP/s, the median of "
                     f"{sum(v is not None for v in sgemms)} measurements ({via}; in each, the best of "
                     f"{', '.join(f'{a}x{b}x{c}' for a, b, c in shapes)}, timed before and after the model), "
                     f"range {span(sgemms, lambda v: f'{v:.1f}')}; each round's % of sgemm uses the ceiling "
                     f"measured with it")
    else:
        lines.append("- single-core sgemm ceiling: not measured (needs torch or numpy for /usr/bin/python3)")
    threads = sorted({(x or {}).get("threads") or 1 for m in models for x in g[m]})
    repeats = next((x.get("repeats") for m in models for x in g[m] if x and x.get("repeats")), "?")
    lines += [f"- rounds: {args.rounds}; in each, per model, `gradc bench` (gradc and the tape in one process) "
              "and right beside it torch_bench.py (PyTorch and the sgemm ceiling): gradc first in odd rounds, "
              "PyTorch first in even ones",
              f"- times: in each round, the median of {repeats} repeats of a ~20 ms batch of calls, after a ~20 ms "
              "warm-up; the table shows the median over the rounds of each time and of each ratio (a ratio is "
              "taken within a round); ratios > 1 mean gradc is faster",
              f"- threads: gradc splits its large matrix products over the runtime's thread pool "
              f"({'/'.join(map(str, threads))} thread{'s' if threads[-1] > 1 else ''} here; models whose products are all small run on one: the 'threads' column); "
              "the '1-thread' columns time the same object with the pool off. The tape and PyTorch run on one "
              "thread; the sgemm ceiling is one core's",
              "- GFLOP/s: the FLOPs of the matrix products and convolutions gradc reports (training: forward + "
              "weight gradients + input gradients of every layer but the first) / each system's time; "
              "% of sgemm divides it by the single-core sgemm ceiling", ""]
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
