#!/usr/bin/env bash
# ctest client/scenario: generates TypeScript types from openapi/openapi.json
# (openapi-typescript), compiles scenario.ts against them with tsc --strict
# (tsconfig.json), and runs it: the real binary on a copy of the fake tree
# x86-2node, driven only through the generated client (openapi-fetch).
# Nothing generated is kept: it all goes to a temporary directory.
#
# Usage: run-scenario.sh PATH-TO-hugepaged   (after `npm ci` in tests/client
# and tests/contract; scripts/deps.sh does both)
# Prints "ok - …"/"not ok - …" lines and one "N passed, M failed"; exits 1
# on any failure. HUGEPAGED_KEEP_WORK=1 keeps the temporary directory.
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
BIN=${1:-}

passed=0
failed=0
ok() {
        passed=$((passed + 1))
        echo "ok - $1"
}
notok() {
        failed=$((failed + 1))
        echo "not ok - $1${2:+ ($2)}"
}
bail() {
        notok "$@"
        echo "$passed passed, $failed failed"
        exit 1
}

[[ -n "$BIN" && -x "$BIN" ]] || bail "the hugepaged binary is given" "usage: $0 PATH-TO-hugepaged (got '$BIN')"
BIN=$(cd "$(dirname "$BIN")" && pwd)/$(basename "$BIN")
[[ -x "$HERE/node_modules/.bin/tsc" && -d "$HERE/node_modules/openapi-fetch" ]] ||
        bail "the client's npm packages are installed" "run 'npm ci' in tests/client (scripts/deps.sh does)"

WORK=$(mktemp -d "${TMPDIR:-/tmp}/hugepaged-client.XXXXXX")
NODE_PID=
cleanup() {
        local rc=$?
        set +e
        # The scenario stops its server itself, also on SIGTERM; this is for
        # a driver interrupted while it runs.
        if [[ -n "$NODE_PID" ]] && kill -0 "$NODE_PID" 2>/dev/null; then
                kill -TERM "$NODE_PID" 2>/dev/null
                wait "$NODE_PID" 2>/dev/null
        fi
        if [[ "${HUGEPAGED_KEEP_WORK:-0}" == 1 ]]; then
                echo "# kept $WORK" >&2
        else
                rm -rf "$WORK"
        fi
        exit "$rc"
}
trap cleanup EXIT
trap 'exit 124' INT TERM HUP

# The compile unit: scenario.ts, the tsconfig, package.json (an ES module),
# the generated types, and the
# client's node_modules reached through a link.
cp "$HERE/scenario.ts" "$HERE/tsconfig.json" "$HERE/package.json" "$WORK/"
ln -s "$HERE/node_modules" "$WORK/node_modules"
mkdir -p "$WORK/generated"

if out=$(cd "$HERE" && node_modules/.bin/openapi-typescript "$REPO/openapi/openapi.json" \
        --redocly "$HERE/redocly.yaml" -o "$WORK/generated/hugepaged.d.ts" 2>&1) &&
        grep -q 'export interface paths' "$WORK/generated/hugepaged.d.ts"; then
        ok "openapi-typescript generates the types from openapi/openapi.json ($(wc -l <"$WORK/generated/hugepaged.d.ts") lines)"
else
        bail "openapi-typescript generates the types from openapi/openapi.json" "$(tail -c 2000 <<<"$out")"
fi

if out=$("$HERE/node_modules/.bin/tsc" -p "$WORK/tsconfig.json" 2>&1); then
        ok "tsc --strict compiles the scenario against the generated types"
else
        bail "tsc --strict compiles the scenario against the generated types" "$(head -c 3000 <<<"$out")"
fi

cp -r "$REPO/tests/fixtures/x86-2node" "$WORK/fx"
# The scenario runs in the background so that a signal to this driver
# reaches the trap at once (and through it, the scenario).
HP_CLIENT_PRIOR_PASSED=$passed node "$WORK/out/scenario.js" "$BIN" "$WORK/fx" "$WORK/state" "$WORK/records" "$REPO" &
NODE_PID=$!
rc=0
wait "$NODE_PID" || rc=$?
NODE_PID=
exit "$rc"
