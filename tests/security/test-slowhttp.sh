#!/usr/bin/env bash
# Security test: slow HTTP attacks with Debian's slowhttptest against the
# real binary over HTTPS on 127.0.0.1, while a legitimate client keeps being
# served.
#
#   1. slow headers (Slowloris, -H): hundreds of connections, each sending
#      one more header line every 5 s, so never idle for the service's 10 s
#      idle timeout and never complete;
#   2. slow body (R-U-Dead-Yet, -B): POST /validate announcing a 1 MiB body
#      (over --max-body, so the service reads and drops it before its 413;
#      under the 8 MiB that are refused at the headers) and sending a few
#      bytes every 5 s.
#
# The attacker connects from 127.0.0.1 and keeps knocking for the whole
# attack (its connections are asked for at a steady rate, not all at once),
# so a slot that frees up is taken again at once. The legitimate client is
# curl from ANOTHER loopback address (--interface 127.0.0.2): the service
# limits connections per client address (16 by default, 64 in all), so one
# address cannot take every connection, and that is what is tested: while
# each attack runs, GET /healthz and GET /sizes (with the bearer token) from
# 127.0.0.2 every ~0.5 s must all answer 200. Also checked: no attacker
# connection lives much past the service's request timeout (30 s by
# default), which cuts requests that are not complete in time.
#
# Figures: attacker connections asked for, connected and held
# (slowhttptest's -g CSV, and the sockets seen with ss, with their
# lifetimes), legit requests ok/total, latency p50 and max.
#
# The service runs with --anonymous-read so that the attacker's POST
# /validate, which carries no token (slowhttptest cannot add one), gets past
# the headers and the service really reads the slow body; without it every
# such request is refused with a 401 at the headers and closed at once,
# which is not the case worth testing.
#
# Usage: test-slowhttp.sh PATH-TO-hugepaged
# Environment: HUGEPAGED_SLOW_SECONDS (length of each attack, default 36:
# longer than the 30 s request timeout, so that its cuts are seen),
# HUGEPAGED_SLOW_CONNECTIONS (default 300), HUGEPAGED_SLOW_SERVER_ARGS (more
# options for the service, words split on blanks: e.g.
# "--max-connections-per-client 64" shows the test failing when one address
# may take every connection), and the lib.sh variables.
set -u -o pipefail
. "$(dirname "${BASH_SOURCE[0]}")/../integration/lib.sh"
for tool in slowhttptest ss; do
        command -v "$tool" >/dev/null || hp_skip_all "$tool is not installed"
done
ATTACK_S=${HUGEPAGED_SLOW_SECONDS:-36}
CONNS=${HUGEPAGED_SLOW_CONNECTIONS:-300}
# Connections per second: spread over the whole attack, at least 1.
RATE=$((CONNS / ATTACK_S > 0 ? CONNS / ATTACK_S : 1))
LEGIT_ADDR=127.0.0.2
# The service's default --request-timeout, and the slack allowed on top of
# it (its reaper looks every 250 ms; ss is sampled every ~0.5 s).
REQUEST_TIMEOUT_S=30
CUT_SLACK_S=3
: "${HUGEPAGED_IT_TIMEOUT:=$((2 * ATTACK_S + 120))}"
export HUGEPAGED_IT_TIMEOUT
hp_setup "${1:-}"

FX=$HP_WORK/fx
cp -r "$HP_REPO/tests/fixtures/x86-2node" "$FX"
STATE=$HP_WORK/state

ATTACKER=
# shellcheck disable=SC2317 # called from lib.sh's EXIT trap
hp_on_exit() {
        # slowhttptest runs under timeout(1), which passes the TERM on to it.
        if [[ -n "$ATTACKER" ]] && kill -0 "$ATTACKER" 2>/dev/null; then
                kill -TERM "$ATTACKER" 2>/dev/null || true
                wait "$ATTACKER" 2>/dev/null || true
        fi
}

read -ra SERVER_ARGS <<<"${HUGEPAGED_SLOW_SERVER_ARGS:-}"
hp_start main "$STATE" --sysfs-root "$FX/sys" --procfs-root "$FX/proc" --anonymous-read "${SERVER_ARGS[@]}" ||
        hp_bail "cannot go on without a server"
PORT=${HP_URL##*:}

hp_get -n /healthz
check_ok_json "before the attacks: GET /healthz from 127.0.0.1"
hp_get /sizes
check_ok_json "before the attacks: GET /sizes with the token from 127.0.0.1"

# legit_get PATH [CURL_ARGS…]: one request from the legitimate address;
# prints "STATUS SECONDS [CURL_ERROR]".
legit_get() {
        local path=$1 out rc=0
        shift
        out=$(curl -sS --max-time 10 --interface "$LEGIT_ADDR" --cacert "$HP_CACERT" "$@" \
                -o /dev/null -w '%{http_code} %{time_total}' "$HP_URL$path" 2>"$HP_WORK/legit.err") || rc=$?
        [[ -n "$out" ]] || out="000 0"
        if ((rc == 0)); then
                printf '%s\n' "$out"
        else
                printf '%s curl exit %s: %s\n' "$out" "$rc" "$(head -c 200 "$HP_WORK/legit.err" | tr '\n' ' ')"
        fi
}

read -r code _ err <<<"$(legit_get /healthz)"
check "before the attacks: GET /healthz from $LEGIT_ADDR (curl --interface)" 200 "$code${err:+ ($err)}"
((HP_FAILED == 0)) || hp_bail "cannot go on: the legitimate client does not get through even without an attack"

# attacker_ports: the client-side ports of the TCP connections established
# from 127.0.0.1 to the service (slowhttptest's, its probe's), on one line.
attacker_ports() {
        ss -Htn state established "( dport = :$PORT and src 127.0.0.1 )" 2>/dev/null |
                awk '{ n = split($(NF - 1), a, ":"); printf "%s ", a[n] }'
}

# attack NAME SLOWHTTPTEST_ARGS…: runs slowhttptest for ATTACK_S seconds
# with the legitimate client's loop beside it, then checks and prints the
# figures.
attack() {
        local name=$1
        shift
        local log=$HP_WORK/$name.out csv=$HP_WORK/$name.csv
        local samples=$HP_WORK/$name.legit ports=$HP_WORK/$name.ports facts=$HP_WORK/$name.facts
        local i t0 t1 now rest p held=()
        : >"$samples"
        : >"$ports"
        # -i 5: a follow-up every 5 s, under the 10 s idle timeout. -r: the
        # connections are asked for over the whole attack. -p 3: the tool's
        # own probe (from 127.0.0.1 too, so it mostly meets the per-address
        # limit; not used here). In the background, so that a TERM from the
        # watchdog is handled at once.
        local started=$EPOCHREALTIME
        timeout -k 5 $((ATTACK_S + 30)) slowhttptest "$@" -c "$CONNS" -r "$RATE" -i 5 -l "$ATTACK_S" -p 3 \
                -g -o "$HP_WORK/$name" >"$log" 2>&1 </dev/null &
        ATTACKER=$!
        # Measure once the attacker holds something (at most 5 s).
        for ((i = 0; i < 50; i++)); do
                [[ -n "$(attacker_ports)" ]] && break
                sleep 0.1
        done
        # Bounded: a round (the attacker's sockets, /healthz, /sizes) about
        # every 0.5 s while slowhttptest runs, and never more rounds than
        # the attack's length allows.
        local rounds=$(((ATTACK_S + 10) * 2))
        for ((i = 0; i < rounds; i++)); do
                kill -0 "$ATTACKER" 2>/dev/null || break
                t0=$EPOCHREALTIME
                p=$(attacker_ports)
                now=$(awk -v a="$started" -v b="$t0" 'BEGIN { printf "%.2f", b - a }')
                echo "$now $p" >>"$ports"
                read -ra held <<<"$p"
                echo "healthz ${#held[@]} $(legit_get /healthz)" >>"$samples"
                echo "sizes ${#held[@]} $(legit_get /sizes -H "Authorization: Bearer $HP_TOKEN")" >>"$samples"
                t1=$EPOCHREALTIME
                rest=$(awk -v a="$t0" -v b="$t1" 'BEGIN { r = 0.5 - (b - a); printf "%.3f", (r > 0 ? r : 0) }')
                sleep "$rest"
        done
        local rc=0
        wait "$ATTACKER" || rc=$?
        ATTACKER=
        check "$name: slowhttptest runs to its end (exit status 0)" 0 "$rc"
        ((rc == 0)) || sed 's/\x1b\[[0-9;]*[A-Za-z]//g' "$log" | tail -n 15 | sed 's/^/#   /'

        # The CSV: "Seconds,Closed,Pending,Connected,Service Available", one
        # row per second; the exit reason from the screen output; the ss
        # samples "T PORT…"; the legit samples "PATH HELD STATUS SECONDS [ERR]".
        python3 - "$csv" "$log" "$ports" "$samples" "$facts" <<'EOF'
import csv, re, statistics, sys
csv_path, log_path, ports_path, samples_path, facts_path = sys.argv[1:]
facts = []
try:
    with open(csv_path, newline="") as fh:
        rows = list(csv.DictReader(fh))
    connected = [int(r["Connected"]) for r in rows]
    facts += [f"connected_max {max(connected)}",
              f"seconds_at_max {sum(1 for c in connected if c == max(connected))}",
              f"csv_seconds {rows[-1]['Seconds']}",
              f"closed_last {rows[-1]['Closed']}", f"pending_last {rows[-1]['Pending']}",
              f"connected_last {connected[-1]}"]
except (OSError, KeyError, ValueError) as e:
    facts.append(f"csv_error {type(e).__name__}: {e}")
text = re.sub(r"\x1b\[[0-9;]*[A-Za-z]", "", open(log_path, errors="replace").read())
m = re.findall(r"Exit status:\s*(.*)", text)
facts.append(f"exit_reason {m[-1].strip() if m else '?'}")
# Connection lifetimes from the ss samples: first to last time a port was
# seen; a port still there at the last sample is "open at the end".
first, last, held = {}, {}, []
times = []
for line in open(ports_path):
    words = line.split()
    if not words:
        continue
    t = float(words[0])
    times.append(t)
    held.append(len(words) - 1)
    for port in words[1:]:
        first.setdefault(port, t)
        last[port] = t
if times:
    lives = {p: last[p] - first[p] for p in first}
    facts += [f"held_min {min(held)}", f"held_max {max(held)}", f"distinct {len(first)}",
              f"life_max {max(lives.values(), default=0):.1f}",
              f"open_at_end {sum(1 for p in last if last[p] == times[-1])}",
              f"measured_from {times[0]:.1f}", f"measured_to {times[-1]:.1f}"]
ok, total, lat, bad, under = 0, 0, [], [], 0
for line in open(samples_path):
    parts = line.split(maxsplit=4)
    if len(parts) < 4:
        continue
    path, n_held, status, secs = parts[0], int(parts[1]), parts[2], float(parts[3])
    total += 1
    under += n_held > 0
    if status == "200":
        ok += 1
        lat.append(secs)
    else:
        bad.append(f"{path} {status} after {secs:.3f} s, attacker holding {n_held}"
                   + (f": {parts[4].strip()}" if len(parts) > 4 else ""))
facts += [f"legit_ok {ok}", f"legit_total {total}", f"legit_under_attack {under}"]
if lat:
    facts += [f"p50_ms {statistics.median(lat) * 1000:.1f}", f"max_ms {max(lat) * 1000:.1f}"]
facts += [f"legit_bad {b}" for b in bad[:20]]
with open(facts_path, "w") as fh:
    fh.write("\n".join(facts) + "\n")
EOF
        fact() { sed -n "s/^$1 //p" "$facts"; }

        local csv_error
        csv_error=$(fact csv_error)
        if [[ -n "$csv_error" ]]; then
                notok "$name: slowhttptest wrote its CSV statistics" "$csv_error"
        else
                # Without connections held the attack proved nothing.
                check_match "$name: the attacker got connections (slowhttptest connected > 0)" '^[1-9][0-9]*$' \
                        "$(fact connected_max)"
        fi
        echo "# $name: slowhttptest asked for $CONNS connections at $RATE/s for ${ATTACK_S} s: connected at most" \
                "$(fact connected_max) at once (during $(fact seconds_at_max) s of $(fact csv_seconds));" \
                "at the end connected $(fact connected_last), closed $(fact closed_last), pending $(fact pending_last)" \
                "(pending: refused at the per-address limit); exit: $(fact exit_reason)"
        echo "# $name: sockets from 127.0.0.1 seen with ss from $(fact measured_from) s to $(fact measured_to) s:" \
                "$(fact held_min) to $(fact held_max) held at once, $(fact distinct) distinct, longest life" \
                "$(fact life_max) s, $(fact open_at_end) open at the last sample"
        echo "# $name: the service's log: $(grep -c 'cut off' "$HP_LOG") 'cut off' line(s) so far$(
                grep 'cut off' "$HP_LOG" | tail -n 1 | sed 's/^/, the last: /')"
        local legit_ok legit_total
        legit_ok=$(fact legit_ok) legit_total=$(fact legit_total)
        echo "# $name: legit requests from $LEGIT_ADDR: $legit_ok/$legit_total ok" \
                "($(fact legit_under_attack) sent while the attacker held connections)," \
                "latency p50 $(fact p50_ms) ms, max $(fact max_ms) ms"
        # At least 10 s of the attack measured, with the attacker holding
        # connections: otherwise the check below says little.
        check_match "$name: the legitimate client was measured under attack (at least 40 requests)" \
                '^([4-9][0-9]|[1-9][0-9]{2,})$' "$(fact legit_under_attack)"
        if [[ "$legit_ok" == "$legit_total" ]]; then
                ok "$name: every request from $LEGIT_ADDR answered 200 during the attack ($legit_ok/$legit_total)"
        else
                notok "$name: every request from $LEGIT_ADDR answered 200 during the attack" \
                        "$legit_ok/$legit_total; first failures: $(fact legit_bad | head -n 3 | paste -sd ';')"
                fact legit_bad | sed 's/^/#   failed: /'
        fi
        # A slow request is cut at the request timeout: no attacker socket
        # lives much longer, however the attacker trickles its bytes.
        if ((ATTACK_S >= REQUEST_TIMEOUT_S + CUT_SLACK_S + 2)); then
                check "$name: no attacker connection outlives the ${REQUEST_TIMEOUT_S} s request timeout (+${CUT_SLACK_S} s)" yes \
                        "$(awk -v l="$(fact life_max)" -v m=$((REQUEST_TIMEOUT_S + CUT_SLACK_S)) \
                                'BEGIN { print (l != "" && l <= m) ? "yes" : "no, one lived " l " s" }')"
        else
                skip "$name: connections cut at the request timeout" "the attack (${ATTACK_S} s) is too short to see it"
        fi
}

attack slow-headers -H -u "$HP_URL/healthz"
attack slow-body -B -s 1048576 -f application/json -u "$HP_URL/validate"

# The attacker's address is served again once it stops.
hp_get -n /healthz
check_ok_json "after the attacks: GET /healthz from 127.0.0.1"
hp_stop
check "the service stops with status 0 after the attacks" 0 "$HP_STOP_STATUS"
hp_finish
