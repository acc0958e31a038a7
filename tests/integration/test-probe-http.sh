#!/usr/bin/env bash
# POST /probe and GET /probe/{id} on the real kernel: a small probe with
# base pages and THP (no pool is grown), started with 202 and a Location,
# refused with 409 while it runs, polled until done; its results carry the
# proof of backing, and THP and the pools are as before. Needs root (the
# probe maps real memory and reads the real sysfs); skipped otherwise.
# Usage: test-probe-http.sh PATH-TO-hugepaged
set -u
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
[[ $(id -u) == 0 ]] || hp_skip_all "test-probe-http.sh needs root"
[[ -r /sys/kernel/mm/transparent_hugepage/enabled ]] || hp_skip_all "no THP on this kernel"
hp_setup "${1:-}"

snapshot() {
        cat /sys/kernel/mm/transparent_hugepage/enabled /sys/kernel/mm/transparent_hugepage/defrag
        for f in /sys/kernel/mm/hugepages/*/nr_hugepages /sys/kernel/mm/hugepages/*/nr_overcommit_hugepages; do
                echo "$f $(<"$f")"
        done
}
before=$(snapshot)

hp_start main "$HP_WORK/state" || hp_bail "cannot go on without a server"
hp_req -b '{"working_sets": ["64Mi"], "backings": ["base", "thp"], "rounds": 3, "max_seconds": 120}' POST /probe
check_status 202 "POST /probe: 202"
check "... with its Location" /probe/1 "$(hp_header Location)"
check_json "... and its id" '[d["id"], d["state"]]' '[1,"running"]'
hp_req -b '{}' POST /probe
if [[ "$HP_STATUS" == 409 ]]; then
        check_problem 409 "a second POST /probe while one runs: 409"
        check "... pointing at the running one" /probe/1 "$(hp_header Location)"
else
        skip "a second POST /probe while one runs" "the first had already finished ($HP_STATUS)"
fi
state=
for ((i = 0; i < 240; i++)); do
        hp_get /probe/1
        state=$(hp_py 'd["state"]')
        [[ "$state" != running ]] && break
        sleep 0.5
done
check "GET /probe/1: done" done "$state"
check_json "... base pages timed, and proven base (no AnonHugePages)" \
        '[[r["status"], r["proof"]["anon_huge_pages_kb"], r["ratio_to_base"]] for r in d["result"]["results"] if r["backing"] == "base"]' \
        '[["ok",0,1.0]]'
check_json "... THP timed, and proven backed by huge pages" \
        '[[r["status"] in ("ok", "partial"), r["proof"]["anon_huge_pages_kb"] > 0] for r in d["result"]["results"] if r["backing"] == "thp"]' \
        '[[true,true]]'
check_json "... medians and ratios are numbers" \
        'all(r["median_ns"] > 0 and r["ratio_to_base"] > 0 for r in d["result"]["results"])' true
check_json "... no pool was grown" 'd["result"]["pools"]' '[]'
hp_get /probe/2
check_problem 404 "GET /probe/2 (none such): 404"
hp_get /probe/01
check_problem 404 "GET /probe/01: 404"
hp_req -t nope-0123456789abcdef -b '{}' POST /probe
check_problem 401 "POST /probe without a valid token: 401"
hp_req -b '{"working_sets": "64Mi", "stride": "diagonal", "extra": 1}' POST /probe
check_problem 400 "a malformed probe request: 400"
check_json "... naming each field" 'sorted(e["pointer"] for e in d["errors"])' '["/extra","/stride","/working_sets"]'
hp_stop
check "THP settings and every pool are as before" "$before" "$(snapshot)"
hp_finish
