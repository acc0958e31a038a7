# Shared helpers for the integration tests. Source it, then call hp_setup
# with the path of the built binary:
#
#   . "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
#   hp_setup "${1:-}"
#   hp_start main "$HP_WORK/state" --sysfs-root … --procfs-root …
#   hp_get /sizes;  check_status 200
#   hp_finish
#
# Every request goes through real curl over HTTPS, verified against the
# certificate the service made (--cacert STATE/tls.crt), and every answer is
# recorded in $HP_WORK/records in the contract checker's format
# (tests/contract/validate.mjs); hp_finish validates them all against
# openapi/openapi.json, prints "N passed, M failed" and exits.
#
# Environment:
#   HUGEPAGED_SKIP_CONTRACT=1   skip the contract step when
#                               tests/contract/node_modules is missing
#   HUGEPAGED_IT_TIMEOUT=S      whole-script timeout (default 240 s)
#   HUGEPAGED_KEEP_WORK=1       keep the temporary directory for inspection

# shellcheck disable=SC2034 # HP_STOP_STATUS and others are for the scripts
HP_REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
HP_PASSED=0
HP_FAILED=0
HP_PIDS=()
HP_PID=
HP_WATCHDOG=
HP_NREC=0
HP_DONE=0
HP_BAILED=0
HP_RECORDS=

# --- checks -----------------------------------------------------------------

# Shortens a value for a one-line report.
_hp_short() {
        local s=${1//$'\n'/ }
        ((${#s} > 400)) && s="${s:0:400}…"
        printf '%s' "$s"
}

ok() {
        HP_PASSED=$((HP_PASSED + 1))
        echo "ok - $1"
}

notok() {
        HP_FAILED=$((HP_FAILED + 1))
        echo "not ok - $1${2:+ ($2)}"
}

# check NAME EXPECTED ACTUAL: string equality.
check() {
        if [[ "$3" == "$2" ]]; then
                ok "$1"
        else
                notok "$1" "expected: $(_hp_short "$2"); actual: $(_hp_short "$3")"
        fi
}

# check_match NAME ERE ACTUAL: ACTUAL matches the extended regex.
check_match() {
        if [[ "$3" =~ $2 ]]; then
                ok "$1"
        else
                notok "$1" "expected to match /$2/; actual: $(_hp_short "$3")"
        fi
}

# skip NAME WHY: a check that cannot run here; not counted.
skip() {
        echo "skip - $1${2:+ ($2)}"
}

# hp_skip_all WHY: the whole script cannot run here (call before hp_setup).
hp_skip_all() {
        echo "skip - $1"
        echo "0 passed, 0 failed, 1 skipped"
        exit 0
}

# --- JSON -------------------------------------------------------------------

# hp_py EXPR: evaluates a Python expression with d bound to the last response
# body parsed as JSON (and f to a helper for findings). Strings print raw,
# everything else as compact JSON. Never fails: an error prints "<error: …>",
# which then shows up as the actual value of a check.
hp_py() {
        python3 - "$HP_BODY_FILE" "$1" <<'EOF' 2>&1 || true
import json, sys
def fmt(v):
    return v if isinstance(v, str) else json.dumps(v, sort_keys=True, separators=(",", ":"))
try:
    with open(sys.argv[1], encoding="utf-8") as fh:
        d = json.load(fh)
    pairs = lambda member: sorted(f"{e['pointer']} {e['code']}" for e in d.get(member, []))
    print(fmt(eval(sys.argv[2])))
except Exception as e:
    print(f"<error: {type(e).__name__}: {e}>")
EOF
}

# check_json NAME EXPR EXPECTED: the value of EXPR (see hp_py) equals EXPECTED.
check_json() {
        check "$1" "$3" "$(hp_py "$2")"
}

# check_finding NAME MEMBER CODE POINTER: the body's MEMBER array ("errors",
# "warnings", "reboot_required") holds a finding with that code and pointer.
check_finding() {
        local list
        list=$(hp_py "pairs('$2')")
        if [[ $(hp_py "any(e['code'] == '$3' and e['pointer'] == '$4' for e in d['$2'])") == true ]]; then
                ok "$1"
        else
                notok "$1" "expected $2 to hold code $3 at pointer \"$4\"; actual: $(_hp_short "$list")"
        fi
}

# --- the journal (model/journal.h) -------------------------------------------

# hp_journal_verify FILE: prints "N records verify" when every line of the
# journal is "<SHA-256 hex of the JSON text> <JSON object>" with a final
# newline, else what is wrong, line by line.
hp_journal_verify() {
        python3 - "$1" <<'EOF' 2>&1 || true
import hashlib, json, sys
bad = []
try:
    data = open(sys.argv[1], "rb").read()
except OSError as e:
    print(f"<error: {e}>")
    sys.exit(0)
lines = data.split(b"\n")
if lines[-1] == b"":
    lines.pop()
else:
    bad.append("no final newline")
for i, line in enumerate(lines, 1):
    digest, _, text = line.partition(b" ")
    if hashlib.sha256(text).hexdigest().encode() != digest:
        bad.append(f"line {i}: the checksum does not match")
        continue
    try:
        if not isinstance(json.loads(text), dict):
            bad.append(f"line {i}: not a JSON object")
    except ValueError as e:
        bad.append(f"line {i}: not JSON ({e})")
print("; ".join(bad) if bad else f"{len(lines)} records verify")
EOF
}

# hp_journal_events FILE: the journal's records as "event/gen" words.
hp_journal_events() {
        cut -d' ' -f2- "$1" | python3 -c '
import json, sys
print(" ".join("%s/%s" % (r["event"], r["gen"]) for r in map(json.loads, sys.stdin)))' 2>&1 || true
}

# --- the service --------------------------------------------------------------

hp_setup() {
        local bin=${1:-}
        if [[ -z "$bin" || ! -x "$bin" ]]; then
                echo "usage: $0 PATH-TO-hugepaged (got '${bin}')" >&2
                exit 2
        fi
        local tool
        for tool in curl python3 timeout sha256sum; do
                if ! command -v "$tool" >/dev/null; then
                        echo "$0: $tool is required" >&2
                        exit 2
                fi
        done
        HP_BIN=$(cd "$(dirname "$bin")" && pwd)/$(basename "$bin")
        HP_WORK=$(mktemp -d "${TMPDIR:-/tmp}/hugepaged-it.XXXXXX")
        HP_RECORDS=$HP_WORK/records
        mkdir -p "$HP_RECORDS"
        trap _hp_exit EXIT
        trap _hp_signal INT TERM HUP PIPE
        # The watchdog sleeps in short steps, so that killing it leaves no
        # long sleep behind.
        local limit=${HUGEPAGED_IT_TIMEOUT:-240} self=$$
        (
                for ((i = 0; i < limit; i++)); do sleep 1; done
                echo "$0: global timeout of ${limit}s reached" >&2
                kill -TERM "$self"
        ) &
        HP_WATCHDOG=$!
}

# Scripts may define hp_on_exit; it runs after the servers are stopped, even
# on failure or timeout.
_hp_exit() {
        local rc=$?
        # Clean up whatever fails, even with stdout gone (a closed pipe).
        set +e
        trap - EXIT INT TERM HUP
        trap '' PIPE
        _hp_stop_all
        if ((HP_DONE == 0 && rc != 124)) && [[ -d "$HP_RECORDS" ]]; then
                hp_contract
        fi
        if declare -F hp_on_exit >/dev/null; then
                hp_on_exit || true
        fi
        if [[ -n "$HP_WATCHDOG" ]]; then
                kill "$HP_WATCHDOG" 2>/dev/null || true
                wait "$HP_WATCHDOG" 2>/dev/null || true
        fi
        if [[ "${HUGEPAGED_KEEP_WORK:-0}" == 1 ]]; then
                echo "# kept $HP_WORK" >&2
        else
                rm -rf "$HP_WORK"
        fi
        if ((HP_DONE == 0)); then
                # Left early (set -e, a bail-out or a signal): still close
                # with the summary line, and fail.
                ((rc != 0)) || rc=1
                ((HP_BAILED)) || notok "the script ran to its end" "it stopped early with status $rc"
                echo "$HP_PASSED passed, $HP_FAILED failed"
        fi
        exit "$rc"
}

_hp_signal() {
        exit 124
}

# hp_bail MESSAGE: a failure after which the script cannot go on.
hp_bail() {
        notok "$1" "${2:-}"
        HP_BAILED=1
        exit 1
}

_hp_stop_all() {
        local pid
        for pid in "${HP_PIDS[@]}"; do
                _hp_kill "$pid"
                ((HP_KILL_STATUS == 0)) ||
                        notok "server $pid stops cleanly" "exit status $HP_KILL_STATUS (a crash, or a sanitizer report in its log)"
        done
        HP_PIDS=()
}

# _hp_kill PID: SIGTERM, then SIGKILL after 10 s; sets HP_KILL_STATUS to
# the exit status.
_hp_kill() {
        local pid=$1 i
        HP_KILL_STATUS=0
        if kill -0 "$pid" 2>/dev/null; then
                kill -TERM "$pid" 2>/dev/null || true
                for ((i = 0; i < 100; i++)); do
                        kill -0 "$pid" 2>/dev/null || break
                        sleep 0.1
                done
                if kill -0 "$pid" 2>/dev/null; then
                        kill -KILL "$pid" 2>/dev/null || true
                fi
        fi
        wait "$pid" 2>/dev/null || HP_KILL_STATUS=$?
        # A sanitizer report makes the run fail even when the exit status
        # was kept (UBSan without halt_on_error, say).
        if grep -lE 'ERROR: (Address|Leak)Sanitizer|runtime error:' "$HP_WORK"/*.log >/dev/null 2>&1; then
                grep -hE -A20 'ERROR: (Address|Leak)Sanitizer|runtime error:' "$HP_WORK"/*.log | sed 's/^/#   /' | head -40
                ((HP_KILL_STATUS != 0)) || HP_KILL_STATUS=99
        fi
}

# hp_start NAME STATE_DIR [OPTIONS…]: starts the binary on 127.0.0.1, port 0,
# with that state directory, and waits for its "listening on" line. Sets
# HP_PID, HP_URL, HP_CACERT, HP_LOG, and HP_TOKEN from STATE_DIR/token when
# the service uses its generated token.
hp_start() {
        local name=$1 state=$2 i port=
        shift 2
        HP_LOG=$HP_WORK/$name.log
        # Empty the log here: the background job's own redirection may come
        # after the first look below, which would then find the "listening
        # on" line of an earlier server of the same name.
        : >"$HP_LOG"
        # HP_WRAPPER (words) runs the binary under a tool: valgrind, say.
        local wrapper=()
        [[ -n "${HP_WRAPPER:-}" ]] && read -r -a wrapper <<<"$HP_WRAPPER"
        local listen=${HP_LISTEN:-127.0.0.1:0}
        "${wrapper[@]}" "$HP_BIN" --listen "$listen" --state-dir "$state" "$@" >"$HP_LOG" 2>&1 &
        HP_PID=$!
        HP_PIDS+=("$HP_PID")
        local scheme=
        for ((i = 0; i < ${HP_START_TRIES:-150}; i++)); do
                # "hugepaged: " on a terminal, "<6>" under the journal.
                port=$(sed -n 's#^\(hugepaged: \|<6>\)listening on https\{0,1\}://[^ ]*:\([0-9][0-9]*\)$#\2#p' "$HP_LOG")
                scheme=$(sed -n 's#^\(hugepaged: \|<6>\)listening on \(https\{0,1\}\)://.*$#\2#p' "$HP_LOG")
                [[ -n "$port" ]] && break
                if ! kill -0 "$HP_PID" 2>/dev/null; then
                        notok "server $name starts" "it exited: $(_hp_short "$(cat "$HP_LOG")")"
                        return 1
                fi
                sleep 0.1
        done
        if [[ -z "$port" ]]; then
                notok "server $name starts" "no 'listening on' line within 15 s: $(_hp_short "$(cat "$HP_LOG")")"
                return 1
        fi
        local host=${listen%:*}
        [[ "$host" == 0.0.0.0 || "$host" == "[::]" ]] && host=127.0.0.1
        HP_URL=$scheme://$host:$port
        HP_CACERT=$state/tls.crt
        HP_TOKEN=
        [[ -r "$state/token" ]] && HP_TOKEN=$(<"$state/token")
        return 0
}

# hp_stop: stops the last started server with SIGTERM; sets HP_STOP_STATUS
# to its exit status.
hp_stop() {
        _hp_kill "$HP_PID"
        HP_STOP_STATUS=$HP_KILL_STATUS
        local keep=() pid
        for pid in "${HP_PIDS[@]}"; do
                [[ "$pid" == "$HP_PID" ]] || keep+=("$pid")
        done
        HP_PIDS=("${keep[@]}")
}

# --- requests -----------------------------------------------------------------

# hp_req [-n | -t TOKEN] [-c CONTENT_TYPE] [-f BODY_FILE | -b BODY] METHOD PATH [CURL_ARGS…]
#   -n          no Authorization header (default: Bearer $HP_TOKEN)
#   -t TOKEN    this bearer token instead
#   -c TYPE     request Content-Type (default application/json when a body is sent;
#               "-" for none at all)
#   -b BODY     send BODY as is;  -f FILE: send FILE's bytes
# Sets HP_STATUS ("000" if curl failed), HP_CT, HP_BODY, HP_BODY_FILE,
# HP_HEADERS (file), HP_CURL_ERR, and records the exchange.
hp_req() {
        local token=$HP_TOKEN auth=1 ctype=application/json body_file='' method path
        while (($#)); do
                case $1 in
                -n) auth=0; shift ;;
                -t) token=$2; shift 2 ;;
                -c) ctype=$2; shift 2 ;;
                -b) body_file=$HP_WORK/request.body; printf '%s' "$2" >"$body_file"; shift 2 ;;
                -f) body_file=$2; shift 2 ;;
                *) break ;;
                esac
        done
        method=$1 path=$2
        shift 2
        local args=(-sS --max-time 15 --cacert "$HP_CACERT" -X "$method"
                -D "$HP_WORK/response.headers" -o "$HP_WORK/response.body"
                -w '%{http_code}\n%{content_type}\n')
        ((auth)) && args+=(-H "Authorization: Bearer $token")
        if [[ -n "$body_file" ]]; then
                # -c -: no Content-Type at all (curl's own default removed too).
                if [[ "$ctype" == - ]]; then args+=(-H 'Content-Type:'); else args+=(-H "Content-Type: $ctype"); fi
                args+=(--data-binary "@$body_file")
        fi
        : >"$HP_WORK/response.headers"
        : >"$HP_WORK/response.body"
        local out rc=0
        out=$(timeout 20 curl "${args[@]}" "$@" "$HP_URL$path" 2>"$HP_WORK/curl.err") || rc=$?
        HP_CURL_ERR=$(<"$HP_WORK/curl.err")
        HP_STATUS=$(sed -n 1p <<<"$out")
        HP_CT=$(sed -n 2p <<<"$out")
        [[ "$HP_STATUS" =~ ^[1-5][0-9][0-9]$ ]] || HP_STATUS=000
        ((rc == 0)) || HP_CURL_ERR="curl exit $rc: $HP_CURL_ERR"
        HP_BODY_FILE=$HP_WORK/response.body
        HP_BODY=$(<"$HP_BODY_FILE")
        HP_HEADERS=$HP_WORK/response.headers
        HP_METHOD=$method HP_PATH=$path
        # HP_NO_RECORD=1: an answer libmicrohttpd makes itself, before our
        # code runs (its 431 has an HTML body and no Content-Type), is not
        # one the contract can describe.
        [[ "$HP_STATUS" == 000 || "${HP_NO_RECORD:-0}" == 1 ]] || _hp_record "$method" "$path"
}

hp_get() {
        local opts=()
        while [[ "${1:-}" == -[nt] ]]; do
                if [[ $1 == -t ]]; then opts+=("$1" "$2"); shift 2; else opts+=("$1"); shift; fi
        done
        hp_req "${opts[@]}" GET "$@"
}

_hp_record() {
        HP_NREC=$((HP_NREC + 1))
        python3 - "$1" "$2" "$HP_STATUS" "$HP_CT" "$HP_BODY_FILE" \
                "$(printf '%s/%04d.json' "$HP_RECORDS" "$HP_NREC")" <<'EOF'
import json, sys
method, path, status, ctype, body_file, out = sys.argv[1:]
with open(body_file, encoding="utf-8", errors="surrogateescape") as fh:
    body = fh.read()
record = {"method": method, "path": path, "status": int(status),
          "content_type": ctype or None, "body": body}
with open(out, "w", encoding="utf-8", errors="surrogateescape") as fh:
    json.dump(record, fh)
EOF
}

# hp_header NAME: the value of a response header of the last request.
hp_header() {
        local name=$1
        awk -v n="$(tr '[:upper:]' '[:lower:]' <<<"$name")" -F': ' '
                { sub(/\r$/, "") }
                tolower($1) == n { sub(/^[^:]*: */, ""); print; exit }' "$HP_HEADERS"
}

# check_status EXPECTED [NAME]: the last request's status.
check_status() {
        local name=${2:-"$HP_METHOD $HP_PATH answers $1"}
        if [[ "$HP_STATUS" == "$1" ]]; then
                ok "$name"
        else
                notok "$name" "expected status $1; actual: $HP_STATUS $HP_CT $(_hp_short "$HP_BODY")${HP_CURL_ERR:+ [$HP_CURL_ERR]}"
        fi
}

# check_problem STATUS NAME: status, application/problem+json, body status.
check_problem() {
        local why=()
        [[ "$HP_STATUS" == "$1" ]] || why+=("status $HP_STATUS")
        [[ "$HP_CT" == application/problem+json* ]] || why+=("content type '$HP_CT'")
        [[ "$(hp_py 'd["status"]')" == "$1" ]] || why+=("body status $(hp_py 'd.get("status")')")
        if ((${#why[@]} == 0)); then
                ok "$2"
        else
                notok "$2" "expected a $1 application/problem+json whose status is $1; actual: ${why[*]}: $(_hp_short "$HP_BODY")${HP_CURL_ERR:+ [$HP_CURL_ERR]}"
        fi
}

# check_ok_json NAME: a 200 application/json answer.
check_ok_json() {
        if [[ "$HP_STATUS" == 200 && "$HP_CT" == application/json* ]]; then
                ok "$1"
        else
                notok "$1" "expected 200 application/json; actual: $HP_STATUS $HP_CT $(_hp_short "$HP_BODY")${HP_CURL_ERR:+ [$HP_CURL_ERR]}"
        fi
}

# --- the end ------------------------------------------------------------------

# Validates every recorded exchange against openapi/openapi.json.
hp_contract() {
        local checker=$HP_REPO/tests/contract
        if ! command -v node >/dev/null || [[ ! -d "$checker/node_modules" ]]; then
                if [[ "${HUGEPAGED_SKIP_CONTRACT:-0}" == 1 ]]; then
                        echo "skip - contract: node or tests/contract/node_modules is missing (HUGEPAGED_SKIP_CONTRACT=1)"
                else
                        notok "contract: the recorded responses validate against openapi/openapi.json" \
                                "node or tests/contract/node_modules is missing: run 'npm ci' in tests/contract, or set HUGEPAGED_SKIP_CONTRACT=1"
                fi
                return 0
        fi
        local out rc=0
        out=$(node "$checker/validate.mjs" "$HP_REPO/openapi/openapi.json" "$HP_RECORDS" 2>&1) || rc=$?
        if ((rc == 0)); then
                ok "contract: all $HP_NREC recorded responses validate against openapi/openapi.json"
        else
                notok "contract: the recorded responses validate against openapi/openapi.json" \
                        "$(grep -c '^FAIL' <<<"$out" || true) of $HP_NREC failed, validate.mjs exit $rc"
                grep -v '^ok ' <<<"$out" | sed 's/^/#   /'
        fi
}

hp_finish() {
        hp_contract
        HP_DONE=1
        echo "$HP_PASSED passed, $HP_FAILED failed"
        if ((HP_FAILED > 0)); then
                exit 1
        fi
        exit 0
}
