#!/usr/bin/python3
"""PyTorch's side of condense's model benchmark (bench/models/run_peers.sh).

    /usr/bin/python3 bench/peers/torch_bench.py resnet20 --batch 64 --threads 2 --min-time 1

Builds the named architecture (the same ones condense runs from ONNX; weights are PyTorch's default
init, timing does not depend on them), runs it under torch.inference_mode() with
torch.set_num_threads(threads) and interop threads 1, and prints one JSON object:
    {"runtime": "torch", "median_ms": ..., "min_ms": ..., "iters": ..., "load_ms": ...}
or {"runtime": "torch", "error": "..."} with exit code 1.

The architectures are also imported by bench/models/make_models.py, which exports the zoo ones
(mlp, lenet5, gemm4096) to ONNX for condense and ONNX Runtime.

--mode eager (default) runs the nn.Module as is. --mode jit runs it as PyTorch's recommended CPU
deployment form: torch.jit.trace, torch.jit.freeze, torch.jit.optimize_for_inference (which prepacks
convolutions for oneDNN). Note that Debian's python3-torch computes nn.Linear (and convolutions it
does not hand to oneDNN) with the BLAS that libblas.so.3 points to; on a machine with only the
reference netlib BLAS that is far slower than an optimized BLAS would be.

--mode int8 (resnet20 only) is PyTorch's static int8 post-training quantization: FX graph mode
(torch.ao.quantization.quantize_fx) on the 'onednn' engine with its default qconfig (per-channel
int8 weights, histogram-calibrated uint8 activations), calibrated on --calib-npy (real images,
preprocessed as condense feeds them: bench/models/dump_samples.cpp), then traced and frozen with
TorchScript. --weights-onnx loads the trained weights of the shared resnet20.onnx (batch norm
folded) so that the calibration sees the real activation ranges; --eval-npy/--eval-labels-npy
then also reports its top-1 ("top1").

--mode bf16 / fp16 runs the eager model with weights and input in that type (with --weights-onnx,
resnet20's trained weights), the peer of `condense quantize --dtype bf16|fp16`. PyTorch 1.13 has
no fp16 convolution on the CPU: that mode reports its error for resnet20.
"""
import argparse
import json
import os
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F


class Mlp(nn.Module):
    """784-300-100-10 (LeCun et al.; Han et al.'s LeNet-300-100): flatten, Gemm+Relu, Gemm."""

    def __init__(self, widths=(300, 100), inputs=784, classes=10):
        super().__init__()
        layers, prev = [], inputs
        for w in widths:
            layers += [nn.Linear(prev, w), nn.ReLU()]
            prev = w
        layers.append(nn.Linear(prev, classes))
        self.body = nn.Sequential(nn.Flatten(), *layers)

    def forward(self, x):  # x: (N, 1, 28, 28)
        return self.body(x)


class LeNet5(nn.Module):
    """Caffe's LeNet-5 as in Han et al. (Deep Compression): conv 5x5x20, maxpool 2, conv 5x5x50,
    maxpool 2, fc 500 + relu, fc 10. Input (N, 1, 28, 28); 800 features after the second pool."""

    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(1, 20, 5), nn.MaxPool2d(2), nn.Conv2d(20, 50, 5), nn.MaxPool2d(2),
            nn.Flatten(), nn.Linear(800, 500), nn.ReLU(), nn.Linear(500, 10))

    def forward(self, x):
        return self.body(x)


class Gemm4096(nn.Module):
    """One fully connected layer 4096 -> 4096 (with bias). Input (N, 4096)."""

    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(4096, 4096)

    def forward(self, x):
        return self.fc(x)


class Mnist8(nn.Module):
    """The ONNX model zoo's mnist-8 (CNTK): conv 5x5x8 same + relu, maxpool 2, conv 5x5x16 same +
    relu, maxpool 3 stride 3, flatten (256), fc 10."""

    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(1, 8, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(8, 16, 5, padding=2), nn.ReLU(), nn.MaxPool2d(3, 3),
            nn.Flatten(), nn.Linear(256, 10))

    def forward(self, x):
        return self.body(x)


class BasicBlock(nn.Module):
    """CIFAR ResNet basic block with batch norm folded into conv bias (as in the shared
    resnet20.onnx): conv3x3+relu, conv3x3, + shortcut, relu. Shortcut "A" subsamples and zero-pads
    channels (He et al.'s option A); "B" is a strided 1x1 conv."""

    def __init__(self, cin, cout, stride, shortcut="A"):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1)
        self.pad = 0
        self.proj = None
        if stride != 1 or cin != cout:
            if shortcut == "A":
                self.pad = (cout - cin) // 2
                self.stride = stride
            else:
                self.proj = nn.Conv2d(cin, cout, 1, stride)

    def forward(self, x):
        y = self.conv2(F.relu(self.conv1(x)))
        if self.proj is not None:
            s = self.proj(x)
        elif self.pad:
            s = F.pad(x[:, :, ::self.stride, ::self.stride], (0, 0, 0, 0, self.pad, self.pad))
        else:
            s = x
        return F.relu(y + s)


class ResNet20(nn.Module):
    """CIFAR ResNet-20: conv3x3x16 + relu, 3 stages x 3 basic blocks (16/32/64 channels),
    global average pool, fc 10. Input (N, 3, 32, 32)."""

    def __init__(self, shortcut="A"):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 16, 3, 1, 1)
        blocks, cin = [], 16
        for stage, cout in enumerate((16, 32, 64)):
            for i in range(3):
                stride = 2 if stage > 0 and i == 0 else 1
                blocks.append(BasicBlock(cin, cout, stride, shortcut))
                cin = cout
        self.blocks = nn.Sequential(*blocks)
        self.fc = nn.Linear(64, 10)

    def forward(self, x):
        x = self.blocks(F.relu(self.conv1(x)))
        return self.fc(torch.flatten(F.adaptive_avg_pool2d(x, 1), 1))


# name -> (constructor, input shape without the batch dimension)
MODELS = {
    "mlp": (Mlp, (1, 28, 28)),
    "lenet5": (LeNet5, (1, 28, 28)),
    "gemm4096": (Gemm4096, (4096,)),
    "mnist-8": (Mnist8, (1, 28, 28)),
    "resnet20": (ResNet20, (3, 32, 32)),
}


def time_model(model, x, min_time_s, warmup):
    with torch.inference_mode():
        # Untimed: `warmup` runs and a quarter of min_time (TorchScript's profiling executor
        # specializes the graph during its first runs).
        start = time.perf_counter()
        done = 0
        while done < warmup or time.perf_counter() - start < 0.25 * min_time_s:
            model(x)
            done += 1
        times = []
        start = time.perf_counter()
        while len(times) < 10 or time.perf_counter() - start < min_time_s:
            t0 = time.perf_counter()
            model(x)
            times.append((time.perf_counter() - t0) * 1000.0)
    times.sort()
    n = len(times)
    median = times[n // 2] if n % 2 else 0.5 * (times[n // 2 - 1] + times[n // 2])
    return {"median_ms": median, "min_ms": times[0], "iters": n}


def _varint(b, i):
    r = s = 0
    while True:
        c = b[i]
        i += 1
        r |= (c & 0x7F) << s
        s += 7
        if c < 0x80:
            return r, i


def _fields(b):
    """(field number, wire type, value) of a protobuf message: ints for varints, bytes else."""
    i = 0
    while i < len(b):
        key, i = _varint(b, i)
        f, wt = key >> 3, key & 7
        if wt == 0:
            v, i = _varint(b, i)
        elif wt == 2:
            n, i = _varint(b, i)
            v, i = b[i:i + n], i + n
        elif wt == 5:
            v, i = b[i:i + 4], i + 4
        elif wt == 1:
            v, i = b[i:i + 8], i + 8
        else:
            raise ValueError(f"protobuf wire type {wt}")
        yield f, wt, v


def onnx_weights(path):
    """The float initializers of an ONNX file, and the weight/bias names of its Conv and Gemm
    nodes in graph order; read with a minimal protobuf parser (no onnx package needed)."""
    import numpy as np
    data = open(path, "rb").read()
    graph = next(v for f, _, v in _fields(data) if f == 7)  # ModelProto.graph
    inits, layers = {}, []
    for f, _, v in _fields(graph):
        if f == 5:  # TensorProto: dims 1, data_type 2, float_data 4, name 8, raw_data 9
            dims, name, raw, floats, dtype = [], "", None, [], 1
            for tf, twt, tv in _fields(v):
                if tf == 1:
                    dims += [tv] if twt == 0 else [d for d, _ in _iter_varints(tv)]
                elif tf == 2:
                    dtype = tv
                elif tf == 8:
                    name = tv.decode()
                elif tf == 9:
                    raw = tv
                elif tf == 4:
                    floats += list(np.frombuffer(tv, "<f4")) if twt == 2 else [np.frombuffer(tv, "<f4")[0]]
            if dtype == 1:
                arr = np.frombuffer(raw, "<f4") if raw is not None else np.array(floats, "<f4")
                inits[name] = torch.from_numpy(arr.copy().reshape(dims))
        elif f == 1:  # NodeProto: input 1, op_type 4
            ins = [tv.decode() for tf, _, tv in _fields(v) if tf == 1]
            op = next(tv.decode() for tf, _, tv in _fields(v) if tf == 4)
            if op in ("Conv", "Gemm"):
                layers.append((op, ins[1:]))
    return [(op, [inits[n] for n in names]) for op, names in layers]


def _iter_varints(b):
    i = 0
    while i < len(b):
        v, i = _varint(b, i)
        yield v, i


def load_resnet20_onnx(model, path):
    """Copies the Conv/Gemm weights of resnet20.onnx into ResNet20 (same layer order)."""
    mods = [model.conv1] + [c for blk in model.blocks for c in (blk.conv1, blk.conv2)] + [model.fc]
    layers = onnx_weights(path)
    if len(layers) != len(mods):
        raise ValueError(f"{path} has {len(layers)} Conv/Gemm layers, ResNet20 has {len(mods)}")
    with torch.no_grad():
        for m, (op, tensors) in zip(mods, layers):
            w = tensors[0] if tuple(tensors[0].shape) == tuple(m.weight.shape) else tensors[0].t()
            m.weight.copy_(w)
            m.bias.copy_(tensors[1])


def quantize_int8(model, calib, batch):
    """PyTorch static PTQ, FX graph mode, 'onednn' engine, default qconfig (per-channel int8
    weights, HistogramObserver uint8 activations); calibrated on `calib` (N, C, H, W)."""
    from torch.ao.quantization import get_default_qconfig_mapping
    from torch.ao.quantization.quantize_fx import convert_fx, prepare_fx
    torch.backends.quantized.engine = "onednn"
    example = calib[:batch]
    prepared = prepare_fx(model, get_default_qconfig_mapping("onednn"), (example,))
    with torch.inference_mode():
        for i in range(0, calib.shape[0], 32):
            prepared(calib[i:i + 32])
    q = convert_fx(prepared)
    with torch.no_grad():
        x = torch.rand((batch,) + tuple(calib.shape[1:]))
        return torch.jit.freeze(torch.jit.trace(q, x).eval())


def top1(model, x, labels):
    correct = 0
    with torch.inference_mode():
        for i in range(0, x.shape[0], 256):
            correct += int((model(x[i:i + 256]).argmax(1) == labels[i:i + 256]).sum())
    return correct / x.shape[0]


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("model", choices=sorted(MODELS))
    ap.add_argument("--batch", type=int, default=1)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--min-time", type=float, default=1.0, help="seconds of timed runs")
    ap.add_argument("--warmup", type=int, default=5)
    ap.add_argument("--mode", choices=("eager", "jit", "int8", "bf16", "fp16"), default="eager",
                    help="bf16 / fp16: eager with weights and input in that type")
    ap.add_argument("--calib-npy", help="int8: calibration samples (N, C, H, W) f32 .npy")
    ap.add_argument("--weights-onnx",
                    help="int8, bf16, fp16: take resnet20's weights from this ONNX file")
    ap.add_argument("--eval-npy", help="int8: also report top-1 on these samples")
    ap.add_argument("--eval-labels-npy", help="int8: their labels")
    a = ap.parse_args()
    out = {"runtime": "torch-" + a.mode, "version": torch.__version__, "batch": a.batch,
           "threads": a.threads}
    try:
        torch.set_num_threads(a.threads)
        torch.set_num_interop_threads(1)
        torch.manual_seed(0)
        t0 = time.perf_counter()
        ctor, shape = MODELS[a.model]
        model = ctor().eval()
        x = torch.rand((a.batch,) + shape)
        if a.mode == "int8":
            import numpy as np
            if a.model != "resnet20" or not a.calib_npy:
                raise ValueError("--mode int8 takes resnet20 and --calib-npy")
            if a.weights_onnx:
                load_resnet20_onnx(model, a.weights_onnx)  # before the cache: errors show
            # The quantized model is cached beside the calibration samples (TorchScript; traced
            # shapes do not fix the batch): the histogram calibration takes a minute per run.
            cache = a.calib_npy + ".torch-int8.pt"
            torch.backends.quantized.engine = "onednn"
            if os.path.exists(cache) and os.path.getmtime(cache) > os.path.getmtime(a.calib_npy):
                model = torch.jit.load(cache).eval()
            else:
                calib = torch.from_numpy(np.load(a.calib_npy)).float()
                model = quantize_int8(model, calib, a.batch)
                torch.jit.save(model, cache + ".tmp")
                os.replace(cache + ".tmp", cache)
            if a.eval_npy and a.eval_labels_npy:
                out["top1"] = top1(model, torch.from_numpy(np.load(a.eval_npy)).float(),
                                   torch.from_numpy(np.load(a.eval_labels_npy)).long())
        if a.mode in ("bf16", "fp16"):
            if a.weights_onnx:
                load_resnet20_onnx(model, a.weights_onnx)
            dt = torch.bfloat16 if a.mode == "bf16" else torch.float16
            model = model.to(dt)
            x = x.to(dt)
        if a.mode == "jit":
            with torch.no_grad():
                model = torch.jit.trace(model, x)
                model = torch.jit.optimize_for_inference(torch.jit.freeze(model))
        out["load_ms"] = (time.perf_counter() - t0) * 1000.0
        # TorchScript's profiling executor runs its first ~10 calls slowly (profiling, then
        # compiling the specialized graph): warm it up past that.
        warmup = max(a.warmup, 20) if a.mode in ("jit", "int8") else a.warmup
        out.update(time_model(model, x, a.min_time, warmup))
    except Exception as e:  # reported as a row error by the driver, not a crash
        out["error"] = f"{type(e).__name__}: {e}"
        print(json.dumps(out))
        return 1
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
