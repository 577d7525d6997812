#!/usr/bin/env bash
# condense vs ONNX Runtime vs PyTorch on the same models, threads and batch: one command.
#
#   bench/models/run_peers.sh [--threads 2] [--quick] [--rounds R] [--out results.md]
#                             [--only resnet20,mlp] [--runtimes condense,ort,torch-eager,torch-jit]
#                             [--models-from torch|condense]
#   bench/models/run_peers.sh --quant [--threads 2] [--quick]
#
# Builds the timing binary (build/release, target condense_model_bench), writes the zoo models
# (mlp, lenet5, gemm4096) into build/bench-models with PyTorch (or with `condense zoo` when
# --models-from condense), then runs bench/models/run_peers.py, which prints the table.
# Needs: /usr/bin/python3 with torch, node, and bench/peers/node_modules
# (cd bench/peers && npm install --ignore-scripts). See bench/README.md.
# --quant: resnet20 fp32 vs static int8 (condense, ONNX Runtime on the same QDQ file, PyTorch's
# own int8 on the onednn engine); makes build/bench-models/quant/resnet20.int8.onnx with
# `condense quantize --per-channel` and PyTorch's calibration images (1,024 CIFAR-10 training
# JPEGs, decoded by condense) first. Needs ../shared/data.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
build="${CONDENSE_BUILD_DIR:-$root/build/release}"
models_from=torch
quant=0
args=()
while [[ $# -gt 0 ]]; do
  case "$1" in
    --models-from) models_from="$2"; shift 2 ;;
    --quant) quant=1; args+=("$1"); shift ;;
    -h|--help) sed -n '2,16p' "${BASH_SOURCE[0]}"; exec /usr/bin/python3 "$root/bench/models/run_peers.py" --help ;;
    *) args+=("$1"); shift ;;
  esac
done

if [[ ! -d "$root/bench/peers/node_modules/onnxruntime-node" ]]; then
  echo "error: ONNX Runtime is not installed" >&2
  echo "hint: (cd bench/peers && npm install --ignore-scripts)" >&2
  exit 1
fi
if [[ ! -f "$build/build.ninja" ]]; then
  (cd "$root" && cmake --preset release >/dev/null)
fi
cmake --build "$build" -j2 --target condense_model_bench >/dev/null

zoo="$root/build/bench-models/$models_from"
mkdir -p "$zoo"
case "$models_from" in
  torch)
    for m in mlp lenet5 gemm4096; do
      [[ -f "$zoo/$m.onnx" ]] || /usr/bin/python3 "$root/bench/models/make_models.py" --out "$zoo" >&2
    done ;;
  condense)
    cmake --build "$build" -j2 --target condense_cli >/dev/null
    for m in mlp lenet5 gemm4096; do
      [[ -f "$zoo/$m.onnx" ]] || "$build/condense" zoo "$m" -o "$zoo/$m.onnx" --batch-dim dynamic >&2
    done ;;
  *) echo "error: --models-from must be torch or condense" >&2; exit 1 ;;
esac

if [[ $quant == 1 ]]; then
  data="${CONDENSE_DATA_DIR:-$root/../shared/data}"
  qdir="$root/build/bench-models/quant"
  mkdir -p "$qdir"
  cmake --build "$build" -j2 --target condense_cli condense_dump_samples >/dev/null
  if [[ ! -f "$qdir/resnet20.int8.onnx" ]]; then
    OMP_WAIT_POLICY=PASSIVE "$build/condense" quantize "$data/models/resnet20-cifar10/resnet20.onnx" \
      --calib "imagefolder:$data/cifar10-jpeg/cifar10-train-jpeg.tar.gz" --per-channel \
      -o "$qdir/resnet20.int8.onnx" >&2
  fi
  if [[ ! -f "$qdir/calib.npy" ]]; then
    "$build/bench/condense_dump_samples" "imagefolder:$data/cifar10-jpeg/cifar10-train-jpeg.tar.gz" \
      --count 1024 --normalize imagenet -o "$qdir/calib.npy" >&2
  fi
  args+=(--int8-model "$qdir/resnet20.int8.onnx" --calib-npy "$qdir/calib.npy" --data-dir "$data")
fi

exec /usr/bin/python3 "$root/bench/models/run_peers.py" --condense-bench "$build/bench/condense_model_bench" \
  --zoo-dir "$zoo" "${args[@]}"
