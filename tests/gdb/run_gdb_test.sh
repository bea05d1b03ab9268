#!/usr/bin/env bash
# Tests share/gdb/xcoro.py: runs gdb in batch mode on tests/gdb/gdb_target (1) live, stopped
# in gdb_stop_here, (2) on a core file written by gdb's gcore, and (3) on a core file
# written by the kernel when the target aborts, and checks that `info xcoro` lists the
# coroutines with their ids, names and statuses, and that `xcoro bt ID` shows the
# suspended coroutines' own frames.
#
# Usage: run_gdb_test.sh GDB_TARGET XCORO_PY
# Exit status: 0 passed, 1 failed, 77 skipped (no gdb, no Python in gdb, ptrace denied).
#
# gcore cannot read memory mappings that contain MADV_GUARD_INSTALL guard pages (Linux
# 6.13+), which the default stack allocator uses: its core has no coroutine stacks. So (2)
# runs the target with heap stacks ("heap"); (3) uses the default allocator.
set -u

target=${1:?usage: run_gdb_test.sh GDB_TARGET XCORO_PY}
script=${2:?usage: run_gdb_test.sh GDB_TARGET XCORO_PY}
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

run_gdb() {
  local out=$1
  shift
  "$gdb" -batch -nx -ex "source $script" "$@" -x "$work/commands.gdb" >"$out" 2>&1
  echo "== gdb output: $out"
  sed 's/^/  | /' "$out"
}

# (1) Live process, default stacks.
run_gdb "$work/live.txt" -ex 'break gdb_stop_here' -ex run "$target"
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
    run_gdb "$work/gcore.txt" "$target" "$work/gcore.core"
    check "$work/gcore.txt" "core file from gcore" gdb_stop_here
  else
    echo "  FAIL: gcore wrote no core file"
    cat "$work/gcore-make.txt"
    failures=$((failures + 1))
  fi
fi

# (3) Core file written by the kernel, default stacks. Skipped when cores go to a pipe
# (systemd-coredump, apport) or cannot be enabled.
pattern=$(cat /proc/sys/kernel/core_pattern 2>/dev/null || echo '|unknown')
if ((sanitized)); then
  echo "== kernel core file: skipped (sanitizer build)"
elif [[ $pattern == \|* ]]; then
  echo "== kernel core file: skipped (core_pattern is '$pattern')"
else
  mkdir -p "$work/kcore"
  (cd "$work/kcore" && ulimit -c 1048576 2>/dev/null && exec "$target" abort) >/dev/null 2>&1
  core=$(find "$work/kcore" -maxdepth 1 -name 'core*' -type f | head -1)
  if [[ -z $core ]]; then
    echo "== kernel core file: skipped (no core written; core_pattern '$pattern', ulimit -c)"
  else
    run_gdb "$work/kcore.txt" "$target" "$core"
    check "$work/kcore.txt" "core file from the kernel" "pthread_kill|raise|abort"
  fi
fi

if ((failures > 0)); then
  echo "FAILED: $failures check(s)"
  exit 1
fi
echo "PASSED"
