#!/usr/bin/env bash
# Hostile requests against the real binary: malformed paths, methods,
# headers, media types, bodies, JSON and query arguments, and raw bytes
# that are not HTTP at all. Each must get exactly its status, and none may
# change the (fake) kernel or the journal; the service must answer
# normally afterwards and stop cleanly. The same script runs under
# AddressSanitizer (the sanitizer build) and under valgrind memcheck
# (HP_WRAPPER, see CMakeLists.txt), where zero errors and zero leaks are
# required. Usage: test-hostile.sh PATH-TO-hugepaged
set -u
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
hp_setup "${1:-}"

cp -r "$HP_REPO/tests/fixtures/x86-2node" "$HP_WORK/tree"
ROOTS=(--sysfs-root "$HP_WORK/tree/sys" --procfs-root "$HP_WORK/tree/proc")
ADMIN=admin-token-0123456789abcdef
READER=reader-token-0123456789abcdef
printf '%s ops admin\n%s viewer read\n' "$ADMIN" "$READER" >"$HP_WORK/tokens"
STATE=$HP_WORK/state
# Under valgrind everything is slower: give the start and each request room.
[[ -n "${HP_WRAPPER:-}" ]] && HP_START_TRIES=600

hp_start main "$STATE" "${ROOTS[@]}" --token-file "$HP_WORK/tokens" --max-body 65536 ||
        hp_bail "cannot go on without a server"
HP_TOKEN=$ADMIN

# A known generation 1, so that the journal is not empty and If-Match has
# something to name.
hp_req -b '{"pools": {"2Mi": {"count": 32}}}' PUT /config
check_ok_json "setup: generation 1 applied"

# What must never change: every file of the fake kernel, and the journal.
fingerprint() {
        (cd "$HP_WORK/tree" && find . -type f -print0 | sort -z | xargs -0 sha256sum) | sha256sum
        sha256sum <"$STATE/journal"
}
BEFORE=$(fingerprint)
unchanged() {
        local now
        now=$(fingerprint)
        if [[ "$now" != "$BEFORE" ]]; then
                notok "$1: the kernel and the journal are unchanged" "they changed"
                BEFORE=$now # report each change once, not again at every later request
        fi
}

# hostile NAME STATUS [hp_req arguments…]: the exact status (a problem
# document for errors), and nothing changed.
hostile() {
        local name=$1 status=$2
        shift 2
        hp_req "$@"
        if [[ "$status" == 2* ]]; then
                check_status "$status" "$name: $status"
        else
                check_problem "$status" "$name: $status"
        fi
        unchanged "$name"
}

# hostile_field NAME POINTER BODY: PUT /config with BODY is a 400 (or
# $STATUS) whose errors name POINTER.
hostile_field() {
        hp_req -b "$3" PUT /config
        check_problem "${STATUS:-400}" "$1: ${STATUS:-400}"
        local got
        got=$(hp_py "[e['pointer'] for e in d.get('errors', [])]")
        if [[ $(hp_py "any(e['pointer'] == '$2' for e in d.get('errors', []))") == true ]]; then
                ok "$1: names \"$2\""
        else
                notok "$1: names \"$2\"" "errors at: $got"
        fi
        unchanged "$1"
}

# --- paths --------------------------------------------------------------------------

hostile "an unknown file under /ui" 404 -n GET /ui/nope
hostile "the page's directory itself" 404 GET /ui/
hostile "an unknown path" 404 GET /nope
hostile "a trailing slash" 404 GET /sizes/
hostile "a double slash" 404 GET //sizes
hostile "dot segments, sent as they are" 404 GET /config/../sizes --path-as-is
hostile "an upper-case path" 404 GET /SIZES
hostile "an encoded NUL in the path" 404 GET '/config%00/x'
hostile "an encoded slash" 404 GET '/config%2Fhistory'
hostile "a broken escape" 404 GET '/sizes%zz'
hostile "an 8000-byte path" 404 GET "/$(head -c 8000 /dev/zero | tr '\0' a)"
hostile "PUT on an encoded NUL that starts like /config" 404 -b '{}' PUT '/config%00'

# --- methods ----------------------------------------------------------------------------

hostile "DELETE /config" 405 DELETE /config
check "... Allow lists what /config takes" "GET, HEAD, PUT, OPTIONS" "$(hp_header Allow)"
hostile "PATCH /config" 405 -b '{}' PATCH /config
hostile "POST /config" 405 -b '{}' POST /config
hostile "TRACE /status" 405 TRACE /status
hostile "an invented method" 405 FROB /sizes
hostile "PUT /status" 405 -b '{}' PUT /status
hostile "GET /config/rollback" 405 GET /config/rollback

# --- credentials --------------------------------------------------------------------------

hostile "PUT /config without a token" 401 -n -b '{"pools": {}}' PUT /config
hostile "PUT /config with a read token" 403 -t "$READER" -b '{"pools": {}}' PUT /config
hostile "a token with a newline smuggled in" 401 -n -b '{}' PUT /config -H "Authorization: Bearer ${ADMIN}%0d%0aX: y"
hostile "two Authorization headers, a bad one first" 401 -n -b '{}' PUT /config \
        -H 'Authorization: Bearer nothing-0123456789abcdef' -H "Authorization: Bearer $ADMIN"
hostile "a lower-case scheme still needs a good token" 401 -n -b '{}' PUT /config \
        -H 'Authorization: bearer nothing-0123456789abcdef'

# --- media types and negotiation ----------------------------------------------------------

GOOD='{"pools": {"2Mi": {"count": 32}}}'
hostile "text/plain" 415 -c text/plain -b "$GOOD" PUT /config
hostile "no Content-Type" 415 -c - -b "$GOOD" PUT /config
hostile "application/jsonx" 415 -c application/jsonx -b "$GOOD" PUT /config
hostile "application/json, text/plain" 415 -c 'application/json, text/plain' -b "$GOOD" PUT /config
hostile "form data" 415 -c application/x-www-form-urlencoded -b "$GOOD" PUT /config
hostile "Accept: text/html" 406 -b "$GOOD" PUT /config -H 'Accept: text/html'
hostile "Accept: application/json;q=0" 406 GET /sizes -H 'Accept: application/json;q=0'
hostile "Accept: application/xml" 406 GET /status -H 'Accept: application/xml'
hostile "Accept: text/*" 406 GET /status -H 'Accept: text/*'
hostile "Accept: application/xml, */*;q=0.1 is served" 200 GET /sizes -H 'Accept: application/xml, */*;q=0.1'
hostile "Accept: application/* is served" 200 GET /sizes -H 'Accept: application/*'
hostile "Accept: APPLICATION/JSON is served" 200 GET /sizes -H 'Accept: APPLICATION/JSON'
hostile "an Accept of nothing that parses is ignored" 200 GET /sizes -H 'Accept: ;;;,,'

# --- sizes of things ------------------------------------------------------------------------

head -c 65537 /dev/zero | tr '\0' ' ' >"$HP_WORK/big"
hostile "a body of 65537 bytes" 413 -f "$HP_WORK/big" PUT /config
hostile "a chunked body of 65537 bytes" 413 -f "$HP_WORK/big" PUT /config -H 'Transfer-Encoding: chunked'
hostile "Content-Length of 10^18" 413 -b '{}' PUT /config -H 'Content-Length: 1000000000000000000'
HP_NO_RECORD=1 hp_req GET /healthz -H "X-Big: $(head -c 40000 /dev/zero | tr '\0' a)"
check "a 40 KB header: the server's own 431" 431 "$HP_STATUS"
unchanged "a 40 KB header"
args=()
for ((i = 0; i < 300; i++)); do args+=(-H "X-H$i: v"); done
HP_NO_RECORD=1 hp_req GET /healthz "${args[@]}"
check_match "300 headers: answered or refused, never a crash" '^(200|400|431)$' "$HP_STATUS"

# --- JSON -------------------------------------------------------------------------------------

hostile_field "a duplicate top-level key" /pools '{"pools": {}, "pools": {}}'
hostile_field "a duplicate nested key" /pools/2Mi/count '{"pools": {"2Mi": {"count": 1, "count": 2}}}'
hostile_field "an unknown field" /bogus '{"pools": {}, "bogus": true}'
hostile_field "an unknown field in a pool" /pools/2Mi/nodes_ '{"pools": {"2Mi": {"count": 1, "nodes_": {}}}}'
hostile_field "count as a string" /pools/2Mi/count '{"pools": {"2Mi": {"count": "1"}}}'
hostile_field "count as true" /pools/2Mi/count '{"pools": {"2Mi": {"count": true}}}'
hostile_field "count as null" /pools/2Mi/count '{"pools": {"2Mi": {"count": null}}}'
hostile_field "count as an object" /pools/2Mi/count '{"pools": {"2Mi": {"count": {}}}}'
hostile_field "a negative count" /pools/2Mi/count '{"pools": {"2Mi": {"count": -4}}}'
hostile_field "a fractional count" /pools/2Mi/count '{"pools": {"2Mi": {"count": 0.5}}}'
hostile_field "count 1.0 (a real)" /pools/2Mi/count '{"pools": {"2Mi": {"count": 1.0}}}'
hostile_field "count 1e2 (a real)" /pools/2Mi/count '{"pools": {"2Mi": {"count": 1e2}}}'
hostile_field "count 2^63" /pools/2Mi/count '{"pools": {"2Mi": {"count": 9223372036854775808}}}'
hostile_field "count 2^64" /pools/2Mi/count '{"pools": {"2Mi": {"count": 18446744073709551616}}}'
hostile_field "count 1e309" /pools/2Mi/count '{"pools": {"2Mi": {"count": 1e309}}}'
hostile_field "a node count of -1" /pools/1Gi/nodes/0 '{"pools": {"1Gi": {"nodes": {"0": -1, "1": 0}}}}'
hostile_field "a node key with a sign" /pools/1Gi/nodes/+0 '{"pools": {"1Gi": {"nodes": {"+0": 1}}}}'
hostile_field "a THP value as a number" /transparent_hugepage/enabled '{"transparent_hugepage": {"enabled": 1}}'
STATUS=422 hostile_field "a THP value the kernel does not offer" /transparent_hugepage/enabled \
        '{"transparent_hugepage": {"enabled": "sometimes"}}'
hostile_field "a THP value with a NUL escape" /transparent_hugepage/enabled \
        '{"transparent_hugepage": {"enabled": "never\u0000"}}'
hostile_field "a size key with a NUL escape (the pools object is named)" /pools '{"pools": {"2Mi\u0000": {"count": 1}}}'
hostile_field "default_size as a number" /default_size '{"default_size": 2097152}'
hostile_field "pools as an array" /pools '{"pools": [1, 2]}'
hostile_field "a top-level array" "" '[{"pools": {}}]'
hostile_field "a top-level string" "" '"pools"'
hostile_field "a top-level null" "" 'null'
hostile_field "trailing garbage" "" '{"pools": {}} x'
hostile_field "two documents" "" '{"pools": {}} {"pools": {}}'
hostile_field "an empty body" "" ''
hostile_field "whitespace only" "" '   '
hostile_field "a comment" "" '{"pools": {} /* no */}'
hostile_field "a trailing comma" "" '{"pools": {},}'
hostile_field "single quotes" "" "{'pools': {}}"
hostile_field "NaN" "" '{"pools": {"2Mi": {"count": NaN}}}'
printf '\xef\xbb\xbf{"pools": {}}' >"$HP_WORK/bom"
hp_req -f "$HP_WORK/bom" PUT /config
check_problem 400 "a UTF-8 byte order mark: 400"
unchanged "a UTF-8 byte order mark"
printf '{"pools": {"2Mi\xff": {"count": 1}}}' >"$HP_WORK/utf8"
hp_req -f "$HP_WORK/utf8" PUT /config
check_problem 400 "invalid UTF-8 in a key: 400"
unchanged "invalid UTF-8 in a key"
printf '{"transparent_hugepage": {"enabled": "\xc0\xafnever"}}' >"$HP_WORK/overlong"
hp_req -f "$HP_WORK/overlong" PUT /config
check_problem 400 "an overlong UTF-8 sequence: 400"
unchanged "an overlong UTF-8 sequence"
printf '{"pools": {}}\x00' >"$HP_WORK/nul"
hp_req -f "$HP_WORK/nul" PUT /config
check_problem 400 "a raw NUL byte after the document: 400"
unchanged "a raw NUL byte"
python3 -c 'print("{\"pools\": " + "[" * 3000 + "]" * 3000 + "}")' >"$HP_WORK/deep"
hp_req -f "$HP_WORK/deep" PUT /config
check_problem 400 "3000 nested arrays: 400"
unchanged "3000 nested arrays"
python3 -c 'print("{\"a\":" * 100 + "1" + "}" * 100)' >"$HP_WORK/deepobj"
hp_req -f "$HP_WORK/deepobj" PUT /config
check_problem 400 "100 nested objects: 400"
unchanged "100 nested objects"
python3 -c 'import json; print(json.dumps({"pools": {f"k{i}": {"count": 1} for i in range(2000)}}))' >"$HP_WORK/wide"
hp_req -f "$HP_WORK/wide" PUT /config
check_problem 400 "2000 pools of unknown sizes: 400"
unchanged "2000 pools"
python3 -c 'print("{\"default_size\": \"" + "9" * 60000 + "\"}")' >"$HP_WORK/longstr"
hp_req -f "$HP_WORK/longstr" PUT /config
check_problem 400 "a 60000-digit size: 400"
unchanged "a 60000-digit size"

# Legal JSON the machine cannot take: refused by validation, not applied.
hostile "more pages than the machine has" 422 -b '{"pools": {"2Mi": {"count": 100000000}}}' PUT /config
hostile "an unknown size" 422 -b '{"pools": {"3Mi": {"count": 1}}}' PUT /config
hostile "an unknown NUMA node" 422 -b '{"pools": {"1Gi": {"nodes": {"7": 1}}}}' PUT /config

# --- query arguments and conditions ---------------------------------------------------------

for w in -1 abc 0 1e3 99999999999999999999 '' '%00' '30%0a'; do
        hostile "confirm_within=$w" 400 -b "$GOOD" PUT "/config?confirm_within=$w"
done
hostile "If-Match naming another generation" 412 -b "$GOOD" PUT /config -H 'If-Match: "99"'
hostile "If-Match that is not an ETag" 412 -b "$GOOD" PUT /config -H 'If-Match: garbage'
hostile "confirm with nothing pending" 409 POST /config/confirm
hostile "rollback to a generation as a string" 400 -b '{"generation": "1"}' POST /config/rollback
hostile "rollback to generation 0" 400 -b '{"generation": 0}' POST /config/rollback
hostile "rollback to generation -1" 400 -b '{"generation": -1}' POST /config/rollback
hostile "rollback with an extra field" 400 -b '{"generation": 1, "force": true}' POST /config/rollback
hostile "rollback to a generation that never was" 404 -b '{"generation": 99}' POST /config/rollback
hostile "rollback with an empty object" 400 -b '{}' POST /config/rollback

# --- bytes that are not HTTP ------------------------------------------------------------------

PORT=${HP_URL##*:}
raw=$(timeout 60 python3 - "$PORT" "$HP_CACERT" "$ADMIN" <<'EOF' 2>&1
import socket, ssl, sys
port, ca = int(sys.argv[1]), sys.argv[2]
AUTH = b"Authorization: Bearer " + sys.argv[3].encode() + b"\r\n"
ctx = ssl.create_default_context(cafile=ca)
def send(name, data, tls=True):
    s = socket.create_connection(("127.0.0.1", port), timeout=15)
    try:
        if tls:
            s = ctx.wrap_socket(s, server_hostname="localhost")
        s.sendall(data)
        got = b""
        while len(got) < 65536:
            chunk = s.recv(4096)
            if not chunk:
                break
            got += chunk
            if b"\r\n\r\n" in got and not data.startswith(b"GET /healthz"):
                break
        status = got.split(b"\r\n", 1)[0].decode(errors="replace") if got else "closed"
    except (ssl.SSLError, ConnectionError, socket.timeout) as e:
        status = "closed (%s)" % type(e).__name__
    finally:
        s.close()
    print("%s => %s" % (name, status))
send("garbage request line", b"GARBAGE\r\n\r\n")
send("no Host in HTTP/1.1", b"GET /healthz HTTP/1.1\r\n\r\n")
send("HTTP/0.9", b"GET /healthz\r\n\r\n")
send("HTTP/2 preface", b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n")
send("Content-Length and Transfer-Encoding", b"PUT /config HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\n" + AUTH +
     b"Transfer-Encoding: chunked\r\nContent-Type: application/json\r\n\r\n0\r\n\r\n")
send("two Content-Lengths", b"PUT /config HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nContent-Length: 30\r\n" + AUTH +
     b"Content-Type: application/json\r\n\r\n{}")
send("a header without a colon", b"GET /healthz HTTP/1.1\r\nHost: x\r\nbroken\r\n\r\n")
send("a negative Content-Length", b"PUT /config HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n")
send("a bad chunk size", b"PUT /config HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n" + AUTH +
     b"Content-Type: application/json\r\n\r\nzz\r\n{}\r\n0\r\n\r\n")
send("plain HTTP to the TLS port", b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n", tls=False)
send("random bytes to the TLS port", bytes(range(256)) * 4, tls=False)
EOF
)
while IFS= read -r line; do
        name=${line%% => *} got=${line#* => }
        # Whatever the exact answer, it is never a success, and never a
        # crash (checked below, and by the clean stop at the end).
        if [[ "$got" =~ ^HTTP/1\.[01]\ (400|405|413|415|431|505|501)\  || "$got" == closed* ]]; then
                ok "raw: $name: refused ($got)"
        else
                notok "raw: $name: refused" "got: $got"
        fi
done <<<"$raw"
[[ -n "$raw" ]] || notok "raw requests were sent" "python printed nothing"

# libmicrohttpd 0.9.75 reads a header line as a C string: a NUL inside a
# value ends the value there, and what follows never reaches us (nor can
# it be seen to be refused). So "Bearer <token>\0junk" is the token alone:
# no more than the token itself grants.
nul=$(timeout 30 python3 - "$PORT" "$HP_CACERT" "$ADMIN" <<'EOF' 2>&1
import socket, ssl, sys
port, ca, token = int(sys.argv[1]), sys.argv[2], sys.argv[3].encode()
ctx = ssl.create_default_context(cafile=ca)
for name, hdr in (("junk", b"Authorization: Bearer " + token + b"\x00junk"),
                  ("prefix", b"Authorization: Bearer " + token[:10] + b"\x00" + token[10:])):
    s = ctx.wrap_socket(socket.create_connection(("127.0.0.1", port), timeout=15), server_hostname="localhost")
    s.sendall(b"GET /sizes HTTP/1.1\r\nHost: x\r\n" + hdr + b"\r\n\r\n")
    print(name, s.recv(4096).split(b"\r\n", 1)[0].decode())
    s.close()
EOF
)
check_match "a NUL after the token: the value ends at the NUL (the token alone)" 'junk HTTP/1\.1 200' "$nul"
check_match "a NUL inside the token: what is left is no token, 401" 'prefix HTTP/1\.1 401' "$nul"
unchanged "the raw requests"

# --- and afterwards -----------------------------------------------------------------------------

hp_get /status
check_ok_json "the service answers normally afterwards"
check_json "... still at generation 1" 'd["generation"]' 1
hp_get -n /healthz
check_ok_json "... and /healthz too"
hp_stop
check "the service stops cleanly (status 0: no crash, no sanitizer or valgrind report)" 0 "$HP_STOP_STATUS"
if [[ -n "${HP_WRAPPER:-}" ]]; then
        summary=$(grep -E "ERROR SUMMARY|definitely lost|indirectly lost|in use at exit|All heap blocks" "$HP_LOG" | sed "s/^==[0-9]*== //")
        check_match "valgrind: 0 errors" 'ERROR SUMMARY: 0 errors' "$summary"
        leaks=$(grep -E 'definitely lost: [1-9]|indirectly lost: [1-9]' "$HP_LOG")
        check "valgrind: nothing definitely or indirectly lost" "" "$leaks"
        echo "# $(tr '\n' ';' <<<"$summary")"
fi
hp_finish
