#!/usr/bin/env bash
# Checks deploy/Containerfile against a freshly built binary, without
# pulling an image (there is no network here):
#
#   - the runtime stage installs exactly the Debian packages that own the
#     libraries the binary links (its DT_NEEDED entries, found with ldd and
#     dpkg -S): a missing or an extra package fails;
#   - every other library ldd loads comes with them (the Depends and
#     Pre-Depends of those packages, followed through), so apt installs it;
#   - the runtime stage installs no -dev package and no compiler;
#   - the build stage installs the -dev package behind every pkg-config
#     module CMakeLists.txt asks for, and the tools;
#   - the files the build stage copies are enough to build the binary: the
#     same cmake command, on a copy of just those paths;
#   - both stages are debian:bookworm-slim, the release this machine runs
#     (else the package names could differ, and the test says so).
#
# Usage: check-image-deps.sh PATH-TO-hugepaged [REPO]
# Prints "ok - …"/"not ok - …" and "N passed, M failed"; exits 1 on a failure.
set -uo pipefail

BIN=${1:?usage: check-image-deps.sh PATH-TO-hugepaged [REPO]}
REPO=${2:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
FILE=$REPO/deploy/Containerfile
PASSED=0
FAILED=0
WORK=$(mktemp -d "${TMPDIR:-/tmp}/hugepaged-image-deps.XXXXXX")
trap 'rm -rf "$WORK"' EXIT

ok() {
        PASSED=$((PASSED + 1))
        echo "ok - $1"
}
notok() {
        FAILED=$((FAILED + 1))
        echo "not ok - $1"
        [[ -z "${2:-}" ]] || sed 's/^/#   /' <<<"$2"
}
# check NAME PROBLEMS: ok when PROBLEMS is empty.
check() {
        if [[ -z "$2" ]]; then ok "$1"; else notok "$1" "$2"; fi
}
# pkg_of FILE: the Debian package that ships FILE (its real path, then the
# path ldd gave, as /lib may be a symbolic link to /usr/lib).
pkg_of() {
        local p
        p=$(dpkg -S "$(readlink -f "$1")" 2>/dev/null || dpkg -S "$1" 2>/dev/null) || return 1
        p=${p%%: *}
        echo "${p%%:*}"
}
words() { tr ' ' '\n' <<<"$1" | sed '/^$/d' | sort -u; }

[[ -x "$BIN" ]] || { notok "the binary $BIN is there"; echo "$PASSED passed, $FAILED failed"; exit 1; }
[[ -r "$FILE" ]] || { notok "deploy/Containerfile is there"; echo "$PASSED passed, $FAILED failed"; exit 1; }

# The stages: the text from each FROM to the next.
awk -v dir="$WORK" '/^FROM /{n++} n{print > (dir "/stage" n)}' "$FILE"
froms=$(grep '^FROM ' "$FILE")
check "deploy/Containerfile has two stages, both FROM debian:bookworm-slim" \
        "$( [[ $(wc -l <<<"$froms") == 2 ]] || echo "FROM lines: $froms"
            grep -v '^FROM docker.io/library/debian:bookworm-slim\( AS [a-z]*\)\{0,1\}$' <<<"$froms")"
codename=$(. /etc/os-release && echo "${VERSION_CODENAME:-}")
check "this machine runs Debian bookworm, the image's release, so its package names are the image's" \
        "$([[ "$codename" == bookworm ]] || echo "VERSION_CODENAME=$codename: the package names below may differ from bookworm's")"

# --- the runtime stage ---------------------------------------------------------

listed=$(sed -n 's/^ARG RUNTIME_PACKAGES="\([^"]*\)"$/\1/p' "$WORK/stage2")
check "the runtime stage names its packages in one ARG RUNTIME_PACKAGES line and installs them" \
        "$([[ -n "$listed" ]] || echo 'no ARG RUNTIME_PACKAGES="…" line in the second stage'
           grep -q 'apt-get install -y --no-install-recommends \${RUNTIME_PACKAGES}' "$WORK/stage2" ||
                   echo 'no "apt-get install -y --no-install-recommends ${RUNTIME_PACKAGES}"')"

# The libraries the binary names, and where ldd finds them.
ldd_out=$(ldd "$BIN")
needed=$(readelf -d "$BIN" | sed -n 's/.*(NEEDED).*\[\(.*\)\]$/\1/p')
direct=
problems=
for lib in $needed; do
        path=$(awk -v l="$lib" '$1 == l && $2 == "=>" {print $3}' <<<"$ldd_out")
        if [[ -z "$path" || "$path" == "not" ]]; then
                problems+="$lib: ldd does not find it"$'\n'
                continue
        fi
        if ! pkg=$(pkg_of "$path"); then
                problems+="$lib ($path): no Debian package ships it"$'\n'
                continue
        fi
        direct+=" $pkg"
done
check "every library the binary links ($(tr '\n' ' ' <<<"$needed" | sed 's/ $//')) comes from a Debian package" "${problems%$'\n'}"
want=$(words "$direct")
have=$(words "$listed")
check "RUNTIME_PACKAGES is exactly the packages of those libraries ($(tr '\n' ' ' <<<"$want" | sed 's/ $//'))" \
        "$(comm -23 <(echo "$want") <(echo "$have") | sed 's/^/missing: /'
           comm -13 <(echo "$want") <(echo "$have") | sed 's/^/extra, the binary links nothing of it: /')"

# Everything else ldd loads must come with them through Depends.
closure=$(words "$listed")
frontier=$closure
while [[ -n "$frontier" ]]; do
        next=
        for p in $frontier; do
                deps=$(dpkg-query -W -f='${Depends}, ${Pre-Depends}' "$p" 2>/dev/null |
                        tr ',' '\n' | sed 's/|.*//; s/(.*)//; s/:any//; s/ //g' | sed '/^$/d')
                for d in $deps; do
                        grep -qxF "$d" <<<"$closure" || { closure+=$'\n'"$d"; next+=" $d"; }
                done
        done
        frontier=$next
done
problems=
all_pkgs=
while read -r path; do
        [[ -n "$path" ]] || continue
        pkg=$(pkg_of "$path") || { problems+="$path: no Debian package ships it"$'\n'; continue; }
        all_pkgs+=" $pkg"
        grep -qxF "$pkg" <<<"$closure" || problems+="$path ($pkg): not pulled in by $listed"$'\n'
done < <(awk '$2 == "=>" && $3 ~ /^\// {print $3} $1 ~ /^\/.*ld-linux/ {print $1}' <<<"$ldd_out")
check "every library ldd loads ($(words "$all_pkgs" | wc -l) packages) is installed by RUNTIME_PACKAGES or their dependencies" "${problems%$'\n'}"

check "the runtime stage installs no -dev package, compiler or build tool" \
        "$(grep -oE '(^| )(lib[a-z0-9+.-]*-dev|gcc|cc|clang|cmake|make|pkg-config|build-essential)( |$)' <<<" $listed " | sed 's/^/installs: /')"
check "the runtime stage copies the binary from the build stage, and it is the entry point" \
        "$(grep -q '^COPY --from=build /hugepaged /usr/local/sbin/hugepaged$' "$WORK/stage2" || echo 'no COPY --from=build of /hugepaged'
           grep -q '^ENTRYPOINT \["/usr/local/sbin/hugepaged"\]$' "$WORK/stage2" || echo 'no ENTRYPOINT ["/usr/local/sbin/hugepaged"]')"

# --- the build stage -----------------------------------------------------------

build_pkgs=$(sed -n '/apt-get install/,/rm -rf/p' "$WORK/stage1" | tr -d '\\&' | tr ' ' '\n' |
        grep -E '^[a-z0-9][a-z0-9+.-]+$' | grep -vxE 'apt-get|install|rm|rf' | sort -u)
modules=$(sed -n 's/^pkg_check_modules([A-Z_]* REQUIRED IMPORTED_TARGET \([^) ]*\)).*/\1/p' "$REPO/CMakeLists.txt")
problems=
for m in $modules; do
        pc=$(pkg-config --variable=pcfiledir "$m" 2>/dev/null)/$m.pc
        if ! pkg=$(pkg_of "$pc"); then
                problems+="$m: no package ships $pc here"$'\n'
                continue
        fi
        grep -qxF "$pkg" <<<"$build_pkgs" || problems+="$m: $pkg not installed by the build stage"$'\n'
done
for tool in cmake make gcc libc6-dev pkg-config; do
        grep -qxF "$tool" <<<"$build_pkgs" || problems+="$tool not installed by the build stage"$'\n'
done
check "the build stage installs the -dev package of every pkg-config module ($(tr '\n' ' ' <<<"$modules" | sed 's/ $//')) and the tools" "${problems%$'\n'}"

# The build stage's COPY lines, replayed on a copy of the repository.
src=$WORK/src
mkdir -p "$src"
problems=
while read -r from to; do
        if [[ ! -e "$REPO/$from" ]]; then
                problems+="COPY $from: no such path"$'\n'
                continue
        fi
        mkdir -p "$src/$(dirname "$to")"
        cp -r "$REPO/${from%/}" "$src/${to%/}"
done < <(sed -n 's/^COPY \([^-][^ ]*\) \([^ ]*\)$/\1 \2/p' "$WORK/stage1")
cmake_line=$(sed -n 's/^RUN cmake -S \. -B \/build \(.*\) \\$/\1/p' "$WORK/stage1")
[[ -n "$cmake_line" ]] || problems+="no 'RUN cmake -S . -B /build …' line"$'\n'
if [[ -z "$problems" ]]; then
        # shellcheck disable=SC2086 # the Containerfile's words, as its shell splits them
        if ! out=$(cd "$src" && cmake -S . -B "$WORK/build" $cmake_line 2>&1 &&
                cmake --build "$WORK/build" -j"$(nproc)" --target hugepaged 2>&1); then
                problems+="the build fails with just the copied files: $(tail -5 <<<"$out")"$'\n'
        elif ! v=$("$WORK/build/hugepaged" --version 2>&1) || [[ "$v" != "$("$BIN" --version 2>&1)" ]]; then
                problems+="the binary built from the copy says '$v', the tested one '$("$BIN" --version 2>&1)'"$'\n'
        fi
fi
check "the build stage's COPY lines hold all the build needs (the same cmake run on a copy of just those paths)" "${problems%$'\n'}"

echo "$PASSED passed, $FAILED failed"
[[ $FAILED == 0 ]]
