#!/usr/bin/env bash
# The main job on a fresh Debian 12 machine: installs dependencies (Fashion-MNIST included, from
# Debian's dataset-fashion-mnist), builds condense (release), builds a LeNet-5 with condense's
# model zoo, trains it on Fashion-MNIST, evaluates it on the 10,000 test images, and benchmarks
# the trained model. A few minutes on 2 cores.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
cmake --preset release >/dev/null
cmake --build build/release -j"$(nproc)" --target condense_cli
condense=build/release/condense
work=build/quickstart
mkdir -p "$work"
data=fashion-mnist:/usr/share/datasets/fashion-mnist

echo "== condense zoo lenet5"
$condense zoo lenet5 -o "$work/lenet5.onnx"
echo "== condense info"
$condense info "$work/lenet5.onnx"
echo "== condense train (Fashion-MNIST, 60,000 images, 15 epochs)"
$condense train "$work/lenet5.onnx" --data "$data" --epochs 15 --batch 128 --opt adam --lr 0.001 \
  --schedule cosine --augment flip --seed 1 -o "$work/lenet5.trained.onnx"
echo "== condense eval (Fashion-MNIST test set, 10,000 images)"
$condense eval "$work/lenet5.trained.onnx" --data "$data"
echo "== condense bench (batch 64, 2 threads)"
$condense bench "$work/lenet5.trained.onnx" --batch 64 --threads 2
