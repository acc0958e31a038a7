#!/usr/bin/env bash
# Crash test of the journal on a copy of the fake tree x86-2node: round
# after round, PUTs with distinct 2Mi counts (and now and then a change of
# the 1Gi pages per node) go to the service one after the other, and the
# service is killed with SIGKILL 0 to 50 ms after one of them started. It
# runs with --history 2, so that compaction (a rewrite of the journal) is
# frequent; when the journal is close to its next compaction, the kill is
# aimed at the PUT that triggers it. After each kill the service is started
# again on the same state directory, and:
#
# - GET /config gives the last acknowledged config (a PUT whose 200 was
#   received) or the one in flight, never anything else;
# - the fake kernel holds that config (a change that was not confirmed was
#   reverted at the start);
# - every journal line verifies (the SHA-256 of its JSON text), nothing was
#   set aside as damaged, and `hugepaged history` exits 0.
#
# A line is printed for each failing round only, then the totals.
#
# Environment: HUGEPAGED_CRASH_ROUNDS (default 200), HUGEPAGED_CRASH_SEED
# (default: random; printed, to repeat a run).
#
# Usage: test-crash.sh PATH-TO-hugepaged
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
hp_setup "${1:-}"

ROUNDS=${HUGEPAGED_CRASH_ROUNDS:-200}
SEED=${HUGEPAGED_CRASH_SEED:-$((($$ + $(date +%s)) % 32768))}
RANDOM=$SEED
echo "# $ROUNDS rounds, seed $SEED (HUGEPAGED_CRASH_SEED=$SEED repeats this run)"

FX=$HP_WORK/fx
cp -r "$HP_REPO/tests/fixtures/x86-2node" "$FX"
# A fake tree's free_hugepages does not follow a write of nr_hugepages as
# the kernel's does, so after the 1Gi pool grows, a later smaller count
# would look like a shrink below pages in use and be refused (422). This
# test is about crashes: free 1Gi counts high enough that none is in use.
for f in "$FX"/sys/kernel/mm/hugepages/hugepages-1048576kB/free_hugepages \
        "$FX"/sys/devices/system/node/node*/hugepages/hugepages-1048576kB/free_hugepages; do
        echo 1000 >"$f"
done
ROOTS=(--sysfs-root "$FX/sys" --procfs-root "$FX/proc")
H2M=$FX/sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages
NODE_1G=$FX/sys/devices/system/node/node%d/hugepages/hugepages-1048576kB/nr_hugepages # a printf format
node_1g() {
        printf '%s/sys/devices/system/node/node%d/hugepages/hugepages-1048576kB/nr_hugepages' "$FX" "$1"
}
STATE=$HP_WORK/state
JOURNAL=$STATE/journal
# --history 2: the journal is compacted when it holds more than 2 * 8 + 64
# records (model/journal.c), and a PUT of a new config adds three.
COMPACT_AT=81
SENDER_LOG=$HP_WORK/sender.log

# start: the service on STATE, --history 2.
start() {
        hp_start crash "$STATE" "${ROOTS[@]}" --history 2
}

# sender PID FIRST N KILL_AT DELAY_MS: sends N PUTs of counts FIRST,
# FIRST+1, … one after the other, and SIGKILLs PID DELAY_MS after starting
# PUT number KILL_AT. Logs "sent I CONFIG" before and "ack I" after each 200
# to $SENDER_LOG; stops at the first answer that is not a 200. Run it in a
# subshell: it waits for its killer.
sender() {
        local pid=$1 first=$2 n=$3 kill_at=$4 delay=$5 i body g0 g1
        : >"$SENDER_LOG"
        for ((i = 1; i <= n; i++)); do
                body="{\"pools\": {\"2Mi\": {\"count\": $((first + i - 1))}"
                # Every third PUT also sets the 1Gi pages per node.
                if (((first + i) % 3 == 0)); then
                        g0=$(((first + i) / 3 % 3)) g1=$(((first + i) / 9 % 3))
                        body+=", \"1Gi\": {\"nodes\": {\"0\": $g0, \"1\": $g1}}"
                fi
                body+="}}"
                echo "sent $i $body" >>"$SENDER_LOG"
                if ((i == kill_at)); then
                        (
                                sleep "$(printf '0.%03d' "$delay")"
                                kill -KILL "$pid" 2>/dev/null || true
                        ) &
                fi
                local code
                code=$(curl -sS --max-time 10 --cacert "$HP_CACERT" -X PUT -H "Authorization: Bearer $HP_TOKEN" \
                        -H 'Content-Type: application/json' --data-binary "$body" -o /dev/null -w '%{http_code}' \
                        "$HP_URL/config" 2>/dev/null) || true
                if [[ "$code" != 200 ]]; then
                        echo "fail $i $code" >>"$SENDER_LOG"
                        break
                fi
                echo "ack $i" >>"$SENDER_LOG"
        done
        wait
}

# judge ACKED INFLIGHT: one Python run for the round's checks; prints
# "acked" or "inflight" (with " reverted" when the start reverted a change
# caught mid-way), or what is wrong.
judge() {
        python3 - "$HP_BODY_FILE" "$1" "$2" "$JOURNAL" "$H2M" "$NODE_1G" <<'EOF'
import hashlib, json, sys
body_file, acked, inflight, journal, h2m, node_1g = sys.argv[1:]
bad = []
try:
    got = json.load(open(body_file))["config"]
except Exception as e:
    print(f"GET /config did not give a config document: {e}")
    sys.exit(0)
verdict = None
if inflight and got == json.loads(inflight):
    verdict = "inflight"
if got == (json.loads(acked) if acked else None):
    verdict = "acked"
if verdict is None:
    bad.append(f"GET /config gives {json.dumps(got)}; the acknowledged config is {acked or 'none'}"
               f" and the one in flight {inflight or 'none'}")
# The fake kernel holds the desired config.
if got:
    pools = got.get("pools", {})
    if "2Mi" in pools and int(open(h2m).read()) != pools["2Mi"]["count"]:
        bad.append(f"the 2Mi file holds {open(h2m).read().strip()}, the config {pools['2Mi']['count']}")
    for node, want in pools.get("1Gi", {}).get("nodes", {}).items():
        have = int(open(node_1g % int(node)).read())
        if have != want:
            bad.append(f"node{node}'s 1Gi file holds {have}, the config {want}")
# Every journal line verifies.
data = open(journal, "rb").read()
lines = data.split(b"\n")
if lines[-1] != b"":
    bad.append("the journal does not end with a newline")
for i, line in enumerate(lines[:-1], 1):
    digest, _, text = line.partition(b" ")
    if hashlib.sha256(text).hexdigest().encode() != digest:
        bad.append(f"journal line {i} does not verify: {line[:120]!r}")
# A change caught between its "accepted" and "confirmed" records is reverted
# at the start: then the journal ends with that revert.
last = json.loads(lines[-2].partition(b" ")[2]) if len(lines) > 1 else {}
if not bad and last.get("event") == "reverted" and last.get("reason") == "restart":
    verdict += " reverted"
print("; ".join(bad) if bad else verdict)
EOF
}

# fix_fake_file FILE PATH: an empty FILE gets the value at PATH of the
# config in flight (else of the acknowledged one).
fix_fake_file() {
        [[ -s "$1" ]] && return 0
        local v
        v=$(python3 -c 'import json, sys; print(json.loads(sys.argv[1])'"$2"')' "${INFLIGHT:-$ACKED}" 2>/dev/null) ||
                v=$(python3 -c 'import json, sys; print(json.loads(sys.argv[1])'"$2"')' "$ACKED" 2>/dev/null) || v=0
        echo "$v" >"$1"
        n_torn_fake=$((n_torn_fake + 1))
}

start || hp_bail "cannot go on without a server"
ACKED=          # the last acknowledged config (JSON text), "" = none yet
COUNT=1000      # the next 2Mi count
n_acked=0 n_inflight=0 n_reverted=0 n_failed=0 n_torn_fake=0 n_compactions=0 n_aimed=0 n_killed=0
t0=$SECONDS
# Bash reports each SIGKILLed job ("Killed") on stderr: the loop's stderr
# goes to a file, shown at the end without those lines.
for ((round = 1; round <= ROUNDS; round++)); do
        why=()
        lines=$(wc -l <"$JOURNAL")
        inode=$(stat -c %i "$JOURNAL")
        delay=$((RANDOM % 51))
        if ((lines + 30 >= COMPACT_AT)); then
                # Aim at the PUT that makes the journal reach COMPACT_AT.
                kill_at=$(((COMPACT_AT - lines + 2) / 3))
                ((kill_at >= 1)) || kill_at=1
                n=$((kill_at + 3))
                n_aimed=$((n_aimed + 1))
        else
                n=$((1 + RANDOM % 4))
                kill_at=$((1 + RANDOM % n))
        fi
        (sender "$HP_PID" "$COUNT" "$n" "$kill_at" "$delay")
        COUNT=$((COUNT + n))
        # The service must be gone (killed), or is killed now if the sender
        # was done before the delay ran out.
        kill -KILL "$HP_PID" 2>/dev/null || true
        hp_stop
        ((HP_STOP_STATUS == 137)) && n_killed=$((n_killed + 1))

        # What the client saw: the last acknowledged PUT, and the one after it.
        last_ack=$(sed -n 's/^ack \([0-9]*\)$/\1/p' "$SENDER_LOG" | tail -n 1)
        [[ -z "$last_ack" ]] || ACKED=$(sed -n "s/^sent $last_ack //p" "$SENDER_LOG")
        INFLIGHT=$(sed -n "s/^sent $((${last_ack:-0} + 1)) //p" "$SENDER_LOG")

        # The service writes a sysfs file with open(O_TRUNC) and write(2):
        # on sysfs a write happens whole or not at all, but a kill between
        # the two leaves a fake-tree file empty. Emulate sysfs: the write
        # happened (the restart reverts it if the change was not confirmed).
        fix_fake_file "$H2M" '["pools"]["2Mi"]["count"]'
        fix_fake_file "$(node_1g 0)" '["pools"]["1Gi"]["nodes"]["0"]'
        fix_fake_file "$(node_1g 1)" '["pools"]["1Gi"]["nodes"]["1"]'

        if ! start; then
                notok "round $round: the service starts again after the kill" "$(_hp_short "$(cat "$HP_LOG")")"
                hp_bail "cannot go on without a server"
        fi
        # A kill cannot tear a record (write(2) of a line is whole or not
        # at all for a process that dies): nothing may need mending.
        if grep -qE '^hugepaged: (warning: |error: )?(journal:|a change left unconfirmed)' "$HP_LOG"; then
                why+=("the start says: $(grep -E '^hugepaged: (warning: |error: )?(journal:|a change left unconfirmed)' "$HP_LOG" | head -n 2)")
        fi
        hp_get /config
        if [[ "$HP_STATUS" != 200 ]]; then
                why+=("GET /config answered $HP_STATUS $(_hp_short "$HP_BODY")${HP_CURL_ERR:+ [$HP_CURL_ERR]};" \
                        "the service is $(kill -0 "$HP_PID" 2>/dev/null && echo running || echo gone); its log:" \
                        "$(_hp_short "$(tail -n 5 "$HP_LOG")")")
        else
                verdict=$(judge "$ACKED" "$INFLIGHT")
                case $verdict in
                acked) n_acked=$((n_acked + 1)) ;;
                "acked reverted")
                        n_acked=$((n_acked + 1))
                        n_reverted=$((n_reverted + 1))
                        ;;
                inflight)
                        n_inflight=$((n_inflight + 1))
                        ACKED=$INFLIGHT
                        ;;
                *) why+=("$verdict") ;;
                esac
        fi
        hout=$(timeout 10 "$HP_BIN" history --state-dir "$STATE" "${ROOTS[@]}" 2>&1) || why+=("hugepaged history failed: $(_hp_short "$hout")")
        [[ $(stat -c %i "$JOURNAL") == "$inode" ]] || n_compactions=$((n_compactions + 1))

        if ((${#why[@]})); then
                n_failed=$((n_failed + 1))
                notok "round $round (kill during PUT $kill_at of $n, +${delay} ms; journal had $lines lines)" "${why[*]}"
                # Go on from what the service says now.
                [[ "$HP_STATUS" != 200 ]] || ACKED=$(hp_py 'd["config"]' | sed 's/^null$//')
        fi
done 2>"$HP_WORK/loop.stderr"
elapsed=$((SECONDS - t0))
grep -v -E '^.*line [0-9]+: +[0-9]+ Killed ' "$HP_WORK/loop.stderr" | sed 's/^/# stderr: /' || true

check "$ROUNDS rounds: after every kill the service holds the acknowledged config or the one in flight" \
        "0 failing rounds" "$n_failed failing rounds"
echo "# $n_acked rounds kept the acknowledged config ($n_reverted of them after reverting a change the kill" \
        "caught mid-way), $n_inflight the one in flight; $n_killed kills landed" \
        "while the service ran; $n_compactions rounds compacted the journal ($n_aimed aimed at a compaction);" \
        "$n_torn_fake fake-tree files found empty (a kill between open(O_TRUNC) and write) and refilled; ${elapsed}s"
check_match "some kills caught a change between its accepted and confirmed records (reverted at the start)" \
        '^[1-9]' "$n_reverted"
check_match "compaction ran during the test" '^[1-9]' "$n_compactions"
check "the last journal verifies" yes \
        "$([[ $(hp_journal_verify "$JOURNAL") == *"records verify" ]] && echo yes || hp_journal_verify "$JOURNAL")"
hp_stop
check "the service stops with status 0" 0 "$HP_STOP_STATUS"
hp_finish
