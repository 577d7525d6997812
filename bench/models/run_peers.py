#!/usr/bin/python3
"""condense vs ONNX Runtime vs PyTorch on the same models, threads and batch, in one run.

Run through bench/models/run_peers.sh (which builds the timing binary and the models first):

    bench/models/run_peers.sh [--threads 2] [--quick] [--rounds R] [--out results.md]

Each row (model, batch) runs every runtime once per round, in a rotating order, as a fresh process
that times the model for --min-time seconds (median of the runs) after a warmup; the table shows the
median over rounds of those medians. A runtime that fails on a row shows "n/a (message)" and the
row goes on. See bench/README.md for what each column means.
"""
import argparse
import datetime
import json
import os
import platform
import statistics
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))
PEERS = os.path.join(ROOT, "bench", "peers")
TORCH_PYTHON = "/usr/bin/python3"

RUNTIMES = ("condense", "ort", "torch-eager", "torch-jit")
# --quant: resnet20 in fp32 (condense) against static int8 in condense and ONNX Runtime (both
# running the QDQ file `condense quantize` wrote) and in PyTorch (its own int8 PTQ, onednn engine).
QUANT_RUNTIMES = ("condense", "condense-int8", "ort-qdq", "torch-int8")


def rows(data_dir, zoo_dir, quant=False):
    """(label, onnx path, torch_bench model name, batch) for every row of the table."""
    resnet20 = os.path.join(data_dir, "models", "resnet20-cifar10", "resnet20.onnx")
    mnist8 = os.path.join(data_dir, "models", "mnist-8", "mnist-8.onnx")
    if quant:
        return [("resnet20", resnet20, "resnet20", b) for b in (1, 64)]
    out = []
    for b in (1, 64):
        out.append(("resnet20", resnet20, "resnet20", b))
    out.append(("mnist-8", mnist8, "mnist-8", 1))  # its input is fixed at (1, 1, 28, 28)
    for name in ("mlp", "lenet5", "gemm4096"):
        for b in (1, 64):
            out.append((name, os.path.join(zoo_dir, name + ".onnx"), name, b))
    return out


def command(runtime, a, onnx_path, torch_name, batch):
    common = ["--batch", str(batch), "--threads", str(a.threads), "--min-time", str(a.min_time)]
    if runtime == "condense":
        return [a.condense_bench, onnx_path] + common
    if runtime == "condense-int8":
        return [a.condense_bench, a.int8_model] + common
    if runtime == "ort":
        return ["node", os.path.join(PEERS, "ort_bench.js"), onnx_path] + common
    if runtime == "ort-qdq":
        return ["node", os.path.join(PEERS, "ort_bench.js"), a.int8_model] + common
    mode = runtime.split("-", 1)[1]
    extra = []
    if mode == "int8":  # calibrated on real images, with the trained weights of `onnx_path`
        extra = ["--calib-npy", a.calib_npy, "--weights-onnx", onnx_path]
    return [TORCH_PYTHON, os.path.join(PEERS, "torch_bench.py"), torch_name, "--mode", mode] + \
        common + extra


def short_error(message, path):
    message = message.replace(f"'{path}': ", "").strip()
    return message if len(message) <= 80 else message[:77] + "..."


def measure(runtime, a, onnx_path, torch_name, batch):
    """One process run: the runner's JSON, or {"error": ...}."""
    if runtime in ("condense", "ort") and not os.path.exists(onnx_path):
        return {"error": f"model file missing: {onnx_path}"}
    if runtime in ("condense-int8", "ort-qdq") and not os.path.exists(a.int8_model or ""):
        return {"error": f"int8 model missing: {a.int8_model} (--int8-model)"}
    if runtime == "torch-int8" and not os.path.exists(a.calib_npy or ""):
        return {"error": f"calibration samples missing: {a.calib_npy} (--calib-npy)"}
    env = dict(os.environ)
    # Every runtime gets exactly `threads` compute threads (OpenMP-based ones read this too).
    env["OMP_NUM_THREADS"] = str(a.threads)
    try:
        p = subprocess.run(command(runtime, a, onnx_path, torch_name, batch), capture_output=True,
                           text=True, timeout=a.timeout, env=env)
    except subprocess.TimeoutExpired:
        return {"error": f"timed out after {a.timeout} s"}
    except OSError as e:
        return {"error": str(e)}
    for line in reversed(p.stdout.strip().splitlines()):
        try:
            j = json.loads(line)
            if isinstance(j, dict):
                if "error" in j:
                    j["error"] = short_error(j["error"], onnx_path)
                return j
        except json.JSONDecodeError:
            continue
    tail = (p.stderr.strip().splitlines() or ["no output"])[-1]
    return {"error": f"exit {p.returncode}: {short_error(tail, onnx_path)}"}


STAT = "median_ms"  # the statistic the table shows (--stat)


def fmt_ms(r):
    if r is None:
        return "-"
    if "error" in r:
        return f"n/a ({r['error']})"
    v = r[STAT]
    return f"{v:.3f}" if v < 10 else f"{v:.2f}" if v < 100 else f"{v:.1f}"


def ratio(a, b):
    if not a or not b or "error" in a or "error" in b:
        return None
    return a[STAT] / b[STAT]


def fmt_ratio(x):
    return "-" if x is None else f"{x:.2f}"


def best_torch(res):
    ok = [res[k] for k in ("torch-eager", "torch-jit") if res.get(k) and "error" not in res[k]]
    return min(ok, key=lambda r: r[STAT]) if ok else None


def git_commit():
    try:
        return subprocess.run(["git", "-C", ROOT, "rev-parse", "--short", "HEAD"], capture_output=True,
                              text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.TimeoutExpired):
        return "?"


def cpu_name():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "?"


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--quick", action="store_true", help="one round of 0.3 s per measurement")
    ap.add_argument("--rounds", type=int, default=None, help="rounds per row (default 3; quick 1)")
    ap.add_argument("--min-time", type=float, default=None,
                    help="seconds timed per measurement (default 1.0; quick 0.3)")
    ap.add_argument("--stat", choices=("median", "min"), default="median",
                    help="table statistic: median of runs (default), or fastest run (less "
                         "sensitive to other load on a shared machine)")
    ap.add_argument("--timeout", type=float, default=300, help="seconds before a run is abandoned")
    ap.add_argument("--only", default="", help="comma-separated model labels to run (default all)")
    ap.add_argument("--runtimes", default="", help="comma-separated subset (default: all of the "
                    "table's)")
    ap.add_argument("--quant", action="store_true",
                    help="resnet20: condense fp32 vs static int8 in condense, ONNX Runtime (the "
                         "same QDQ file) and PyTorch (onednn engine); needs --int8-model and "
                         "--calib-npy (run_peers.sh --quant makes both)")
    ap.add_argument("--int8-model", default="", help="--quant: the QDQ model condense quantize wrote")
    ap.add_argument("--calib-npy", default="", help="--quant: PyTorch's calibration samples")
    ap.add_argument("--out", default="", help="write the table here (.md, or .json), plus the other")
    ap.add_argument("--condense-bench", required=True, help="path of condense_model_bench")
    ap.add_argument("--zoo-dir", required=True, help="folder with mlp/lenet5/gemm4096.onnx")
    ap.add_argument("--data-dir", default=os.path.join(ROOT, "..", "shared", "data"))
    a = ap.parse_args()
    global STAT
    STAT = a.stat + "_ms"
    a.rounds = a.rounds or (1 if a.quick else 3)
    a.min_time = a.min_time or (0.3 if a.quick else 1.0)
    known = QUANT_RUNTIMES if a.quant else RUNTIMES
    runtimes = [r for r in (a.runtimes or ",".join(known)).split(",") if r]
    for r in runtimes:
        if r not in known:
            ap.error(f"unknown runtime {r!r}; known: {', '.join(known)}")
    only = set(filter(None, a.only.split(",")))

    table = []
    for label, path, torch_name, batch in rows(a.data_dir, a.zoo_dir, a.quant):
        if only and label not in only:
            continue
        per_rt = {rt: [] for rt in runtimes}
        failed = {}
        for rnd in range(a.rounds):
            order = runtimes[rnd % len(runtimes):] + runtimes[:rnd % len(runtimes)]
            for rt in order:
                if rt in failed:
                    continue  # a runtime that cannot run the row is not retried
                r = measure(rt, a, path, torch_name, batch)
                if "error" in r:
                    failed[rt] = r
                else:
                    per_rt[rt].append(r)
        res = {}
        for rt in runtimes:
            if rt in failed:
                res[rt] = {"error": failed[rt]["error"]}
            elif per_rt[rt]:
                meds = [r["median_ms"] for r in per_rt[rt]]
                mins = [r["min_ms"] for r in per_rt[rt]]
                res[rt] = {"median_ms": statistics.median(meds), "min_ms": min(mins),
                           "round_medians_ms": meds, "iters": sum(r["iters"] for r in per_rt[rt])}
        bt = best_torch(res)
        row = {"model": label, "batch": batch, "loadavg_1min": os.getloadavg()[0], "results": res,
               "condense_over_ort": ratio(res.get("condense"), res.get("ort")),
               "condense_over_torch": ratio(res.get("condense"), bt)}
        if a.quant:  # speedups of condense int8: x faster than each of the others
            int8 = res.get("condense-int8")
            row["int8_speedup_over"] = {rt: ratio(res.get(rt), int8)
                                        for rt in ("condense", "ort-qdq", "torch-int8")}
        table.append(row)
        cells = " | ".join(fmt_ms(res.get(rt)) for rt in runtimes)
        print(f"{label} b{batch}: {cells}", file=sys.stderr, flush=True)

    meta = {
        "date": datetime.datetime.now().isoformat(timespec="seconds"),
        "cpu": cpu_name(), "cores": os.cpu_count(), "loadavg_end": os.getloadavg(),
        "threads": a.threads, "rounds": a.rounds, "min_time_s": a.min_time, "stat": a.stat,
        "condense_commit": git_commit(), "runtimes": runtimes,
    }
    headers = {"condense": "condense ms", "ort": "ORT ms", "torch-eager": "PyTorch eager ms",
               "torch-jit": "PyTorch jit ms", "condense-int8": "condense int8 ms",
               "ort-qdq": "ORT QDQ ms", "torch-int8": "PyTorch int8 ms"}
    lines = [
        f"threads {a.threads}, {a.stat} ms ({'median over rounds of per-round medians' if a.stat == 'median' else 'fastest run of all rounds'}), "
        f"{a.rounds} round(s) x >= {a.min_time} s per cell; "
        f"{meta['cpu']} ({meta['cores']} cores), load average at end "
        f"{meta['loadavg_end'][0]:.1f}; condense {meta['condense_commit']}, {meta['date']}",
        "",
        "| model | batch | " + " | ".join(headers[r] for r in runtimes) +
        " | condense/ORT | condense/PyTorch |",
        "|---|---:|" + "---:|" * (len(runtimes) + 2),
    ]
    if a.quant:
        lines[2] = ("| model | batch | " + " | ".join(headers[r] for r in runtimes) +
                    " | int8 speedup vs condense fp32 | vs ORT QDQ | vs PyTorch int8 |")
        lines[3] = "|---|---:|" + "---:|" * (len(runtimes) + 3)
    for row in table:
        cells = [fmt_ms(row["results"].get(rt)) for rt in runtimes]
        if a.quant:
            sp = row["int8_speedup_over"]
            lines.append(f"| {row['model']} | {row['batch']} | " + " | ".join(cells) + " | " +
                         " | ".join(fmt_ratio(sp[k]) for k in ("condense", "ort-qdq", "torch-int8"))
                         + " |")
            continue
        lines.append(f"| {row['model']} | {row['batch']} | " + " | ".join(cells) +
                     f" | {fmt_ratio(row['condense_over_ort'])} | "
                     f"{fmt_ratio(row['condense_over_torch'])} |")
    text = "\n".join(lines) + "\n"
    print(text)
    if a.out:
        stem, ext = os.path.splitext(a.out)
        md_path, json_path = (stem + ".md", a.out) if ext == ".json" else (a.out, stem + ".json")
        with open(md_path, "w") as f:
            f.write(text)
        with open(json_path, "w") as f:
            json.dump({"meta": meta, "rows": table}, f, indent=1)
        print(f"wrote {md_path} and {json_path}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
