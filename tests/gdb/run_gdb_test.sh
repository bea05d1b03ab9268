#!/usr/bin/env bash
# Tests share/gdb/xcoro.py: runs gdb in batch mode on tests/gdb/gdb_target (1) live, stopped
# in gdb_stop_here, (2) on a core file written by gdb's gcore, and (3) on a core file
# written by the kernel when the target aborts, and checks that `info xcoro` lists the
# coroutines with their ids, names and statuses, and that `xcoro bt ID` shows the
# suspended coroutines' own frames. With RUNTIME_TARGET (tests/gdb/gdb_runtime_target, a
# runtime of two workers), it checks (4) live and (5) on a kernel core file that every
# worker's coroutines are listed under a "worker K" line.
#
# Usage: run_gdb_test.sh GDB_TARGET XCORO_PY [RUNTIME_TARGET]
# Exit status: 0 passed, 1 failed, 77 skipped (no gdb, no Python in gdb, ptrace denied).
#
# gcore cannot read memory mappings that contain MADV_GUARD_INSTALL guard pages (Linux
# 6.13+), which the default stack allocator uses: its core has no coroutine stacks. So (2)
# runs the target with heap stacks ("heap"); (3) uses the default allocator.
set -u

target=${1:?usage: run_gdb_test.sh GDB_TARGET XCORO_PY [RUNTIME_TARGET]}
script=${2:?usage: run_gdb_test.sh GDB_TARGET XCORO_PY [RUNTIME_TARGET]}
runtime_target=${3:-}
gdb=${GDB:-gdb}

if ! command -v "$gdb" >/dev/null 2>&1; then
  echo "SKIP: gdb not found"
  exit 77
fi
if ! "$gdb" -batch -nx -ex 'python print("xcoro-python-ok")' 2>/dev/null | grep -q xcoro-python-ok; then
  echo "SKIP: this gdb has no Python support"
  exit 77
fi
probe=$("$gdb" -batch -nx -ex 'break gdb_stop_here' -ex run -ex 'kill' "$target" 2>&1)
if ! grep -q 'gdb_stop_here ()' <<<"$probe"; then
  echo "SKIP: gdb cannot run the target (ptrace not permitted?):"
  echo "$probe" | tail -5
  exit 77
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/xcoro-gdb-test.XXXXXX")
trap 'rm -rf "$work"' EXIT
failures=0

# The commands every mode runs; @@name lines separate the sections for the checks.
cat >"$work/commands.gdb" <<'GDB'
echo @@list\n
info xcoro
echo @@scan\n
info xcoro -scan
echo @@one\n
info xcoro 2
echo @@bt2\n
xcoro bt 2
echo @@bt3\n
xcoro bt 3
echo @@bt5\n
xcoro bt 5
echo @@bt7\n
xcoro bt 7
echo @@bt0\n
xcoro bt 0
echo @@bt8\n
xcoro bt 8
echo @@switch\n
xcoro switch 2
frame 5
print depth
xcoro switch
echo @@realbt\n
bt 1
echo @@end\n
GDB

# section FILE NAME: the output between @@NAME and the next @@ line.
section() {
  sed -n "/^@@$2\$/,/^@@/p" "$1" | sed '1d;$d'
}

# expect FILE NAME REGEX DESCRIPTION: REGEX (grep -E) must match a line of the section.
expect() {
  if section "$1" "$2" | grep -Eq -- "$3"; then
    echo "  ok: $4"
  else
    echo "  FAIL: $4 (section $2, pattern: $3)"
    failures=$((failures + 1))
  fi
}

# expect_order FILE NAME A B: a line matching A comes before one matching B.
expect_order() {
  local a b
  a=$(section "$1" "$2" | grep -En -- "$3" | head -1 | cut -d: -f1)
  b=$(section "$1" "$2" | grep -En -- "$4" | head -1 | cut -d: -f1)
  if [[ -n $a && -n $b && $a -lt $b ]]; then
    echo "  ok: $5"
  else
    echo "  FAIL: $5 (section $2: '$3' at line ${a:-none}, '$4' at line ${b:-none})"
    failures=$((failures + 1))
  fi
}

# check OUTPUT MODE FRAME0: FRAME0 matches the thread's real innermost frame.
check() {
  local out=$1 mode=$2 frame0=$3
  echo "== checks: $mode"
  local m='^[ ?*] *'
  expect "$out" list "^\* +1 +active +runner " "running coroutine 1 'runner' marked active"
  expect "$out" list "^  +0 +suspended \(xresume\) +\(root\) " "root suspended in xresume"
  expect "$out" list "^  +2 +suspended +alpha .*deep_function_b" "2 'alpha' suspended in deep_function_b"
  expect "$out" list "^  +3 +suspended +beta .*generator_body" "3 'beta' suspended in generator_body"
  expect "$out" list "^  +4 +suspended +parent " "4 'parent' suspended"
  expect "$out" list "^  +5 +suspended +child +0x[0-9a-f]+ +4 .*child_body" "5 'child' started by 4"
  expect "$out" list "^  +6 +done +short .*\(finished\)" "6 'short' done"
  expect "$out" list "^  +7 +suspended +orphan +0x[0-9a-f]+ +orphan .*gdb_target.cpp" "7 'orphan' without starter"
  expect "$out" list "^  +8 +start +unstarted .*\(not started\)" "8 'unstarted' not started"
  expect "$out" list "^\(8 of the 8 created" "the count of listed coroutines"
  expect "$out" scan "^  +8 +start +unstarted " "-scan is still accepted"
  expect "$out" one "^coroutine 2 \"alpha\" at 0x" "info xcoro 2"
  expect "$out" one "where +.*deep_function_b" "info xcoro 2: where"
  expect "$out" bt2 "^#0 .*switch_context|^#0 .*xsuspend|^#0 .*deep_function_b" "bt 2 starts at the switch"
  expect_order "$out" bt2 "deep_function_b \(depth=2\)" "deep_function_a \(depth=1\)" "bt 2: deep_function_b called from deep_function_a"
  expect "$out" bt2 "xcoro_entry_stub" "bt 2 ends at xcoro_entry_stub"
  expect "$out" bt3 "generator_body" "bt 3: generator_body"
  expect "$out" bt5 "child_body" "bt 5: child_body"
  expect "$out" bt7 "gdb_target.cpp" "bt 7: the orphan's lambda"
  expect "$out" bt0 "in main " "bt 0: the root is in main"
  expect "$out" bt8 "has not started" "bt 8: not started"
  expect "$out" switch "^#1 .*switch_context" "xcoro switch 2: frame #1 is the switch"
  expect "$out" switch '^\$[0-9]+ = 2$' "xcoro switch 2; frame 5; print depth"
  expect "$out" realbt "^#0 +.*($frame0)" "the thread's real frames back afterwards"
}

# run_gdb OUTPUT COMMANDS GDB-ARGS...: runs the COMMANDS file in gdb.
run_gdb() {
  local out=$1 commands=$2
  shift 2
  "$gdb" -batch -nx -ex "source $script" "$@" -x "$commands" >"$out" 2>&1
  echo "== gdb output: $out"
  sed 's/^/  | /' "$out"
}

# (1) Live process, default stacks.
run_gdb "$work/live.txt" "$work/commands.gdb" -ex 'break gdb_stop_here' -ex run "$target"
check "$work/live.txt" "live process" gdb_stop_here

# Under a sanitizer, core files would include the shadow memory: gcore writes tens of GiB
# (it filled the disk in a test run), and the sanitizer runtimes disable kernel cores.
sanitized=0
if grep -aqE '__(asan|tsan|msan|hwasan)_init' "$target"; then
  sanitized=1
fi

# (2) Core file written by gcore, heap stacks.
if ((sanitized)); then
  echo "== gcore core file: skipped (sanitizer build)"
else
  "$gdb" -batch -nx -ex 'break gdb_stop_here' -ex run -ex "gcore $work/gcore.core" -ex kill \
    --args "$target" heap >"$work/gcore-make.txt" 2>&1
  if [[ -s $work/gcore.core ]]; then
    run_gdb "$work/gcore.txt" "$work/commands.gdb" "$target" "$work/gcore.core"
    check "$work/gcore.txt" "core file from gcore" gdb_stop_here
  else
    echo "  FAIL: gcore wrote no core file"
    cat "$work/gcore-make.txt"
    failures=$((failures + 1))
  fi
fi

# kernel_core DIR PROGRAM: runs `PROGRAM abort` in DIR with core dumps on and prints the
# core file's path; prints nothing, and says why, when there is none: a sanitizer build, or
# cores that go to a pipe (systemd-coredump, apport) or cannot be enabled.
pattern=$(cat /proc/sys/kernel/core_pattern 2>/dev/null || echo '|unknown')
kernel_core() {
  local why="" core=""
  if ((sanitized)); then
    why="sanitizer build"
  elif [[ $pattern == \|* ]]; then
    why="core_pattern is '$pattern'"
  else
    mkdir -p "$1"
    (cd "$1" && ulimit -c 1048576 2>/dev/null && exec "$2" abort) >/dev/null 2>&1
    core=$(find "$1" -maxdepth 1 -name 'core*' -type f | head -1)
    [[ -n $core ]] || why="no core written; core_pattern '$pattern', ulimit -c"
  fi
  [[ -z $why ]] || echo "== kernel core file of ${2##*/}: skipped ($why)" >&2
  echo "$core"
}

# (3) Core file written by the kernel, default stacks.
core=$(kernel_core "$work/kcore" "$target")
if [[ -n $core ]]; then
  run_gdb "$work/kcore.txt" "$work/commands.gdb" "$target" "$core"
  check "$work/kcore.txt" "core file from the kernel" "pthread_kill|raise|abort"
fi

# The runtime target: the commands run with worker 1's thread selected (its breakpoint or
# its abort).
cat >"$work/runtime.gdb" <<'GDB'
echo @@rlist\n
info xcoro
echo @@rthreads\n
info xcoro -threads
echo @@rbt\n
xcoro bt 2
echo @@end\n
GDB

# worker_block FILE SECTION K: the lines of SECTION from "worker K (thread N):" to the next
# thread's header.
worker_block() {
  section "$1" "$2" | awk -v head="^worker $3 [(]thread [0-9]+[)]:$" '
    $0 ~ head { inside = 1; next }
    /^(worker [0-9]+|Thread [0-9]+) / { inside = 0 }
    inside { print }'
}

# expect_worker FILE SECTION K REGEX DESCRIPTION: a line of worker K's block matches.
expect_worker() {
  if worker_block "$1" "$2" "$3" | grep -Eq -- "$4"; then
    echo "  ok: $2: $5"
  else
    echo "  FAIL: $2: $5 (worker $3, pattern: $4)"
    failures=$((failures + 1))
  fi
}

# check_workers FILE SECTION: both workers and their coroutines, each under its worker.
check_workers() {
  local out=$1 s=$2
  expect "$out" "$s" "^worker 0 \(thread [0-9]+\):$" "$s: a header for worker 0"
  expect "$out" "$s" "^worker 1 \(thread [0-9]+\):$" "$s: a header for worker 1"
  expect_worker "$out" "$s" 0 "^  +2 +suspended +w0-waiter-a .*waiter_body" "2 'w0-waiter-a' suspended"
  expect_worker "$out" "$s" 0 "^  +3 +suspended +w0-waiter-b .*waiter_body" "3 'w0-waiter-b' suspended"
  expect_worker "$out" "$s" 0 "^\(2 on worker 0: " "worker 0 has two coroutines"
  expect_worker "$out" "$s" 1 "^\* +1 +active +w1-stopper " "1 'w1-stopper' running on worker 1"
  expect_worker "$out" "$s" 1 "^  +2 +suspended +w1-waiter .*waiter_body" "2 'w1-waiter' suspended"
  expect_worker "$out" "$s" 1 "^\(2 on worker 1: " "worker 1 has two coroutines"
  if worker_block "$out" "$s" 0 | grep -q w1-; then
    echo "  FAIL: $s: worker 1's coroutines listed under worker 0"
    failures=$((failures + 1))
  fi
}

check_runtime() {
  local out=$1 mode=$2
  echo "== checks: $mode"
  check_workers "$out" rlist
  expect_order "$out" rlist "^worker 0 " "^worker 1 " "rlist: the workers in index order"
  expect "$out" rlist "^\(ids are per worker: .* worker 1;" "rlist: ids are looked up on worker 1"
  check_workers "$out" rthreads
  expect "$out" rthreads "^Thread [0-9]+ " "rthreads: the block_on caller is a plain thread"
  expect "$out" rbt "waiter_body" "xcoro bt 2 on worker 1: waiter_body"
  expect "$out" rbt "w1-waiter" "xcoro bt 2 on worker 1: its own coroutine 2"
}

if [[ -n $runtime_target ]]; then
  # (4) Live.
  run_gdb "$work/rlive.txt" "$work/runtime.gdb" -ex 'break gdb_stop_here' -ex run \
    "$runtime_target"
  check_runtime "$work/rlive.txt" "runtime, live process"

  # (5) Kernel core file. Not gcore's: block_on's coroutines take their stacks from the
  # default allocator, whose guard pages keep gcore from dumping them (see above).
  core=$(kernel_core "$work/rcore" "$runtime_target")
  if [[ -n $core ]]; then
    run_gdb "$work/rcore.txt" "$work/runtime.gdb" "$runtime_target" "$core"
    check_runtime "$work/rcore.txt" "runtime, core file from the kernel"
  fi
fi

if ((failures > 0)); then
  echo "FAILED: $failures check(s)"
  exit 1
fi
echo "PASSED"
