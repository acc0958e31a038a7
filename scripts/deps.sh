#!/usr/bin/env bash
# Installs what hugepaged needs on Debian 12, from Debian's packages only.
#   scripts/deps.sh          build and run
#   scripts/deps.sh --test   also the test and benchmark tools (cmocka, curl,
#                            hugeadm, nginx, wrk, node_exporter, Chromium,
#                            Node.js and the npm packages pinned by every
#                            package-lock.json in the tree)
set -euo pipefail
cd "$(dirname "$0")/.."

want_test=0
[ "${1:-}" = "--test" ] && want_test=1

SUDO=
[ "$(id -u)" -eq 0 ] || SUDO=sudo

pkgs=(build-essential cmake pkg-config libmicrohttpd-dev libgnutls28-dev libjansson-dev
      libsystemd-dev libssl-dev curl ca-certificates)
if [ $want_test -eq 1 ]; then
        pkgs+=(libcmocka-dev libhugetlbfs-bin python3 strace e2fsprogs openssl
               clang libclang-rt-14-dev valgrind slowhttptest testssl.sh gnutls-bin
               grub-common prometheus iproute2 util-linux nginx wrk prometheus-node-exporter
               chromium)
        # Node.js may come from elsewhere on a developer's machine; Debian's
        # nodejs and npm are only added when there is none.
        command -v node >/dev/null 2>&1 || pkgs+=(nodejs)
        command -v npm >/dev/null 2>&1 || pkgs+=(npm)
fi

missing=()
for p in "${pkgs[@]}"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
        echo "deps: installing ${missing[*]}"
        $SUDO apt-get update -qq
        DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

if [ $want_test -eq 1 ]; then
        # nginx and node_exporter are started by the tests and benchmarks
        # themselves, on loopback; the packages' own services are not used.
        while IFS= read -r lock; do
                (cd "$(dirname "$lock")" && npm ci --no-audit --no-fund --loglevel=error >/dev/null)
        done < <(git ls-files '*package-lock.json' 2>/dev/null || find . -name package-lock.json -not -path '*/node_modules/*')
fi
echo "deps: ready"
