#!/usr/bin/env bash
# Installs, builds and runs hugepaged with its embedded defaults: HTTPS on
# 127.0.0.1:8443, a self-signed certificate and a generated admin token in
# the state directory (default /var/lib/hugepaged, or $HUGEPAGED_STATE_DIR).
# Extra arguments go to hugepaged. Stop it with Ctrl-C.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/deps.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo -DBUILD_TESTING=OFF >/dev/null
cmake --build build -j"$(nproc)" >/dev/null

state="${HUGEPAGED_STATE_DIR:-/var/lib/hugepaged}"
SUDO=
[ "$(id -u)" -eq 0 ] || SUDO=sudo

$SUDO build/hugepaged --state-dir "$state" "$@" &
pid=$!
trap '$SUDO kill -TERM $pid 2>/dev/null; wait $pid' INT TERM

for _ in $(seq 50); do
        $SUDO test -s "$state/token" && break
        kill -0 $pid 2>/dev/null || { wait $pid; exit $?; }
        sleep 0.1
done
token=$($SUDO head -n1 "$state/token" | cut -d' ' -f1)
cat <<MSG

  hugepaged is running. Admin token (from $state/token):

    $token

  Try:
    curl --cacert $state/tls.crt -H "Authorization: Bearer $token" https://localhost:8443/sizes

MSG
wait $pid
