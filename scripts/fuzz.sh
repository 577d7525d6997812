#!/usr/bin/env bash
# Builds the libFuzzer targets (CMake preset `fuzz`: clang-14, ASan + UBSan) and runs each for a
# bounded time. Exits non-zero if any target finds a crash; the crashing input is left in
# build/fuzz/artifacts/<target>/ (copy it to tests/fuzz/regressions/<target>/ once fixed).
#
#   scripts/fuzz.sh            # 60 s per target
#   scripts/fuzz.sh 300        # 300 s per target
#   FUZZ_JOBS=2 scripts/fuzz.sh
set -euo pipefail

seconds="${1:-60}"
root="$(cd "$(dirname "$0")/.." && pwd)"
build="$root/build/fuzz"
testdata="${CONDENSE_ONNX_TESTDATA:-/usr/share/libonnx-testdata/data}"

cd "$root"
[ -f "$build/build.ninja" ] || cmake --preset fuzz >/dev/null
cmake --build "$build" -j "${FUZZ_JOBS:-2}" --target fuzz_onnx_import fuzz_npy fuzz_make_seeds

corpus="$build/corpus"
mkdir -p "$corpus/onnx" "$corpus/npy"
"$build/tests/fuzz/fuzz_make_seeds" "$corpus" >/dev/null
# Small ONNX node-test models make good seeds: many ops, attributes and initializers.
if [ -d "$testdata/node" ]; then
  for m in "$testdata"/node/*/model.onnx; do
    [ "$(stat -c %s "$m")" -le 4096 ] || continue
    cp -n "$m" "$corpus/onnx/$(basename "$(dirname "$m")").onnx"
  done
else
  echo "note: $testdata/node is absent; ONNX seeds are the generated ones only" >&2
fi
# Past crashes are seeds too.
for t in onnx npy; do
  [ -d "$root/tests/fuzz/regressions/$t" ] && cp -n "$root/tests/fuzz/regressions/$t"/* "$corpus/$t/" 2>/dev/null || true
done

status=0
for target in onnx_import npy; do
  dir="$corpus/${target%_import}"
  art="$build/artifacts/$target"
  mkdir -p "$art" "$build/corpus-new/$target"
  echo "== fuzz_$target for ${seconds}s (seeds: $(ls "$dir" | wc -l))"
  if ! "$build/tests/fuzz/fuzz_$target" "$build/corpus-new/$target" "$dir" \
      -max_total_time="$seconds" -max_len=65536 -rss_limit_mb=2048 -timeout=20 \
      -artifact_prefix="$art/" -print_final_stats=1 2>"$build/fuzz_$target.log"; then
    echo "CRASH in fuzz_$target: see $build/fuzz_$target.log and $art/" >&2
    grep -m3 -E "ERROR|SUMMARY|Check failed" "$build/fuzz_$target.log" >&2 || true
    status=1
  else
    grep -E "stat::number_of_executed_units|stat::peak_rss_mb" "$build/fuzz_$target.log" || true
  fi
done
exit $status
