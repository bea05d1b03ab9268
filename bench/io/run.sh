#!/usr/bin/env bash
# Runs the async IO benchmarks of bench/io and prints medians and ratios:
#   1. TCP echo ping-pong (64 B and 512 B messages; 1, 64 and 1000 connections), one
#      neutral load generator (echo_client) against each single-threaded server: xcoro
#      (io_uring, and its epoll backend), a hand-written io_uring loop, a hand-written epoll
#      loop, boost::asio::spawn and Go (GOMAXPROCS=1). Server on core 0, client on core 1.
#   2. HTTP hello under wrk (-t1 -c64): examples/http_hello beside the Go peer.
#   3. libuv's million_timers and ping_pongs, ported to xcoro, each beside the same program
#      in Go (bench/peers/timers.go, pingpongs.go; GOMAXPROCS=1), and the ratio.
# The server's CPU use is printed beside each rate: on two cores the single-threaded client
# is often the limit (client cpu near 100%), and then msgs per server CPU-second (the rate
# over the server's busy share) compares the servers' cost better than the rate does.
# Servers run interleaved, round after round, so that a noisy neighbour hits them all alike,
# and in a rotating order.
# Programs that were not built (no Boost.Coroutine, no go) or tools that are missing (wrk)
# are skipped with a message. All traffic is on 127.0.0.1.
#
# Usage: bench/io/run.sh [--quick|--full] [--baseline DIR] [--echo-only] [--threads N]
#                        [BUILD_DIR]
#   (BUILD_DIR: build/release)
#   --quick  1 s per echo case, one round, wrk 3 s: about 70 s (the showcase uses this)
#   default  3 s per echo case, three rounds, wrk 5 s: about 6 minutes
#   --full   10 s per echo case, three rounds, wrk 10 s: about 18 minutes
#   --baseline DIR  also runs DIR/bench/io/echo_xcoro (an older build) as "xcoro-base",
#            interleaved with the others, and prints xcoro/xcoro-base per case
#   --echo-only  only the TCP echo cases
#   --floor  only the TCP echo cases, against the hand-written io_uring loop with each of
#            the io_uring features that could lower the floor itself (echo_uring's
#            --register-ring, --fixed-files, --multishot, and all three), beside the epoll
#            loop and xcoro; prints each one's rate and CPU cost over the plain loop's
#   --threads N  only TCP echo (64 B; 64 and 1000 connections) with N-thread servers: xcoro
#            on an N-worker runtime (one listener per worker, SO_REUSEPORT), xcoro on one
#            worker, Go with GOMAXPROCS=N and the Tokio peer with N workers (when built:
#            found under BUILD_DIR, or $XCORO_TOKIO_ECHO); servers and client unpinned on
#            the first N cores; msgs/s and server CPU per message (count.sh --cpu --spread),
#            and the ratios against their targets
set -euo pipefail

mode=default
build=""
baseline=""
echo_only=0
floor=0
threads=""
while [ $# -gt 0 ]; do
  case "$1" in
    --quick) mode=quick ;;
    --full) mode=full ;;
    --baseline) shift; baseline="${1:?--baseline needs a build directory}" ;;
    --echo-only) echo_only=1 ;;
    --floor) floor=1; echo_only=1 ;;
    --threads) shift; threads="${1:?--threads needs a worker count}"
      [[ "$threads" =~ ^[0-9]+$ ]] && [ "$threads" -ge 2 ] ||
        { echo "run.sh: --threads needs a count of at least 2" >&2; exit 2; } ;;
    -h|--help) sed -n '2,/^set -euo/p' "$0" | grep '^#' | cut -c3-; exit 0 ;;
    -*) echo "run.sh: unknown option $1" >&2; exit 2 ;;
    *) build="$1" ;;
  esac
  shift
done
root="$(cd "$(dirname "$0")/../.." && pwd)"
build="${build:-$root/build/release}"
io="$build/bench/io"
if [ ! -x "$io/echo_client" ]; then
  echo "run.sh: $io/echo_client not found; build with -DXCORO_BUILD_BENCHMARKS=ON first" >&2
  exit 2
fi

case "$mode" in
  quick) secs=1; warm=0.25; rounds=1; wrk_secs=3; pp_secs=1 ;;
  full) secs=10; warm=1; rounds=3; wrk_secs=10; pp_secs=5 ;;
  *) secs=3; warm=0.5; rounds=3; wrk_secs=5; pp_secs=3 ;;
esac

# 1,000 connections need more descriptors than the usual soft limit of 1,024.
ulimit -n 8192 2>/dev/null || ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
server_core=0
client_core=1
if [ -n "$threads" ]; then
  if [ "$(nproc)" -lt "$threads" ]; then
    echo "run.sh: --threads $threads needs $threads CPUs; this machine has $(nproc)" >&2
    exit 2
  fi
  # Servers and the load generator share the first N cores: pinning the client to a core
  # of its own would leave the N-worker server fewer than N.
  server_core="0-$((threads - 1))"
  client_core=$server_core
elif [ "$(nproc)" -lt 2 ]; then
  client_core=0
  echo "run.sh: one CPU only; server and client share it"
fi

cpu_model=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')
echo "cpu: $cpu_model, cores: $(nproc)," \
  "kernel: $(uname -r), load average: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "mode: $mode ($secs s per echo case after $warm s warm-up, $rounds round(s), medians)"

failures=0
port=$((20000 + $$ % 20000))
server_pid=""
trap '[ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null || true' EXIT

# start_server NAME: starts server NAME on a fresh port, pinned to the server core, and waits
# until it accepts connections. Sets server_pid and port. Returns 1 if it never listens.
start_server() {
  local name="$1" attempt
  for attempt in 1 2 3; do
    port=$((port + 1))
    case "$name" in
      xcoro) XCORO_BACKEND=io_uring taskset -c $server_core "$io/echo_xcoro" $port & ;;
      xcoro-base) XCORO_BACKEND=io_uring taskset -c $server_core \
                    "$baseline/bench/io/echo_xcoro" $port & ;;
      xcoro-epoll) XCORO_BACKEND=epoll taskset -c $server_core "$io/echo_xcoro" $port & ;;
      xcoro-nospin) XCORO_BACKEND=io_uring XCORO_BUSY_POLL_US=0 taskset -c $server_core \
                      "$io/echo_xcoro" $port & ;;
      uring) taskset -c $server_core "$io/echo_uring" $port & ;;
      uring-reg) taskset -c $server_core "$io/echo_uring" $port --register-ring & ;;
      uring-fixed) taskset -c $server_core "$io/echo_uring" $port --fixed-files & ;;
      uring-ms) taskset -c $server_core "$io/echo_uring" $port --multishot & ;;
      uring-all) taskset -c $server_core "$io/echo_uring" $port --register-ring --fixed-files \
                   --multishot & ;;
      epoll) taskset -c $server_core "$io/echo_epoll" $port & ;;
      asio) taskset -c $server_core "$io/echo_asio" $port & ;;
      go) GOMAXPROCS=1 taskset -c $server_core "$io/xcoro-go-echo" -port $port & ;;
      xcoro-w1) XCORO_BACKEND=io_uring taskset -c $server_core "$io/echo_xcoro" $port \
                  --runtime & ;;
      xcoro-w*-nospin) XCORO_BACKEND=io_uring XCORO_BUSY_POLL_US=0 taskset -c $server_core \
                         "$io/echo_xcoro" $port --threads "$threads" & ;;
      xcoro-w*) XCORO_BACKEND=io_uring taskset -c $server_core "$io/echo_xcoro" $port \
                  --threads "$threads" & ;;
      go-*) taskset -c $server_core "$io/xcoro-go-echo" -port $port -procs "$threads" & ;;
      tokio-*) taskset -c $server_core "$tokio" --port $port --threads "$threads" & ;;
      http-xcoro) XCORO_BACKEND=io_uring taskset -c $server_core "$build/examples/http_hello" \
                    $port >/dev/null & ;;
      http-go) GOMAXPROCS=1 taskset -c $server_core "$io/xcoro-go-echo" -http -port $port & ;;
    esac
    server_pid=$!
    local i
    for i in $(seq 50); do
      if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
        return 0
      fi
      if ! kill -0 "$server_pid" 2>/dev/null; then
        break  # it exited (port taken?): try the next port
      fi
      sleep 0.1
    done
    stop_server
  done
  return 1
}

stop_server() {
  if [ -n "$server_pid" ]; then
    kill "$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
    server_pid=""
  fi
}

# CPU ticks (user + system) the server has used so far.
server_ticks() {
  awk '{print $14 + $15}' "/proc/$server_pid/stat" 2>/dev/null || echo 0
}

median() {
  sort -g | awk '{v[NR] = $1} END {
    if (NR == 0) { print 0 } else if (NR % 2) { print v[(NR + 1) / 2] }
    else { print (v[NR / 2] + v[NR / 2 + 1]) / 2 } }'
}

# The whitespace-separated values in $1, one a line.
values() {
  tr ' ' '\n' <<<"$1" | grep . || true
}

ratio() {
  awk -v a="$1" -v b="$2" 'BEGIN { if (a > 0 && b > 0) printf "%.2f", a / b; else printf "n/a" }'
}

# Which echo servers this build has.
# xcoro is the default server, whose loop busy-polls adaptively (up to 50 us before a sleep,
# while its sleeps stay short); xcoro-nospin is the same server with busy polling off
# (XCORO_BUSY_POLL_US=0), as the hand-written loops, asio and Go run.
servers=(xcoro xcoro-nospin xcoro-epoll uring epoll)
if [ -n "$baseline" ]; then
  if [ ! -x "$baseline/bench/io/echo_xcoro" ]; then
    echo "run.sh: $baseline/bench/io/echo_xcoro not found" >&2
    exit 2
  fi
  servers+=(xcoro-base)
fi
if [ $floor = 1 ]; then
  servers=(xcoro uring uring-reg uring-fixed uring-ms uring-all epoll ${baseline:+xcoro-base})
else
  [ -x "$io/echo_asio" ] && servers+=(asio) ||
    echo "asio peer not built (Boost.Coroutine missing); skipped"
  [ -x "$io/xcoro-go-echo" ] && servers+=(go) || echo "Go peer not built (go missing); skipped"
fi
hz=$(getconf CLK_TCK)

# echo_case CONNECTIONS SIZE: one echo case, $rounds rounds over every server in "${servers[@]}",
# adding each run's figures to rate, p50, ccpu and cpu (server CPU, % of one core) under
# the server's name. Reads case_no.
echo_case() {
  local conns="$1" size="$2" round i s out t0 t1 r l c order
  for round in $(seq "$rounds"); do
    # Each round of each case starts at a different server, so that none always runs
    # first (right after the previous case's connections closed) or last.
    order=()
    for i in "${!servers[@]}"; do
      order+=("${servers[$(( (i + case_no + round) % ${#servers[@]} ))]}")
    done
    for s in "${order[@]}"; do
      if ! start_server "$s"; then
        echo "  $s did not start; skipped"
        [[ "$s" == xcoro* ]] && failures=$((failures + 1))
        continue
      fi
      t0=$(server_ticks)
      if out=$(taskset -c $client_core "$io/echo_client" "127.0.0.1:$port" "$conns" "$size" \
               "$secs" "$warm"); then
        t1=$(server_ticks)
        read -r r l _ c <<<"$out"
        rate[$s]+="$r "
        p50[$s]+="$l "
        ccpu[$s]+="$c "
        cpu[$s]+="$(awk -v d=$((t1 - t0)) -v hz="$hz" -v s="$secs" -v w="$warm" \
                    'BEGIN { printf "%.0f", 100 * d / hz / (s + w) }') "
      else
        echo "  echo_client against $s failed (round $round)"
        [[ "$s" == xcoro* ]] && failures=$((failures + 1))
      fi
      stop_server
    done
  done
}

# run.sh --threads N: the echo cases with N-thread servers, then exit.
if [ -n "$threads" ]; then
  tokio="${XCORO_TOKIO_ECHO:-$(find "$build" -path '*tokio*release/echo' -type f -perm -u+x \
                               2>/dev/null | head -1)}"
  servers=("xcoro-w$threads" xcoro-w1 "xcoro-w$threads-nospin")
  [ -x "$io/xcoro-go-echo" ] && servers+=("go-$threads") ||
    echo "Go peer not built (go missing); skipped"
  if [ -n "$tokio" ] && [ -x "$tokio" ]; then
    servers+=("tokio-$threads")
  else
    echo "Tokio echo peer not found under $build (bench/peers/tokio, built by CMake when" \
      "cargo and Debian's librust-tokio-dev are there; or set XCORO_TOKIO_ECHO); skipped"
  fi
  case "$mode" in
    quick) cpu_msgs=50000; cpu_rounds=3 ;;
    full) cpu_msgs=400000; cpu_rounds=5 ;;
    *) cpu_msgs=200000; cpu_rounds=5 ;;
  esac
  w="xcoro-w$threads"
  echo
  echo "== TCP echo, 64 B messages, $threads-thread servers: messages/s (closed loop)"
  echo "   $w: xcoro on a $threads-worker runtime, one SO_REUSEPORT listener per worker;"
  echo "   xcoro-w1: on one worker; $w-nospin: $w with busy polling off;"
  echo "   go-$threads: GOMAXPROCS=$threads; tokio-$threads: the multi_thread runtime, $threads workers."
  echo "   Every server and the (single-threaded) load generator run unpinned on cores" \
    "$server_core:"
  echo "   the client competes with the server for the same $threads cores, so msgs/s cannot"
  echo "   scale with the workers; server CPU per message (count.sh --cpu --spread, median of"
  echo "   $cpu_rounds runs of $cpu_msgs messages) is the honest scaling figure."
  case_no=0
  for conns in 64 1000; do
    declare -A rate=() p50=() cpu=() ccpu=() med=() per_msg=()
    case_no=$((case_no + 1))
    echo_case "$conns" 64
    for s in "${servers[@]}"; do
      out=$(bash "$root/bench/io/count.sh" --cpu --spread "$build" "$s" "$conns" 64 0 \
              "$cpu_msgs" "$cpu_rounds") || { echo "  count.sh --cpu $s failed"; continue; }
      per_msg[$s]=$(awk '{ print $3 }' <<<"$out")
    done
    echo
    echo "-- 64 B messages, $conns connections (load average $(cut -d' ' -f1-3 /proc/loadavg))"
    printf "  %-16s %10s %8s %11s %11s %18s\n" server "msgs/s" "p50 us" "server cpu" \
      "client cpu" "server ns CPU/msg"
    for s in "${servers[@]}"; do
      med[$s]=$(values "${rate[$s]:-}" | median)
      printf "  %-16s %10.0f %8.0f %10.0f%% %10.0f%% %18s\n" "$s" "${med[$s]}" \
        "$(values "${p50[$s]:-}" | median)" "$(values "${cpu[$s]:-}" | median)" \
        "$(values "${ccpu[$s]:-}" | median)" "${per_msg[$s]:-n/a}"
    done
    # target NAME VALUE LIMIT [le]: "NAME VALUE (target >= LIMIT: met|MISSED)".
    target() {
      awk -v n="$1" -v v="$2" -v t="$3" -v le="${4:-}" 'BEGIN {
        if (v == "n/a") { printf "  %-40s %6s\n", n, v; exit }
        ok = (le != "") ? (v <= t) : (v >= t)
        printf "  %-40s %6s (target %s %s: %s)\n", n, v, (le != "" ? "<=" : ">="), t,
               ok ? "met" : "MISSED" }'
    }
    target "msgs/s $w / go-$threads" "$(ratio "${med[$w]}" "${med[go-$threads]:-0}")" 1.2
    target "msgs/s $w / tokio-$threads" "$(ratio "${med[$w]}" "${med[tokio-$threads]:-0}")" 1.1
    target "server CPU/msg $w / xcoro-w1" \
      "$(ratio "${per_msg[$w]:-0}" "${per_msg[xcoro-w1]:-0}")" 1.1 le
    echo "  (also: msgs/s $w / xcoro-w1 $(ratio "${med[$w]}" "${med[xcoro-w1]}")," \
      "CPU/msg $w / go-$threads $(ratio "${per_msg[$w]:-0}" "${per_msg[go-$threads]:-0}")," \
      "CPU/msg $w / tokio-$threads $(ratio "${per_msg[$w]:-0}" "${per_msg[tokio-$threads]:-0}"))"
    unset rate p50 cpu ccpu med per_msg
  done
  [ "$failures" -gt 0 ] && { echo "run.sh: $failures xcoro measurement(s) failed" >&2; exit 1; }
  exit 0
fi

declare -A rate p50 cpu ccpu
case_no=0
echo
echo "== TCP echo ping-pong: messages/s (closed loop, one message in flight per connection)"
for size in 64 512; do
  for conns in 1 64 1000; do
    key="$size/$conns"
    for s in "${servers[@]}"; do
      rate[$s]=""; p50[$s]=""; cpu[$s]=""; ccpu[$s]=""
    done
    case_no=$((case_no + 1))
    echo_case "$conns" "$size"
    echo
    echo "-- $size B messages, $conns connection(s)"
    printf "  %-12s %10s %8s %11s %11s %16s\n" server "msgs/s" "p50 us" "server cpu" \
      "client cpu" "msgs/server-cpu-s"
    declare -A med=() per_cpu=()
    for s in "${servers[@]}"; do
      med[$s]=$(values "${rate[$s]}" | median)
      scpu=$(values "${cpu[$s]}" | median)
      per_cpu[$s]=$(awk -v r="${med[$s]}" -v c="$scpu" 'BEGIN { if (c > 0) printf "%.0f", r * 100 / c;
                                                                 else printf "0" }')
      printf "  %-12s %10.0f %8.0f %10.0f%% %10.0f%% %16s\n" "$s" "${med[$s]}" \
        "$(values "${p50[$s]}" | median)" "$scpu" "$(values "${ccpu[$s]}" | median)" \
        "${per_cpu[$s]}"
    done
    if [ $floor = 1 ]; then
      echo "  over the plain uring loop (rate, msgs/server-cpu-s):"
      for s in uring-reg uring-fixed uring-ms uring-all epoll xcoro; do
        printf "    %-12s %s %s\n" "$s" "$(ratio "${med[$s]}" "${med[uring]}")" \
          "$(ratio "${per_cpu[$s]}" "${per_cpu[uring]}")"
      done
      unset med per_cpu
      continue
    fi
    best_hand=$(awk -v a="${med[uring]}" -v b="${med[epoll]}" 'BEGIN { print (a > b ? a : b) }')
    echo "  xcoro/max(uring,epoll) $(ratio "${med[xcoro]}" "$best_hand")" \
      " xcoro/asio $(ratio "${med[xcoro]}" "${med[asio]:-0}")" \
      " xcoro/go $(ratio "${med[xcoro]}" "${med[go]:-0}")" \
      " xcoro-epoll/epoll $(ratio "${med[xcoro-epoll]}" "${med[epoll]}")"
    echo "  no busy polling: xcoro-nospin/max(uring,epoll)" \
      "$(ratio "${med[xcoro-nospin]}" "$best_hand")" \
      " xcoro-nospin/asio $(ratio "${med[xcoro-nospin]}" "${med[asio]:-0}")" \
      " xcoro-nospin/go $(ratio "${med[xcoro-nospin]}" "${med[go]:-0}")"
    if [ -n "$baseline" ]; then
      echo "  xcoro/xcoro-base $(ratio "${med[xcoro]}" "${med[xcoro-base]}")"
    fi
    unset med per_cpu
  done
done

if [ $echo_only = 1 ]; then
  [ "$failures" -gt 0 ] && { echo "run.sh: $failures xcoro measurement(s) failed" >&2; exit 1; }
  exit 0
fi

echo
echo "== HTTP hello under wrk -t1 -c64 -d${wrk_secs}s (requests/s)"
if ! command -v wrk >/dev/null; then
  echo "wrk not found (apt-get install wrk); skipped"
elif [ ! -x "$build/examples/http_hello" ]; then
  echo "$build/examples/http_hello not built (XCORO_BUILD_EXAMPLES=OFF); skipped"
else
  http_servers=(http-xcoro)
  [ -x "$io/xcoro-go-echo" ] && http_servers+=(http-go)
  declare -A reqs=()
  for round in $(seq "$rounds"); do
    for s in "${http_servers[@]}"; do
      if ! start_server "$s"; then
        echo "  $s did not start; skipped"
        continue
      fi
      r=$(taskset -c $client_core wrk -t1 -c64 -d"${wrk_secs}s" "http://127.0.0.1:$port/" |
          awk '/^Requests\/sec:/ {print $2}')
      reqs[$s]+="${r:-0} "
      stop_server
    done
  done
  declare -A hmed=()
  for s in "${http_servers[@]}"; do
    hmed[$s]=$(values "${reqs[$s]:-}" | median)
    printf "  %-12s %12.0f requests/s\n" "${s#http-}" "${hmed[$s]}"
  done
  [ -n "${hmed[http-go]:-}" ] && echo "  xcoro/go $(ratio "${hmed[http-xcoro]}" "${hmed[http-go]}")"
  if [ "${hmed[http-xcoro]%.*}" -le 0 ]; then
    failures=$((failures + 1))
  fi
fi

# The number just before the last "$1" (a unit such as timers/s) in standard input.
rate_of() {
  grep -o "[0-9.]* $1" | tail -1 | cut -d' ' -f1
}

echo
echo "== million_timers (libuv), one thread on core $server_core, beside Go"
declare -A tmed=()
for s in xcoro go; do
  runs=""
  for round in $(seq "$rounds"); do
    if [ $s = xcoro ]; then
      out=$(taskset -c $server_core "$io/million_timers" 1000000) || {
        failures=$((failures + 1)); continue; }
    elif [ -x "$io/xcoro-go-timers" ]; then
      out=$(GOMAXPROCS=1 taskset -c $server_core "$io/xcoro-go-timers" 1000000) || continue
    else
      continue
    fi
    [ "$round" = 1 ] && printf '%s\n' "$out"
    runs+="$(rate_of "timers/s" <<<"$out") "
  done
  tmed[$s]=$(values "$runs" | median)
done
[ -x "$io/xcoro-go-timers" ] || echo "Go peer not built (go missing); skipped"
echo "  median timers/s over $rounds run(s): xcoro ${tmed[xcoro]}, go ${tmed[go]}," \
  "xcoro/go $(ratio "${tmed[xcoro]}" "${tmed[go]}")"

echo
echo "== ping_pongs (libuv/libxev), client and server on one thread, core $server_core," \
  "beside Go"
for pairs in 1 64; do
  declare -A pmed=()
  for s in xcoro go; do
    runs=""
    for round in $(seq "$rounds"); do
      if [ $s = xcoro ]; then
        out=$(taskset -c $server_core "$io/ping_pongs" $pairs "$pp_secs") || {
          failures=$((failures + 1)); continue; }
      elif [ -x "$io/xcoro-go-pingpongs" ]; then
        out=$(GOMAXPROCS=1 taskset -c $server_core "$io/xcoro-go-pingpongs" $pairs "$pp_secs") ||
          continue
      else
        continue
      fi
      printf '  %s\n' "$out"
      runs+="$(rate_of "round trips/s" <<<"$out") "
    done
    pmed[$s]=$(values "$runs" | median)
  done
  echo "  $pairs pair(s), median round trips/s: xcoro ${pmed[xcoro]}, go ${pmed[go]}," \
    "xcoro/go $(ratio "${pmed[xcoro]}" "${pmed[go]}")"
  unset pmed
done

if [ "$failures" -gt 0 ]; then
  echo "run.sh: $failures xcoro measurement(s) failed" >&2
  exit 1
fi
