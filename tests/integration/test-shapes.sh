#!/usr/bin/env bash
# Integration test of machine shapes, each a fake sysfs/procfs tree from
# tests/fixtures: arm64 (four sizes, two of them gigantic), nogigantic (2Mi
# only), nonuma (no node directory at all) and broken (five defects the
# service must name, one after the other).
#
# Usage: test-shapes.sh PATH-TO-hugepaged
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
hp_setup "${1:-}"

# start_on FIXTURE [OPTIONS…]: copies the fixture and serves it.
start_on() {
        local fx=$1
        shift
        FX=$HP_WORK/$fx
        cp -r "$HP_REPO/tests/fixtures/$fx" "$FX"
        hp_start "$fx" "$HP_WORK/state-$fx" --sysfs-root "$FX/sys" --procfs-root "$FX/proc" "$@" ||
                hp_bail "cannot go on without the $fx server"
}

# --- arm64: 64Ki, 2Mi, 32Mi, 1Gi ------------------------------------------------

start_on arm64 --base-page-size 4Ki
hp_get /sizes
check_ok_json "arm64: GET /sizes"
check_json "arm64: sizes" '[s["size"] for s in d["sizes"]]' '["64Ki","2Mi","32Mi","1Gi"]'
check_json "arm64: bytes" '[s["bytes"] for s in d["sizes"]]' '[65536,2097152,33554432,1073741824]'
check_json "arm64: gigantic (larger than the 4 MiB buddy block)" '[s["gigantic"] for s in d["sizes"]]' \
        '[false,false,true,true]'
check_json "arm64: runtime_allocation" '[s["runtime_allocation"] for s in d["sizes"]]' \
        '["yes","yes","best_effort","best_effort"]'
check_json "arm64: default_size 2Mi, and only 2Mi is default" '[d["default_size"], [s["default"] for s in d["sizes"]]]' \
        '["2Mi",[false,true,false,false]]'
check_json "arm64: 2Mi holds 64 pages, all on node0" \
        '[d["sizes"][1]["total"], d["sizes"][1]["persistent"], d["sizes"][1]["nodes"]]' \
        '[64,64,[{"free":64,"max_pages":7930,"node":0,"persistent":64,"surplus":0,"total":64,"vm_capacity":{"available_pages":64,"max_vm_bytes":134217728,"max_vm_memory":"128Mi"}}]]'
check_json "arm64: one node, 16241872 kB" 'd["nodes"]' "[{\"hugepages\":true,\"memory_bytes\":$((16241872 * 1024)),\"node\":0}]"

hp_req -b '{"pools": {"64Ki": {"count": 16}, "32Mi": {"count": 2}}}' POST /validate
check_json "arm64: validate 64Ki and 32Mi pools: valid" '[d["valid"], d["errors"]]' '[true,[]]'
check_finding "arm64: growing 32Mi warns gigantic_runtime" warnings gigantic_runtime /pools/32Mi
check_json "arm64: 64Ki is not gigantic: no warning for it" '[w for w in pairs("warnings") if "64Ki" in w]' '[]'

hp_req -b '{"pools": {"64Ki": {"count": 16}}}' PUT /config
check_ok_json "arm64: PUT 64Ki count 16"
check_json "arm64: the 64Ki result" '[[r["pointer"], r["after"], r["status"]] for r in d["results"]]' \
        '[["/pools/64Ki/count",16,"ok"]]'
check "arm64: hugepages-64kB/nr_hugepages holds 16" 16 \
        "$(<"$FX/sys/kernel/mm/hugepages/hugepages-64kB/nr_hugepages")"
hp_stop

# --- nogigantic: 2Mi only ----------------------------------------------------------

start_on nogigantic
hp_get /sizes
check_ok_json "nogigantic: GET /sizes"
check_json "nogigantic: only 2Mi" '[s["size"] for s in d["sizes"]]' '["2Mi"]'
check_json "nogigantic: THP enabled is always" 'd["transparent_hugepage"]["enabled"]["active"]' always
hp_req -b '{"pools": {"1Gi": {"count": 1}}}' POST /validate
check_json "nogigantic: validate 1Gi: valid false" 'd["valid"]' false
check_finding "nogigantic: validate 1Gi: unsupported_size" errors unsupported_size /pools/1Gi
hp_req -b '{"default_size": "1Gi"}' POST /validate
check_finding "nogigantic: default_size 1Gi: unsupported_size" errors unsupported_size /default_size
hp_req -b '{"pools": {"1Gi": {"count": 1}}}' PUT /config
check_problem 422 "nogigantic: PUT 1Gi is 422"
check "nogigantic: ... and no 1Gi directory appeared" no \
        "$([[ -e $FX/sys/kernel/mm/hugepages/hugepages-1048576kB ]] && echo yes || echo no)"
hp_stop

# --- nonuma: no sys/devices/system/node ------------------------------------------------

start_on nonuma
hp_get /sizes
check_ok_json "nonuma: GET /sizes"
check_json "nonuma: nodes is empty" 'd["nodes"]' '[]'
check_json "nonuma: every size's nodes is empty" '[s["nodes"] for s in d["sizes"]]' '[[],[]]'
check_json "nonuma: sizes" '[s["size"] for s in d["sizes"]]' '["2Mi","1Gi"]'
hp_req -b '{"pools": {"2Mi": {"nodes": {"0": 1}}}}' POST /validate
check_json "nonuma: validate a nodes map: valid false" 'd["valid"]' false
check_finding "nonuma: validate a nodes map: unknown_node" errors unknown_node /pools/2Mi/nodes/0
hp_req -b '{"pools": {"2Mi": {"count": 16}}}' POST /validate
check_json "nonuma: validate count 16: valid, no node figures" '[d["valid"], d["memory"]["nodes"]]' '[true,[]]'
hp_req -b '{"pools": {"2Mi": {"count": 16}}}' PUT /config
check_ok_json "nonuma: PUT 2Mi count 16"
check_json "nonuma: ... ok" '[[r["after"], r["status"]] for r in d["results"]]' '[[16,"ok"]]'
check "nonuma: the 2Mi nr_hugepages file holds 16" 16 "$(<"$FX/sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages")"
hp_get /status
check_json "nonuma: status in sync" '[d["generation"], d["in_sync"]]' '[1,true]'
hp_stop

# --- broken: every defect is named, one after the other -----------------------------

start_on broken
GOOD_FX=$HP_REPO/tests/fixtures/x86-2node
hp_get -n /healthz
check_ok_json "broken: GET /healthz still answers"
hp_req -b '{"pools": {"2Mi": {"count": 1}}}' POST /validate
check_problem 500 "broken: POST /validate is 500"
hp_get /status
check_problem 500 "broken: GET /status is 500"

# The five defects (tests/fixtures/broken/README.md): the file to restore,
# and what a detail naming it matches.
DEFECT_FILES=(
        sys/kernel/mm/hugepages/hugepages-2048kB/free_hugepages
        sys/kernel/mm/hugepages/hugepages-1048576kB/nr_hugepages
        proc/meminfo
        sys/devices/system/node/node1/meminfo
        sys/kernel/mm/transparent_hugepage/enabled
)
DEFECT_PATTERNS=(
        'hugepages-2048kB/free_hugepages'
        'hugepages-1048576kB/nr_hugepages'
        'Hugepagesize'
        'node1/meminfo'
        'transparent_hugepage/enabled'
)
DEFECT_NAMES=(
        "the missing 2Mi free_hugepages"
        "the 1Gi nr_hugepages holding 'abc'"
        "the missing Hugepagesize line in /proc/meminfo"
        "the missing node1/meminfo"
        "THP enabled without a [bracketed] choice"
)
reported=()
for ((round = 0; round < ${#DEFECT_FILES[@]}; round++)); do
        hp_get /sizes
        [[ "$HP_STATUS" == 200 ]] && break
        check_problem 500 "broken, round $((round + 1)): GET /sizes is 500"
        detail=$(hp_py 'd["detail"]')
        named=
        for ((k = 0; k < ${#DEFECT_FILES[@]}; k++)); do
                [[ " ${reported[*]} " == *" $k "* ]] && continue
                if [[ "$detail" == *"${DEFECT_PATTERNS[$k]}"* ]]; then
                        named=$k
                        break
                fi
        done
        if [[ -z "$named" ]]; then
                notok "broken, round $((round + 1)): the detail names a remaining defect" "actual: $(_hp_short "$detail")"
                break
        fi
        ok "broken, round $((round + 1)): the detail names ${DEFECT_NAMES[$named]}"
        reported+=("$named")
        cp "$GOOD_FX/${DEFECT_FILES[$named]}" "$FX/${DEFECT_FILES[$named]}"
done
for ((k = 0; k < ${#DEFECT_FILES[@]}; k++)); do
        if [[ " ${reported[*]} " == *" $k "* ]]; then
                ok "broken: ${DEFECT_NAMES[$k]} was reported"
        else
                notok "broken: ${DEFECT_NAMES[$k]} was reported" \
                        "it never was; once the others were repaired GET /sizes answered $HP_STATUS: $(_hp_short "$HP_BODY")"
                cp "$GOOD_FX/${DEFECT_FILES[$k]}" "$FX/${DEFECT_FILES[$k]}"
        fi
done
hp_get /sizes
check_ok_json "broken, all defects repaired: GET /sizes is 200"
check_json "broken, repaired: the x86-2node figures" \
        '[[s["size"], s["total"], s["free"], s["reserved"]] for s in d["sizes"]]' '[["2Mi",512,500,10],["1Gi",2,2,0]]'
hp_stop

hp_finish
