#!/bin/sh
# The servers' clean shutdown on a signal, as a test:
#   signal_shutdown_test.sh SIGNAL PROGRAM [ARGS...]
# starts PROGRAM on any free port (port 0) serving until killed, waits for the line that
# says it listens, sends SIGNAL (TERM or INT), and checks that it said it was shutting down
# on that signal, printed its shutdown line with every connection finished, and exited 0.
# Exits 77 (skipped) where this shell lacks what it needs.
sig="$1"
shift
for tool in grep mktemp kill sleep; do
  command -v "$tool" >/dev/null 2>&1 || { echo "skipped: no $tool"; exit 77; }
done
out=$(mktemp) || exit 77
trap 'rm -f "$out"' EXIT

"$@" 0 >"$out" 2>&1 &
pid=$!
tries=0
until grep -q " on " "$out"; do
  if ! kill -0 "$pid" 2>/dev/null; then
    cat "$out"
    echo "FAILED: the server exited before it listened"
    exit 1
  fi
  tries=$((tries + 1))
  if [ "$tries" -gt 2000 ]; then
    kill -KILL "$pid"
    cat "$out"
    echo "FAILED: the server did not say it listens"
    exit 1
  fi
  sleep 0.01 2>/dev/null || sleep 1
done
kill "-$sig" "$pid"
wait "$pid"
status=$?
cat "$out"
if [ "$status" -ne 0 ]; then
  echo "FAILED: exit status $status after SIG$sig"
  exit 1
fi
if ! grep -q "^SIG$sig: shutting down" "$out"; then
  echo "FAILED: no 'SIG$sig: shutting down' line"
  exit 1
fi
if ! grep -q "^shut down: .*all finished" "$out"; then
  echo "FAILED: no shutdown line with every connection finished"
  exit 1
fi
echo "ok: SIG$sig shut the server down cleanly"
