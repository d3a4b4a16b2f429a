#!/usr/bin/env bash
# Benchmark of the fleet path (issue 14): a generated realistic release (scripts/gen_release.py,
# default 2 GiB of bf16 safetensors shards) is packed, then `airlock export --oci-layout`,
# `verify --oci-layout` and `unpack --oci-layout` are timed with their peak resident memory
# (/usr/bin/time -v), beside `unpack` of the bundle itself, whose bound (docs/security.md) the
# export must stay within. With --registry, the layout is also pushed into a throwaway
# docker-registry on 127.0.0.1 and pulled back with skopeo, and the pulled copy is verified.
# Baselines: `verify --oci-layout` beside `sha256sum` of every blob of the layout (and, for
# `--suite cnsa2`, `sha384sum`, the digest a cnsa2 host must check).
#
# Usage: scripts/bench-oci.sh [--size-gib N] [--small-files N] [--reps N] [--registry]
#                             [--suite classic|cnsa2] [--bench-dir DIR] [--keep] [--no-build]
#                             [--json FILE]
# Prints a markdown table on stdout; progress on stderr. Exit 0 ok, 1 a command failed, 2 usage,
# 3 a tool is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

SIZE_GIB=2 SMALL_FILES=300 REPS=1 REGISTRY=0 KEEP=0 BUILD=1 SUITE=classic
BENCH_DIR=${BENCH_DIR:-/tmp} JSON=bench-oci-results.json
while [ $# -gt 0 ]; do
  case "$1" in
    --size-gib) SIZE_GIB=$2; shift 2 ;;
    --small-files) SMALL_FILES=$2; shift 2 ;;
    --reps) REPS=$2; shift 2 ;;
    --registry) REGISTRY=1; shift ;;
    --suite) SUITE=$2; shift 2 ;;
    --bench-dir) BENCH_DIR=$2; shift 2 ;;
    --keep) KEEP=1; shift ;;
    --no-build) BUILD=0; shift ;;
    --json) JSON=$2; shift 2 ;;
    -h|--help) sed -n '2,17p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "unknown flag $1 (see --help)" >&2; exit 2 ;;
  esac
done
for tool in python3 /usr/bin/time; do
  command -v "$tool" >/dev/null || { echo "missing: $tool" >&2; exit 3; }
done
if [ $REGISTRY = 1 ]; then
  for tool in docker-registry skopeo; do
    command -v "$tool" >/dev/null || { echo "missing: $tool (apt-get install -y docker-registry skopeo)" >&2; exit 3; }
  done
fi
python3 -c 'import numpy' 2>/dev/null || { echo "missing: numpy (python3 -m pip install numpy)" >&2; exit 3; }

log() { echo "bench-oci: $*" >&2; }
[ $BUILD = 1 ] && cargo build --release --locked -q
AIRLOCK=$PWD/target/release/airlock
WORK=$(mktemp -d "$BENCH_DIR/airlock-bench-oci.XXXXXX")
REG_PID=
cleanup() {
  [ -n "$REG_PID" ] && kill -- "-$REG_PID" 2>/dev/null || true
  if [ $KEEP = 1 ]; then log "kept $WORK"; else rm -rf "$WORK"; fi
}
trap cleanup EXIT

log "generating a ${SIZE_GIB} GiB release in $WORK/release"
python3 scripts/gen_release.py "$WORK/release" --size-gib "$SIZE_GIB" --small-files "$SMALL_FILES" --quiet \
  --spec "$WORK/spec.toml"
case $SUITE in
  classic)
    "$AIRLOCK" keygen --unencrypted --out "$WORK/release-key" -q
    printf 'site = "bench-site"\n[roles.release]\nthreshold = 1\nkeys = ["%s"]\n' \
      "$(sed -n 2p "$WORK/release-key.pub")" >"$WORK/trust.toml" ;;
  cnsa2)
    pub=$("$AIRLOCK" keygen --alg ml-dsa-87 --unencrypted --out "$WORK/release-key" --json |
      python3 -c 'import json,sys; print(json.load(sys.stdin)["result"]["public_key"])')
    printf 'site = "bench-site"\n[roles.release]\nthreshold = 1\nalgorithms = ["ml-dsa-87"]\nkeys = ["%s"]\n' \
      "$pub" >"$WORK/trust.toml" ;;
  *) echo "--suite is classic or cnsa2" >&2; exit 2 ;;
esac
log "packing ($SUITE)"
SOURCE_DATE_EPOCH=1700000000 "$AIRLOCK" pack "$WORK/spec.toml" --key "$WORK/release-key.key" \
  --suite "$SUITE" -o "$WORK/bench.airlock.tar.zst" -q
SRC_BYTES=$(du -sb "$WORK/release/model" | cut -f1)

# measure NAME PREP CMD...: runs PREP (untimed), then CMD under /usr/bin/time -v, REPS times;
# records the median wall time and the largest peak RSS.
declare -A WALL RSS
measure() {
  local name=$1 prep=$2; shift 2
  local walls=() peak=0
  for _ in $(seq "$REPS"); do
    eval "$prep"
    sync
    local t0 t1
    t0=$(date +%s.%N)
    /usr/bin/time -v -o "$WORK/time.txt" "$@" >/dev/null 2>"$WORK/stderr.txt" || {
      cat "$WORK/stderr.txt" >&2; exit 1; }
    t1=$(date +%s.%N)
    walls+=("$(printf '%.2f' "$(echo "$t1 - $t0" | bc)")")
    local kb
    kb=$(awk -F': ' '/Maximum resident set size/ {print $2}' "$WORK/time.txt")
    [ "$kb" -gt "$peak" ] && peak=$kb
  done
  WALL[$name]=$(printf '%s\n' "${walls[@]}" | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}')
  RSS[$name]=$(echo "scale=1; $peak / 1024" | bc)
  log "$name: ${WALL[$name]} s, ${RSS[$name]} MiB peak"
}

CHECK=(--trust "$WORK/trust.toml" --state "$WORK/state" -q)
measure "unpack (bundle)" 'rm -rf "$WORK/unpacked" "$WORK/state"' \
  "$AIRLOCK" unpack "$WORK/bench.airlock.tar.zst" "${CHECK[@]}" --dest "$WORK/unpacked"
measure "export --oci-layout" 'rm -rf "$WORK/layout" "$WORK/state"' \
  "$AIRLOCK" export "$WORK/bench.airlock.tar.zst" "${CHECK[@]}" --oci-layout "$WORK/layout"
measure "export (no-op re-run)" ':' \
  "$AIRLOCK" export "$WORK/bench.airlock.tar.zst" "${CHECK[@]}" --oci-layout "$WORK/layout"
LAYOUT=$WORK/layout
if [ $REGISTRY = 1 ]; then
  port=$(python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])')
  printf 'version: 0.1\nlog: {level: warn, accesslog: {disabled: true}}\nstorage:\n  filesystem: {rootdirectory: %s/registry}\nhttp: {addr: 127.0.0.1:%s}\n' \
    "$WORK" "$port" >"$WORK/registry.yml"
  setsid timeout -k 5 3600 docker-registry serve "$WORK/registry.yml" >"$WORK/registry.log" 2>&1 &
  REG_PID=$!
  for _ in $(seq 200); do curl -fsS "http://127.0.0.1:$port/v2/" >/dev/null 2>&1 && break; sleep 0.05; done
  echo '{"default":[{"type":"insecureAcceptAnything"}]}' >"$WORK/policy.json"
  tag=bench-model:1.0.0
  t0=$(date +%s.%N)
  skopeo --policy "$WORK/policy.json" copy -q --preserve-digests --dest-tls-verify=false \
    "oci:$LAYOUT:$tag" "docker://127.0.0.1:$port/$tag"
  t1=$(date +%s.%N)
  skopeo --policy "$WORK/policy.json" copy -q --preserve-digests --src-tls-verify=false \
    "docker://127.0.0.1:$port/$tag" "oci:$WORK/pulled:1.0.0"
  t2=$(date +%s.%N)
  WALL["skopeo push"]=$(printf '%.2f' "$(echo "$t1 - $t0" | bc)"); RSS["skopeo push"]=n/a
  WALL["skopeo pull"]=$(printf '%.2f' "$(echo "$t2 - $t1" | bc)"); RSS["skopeo pull"]=n/a
  LAYOUT=$WORK/pulled
fi
measure "verify --oci-layout" ':' \
  "$AIRLOCK" verify --oci-layout "$LAYOUT" "${CHECK[@]}"
measure "sha256sum (blobs)" ':' \
  sh -c 'sha256sum "$1"/blobs/sha256/* >/dev/null' sh "$LAYOUT"
[ "$SUITE" = cnsa2 ] && measure "sha384sum (blobs)" ':' \
  sh -c 'sha384sum "$1"/blobs/sha256/* >/dev/null' sh "$LAYOUT"
measure "unpack --oci-layout" 'rm -rf "$WORK/host-model"' \
  "$AIRLOCK" unpack --oci-layout "$LAYOUT" "${CHECK[@]}" --dest "$WORK/host-model"

rows=("unpack (bundle)" "export --oci-layout" "export (no-op re-run)")
[ $REGISTRY = 1 ] && rows+=("skopeo push" "skopeo pull")
rows+=("verify --oci-layout" "sha256sum (blobs)")
[ "$SUITE" = cnsa2 ] && rows+=("sha384sum (blobs)")
rows+=("unpack --oci-layout")
{
  echo "## airlock fleet path ($SUITE): ${SIZE_GIB} GiB release ($(numfmt --to=iec "$SRC_BYTES") model files), median of $REPS"
  echo
  echo "| command | wall s | peak RSS MiB |"
  echo "|---|---:|---:|"
  for r in "${rows[@]}"; do echo "| $r | ${WALL[$r]} | ${RSS[$r]} |"; done
  echo
  echo "Machine: $(nproc) CPUs, $(free -g | awk '/Mem:/ {print $2}') GiB RAM, $(uname -sr); airlock $(git rev-parse HEAD 2>/dev/null || echo '?'); $(date -u +%FT%TZ)"
}
python3 - "$JSON" "${rows[@]}" <<EOF
import json, sys
rows = sys.argv[2:]
wall = {$(for r in "${rows[@]}"; do printf '"%s": "%s", ' "$r" "${WALL[$r]}"; done)}
rss = {$(for r in "${rows[@]}"; do printf '"%s": "%s", ' "$r" "${RSS[$r]}"; done)}
json.dump({"suite": "$SUITE", "size_gib": $SIZE_GIB, "model_bytes": $SRC_BYTES, "reps": $REPS,
           "results": [{"command": r, "wall_s": wall[r], "peak_rss_mib": rss[r]} for r in rows]},
          open(sys.argv[1], "w"), indent=2)
EOF
log "JSON written to $JSON"
