#!/usr/bin/env bash
# The test command (README, .ci/run): installs what is missing, builds with warnings as errors,
# runs every ctest label, then the unit and kernel tests again under ASan+UBSan, then a bounded
# fuzzing run. Set CONDENSE_SKIP_SANITIZE=1 / CONDENSE_SKIP_FUZZ=1 to skip those stages locally.
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
  echo "== unit and kernel tests under AddressSanitizer + UndefinedBehaviorSanitizer"
  cmake --preset asan >/dev/null
  cmake --build build/asan -j"$jobs" --target condense_unit_tests condense_kernels_tests
  (cd build/asan && ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 \
    ctest --output-on-failure -L 'unit|kernels' -j"$jobs")
fi

if [ "${CONDENSE_SKIP_FUZZ:-0}" != 1 ] && [ -f scripts/fuzz.sh ]; then
  echo "== fuzzing (bounded)"
  bash scripts/fuzz.sh "${FUZZ_SECONDS:-30}"
fi
echo "== all tests passed"
