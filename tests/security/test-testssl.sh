#!/usr/bin/env bash
# Security scan: Debian's testssl (testssl.sh 3.0.x) runs its default set of
# checks (protocols, cipher categories, forward secrecy, server preferences,
# server defaults and the certificate, HTTP headers, the known TLS
# vulnerabilities, every cipher suite, client simulations) against the real
# binary on 127.0.0.1, on a copy of the fake tree x86-2node. The test fails
# on any finding of severity HIGH or CRITICAL (and on a FATAL scan problem);
# MEDIUM, LOW and WARN findings are printed as '# ' comments, then a summary.
#
# Offline by construction: the target is an IP address (nothing to resolve),
# --nodns none (no rDNS, no CAA lookup), no --phone-out (no CRL or OCSP
# download), --warnings batch (never waits for an answer on the terminal).
# The scan is the full default run, not --fast: 60 s on an idle machine,
# 90-115 s beside other test suites. Left out: -E (ciphers per protocol; the TLS 1.3 suites are told
# apart by their 0x13xx code instead), -g (GREASE and size-limit probes),
# STARTTLS, and anything that needs the internet.
#
# The certificate: one issued by a test CA, as an operator gives with
# --tls-cert (see below); testssl is given that CA (--add-ca), as clients
# are (curl --cacert).
#
# One finding is decided here instead of by testssl: client-initiated
# renegotiation, whose testssl 3.0.8 check races (see renego_probe).
#
# Usage: test-testssl.sh PATH-TO-hugepaged
# Environment: HUGEPAGED_TESTSSL_TIMEOUT=S bounds the scan (default 200 s);
# the lib.sh variables (HUGEPAGED_IT_TIMEOUT, HUGEPAGED_KEEP_WORK, ...).
set -u -o pipefail
. "$(dirname "${BASH_SOURCE[0]}")/../integration/lib.sh"
command -v testssl >/dev/null || hp_skip_all "testssl is not installed (Debian package testssl.sh)"
# The scan's own bound, plus start-up and parsing, stays under the watchdog.
SCAN_LIMIT=${HUGEPAGED_TESTSSL_TIMEOUT:-200}
: "${HUGEPAGED_IT_TIMEOUT:=$((SCAN_LIMIT + 60))}"
export HUGEPAGED_IT_TIMEOUT
hp_setup "${1:-}"

FX=$HP_WORK/fx
cp -r "$HP_REPO/tests/fixtures/x86-2node" "$FX"
STATE=$HP_WORK/state
JSON=$HP_WORK/testssl.json
OUT=$HP_WORK/testssl.out

SCANNER=
# shellcheck disable=SC2317 # called from lib.sh's EXIT trap
hp_on_exit() {
        # testssl runs under timeout(1), which passes a TERM on to the
        # scanner's whole process group.
        if [[ -n "$SCANNER" ]] && kill -0 "$SCANNER" 2>/dev/null; then
                kill -TERM "$SCANNER" 2>/dev/null || true
                wait "$SCANNER" 2>/dev/null || true
        fi
}

# The certificate is one an operator gives with --tls-cert: issued by a CA
# (here a test CA made now), valid 90 days, naming where its revocation
# would be published (CRL and OCSP addresses, never fetched: no
# --phone-out). The certificate the service makes for itself on first start
# is self-signed, so it has no revocation to name, and testssl rates that
# HIGH whatever the TLS setup; it is for a first start and for loopback,
# and README says to give a CA's certificate in production.
P=$HP_WORK/pki
mkdir -p "$P"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 30 -keyout "$P/ca.key" \
        -out "$P/ca.crt" -subj "/CN=hugepaged scan CA" -addext basicConstraints=critical,CA:TRUE \
        -addext keyUsage=critical,keyCertSign,cRLSign 2>/dev/null &&
        openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$P/tls.key" -out "$P/tls.csr" \
                -subj "/CN=localhost" 2>/dev/null &&
        printf '%s\n' 'basicConstraints=critical,CA:FALSE' 'keyUsage=critical,digitalSignature' \
                'extendedKeyUsage=serverAuth' 'subjectAltName=DNS:localhost,IP:127.0.0.1,IP:::1' \
                'crlDistributionPoints=URI:http://127.0.0.1:9/hugepaged-ca.crl' \
                'authorityInfoAccess=OCSP;URI:http://127.0.0.1:9/ocsp' >"$P/leaf.ext" &&
        openssl x509 -req -in "$P/tls.csr" -CA "$P/ca.crt" -CAkey "$P/ca.key" -CAcreateserial -days 90 \
                -out "$P/tls.crt" -extfile "$P/leaf.ext" 2>/dev/null &&
        chmod 600 "$P/tls.key" || hp_bail "openssl could not make the scan's certificate"

hp_start main "$STATE" --sysfs-root "$FX/sys" --procfs-root "$FX/proc" --tls-cert "$P/tls.crt" \
        --tls-key "$P/tls.key" || hp_bail "cannot go on without a server"
HP_CACERT=$P/ca.crt
PORT=${HP_URL##*:}

hp_get -n /healthz
check_ok_json "the service answers GET /healthz before the scan"

# testssl keeps its temporary files under TMPDIR: inside HP_WORK, removed
# with it. It runs in the background and the script waits for it, so that
# the watchdog's TERM is handled at once rather than after the scan. The
# header checks go to /healthz, a 200, rather than to a 404 at "/".
mkdir -p "$HP_WORK/tmp"
started=$EPOCHREALTIME
TMPDIR=$HP_WORK/tmp timeout -k 10 "$SCAN_LIMIT" testssl \
        --nodns none --warnings batch --color 0 --quiet \
        --connect-timeout 10 --openssl-timeout 10 \
        --add-ca "$HP_CACERT" --jsonfile "$JSON" \
        "https://127.0.0.1:$PORT/healthz" >"$OUT" 2>&1 </dev/null &
SCANNER=$!
rc=0
wait "$SCANNER" || rc=$?
SCANNER=
elapsed=$(awk -v a="$started" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.0f", b - a }')
echo "# testssl took ${elapsed} s (bound ${SCAN_LIMIT} s)"

if ((rc == 124 || rc == 137)); then
        notok "testssl finishes within ${SCAN_LIMIT} s" "it was stopped; the last lines: $(_hp_short "$(tail -n 5 "$OUT")")"
else
        check "testssl runs to its end (exit status 0)" 0 "$rc"
fi
((rc == 0)) || sed 's/^/#   /' "$OUT" | tail -n 30

# Reads the flat JSON (a list of {id, severity, finding, ...}) and writes
# the facts the checks below need into $HP_WORK/facts, one "KEY VALUE" per
# line; prints the comments and the summary itself.
python3 - "$JSON" "$HP_WORK/facts" <<'EOF'
import collections, json, sys
src, facts_path = sys.argv[1:]
facts = []
try:
    with open(src, encoding="utf-8") as fh:
        findings = json.load(fh)
    if not isinstance(findings, list):
        raise ValueError("not a list of findings")
except (OSError, ValueError) as e:
    facts.append(f"json_error {type(e).__name__}: {e}")
    findings = []
facts.append(f"count {len(findings)}")
order = ["CRITICAL", "HIGH", "MEDIUM", "LOW", "WARN", "FATAL", "INFO", "OK"]
counts = collections.Counter(f.get("severity", "?") for f in findings)
for f in findings:
    sev, fid, text = f.get("severity", "?"), f.get("id", "?"), " ".join(str(f.get("finding", "")).split())
    if sev in ("CRITICAL", "HIGH", "FATAL"):
        facts.append(f"bad {sev} {fid}: {text}")
    elif sev in ("MEDIUM", "LOW", "WARN"):
        # WARN is about the scan or the scanner (its openssl), not the service.
        print(f"# {sev} {fid}: {text}")
by_id = {f.get("id"): " ".join(str(f.get("finding", "")).split()) for f in findings}
protos = [("SSLv2", "SSLv2"), ("SSLv3", "SSLv3"), ("TLS1", "TLS 1.0"), ("TLS1_1", "TLS 1.1"),
          ("TLS1_2", "TLS 1.2"), ("TLS1_3", "TLS 1.3")]
offered = [name for fid, name in protos if by_id.get(fid, "").startswith("offered")]
for fid, name in protos:
    # "offered", "offered with final", "not offered": the first word.
    facts.append(f"proto {fid} {(by_id.get(fid) or 'missing').split()[0]}")
# One "cipher_xHHHH" finding per suite the server accepted:
# "xHHHH  OpenSSL-name  KeyExch. bits  Encryption  bits  IANA-name".
suites = []
for f in findings:
    fid = f.get("id", "")
    if fid.startswith("cipher_x"):
        words = str(f.get("finding", "")).split()
        code = fid[len("cipher_"):]
        suites.append((code, words[-1] if words else "?"))
tls13 = [name for code, name in suites if code.startswith("x13")]
tls12 = [name for code, name in suites if not code.startswith("x13")]
facts.append(f"suites {len(suites)}")
print(f"# summary: protocols offered: {', '.join(offered) or 'none'}")
print(f"# summary: {len(suites)} cipher suites accepted: {len(tls13)} TLS 1.3, {len(tls12)} TLS 1.2")
for name in tls13:
    print(f"#   TLS 1.3  {name}")
for name in tls12:
    print(f"#   TLS 1.2  {name}")
for fid in ("PFS_ECDHE_curves", "cipher_order", "cert_keySize", "cert_signatureAlgorithm",
            "cert_validityPeriod", "cert_chain_of_trust"):
    if fid in by_id:
        print(f"# summary: {fid}: {by_id[fid]}")
shown = [s for s in order if counts[s] or s in ("CRITICAL", "HIGH", "MEDIUM", "LOW")]
shown += sorted(s for s in counts if s not in order)
print("# summary: testssl's findings per severity: " + ", ".join(f"{s} {counts[s]}" for s in shown))
with open(facts_path, "w", encoding="utf-8") as fh:
    fh.write("\n".join(facts) + "\n")
EOF

fact() {
        sed -n "s/^$1 //p" "$HP_WORK/facts" 2>/dev/null
}

json_error=$(fact json_error)
if [[ -n "$json_error" ]]; then
        notok "testssl wrote its JSON findings" "$json_error"
else
        check_match "testssl wrote its JSON findings (at least 50 of them)" '^([5-9][0-9]|[1-9][0-9]{2,})$' "$(fact count)"
fi

# The service offers TLS 1.2 and 1.3 only (server/http.c, LIBS.md §1: the
# default GnuTLS priority would complete TLS 1.0 handshakes).
check "SSLv2, SSLv3, TLS 1.0 and TLS 1.1 are not offered" "not not not not" \
        "$(for p in SSLv2 SSLv3 TLS1 TLS1_1; do fact "proto $p"; done | xargs)"
check "TLS 1.2 and TLS 1.3 are offered" "offered offered" \
        "$(for p in TLS1_2 TLS1_3; do fact "proto $p"; done | xargs)"
check_match "testssl found cipher suites to list" '^[1-9][0-9]*$' "$(fact suites)"

# Client-initiated renegotiation, checked directly: testssl 3.0.8 decides
# it from openssl s_client's exit status, and races. Its first try
# ("echo R | s_client") often reaches the end of its input before the
# server's answer arrives, and then looks "not closed"; its second try (four
# R, a second apart) exits 0 even when the server closed the connection at
# the first R, and that is reported HIGH "VULNERABLE, DoS threat" (the
# "closed" exemption of testssl.sh PR #1726 covers the first try only). So
# the renegotiation is probed here with -msg and a pause for the answer:
# the server refuses it when the answer to the second ClientHello is an
# alert or a close, and is vulnerable when it is a ServerHello.
renego_probe() {
        (echo R; sleep 3) | timeout 15 openssl s_client -tls1_2 -msg -connect "127.0.0.1:$PORT" \
                >"$HP_WORK/renego.out" 2>&1
        awk '/^RENEGOTIATING/ { r = 1; next }
             r && /ServerHello/ { v = "renegotiates: the server answered a ServerHello"; exit }
             r && /Alert/ { sub(/^.*\], */, ""); v = "refused: the server answered with the alert \"" $0 "\""; exit }
             r && /^closed/ { v = "refused: the server closed the connection"; exit }
             END { print (v != "" ? v : (r ? "unclear: no answer to the renegotiation" : "unclear: no TLS 1.2 session to renegotiate")) }' \
                "$HP_WORK/renego.out"
}
RENEGO=$(renego_probe)
check_match "client-initiated renegotiation (TLS 1.2) is refused (openssl s_client -msg, R)" '^refused' "$RENEGO"
[[ "$RENEGO" == refused* ]] || grep -E '^(<<<|>>>)|RENEG|closed' "$HP_WORK/renego.out" | tail -n 8 | sed 's/^/#   /'

# One line per HIGH, CRITICAL or FATAL finding, so that each is named.
# A scan cut short proves nothing by finding nothing. testssl's
# secure_client_renego is replaced by the probe above, which decides it.
mapfile -t bad < <(fact bad)
judged=0
for line in "${bad[@]}"; do
        if [[ "$line" == "HIGH secure_client_renego:"* && "$RENEGO" == refused* ]]; then
                echo "# not counted: $line (testssl's race, see above; the probe: $RENEGO)"
                continue
        fi
        notok "no finding of severity HIGH or CRITICAL" "$line"
        judged=$((judged + 1))
done
if ((judged == 0 && rc == 0)); then
        ok "no finding of severity HIGH or CRITICAL"
elif ((judged == 0)); then
        notok "no finding of severity HIGH or CRITICAL" "the scan did not finish: only $(fact count) findings to judge"
fi

hp_get -n /healthz
check_ok_json "the service still answers GET /healthz after the scan"
hp_stop
check "the service stops with status 0 after the scan" 0 "$HP_STOP_STATUS"
hp_finish
