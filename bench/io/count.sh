#!/usr/bin/env bash
# Costs per message of the echo servers, for when wall-clock throughput is too noisy to
# compare (a shared machine). Three measures:
#   default   user-space instructions, under callgrind (deterministic)
#   --strace  system calls, under strace -c (deterministic)
#   --cpu     on-CPU time of the server's threads (user + kernel, from
#             /proc/PID/task/*/schedstat), natively; noisy, so ROUNDS runs and their median
# For the first two, the server serves N1 and then N2 messages from echo_client -n, and the
# difference divided by N2 - N1 is printed, so start-up, accept and shutdown cancel out. For
# --cpu, one server serves ROUNDS client runs of N2 messages and only the time spent during
# each run counts. Server on core 0, client on core 1, as in run.sh.
#
# Usage: bench/io/count.sh [--strace|--cpu] [--spread] BUILD_DIR SERVER CONNECTIONS SIZE
#                          [N1 N2 [ROUNDS]]
#   --spread: server and client both on every core, unpinned (run.sh --threads), instead
#           of server on core 0 and client on core 1
#   SERVER: xcoro, xcoro-nospin (busy polling off), xcoro-epoll, xcoro-rt1 and
#           xcoro-epoll-rt1 (xcoro-nospin and xcoro-epoll inside a one-worker runtime;
#           xcoro-rt1 not under callgrind, whose valgrind stalls every thread while a worker
#           blocks in io_uring_enter), uring, epoll, asio, go (go:
#           not under callgrind), and the io_uring loop with its floor features (run.sh
#           --floor): uring-reg, uring-fixed, uring-ms, uring-all; and for run.sh --threads
#           (default busy polling, io_uring): xcoro-w1 (one-worker runtime), xcoro-wN (N
#           workers, a listener each), xcoro-wN-nospin, go-N (GOMAXPROCS=N), tokio-N (the
#           Tokio peer with N workers, when built: found under BUILD_DIR, or $XCORO_TOKIO_ECHO);
#           xcoro-epoll-wN is xcoro-wN on epoll, which callgrind can follow (its instructions
#           per message against xcoro-epoll-rt1's: what a second worker adds in user space)
#   N1 N2:  message counts (default 20000 60000); ROUNDS: --cpu runs (default 5)
# Prints "<server> <conns>x<size>: " and then the instructions per message; the system calls
# per message, total and by name; or the median server CPU time per message (ns) and the
# per-round values.
set -euo pipefail

tool=callgrind
case "${1:-}" in
  --strace) tool=strace; shift ;;
  --cpu) tool=cpu; shift ;;
esac
server_cpus=0
client_cpus=1
if [ "${1:-}" = --spread ]; then
  server_cpus="0-$(($(nproc) - 1))"
  client_cpus=$server_cpus
  shift
fi
if [ $# -lt 4 ]; then
  sed -n '2,/^set -euo/p' "$0" | grep '^#' | cut -c3-
  exit 2
fi
build="$1" server="$2" conns="$3" size="$4" n1="${5:-20000}" n2="${6:-60000}" rounds="${7:-5}"
io="$build/bench/io"
ulimit -n 8192 2>/dev/null || true
work=$(mktemp -d)
trap 'rm -rf "$work"; [ -n "${server_pid:-}" ] && kill -KILL $server_pid 2>/dev/null || true' EXIT
# Below the ephemeral range (32768 and up), where a client socket may hold the port.
port=$((10000 + $$ % 20000))
server_pid=""

# workers_of NAME: the worker count in a server name such as xcoro-w2, xcoro-w2-nospin or go-2.
workers_of() {
  local n="${1#*-}"
  n="${n#w}"
  echo "${n%%-*}"
}

# The same lookup as run.sh's: $XCORO_TOKIO_ECHO, or the Tokio peer's binary in the build tree.
tokio_echo() {
  if [ -n "${XCORO_TOKIO_ECHO:-}" ]; then
    echo "$XCORO_TOKIO_ECHO"
  else
    find "$1" -path '*tokio*release/echo' -type f -perm -u+x 2>/dev/null | head -1
  fi
}

# run N: serves N messages under the tool; leaves its report in $work/out.N.
run() {
  local n="$1" env=() cmd
  port=$((port + 1))
  case "$server" in
    xcoro) env=(XCORO_BACKEND=io_uring); cmd=("$io/echo_xcoro" $port) ;;
    xcoro-nospin) env=(XCORO_BACKEND=io_uring XCORO_BUSY_POLL_US=0); cmd=("$io/echo_xcoro" $port) ;;
    xcoro-rt1) env=(XCORO_BACKEND=io_uring XCORO_BUSY_POLL_US=0)
      cmd=("$io/echo_xcoro" $port --runtime) ;;
    xcoro-epoll) env=(XCORO_BACKEND=epoll); cmd=("$io/echo_xcoro" $port) ;;
    xcoro-epoll-rt1) env=(XCORO_BACKEND=epoll); cmd=("$io/echo_xcoro" $port --runtime) ;;
    uring) cmd=("$io/echo_uring" $port) ;;
    uring-reg) cmd=("$io/echo_uring" $port --register-ring) ;;
    uring-fixed) cmd=("$io/echo_uring" $port --fixed-files) ;;
    uring-ms) cmd=("$io/echo_uring" $port --multishot) ;;
    uring-all) cmd=("$io/echo_uring" $port --register-ring --fixed-files --multishot) ;;
    epoll) cmd=("$io/echo_epoll" $port) ;;
    asio) cmd=("$io/echo_asio" $port) ;;
    go) env=(GOMAXPROCS=1); cmd=("$io/xcoro-go-echo" -port $port) ;;
    xcoro-w1) env=(XCORO_BACKEND=io_uring); cmd=("$io/echo_xcoro" $port --runtime) ;;
    xcoro-epoll-w[0-9]*) env=(XCORO_BACKEND=epoll)
      cmd=("$io/echo_xcoro" $port --threads "$(workers_of "${server#xcoro-epoll-}")") ;;
    xcoro-w[0-9]*-nospin) env=(XCORO_BACKEND=io_uring XCORO_BUSY_POLL_US=0)
      cmd=("$io/echo_xcoro" $port --threads "$(workers_of "$server")") ;;
    xcoro-w[0-9]*) env=(XCORO_BACKEND=io_uring)
      cmd=("$io/echo_xcoro" $port --threads "$(workers_of "$server")") ;;
    go-[0-9]*) cmd=("$io/xcoro-go-echo" -port $port -procs "$(workers_of "$server")") ;;
    tokio-[0-9]*)
      local tokio
      tokio=$(tokio_echo "$build")
      if [ -z "$tokio" ]; then
        echo "count.sh: the Tokio echo peer is not built under $build" >&2
        exit 2
      fi
      cmd=("$tokio" --port $port --threads "$(workers_of "$server")") ;;
    *) echo "count.sh: unknown server $server" >&2; exit 2 ;;
  esac
  if [ $tool = cpu ]; then
    env "${env[@]}" taskset -c $server_cpus "${cmd[@]}" &
  elif [ $tool = callgrind ]; then
    env "${env[@]}" taskset -c $server_cpus valgrind --tool=callgrind --callgrind-out-file="$work/out.$n" \
      "${cmd[@]}" 2>/dev/null &
  else
    env "${env[@]}" taskset -c $server_cpus strace -f -c -o "$work/out.$n" "${cmd[@]}" &
  fi
  local pid=$! i
  server_pid=$pid
  for i in $(seq 200); do
    (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break
    sleep 0.1
  done
  sleep 0.2
  if ! kill -0 $pid 2>/dev/null; then
    echo "count.sh: $server exited at start (port $port taken?)" >&2
    exit 1
  fi
  if [ $tool = cpu ]; then
    for i in $(seq "$rounds"); do
      local t0 t1
      t0=$(on_cpu $pid)
      taskset -c $client_cpus "$io/echo_client" -n "$n" "127.0.0.1:$port" "$conns" "$size" 600 \
        >"$work/client"
      t1=$(on_cpu $pid)
      # The client's exact count: a few more than asked may complete in its last batch.
      echo $(( (t1 - t0) / $(awk '{print $5}' "$work/client") )) >>"$work/cpu"
    done
    kill -KILL $pid 2>/dev/null || true
    wait $pid 2>/dev/null || true
    server_pid=""
    return
  fi
  taskset -c $client_cpus "$io/echo_client" -n "$n" "127.0.0.1:$port" "$conns" "$size" 600 >/dev/null
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

# on_cpu PID: nanoseconds the threads of PID have run so far.
on_cpu() {
  cat /proc/"$1"/task/*/schedstat 2>/dev/null | awk '{ t += $1 } END { printf "%.0f", t }'  # not %d: mawk caps it at 2^31
}

if [ $tool = cpu ]; then
  run "$n2"
  sort -n "$work/cpu" | awk -v s="$server" -v c="$conns" -v z="$size" '
    { v[NR] = $1; all = all " " $1 }
    END { m = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
          printf "%s %sx%s: %.0f ns server CPU/message (median; sorted:%s)\n", s, c, z, m, all }'
  exit 0
fi
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
