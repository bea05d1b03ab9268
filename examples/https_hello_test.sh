#!/bin/sh
# https_hello as a test:
#   https_hello_test.sh PROGRAM [--threads N]
# makes a CA and a certificate for localhost with openssl in a temporary directory, starts
# PROGRAM on a free port (on a runtime of N workers if given), asks it with curl --cacert
# (three requests on one keep-alive connection, then one checking HTTP/1.1 through ALPN and
# the verification, then a client that does not trust the CA and must fail), stops it with
# SIGTERM, and checks that it shut down with every connection finished and exited 0. Exits
# 77 (skipped) without openssl or curl.
program="$1"
shift
threads=
[ "$1" = "--threads" ] && threads="$2"
for tool in openssl curl grep mktemp kill sleep; do
  command -v "$tool" >/dev/null 2>&1 || { echo "skipped: no $tool"; exit 77; }
done
dir=$(mktemp -d) || exit 77
pid=
cleanup() {
  [ -n "$pid" ] && kill -KILL "$pid" 2>/dev/null
  rm -rf "$dir"
}
trap cleanup EXIT
fail() {
  cat "$dir/out"
  echo "FAILED: $*"
  exit 1
}

ec="-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes"
(
  cd "$dir" &&
    openssl req -x509 $ec -keyout ca.key -out ca.pem -days 2 -subj /CN=https-hello-ca \
      -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign &&
    openssl req $ec -keyout server.key -out server.csr -subj /CN=localhost &&
    printf 'subjectAltName=DNS:localhost\n' >san.ext &&
    openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 2 \
      -extfile san.ext -out server.pem
) >"$dir/gen.log" 2>&1 || { cat "$dir/gen.log"; echo "FAILED: openssl"; exit 1; }

"$program" --cert "$dir/server.pem" --key "$dir/server.key" --port 0 "$@" >"$dir/out" 2>&1 &
pid=$!
tries=0
until grep -q "^https hello on " "$dir/out"; do
  kill -0 "$pid" 2>/dev/null || fail "the server exited before it listened"
  tries=$((tries + 1))
  [ "$tries" -gt 2000 ] && fail "the server did not say it listens"
  sleep 0.01 2>/dev/null || sleep 1
done
url=$(sed -n 's/^https hello on \([^ ]*\).*/\1/p' "$dir/out")
if [ -n "$threads" ]; then
  grep -q "^https hello on .* with $threads worker threads " "$dir/out" ||
    fail "not on $threads worker threads"
fi

# Three requests on one connection (curl reuses it for the same host).
got=$(curl -sS --max-time 20 --cacert "$dir/ca.pem" "$url" "$url" "$url" 2>&1)
[ "$got" = "$(printf 'hello\nhello\nhello')" ] || fail "curl got: $got"
# HTTP/1.1, agreed through ALPN, and the certificate verified.
info=$(curl -sS --max-time 20 --cacert "$dir/ca.pem" -o /dev/null \
  -w '%{http_version} %{ssl_verify_result}' "$url" 2>&1)
[ "$info" = "1.1 0" ] || fail "curl -w: $info"
# A client without the CA must refuse the certificate.
if curl -sS --max-time 20 "$url" >"$dir/untrusted" 2>&1; then
  fail "curl without --cacert accepted the certificate"
fi
kill -TERM "$pid"
wait "$pid"
status=$?
pid=
cat "$dir/out"
[ "$status" -eq 0 ] || { echo "FAILED: exit status $status after SIGTERM"; exit 1; }
grep -q "^SIGTERM: shutting down" "$dir/out" || { echo "FAILED: no SIGTERM line"; exit 1; }
grep -q "^shut down: 3 connections served, 2 handshakes, .* 0 left" "$dir/out" ||
  { echo "FAILED: not the connections expected"; exit 1; }
echo "ok: https_hello answered curl over TLS and shut down cleanly"
