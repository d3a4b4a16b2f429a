#!/usr/bin/env bash
# Runs airlock's whole test suite: unit tests, end-to-end CLI tests, hostile-input corpus, faults,
# property tests and the stock-tool interoperability tests (tar, zstd, minisign, sha256sum).
# On a fresh Debian/Ubuntu machine it first installs the stock tools the interop tests run
# (needs root); elsewhere it says what is missing and stops.
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
for tool in zstd minisign tar sha256sum /usr/bin/time; do
  command -v "$tool" >/dev/null 2>&1 || need+=("$tool")
done
if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "installing the stock tools the interop tests use: ${need[*]}" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq zstd minisign tar coreutils time >/dev/null
  else
    echo "missing: ${need[*]}; install them (Debian: apt-get install -y zstd minisign time) and run again" >&2
    exit 3
  fi
fi

cargo test --locked --release "$@"
