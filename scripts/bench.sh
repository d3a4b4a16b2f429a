#!/usr/bin/env bash
# The contenders are bash snippets kept in single quotes on purpose (expanded when run):
# shellcheck disable=SC2016
# Benchmark airlock against the by-hand pipeline (sha256sum + reproducible GNU tar + zstd -T0 + minisign)
# on one generated, realistic model release, in one invocation, on the same data and machine.
# Run `scripts/bench.sh --help` for the flags.
set -euo pipefail

usage() {
  cat <<'EOF'
Usage: scripts/bench.sh [FLAGS]

Builds airlock (cargo build --release --locked), generates a realistic release (bf16
safetensors shards drawn from N(0, 0.02), a multi-MB tokenizer.json, configs, thousands of
small JSON files) with scripts/gen_release.py, then times airlock against the by-hand
pipeline and against the machine's own floors, alternating the contenders within each
repetition, and reports medians. The targets are issue 16's.

Compared (airlock vs by-hand):
  pack            airlock pack     vs  sha256sum of every file > SHA256SUMS, reproducible GNU tar
                                       | zstd -T0 -LEVEL, minisign -S of the archive and of SHA256SUMS
  pack (floor)    airlock pack     vs  tar | zstd -T0 -LEVEL alone (the compression floor)
  verify          airlock verify   vs  minisign -V of the archive and of SHA256SUMS
  verify --deep   airlock verify --deep
                                   vs  minisign -V (both) + zstd -d -c archive >/dev/null
                                       + sha256sum -c of the source tree
  unpack          airlock unpack   vs  minisign -V (both), zstd -d | tar -x into a fresh dir,
                                       sha256sum -c in it (destinations removed between reps, untimed)
  unpack (fsync)  airlock unpack   vs  the same receive, then fsync of every extracted file
                                       (`sync FILE...`), since airlock unpack fsyncs each file
  export          airlock export --oci-layout (layout removed between reps, untimed) vs
                  airlock unpack of the same bundle
  verify (OCI)    airlock verify --oci-layout of that layout vs sha256sum of every file under
                  LAYOUT/blobs/sha256/ (as scripts/bench-oci.sh; which also does the registry leg)
  threads         airlock pack / unpack --threads HI vs --threads LO (ratio HI/LO)
  cnsa2           airlock pack/verify/verify --deep/unpack --suite cnsa2 (SHA-384, ML-DSA-87) vs
                  the classic suite and vs the by-hand pipeline; and, in absolute milliseconds,
                  ML-DSA-87 signing (`airlock sign` of a small bundle, in place) and verification
                  (`airlock verify` of that bundle), whole processes
  latency         airlock inspect BUNDLE and airlock bom BUNDLE -o FILE, whole processes, in ms
                  (target < 50 ms whatever the size), at the release size and at the scale size
  token           airlock pack of a small bundle (the tokenizer, classic suite) with a key file vs
                  with a key on a PKCS#11 token (SoftHSM2 in a private temp config and token dir,
                  `airlock keygen --token`, PIN from the URI's pin-source=file:); reports the
                  difference in ms (target < 100 ms). Skipped, with a warning, when softhsm2-util
                  or libsofthsm2.so is missing
  memory          peak RSS (/usr/bin/time -v) of every airlock command at the release size, at
                  --rss-scale times that size (a second generated release) and, for pack, verify
                  and unpack, at the files phase's larger file count; target <= 256 MiB each, and
                  at most 10% growth from the release size to the scale size
  scaling         seconds per GiB of source for pack, verify and unpack at the scale size (one
                  run) vs at the release size (median): target ratio <= 1.10
  files           two releases of 0.01 GiB of shards plus 5,000 and 50,000 small files (500 and
                  5,000 with --smoke): pack, verify and unpack of each, REPS reps; seconds per file
                  at the larger count vs at the smaller, target ratio <= 1.20

The machine's floors (contenders of their own, timed like the others), printed beside each
ratio with airlock's ratio to them:
  floor           tar | zstd -T0 -LEVEL alone: the pack floor (target airlock <= 1.10x)
  floor_hash      the bundle file split into `nproc` contiguous byte ranges, each read by
                  `dd ... iflag=skip_bytes,count_bytes | openssl dgst -sha256`, all in parallel:
                  the verify floor (informative)
  floor_write     dd if=/dev/zero bs=4M conv=fsync of the release's source bytes into one file
                  (removed untimed before each rep): the storage half of the unpack floor
  floor_cpu       the CPU half of the unpack floor: the CPU seconds (user + system, from
                  /usr/bin/time) of `zstd -d -c ARCHIVE | openssl dgst -sha256`, decompression plus
                  hashing measured alone, divided by the number of cores: the time that work takes
                  spread perfectly over every core. The unpack floor is max(floor_write,
                  floor_cpu), target airlock <= 1.25x; export shows its ratio to the same floor
                  (informative)
  floor_cpu_bundle  the same CPU measure of `zstd -d -c BUNDLE | openssl dgst -sha256`: the
                  verify --deep floor (informative)
  The floors hash with `openssl dgst -sha256` (SHA-NI, ~1.3 GB/s per core here), not coreutils
  `sha256sum` (~4x slower on the same machine), so a floor is what the hardware allows and not
  what a slow tool does. airlock hashes more than the floors do (every frame's compressed bytes
  as well as every file), so its ratio to a floor includes that design cost.

All runs are warm-cache: dropping the page cache is not reliably possible, so one untimed
warm-up read of the source tree is done first. Before every timed run an untimed `sync`
flushes dirty pages left by the previous run. Progress goes to stderr; the markdown tables
to stdout; the same results, with machine info, as JSON to --json.

Flags:
  --size-gib N        safetensors bytes in the release, GiB (default 2; fractions allowed)
  --shard-mib N       target safetensors shard size, MiB (default 512)
  --small-files N     number of small JSON files in eval-data/ (default 3000)
  --reps N            timed repetitions of every contender (default 3); medians are reported
                      (the latency and token rows run 3*N; at the scale size, 3)
  --level N           zstd level for both airlock (--level) and the by-hand zstd (default 3)
  --threads-lo N      low thread count for the threads comparison (default 1)
  --threads-hi N      high thread count for the threads comparison (default 2)
  --rss-scale K       also measure peak RSS and time per GiB on a release K times as large
                      (default 8: 16 GiB with the default 2 GiB)
  --skip-scale        skip the K-times release (saves disk: it needs about 3*K*SIZE GiB free)
  --skip-files        skip the files phase (the 5,000- and 50,000-file releases)
  --json FILE         write the results as JSON to FILE (default bench-results.json)
  --bench-dir DIR     parent directory for the temporary work dir (default $BENCH_DIR, else /tmp)
  --keep              keep the work dir (keys, logs, and the last phase's release and outputs)
                      instead of deleting it on exit
  --no-build          do not run cargo build; use the existing target/release/airlock
  --airlock PATH      benchmark this airlock binary instead (implies --no-build)
  --smoke             quick run: 64 MiB release in 16 MiB shards, 1 rep, files phase at 500 and
                      5,000 files (flags given explicitly still win; the scale phase still runs
                      unless --skip-scale)
  -h, --help          show this help

Exit status: 0 on success, 1 if a command failed, 2 on bad usage, 3 if a required tool
(zstd, minisign, /usr/bin/time, GNU tar, dd, python3) is missing.
EOF
}

die() { echo "bench: $*" >&2; exit 1; }
log() { echo "bench: $*" >&2; }

# ----------------------------------------------------------------------------- flags
SIZE_GIB="" SHARD_MIB="" SMALL_FILES="" REPS="" LEVEL="" THREADS_LO="" THREADS_HI=""
AIRLOCK_BIN="" RSS_SCALE="" SKIP_SCALE=0 SKIP_FILES=0 JSON_OUT="" BENCH_PARENT="${BENCH_DIR:-}" KEEP=0 NO_BUILD=0 SMOKE=0

need_arg() { [[ $# -ge 2 && -n "$2" ]] || { echo "bench: $1 needs a value (see --help)" >&2; exit 2; }; }
while [[ $# -gt 0 ]]; do
  case "$1" in
    --size-gib)    need_arg "$@"; SIZE_GIB=$2; shift 2 ;;
    --shard-mib)   need_arg "$@"; SHARD_MIB=$2; shift 2 ;;
    --small-files) need_arg "$@"; SMALL_FILES=$2; shift 2 ;;
    --reps)        need_arg "$@"; REPS=$2; shift 2 ;;
    --level)       need_arg "$@"; LEVEL=$2; shift 2 ;;
    --threads-lo)  need_arg "$@"; THREADS_LO=$2; shift 2 ;;
    --threads-hi)  need_arg "$@"; THREADS_HI=$2; shift 2 ;;
    --rss-scale)   need_arg "$@"; RSS_SCALE=$2; shift 2 ;;
    --skip-scale)  SKIP_SCALE=1; shift ;;
    --skip-files)  SKIP_FILES=1; shift ;;
    --json)        need_arg "$@"; JSON_OUT=$2; shift 2 ;;
    --bench-dir)   need_arg "$@"; BENCH_PARENT=$2; shift 2 ;;
    --keep)        KEEP=1; shift ;;
    --no-build)    NO_BUILD=1; shift ;;
    --airlock)     need_arg "$@"; AIRLOCK_BIN=$2; NO_BUILD=1; shift 2 ;;
    --smoke)       SMOKE=1; shift ;;
    -h|--help)     usage; exit 0 ;;
    *) echo "bench: unknown flag '$1' (see --help)" >&2; exit 2 ;;
  esac
done
# The files phase: two releases of FILES_GIB GiB of shards and FILES_LO / FILES_HI small files.
FILES_GIB=0.01 FILES_LO=5000 FILES_HI=50000
if [[ $SMOKE == 1 ]]; then
  SIZE_GIB=${SIZE_GIB:-0.0625}; SHARD_MIB=${SHARD_MIB:-16}; REPS=${REPS:-1}
  FILES_LO=500 FILES_HI=5000
fi
SIZE_GIB=${SIZE_GIB:-2}; SHARD_MIB=${SHARD_MIB:-512}; SMALL_FILES=${SMALL_FILES:-3000}
REPS=${REPS:-3}; LEVEL=${LEVEL:-3}; THREADS_LO=${THREADS_LO:-1}; THREADS_HI=${THREADS_HI:-2}
RSS_SCALE=${RSS_SCALE:-8}; JSON_OUT=${JSON_OUT:-bench-results.json}; BENCH_PARENT=${BENCH_PARENT:-/tmp}

is_uint() { [[ $1 =~ ^[0-9]+$ ]] && (( $1 >= 1 )); }
[[ $SIZE_GIB =~ ^[0-9]*\.?[0-9]+$ ]] || { echo "bench: --size-gib must be a positive number" >&2; exit 2; }
for v in "--shard-mib:$SHARD_MIB" "--reps:$REPS" "--threads-lo:$THREADS_LO" "--threads-hi:$THREADS_HI" "--rss-scale:$RSS_SCALE"; do
  is_uint "${v#*:}" || { echo "bench: ${v%%:*} must be a positive integer" >&2; exit 2; }
done
[[ $SMALL_FILES =~ ^[0-9]+$ ]] || { echo "bench: --small-files must be an integer" >&2; exit 2; }
[[ $LEVEL =~ ^-?[0-9]+$ ]] || { echo "bench: --level must be an integer" >&2; exit 2; }
case "$JSON_OUT" in /*) ;; *) JSON_OUT="$PWD/$JSON_OUT" ;; esac

# ----------------------------------------------------------------------------- tools
SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$SCRIPT_DIR/.." && pwd)
[[ -f $ROOT/Cargo.toml ]] || die "cannot find the repository root (no Cargo.toml in $ROOT)"
GEN="$SCRIPT_DIR/gen_release.py"

missing=()
command -v zstd >/dev/null 2>&1 || missing+=(zstd)
command -v minisign >/dev/null 2>&1 || missing+=(minisign)
[[ -x /usr/bin/time ]] || missing+=(time)
if (( ${#missing[@]} )); then
  echo "bench: missing required tool(s): ${missing[*]}" >&2
  echo "bench: install them with:  apt-get install -y zstd minisign time" >&2
  exit 3
fi
if ! tar --version 2>/dev/null | grep -q 'GNU tar'; then
  echo "bench: GNU tar is required (for --sort=name); install it with:  apt-get install -y tar" >&2
  exit 3
fi
for t in python3 sha256sum taskset dd openssl; do
  command -v "$t" >/dev/null 2>&1 || { echo "bench: $t is required but missing" >&2; exit 3; }
done
if ! python3 -c 'import numpy' >/dev/null 2>&1; then
  log "numpy is missing (needed by scripts/gen_release.py); installing it: python3 -m pip install numpy"
  python3 -m pip install --quiet numpy >&2 || { echo "bench: 'python3 -m pip install numpy' failed" >&2; exit 3; }
fi

export SOURCE_DATE_EPOCH=1700000000
export LC_ALL=C

# ----------------------------------------------------------------------------- build
if [[ $NO_BUILD == 0 ]]; then
  log "building airlock: cargo build --release --locked (in $ROOT)"
  (cd "$ROOT" && cargo build --release --locked >&2) || die "cargo build --release --locked failed"
fi
AIRLOCK="${AIRLOCK_BIN:-${CARGO_TARGET_DIR:-$ROOT/target}/release/airlock}"
if [[ -n $AIRLOCK_BIN ]]; then
  case "$AIRLOCK" in /*) ;; *) AIRLOCK="$PWD/$AIRLOCK" ;; esac
else
  case "$AIRLOCK" in /*) ;; *) AIRLOCK="$ROOT/$AIRLOCK" ;; esac
fi
[[ -x $AIRLOCK ]] || die "no airlock binary at $AIRLOCK (build it, or drop --no-build)"

COMMIT=$(git -C "$ROOT" rev-parse --verify -q HEAD 2>/dev/null || echo unknown)
if [[ $COMMIT != unknown ]] && [[ -n $(git -C "$ROOT" status --porcelain -- src Cargo.toml Cargo.lock 2>/dev/null) ]]; then
  COMMIT="$COMMIT+dirty"
fi

# Optional flags: pass them only if this airlock build accepts them.
has_flag() { local h; h=$("$AIRLOCK" "$1" --help 2>&1 || true); grep -q -- "$2" <<<"$h"; }
q_flag() { if has_flag "$1" --quiet; then echo --quiet; fi; }
Q_PACK=$(q_flag pack); Q_VERIFY=$(q_flag verify); Q_UNPACK=$(q_flag unpack); Q_KEYGEN=$(q_flag keygen)
LEVEL_ARGS=""
if has_flag pack --level; then LEVEL_ARGS="--level $LEVEL"; else log "warning: airlock pack has no --level; using its default"; fi
SPEC_EXPIRES=0
if has_flag pack 'expires ='; then SPEC_EXPIRES=1; fi
has_flag pack --threads || die "airlock pack does not accept --threads (the contract says it does)"
has_flag unpack --threads || die "airlock unpack does not accept --threads (the contract says it does)"
# The OCI export rows, and the inspect / bom latency rows, when this build has those commands.
OCI=0 INSPECT=0 BOM=0
if has_flag export --oci-layout; then OCI=1; else log "warning: this airlock has no export --oci-layout; the OCI rows are skipped"; fi
if has_flag inspect BUNDLE; then INSPECT=1; else log "warning: this airlock has no inspect; its latency rows are skipped"; fi
if has_flag bom --output; then BOM=1; else log "warning: this airlock has no bom --output; its latency rows are skipped"; fi
Q_EXPORT=""; Q_BOM=""
if [[ $OCI == 1 ]]; then Q_EXPORT=$(q_flag export); fi
if [[ $BOM == 1 ]]; then Q_BOM=$(q_flag bom); fi
FLOOR_JOBS=$(nproc)
export AIRLOCK Q_PACK Q_VERIFY Q_UNPACK Q_EXPORT Q_BOM LEVEL LEVEL_ARGS FLOOR_JOBS

# ----------------------------------------------------------------------------- work dir
mkdir -p "$BENCH_PARENT"
WORK=$(mktemp -d "$BENCH_PARENT/airlock-bench.XXXXXX")
cleanup() {
  local rc=$?
  if [[ $KEEP == 1 ]]; then log "work dir kept: $WORK"; else rm -rf "$WORK"; fi
  exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
# Rough disk need: the release, 4 compressed copies and 2 extracted copies; the scale phase
# (run after the base phase is deleted) needs about 3 copies of the larger release.
need_gib=$(awk -v s="$SIZE_GIB" -v k="$RSS_SCALE" -v skip="$SKIP_SCALE" \
  'BEGIN { b = s * 7; c = skip ? 0 : s * k * 3; printf "%d", (b > c ? b : c) + 1 }')
free_gib=$(df -Pk "$WORK" | awk 'NR == 2 { printf "%d", $4 / 1048576 }')
if (( free_gib < need_gib )); then
  log "warning: about $need_gib GiB of disk is needed under $BENCH_PARENT, only $free_gib GiB free" \
      "(use --bench-dir, a smaller --size-gib or --skip-scale)"
fi
LOGS="$WORK/logs"; KEYS="$WORK/keys"
mkdir -p "$LOGS" "$KEYS"
SAMPLES="$WORK/samples.tsv"; RSSF="$WORK/rss.tsv"; SIZES="$WORK/sizes.tsv"
: >"$SAMPLES"; : >"$RSSF"; : >"$SIZES"
export WORK KEYS

# Keys: airlock's (for pack, and the trust file) and minisign's (for the by-hand pipeline).
# shellcheck disable=SC2086
"$AIRLOCK" keygen --out "$KEYS/airlock" --unencrypted $Q_KEYGEN >"$LOGS/keygen.log" 2>&1 \
  || { cat "$LOGS/keygen.log" >&2; die "airlock keygen failed"; }
[[ -f $KEYS/airlock.pub && -f $KEYS/airlock.key ]] || die "airlock keygen did not write $KEYS/airlock.pub/.key"
minisign -G -W -p "$KEYS/mini.pub" -s "$KEYS/mini.key" </dev/null >"$LOGS/minisign-keygen.log" 2>&1 \
  || { cat "$LOGS/minisign-keygen.log" >&2; die "minisign -G failed"; }
AKEY="$KEYS/airlock.key"; MKEY="$KEYS/mini.key"; MPUB="$KEYS/mini.pub"; TRUST="$KEYS/trust.toml"
cat >"$TRUST" <<EOF
site = "bench-site"

[roles.release]
threshold = 1
keys = ["$(sed -n 2p "$KEYS/airlock.pub")"]
EOF
# The cnsa2 suite: an ML-DSA-87 release key, and a trust file counting only ML-DSA-87.
CNSA=0
if has_flag pack --suite; then
  CNSA=1
  # shellcheck disable=SC2086
  "$AIRLOCK" keygen --alg ml-dsa-87 --out "$KEYS/ml" --unencrypted $Q_KEYGEN >"$LOGS/keygen-ml.log" 2>&1 \
    || { cat "$LOGS/keygen-ml.log" >&2; die "airlock keygen --alg ml-dsa-87 failed"; }
  MLKEY="$KEYS/ml.key"; TRUST_PQ="$KEYS/trust-pq.toml"
  ML_LINE="ml-dsa-87:$(grep -v -- ----- "$KEYS/ml.pub" | tr -d '\n')"
  cat >"$TRUST_PQ" <<EOF
site = "bench-site"

[roles.release]
threshold = 1
algorithms = ["ml-dsa-87"]
keys = ["$ML_LINE"]
EOF
  export MLKEY TRUST_PQ
else
  log "warning: this airlock has no pack --suite; the cnsa2 rows are skipped"
fi
export AKEY MKEY MPUB TRUST

# A PKCS#11 token (SoftHSM2) for the token row: a private config and token directory under the
# work dir (SOFTHSM2_CONF, never the machine's tokens), one token initialised with a throw-away
# PIN, and an Ed25519 key generated on it by `airlock keygen --token`. airlock reads the PIN from
# the URI's pin-source=file: (a 0600 file), so nothing prompts.
TOKEN=0 HSM_CONF="" TOKEN_URI="" HSM_MODULE=""
for m in /usr/lib/softhsm/libsofthsm2.so /usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so \
         /usr/lib/aarch64-linux-gnu/softhsm/libsofthsm2.so /usr/lib64/pkcs11/libsofthsm2.so; do
  if [[ -f $m ]]; then HSM_MODULE=$m; break; fi
done
if ! command -v softhsm2-util >/dev/null 2>&1; then
  log "warning: softhsm2-util is not installed (apt-get install -y softhsm2); the token row is skipped"
elif [[ -z $HSM_MODULE ]]; then
  log "warning: libsofthsm2.so not found (apt-get install -y softhsm2); the token row is skipped"
elif ! has_flag pack pkcs11; then
  log "warning: this airlock's pack takes no PKCS#11 key; the token row is skipped"
else
  TOKEN=1
  HSM="$WORK/softhsm"; HSM_CONF="$HSM/softhsm2.conf"
  mkdir -p "$HSM/tokens"
  printf 'directories.tokendir = %s\nobjectstore.backend = file\nlog.level = ERROR\nslots.removable = false\n' \
    "$HSM/tokens" >"$HSM_CONF"
  (umask 077 && echo 123456 >"$HSM/pin")
  SOFTHSM2_CONF="$HSM_CONF" softhsm2-util --init-token --free --label airlock-bench \
    --pin 123456 --so-pin 12345678 >"$LOGS/softhsm-init.log" 2>&1 </dev/null \
    || { cat "$LOGS/softhsm-init.log" >&2; die "softhsm2-util --init-token failed"; }
  TOKEN_URI="pkcs11:token=airlock-bench;object=release?module-path=$HSM_MODULE&pin-source=file:$HSM/pin"
  # shellcheck disable=SC2086
  SOFTHSM2_CONF="$HSM_CONF" "$AIRLOCK" keygen --token "$TOKEN_URI" --out "$KEYS/token" $Q_KEYGEN \
    >"$LOGS/keygen-token.log" 2>&1 </dev/null \
    || { cat "$LOGS/keygen-token.log" >&2; die "airlock keygen --token failed"; }
  [[ -f $KEYS/token.pub ]] || die "airlock keygen --token did not write $KEYS/token.pub"
  TRUST_TOKEN="$KEYS/trust-token.toml"
  printf 'site = "bench-site"\n\n[roles.release]\nthreshold = 1\nkeys = ["%s"]\n' \
    "$(sed -n 2p "$KEYS/token.pub")" >"$TRUST_TOKEN"
  export HSM_CONF TOKEN_URI TRUST_TOKEN
fi

# set_phase DIR: the release lives in DIR/release, its spec in DIR/spec.toml, outputs in DIR/out.
set_phase() {
  PH="$1"
  SPEC="$PH/spec.toml"; REL_PARENT="$PH"; OUT="$PH/out"; BH="$PH/out/byhand"
  BUNDLE="$OUT/bench.airlock.tar.zst"; BUNDLE_T="$OUT/bench-threads.airlock.tar.zst"
  BUNDLE_PQ="$OUT/bench-cnsa2.airlock.tar.zst"; TINY="$OUT/tiny"
  ARCHIVE="$BH/release.tar.zst"; FLOOR="$OUT/floor.tar.zst"
  DEST="$OUT/airlock-dest"; BH_DEST="$OUT/byhand-dest"
  LAYOUT="$OUT/oci-layout"; FLOOR_W="$OUT/floor-write.bin"; BOM_OUT="$OUT/bench.cdx.json"
  mkdir -p "$OUT" "$BH"
  # Each phase's bundle is a different release of the same name and sequence: give each phase its
  # own rollback state, never the machine's /var/lib/airlock.
  AIRLOCK_STATE_DIR="$PH/state"
  export PH SPEC REL_PARENT OUT BH BUNDLE BUNDLE_T BUNDLE_PQ TINY ARCHIVE FLOOR DEST BH_DEST LAYOUT
  export FLOOR_W BOM_OUT AIRLOCK_STATE_DIR
}

# next_phase DIR: delete the current phase's directory (release and outputs) to free its disk,
# then set_phase DIR. The last phase's directory stays (for --keep).
next_phase() {
  if [[ -n ${PH:-} ]]; then rm -rf "$PH"; fi
  set_phase "$1"
}

# record_source PHASE: the phase's source bytes and file count, into SIZES.
record_source() {
  local bytes files
  bytes=$(find "$PH/release" -type f -printf '%s\n' | awk '{ s += $1 } END { printf "%.0f\n", s }')
  files=$(find "$PH/release" -type f | wc -l)
  printf '%s\tsource\t%s\n%s\tsource_files\t%s\n' "$1" "$bytes" "$1" "$files" >>"$SIZES"
}

generate() { # DIR SIZE_GIB [SMALL_FILES]
  local dir=$1 size=$2 small=${3:-$SMALL_FILES}
  mkdir -p "$dir"
  log "generating a ${size} GiB release in $dir/release (seeded; ${SHARD_MIB} MiB shards, $small small files)"
  # The spec is gen_release.py's, shared with bench-oci.sh and profile.sh; `expires` only when
  # this airlock build supports it.
  local no_expires=()
  if [[ $SPEC_EXPIRES == 0 ]]; then no_expires=(--spec-no-expires); fi
  python3 "$GEN" "$dir/release" --size-gib "$size" --shard-mib "$SHARD_MIB" --small-files "$small" \
    --spec "$dir/spec.toml" "${no_expires[@]}" >&2
}

warm_up() { # DIR: one untimed read of every source file so all runs are warm-cache
  log "warm-up: reading the source tree once (untimed)"
  find "$1/release" -type f -print0 | xargs -0 cat >/dev/null
}

# ----------------------------------------------------------------------------- contenders
# Each contender is a pair of bash snippets run with `bash -euo pipefail -c`: PREP (untimed)
# and RUN (timed). Snippets refer to the exported variables above. AIRLOCK_OP=1 marks airlock
# commands, whose RUN is wrapped in /usr/bin/time -v for the peak RSS.
TAR_ARGS='--sort=name --mtime=@1700000000 --owner=0 --group=0 --numeric-owner'
export TAR_ARGS
define() {
  AIRLOCK_OP=0; CPU_FLOOR=0; PREP=':'
  case "$1" in
    airlock_pack)
      AIRLOCK_OP=1; PREP='rm -f "$BUNDLE"'
      RUN='"$AIRLOCK" pack "$SPEC" --key "$AKEY" -o "$BUNDLE" $LEVEL_ARGS $Q_PACK' ;;
    byhand_pack)
      PREP='rm -f "$BH/SHA256SUMS" "$BH/SHA256SUMS.minisig" "$ARCHIVE" "$ARCHIVE.minisig"'
      RUN='cd "$REL_PARENT"
           find release -type f -print0 | sort -z | xargs -0 sha256sum >"$BH/SHA256SUMS"
           tar $TAR_ARGS -cf - release | zstd -T0 -"$LEVEL" -q -o "$ARCHIVE"
           minisign -S -s "$MKEY" -m "$ARCHIVE" </dev/null
           minisign -S -s "$MKEY" -m "$BH/SHA256SUMS" </dev/null' ;;
    floor)
      PREP='rm -f "$FLOOR"'
      RUN='tar $TAR_ARGS -C "$REL_PARENT" -cf - release | zstd -T0 -"$LEVEL" -q -o "$FLOOR"' ;;
    airlock_verify)
      AIRLOCK_OP=1
      RUN='"$AIRLOCK" verify "$BUNDLE" --trust "$TRUST" $Q_VERIFY' ;;
    floor_hash)
      # The verify floor: the bundle's bytes hashed on all cores, as FLOOR_JOBS contiguous byte
      # ranges each read by dd and hashed by its own sha256sum, all in parallel.
      RUN='size=$(stat -c %s "$BUNDLE"); chunk=$(( (size + FLOOR_JOBS - 1) / FLOOR_JOBS )); pids=()
           for ((i = 0; i < FLOOR_JOBS; i++)); do
             dd if="$BUNDLE" bs=1M skip=$((i * chunk)) count="$chunk" iflag=skip_bytes,count_bytes status=none \
               | openssl dgst -sha256 >/dev/null &
             pids+=("$!")
           done
           for p in "${pids[@]}"; do wait "$p"; done' ;;
    floor_cpu_bundle)
      # The verify --deep floor: the bundle decompressed and its tar stream hashed, as CPU
      # seconds over the cores (CPU_FLOOR=1, see run_op).
      CPU_FLOOR=1
      RUN='zstd -d -q -c "$BUNDLE" | openssl dgst -sha256 >/dev/null' ;;
    byhand_verify)
      RUN='minisign -V -q -p "$MPUB" -m "$ARCHIVE"
           minisign -V -q -p "$MPUB" -m "$BH/SHA256SUMS"' ;;
    airlock_deep)
      AIRLOCK_OP=1
      RUN='"$AIRLOCK" verify "$BUNDLE" --trust "$TRUST" --deep $Q_VERIFY' ;;
    byhand_deep)
      RUN='minisign -V -q -p "$MPUB" -m "$ARCHIVE"
           minisign -V -q -p "$MPUB" -m "$BH/SHA256SUMS"
           zstd -d -q -c "$ARCHIVE" >/dev/null
           cd "$REL_PARENT" && sha256sum -c --quiet "$BH/SHA256SUMS"' ;;
    airlock_unpack)
      AIRLOCK_OP=1; PREP='rm -rf "$DEST"'
      RUN='"$AIRLOCK" unpack "$BUNDLE" --trust "$TRUST" --dest "$DEST" $Q_UNPACK' ;;
    floor_write)
      # The storage half of the unpack floor: the release's source bytes written into one file
      # and fsynced (the file removed before each rep, untimed).
      PREP='rm -f "$FLOOR_W"'
      RUN='dd if=/dev/zero of="$FLOOR_W" bs=4M count="$SRC_BYTES" iflag=count_bytes conv=fsync status=none' ;;
    floor_cpu)
      # The CPU half of the unpack floor: decompression plus hashing, measured alone, as CPU
      # seconds over the cores (CPU_FLOOR=1, see run_op).
      CPU_FLOOR=1
      RUN='zstd -d -q -c "$ARCHIVE" | openssl dgst -sha256 >/dev/null' ;;
    airlock_export)
      AIRLOCK_OP=1; PREP='rm -rf "$LAYOUT"'
      RUN='"$AIRLOCK" export "$BUNDLE" --trust "$TRUST" --oci-layout "$LAYOUT" $Q_EXPORT' ;;
    airlock_verify_oci)
      AIRLOCK_OP=1
      RUN='"$AIRLOCK" verify --oci-layout "$LAYOUT" --trust "$TRUST" $Q_VERIFY' ;;
    byhand_oci_hash)
      # As scripts/bench-oci.sh: sha256sum of every blob of the layout.
      RUN='find "$LAYOUT/blobs/sha256" -type f -print0 | sort -z | xargs -0 sha256sum >/dev/null' ;;
    airlock_inspect)
      # The transfer sheet goes to the log, not the terminal.
      AIRLOCK_OP=1
      RUN='"$AIRLOCK" inspect "$BUNDLE"' ;;
    airlock_bom)
      AIRLOCK_OP=1
      RUN='"$AIRLOCK" bom "$BUNDLE" -o "$BOM_OUT" $Q_BOM' ;;
    tiny_pack_file|tiny_pack_token)
      # A small classic bundle (the tokenizer) packed with a key file or with the token's key;
      # both run under the same env(1) wrapper so they differ only in the key.
      AIRLOCK_OP=1
      local kind=file key='"$AKEY"'
      if [[ $1 == tiny_pack_token ]]; then kind=token; key='"$TOKEN_URI"'; fi
      PREP='rm -f "$TINY/tiny-'"$kind"'.airlock.tar.zst"'
      RUN='env SOFTHSM2_CONF="$HSM_CONF" "$AIRLOCK" pack "$TINY/classic.toml" --key '"$key"' -o "$TINY/tiny-'"$kind"'.airlock.tar.zst" $Q_PACK </dev/null' ;;
    byhand_receive)
      PREP='rm -rf "$BH_DEST"'
      RUN='minisign -V -q -p "$MPUB" -m "$ARCHIVE"
           minisign -V -q -p "$MPUB" -m "$BH/SHA256SUMS"
           mkdir "$BH_DEST"
           zstd -d -q -c "$ARCHIVE" | tar -x -C "$BH_DEST"
           cd "$BH_DEST" && sha256sum -c --quiet "$BH/SHA256SUMS"' ;;
    byhand_receive_sync)
      # Same, then fsync every extracted file (coreutils `sync FILE...`), as airlock unpack does.
      PREP='rm -rf "$BH_DEST"'
      RUN='minisign -V -q -p "$MPUB" -m "$ARCHIVE"
           minisign -V -q -p "$MPUB" -m "$BH/SHA256SUMS"
           mkdir "$BH_DEST"
           zstd -d -q -c "$ARCHIVE" | tar -x -C "$BH_DEST"
           cd "$BH_DEST" && sha256sum -c --quiet "$BH/SHA256SUMS"
           find "$BH_DEST" -type f -print0 | xargs -0 sync --' ;;
    airlock_pack_tlo|airlock_pack_thi)
      AIRLOCK_OP=1; PREP='rm -f "$BUNDLE_T"'
      local n=$THREADS_LO; [[ $1 == *_thi ]] && n=$THREADS_HI
      RUN='"$AIRLOCK" pack "$SPEC" --key "$AKEY" -o "$BUNDLE_T" $LEVEL_ARGS --threads '"$n"' $Q_PACK' ;;
    airlock_pack_1core)
      AIRLOCK_OP=1; PREP='rm -f "$BUNDLE_T"'
      RUN='taskset -c 0 "$AIRLOCK" pack "$SPEC" --key "$AKEY" -o "$BUNDLE_T" $LEVEL_ARGS $Q_PACK' ;;
    airlock_unpack_1core)
      AIRLOCK_OP=1; PREP='rm -rf "$DEST"'
      RUN='taskset -c 0 "$AIRLOCK" unpack "$BUNDLE" --trust "$TRUST" --dest "$DEST" $Q_UNPACK' ;;
    airlock_pack_cnsa2)
      AIRLOCK_OP=1; PREP='rm -f "$BUNDLE_PQ"'
      RUN='"$AIRLOCK" pack "$SPEC" --suite cnsa2 --key "$MLKEY" -o "$BUNDLE_PQ" $LEVEL_ARGS $Q_PACK' ;;
    airlock_verify_cnsa2)
      AIRLOCK_OP=1
      RUN='env AIRLOCK_STATE_DIR="$PH/state-cnsa2" "$AIRLOCK" verify "$BUNDLE_PQ" --trust "$TRUST_PQ" $Q_VERIFY' ;;
    airlock_deep_cnsa2)
      AIRLOCK_OP=1
      RUN='env AIRLOCK_STATE_DIR="$PH/state-cnsa2" "$AIRLOCK" verify "$BUNDLE_PQ" --trust "$TRUST_PQ" --deep $Q_VERIFY' ;;
    airlock_unpack_cnsa2)
      AIRLOCK_OP=1; PREP='rm -rf "$DEST"'
      # Its own rollback state: the classic bundle of the same name and sequence is installed too.
      RUN='env AIRLOCK_STATE_DIR="$PH/state-cnsa2" "$AIRLOCK" unpack "$BUNDLE_PQ" --trust "$TRUST_PQ" --dest "$DEST" $Q_UNPACK' ;;
    mldsa_sign)
      # One ML-DSA-87 signature added in place (manifest frame and footer rewritten) to a fresh
      # copy of a small cnsa2 bundle: key loading, signing and the rewrite, as a whole process.
      AIRLOCK_OP=1; PREP='cp "$TINY/tiny.airlock.tar.zst" "$TINY/signed.airlock.tar.zst"'
      RUN='"$AIRLOCK" sign "$TINY/signed.airlock.tar.zst" --key "$MLKEY" --role transfer -q' ;;
    mldsa_verify)
      AIRLOCK_OP=1
      RUN='"$AIRLOCK" verify "$TINY/signed.airlock.tar.zst" --trust "$TRUST_PQ" $Q_VERIFY' ;;
    airlock_unpack_tlo|airlock_unpack_thi)
      AIRLOCK_OP=1; PREP='rm -rf "$DEST"'
      local n=$THREADS_LO; [[ $1 == *_thi ]] && n=$THREADS_HI
      RUN='"$AIRLOCK" unpack "$BUNDLE" --trust "$TRUST" --dest "$DEST" --threads '"$n"' $Q_UNPACK' ;;
    *) die "internal: unknown contender $1" ;;
  esac
}

# run_op PHASE GROUP NAME REP: prep (untimed), run (timed), record seconds and, for airlock, RSS.
run_op() {
  local phase=$1 group=$2 name=$3 rep=$4 logf t0 t1 secs rss
  define "$name"
  logf="$LOGS/$phase-$name.log"
  echo "### rep $rep" >>"$logf"
  bash -euo pipefail -c "$PREP" >>"$logf" 2>&1 || { tail -n 40 "$logf" >&2; die "$name: preparation failed"; }
  sync  # untimed: flush earlier runs' dirty pages so no run pays for another's writeback
  local run=$RUN
  if [[ $AIRLOCK_OP == 1 || $CPU_FLOOR == 1 ]]; then
    export TIME_OUT="$WORK/time-$name.txt"
    if [[ $CPU_FLOOR == 1 ]]; then
      # The shell's rusage includes its waited-for children: every process of the pipeline.
      run='/usr/bin/time -v -o "$TIME_OUT" bash -euo pipefail -c '"$(printf %q "$RUN")"
    else
      run='/usr/bin/time -v -o "$TIME_OUT" '"$RUN"
    fi
  fi
  t0=$(date +%s%N)
  if ! bash -euo pipefail -c "$run" >>"$logf" 2>&1; then
    echo "bench: '$name' failed (phase $phase, rep $rep); its command was:" >&2
    # shellcheck disable=SC2001
    sed 's/^ */    /' <<<"$RUN" >&2
    echo "bench: last lines of $logf:" >&2
    tail -n 40 "$logf" >&2
    exit 1
  fi
  t1=$(date +%s%N)
  secs=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f", (b - a) / 1e9 }')
  if [[ $CPU_FLOOR == 1 ]]; then
    # A CPU floor's "seconds" are its CPU seconds spread over every core (see --help).
    secs=$(awk -F': ' -v n="$FLOOR_JOBS" '/User time|System time/ { c += $2 }
                                           END { printf "%.3f", c / n }' "$TIME_OUT")
  fi
  printf '%s\t%s\t%s\t%s\t%s\n' "$phase" "$group" "$name" "$rep" "$secs" >>"$SAMPLES"
  if [[ $AIRLOCK_OP == 1 ]]; then
    rss=$(awk -F': ' '/Maximum resident set size/ { print $2 }' "$TIME_OUT")
    [[ -n $rss ]] || die "could not read the peak RSS of $name from /usr/bin/time -v"
    printf '%s\t%s\t%s\n' "$phase" "$name" "$rss" >>"$RSSF"
    log "  $name: ${secs}s, peak RSS $((rss / 1024)) MiB"
  else
    log "  $name: ${secs}s"
  fi
}

# run_group PHASE GROUP NAME...: REPS repetitions, contenders alternating, order rotated per rep.
run_group() {
  local phase=$1 group=$2; shift 2
  local ops=("$@") n=$# rep i
  log "$group: $REPS rep(s) of: ${ops[*]}"
  for ((rep = 1; rep <= REPS; rep++)); do
    for ((i = 0; i < n; i++)); do
      run_op "$phase" "$group" "${ops[$(((i + rep - 1) % n))]}" "$rep"
    done
  done
}

record_size() { printf '%s\t%s\t%s\n' "$1" "$2" "$(stat -c %s "$3")" >>"$SIZES"; }

# ----------------------------------------------------------------------------- base phase
set_phase "$WORK/base"
generate "$PH" "$SIZE_GIB"
warm_up "$PH"
SRC_BYTES=$(find "$PH/release" -type f -printf '%s\n' | awk '{ s += $1 } END { printf "%.0f\n", s }')
SRC_FILES=$(find "$PH/release" -type f | wc -l)
export SRC_BYTES
record_source base

run_group base pack airlock_pack byhand_pack floor
record_size base airlock_bundle "$BUNDLE"; record_size base byhand_archive "$ARCHIVE"; record_size base floor "$FLOOR"
rm -f "$FLOOR"
run_group base verify airlock_verify byhand_verify floor_hash
run_group base deep airlock_deep byhand_deep floor_cpu_bundle
run_group base unpack airlock_unpack byhand_receive byhand_receive_sync floor_write floor_cpu
rm -f "$FLOOR_W"
# Sanity: both receivers produced the whole tree.
diff -r "$BH_DEST/release/model" "$DEST/model/bench-model" >/dev/null \
  || die "airlock unpack's model tree differs from the source (compare $DEST/model/bench-model)"
diff -r "$BH_DEST/release/eval-data" "$DEST/data/bench-evals" >/dev/null \
  || die "airlock unpack's data tree differs from the source (compare $DEST/data/bench-evals)"
rm -rf "$BH_DEST"
if [[ $OCI == 1 ]]; then
  # export --oci-layout beside unpack of the same bundle; then verify --oci-layout of the layout
  # the last export left beside sha256sum of its blobs.
  run_group base oci-export airlock_export airlock_unpack
  [[ -f $LAYOUT/index.json ]] || die "airlock export wrote no $LAYOUT/index.json"
  record_size base oci_layout_index "$LAYOUT/index.json"
  run_group base oci-verify airlock_verify_oci byhand_oci_hash
  rm -rf "$LAYOUT"
fi
manifest_ops=()
if [[ $INSPECT == 1 ]]; then manifest_ops+=(airlock_inspect); fi
if [[ $BOM == 1 ]]; then manifest_ops+=(airlock_bom); fi
if (( ${#manifest_ops[@]} )); then
  saved_reps=$REPS; REPS=$((REPS * 3))
  run_group base manifest "${manifest_ops[@]}"
  REPS=$saved_reps
fi
# A small bundle's source (the tokenizer) for the signing latencies and the token row.
mkdir -p "$TINY/src"
cp "$(find "$PH/release/model" -name 'tokenizer.json' | head -n1)" "$TINY/src/"
if [[ $CNSA == 1 ]]; then
  run_group base cnsa2-pack airlock_pack_cnsa2 airlock_pack byhand_pack
  run_group base cnsa2-verify airlock_verify_cnsa2 airlock_verify byhand_verify
  run_group base cnsa2-deep airlock_deep_cnsa2 airlock_deep byhand_deep
  run_group base cnsa2-unpack airlock_unpack_cnsa2 airlock_unpack byhand_receive_sync
  record_size base airlock_bundle_cnsa2 "$BUNDLE_PQ"
  # A small cnsa2 bundle (the tokenizer) for the signing and verification latencies.
  cat >"$TINY/spec.toml" <<EOF
[bundle]
name = "tiny"
version = "1.0.0"
sequence = 1
target = "bench-site"
expires = "2099-12-31T00:00:00Z"
suite = "cnsa2"

[[artifact]]
kind = "data"
name = "tokenizer"
path = "src"
EOF
  # shellcheck disable=SC2086
  "$AIRLOCK" pack "$TINY/spec.toml" --key "$MLKEY" -o "$TINY/tiny.airlock.tar.zst" $Q_PACK \
    >"$LOGS/tiny-pack.log" 2>&1 || { cat "$LOGS/tiny-pack.log" >&2; die "packing the small cnsa2 bundle failed"; }
  saved_reps=$REPS; REPS=$((REPS * 3))
  run_group base mldsa mldsa_sign mldsa_verify
  REPS=$saved_reps
  rm -f "$BUNDLE_PQ"
fi
if [[ $TOKEN == 1 ]]; then
  # The same small bundle in the classic suite, packed with a key file and with the token's key.
  cat >"$TINY/classic.toml" <<EOF
[bundle]
name = "tiny"
version = "1.0.0"
sequence = 1
target = "bench-site"
expires = "2099-12-31T00:00:00Z"

[[artifact]]
kind = "data"
name = "tokenizer"
path = "src"
EOF
  saved_reps=$REPS; REPS=$((REPS * 3))
  run_group base token tiny_pack_file tiny_pack_token
  REPS=$saved_reps
  # Sanity (untimed): the token really signed: its bundle verifies under the token key alone.
  # shellcheck disable=SC2086
  env AIRLOCK_STATE_DIR="$PH/state-token" "$AIRLOCK" verify "$TINY/tiny-token.airlock.tar.zst" \
    --trust "$TRUST_TOKEN" $Q_VERIFY >"$LOGS/token-verify.log" 2>&1 \
    || { cat "$LOGS/token-verify.log" >&2; die "the bundle packed with the token key does not verify under it"; }
fi
run_group base threads-pack airlock_pack_tlo airlock_pack_thi airlock_pack_1core
run_group base threads-unpack airlock_unpack_tlo airlock_unpack_thi airlock_unpack_1core
rm -rf "$DEST" "$BH_DEST" "$FLOOR" "$BUNDLE_T"

# ----------------------------------------------------------------------------- files phase
# Time per file: two releases of FILES_GIB GiB of shards with FILES_LO and FILES_HI small files.
if [[ $SKIP_FILES == 0 ]]; then
  log "files phase: releases of $FILES_LO and $FILES_HI small files (--skip-files to skip)"
  for fp in "files_lo:$FILES_LO" "files_hi:$FILES_HI"; do
    fphase=${fp%%:*}
    next_phase "$WORK/$fphase"
    generate "$PH" "$FILES_GIB" "${fp#*:}"
    warm_up "$PH"
    record_source "$fphase"
    run_group "$fphase" pack airlock_pack
    run_group "$fphase" verify airlock_verify
    run_group "$fphase" unpack airlock_unpack
  done
fi

# ----------------------------------------------------------------------------- scale phase
SCALE_GIB=""
if [[ $SKIP_SCALE == 0 ]]; then
  SCALE_GIB=$(awk -v s="$SIZE_GIB" -v k="$RSS_SCALE" 'BEGIN { printf "%g", s * k }')
  log "memory and time scaling: a second release of $SCALE_GIB GiB (--skip-scale to skip)"
  next_phase "$WORK/scale"            # frees the previous phase's disk first
  generate "$PH" "$SCALE_GIB"
  warm_up "$PH"
  record_source scale
  saved_reps=$REPS; REPS=1
  run_group scale pack airlock_pack
  run_group scale verify airlock_verify
  run_group scale deep airlock_deep
  run_group scale unpack airlock_unpack
  rm -rf "$DEST"                      # room for the layout
  if [[ $OCI == 1 ]]; then
    run_group scale oci-export airlock_export
    run_group scale oci-verify airlock_verify_oci
    rm -rf "$LAYOUT"
  fi
  if (( ${#manifest_ops[@]} )); then
    REPS=3
    run_group scale manifest "${manifest_ops[@]}"
  fi
  REPS=$saved_reps
  rm -rf "$PH"
fi

# ----------------------------------------------------------------------------- report
CPU_MODEL=$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo 2>/dev/null || true)
MEM_KB=$(awk '/^MemTotal/ { print $2 }' /proc/meminfo 2>/dev/null || echo 0)
export CPU_MODEL MEM_KB COMMIT SIZE_GIB SCALE_GIB SHARD_MIB SMALL_FILES REPS LEVEL THREADS_LO THREADS_HI
export RSS_SCALE SRC_BYTES SRC_FILES SAMPLES RSSF SIZES JSON_OUT
export SKIP_FILES FILES_GIB FILES_LO FILES_HI TOKEN HSM_MODULE SMOKE
first_line() { local out; out=$("$@" 2>&1 || true); echo "${out%%$'\n'*}"; }
NPROC=$(nproc); DATE_UTC=$(date -u +%Y-%m-%dT%H:%M:%SZ); KERNEL=$(uname -sr)
AIRLOCK_VERSION=$(first_line "$AIRLOCK" --version); ZSTD_VERSION=$(first_line zstd --version)
TAR_VERSION=$(first_line tar --version); MINISIGN_VERSION=$(first_line minisign -v)
SOFTHSM_VERSION=""
if [[ $TOKEN == 1 ]]; then SOFTHSM_VERSION=$(first_line softhsm2-util --version); fi
export NPROC DATE_UTC KERNEL AIRLOCK_VERSION ZSTD_VERSION TAR_VERSION MINISIGN_VERSION SOFTHSM_VERSION

python3 - <<'PY'
import json, os, statistics
from collections import defaultdict

E = os.environ
samples = defaultdict(list)             # (phase, name) -> [seconds]
for line in open(E["SAMPLES"]):
    phase, group, name, rep, secs = line.rstrip("\n").split("\t")
    samples[(phase, name)].append(float(secs))
rss = defaultdict(int)                  # (phase, name) -> max KiB over reps
for line in open(E["RSSF"]):
    phase, name, kb = line.rstrip("\n").split("\t")
    rss[(phase, name)] = max(rss[(phase, name)], int(kb))
sizes = {}
for line in open(E["SIZES"]):
    phase, what, n = line.rstrip("\n").split("\t")
    sizes[f"{phase}.{what}"] = int(n)

def med(name, phase="base"):
    v = samples.get((phase, name))
    return statistics.median(v) if v else None

def fmt(x, d=2):
    return "n/a" if x is None else f"{x:.{d}f}"

def verdict(met):
    return "" if met is None else (" met" if met else " MISSED")

lo, hi = int(E["THREADS_LO"]), int(E["THREADS_HI"])
lvl = E["LEVEL"]
# Floors: the machine's own limits, measured in the same run. Each is the max of the medians of
# its contenders (the slower one bounds what any program could do).
#   name -> (cell label, [contenders], description)
FLOORS = {
    "pack": (f"tar | zstd -T0 -{lvl}", ["floor"], f"tar | zstd -T0 -{lvl} alone"),
    "verify": (f"openssl sha256 of the bundle, {E['NPROC']} ranges", ["floor_hash"],
               f"the bundle split into {E['NPROC']} byte ranges, each dd | openssl dgst -sha256, in parallel"),
    "deep": ("zstd -d | openssl sha256 of the bundle, CPU / cores", ["floor_cpu_bundle"],
             "CPU seconds of zstd -d -c BUNDLE | openssl dgst -sha256, divided by the cores"),
    "unpack": ("max(write+fsync, (zstd -d | openssl sha256) CPU / cores)", ["floor_write", "floor_cpu"],
               "max of: dd if=/dev/zero bs=4M conv=fsync of the source bytes; "
               "CPU seconds of zstd -d -c ARCHIVE | openssl dgst -sha256, divided by the cores"),
}

def floor_of(key):
    label, names, desc = FLOORS[key]
    meds = {n: med(n) for n in names}
    if any(v is None for v in meds.values()):
        return None
    slowest = max(meds, key=meds.get)
    return {"floor": key, "label": label, "description": desc, "contenders": names,
            "contender_medians_s": meds, "bound_by": slowest, "median_s": meds[slowest]}

# (operation, airlock contender, baseline contender, baseline description, target ratio,
#  floor key or None, floor target or None)
# Targets are issue 16's: pack <= 0.3x the by-hand pipeline and <= 1.1x the bare compression
# floor; verify <= 0.3x; verify --deep <= 0.6x; unpack <= 0.25x the by-hand receive (with and
# without its fsync) and <= 1.25x max(write+fsync floor, decompress+hash floor); export
# --oci-layout <= 1.1x unpack of the same bundle; verify --oci-layout <= 1.2x sha256sum of the
# layout's blobs. HI threads (or cores) give at least 1.6x the throughput of LO, i.e. a time
# ratio <= 1/1.6.
thr_target = round(1 / 1.6, 3)
byhand_pack_desc = f"sha256sum + tar | zstd -T0 -{lvl} + minisign -S x2"
rows = [
    ("pack", "airlock_pack", "byhand_pack", byhand_pack_desc, 0.30, "pack", 1.10),
    ("pack vs compression floor", "airlock_pack", "floor", f"tar | zstd -T0 -{lvl}", 1.10, None, None),
    ("verify", "airlock_verify", "byhand_verify", "minisign -V (archive, SHA256SUMS)", 0.30,
     "verify", None),
    ("verify --deep", "airlock_deep", "byhand_deep",
     "minisign -V + zstd -d >/dev/null + sha256sum -c", 0.60, "deep", None),
    ("unpack", "airlock_unpack", "byhand_receive",
     "minisign -V + zstd -d | tar -x + sha256sum -c", 0.25, "unpack", 1.25),
    ("unpack vs receive + fsync", "airlock_unpack", "byhand_receive_sync",
     "the same receive, then fsync of every extracted file (airlock fsyncs each file)", 0.25,
     "unpack", 1.25),
    ("export --oci-layout (baseline: unpack)", "airlock_export", "airlock_unpack",
     "airlock unpack of the same bundle", 1.10, "unpack", None),
    ("verify --oci-layout (baseline: sha256sum of the blobs)", "airlock_verify_oci", "byhand_oci_hash",
     "sha256sum of every file under LAYOUT/blobs/sha256/", 1.20, None, None),
    (f"pack --threads {hi} (baseline: --threads {lo})", "airlock_pack_thi", "airlock_pack_tlo",
     f"airlock pack --threads {lo}", thr_target, None, None),
    (f"unpack --threads {hi} (baseline: --threads {lo})", "airlock_unpack_thi", "airlock_unpack_tlo",
     f"airlock unpack --threads {lo}", thr_target, None, None),
    ("pack on all cores (baseline: pinned to 1 core)", "airlock_pack_thi", "airlock_pack_1core",
     "taskset -c 0 airlock pack", thr_target, None, None),
    ("unpack on all cores (baseline: pinned to 1 core)", "airlock_unpack_thi", "airlock_unpack_1core",
     "taskset -c 0 airlock unpack", thr_target, None, None),
    # Issue 11 (CNSA 2.0), kept as they were: cnsa2 pack <= 1.15x classic pack; cnsa2 verify
    # <= 0.6x minisign -V.
    ("pack --suite cnsa2 (baseline: classic pack)", "airlock_pack_cnsa2", "airlock_pack",
     "airlock pack (classic)", 1.15, None, None),
    ("pack --suite cnsa2", "airlock_pack_cnsa2", "byhand_pack", byhand_pack_desc, 0.35, None, None),
    ("verify, cnsa2", "airlock_verify_cnsa2", "byhand_verify", "minisign -V (archive, SHA256SUMS)", 0.60,
     None, None),
    ("verify --deep, cnsa2", "airlock_deep_cnsa2", "byhand_deep",
     "minisign -V + zstd -d >/dev/null + sha256sum -c", 0.60, None, None),
    ("unpack, cnsa2 (baseline: receive + fsync)", "airlock_unpack_cnsa2", "byhand_receive_sync",
     "minisign -V + zstd -d | tar -x + sha256sum -c, then fsync", 0.35, None, None),
]
src = int(E["SRC_BYTES"])
gib = src / 2**30
scale = E.get("SCALE_GIB") or ""
bundle_mib = sizes.get("base.airlock_bundle", 0) / 2**20
scale_gib_src = sizes.get("scale.source", 0) / 2**30
# Absolute latencies (whole processes, milliseconds) with their targets: (label, contender, phase,
# target ms, comparison). Issue 11: ML-DSA-87 sign and verify <= 50 ms; issue 16: inspect and bom
# under 50 ms whatever the bundle size (at the release size and at the scale size).
abs_rows = [
    ("ML-DSA-87 sign: `airlock sign` of a small cnsa2 bundle, in place", "mldsa_sign", "base", 50.0, "<="),
    ("ML-DSA-87 verify: `airlock verify` of that bundle (two ML-DSA signatures)", "mldsa_verify",
     "base", 50.0, "<="),
    (f"`airlock inspect BUNDLE`, {gib:.2f} GiB release ({bundle_mib:.0f} MiB bundle)",
     "airlock_inspect", "base", 50.0, "<"),
    (f"`airlock bom BUNDLE -o FILE`, {gib:.2f} GiB release", "airlock_bom", "base", 50.0, "<"),
]
if scale:
    abs_rows += [
        (f"`airlock inspect BUNDLE`, {scale_gib_src:.2f} GiB release", "airlock_inspect", "scale", 50.0, "<"),
        (f"`airlock bom BUNDLE -o FILE`, {scale_gib_src:.2f} GiB release", "airlock_bom", "scale", 50.0, "<"),
    ]
RSS_TARGET = 1.10       # issue 16: peak RSS flat (within 10%) from the release size to the scale size
RSS_ABS_MIB = 256.0     # issue 16: peak RSS <= 256 MiB for every airlock command, at every size
SCALE_TARGET = 1.10     # issue 16: s/GiB at the scale size within 10% of s/GiB at the release size
FILES_TARGET = 1.20     # issue 16: s/file at FILES_HI within 20% of s/file at FILES_LO
TOKEN_TARGET_MS = 100.0 # issue 16: a PKCS#11 token adds under 100 ms to a pack

out_rows = []
print()
print(f"## airlock benchmark: {gib:.2f} GiB release ({E['SRC_FILES']} files), "
      f"median of {E['REPS']} rep(s), zstd level {lvl}")
print()
print("All runs are warm-cache: the page cache cannot be dropped reliably, so one untimed "
      "warm-up read of the source tree was done first, and an untimed `sync` precedes every "
      "timed run. Contenders alternate within each "
      "repetition (order rotated per rep).")
print()
print("| operation | airlock s | baseline s | ratio | target | floor | floor s | airlock / floor | floor target |")
print("|---|---:|---:|---:|---|---|---:|---:|---|")
for op, a, b, desc, target, fkey, ftarget in rows:
    ma, mb = med(a), med(b)
    if ma is None:
        continue
    ratio = (ma / mb) if (ma is not None and mb) else None
    met = None if ratio is None else ratio <= target
    fl = floor_of(fkey) if fkey else None
    fcells = ["", "", "", ""]
    frow = None
    if fl:
        fratio = ma / fl["median_s"] if fl["median_s"] else None
        fmet = None if (ftarget is None or fratio is None) else fratio <= ftarget
        fcells = [fl["label"].replace("|", "\\|"), fmt(fl["median_s"]), fmt(fratio),
                  "" if ftarget is None else f"<= {ftarget:.2f}{verdict(fmet)}"]
        frow = dict(fl, airlock_over_floor=fratio, target_ratio_max=ftarget, target_met=fmet)
    print(f"| {op} | {fmt(ma)} | {fmt(mb)} | {fmt(ratio)} | <= {target:.2f}{verdict(met)} | "
          + " | ".join(fcells) + " |")
    out_rows.append({"operation": op, "airlock": a, "baseline": b, "baseline_desc": desc,
                     "airlock_median_s": ma, "baseline_median_s": mb, "ratio": ratio,
                     "target_ratio_max": target, "target_met": met, "floor": frow,
                     "airlock_samples_s": samples.get(("base", a), []),
                     "baseline_samples_s": samples.get(("base", b), [])})
print()
print("ratio = airlock / baseline (lower is better); for the threads rows, "
      f"--threads {hi} / --threads {lo}. airlock / floor = airlock / the floor's median; where a "
      "floor has two parts the slower bounds it.")
floors_out = {}
for key, (label, names, desc) in FLOORS.items():
    fl = floor_of(key)
    if fl is None:
        continue
    floors_out[key] = fl
    parts = ", ".join(f"{n} {fmt(v)} s" for n, v in fl["contender_medians_s"].items())
    print(f"Floor {key}: {desc}: {parts}" + (f" (bound by {fl['bound_by']})" if len(names) > 1 else "") + ".")
pm = med("airlock_pack")
if pm:
    print(f"airlock pack throughput: {gib / pm:.2f} GiB/s of source. ", end="")
if "base.airlock_bundle" in sizes:
    print(f"Output sizes: airlock bundle {sizes['base.airlock_bundle'] / 2**20:.1f} MiB, "
          f"by-hand archive {sizes['base.byhand_archive'] / 2**20:.1f} MiB, "
          f"tar|zstd floor {sizes['base.floor'] / 2**20:.1f} MiB "
          f"(source {src / 2**20:.1f} MiB).")

abs_out = []
if any(med(n, ph) is not None for _, n, ph, _, _ in abs_rows):
    print()
    print("| latency (whole process) | airlock ms | target |")
    print("|---|---:|---|")
    for op, n, ph, target, cmp in abs_rows:
        m = med(n, ph)
        if m is None:
            continue
        ms = m * 1000
        met = ms < target if cmp == "<" else ms <= target
        print(f"| {op} | {ms:.0f} | {cmp} {target:.0f} ms{verdict(met)} |")
        abs_out.append({"operation": op, "contender": n, "phase": ph, "median_ms": ms,
                        "target_ms": target, "target_comparison": cmp, "target_met": met,
                        "samples_s": samples.get((ph, n), [])})

token_out = None
tf, tt = med("tiny_pack_file"), med("tiny_pack_token")
if tf is not None and tt is not None:
    diff_ms = (tt - tf) * 1000
    met = diff_ms < TOKEN_TARGET_MS
    print()
    print("### PKCS#11 token (SoftHSM2) signing cost: `airlock pack` of a small bundle (the tokenizer)")
    print()
    print("| key | airlock pack ms | token − file ms | target |")
    print("|---|---:|---:|---|")
    print(f"| key file (minisign Ed25519) | {tf * 1000:.0f} | | |")
    print(f"| token key (`--key 'pkcs11:...'`, SoftHSM2) | {tt * 1000:.0f} | {diff_ms:.0f} | "
          f"< {TOKEN_TARGET_MS:.0f} ms{verdict(met)} |")
    token_out = {"file_key_median_ms": tf * 1000, "token_key_median_ms": tt * 1000,
                 "difference_ms": diff_ms, "target_difference_ms_max": TOKEN_TARGET_MS,
                 "target_met": met, "module": E.get("HSM_MODULE", ""),
                 "file_key_samples_s": samples.get(("base", "tiny_pack_file"), []),
                 "token_key_samples_s": samples.get(("base", "tiny_pack_token"), [])}

# Scaling: seconds per GiB of source at the scale size (one run) vs at the release size (median).
scaling_out = []
if scale and sizes.get("scale.source"):
    print()
    print(f"### time per GiB: {gib:.2f} GiB (median) vs {scale_gib_src:.2f} GiB (one run)")
    print()
    print(f"| operation | s/GiB @ {gib:.2f} GiB | s/GiB @ {scale_gib_src:.2f} GiB | ratio | target |")
    print("|---|---:|---:|---:|---|")
    for label, name in [("pack", "airlock_pack"), ("verify", "airlock_verify"), ("unpack", "airlock_unpack")]:
        b, sc = med(name), med(name, "scale")
        if b is None or sc is None:
            continue
        bpg, spg = b / gib, sc / scale_gib_src
        ratio = spg / bpg if bpg else None
        met = None if ratio is None else ratio <= SCALE_TARGET
        print(f"| {label} | {bpg:.3f} | {spg:.3f} | {fmt(ratio)} | <= {SCALE_TARGET:.2f}{verdict(met)} |")
        scaling_out.append({"operation": label, "contender": name, "base_gib": gib,
                            "scale_gib": scale_gib_src, "base_median_s": b, "scale_s": sc,
                            "base_s_per_gib": bpg, "scale_s_per_gib": spg, "ratio": ratio,
                            "target_ratio_max": SCALE_TARGET, "target_met": met})

# Files: seconds per file at FILES_HI files vs at FILES_LO.
files_out = []
nlo, nhi = sizes.get("files_lo.source_files"), sizes.get("files_hi.source_files")
if nlo and nhi:
    print()
    print(f"### time per file: {nlo} files vs {nhi} files ({float(E['FILES_GIB']):g} GiB of shards "
          f"each; median of {E['REPS']} rep(s))")
    print()
    print(f"| operation | s @ {nlo} | s @ {nhi} | ms/file @ {nlo} | ms/file @ {nhi} | ratio | target |")
    print("|---|---:|---:|---:|---:|---:|---|")
    for label, name in [("pack", "airlock_pack"), ("verify", "airlock_verify"), ("unpack", "airlock_unpack")]:
        a, b = med(name, "files_lo"), med(name, "files_hi")
        if a is None or b is None:
            continue
        apf, bpf = a / nlo, b / nhi
        ratio = bpf / apf if apf else None
        met = None if ratio is None else ratio <= FILES_TARGET
        print(f"| {label} | {a:.2f} | {b:.2f} | {apf * 1000:.4f} | {bpf * 1000:.4f} | {fmt(ratio)} | "
              f"<= {FILES_TARGET:.2f}{verdict(met)} |")
        files_out.append({"operation": label, "contender": name, "files_lo": nlo, "files_hi": nhi,
                          "lo_median_s": a, "hi_median_s": b, "lo_s_per_file": apf,
                          "hi_s_per_file": bpf, "ratio": ratio, "target_ratio_max": FILES_TARGET,
                          "target_met": met,
                          "lo_samples_s": samples.get(("files_lo", name), []),
                          "hi_samples_s": samples.get(("files_hi", name), [])})

rss_rows = []
cmds = [("pack", "airlock_pack"), ("verify", "airlock_verify"), ("verify --deep", "airlock_deep"),
        ("unpack", "airlock_unpack"), ("export --oci-layout", "airlock_export"),
        ("verify --oci-layout", "airlock_verify_oci"), ("inspect", "airlock_inspect"),
        ("bom", "airlock_bom"), (f"pack --threads {lo}", "airlock_pack_tlo"),
        (f"pack --threads {hi}", "airlock_pack_thi"), (f"unpack --threads {lo}", "airlock_unpack_tlo"),
        (f"unpack --threads {hi}", "airlock_unpack_thi")]
has_files = any(("files_hi", n) in rss for _, n in cmds)
print()
print("### airlock peak resident memory (/usr/bin/time -v, max over reps)")
print()
hdr = ["command", f"RSS MiB @ {gib:.2f} GiB"]
if scale:
    hdr += [f"RSS MiB @ {scale_gib_src:.2f} GiB", "growth", "growth target"]
if has_files:
    hdr += [f"RSS MiB @ {nhi} files"]
hdr += ["RSS target"]
print("| " + " | ".join(hdr) + " |")
print("|" + "|".join("---" if (i == 0 or "target" in h) else "---:" for i, h in enumerate(hdr)) + "|")
for label, name in cmds:
    b = rss.get(("base", name))
    if b is None:
        continue
    s = rss.get(("scale", name)) if scale else None
    f = rss.get(("files_hi", name)) if has_files else None
    growth = (s / b) if (s and b) else None
    peak = max(v for v in (b, s, f) if v is not None)
    abs_met = peak / 1024 <= RSS_ABS_MIB
    row = {"command": label, "contender": name, "rss_kib": b, "rss_kib_scaled": s,
           "rss_kib_files": f, "growth": growth, "target_rss_mib_max": RSS_ABS_MIB,
           "target_rss_met": abs_met}
    cells = [label, f"{b / 1024:.1f}"]
    if scale:
        if s is not None:
            gmet = growth <= RSS_TARGET
            row.update(target_growth_max=RSS_TARGET, target_met=gmet)
            cells += [f"{s / 1024:.1f}", f"{growth:.2f}", f"<= {RSS_TARGET:.2f}{verdict(gmet)}"]
        else:
            cells += ["n/a", "n/a", ""]
    if has_files:
        cells += ["" if f is None else f"{f / 1024:.1f}"]
    cells += [f"<= {RSS_ABS_MIB:.0f} MiB{verdict(abs_met)}"]
    print("| " + " | ".join(cells) + " |")
    rss_rows.append(row)
if not scale:
    print()
    print("(memory and time scaling skipped: --skip-scale)")
if not has_files:
    print()
    print("(files phase skipped: --skip-files)")

machine = {
    "nproc": int(E["NPROC"]), "cpu_model": E.get("CPU_MODEL", ""),
    "mem_total_kib": int(E.get("MEM_KB") or 0), "kernel": E["KERNEL"], "date_utc": E["DATE_UTC"],
    "airlock_commit": E["COMMIT"], "airlock_version": E["AIRLOCK_VERSION"],
    "zstd": E["ZSTD_VERSION"], "tar": E["TAR_VERSION"], "minisign": E["MINISIGN_VERSION"],
    "softhsm2": E.get("SOFTHSM_VERSION") or None,
}
params = {
    "size_gib": float(E["SIZE_GIB"]), "scale_gib": float(scale) if scale else None,
    "rss_scale": int(E["RSS_SCALE"]), "shard_mib": int(E["SHARD_MIB"]),
    "small_files": int(E["SMALL_FILES"]), "reps": int(E["REPS"]), "zstd_level": int(lvl),
    "threads_lo": lo, "threads_hi": hi, "source_bytes": src, "source_files": int(E["SRC_FILES"]),
    "scale_source_bytes": sizes.get("scale.source"),
    "files_phase": None if E["SKIP_FILES"] == "1" else {
        "shard_gib": float(E["FILES_GIB"]), "small_files_lo": int(E["FILES_LO"]),
        "small_files_hi": int(E["FILES_HI"]), "source_files_lo": nlo, "source_files_hi": nhi},
    "floor_hash_ranges": int(E["NPROC"]), "smoke": E.get("SMOKE") == "1",
    "cache": "warm (one untimed warm-up read; page cache not dropped)",
    "source_date_epoch": 1700000000,
}
doc = {"machine": machine, "params": params, "timings": out_rows, "floors": floors_out,
       "latencies": abs_out, "token": token_out, "scaling": scaling_out, "files": files_out,
       "memory": rss_rows,
       "sizes_bytes": sizes,
       "all_samples_s": {f"{p}.{n}": v for (p, n), v in sorted(samples.items())}}
with open(E["JSON_OUT"], "w") as f:
    json.dump(doc, f, indent=2)
    f.write("\n")
print()
print(f"Machine: {machine['nproc']} CPUs ({machine['cpu_model']}), "
      f"{machine['mem_total_kib'] / 2**20:.1f} GiB RAM, {machine['kernel']}; "
      f"airlock {machine['airlock_commit']}; {machine['date_utc']}")
print(f"JSON written to {E['JSON_OUT']}")
PY
