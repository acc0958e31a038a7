#!/usr/bin/env bash
# The boot path (hugepaged apply-saved) when the kernel gives fewer pages
# than asked: it applies again, --retry-delay apart, up to --retries times;
# it exits 0 once the kernel holds it all, and 3 with the shortfall when it
# never does. The kernel's short allocation is played by short-alloc.c
# (LD_PRELOAD) on a fake tree. Usage: test-boot-retry.sh HUGEPAGED SHORT-ALLOC.so
set -u
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
SHIM=${2:-}
hp_setup "${1:-}"
[[ -r "$SHIM" ]] || hp_bail "the short-allocation library is built" "got '$SHIM'"

cp -r "$HP_REPO/tests/fixtures/x86-2node" "$HP_WORK/tree"
FX=$HP_WORK/tree
ROOTS=(--sysfs-root "$FX/sys" --procfs-root "$FX/proc")
POOL=$FX/sys/kernel/mm/hugepages/hugepages-2048kB
STATE=$HP_WORK/state
"$HP_BIN" --help >/dev/null

# A confirmed config of 64 pages, applied by the service.
hp_start main "$STATE" "${ROOTS[@]}" || hp_bail "cannot go on"
hp_req -b '{"pools": {"2Mi": {"count": 64}}}' PUT /config
check_ok_json "a confirmed config: 2Mi count 64"
hp_stop

# The preload must come before a sanitizer runtime's check of the order.
short() { # TIMES CAP ARGS…: apply-saved with the first TIMES writes of more than CAP cut to CAP
        local times=$1 cap=$2
        shift 2
        echo 0 >"$POOL/nr_hugepages"
        env LD_PRELOAD="$SHIM" ASAN_OPTIONS="${ASAN_OPTIONS:-}:verify_asan_link_order=0" \
                HP_SHORT_PATH=kernel/mm/hugepages/hugepages-2048kB/nr_hugepages HP_SHORT_CAP="$cap" \
                HP_SHORT_TIMES="$times" "$HP_BIN" apply-saved --state-dir "$STATE" "${ROOTS[@]}" "$@" 2>&1
}

rc=0
out=$(short 2 40 --retries 3 --retry-delay 0) || rc=$?
echo "$out" | sed 's/^/#   /'
check "two short allocations, then a full one: exit 0" 0 "$rc"
check "... it tried three times" 2 "$(grep -c 'trying again' <<<"$out")"
check_match "... the first try saw the shortfall" '2Mi: 0 -> 40 \(asked 64\) partial' "$out"
check_match "... the last one holds it all" 'applied the saved config again: generation 1, the kernel holds it' "$out"
check "... and the pool has 64 pages" 64 "$(<"$POOL/nr_hugepages")"

rc=0
out=$(short 99 40 --retries 2 --retry-delay 1) || rc=$?
echo "$out" | sed 's/^/#   /'
check "always short: exit status 3" 3 "$rc"
check_match "... the shortfall is reported" 'the kernel is 24 pages short of generation 1 after 3 tries' "$out"
check "... after the retries asked for (2), 1 s apart" 2 "$(grep -c 'trying again in 1 s' <<<"$out")"
check "... and the pool holds what the kernel gave" 40 "$(<"$POOL/nr_hugepages")"

rc=0
out=$(short 99 40 --retries 0) || rc=$?
check "--retries 0: one try, exit 3" "3:0" "$rc:$(grep -c 'trying again' <<<"$out")"

# Each try is journaled: the history shows the applies.
hp_start again "$STATE" "${ROOTS[@]}" || hp_bail "cannot go on"
hp_get /status
check_json "GET /status: the last apply is the boot path's, partial" '[d["last_apply"]["complete"], d["generation"]]' '[false,1]'
hp_stop
hp_finish
