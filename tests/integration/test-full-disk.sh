#!/usr/bin/env bash
# Integration test of a full disk under the journal, on a copy of the fake
# tree x86-2node: the state directory is a small tmpfs. Once the journal
# cannot be written, a change is a 507 problem of type insufficient-storage,
# the kernel is not written and the previous config stays; once there is
# room again, changes work again. Then the same when the disk fills up in
# the middle of a change (the "accepted" record fits, a later one does not):
# never a change half made, nor a 500 (docs/api.md).
#
# Runs only as root (mount); otherwise it skips.
#
# Usage: test-full-disk.sh PATH-TO-hugepaged
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

if [[ -z "${1:-}" || ! -x "$1" ]]; then
        hp_setup "${1:-}" # prints the usage and exits 2
fi
if [[ $(id -u) != 0 ]]; then
        hp_skip_all "test-full-disk.sh needs root (it mounts a tmpfs)"
fi
probe=$(mktemp -d "${TMPDIR:-/tmp}/hugepaged-mount.XXXXXX")
if ! mount -t tmpfs -o size=96k tmpfs "$probe" 2>/dev/null; then
        rmdir "$probe"
        hp_skip_all "cannot mount a tmpfs here"
fi
umount "$probe"
rmdir "$probe"

MOUNTED=
# shellcheck disable=SC2317 # called from lib.sh's EXIT trap
hp_on_exit() {
        [[ -z "$MOUNTED" ]] || umount "$MOUNTED" 2>/dev/null || umount -l "$MOUNTED" 2>/dev/null || true
}

hp_setup "$1"

FX=$HP_WORK/fx
cp -r "$HP_REPO/tests/fixtures/x86-2node" "$FX"
ROOTS=(--sysfs-root "$FX/sys" --procfs-root "$FX/proc")
NR=$FX/sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages
STATE=$HP_WORK/state
JOURNAL=$STATE/journal
mkdir -p "$STATE"
mount -t tmpfs -o size=96k,mode=0700 tmpfs "$STATE" || hp_bail "mount -t tmpfs on $STATE"
MOUNTED=$STATE
PAGE=$(getconf PAGESIZE)

cfg() {
        printf '{"pools":{"2Mi":{"count":%s}}}' "$1"
}

# fill NAME: fills the tmpfs with a file of zeros, to the last page.
fill() {
        cat /dev/zero >"$STATE/$1" 2>/dev/null || true
}

# free_kb: what df says is left on the tmpfs.
free_kb() {
        df -k --output=avail "$STATE" | tail -n 1 | tr -d ' '
}

journal_ok() {
        local v
        v=$(hp_journal_verify "$JOURNAL")
        [[ $v == *"records verify" ]] && echo yes || echo "$v"
}

hp_start main "$STATE" "${ROOTS[@]}" || hp_bail "cannot go on without a server"
COUNT=600
hp_req -b "$(cfg $COUNT)" PUT /config
check_ok_json "PUT 600 with room on the disk"
LAST_GEN=$(hp_py 'd["generation"]') LAST_COUNT=$COUNT

# --- the disk full before a change -------------------------------------------------

fill filler
check "the tmpfs is full" 0 "$(free_kb)"
# Leave one page (a few KB): a few changes still fit.
truncate -s "-$PAGE" "$STATE/filler"
check "one page is free again" "$((PAGE / 1024))" "$(free_kb)"

got=
for ((i = 0; i < 40; i++)); do
        COUNT=$((COUNT + 1))
        before=$(<"$NR")
        hp_req -b "$(cfg $COUNT)" PUT /config
        if [[ "$HP_STATUS" == 200 ]]; then
                LAST_GEN=$(hp_py 'd["generation"]') LAST_COUNT=$COUNT
                continue
        fi
        got=$HP_STATUS
        break
done
check "PUTs go on until the disk is full, and then the answer is 507" 507 "${got:-none in 40 PUTs}"
check_problem 507 "... a 507 problem document"
check_json "... of type insufficient-storage" 'd["type"]' urn:hugepaged:problem:insufficient-storage
check "... the fixture file was not changed by that PUT ($before)" "$before" "$(<"$NR")"
check "... and holds the previous config's $LAST_COUNT" "$LAST_COUNT" "$(<"$NR")"
hp_get /config
check_json "GET /config still gives the previous config" 'd' "{\"config\":$(cfg $LAST_COUNT),\"generation\":$LAST_GEN}"
hp_get /status
check_json "GET /status: that generation, confirmed, nothing pending, in sync" \
        '[d["generation"], d["confirmed_generation"], d["pending_confirm"], d["in_sync"]]' "[$LAST_GEN,$LAST_GEN,null,true]"
check "every journal line verifies (the failed append left nothing behind)" yes "$(journal_ok)"

hp_req -b "$(cfg $((COUNT + 1)))" PUT '/config?confirm_within=60'
check_problem 507 "a PUT with a confirm window on the full disk: 507"
hp_req -b "{\"generation\": $LAST_GEN}" POST /config/rollback
check_problem 507 "a rollback on the full disk: 507"
check_json "... of type insufficient-storage" 'd["type"]' urn:hugepaged:problem:insufficient-storage
check "... and the fixture file still holds $LAST_COUNT" "$LAST_COUNT" "$(<"$NR")"

rm -f "$STATE/filler"
COUNT=$((COUNT + 10))
hp_req -b "$(cfg $COUNT)" PUT /config
check_ok_json "after freeing the space, a PUT works again"
check_json "... as the next generation" 'd["generation"]' "$((LAST_GEN + 1))"
check "... the fixture file holds $COUNT" "$COUNT" "$(<"$NR")"
LAST_GEN=$((LAST_GEN + 1)) LAST_COUNT=$COUNT

# --- the disk full in the middle of a change ----------------------------------------------

# A PUT journals "accepted", then writes the kernel, then "applied" and
# "confirmed". Put the end of the journal where the next "accepted" record
# still fits into its last page but "applied" does not, then fill every
# free page: the slack of that last page is all that is left.
sizes=$(tail -n 3 "$JOURNAL" | awk '{ printf "%s%d", sep, length($0) + 1; sep = " " }')
read -r A R _ <<<"$sizes"
placed=no
for ((i = 0; i < 60; i++)); do
        p=$(stat -c %s "$JOURNAL")
        slack=$(((PAGE - p % PAGE) % PAGE))
        # A margin of 4 bytes for a generation or a time that grows a digit.
        if ((slack >= A + 4 && slack + 4 <= A + R)); then
                placed=yes
                break
        fi
        COUNT=$((COUNT + 1))
        hp_req -b "$(cfg $COUNT)" PUT /config
        [[ "$HP_STATUS" == 200 ]] || break
        LAST_GEN=$(hp_py 'd["generation"]') LAST_COUNT=$COUNT
done
check "the journal ends where an accepted record ($A bytes) fits in its last page and the applied one ($R) does not" \
        yes "$placed"
echo "# the journal's last page has $slack bytes left"
fill filler2
check "the tmpfs is full again" 0 "$(free_kb)"
before=$(<"$NR")
COUNT=$((COUNT + 1))
hp_req -b "$(cfg $COUNT)" PUT /config
# The service reserves room for a change's closing records before its
# first one (fallocate), so a change either fits whole (the room reserved
# by an earlier change may still be there) or is refused before the kernel
# is touched: never half done. (The path that takes a change back out of
# the kernel when the reservation did not hold is a unit test, test-change.)
if [[ "$HP_STATUS" == 507 ]]; then
        check_problem 507 "a PUT on the full disk: 507 (no room reserved)"
        check "... the fixture file was not changed by it ($before)" "$before" "$(<"$NR")"
        hp_get /config
        check_json "... GET /config still gives the previous config" 'd' "{\"config\":$(cfg $LAST_COUNT),\"generation\":$LAST_GEN}"
else
        check_ok_json "a PUT on the full disk: 200 (it fits in the room reserved before)"
        check "... the fixture file holds it ($COUNT)" "$COUNT" "$(<"$NR")"
        check "... and the journal closes it: accepted, applied, confirmed" "accepted applied confirmed" \
                "$(tail -n 3 "$JOURNAL" | cut -d' ' -f2- | python3 -c 'import json, sys; print(" ".join(json.loads(l)["event"] for l in sys.stdin))')"
fi
hp_get /status
check_json "... GET /status: nothing pending, in sync" '[d["pending_confirm"], d["in_sync"]]' '[null,true]'
check "every journal line verifies" yes "$(journal_ok)"

rm -f "$STATE/filler2"
COUNT=$((COUNT + 10))
hp_req -b "$(cfg $COUNT)" PUT /config
check_ok_json "after freeing the space, a PUT works again"
check "... the fixture file holds $COUNT" "$COUNT" "$(<"$NR")"

hp_stop
check "the service stops with status 0" 0 "$HP_STOP_STATUS"
hp_start again "$STATE" "${ROOTS[@]}" || hp_bail "cannot restart"
hp_get /status
check_json "after a restart: generation, config and kernel agree, nothing pending, a clean journal" \
        '[d["desired"], d["in_sync"], d["pending_confirm"], d["journal_recovery"]]' "[$(cfg $COUNT),true,null,null]"
check "... the fixture file holds $COUNT" "$COUNT" "$(<"$NR")"
hp_stop
check "the service stops with status 0" 0 "$HP_STOP_STATUS"
hp_finish
