#!/usr/bin/env bash
# Builds the Debian package for air-gapped hosts: target/debian/airlock_VERSION_ARCH.deb with the
# binary, man pages (airlock(1) and one per subcommand), bash/zsh/fish completions, README, the
# format and security documents, the JSON schemas and the license ([package.metadata.deb] in
# Cargo.toml). The man pages and completions come from the binary itself (`airlock manpage`,
# `airlock completions`), so they match its flags. Needs cargo-deb:
#   cargo install cargo-deb --locked
set -euo pipefail
cd "$(dirname "$0")/.."

if ! cargo deb --version >/dev/null 2>&1; then
  echo "cargo-deb is not installed: run \`cargo install cargo-deb --locked\` and try again" >&2
  exit 3
fi

cargo build --release --locked
bin=target/release/airlock
rm -rf target/assets
mkdir -p target/assets/man target/assets/completions
"$bin" manpage target/assets/man -q
"$bin" completions bash > target/assets/completions/airlock
"$bin" completions zsh > target/assets/completions/_airlock
"$bin" completions fish > target/assets/completions/airlock.fish
gzip -9n target/assets/man/*.1

cargo deb --no-build --locked "$@"
