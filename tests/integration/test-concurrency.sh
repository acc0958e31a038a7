#!/usr/bin/env bash
# Integration test: reads are answered while an apply runs, and a second
# apply meanwhile gets 409. The apply is held open for real: strace attaches
# to the running service and delays the first fdatasync(2) of the journal
# (the one that makes the "accepted" record durable) by a few seconds, so
# the PUT sits in that call, holding the apply lock, while other requests
# come in (reads never touch the state directory). Nothing here depends on
# how fast the machine is: the checks only ask that the reads finish while
# the PUT is still running.
#
# Usage: test-concurrency.sh PATH-TO-hugepaged
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
command -v strace >/dev/null || hp_skip_all "strace is not installed"
hp_setup "${1:-}"

FX=$HP_WORK/fx
cp -r "$HP_REPO/tests/fixtures/x86-2node" "$FX"
NR=$FX/sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages
STATE=$HP_WORK/state
HELD=$STATE/journal
hp_start main "$STATE" --sysfs-root "$FX/sys" --procfs-root "$FX/proc" ||
        hp_bail "cannot go on without a server"

TRACER=
# shellcheck disable=SC2317 # called from lib.sh's EXIT trap
hp_on_exit() {
        if [[ -n "$TRACER" ]]; then
                kill "$TRACER" 2>/dev/null || true
                wait "$TRACER" 2>/dev/null || true
        fi
}

# Attach to every thread of the service; wait until all are traced.
strace -f -qq -o /dev/null -p "$HP_PID" -P "$HELD" -e trace=fdatasync -e inject=fdatasync:delay_enter=6000000:when=1 &
TRACER=$!
attached=no
for _ in $(seq 100); do
        untraced=$({ grep -l '^TracerPid:[[:space:]]*0$' /proc/"$HP_PID"/task/*/status 2>/dev/null || true; } | wc -l)
        if [[ "$untraced" == 0 ]]; then
                attached=yes
                break
        fi
        sleep 0.05
done
[[ $attached == yes ]] || hp_skip_all "strace cannot attach here (ptrace not permitted?)"
ok "strace holds the first fdatasync of the journal"
check "the journal is empty before the PUT" 0 "$(stat -c %s "$HELD")"

# The slow apply, in the background with its own output files.
PUT_BODY=$HP_WORK/put.body
curl -sS --max-time 30 --cacert "$HP_CACERT" -X PUT -H "Authorization: Bearer $HP_TOKEN" \
        -H 'Content-Type: application/json' --data-binary '{"pools": {"2Mi": {"count": 600}}}' \
        -o "$PUT_BODY" -w '%{http_code}\n%{content_type}\n' "$HP_URL/config" >"$HP_WORK/put.out" 2>&1 &
PUT_PID=$!

# Wait until the apply has reached the held fdatasync: the "accepted" record
# is then in the file (write(2) comes first), not yet durable.
held=no
for _ in $(seq 100); do
        if [[ $(stat -c %s "$HELD") -gt 0 ]]; then
                held=yes
                break
        fi
        sleep 0.05
done
check "the PUT reached the held fdatasync (the accepted record is written)" yes "$held"

hp_get /sizes
check_ok_json "GET /sizes is answered while the apply runs"
check_json "... and shows the pool as the kernel holds it now (512)" 'd["sizes"][0]["total"]' 512
hp_get /status
check_ok_json "GET /status is answered while the apply runs"
check_json "... still at generation 0: the new one counts once it is on disk" 'd["generation"]' 0
hp_get /config
check_ok_json "GET /config is answered while the apply runs"
check_json "... generation 0, no config yet" '[d["generation"], d["config"]]' '[0,null]'
hp_get /config/history
check_ok_json "GET /config/history is answered while the apply runs"
check_json "... and is still empty" 'd["generations"]' '[]'
hp_get -n /healthz
check_ok_json "GET /healthz is answered while the apply runs"
hp_req -b '{"pools": {"2Mi": {"count": 700}}}' PUT /config
check_problem 409 "a second PUT /config while the first runs: 409"
check_json "... of type apply-in-progress" 'd["type"]' "urn:hugepaged:problem:apply-in-progress"
hp_req POST /config/confirm
check_problem 409 "POST /config/confirm while the PUT runs: 409 apply-in-progress"
check_json "... of type apply-in-progress" 'd["type"]' "urn:hugepaged:problem:apply-in-progress"
check "... and the kernel file is untouched until the config is on disk (512)" 512 "$(<"$NR")"

if kill -0 "$PUT_PID" 2>/dev/null; then
        ok "all of that happened while the first PUT was still running"
else
        notok "all of that happened while the first PUT was still running" "the PUT had already finished"
fi

rc=0
wait "$PUT_PID" || rc=$?
check "the held PUT finishes (curl status)" 0 "$rc"
HP_STATUS=$(sed -n 1p "$HP_WORK/put.out") HP_CT=$(sed -n 2p "$HP_WORK/put.out")
HP_BODY_FILE=$PUT_BODY HP_METHOD=PUT HP_PATH=/config HP_CURL_ERR=
HP_BODY=$(<"$PUT_BODY")
_hp_record PUT /config
check_ok_json "the held PUT answers 200"
check_json "... with the pool read back at 600" '[d["generation"], d["results"][0]["after"], d["complete"]]' '[1,600,true]'
check "the journal: accepted, applied and confirmed, every line verified" "3 records verify" "$(hp_journal_verify "$HELD")"

kill "$TRACER" 2>/dev/null || true
wait "$TRACER" 2>/dev/null || true
TRACER=
hp_req -b '{"pools": {"2Mi": {"count": 700}}}' PUT /config
check_ok_json "once it is done, the next PUT is accepted"
check_json "... as generation 2" 'd["generation"]' 2

# SIGTERM while a change is held: it runs to its end and answers, every
# record of it is on disk, and then the service exits 0.
strace -f -qq -o /dev/null -p "$HP_PID" -P "$HELD" -e trace=fdatasync -e inject=fdatasync:delay_enter=3000000:when=1 &
TRACER=$!
for _ in $(seq 100); do
        untraced=$({ grep -l '^TracerPid:[[:space:]]*0$' /proc/"$HP_PID"/task/*/status 2>/dev/null || true; } | wc -l)
        [[ "$untraced" == 0 ]] && break
        sleep 0.05
done
size_before=$(stat -c %s "$HELD")
curl -sS --max-time 30 --cacert "$HP_CACERT" -X PUT -H "Authorization: Bearer $HP_TOKEN" \
        -H 'Content-Type: application/json' --data-binary '{"pools": {"2Mi": {"count": 800}}}' \
        -o "$PUT_BODY" -w '%{http_code}\n%{content_type}\n' "$HP_URL/config" >"$HP_WORK/put.out" 2>&1 &
PUT_PID=$!
for _ in $(seq 100); do
        [[ $(stat -c %s "$HELD") -gt $size_before ]] && break
        sleep 0.05
done
kill -TERM "$HP_PID"
rc=0
wait "$PUT_PID" || rc=$?
HP_STATUS=$(sed -n 1p "$HP_WORK/put.out") HP_CT=$(sed -n 2p "$HP_WORK/put.out")
HP_BODY_FILE=$PUT_BODY HP_METHOD=PUT HP_PATH=/config HP_CURL_ERR=
HP_BODY=$(<"$PUT_BODY")
_hp_record PUT /config
check_ok_json "SIGTERM during a change: the change finishes and answers 200"
check_json "... as generation 3, the pool read back at 800" '[d["generation"], d["results"][0]["after"]]' '[3,800]'
kill "$TRACER" 2>/dev/null || true
wait "$TRACER" 2>/dev/null || true
TRACER=
hp_stop
check "... then the service stops with status 0" 0 "$HP_STOP_STATUS"
check "... the journal holds all of it: three records per generation, every line verified" "9 records verify" \
        "$(hp_journal_verify "$HELD")"
check "... and the kernel file holds it" 800 "$(<"$NR")"
check_match "... the log says a change in flight finishes first" 'stopping on signal 15; a change in flight finishes first' \
        "$(cat "$HP_LOG")"
hp_finish
