#!/usr/bin/env bash
# The benchmark harness (issue 8): one run on loopback that measures
# hugepaged beside the baselines that bound it, prints a table with the
# ratios and the targets, and appends it to bench/RESULTS.md with the date,
# the machine and the commit. Figures, never pass/fail: the exit status is
# 0 whenever the run itself worked.
#
# What runs (every server on 127.0.0.1, a free port, the same certificate
# and key: the one hugepaged made for itself):
#   - hugepaged (a release build made here, on a copy of the fake tree
#     tests/fixtures/x86-2node), GET /status, /sizes and /metrics;
#   - bench/bare-mhd.c: libmicrohttpd set up as server/http.c sets it up
#     (threads, options, GnuTLS priorities), answering the same bytes as a
#     static buffer: the framework's ceiling;
#   - nginx serving the same bytes as static files over TLS 1.2/1.3 with the
#     same AEAD ciphers, server preference;
#   - prometheus-node-exporter with only its meminfo collectors, /metrics,
#     over TLS with the same certificate (--web.config.file; Go's TLS stack,
#     so the suites are Go's choice within TLS 1.2/1.3);
#   each with wrk at 1 and 32 connections, keep-alive and "Connection:
#   close", DURATION seconds each: requests per second, p50 and p99, errors,
#   the server's CPU per request (utime+stime over the run / requests) and
#   its RSS idle and the largest seen under load.
#   - the floor (bench/floor.c): open/read/close of the files one status
#     reads, and the same files kept open and read with pread, on the fake
#     tree and on this machine's /sys;
#   - READY=1 after exec, through a NOTIFY_SOCKET;
#   - the store: journal replay of 10,000 records (bench-journal) and
#     PUT /config on the fake tree with its fdatasyncs (bench/put-latency.sh);
#   - apply on the real kernel: a 2Mi pool of POOL_MIB grown by PUT /config,
#     by "echo N > nr_hugepages" and by "hugeadm --pool-pages-min 2M:N",
#     ROUNDS each, medians; every pool value is put back afterwards (trap),
#     and the part is skipped, with a line saying why, when not root, when
#     the pool is not writable or when any 2Mi page is in use or reserved.
#
# Usage: bench/run.sh [--no-results] [--no-kernel]
#   DURATION=S (wrk seconds per run, default 3), POOL_MIB (default 256),
#   ROUNDS (apply rounds, default 5), BUILD_DIR (default a directory under
#   ${TMPDIR:-/tmp} named after the checkout), KEEP=1 keeps the work dir.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
DURATION=${DURATION:-3}
POOL_MIB=${POOL_MIB:-256}
ROUNDS=${ROUNDS:-5}
write_results=1 kernel=1
for a in "$@"; do
        case $a in
        --no-results) write_results= ;;
        --no-kernel) kernel= ;;
        *) echo "usage: $0 [--no-results] [--no-kernel]" >&2; exit 2 ;;
        esac
done
for tool in wrk nginx prometheus-node-exporter curl openssl python3 cmake cc pkg-config; do
        command -v "$tool" >/dev/null || { echo "bench: $tool is missing (see scripts/deps.sh)" >&2; exit 2; }
done
build=${BUILD_DIR:-${TMPDIR:-/tmp}/hugepaged-bench-$(basename "$repo")-$(id -u)}
work=$(mktemp -d)
started=$(date +%s)

PIDS=()
POOL_SAVED=
cleanup() {
        local p
        for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
        for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
        if [[ -n $POOL_SAVED ]]; then
                # Every pool value back as it was (the per-node ones too).
                local f v
                while read -r f v; do
                        [[ $(<"$f") == "$v" ]] || echo "$v" >"$f" 2>/dev/null ||
                                echo "bench: WARNING: cannot restore $f to $v" >&2
                done <"$POOL_SAVED"
                while read -r f v; do
                        [[ $(<"$f") == "$v" ]] || echo "bench: WARNING: $f is $(<"$f"), was $v" >&2
                done <"$POOL_SAVED"
        fi
        [[ -n ${KEEP:-} ]] && echo "bench: work dir kept: $work" >&2 || rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

say() { printf '# %s\n' "$*" >&2; }

# --- build ---------------------------------------------------------------------------------

say "building a release binary in $build"
cmake -S "$repo" -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DBUILD_TESTING=OFF >"$work/cmake.log" 2>&1 &&
        cmake --build "$build" -j"$(nproc)" --target hugepaged bench-journal >>"$work/cmake.log" 2>&1 ||
        { tail -30 "$work/cmake.log" >&2; exit 1; }
BIN=$build/hugepaged
cc -O2 -Wall -Wextra -Werror -o "$work/bare-mhd" "$repo/bench/bare-mhd.c" \
        $(pkg-config --cflags --libs libmicrohttpd) -lpthread
cc -O2 -Wall -Wextra -Werror -o "$work/floor" "$repo/bench/floor.c"

# --- helpers ---------------------------------------------------------------------------------

free_port() {
        python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}
# The process and its children (nginx's workers).
family() {
        local p=$1
        echo "$p"
        ps -o pid= --ppid "$p" 2>/dev/null | tr -d ' ' || true
}
# Sum of utime+stime in clock ticks over the pids given.
cpu_ticks() {
        local p sum=0 rest
        for p in "$@"; do
                rest=$(sed 's/^.*) //' "/proc/$p/stat" 2>/dev/null) || continue
                # shellcheck disable=SC2086
                set -- $rest
                sum=$((sum + ${12} + ${13}))
        done
        echo "$sum"
}
# "RSS ANON FILE PSS" in kB, summed over the pids given (smaps_rollup).
mem_kb() {
        local p
        for p in "$@"; do cat "/proc/$p/smaps_rollup" 2>/dev/null || true; done |
                awk '$1 == "Rss:" { r += $2 } $1 == "Anonymous:" { a += $2 } $1 == "Pss:" { p += $2 }
                     END { printf "%d %d %d %d\n", r, a, r - a, p }'
}
TICK_US=$((1000000 / $(getconf CLK_TCK)))
mib() { awk -v k="$1" 'BEGIN { printf "%.1f", k / 1024 }'; }

# wrk_run NAME URL CONNS MODE PID: one wrk run against the server of PID
# (and its children), a line in $work/runs: NAME PATH CONNS MODE RPS P50
# P99 ERRORS CPU_US_PER_REQ LOAD_RSS_KB.
wrk_run() {
        local name=$1 url=$2 conns=$3 mode=$4 pid=$5 threads=1 hdr=()
        ((conns > 1)) && threads=2
        [[ $mode == close ]] && hdr=(-H 'Connection: close')
        local pids
        mapfile -t pids < <(family "$pid")
        local t0 out peak=0 rss
        t0=$(cpu_ticks "${pids[@]}")
        wrk -t"$threads" -c"$conns" -d"${DURATION}s" --latency -H "Authorization: Bearer $TOKEN" "${hdr[@]}" \
                "$url" >"$work/wrk.out" 2>&1 &
        local wpid=$!
        while kill -0 "$wpid" 2>/dev/null; do
                sleep 0.25
                rss=$(mem_kb "${pids[@]}" | cut -d' ' -f1)
                ((rss > peak)) && peak=$rss
        done
        wait "$wpid" || { cat "$work/wrk.out" >&2; return 1; }
        local t1
        t1=$(cpu_ticks "${pids[@]}")
        out=$(<"$work/wrk.out")
        awk -v name="$name" -v path="${url#https://*/}" -v conns="$conns" -v mode="$mode" -v ticks=$((t1 - t0)) \
                -v tick_us="$TICK_US" -v peak="$peak" '
                function ms(v) {
                        if (v ~ /us$/) return v * 0.001
                        if (v ~ /ms$/) return v + 0
                        if (v ~ /m$/) return v * 60000
                        if (v ~ /s$/) return v * 1000
                        return v + 0
                }
                $1 == "50%" { p50 = ms($2) }
                $1 == "99%" { p99 = ms($2) }
                / requests in / { n = $1 }
                $1 == "Requests/sec:" { rps = $2 }
                /Socket errors/ { gsub(/,/, ""); err += $4 + $6 + $8 + $10 }
                /Non-2xx/ { err += $NF }
                END {
                        cpu = n > 0 ? ticks * tick_us / n : 0
                        printf "%s /%s %d %s %.0f %.3f %.3f %d %.1f %d\n", name, path, conns, mode, rps, p50, p99, err, cpu, peak
                }' <<<"$out" >>"$work/runs"
        tail -1 "$work/runs" | awk '{ printf "#   %-14s %-9s c%-3s %-10s %8s req/s  p50 %7s ms  p99 %7s ms  errors %s  cpu %s us/req\n", $1, $2, $3, $4, $5, $6, $7, $8, $9 }' >&2
}
wait_for() { # FILE REGEX PID: until FILE has a line matching REGEX (10 s)
        local i
        for ((i = 0; i < 200; i++)); do
                grep -q -- "$2" "$1" 2>/dev/null && return 0
                kill -0 "$3" 2>/dev/null || { cat "$1" >&2; return 1; }
                sleep 0.05
        done
        cat "$1" >&2
        return 1
}
cipher_of() { # HOST:PORT: the protocol and suite a default OpenSSL client gets
        openssl s_client -connect "$1" </dev/null 2>/dev/null |
                sed -n 's/^New, \(.*\), Cipher is \(.*\)$/\1 \2/p' | head -1
}

# --- the floor, before any server runs --------------------------------------------------------

cp -r "$repo/tests/fixtures/x86-2node" "$work/fx"
read -r _ _ FLOOR_FILES FLOOR_OPEN < <("$work/floor" "$work/fx/sys" "$work/fx/proc" 2000 | grep ' open ')
read -r _ _ _ FLOOR_PREAD < <("$work/floor" "$work/fx/sys" "$work/fx/proc" 2000 | grep ' pread ')
read -r _ _ REAL_FILES REAL_OPEN < <("$work/floor" /sys /proc 1000 | grep ' open ')
read -r _ _ _ REAL_PREAD < <("$work/floor" /sys /proc 1000 | grep ' pread ')
say "floor: fake tree $FLOOR_FILES files: open/read/close $FLOOR_OPEN us, kept open + pread $FLOOR_PREAD us; /sys $REAL_FILES files: $REAL_OPEN us, $REAL_PREAD us"

# --- hugepaged ---------------------------------------------------------------------------------

STATE=$work/state
"$BIN" serve --listen 127.0.0.1:0 --state-dir "$STATE" --sysfs-root "$work/fx/sys" --procfs-root "$work/fx/proc" \
        --max-connections-per-client 64 >"$work/hp.log" 2>&1 &
HP=$!
PIDS+=("$HP")
wait_for "$work/hp.log" 'listening on' "$HP"
HP_PORT=$(sed -n 's#.*listening on https://[^ ]*:\([0-9]*\)$#\1#p' "$work/hp.log")
TOKEN=$(<"$STATE/token")
CERT=$STATE/tls.crt KEY=$STATE/tls.key
mkdir -p "$work/www"
for p in status sizes metrics; do
        curl -sf --cacert "$CERT" -H "Authorization: Bearer $TOKEN" -o "$work/www/$p" \
                -w '%{content_type}\n' "https://127.0.0.1:$HP_PORT/$p" >"$work/www/$p.type"
done
say "captured: status $(wc -c <"$work/www/status") B, sizes $(wc -c <"$work/www/sizes") B, metrics $(wc -c <"$work/www/metrics") B"
sleep 1
HP_IDLE=$(mem_kb "$HP")

# --- the bare libmicrohttpd program --------------------------------------------------------------

cp "$work/www/status" "$work/status.json"
cp "$work/www/sizes" "$work/sizes.json"
cp "$work/www/metrics" "$work/metrics.txt"
"$work/bare-mhd" "$CERT" "$KEY" "$work/status.json" "$work/sizes.json" \
        "$work/metrics.txt=$(<"$work/www/metrics.type")" >"$work/bare.log" 2>&1 &
BARE=$!
PIDS+=("$BARE")
wait_for "$work/bare.log" 'listening on' "$BARE"
BARE_PORT=$(sed -n 's/^listening on //p' "$work/bare.log")
cmp -s <(curl -sf --cacert "$CERT" "https://127.0.0.1:$BARE_PORT/status") "$work/www/status" ||
        { echo "bench: the bare server does not serve the captured /status" >&2; exit 1; }

# --- nginx ---------------------------------------------------------------------------------------

NGINX_PORT=$(free_port)
mkdir -p "$work/nginx"
chmod 0755 "$work" "$work/www"
chmod 0644 "$work"/www/*
cat >"$work/nginx/nginx.conf" <<EOF
daemon off;
worker_processes $(nproc);
pid $work/nginx/nginx.pid;
error_log $work/nginx/error.log warn;
events { worker_connections 1024; }
http {
        access_log off;
        client_body_temp_path $work/nginx/body;
        proxy_temp_path $work/nginx/proxy;
        fastcgi_temp_path $work/nginx/fastcgi;
        uwsgi_temp_path $work/nginx/uwsgi;
        scgi_temp_path $work/nginx/scgi;
        keepalive_requests 100000000;
        server {
                listen 127.0.0.1:$NGINX_PORT ssl;
                ssl_certificate $CERT;
                ssl_certificate_key $KEY;
                ssl_protocols TLSv1.2 TLSv1.3;
                ssl_ciphers ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305;
                ssl_conf_command Ciphersuites TLS_AES_256_GCM_SHA384:TLS_AES_128_GCM_SHA256:TLS_CHACHA20_POLY1305_SHA256;
                ssl_prefer_server_ciphers on;
                root $work/www;
                add_header Cache-Control no-store;
                add_header X-Content-Type-Options nosniff;
                add_header Strict-Transport-Security max-age=31536000;
                location = /metrics { default_type "$(<"$work/www/metrics.type")"; }
                location / { default_type application/json; }
        }
}
EOF
nginx -c "$work/nginx/nginx.conf" -p "$work/nginx" -e "$work/nginx/error.log" >"$work/nginx.log" 2>&1 &
NGINX=$!
PIDS+=("$NGINX")
for ((i = 0; i < 100; i++)); do
        curl -sf --cacert "$CERT" -o /dev/null "https://127.0.0.1:$NGINX_PORT/status" && break
        kill -0 "$NGINX" 2>/dev/null || { cat "$work/nginx.log" "$work/nginx/error.log" >&2; exit 1; }
        sleep 0.05
done
cmp -s <(curl -sf --cacert "$CERT" "https://127.0.0.1:$NGINX_PORT/status") "$work/www/status" ||
        { echo "bench: nginx does not serve the captured /status" >&2; cat "$work/nginx/error.log" >&2; exit 1; }

# --- node_exporter -------------------------------------------------------------------------------

NE_PORT=$(free_port)
printf 'tls_server_config:\n  cert_file: %s\n  key_file: %s\n  min_version: TLS12\n' "$CERT" "$KEY" >"$work/ne-web.yml"
prometheus-node-exporter --web.listen-address="127.0.0.1:$NE_PORT" --web.config.file="$work/ne-web.yml" \
        --collector.disable-defaults --collector.meminfo --collector.meminfo_numa >"$work/ne.log" 2>&1 &
NE=$!
PIDS+=("$NE")
for ((i = 0; i < 100; i++)); do
        curl -sf --cacert "$CERT" -o "$work/ne.metrics" "https://127.0.0.1:$NE_PORT/metrics" && break
        kill -0 "$NE" 2>/dev/null || { cat "$work/ne.log" >&2; exit 1; }
        sleep 0.05
done
grep -q '^node_memory_MemTotal_bytes' "$work/ne.metrics" ||
        { echo "bench: node_exporter serves no meminfo metrics" >&2; exit 1; }
say "node_exporter /metrics: $(wc -c <"$work/ne.metrics") B"

sleep 1
BARE_IDLE=$(mem_kb "$BARE")
mapfile -t NGINX_PIDS < <(family "$NGINX")
NGINX_IDLE=$(mem_kb "${NGINX_PIDS[@]}")
NE_IDLE=$(mem_kb "$NE")
CIPHERS="hugepaged: $(cipher_of "127.0.0.1:$HP_PORT"); bare MHD: $(cipher_of "127.0.0.1:$BARE_PORT"); nginx: $(cipher_of "127.0.0.1:$NGINX_PORT"); node_exporter: $(cipher_of "127.0.0.1:$NE_PORT")"
say "TLS: $CIPHERS"

# --- load ----------------------------------------------------------------------------------------

: >"$work/runs"
say "wrk: ${DURATION} s per run"
for conns in 1 32; do
        for mode in keepalive close; do
                for p in status sizes metrics; do
                        wrk_run hugepaged "https://127.0.0.1:$HP_PORT/$p" "$conns" "$mode" "$HP"
                done
                for p in status sizes metrics; do
                        wrk_run bare-mhd "https://127.0.0.1:$BARE_PORT/$p" "$conns" "$mode" "$BARE"
                done
                wrk_run nginx "https://127.0.0.1:$NGINX_PORT/status" "$conns" "$mode" "$NGINX"
                wrk_run node_exporter "https://127.0.0.1:$NE_PORT/metrics" "$conns" "$mode" "$NE"
        done
done
# A status after all that load must still be the service's current one.
curl -sf --cacert "$CERT" -H "Authorization: Bearer $TOKEN" "https://127.0.0.1:$HP_PORT/status" |
        cmp -s - "$work/www/status" || say "note: /status changed during the run (holders or time fields)"
HP_AFTER=$(mem_kb "$HP")

# --- READY=1 after exec --------------------------------------------------------------------------

mkdir -p "$work/ready-state"
cp "$CERT" "$KEY" "$STATE/token" "$work/ready-state/"
READY=$(python3 - "$BIN" "$work/ready-state" "$work/fx" "$work/notify.sock" <<'EOF'
import os, socket, statistics, subprocess, sys, time
binary, state, fx, path = sys.argv[1:]
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(path)
s.settimeout(5)
times = []
for i in range(11):
    env = dict(os.environ, NOTIFY_SOCKET=path)
    t0 = time.monotonic()
    p = subprocess.Popen([binary, "serve", "--listen", "127.0.0.1:0", "--state-dir", state,
                          "--sysfs-root", fx + "/sys", "--procfs-root", fx + "/proc"],
                         env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        while True:
            data = s.recv(4096).decode()
            if "READY=1" in data.split("\n"):
                times.append((time.monotonic() - t0) * 1000)
                break
    finally:
        p.terminate()
        p.wait()
print("%.1f %.1f %.1f" % (statistics.median(times), min(times), max(times)))
EOF
)
read -r READY_MED READY_MIN READY_MAX <<<"$READY"
say "READY=1 after exec: median $READY_MED ms (min $READY_MIN, max $READY_MAX), 11 starts"

# --- the store -----------------------------------------------------------------------------------

replays=()
for i in 1 2 3; do
        replays+=("$("$build/bench-journal" "$(mktemp -d "$work/journal.XXXXXX")" |
                sed -n 's/^replay at open ([0-9]* records): \([0-9.]*\) ms.*/\1/p')")
done
REPLAY=$(printf '%s\n' "${replays[@]}" | sort -n | sed -n 2p)
say "journal replay of 10,000 records: ${replays[*]} ms (median $REPLAY)"
put_out=$(bash "$repo/bench/put-latency.sh" "$BIN" 200)
PUT_FAKE=$(sed -n 's/^PUT \/config (journal) *n=[0-9]* p50 \([0-9.]*\) ms  p99 \([0-9.]*\) ms.*/\1 \2/p' <<<"$put_out")
read -r PUT_FAKE_P50 PUT_FAKE_P99 <<<"$PUT_FAKE"
say "PUT /config on the fake tree: p50 $PUT_FAKE_P50 ms, p99 $PUT_FAKE_P99 ms"

# --- apply on the real kernel ----------------------------------------------------------------------

KERNEL_LINE=
POOL=/sys/kernel/mm/hugepages/hugepages-2048kB
kernel_skip() { KERNEL_LINE="skipped: $*"; say "apply on the real kernel $KERNEL_LINE"; }
if [[ -z $kernel ]]; then
        kernel_skip "--no-kernel"
elif [[ $(id -u) != 0 ]]; then
        kernel_skip "not root"
elif [[ ! -w $POOL/nr_hugepages ]] || ! (: >>"$POOL/nr_hugepages") 2>/dev/null; then
        kernel_skip "$POOL/nr_hugepages is not writable"
elif [[ $(<"$POOL/free_hugepages") != "$(<"$POOL/nr_hugepages")" || $(<"$POOL/resv_hugepages") != 0 ||
        $(<"$POOL/surplus_hugepages") != 0 ]]; then
        kernel_skip "2Mi pages are in use (nr $(<"$POOL/nr_hugepages"), free $(<"$POOL/free_hugepages"), resv $(<"$POOL/resv_hugepages"), surplus $(<"$POOL/surplus_hugepages"))"
elif ! command -v hugeadm >/dev/null; then
        kernel_skip "hugeadm is missing"
else
        POOL_SAVED=$work/pool.saved
        for f in /sys/kernel/mm/hugepages/hugepages-*/{nr_hugepages,nr_overcommit_hugepages} \
                /sys/devices/system/node/node*/hugepages/hugepages-*/nr_hugepages; do
                [[ -e $f ]] && echo "$f $(<"$f")"
        done >"$POOL_SAVED"
        base=$(<"$POOL/nr_hugepages")
        target=$((base + POOL_MIB / 2))
        KSTATE=$work/kstate
        "$BIN" serve --listen 127.0.0.1:0 --state-dir "$KSTATE" >"$work/hpk.log" 2>&1 &
        HPK=$!
        PIDS+=("$HPK")
        wait_for "$work/hpk.log" 'listening on' "$HPK"
        KURL=https://127.0.0.1:$(sed -n 's#.*listening on https://[^ ]*:\([0-9]*\)$#\1#p' "$work/hpk.log")
        ktoken=$(<"$KSTATE/token")
        put_pool() { # COUNT: the server's time in ms (starttransfer - pretransfer)
                curl -sf --cacert "$KSTATE/tls.crt" -H "Authorization: Bearer $ktoken" \
                        -H 'Content-Type: application/json' -X PUT -o "$work/put.out" \
                        --data "{\"pools\": {\"2Mi\": {\"count\": $1}}}" \
                        -w '%{time_starttransfer} %{time_pretransfer}\n' "$KURL/config" |
                        awk '{ printf "%.3f\n", ($1 - $2) * 1000 }'
        }
        usec() { local t=$EPOCHREALTIME; echo "${t/./}"; }
        : >"$work/apply.raw" >"$work/apply.hugeadm" >"$work/apply.put"
        short=
        for ((r = 0; r < ROUNDS; r++)); do
                t0=$(usec); echo "$target" >"$POOL/nr_hugepages"; t1=$(usec)
                echo "$(((t1 - t0)))" | awk '{ printf "%.3f\n", $1 / 1000 }' >>"$work/apply.raw"
                [[ $(<"$POOL/nr_hugepages") == "$target" ]] || short+=" raw:$(<"$POOL/nr_hugepages")"
                echo "$base" >"$POOL/nr_hugepages"
                t0=$(usec); hugeadm --pool-pages-min "2M:$target" >/dev/null 2>&1; t1=$(usec)
                echo "$(((t1 - t0)))" | awk '{ printf "%.3f\n", $1 / 1000 }' >>"$work/apply.hugeadm"
                [[ $(<"$POOL/nr_hugepages") == "$target" ]] || short+=" hugeadm:$(<"$POOL/nr_hugepages")"
                echo "$base" >"$POOL/nr_hugepages"
                put_pool "$target" >>"$work/apply.put"
                [[ $(<"$POOL/nr_hugepages") == "$target" ]] || short+=" put:$(<"$POOL/nr_hugepages")"
                put_pool "$base" >/dev/null
        done
        kill "$HPK"
        wait "$HPK" 2>/dev/null || true
        median_of() { sort -n "$1" | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
        APPLY_RAW=$(median_of "$work/apply.raw")
        APPLY_HUGEADM=$(median_of "$work/apply.hugeadm")
        APPLY_PUT=$(median_of "$work/apply.put")
        KERNEL_LINE="2Mi pool $base -> $target pages ($POOL_MIB MiB), $ROUNDS rounds, medians: raw write $APPLY_RAW ms, hugeadm $APPLY_HUGEADM ms (one exec included), PUT /config $APPLY_PUT ms (server time: validation, 3 fdatasyncs, the write, the read-back)${short:+; short allocations:$short}"
        say "apply on the real kernel: $KERNEL_LINE"
        say "  raw: $(tr '\n' ' ' <"$work/apply.raw")ms; hugeadm: $(tr '\n' ' ' <"$work/apply.hugeadm")ms; PUT: $(tr '\n' ' ' <"$work/apply.put")ms"
fi

# --- the report ----------------------------------------------------------------------------------

field() { # NAME PATH CONNS MODE COLUMN
        awk -v n="$1" -v p="$2" -v c="$3" -v m="$4" -v col="$5" '$1 == n && $2 == p && $3 == c && $4 == m { print $col }' "$work/runs"
}
rps() { field "$1" "$2" "$3" "$4" 5; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "n/a" }'; }
verdict() { awk -v ok="$1" 'BEGIN { print ok ? "met" : "MISSED" }'; }

S_HP=$(rps hugepaged /status 32 keepalive) S_BARE=$(rps bare-mhd /status 32 keepalive)
S_NGINX=$(rps nginx /status 32 keepalive) S_NE=$(rps node_exporter /metrics 32 keepalive)
P99_HP=$(field hugepaged /status 32 keepalive 7)
CPU_HP=$(field hugepaged /status 32 keepalive 9) CPU_BARE=$(field bare-mhd /status 32 keepalive 9)
CPU_OWN=$(awk -v a="$CPU_HP" -v b="$CPU_BARE" 'BEGIN { printf "%.1f", a - b }')
read -r IDLE_RSS IDLE_ANON IDLE_FILE IDLE_PSS <<<"$HP_IDLE"
LOAD_RSS=$(awk '$1 == "hugepaged" { if ($10 > m) m = $10 } END { print m + 0 }' "$work/runs")

commit=$(git -C "$repo" rev-parse --short HEAD 2>/dev/null || echo unknown)
[[ -n $(git -C "$repo" status --porcelain --untracked-files=no 2>/dev/null) ]] && commit+="+dirty"
cpu_model=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)
{
        echo "## run.sh, $(date -u +%Y-%m-%dT%H:%MZ), commit $commit"
        echo
        echo "Machine: $cpu_model, $(nproc) CPUs, kernel $(uname -r), MemTotal $(awk '$1 == "MemTotal:" { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo); load average $(cut -d' ' -f1-3 /proc/loadavg) at the end; wrk ${DURATION} s per run (wrk shares the CPUs with the server); $(($(date +%s) - started)) s in all."
        echo
        echo "hugepaged: release build (RelWithDebInfo), fake tree x86-2node (2 sizes, 2 nodes), 4 MHD threads. The same certificate for every server; TLS negotiated by a default OpenSSL client: $CIPHERS."
        echo
        echo "| server | path | conns | connection | req/s | p50 ms | p99 ms | errors | CPU µs/req | RSS under load MiB |"
        echo "| --- | --- | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: |"
        awk '{ printf "| %s | %s | %s | %s | %s | %s | %s | %s | %s | %.1f |\n", $1, $2, $3, $4, $5, $6, $7, $8, $9, $10 / 1024 }' "$work/runs"
        echo
        echo "| server | idle RSS MiB | anon | file | Pss MiB |"
        echo "| --- | ---: | ---: | ---: | ---: |"
        for s in "hugepaged:$HP_IDLE" "hugepaged (after the load):$HP_AFTER" "bare-mhd:$BARE_IDLE" "nginx (master + workers):$NGINX_IDLE" "node_exporter:$NE_IDLE"; do
                read -r r a f p <<<"${s#*:}"
                echo "| ${s%%:*} | $(mib "$r") | $(mib "$a") | $(mib "$f") | $(mib "$p") |"
        done
        echo
        echo "Floor (bench/floor.c, µs per status's worth of files, median of 7 batches): fake tree $FLOOR_FILES files: open/read/close $FLOOR_OPEN, kept open + pread $FLOOR_PREAD; this machine's /sys and /proc, $REAL_FILES files: $REAL_OPEN and $REAL_PREAD."
        echo
        echo "Store: journal replay of 10,000 records at open $REPLAY ms (median of 3: ${replays[*]}); PUT /config on the fake tree with fdatasync p50 $PUT_FAKE_P50 ms, p99 $PUT_FAKE_P99 ms (200 on one connection)."
        echo
        echo "READY=1 after exec (NOTIFY_SOCKET, 11 starts, certificate present): median $READY_MED ms, min $READY_MIN, max $READY_MAX."
        echo
        echo "Apply on the real kernel: $KERNEL_LINE."
        echo
        echo "| target | figure | verdict |"
        echo "| --- | --- | --- |"
        echo "| GET /status, keep-alive, 32 conns ≥ 0.7× bare MHD | $S_HP vs $S_BARE req/s: $(ratio "$S_HP" "$S_BARE")× (nginx $S_NGINX: $(ratio "$S_HP" "$S_NGINX")×) | $(verdict "$(awk -v a="$S_HP" -v b="$S_BARE" 'BEGIN { print (a >= 0.7 * b) }')") |"
        echo "| … p99 < 10 ms | $P99_HP ms | $(verdict "$(awk -v a="$P99_HP" 'BEGIN { print (a < 10) }')") |"
        echo "| … ≥ 20× node_exporter /metrics | $S_NE req/s: $(ratio "$S_HP" "$S_NE")× | $(verdict "$(awk -v a="$S_HP" -v b="$S_NE" 'BEGIN { print (a >= 20 * b) }')") |"
        echo "| CPU per GET /status ≤ 2× the floor | $CPU_HP µs/req in all, $CPU_OWN µs above bare MHD's $CPU_BARE; floor $FLOOR_OPEN (open) / $FLOOR_PREAD (pread): own part $(ratio "$CPU_OWN" "$FLOOR_OPEN")× / $(ratio "$CPU_OWN" "$FLOOR_PREAD")× | $(verdict "$(awk -v a="$CPU_OWN" -v b="$FLOOR_PREAD" 'BEGIN { print (a <= 2 * b) }')") (against pread) |"
        echo "| RSS idle < 8 MiB | $(mib "$IDLE_RSS") MiB ($(mib "$IDLE_ANON") anon, $(mib "$IDLE_FILE") file); bare MHD $(mib "$(cut -d' ' -f1 <<<"$BARE_IDLE")") | $(verdict "$((IDLE_RSS < 8192))") |"
        echo "| RSS under load < 16 MiB | $(mib "$LOAD_RSS") MiB at most | $(verdict "$((LOAD_RSS < 16384))") |"
        echo "| READY=1 within 50 ms of start | median $READY_MED ms, max $READY_MAX | $(verdict "$(awk -v a="$READY_MAX" 'BEGIN { print (a < 50) }')") |"
        if [[ -n ${APPLY_PUT:-} ]]; then
                echo "| PUT /config on the real kernel within 5 % of the raw write | $APPLY_PUT vs $APPLY_RAW ms: $(ratio "$APPLY_PUT" "$APPLY_RAW")× (hugeadm $(ratio "$APPLY_HUGEADM" "$APPLY_RAW")×) | $(verdict "$(awk -v a="$APPLY_PUT" -v b="$APPLY_RAW" 'BEGIN { print (a <= 1.05 * b) }')") |"
        else
                echo "| PUT /config on the real kernel within 5 % of the raw write | $KERNEL_LINE | not measured |"
        fi
        echo "| PUT /config on a fake tree < 5 ms at the median | $PUT_FAKE_P50 ms | $(verdict "$(awk -v a="$PUT_FAKE_P50" 'BEGIN { print (a < 5) }')") |"
        echo "| journal replay of 10,000 records < 100 ms | $REPLAY ms | $(verdict "$(awk -v a="$REPLAY" 'BEGIN { print (a < 100) }')") |"
        echo
} >"$work/report.md"
cat "$work/report.md"
if [[ -n $write_results ]]; then
        { echo; cat "$work/report.md"; } >>"$repo/bench/RESULTS.md"
        say "appended to bench/RESULTS.md"
fi
