#!/usr/bin/env bash
# The 4096x4096 Gemm in fp32, dynamic int8, weight-only int4 (group 128) and weight-only int8
# (per channel), in condense and in ONNX Runtime, at batch 1 and 64, side by side: one command.
#
#   bench/models/lowbit_bench.sh [--threads 2] [--rounds 3] [--min-time 1] [--batches "1 64"]
#                                [--stat median|min]
#
# Writes the models into build/bench-models/lowbit/ (`condense zoo gemm4096`, then `condense
# quantize`), then, round after round, runs every (runtime, model) cell in turn as a fresh
# process (build/release/bench/condense_model_bench, bench/peers/ort_bench.js) and prints, per
# batch, the median over rounds of each cell's median (or fastest, --stat min) time and its
# speedup over condense fp32.
# ORT columns need bench/peers/node_modules (cd bench/peers && npm install --ignore-scripts), or
# ORT_BENCH=path/to/ort_bench.js of a checkout that has them.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
build="${CONDENSE_BUILD_DIR:-$root/build/release}"
threads=2 rounds=3 min_time=1 batches="1 64" stat=median
while [[ $# -gt 0 ]]; do
  case "$1" in
    --threads) threads="$2"; shift 2 ;;
    --rounds) rounds="$2"; shift 2 ;;
    --min-time) min_time="$2"; shift 2 ;;
    --batches) batches="$2"; shift 2 ;;
    --stat) stat="$2"; shift 2 ;;
    -h|--help) sed -n '2,13p' "${BASH_SOURCE[0]}"; exit 0 ;;
    *) echo "error: unknown option $1" >&2; exit 1 ;;
  esac
done
[[ $stat == median || $stat == min ]] || { echo "error: --stat must be median or min" >&2; exit 1; }

cmake --build "$build" -j2 --target condense_cli condense_model_bench >/dev/null
dir="$root/build/bench-models/lowbit"
mkdir -p "$dir"
cli="$build/condense"
[[ -f "$dir/fp32.onnx" ]] || "$cli" zoo gemm4096 -o "$dir/fp32.onnx" --batch-dim dynamic >&2
[[ -f "$dir/dyn8.onnx" ]] || "$cli" quantize "$dir/fp32.onnx" --mode dynamic -o "$dir/dyn8.onnx" >&2
[[ -f "$dir/w4g128.onnx" ]] ||
  "$cli" quantize "$dir/fp32.onnx" --mode weight-only --bits 4 --group 128 -o "$dir/w4g128.onnx" >&2
[[ -f "$dir/w8.onnx" ]] || "$cli" quantize "$dir/fp32.onnx" --mode weight-only --bits 8 -o "$dir/w8.onnx" >&2

models="fp32 dyn8 w4g128 w8"
ort_bench="${ORT_BENCH:-$root/bench/peers/ort_bench.js}"
have_ort=0
[[ -d "$(dirname "$ort_bench")/node_modules/onnxruntime-node" ]] && have_ort=1
results="$(mktemp)"
trap 'rm -f "$results"' EXIT

median() { sort -g | awk '{a[NR]=$1} END {if (NR == 0) print "nan"; else print (NR % 2 ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2)}'; }
field() { sed -n "s/.*\"$1\": *\([0-9.eE+-]*\).*/\1/p"; }

for b in $batches; do
  for ((r = 0; r < rounds; ++r)); do
    for m in $models; do
      t=$(OMP_WAIT_POLICY=PASSIVE "$build/bench/condense_model_bench" "$dir/$m.onnx" --batch "$b" \
            --threads "$threads" --min-time "$min_time" | field "${stat}_ms")
      echo "$b condense $m ${t:-nan}" >>"$results"
      if [[ $have_ort == 1 ]]; then
        t=$(node "$ort_bench" "$dir/$m.onnx" --batch "$b" --threads "$threads" \
              --min-time "$min_time" 2>/dev/null | field "${stat}_ms" || true)
        echo "$b ort $m ${t:-nan}" >>"$results"
      fi
    done
  done
done

echo "load: $(uptime | sed 's/.*load average: //')  threads: $threads  rounds: $rounds  stat: $stat"
echo
echo "| batch | model | condense ms | speedup vs condense fp32 | ORT ms | condense / ORT speed |"
echo "|---|---|---|---|---|---|"
for b in $batches; do
  base=$(awk -v b="$b" '$1 == b && $2 == "condense" && $3 == "fp32" {print $4}' "$results" | median)
  for m in $models; do
    c=$(awk -v b="$b" -v m="$m" '$1 == b && $2 == "condense" && $3 == m {print $4}' "$results" | median)
    o=$(awk -v b="$b" -v m="$m" '$1 == b && $2 == "ort" && $3 == m {print $4}' "$results" | median)
    awk -v b="$b" -v m="$m" -v c="$c" -v o="$o" -v base="$base" 'BEGIN {
      printf "| %s | %s | %.3f | %.2fx | %s | %s |\n", b, m, c, base / c,
        (o == "nan" ? "-" : sprintf("%.3f", o)), (o == "nan" ? "-" : sprintf("%.2fx", o / c)) }'
  done
done
