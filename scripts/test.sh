#!/usr/bin/env bash
# Runs airlock's whole test suite: unit tests, end-to-end CLI tests, hostile-input corpus, faults,
# property tests, the stock-tool interoperability tests (tar, zstd, minisign, sha256sum, sha384sum),
# the tests against independent implementations in Python (pyca/cryptography for ML-DSA-87,
# model-signing and cyclonedx-python-lib for provenance), the OCI tests with real parts
# (docker-registry, skopeo, umoci; modelpack-client in Python), the JSON contract tests and the
# documentation tests (every --help example, the README, man pages via man(1), completions parsed by
# bash, zsh and fish). On a fresh Debian/Ubuntu machine it first installs the tools those tests run
# (needs root); elsewhere it says what is missing and stops. The Python tools go into a virtual
# environment the tests create from PyPI on first use (target/test-venv, or $AIRLOCK_TEST_VENV).
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
for tool in zstd minisign tar sha256sum sha384sum /usr/bin/time python3 man bash zsh fish openssl docker-registry skopeo umoci softhsm2-util pkcs11-tool script; do
  command -v "$tool" >/dev/null 2>&1 || need+=("$tool")
done
# Debian's python3 creates virtual environments only with python3-venv (ensurepip) installed.
python3 -c 'import ensurepip' >/dev/null 2>&1 || need+=(python3-venv)
if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "installing the stock tools the interop tests use: ${need[*]}" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq zstd minisign tar coreutils time python3 python3-venv man-db zsh fish openssl docker-registry skopeo umoci softhsm2 opensc util-linux >/dev/null
  else
    echo "missing: ${need[*]}; install them (Debian: apt-get install -y zstd minisign time python3 python3-venv man-db zsh fish openssl docker-registry skopeo umoci softhsm2 opensc util-linux) and run again" >&2
    exit 3
  fi
fi

# The Python tools (pyca/cryptography and its vectors, model-signing, cyclonedx-python-lib,
# modelpack-client) go into target/test-venv, or $AIRLOCK_TEST_VENV, which the tests create from
# PyPI on first use and rebuild when the pinned list in tests/it/support/pytools.rs changes.
cargo test --locked --release "$@"
