#!/usr/bin/env bash
# Installs the Debian 12 packages xcoro needs that are missing, and nothing else.
# Usage: scripts/deps.sh [extra-package ...]
set -euo pipefail

# netcat-openbsd (nc with -U and -N) runs the chat_server example's test.
# libboost-fiber-dev and golang-go are only the peers of xcoro-channel-bench and bench/io;
# libboost-coroutine-dev (boost::asio::spawn in Boost 1.74) and wrk only serve bench/io;
# cargo and librust-tokio-dev (Tokio's sources, built offline) are the Tokio peers of
# xcoro-skynet-bench and bench/io.
packages=(cmake ninja-build g++ make pkg-config libgtest-dev libbenchmark-dev netcat-openbsd
          libboost-context-dev liburing-dev libboost-fiber-dev golang-go
          libboost-coroutine-dev wrk cargo librust-tokio-dev "$@")
# libssl-dev builds xcoro::tls (<xcoro/tls.hpp>); the openssl and curl tools run its tests
# and the https_hello example's.
packages+=(libssl-dev openssl curl)

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done
if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi

echo "xcoro: installing ${missing[*]}"
sudo=""
if [ "$(id -u)" -ne 0 ]; then
  sudo="sudo"
fi

# A freshly booted machine often has unattended-upgrades (or another apt) holding the
# package locks for a few minutes: wait for them, at most lock_timeout seconds, printing
# one line, rather than fail at once. `apt-get install` waits for dpkg's locks itself
# (DPkg::Lock::Timeout, apt >= 1.9.11), but apt 2.6's `apt-get update` fails at once on
# /var/lib/apt/lists/lock whatever that option says, so update is retried while a held
# lock is what it reports.
lock_timeout=600
deadline=$((SECONDS + lock_timeout))
said_waiting=0
say_waiting() {  # $1: who holds the lock, as apt or lslocks names it
  if [ $said_waiting = 0 ]; then
    echo "xcoro: the package lock is held ($1); waiting, at most $((lock_timeout / 60)) minutes"
    said_waiting=1
  fi
}
apt_get() {
  DEBIAN_FRONTEND=noninteractive $sudo apt-get -o DPkg::Lock::Timeout=$lock_timeout "$@"
}

while ! out=$(LC_ALL=C apt_get update -qq 2>&1); do
  if ! grep -q "Could not get lock" <<<"$out" || [ $SECONDS -ge $deadline ]; then
    printf '%s\n' "$out" >&2
    exit 1
  fi
  say_waiting "$(grep -o -m1 'held by process.*' <<<"$out" || echo "by another apt")"
  sleep 3
done
[ -z "$out" ] || printf '%s\n' "$out"

held_by=$(lslocks --noheadings --raw --output COMMAND,PID,PATH 2>/dev/null |
          awk '$3 ~ "^/var/lib/dpkg/lock" { print "held by process " $2 " (" $1 ")"; exit }' ||
          true)
if [ -n "$held_by" ]; then
  say_waiting "$held_by"
fi
lock_timeout=$((deadline - SECONDS > 0 ? deadline - SECONDS : 1))
apt_get install -y -qq --no-install-recommends "${missing[@]}"
