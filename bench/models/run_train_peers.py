#!/usr/bin/python3
"""Training-step throughput, condense vs PyTorch, side by side in one run.

    /usr/bin/python3 bench/models/run_train_peers.py [--models lenet5,resnet20] [--batch 128]
                                                     [--threads 2] [--rounds 3] [--min-time 3]

Alternates build/release/bench/condense_train_bench and bench/peers/torch_train_bench.py for
`rounds` rounds per model (so load from other processes hits both alike), and prints a markdown
table of the median images/s of each and their ratio (and the same from each side's fastest
step, less sensitive to other load), with the load average before each model.
Build the binary first: cmake --build build/release --target condense_train_bench.
"""
import argparse
import json
import os
import statistics
import subprocess

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def run(cmd, batch):
    """(median images/s, best images/s) of one process."""
    out = subprocess.run(cmd, capture_output=True, text=True, check=False)
    line = out.stdout.strip().splitlines()[-1] if out.stdout.strip() else "{}"
    j = json.loads(line)
    if "error" in j or "images_per_s" not in j:
        raise SystemExit(f"{' '.join(cmd)}: {j.get('error', out.stderr.strip())}")
    return j["images_per_s"], 1000.0 * batch / j["min_ms"]


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--models", default="lenet5,resnet20")
    p.add_argument("--batch", type=int, default=128)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--min-time", type=float, default=3.0)
    a = p.parse_args()
    common = ["--batch", str(a.batch), "--threads", str(a.threads), "--min-time", str(a.min_time)]
    condense = os.path.join(ROOT, "build/release/bench/condense_train_bench")
    torch = ["/usr/bin/python3", os.path.join(ROOT, "bench/peers/torch_train_bench.py")]
    print("| model | batch | threads | condense img/s | PyTorch img/s | ratio | ratio of best steps | load avg |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    for m in a.models.split(","):
        load = os.getloadavg()[0]
        c, t = [], []
        for _ in range(a.rounds):
            c.append(run([condense, m] + common, a.batch))
            t.append(run(torch + [m] + common, a.batch))
        cm, tm = statistics.median(x[0] for x in c), statistics.median(x[0] for x in t)
        cb, tb = max(x[1] for x in c), max(x[1] for x in t)
        print(f"| {m} | {a.batch} | {a.threads} | {cm:.0f} | {tm:.0f} | {cm / tm:.2f}x | "
              f"{cb / tb:.2f}x | {load:.1f} |", flush=True)


if __name__ == "__main__":
    main()
