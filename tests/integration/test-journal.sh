#!/usr/bin/env bash
# Integration test of the journaled config store on a copy of the fake tree
# x86-2node: GET /config and its ETag, If-Match (412, and 428 with
# --require-if-match), confirm windows (revert at the deadline, confirm,
# revert at a restart, 409 while pending), rollback (a new generation with
# its origin, 404 for an unknown one), the console commands history,
# rollback and apply-saved next to a running service, --initial-config, and
# a torn journal tail set aside at start.
#
# Usage: test-journal.sh PATH-TO-hugepaged
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
hp_setup "${1:-}"

# fixture NAME: a fresh copy of x86-2node in $HP_WORK/NAME.
fixture() {
        cp -r "$HP_REPO/tests/fixtures/x86-2node" "$HP_WORK/$1"
}
fixture fx
FX=$HP_WORK/fx
ROOTS=(--sysfs-root "$FX/sys" --procfs-root "$FX/proc")
NR=$FX/sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages
STATE=$HP_WORK/state

# cfg COUNT: a config of COUNT 2Mi pages, in canonical form.
cfg() {
        printf '{"pools":{"2Mi":{"count":%s}}}' "$1"
}

# put COUNT [CURL_ARGS…] / put_within SECONDS COUNT [CURL_ARGS…]
put() {
        local n=$1
        shift
        hp_req -b "$(cfg "$n")" PUT /config "$@"
}
put_within() {
        local s=$1 n=$2
        shift 2
        hp_req -b "$(cfg "$n")" PUT "/config?confirm_within=$s" "$@"
}

# records EXPR: a Python expression over r, the journal's records (list of
# dicts, oldest first); prints the value like hp_py.
records() {
        cut -d' ' -f2- "$STATE/journal" | python3 -c '
import json, sys
r = [json.loads(l) for l in sys.stdin]
v = eval(sys.argv[1])
print(v if isinstance(v, str) else json.dumps(v, sort_keys=True, separators=(",", ":")))' "$1" 2>&1 || true
}

# poll_status EXPR SECONDS: GET /status every 0.2 s until hp_py EXPR gives
# true, at most SECONDS; returns 1 on timeout (the last answer stays in
# HP_BODY).
poll_status() {
        local expr=$1 limit=$2 start=$SECONDS
        while true; do
                hp_get /status
                [[ "$HP_STATUS" == 200 && $(hp_py "$expr") == true ]] && return 0
                ((SECONDS - start < limit)) || return 1
                sleep 0.2
        done
}

# poll_config GENERATION SECONDS: GET /config until it gives GENERATION.
poll_config() {
        local want=$1 limit=$2 start=$SECONDS
        while true; do
                hp_get /config
                [[ "$HP_STATUS" == 200 && $(hp_py 'd["generation"]') == "$want" ]] && return 0
                ((SECONDS - start < limit)) || return 1
                sleep 0.2
        done
}

# console ARGS…: runs a console command on STATE and the fixture; sets
# CON_RC and CON_OUT (stdout and stderr).
console() {
        CON_RC=0
        CON_OUT=$(timeout 20 "$HP_BIN" "$@" --state-dir "$STATE" "${ROOTS[@]}" 2>&1) || CON_RC=$?
}

# --- GET /config and If-Match ------------------------------------------------------

hp_start main "$STATE" "${ROOTS[@]}" || hp_bail "cannot go on without a server"

hp_get /config
check_ok_json "GET /config on a fresh state directory"
check_json "... generation 0, config null" 'd' '{"config":null,"generation":0}'
check "... ETag \"0\"" '"0"' "$(hp_header ETag)"
hp_req HEAD /config -I
check "HEAD /config: 200 with ETag \"0\"" '200 "0"' "$HP_STATUS $(hp_header ETag)"
hp_get /status
check_json "GET /status: generation 0, confirmed 0, nothing pending, a clean journal" \
        '[d["generation"], d["confirmed_generation"], d["pending_confirm"], d["journal_recovery"]]' '[0,0,null,null]'

put 600 -H 'If-Match: "0"'
check_ok_json "PUT 600 with If-Match \"0\" (current)"
check_json "... generation 1, no confirm deadline" '[d["generation"], d["confirm_deadline"]]' '[1,null]'
check "... ETag \"1\"" '"1"' "$(hp_header ETag)"
check "... the fixture file holds 600" 600 "$(<"$NR")"

put 610 -H 'If-Match: "0"'
check_problem 412 "PUT 610 with a stale If-Match \"0\": 412"
check_json "... of type precondition-failed" 'd["type"]' urn:hugepaged:problem:precondition-failed
check "... with the current ETag \"1\"" '"1"' "$(hp_header ETag)"
check "... and the fixture file still holds 600" 600 "$(<"$NR")"
hp_get /config
check_json "... and GET /config is still generation 1" 'd["generation"]' 1

put 610 -H 'If-Match: "1"'
check_ok_json "PUT 610 with If-Match \"1\" (current): 200"
check_json "... generation 2" 'd["generation"]' 2
check "... the fixture file holds 610" 610 "$(<"$NR")"
put 610 -H 'If-Match: "7", "2"'
check_ok_json "PUT 610 again with If-Match \"7\", \"2\" (a list naming the current one): 200"
check_json "... the same config keeps generation 2" 'd["generation"]' 2
put 610 -H 'If-Match: W/"2"'
check_problem 412 "If-Match W/\"2\" (a weak tag never matches): 412"
hp_get /config
check_json "GET /config: generation 2, 610 pages" 'd' "{\"config\":$(cfg 610),\"generation\":2}"
check "... ETag \"2\"" '"2"' "$(hp_header ETag)"

hp_req POST /config/confirm
check_problem 409 "POST /config/confirm with nothing pending: 409"
check_json "... of type nothing-pending" 'd["type"]' urn:hugepaged:problem:nothing-pending

for bad in 0 86401 -1 2.5 x ''; do
        put_within "$bad" 620
        check_problem 400 "PUT ?confirm_within=$bad: 400"
        check_json "... of type invalid-query" 'd["type"]' urn:hugepaged:problem:invalid-query
done
check "... and the fixture file still holds 610" 610 "$(<"$NR")"

# --- a confirm window that runs out ---------------------------------------------------------

put_within 3 620
check_ok_json "PUT 620 ?confirm_within=3"
check_json "... generation 3 with a confirm deadline" \
        '[d["generation"], d["confirm_deadline"] is not None]' '[3,true]'
deadline=$(hp_py 'd["confirm_deadline"]')
check "... the fixture file holds 620" 620 "$(<"$NR")"
hp_get /status
check_json "GET /status: generation 3, confirmed 2" '[d["generation"], d["confirmed_generation"]]' '[3,2]'
check_json "... pending_confirm: generation 3, the deadline, reverts to 2" \
        '[d["pending_confirm"][k] for k in ("generation", "deadline", "reverts_to")]' "[3,\"$deadline\",2]"
check_json "... seconds_left is 0 to 4" '0 <= d["pending_confirm"]["seconds_left"] <= 4' true
hp_get /config/history
check_json "GET /config/history: generation 3 is pending, with its deadline" \
        '[[g["generation"], g["state"], g["current"], g["deadline"]] for g in d["generations"]][0]' \
        "[3,\"pending\",true,\"$deadline\"]"

if poll_status 'd["pending_confirm"] is None' 10; then
        ok "the pending change is gone from /status within 10 s"
else
        notok "the pending change is gone from /status within 10 s" "$(_hp_short "$(hp_py 'd["pending_confirm"]')")"
fi
check_json "GET /status: back to generation 2, confirmed 2, desired 610" \
        '[d["generation"], d["confirmed_generation"], d["desired"]]' "[2,2,$(cfg 610)]"
check_json "... in sync" '[d["in_sync"], d["drift"]]' '[true,[]]'
check "the fixture file holds 610 again" 610 "$(<"$NR")"
hp_get /config/history
check_json "GET /config/history: generation 3 reverted, 2 current and confirmed" \
        '[[g["generation"], g["state"], g["current"]] for g in d["generations"]]' \
        '[[3,"reverted",false],[2,"confirmed",true],[1,"confirmed",false]]'
check_json "... generation 2 and confirmed_generation 2" '[d["generation"], d["confirmed_generation"]]' '[2,2]'
check "the journal records the revert of 3 to 2 at the deadline" '[3,2,"deadline"]' \
        "$(records '[r[-1]["gen"], r[-1]["to"], r[-1]["reason"]] if r[-1]["event"] == "reverted" else r[-1]')"
hp_get /config
check_json "GET /config: generation 2" '[d["generation"], d["config"]]' "[2,$(cfg 610)]"
check "... ETag \"2\"" '"2"' "$(hp_header ETag)"

# --- a confirm window that is confirmed ------------------------------------------------------

put_within 4 630
check_ok_json "PUT 630 ?confirm_within=4"
check_json "... generation 4 (3 is not given out again)" 'd["generation"]' 4
deadline=$(hp_py 'd["confirm_deadline"]')
check "... the fixture file holds 630" 630 "$(<"$NR")"
hp_req POST /config/confirm -H 'If-Match: "2"'
check_problem 412 "POST /config/confirm with If-Match \"2\" (not the pending 4): 412"
hp_req POST /config/confirm -H 'If-Match: "4"'
check_ok_json "POST /config/confirm with If-Match \"4\""
check_json "... generation 4, confirmed" 'd' '{"confirmed":true,"generation":4}'
check "... ETag \"4\"" '"4"' "$(hp_header ETag)"
hp_get /status
check_json "GET /status: generation 4, confirmed 4, nothing pending" \
        '[d["generation"], d["confirmed_generation"], d["pending_confirm"]]' '[4,4,null]'
# Wait until the deadline is well past (the watcher looks every 200 ms).
deadline_s=$(date -d "$deadline" +%s)
while (($(date +%s) < deadline_s + 2)); do
        hp_get /status
        sleep 0.2
done
check_json "after the deadline: still generation 4, 630 pages, nothing pending" \
        '[d["generation"], d["desired"], d["pending_confirm"]]' "[4,$(cfg 630),null]"
check "... the fixture file still holds 630" 630 "$(<"$NR")"
hp_get /config/history
check_json "... history: generation 4 confirmed and current" \
        '[[g["generation"], g["state"], g["current"]] for g in d["generations"]][0]' '[4,"confirmed",true]'
hp_req POST /config/confirm
check_problem 409 "confirming again: 409 nothing-pending"

# --- a restart inside the window ------------------------------------------------------------

put_within 60 640
check_ok_json "PUT 640 ?confirm_within=60"
check_json "... generation 5" 'd["generation"]' 5
check "... the fixture file holds 640" 640 "$(<"$NR")"
put 650
check_problem 409 "PUT while generation 5 is pending: 409"
check_json "... of type confirm-pending" 'd["type"]' urn:hugepaged:problem:confirm-pending
hp_req -b '{"generation": 1}' POST /config/rollback
check_problem 409 "rollback while generation 5 is pending: 409"
check_json "... of type confirm-pending" 'd["type"]' urn:hugepaged:problem:confirm-pending
check "... and the fixture file still holds 640" 640 "$(<"$NR")"
hp_get /status
check_json "... and generation 5 is still the pending one" '[d["generation"], d["pending_confirm"]["generation"]]' '[5,5]'
hp_stop
check "the service stops with status 0 (SIGTERM) while 5 is pending" 0 "$HP_STOP_STATUS"
check "... the fixture file still holds 640" 640 "$(<"$NR")"
hp_start restarted "$STATE" "${ROOTS[@]}" || hp_bail "cannot go on without the restarted server"
check "after the restart, the fixture file holds 630 again" 630 "$(<"$NR")"
hp_get /status
check_json "GET /status: generation 4, confirmed 4, nothing pending, desired 630" \
        '[d["generation"], d["confirmed_generation"], d["pending_confirm"], d["desired"]]' "[4,4,null,$(cfg 630)]"
check_json "... journal_recovery is null (a revert is not a repair)" 'd["journal_recovery"]' null
hp_get /config/history
check_json "GET /config/history: generation 5 reverted" \
        '[[g["generation"], g["state"], g["current"]] for g in d["generations"]][0]' '[5,"reverted",false]'
check "the journal records the revert of 5 to 4 at the restart" '[5,4,"restart"]' \
        "$(records '[r[-1]["gen"], r[-1]["to"], r[-1]["reason"]] if r[-1]["event"] == "reverted" else r[-1]')"

# --- rollback -------------------------------------------------------------------------------

hp_req -b '{"generation": 1}' POST /config/rollback -H 'If-Match: "3"'
check_problem 412 "rollback with a stale If-Match: 412"
hp_req -b '{"generation": 99}' POST /config/rollback
check_problem 404 "rollback to generation 99 (never given out): 404"
check_json "... of type unknown-generation" 'd["type"]' urn:hugepaged:problem:unknown-generation
for body in '{}' '{"generation": 0}' '{"generation": "1"}' '{"generation": 1, "x": 2}' '[1]' 'nope'; do
        hp_req -b "$body" POST /config/rollback
        check_problem 400 "rollback with the body $body: 400"
done
check "... and the fixture file still holds 630" 630 "$(<"$NR")"

hp_req -b '{"generation": 1}' POST /config/rollback -H 'If-Match: "4"'
check_ok_json "rollback to generation 1 (600 pages)"
check_json "... a new generation 6 with generation 1's config, confirmed at once" \
        '[d["generation"], d["config"], d["confirm_deadline"], d["complete"]]' "[6,$(cfg 600),null,true]"
check "... ETag \"6\"" '"6"' "$(hp_header ETag)"
check "... the fixture file holds 600" 600 "$(<"$NR")"
hp_get /config/history
check_json "GET /config/history: generation 6 confirmed, origin 1; the others have no origin" \
        '[[g["generation"], g["state"], g["origin"]] for g in d["generations"]][:2]' '[[6,"confirmed",1],[5,"reverted",null]]'

hp_req -b '{"generation": 2}' POST '/config/rollback?confirm_within=30'
check_ok_json "rollback to generation 2 ?confirm_within=30"
check_json "... generation 7, pending" '[d["generation"], d["confirm_deadline"] is not None]' '[7,true]'
check "... the fixture file holds 610" 610 "$(<"$NR")"
hp_req POST /config/confirm
check_ok_json "... confirmed"
check_json "... generation 7" 'd["generation"]' 7

# --- --require-if-match ---------------------------------------------------------------------

MAIN_URL=$HP_URL MAIN_CACERT=$HP_CACERT MAIN_TOKEN=$HP_TOKEN MAIN_PID=$HP_PID
fixture fx2
NR2=$HP_WORK/fx2/sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages
hp_start strict "$HP_WORK/state2" --sysfs-root "$HP_WORK/fx2/sys" --procfs-root "$HP_WORK/fx2/proc" --require-if-match ||
        hp_bail "cannot go on without the --require-if-match server"
put 600
check_problem 428 "--require-if-match: PUT without If-Match is 428"
check_json "... of type precondition-required" 'd["type"]' urn:hugepaged:problem:precondition-required
check "... and the fixture file still holds 512" 512 "$(<"$NR2")"
put 600 -H 'If-Match: "1"'
check_problem 412 "--require-if-match: PUT with a wrong If-Match is 412"
put_within 30 600 -H 'If-Match: "0"'
check_ok_json "--require-if-match: PUT with If-Match \"0\" is 200"
check "... the fixture file holds 600" 600 "$(<"$NR2")"
hp_req POST /config/confirm
check_problem 428 "--require-if-match: POST /config/confirm without If-Match is 428"
hp_req POST /config/confirm -H 'If-Match: "1"'
check_ok_json "--require-if-match: POST /config/confirm with If-Match \"1\" is 200"
hp_req -b '{"generation": 1}' POST /config/rollback
check_problem 428 "--require-if-match: rollback without If-Match is 428"
hp_stop
check "the --require-if-match service stops with status 0" 0 "$HP_STOP_STATUS"
HP_URL=$MAIN_URL HP_CACERT=$MAIN_CACERT HP_TOKEN=$MAIN_TOKEN HP_PID=$MAIN_PID

# --- the console, next to the running service -------------------------------------------------

hp_get /config/history
want_gens=$(hp_py '" ".join(str(g["generation"]) for g in d["generations"])')
console history
check "hugepaged history exits 0" 0 "$CON_RC"
check "... lists the generations of GET /config/history, newest first" "$want_gens" \
        "$(awk '$1 ~ /^[0-9]+$/ { printf "%s%s", sep, $1; sep = " " }' <<<"$CON_OUT")"
check "... marks generation 7 confirmed and current" "7 confirmed current" \
        "$(awk '$1 == 7 { print $1, $3, (/<- current$/ ? "current" : "not current") }' <<<"$CON_OUT")"
check "... shows generation 5 as reverted" "5 reverted" "$(awk '$1 == 5 { print $1, $3 }' <<<"$CON_OUT")"

console rollback --to 4
check "hugepaged rollback --to 4 exits 0" 0 "$CON_RC"
check_match "... says it rolled back to a new generation 8" 'rolled back: generation 8' "$CON_OUT"
check "... the fixture file holds 630" 630 "$(<"$NR")"
if poll_config 8 5; then
        ok "the running service shows generation 8 in GET /config within 5 s"
else
        notok "the running service shows generation 8 in GET /config within 5 s" "$(_hp_short "$HP_BODY")"
fi
check_json "... with generation 4's config" 'd["config"]' "$(cfg 630)"
hp_get /config/history
check_json "... and history: generation 8 by console, origin 4, confirmed" \
        '[[g[k] for k in ("generation", "who", "origin", "state")] for g in d["generations"]][0]' '[8,"console",4,"confirmed"]'

console rollback --to 99
check "hugepaged rollback --to 99 (unknown) fails" 1 "$CON_RC"
check_match "... and says the generation is not in the journal" '99 is not in the journal' "$CON_OUT"

echo 999 >"$NR"
# A change behind the service's back shows within 100 ms (the kept
# answer of docs/api.md, "How fresh").
sleep 0.15
hp_get /status
check_json "after echo 999 behind the service's back: drift on /pools/2Mi/count" \
        '[[x["pointer"], x["desired"], x["actual"]] for x in d["drift"]]' '[["/pools/2Mi/count",630,999]]'
console apply-saved
check "hugepaged apply-saved exits 0" 0 "$CON_RC"
check_match "... and says it applied the saved config (generation 8)" 'applied the saved config: generation 8' "$CON_OUT"
check "... the fixture file holds 630 again" 630 "$(<"$NR")"
hp_get /status
check_json "GET /status: in sync at generation 8" '[d["generation"], d["in_sync"]]' '[8,true]'

# The console's rollback without --to undoes a pending change.
put_within 60 650
check_ok_json "PUT 650 ?confirm_within=60 (generation 9)"
check "... the fixture file holds 650" 650 "$(<"$NR")"
console rollback
check "hugepaged rollback (no --to) with generation 9 pending exits 0" 0 "$CON_RC"
check_match "... and says it reverted the pending change" 'reverted the pending change' "$CON_OUT"
check "... the fixture file holds 630 again" 630 "$(<"$NR")"
if poll_status 'd["pending_confirm"] is None and d["generation"] == 8' 5; then
        ok "the running service shows nothing pending, generation 8, within 5 s"
else
        notok "the running service shows nothing pending, generation 8, within 5 s" "$(_hp_short "$HP_BODY")"
fi
check "the journal records the revert of 9 as the operator's" '[9,8,"operator"]' \
        "$(records '[r[-1]["gen"], r[-1]["to"], r[-1]["reason"]] if r[-1]["event"] == "reverted" else r[-1]')"
check "every journal line verifies" yes "$([[ $(hp_journal_verify "$STATE/journal") == *"records verify" ]] && echo yes || hp_journal_verify "$STATE/journal")"

# --- a torn journal tail ----------------------------------------------------------------------

hp_get /config/history
history_before=$(hp_py 'd')
hp_stop
check "the service stops with status 0" 0 "$HP_STOP_STATUS"
good_size=$(stat -c %s "$STATE/journal")
half=$(tail -n 1 "$STATE/journal" | head -c 100)
printf '%s' "$half" >>"$STATE/journal"
hp_start torn "$STATE" "${ROOTS[@]}" || hp_bail "cannot go on: the service does not start on a torn journal"
ok "the service starts on a journal with half a line at its end"
hp_get /status
check_ok_json "GET /status after the torn tail"
saved=$(hp_py 'd["journal_recovery"]')
check_match "... journal_recovery names the file the tail was saved to" "$STATE/journal\\.corrupt-[0-9TZ-]+" "$saved"
saved_file=$(grep -oE "$STATE/journal\\.corrupt-[0-9TZ-]+" <<<"$saved" | head -n 1)
check "... that file exists and holds the half line" "$half" "$(cat "$saved_file" 2>/dev/null || echo "<no file '$saved_file'>")"
check "... the journal is cut back to its last good record" "$good_size" "$(stat -c %s "$STATE/journal")"
check_json "... generation 8, nothing pending" '[d["generation"], d["confirmed_generation"], d["pending_confirm"]]' '[8,8,null]'
hp_get /config/history
check "GET /config/history is intact" "$history_before" "$(hp_py 'd')"
console history
check "hugepaged history exits 0 on the mended journal" 0 "$CON_RC"
put 660
check_ok_json "a PUT after the repair"
check_json "... is generation 10" 'd["generation"]' 10
check "every journal line verifies" yes "$([[ $(hp_journal_verify "$STATE/journal") == *"records verify" ]] && echo yes || hp_journal_verify "$STATE/journal")"
hp_stop
check "the service stops with status 0" 0 "$HP_STOP_STATUS"

# --- --initial-config ----------------------------------------------------------------------------

fixture fx3
NR3=$HP_WORK/fx3/sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages
ROOTS3=(--sysfs-root "$HP_WORK/fx3/sys" --procfs-root "$HP_WORK/fx3/proc")
cfg 700 >"$HP_WORK/initial.json"
cfg 710 >"$HP_WORK/other.json"
hp_start initial "$HP_WORK/state3" "${ROOTS3[@]}" --initial-config "$HP_WORK/initial.json" ||
        hp_bail "cannot go on without the --initial-config server"
hp_get /config
check_json "--initial-config on a fresh state directory: generation 1 with that config" 'd' \
        "{\"config\":$(cfg 700),\"generation\":1}"
check "... the fixture file holds 700" 700 "$(<"$NR3")"
hp_get /config/history
check_json "... history: generation 1 by the installer, confirmed" \
        '[[g[k] for k in ("generation", "who", "state", "complete")] for g in d["generations"]]' '[[1,"installer","confirmed",true]]'
hp_stop
hp_start initial-again "$HP_WORK/state3" "${ROOTS3[@]}" --initial-config "$HP_WORK/other.json" ||
        hp_bail "cannot go on without the second --initial-config server"
hp_get /config
check_json "a second start with --initial-config of another config: ignored, still generation 1" 'd' \
        "{\"config\":$(cfg 700),\"generation\":1}"
check "... the fixture file still holds 700" 700 "$(<"$NR3")"
check_match "... and the log says it was ignored" 'initial-config .*ignored' "$(cat "$HP_LOG")"

# --- revert now (the confirm window's Revert) ------------------------------------------------------

hp_req POST /config/revert
check_problem 409 "POST /config/revert with nothing pending: 409"
check_json "... of type nothing-pending" 'd["type"]' urn:hugepaged:problem:nothing-pending
hp_req -b "$(cfg 720)" PUT "/config?confirm_within=600"
check_ok_json "PUT 720 ?confirm_within=600"
check "... the fixture file holds 720" 720 "$(<"$NR3")"
hp_req POST /config/revert -H 'If-Match: "1"'
check_problem 412 "POST /config/revert with If-Match \"1\" (not the pending 2): 412"
check "... the fixture file still holds 720" 720 "$(<"$NR3")"
t0=$(date +%s)
hp_req POST /config/revert -H 'If-Match: "2"'
check_ok_json "POST /config/revert with If-Match \"2\", long before the deadline"
check_json "... generation 2 reverted, generation 1 in force, every write done" \
        '[d["reverted"], d["generation"], d["complete"]]' '[2,1,true]'
check_json "... the report: 2Mi from 720 back to 700" \
        '[[r["pointer"], r["before"], r["after"], r["status"]] for r in d["results"]]' '[["/pools/2Mi/count",720,700,"ok"]]'
check "... ETag \"1\"" '"1"' "$(hp_header ETag)"
check "... at once, not at the deadline" yes "$( (($(date +%s) - t0 < 5)) && echo yes || echo "no: $(($(date +%s) - t0)) s")"
check "... the fixture file holds 700 again" 700 "$(<"$NR3")"
hp_get /status
check_json "GET /status: generation 1, confirmed 1, nothing pending, desired 700" \
        '[d["generation"], d["confirmed_generation"], d["pending_confirm"], d["desired"]]' "[1,1,null,$(cfg 700)]"
hp_get /config/history
check_json "GET /config/history: generation 2 reverted, 1 current" \
        '[[g["generation"], g["state"], g["current"]] for g in d["generations"]]' '[[2,"reverted",false],[1,"confirmed",true]]'
check "the journal records the revert of 2 to 1 by the operator" '[2,1,"operator"]' \
        "$(tail -n1 "$HP_WORK/state3/journal" | cut -d' ' -f2- | python3 -c 'import json,sys; r=json.load(sys.stdin); print(json.dumps([r.get("gen"), r.get("to"), r.get("reason")], separators=(",", ":")))')"
hp_req POST /config/revert
check_problem 409 "reverting again: 409 nothing-pending"
hp_stop

# initial_refused NAME BODY POINTER: the start fails, naming the pointer,
# and nothing is journaled or written.
initial_refused() {
        local dir=$HP_WORK/state-$1 out rc=0
        printf '%s' "$2" >"$HP_WORK/$1.json"
        out=$(timeout 15 "$HP_BIN" --listen 127.0.0.1:0 --state-dir "$dir" "${ROOTS3[@]}" \
                --initial-config "$HP_WORK/$1.json" 2>&1) || rc=$?
        check "--initial-config with $1: the start fails (not a timeout)" yes \
                "$([[ $rc != 0 && $rc != 124 ]] && echo yes || echo "no, status $rc")"
        check_match "... the message names the pointer $3" "\"$3\"" "$out"
        check "... and the journal holds no record" 0 "$(stat -c %s "$dir/journal" 2>/dev/null || echo 0)"
}
initial_refused "an unknown node" '{"pools": {"1Gi": {"nodes": {"3": 1}}}}' /pools/1Gi/nodes/3
initial_refused "an unknown field" '{"pools": {"2Mi": {"count": 1, "cnt": 2}}}' /pools/2Mi/cnt
check "... and the fixture file still holds 700" 700 "$(<"$NR3")"
rc=0
out=$(timeout 15 "$HP_BIN" --listen 127.0.0.1:0 --state-dir "$HP_WORK/state-missing" "${ROOTS3[@]}" \
        --initial-config "$HP_WORK/no-such-file.json" 2>&1) || rc=$?
check "--initial-config of a missing file: the start fails, naming it" "yes" \
        "$([[ $rc != 0 && $rc != 124 && $out == *no-such-file.json* ]] && echo yes || echo "no, status $rc: $(_hp_short "$out")")"

hp_finish
