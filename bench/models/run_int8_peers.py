#!/usr/bin/python3
"""Static int8 resnet20 in condense vs condense fp32 vs ONNX Runtime, in one run.

    bench/models/run_int8_peers.py --condense-bench build/release/bench/condense_model_bench \\
        --qdq r20.int8.onnx [--qoperator r20.qop.onnx] [--batch 64] [--threads 2] [--rounds 5]

The int8 models come from `condense quantize resnet20.onnx --calib imagefolder:... --per-channel`
(QDQ; condense lowers it to its integer kernels at load, ORT fuses it into its QLinear kernels)
and, optionally, the same with `--format qoperator`. Each round runs every (runtime, model) once as
a fresh process timing --min-time seconds (its median), in a rotating order; the table shows the
median over rounds, and the ratios are taken within each round, then their median (the machine is
shared: only side-by-side ratios mean anything).
"""
import argparse
import json
import os
import statistics
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))
ORT_BENCH = os.path.join(ROOT, "bench", "peers", "ort_bench.js")


def run(cmd, threads, timeout):
    env = dict(os.environ, OMP_NUM_THREADS=str(threads))
    try:
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env)
    except subprocess.TimeoutExpired:
        return {"error": "timed out"}
    for line in reversed(p.stdout.strip().splitlines()):
        try:
            j = json.loads(line)
            if isinstance(j, dict):
                return j
        except json.JSONDecodeError:
            continue
    return {"error": (p.stderr or p.stdout).strip()[-200:] or f"exit {p.returncode}"}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--condense-bench", required=True)
    ap.add_argument("--fp32", default=os.path.join(ROOT, "..", "shared", "data", "models",
                                                   "resnet20-cifar10", "resnet20.onnx"))
    ap.add_argument("--qdq", required=True, help="static int8 QDQ model (condense quantize)")
    ap.add_argument("--qoperator", help="the same in QOperator form (--format qoperator)")
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--min-time", type=float, default=2.0)
    ap.add_argument("--timeout", type=float, default=300)
    a = ap.parse_args()

    common = ["--batch", str(a.batch), "--threads", str(a.threads), "--min-time", str(a.min_time)]
    entries = [("condense fp32", [a.condense_bench, a.fp32] + common),
               ("condense int8 (QDQ file)", [a.condense_bench, a.qdq] + common),
               ("ORT fp32", ["node", ORT_BENCH, a.fp32] + common),
               ("ORT int8 (QDQ file)", ["node", ORT_BENCH, a.qdq] + common)]
    if a.qoperator:
        entries.insert(2, ("condense int8 (QOperator file)", [a.condense_bench, a.qoperator] + common))
        entries.append(("ORT int8 (QOperator file)", ["node", ORT_BENCH, a.qoperator] + common))

    times = {name: [] for name, _ in entries}
    for r in range(a.rounds):
        order = entries[r % len(entries):] + entries[:r % len(entries)]
        for name, cmd in order:
            j = run(cmd, a.threads, a.timeout)
            if "error" in j:
                print(f"{name}: error: {j['error']}", file=sys.stderr)
                times[name].append(None)
            else:
                times[name].append(j["median_ms"])
        print(f"round {r + 1}/{a.rounds}: " +
              ", ".join(f"{n} {t[-1]:.2f} ms" if t[-1] else f"{n} n/a" for n, t in times.items()),
              file=sys.stderr)

    def med(xs):
        xs = [x for x in xs if x is not None]
        return statistics.median(xs) if xs else None

    def ratio(num, den):
        rs = [n / d for n, d in zip(times[num], times[den]) if n and d]
        return statistics.median(rs) if rs else None

    print(f"resnet20, batch {a.batch}, {a.threads} threads, {a.rounds} rounds, "
          f"load {os.getloadavg()[0]:.1f}")
    print("| runtime / model | median ms | vs condense int8 (QDQ) |")
    print("|---|---|---|")
    for name, _ in entries:
        m = med(times[name])
        rr = ratio(name, "condense int8 (QDQ file)")
        print(f"| {name} | {m:.2f} | {rr:.2f}x |" if m and rr else f"| {name} | n/a | |")


if __name__ == "__main__":
    main()
