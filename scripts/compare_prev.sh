#!/usr/bin/env bash
# Before/after check of the single-thread paths, for the rule "a new feature must not slow
# the single-thread paths: compare against the previous commit's build in the same run".
# Builds REV (default HEAD~1) in a git worktree, build/prev-src, into build/compare-prev,
# and the working tree as it is (uncommitted changes included) into build/compare-now:
# Release, benchmarks only (no tests, no examples), only the programs used below. Then, in
# one run, on this machine:
#   1. the context switch, xcoro-bench --context_switch (ns per switch), and
#   2. the channel ping-pong, xcoro-channel-bench section 1 (ns per one-way message, at
#      capacity 0, 1 and 64), ROUNDS rounds of each, the two builds interleaved and the
#      first of them alternating from round to round, so that a noisy neighbour hits
#      both alike; the Boost peers these programs run beside xcoro are the same code in
#      both builds, so their now/prev ratio shows how much of a difference is noise;
#   3. the TCP echo server's user-space instructions per message under callgrind
#      (bench/io/count.sh BUILD xcoro-nospin CONNS 64, this tree's copy for both builds),
#      with 1 connection (deterministic: run once) and 64 (the batching of completions
#      varies a little with timing: three runs).
# Prints the machine, the median of each figure for prev and now, their range over the
# runs, and now/prev (above 1: now is slower, or costs more instructions), and a NOISY
# line when a Boost row's now/prev is more than 5% off 1.
# About a minute on 2 vCPUs once both builds exist (parts 1 and 2: 20 s, part 3: 30 s);
# the first builds add about a minute. Part 3 needs valgrind (skipped without it).
#
# Usage: scripts/compare_prev.sh [--rounds N] [--no-count] [REV]
#   REV         the commit to compare with (default HEAD~1; HEAD compares the uncommitted
#               changes with the last commit)
#   --rounds N  rounds of parts 1 and 2 (default 5)
#   --no-count  skips part 3
# XCORO_COMPARE_JOBS=N sets the build's parallelism (default 2).
set -euo pipefail
cd "$(dirname "$0")/.."

rev=HEAD~1
rounds=5
count=1
while [ $# -gt 0 ]; do
  case "$1" in
    --rounds) shift; rounds="${1:?--rounds needs a number}" ;;
    --no-count) count=0 ;;
    -h|--help) sed -n '2,/^set -euo/p' "$0" | grep '^#' | cut -c3-; exit 0 ;;
    -*) echo "compare_prev.sh: unknown option $1" >&2; exit 2 ;;
    *) rev="$1" ;;
  esac
  shift
done
jobs="${XCORO_COMPARE_JOBS:-2}"
prev_src=build/prev-src
prev=build/compare-prev
now=build/compare-now

sha=$(git rev-parse --verify --quiet "$rev^{commit}") || {
  echo "compare_prev.sh: $rev is not a commit" >&2
  exit 2
}

# The worktree of REV: made once, then moved to REV (it is this script's own checkout).
if [ -e "$prev_src/.git" ]; then
  git -C "$prev_src" checkout --quiet --force --detach "$sha"
elif [ -e "$prev_src" ]; then
  echo "compare_prev.sh: $prev_src exists and is not a git worktree; remove it" >&2
  exit 2
else
  git worktree prune  # forgets a build/prev-src that was deleted by hand
  mkdir -p build
  git worktree add --quiet --detach "$prev_src" "$sha"
fi

targets=(xcoro-bench xcoro-channel-bench xcoro_io_echo_xcoro xcoro_io_echo_client)
# build SRC DIR: configures and builds the programs above; a program REV does not have is
# reported and its figures are n/a.
build() {
  local src="$1" dir="$2" t
  echo "-- building $src in $dir"
  cmake -S "$src" -B "$dir" -G Ninja -DCMAKE_BUILD_TYPE=Release -DXCORO_BUILD_TESTS=OFF \
    -DXCORO_BUILD_BENCHMARKS=ON -DXCORO_BUILD_EXAMPLES=OFF >"$dir.configure.log" 2>&1 || {
    echo "compare_prev.sh: configuring $src failed; see $dir.configure.log" >&2
    exit 1
  }
  if ! cmake --build "$dir" -j "$jobs" --target "${targets[@]}" >"$dir.build.log" 2>&1; then
    for t in "${targets[@]}"; do
      cmake --build "$dir" -j "$jobs" --target "$t" >>"$dir.build.log" 2>&1 ||
        echo "   $t did not build in $dir (see $dir.build.log); its figures are n/a"
    done
  fi
}
mkdir -p build
build "$prev_src" "$prev"
build . "$now"

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# The two builds, by key: the figures go to $work/<key>.<name>, one value a line.
declare -A dir=([prev]="$prev" [now]="$now")
record() {
  echo "$3" >>"$work/$1.$2"
}

# context_switch KEY: xcoro's and boost_fiber's exact ns per switch, from one run.
context_switch() {
  local bin="${dir[$1]}/bench/xcoro-bench" out
  [ -x "$bin" ] || return 0
  out=$("$bin" --context_switch --repeat 1) || { echo "   $bin failed"; return 0; }
  awk '/^[a-z_]+:$/ { who = substr($1, 1, length($1) - 1) }
       /^ns\/ctxswitch \(exact\):/ { print who, $3 }' <<<"$out" |
    while read -r who ns; do
      record "$1" "switch.$who" "$ns"
    done
}

# ping_pong KEY: xcoro's and Boost.Fiber's ns per message at each capacity, from one run
# of section 1. A build whose channel bench has no --section runs the other sections at
# their smallest and is read for section 1 only.
ping_pong() {
  local bin="${dir[$1]}/bench/xcoro-channel-bench" out args
  [ -x "$bin" ] || return 0
  if "$bin" --help 2>&1 | grep -q -- --section; then
    args=(--section 1)
  else
    args=(--max-n 1000 --peer-max-n 1000)
  fi
  out=$("$bin" --repeat 1 --go-peer none "${args[@]}") || {
    echo "   $bin failed"; return 0; }
  # Rows: label (with spaces), xcoro, boost, go, xcoro/boost, xcoro/go.
  awk '/^== 1\./ { s = 1; next } /^== / { s = 0 }
       s && /^(unbuffered|1 |64 )/ { cap = ($1 == "unbuffered") ? 0 : $1
                                     print cap, $(NF - 4), $(NF - 3) }' <<<"$out" |
    while read -r cap x b; do
      record "$1" "pp$cap.xcoro" "$x"
      record "$1" "pp$cap.boost" "$b"
    done
}

# echo_count KEY CONNS: instructions per message of the echo server, busy polling off.
echo_count() {
  local d="${dir[$1]}" out
  [ -x "$d/bench/io/echo_xcoro" ] && [ -x "$d/bench/io/echo_client" ] || return 0
  out=$(bash bench/io/count.sh "$d" xcoro-nospin "$2" 64) || {
    echo "   count.sh failed for $d"; return 0; }
  record "$1" "echo$2" "$(grep -o '[0-9.]* instructions/message' <<<"$out" | cut -d' ' -f1)"
}

median() {
  sort -g | awk '{v[NR] = $1} END {
    if (NR == 0) { print "n/a" } else if (NR % 2) { print v[(NR + 1) / 2] }
    else { print (v[NR / 2] + v[NR / 2 + 1]) / 2 } }'
}

# stats KEY NAME: "median min..max" of a figure, or "n/a".
stats() {
  local f="$work/$1.$2"
  if [ ! -s "$f" ]; then
    echo "n/a -"
    return
  fi
  echo "$(median <"$f") $(sort -g "$f" | sed -n '1p;$p' | paste -sd' ' | tr ' ' '~')"
}

cpu_model=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')
echo
dirty=""
git diff --quiet HEAD -- 2>/dev/null || dirty=", with uncommitted changes"
echo "== compare_prev"
echo "prev: $(git log -1 --format='%h %s' "$sha") ($prev)"
echo "now:  the working tree at $(git log -1 --format='%h %s' HEAD)$dirty ($now)"
echo "cpu: $cpu_model, cores: $(nproc), kernel: $(uname -r)," \
  "load average: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "$rounds round(s) of parts 1 and 2, prev and now interleaved"
for round in $(seq "$rounds"); do
  if [ $((round % 2)) = 1 ]; then order=(prev now); else order=(now prev); fi
  for b in "${order[@]}"; do
    context_switch "$b"
    ping_pong "$b"
  done
done
if [ $count = 1 ]; then
  if command -v valgrind >/dev/null && command -v callgrind_control >/dev/null; then
    echo "instruction counts: 1 connection once, 64 connections three times, interleaved"
    for b in prev now; do
      echo_count "$b" 1
    done
    for round in 1 2 3; do
      for b in prev now; do
        echo_count "$b" 64
      done
    done
  else
    echo "valgrind not found (apt-get install valgrind): instruction counts skipped"
    count=0
  fi
fi
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"

echo
printf "%-44s %10s %10s %9s   %-19s %s\n" "case" "prev" "now" "now/prev" "prev range" \
  "now range"
noise=0  # the largest distance from 1 of a Boost row's now/prev, in thousandths
row() {
  local label="$1" name="$2" pm prange nm nrange r
  read -r pm prange <<<"$(stats prev "$name")"
  read -r nm nrange <<<"$(stats now "$name")"
  r=$(awk -v a="$nm" -v b="$pm" 'BEGIN { if (a > 0 && b > 0) printf "%.3f", a / b;
                                       else printf "n/a" }')
  printf "%-44s %10s %10s %9s   %-19s %s\n" "$label" "$pm" "$nm" "$r" "$prange" "$nrange"
  if [[ "$name" == *boost* && "$r" != n/a ]]; then
    local d
    d=$(awk -v r="$r" 'BEGIN { d = (r > 1 ? r - 1 : 1 - r) * 1000; printf "%.0f", d }')
    [ "$d" -gt "$noise" ] && noise=$d
  fi
  return 0
}
row "context switch, ns/switch: xcoro" switch.xcoro
row "  boost_fiber (the same code in both)" switch.boost_fiber
for cap in 0 1 64; do
  row "ping-pong capacity $cap, ns/message: xcoro" "pp$cap.xcoro"
  row "  Boost.Fiber (the same code in both)" "pp$cap.boost"
done
if [ $count = 1 ]; then
  row "echo 1 connection x 64 B, instructions/msg" echo1
  row "echo 64 connections x 64 B, instructions/msg" echo64
fi
echo "now/prev above 1: now is slower or costs more. The Boost rows run the same code in"
echo "both builds: how far they stray from 1.000 is the noise of this run."
if [ "$noise" -gt 50 ]; then
  echo "NOISY: a Boost row is $((noise / 10)).$((noise % 10))% off 1.000, so the timed rows of"
  echo "this run cannot show a change smaller than that; run again on a quieter machine or"
  echo "with more --rounds (the instruction counts do not depend on the load)."
fi
