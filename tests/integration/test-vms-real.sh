#!/usr/bin/env bash
# VMs, holders and safe shrinking against the running kernel: allocates a
# small 2Mi pool (16 pages, 32 MiB; 24 at most), starts hugetlb-hold
# (tests/helpers) to map 8 of its pages and touch 6, as a VM's QEMU maps its
# hugetlb memfd, and checks that
#   - GET /status lists it as a holder (pid, command, pages per node);
#   - POST /validate with "vms" counts its pages as taken (free minus
#     reserved), and GET /sizes' vm_capacity agrees;
#   - shrinking below them is refused: PUT /config gives 422 below_in_use
#     naming the holder, and the kernel is not written;
#   - an automatic revert that shrinks the pool after a second holder took
#     pages meanwhile is not blocked: it writes, and reports the pages held
#     at the write and the surplus the kernel kept, which go away when the
#     holder lets go.
# Every value it touches (2Mi nr_hugepages and nr_overcommit_hugepages) is
# saved first and restored on exit, even on failure; the holders are
# stopped first.
#
# Runs only as root with a writable 2Mi nr_hugepages, and only when no 2Mi
# page is in use or reserved by anyone else (free == nr, resv == 0,
# surplus == 0); otherwise it skips.
#
# Usage: test-vms-real.sh PATH-TO-hugepaged PATH-TO-hugetlb-hold
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

POOL=/sys/kernel/mm/hugepages/hugepages-2048kB
HOLD=${2:-}

if [[ -z "${1:-}" || ! -x "$1" ]]; then
        hp_setup "${1:-}" # prints the usage and exits 2
fi
if [[ -z "$HOLD" || ! -x "$HOLD" ]]; then
        echo "usage: $0 PATH-TO-hugepaged PATH-TO-hugetlb-hold (got '${HOLD}')" >&2
        exit 2
fi
if [[ $(id -u) != 0 ]]; then
        hp_skip_all "test-vms-real.sh needs root"
fi
if [[ ! -w $POOL/nr_hugepages ]] || ! (: >>"$POOL/nr_hugepages") 2>/dev/null; then
        hp_skip_all "$POOL/nr_hugepages is not writable here"
fi
pool_idle() {
        [[ $(<"$POOL/free_hugepages") == $(<"$POOL/nr_hugepages") && $(<"$POOL/resv_hugepages") == 0 &&
                $(<"$POOL/surplus_hugepages") == 0 ]]
}
if ! pool_idle; then
        hp_skip_all "2Mi hugepages are in use or reserved on this host (another test, a VM?); not touching them"
fi

SAVED_NR=$(<"$POOL/nr_hugepages")
SAVED_OVERCOMMIT=$(<"$POOL/nr_overcommit_hugepages")
HOLDERS=()

# start_holder NAME ARGS…: starts hugetlb-hold and waits for its "ready";
# sets HOLDER_PID.
start_holder() {
        local name=$1 i
        shift
        "$HOLD" "$@" >"$HP_WORK/$name.out" 2>&1 &
        HOLDER_PID=$!
        HOLDERS+=("$HOLDER_PID")
        for ((i = 0; i < 100; i++)); do
                grep -qx ready "$HP_WORK/$name.out" 2>/dev/null && return 0
                kill -0 "$HOLDER_PID" 2>/dev/null || break
                sleep 0.05
        done
        hp_bail "hugetlb-hold $* is ready" "$(cat "$HP_WORK/$name.out")"
}

# stop_holder PID: SIGTERM and wait; it gives its pages back.
stop_holder() {
        kill -TERM "$1" 2>/dev/null || true
        wait "$1" 2>/dev/null || true
        local keep=() p
        for p in "${HOLDERS[@]}"; do
                [[ "$p" == "$1" ]] || keep+=("$p")
        done
        HOLDERS=("${keep[@]}")
}

restore() {
        local p
        for p in "${HOLDERS[@]}"; do
                kill -TERM "$p" 2>/dev/null || true
                wait "$p" 2>/dev/null || true
        done
        HOLDERS=()
        { echo "$SAVED_OVERCOMMIT" >"$POOL/nr_overcommit_hugepages"; } 2>/dev/null || true
        { echo "$SAVED_NR" >"$POOL/nr_hugepages"; } 2>/dev/null || true
        return 0
}
# shellcheck disable=SC2317 # called from lib.sh's EXIT trap
hp_on_exit() {
        restore || true
}

hp_setup "$1"

counters() {
        echo "nr=$(<"$POOL/nr_hugepages") free=$(<"$POOL/free_hugepages") resv=$(<"$POOL/resv_hugepages") surplus=$(<"$POOL/surplus_hugepages")"
}

hp_start real "$HP_WORK/state" --host-reserve 1Gi || hp_bail "cannot go on without a server"

# --- a pool of 16, and a process that holds 8 of its pages (6 touched) -----------------------

hp_req -b '{"pools": {"2Mi": {"count": 16}}}' PUT /config
check_ok_json "PUT 2Mi count 16"
check "... the kernel holds 16 free pages" "nr=16 free=16 resv=0 surplus=0" "$(counters)"

start_holder hold-a --touch 6 8
A=$HOLDER_PID
check "hugetlb-hold maps 8 and touches 6: 6 in use, 2 reserved" "nr=16 free=10 resv=2 surplus=0" "$(counters)"

hp_get /status
check_ok_json "GET /status"
check_json "the holder is listed, with its pid, name and command" \
        "[[p['name'], p['command']] for p in d['hugetlb_holders']['processes'] if p['pid'] == $A]" \
        "[[\"hugetlb-hold\",\"$HOLD --touch 6 8\"]]"
check_json "... 6 touched pages (12 MiB), all 2Mi, the node known" \
        "[[p['hugetlb_bytes'], sum(x['pages'] for x in p['pages'] if x['size'] == '2Mi'), p['pages_known'], all('node' in x for x in p['pages'])] for p in d['hugetlb_holders']['processes'] if p['pid'] == $A]" \
        '[[12582912,6,true,true]]'
check_json "... sorted by size: the largest holder first" \
        'sorted(d["hugetlb_holders"]["processes"], key=lambda p: (-p["hugetlb_bytes"], p["pid"])) == d["hugetlb_holders"]["processes"]' true

hp_get /sizes
check_json "GET /sizes: 2Mi vm_capacity is 8 pages (10 free - 2 reserved), 16Mi" \
        '[s["vm_capacity"] for s in d["sizes"] if s["size"] == "2Mi"]' \
        '[{"available_pages":8,"max_vm_bytes":16777216,"max_vm_memory":"16Mi"}]'

hp_req -b '{"vms": [{"name": "fits", "memory": "16Mi", "page_size": "2Mi"},
  {"name": "too-big", "memory": "20Mi", "page_size": "2Mi"},
  {"name": "on-node-0", "memory": "16Mi", "page_size": "2Mi", "numa_node": 0}]}' POST /validate
check_ok_json "POST /validate with vms"
check_json "the fit check counts the holder's pages as taken: 8 of 16 left" \
        '[[v["name"], v["now"]["available_pages"], v["now"]["fits"], v["now"]["missing_pages"]] for v in d["vm_fit"]["vms"]]' \
        '[["fits",8,true,0],["too-big",8,false,2],["on-node-0",8,true,0]]'
check_json "... fits and on-node-0 do not fit together" \
        '[[v["now"]["fits_together"], [r["code"] for r in v["now"]["reasons"]]] for v in d["vm_fit"]["vms"]]' \
        '[[true,[]],[false,["insufficient_pages"]],[false,["insufficient_together"]]]'
hp_req -b '{"pools": {"2Mi": {"count": 24}}, "vms": [{"name": "too-big", "memory": "20Mi", "page_size": "2Mi"}]}' POST /validate
check_json "... under a pool of 24 it would fit (16 left)" \
        '[d["valid"], d["vm_fit"]["vms"][0]["proposed"]["fits"], d["vm_fit"]["vms"][0]["proposed"]["available_pages"]]' '[true,true,16]'

# --- shrinking below the pages held is refused -------------------------------------------------

hp_req -b '{"pools": {"2Mi": {"count": 4}}}' PUT /config
check_problem 422 "PUT 2Mi count 4 (8 held): 422"
check_json "... below_in_use at /pools/2Mi/count" 'pairs("errors")' '["/pools/2Mi/count below_in_use"]'
check_match "... naming how many and the holder" \
        "8 are in use or reserved \\(6 in use, 2 reserved\\); held by hugetlb-hold \\(pid $A, 6 pages\\)" \
        "$(hp_py 'd["errors"][0]["message"]')"
check "... the kernel was not written" "nr=16 free=10 resv=2 surplus=0" "$(counters)"
hp_req -b '{"pools": {"2Mi": {"count": 0}}}' PUT /config
check_problem 422 "PUT 2Mi count 0: 422 too"
hp_req -b '{"pools": {"2Mi": {"count": 8}}}' PUT /config
check_ok_json "PUT 2Mi count 8 (exactly the pages held): applied"
check_json "... held 8 at the write, ok, no surplus" \
        '[[r["requested"], r["held"], r["after"], r["surplus"], r["status"]] for r in d["results"]]' '[[8,8,8,0,"ok"]]'
check "... the kernel holds 8, none free to take" "nr=8 free=2 resv=2 surplus=0" "$(counters)"

# --- an automatic revert after a holder took pages meanwhile ----------------------------------

hp_req -b '{"pools": {"2Mi": {"count": 24}}}' PUT '/config?confirm_within=3'
check_ok_json "PUT 2Mi count 24 ?confirm_within=3"
start_holder hold-b 12
B=$HOLDER_PID
check "a second holder takes 12 pages: 20 held" "nr=24 free=6 resv=2 surplus=0" "$(counters)"
reverted=no
for ((i = 0; i < 50; i++)); do
        hp_get /status
        if [[ $(hp_py 'd["pending_confirm"] is None') == true ]]; then
                reverted=yes
                break
        fi
        sleep 0.2
done
check "the window runs out and the change is reverted, not blocked" yes "$reverted"
check_json "... the revert wrote 8 with 20 held: the kernel kept 12 as surplus (in_use)" \
        '[[r["requested"], r["held"], r["after"], r["total"], r["surplus"], r["status"]] for r in d["last_apply"]["results"]]' \
        '[[8,20,8,20,12,"in_use"]]'
check "... the kernel: 20 pages, 12 of them surplus, the 2 free ones reserved" "nr=20 free=2 resv=2 surplus=12" "$(counters)"
check_json "... both holders are listed" "sorted(p['pid'] for p in d['hugetlb_holders']['processes'] if p['name'] == 'hugetlb-hold')" \
        "$(python3 -c "print('[' + ','.join(map(str, sorted([$A, $B]))) + ']')")"
stop_holder "$B"
check "when the second holder lets go, the surplus is freed" "nr=8 free=2 resv=2 surplus=0" "$(counters)"

# --- back to 0 ------------------------------------------------------------------------------------

stop_holder "$A"
check "with no holder left the pool is idle" "nr=8 free=8 resv=0 surplus=0" "$(counters)"
hp_req -b '{"pools": {"2Mi": {"count": 0}}}' PUT /config
check_ok_json "PUT 2Mi count 0 once nothing holds pages"
check_json "... held 0, ok" '[[r["held"], r["after"], r["status"]] for r in d["results"]]' '[[0,0,"ok"]]'
hp_get /status
check_json "GET /status after that change: no hugetlb-hold among the holders" \
        "[p['pid'] for p in d['hugetlb_holders']['processes'] if p['name'] == 'hugetlb-hold']" '[]'

hp_stop
check "the service stops with status 0" 0 "$HP_STOP_STATUS"
restore
check "the original 2Mi nr_hugepages is back" "$SAVED_NR" "$(<"$POOL/nr_hugepages")"
check "the original 2Mi nr_overcommit_hugepages is back" "$SAVED_OVERCOMMIT" "$(<"$POOL/nr_overcommit_hugepages")"
hp_finish
