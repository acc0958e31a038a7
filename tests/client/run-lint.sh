#!/usr/bin/env bash
# ctest contract/lint: Redocly CLI's lint (the recommended rules,
# redocly.yaml) on openapi/openapi.json must find no error. Warnings are
# listed as "# warn" lines. To show that the lint really checks, a copy of
# the document broken on purpose (a duplicate operationId, a $ref to
# nothing) must fail it, for those two rules.
#
# Usage: run-lint.sh   (after `npm ci` in tests/client)
# Prints "ok - …"/"not ok - …" lines and "N passed, M failed"; exits 1 on
# any failure.
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
DOC=$REPO/openapi/openapi.json
REDOCLY=$HERE/node_modules/.bin/redocly

# Loopback only: no usage reports, no update checks.
export REDOCLY_TELEMETRY=off REDOCLY_SUPPRESS_NOTIFICATIONS=true REDOCLY_SUPPRESS_UPDATE_NOTICE=true

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
finish() {
        echo "$passed passed, $failed failed"
        ((failed == 0))
}

if [[ ! -x "$REDOCLY" ]]; then
        notok "Redocly CLI is installed" "run 'npm ci' in tests/client (scripts/deps.sh does)"
        finish
        exit 1
fi

WORK=$(mktemp -d "${TMPDIR:-/tmp}/hugepaged-lint.XXXXXX")
trap 'rm -rf "$WORK"' EXIT

# lint FILE OUT: Redocly's JSON report of FILE in OUT; its exit status in
# lint_rc (1 when it found an error).
lint() {
        lint_rc=0
        (cd "$HERE" && "$REDOCLY" lint --config "$HERE/redocly.yaml" --format=json "$1") \
                >"$2" 2>"$WORK/stderr" || lint_rc=$?
}

# summary OUT: "errors warnings ignored" and then one "# severity rule at
# pointer: message" line per problem.
summary() {
        node -e '
const report = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
const t = report.totals;
console.log(`${t.errors} ${t.warnings} ${t.ignored}`);
for (const p of report.problems)
  console.log(`# ${p.severity} ${p.ruleId} at ${p.location?.[0]?.pointer ?? "?"}: ${p.message}`);
' "$1" 2>&1 || echo "unreadable report"
}

# The document itself.
lint "$DOC" "$WORK/doc.json"
report=$(summary "$WORK/doc.json")
read -r errors warnings ignored <<<"$(head -n1 <<<"$report")"
tail -n +2 <<<"$report"
if [[ "$lint_rc" == 0 && "$errors" == 0 ]]; then
        ok "redocly lint (recommended): openapi/openapi.json has no error ($warnings warnings, $ignored ignored by location)"
else
        notok "redocly lint (recommended): openapi/openapi.json has no error" \
                "exit $lint_rc, errors: ${errors:-?}; $(head -c 2000 "$WORK/stderr")"
fi
# The ignore file names two locations; more ignored problems would mean it
# hides something new.
if [[ "$ignored" == 2 ]]; then
        ok "exactly the 2 findings of .redocly.lint-ignore.yaml are ignored"
else
        notok "exactly the 2 findings of .redocly.lint-ignore.yaml are ignored" "ignored: ${ignored:-?}"
fi

# A broken copy: the lint must fail it, for the rules broken.
node -e '
const fs = require("fs");
const doc = JSON.parse(fs.readFileSync(process.argv[1], "utf8"));
doc.paths["/status"].get.operationId = doc.paths["/sizes"].get.operationId;
doc.paths["/sizes"].get.responses["200"].content["application/json"].schema = { $ref: "#/components/schemas/NoSuchSchema" };
fs.writeFileSync(process.argv[2], JSON.stringify(doc, null, 2));
' "$DOC" "$WORK/broken.json"
lint "$WORK/broken.json" "$WORK/broken-report.json"
rules=$(node -e '
const r = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
console.log(r.problems.filter((p) => p.severity === "error").map((p) => p.ruleId).sort().join(" "));
' "$WORK/broken-report.json" 2>&1 || true)
if [[ "$lint_rc" != 0 && " $rules " == *" operation-operationId-unique "* && " $rules " == *" no-unresolved-refs "* ]]; then
        ok "redocly lint fails a broken copy (duplicate operationId, unresolved \$ref): errors from $rules"
else
        notok "redocly lint fails a broken copy (duplicate operationId, unresolved \$ref)" \
                "exit $lint_rc, error rules: '${rules}'"
fi

finish
