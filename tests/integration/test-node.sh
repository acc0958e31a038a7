#!/usr/bin/env bash
# Node integration, on a fake tree: the systemd units (systemd-analyze
# verify and security), socket activation (systemd-socket-activate), the
# notify protocol (READY, STATUS, WATCHDOG only while healthy, STOPPING),
# GET /metrics (promtool check metrics), safe mode, boot arguments written
# to a GRUB environment block only for confirmed configs (read back with
# grub-editenv), kubelet staleness, and --restart-unit through D-Bus (a
# private dbus-daemon with a stand-in for systemd's Manager).
# Usage: test-node.sh PATH-TO-hugepaged [PATH-TO-fake-systemd]
set -u
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
FAKE_SYSTEMD=${2:-}
hp_setup "${1:-}"

for tool in systemd-analyze systemd-socket-activate promtool grub-editenv dbus-daemon; do
        command -v "$tool" >/dev/null || hp_bail "$tool is required (scripts/deps.sh --test installs it)"
done
cp -r "$HP_REPO/tests/fixtures/x86-2node" "$HP_WORK/tree"
FX=$HP_WORK/tree
ROOTS=(--sysfs-root "$FX/sys" --procfs-root "$FX/proc")
ADMIN=admin-token-0123456789abcdef
printf '%s ops admin\n' "$ADMIN" >"$HP_WORK/tokens"
PIDS=()
# hp_start takes the token from the state directory; this service uses the
# token file's admin.
start() { hp_start "$@" && HP_TOKEN=$ADMIN; }
hp_on_exit() {
        local p
        for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; wait "$p" 2>/dev/null; done
}

# --- the units -----------------------------------------------------------------------------

U=$HP_WORK/units
mkdir -p "$U"
for f in "$HP_REPO"/systemd/*; do
        # The units name the installed binary; verify needs one that exists.
        sed "s|/usr/local/sbin/hugepaged|$HP_BIN|g" "$f" >"$U/${f##*/}"
done
rc=0
out=$(systemd-analyze verify --man=no --recursive-errors=no "$U"/hugepaged.service "$U"/hugepaged.socket \
        "$U"/hugepaged-boot.service 2>&1) || rc=$?
check "systemd-analyze verify passes on every unit, silently" "0:" "$rc:$out"
for unit in hugepaged.service hugepaged-boot.service; do
        score=$(systemd-analyze security --offline=yes "$U/$unit" 2>/dev/null |
                sed -n 's/.*Overall exposure level for [^:]*: \([0-9.]*\).*/\1/p')
        echo "# $unit: systemd-analyze security exposure $score"
        check "$unit: exposure at most 2.5 (systemd-analyze security)" yes \
                "$(awk -v s="$score" 'BEGIN { print (s != "" && s <= 2.5) ? "yes" : "no (" s ")" }')"
done

# --- notify: READY, STATUS, WATCHDOG while healthy, STOPPING --------------------------------

NOTIFY=$HP_WORK/notify.sock
DGRAMS=$HP_WORK/notify.datagrams
python3 - "$NOTIFY" "$DGRAMS" <<'EOF' &
import socket, sys, time
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1])
s.settimeout(1)
out = open(sys.argv[2], "a")
idle = 0
while idle < 120:
    try:
        data = s.recv(4096).decode()
    except socket.timeout:
        idle += 1
        continue
    idle = 0
    out.write("%.2f %s\n" % (time.time(), data.replace("\n", "|")))
    out.flush()
EOF
PIDS+=($!)
for ((i = 0; i < 50; i++)); do [[ -S "$NOTIFY" ]] && break; sleep 0.1; done
# WATCHDOG_PID must be the service's own pid: set it, then exec.
printf '%s\n' 'export WATCHDOG_PID=$$' 'exec "$@"' >"$HP_WORK/watchdog-pid.sh"
HP_WRAPPER="env NOTIFY_SOCKET=$NOTIFY WATCHDOG_USEC=1000000 bash $HP_WORK/watchdog-pid.sh" \
        start notify "$HP_WORK/state" "${ROOTS[@]}" --token-file "$HP_WORK/tokens" || hp_bail "cannot go on"
sleep 2.5
check_match "READY=1 once listening, with a STATUS line" "READY=1\|STATUS=serving on 127\.0\.0\.1:[0-9]+; generation 0" \
        "$(cat "$DGRAMS")"
pings=$(grep -c 'WATCHDOG=1' "$DGRAMS")
check "WATCHDOG=1 about every half second while healthy (WatchdogSec=1 s)" yes \
        "$( ((pings >= 3)) && echo yes || echo "no, $pings pings")"
hp_req -b '{"pools": {"2Mi": {"count": 64}}}' PUT "/config?confirm_within=60"
check_ok_json "a change awaiting confirmation"
sleep 1.2
check_match "STATUS follows it: pending confirmation until its deadline" \
        'STATUS=serving on [^|]*; generation 1 pending confirmation until 20[0-9-]+T' "$(cat "$DGRAMS")"
hp_req POST /config/confirm
sleep 1.2
check_match "... and its confirmation" 'STATUS=serving on [^|]*; generation 1 confirmed; last apply complete' \
        "$(cat "$DGRAMS")"
# The kernel's hugepage directory disappears: unhealthy, so no more pings.
mv "$FX/sys/kernel/mm/hugepages" "$FX/sys/kernel/mm/hugepages.away"
sleep 0.6
mark=$(wc -l <"$DGRAMS")
sleep 2
after=$(tail -n +"$((mark + 1))" "$DGRAMS")
check "no WATCHDOG=1 while the service is unhealthy" "" "$(grep 'WATCHDOG=1' <<<"$after")"
check_match "... and STATUS says why" 'STATUS=unhealthy: the kernel.s hugepage directory cannot be read' "$(cat "$DGRAMS")"
mv "$FX/sys/kernel/mm/hugepages.away" "$FX/sys/kernel/mm/hugepages"
sleep 1.5
check_match "pings come back once it is healthy again" 'WATCHDOG=1' "$(tail -n 2 "$DGRAMS")"
hp_stop
sleep 0.3
check_match "STOPPING=1 on SIGTERM" 'STOPPING=1' "$(cat "$DGRAMS")"
check "... and a clean exit" 0 "$HP_STOP_STATUS"
check "no WATCHDOG=1 after STOPPING=1" "" "$(sed -n '/STOPPING=1/,$p' "$DGRAMS" | grep 'WATCHDOG=1')"

# --- socket activation ----------------------------------------------------------------------

PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
ACT_LOG=$HP_WORK/activate.log
systemd-socket-activate -l "127.0.0.1:$PORT" "$HP_BIN" serve --listen 127.0.0.1:1 --state-dir "$HP_WORK/state" \
        "${ROOTS[@]}" --token-file "$HP_WORK/tokens" >"$ACT_LOG" 2>&1 &
ACT=$!
PIDS+=("$ACT")
sleep 0.5
# The service starts at the first connection, on the socket systemd made
# (the --listen given is not used: port 1 could not be bound).
code=$(curl -sS --max-time 15 --retry 3 --retry-connrefused --cacert "$HP_WORK/state/tls.crt" \
        -H "Authorization: Bearer $ADMIN" -o "$HP_WORK/act.json" -w '%{http_code}' "https://127.0.0.1:$PORT/sizes")
check "socket activation: HTTPS GET /sizes on the inherited socket" 200 "$code"
check_match "... the log names the socket from systemd" 'listening on https://127\.0\.0\.1:[0-9]+ \(a socket from systemd\)' \
        "$(cat "$ACT_LOG")"
code=$(curl -sS --max-time 15 --cacert "$HP_WORK/state/tls.crt" -H "Authorization: Bearer $ADMIN" \
        -H 'Content-Type: application/json' -X PUT -d '{"pools": {"2Mi": {"count": 32}}}' -o /dev/null \
        -w '%{http_code}' "https://127.0.0.1:$PORT/config")
check "... and PUT /config on it" 200 "$code"
kill -TERM "$ACT" 2>/dev/null
wait "$ACT" 2>/dev/null
check_match "... the service stops on SIGTERM" 'stopping on signal 15' "$(cat "$ACT_LOG")"

# --- metrics ----------------------------------------------------------------------------------

start metrics "$HP_WORK/state" "${ROOTS[@]}" --token-file "$HP_WORK/tokens" || hp_bail "cannot go on"
hp_get /metrics
check_status 200 "GET /metrics"
check_match "... as Prometheus text 0.0.4" '^text/plain; version=0\.0\.4' "$HP_CT"
out=$(promtool check metrics <"$HP_BODY_FILE" 2>&1) && rc=0 || rc=$?
check "promtool check metrics passes" "0:" "$rc:$out"
check_match "pool pages by size, node and state" 'hugepaged_pool_pages\{size="2Mi",node="0",state="total"\} [0-9]+' "$HP_BODY"
check_match "the desired generation" 'hugepaged_config_generation\{kind="desired"\} 2' "$HP_BODY"
check_match "drift" 'hugepaged_drift_items 0' "$HP_BODY"
check_match "the pending deadline (none)" 'hugepaged_confirm_deadline_seconds 0' "$HP_BODY"
check_match "build info" 'hugepaged_build_info\{version="[0-9.]+",node_name="[^"]+"\} 1' "$HP_BODY"
hp_req -b '{"pools": {"2Mi": {"count": 40}}}' PUT "/config?confirm_within=60"
hp_req -b '{"pools": {"2Mi": {"count": 100000000}}}' PUT /config
hp_get /metrics
check_match "changes by outcome since start" 'hugepaged_changes_total\{outcome="complete"\} 1' "$HP_BODY"
check_match "... one refused while another awaits confirmation, as refused" 'hugepaged_changes_total\{outcome="refused"\} 1' "$HP_BODY"
check_match "the pending deadline as Unix time" 'hugepaged_confirm_deadline_seconds 1[0-9]{9}' "$HP_BODY"
promtool check metrics <"$HP_BODY_FILE" >/dev/null 2>&1 && rc=0 || rc=$?
check "promtool still passes with a change pending" 0 "$rc"
hp_get /metrics -H 'Accept: application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5,*/*;q=0.1'
check_status 200 "Prometheus's own Accept header is served"
hp_get /metrics -H 'Accept: application/json'
check_problem 406 "Accept: application/json on /metrics: 406"
hp_get -n /metrics
check_problem 401 "/metrics needs a token (unless --anonymous-read)"
hp_req POST /config/confirm
hp_stop

# --- safe mode ---------------------------------------------------------------------------------

touch "$HP_WORK/state/safe-mode"
before=$(cat "$FX/sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages")
echo 7 >"$FX/sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages"
out=$("$HP_BIN" apply-saved --state-dir "$HP_WORK/state" "${ROOTS[@]}" 2>&1) && rc=0 || rc=$?
check "apply-saved in safe mode (flag file): exit 0" 0 "$rc"
check_match "... says it skips" 'safe mode \(the flag file .*safe-mode\): not applying' "$out"
check "... and leaves the kernel alone" 7 "$(cat "$FX/sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages")"
start safe "$HP_WORK/state" "${ROOTS[@]}" --token-file "$HP_WORK/tokens" || hp_bail "cannot go on"
hp_get /status
check_json "GET /status says safe mode, and why" '[d["safe_mode"]["active"], "safe-mode" in d["safe_mode"]["source"]]' '[true,true]'
hp_stop
rm "$HP_WORK/state/safe-mode"
printf 'BOOT_IMAGE=/vmlinuz root=/dev/vda1 ro hugepaged.safe=1 quiet\n' >"$FX/proc/cmdline"
out=$("$HP_BIN" apply-saved --state-dir "$HP_WORK/state" "${ROOTS[@]}" 2>&1) && rc=0 || rc=$?
check_match "hugepaged.safe=1 on the kernel command line: apply-saved skips" 'safe mode \(hugepaged.safe on the kernel command line\)' "$out"
printf 'BOOT_IMAGE=/vmlinuz root=/dev/vda1 ro hugepaged.safe=1 hugepaged.safe=0\n' >"$FX/proc/cmdline"
out=$("$HP_BIN" apply-saved --state-dir "$HP_WORK/state" "${ROOTS[@]}" 2>&1) && rc=0 || rc=$?
check "hugepaged.safe=0 after it: applies (exit 0)" 0 "$rc"
check "... the confirmed 40 pages" 40 "$(cat "$FX/sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages")"
printf 'BOOT_IMAGE=/vmlinuz root=/dev/vda1 ro\n' >"$FX/proc/cmdline"

# --- boot arguments in a GRUB environment block ------------------------------------------------

ENV=$HP_WORK/grubenv
grub-editenv "$ENV" create
grub-editenv "$ENV" set third_party_kernel_args="multipath=off ifname=bond0:52:54:00:12:34:56" other=kept
env_before=$(grub-editenv "$ENV" list)
kernel_arg() { grub-editenv "$ENV" list | sed -n 's/^third_party_kernel_args=//p'; }
start boot "$HP_WORK/state" "${ROOTS[@]}" --token-file "$HP_WORK/tokens" \
        --boot-args "grubenv:$ENV:third_party_kernel_args" || hp_bail "cannot go on"
check "at start, the confirmed config has no gigantic pool: the operator's tokens only" \
        "multipath=off ifname=bond0:52:54:00:12:34:56" "$(kernel_arg)"
hp_req -b '{"pools": {"2Mi": {"count": 40}, "1Gi": {"nodes": {"0": 1, "1": 1}}}}' PUT "/config?confirm_within=60"
check_ok_json "a change of the 1Gi pool with a confirm window"
check "a pending change never reaches the boot arguments" "multipath=off ifname=bond0:52:54:00:12:34:56" "$(kernel_arg)"
hp_req POST /config/confirm
check_ok_json "... confirmed"
check "the confirmed change does: gigantic pools per node, after the operator's tokens" \
        "multipath=off ifname=bond0:52:54:00:12:34:56 hugepagesz=1G hugepages=0:1,1:1" "$(kernel_arg)"
check "... other variables untouched" "other=kept" "$(grub-editenv "$ENV" list | grep '^other=')"
check "... and the block stays 1024 bytes" 1024 "$(stat -c %s "$ENV")"
hp_get /status
check_json "GET /status: the backend and what it wrote" '[d["boot_args"]["backend"], d["boot_args"]["written"], d["boot_args"]["error"]]' \
        "[\"grubenv:$ENV:third_party_kernel_args\",\"hugepagesz=1G hugepages=0:1,1:1\",null]"
check_json "... the running command line lacks it: a reboot is required" \
        '[d["boot_args"]["in_effect"], [e["pointer"] for e in d["boot_args"]["reboot_required"]]]' '[false,["/pools/1Gi"]]'
hp_req -b '{"pools": {"1Gi": {"count": 2}}, "default_size": "1Gi"}' PUT "/config?confirm_within=1"
check_ok_json "a change of the default size, left to expire"
for ((i = 0; i < 40; i++)); do
        hp_get /status
        [[ $(hp_py 'd["pending_confirm"]') == null ]] && break
        sleep 0.25
done
check "... reverted at its deadline: the boot arguments never saw it" \
        "multipath=off ifname=bond0:52:54:00:12:34:56 hugepagesz=1G hugepages=0:1,1:1" "$(kernel_arg)"
# The running kernel has what the config needs: nothing to reboot for.
printf 'BOOT_IMAGE=/vmlinuz root=/dev/vda1 ro multipath=off hugepagesz=1G hugepages=0:1,1:1\n' >"$FX/proc/cmdline"
hp_get /status
check_json "with the parameters on /proc/cmdline, the boot arguments are in effect" \
        '[d["boot_args"]["in_effect"], d["boot_args"]["reboot_required"]]' '[true,[]]'
# An operator's own hugepagesz= in the variable: refused, file unchanged.
grub-editenv "$ENV" set third_party_kernel_args="multipath=off hugepagesz=1G hugepages=3"
sum=$(sha256sum <"$ENV")
hp_req -b '{"pools": {"1Gi": {"count": 2}}}' PUT /config
check_ok_json "a confirmed change while the operator wrote hugepagesz= by hand: the change itself applies"
check "... the environment block is left as the operator wrote it" "$sum" "$(sha256sum <"$ENV")"
hp_get /status
check_match "... and GET /status says why the boot arguments were not written" 'holds "hugepages=3", which hugepaged did not write' "$(hp_py 'd["boot_args"]["error"]')"
hp_stop
rc=0
out=$(timeout 10 "$HP_BIN" --boot-args "grub:$ENV" 2>&1) || rc=$?
check "--boot-args with another backend is refused" 2 "$rc"

# --- kubelet: stale after a pool change ------------------------------------------------------

# A kubelet that started 100 s after boot, on a machine up for 5000 s.
mkdir -p "$FX/proc/4242"
hz=$(getconf CLK_TCK)
printf '4242 (kubelet) S 1 4242 4242 0 -1 4194560 1 0 0 0 5 3 0 0 20 0 30 0 %d 1000 100 18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 1 0 0 0 0 0\n' \
        $((100 * hz)) >"$FX/proc/4242/stat"
printf '5000.00 9000.00\n' >"$FX/proc/uptime"
start kubelet "$HP_WORK/state" "${ROOTS[@]}" --token-file "$HP_WORK/tokens" || hp_bail "cannot go on"
hp_req -b '{"pools": {"2Mi": {"count": 48}}}' PUT /config
hp_get /status
check_json "kubelet found, and stale after the pool change" '[d["kubelet"]["process"], d["kubelet"]["pid"], d["kubelet"]["stale"]]' \
        '["kubelet",4242,true]'
check_match "... saying why" 'started at .* before the pools changed' "$(hp_py 'd["kubelet"]["reason"]')"
# kubelet restarted just now (up 5000 s, started at 4999.9 s... the next second).
printf '4242 (kubelet) S 1 4242 4242 0 -1 4194560 1 0 0 0 5 3 0 0 20 0 30 0 %d 1000 100 18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 1 0 0 0 0 0\n' \
        $((5010 * hz)) >"$FX/proc/4242/stat"
printf '5000.00 9000.00\n' >"$FX/proc/uptime"
sleep 1.1 # the process list is looked at once a second (handlers/app.h)
hp_get /status
check_json "a kubelet started after the change is not stale" 'd["kubelet"]["stale"]' false
hp_stop
rm -r "$FX/proc/4242"

# --- --restart-unit through D-Bus -------------------------------------------------------------

if [[ -z "$FAKE_SYSTEMD" || ! -x "$FAKE_SYSTEMD" ]]; then
        notok "the fake systemd helper is built" "got '$FAKE_SYSTEMD'"
else
        BUS=$HP_WORK/bus
        dbus-daemon --session --nofork --address="unix:path=$BUS" >"$HP_WORK/dbus.log" 2>&1 &
        PIDS+=($!)
        for ((i = 0; i < 50; i++)); do [[ -S "$BUS" ]] && break; sleep 0.1; done
        "$FAKE_SYSTEMD" "unix:path=$BUS" "$HP_WORK/restarts" 120 >"$HP_WORK/fake.out" 2>&1 &
        PIDS+=($!)
        for ((i = 0; i < 50; i++)); do grep -q ready "$HP_WORK/fake.out" 2>/dev/null && break; sleep 0.1; done
        : >"$HP_WORK/restarts"
        HP_WRAPPER="env DBUS_SYSTEM_BUS_ADDRESS=unix:path=$BUS" start restart "$HP_WORK/state" "${ROOTS[@]}" \
                --token-file "$HP_WORK/tokens" --restart-unit rke2-agent.service || hp_bail "cannot go on"
        check "nothing is restarted at start" "" "$(cat "$HP_WORK/restarts")"
        hp_req -b '{"pools": {"2Mi": {"count": 56}}}' PUT "/config?confirm_within=60"
        check "a pending pool change restarts nothing" "" "$(cat "$HP_WORK/restarts")"
        hp_req POST /config/confirm
        sleep 0.3
        check "its confirmation restarts the unit through systemd's D-Bus API" "RestartUnit rke2-agent.service replace" \
                "$(cat "$HP_WORK/restarts")"
        hp_req -b '{"pools": {"2Mi": {"count": 56}}, "default_size": "2Mi"}' PUT /config
        sleep 0.3
        check "a confirmed change that leaves the pools alone restarts nothing more" 1 "$(wc -l <"$HP_WORK/restarts")"
        hp_get /status
        check_match "GET /status tells the last restart" 'rke2-agent.service: restarted' "$(hp_py 'd["last_unit_restart"]') $HP_STATUS $HP_BODY"
        check_match "... and the log" 'restarted rke2-agent.service after the pools of generation [0-9]+ were confirmed' \
                "$(cat "$HP_LOG")"
        hp_stop
        rc=0
        out=$(timeout 10 "$HP_BIN" --restart-unit 'bad unit' 2>&1) || rc=$?
        check "--restart-unit with a name that is no unit is refused" 2 "$rc"
fi

hp_finish
