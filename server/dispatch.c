/* See dispatch.h. */
#include "dispatch.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "../model/utf8.h"
#include "log.h"

/* The request headers a cross-origin page may send (lower case, as
 * browsers list them in Access-Control-Request-Headers). */
static const char *const cors_headers[] = { "authorization", "x-hugepaged-token", "content-type", "if-match",
                                            "accept" };

static const char *header(const struct incoming *in, const char *name)
{
        return in->header ? in->header(in->cls, name) : NULL;
}

bool dispatch_origin_valid(const char *origin)
{
        const char *rest;
        if (strncmp(origin, "https://", 8) == 0)
                rest = origin + 8;
        else if (strncmp(origin, "http://", 7) == 0)
                rest = origin + 7;
        else
                return false;
        if (!*rest || strlen(origin) > 255)
                return false;
        for (const char *p = rest; *p; p++)
                if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
                      strchr("-.:[]", *p)))
                        return false;
        return true;
}

static const char *allowed_origin(const struct dispatch *d, const char *origin)
{
        if (!origin)
                return NULL;
        for (size_t i = 0; i < d->n_cors_origins; i++)
                if (strcmp(d->cors_origins[i], origin) == 0)
                        return d->cors_origins[i];
        return NULL;
}

/* One media range "type/subtype;q=0.5;x=y" (trimmed, not NUL-terminated at
 * len): 1 when it admits type with q > 0, 0 when not, -1 when it does not
 * parse. */
static int range_admits(const char *range, size_t len, const char *type)
{
        while (len > 0 && (*range == ' ' || *range == '\t'))
                range++, len--;
        size_t mlen = 0;
        while (mlen < len && range[mlen] != ';')
                mlen++;
        size_t end = mlen;
        while (end > 0 && (range[end - 1] == ' ' || range[end - 1] == '\t'))
                end--;
        const char *slash = memchr(range, '/', end);
        if (!slash || slash == range || (size_t) (slash - range) + 1 >= end)
                return -1;

        /* q: "q=0", "q=0.000" exclude; anything else that parses admits. */
        bool q_zero = false;
        const char *p = range + mlen;
        const char *stop = range + len;
        while (p < stop) {
                p++; /* the ';' */
                while (p < stop && (*p == ' ' || *p == '\t'))
                        p++;
                const char *param = p;
                while (p < stop && *p != ';')
                        p++;
                if (p - param >= 2 && (param[0] == 'q' || param[0] == 'Q') && param[1] == '=') {
                        const char *v = param + 2;
                        q_zero = v < p && *v == '0';
                        for (const char *w = v + 1; q_zero && w < p && *w != ' ' && *w != '\t'; w++)
                                if (*w != '0' && *w != '.')
                                        q_zero = false;
                }
        }
        if (q_zero)
                return 0;

        size_t tlen = strlen(type);
        const char *tslash = strchr(type, '/');
        size_t tmain = tslash ? (size_t) (tslash - type) : tlen;
        size_t rmain = (size_t) (slash - range);
        const char *rsub = slash + 1;
        size_t rsublen = end - rmain - 1;
        if (rmain == 1 && range[0] == '*')
                return rsublen == 1 && rsub[0] == '*' ? 1 : 0;
        if (rmain != tmain || strncasecmp(range, type, rmain) != 0)
                return 0;
        if (rsublen == 1 && rsub[0] == '*')
                return 1;
        return tslash && rsublen == strlen(tslash + 1) && strncasecmp(rsub, tslash + 1, rsublen) == 0 ? 1 : 0;
}

bool dispatch_accepts(const char *accept, const char *type)
{
        if (!accept)
                return true;
        bool any_parsed = false;
        const char *p = accept;
        for (;;) {
                const char *comma = strchr(p, ',');
                size_t len = comma ? (size_t) (comma - p) : strlen(p);
                int r = range_admits(p, len, type);
                if (r > 0)
                        return true;
                if (r == 0)
                        any_parsed = true;
                if (!comma)
                        break;
                p = comma + 1;
        }
        return !any_parsed;
}

static bool cors_header_allowed(const char *name, size_t len)
{
        for (size_t i = 0; i < sizeof(cors_headers) / sizeof(cors_headers[0]); i++)
                if (strlen(cors_headers[i]) == len && strncasecmp(cors_headers[i], name, len) == 0)
                        return true;
        return false;
}

/* A CORS preflight: OPTIONS with Origin and Access-Control-Request-Method.
 * Answered without credentials, since browsers send none. */
static int preflight(const struct dispatch *d, const struct incoming *in, const char *allow, struct response *resp)
{
        const char *origin = allowed_origin(d, header(in, "Origin"));
        if (!origin)
                return response_problem(resp, 403, "cors-origin", in->path,
                                        "cross-origin requests are not allowed from this origin (--cors-origin)");
        const char *method = header(in, "Access-Control-Request-Method");
        bool method_ok = false;
        size_t mlen = strlen(method);
        for (const char *p = allow; *p;) {
                size_t n = strcspn(p, ", ");
                if (n == mlen && strncmp(p, method, n) == 0)
                        method_ok = true;
                p += n;
                p += strspn(p, ", ");
        }
        if (!method_ok)
                return response_problem(resp, 403, "cors-method", in->path,
                                        "a cross-origin %.16s is not allowed on this path (allowed: %s)", method,
                                        allow);
        const char *hdrs = header(in, "Access-Control-Request-Headers");
        for (const char *p = hdrs ? hdrs : ""; *p;) {
                p += strspn(p, ", \t");
                size_t n = strcspn(p, ", \t");
                if (n > 0 && !cors_header_allowed(p, n))
                        return response_problem(resp, 403, "cors-header", in->path,
                                                "a cross-origin request may not send the header \"%.*s\"",
                                                (int) (n > 64 ? 64 : n), p);
                p += n;
        }
        resp->status = 204;
        resp->cors_origin = origin;
        resp->cors_methods = allow;
        return 0;
}

static int authenticate(const struct dispatch *d, const struct incoming *in, const struct route *route,
                        struct caller *ret, struct response *resp)
{
        *ret = (struct caller) { .kind = CALLER_ANONYMOUS, .role = ROLE_NONE, .name = "-" };
        if (route->access == ACCESS_OPEN)
                return 0;

        /* A bearer token, when given, decides; then a verified client
         * certificate. A bad token is never overruled by a certificate.
         * The Kubernetes API server's proxy (pods/proxy, services/proxy)
         * removes Authorization after authenticating the user to itself,
         * so the token may come as X-Hugepaged-Token instead. */
        const char *authz = header(in, "Authorization");
        char from_token_header[sizeof("Bearer ") + AUTH_TOKEN_MAX];
        const char *token = authz ? NULL : header(in, "X-Hugepaged-Token");
        if (token) {
                int n = snprintf(from_token_header, sizeof(from_token_header), "Bearer %s", token);
                /* Longer than any token: refused below like a wrong one. */
                if (n < 0 || (size_t) n >= sizeof(from_token_header))
                        from_token_header[0] = '\0';
                authz = from_token_header;
        }
        if (authz) {
                if (!auth_store_check(d->auth, authz, ret)) {
                        resp->authenticate = true;
                        return response_problem(resp, 401, "unauthorized", in->path, "the bearer token is not valid")
                                       ?: 1;
                }
        } else if (in->cert_subject) {
                ret->kind = CALLER_CERTIFICATE;
                ret->role = d->cert_role;
                snprintf(ret->name, sizeof(ret->name), "cert:%s", in->cert_subject);
                /* A long subject is cut to fit, maybe inside a character;
                 * the name is quoted in answers and the journal. */
                utf8_repair(ret->name);
        } else if (in->cert_rejected) {
                resp->authenticate = true;
                return response_problem(resp, 401, "unauthorized", in->path,
                                        "the client certificate is not signed by the trusted CA (--client-ca), "
                                        "and no bearer token was given")
                               ?: 1;
        } else if (!(route->access == ACCESS_READ && d->anonymous_read)) {
                resp->authenticate = true;
                return response_problem(resp, 401, "unauthorized", in->path,
                                        "a bearer token is required (Authorization: Bearer <token>)")
                               ?: 1;
        }

        if (route->access == ACCESS_ADMIN && ret->kind != CALLER_ANONYMOUS && ret->role != ROLE_ADMIN)
                return response_problem(resp, 403, "forbidden", in->path,
                                        "\"%s\" may read but not change the configuration", ret->name)
                               ?: 1;
        return 0;
}

static bool is_json_type(const char *ct)
{
        if (!ct)
                return false;
        ct += strspn(ct, " \t");
        size_t n = strlen("application/json");
        if (strncasecmp(ct, "application/json", n) != 0)
                return false;
        ct += n;
        ct += strspn(ct, " \t");
        return *ct == '\0' || *ct == ';';
}

int dispatch_precheck(const struct dispatch *d, const struct incoming *in, struct verdict *v, struct response *resp)
{
        int r;
        *v = (struct verdict) { 0 };
        const struct route *route = NULL;
        const char *allow = NULL;
        enum router_match m = in->path_rejected ? ROUTE_NO_PATH : router_find(in->method, in->path, &route, &allow);
        if (m == ROUTE_NO_PATH)
                return response_problem(resp, 404, "not-found", in->path, "no resource at %s", in->path) ?: 1;

        if (strcmp(in->method, "OPTIONS") == 0) {
                if (header(in, "Origin") && header(in, "Access-Control-Request-Method"))
                        return preflight(d, in, allow, resp) ?: 1;
                resp->status = 204;
                resp->allow = allow;
                return 1;
        }
        if (m == ROUTE_NO_METHOD) {
                resp->allow = allow;
                return response_problem(resp, 405, "method-not-allowed", in->path,
                                        "%.16s is not allowed on %s (allowed: %s)", in->method, in->path, allow)
                               ?: 1;
        }

        v->route = route;
        r = authenticate(d, in, route, &v->caller, resp);
        if (r != 0)
                return r;

        const char *produces = route->produces ? route->produces : "application/json";
        if (!dispatch_accepts(header(in, "Accept"), produces))
                return response_problem(resp, 406, "not-acceptable", in->path,
                                        "this resource is only served as %s (errors as application/problem+json)",
                                        produces)
                               ?: 1;

        if (route->takes_body) {
                const char *ct = header(in, "Content-Type");
                if (!is_json_type(ct))
                        return response_problem(resp, 415, "unsupported-media-type", in->path,
                                                "the body must be application/json%s%.64s%s", ct ? ", not \"" : "",
                                                ct ? ct : "", ct ? "\"" : "")
                                       ?: 1;
        }
        v->checked = true;
        return 0;
}

int dispatch_run(const struct dispatch *d, const struct incoming *in, struct verdict *v, struct response *resp)
{
        if (!v->checked) {
                int r = dispatch_precheck(d, in, v, resp);
                if (r != 0)
                        return r < 0 ? r : 0;
        }
        if (v->route->takes_body && in->body_too_big)
                return response_problem(resp, 413, "too-large", in->path, "the body is larger than %zu bytes",
                                        d->max_body);
        struct request req = {
                .method = in->method,
                .path = in->path,
                .body = in->body ? in->body : "",
                .body_len = in->body_len,
                .caller = v->caller.kind != CALLER_ANONYMOUS ? v->caller.name : NULL,
                .if_match = header(in, "If-Match"),
                .confirm_within = in->argument ? in->argument(in->cls, "confirm_within") : NULL,
        };
        int r = v->route->handler(d->app, &req, resp);
        if (r < 0) {
                response_release(resp);
                r = response_problem(resp, 500, "internal", in->path, "out of memory");
        }
        return r;
}

/* Copies text for a log line: anything but printable ASCII becomes \xNN, so
 * that a crafted URL cannot start a line of its own in the log. */
static void printable(const char *in, char *out, size_t size)
{
        size_t o = 0;
        for (const unsigned char *p = (const unsigned char *) in; *p && o + 5 < size; p++) {
                if (*p >= 0x20 && *p < 0x7f && *p != '\\')
                        out[o++] = (char) *p;
                else
                        o += (size_t) snprintf(out + o, size - o, "\\x%02x", *p);
        }
        out[o] = '\0';
}

static const char *outcome(unsigned status)
{
        if (status < 300)
                return "accepted";
        if (status == 401 || status == 403)
                return "denied";
        if (status < 500)
                return "refused";
        return "failed";
}

void dispatch_answered(const struct dispatch *d, const struct incoming *in, const struct verdict *v,
                       struct response *resp)
{
        if (!resp->cors_origin)
                resp->cors_origin = allowed_origin(d, header(in, "Origin"));

        /* Mutations only: the routes that need the admin role. */
        if (!v->route || v->route->access != ACCESS_ADMIN)
                return;
        const char *m = in->method;

        /* The generation a change produced or refers to: the answer's ETag,
         * else the desired one now. */
        uint64_t generation = 0;
        if (resp->etag[0])
                generation = strtoull(resp->etag + 1, NULL, 10);
        else if (d->app) {
                pthread_mutex_lock(&d->app->state_lock);
                generation = d->app->snap.generation;
                pthread_mutex_unlock(&d->app->state_lock);
        }
        char method[40], path[256], who[sizeof(v->caller.name) * 4];
        printable(m, method, sizeof(method));
        printable(in->path, path, sizeof(path));
        printable(v->caller.kind != CALLER_ANONYMOUS ? v->caller.name : "-", who, sizeof(who));
        struct audit_event e = {
                .method = method,
                .path = path,
                .peer = in->peer ? in->peer : "?",
                .caller = who,
                .caller_kind = v->caller.kind == CALLER_TOKEN         ? "token"
                               : v->caller.kind == CALLER_CERTIFICATE ? "certificate"
                                                                      : "none",
                .status = resp->status,
                .outcome = outcome(resp->status),
                .generation = generation,
        };
        log_audit(&e);
}
