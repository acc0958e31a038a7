#!/usr/bin/env bash
# Longer local fuzzing runs: builds the fuzz build (clang, every library
# instrumented) in build-fuzz/ and runs each target for SECONDS, one after
# the other, then prints per target the executions per second, the coverage
# (cov: edges, ft: features), the corpus size and any crash.
#
#   tests/fuzz/run.sh [-t SECONDS] [-j JOBS] [-k] [-o 0] [TARGET...]
#
#   -t SECONDS  time per target (default 300)
#   -j JOBS     parallel fuzzing processes per target (libFuzzer -fork; default 1)
#   -k          step around inputs of the kinds behind FOUND.md (NUL bytes, non-ASCII)
#               (HUGEPAGED_FUZZ_SKIP_KNOWN=1), which stop a run in seconds
#   -o 0        no property checks, only crashes, leaks and UB
#               (HUGEPAGED_FUZZ_ORACLE=0; see the top of fuzz-*.c)
#   TARGET      config, request (default both)
#
# Inputs that find new coverage accumulate in build-fuzz/fuzz/corpus-TARGET
# (kept between runs; the committed seeds in tests/fuzz/corpus are only
# read). Crashes, leaks, timeouts and OOMs are saved as
# build-fuzz/fuzz/TARGET-{crash,leak,timeout,oom}-*; reproduce one with
# build-fuzz/tests/fuzz/fuzz-TARGET FILE. Logs: build-fuzz/fuzz/TARGET.log.
set -euo pipefail
cd "$(dirname "$0")/../.."

seconds=300 jobs=1 oracle=1 skip=0
while getopts "t:j:ko:h" opt; do
        case $opt in
        t) seconds=$OPTARG ;;
        j) jobs=$OPTARG ;;
        k) skip=1 ;;
        o) oracle=$OPTARG ;;
        *) sed -n '2,22p' "$0"; exit 2 ;;
        esac
done
shift $((OPTIND - 1))
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(config request)

build=build-fuzz
if [ ! -f "$build/CMakeCache.txt" ]; then
        CC=clang cmake -S . -B "$build" -DHUGEPAGED_FUZZ=ON -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
fi
cmake --build "$build" -j"$(nproc)" --target "${targets[@]/#/fuzz-}" >"$build/fuzz-build.log" 2>&1 ||
        { tail -n 40 "$build/fuzz-build.log"; exit 1; }

work=$build/fuzz
mkdir -p "$work"
# The targets' temporary trees, on a tmpfs when there is one; removed at the
# end even when a target crashed.
base=${TMPDIR:-}
[ -n "$base" ] || { [ -w /dev/shm ] && base=/dev/shm || base=/tmp; }
export TMPDIR
TMPDIR=$(mktemp -d "$base/hugepaged-fuzz-run-XXXXXX")
trap 'rm -rf "$TMPDIR"' EXIT
status=0
for t in "${targets[@]}"; do
        bin=$build/tests/fuzz/fuzz-$t
        corpus=$work/corpus-$t
        log=$work/$t.log
        mkdir -p "$corpus"
        touch "$work/.start-$t"
        echo "=== fuzz-$t: ${seconds}s, $jobs job(s), oracle $oracle, skip known bugs $skip"
        fork=()
        [ "$jobs" -gt 1 ] && fork=(-fork="$jobs" -ignore_crashes=1)
        rc=0
        HUGEPAGED_FUZZ_ORACLE=$oracle HUGEPAGED_FUZZ_SKIP_KNOWN=$skip "$bin" -max_total_time="$seconds" -max_len=8192 -timeout=10 \
                -rss_limit_mb=2048 -dict="tests/fuzz/$t.dict" -print_final_stats=1 \
                -artifact_prefix="$work/$t-" "${fork[@]}" "$corpus" "tests/fuzz/corpus/$t" \
                >"$log" 2>&1 || rc=$?
        # The last status line: "#N  DONE|REDUCE|…  cov: X ft: Y corp: Z/… exec/s: E …"
        last=$(grep -aE '^#[0-9]+' "$log" | tail -n 1 || true)
        runs=$(grep -aoE '^stat::number_of_executed_units: *[0-9]+' "$log" | grep -oE '[0-9]+$' | tail -n 1 || true)
        speed=$(grep -aoE '^stat::average_exec_per_sec: *[0-9]+' "$log" | grep -oE '[0-9]+$' | tail -n 1 || true)
        echo "  runs:    ${runs:-?} (${speed:-?} exec/s)"
        echo "  status:  ${last:-none}"
        echo "  corpus:  $(find "$corpus" -type f | wc -l) files in $corpus"
        crashes=$(find "$work" -maxdepth 1 -name "$t-*" -newer "$work/.start-$t" | sort)
        if [ $rc -ne 0 ] || [ -n "$crashes" ]; then
                status=1
                echo "  FOUND (exit $rc):"
                grep -aE '^==[0-9]+==ERROR|^SUMMARY|^fuzz-(config|request): ' "$log" | head -n 10 | sed 's/^/    /'
                for f in $crashes; do echo "    $f"; done
        else
                echo "  found:   nothing"
        fi
done
exit $status
