#!/usr/bin/python3
"""Writes the reference values the `quant` tests compare condense's observers with
(tests/quant/data/observers.npz).

Run with Debian's python3-torch:  /usr/bin/python3 tests/quant/make_observer_fixture.py

For each data set <d> in (signed, relu): <d>.x (batches, ...) f32, streamed one batch at a time;
  PyTorch (torch.ao.quantization observers):
    <d>.minmax           [min, max] of MinMaxObserver
    <d>.affine_u8        [scale, zero_point] of MinMaxObserver(quint8, per_tensor_affine)
    <d>.symmetric_i8     [scale, zero_point] of MinMaxObserver(qint8, per_tensor_symmetric)
    <d>.ema              [min, max] of MovingAverageMinMaxObserver(averaging_constant=0.01)
    <d>.percentile       torch.quantile(|x|, 0.999, interpolation="higher"): the nearest rank,
                         the smallest value with at least 99.9% of |x| at or below it
  NumPy, brute force on the raw values (not a histogram):
    <d>.mse_best         [T, mse]: of thresholds T = i * amax / 2048 (i = 1..2048), the one whose
                         uint8 range [max(min, -T), min(max, T)] (PyTorch's affine qparams, fake
                         quantized with torch.fake_quantize_per_tensor_affine) gives the least
                         mean squared error
weights.w (16, 3, 3, 3) f32, weights.scale / weights.zero_point / weights.q: PyTorch's
  PerChannelMinMaxObserver(qint8, per_channel_symmetric, ch_axis=0) and
  torch.quantize_per_channel(...).int_repr().
entropy.hist (2048,) |x| histogram of N(0, 1) samples, entropy.bins [i]: the TensorRT entropy
  search (128 levels) written out in NumPy below, an independent implementation.
"""
import os

import numpy as np
import torch
from torch.ao.quantization.observer import (MinMaxObserver, MovingAverageMinMaxObserver,
                                            PerChannelMinMaxObserver)

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data")
torch.manual_seed(0)
rng = np.random.default_rng(0)
arrays = {}


def dataset(kind):
    x = torch.randn(16, 8, 3, 5, 5) * 1.3 + 0.2
    x[3, 0, 0, 0, 0] = 9.0   # outliers
    x[11, 2, 1, 2, 3] = -7.5
    if kind == "relu":
        x = torch.relu(x)
    return x.float()


def brute_force_mse(x):
    v = x.flatten()
    lo, hi = float(v.min()), float(v.max())
    amax = max(abs(lo), abs(hi))
    best = (None, float("inf"))
    obs = MinMaxObserver(dtype=torch.quint8, qscheme=torch.per_tensor_affine)
    for i in range(1, 2049):
        t = np.float32(i * amax / 2048)
        a, b = max(lo, -t), min(hi, t)
        if a > b:
            a = b
        scale, zp = obs._calculate_qparams(torch.tensor(a), torch.tensor(b))
        fq = torch.fake_quantize_per_tensor_affine(v, float(scale), int(zp), 0, 255)
        mse = float(((v.double() - fq.double()) ** 2).mean())
        if mse < best[1]:
            best = (float(t), mse)
    return best


for kind in ("signed", "relu"):
    x = dataset(kind)
    arrays[f"{kind}.x"] = x.numpy()
    mm = MinMaxObserver(dtype=torch.quint8, qscheme=torch.per_tensor_affine)
    sym = MinMaxObserver(dtype=torch.qint8, qscheme=torch.per_tensor_symmetric)
    ema = MovingAverageMinMaxObserver(averaging_constant=0.01)
    for b in x:
        mm(b)
        sym(b)
        ema(b)
    s, z = mm.calculate_qparams()
    arrays[f"{kind}.minmax"] = np.array([mm.min_val.item(), mm.max_val.item()], np.float32)
    arrays[f"{kind}.affine_u8"] = np.array([s.item(), z.item()], np.float64)
    s, z = sym.calculate_qparams()
    arrays[f"{kind}.symmetric_i8"] = np.array([s.item(), z.item()], np.float64)
    arrays[f"{kind}.ema"] = np.array([ema.min_val.item(), ema.max_val.item()], np.float32)
    arrays[f"{kind}.percentile"] = np.array(
        [torch.quantile(x.abs().flatten().double(), 0.999, interpolation="higher").item()],
        np.float64)
    arrays[f"{kind}.mse_best"] = np.array(brute_force_mse(x), np.float64)

w = (torch.randn(16, 3, 3, 3) * torch.linspace(0.01, 2.0, 16).reshape(16, 1, 1, 1)).float()
pc = PerChannelMinMaxObserver(ch_axis=0, dtype=torch.qint8, qscheme=torch.per_channel_symmetric)
pc(w)
s, z = pc.calculate_qparams()
arrays["weights.w"] = w.numpy()
arrays["weights.scale"] = s.numpy().astype(np.float32)
arrays["weights.zero_point"] = z.numpy().astype(np.int64)
arrays["weights.q"] = torch.quantize_per_channel(w, s, z, 0, torch.qint8).int_repr().numpy().astype(
    np.int64)


def entropy_bins(hist, levels):
    """TensorRT's KL search: P = hist[:i] with the rest added to bin i-1; Q = hist[:i] merged
    into `levels` groups, each spread evenly over its non-empty bins; the first i minimizing
    KL(P || Q) (i with P > 0 where Q = 0 never wins)."""
    n = len(hist)
    best, best_i = np.inf, n
    for i in range(levels, n + 1):
        p = hist[:i].astype(np.float64).copy()
        p[i - 1] += hist[i:].sum()
        q = np.zeros(i)
        for j in range(levels):
            start, stop = i * j // levels, i * (j + 1) // levels
            seg = hist[start:stop]
            nz = np.count_nonzero(seg)
            if nz:
                q[start:stop] = np.where(seg != 0, seg.sum() / nz, 0.0)
        m = p > 0
        if np.any(q[m] == 0):
            continue
        pp, qq = p[m] / p.sum(), q[m] / q.sum()
        kl = float(np.sum(pp * np.log(pp / qq)))
        if kl < best:
            best, best_i = kl, i
    return best_i


g = np.abs(rng.standard_normal(100000))
hist, _ = np.histogram(g, bins=2048, range=(0, g.max()))
arrays["entropy.hist"] = hist.astype(np.float64)
arrays["entropy.bins"] = np.array([entropy_bins(hist, 128)], np.int64)

os.makedirs(OUT, exist_ok=True)
np.savez(os.path.join(OUT, "observers.npz"), **arrays)
print("wrote", os.path.join(OUT, "observers.npz"), len(arrays), "arrays")
