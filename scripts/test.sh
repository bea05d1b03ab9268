#!/usr/bin/env bash
# Installs what is missing, builds xcoro with its tests (optimised, debug checks on,
# warnings as errors) and runs the whole test suite through ctest.
# Usage: scripts/test.sh [build-dir]
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/deps.sh gdb python3   # gdb: the gdb extension's test; python3: the README check
build=${1:-build/test}
cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DXCORO_DEBUG_CHECKS=ON -DXCORO_WARNINGS_AS_ERRORS=ON \
  -DXCORO_BUILD_TESTS=ON -DXCORO_BUILD_BENCHMARKS=ON -DXCORO_BUILD_EXAMPLES=ON
cmake --build "$build"
ctest --test-dir "$build" --output-on-failure -j "$(nproc)"
