#!/usr/bin/env bash
# The probe over 64 MiB, 1 GiB and 4 GiB working sets, backed by base
# pages, THP, 2 MiB and 1 GiB hugetlb pages (the pools grown for the run and
# shrunk back: --grow-pool), and its table appended to bench/RESULTS.md
# with the machine and the load it ran under. Figures, never pass/fail.
#
# Memory: the probe maps the backings of one working set together when they
# fit under --max-memory; the 4 GiB set takes 4 GiB per backing. The bound
# is 12 GiB when MemAvailable allows it with room to spare (base, THP and
# 2 MiB then run interleaved, 1 GiB in a second group), else the probe's
# default, a quarter of MemAvailable (every backing of 4 GiB then runs in a
# group of its own). 1 GiB pages that the kernel cannot allocate at run
# time are reported as not obtained, and the pool given back.
#
# Needs root for the pools; without it, only base and THP are probed.
#
# Usage: bench/probe.sh [PATH-TO-hugepaged] [EXTRA PROBE OPTIONS…]
#   ROUNDS=N (default 7), STRIDE=page|line (default page),
#   RESULTS=FILE (default bench/RESULTS.md)
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
bin=${1:-$repo/build/hugepaged}
shift || true
rounds=${ROUNDS:-7}
stride=${STRIDE:-page}
results=${RESULTS:-$repo/bench/RESULTS.md}
if [[ ! -x $bin ]]; then
        echo "usage: $0 [PATH-TO-hugepaged] [PROBE OPTIONS…] (no $bin)" >&2
        exit 2
fi

work=$(mktemp -d)
pools_state() {
        local f
        for f in /sys/kernel/mm/hugepages/hugepages-*/{nr_hugepages,nr_overcommit_hugepages}; do
                [[ -e $f ]] && echo "$f $(<"$f")"
        done
        return 0
}
before=$(pools_state)
trap 'rm -rf "$work"' EXIT

backings=base,thp
grow=()
if [[ $(id -u) == 0 ]]; then
        # Smallest size first: with the bound below, 2 MiB pages share the
        # 4 GiB group with base pages and THP, and 1 GiB pages follow.
        [[ -d /sys/kernel/mm/hugepages/hugepages-2048kB ]] && backings+=,2Mi
        [[ -d /sys/kernel/mm/hugepages/hugepages-1048576kB ]] && backings+=,1Gi
        grow=(--grow-pool)
else
        echo "# not root: base and THP only (hugetlb pools need root)" >&2
fi

avail_kb=$(awk '$1 == "MemAvailable:" { print $2 }' /proc/meminfo)
bound=()
# 12 GiB at once, if that leaves at least 8 GiB besides (and stays under
# the probe's own ceiling of three quarters of MemAvailable).
if ((avail_kb >= 20 * 1024 * 1024)); then
        bound=(--max-memory 12Gi)
fi

sets=64Mi,1Gi,4Gi
cmd=("$bin" probe --state-dir "$work/state" --working-set "$sets" --backing "$backings" --stride "$stride"
        --rounds "$rounds" --max-seconds 1200 "${grow[@]}" "${bound[@]}" "$@")
echo "# ${cmd[*]}" >&2
load_before=$(cut -d' ' -f1-3 /proc/loadavg)
start=$(date +%s)
rc=0
"${cmd[@]}" >"$work/table" 2>"$work/err" || rc=$?
elapsed=$(($(date +%s) - start))
load_after=$(cut -d' ' -f1-3 /proc/loadavg)
cat "$work/table"
cat "$work/err" >&2
after=$(pools_state)
if [[ "$before" != "$after" ]]; then
        echo "# WARNING: the pools differ from before the run:" >&2
        diff <(echo "$before") <(echo "$after") >&2 || true
fi

if [[ ! -e $results ]]; then
        printf '# Benchmark results\n\nAppended by the scripts in bench/, newest last; see bench/README.md.\n' >"$results"
fi
{
        echo
        echo "## probe, $(date -u +%Y-%m-%dT%H:%MZ), $(uname -r)"
        echo
        echo "Machine: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//'), $(nproc) CPUs," \
                "MemTotal $(awk '$1 == "MemTotal:" { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo)," \
                "MemAvailable $(awk -v k="$avail_kb" 'BEGIN { printf "%.1f GiB", k / 1048576 }') before the run;" \
                "load average $load_before before, $load_after after; ${elapsed} s; exit status $rc."
        echo
        echo "Command: \`${cmd[*]/#$work\/state/STATE}\`"
        echo
        echo '```'
        cat "$work/table"
        [[ -s $work/err ]] && sed 's/^/stderr: /' "$work/err"
        echo '```'
        [[ "$before" == "$after" ]] || echo "**The pools differ from before the run.**"
} >>"$results"
echo "# appended to $results" >&2
exit "$rc"
