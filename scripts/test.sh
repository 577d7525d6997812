#!/usr/bin/env bash
# The test command (README, .ci/run): installs what is missing, builds with warnings as errors,
# runs every ctest label, then the unit, kernel and grad tests again under ASan+UBSan (clang-14), then
# a bounded fuzzing run in that same build. CONDENSE_SKIP_SANITIZE=1 skips both sanitizer stages,
# CONDENSE_SKIP_FUZZ=1 only the fuzzing.
set -euo pipefail
cd "$(dirname "$0")/.."
jobs=$(nproc)

bash scripts/setup.sh

echo "== build (preset ci: release, -Werror)"
cmake --preset ci >/dev/null
cmake --build build/ci -j"$jobs"

echo "== tests (unit, kernels, conformance, models, interop, cli)"
(cd build/ci && ctest --output-on-failure -j1 --timeout 1500)

if [ "${CONDENSE_SKIP_SANITIZE:-0}" != 1 ]; then
  # One clang-14 build with ASan + UBSan (+ libFuzzer coverage) serves both stages below.
  echo "== unit, kernel, grad and fuzz-replay tests under AddressSanitizer + UndefinedBehaviorSanitizer"
  cmake --preset fuzz >/dev/null
  cmake --build build/fuzz -j"$jobs" --target condense_unit_tests condense_kernels_tests \
    condense_grad_tests condense_fuzz_replay fuzz_onnx_import fuzz_npy fuzz_make_seeds
  (cd build/fuzz && ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 \
    ctest --output-on-failure -L 'unit|kernels|grad|fuzz' -j"$jobs")
  if [ "${CONDENSE_SKIP_FUZZ:-0}" != 1 ]; then
    echo "== fuzzing (bounded)"
    bash scripts/fuzz.sh "${FUZZ_SECONDS:-30}"
  fi
fi
echo "== all tests passed"
