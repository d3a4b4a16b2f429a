#!/usr/bin/env bash
# Record a CPU profile (perf record) of each airlock command on one generated release and write a
# small text profile per command (by thread, by symbol) under docs/bench/, so the README can point
# at where the time goes. Run `scripts/profile.sh --help` for the flags.
set -euo pipefail

usage() {
  cat <<'EOF'
Usage: bash scripts/profile.sh [FLAGS]

Generates a release with scripts/gen_release.py (bf16 safetensors shards, a tokenizer, configs
and small JSON files), packs it, and runs every airlock command on it twice: once under
/usr/bin/time -v (wall seconds, peak RSS) and once under `perf record -F 999 -g`. For each
command NAME it writes OUT/NAME.txt: a header (command, machine, airlock commit, release size,
wall time, peak RSS) and the top of two `perf report`s, by thread and by symbol;
docs/bench/README.md (kept by hand) says how to read them. The perf.data files stay in the work dir.

Commands profiled: pack, verify, verify-deep, unpack, export, verify-oci, inspect, bom, and,
when `airlock pack` has --suite, pack-cnsa2 and verify-cnsa2 (ML-DSA-87, SHA-384).

All runs are warm-cache (one untimed read of the release first) and each is preceded by `sync`.
Each run gets a fresh, empty AIRLOCK_STATE_DIR under the work dir (never /var/lib/airlock).

Flags:
  --size-gib N      safetensors bytes in the release, GiB (default 1; fractions allowed)
  --small-files N   number of small JSON files in eval-data/ (default 3000)
  --out DIR         where the NAME.txt files go (default docs/bench in the repo)
  --bench-dir DIR   parent directory of the temporary work dir (default $BENCH_DIR, else /tmp)
  --airlock PATH    the airlock binary to profile (default target/release/airlock in the repo;
                    it is not built: build it first). It is copied into the work dir and the
                    copy is profiled, so a rebuild during the run cannot mix two binaries
  --keep            keep the work dir (release, bundles, perf.data files, logs) on exit
  -h, --help        show this help

Exit status: 0 on success, 1 if an airlock command (or perf on it) failed, 2 on bad usage,
3 if a required tool is missing (perf, from Debian's linux-perf; python3 with numpy; zstd;
/usr/bin/time) or perf cannot record.
EOF
}

log() { echo "profile: $*" >&2; }
die() { echo "profile: $*" >&2; exit 1; }
usage_error() { echo "profile: $*" >&2; exit 2; }

# ----------------------------------------------------------------------------- flags
SIZE_GIB=1 SMALL_FILES=3000 OUT_DIR="" BENCH_PARENT="${BENCH_DIR:-/tmp}" AIRLOCK_ARG="" KEEP=0

need_arg() { [[ $# -ge 2 && -n "$2" ]] || usage_error "$1 needs a value (see --help)"; }
while [[ $# -gt 0 ]]; do
  case "$1" in
    --size-gib)    need_arg "$@"; SIZE_GIB=$2; shift 2 ;;
    --small-files) need_arg "$@"; SMALL_FILES=$2; shift 2 ;;
    --out)         need_arg "$@"; OUT_DIR=$2; shift 2 ;;
    --bench-dir)   need_arg "$@"; BENCH_PARENT=$2; shift 2 ;;
    --airlock)     need_arg "$@"; AIRLOCK_ARG=$2; shift 2 ;;
    --keep)        KEEP=1; shift ;;
    -h|--help)     usage; exit 0 ;;
    *) usage_error "unknown flag '$1' (see --help)" ;;
  esac
done
if ! [[ $SIZE_GIB =~ ^[0-9]*\.?[0-9]+$ ]] || ! awk -v s="$SIZE_GIB" 'BEGIN { exit !(s > 0) }'; then
  usage_error "--size-gib must be a positive number"
fi
[[ $SMALL_FILES =~ ^[0-9]+$ ]] || usage_error "--small-files must be a non-negative integer"

SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$SCRIPT_DIR/.." && pwd)
[[ -f $ROOT/Cargo.toml ]] || die "cannot find the repository root (no Cargo.toml in $ROOT)"
GEN="$SCRIPT_DIR/gen_release.py"
abs() { case "$1" in /*) echo "$1" ;; *) echo "$PWD/$1" ;; esac; }
OUT_DIR=$(abs "${OUT_DIR:-$ROOT/docs/bench}")
BENCH_PARENT=$(abs "$BENCH_PARENT")
if [[ -n $AIRLOCK_ARG ]]; then AIRLOCK_SRC=$(abs "$AIRLOCK_ARG"); else AIRLOCK_SRC="$ROOT/target/release/airlock"; fi

# ----------------------------------------------------------------------------- tools
missing=()
command -v perf >/dev/null 2>&1 && perf --version >/dev/null 2>&1 || missing+=("perf (apt-get install -y linux-perf)")
command -v python3 >/dev/null 2>&1 || missing+=("python3")
if command -v python3 >/dev/null 2>&1 && ! python3 -c 'import numpy' >/dev/null 2>&1; then
  missing+=("numpy for python3 (python3 -m pip install numpy)")
fi
command -v zstd >/dev/null 2>&1 || missing+=("zstd (apt-get install -y zstd)")
[[ -x /usr/bin/time ]] || missing+=("/usr/bin/time (apt-get install -y time)")
if (( ${#missing[@]} )); then
  for m in "${missing[@]}"; do echo "profile: missing required tool: $m" >&2; done
  exit 3
fi
[[ -f $GEN ]] || die "cannot find $GEN"
[[ -x $AIRLOCK_SRC ]] || usage_error "no airlock binary at $AIRLOCK_SRC (build it: cargo build --release --locked)"

export SOURCE_DATE_EPOCH=1700000000
export LC_ALL=C

# ----------------------------------------------------------------------------- work dir
mkdir -p "$BENCH_PARENT" "$OUT_DIR"
WORK=$(mktemp -d "$BENCH_PARENT/airlock-profile.XXXXXX")
cleanup() {
  local rc=$?
  if [[ $KEEP == 1 ]]; then log "work dir kept: $WORK"; else rm -rf "$WORK"; fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
LOGS="$WORK/logs" OUT="$WORK/out" PERF_DIR="$WORK/perf" STATES="$WORK/state"
mkdir -p "$LOGS" "$OUT" "$PERF_DIR" "$STATES" "$WORK/bin"

# The binary under test, copied so that a rebuild during the run changes nothing (and perf
# report finds the exact binary the samples came from).
AIRLOCK="$WORK/bin/airlock"
cp "$AIRLOCK_SRC" "$AIRLOCK"

# Can perf record here at all (perf_event_paranoid, containers)?
if ! perf record -q -N -F 999 -g -o "$WORK/probe.perf.data" -- true >"$LOGS/perf-probe.log" 2>&1; then
  cat "$LOGS/perf-probe.log" >&2
  echo "profile: perf record does not work here (as non-root, try: sysctl kernel.perf_event_paranoid=1)" >&2
  exit 3
fi
rm -f "$WORK/probe.perf.data"

COMMIT=$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)
if [[ $COMMIT != unknown && -n $(git -C "$ROOT" status --porcelain -- src 2>/dev/null) ]]; then
  COMMIT="$COMMIT+dirty"
fi
BUILD_ID=$(readelf -n "$AIRLOCK" 2>/dev/null | awk '/Build ID/ { print $3; exit }' || true)
CPU_MODEL=$(awk -F': *' '/^model name/ { print $2; exit }' /proc/cpuinfo 2>/dev/null || true)
CPU_MODEL=${CPU_MODEL:-$(uname -m)}
NPROC=$(nproc)
KERNEL=$(uname -r)
PERF_VERSION=$(perf --version 2>/dev/null | head -n 1)
REGEN="bash scripts/profile.sh"
[[ $SIZE_GIB == 1 ]] || REGEN+=" --size-gib $SIZE_GIB"
[[ $SMALL_FILES == 3000 ]] || REGEN+=" --small-files $SMALL_FILES"

# ----------------------------------------------------------------------------- release, keys
log "generating a $SIZE_GIB GiB release ($SMALL_FILES small files) in $WORK/release"
SPEC="$WORK/spec.toml"
python3 "$GEN" "$WORK/release" --size-gib "$SIZE_GIB" --shard-mib 512 --small-files "$SMALL_FILES" --quiet \
  --spec "$SPEC" >"$LOGS/gen.log" 2>&1 || { cat "$LOGS/gen.log" >&2; die "scripts/gen_release.py failed"; }
REL_BYTES=$(find "$WORK/release" -type f -printf '%s\n' | awk '{ s += $1 } END { printf "%.0f\n", s }')
REL_FILES=$(find "$WORK/release" -type f | wc -l)
REL_DESC=$(awk -v b="$REL_BYTES" -v f="$REL_FILES" -v g="$SIZE_GIB" -v s="$SMALL_FILES" \
  'BEGIN { printf "%.1f MiB in %d files (--size-gib %s of safetensors shards, --small-files %s)", b / 1048576, f, g, s }')

"$AIRLOCK" keygen --out "$WORK/k" --unencrypted -q >"$LOGS/keygen.log" 2>&1 \
  || { cat "$LOGS/keygen.log" >&2; die "airlock keygen failed"; }
KEY="$WORK/k.key" TRUST="$WORK/trust.toml"
cat >"$TRUST" <<EOF
site = "bench-site"

[roles.release]
threshold = 1
keys = ["$(sed -n 2p "$WORK/k.pub")"]
EOF

has_flag() { local h; h=$("$AIRLOCK" "$1" --help 2>&1 || true); grep -q -- "$2" <<<"$h"; }
CNSA=0
if has_flag pack --suite; then
  CNSA=1
  "$AIRLOCK" keygen --alg ml-dsa-87 --out "$WORK/ml" --unencrypted -q >"$LOGS/keygen-ml.log" 2>&1 \
    || { cat "$LOGS/keygen-ml.log" >&2; die "airlock keygen --alg ml-dsa-87 failed"; }
  KEY_PQ="$WORK/ml.key" TRUST_PQ="$WORK/trust-pq.toml"
  ML_LINE="ml-dsa-87:$(grep -v -- ----- "$WORK/ml.pub" | tr -d '\n')"
  cat >"$TRUST_PQ" <<EOF
site = "bench-site"

[roles.release]
threshold = 1
algorithms = ["ml-dsa-87"]
keys = ["$ML_LINE"]
EOF
else
  log "warning: this airlock has no pack --suite; pack-cnsa2 and verify-cnsa2 are skipped"
fi

BUNDLE="$OUT/bench.airlock.tar.zst" BUNDLE_PQ="$OUT/bench-cnsa2.airlock.tar.zst"
DEST="$OUT/dest" LAYOUT="$OUT/oci-layout" BOM="$OUT/bench.cdx.json"

log "warm-up: reading the release once (untimed)"
find "$WORK/release" -type f -print0 | xargs -0 cat >/dev/null

# ----------------------------------------------------------------------------- profiling
# prepare NAME: remove what the previous run of NAME wrote (outputs must not exist), and give
# the run a fresh, empty rollback state, so no run refuses another's bundle of the same sequence.
RUN_NO=0
prepare() {
  case "$1" in
    pack)       rm -f "$BUNDLE" ;;
    pack-cnsa2) rm -f "$BUNDLE_PQ" ;;
    unpack)     rm -rf "$DEST" ;;
    export)     rm -rf "$LAYOUT" ;;
    bom)        rm -f "$BOM" ;;
  esac
  RUN_NO=$((RUN_NO + 1))
  AIRLOCK_STATE_DIR="$STATES/$1.$RUN_NO"
  mkdir -p "$AIRLOCK_STATE_DIR"
  export AIRLOCK_STATE_DIR
}

# shorten ARG...: the command line with the airlock binary as `airlock` and every path in the
# work dir by its name alone.
shorten() {
  local a out=()
  for a in "$@"; do
    if [[ $a == "$AIRLOCK" ]]; then out+=(airlock)
    elif [[ $a == "$WORK"/* ]]; then out+=("${a##*/}")
    else out+=("$a"); fi
  done
  echo "${out[*]}"
}

# name_addresses: perf report lines on stdin, out with each address perf could not name in the
# airlock binary (perf prints its file offset, e.g. `airlock [.] 0x0000000000756d34`) named after
# the nearest symbol at or below it (`nm`): zstd's hand-written assembly loops
# (HUF_decompress4X*_fast_asm_loop) have no symbol size, so perf 6.1 leaves every sample in them
# unnamed, one line per address. Lines that end up the same are summed and the list re-sorted.
# Without nm or readelf the lines pass through unchanged.
NAME_ADDRESSES_PY='
import bisect, re, signal, subprocess, sys
signal.signal(signal.SIGPIPE, signal.SIG_DFL)
binary, dso = sys.argv[1], sys.argv[2]
segments, syms = [], {}
try:
    for line in subprocess.run(["readelf", "-lW", binary], capture_output=True, text=True, check=True).stdout.splitlines():
        f = line.split()
        if f and f[0] == "LOAD" and "E" in f[6:-1]:
            segments.append((int(f[1], 16), int(f[2], 16), int(f[4], 16)))
    for line in subprocess.run(["nm", "-n", "-C", "--defined-only", binary], capture_output=True, text=True, check=True).stdout.splitlines():
        f = line.split(" ", 2)
        if len(f) == 3 and f[1] in ("t", "T", "w", "W"):
            a = int(f[0], 16)
            if a not in syms or len(f[2]) < len(syms[a]):
                syms[a] = f[2]
except (OSError, subprocess.CalledProcessError, ValueError):
    segments = []
addrs = sorted(syms)
unnamed = re.compile(r"((?:^|\s)" + re.escape(dso) + r"\s+\[\.\]\s+)0x([0-9a-f]+)$")
total, first, seps = {}, {}, {}
for line in sys.stdin.read().splitlines():
    m = re.match(r"^\s*([0-9.]+)%(\s+)(.*)$", line)
    if not m:
        continue
    rest = m.group(3)
    u = unnamed.search(rest)
    if u and segments and addrs:
        off = int(u.group(2), 16)
        for seg_off, seg_vaddr, seg_size in segments:
            if seg_off <= off < seg_off + seg_size:
                i = bisect.bisect_right(addrs, off - seg_off + seg_vaddr) - 1
                if i >= 0:
                    rest = rest[:u.start()] + u.group(1) + syms[addrs[i]]
                break
    total[rest] = total.get(rest, 0.0) + float(m.group(1))
    first.setdefault(rest, len(first))
    seps.setdefault(rest, m.group(2))
for rest in sorted(total, key=lambda r: (-round(total[r], 2), first[r])):
    print("%9.2f%%%s%s" % (total[rest], seps[rest], rest))
'
name_addresses() { python3 -c "$NAME_ADDRESSES_PY" "$AIRLOCK" "${AIRLOCK##*/}"; }

# perf_top FILE SORT N: the top N lines of a `perf report` sorted by SORT, comments stripped.
perf_top() {
  perf report -i "$1" --no-children --sort "$2" -g none --stdio 2>>"$LOGS/perf-report.log" \
    | grep -v '^#' | grep '%' | name_addresses | sed 's/[[:space:]]*$//' | head -n "$3" || true
}

# threads FILE MAIN_TID: the top 12 threads (perf_top FILE pid 12), each line followed by what
# that thread spent its samples on: its top two symbols, as percent of the thread's own samples
# (from `perf report --sort pid,dso,sym`), and "main" for the main thread. Threads are unnamed,
# so this is how to tell the walker, the workers and the writers apart.
threads() {
  local by_thread
  by_thread=$(perf_top "$1" pid 12)
  [[ -n $by_thread ]] || return 0
  perf report -i "$1" --no-children --sort pid,dso,sym -g none --stdio 2>>"$LOGS/perf-report.log" \
    | grep -v '^#' | grep '%' | name_addresses | THREADS=$by_thread awk -v main="$2" '
      function short(s) { return length(s) > 44 ? substr(s, 1, 41) "..." : s }
      # pid,dso,sym lines: PCT TID:COMM DSO [.] SYMBOL...; keep the first (largest) two per thread.
      { tid = $2; sub(/:.*/, "", tid)
        k = n[tid] + 0
        if (k >= 2) next
        sym = $0; sub(/^ *[0-9.]+% +[^ ]+ +[^ ]+ +\[.\] +/, "", sym)
        pct[tid, k] = $1 + 0; name[tid, k] = short(sym); n[tid] = k + 1 }
      END {
        lines = split(ENVIRON["THREADS"], line, "\n")
        for (i = 1; i <= lines; i++) {
          split(line[i], f, " "); tid = f[2]; sub(/:.*/, "", tid); total = f[1] + 0
          note = (tid == main) ? "main; " : ""
          for (j = 0; j < n[tid] + 0; j++)
            note = note (j ? ", " : "") sprintf("%s %.0f%%", name[tid, j], total > 0 ? 100 * pct[tid, j] / total : 0)
          printf "%-28s  %s\n", line[i], note
        }
      }'
}

# profile NAME STDOUT NEEDS -- COMMAND...: time COMMAND under /usr/bin/time -v, then record it
# under perf, then write OUT_DIR/NAME.txt. STDOUT is where the command's stdout goes (a log, or
# /dev/null); NEEDS a file the command reads that an earlier command wrote ("-" for none).
# Returns 1 if the command fails or NEEDS is missing.
profile() {
  local name=$1 stdout=$2 needs=$3; shift 4
  local data="$PERF_DIR/$name.perf.data" tv="$LOGS/$name.time" txt="$OUT_DIR/$name.txt"
  [[ $stdout == - ]] && stdout="$LOGS/$name.stdout"
  if [[ $needs != - && ! -e $needs ]]; then
    log "$name: skipped: ${needs##*/} is missing (an earlier command failed)"
    return 1
  fi
  log "$name: $(shorten "$@")"

  prepare "$name"; sync
  if ! /usr/bin/time -v -o "$tv" "$@" >"$stdout" 2>"$LOGS/$name.time.log"; then
    log "$name: failed under /usr/bin/time:"; tail -n 20 "$LOGS/$name.time.log" >&2
    return 1
  fi
  prepare "$name"; sync
  if ! perf record -N -F 999 -g -o "$data" -- "$@" >"$stdout" 2>"$LOGS/$name.perf.log"; then
    log "$name: failed under perf record:"; tail -n 20 "$LOGS/$name.perf.log" >&2
    return 1
  fi

  local wall rss cpu samples main_tid by_thread by_symbol
  wall=$(awk -F': ' '/Elapsed \(wall clock\)/ { n = split($2, t, ":"); s = 0
           for (i = 1; i <= n; i++) s = s * 60 + t[i]; printf "%.2f", s }' "$tv")
  rss=$(awk -F': ' '/Maximum resident set size/ { printf "%.1f", $2 / 1024 }' "$tv")
  cpu=$(awk -F': ' '/User time/ { u = $2 } /System time/ { s = $2 }
          END { printf "user %.2f s, system %.2f s", u, s }' "$tv")
  samples=$(perf report -i "$data" --no-children --sort pid -g none --stdio 2>/dev/null \
    | sed -n 's/^# Samples: *//p' | sed 's/  */ /g' | head -n 1 || true)
  # The process's own pid is its main thread's tid (perf's "Pid" column shows thread ids).
  main_tid=$(perf script -i "$data" -F pid 2>/dev/null | awk 'NF { print $1; exit }' || true)
  by_thread=$(threads "$data" "$main_tid")
  by_symbol=$(perf_top "$data" dso,sym 40 | cut -c 1-140)
  if [[ -z $by_thread || -z $by_symbol ]]; then
    log "$name: perf report gave no samples (see $LOGS/perf-report.log)"
    return 1
  fi

  {
    echo "airlock CPU profile: $name"
    echo
    echo "command:   $(shorten "$@")"
    echo "env:       SOURCE_DATE_EPOCH=$SOURCE_DATE_EPOCH, AIRLOCK_STATE_DIR=a fresh empty dir, warm page cache"
    echo "date:      $(date -u +%Y-%m-%dT%H:%M:%SZ)"
    echo "machine:   $NPROC CPUs ($CPU_MODEL), Linux $KERNEL"
    echo "airlock:   commit $COMMIT${BUILD_ID:+, build-id ${BUILD_ID:0:12}}"
    echo "release:   $REL_DESC"
    echo "time -v:   wall $wall s, peak RSS $rss MiB, $cpu (a separate run, not under perf)"
    echo "perf:      $PERF_VERSION; perf record -F 999 -g; samples: ${samples:-?}"
    echo "regenerate: $REGEN (see docs/bench/README.md)"
    echo
    echo "== By thread (perf report --no-children --sort pid -g none; top 12)"
    echo "   percent of samples, tid:command; then the thread's top symbols, as percent of its own samples"
    echo
    echo "$by_thread"
    echo
    echo "== By symbol (perf report --no-children --sort dso,sym -g none; top 40)"
    echo "   percent of samples, shared object, [.] user / [k] kernel, symbol; addresses perf could not"
    echo "   name in airlock (zstd's assembly loops have no symbol size) are named after the symbol below"
    echo
    echo "$by_symbol"
  } >"$txt.tmp"
  mv "$txt.tmp" "$txt"
  log "$name: wall $wall s, peak RSS $rss MiB -> $txt"
}

FAILED=()
run() { local name=$1; profile "$@" || FAILED+=("$name"); }

run pack        - -          -- "$AIRLOCK" pack "$SPEC" --key "$KEY" -o "$BUNDLE" -q
run verify      - "$BUNDLE"  -- "$AIRLOCK" verify "$BUNDLE" --trust "$TRUST" -q
run verify-deep - "$BUNDLE"  -- "$AIRLOCK" verify "$BUNDLE" --trust "$TRUST" --deep -q
run unpack      - "$BUNDLE"  -- "$AIRLOCK" unpack "$BUNDLE" --trust "$TRUST" --dest "$DEST" -q
run export      - "$BUNDLE"  -- "$AIRLOCK" export "$BUNDLE" --trust "$TRUST" --oci-layout "$LAYOUT" -q
run verify-oci  - "$LAYOUT"  -- "$AIRLOCK" verify --oci-layout "$LAYOUT" --trust "$TRUST" -q
run inspect     /dev/null "$BUNDLE" -- "$AIRLOCK" inspect "$BUNDLE"
run bom         - "$BUNDLE"  -- "$AIRLOCK" bom "$BUNDLE" -o "$BOM"
if [[ $CNSA == 1 ]]; then
  run pack-cnsa2   - -           -- "$AIRLOCK" pack "$SPEC" --suite cnsa2 --key "$KEY_PQ" -o "$BUNDLE_PQ" -q
  run verify-cnsa2 - "$BUNDLE_PQ" -- "$AIRLOCK" verify "$BUNDLE_PQ" --trust "$TRUST_PQ" -q
fi


if (( ${#FAILED[@]} )); then
  if [[ $KEEP == 1 ]]; then log "failed: ${FAILED[*]} (logs in $WORK/logs)"
  else log "failed: ${FAILED[*]} (rerun with --keep to keep the logs)"; fi
  exit 1
fi
log "wrote $OUT_DIR/*.txt (docs/bench/README.md says how to read them)"
