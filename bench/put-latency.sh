#!/usr/bin/env bash
# PUT /config latency with the journal's fdatasync, on a fake sysfs tree (so
# the kernel's own allocation time is not in it), against GET /healthz on
# the same keep-alive connection as the baseline. Prints figures; asserts
# nothing.
#
# Usage: bench/put-latency.sh PATH-TO-hugepaged [ROUNDS]
set -euo pipefail
bin=$1 rounds=${2:-200}
repo=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d)
trap 'kill "$pid" 2>/dev/null; wait "$pid" 2>/dev/null; [[ -n "${KEEP:-}" ]] || rm -rf "$work"' EXIT
cp -r "$repo/tests/fixtures/x86-2node" "$work/fx"
"$bin" --listen 127.0.0.1:0 --state-dir "$work/state" --sysfs-root "$work/fx/sys" --procfs-root "$work/fx/proc" \
        >"$work/log" 2>&1 &
pid=$!
for _ in $(seq 100); do grep -q 'listening on' "$work/log" && break; sleep 0.05; done
url=https://$(sed -n 's|.*listening on https://||p' "$work/log")
token=$(cat "$work/state/token")

# One curl, one connection, many requests (--next keeps the connection).
put_cfg=$work/put.cfg get_cfg=$work/get.cfg
: >"$put_cfg"; : >"$get_cfg"
for ((i = 0; i < rounds; i++)); do
        [[ $i == 0 ]] || { echo "next" >>"$put_cfg"; echo "next" >>"$get_cfg"; }
        printf 'url = "%s/config"\nrequest = "PUT"\ndata = "{\\"pools\\": {\\"2Mi\\": {\\"count\\": %d}}}"\n' \
                "$url" $((600 + i % 2)) >>"$put_cfg"
        printf 'header = "Content-Type: application/json"\nheader = "Authorization: Bearer %s"\n' "$token" >>"$put_cfg"
        printf 'cacert = "%s"\noutput = "/dev/null"\nwrite-out = "%%{time_starttransfer} %%{time_pretransfer}\\n"\n' \
                "$work/state/tls.crt" >>"$put_cfg"
        printf 'url = "%s/healthz"\ncacert = "%s"\noutput = "/dev/null"\nwrite-out = "%%{time_starttransfer} %%{time_pretransfer}\\n"\n' \
                "$url" "$work/state/tls.crt" >>"$get_cfg"
done
stats() { # label file: the server's time per request (starttransfer - pretransfer), in ms
        awk '{ print ($1 - $2) * 1000 }' "$2" | sort -n | awk -v label="$1" '
                { v[NR] = $1 }
                END {
                        p99 = int(NR * 0.99) + 1
                        if (p99 > NR) p99 = NR
                        printf "%-26s n=%d p50 %.3f ms  p99 %.3f ms  max %.3f ms\n", label, NR, v[int(NR / 2) + 1], v[p99], v[NR]
                }'
}
median() {
        awk '{ print ($1 - $2) * 1000 }' "$1" | sort -n | awk '{ v[NR] = $1 } END { print v[int(NR / 2) + 1] }'
}
curl -s -K "$get_cfg" >"$work/get.times"
curl -s -K "$put_cfg" >"$work/put.times"
stats "GET /healthz (baseline)" "$work/get.times"
stats "PUT /config (journal)" "$work/put.times"
awk -v g="$(median "$work/get.times")" -v p="$(median "$work/put.times")" 'BEGIN { printf "ratio of p50s: %.1fx\n", p / g }'
echo "journal records written: $(wc -l <"$work/state/journal")"
