#!/usr/bin/env bash
# Authentication, authorization and TLS against the real binary: every
# token case, client certificates from the trusted CA and from a rogue one,
# the token file and the certificate reloaded on SIGHUP while a keep-alive
# connection stays up, a key file open to others refused, TLS 1.0/1.1 and
# CBC suites refused, plain HTTP only on loopback unless asked, CORS, and
# the audit line of each mutation. Usage: test-auth.sh PATH-TO-hugepaged
set -u
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
hp_setup "${1:-}"

command -v openssl >/dev/null || hp_bail "openssl (the command) is required"
FX=$HP_REPO/tests/fixtures/x86-2node
cp -r "$FX" "$HP_WORK/tree"
ROOTS=(--sysfs-root "$HP_WORK/tree/sys" --procfs-root "$HP_WORK/tree/proc")
# Above the 22 pages the fixture holds in use or reserved (below is a 422).
CFG='{"pools": {"2Mi": {"count": 32}}}'

ADMIN=admin-token-0123456789abcdef
READER=reader-token-0123456789abcdef
printf '%s ops admin\n%s viewer read\n' "$ADMIN" "$READER" >"$HP_WORK/tokens"
chmod 600 "$HP_WORK/tokens"

# --- a CA, a client it signed, and a rogue CA's client ---------------------------

P=$HP_WORK/pki
mkdir -p "$P"
mkca() { # NAME CN
        openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
                -keyout "$P/$1.key" -out "$P/$1.crt" -subj "/CN=$2" \
                -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign 2>/dev/null
}
mkclient() { # NAME CA SUBJECT
        openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$P/$1.key" \
                -out "$P/$1.csr" -subj "$3" 2>/dev/null &&
                printf 'basicConstraints=CA:FALSE\nextendedKeyUsage=clientAuth\n' >"$P/$1.ext" &&
                openssl x509 -req -in "$P/$1.csr" -CA "$P/$2.crt" -CAkey "$P/$2.key" -CAcreateserial \
                        -days 2 -out "$P/$1.crt" -extfile "$P/$1.ext" 2>/dev/null
}
mkca ca "hugepaged test CA" && mkca rogue "rogue CA" &&
        mkclient dash ca "/O=ops/CN=dashboard" && mkclient intruder rogue "/O=ops/CN=dashboard" ||
        hp_bail "openssl could not make the test certificates"

# --- tokens --------------------------------------------------------------------------

hp_start tokens "$HP_WORK/state" "${ROOTS[@]}" --token-file "$HP_WORK/tokens" --client-ca "$P/ca.crt" ||
        hp_bail "cannot go on without a server"

hp_get -n /sizes
check_problem 401 "no token: 401"
check_match "... with WWW-Authenticate: Bearer" '^Bearer realm=' "$(hp_header WWW-Authenticate)"
hp_get -t wrong-token-0123456789abcdef /sizes
check_problem 401 "a wrong token: 401"
check_match "... with WWW-Authenticate" '^Bearer' "$(hp_header WWW-Authenticate)"
hp_req -n GET /sizes -H "Authorization: Basic $(printf 'ops:%s' "$ADMIN" | base64 -w0)"
check_problem 401 "the admin token sent as Basic credentials: 401"
hp_req -n GET /sizes -H "Authorization: Bearer"
check_problem 401 "\"Bearer\" with no token: 401"
hp_req -n GET /sizes -H "Authorization: Bearer $(head -c 600 /dev/zero | tr '\0' a)"
check_problem 401 "a 600-character token: 401"
hp_req -n GET /sizes -H "Authorization: Bearer ${ADMIN}x"
check_problem 401 "the admin token with one more character: 401"
hp_req -n GET /sizes -H "Authorization: Bearer ${ADMIN:0:20}"
check_problem 401 "a prefix of the admin token: 401"
check "no answer shows a token" "" "$(grep -l -e "$ADMIN" -e "$READER" "$HP_RECORDS"/*.json 2>/dev/null)"

hp_get -t "$READER" /sizes
check_ok_json "a read token reads /sizes"
hp_req -t "$READER" -b "$CFG" POST /validate
check_ok_json "a read token may validate"
hp_req -t "$READER" -b "$CFG" PUT /config
check_problem 403 "a read token may not PUT /config: 403"
check_match "... and the 403 names the caller" 'viewer' "$(hp_py 'd["detail"]')"
hp_req -t "$READER" POST /config/confirm
check_problem 403 "a read token may not confirm: 403"
hp_req -t "$READER" -b '{"generation": 1}' POST /config/rollback
check_problem 403 "a read token may not roll back: 403"
hp_req -t "$ADMIN" -b "$CFG" PUT /config
check_ok_json "the admin token applies a config"
hp_req -t "$READER" POST /config/revert
check_problem 403 "a read token may not revert: 403"

# The token in X-Hugepaged-Token, for callers behind the Kubernetes API
# server's proxy, which removes Authorization.
hp_req -n GET /sizes -H "X-Hugepaged-Token: $READER"
check_ok_json "X-Hugepaged-Token: a read token reads"
hp_req -n -b "$CFG" PUT /config -H "X-Hugepaged-Token: $READER"
check_problem 403 "X-Hugepaged-Token: a read token may not PUT /config: 403"
hp_req -n -b "$CFG" PUT /config -H "X-Hugepaged-Token: $ADMIN"
check_ok_json "X-Hugepaged-Token: the admin token applies a config"
hp_req -n GET /sizes -H "X-Hugepaged-Token: ${ADMIN}x"
check_problem 401 "X-Hugepaged-Token: a wrong token: 401"
hp_req -n GET /sizes -H "X-Hugepaged-Token: $(head -c 600 /dev/zero | tr '\0' a)"
check_problem 401 "X-Hugepaged-Token: a 600-character token: 401"
hp_req -t "$READER" -b "$CFG" PUT /config -H "X-Hugepaged-Token: $ADMIN"
check_problem 403 "Authorization, when sent, decides over X-Hugepaged-Token"
hp_req -t "wrong-token-0123456789abcdef" GET /sizes -H "X-Hugepaged-Token: $ADMIN"
check_problem 401 "... a wrong Authorization is not overruled by a good X-Hugepaged-Token"
hp_get -n /healthz
check_ok_json "/healthz is open"
hp_get -n /readyz
check_ok_json "/readyz is open"
check_json "... and says ready" 'd["status"]' ready

# --- client certificates -----------------------------------------------------------

CERT=(--cert "$P/dash.crt" --key "$P/dash.key")
hp_req -n GET /sizes "${CERT[@]}"
check_ok_json "a client certificate from the trusted CA reads"
hp_req -n -b "$CFG" PUT /config "${CERT[@]}"
check_ok_json "... and, with the default role admin, applies"
hp_req -n GET /sizes --cert "$P/intruder.crt" --key "$P/intruder.key"
check_problem 401 "a certificate from another CA with the same subject: 401"
check_match "... saying the certificate is not trusted" 'not signed by the trusted CA' "$(hp_py 'd["detail"]')"
hp_req -n -b "$CFG" PUT /config --cert "$P/intruder.crt" --key "$P/intruder.key"
check_problem 401 "... and may not apply"
hp_req -t wrong-token-0123456789abcdef GET /sizes "${CERT[@]}"
check_problem 401 "a wrong token is not overruled by a good certificate"
hp_req -t "$READER" -b "$CFG" PUT /config "${CERT[@]}"
check_problem 403 "a token, when sent, decides the role over the certificate"

# The audit lines of the mutations above, on stderr (no journal here).
AUDIT=$(grep -F 'audit: ' "$HP_LOG")
check_match "the audit names a certificate caller by its subject, with the source address" \
        'audit: PUT /config from 127\.0\.0\.1 by cert:[^ ]*CN=dashboard[^ ]* \(certificate\): 200 accepted, generation [0-9]+' "$AUDIT"
check_match "the audit records a refused mutation with the caller" \
        'audit: PUT /config from 127\.0\.0\.1 by viewer \(token\): 403 denied, generation 1' "$AUDIT"
check_match "the audit records an anonymous refusal" \
        'audit: PUT /config from 127\.0\.0\.1 by - \(none\): 401 denied' "$AUDIT"
check_match "the audit records the admin's change with its generation" \
        'audit: PUT /config from 127\.0\.0\.1 by ops \(token\): 200 accepted, generation 1' "$AUDIT"
check "reads (and validation) are not audited" "" "$(grep -F -e 'audit: GET' -e 'audit: POST /validate' <<<"$AUDIT")"
check "no log line holds a token" "" "$(grep -e "$ADMIN" -e "$READER" "$HP_LOG")"
hp_stop

hp_start readcert "$HP_WORK/state" "${ROOTS[@]}" --token-file "$HP_WORK/tokens" --client-ca "$P/ca.crt" \
        --client-cert-role read || hp_bail "cannot go on without a server"
hp_req -n -b "$CFG" PUT /config "${CERT[@]}"
check_problem 403 "with --client-cert-role read, a certificate may not apply: 403"
hp_req -n GET /status "${CERT[@]}"
check_ok_json "... but reads"
hp_stop

rc=0
out=$(timeout 10 "$HP_BIN" --listen 127.0.0.1:0 --state-dir "$HP_WORK/state" "${ROOTS[@]}" \
        --token-file "$HP_WORK/tokens" --client-ca "$P/dash.crt" 2>&1) || rc=$?
check "--client-ca naming a certificate that is no CA stops the start" yes \
        "$([[ $rc != 0 && $rc != 124 ]] && echo yes || echo "no, status $rc")"
check_match "... saying so" 'not a CA certificate' "$out"

# --- SIGHUP: tokens and certificate reloaded, connections kept ------------------------

hp_start reload "$HP_WORK/state" "${ROOTS[@]}" --token-file "$HP_WORK/tokens" || hp_bail "cannot go on"
PORT=${HP_URL##*:}
NEWTOKEN=rotated-token-0123456789abcdef
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -keyout "$P/new.key" \
        -out "$P/new.crt" -subj "/CN=localhost" -addext "subjectAltName=DNS:localhost,IP:127.0.0.1" 2>/dev/null
old_fp=$(openssl x509 -in "$HP_WORK/state/tls.crt" -noout -fingerprint -sha256)
new_fp=$(openssl x509 -in "$P/new.crt" -noout -fingerprint -sha256)
out=$(timeout 30 python3 - "$PORT" "$HP_WORK/state/tls.crt" "$HP_PID" "$HP_LOG" "$ADMIN" "$NEWTOKEN" \
        "$HP_WORK/tokens" "$P" "$HP_WORK/state" <<'EOF' 2>&1
import http.client, os, shutil, signal, ssl, sys, time
port, cafile, pid, log, old, new, tokens, pki, state = sys.argv[1:]
ctx = ssl.create_default_context(cafile=cafile)
conn = http.client.HTTPSConnection("127.0.0.1", int(port), context=ctx, timeout=10)
def get(token):
    conn.request("GET", "/sizes", headers={"Authorization": "Bearer " + token})
    r = conn.getresponse(); r.read()
    return r.status
print("before", get(old))
local = conn.sock.getsockname()
with open(tokens, "w") as fh:
    fh.write(new + " rotated admin\n")
# The new certificate goes where the service reads it (its state dir).
shutil.copy(os.path.join(pki, "new.crt"), os.path.join(state, "tls.crt"))
shutil.copy(os.path.join(pki, "new.key"), os.path.join(state, "tls.key"))
os.kill(int(pid), signal.SIGHUP)
for _ in range(100):
    if "reload: certificate" in open(log).read() or "reload: the certificate" in open(log).read():
        break
    time.sleep(0.05)
print("old-after", get(old))
print("new-after", get(new))
print("same-connection", conn.sock is not None and conn.sock.getsockname() == local)
EOF
)
check_match "before SIGHUP the first token reads" 'before 200' "$out"
check_match "after SIGHUP the removed token is refused" 'old-after 401' "$out"
check_match "after SIGHUP the new token reads" 'new-after 200' "$out"
check_match "... all on the same keep-alive connection, never dropped" 'same-connection True' "$out"
served_fp=$(openssl s_client -connect "127.0.0.1:$PORT" </dev/null 2>/dev/null | openssl x509 -noout -fingerprint -sha256)
check "a new connection gets the reloaded certificate" "$new_fp" "$served_fp"
check "... which is not the old one" yes "$([[ "$old_fp" != "$new_fp" ]] && echo yes)"

# A reload that fails keeps what is in force.
printf 'short\n' >"$HP_WORK/tokens"
kill -HUP "$HP_PID"
for ((i = 0; i < 50; i++)); do grep -q 'the tokens in force stay' "$HP_LOG" && break; sleep 0.1; done
check_match "a broken token file on SIGHUP is reported" 'reload: the tokens in force stay: .*tokens:1' "$(cat "$HP_LOG")"
HP_CACERT=$P/new.crt
hp_get -t "$NEWTOKEN" /sizes
check_ok_json "... and the tokens in force still work"
hp_stop

# --- the key file's mode ---------------------------------------------------------------

chmod 644 "$P/new.key"
rc=0
out=$(timeout 10 "$HP_BIN" --listen 127.0.0.1:0 --state-dir "$HP_WORK/state2" "${ROOTS[@]}" \
        --token-file "$HP_WORK/tokens" --tls-cert "$P/new.crt" --tls-key "$P/new.key" 2>&1) || rc=$?
check "a key file readable by others stops the start" yes \
        "$([[ $rc != 0 && $rc != 124 ]] && echo yes || echo "no, status $rc")"
check_match "... with the mode and the fix" 'open to other users \(mode 0644\).*chmod 600' "$out"
chmod 600 "$P/new.key"

# --- TLS versions and suites -----------------------------------------------------------

printf '%s ops admin\n' "$ADMIN" >"$HP_WORK/tokens"
hp_start tls "$HP_WORK/state" "${ROOTS[@]}" --token-file "$HP_WORK/tokens" || hp_bail "cannot go on"
PORT=${HP_URL##*:}
handshake() { # s_client options…: the negotiated protocol and cipher, or "refused"
        local o
        o=$(timeout 10 openssl s_client -connect "127.0.0.1:$PORT" "$@" </dev/null 2>&1)
        if grep -q 'Cipher is (NONE)' <<<"$o" || ! grep -q 'Cipher is' <<<"$o"; then
                echo refused
        else
                sed -n 's/^New, \([^,]*\), Cipher is \(.*\)$/\1 \2/p' <<<"$o" | head -n1
        fi
}
check "TLS 1.0 is refused" refused "$(handshake -tls1 -cipher 'DEFAULT@SECLEVEL=0')"
check "TLS 1.1 is refused" refused "$(handshake -tls1_1 -cipher 'DEFAULT@SECLEVEL=0')"
check_match "TLS 1.2 works, with an AEAD suite" '^TLSv1\.2 ECDHE-[A-Z]+-(AES(128|256)-GCM-SHA(256|384)|CHACHA20-POLY1305)$' "$(handshake -tls1_2)"
check_match "TLS 1.3 works" '^TLSv1\.3 TLS_' "$(handshake -tls1_3)"
check "a CBC suite in TLS 1.2 is refused" refused "$(handshake -tls1_2 -cipher 'ECDHE-ECDSA-AES128-SHA256:ECDHE-ECDSA-AES128-SHA')"
check "RSA key transport is refused" refused "$(handshake -tls1_2 -cipher 'AES128-GCM-SHA256:AES256-GCM-SHA384')"
hp_stop

# --- plain HTTP --------------------------------------------------------------------------

rc=0
out=$(timeout 10 "$HP_BIN" --listen 0.0.0.0:0 --plain-http --state-dir "$HP_WORK/state" "${ROOTS[@]}" \
        --token-file "$HP_WORK/tokens" 2>&1) || rc=$?
check "--plain-http on 0.0.0.0 is refused" 2 "$rc"
check_match "... saying tokens would cross the network" 'in the clear.*--plain-http-remote' "$out"
rc=0
out=$(timeout 10 "$HP_BIN" --listen '[::]:0' --plain-http --state-dir "$HP_WORK/state" "${ROOTS[@]}" 2>&1) || rc=$?
check "--plain-http on [::] is refused" 2 "$rc"
rc=0
out=$(timeout 10 "$HP_BIN" --plain-http-remote --state-dir "$HP_WORK/state" 2>&1) || rc=$?
check "--plain-http-remote alone is refused" 2 "$rc"
rc=0
out=$(timeout 10 "$HP_BIN" --plain-http --tls-cert "$P/new.crt" --tls-key "$P/new.key" 2>&1) || rc=$?
check "--plain-http with --tls-cert is refused" 2 "$rc"

hp_start plain "$HP_WORK/state" "${ROOTS[@]}" --token-file "$HP_WORK/tokens" --plain-http ||
        hp_bail "cannot go on"
check_match "on loopback, --plain-http serves http://" '^http://127\.0\.0\.1:[0-9]+$' "$HP_URL"
check_match "... and warns that it is unencrypted" 'serving plain HTTP' "$(cat "$HP_LOG")"
hp_get -t "$ADMIN" /sizes
check_ok_json "... a token works over it"
hp_get -n /sizes
check_problem 401 "... and is still required"
hp_stop
HP_LISTEN=0.0.0.0:0 hp_start plainremote "$HP_WORK/state" "${ROOTS[@]}" --token-file "$HP_WORK/tokens" \
        --plain-http --plain-http-remote || hp_bail "cannot go on"
hp_get -t "$ADMIN" /healthz
check_ok_json "--plain-http --plain-http-remote serves on 0.0.0.0 (reached here through 127.0.0.1)"
check_match "... warning that it crosses the network" 'unencrypted' "$(cat "$HP_LOG")"
hp_stop

# --- CORS ------------------------------------------------------------------------------------

DASH=https://dash.example.test:8443
rc=0
out=$(timeout 10 "$HP_BIN" --cors-origin 'https://dash.example.test/ui' 2>&1) || rc=$?
check "--cors-origin with a path is refused" 2 "$rc"
rc=0
out=$(timeout 10 "$HP_BIN" --cors-origin '*' 2>&1) || rc=$?
check "--cors-origin '*' is refused" 2 "$rc"

hp_start nocors "$HP_WORK/state" "${ROOTS[@]}" --token-file "$HP_WORK/tokens" || hp_bail "cannot go on"
hp_req -n OPTIONS /config -H "Origin: $DASH" -H 'Access-Control-Request-Method: PUT'
check_problem 403 "CORS off by default: a preflight is refused"
check "... with no Access-Control-Allow-Origin" "" "$(hp_header Access-Control-Allow-Origin)"
hp_get -t "$ADMIN" /sizes -H "Origin: $DASH"
check "... and answers carry no Access-Control-Allow-Origin" "" "$(hp_header Access-Control-Allow-Origin)"
hp_stop

hp_start cors "$HP_WORK/state" "${ROOTS[@]}" --token-file "$HP_WORK/tokens" --cors-origin "$DASH" \
        --cors-origin https://other.example.test || hp_bail "cannot go on"
hp_req -n OPTIONS /config -H "Origin: $DASH" -H 'Access-Control-Request-Method: PUT' \
        -H 'Access-Control-Request-Headers: authorization, content-type, if-match'
check_status 204 "a preflight from an allowed origin, without credentials: 204"
check "... Access-Control-Allow-Origin is that origin" "$DASH" "$(hp_header Access-Control-Allow-Origin)"
check "... Access-Control-Allow-Methods lists the path's methods" "GET, HEAD, PUT, OPTIONS" \
        "$(hp_header Access-Control-Allow-Methods)"
check "... Access-Control-Allow-Headers" "Authorization, X-Hugepaged-Token, Content-Type, If-Match, Accept" \
        "$(hp_header Access-Control-Allow-Headers)"
check "... Access-Control-Max-Age" 600 "$(hp_header Access-Control-Max-Age)"
check "... no credentials mode (bearer tokens are not cookies)" "" "$(hp_header Access-Control-Allow-Credentials)"
hp_req -n OPTIONS /config -H 'Origin: https://evil.example.test' -H 'Access-Control-Request-Method: PUT'
check_problem 403 "a preflight from another origin: 403"
hp_req -n OPTIONS /config -H "Origin: ${DASH}0" -H 'Access-Control-Request-Method: PUT'
check_problem 403 "an origin that only starts like an allowed one: 403"
hp_req -n OPTIONS /sizes -H "Origin: $DASH" -H 'Access-Control-Request-Method: DELETE'
check_problem 403 "a preflight for a method the path does not allow: 403"
hp_req -n OPTIONS /config -H "Origin: $DASH" -H 'Access-Control-Request-Method: PUT' \
        -H 'Access-Control-Request-Headers: x-forwarded-user'
check_problem 403 "a preflight asking for another header: 403"
hp_req -n OPTIONS /nope -H "Origin: $DASH" -H 'Access-Control-Request-Method: GET'
check_problem 404 "a preflight for an unknown path: 404"
hp_req -n OPTIONS /status
check_status 204 "a plain OPTIONS: 204"
check "... with Allow" "GET, HEAD, OPTIONS" "$(hp_header Allow)"
hp_get -t "$ADMIN" /config -H "Origin: $DASH"
check "an answer to an allowed origin carries Access-Control-Allow-Origin" "$DASH" \
        "$(hp_header Access-Control-Allow-Origin)"
check "... exposes ETag and Location to the page" "ETag, Location, WWW-Authenticate" "$(hp_header Access-Control-Expose-Headers)"
check "... and Vary: Origin" Origin "$(hp_header Vary)"
hp_get -n /config -H "Origin: $DASH"
check_problem 401 "a cross-origin read without a token is still 401"
check "... which the page can read (Access-Control-Allow-Origin)" "$DASH" "$(hp_header Access-Control-Allow-Origin)"
hp_get -t "$ADMIN" /config -H 'Origin: https://evil.example.test'
check "an answer to another origin carries no Access-Control-Allow-Origin" "" \
        "$(hp_header Access-Control-Allow-Origin)"
hp_stop

# --- the self-made certificate renews itself -----------------------------------------------

# A certificate the service made (self-signed, O=hugepaged) with 10 days
# left, for the key in the state directory: the next start replaces it by
# one of 397 days for the same key.
R=$HP_WORK/renew
mkdir -p "$R"
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$R/tls.key" 2>/dev/null
chmod 600 "$R/tls.key"
openssl req -new -x509 -key "$R/tls.key" -days 10 -subj "/CN=localhost/O=hugepaged" \
        -addext "subjectAltName=DNS:localhost,IP:127.0.0.1" -out "$R/tls.crt" 2>/dev/null
key_before=$(openssl x509 -in "$R/tls.crt" -noout -pubkey | sha256sum)
hp_start renew "$R" "${ROOTS[@]}" --token-file "$HP_WORK/tokens" || hp_bail "cannot go on"
check_match "a self-made certificate with 10 days left is made anew at start" 'was near its end and was made anew' \
        "$(cat "$HP_LOG")"
days=$(( ($(date -d "$(openssl x509 -in "$R/tls.crt" -noout -enddate | cut -d= -f2)" +%s) - $(date +%s)) / 86400 ))
check "... valid 397 days from now" 396 "$((days < 396 ? days : 396))"
check "... and not more (testssl rates 825 days or less as fine)" 1 "$((days <= 397))"
check "... for the same key" "$key_before" "$(openssl x509 -in "$R/tls.crt" -noout -pubkey | sha256sum)"
hp_get -t "$ADMIN" /healthz
check_ok_json "... and served (curl verifies it against the new file)"
check "HTTPS answers carry Strict-Transport-Security" "max-age=31536000" "$(hp_header Strict-Transport-Security)"
hp_stop
# An operator's certificate (not O=hugepaged) near its end is left alone.
openssl req -new -x509 -key "$R/tls.key" -days 10 -subj "/CN=localhost/O=ops" \
        -addext "subjectAltName=DNS:localhost,IP:127.0.0.1" -out "$R/tls.crt" 2>/dev/null
sum=$(sha256sum <"$R/tls.crt")
hp_start renew2 "$R" "${ROOTS[@]}" --token-file "$HP_WORK/tokens" || hp_bail "cannot go on"
check "a certificate the service did not make is never replaced" "$sum" "$(sha256sum <"$R/tls.crt")"
hp_stop

# --- slow clients are cut off ----------------------------------------------------------------

hp_start slow "$HP_WORK/state" "${ROOTS[@]}" --token-file "$HP_WORK/tokens" --header-timeout 1 \
        --request-timeout 3 --idle-timeout 10 || hp_bail "cannot go on"
PORT=${HP_URL##*:}
slow=$(timeout 30 python3 - "$PORT" "$HP_CACERT" "$ADMIN" <<'PY' 2>&1
import socket, ssl, sys, time
port, ca, token = int(sys.argv[1]), sys.argv[2], sys.argv[3]
ctx = ssl.create_default_context(cafile=ca)
def trickle(name, head, drip):
    s = ctx.wrap_socket(socket.create_connection(("127.0.0.1", port), timeout=20), server_hostname="localhost")
    t0 = time.time()
    s.sendall(head)
    try:
        for _ in range(40):  # one byte every 0.25 s: never idle, never done
            time.sleep(0.25)
            s.sendall(drip)
        print(name, "still open after 10 s")
    except OSError:
        print(name, "cut after %.1f s" % (time.time() - t0))
    s.close()
trickle("headers", b"GET /sizes HTTP/1.1\r\nHost: x\r\n", b"X")
trickle("body", ("PUT /config HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\nContent-Type: application/json\r\n"
                 "Content-Length: 100000\r\n\r\n{" % token).encode(), b" ")
PY
)
echo "$slow" | sed 's/^/# /'
check_match "headers trickled byte by byte: cut at the 1 s header timeout" 'headers cut after (1\.[0-9]|2\.[0-9])' "$slow"
check_match "a body trickled byte by byte: cut at the 3 s request timeout" 'body cut after (3\.[0-9]|4\.[0-9])' "$slow"
check_match "... and the cut is logged" 'cut off [0-9]+ slow connection' "$(cat "$HP_LOG")"
hp_get -t "$ADMIN" /status
check_ok_json "the service answers normally after the slow clients"
hp_stop

hp_finish
