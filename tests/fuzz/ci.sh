#!/usr/bin/env bash
# The fuzz targets in CI (tests/fuzz/CMakeLists.txt).
#
#   ci.sh fuzz TARGET CORPUS DICT RUNS ARTIFACTS
#       A fixed number of runs from a fixed seed over the committed corpus
#       (read only: new inputs go to a scratch directory, removed
#       afterwards). A crash, leak, timeout or failed check fails the test
#       and is saved under ARTIFACTS. Every property check is on.
set -euo pipefail
mode=$1
shift

# Scratch space on a tmpfs when there is one (the journal fdatasyncs every
# record); the targets' temporary trees go there too (TMPDIR), so that a
# run that crashes leaves nothing behind.
base=${TMPDIR:-}
[ -n "$base" ] || { [ -w /dev/shm ] && base=/dev/shm || base=/tmp; }
scratch=$(mktemp -d "$base/hugepaged-fuzz-ci-XXXXXX")
trap 'rm -rf "$scratch"' EXIT
mkdir "$scratch/corpus" "$scratch/tmp" "$scratch/artifacts"
export TMPDIR=$scratch/tmp

case $mode in
fuzz)
        target=$1 corpus=$2 dict=$3 runs=$4 artifacts=$5
        mkdir -p "$artifacts"
        HUGEPAGED_FUZZ_SKIP_KNOWN=0 \
                "$target" -runs="$runs" -seed=1 -max_len=8192 -timeout=10 -rss_limit_mb=2048 \
                -dict="$dict" -print_final_stats=1 -artifact_prefix="$artifacts/$(basename "$target")-" \
                "$scratch/corpus" "$corpus"
        ;;
*)
        echo "usage: ci.sh fuzz TARGET CORPUS DICT RUNS ARTIFACTS" >&2
        exit 2
        ;;
esac
