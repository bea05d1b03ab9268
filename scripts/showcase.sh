#!/usr/bin/env bash
# Installs what is missing, builds xcoro in Release and runs the showcase: zigcoro's
# benchmark (context switch, many coroutines) beside Boost.Context, then the micro suite.
# About 3 minutes. Usage: scripts/showcase.sh [--full]
#   --full  also runs the full-length case: 1,000,000 coroutines for 1,000 rounds.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/deps.sh
build=build/release
cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release \
  -DXCORO_BUILD_TESTS=OFF -DXCORO_BUILD_BENCHMARKS=ON -DXCORO_BUILD_EXAMPLES=ON
cmake --build "$build"

bench="$build/bench"
echo "== xcoro-bench --context_switch (zigcoro's benchmark, 4 KiB stack)"
"$bench/xcoro-bench" --context_switch
echo
echo "== xcoro-bench --ncoros 100_000 (zigcoro's benchmark, 4 KiB stacks)"
"$bench/xcoro-bench" --ncoros 100_000 --rounds 200
if [ "${1:-}" = "--full" ]; then
  echo
  echo "== xcoro-bench --ncoros 1_000_000 (1,000 rounds)"
  "$bench/xcoro-bench" --ncoros 1_000_000
fi
echo
echo "== xcoro-micro (Google Benchmark, with Boost.Context peers)"
"$bench/xcoro-micro" --benchmark_min_time=0.3
