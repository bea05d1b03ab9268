#!/usr/bin/env bash
# HTTPS hello under wrk (-t1 -c64, keep-alive): examples/https_hello (xcoro::tls over
# OpenSSL 3, one thread) beside the Go peer bench/peers/https.go (crypto/tls with the same
# request scan, and net/http's server; GOMAXPROCS=1), each with the same ECDSA P-256
# certificate, made here with openssl. Server on core 0, wrk on core 1; servers run
# interleaved round after round; prints each one's median requests/s, the server's CPU use,
# requests per server CPU-second, the cipher each negotiated with OpenSSL's client, and
# the ratios xcoro/go of both.
# What is missing (wrk, openssl, go, https_hello) is skipped with a message.
#
# Usage: bench/io/https.sh [--quick|--full] [BUILD_DIR]     (BUILD_DIR: build/release)
#   --quick  one round of 3 s per server (the showcase's setting)
#   default  three rounds of 5 s
#   --full   five rounds of 10 s
set -euo pipefail

mode=default
build=""
while [ $# -gt 0 ]; do
  case "$1" in
    --quick) mode=quick ;;
    --full) mode=full ;;
    -h|--help) sed -n '2,/^set -euo/p' "$0" | grep '^#' | cut -c3-; exit 0 ;;
    -*) echo "https.sh: unknown option $1" >&2; exit 2 ;;
    *) build="$1" ;;
  esac
  shift
done
case "$mode" in
  quick) rounds=1; secs=3 ;;
  full) rounds=5; secs=10 ;;
  *) rounds=3; secs=5 ;;
esac

root="$(cd "$(dirname "$0")/../.." && pwd)"
build="${build:-$root/build/release}"
xcoro="$build/examples/https_hello"
go_peer="$build/bench/io/xcoro-go-https"

echo "== HTTPS hello under wrk -t1 -c64 -d${secs}s, $rounds round(s) (requests/s)"
for tool in wrk openssl taskset; do
  if ! command -v "$tool" >/dev/null; then
    echo "$tool not found (scripts/deps.sh installs it); skipped"
    exit 0
  fi
done
if [ ! -x "$xcoro" ]; then
  echo "$xcoro not built (needs XCORO_WITH_TLS and XCORO_BUILD_EXAMPLES); skipped"
  exit 0
fi
# xcoro-nospin: the same server with the loop's busy polling off (XCORO_BUSY_POLL_US=0).
servers=(xcoro xcoro-nospin)
if [ -x "$go_peer" ]; then
  servers+=(go-tls go-nethttp)
else
  echo "$go_peer not built (no go); xcoro alone"
fi

dir=$(mktemp -d)
server_pid=
stop_server() {
  if [ -n "$server_pid" ]; then
    kill "$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
    server_pid=
  fi
}
trap 'stop_server; rm -rf "$dir"' EXIT

ec="-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes"
(
  cd "$dir"
  openssl req -x509 $ec -keyout ca.key -out ca.pem -days 2 -subj /CN=https-bench-ca \
    -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign
  openssl req $ec -keyout server.key -out server.csr -subj /CN=localhost
  printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\n' >san.ext
  openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 2 \
    -extfile san.ext -out server.pem
) >"$dir/gen.log" 2>&1 || { cat "$dir/gen.log"; echo "https.sh: openssl failed" >&2; exit 1; }

# Starts server $1 on a free port (set in $port), pinned to core 0; false if it did not.
start_server() {
  local out="$dir/$1.out"
  case "$1" in
    xcoro | xcoro-nospin)
      local vars=(XCORO_BACKEND=io_uring)
      [ "$1" = xcoro-nospin ] && vars+=(XCORO_BUSY_POLL_US=0)
      env "${vars[@]}" taskset -c 0 "$xcoro" --cert "$dir/server.pem" --key "$dir/server.key" \
        --port 0 >"$out" 2>&1 &
      ;;
    go-tls | go-nethttp)
      # Go has no "port 0, say which": pick one the kernel just handed out.
      port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
      local flag=""
      [ "$1" = go-nethttp ] && flag=-nethttp
      GOMAXPROCS=1 taskset -c 0 "$go_peer" -port "$port" -cert "$dir/server.pem" \
        -key "$dir/server.key" $flag >"$out" 2>&1 &
      ;;
  esac
  server_pid=$!
  local i
  for i in $(seq 500); do
    if [ "${1%-nospin}" = xcoro ] && grep -q "^https hello on " "$out"; then
      port=$(sed -n 's/^https hello on https:\/\/localhost:\([0-9]*\)\/$/\1/p' "$out")
      return 0
    fi
    if [ "${1%-nospin}" != xcoro ] && grep -q "^listening" "$out"; then
      return 0
    fi
    kill -0 "$server_pid" 2>/dev/null || break
    sleep 0.01
  done
  cat "$out"
  stop_server
  return 1
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
ratio() {
  awk -v a="$1" -v b="$2" 'BEGIN { if (a > 0 && b > 0) printf "%.2f", a / b; else printf "n/a" }'
}

declare -A reqs=() cpus=() cipher=()
hz=$(getconf CLK_TCK)
for round in $(seq "$rounds"); do
  # A rotating order, so that a noisy neighbour does not always hit the same server.
  n=${#servers[@]}
  for k in $(seq 0 $((n - 1))); do
    s=${servers[$(((k + round) % n))]}
    if ! start_server "$s"; then
      echo "  $s did not start; skipped"
      continue
    fi
    if [ -z "${cipher[$s]:-}" ]; then
      cipher[$s]=$(openssl s_client -connect "127.0.0.1:$port" -servername localhost \
        -CAfile "$dir/ca.pem" -verify_return_error -brief </dev/null 2>&1 |
        awk -F': ' '/^Protocol version/ {p=$2} /^Ciphersuite/ {c=$2} END {print p " " c}')
    fi
    t0=$(server_ticks)
    r=$(taskset -c 1 wrk -t1 -c64 -d"${secs}s" "https://127.0.0.1:$port/" |
      awk '/^Requests\/sec:/ {print $2}')
    t1=$(server_ticks)
    reqs[$s]+="${r:-0}"$'\n'
    cpus[$s]+="$(awk -v t=$((t1 - t0)) -v hz="$hz" -v s="$secs" 'BEGIN {printf "%.0f", 100 * t / hz / s}')"$'\n'
    stop_server
  done
done

declare -A med=() per_cpu=()
for s in "${servers[@]}"; do
  med[$s]=$(printf '%s' "${reqs[$s]:-}" | grep . | median)
  c=$(printf '%s' "${cpus[$s]:-}" | grep . | median)
  # Requests per second of server CPU: on a shared machine the rate follows the CPU share
  # the server gets, and this compares what each request costs it.
  per=$(awk -v r="${med[$s]}" -v c="$c" 'BEGIN { if (c > 0) printf "%.0f", r * 100 / c; else print 0 }')
  per_cpu[$s]=$per
  printf "  %-12s %8.0f requests/s  server cpu %3.0f%%  %8.0f requests per cpu-second  %s\n" \
    "$s" "${med[$s]}" "$c" "$per" "${cipher[$s]:-}"
done
if [ -n "${med[go-tls]:-}" ]; then
  for x in xcoro xcoro-nospin; do
    echo "  $x/go-tls $(ratio "${med[$x]}" "${med[go-tls]}") (per cpu" \
      "$(ratio "${per_cpu[$x]}" "${per_cpu[go-tls]}"))  $x/go-nethttp" \
      "$(ratio "${med[$x]}" "${med[go-nethttp]}") (per cpu" \
      "$(ratio "${per_cpu[$x]}" "${per_cpu[go-nethttp]}"))"
  done
fi
if [ "${med[xcoro]%.*}" -le 0 ]; then
  echo "https.sh: the xcoro server answered nothing" >&2
  exit 1
fi
