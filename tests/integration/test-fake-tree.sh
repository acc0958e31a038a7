#!/usr/bin/env bash
# Integration test on a copy of the fake sysfs/procfs tree x86-2node: the
# command line, a refused journal of a newer format, authentication, GET
# /sizes, POST /validate (good, bad and malformed configs), limits, GET and
# PUT /config with read back and the journal, GET /status with drift, and a
# restart. Confirm windows, history and rollback: test-journal.sh.
#
# Usage: test-fake-tree.sh PATH-TO-hugepaged
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
hp_setup "${1:-}"

FX=$HP_WORK/fx
cp -r "$HP_REPO/tests/fixtures/x86-2node" "$FX"
ROOTS=(--sysfs-root "$FX/sys" --procfs-root "$FX/proc")
H2M=$FX/sys/kernel/mm/hugepages/hugepages-2048kB
NODE0_1G=$FX/sys/devices/system/node/node0/hugepages/hugepages-1048576kB
NODE1_1G=$FX/sys/devices/system/node/node1/hugepages/hugepages-1048576kB
STATE=$HP_WORK/state

# A fixture file made immutable (chattr +i) must be freed before the
# temporary directory can be removed, even when the script fails.
PINNED=
# shellcheck disable=SC2317 # called from lib.sh's EXIT trap
hp_on_exit() {
        [[ -z "$PINNED" ]] || chattr -i "$PINNED" 2>/dev/null || true
}

# The fixture's figures (tests/fixtures/README.md): MemTotal 65606484 kB,
# node0 32601320 kB, node1 33005164 kB, MemAvailable 56310484 kB, Hugetlb
# 3145728 kB. The default host reserve is the larger of 1Gi and 10 % of
# MemTotal: 6560640 kB.
MEM_TOTAL=$((65606484 * 1024))
MEM_NODE0=$((32601320 * 1024))
MEM_NODE1=$((33005164 * 1024))
MEM_AVAILABLE=$((56310484 * 1024))
HUGETLB=$((3145728 * 1024))
# shellcheck disable=SC2017 # the service's own rounding: kB / 100 * percent
RESERVE=$((65606484 / 100 * 10 * 1024))
MI2=2097152
GI1=1073741824

# --- the command line -----------------------------------------------------------

# run_cli EXPECTED_STATUS MESSAGE_REGEX ARGS…: runs the binary to completion
# with ARGS and a private state directory and tree.
run_cli() {
        local want=$1 regex=$2 out rc=0
        shift 2
        out=$(timeout 10 "$HP_BIN" "$@" --state-dir "$HP_WORK/cli-state" "${ROOTS[@]}" 2>&1) || rc=$?
        check "hugepaged $* exits with status $want" "$want" "$rc"
        check_match "hugepaged $*: the message matches /$regex/" "$regex" "$out"
}
run_cli 0 'Usage: hugepaged' --help
run_cli 2 "--listen: .*nope" --listen nope
run_cli 2 "unknown option '--bogus'" --bogus
run_cli 2 "--tls-cert and --tls-key go together" --tls-cert /nonexistent/tls.crt
run_cli 2 "--host-reserve: '200%'" --host-reserve 200%

# A journal from a newer binary (a record of format 2, correctly summed):
# refuse to start, name the format, and leave the file byte for byte.
mkdir -p "$HP_WORK/newer"
python3 - "$HP_WORK/newer/journal" <<'PY'
import hashlib, json, sys
record = {"v": 2, "seq": 1, "event": "accepted", "gen": 7, "time": "2030-01-01T00:00:00Z", "who": "future",
          "config": {"pools": {"2Mi": {"count": 1}}}, "new_member": True}
text = json.dumps(record, separators=(",", ":"))
with open(sys.argv[1], "w") as fh:
    fh.write(hashlib.sha256(text.encode()).hexdigest() + " " + text + "\n")
PY
sum_before=$(sha256sum <"$HP_WORK/newer/journal")
rc=0
out=$(timeout 10 "$HP_BIN" --listen 127.0.0.1:0 --state-dir "$HP_WORK/newer" "${ROOTS[@]}" 2>&1) || rc=$?
check "a journal record of format 2 stops the start (a failure status, not a timeout)" yes \
        "$([[ $rc != 0 && $rc != 124 ]] && echo yes || echo "no, status $rc: $(_hp_short "$out")")"
check_match "the refusal names the newer format" 'newer format' "$out"
check "the format-2 journal is left byte for byte" "$sum_before" "$(sha256sum <"$HP_WORK/newer/journal")"
left=()
for f in "$HP_WORK/newer"/*; do
        left+=("${f##*/}")
done
check "... and nothing was set aside (no journal.corrupt-*)" "journal lock" "${left[*]}"
rc=0
out=$(timeout 10 "$HP_BIN" history --state-dir "$HP_WORK/newer" "${ROOTS[@]}" 2>&1) || rc=$?
check "hugepaged history on that journal fails too" yes "$([[ $rc != 0 && $rc != 124 ]] && echo yes || echo "no, status $rc")"
check "... and leaves it byte for byte" "$sum_before" "$(sha256sum <"$HP_WORK/newer/journal")"

# --- first start: the generated token ---------------------------------------------

hp_start main "$STATE" "${ROOTS[@]}" || hp_bail "cannot go on without a server"
check_match "the service generated a token in STATE/token" '^[A-Za-z0-9._~+/=-]{16,}$' "$HP_TOKEN"

hp_get -n /healthz
check_ok_json "GET /healthz needs no token"
check_json "GET /healthz says ok" 'd["status"]' ok

hp_get -n /openapi.json
check_ok_json "GET /openapi.json needs no token"
check_json "GET /openapi.json is an OpenAPI 3.1.0 document" 'd["openapi"]' 3.1.0

hp_req HEAD /sizes -I
check "HEAD /sizes answers 200 application/json" "200 application/json" "$HP_STATUS $HP_CT"

hp_get -n /sizes
check_problem 401 "GET /sizes without a token is 401"
check_match "the 401 carries WWW-Authenticate: Bearer" '^Bearer' "$(hp_header WWW-Authenticate)"

hp_get -t wrong-token-0123456789 /sizes
check_problem 401 "GET /sizes with a wrong token is 401"
check_match "the wrong-token 401 carries WWW-Authenticate: Bearer" '^Bearer' "$(hp_header WWW-Authenticate)"

hp_get /sizes
check_ok_json "GET /sizes with the token"
check_json "default_size" 'd["default_size"]' 2Mi
check_json "the sizes, in order" '[s["size"] for s in d["sizes"]]' '["2Mi","1Gi"]'
check_json "2Mi: bytes, default, gigantic, runtime_allocation" \
        '[d["sizes"][0][k] for k in ("bytes","default","gigantic","runtime_allocation")]' "[$MI2,true,false,\"yes\"]"
check_json "2Mi: total free reserved surplus persistent overcommit" \
        '[d["sizes"][0][k] for k in ("total","free","reserved","surplus","persistent","overcommit")]' '[512,500,10,0,512,0]'
check_json "2Mi per node: node total free surplus persistent" \
        '[[n[k] for k in ("node","total","free","surplus","persistent")] for n in d["sizes"][0]["nodes"]]' \
        '[[0,256,250,0,256],[1,256,250,0,256]]'
check_json "2Mi limits.max_pages is (MemTotal - reserve) / 2Mi" 'd["sizes"][0]["limits"]["max_pages"]' \
        "$(((MEM_TOTAL - RESERVE) / MI2))"
check_json "2Mi per-node max_pages is the node's memory / 2Mi" '[n["max_pages"] for n in d["sizes"][0]["nodes"]]' \
        "[$((MEM_NODE0 / MI2)),$((MEM_NODE1 / MI2))]"
check_json "1Gi: bytes, default, gigantic, runtime_allocation" \
        '[d["sizes"][1][k] for k in ("bytes","default","gigantic","runtime_allocation")]' "[$GI1,false,true,\"best_effort\"]"
check_json "1Gi: total free reserved surplus persistent" \
        '[d["sizes"][1][k] for k in ("total","free","reserved","surplus","persistent")]' '[2,2,0,0,2]'
check_json "1Gi per node: node total free persistent" \
        '[[n[k] for k in ("node","total","free","persistent")] for n in d["sizes"][1]["nodes"]]' '[[0,1,1,1],[1,1,1,1]]'
check_json "nodes: numbers, memory, hugepages" '[[n["node"],n["memory_bytes"],n["hugepages"]] for n in d["nodes"]]' \
        "[[0,$MEM_NODE0,true],[1,$MEM_NODE1,true]]"
check_json "memory: total, available, hugepages, host reserve" \
        '[d["memory"][k] for k in ("total_bytes","available_bytes","hugepages_bytes","host_reserve_bytes")]' \
        "[$MEM_TOTAL,$MEM_AVAILABLE,$HUGETLB,$RESERVE]"
# THP: exactly the choices and the active word of the fixture's files.
thp_expected=$(python3 - "$FX/sys/kernel/mm/transparent_hugepage" <<'EOF'
import json, sys
out = {}
for knob in ("enabled", "defrag", "shmem_enabled"):
    words = open(f"{sys.argv[1]}/{knob}").read().split()
    out[knob] = {"active": next(w[1:-1] for w in words if w.startswith("[")),
                 "choices": [w.strip("[]") for w in words]}
print(json.dumps(out, sort_keys=True, separators=(",", ":")))
EOF
)
check_json "transparent_hugepage: the fixture's choices and active words" 'd["transparent_hugepage"]' "$thp_expected"

# --- POST /validate ---------------------------------------------------------------

GOOD='{"pools": {"2Mi": {"count": 600}, "1Gi": {"nodes": {"0": 1, "1": 0}}}}'
hp_req -b "$GOOD" POST /validate
check_ok_json "POST /validate of a config that fits"
check_json "it is valid, without errors" '[d["valid"], d["errors"]]' '[true,[]]'
# 600 × 2Mi (target) + 1 × 1Gi (node0 keeps 1, node1 goes to 0).
want_huge=$((600 * MI2 + GI1))
check_json "memory: total, hugepages after applying, current, host reserve" \
        '[d["memory"][k] for k in ("total_bytes","hugepages_bytes","current_hugepages_bytes","host_reserve_bytes")]' \
        "[$MEM_TOTAL,$want_huge,$HUGETLB,$RESERVE]"
check_json "memory: left_for_host is total - hugepages" 'd["memory"]["left_for_host_bytes"]' "$((MEM_TOTAL - want_huge))"
check_json "memory: the nodes add up to the total" \
        '[sum(n["total_bytes"] for n in d["memory"]["nodes"]), sum(n["hugepages_bytes"] for n in d["memory"]["nodes"])]' \
        "[$MEM_TOTAL,$want_huge]"
check_json "memory: per node, left is total - hugepages" \
        'all(n["left_bytes"] == n["total_bytes"] - n["hugepages_bytes"] for n in d["memory"]["nodes"])' true
check_json "memory: node0 holds 300 × 2Mi + 1Gi, node1 300 × 2Mi" \
        '[[n["node"], n["hugepages_bytes"]] for n in d["memory"]["nodes"]]' \
        "[[0,$((300 * MI2 + GI1))],[1,$((300 * MI2))]]"
check_json "1Gi grows on no node: no gigantic_runtime warning" 'pairs("warnings")' '[]'

# validate_rejects NAME BODY CODE POINTER: a 200 with valid false and that error.
validate_rejects() {
        hp_req -b "$2" POST /validate
        if [[ "$HP_STATUS" != 200 ]]; then
                check_status 200 "validate $1: 200 with valid false"
                return
        fi
        check_json "validate $1: valid is false" 'd["valid"]' false
        check_finding "validate $1: error $3 at $4" errors "$3" "$4"
}
validate_rejects "an unknown node" '{"pools": {"1Gi": {"nodes": {"3": 1}}}}' unknown_node /pools/1Gi/nodes/3
validate_rejects "an unsupported size" '{"pools": {"4Mi": {"count": 1}}}' unsupported_size /pools/4Mi
validate_rejects "a THP word the file does not offer" '{"transparent_hugepage": {"enabled": "defer"}}' \
        thp_value /transparent_hugepage/enabled
validate_rejects "more memory than the machine has" '{"pools": {"2Mi": {"count": 40000}}}' exceeds_memory /pools
# limits.max_pages is the edge, when 2Mi is the only pool.
max2m=$(((MEM_TOTAL - RESERVE) / MI2))
validate_rejects "one page over the host reserve" "{\"pools\": {\"2Mi\": {\"count\": $((max2m + 1))}, \"1Gi\": {\"count\": 0}}}" \
        host_reserve /pools
hp_req -b "{\"pools\": {\"2Mi\": {\"count\": $max2m}, \"1Gi\": {\"count\": 0}}}" POST /validate
check_json "validate exactly limits.max_pages of 2Mi: valid" '[d["valid"], pairs("errors")]' '[true,[]]'
hp_req -b '{"pools": {"2048Ki": {"count": 1}, "2097152": {"count": 2}}}' POST /validate
check_problem 400 "validate \"2048Ki\" and \"2097152\" together: 400"
check_finding "... the second spelling of 2Mi is a duplicate_key" errors duplicate_key /pools/2097152

hp_req -b '{"pools": {"1Gi": {"count": 3, "nodes": {"0": 1}}}}' POST /validate
check_json "validate count 3 with nodes {0: 1}: count_mismatch and nodes_incomplete" '[d["valid"], pairs("errors")]' \
        '[false,["/pools/1Gi/count count_mismatch","/pools/1Gi/nodes nodes_incomplete"]]'
hp_req -b '{"pools": {"1Gi": {"count": 4}}, "default_size": "1Gi"}' POST /validate
check_json "validate growing 1Gi and default_size 1Gi: valid" 'd["valid"]' true
check_finding "... warns gigantic_runtime for 1Gi" warnings gigantic_runtime /pools/1Gi
check_finding "... lists the default size in reboot_required" reboot_required default_size_change /default_size
hp_req -b '{}' POST /validate
check_json "validate {}: valid, with the empty_config warning" '[d["valid"], pairs("warnings")]' '[true,[" empty_config"]]'

# validate_malformed NAME BODY CODE POINTER: a 400 problem naming the field.
validate_malformed() {
        hp_req -b "$2" POST /validate
        check_problem 400 "malformed: $1 is 400"
        check_finding "malformed: $1 names $3 at \"$4\"" errors "$3" "$4"
}
validate_malformed "an unknown top-level field" '{"pools": {}, "bogus": 1}' unknown_field /bogus
validate_malformed "an unknown pool field" '{"pools": {"2Mi": {"count": 1, "cnt": 2}}}' unknown_field /pools/2Mi/cnt
validate_malformed "a string count" '{"pools": {"2Mi": {"count": "512"}}}' wrong_type /pools/2Mi/count
validate_malformed "a negative count" '{"pools": {"2Mi": {"count": -1}}}' negative /pools/2Mi/count
validate_malformed "a fractional count 1.5" '{"pools": {"2Mi": {"count": 1.5}}}' not_integer /pools/2Mi/count
validate_malformed "a count written 1e3" '{"pools": {"2Mi": {"count": 1e3}}}' not_integer /pools/2Mi/count
validate_malformed "a duplicate key" '{"pools":{},"pools":{}}' duplicate_key /pools
validate_malformed "a count of 99999999999999999999" '{"pools": {"2Mi": {"count": 99999999999999999999}}}' \
        too_large /pools/2Mi/count
validate_malformed "a NUL escape in a THP word" '{"transparent_hugepage": {"enabled": "mad\u0000vise"}}' \
        thp_value /transparent_hugepage/enabled
validate_malformed "a node key that is not a number" '{"pools": {"1Gi": {"nodes": {"x": 1}}}}' invalid_node /pools/1Gi/nodes/x
validate_malformed "a key that is not a quantity" '{"pools": {"big": {"count": 1}}}' invalid_quantity /pools/big
validate_malformed "an empty pool" '{"pools": {"2Mi": {}}}' empty_pool /pools/2Mi
validate_malformed "a pool key with / and ~ (escaped in the pointer)" '{"pools": {"a/b~c": {"count": 1}}}' \
        invalid_quantity '/pools/a~1b~0c'
validate_malformed "invalid JSON" '{"pools": ' invalid_json ""
validate_malformed "trailing garbage" '{"pools": {}} x' invalid_json ""
validate_malformed "an empty body" '' invalid_json ""
validate_malformed "a top-level array" '[]' wrong_type ""
hp_req -b '{"pools": {"2Mi": {"count": "1"}, "1Gi": {"count": -1}}, "bogus": 1}' POST /validate
check_json "malformed: every problem is listed, not just the first" 'pairs("errors")' \
        '["/bogus unknown_field","/pools/1Gi/count negative","/pools/2Mi/count wrong_type"]'

hp_req -c text/plain -b "$GOOD" POST /validate
check_problem 415 "POST /validate as text/plain is 415"
hp_req -c 'application/json; charset=utf-8' -b "$GOOD" POST /validate
check_ok_json "POST /validate as application/json; charset=utf-8 is accepted"

# Bodies over the 64 KiB limit: a valid JSON document padded with spaces.
big=$HP_WORK/big.json
{ printf '{"pools": {}}'; head -c 70000 /dev/zero | tr '\0' ' '; } >"$big"
hp_req -f "$big" POST /validate -H 'Expect: 100-continue'
check_problem 413 "a 70000-byte body with Content-Length and Expect: 100-continue is 413"
# Without Expect the client is still sending when the service answers; the
# 413 must still arrive, never a connection reset. A 2 MB body makes a reset
# likely enough to be seen in a few tries, when the service closes without
# draining the body.
huge=$HP_WORK/huge.json
{ printf '{"pools": {}}'; head -c 2000000 /dev/zero | tr '\0' ' '; } >"$huge"
got=() err=
for ((i = 0; i < 12; i++)); do
        hp_req -f "$huge" POST /validate -H 'Expect:'
        got+=("$HP_STATUS")
        [[ -n "$err" || -z "$HP_CURL_ERR" ]] || err=$HP_CURL_ERR
done
check "a 2 MB body with Content-Length, no Expect: 413 every time, not a reset (12 tries)" \
        "413 413 413 413 413 413 413 413 413 413 413 413" "${got[*]}${err:+ ($err)}"
hp_req -f "$big" POST /validate -H 'Transfer-Encoding: chunked'
check_problem 413 "a 70000-byte chunked body is 413"
hp_req -f "$big" PUT /config -H 'Transfer-Encoding: chunked' -H 'Expect:'
check_problem 413 "a 70000-byte chunked PUT /config without Expect: 100-continue is 413"
limit=$HP_WORK/limit.json
{ printf '{"pools": {}}'; head -c $((65536 - 13)) /dev/zero | tr '\0' ' '; } >"$limit"
hp_req -f "$limit" POST /validate -H 'Transfer-Encoding: chunked'
check_ok_json "a chunked body of exactly 65536 bytes is accepted"

# A chunked body has no length to refuse early: the service reads and drops
# up to 8 MiB, then drops the connection instead of reading on.
endless=$HP_WORK/endless.json
head -c 20000000 /dev/zero | tr '\0' ' ' >"$endless"
hp_req -f "$endless" POST /validate -H 'Transfer-Encoding: chunked' -H 'Expect:'
check "a 20 MB chunked body: the connection is dropped, no answer" 000 "$HP_STATUS"
# What the headers refuse is refused before the body is read: without a
# token, the same 20 MB get an early 401.
hp_req -n -f "$endless" POST /validate -H 'Transfer-Encoding: chunked'
check_match "a 20 MB chunked body without a token: 401 before the body (or a reset while sending)" \
        '^(401|000)$' "$HP_STATUS"
if [[ "$HP_STATUS" == 401 ]]; then
        check_problem 401 "... and it is a problem document"
fi
hp_get /healthz
check_ok_json "the service still answers after those"

# A URL cannot forge a line in the log: control characters are escaped.
hp_req -n -b '{}' POST '/x%0Ahugepaged:%20PUT%20/config%20by%20admin:%20200'
check_problem 404 "POST to a URL with an encoded newline is 404"
if grep -q '^hugepaged: PUT /config by admin: 200' "$HP_LOG"; then
        notok "the log has no forged line" "$(grep -n 'by admin: 200' "$HP_LOG" | head -n 2)"
else
        ok "the log has no forged line"
fi
# Only mutations of known resources are audited (their paths are fixed
# strings); a request for an unknown path leaves no line to forge with.
check "... and the unknown path is not audited at all" "" "$(grep -F 'audit: POST /x' "$HP_LOG")"

# --- paths and methods ------------------------------------------------------------

hp_get /nope
check_problem 404 "GET /nope is 404"
hp_get /config
check_ok_json "GET /config before any config"
check_json "... generation 0, config null" '[d["generation"], d["config"]]' '[0,null]'
check "... ETag \"0\"" '"0"' "$(hp_header ETag)"
hp_req DELETE /config
check_problem 405 "DELETE /config is 405"
check "DELETE /config's Allow header" "GET, HEAD, PUT, OPTIONS" "$(hp_header Allow)"
hp_get /config/confirm
check_problem 405 "GET /config/confirm is 405"
check "GET /config/confirm's Allow header" "POST, OPTIONS" "$(hp_header Allow)"
hp_req DELETE /sizes
check_problem 405 "DELETE /sizes is 405"
check "DELETE /sizes's Allow header" "GET, HEAD, OPTIONS" "$(hp_header Allow)"

# --- PUT /config ------------------------------------------------------------------

hp_req -n -b "$GOOD" PUT /config
check_problem 401 "PUT /config without a token is 401"
check "... and writes nothing" "512" "$(<"$H2M/nr_hugepages")"

hp_req -b "$GOOD" PUT /config
check_ok_json "PUT /config (2Mi count 600, 1Gi nodes 0:1 1:0)"
check_json "generation 1, complete, no confirm deadline" '[d["generation"], d["complete"], d["confirm_deadline"]]' '[1,true,null]'
check "ETag is \"1\"" '"1"' "$(hp_header ETag)"
check_json "the canonical config comes back" 'd["config"]' '{"pools":{"1Gi":{"nodes":{"0":1,"1":0}},"2Mi":{"count":600}}}'
# Shrinks first (1Gi node1), then grows, largest size first.
check_json "results: pointer requested before after status written, in apply order" \
        '[[r[k] for k in ("pointer","requested","before","after","status","written")] for r in d["results"]]' \
        '[["/pools/1Gi/nodes/1",0,1,0,"ok",true],["/pools/1Gi/nodes/0",1,1,1,"ok",false],["/pools/2Mi/count",600,512,600,"ok",true]]'
check_json "results: size and node" '[[r["size"], r["node"]] for r in d["results"]]' '[["1Gi",1],["1Gi",0],["2Mi",null]]'
check_json "no THP items" 'd["thp"]' '[]'
check "the 2Mi nr_hugepages file now holds 600" 600 "$(<"$H2M/nr_hugepages")"
check "node1's 1Gi nr_hugepages file now holds 0" 0 "$(<"$NODE1_1G/nr_hugepages")"
check "node0's 1Gi nr_hugepages file still holds 1" 1 "$(<"$NODE0_1G/nr_hugepages")"
check "the journal holds accepted, applied, confirmed for generation 1, and every line verifies" \
        "3 records verify accepted/1 applied/1 confirmed/1" \
        "$(hp_journal_verify "$STATE/journal") $(hp_journal_events "$STATE/journal")"
hp_get /config
check_json "GET /config: generation 1 and the canonical config" 'd' \
        '{"config":{"pools":{"1Gi":{"nodes":{"0":1,"1":0}},"2Mi":{"count":600}}},"generation":1}'
check "... ETag \"1\"" '"1"' "$(hp_header ETag)"

hp_req -b "$GOOD" PUT /config
check_ok_json "the same PUT again"
check_json "... keeps generation 1" 'd["generation"]' 1
check "... and ETag \"1\"" '"1"' "$(hp_header ETag)"
check_json "... and writes nothing" '[r["written"] for r in d["results"]]' '[false,false,false]'

hp_get /status
check_ok_json "GET /status"
check_json "status: generation, in_sync, drift" '[d["generation"], d["in_sync"], d["drift"]]' '[1,true,[]]'
check_json "status: confirmed_generation 1, nothing pending, a clean journal" \
        '[d["confirmed_generation"], d["pending_confirm"], d["journal_recovery"]]' '[1,null,null]'
check_json "status: desired is the canonical config" 'd["desired"]' \
        '{"pools":{"1Gi":{"nodes":{"0":1,"1":0}},"2Mi":{"count":600}}}'
check_json "status: last_apply is generation 1, complete" '[d["last_apply"]["generation"], d["last_apply"]["complete"]]' '[1,true]'
check_json "status: kernel shows 2Mi persistent 600" 'd["kernel"]["sizes"][0]["persistent"]' 600

# Someone writes the pool behind the service's back.
echo 700 >"$H2M/nr_hugepages"
# A change behind the service's back shows within 100 ms (the kept
# answer of docs/api.md, "How fresh").
sleep 0.15
hp_get /status
check_json "after echo 700 > nr_hugepages: in_sync is false" 'd["in_sync"]' false
check_json "... and drift names /pools/2Mi/count, desired 600, actual 700" 'd["drift"]' \
        '[{"actual":700,"desired":600,"pointer":"/pools/2Mi/count"}]'

hp_stop
check "the service stops with status 0 on SIGTERM" 0 "$HP_STOP_STATUS"

# --- restart with a token file (admin and read) and --anonymous-read ---------------

ADMIN=admin-token-0123456789abcdef
READER=read-token-0123456789abcdef
printf '# test tokens\n%s ops admin\n%s dashboard read\n' "$ADMIN" "$READER" >"$HP_WORK/tokens"
hp_start restarted "$STATE" "${ROOTS[@]}" --token-file "$HP_WORK/tokens" --anonymous-read ||
        hp_bail "cannot go on without the restarted server"
HP_TOKEN=$ADMIN

hp_get /status
check_ok_json "after a restart: GET /status"
check_json "after a restart: generation 1 and the desired config survive" '[d["generation"], d["desired"]]' \
        '[1,{"pools":{"1Gi":{"nodes":{"0":1,"1":0}},"2Mi":{"count":600}}}]'
check_json "after a restart: the drift is still seen" '[d["in_sync"], [x["pointer"] for x in d["drift"]]]' \
        '[false,["/pools/2Mi/count"]]'

hp_get -t "$READER" /sizes
check_ok_json "a read token may GET /sizes"
hp_req -t "$READER" -b "$GOOD" POST /validate
check_ok_json "a read token may POST /validate"
hp_req -t "$READER" -b "$GOOD" PUT /config
check_problem 403 "a read token may not PUT /config: 403"
hp_get -n /sizes
check_ok_json "with --anonymous-read, GET /sizes needs no token"
hp_req -n -b "$GOOD" POST /validate
check_ok_json "with --anonymous-read, POST /validate needs no token"
hp_req -n -b "$GOOD" PUT /config
check_problem 401 "with --anonymous-read, PUT /config without a token is still 401"
hp_get -t wrong-token-0123456789 /sizes
check_problem 401 "with --anonymous-read, a wrong token is still 401"

# A config that does not fit: 422 with the errors, nothing written.
sum_before=$(sha256sum <"$H2M/nr_hugepages")
state_before=$(sha256sum <"$STATE/journal")
hp_req -b '{"pools": {"2Mi": {"count": 40000}}}' PUT /config
check_problem 422 "PUT /config of a config that does not fit is 422"
check_finding "... with exceeds_memory at /pools" errors exceeds_memory /pools
check_json "... and a warnings array" 'type(d.get("warnings")).__name__' list
check "... and the nr_hugepages file is unchanged" "$sum_before" "$(sha256sum <"$H2M/nr_hugepages")"
check "... and the journal is unchanged" "$state_before" "$(sha256sum <"$STATE/journal")"
hp_get /status
check_json "... and the generation is still 1" 'd["generation"]' 1

# A malformed PUT is 400, like POST /validate.
hp_req -b '{"pools": {"2Mi": {"count": -5}}}' PUT /config
check_problem 400 "PUT /config of a malformed config is 400"
check_finding "... naming /pools/2Mi/count" errors negative /pools/2Mi/count

# A new config: generation 2, and the drift repaired.
hp_req -b '{"pools": {"2Mi": {"count": 600}}}' PUT /config
check_ok_json "PUT /config of a new config"
check_json "... is generation 2 and repairs the drift (700 → 600)" \
        '[d["generation"], [[r["before"], r["after"], r["status"]] for r in d["results"]]]' '[2,[[700,600,"ok"]]]'
check "... ETag \"2\"" '"2"' "$(hp_header ETag)"
check "... the nr_hugepages file holds 600 again" 600 "$(<"$H2M/nr_hugepages")"
hp_get /status
check_json "status: generation 2, in sync" '[d["generation"], d["in_sync"]]' '[2,true]'

# A write the kernel refuses: the 1Gi shrink fails, so the 2Mi grow that was
# to use its memory is skipped: a 500 kernel-write-failed problem that
# carries the whole apply report (docs/api.md). The
# file is made unwritable with chattr +i as root (chmod does not stop root),
# with chmod 0444 otherwise.
pin=$FX/sys/kernel/mm/hugepages/hugepages-1048576kB/nr_hugepages
if [[ $(id -u) == 0 ]]; then
        chattr +i "$pin" 2>/dev/null && PINNED=$pin
else
        chmod 0444 "$pin" && PINNED=$pin
fi
if [[ -n "$PINNED" ]] && ! (: >>"$pin") 2>/dev/null; then
        hp_req -b '{"pools": {"1Gi": {"count": 0}, "2Mi": {"count": 700}}}' PUT /config
        check_problem 500 "a refused kernel write: PUT /config answers a 500 problem"
        check_json "... of type kernel-write-failed" 'd["type"]' "urn:hugepaged:problem:kernel-write-failed"
        check_json "... generation 3, complete false" '[d.get("generation"), d.get("complete")]' '[3,false]'
        check_json "... the 1Gi shrink failed with an error, the 2Mi grow was skipped" \
                '[[r["pointer"], r["status"], r["written"], "error" in r] for r in d.get("results", [])]' \
                '[["/pools/1Gi/count","failed",false,true],["/pools/2Mi/count","skipped",false,true]]'
        check "... the 2Mi file still holds 600" 600 "$(<"$H2M/nr_hugepages")"
        check "... the 1Gi file still holds 2" 2 "$(<"$pin")"
        hp_get /status
        check_json "... GET /status: generation 3, out of sync, the drift of both pools" \
                '[d["generation"], d["in_sync"], sorted((x["pointer"], x["desired"], x["actual"]) for x in d["drift"])]' \
                '[3,false,[["/pools/1Gi/count",0,2],["/pools/2Mi/count",700,600]]]'
        check_json "... last_apply says complete false" 'd["last_apply"]["complete"]' false
        chattr -i "$pin" 2>/dev/null || chmod 0644 "$pin"
        PINNED=
else
        skip "a refused kernel write" "cannot make a file unwritable here (chattr +i needs root and ext4/tmpfs)"
fi

hp_stop
check "the restarted service stops with status 0" 0 "$HP_STOP_STATUS"
hp_finish
