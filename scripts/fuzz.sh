#!/usr/bin/env bash
# Builds every cargo-fuzz target in fuzz/ and runs each for SECONDS (default 60), one after the
# other, then prints per target the runs made, the corpus size and any crash. A crash leaves its
# input in fuzz/artifacts/TARGET/ and makes the script exit 1: reproduce it with the command the
# script prints, keep it as a regression test, fix it at its root (docs/security.md, "Fuzzing").
#
#   scripts/fuzz.sh [SECONDS] [TARGET...]
#
# Needs cargo-fuzz (`cargo install cargo-fuzz --locked`). cargo-fuzz passes nightly-only `-Z`
# flags to rustc (sanitizer, coverage options); on the stable toolchain this script sets
# RUSTC_BOOTSTRAP=1 so that stable rustc accepts them, which is the supported way to use
# unstable flags on a release compiler. FUZZ_SANITIZER=none builds without AddressSanitizer
# (faster; the code is `#![forbid(unsafe_code)]`, ASan still watches the C of libzstd).
set -euo pipefail
cd "$(dirname "$0")/.."

seconds="${1:-60}"
shift || true
case "$seconds" in '' | *[!0-9]*) echo "usage: scripts/fuzz.sh [SECONDS] [TARGET...]" >&2; exit 2 ;; esac
command -v cargo-fuzz >/dev/null 2>&1 || {
  echo "cargo-fuzz is not installed: run \`cargo install cargo-fuzz --locked\`, then this script again" >&2
  exit 3
}
export RUSTC_BOOTSTRAP=1
sanitizer="${FUZZ_SANITIZER:-address}"
flags=(--release --debug-assertions --sanitizer "$sanitizer")

run() {
  echo "+ $*" >&2
  "$@"
}

mapfile -t all < <(cargo fuzz list)
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=("${all[@]}")

run cargo fuzz build "${flags[@]}"
# Seeds: valid inputs for every target (a real bundle's parts, the example policy, gate samples).
run cargo run --quiet --manifest-path fuzz/Cargo.toml --example seeds -- fuzz/corpus

summary=()
failed=0
for t in "${targets[@]}"; do
  mkdir -p "fuzz/corpus/$t" fuzz/logs
  log="fuzz/logs/$t.log"
  status=ok
  if ! run cargo fuzz run "${flags[@]}" "$t" "fuzz/corpus/$t" -- \
    -max_total_time="$seconds" -timeout=30 -rss_limit_mb=2048 -print_final_stats=1 \
    >"$log" 2>&1; then
    status="CRASH (see $log and fuzz/artifacts/$t/)"
    failed=1
  fi
  runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
  took=$(sed -n 's/^stat::slowest_unit_time_sec: *//p' "$log" | tail -n 1)
  files=$(find "fuzz/corpus/$t" -type f | wc -l)
  bytes=$(du -sb "fuzz/corpus/$t" | cut -f1)
  summary+=("$(printf '%-15s %12s runs in %ss  corpus %5s files %9s bytes  slowest input %ss  %s' \
    "$t" "${runs:-?}" "$seconds" "$files" "$bytes" "${took:-?}" "$status")")
done

echo
echo "cargo fuzz run ${flags[*]} TARGET fuzz/corpus/TARGET -- -max_total_time=$seconds -timeout=30 -rss_limit_mb=2048"
printf '%s\n' "${summary[@]}"
exit "$failed"
