#!/usr/bin/env bash
# Deterministic costs of the echo servers, for when wall-clock throughput is too noisy to
# compare (a shared machine): runs one server under callgrind (user-space instructions) or
# strace -c (system calls), drives it with echo_client -n for N1 and then N2 messages, and
# prints the difference divided by N2 - N1, so that start-up, accept and shutdown cancel out.
# Server and client are pinned to different cores, as in run.sh.
#
# Usage: bench/io/count.sh [--strace] BUILD_DIR SERVER CONNECTIONS SIZE [N1 N2]
#   SERVER: xcoro, xcoro-epoll, uring, epoll, asio (go: --strace only)
#   N1 N2:  message counts of the two runs (default 20000 60000)
# Prints, for callgrind: "<server> <conns>x<size>: <instructions>/message"; for strace: the
# system calls per message, total and by name.
set -euo pipefail

tool=callgrind
if [ "${1:-}" = "--strace" ]; then
  tool=strace
  shift
fi
if [ $# -lt 4 ]; then
  sed -n '2,/^set -euo/p' "$0" | grep '^#' | cut -c3-
  exit 2
fi
build="$1" server="$2" conns="$3" size="$4" n1="${5:-20000}" n2="${6:-60000}"
io="$build/bench/io"
ulimit -n 8192 2>/dev/null || true
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
port=$((30000 + $$ % 20000))

# run N: serves N messages under the tool; leaves its report in $work/out.N.
run() {
  local n="$1" env=() cmd
  port=$((port + 1))
  case "$server" in
    xcoro) env=(XCORO_BACKEND=io_uring); cmd=("$io/echo_xcoro" $port) ;;
    xcoro-epoll) env=(XCORO_BACKEND=epoll); cmd=("$io/echo_xcoro" $port) ;;
    uring) cmd=("$io/echo_uring" $port) ;;
    epoll) cmd=("$io/echo_epoll" $port) ;;
    asio) cmd=("$io/echo_asio" $port) ;;
    go) env=(GOMAXPROCS=1); cmd=("$io/xcoro-go-echo" -port $port) ;;
    *) echo "count.sh: unknown server $server" >&2; exit 2 ;;
  esac
  if [ $tool = callgrind ]; then
    env "${env[@]}" taskset -c 0 valgrind --tool=callgrind --callgrind-out-file="$work/out.$n" \
      "${cmd[@]}" 2>/dev/null &
  else
    env "${env[@]}" taskset -c 0 strace -f -c -o "$work/out.$n" "${cmd[@]}" &
  fi
  local pid=$! i
  for i in $(seq 200); do
    (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break
    sleep 0.1
  done
  taskset -c 1 "$io/echo_client" -n "$n" "127.0.0.1:$port" "$conns" "$size" 600 >/dev/null
  if [ $tool = callgrind ]; then
    # A server blocked in io_uring_enter under valgrind does not act on SIGINT or SIGTERM,
    # and callgrind writes nothing when killed: ask for a dump, then kill it.
    callgrind_control -d $pid >/dev/null 2>&1
    kill -KILL $pid 2>/dev/null || true
  else
    # strace ignores signals with -o; it writes its summary when the server dies.
    kill -KILL $(pgrep -P $pid) 2>/dev/null || true
  fi
  wait $pid 2>/dev/null || true
}

run "$n1"
run "$n2"
if [ $tool = callgrind ]; then
  total() { awk '/^(summary|totals):/ {print $2; exit}' "$1".*; }
  a=$(total "$work/out.$n1") b=$(total "$work/out.$n2")
  awk -v a="$a" -v b="$b" -v n=$((n2 - n1)) -v s="$server" -v c="$conns" -v z="$size" \
    'BEGIN { printf "%s %sx%s: %.0f instructions/message\n", s, c, z, (b - a) / n }'
else
  # strace -c: "% time seconds usecs/call calls errors syscall"; errors may be empty.
  calls() {
    awk '$NF != "total" && $1 ~ /^[0-9.]+$/ && NF >= 5 { print $NF, $4 }' "$1" | sort
  }
  join -a1 -a2 -e0 -o 0,1.2,2.2 <(calls "$work/out.$n1") <(calls "$work/out.$n2") |
    awk -v n=$((n2 - n1)) -v s="$server" -v c="$conns" -v z="$size" '
      { d = ($3 - $2) / n; if (d >= 0.005) { line = line sprintf(" %s %.2f", $1, d) } t += d }
      END { printf "%s %sx%s: %.2f syscalls/message:%s\n", s, c, z, t, line }'
fi
