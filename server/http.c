/* See http.h.
 *
 * libmicrohttpd calls the access handler several times per request: first
 * with no data (headers are in), then once per chunk of body, then once
 * with no data when the body is complete. We answer on the last call, with
 * one exception: a Content-Length over the limit is refused on the first
 * call, which makes MHD close the connection instead of reading the body.
 * Answering GETs on the second call, not the first, keeps connections alive
 * (LIBS.md §6). */
#include "http.h"

#include <arpa/inet.h>
#include <errno.h>
#include <microhttpd.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include "../handlers/response.h"
#include "../model/cleanup.h"
#include "log.h"
#include "router.h"

#define THREADS 4
#define CONNECTION_LIMIT 64
#define PER_IP_LIMIT 16
#define CONNECTION_TIMEOUT_S 10
#define CONNECTION_MEMORY (32 * 1024)
#define TLS_PRIORITIES "NORMAL:-VERS-ALL:+VERS-TLS1.3:+VERS-TLS1.2"

struct http {
        struct MHD_Daemon *daemon;
        struct http_config cfg;
        int listen_fd;
};

/* A Content-Length over the limit is refused at once when the client waits
 * for "100 Continue" (it has sent nothing yet) or when the body is absurdly
 * large; otherwise the body is read and dropped first (see on_request). */
#define DRAIN_LIMIT (8 * 1024 * 1024)

static bool expects_continue(struct MHD_Connection *c)
{
        const char *e = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_EXPECT);
        return e && strcasecmp(e, "100-continue") == 0;
}

/* What we keep between the calls for one request. */
struct exchange {
        char *body;
        size_t len;
        uint64_t received;         /* every body byte seen, kept or not */
        bool too_big;              /* over max_body: read, dropped, then 413 */
        bool answered;             /* a response was queued */
        bool checked;              /* precheck() passed */
        const struct route *route; /* set by precheck() */
        const struct token *who;   /* set by precheck(); NULL: anonymous */
};

static void mhd_logger(void *cls, const char *fmt, va_list ap)
{
        (void) cls;
        char line[512];
        vsnprintf(line, sizeof(line), fmt, ap);
        line[strcspn(line, "\n")] = '\0';
        log_warning("http: %s", line);
}

static enum MHD_Result queue(struct MHD_Connection *c, struct response *r)
{
        char *text = NULL;
        if (r->body) {
                text = json_dumps(r->body, JSON_COMPACT);
                if (text) {
                        size_t n = strlen(text);
                        char *grown = realloc(text, n + 2);
                        if (grown) {
                                text = grown;
                                text[n] = '\n';
                                text[n + 1] = '\0';
                        } else {
                                free(text);
                                text = NULL;
                        }
                }
                if (!text)
                        return MHD_NO;
        }
        struct MHD_Response *resp = MHD_create_response_from_buffer(text ? strlen(text) : 0, text ? text : (char *) "",
                                                                    text ? MHD_RESPMEM_MUST_FREE : MHD_RESPMEM_PERSISTENT);
        if (!resp) {
                free(text);
                return MHD_NO;
        }
        if (r->body)
                MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE,
                                        r->problem ? "application/problem+json" : "application/json");
        MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
        MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
        if (r->allow)
                MHD_add_response_header(resp, MHD_HTTP_HEADER_ALLOW, r->allow);
        if (r->authenticate)
                MHD_add_response_header(resp, MHD_HTTP_HEADER_WWW_AUTHENTICATE, "Bearer realm=\"hugepaged\"");
        if (r->etag[0])
                MHD_add_response_header(resp, MHD_HTTP_HEADER_ETAG, r->etag);
        enum MHD_Result ok = MHD_queue_response(c, r->status, resp);
        MHD_destroy_response(resp);
        return ok;
}

static bool is_json_type(const char *ct)
{
        if (!ct)
                return false;
        while (*ct == ' ')
                ct++;
        size_t n = strlen("application/json");
        if (strncasecmp(ct, "application/json", n) != 0)
                return false;
        ct += n;
        while (*ct == ' ')
                ct++;
        return *ct == '\0' || *ct == ';';
}

static void client_address(struct MHD_Connection *c, char *buf, size_t size)
{
        const union MHD_ConnectionInfo *ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
        snprintf(buf, size, "?");
        if (!ci || !ci->client_addr)
                return;
        const struct sockaddr *sa = ci->client_addr;
        if (sa->sa_family == AF_INET)
                inet_ntop(AF_INET, &((const struct sockaddr_in *) sa)->sin_addr, buf, (socklen_t) size);
        else if (sa->sa_family == AF_INET6)
                inet_ntop(AF_INET6, &((const struct sockaddr_in6 *) sa)->sin6_addr, buf, (socklen_t) size);
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

/* What the headers alone decide: the route, the method, authentication and
 * role, the content type. Returns 0 when the request may go on (ex->route
 * and ex->who set), 1 when resp holds the answer, or -ENOMEM. */
static int precheck(struct http *h, struct MHD_Connection *c, const char *method, const char *url,
                    struct exchange *ex, struct response *resp)
{
        const struct route *route = NULL;
        const char *allow = NULL;
        int r;
        switch (router_find(method, url, &route, &allow)) {
        case ROUTE_NO_PATH:
                r = response_problem(resp, 404, "not-found", url, "no resource at %s", url);
                return r < 0 ? r : 1;
        case ROUTE_NO_METHOD:
                resp->allow = allow;
                r = response_problem(resp, 405, "method-not-allowed", url, "%s is not allowed on %s (allowed: %s)",
                                     method, url, allow);
                return r < 0 ? r : 1;
        case ROUTE_FOUND:
                break;
        }

        const struct token *who = NULL;
        if (route->access != ACCESS_OPEN) {
                const char *authz = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION);
                who = auth_check(h->cfg.auth, authz);
                bool anonymous_ok = route->access == ACCESS_READ && h->cfg.anonymous_read && !authz;
                if (!who && !anonymous_ok) {
                        resp->authenticate = true;
                        r = response_problem(resp, 401, "unauthorized", url,
                                             authz ? "the bearer token is not valid"
                                                   : "a bearer token is required (Authorization: Bearer <token>)");
                        return r < 0 ? r : 1;
                }
                if (who && route->access == ACCESS_ADMIN && who->role != ROLE_ADMIN) {
                        r = response_problem(resp, 403, "forbidden", url,
                                             "the token \"%s\" may read but not change the configuration",
                                             who->name);
                        return r < 0 ? r : 1;
                }
        }

        if (route->takes_body) {
                const char *ct = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_TYPE);
                if (!is_json_type(ct)) {
                        r = response_problem(resp, 415, "unsupported-media-type", url,
                                             "the body must be application/json%s%s%s", ct ? ", not \"" : "",
                                             ct ? ct : "", ct ? "\"" : "");
                        return r < 0 ? r : 1;
                }
        }
        ex->route = route;
        ex->who = who;
        ex->checked = true;
        return 0;
}

/* Queues resp (and releases it); requests that may change something are
 * logged with who asked and the outcome. */
static enum MHD_Result answer(struct MHD_Connection *c, const char *method, const char *url, struct exchange *ex,
                              struct response *resp)
{
        if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0) {
                char addr[INET6_ADDRSTRLEN], meth[64], path[256];
                client_address(c, addr, sizeof(addr));
                printable(method, meth, sizeof(meth));
                printable(url, path, sizeof(path));
                log_info("%s %s from %s by %s: %u", meth, path, addr, ex->who ? ex->who->name : "-", resp->status);
        }
        ex->answered = true;
        enum MHD_Result ok = queue(c, resp);
        response_release(resp);
        return ok;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url, const char *method,
                                  const char *version, const char *upload_data, size_t *upload_data_size,
                                  void **con_cls)
{
        (void) version;
        struct http *h = cls;
        struct exchange *ex = *con_cls;
        struct response resp = { 0 };
        int r;

        if (!ex) {
                ex = calloc(1, sizeof(*ex));
                if (!ex)
                        return MHD_NO;
                *con_cls = ex;
                const char *cl = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
                const char *te = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_TRANSFER_ENCODING);
                if ((!cl || strcmp(cl, "0") == 0) && !te)
                        return MHD_YES; /* answered on the next call, keeping the connection alive */

                /* A body is coming. Whatever the headers already refuse is
                 * refused now, before any of it is read. */
                r = precheck(h, c, method, url, ex, &resp);
                if (r < 0)
                        return MHD_NO;
                if (r > 0)
                        return answer(c, method, url, ex, &resp);
                if (cl && ex->route->takes_body) {
                        char *end;
                        errno = 0;
                        unsigned long long n = strtoull(cl, &end, 10);
                        if (errno || *end || n > h->cfg.max_body) {
                                /* A client waiting for "100 Continue" has sent
                                 * nothing yet, and an absurd length is not
                                 * worth reading: answer now. Otherwise the
                                 * client sends the body whatever we say, and
                                 * answering now would close the connection
                                 * under it (it would see a reset, not our
                                 * 413): read and drop it, then answer. */
                                if (!errno && !*end && n <= DRAIN_LIMIT && !expects_continue(c)) {
                                        ex->too_big = true;
                                        return MHD_YES;
                                }
                                if (response_problem(&resp, 413, "too-large", url, "the body is larger than %zu bytes",
                                                     h->cfg.max_body) < 0)
                                        return MHD_NO;
                                return answer(c, method, url, ex, &resp);
                        }
                }
                return MHD_YES;
        }

        if (*upload_data_size > 0) {
                size_t n = *upload_data_size;
                *upload_data_size = 0;
                ex->received += n;
                bool keeps = ex->route && ex->route->takes_body && !ex->too_big && !ex->answered;
                if (!keeps || ex->len + n > h->cfg.max_body) {
                        /* Bodies we do not keep are read and dropped up to
                         * DRAIN_LIMIT; a client that sends more (chunked
                         * bodies have no length to refuse early) loses its
                         * connection. */
                        if (ex->received > DRAIN_LIMIT)
                                return MHD_NO;
                        if (keeps) {
                                ex->too_big = true;
                                free(ex->body);
                                ex->body = NULL;
                                ex->len = 0;
                        }
                        return MHD_YES;
                }
                char *grown = realloc(ex->body, ex->len + n + 1);
                if (!grown)
                        return MHD_NO;
                ex->body = grown;
                memcpy(ex->body + ex->len, upload_data, n);
                ex->len += n;
                ex->body[ex->len] = '\0';
                return MHD_YES;
        }
        if (ex->answered)
                return MHD_YES;

        if (!ex->checked) {
                r = precheck(h, c, method, url, ex, &resp);
                if (r < 0)
                        return MHD_NO;
                if (r > 0)
                        return answer(c, method, url, ex, &resp);
        }
        if (ex->route->takes_body && ex->too_big)
                r = response_problem(&resp, 413, "too-large", url, "the body is larger than %zu bytes",
                                     h->cfg.max_body);
        else {
                struct request req = {
                        .method = method,
                        .path = url,
                        .body = ex->body ? ex->body : "",
                        .body_len = ex->len,
                        .caller = ex->who ? ex->who->name : NULL,
                        .if_match = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_IF_MATCH),
                        .confirm_within = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "confirm_within"),
                };
                r = ex->route->handler(h->cfg.app, &req, &resp);
        }
        if (r < 0) {
                response_release(&resp);
                if (response_problem(&resp, 500, "internal", url, "out of memory") < 0)
                        return MHD_NO;
        }
        return answer(c, method, url, ex, &resp);
}

static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls, enum MHD_RequestTerminationCode toe)
{
        (void) cls;
        (void) c;
        (void) toe;
        struct exchange *ex = *con_cls;
        if (ex) {
                free(ex->body);
                free(ex);
        }
        *con_cls = NULL;
}

static int open_listener(const char *host, const char *port, char *bound, size_t bound_size, struct errbuf *err)
{
        struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM, .ai_flags = AI_PASSIVE | AI_NUMERICSERV };
        struct addrinfo *res = NULL;
        int g = getaddrinfo(host, port, &hints, &res);
        if (g != 0)
                return errbuf_set(err, -EINVAL, "cannot resolve --listen host \"%s\": %s", host, gai_strerror(g));

        int fd = -1, e = 0;
        for (struct addrinfo *ai = res; ai; ai = ai->ai_next) {
                fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
                if (fd < 0) {
                        e = errno;
                        continue;
                }
                int one = 1;
                setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
                if (ai->ai_family == AF_INET6) {
                        /* "[::]" serves IPv4 too; "[::1]" is IPv6 loopback only
                         * either way. */
                        int zero = 0;
                        setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof(zero));
                }
                if (bind(fd, ai->ai_addr, ai->ai_addrlen) == 0 && listen(fd, 128) == 0)
                        break;
                e = errno;
                close(fd);
                fd = -1;
        }
        freeaddrinfo(res);
        if (fd < 0)
                return errbuf_set(err, -e, "cannot listen on %s:%s: %s", host, port, strerror(e));

        struct sockaddr_storage ss;
        socklen_t sl = sizeof(ss);
        char addr[INET6_ADDRSTRLEN] = "?";
        unsigned p = 0;
        if (getsockname(fd, (struct sockaddr *) &ss, &sl) == 0) {
                if (ss.ss_family == AF_INET) {
                        inet_ntop(AF_INET, &((struct sockaddr_in *) &ss)->sin_addr, addr, sizeof(addr));
                        p = ntohs(((struct sockaddr_in *) &ss)->sin_port);
                        snprintf(bound, bound_size, "%s:%u", addr, p);
                } else {
                        inet_ntop(AF_INET6, &((struct sockaddr_in6 *) &ss)->sin6_addr, addr, sizeof(addr));
                        p = ntohs(((struct sockaddr_in6 *) &ss)->sin6_port);
                        snprintf(bound, bound_size, "[%s]:%u", addr, p);
                }
        }
        return fd;
}

int http_start(const struct http_config *cfg, struct http **ret, char *ret_bound, size_t bound_size,
               struct errbuf *err)
{
        struct http *h = calloc(1, sizeof(*h));
        if (!h)
                return -ENOMEM;
        h->cfg = *cfg;
        h->listen_fd = open_listener(cfg->host, cfg->port, ret_bound, bound_size, err);
        if (h->listen_fd < 0) {
                int r = h->listen_fd;
                free(h);
                return r;
        }

        h->daemon = MHD_start_daemon(
                MHD_USE_TLS | MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_USE_ITC, 0, NULL, NULL, on_request,
                h, MHD_OPTION_EXTERNAL_LOGGER, mhd_logger, NULL, MHD_OPTION_LISTEN_SOCKET, h->listen_fd,
                MHD_OPTION_THREAD_POOL_SIZE, (unsigned) THREADS, MHD_OPTION_CONNECTION_LIMIT,
                (unsigned) CONNECTION_LIMIT, MHD_OPTION_PER_IP_CONNECTION_LIMIT, (unsigned) PER_IP_LIMIT,
                MHD_OPTION_CONNECTION_TIMEOUT, (unsigned) CONNECTION_TIMEOUT_S, MHD_OPTION_CONNECTION_MEMORY_LIMIT,
                (size_t) CONNECTION_MEMORY, MHD_OPTION_HTTPS_MEM_CERT, cfg->cert_pem, MHD_OPTION_HTTPS_MEM_KEY,
                cfg->key_pem, MHD_OPTION_HTTPS_PRIORITIES, TLS_PRIORITIES, MHD_OPTION_NOTIFY_COMPLETED, on_completed,
                NULL, MHD_OPTION_END);
        if (!h->daemon) {
                close(h->listen_fd);
                free(h);
                return errbuf_set(err, -EIO, "libmicrohttpd could not start on %s (see the messages above)",
                                  ret_bound);
        }
        *ret = h;
        return 0;
}

void http_stop(struct http *h)
{
        if (!h)
                return;
        if (h->daemon) {
                MHD_quiesce_daemon(h->daemon);
                MHD_stop_daemon(h->daemon);
        }
        /* MHD does not close a socket it was given; close it only after the
         * daemon is gone. */
        if (h->listen_fd >= 0)
                close(h->listen_fd);
        free(h);
}
