#!/usr/bin/env bash
# The main job on a fresh Debian 12 machine: installs dependencies, builds condense (release),
# builds a LeNet-5 model with condense's own model builder, inspects it, runs it, converts it
# back to ONNX and benchmarks it. (Training on Fashion-MNIST joins this demo with the training
# engine.)
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
cmake --preset release >/dev/null
cmake --build build/release -j"$(nproc)" --target condense_cli
condense=build/release/condense
work=build/quickstart
mkdir -p "$work"

echo "== condense zoo lenet5"
$condense zoo lenet5 -o "$work/lenet5.onnx"
echo "== condense info"
$condense info "$work/lenet5.onnx"
echo "== condense run (one Fashion-MNIST-sized random image)"
/usr/bin/python3 - "$work/x.npy" <<'PY'
import sys, numpy as np
np.save(sys.argv[1], np.random.default_rng(0).random((1, 1, 28, 28), dtype=np.float32))
PY
$condense run "$work/lenet5.onnx" -i "$work/x.npy" -o "$work/out"
echo "== condense convert (import -> IR -> export, checked)"
$condense convert "$work/lenet5.onnx" -o "$work/lenet5.roundtrip.onnx"
echo "== condense bench (batch 64, 2 threads)"
$condense bench "$work/lenet5.onnx" --batch 64 --threads 2
