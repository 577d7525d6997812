#!/usr/bin/env bash
# condense vs ONNX Runtime vs PyTorch on the same models, threads and batch: one command.
#
#   bench/models/run_peers.sh [--threads 2] [--quick] [--rounds R] [--out results.md]
#                             [--only resnet20,mlp] [--runtimes condense,ort,torch-eager,torch-jit]
#                             [--models-from torch|condense]
#
# Builds the timing binary (build/release, target condense_model_bench), writes the zoo models
# (mlp, lenet5, gemm4096) into build/bench-models with PyTorch (or with `condense zoo` when
# --models-from condense), then runs bench/models/run_peers.py, which prints the table.
# Needs: /usr/bin/python3 with torch, node, and bench/peers/node_modules
# (cd bench/peers && npm install --ignore-scripts). See bench/README.md.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
build="${CONDENSE_BUILD_DIR:-$root/build/release}"
models_from=torch
args=()
while [[ $# -gt 0 ]]; do
  case "$1" in
    --models-from) models_from="$2"; shift 2 ;;
    -h|--help) sed -n '2,12p' "${BASH_SOURCE[0]}"; exec /usr/bin/python3 "$root/bench/models/run_peers.py" --help ;;
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

exec /usr/bin/python3 "$root/bench/models/run_peers.py" --condense-bench "$build/bench/condense_model_bench" \
  --zoo-dir "$zoo" "${args[@]}"
