#!/usr/bin/env bash
# Installs what the tests need, builds hugepaged twice (a normal build with
# -Werror, and one with AddressSanitizer and UndefinedBehaviorSanitizer) and
# runs every test in each: cmocka unit tests, integration tests that drive the
# real binary with curl over HTTPS on fake sysfs trees and, as root, on the
# real kernel, and the OpenAPI contract check of every recorded response.
# Ends with one line "tests: N passed, M failed"; exits non-zero on failure.
set -uo pipefail
cd "$(dirname "$0")/.."

scripts/deps.sh --test || exit 1

passed=0
failed=0
status=0

run_suite() { # name builddir cmake-args...
        local name=$1 dir=$2
        shift 2
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
        local out
        out=$(cd "$dir" && ctest --output-on-failure --timeout 600 2>&1)
        local rc=$?
        echo "$out"
        local line total bad
        line=$(echo "$out" | grep -E 'tests passed, [0-9]+ tests failed out of [0-9]+' | tail -n1)
        if [ -z "$line" ]; then
                failed=$((failed + 1)); status=1; return
        fi
        total=$(echo "$line" | sed -E 's/.* out of ([0-9]+).*/\1/')
        bad=$(echo "$line" | sed -E 's/.* ([0-9]+) tests failed.*/\1/')
        passed=$((passed + total - bad))
        failed=$((failed + bad))
        [ $rc -eq 0 ] || status=1
}

mkdir -p build-test
run_suite "release" build-test/release -DCMAKE_BUILD_TYPE=RelWithDebInfo
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
        run_suite "sanitizers (ASan+UBSan)" build-test/sanitize -DCMAKE_BUILD_TYPE=Debug -DHUGEPAGED_SANITIZE=ON

echo "tests: $passed passed, $failed failed"
[ $failed -eq 0 ] || status=1
exit $status
