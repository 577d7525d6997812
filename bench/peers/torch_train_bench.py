#!/usr/bin/python3
"""PyTorch's side of the training-step benchmark (bench/models/train_step_bench.cpp).

    /usr/bin/python3 bench/peers/torch_train_bench.py lenet5 --batch 128 --threads 2

One step = forward, mean cross-entropy on the logits, backward (gradients of every parameter),
and an SGD update with momentum 0.9 (optimizer.step()), as condense's train::Trainer::step does. The
architectures are bench/peers/torch_bench.py's (the zoo's). Prints one JSON object:
    {"runtime": "torch", "model": ..., "batch": ..., "median_ms": ..., "images_per_s": ...}
"""
import argparse
import json
import os
import sys
import time

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import torch_bench  # noqa: E402


def main():
    p = argparse.ArgumentParser()
    p.add_argument("model")
    p.add_argument("--batch", type=int, default=128)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--min-time", type=float, default=2.0)
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    torch.set_num_interop_threads(1)
    cls, shape = torch_bench.MODELS[a.model]
    model = cls().train()
    torch.manual_seed(7)
    x = torch.rand(a.batch, *shape)
    y = torch.arange(a.batch) % 10

    opt = torch.optim.SGD(model.parameters(), lr=1e-4, momentum=0.9)

    def step():
        opt.zero_grad(set_to_none=True)
        F.cross_entropy(model(x), y).backward()
        opt.step()

    for _ in range(3):
        step()
    times = []
    start = time.perf_counter()
    while len(times) < 10 or time.perf_counter() - start < a.min_time:
        t0 = time.perf_counter()
        step()
        times.append((time.perf_counter() - t0) * 1000)
    times.sort()
    med = times[len(times) // 2]
    print(json.dumps({"runtime": "torch", "model": a.model, "batch": a.batch, "threads": a.threads,
                      "median_ms": med, "min_ms": times[0], "steps": len(times),
                      "images_per_s": 1000.0 * a.batch / med}))


if __name__ == "__main__":
    main()
