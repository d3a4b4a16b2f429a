#!/usr/bin/env bash
# Runs airlock's whole test suite: unit tests, end-to-end CLI tests, hostile-input corpus, faults,
# property tests, the stock-tool interoperability tests (tar, zstd, minisign, sha256sum) and the
# OCI tests with real parts (docker-registry, skopeo, umoci, and modelpack-client + jsonschema in
# a Python venv). On a fresh Debian/Ubuntu machine it first installs the stock tools the tests run
# (needs root); elsewhere it says what is missing and stops.
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
for tool in zstd minisign tar sha256sum /usr/bin/time docker-registry skopeo umoci python3; do
  command -v "$tool" >/dev/null 2>&1 || need+=("$tool")
done
if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "installing the stock tools the interop tests use: ${need[*]}" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq zstd minisign tar coreutils time docker-registry skopeo umoci python3 python3-venv >/dev/null
  else
    echo "missing: ${need[*]}; install them (Debian: apt-get install -y zstd minisign time docker-registry skopeo umoci python3 python3-venv) and run again" >&2
    exit 3
  fi
fi

# The independent OCI readers (tests/it/oci.rs): a venv with pinned modelpack-client and
# jsonschema, made once; AIRLOCK_TEST_PYTHON names it for the tests (or set it to your own).
if [ -z "${AIRLOCK_TEST_PYTHON:-}" ]; then
  venv="${AIRLOCK_TEST_VENV:-target/oci-readers-venv}"
  if ! "$venv/bin/python3" -c 'import modelpack_client, jsonschema' 2>/dev/null; then
    echo "creating $venv with modelpack-client and jsonschema for the OCI tests" >&2
    rm -rf "$venv"
    python3 -m venv "$venv"
    "$venv/bin/python3" -m pip install --quiet modelpack-client==0.1.0 jsonschema==4.26.0
  fi
  export AIRLOCK_TEST_PYTHON="$PWD/$venv/bin/python3"
fi

cargo test --locked --release "$@"
