#!/usr/bin/env bash
# Integration test of `hugepaged probe` on the running kernel (no server):
# a 64 MiB working set backed by base pages, THP and 2 MiB hugetlb pages
# from a pool grown for the run (--grow-pool), whose results must carry the
# right proof of backing from /proc/self/smaps; afterwards the 2 MiB pool
# (nr_hugepages, nr_overcommit_hugepages, node0) and every THP setting must
# be exactly as before. Then: the default run that takes no pool, SIGTERM
# in the middle of a run (the pool is shrunk back), SIGKILL (the next run
# shrinks it back from the record), the lock, and usage errors.
#
# At most 256 MiB of 2 MiB pages and 256 MiB of base pages at a time.
# Every value it could change is saved first and put back on exit, even on
# failure. Runs only as root with a writable 2 MiB pool that no one uses.
#
# Usage: test-probe.sh PATH-TO-hugepaged
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

# No HTTP here: nothing to check against the OpenAPI contract.
hp_contract() { :; }

HUGEPAGES=/sys/kernel/mm/hugepages
POOL=$HUGEPAGES/hugepages-2048kB
THP=/sys/kernel/mm/transparent_hugepage
PROBE_TIMEOUT=150

if [[ -z "${1:-}" || ! -x "$1" ]]; then
        hp_setup "${1:-}" # prints the usage and exits 2
fi
if [[ $(id -u) != 0 ]]; then
        hp_skip_all "test-probe.sh needs root"
fi
if [[ ! -w $POOL/nr_hugepages ]] || ! (: >>"$POOL/nr_hugepages") 2>/dev/null; then
        hp_skip_all "$POOL/nr_hugepages is not writable here"
fi
if [[ $(<"$POOL/free_hugepages") != $(<"$POOL/nr_hugepages") || $(<"$POOL/resv_hugepages") != 0 ||
        $(<"$POOL/surplus_hugepages") != 0 ]]; then
        hp_skip_all "2Mi hugepages are in use or reserved on this host; not touching them"
fi

# --- save, and restore on exit ---------------------------------------------------

# Every pool's counters that a run could change, one "file value" a line.
pools_state() {
        local f
        for f in "$HUGEPAGES"/hugepages-*/{nr_hugepages,nr_overcommit_hugepages} \
                /sys/devices/system/node/node*/hugepages/hugepages-*/nr_hugepages; do
                [[ -e $f ]] && echo "$f $(<"$f")"
        done
        return 0
}

# Every THP setting (not the counters), "file: value" a line.
thp_state() {
        [[ -d $THP ]] || return 0
        find "$THP" -type f \( -name enabled -o -name defrag -o -name shmem_enabled -o -name use_zero_page \
                -o -name 'max_ptes_*' -o -name pages_to_scan -o -name '*_sleep_millisecs' \) -print0 |
                sort -z | xargs -0 grep -H . 2>/dev/null || true
}

SAVED_POOLS=$(pools_state)
SAVED_THP=$(thp_state)
SAVED_NR=$(<"$POOL/nr_hugepages")
SAVED_OVERCOMMIT=$(<"$POOL/nr_overcommit_hugepages")
PROBE_PIDS=()

restore() {
        local pid
        for pid in "${PROBE_PIDS[@]}"; do
                kill -KILL "$pid" 2>/dev/null || true
                wait "$pid" 2>/dev/null || true
        done
        # Pools: write back whatever differs (per node before global).
        local f v
        while read -r f v; do
                [[ -n "$f" && -e "$f" && $(<"$f") != "$v" ]] && { echo "$v" >"$f"; } 2>/dev/null
        done < <(grep /node/ <<<"$SAVED_POOLS"; grep -v /node/ <<<"$SAVED_POOLS")
        # THP: the probe never writes it; should it ever, put it back.
        local line file word
        while IFS= read -r line; do
                [[ -z "$line" ]] && continue
                file=${line%%:*}
                word=${line#*:}
                [[ "$word" == *\[* ]] && word=$(sed -n 's/.*\[\([^]]*\)\].*/\1/p' <<<"$word")
                [[ $(grep -H . "$file" 2>/dev/null) != "$line" ]] && { echo "$word" >"$file"; } 2>/dev/null
        done <<<"$SAVED_THP"
        return 0
}
# shellcheck disable=SC2317 # called from lib.sh's EXIT trap
hp_on_exit() {
        restore || true
}

hp_setup "$1"
STATE=$HP_WORK/state
PAGE_KB=$(($(getconf PAGESIZE) / 1024))

# probe ARGS…: runs the probe with the test's state dir; sets RC, OUT, ERR.
probe() {
        RC=0
        timeout "$PROBE_TIMEOUT" "$HP_BIN" probe --state-dir "$STATE" "$@" >"$HP_WORK/out" 2>"$HP_WORK/err" || RC=$?
        OUT=$(<"$HP_WORK/out")
        ERR=$(<"$HP_WORK/err")
}

# jq_py EXPR: EXPR over the last JSON output, as hp_py does for bodies.
jq_py() {
        HP_BODY_FILE=$HP_WORK/out hp_py "$1"
}

# check_json_out NAME EXPR EXPECTED: EXPR over the last JSON output.
check_json_out() { check "$1" "$3" "$(jq_py "$2")"; }

# The result for one backing: r('thp')['status'] …
R="(lambda b: [x for x in d['results'] if x['backing'] == b][0])"

check_pools_thp_unchanged() {
        check "$1: every pool is as before" "$SAVED_POOLS" "$(pools_state)"
        check "$1: 2Mi nr_hugepages is as before" "$SAVED_NR" "$(<"$POOL/nr_hugepages")"
        check "$1: 2Mi nr_overcommit_hugepages is as before" "$SAVED_OVERCOMMIT" "$(<"$POOL/nr_overcommit_hugepages")"
        check "$1: THP settings are as before" "$SAVED_THP" "$(thp_state)"
        check "$1: no pool record is left" "absent" "$([[ -e $STATE/probe-pools ]] && echo present || echo absent)"
}

# wait_pool_grown: until the 2Mi pool holds more than before (20 s at most).
wait_pool_grown() {
        local i
        for ((i = 0; i < 200; i++)); do
                (($(<"$POOL/nr_hugepages") > SAVED_NR)) && return 0
                sleep 0.1
        done
        return 1
}

# --- 64 MiB: base, THP, 2Mi from a temporary pool ---------------------------------

probe --working-set 64Mi --backing base,thp,2Mi --grow-pool --rounds 3 --json
check "64Mi: exit status" 0 "$RC"
[[ -n "$ERR" ]] && echo "# stderr: $ERR"
check_json_out "64Mi: three results, in order" "[x['backing'] for x in d['results']]" '["base","thp","2Mi"]'

# Base pages: the kernel's smallest page, no THP (MADV_NOHUGEPAGE: "nh").
check_json_out "base: ok" "$R('base')['status']" ok
check_json_out "base: KernelPageSize is the base page" "$R('base')['proof']['kernel_page_size_kb']" "$PAGE_KB"
check_json_out "base: AnonHugePages 0" "$R('base')['proof']['anon_huge_pages_kb']" 0
check_json_out "base: all 64Mi resident in base pages" "$R('base')['proof']['backed_bytes']" 67108864
check_json_out "base: THP refused for the mapping (nh)" "'nh' in $R('base')['proof']['vmflags'].split()" true
check_json_out "base: no hugetlb" \
        "$R('base')['proof']['shared_hugetlb_kb'] + $R('base')['proof']['private_hugetlb_kb']" 0
check_json_out "base: 3 timed rounds" "len($R('base')['ns_per_load'])" 3
check_json_out "base: min <= median <= max" \
        "0 < $R('base')['min_ns'] <= $R('base')['median_ns'] <= $R('base')['max_ns']" true
check_json_out "base: ratio to itself 1" "$R('base')['ratio_to_base']" 1.0
check_json_out "base: the same proof after the rounds" "$R('base')['proof_after'] == $R('base')['proof']" true

# THP: what the host's mode allows, and the status must say what smaps says.
thp_mode=$(sed -n 's/.*\[\([^]]*\)\].*/\1/p' "$THP/enabled" 2>/dev/null || true)
check_json_out "thp: asked for with MADV_HUGEPAGE (hg)" "'hg' in $R('thp')['proof']['vmflags'].split()" true
check_json_out "thp: backed_bytes is AnonHugePages" \
        "$R('thp')['proof']['backed_bytes'] == $R('thp')['proof']['anon_huge_pages_kb'] * 1024" true
check_json_out "thp: KernelPageSize stays the base page" "$R('thp')['proof']['kernel_page_size_kb']" "$PAGE_KB"
if [[ "$thp_mode" == always || "$thp_mode" == madvise ]]; then
        check_json_out "thp: ok or partial (THP enabled [$thp_mode])" "$R('thp')['status'] in ('ok', 'partial')" true
        check_json_out "thp: ok means all of it in huge pages" \
                "$R('thp')['status'] != 'ok' or $R('thp')['proof']['anon_huge_pages_kb'] * 1024 == $R('thp')['proof']['mapped_bytes']" true
        check_json_out "thp: some of it in huge pages" "$R('thp')['proof']['anon_huge_pages_kb'] > 0" true
        check_json_out "thp: timed" "len($R('thp')['ns_per_load'])" 3
        check_json_out "thp: a ratio to base" "$R('thp')['ratio_to_base'] > 0" true
else
        check_json_out "thp: not obtained (THP enabled [$thp_mode])" "$R('thp')['status']" not-obtained
        check_json_out "thp: not timed" "len($R('thp')['ns_per_load'])" 0
fi

# 2Mi hugetlb: KernelPageSize 2048 kB and 64 MiB of hugetlb pages, under
# either name.
check_json_out "2Mi: ok" "$R('2Mi')['status']" ok
check_json_out "2Mi: KernelPageSize 2048 kB" "$R('2Mi')['proof']['kernel_page_size_kb']" 2048
check_json_out "2Mi: MMUPageSize 2048 kB" "$R('2Mi')['proof']['mmu_page_size_kb']" 2048
check_json_out "2Mi: 64Mi in hugetlb pages (Shared_Hugetlb + Private_Hugetlb)" \
        "$R('2Mi')['proof']['shared_hugetlb_kb'] + $R('2Mi')['proof']['private_hugetlb_kb']" 65536
check_json_out "2Mi: a hugetlb mapping (ht)" "'ht' in $R('2Mi')['proof']['vmflags'].split()" true
check_json_out "2Mi: no THP" "$R('2Mi')['proof']['anon_huge_pages_kb']" 0
check_json_out "2Mi: timed" "len($R('2Mi')['ns_per_load'])" 3
check_json_out "2Mi: a ratio to base" "$R('2Mi')['ratio_to_base'] > 0" true
check_json_out "2Mi: the pool grew by 32 pages and came back" \
        "[(p['size'], p['before'], p['asked'], p['got'], p['after'], p['restored']) for p in d['pools']]" \
        "[[\"2Mi\",$SAVED_NR,$((SAVED_NR + 32)),32,$SAVED_NR,true]]"
check_json_out "the counters say whether they exist" "isinstance(d['machine']['counters'], bool) and len(d['machine']['counters_note']) > 0" true
check_json_out "pinned to one CPU" "d['machine']['cpu'] >= 0" true
echo "# 64Mi medians (ns per load): $(jq_py "{x['backing']: round(x.get('median_ns', 0), 1) for x in d['results']}")"
echo "# counters: $(jq_py "d['machine']['counters_note']")"
check_pools_thp_unchanged "after --grow-pool"

# --- groups: a bound that holds two of the three at once -------------------------------

# Base and THP (64Mi each) fill a bound of 128Mi; the 2Mi pages go in a
# second group with base pages measured again beside them.
probe --working-set 64Mi --backing base,thp,2Mi --grow-pool --rounds 2 --max-memory 128Mi --json
check "groups: exit status" 0 "$RC"
check_json_out "groups: base and THP in group 1, 2Mi in group 2" "[x['group'] for x in d['results']]" "[1,1,2]"
check_json_out "groups: 2Mi is ok" "$R('2Mi')['status']" ok
check_json_out "groups: 2Mi's ratio is against base pages of its own group" \
        "($R('2Mi')['base_group'], $R('2Mi')['base_median_ns'] != $R('base')['median_ns'])" "[2,true]"
check_json_out "groups: THP's ratio is against group 1's base pages" \
        "$R('thp')['status'] == 'not-obtained' or ($R('thp')['base_group'], $R('thp')['base_median_ns'] == $R('base')['median_ns']) == (1, True)" true
check_json_out "groups: a note gives the second base pages" \
        "any(n.startswith('group 2 (64Mi): base pages were measured again beside it') for n in d['notes'])" true
check_pools_thp_unchanged "after the groups"

# --- the default: free pages only ---------------------------------------------------

free=$(($(<"$POOL/free_hugepages") - $(<"$POOL/resv_hugepages")))
probe --working-set 64Mi --backing base,2Mi --rounds 1 --json
check "no --grow-pool: exit status" 0 "$RC"
if ((free < 32)); then
        check_json_out "no --grow-pool: 2Mi skipped, not timed" "($R('2Mi')['status'], len($R('2Mi')['ns_per_load']))" '["skipped",0]'
        check_json_out "no --grow-pool: the reason names the pages" \
                "'needs 32 free 2Mi pages' in $R('2Mi')['reason']" true
        check_json_out "no --grow-pool: a note says 2Mi was not tested" \
                "any(n.startswith('2Mi: not tested') for n in d['notes'])" true
else
        skip "no --grow-pool: 2Mi skipped" "the pool has $free free pages already"
fi
check_json_out "no --grow-pool: no pool touched" "d['pools']" "[]"
check_pools_thp_unchanged "after the default run"

# The table: a readable line per backing.
probe --working-set 64Mi --backing base,thp,2Mi --grow-pool --rounds 1
check "table: exit status" 0 "$RC"
check_match "table: a header" "WORKING SET +BACKING +STATUS" "$OUT"
check_match "table: the base row" $'\n64Mi +base +ok +1 ' "$OUT"
check_match "table: the 2Mi row shows its proof" "64Mi +2Mi +ok .*KernelPageSize 2048 kB" "$OUT"
check_match "table: the pool line" "Pool 2Mi( on node [0-9]+)?: $SAVED_NR -> $((SAVED_NR + 32)) persistent pages .* shrunk back to $SAVED_NR" "$OUT"
check_match "table: what the counters are, or why none" "(Counters: |C1: )" "$OUT"
check_pools_thp_unchanged "after the table"

# --- interrupted ------------------------------------------------------------------------

# start_long: a run of 256Mi base and 2Mi pages, 100 rounds, in the background.
start_long() {
        "$HP_BIN" probe --state-dir "$STATE" --working-set 256Mi --backing base,2Mi --grow-pool --rounds 100 \
                --max-seconds 120 --json >"$HP_WORK/long.out" 2>"$HP_WORK/long.err" &
        LONG=$!
        PROBE_PIDS+=("$LONG")
}

start_long
if wait_pool_grown; then
        ok "SIGTERM: the pool grew for the run"
        check "SIGTERM: the pool record is written" present "$([[ -e $STATE/probe-pools ]] && echo present || echo absent)"
        sleep 1
        kill -TERM "$LONG"
        rc=0
        wait "$LONG" || rc=$?
        check "SIGTERM: exit status 1" 1 "$rc"
        check_match "SIGTERM: says it was interrupted" "interrupted" "$(<"$HP_WORK/long.err")"
        cp "$HP_WORK/long.out" "$HP_WORK/out"
        check_json_out "SIGTERM: the JSON says cancelled" "d['cancelled']" true
        check_json_out "SIGTERM: the pool was shrunk back" "[p['restored'] for p in d['pools']]" "[true]"
        check_json_out "SIGTERM: unfinished cells say so" \
                "all(x['status'] in ('cancelled', 'skipped', 'not-obtained') for x in d['results'])" true
else
        notok "SIGTERM: the pool grew for the run" "$(<"$HP_WORK/long.err")"
        kill -TERM "$LONG" 2>/dev/null || true
        wait "$LONG" 2>/dev/null || true
fi
check_pools_thp_unchanged "after SIGTERM"

start_long
if wait_pool_grown; then
        sleep 1
        kill -KILL "$LONG"
        wait "$LONG" 2>/dev/null || true
        check "SIGKILL: the pool stays grown" $((SAVED_NR + 128)) "$(<"$POOL/nr_hugepages")"
        check "SIGKILL: the pool record is left" present "$([[ -e $STATE/probe-pools ]] && echo present || echo absent)"
        probe --working-set 1Mi --backing base --rounds 1 --json
        check "SIGKILL: the next run succeeds" 0 "$RC"
        check_json_out "SIGKILL: the next run shrank the pool back and says so" \
                "any('did not finish' in n and 'shrunk back' in n for n in d['notes'])" true
else
        notok "SIGKILL: the pool grew for the run" "$(<"$HP_WORK/long.err")"
        kill -KILL "$LONG" 2>/dev/null || true
        wait "$LONG" 2>/dev/null || true
fi
check_pools_thp_unchanged "after SIGKILL and the next run"

# --- one at a time ----------------------------------------------------------------------

"$HP_BIN" probe --state-dir "$STATE" --working-set 64Mi --backing base --rounds 100 --max-seconds 60 \
        >"$HP_WORK/long.out" 2>"$HP_WORK/long.err" &
LONG=$!
PROBE_PIDS+=("$LONG")
# Wait until the first one holds the lock: it writes its pid into the lock
# file once it has it. (Not with flock(1): that takes the lock for an
# instant, and a probe that tries just then is refused.)
for ((i = 0; i < 100; i++)); do
        [[ "$(head -n1 "$STATE/probe.lock" 2>/dev/null)" == "pid $LONG" ]] && break
        sleep 0.1
done
held=no
kill -0 "$LONG" 2>/dev/null && [[ "$(head -n1 "$STATE/probe.lock" 2>/dev/null)" == "pid $LONG" ]] && held=yes
[[ $held == yes ]] || held="no: $(tail -c 600 "$HP_WORK/long.err" | tr '\n' ' ')"
check "lock: the first probe runs and holds the lock" yes "$held"
probe --working-set 1Mi --backing base --rounds 1
check "lock: a second probe is refused" 1 "$RC"
[[ $RC == 1 ]] || echo "# the first probe's stderr: $(tail -c 600 "$HP_WORK/long.err" | tr '\n' ' ')"
check_match "lock: it says who holds the lock" "another probe is running \\(pid $LONG holds" "$ERR"
kill -TERM "$LONG" 2>/dev/null || true
rc=0
wait "$LONG" || rc=$?
check "lock: the first stops on SIGTERM with status 1" 1 "$rc"

# --- usage --------------------------------------------------------------------------------

probe --stride word
check "usage: --stride word" 2 "$RC"
probe --working-set 1Mi --backing 3Mi
check "usage: a size the kernel lacks" 2 "$RC"
check_match "usage: it names the sizes there are" "no 3Mi hugepages \\(it has .*2Mi" "$ERR"
probe --working-set 1Mi,1Mi
check "usage: a working set twice" 2 "$RC"
probe --working-set 64Ti
check "usage: a working set over the memory bound" 2 "$RC"
check_match "usage: it names the bound" "over the memory bound" "$ERR"
probe --rounds 0
check "usage: --rounds 0" 2 "$RC"
probe --help
check "usage: --help" 0 "$RC"
check_match "usage: --help names --grow-pool" "--grow-pool" "$OUT"
check_pools_thp_unchanged "at the end"

hp_finish
