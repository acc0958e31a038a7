#!/usr/bin/env bash
# Hugepage-backed VMs, floors and holders on fake trees (tests/fixtures):
# POST /validate with "vms" on x86-2node (two NUMA nodes) and arm64 (four
# sizes), the VM capacity in GET /sizes, the processes that hold pages in
# GET /status (tests/fixtures/procfs-holders as the procfs root's
# processes), shrinking below the pages in use or below a floor refused
# with 422, and the example VirtualMachine of deploy/examples checked
# against KubeVirt's API model and against this node.
#
# x86-2node's 2Mi pool: 512 pages, 500 free, 10 reserved (12 in use, 6 per
# node): 490 a new VM can take, 250 on each node. 1Gi: 2 pages, 1 per node.
#
# Usage: test-vms.sh PATH-TO-hugepaged
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
hp_setup "${1:-}"

# x86-2node's sysfs and meminfo, with procfs-holders' processes.
FX=$HP_WORK/tree
cp -r "$HP_REPO/tests/fixtures/x86-2node" "$FX"
cp -r "$HP_REPO/tests/fixtures/procfs-holders/proc/"[0-9]* "$FX/proc/"
cp "$HP_REPO/tests/fixtures/procfs-holders/proc/uptime" "$FX/proc/uptime"
printf '# size pages owner\n2Mi 100 longhorn-v2   # the V2 data engine\n' >"$HP_WORK/floors"
hp_start x86 "$HP_WORK/state" --sysfs-root "$FX/sys" --procfs-root "$FX/proc" \
        --floor-file "$HP_WORK/floors" || hp_bail "cannot go on without a server"

# vm NAME: the vm_fit entry of the VM named NAME in the last answer.
vm() {
        printf '[v for v in d["vm_fit"]["vms"] if v["name"] == "%s"][0]' "$1"
}

# --- GET /sizes: what a new VM can take now ------------------------------------------

hp_get /sizes
check_ok_json "GET /sizes"
check_json "2Mi vm_capacity: 490 pages (500 free - 10 reserved), 980Mi" \
        '[s["vm_capacity"] for s in d["sizes"] if s["size"] == "2Mi"]' \
        '[{"available_pages":490,"max_vm_bytes":1027604480,"max_vm_memory":"980Mi"}]'
check_json "2Mi per node: 250 free pages each, 500Mi" \
        '[[n["node"], n["vm_capacity"]["available_pages"], n["vm_capacity"]["max_vm_memory"]] for s in d["sizes"] if s["size"] == "2Mi" for n in s["nodes"]]' \
        '[[0,250,"500Mi"],[1,250,"500Mi"]]'
check_json "1Gi: 2 pages, 2Gi; 1 per node" \
        '[[s["vm_capacity"]["max_vm_memory"]] + [n["vm_capacity"]["available_pages"] for n in s["nodes"]] for s in d["sizes"] if s["size"] == "1Gi"]' \
        '[["2Gi",1,1]]'

# --- POST /validate with vms only: the node as it is -------------------------------------

hp_req -b '{"vms": [
  {"name": "web", "memory": "512Mi", "page_size": "2Mi"},
  {"name": "web-2", "memory": "512Mi", "page_size": "2048Ki"},
  {"name": "db-1", "memory": "8Gi", "page_size": "2Mi", "numa_node": 0},
  {"name": "pinned", "memory": "0.5Gi", "page_size": "2Mi", "numa_node": 1},
  {"name": "giant", "memory": "1Gi", "page_size": "1Gi", "numa_node": 0},
  {"name": "decimal", "memory": "1G", "page_size": "2Mi"},
  {"name": "tiny", "memory": "1Mi", "page_size": "2Mi"},
  {"name": "odd-size", "memory": "2Gi", "page_size": "4Mi"},
  {"name": "far", "memory": "2Mi", "page_size": "2Mi", "numa_node": 7}]}' POST /validate
check_ok_json "POST /validate with vms only"
check_json "... valid (no config), no empty_config warning, all_fit_now false" \
        '[d["valid"], d["warnings"], d["vm_fit"]["all_fit_now"], d["vm_fit"]["placement"]]' '[true,[],false,"listed_order"]'
check_json "web: 256 pages, fits now, and together" \
        "[$(vm web)[k] for k in ('memory', 'memory_bytes', 'page_size', 'pages')] + [$(vm web)['now'][k] for k in ('fits', 'fits_together', 'available_pages', 'missing_pages', 'reasons')]" \
        '["512Mi",536870912,"2Mi",256,true,true,490,0,[]]'
check_json "web-2 (2048Ki is 2Mi): fits alone, not after web (256 + 256 > 490): insufficient_together" \
        "[$(vm web-2)['page_size'], $(vm web-2)['now']['fits'], $(vm web-2)['now']['fits_together'], [[r['pointer'], r['code']] for r in $(vm web-2)['now']['reasons']]]" \
        '["2Mi",true,false,[["/vms/1","insufficient_together"]]]'
check_json "db-1 on node 0: 4096 pages, 250 free there, 3846 missing" \
        "[$(vm db-1)['numa_node'], $(vm db-1)['pages'], $(vm db-1)['now']['available_pages'], $(vm db-1)['now']['missing_pages'], [[r['pointer'], r['code']] for r in $(vm db-1)['now']['reasons']]]" \
        '[0,4096,250,3846,[["/vms/2","insufficient_pages"]]]'
check_match "... the message says how many are missing" '3846 missing' "$(hp_py "$(vm db-1)['now']['reasons'][0]['message']")"
check_json "pinned: 256 pages on node 1 with 250 free: 6 missing" \
        "[$(vm pinned)['memory'], $(vm pinned)['now']['missing_pages']]" '["512Mi",6]'
check_json "giant: one 1Gi page on node 0: fits" "$(vm giant)['now']['fits']" true
check_json "decimal: 1G is 1000000000 bytes, not a multiple of 2Mi" \
        "[$(vm decimal)['memory_bytes'], [[r['pointer'], r['code']] for r in $(vm decimal)['now']['reasons']]]" \
        '[1000000000,[["/vms/5/memory","not_page_multiple"]]]'
check_json "tiny: less than one page" "[[r['pointer'], r['code']] for r in $(vm tiny)['now']['reasons']]" \
        '[["/vms/6/memory","memory_below_page_size"]]'
check_json "odd-size: no 4Mi pages here" "[[r['pointer'], r['code']] for r in $(vm odd-size)['now']['reasons']]" \
        '[["/vms/7/page_size","unsupported_size"]]'
check_json "far: no NUMA node 7" "[[r['pointer'], r['code']] for r in $(vm far)['now']['reasons']]" \
        '[["/vms/8/numa_node","unknown_node"]]'
check_json "without a config, proposed is the state now" \
        '[v["now"] == v["proposed"] for v in d["vm_fit"]["vms"]]' '[true,true,true,true,true,true,true,true,true]'

# --- the Kubernetes forms of the same memory ----------------------------------------------

hp_req -b '{"vms": [{"name": "a", "memory": "8Gi", "page_size": "2Mi"},
  {"name": "b", "memory": "8192Mi", "page_size": "+2Mi"},
  {"name": "c", "memory": "8589934592", "page_size": "2097152"},
  {"name": "d", "memory": "8.589934592e+9", "page_size": "2Mi"},
  {"name": "e", "memory": "8G", "page_size": "2Mi"}]}' POST /validate
check_json "8Gi, 8192Mi, 8589934592 and 8.589934592e+9 are the same 4096 pages; 8G is 8000000000 bytes" \
        '[[v["memory_bytes"], v["pages"]] for v in d["vm_fit"]["vms"]]' \
        '[[8589934592,4096],[8589934592,4096],[8589934592,4096],[8589934592,4096],[8000000000,3815]]'
check_json "... 8G is not a whole number of 2Mi pages (and there are not 3815 free)" \
        '[r["code"] for r in d["vm_fit"]["vms"][4]["now"]["reasons"]]' '["not_page_multiple","insufficient_pages"]'

# --- a proposed config in the same request -------------------------------------------------

hp_req -b '{"pools": {"2Mi": {"count": 2048}, "1Gi": {"count": 0}},
  "vms": [{"name": "db-1", "memory": "2Gi", "page_size": "2Mi"},
          {"name": "giant", "memory": "1Gi", "page_size": "1Gi"}]}' POST /validate
check_json "grow 2Mi to 2048, 1Gi to 0: valid" '[d["valid"], pairs("errors")]' '[true,[]]'
check_json "db-1 (1024 pages): not now (490), but under the config (2026 free)" \
        "[$(vm db-1)['now']['fits'], $(vm db-1)['now']['missing_pages'], $(vm db-1)['proposed']['fits'], $(vm db-1)['proposed']['available_pages']]" \
        '[false,534,true,2026]'
check_json "giant: fits now, not_allocated under the config" \
        "[$(vm giant)['now']['fits'], [r['code'] for r in $(vm giant)['proposed']['reasons']]]" '[true,["not_allocated"]]'
check_json "all_fit_now false, all_fit_proposed false" \
        '[d["vm_fit"]["all_fit_now"], d["vm_fit"]["all_fit_proposed"]]' '[false,false]'
hp_req -b '{"pools": {"2Mi": {"nodes": {"0": 2000, "1": 256}}},
  "vms": [{"name": "db-1", "memory": "2Gi", "page_size": "2Mi", "numa_node": 0},
          {"name": "db-2", "memory": "2Gi", "page_size": "2Mi", "numa_node": 1}]}' POST /validate
check_json "nodes 0: 2000, 1: 256: db-1 fits on node 0, db-2 not on node 1" \
        '[d["valid"], [v["proposed"]["fits"] for v in d["vm_fit"]["vms"]], d["vm_fit"]["all_fit_proposed"]]' \
        '[true,[true,false],false]'

# --- malformed vms: 400, every field named ---------------------------------------------------

hp_req -b '{"vms": [{"name": "x", "memory": "8GB", "page_size": "2Mi"}]}' POST /validate
check_problem 400 "a bad memory quantity is a 400"
check_json "... naming /vms/0/memory" 'pairs("errors")' '["/vms/0/memory invalid_quantity"]'
hp_req -b '{"pools": {"2Mi": {"count": -1}}, "vms": [
  {"name": "x", "memory": "16Ei", "page_size": 2},
  {"memory": "1Gi", "page_size": "1Gi", "numa_node": -1, "cpu": 2},
  {"name": "x", "memory": "1.5", "page_size": "2Mi", "numa_node": 1.5}]}' POST /validate
check_problem 400 "config and vms errors together are one 400"
check_json "... every one of them, by field" 'pairs("errors")' \
        '["/pools/2Mi/count negative","/vms/0/memory too_large","/vms/0/page_size wrong_type","/vms/1/cpu unknown_field","/vms/1/name missing_field","/vms/1/numa_node negative","/vms/2/memory invalid_quantity","/vms/2/name duplicate_name","/vms/2/numa_node not_integer"]'
hp_req -b '{"vms": {"name": "x"}}' POST /validate
check_json "vms not an array: wrong_type at /vms" 'pairs("errors")' '["/vms wrong_type"]'
hp_req -b '{"pools": {"2Mi": {"count": 600}}, "vms": []}' PUT /config
check_problem 400 "PUT /config does not take vms"
check_json "... unknown_field at /vms" 'pairs("errors")' '["/vms unknown_field"]'

# --- the example VirtualMachine ------------------------------------------------------------

MANIFEST=$HP_REPO/deploy/examples/vm-hugepages.yaml
EXAMPLES=$HP_REPO/deploy/examples
# scripts/deps.sh --test installs deploy/examples' npm packages (npm ci).
if [[ -d "$EXAMPLES/node_modules/@kubevirt-ui-ext/kubevirt-api" ]] && command -v node >/dev/null; then
        out=$(node "$EXAMPLES/check-manifest.mjs" "$MANIFEST" 2>&1) && rc=0 || rc=$?
        check "deploy/examples/vm-hugepages.yaml matches KubeVirt's API model" "0: ok" "$rc: ${out%% -*}"
        # The VM's memory and page size, read from the manifest (YAML, with
        # the same package's yaml parser).
        vms=$(cd "$EXAMPLES" && node --input-type=module -e '
import { readFileSync } from "node:fs";
import { parse } from "yaml";
const vm = parse(readFileSync(process.argv[1], "utf8"));
const dom = vm.spec.template.spec.domain;
const memory = dom.memory?.guest ?? dom.resources.requests.memory;
console.log(JSON.stringify({ vms: [{ name: vm.metadata.name, memory, page_size: dom.memory.hugepages.pageSize }] }));
' "$MANIFEST" 2>&1)
        check "the example asks for 8Gi of 2Mi pages" '{"vms":[{"name":"db-1","memory":"8Gi","page_size":"2Mi"}]}' "$vms"
        hp_req -b "$vms" POST /validate
        check_json "... it does not fit this node now (4096 pages, 490 to take: 3606 missing)" \
                '[[v["pages"], v["now"]["fits"], v["now"]["missing_pages"]] for v in d["vm_fit"]["vms"]]' '[[4096,false,3606]]'
        hp_req -b "${vms%\}}, \"pools\": {\"2Mi\": {\"count\": 4200}}}" POST /validate
        check_json "... it would with a 2Mi pool of 4200 pages" \
                '[d["valid"], d["vm_fit"]["all_fit_proposed"], d["vm_fit"]["vms"][0]["proposed"]["available_pages"]]' '[true,true,4178]'
else
        notok "deploy/examples/vm-hugepages.yaml against KubeVirt's API model" \
                "node or deploy/examples/node_modules is missing: run 'npm ci' in deploy/examples (scripts/deps.sh --test does)"
fi

# --- GET /status: who holds the pages ------------------------------------------------------

hp_get /status
check_ok_json "GET /status"
check_json "holders: largest first, then by pid" '[p["pid"] for p in d["hugetlb_holders"]["processes"]]' '[4242,4300,777,5150]'
check_json "... found 4, listed 4, 36 MiB in all (a shared memfd counts twice), 7 pids scanned" \
        '[d["hugetlb_holders"][k] for k in ("found", "listed", "hugetlb_bytes", "scanned", "truncated")]' \
        '[4,4,37748736,7,false]'
check_json "the virt-launcher's QEMU: the VM, the pod, the container, per node" \
        '[[p["name"], p["vm"], p["pod_uid"], p["container_runtime"], p["qos_class"], p["pages"], p["pages_known"]] for p in d["hugetlb_holders"]["processes"] if p["pid"] == 4242]' \
        '[["qemu-kvm",{"domain":"default_db-1","name":"db-1","namespace":"default"},"7c1f5b2e-3a4d-4e8f-9b6a-2d1c0e9f8a7b","containerd","burstable",[{"node":0,"pages":4,"size":"2Mi"},{"node":1,"pages":2,"size":"2Mi"}],true]]'
check_match "... and its command line" '^/usr/libexec/qemu-kvm -name guest=default_db-1' \
        "$(hp_py '[p["command"] for p in d["hugetlb_holders"]["processes"] if p["pid"] == 4242][0]')"
check_json "a cgroup v1 (cgroupfs driver) pod: BestEffort, container id, no runtime name" \
        '[[p["pod_uid"][:8], p["qos_class"], len(p["container_id"]), "container_runtime" in p] for p in d["hugetlb_holders"]["processes"] if p["pid"] == 5150]' \
        '[["5d3c2b1a","besteffort",64,false]]'
check_json "floors as loaded" 'd["floors"]' '[{"owner":"longhorn-v2","pages":100,"size":"2Mi"}]'

# The scan is cached for a second and shared; a change made through the
# service makes the next GET scan again. A new holder (pid 9999, 32 pages
# on node 1) appears after a fresh scan: within the second it is not seen.
cp -r "$FX/proc/5150" "$FX/proc/9999"
sed -i 's/^HugetlbPages:.*/HugetlbPages:\t   65536 kB/' "$FX/proc/9999/status"
sed -i 's/ N1=2 / N1=32 /; s/anon=2 dirty=2/anon=32 dirty=32/' "$FX/proc/9999/numa_maps"
mv "$FX/proc/9999" "$HP_WORK/pid-9999"
sleep 1.1
start=$(date +%s%N)
hp_get /status
mv "$HP_WORK/pid-9999" "$FX/proc/9999"
hp_get /status
elapsed_ms=$((($(date +%s%N) - start) / 1000000))
if ((elapsed_ms < 700)); then
        check_json "a new holder within the second of a scan: the cached list (4)" 'd["hugetlb_holders"]["found"]' 4
else
        skip "a new holder within the second of a scan: the cached list" "two GET /status took ${elapsed_ms} ms"
fi

# --- shrinking: below the pages in use, below the floor ------------------------------------

hp_req -b '{"pools": {"2Mi": {"count": 16}}}' PUT /config
check_problem 422 "PUT 2Mi count 16 (22 held, floor 100): 422"
check_json "... below_floor and below_in_use at /pools/2Mi/count" 'pairs("errors")' \
        '["/pools/2Mi/count below_floor","/pools/2Mi/count below_in_use"]'
check_match "... below_in_use says how many and names the holders" \
        '22 are in use or reserved \(12 in use, 10 reserved\); held by qemu-system-x86 \(pid 9999, VM tenant-a/web, 32 pages\), qemu-kvm \(pid 4242, VM default/db-1, 6 pages\)' \
        "$(hp_py '[e["message"] for e in d["errors"] if e["code"] == "below_in_use"][0]')"
check_match "... below_floor names the owner and the file" "100 pages kept for longhorn-v2 \\($HP_WORK/floors, line 2\\)" \
        "$(hp_py '[e["message"] for e in d["errors"] if e["code"] == "below_floor"][0]')"
check "... nothing was written" 512 "$(<"$FX/sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages")"
hp_req -b '{"pools": {"2Mi": {"nodes": {"0": 4}}}}' POST /validate
check_json "validate node 0 at 4 (6 in use there): below_in_use at the node (the pool, 260, is above the rest)" 'pairs("errors")' \
        '["/pools/2Mi/nodes/0 below_in_use"]'
hp_req -b '{"pools": {"2Mi": {"count": 50}}}' POST /validate
check_json "validate count 50: above the pages in use, below the floor only" 'pairs("errors")' '["/pools/2Mi/count below_floor"]'
hp_req -b '{"pools": {"2Mi": {"count": 100}}}' PUT /config
check_ok_json "PUT 2Mi count 100 (the floor, above the 22 held): applied"
check_json "... the shrink reports the 22 pages held at the write" \
        '[[r["requested"], r["held"], r["status"]] for r in d["results"]]' '[[100,22,"ok"]]'
hp_get /status
check_json "after the change, GET /status scans again: the new holder shows" \
        '[d["hugetlb_holders"]["found"], d["hugetlb_holders"]["processes"][0]["pid"]]' '[5,9999]'
check_json "... and last_apply keeps held" '[r["held"] for r in d["last_apply"]["results"]]' '[22]'

hp_stop
check "the service stops with status 0" 0 "$HP_STOP_STATUS"

# --- arm64: 64Ki, 2Mi, 32Mi, 1Gi; one node; only 2Mi allocated (64 pages) -------------------

cp -r "$HP_REPO/tests/fixtures/arm64" "$HP_WORK/arm64"
hp_start arm64 "$HP_WORK/state-arm64" --sysfs-root "$HP_WORK/arm64/sys" --procfs-root "$HP_WORK/arm64/proc" \
        --base-page-size 4Ki || hp_bail "cannot go on without the arm64 server"
hp_get /sizes
check_json "arm64: vm_capacity per size" '[[s["size"], s["vm_capacity"]["available_pages"], s["vm_capacity"]["max_vm_memory"]] for s in d["sizes"]]' \
        '[["64Ki",0,"0"],["2Mi",64,"128Mi"],["32Mi",0,"0"],["1Gi",0,"0"]]'
hp_req -b '{"pools": {"64Ki": {"count": 2048}, "32Mi": {"count": 4}},
  "vms": [{"name": "a", "memory": "128Mi", "page_size": "2Mi", "numa_node": 0},
          {"name": "b", "memory": "128Mi", "page_size": "64Ki"},
          {"name": "c", "memory": "128Mi", "page_size": "32Mi", "numa_node": 0},
          {"name": "d", "memory": "1Gi", "page_size": "1Gi"},
          {"name": "e", "memory": "96Ki", "page_size": "64Ki"}]}' POST /validate
check_json "arm64: valid (32Mi is gigantic: a warning)" '[d["valid"], pairs("warnings")]' '[true,["/pools/32Mi gigantic_runtime"]]'
check_json "arm64: now: a fits exactly (64 pages), b, c, d not allocated, e not a multiple either" \
        '[[v["name"], v["pages"], v["now"]["fits"], [r["code"] for r in v["now"]["reasons"]]] for v in d["vm_fit"]["vms"]]' \
        '[["a",64,true,[]],["b",2048,false,["not_allocated"]],["c",4,false,["not_allocated"]],["d",1,false,["not_allocated"]],["e",2,false,["not_page_multiple","not_allocated"]]]'
check_json "arm64: under the config: a, b, c fit; d and e do not" \
        '[[v["name"], v["proposed"]["fits_together"]] for v in d["vm_fit"]["vms"]]' \
        '[["a",true],["b",true],["c",true],["d",false],["e",false]]'
hp_get /status
check_json "arm64: no process holds pages there" '[d["hugetlb_holders"]["found"], d["hugetlb_holders"]["processes"], d["floors"]]' '[0,[],[]]'

hp_finish
