#!/bin/sh
# chat_server as a test:
#   chat_server_test.sh PROGRAM
# starts PROGRAM (chat_server) on any free port with a 64-byte line limit and a Unix socket
# in a temporary directory, connects three nc clients (two over TCP, one over the Unix
# socket) and checks that:
#   - every client sees the others' lines, and never its own;
#   - a line over the limit ends only its client, which gets an error message first, while
#     the other two go on chatting;
#   - SIGTERM shuts the server down cleanly (exit 0, every client coroutine finished) and
#     removes the socket file.
# Exits 77 (skipped) without nc (Debian: netcat-openbsd, for its -U and -N) or what else
# this shell lacks.
prog="$1"
for tool in nc grep sed mktemp mkfifo kill sleep; do
  command -v "$tool" >/dev/null 2>&1 || { echo "skipped: no $tool"; exit 77; }
done
if ! nc -h 2>&1 | grep -q -- "-U"; then
  echo "skipped: this nc cannot use Unix sockets (-U); install netcat-openbsd"
  exit 77
fi
dir=$(mktemp -d) || exit 77
pids=
cleanup() {
  for p in $pids; do kill "$p" 2>/dev/null; done
  rm -rf "$dir"
}
trap cleanup EXIT

dump() {
  for f in server out1 out2 out3; do
    echo "--- $f"
    cat "$dir/$f" 2>/dev/null
  done
}
fail() {
  dump
  echo "FAILED: $1"
  exit 1
}
# wait_for FILE TEXT WHAT: waits up to 20 s for TEXT (fixed) in FILE.
wait_for() {
  tries=0
  until grep -q -F -- "$2" "$1" 2>/dev/null; do
    tries=$((tries + 1))
    [ "$tries" -gt 2000 ] && fail "$3"
    sleep 0.01 2>/dev/null || sleep 1
  done
}

"$prog" --port 0 --max-line 64 --unix "$dir/chat.sock" >"$dir/server" 2>&1 &
server=$!
pids="$server"
wait_for "$dir/server" "chat server on" "the server did not say it listens"
port=$(sed -n 's/^chat server on 127\.0\.0\.1:\([0-9]*\).*/\1/p' "$dir/server")
[ -n "$port" ] || fail "no port in the server's first line"
[ -S "$dir/chat.sock" ] || fail "no socket file at $dir/chat.sock"

# Each client reads its stdin from a FIFO this script holds open (descriptors 3, 4, 5), so
# that it stays connected until the script says otherwise.
for i in 1 2 3; do mkfifo "$dir/in$i" || exit 77; done
nc -N 127.0.0.1 "$port" <"$dir/in1" >"$dir/out1" 2>&1 &
nc1=$!
nc -N 127.0.0.1 "$port" <"$dir/in2" >"$dir/out2" 2>&1 &
nc2=$!
nc -N -U "$dir/chat.sock" <"$dir/in3" >"$dir/out3" 2>&1 &
nc3=$!
pids="$pids $nc1 $nc2 $nc3"
exec 3>"$dir/in1" 4>"$dir/in2" 5>"$dir/in3"
for i in 1 2 3; do
  wait_for "$dir/out$i" "* you are client" "nc$i was not welcomed"
done
tries=0
until [ "$(grep -c ' joined$' "$dir/server")" -ge 3 ]; do
  tries=$((tries + 1))
  [ "$tries" -gt 2000 ] && fail "three clients did not join"
  sleep 0.01 2>/dev/null || sleep 1
done

# say_all WORD: each client sends "WORD from ncN"; each must get the other two's.
say_all() {
  echo "$1 from nc1" >&3
  echo "$1 from nc2" >&4
  echo "$1 from nc3" >&5
  for to in 1 2 3; do
    for from in 1 2 3; do
      [ "$from" = "$to" ] && continue
      wait_for "$dir/out$to" ": $1 from nc$from" "nc$to did not get nc$from's '$1' line"
    done
  done
}
say_all hello
# A second round: when nc1 has nc2's second line, any copy of its own first line would
# have come before it (the server queues a line for everyone at once).
say_all again
for i in 1 2 3; do
  if grep -q "hello from nc$i" "$dir/out$i"; then
    fail "nc$i got its own line back"
  fi
done

# Over the limit (64 bytes): nc3 gets an error message and is disconnected.
echo "this line is far too long for the server: $(printf '%080d' 0)" >&5
wait_for "$dir/out3" "* error: line longer than 64 bytes" "nc3 got no error message"
wait_for "$dir/server" "left: line over the limit" "the server did not end nc3's client"
tries=0
while kill -0 "$nc3" 2>/dev/null; do
  tries=$((tries + 1))
  [ "$tries" -gt 2000 ] && fail "nc3 is still connected after its over-long line"
  sleep 0.01 2>/dev/null || sleep 1
done
wait_for "$dir/out1" "left" "nc1 was not told that nc3 left"
if grep -q "far too long" "$dir/out1" "$dir/out2"; then
  fail "the over-long line reached the others"
fi
kill -0 "$server" 2>/dev/null || fail "the server ended with the client"
# The others go on.
echo "still here from nc1" >&3
wait_for "$dir/out2" ": still here from nc1" "nc2 did not get a line after nc3 left"
echo "me too from nc2" >&4
wait_for "$dir/out1" ": me too from nc2" "nc1 did not get a line after nc3 left"

# SIGTERM with two clients connected: a clean shutdown.
kill -TERM "$server"
wait "$server"
status=$?
pids="$nc1 $nc2"
exec 3>&- 4>&- 5>&-
if [ "$status" -ne 0 ]; then
  fail "exit status $status after SIGTERM"
fi
grep -q "^SIGTERM: shutting down" "$dir/server" || fail "no 'SIGTERM: shutting down' line"
grep -q "^shut down: 3 clients served, all finished" "$dir/server" ||
  fail "no shutdown line with three clients served, all finished"
[ -e "$dir/chat.sock" ] && fail "the socket file is still there"
dump
echo "ok: three clients chatted, an over-long line ended only its client, SIGTERM shut down"
