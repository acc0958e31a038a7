#!/usr/bin/env python3
"""Writes the seed corpora of the fuzz targets: tests/fuzz/corpus/config/
(request bodies for fuzz-config) and tests/fuzz/corpus/request/ (encoded
requests for fuzz-request, in the format described at the top of
fuzz-request.c). The files are committed; run this again after changing a
seed here, and commit what changed. Existing files of other names (inputs a
fuzzer found and someone added) are left alone."""

import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ADMIN = "Authorization: Bearer fuzz-admin-0123456789abcdef"
READ = "Authorization: Bearer fuzz-read-0123456789abcdef"
JSON = "Content-Type: application/json"
SEP = "\n%%\n"

EXAMPLE = (
    '{"pools": {"2Mi": {"count": 512}, "1Gi": {"nodes": {"0": 1, "1": 1}}},\n'
    ' "default_size": "2Mi",\n'
    ' "transparent_hugepage": {"enabled": "madvise", "defrag": "madvise", "shmem_enabled": "never"}}'
)

CONFIGS = {
    "example": EXAMPLE,
    "empty-object": "{}",
    "empty-pools": '{"pools": {}}',
    "count-2m": '{"pools": {"2Mi": {"count": 600}}}',
    "per-node-1g": '{"pools": {"1Gi": {"nodes": {"0": 2, "1": 1}}}}',
    "count-and-nodes": '{"pools": {"2Mi": {"count": 512, "nodes": {"0": 256, "1": 256}}}}',
    "count-nodes-mismatch": '{"pools": {"2Mi": {"count": 100, "nodes": {"0": 1, "1": 2}}}}',
    "nodes-incomplete": '{"pools": {"2Mi": {"count": 1, "nodes": {"0": 1}}}}',
    "bad-nodes": '{"pools": {"1Gi": {"nodes": {"7": 1, "01": 1, "1024": 1, "-1": 1, "x": 1, "": 1}}}}',
    "thp-all": '{"transparent_hugepage": {"enabled": "always", "defrag": "defer+madvise", "shmem_enabled": "advise"}}',
    "thp-bad": '{"transparent_hugepage": {"enabled": "sometimes", "defrag": "", "shmem_enabled": 1, "khugepaged": "x"}}',
    "thp-long-word": '{"transparent_hugepage": {"enabled": "' + "a" * 40 + '"}}',
    "thp-nul-escape": '{"transparent_hugepage": {"enabled": "mad\\u0000vise"}}',
    "default-size": '{"default_size": "1Gi"}',
    "default-size-bad": '{"default_size": 2097152, "pools": {"3Mi": {"count": 1}}}',
    "default-size-nul": '{"default_size": "2Mi\\u0000"}',
    "duplicate-key": '{"pools": {"2Mi": {"count": 1}, "2Mi": {"count": 2}}}',
    "duplicate-top": '{"pools": {}, "default_size": "2Mi", "pools": {}}',
    "duplicate-size": '{"pools": {"2Mi": {"count": 1}, "2048Ki": {"count": 2}, "2097152": {"count": 3}}}',
    "deep-nesting": '{"pools": {"2Mi": {"count": ' + "[" * 200 + "]" * 200 + "}}}",
    "deep-objects": '{"x": ' + '{"a": ' * 100 + "1" + "}" * 100 + "}",
    "huge-count": '{"pools": {"2Mi": {"count": 9223372036854775807}, "1Gi": {"nodes": {"0": 9007199254740993}}}}',
    "count-overflow": '{"pools": {"2Mi": {"count": 18446744073709551616}}}',
    "count-real": '{"pools": {"2Mi": {"count": 512.0}, "1Gi": {"count": 1e400}}}',
    "count-negative": '{"pools": {"2Mi": {"count": -1}, "1Gi": {"count": "2"}}}',
    "huge-sizes": '{"pools": {"16Ei": {"count": 1}, "17Ei": {"count": 1}, "18446744073709551615": {"count": 1}}}',
    "odd-quantities": '{"pools": {"0.5Mi": {"count": 1}, "1m": {"count": 1}, "1.5Gi": {"count": 1}, "2M": {"count": 1}, "4Ki": {"count": 1}}}',
    "unicode-escapes": '{"\\u0070ools": {"2\\u004di": {"count": 1}}}',
    "nul-in-key": '{"po\\u0000ols": {}}',
    "utf8-key": '{"\u00e9t\u00e9": 1, "pools": {"\u20ac": {"count": 1}}}',
    "exceeds-memory": '{"pools": {"2Mi": {"count": 40000}, "1Gi": {"count": 64}}}',
    "exceeds-node": '{"pools": {"1Gi": {"nodes": {"0": 31, "1": 0}}}}',
    "shrink-in-use": '{"pools": {"2Mi": {"count": 0}, "1Gi": {"count": 0}}}',
    "wrong-types": '{"pools": [], "transparent_hugepage": []}',
    "wrong-pool-types": '{"pools": {"2Mi": 1, "1Gi": {"nodes": [1]}, "64Ki": {}, "32Mi": {"nodes": {}}}}',
    "unknown-fields": '{"foo": 1, "pools": {"2Mi": {"count": 1, "size": 2}}}',
}
# Bytes that are not text.
RAW_CONFIGS = {
    "not-object-array": b"[]",
    "not-object-string": b'"pools"',
    "empty": b"",
    "whitespace": b" \n\t ",
    "trailing-data": b'{"pools": {}} x',
    "two-objects": b"{}{}",
    "raw-nul": b'{"pools": {}\x00}',
    "invalid-utf8-key": b'{"\xff\xfe": 1}',
    "invalid-utf8-value": b'{"default_size": "2Mi\xc3"}',
    "overlong-utf8": b'{"transparent_hugepage": {"enabled": "\xc0\xafnever"}}',
    "bom": b'\xef\xbb\xbf{"pools": {}}',
    "truncated": b'{"pools": {"2Mi": {"cou',
}


def req(line, *headers, body=None):
    """One request: the request line, headers, and a body after a blank line."""
    text = line + "\n" + "".join(h + "\n" for h in headers)
    if body is not None:
        text += "\n" + body
    return text


def put(body, *headers, query=""):
    return req("PUT /config" + query, ADMIN, JSON, *headers, body=body)


CONFIRM = req("POST /config/confirm", ADMIN)
HISTORY = req("GET /config/history", READ)
BIG = '{"pools": {"2Mi": {"count": 1}}, "x": "' + "a" * 4200 + '"}'

REQUESTS = {
    # Reads, each route with each kind of caller.
    "sizes-admin": req("GET /sizes", ADMIN),
    "sizes-read": req("GET /sizes", READ),
    "sizes-anonymous": req("GET /sizes"),
    "sizes-anonymous-read": req("GET /sizes", ":anonymous-read"),
    "sizes-head": req("HEAD /sizes", READ),
    "status": req("GET /status", READ),
    "status-empty-journal": "@journal empty\n" + req("GET /status", ADMIN),
    "status-after-put": put('{"pools": {"2Mi": {"count": 700}}}') + SEP + req("GET /status", READ),
    "config-get": req("GET /config", READ, "Accept: application/json"),
    "config-get-empty": "@journal empty\n" + req("GET /config", READ),
    "history": HISTORY,
    "history-full": "@journal full\n" + HISTORY,
    "healthz": req("GET /healthz"),
    "readyz": req("GET /readyz"),
    "metrics": req("GET /metrics", READ, "Accept: text/plain;version=0.0.4"),
    "metrics-after-changes": put(CONFIGS["count-2m"]) + SEP + put(CONFIGS["exceeds-memory"]) + SEP
    + put("{}", query="?confirm_within=5") + SEP + put("{}") + SEP + req("GET /metrics", ADMIN),
    "metrics-406": req("GET /metrics", READ, "Accept: application/json"),
    "openapi": req("GET /openapi.json", "Accept: application/json, text/plain;q=0.5"),
    # Validation.
    "validate-good": req("POST /validate", READ, JSON, body=EXAMPLE),
    "validate-bad": req("POST /validate", READ, JSON, body=CONFIGS["bad-nodes"]),
    "validate-memory": req("POST /validate", READ, JSON, body=CONFIGS["exceeds-memory"]),
    "validate-utf8": req("POST /validate", READ, JSON, body=CONFIGS["utf8-key"]),
    "validate-415": req("POST /validate", READ, "Content-Type: text/plain", body="{}"),
    "validate-no-type": req("POST /validate", READ, body="{}"),
    "validate-413": req("POST /validate", READ, JSON, body=BIG),
    "validate-406": req("POST /validate", READ, JSON, "Accept: text/html", body="{}"),
    "validate-q0": req("POST /validate", READ, JSON, "Accept: application/json;q=0, */*;q=0.000", body="{}"),
    "validate-charset": req("POST /validate", READ, "Content-Type: Application/JSON ; charset=utf-8", body="{}"),
    # Changes.
    "put": put('{"pools": {"2Mi": {"count": 600}, "1Gi": {"nodes": {"0": 2, "1": 1}}}}'),
    "put-empty-journal": "@journal empty\n" + put(EXAMPLE),
    "put-read-token": req("PUT /config", READ, JSON, body="{}"),
    "put-invalid": put('{"pools": {"2Mi": {"count": -1}}}'),
    "put-rejected": put(CONFIGS["exceeds-memory"]),
    "put-thp": put(CONFIGS["thp-all"]),
    "put-default-size": put(CONFIGS["default-size"]),
    "put-if-match": put("{}", 'If-Match: "5"'),
    "put-if-match-list": put("{}", 'If-Match: W/"5", "4" , "5"'),
    "put-if-match-stale": put("{}", 'If-Match: "1"'),
    "put-if-match-any": put("{}", "If-Match: *"),
    "put-428": put("{}", ":require-if-match"),
    "put-same-twice": put(CONFIGS["count-2m"]) + SEP + put(CONFIGS["count-2m"]) + SEP + HISTORY,
    "put-confirm": put('{"pools": {"2Mi": {"count": 100}}}', query="?confirm_within=30") + SEP + CONFIRM
    + SEP + req("GET /config", READ),
    "put-pending-409": put('{"pools": {"2Mi": {"count": 100}}}', query="?confirm_within=5") + SEP
    + put("{}"),
    "put-expire": put(CONFIGS["per-node-1g"], query="?confirm_within=86400") + SEP + "@expire" + SEP
    + HISTORY + SEP + req("GET /status", READ),
    "put-confirm-within-bad": put("{}", query="?confirm_within=0") + SEP + put("{}", query="?confirm_within=86401")
    + SEP + put("{}", query="?confirm_within=1x&confirm_within=2"),
    "put-compaction": "@journal full\n" + put(CONFIGS["count-2m"]) + SEP + put(CONFIGS["thp-all"]) + SEP
    + put(CONFIGS["per-node-1g"]) + SEP + HISTORY,
    "confirm-nothing": CONFIRM,
    "confirm-412": req("POST /config/confirm", ADMIN, 'If-Match: "2"'),
    "rollback": req("POST /config/rollback", ADMIN, JSON, body='{"generation": 1}'),
    "rollback-window": req("POST /config/rollback?confirm_within=60", ADMIN, JSON, body='{"generation": 3}')
    + SEP + "@expire" + SEP + HISTORY,
    "rollback-unknown": req("POST /config/rollback", ADMIN, JSON, body='{"generation": 99}'),
    "rollback-bad": req("POST /config/rollback", ADMIN, JSON, body='{"generation": "1", "x": 2}'),
    "rollback-empty": "@journal empty\n" + req("POST /config/rollback", ADMIN, JSON, body='{"generation": 1}'),
    # Routing and methods.
    "not-found": req("GET /nope", ADMIN),
    "not-found-long": req("GET /" + "x" * 2000, ADMIN),
    "method-405": req("DELETE /config", ADMIN),
    "put-sizes-405": req("PUT /sizes", ADMIN, JSON, body="{}"),
    "percent-path": req("GET /conf%69g", READ) + SEP + req("GET /config%00x", READ),
    "options": req("OPTIONS /config"),
    # CORS.
    "preflight": req("OPTIONS /config", "Origin: https://dash.example:8443", "Access-Control-Request-Method: PUT",
                     "Access-Control-Request-Headers: authorization, content-type, if-match"),
    "preflight-origin": req("OPTIONS /config", "Origin: https://evil.example", "Access-Control-Request-Method: GET"),
    "preflight-method": req("OPTIONS /sizes", "Origin: http://localhost:3000", "Access-Control-Request-Method: PUT"),
    "preflight-header": req("OPTIONS /validate", "Origin: http://localhost:3000", "Access-Control-Request-Method: POST",
                            "Access-Control-Request-Headers: x-evil, authorization"),
    "cors-get": req("GET /config", READ, "Origin: https://dash.example:8443"),
    "cors-put": put("{}", "Origin: http://localhost:3000"),
    # Authentication.
    "bad-token": req("GET /sizes", "Authorization: Bearer fuzz-admin-0123456789abcdeX"),
    "basic-auth": req("PUT /config", "Authorization: Basic YWRtaW46YWRtaW4=", JSON, body="{}"),
    "cert-admin": req("PUT /config", ":cert-subject: CN=ops,O=example", ":peer: 192.0.2.7", JSON, body="{}"),
    "cert-read": req("PUT /config", ":cert-subject: CN=viewer", ":cert-role: read", JSON, body="{}"),
    "cert-rejected": req("GET /status", ":cert-rejected"),
    "token-beats-cert": req("GET /status", "Authorization: Bearer nope", ":cert-subject: CN=ops"),
}


# Inputs that made a target fail before the bugs they found were fixed
# (FOUND.md): regression seeds, written into the corpora as regress-*.
LONG_KEY = '{"x' + "\u00e9" * 40 + '": 1}'
CRASHES = {
    # A finding quotes at most 64 (40) bytes: the cut falls inside a character.
    "config-utf8-cut-key.json": LONG_KEY,
    "config-utf8-cut-size.json": '{"pools": {"x' + "\u00e9" * 40 + '": {"count": 1}}}',
    "config-utf8-cut-thp.json": '{"transparent_hugepage": {"enabled": "' + "\u20ac" * 20 + '"}}',
    "request-utf8-cut-validate.txt": req("POST /validate", READ, JSON, body=LONG_KEY),
    "request-utf8-cut-put.txt": put(LONG_KEY),
    # A problem's detail is cut at 1023 bytes, inside a character.
    "request-utf8-cut-404.txt": req("GET /" + "\u00e9" * 600, ADMIN),
    # Header bytes that are not UTF-8 quoted in a detail.
    "request-latin1-if-match.txt": put("{}", 'If-Match: "\xe9"'),
    "request-latin1-content-type.txt": req("POST /validate", READ, "Content-Type: text/pl\xe9in", body="{}"),
    # A percent-encoded byte over 0x7f in the path, quoted in the 404 detail.
    "request-percent-404.txt": req("GET /config/confirm%AC", ADMIN),
}
# The JSON scanner that names the place of a JSON error loops forever on a
# NUL byte outside a string (jsonscan.c: strchr(",}] \t\r\n", '\0') matches).
NUL_DUP = b'{"a": 0\x00, "a": 1}'
CRASH_BYTES = {
    "config-nul-hang-duplicate.json": NUL_DUP,
    "config-nul-hang-overflow.json": b'{"a": 0\x00, "b": 99999999999999999999999}',
    "config-nul-hang-utf8.json": b'{"pootrls": {"4Mi": {"count": 0\x00}, "1Gi": {"count": \xb0}}}',
    "request-nul-hang-validate.txt": req("POST /validate", READ, JSON, body="").encode() + NUL_DUP,
}


def write(directory, name, data, top="corpus"):
    path = os.path.join(HERE, top, directory, name)
    if isinstance(data, str):
        data = data.encode()
    with open(path, "wb") as f:
        f.write(data)


def main():
    for d in ("config", "request"):
        os.makedirs(os.path.join(HERE, "corpus", d), exist_ok=True)
    for name, text in CRASHES.items():
        data = text.encode("utf-8", "surrogateescape") if "latin1" not in name else text.encode("latin-1")
        write(name.split("-")[0], "regress-" + name, data)
    for name, data in CRASH_BYTES.items():
        write(name.split("-")[0], "regress-" + name, data)
    for name, text in CONFIGS.items():
        write("config", name + ".json", text)
    for name, data in RAW_CONFIGS.items():
        write("config", name + ".json", data)
    for name, text in REQUESTS.items():
        write("request", name + ".txt", text)
    print(f"{len(CONFIGS) + len(RAW_CONFIGS)} config seeds, {len(REQUESTS)} request seeds", file=sys.stderr)


if __name__ == "__main__":
    main()
