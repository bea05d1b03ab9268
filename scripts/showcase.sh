#!/usr/bin/env bash
# Installs what is missing, builds xcoro in Release and runs the showcase: zigcoro's
# benchmark (context switch, many coroutines) beside Boost.Context, then the micro suite,
# then channels (ping-pong, 10^3..10^6 coroutines on one channel, xawait_all) beside
# Boost.Fiber and Go, then cancellation (cancel latency beside a plain wake-up and
# aio::cancel; task_group spawns beside xasync and Boost.Fiber), then messages between
# the workers of a runtime (ping-pong, wake-up latency) beside Boost.Fiber and Go, then
# skynet (10^6 coroutines in a tree on a runtime) beside Go, Tokio and Boost.Fiber, then lines
# read through a pipe (aio::buffered_reader beside a read(2) loop), then async IO
# (bench/io/run.sh --quick: TCP echo beside hand-written io_uring/epoll loops, asio and
# Go; HTTP under wrk; million_timers and ping_pongs beside Go; bench/io/https.sh --quick:
# HTTPS hello under wrk beside Go's crypto/tls and net/http). Every figure is printed
# beside the same-run figure of its peer and the ratio. About five minutes on 2 vCPUs (one
# of them building) plus skynet's (a minute and a half at a load average of 1), and 10 GiB
# of memory at the peak (skynet's million Boost.Fiber fibers; 4 GiB before it).
# Usage: scripts/showcase.sh [--full]
# (XCORO_SHOWCASE_BUILD=DIR builds and runs in DIR instead of build/release.)
#   --full  also runs the full-length case: 1,000,000 coroutines for 1,000 rounds
#           (about 3 more minutes, no more memory than the peak above).
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/deps.sh
build="${XCORO_SHOWCASE_BUILD:-build/release}"  # another build directory, if set
cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release \
  -DXCORO_BUILD_TESTS=OFF -DXCORO_BUILD_BENCHMARKS=ON -DXCORO_BUILD_EXAMPLES=ON
cmake --build "$build"

bench="$build/bench"
grep -m1 "model name" /proc/cpuinfo || true
echo "cores: $(nproc), kernel: $(uname -r)"
echo
echo "== xcoro-bench --context_switch (zigcoro's benchmark, 4 KiB stack, 5 runs each)"
"$bench/xcoro-bench" --context_switch --repeat 5
echo
echo "== xcoro-bench --ncoros 100_000 (zigcoro's benchmark, 4 KiB stacks, 1,000 rounds;"
echo "   a summary of the batches; --per-batch prints each batch's line)"
"$bench/xcoro-bench" --ncoros 100_000
if [ "${1:-}" = "--full" ]; then
  echo
  echo "== xcoro-bench --ncoros 1_000_000 (1,000 rounds)"
  "$bench/xcoro-bench" --ncoros 1_000_000
fi
echo
echo "== xcoro-micro (Google Benchmark, with Boost.Context peers)"
echo "   (a \"Library was built as DEBUG\" warning below is about Debian's libbenchmark"
echo "   package, which is built that way; xcoro and these benchmarks are built with -O2)"
"$bench/xcoro-micro" --benchmark_min_time=0.3 --benchmark_repetitions=5 \
  --benchmark_report_aggregates_only=true
echo
if [ -x "$bench/xcoro-channel-bench" ]; then
  echo "== xcoro-channel-bench (channels beside Boost.Fiber and Go, one OS thread)"
  "$bench/xcoro-channel-bench"
else
  echo "== xcoro-channel-bench was not built (Boost.Fiber missing); skipped"
fi
echo
if [ -x "$bench/xcoro-scope-bench" ]; then
  echo "== xcoro-scope-bench (cancel latency beside wake-ups and aio::cancel; task_group"
  echo "   spawns beside xasync and Boost.Fiber; one OS thread)"
  "$bench/xcoro-scope-bench"
else
  echo "== xcoro-scope-bench was not built (Boost.Fiber missing); skipped"
fi
echo
if [ -x "$bench/xcoro-runtime-bench" ]; then
  echo "== xcoro-runtime-bench (messages between the 2 workers of a runtime: ping-pong and a"
  echo "   parked worker's wake-up latency, beside Boost.Fiber on 2 threads and Go, GOMAXPROCS=2)"
  "$bench/xcoro-runtime-bench" --samples 5000
else
  echo "== xcoro-runtime-bench was not built (Boost.Fiber missing); skipped"
fi
echo
if [ -x "$bench/xcoro-skynet-bench" ]; then
  echo "== xcoro-skynet-bench (10^6 coroutines in a tree of fan-out 10 on a runtime of 2 and"
  echo "   1 workers, beside Go, Tokio and Boost.Fiber's work_stealing on 2 threads)"
  "$bench/xcoro-skynet-bench"
else
  echo "== xcoro-skynet-bench was not built (Boost.Fiber missing); skipped"
fi
echo
if [ -x "$bench/c_api_bench" ]; then
  echo "== c_api_bench (the context switch and a channel ping-pong through the C API beside"
  echo "   the C++ API, alternating)"
  "$bench/c_api_bench"
  echo
fi

if [ -x "$bench/xcoro-line-bench" ]; then
  echo "== xcoro-line-bench (lines through a pipe: aio::buffered_reader::read_line beside a"
  echo "   read(2) + memchr loop, on io_uring and epoll)"
  "$bench/xcoro-line-bench" --mb 100 --repeat 5
  echo
fi

echo "== async IO (bench/io/run.sh --quick; bench/io/run.sh without --quick runs longer)"
bash bench/io/run.sh --quick "$build"
echo
echo "== HTTPS (bench/io/https.sh --quick; without --quick it runs longer)"
bash bench/io/https.sh --quick "$build"
