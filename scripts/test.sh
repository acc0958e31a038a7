#!/usr/bin/env bash
# Installs what the tests need, builds hugepaged twice (a normal build with
# -Werror, and one with AddressSanitizer and UndefinedBehaviorSanitizer) and
# runs every test in each: cmocka unit tests, integration tests that drive the
# real binary with curl over HTTPS on fake sysfs trees and, as root, on the
# real kernel, the OpenAPI contract check of every recorded response, and
# (release build) the testssl and slowhttptest scans and valgrind; then a
# clang build with the libFuzzer targets, run a fixed number of times.
# Ends with "ctest: …" (test programs) and "tests: N passed, M failed" (the
# cases and checks inside them, both builds); exits non-zero on failure.
set -uo pipefail
cd "$(dirname "$0")/.."

scripts/deps.sh --test || exit 1

passed=0        # cases and checks inside the test programs
failed=0
ctest_passed=0  # the test programs themselves
ctest_failed=0
status=0

run_suite() { # name builddir ctest-filter cmake-args...
        local name=$1 dir=$2 filter=$3
        shift 3
        echo "=== $name build"
        if ! cmake -S . -B "$dir" -DBUILD_TESTING=ON "$@" >"$dir.configure.log" 2>&1; then
                cat "$dir.configure.log"
                failed=$((failed + 1)); status=1; return
        fi
        if ! cmake --build "$dir" -j"$(nproc)" >"$dir.build.log" 2>&1; then
                cat "$dir.build.log"
                failed=$((failed + 1)); status=1; return
        fi
        echo "=== $name tests"
        local log=$dir.ctest.log rc=0
        # Two at a time (the machine has two cores); the tests that load it
        # or touch the real kernel are RUN_SERIAL.
        (cd "$dir" && ctest -V -j"$(nproc)" --timeout 900 ${filter:+-R "$filter"}) >"$log" 2>&1 || rc=$?
        # The verbose log is long; show each test's checks and every failure.
        grep -E '^[0-9]+: (not ok|skip) |^[0-9]+: \[  (FAILED|ERROR) |Test +#|tests passed|tests failed|^[0-9]+: #' "$log"
        local line total bad
        line=$(grep -E 'tests passed, [0-9]+ tests failed out of [0-9]+' "$log" | tail -n1)
        if [ -z "$line" ]; then
                tail -n 50 "$log"
                failed=$((failed + 1)); status=1; return
        fi
        total=$(echo "$line" | sed -E 's/.* out of ([0-9]+).*/\1/')
        bad=$(echo "$line" | sed -E 's/.* ([0-9]+) tests failed.*/\1/')
        ctest_passed=$((ctest_passed + total - bad))
        ctest_failed=$((ctest_failed + bad))
        # Cases inside the executables: cmocka's "[  PASSED  ] N test(s)." and
        # "[  FAILED  ] N test(s)", and the scripts' "N passed, M failed"
        # (the fuzz targets print libFuzzer's "Done N runs", not counted).
        local p f
        p=$(grep -oE '\[  PASSED  \] [0-9]+ test' "$log" | grep -oE '[0-9]+' | awk '{s += $1} END {print s + 0}')
        f=$(grep -oE '\[  FAILED  \] [0-9]+ test' "$log" | grep -oE '[0-9]+' | awk '{s += $1} END {print s + 0}')
        passed=$((passed + ${p:-0}))
        failed=$((failed + ${f:-0}))
        p=$(grep -oE '^[0-9]+: [0-9]+ passed, [0-9]+ failed' "$log" | sed -E 's/^[0-9]+: ([0-9]+) passed.*/\1/' | awk '{s += $1} END {print s + 0}')
        f=$(grep -oE '^[0-9]+: [0-9]+ passed, [0-9]+ failed' "$log" | sed -E 's/.* ([0-9]+) failed/\1/' | awk '{s += $1} END {print s + 0}')
        passed=$((passed + ${p:-0}))
        failed=$((failed + ${f:-0}))
        # A test that failed without printing its own count still counts.
        if [ "$bad" -gt 0 ] && [ "${f:-0}" -eq 0 ]; then failed=$((failed + bad)); fi
        [ $rc -eq 0 ] || status=1
}

mkdir -p build-test
run_suite "release" build-test/release "" -DCMAKE_BUILD_TYPE=RelWithDebInfo
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
        run_suite "sanitizers (ASan+UBSan)" build-test/sanitize "" -DCMAKE_BUILD_TYPE=Debug -DHUGEPAGED_SANITIZE=ON
# The libFuzzer targets need clang and every library instrumented: a third
# build, of which only the fuzz tests run (tests/fuzz/).
CC=clang run_suite "fuzz (clang, libFuzzer)" build-test/fuzz '^fuzz/' -DCMAKE_BUILD_TYPE=RelWithDebInfo \
        -DHUGEPAGED_FUZZ=ON

echo "ctest: $ctest_passed passed, $ctest_failed failed (test programs, all builds)"
echo "tests: $passed passed, $failed failed"
[ $failed -eq 0 ] && [ $ctest_failed -eq 0 ] || status=1
exit $status
