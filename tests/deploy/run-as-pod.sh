#!/usr/bin/env bash
# Runs the binary the way deploy/daemonset.yaml runs it, without a cluster:
# the container's args and the init container's script are taken from the
# rendered DaemonSet (check-manifests.mjs --render), and every path in
# them is moved under a scratch "pod root" that holds exactly what the
# volumes mount: the hostPath sysfs directories (from the fake tree
# tests/fixtures/x86-2node; a read-only one the fixture lacks is the real
# host's, as a hostPath would be), an empty state directory, and the two
# Secrets made with the openssl and token commands of docs/kubernetes.md.
# /proc stays the real one: the pod has hostPID. --listen becomes
# 127.0.0.1:0 (loopback only here).
#
# It checks: the init container applies the last confirmed config once per
# boot and not again on a pod restart; the service starts on that layout
# (so it needs no path the volumes do not give), answers the readiness and
# liveness probes over HTTPS with the Secret's certificate, serves no read
# without a token (no --anonymous-read), takes the tokens from the Secret
# in Authorization and in X-Hugepaged-Token (admin changes, read reads,
# read refused a change with 403), reports the node name from the
# downward API; and its memory stays within the manifest's request when
# idle and within its limit through the default POST /probe.
#
# The API server's proxy, as far as hugepaged can tell: nginx on a Unix
# socket stands in for pods/proxy. Like kube-apiserver it authenticates the
# caller's Authorization (a fixed "Kubernetes" token here), removes that
# header, passes every other one, and speaks TLS to the pod without
# checking its certificate. Through it go the requests docs/kubernetes.md
# shows: a read and the PUT /config?confirm_within + POST /config/confirm
# of a change, with X-Hugepaged-Token; and the same without that header,
# which hugepaged itself must refuse (401). RBAC is not modelled: nginx
# lets every authenticated method through.
#
# Usage: run-as-pod.sh PATH-TO-hugepaged [REPO]
set -uo pipefail

BIN=$(readlink -f "${1:?usage: run-as-pod.sh PATH-TO-hugepaged [REPO]}")
REPO=${2:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
HERE=$REPO/tests/deploy
PASSED=0
FAILED=0
WORK=$(mktemp -d "${TMPDIR:-/tmp}/hugepaged-pod.XXXXXX")
SERVER_PID=
PROXY_PID=
cleanup() {
        local pid
        for pid in "$PROXY_PID" "$SERVER_PID"; do
                if [[ -n "$pid" ]] && kill -0 "$pid" 2>/dev/null; then
                        kill "$pid" 2>/dev/null
                        wait "$pid" 2>/dev/null
                fi
        done
        rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

ok() {
        PASSED=$((PASSED + 1))
        echo "ok - $1"
}
notok() {
        FAILED=$((FAILED + 1))
        echo "not ok - $1"
        [[ -z "${2:-}" ]] || sed 's/^/#   /' <<<"$2"
}
# check NAME EXPECTED ACTUAL
check() {
        if [[ "$2" == "$3" ]]; then ok "$1"; else notok "$1" "expected: $2"$'\n'"found:    $3"; fi
}
finish() {
        echo "$PASSED passed, $FAILED failed"
        [[ $FAILED == 0 ]]
        exit
}
bail() {
        notok "$1" "${2:-}"
        finish
}

# --- the pod, from the manifests ------------------------------------------------

node "$HERE/check-manifests.mjs" --render "$REPO" >"$WORK/rendered.json" 2>"$WORK/render.log" ||
        bail "the manifests render (check-manifests.mjs --render)" "$(tail -5 "$WORK/render.log")"
POD=$WORK/pod
FX=$REPO/tests/fixtures/x86-2node
mkdir -p "$POD"
# The DaemonSet's pod spec, and a table of its mounts: MOUNTPATH KIND SOURCE READONLY.
jq '.[] | select(.kind == "DaemonSet") | .spec.template.spec' "$WORK/rendered.json" >"$WORK/pod.json"
jq -r '. as $p | [.initContainers[]?, .containers[]] | map(.volumeMounts[]) | unique_by(.mountPath)[] |
        . as $m | ($p.volumes[] | select(.name == $m.name)) as $v |
        [$m.mountPath, (if $v.hostPath then "host" elif $v.secret then "secret" else "other" end),
         ($v.hostPath.path // $v.secret.secretName // $v.name), ($m.readOnly // false | tostring)] | @tsv' \
        "$WORK/pod.json" >"$WORK/mounts.tsv"
problems=
while IFS=$'\t' read -r at kind src ro; do
        mkdir -p "$(dirname "$POD$at")"
        case $kind in
        host)
                if [[ "$src" == /sys/* && -d "$FX$src" ]]; then
                        cp -r "$FX$src" "$POD$at"
                elif [[ "$src" == /sys/* && "$ro" == true && -d "$src" ]]; then
                        ln -s "$src" "$POD$at"
                elif [[ "$src" != /sys/* ]]; then
                        mkdir -m 0755 "$POD$at" # DirectoryOrCreate
                else
                        problems+="$src (at $at): writable, and not in the fake tree"$'\n'
                fi
                ;;
        secret) mkdir -p "$POD$at" ;;
        *) problems+="$at: a volume of a kind this test does not build ($src)"$'\n' ;;
        esac
done <"$WORK/mounts.tsv"
[[ -z "$problems" ]] || bail "every volume of the pod can be built here" "$problems"
ok "the pod root holds the $(wc -l <"$WORK/mounts.tsv") mounts of the DaemonSet, and nothing else of the host's sysfs"

# The Secrets, as docs/kubernetes.md makes them.
secret_dir() { awk -F'\t' -v s="$1" '$2 == "secret" && $3 == s {print $1}' "$WORK/mounts.tsv"; }
TLS=$POD$(secret_dir hugepaged-tls)
TOKENS=$POD$(secret_dir hugepaged-tokens)
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 397 \
        -subj "/CN=hugepaged.harvester-system.svc" \
        -addext "subjectAltName=DNS:hugepaged.harvester-system.svc,DNS:hugepaged.harvester-system.svc.cluster.local,DNS:localhost,IP:127.0.0.1" \
        -keyout "$WORK/tls.key" -out "$WORK/tls.crt" 2>"$WORK/openssl.log" ||
        bail "openssl makes the certificate" "$(cat "$WORK/openssl.log")"
ADMIN=$(openssl rand -hex 32)
READER=$(openssl rand -hex 32)
printf '%s dashboard-admin admin\n%s dashboard read\n' "$ADMIN" "$READER" >"$WORK/tokens"
install -m 0400 "$WORK/tls.crt" "$TLS/tls.crt"
install -m 0400 "$WORK/tls.key" "$TLS/tls.key"
install -m 0400 "$WORK/tokens" "$TOKENS/tokens"

# Moves every path under a mount, and the --sysfs-root above the sysfs
# mounts, into the pod root: one pass, longest path first, whole path
# components only.
SYSFS_ARG=$(jq -r '.containers[] | select(.name == "hugepaged") | .args as $a | $a[($a | index("--sysfs-root")) + 1]' "$WORK/pod.json")
relocate() {
        POD=$POD ROOTS="$(cut -f1 "$WORK/mounts.tsv"; echo "$SYSFS_ARG")" perl -0777 -pe '
                BEGIN { @r = sort { length($b) <=> length($a) } grep { length } split /\n/, $ENV{ROOTS};
                        $re = join "|", map { quotemeta } @r; }
                s{(?<![\w./-])($re)(?![\w.-])}{$ENV{POD}$1}g' <<<"$1"
}
mapfile -t ARGS < <(jq -r '.containers[] | select(.name == "hugepaged") | .args[]' "$WORK/pod.json")
RUN=()
for ((i = 0; i < ${#ARGS[@]}; i++)); do
        if [[ "${ARGS[i]}" == --listen ]]; then
                RUN+=(--listen 127.0.0.1:0)
                i=$((i + 1))
        else
                RUN+=("$(relocate "${ARGS[i]}")")
        fi
done
STATE=$POD$(jq -r '.containers[] | select(.name == "hugepaged") | .args as $a | $a[($a | index("--state-dir")) + 1]' "$WORK/pod.json")
SYSFS=$POD$(jq -r '.containers[] | select(.name == "hugepaged") | .args as $a | $a[($a | index("--sysfs-root")) + 1]' "$WORK/pod.json")
NR=$SYSFS/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages
# The image's PATH holds hugepaged; here a directory with just that.
mkdir -p "$WORK/bin"
ln -s "$BIN" "$WORK/bin/hugepaged"
jq -r '.initContainers[] | select(.name == "apply-saved") | .command[2]' "$WORK/pod.json" >"$WORK/init.raw"
relocate "$(cat "$WORK/init.raw")" >"$WORK/init.sh"
[[ -s "$WORK/init.sh" ]] || bail "the DaemonSet has the init container apply-saved with a /bin/sh -c script"
init() { env PATH="$WORK/bin:/usr/bin:/bin" /bin/sh "$WORK/init.sh" 2>&1; }

# --- the service -----------------------------------------------------------------

start() {
        : >"$WORK/server.log"
        env NODE_NAME=pod-test-node "$BIN" "${RUN[@]}" >"$WORK/server.log" 2>&1 &
        SERVER_PID=$!
        local i
        PORT=
        for ((i = 0; i < 100; i++)); do
                PORT=$(sed -n 's#^hugepaged: listening on https://127\.0\.0\.1:\([0-9]*\)$#\1#p' "$WORK/server.log")
                [[ -n "$PORT" ]] && return 0
                kill -0 "$SERVER_PID" 2>/dev/null || break
                sleep 0.1
        done
        bail "the service starts with the DaemonSet's args" "$(tail -5 "$WORK/server.log")"
}
stop() {
        kill "$SERVER_PID" 2>/dev/null
        wait "$SERVER_PID" 2>/dev/null
        SERVER_PID=
}
# send CURL-ARGS… -- METHOD URL [BODY]: prints the status; the body goes
# to $WORK/body, the headers to $WORK/headers.
send() {
        local extra=()
        while [[ "$1" != -- ]]; do
                extra+=("$1")
                shift
        done
        shift
        curl -s -o "$WORK/body" -D "$WORK/headers" -w '%{http_code}' --max-time 10 -X "$1" "${extra[@]}" \
                -H 'Content-Type: application/json' ${3:+--data "$3"} "$2"
}
# req METHOD PATH [TOKEN [BODY]]: straight to the pod, the token (if any)
# in Authorization: Bearer.
req() {
        local auth=()
        [[ -n "${3:-}" ]] && auth=(-H "Authorization: Bearer $3")
        send --cacert "$TLS/tls.crt" "${auth[@]}" -- "$1" "https://127.0.0.1:$PORT$2" "${4:-}"
}
# xreq METHOD PATH TOKEN [BODY]: straight to the pod, the token in
# X-Hugepaged-Token and no Authorization.
xreq() { send --cacert "$TLS/tls.crt" -H "X-Hugepaged-Token: $3" -- "$1" "https://127.0.0.1:$PORT$2" "${4:-}"; }
# etag: the ETag of the last answer, quotes included.
etag() { sed -n 's/^[Ee][Tt][Aa][Gg]: *\([^[:space:]]*\).*$/\1/p' "$WORK/headers"; }
rss_kb() { sed -n "s/^$1:[[:space:]]*\([0-9]*\) kB$/\1/p" "/proc/$SERVER_PID/status"; }

start
check "readinessProbe: GET /readyz over HTTPS, verified with the Secret's certificate" 200 "$(req GET /readyz)"
check "livenessProbe: GET /healthz" 200 "$(req GET /healthz)"
check "a read without a token is refused: no --anonymous-read" 401 "$(req GET /sizes)"
check "... and so is POST /validate" 401 "$(req POST /validate '' '{"pools": {"2Mi": {"count": 600}}}')"
check "a read with the read token from the Secret is served" 200 "$(req GET /sizes "$READER")"
check "a read with the read token in X-Hugepaged-Token, no Authorization, is served" 200 "$(xreq GET /sizes "$READER")"
check "a change without a token is refused" 401 "$(req PUT /config '' '{"pools": {"2Mi": {"count": 600}}}')"
check "a change with the read token from the Secret is refused" 403 "$(req PUT /config "$READER" '{"pools": {"2Mi": {"count": 600}}}')"
check "a change with the read token in X-Hugepaged-Token is refused" 403 "$(xreq PUT /config "$READER" '{"pools": {"2Mi": {"count": 600}}}')"
check "a change with the admin token from the Secret is applied" 200 "$(req PUT /config "$ADMIN" '{"pools": {"2Mi": {"count": 600}}}')"
check "... and written to the mounted hugepages directory" 600 "$(cat "$NR")"
check "a change with the admin token in X-Hugepaged-Token and no Authorization is applied" 200 \
        "$(xreq PUT /config "$ADMIN" '{"pools": {"2Mi": {"count": 620}}}')"
check "... and written to the mounted hugepages directory" 620 "$(cat "$NR")"
code=$(send --cacert "$TLS/tls.crt" -H "Authorization: Bearer $READER" -H "X-Hugepaged-Token: $ADMIN" -- \
        PUT "https://127.0.0.1:$PORT/config" '{"pools": {"2Mi": {"count": 630}}}')
check "with both headers Authorization decides: the read token there and the admin one in X-Hugepaged-Token is 403" 403 "$code"
check "... and nothing was written" 620 "$(cat "$NR")"
req GET /status "$READER" >/dev/null
check "GET /status names the node from the downward API (NODE_NAME)" pod-test-node "$(jq -r '.node_name // .node // empty' "$WORK/body")"

# --- through a stand-in for the API server's proxy -------------------------------------

# The URL of one pod through the API server, as docs/kubernetes.md writes it.
NS=$(jq -r '.[] | select(.kind == "DaemonSet") | .metadata.namespace' "$WORK/rendered.json")
KPOD=hugepaged-x7k2p
PREFIX=/api/v1/namespaces/$NS/pods/https:$KPOD:8443/proxy
KUBE=kube-$(openssl rand -hex 16)
SOCK=$WORK/apiserver.sock
mkdir -p "$WORK/nginx"
cat >"$WORK/nginx.conf" <<EOF
daemon off;
master_process off;
pid $WORK/nginx/nginx.pid;
error_log $WORK/nginx/error.log warn;
events { worker_connections 64; }
http {
        access_log off;
        client_body_temp_path $WORK/nginx/body;
        proxy_temp_path $WORK/nginx/proxy;
        fastcgi_temp_path $WORK/nginx/fastcgi;
        uwsgi_temp_path $WORK/nginx/uwsgi;
        scgi_temp_path $WORK/nginx/scgi;
        server {
                listen unix:$SOCK;
                # kube-apiserver: authenticate, then drop Authorization
                # (WithAuthentication in k8s.io/apiserver) and pass the rest.
                location $PREFIX/ {
                        if (\$http_authorization != "Bearer $KUBE") { return 401 "apiserver: Unauthorized\n"; }
                        proxy_set_header Authorization "";
                        proxy_pass https://127.0.0.1:$PORT/;
                        proxy_ssl_verify off;
                        proxy_http_version 1.1;
                }
        }
}
EOF
if ! command -v nginx >/dev/null; then
        notok "nginx is installed, to stand in for the API server's proxy" "scripts/deps.sh installs it"
else
        nginx -e "$WORK/nginx/error.log" -p "$WORK/nginx" -c "$WORK/nginx.conf" >"$WORK/nginx/out.log" 2>&1 &
        PROXY_PID=$!
        for ((i = 0; i < 50; i++)); do
                [[ -S "$SOCK" ]] && break
                kill -0 "$PROXY_PID" 2>/dev/null || break
                sleep 0.1
        done
        [[ -S "$SOCK" ]] || bail "nginx starts as the stand-in API server" "$(cat "$WORK/nginx/error.log" "$WORK/nginx/out.log" 2>/dev/null | tail -5)"
        # kreq METHOD PATH [CURL-ARGS…] -- [BODY]: through the stand-in, with the
        # Kubernetes credentials in Authorization, as the doc's curl lines do.
        kreq() {
                local method=$1 path=$2 extra=()
                shift 2
                while [[ $# -gt 0 && "$1" != -- ]]; do
                        extra+=("$1")
                        shift
                done
                shift
                send --unix-socket "$SOCK" -H "Authorization: Bearer $KUBE" "${extra[@]}" -- \
                        "$method" "http://apiserver$PREFIX$path" "${1:-}"
        }
        check "the stand-in refuses a caller without Kubernetes credentials, as the API server would" 401 \
                "$(send --unix-socket "$SOCK" -- GET "http://apiserver$PREFIX/status")"
        code=$(kreq GET /status --)
        check "through the proxy with no X-Hugepaged-Token, GET /status reaches hugepaged with no credentials: 401" 401 "$code"
        check "... and the 401 is hugepaged's problem document, not the proxy's" "401 no credentials" \
                "$(jq -r '"\(.status) \(if (.detail // "" | test("bearer token is required")) then "no credentials" else .detail end)"' "$WORK/body" 2>&1)"
        code=$(kreq PUT /config -H "X-Hugepaged-Token: $READER" -- '{"pools": {"2Mi": {"count": 650}}}')
        check "through the proxy, a change with the read token in X-Hugepaged-Token is refused" 403 "$code"
        code=$(kreq GET /status -H "X-Hugepaged-Token: $READER" --)
        check "through the proxy, GET /status with the read token in X-Hugepaged-Token is served" 200 "$code"
        check "... and names the node" pod-test-node "$(jq -r '.node_name // empty' "$WORK/body")"
        code=$(kreq GET /config -H "X-Hugepaged-Token: $ADMIN" --)
        gen=$(etag)
        check "through the proxy, GET /config answers with an ETag (If-Match for the change)" "200 yes" \
                "$code $([[ "$gen" =~ ^\"[0-9]+\"$ ]] && echo yes || echo "no: '$gen'")"
        code=$(kreq PUT "/config?confirm_within=300" -H "X-Hugepaged-Token: $ADMIN" -H "If-Match: $gen" -- \
                '{"pools": {"2Mi": {"count": 700}}}')
        check "through the proxy, PUT /config?confirm_within=300 with the admin token in X-Hugepaged-Token is applied" 200 "$code"
        check "... with a confirm deadline" yes "$(jq -r 'if .confirm_deadline then "yes" else "no: \(.)" end' "$WORK/body")"
        check "... and the kernel has the pool" 700 "$(cat "$NR")"
        kreq GET /status -H "X-Hugepaged-Token: $READER" -- >/dev/null
        pending=$(jq -r '.pending_confirm.generation // "none"' "$WORK/body")
        check "through the proxy, GET /status shows the change pending confirmation (the generation after the ETag's)" \
                "$((${gen//\"/} + 1))" "$pending"
        code=$(kreq POST /config/confirm -H "X-Hugepaged-Token: $READER" --)
        check "through the proxy, POST /config/confirm with the read token is refused" 403 "$code"
        code=$(kreq POST /config/confirm -H "X-Hugepaged-Token: $ADMIN" --)
        check "through the proxy, POST /config/confirm with the admin token confirms it" "200 true" "$code $(jq -r '.confirmed' "$WORK/body")"
        kreq GET /config/history -H "X-Hugepaged-Token: $READER" -- >/dev/null
        check "the journal names the admin token's holder as who changed it, and the change as confirmed" \
                "dashboard-admin confirmed" "$(jq -r '.generations[0] | "\(.who) \(.state)"' "$WORK/body")"
        kill "$PROXY_PID" 2>/dev/null
        wait "$PROXY_PID" 2>/dev/null
        PROXY_PID=
fi
CONFIRMED=$(cat "$NR")

# Memory: idle within the request; the default probe within the limit.
limits=$(jq -r '.containers[] | select(.name == "hugepaged") | .resources | "\(.requests.memory) \(.limits.memory)"' "$WORK/pod.json")
to_kb() { local n=${1%[KMG]i}; case $1 in *Ki) echo "$n" ;; *Mi) echo $((n * 1024)) ;; *Gi) echo $((n * 1024 * 1024)) ;; *) echo $(($1 / 1024)) ;; esac; }
read -r req_mem lim_mem <<<"$limits"
idle=$(rss_kb VmRSS)
check "idle RSS ${idle} kB is within the memory request $req_mem" yes "$([[ $idle -le $(to_kb "$req_mem") ]] && echo yes || echo no)"
code=$(req POST /probe "$ADMIN" '{}')
check "POST /probe with the default body starts" 202 "$code"
loc=$(jq -r '.location' "$WORK/body")
state=
for ((i = 0; i < 240; i++)); do
        req GET "$loc" "$ADMIN" >/dev/null
        state=$(jq -r '.state' "$WORK/body")
        [[ "$state" == running ]] || break
        sleep 0.5
done
check "the probe finishes" "done" "$state"
base=$(jq -r '[.result.results[] | select(.backing == "base") | .status] | join(",")' "$WORK/body")
check "the probe measured base pages (real /proc/self/smaps, as with hostPID)" ok "$base"
peak=$(rss_kb VmHWM)
echo "# peak RSS through the default probe: $peak kB; manifest: request $req_mem, limit $lim_mem"
check "peak RSS ${peak} kB through the default probe stays within the memory limit $lim_mem" yes \
        "$([[ $peak -le $(to_kb "$lim_mem") ]] && echo yes || echo no)"
# Stop while the change is confirmed; "reboot": the kernel forgets the pool.
stop
check "the service stops on SIGTERM" no "$(kill -0 "$SERVER_PID" 2>/dev/null && echo yes || echo no)"

# --- the init container: once per boot ----------------------------------------------

echo 512 >"$NR"
out=$(init)
check "the init container exits 0 after applying" 0 "$?"
check "it applied the saved config (a new boot: no boot id recorded yet)" "$CONFIRMED" "$(cat "$NR")"
check "it recorded this boot's id in the state directory" "$(cat /proc/sys/kernel/random/boot_id)" "$(cat "$STATE/applied-boot-id" 2>/dev/null)"
echo 300 >"$NR"
out=$(init)
check "on a pod restart in the same boot it applies nothing" 300 "$(cat "$NR")"
case $out in *"already applied"*) ok "... and says so" ;; *) notok "... and says so" "$out" ;; esac
touch "$STATE/safe-mode"
rm -f "$STATE/applied-boot-id"
out=$(init)
check "in safe mode (STATE/safe-mode) a new boot applies nothing either" 300 "$(cat "$NR")"
rm -f "$STATE/safe-mode" "$STATE/applied-boot-id"
printf 'not a number\n' >"$NR"
out=$(init)
rc=$?
echo "# the init container said: $(tr "\n" " " <<<"$out")"
check "a failing apply-saved does not stop the pod (the init container still exits 0)" 0 "$rc"
check "... and the boot stays unmarked, so the next start tries again" "" "$(cat "$STATE/applied-boot-id" 2>/dev/null)"

finish
