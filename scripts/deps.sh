#!/usr/bin/env bash
# Installs the Debian 12 packages xcoro needs that are missing, and nothing else.
# Usage: scripts/deps.sh [extra-package ...]
set -euo pipefail

# libboost-fiber-dev and golang-go are only the peers of xcoro-channel-bench and bench/io;
# libboost-coroutine-dev (boost::asio::spawn in Boost 1.74) and wrk only serve bench/io.
packages=(cmake ninja-build g++ make pkg-config libgtest-dev libbenchmark-dev
          libboost-context-dev liburing-dev libboost-fiber-dev golang-go
          libboost-coroutine-dev wrk "$@")

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
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
