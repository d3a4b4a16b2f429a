#!/usr/bin/env bash
# Regenerates tests/fixtures/classic-v1: a small bundle made by airlock as it was before suites
# existed (commit a1a624d, the last one without `--suite`), its release public key and a trust
# file. `cnsa2::a_classic_bundle_from_before_suites_still_verifies` checks that today's airlock
# verifies and unpacks it unchanged. The signing key is thrown away, so a regenerated fixture has
# another key id and signature (and a new .sha256); the manifest and payload bytes are the same.
#
# Usage: scripts/make-classic-fixture.sh   (from anywhere inside the repository; needs git, cargo)
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$PWD
commit=a1a624d
out=$repo/tests/fixtures/classic-v1
work=$(mktemp -d)
trap 'git -C "$repo" worktree remove --force "$work/src" >/dev/null 2>&1 || true; rm -rf "$work"' EXIT

git -C "$repo" worktree add --detach "$work/src" "$commit" >/dev/null
cargo build --quiet --release --manifest-path "$work/src/Cargo.toml" --target-dir "$work/target"
old=$work/target/release/airlock

release=$work/release
mkdir -p "$release/model/tiny" "$release/safeguard"
printf '{"model_type": "llama", "hidden_size": 64}\n' > "$release/model/tiny/config.json"
# A minimal valid safetensors file: 8-byte header length, JSON header, 32 bytes of BF16 data.
{
  printf '\x42\x00\x00\x00\x00\x00\x00\x00'
  printf '{"w": {"dtype": "BF16", "shape": [4, 4], "data_offsets": [0, 32]}}'
  for i in $(seq 0 31); do printf "\\x$(printf %02x "$i")"; done
} > "$release/model/tiny/model.safetensors"
printf '[content_filter]\ncategories = ["cbrn"]\nstrength = "high"\n' \
  > "$release/safeguard/content-filter.toml"
cat > "$release/tiny.toml" <<'EOF'
[bundle]
name = "tiny"
version = "1.0.0"
sequence = 1
target = "fixture-site"
expires = "2098-01-01T00:00:00Z"

[[artifact]]
kind = "model"
name = "tiny"
path = "model/tiny"

[[artifact]]
kind = "safeguard"
name = "content-filter"
path = "safeguard/content-filter.toml"
EOF

"$old" keygen --unencrypted --out "$work/release-key" >/dev/null
mkdir -p "$out"
SOURCE_DATE_EPOCH=1763769600 "$old" pack "$release/tiny.toml" --key "$work/release-key.key" \
  -o "$out/tiny-1.0.0.airlock.tar.zst" --quiet
cp "$work/release-key.pub" "$out/release.pub"
cat > "$out/trust.toml" <<EOF
site = "fixture-site"

[roles.release]
threshold = 1
keys = ["$(sed -n 2p "$work/release-key.pub")"]
EOF
(cd "$out" && sha256sum tiny-1.0.0.airlock.tar.zst > tiny-1.0.0.airlock.tar.zst.sha256)
echo "wrote $out (made by airlock $commit)"
