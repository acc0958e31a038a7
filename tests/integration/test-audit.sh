#!/usr/bin/env bash
# The audit trail as the systemd journal receives it. Under systemd
# (JOURNAL_STREAM set) every mutation, accepted or refused, goes to the
# journal through its native protocol, as structured fields. journald is
# not running here, so the test stands in for it: in a mount namespace of
# its own, a socket at /run/systemd/journal/socket (where libsystemd sends)
# receives the datagrams, and the test reads the fields. Needs root (for
# the namespace); skipped otherwise. Usage: test-audit.sh PATH-TO-hugepaged
set -u
if [[ -z "${HP_AUDIT_NS:-}" ]]; then
        if [[ $(id -u) -ne 0 ]] || ! command -v unshare >/dev/null; then
                echo "skip - the journal stand-in needs root and unshare (a mount namespace)"
                echo "0 passed, 0 failed, 1 skipped"
                exit 0
        fi
        # A private /run for this script alone: nothing outside sees it.
        exec unshare --mount --propagation private env HP_AUDIT_NS=1 bash -c \
                'mount -t tmpfs -o mode=0755 hugepaged-audit /run && exec bash "$0" "$@"' "$0" "$@"
fi
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
hp_setup "${1:-}"

mkdir -p /run/systemd/journal
JOURNAL=$HP_WORK/journal.datagrams
python3 - "$JOURNAL" <<'EOF' &
# Receives journal datagrams and appends each as one JSON object per line.
# The native protocol (systemd.journal-fields): FIELD=value lines, or for
# values with newlines FIELD\n<64-bit little-endian length><value>\n.
import json, os, socket, struct, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind("/run/systemd/journal/socket")
s.settimeout(1)
out = open(sys.argv[1], "a")
idle = 0
while idle < 300:
    try:
        data = s.recv(1 << 20)
    except socket.timeout:
        idle += 1
        continue
    idle = 0
    fields, i = {}, 0
    while i < len(data):
        nl = data.index(b"\n", i)
        line = data[i:nl]
        if b"=" in line:
            k, v = line.split(b"=", 1)
            i = nl + 1
        else:
            k = line
            n = struct.unpack("<Q", data[nl + 1:nl + 9])[0]
            v = data[nl + 9:nl + 9 + n]
            i = nl + 9 + n + 1
        fields[k.decode()] = v.decode(errors="replace")
    out.write(json.dumps(fields) + "\n")
    out.flush()
EOF
LISTENER=$!
hp_on_exit() { kill "$LISTENER" 2>/dev/null; wait "$LISTENER" 2>/dev/null; }
for ((i = 0; i < 50; i++)); do [[ -S /run/systemd/journal/socket ]] && break; sleep 0.1; done
[[ -S /run/systemd/journal/socket ]] || hp_bail "the journal stand-in did not start"

cp -r "$HP_REPO/tests/fixtures/x86-2node" "$HP_WORK/tree"
ROOTS=(--sysfs-root "$HP_WORK/tree/sys" --procfs-root "$HP_WORK/tree/proc")
ADMIN=admin-token-0123456789abcdef
READER=reader-token-0123456789abcdef
printf '%s ops admin\n%s viewer read\n' "$ADMIN" "$READER" >"$HP_WORK/tokens"

# JOURNAL_STREAM is what systemd sets for a service whose stderr is the
# journal; its value is not looked at.
export JOURNAL_STREAM=0:0
hp_start main "$HP_WORK/state" "${ROOTS[@]}" --token-file "$HP_WORK/tokens" || hp_bail "cannot go on"
unset JOURNAL_STREAM

hp_req -t "$ADMIN" -b '{"pools": {"2Mi": {"count": 32}}}' PUT "/config?confirm_within=60"
check_ok_json "an admin's PUT with a confirm window"
hp_req -t "$READER" -b '{"pools": {}}' PUT /config
check_problem 403 "a reader's PUT is refused"
hp_req -n POST /config/confirm
check_problem 401 "an anonymous confirm is refused"
hp_req -t "$ADMIN" POST /config/confirm
check_ok_json "the admin confirms"
hp_req -t "$ADMIN" -b '{"pools": {"2Mi": {"count": 100000000}}}' PUT /config
check_problem 422 "a config that does not fit is refused"
hp_get -t "$ADMIN" /status
check_ok_json "a read"
hp_req -t "$ADMIN" -b '{"pools": {}}' POST /validate
check_ok_json "a validation"
sleep 0.5

# audit FILTER…: the HUGEPAGED_* fields of the audit records (MESSAGE_ID
# of the audit) as "METHOD PATH PEER CALLER KIND STATUS OUTCOME GEN" lines.
records=$(python3 - "$JOURNAL" <<'EOF'
import json, sys
for line in open(sys.argv[1]):
    f = json.loads(line)
    if f.get("MESSAGE_ID") != "7d3eb49d887646b8aa239366dbcf5f31":
        continue
    print(" ".join(f.get("HUGEPAGED_" + k, "?") for k in
                   ("METHOD", "PATH", "PEER", "CALLER", "CALLER_KIND", "STATUS", "OUTCOME", "GENERATION")),
          f.get("PRIORITY", "?"), f.get("SYSLOG_IDENTIFIER", "?"))
EOF
)
echo "$records" | sed 's/^/# /'
check "five mutations, five audit records in the journal, in order, with every field" \
        "PUT /config 127.0.0.1 ops token 200 accepted 1 5 hugepaged
PUT /config 127.0.0.1 viewer token 403 denied 1 4 hugepaged
POST /config/confirm 127.0.0.1 - none 401 denied 1 4 hugepaged
POST /config/confirm 127.0.0.1 ops token 200 accepted 1 5 hugepaged
PUT /config 127.0.0.1 ops token 422 refused 1 5 hugepaged" \
        "$records"
applies=$(python3 - "$JOURNAL" <<'EOF'
import json, sys
for line in open(sys.argv[1]):
    f = json.loads(line)
    if f.get("MESSAGE_ID") == "f4d75f29d7a444f28f6ca69402c82480":
        print(" ".join(f.get("HUGEPAGED_" + k, "?") for k in
                       ("GENERATION", "SIZE", "NODE", "REQUESTED", "AFTER", "OUTCOME")))
EOF
)
check "each write of the apply is a journal event with its fields" "1 2Mi all 32 32 ok" "$applies"
check_match "the service's start is an event too" '"MESSAGE_ID": "8cb6d705e2f344eaa7b6c1d7b7c46bb2"' "$(cat "$JOURNAL")"
check "reads and validations are not audited" "" "$(grep -E '^(GET|POST /validate) ' <<<"$records")"
check "the journal's copy holds no token" "" "$(grep -e "$ADMIN" -e "$READER" "$JOURNAL")"
check "... and neither does stderr" "" "$(grep -e "$ADMIN" -e "$READER" "$HP_LOG")"
check_match "stderr lines carry a syslog priority under the journal" '<6>listening on https://' "$(cat "$HP_LOG")"
check "audit records are not duplicated on stderr when the journal takes them" "" "$(grep 'audit:' "$HP_LOG")"
hp_finish
