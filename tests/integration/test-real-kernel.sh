#!/usr/bin/env bash
# Integration test against the running kernel's real /sys and /proc: grows
# and shrinks the 2Mi pool (at most 64 pages, 128 MiB), globally and on
# node0, lets a change with a confirm window revert at its deadline,
# switches THP "enabled" to another word and back, runs the boot path
# (apply-saved, and apply-saved in safe mode), and cross-checks with
# sysfs and hugeadm (package libhugetlbfs-bin). Every value it touches
# is saved first and restored on exit, even on failure.
#
# Runs only as root with a writable 2Mi nr_hugepages, and only when no 2Mi
# page is in use; otherwise it skips.
#
# Usage: test-real-kernel.sh PATH-TO-hugepaged
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

POOL=/sys/kernel/mm/hugepages/hugepages-2048kB
NODE0=/sys/devices/system/node/node0/hugepages/hugepages-2048kB
THP=/sys/kernel/mm/transparent_hugepage/enabled

if [[ -z "${1:-}" || ! -x "$1" ]]; then
        hp_setup "${1:-}" # prints the usage and exits 2
fi
if [[ $(id -u) != 0 ]]; then
        hp_skip_all "test-real-kernel.sh needs root"
fi
if [[ ! -w $POOL/nr_hugepages ]] || ! (: >>"$POOL/nr_hugepages") 2>/dev/null; then
        hp_skip_all "$POOL/nr_hugepages is not writable here"
fi
if [[ $(<"$POOL/free_hugepages") != $(<"$POOL/nr_hugepages") || $(<"$POOL/resv_hugepages") != 0 ||
        $(<"$POOL/surplus_hugepages") != 0 ]]; then
        hp_skip_all "2Mi hugepages are in use or reserved on this host; not touching them"
fi

# --- save, and restore on exit ---------------------------------------------------

SAVED_NR=$(<"$POOL/nr_hugepages")
SAVED_OVERCOMMIT=$(<"$POOL/nr_overcommit_hugepages")
SAVED_NODE0=
[[ -e $NODE0/nr_hugepages ]] && SAVED_NODE0=$(<"$NODE0/nr_hugepages")
SAVED_THP=
[[ -e $THP ]] && SAVED_THP=$(sed -n 's/.*\[\([^]]*\)\].*/\1/p' "$THP")

restore() {
        if [[ -n "$SAVED_THP" ]]; then
                { echo "$SAVED_THP" >"$THP"; } 2>/dev/null || true
        fi
        { echo "$SAVED_OVERCOMMIT" >"$POOL/nr_overcommit_hugepages"; } 2>/dev/null || true
        { echo "$SAVED_NR" >"$POOL/nr_hugepages"; } 2>/dev/null || true
        if [[ -n "$SAVED_NODE0" && $(<"$NODE0/nr_hugepages") != "$SAVED_NODE0" ]]; then
                { echo "$SAVED_NODE0" >"$NODE0/nr_hugepages"; } 2>/dev/null || true
        fi
        return 0
}
# shellcheck disable=SC2317 # called from lib.sh's EXIT trap
hp_on_exit() {
        restore || true
}

hp_setup "$1"

thp_active() {
        sed -n 's/.*\[\([^]]*\)\].*/\1/p' "$THP"
}

# hugeadm's Minimum column for 2 MiB pages (the persistent pool).
hugeadm_min() {
        hugeadm --pool-list 2>&1 | awk '$1 == 2097152 { print $2; found = 1 } END { if (!found) print "<no 2097152 line>" }'
}

check_hugeadm() {
        if command -v hugeadm >/dev/null; then
                check "$1" "$2" "$(hugeadm_min)"
        else
                skip "$1" "hugeadm is not installed (package libhugetlbfs-bin)"
        fi
}

# The persistent 2Mi pages on the nodes other than node0.
others() {
        local n=0 f
        for f in /sys/devices/system/node/node*/hugepages/hugepages-2048kB/nr_hugepages; do
                [[ -e "$f" && "$f" != "$NODE0/nr_hugepages" ]] && n=$((n + $(<"$f")))
        done
        echo "$n"
}

hp_start real "$HP_WORK/state" --host-reserve 1Gi || hp_bail "cannot go on without a server"

hp_get /sizes
check_ok_json "GET /sizes on the real kernel"
check_json "2Mi is offered, and persistent is what sysfs holds" \
        '[s["persistent"] for s in d["sizes"] if s["size"] == "2Mi"]' "[$SAVED_NR]"

hp_req -b '{"pools": {"2Mi": {"count": 10000000}}}' POST /validate
check_json "validate 10000000 × 2Mi: invalid, exceeds_memory" '[d["valid"], pairs("errors")]' \
        '[false,["/pools exceeds_memory"]]'

# --- the global pool ---------------------------------------------------------------

hp_req -b '{"pools": {"2Mi": {"count": 64}}}' PUT /config
check_ok_json "PUT 2Mi count 64"
check_json "... complete, result ok, after 64" \
        '[d["complete"], [[r["pointer"], r["requested"], r["after"], r["surplus"], r["status"]] for r in d["results"]]]' \
        '[true,[["/pools/2Mi/count",64,64,0,"ok"]]]'
check "... sysfs nr_hugepages is 64" 64 "$(<"$POOL/nr_hugepages")"
check_hugeadm "... hugeadm --pool-list shows Minimum 64 for 2097152" 64
hp_get /sizes
check_json "GET /sizes: 2Mi persistent 64, total 64, free 64" \
        '[[s["persistent"], s["total"], s["free"]] for s in d["sizes"] if s["size"] == "2Mi"]' '[[64,64,64]]'
hp_get /status
check_json "GET /status: generation 1, in sync" '[d["generation"], d["in_sync"], d["drift"]]' '[1,true,[]]'

# --- a confirm window that runs out -------------------------------------------------

hp_req -b '{"pools": {"2Mi": {"count": 16}}}' PUT '/config?confirm_within=3'
check_ok_json "PUT 2Mi count 16 ?confirm_within=3"
check_json "... generation 2, ok, after 16, with a confirm deadline" \
        '[d["generation"], [[r["after"], r["status"]] for r in d["results"]], d["confirm_deadline"] is not None]' \
        '[2,[[16,"ok"]],true]'
check "... sysfs nr_hugepages is 16" 16 "$(<"$POOL/nr_hugepages")"
hp_get /status
check_json "GET /status: generation 2 pending, reverts to 1" \
        '[d["generation"], d["pending_confirm"]["generation"], d["pending_confirm"]["reverts_to"]]' '[2,2,1]'
reverted=no
for ((i = 0; i < 50; i++)); do
        hp_get /status
        if [[ $(hp_py 'd["pending_confirm"] is None') == true ]]; then
                reverted=yes
                break
        fi
        sleep 0.2
done
check "the pending change is gone from /status within 10 s" yes "$reverted"
check_json "GET /status: back to generation 1 (count 64), in sync" \
        '[d["generation"], d["confirmed_generation"], d["desired"], d["in_sync"]]' \
        '[1,1,{"pools":{"2Mi":{"count":64}}},true]'
check "... sysfs nr_hugepages is 64 again" 64 "$(<"$POOL/nr_hugepages")"
check_hugeadm "... hugeadm --pool-list shows Minimum 64 again" 64
hp_get /config/history
check_json "GET /config/history: generation 2 reverted" \
        '[[g["generation"], g["state"]] for g in d["generations"]]' '[[2,"reverted"],[1,"confirmed"]]'

# --- node0 --------------------------------------------------------------------------

if [[ -e $NODE0/nr_hugepages ]]; then
        hp_req -b '{"pools": {"2Mi": {"nodes": {"0": 32}}}}' PUT /config
        check_ok_json "PUT 2Mi nodes {\"0\": 32}"
        check_json "... result ok on node0, after 32" \
                '[[r["pointer"], r["node"], r["after"], r["status"]] for r in d["results"]]' \
                '[["/pools/2Mi/nodes/0",0,32,"ok"]]'
        check "... sysfs node0 nr_hugepages is 32" 32 "$(<"$NODE0/nr_hugepages")"
        check_hugeadm "... hugeadm Minimum is node0's 32 plus the other nodes'" "$((32 + $(others)))"
        hp_get /sizes
        check_json "GET /sizes: node0 2Mi persistent 32" \
                '[n["persistent"] for s in d["sizes"] if s["size"] == "2Mi" for n in s["nodes"] if n["node"] == 0]' '[32]'
else
        skip "PUT 2Mi nodes {\"0\": 32}" "no $NODE0 on this kernel"
fi

# --- THP enabled ----------------------------------------------------------------------

if [[ -n "$SAVED_THP" ]]; then
        other=never
        [[ "$SAVED_THP" == never ]] && other=madvise
        hp_req -b "{\"transparent_hugepage\": {\"enabled\": \"$other\"}}" PUT /config
        check_ok_json "PUT THP enabled $other"
        check_json "... the THP item: before, after, status" \
                '[[t["pointer"], t["before"], t["after"], t["status"]] for t in d["thp"]]' \
                "[[\"/transparent_hugepage/enabled\",\"$SAVED_THP\",\"$other\",\"ok\"]]"
        check "... the file's bracketed word is $other" "$other" "$(thp_active)"
        hp_get /status
        check_json "GET /status: in sync with THP $other" '[d["in_sync"], d["kernel"]["transparent_hugepage"]["enabled"]["active"]]' \
                "[true,\"$other\"]"
        hp_req -b "{\"transparent_hugepage\": {\"enabled\": \"$SAVED_THP\"}}" PUT /config
        check_json "PUT THP enabled back to $SAVED_THP: ok" '[t["status"] for t in d["thp"]]' '["ok"]'
        check "... the file's bracketed word is $SAVED_THP again" "$SAVED_THP" "$(thp_active)"
else
        skip "THP enabled" "no $THP on this kernel"
fi

# --- the boot path: apply-saved, and safe mode ----------------------------------------------

hp_req -b '{"pools": {"2Mi": {"count": 48}}}' PUT /config
check_ok_json "PUT 2Mi count 48 (confirmed at once)"
hp_stop
# As after a reboot: the pool is empty until the boot unit applies it.
echo 0 >"$POOL/nr_hugepages"
rc=0
out=$("$HP_BIN" apply-saved --state-dir "$HP_WORK/state" --host-reserve 1Gi 2>&1) || rc=$?
check "apply-saved on the real kernel: exit 0" 0 "$rc"
check_match "... says what it applied" 'applied the saved config: generation [0-9]+, the kernel holds it' "$out"
check "... sysfs nr_hugepages is 48 again" 48 "$(<"$POOL/nr_hugepages")"
check_hugeadm "... hugeadm --pool-list shows Minimum 48" 48
echo 0 >"$POOL/nr_hugepages"
touch "$HP_WORK/state/safe-mode"
rc=0
out=$("$HP_BIN" apply-saved --state-dir "$HP_WORK/state" --host-reserve 1Gi 2>&1) || rc=$?
check "apply-saved in safe mode: exit 0" 0 "$rc"
check_match "... says it skips" 'safe mode .*: not applying the saved config' "$out"
check "... and the pool stays empty" 0 "$(<"$POOL/nr_hugepages")"
rm "$HP_WORK/state/safe-mode"
hp_start real-again "$HP_WORK/state" --host-reserve 1Gi || hp_bail "cannot go on without a server"

# --- back to 0 ---------------------------------------------------------------------------

hp_req -b '{"pools": {"2Mi": {"count": 0}}}' PUT /config
check_ok_json "PUT 2Mi count 0"
check_json "... result ok, after 0" '[[r["after"], r["status"]] for r in d["results"]]' '[[0,"ok"]]'
check "... sysfs nr_hugepages is 0" 0 "$(<"$POOL/nr_hugepages")"
check_hugeadm "... hugeadm Minimum is 0" 0

hp_stop
check "the service stops with status 0" 0 "$HP_STOP_STATUS"
restore
check "the original 2Mi nr_hugepages is back" "$SAVED_NR" "$(<"$POOL/nr_hugepages")"
check "the original 2Mi nr_overcommit_hugepages is back" "$SAVED_OVERCOMMIT" "$(<"$POOL/nr_overcommit_hugepages")"
[[ -z "$SAVED_THP" ]] || check "the original THP enabled word is back" "$SAVED_THP" "$(thp_active)"
hp_finish
