/* See http.h.
 *
 * libmicrohttpd calls the access handler several times per request: first
 * with no data (headers are in), then once per chunk of body, then once
 * with no data when the body is complete. We answer on the last call, with
 * one exception: what the headers alone refuse (dispatch_precheck) is
 * refused on the first call when a body is coming, before it is read.
 * Answering GETs on the second call, not the first, keeps connections alive
 * (LIBS.md §6). */
#include "http.h"

#include <arpa/inet.h>
#include <errno.h>
#include <microhttpd.h>
#include <netdb.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <gnutls/abstract.h>
#include <gnutls/gnutls.h>
#include <gnutls/x509.h>

#include "../handlers/response.h"
#include "../model/cleanup.h"
#include "../model/utf8.h"
#include "log.h"

#define THREADS 4
#define CONNECTION_MEMORY (32 * 1024)
/* TLS 1.2 and 1.3 only; in 1.2 only forward-secret ECDHE key exchange with
 * AEAD ciphers (no CBC, no RSA key transport, no SHA-1 MACs). */
#define TLS_PRIORITIES                                                                                               \
        "NORMAL:-VERS-ALL:+VERS-TLS1.3:+VERS-TLS1.2:-CIPHER-ALL:+AES-256-GCM:+AES-128-GCM:+CHACHA20-POLY1305:"      \
        "-MAC-ALL:+AEAD:-KX-ALL:+ECDHE-ECDSA:+ECDHE-RSA:%SERVER_PRECEDENCE"
/* A replaced certificate is freed this long after, when no handshake can
 * still be using it (a handshake is bounded by the request timeout). */
#define RETIRE_AFTER_MS (10 * 60 * 1000)

/* A certificate chain and key in GnuTLS form, as handshakes use them. */
struct creds {
        gnutls_pcert_st pcert[8];
        unsigned n;
        gnutls_privkey_t key;
        int64_t retired_ms; /* 0 while in force */
        struct creds *next; /* the retired list */
};

/* One connection, from libmicrohttpd's "started" to its "closed". */
struct conn {
        int fd;
        struct sockaddr_storage peer_sa;
        socklen_t peer_len;
        char peer[INET6_ADDRSTRLEN];
        int64_t since_ms; /* start of the current request's time budget */
        bool in_handler;  /* a handler runs: its time does not count */
        bool headers_in;  /* the current request's headers are complete */
        bool cut;         /* already shut down by the reaper */
        bool cert_checked;
        bool cert_rejected;
        char cert_subject[256];
        struct conn *prev, *next;
};

struct http {
        struct MHD_Daemon *daemon;
        struct http_config cfg;
        int listen_fd;
        bool owns_listen_fd;

        pthread_mutex_t lock; /* guards conns, creds, retired */
        struct conn *conns;
        struct creds *creds;
        struct creds *retired;

        pthread_t reaper;
        bool reaper_running;
        atomic_bool stopping;
        atomic_ulong cut_count;
        bool quiesced;
};

/* GnuTLS's certificate callback carries no pointer of ours: the one
 * server of the process. */
static struct http *serving;

static int64_t now_ms(void)
{
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (int64_t) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* A Content-Length over the limit is refused at once when the client waits
 * for "100 Continue" (it has sent nothing yet) or when the body is absurdly
 * large; otherwise the body is read and dropped first (see on_request). */
#define DRAIN_LIMIT (8 * 1024 * 1024)

/* What we keep between the calls for one request. */
struct exchange {
        char *body;
        size_t len;
        uint64_t received; /* every body byte seen, kept or not */
        bool too_big;      /* over max_body: read, dropped, then 413 */
        bool answered;     /* a response was queued */
        bool path_rejected; /* see on_uri */
        struct verdict verdict;
        struct conn *conn;
};

/* libmicrohttpd's messages come with its own format strings. */
static void mhd_logger(void *cls, const char *fmt, va_list ap) __attribute__((format(printf, 2, 0)));
static void mhd_logger(void *cls, const char *fmt, va_list ap)
{
        (void) cls;
        char line[512];
        vsnprintf(line, sizeof(line), fmt, ap);
        line[strcspn(line, "\n")] = '\0';
        log_warning("http: %s", line);
}

/* --- certificates ---------------------------------------------------------- */

static void creds_free(struct creds *c)
{
        if (!c)
                return;
        for (unsigned i = 0; i < c->n; i++)
                gnutls_pcert_deinit(&c->pcert[i]);
        if (c->key)
                gnutls_privkey_deinit(c->key);
        free(c);
}

static int creds_new(const char *cert_pem, const char *key_pem, struct creds **ret, struct errbuf *err)
{
        struct creds *c = calloc(1, sizeof(*c));
        if (!c)
                return -ENOMEM;
        gnutls_datum_t cd = { (unsigned char *) cert_pem, (unsigned) strlen(cert_pem) };
        gnutls_datum_t kd = { (unsigned char *) key_pem, (unsigned) strlen(key_pem) };
        unsigned n = sizeof(c->pcert) / sizeof(c->pcert[0]);
        int g = gnutls_pcert_list_import_x509_raw(c->pcert, &n, &cd, GNUTLS_X509_FMT_PEM, 0);
        if (g < 0) {
                free(c);
                return errbuf_set(err, -EINVAL, "GnuTLS cannot use the certificate: %s", gnutls_strerror(g));
        }
        c->n = n;
        g = gnutls_privkey_init(&c->key);
        if (g >= 0)
                g = gnutls_privkey_import_x509_raw(c->key, &kd, GNUTLS_X509_FMT_PEM, NULL, 0);
        if (g < 0) {
                creds_free(c);
                return errbuf_set(err, -EINVAL, "GnuTLS cannot use the private key: %s", gnutls_strerror(g));
        }
        *ret = c;
        return 0;
}

static int pick_certificate(gnutls_session_t session, const gnutls_datum_t *req_ca_dn, int n_req,
                            const gnutls_pk_algorithm_t *algos, int n_algos, gnutls_pcert_st **ret_pcert,
                            unsigned int *ret_n, gnutls_privkey_t *ret_key)
{
        (void) session;
        (void) req_ca_dn;
        (void) n_req;
        (void) algos;
        (void) n_algos;
        struct http *h = serving;
        if (!h)
                return -1;
        pthread_mutex_lock(&h->lock);
        *ret_pcert = h->creds->pcert;
        *ret_n = h->creds->n;
        *ret_key = h->creds->key;
        pthread_mutex_unlock(&h->lock);
        return 0;
}

int http_set_certificate(struct http *h, const char *cert_pem, const char *key_pem, struct errbuf *err)
{
        struct creds *c = NULL;
        int r = creds_new(cert_pem, key_pem, &c, err);
        if (r < 0)
                return r;
        int64_t now = now_ms();
        pthread_mutex_lock(&h->lock);
        struct creds *old = h->creds;
        h->creds = c;
        if (old) {
                old->retired_ms = now;
                old->next = h->retired;
                h->retired = old;
        }
        /* Free what retired long enough ago (the list is newest first). */
        for (struct creds **p = &h->retired; *p;) {
                if (now - (*p)->retired_ms > RETIRE_AFTER_MS) {
                        struct creds *dead = *p;
                        *p = dead->next;
                        creds_free(dead);
                } else
                        p = &(*p)->next;
        }
        pthread_mutex_unlock(&h->lock);
        return 0;
}

/* Verifies the client certificate of a TLS connection once: a certificate
 * that chains to --client-ca gives its subject; one that does not marks
 * the connection. libmicrohttpd only asks for the certificate (LIBS.md
 * §1); the verdict is ours. */
static void check_client_cert(struct MHD_Connection *c, struct conn *k)
{
        k->cert_checked = true;
        const union MHD_ConnectionInfo *ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_GNUTLS_SESSION);
        if (!ci || !ci->tls_session)
                return;
        gnutls_session_t s = (gnutls_session_t) ci->tls_session;
        unsigned n = 0;
        const gnutls_datum_t *peers = gnutls_certificate_get_peers(s, &n);
        if (!peers || n == 0)
                return; /* none presented */
        unsigned status = 0;
        int g = gnutls_certificate_verify_peers2(s, &status);
        if (g < 0 || status != 0) {
                k->cert_rejected = true;
                return;
        }
        gnutls_x509_crt_t crt;
        if (gnutls_x509_crt_init(&crt) < 0) {
                k->cert_rejected = true;
                return;
        }
        gnutls_datum_t dn = { NULL, 0 };
        if (gnutls_x509_crt_import(crt, &peers[0], GNUTLS_X509_FMT_DER) < 0 ||
            gnutls_x509_crt_get_dn3(crt, &dn, 0) < 0 || !dn.data)
                k->cert_rejected = true;
        else
        {
                snprintf(k->cert_subject, sizeof(k->cert_subject), "%.*s", (int) dn.size, (const char *) dn.data);
                utf8_repair(k->cert_subject); /* it is quoted in answers and the journal */
        }
        gnutls_free(dn.data);
        gnutls_x509_crt_deinit(crt);
}

/* --- connections and the request timeout ------------------------------------- */

static void peer_text(const struct sockaddr *sa, char *buf, size_t size)
{
        snprintf(buf, size, "?");
        if (sa->sa_family == AF_INET)
                inet_ntop(AF_INET, &((const struct sockaddr_in *) sa)->sin_addr, buf, (socklen_t) size);
        else if (sa->sa_family == AF_INET6)
                inet_ntop(AF_INET6, &((const struct sockaddr_in6 *) sa)->sin6_addr, buf, (socklen_t) size);
}

static void on_connection(void *cls, struct MHD_Connection *c, void **socket_context,
                          enum MHD_ConnectionNotificationCode code)
{
        struct http *h = cls;
        if (code == MHD_CONNECTION_NOTIFY_STARTED) {
                struct conn *k = calloc(1, sizeof(*k));
                if (!k)
                        return; /* untracked: the idle timeout still holds */
                const union MHD_ConnectionInfo *fi = MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
                const union MHD_ConnectionInfo *ai = MHD_get_connection_info(c, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
                k->fd = fi ? fi->connect_fd : -1;
                k->peer_len = sizeof(k->peer_sa);
                if (k->fd < 0 || getpeername(k->fd, (struct sockaddr *) &k->peer_sa, &k->peer_len) < 0)
                        k->peer_len = 0;
                if (ai && ai->client_addr)
                        peer_text(ai->client_addr, k->peer, sizeof(k->peer));
                else
                        snprintf(k->peer, sizeof(k->peer), "?");
                k->since_ms = now_ms();
                pthread_mutex_lock(&h->lock);
                k->next = h->conns;
                if (h->conns)
                        h->conns->prev = k;
                h->conns = k;
                pthread_mutex_unlock(&h->lock);
                *socket_context = k;
        } else if (code == MHD_CONNECTION_NOTIFY_CLOSED) {
                struct conn *k = *socket_context;
                if (!k)
                        return;
                pthread_mutex_lock(&h->lock);
                if (k->prev)
                        k->prev->next = k->next;
                else
                        h->conns = k->next;
                if (k->next)
                        k->next->prev = k->prev;
                pthread_mutex_unlock(&h->lock);
                free(k);
                *socket_context = NULL;
        }
}

/* Whether fd is still the connection k was made for: the peer's address
 * and port are compared, so that a descriptor number reused by a newer
 * connection is never cut. */
static bool same_peer(const struct conn *k)
{
        struct sockaddr_storage ss;
        socklen_t len = sizeof(ss);
        if (k->peer_len == 0 || getpeername(k->fd, (struct sockaddr *) &ss, &len) < 0)
                return false;
        return len == k->peer_len && memcmp(&ss, &k->peer_sa, len) == 0;
}

/* Every 250 ms: a connection whose request is not complete within the
 * request timeout is shut down; libmicrohttpd then sees the socket fail
 * and closes the connection itself. */
static void *reaper_main(void *arg)
{
        struct http *h = arg;
        const int64_t limit = (int64_t) h->cfg.request_timeout_s * 1000;
        const int64_t header_limit = (int64_t) h->cfg.header_timeout_s * 1000;
        while (!atomic_load(&h->stopping)) {
                struct timespec nap = { 0, 250 * 1000 * 1000 };
                nanosleep(&nap, NULL);
                int64_t now = now_ms();
                unsigned cut = 0;
                pthread_mutex_lock(&h->lock);
                for (struct conn *k = h->conns; k; k = k->next)
                        if (!k->in_handler && !k->cut && now - k->since_ms > (k->headers_in ? limit : header_limit) &&
                            same_peer(k)) {
                                shutdown(k->fd, SHUT_RDWR);
                                k->cut = true;
                                cut++;
                        }
                pthread_mutex_unlock(&h->lock);
                if (cut) {
                        unsigned long total = atomic_fetch_add(&h->cut_count, cut) + cut;
                        /* One line per power of two, so that a flood does not
                         * flood the log too. */
                        if ((total & (total - 1)) == 0 || cut == total)
                                log_warning("cut off %u slow connection%s (headers not in after %u s, or the "
                                            "request not complete after %u s; %lu so far)",
                                            cut, cut == 1 ? "" : "s", h->cfg.header_timeout_s,
                                            h->cfg.request_timeout_s, total);
                }
        }
        return NULL;
}

static void set_in_handler(struct http *h, struct conn *k, bool on)
{
        if (!k)
                return;
        pthread_mutex_lock(&h->lock);
        k->in_handler = on;
        if (!on) {
                k->since_ms = now_ms();
                k->headers_in = false;
        }
        pthread_mutex_unlock(&h->lock);
}

/* The headers of a request are in: from now on it has the request
 * timeout, not the header timeout. */
static void set_headers_in(struct http *h, struct conn *k)
{
        if (!k)
                return;
        pthread_mutex_lock(&h->lock);
        k->headers_in = true;
        pthread_mutex_unlock(&h->lock);
}

/* The request's URI as sent, before any decoding: a path that spells a
 * separator or a NUL in percent form ("%2F", "%5C", "%00") names no
 * resource of ours, though decoded it could look like one, so such a
 * request is marked here. The mark is a sentinel, not an allocation: this
 * callback runs even for requests that never reach on_request. */
static char raw_path_rejected;

static void *on_uri(void *cls, const char *uri, struct MHD_Connection *c)
{
        (void) cls;
        (void) c;
        size_t n = strcspn(uri, "?");
        for (size_t i = 0; i + 2 < n; i++) {
                if (uri[i] != '%')
                        continue;
                char a = uri[i + 1], b = (char) (uri[i + 2] | 0x20);
                if ((a == '2' && b == 'f') || (a == '5' && b == 'c') || (a == '0' && b == '0'))
                        return &raw_path_rejected;
        }
        return NULL;
}

/* --- requests ---------------------------------------------------------------- */

static const char *mhd_header(void *cls, const char *name)
{
        return MHD_lookup_connection_value(cls, MHD_HEADER_KIND, name);
}

static const char *mhd_argument(void *cls, const char *name)
{
        return MHD_lookup_connection_value(cls, MHD_GET_ARGUMENT_KIND, name);
}

static bool expects_continue(struct MHD_Connection *c)
{
        const char *e = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_EXPECT);
        return e && strcasecmp(e, "100-continue") == 0;
}

static enum MHD_Result queue(struct MHD_Connection *c, struct response *r, bool tls)
{
        char *text = NULL;
        if (r->text) {
                text = r->text;
                r->text = NULL;
        } else if (r->body) {
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
        if (r->content_type)
                MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, r->content_type);
        else if (r->body)
                MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE,
                                        r->problem ? "application/problem+json" : "application/json");
        MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
        MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
        if (tls)
                MHD_add_response_header(resp, "Strict-Transport-Security", "max-age=31536000");
        if (r->allow)
                MHD_add_response_header(resp, MHD_HTTP_HEADER_ALLOW, r->allow);
        if (r->authenticate)
                MHD_add_response_header(resp, MHD_HTTP_HEADER_WWW_AUTHENTICATE, "Bearer realm=\"hugepaged\"");
        if (r->etag[0])
                MHD_add_response_header(resp, MHD_HTTP_HEADER_ETAG, r->etag);
        if (r->location[0])
                MHD_add_response_header(resp, MHD_HTTP_HEADER_LOCATION, r->location);
        if (r->csp) {
                /* The node page: X-Frame-Options for browsers that predate
                 * CSP's frame-ancestors; no Referer leaves the page. */
                MHD_add_response_header(resp, "Content-Security-Policy", r->csp);
                MHD_add_response_header(resp, "X-Frame-Options", "SAMEORIGIN");
                MHD_add_response_header(resp, "Referrer-Policy", "no-referrer");
        }
        if (r->cors_origin) {
                MHD_add_response_header(resp, "Access-Control-Allow-Origin", r->cors_origin);
                if (r->cors_methods) {
                        MHD_add_response_header(resp, "Access-Control-Allow-Methods", r->cors_methods);
                        MHD_add_response_header(resp, "Access-Control-Allow-Headers",
                                                "Authorization, X-Hugepaged-Token, Content-Type, If-Match, Accept");
                        MHD_add_response_header(resp, "Access-Control-Max-Age", "600");
                } else
                        MHD_add_response_header(resp, "Access-Control-Expose-Headers", "ETag, Location, WWW-Authenticate");
        }
        /* Whether CORS headers are sent depends on Origin, so caches must
         * keep answers apart by it, even when none were sent. */
        MHD_add_response_header(resp, MHD_HTTP_HEADER_VARY, "Origin");
        enum MHD_Result ok = MHD_queue_response(c, r->status, resp);
        MHD_destroy_response(resp);
        return ok;
}

static struct incoming incoming_of(struct MHD_Connection *c, const char *url, const char *method,
                                   const struct exchange *ex)
{
        struct conn *k = ex->conn;
        return (struct incoming) {
                .method = method,
                .path = url,
                .header = mhd_header,
                .argument = mhd_argument,
                .cls = c,
                .peer = k ? k->peer : "?",
                .cert_subject = k && k->cert_subject[0] ? k->cert_subject : NULL,
                .cert_rejected = k && k->cert_rejected,
                .body = ex->body ? ex->body : "",
                .body_len = ex->len,
                .body_too_big = ex->too_big,
                .path_rejected = ex->path_rejected,
        };
}

/* Queues resp (and releases it) after dispatch_answered has seen it. */
static enum MHD_Result answer(struct http *h, struct MHD_Connection *c, const struct incoming *in,
                              struct exchange *ex, struct response *resp)
{
        dispatch_answered(&h->cfg.dispatch, in, &ex->verdict, resp);
        ex->answered = true;
        enum MHD_Result ok = queue(c, resp, !h->cfg.plain);
        response_release(resp);
        return ok;
}

/* What the header section holds that libmicrohttpd lets through but an
 * HTTP/1.1 server must not act on (RFC 9112 §6.3, RFC 9110 §5.5): more than
 * one Content-Length, a Content-Length beside Transfer-Encoding (the two
 * ways a request is smuggled past a proxy), and a NUL inside a value
 * (which C strings would cut short). */
struct header_scan {
        unsigned content_lengths;
        unsigned transfer_encodings;
        bool nul;
};

static enum MHD_Result scan_header(void *cls, enum MHD_ValueKind kind, const char *key, size_t key_size,
                                   const char *value, size_t value_size)
{
        (void) kind;
        struct header_scan *hs = cls;
        if (key_size == strlen(MHD_HTTP_HEADER_CONTENT_LENGTH) && strcasecmp(key, MHD_HTTP_HEADER_CONTENT_LENGTH) == 0)
                hs->content_lengths++;
        if (key_size == strlen(MHD_HTTP_HEADER_TRANSFER_ENCODING) &&
            strcasecmp(key, MHD_HTTP_HEADER_TRANSFER_ENCODING) == 0)
                hs->transfer_encodings++;
        if (strlen(key) != key_size || (value && strlen(value) != value_size))
                hs->nul = true;
        return MHD_YES;
}

/* 0 when the headers are sound, 1 with a 400 in resp, or -ENOMEM. */
static int check_headers(struct MHD_Connection *c, const char *url, struct response *resp)
{
        struct header_scan hs = { 0 };
        MHD_get_connection_values_n(c, MHD_HEADER_KIND, scan_header, &hs);
        const char *why = NULL;
        if (hs.nul)
                why = "a header holds a NUL byte";
        else if (hs.content_lengths > 1)
                why = "the request has more than one Content-Length";
        else if (hs.content_lengths && hs.transfer_encodings)
                why = "the request has both Content-Length and Transfer-Encoding";
        if (!why)
                return 0;
        return response_problem(resp, 400, "bad-request", url, "%s", why) ?: 1;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url, const char *method,
                                  const char *version, const char *upload_data, size_t *upload_data_size,
                                  void **con_cls)
{
        (void) version;
        struct http *h = cls;
        const struct dispatch *d = &h->cfg.dispatch;
        struct exchange *ex = *con_cls;
        struct response resp = { 0 };
        int r;

        if (!ex || ex == (void *) &raw_path_rejected) {
                bool rejected = ex != NULL;
                ex = calloc(1, sizeof(*ex));
                if (!ex)
                        return MHD_NO;
                *con_cls = ex;
                ex->path_rejected = rejected;
                const union MHD_ConnectionInfo *sc = MHD_get_connection_info(c, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
                ex->conn = sc ? sc->socket_context : NULL;
                set_headers_in(h, ex->conn);
                if (ex->conn && h->cfg.client_ca_pem && !ex->conn->cert_checked)
                        check_client_cert(c, ex->conn);
                r = check_headers(c, url, &resp);
                if (r < 0)
                        return MHD_NO;
                if (r > 0) {
                        struct incoming in = incoming_of(c, url, method, ex);
                        return answer(h, c, &in, ex, &resp);
                }

                const char *cl = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
                const char *te = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_TRANSFER_ENCODING);
                if ((!cl || strcmp(cl, "0") == 0) && !te)
                        return MHD_YES; /* answered on the next call, keeping the connection alive */

                /* A body is coming. Whatever the headers already refuse is
                 * refused now, before any of it is read. */
                struct incoming in = incoming_of(c, url, method, ex);
                r = dispatch_precheck(d, &in, &ex->verdict, &resp);
                if (r < 0)
                        return MHD_NO;
                if (r > 0)
                        return answer(h, c, &in, ex, &resp);
                if (cl && ex->verdict.route->takes_body) {
                        char *end;
                        errno = 0;
                        unsigned long long n = strtoull(cl, &end, 10);
                        if (errno || *end || n > d->max_body) {
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
                                                     d->max_body) < 0)
                                        return MHD_NO;
                                return answer(h, c, &in, ex, &resp);
                        }
                }
                return MHD_YES;
        }

        if (*upload_data_size > 0) {
                size_t n = *upload_data_size;
                *upload_data_size = 0;
                ex->received += n;
                bool keeps = ex->verdict.route && ex->verdict.route->takes_body && !ex->too_big && !ex->answered;
                if (!keeps || ex->len + n > d->max_body) {
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

        struct incoming in = incoming_of(c, url, method, ex);
        set_in_handler(h, ex->conn, true);
        r = dispatch_run(d, &in, &ex->verdict, &resp);
        if (r < 0)
                return MHD_NO;
        return answer(h, c, &in, ex, &resp);
}

static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls, enum MHD_RequestTerminationCode toe)
{
        (void) c;
        (void) toe;
        struct http *h = cls;
        struct exchange *ex = *con_cls;
        if (ex == (void *) &raw_path_rejected)
                ex = NULL;
        if (ex) {
                set_in_handler(h, ex->conn, false);
                free(ex->body);
                free(ex);
        }
        *con_cls = NULL;
}

/* Percent-decoding of the path and the query, in place, as
 * libmicrohttpd's own does, except that "%00" stays as it is: a decoded NUL
 * would end the C string early and make "/sizes%00x" look like "/sizes". */
static size_t unescape(void *cls, struct MHD_Connection *c, char *s)
{
        (void) cls;
        (void) c;
        static const char hex[] = "0123456789abcdef";
        char *out = s;
        for (const char *in = s; *in;) {
                const char *hi = in[0] == '%' && in[1] ? strchr(hex, in[1] | 0x20) : NULL;
                const char *lo = hi && in[2] ? strchr(hex, in[2] | 0x20) : NULL;
                int v = hi && lo ? (int) ((hi - hex) * 16 + (lo - hex)) : -1;
                if (v > 0) {
                        *out++ = (char) v;
                        in += 3;
                } else
                        *out++ = *in++;
        }
        *out = '\0';
        return (size_t) (out - s);
}

/* --- the listener ------------------------------------------------------------ */

static int open_listener(const char *host, const char *port, struct errbuf *err)
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
        return fd;
}

static void bound_name(int fd, char *bound, size_t bound_size)
{
        struct sockaddr_storage ss;
        socklen_t sl = sizeof(ss);
        char addr[INET6_ADDRSTRLEN] = "?";
        snprintf(bound, bound_size, "?");
        if (getsockname(fd, (struct sockaddr *) &ss, &sl) != 0)
                return;
        if (ss.ss_family == AF_INET) {
                inet_ntop(AF_INET, &((struct sockaddr_in *) &ss)->sin_addr, addr, sizeof(addr));
                snprintf(bound, bound_size, "%s:%u", addr, ntohs(((struct sockaddr_in *) &ss)->sin_port));
        } else if (ss.ss_family == AF_INET6) {
                inet_ntop(AF_INET6, &((struct sockaddr_in6 *) &ss)->sin6_addr, addr, sizeof(addr));
                snprintf(bound, bound_size, "[%s]:%u", addr, ntohs(((struct sockaddr_in6 *) &ss)->sin6_port));
        }
}

static void http_free(struct http *h)
{
        if (!h)
                return;
        if (h->reaper_running) {
                atomic_store(&h->stopping, true);
                pthread_join(h->reaper, NULL);
        }
        if (h->owns_listen_fd && h->listen_fd >= 0)
                close(h->listen_fd);
        creds_free(h->creds);
        while (h->retired) {
                struct creds *next = h->retired->next;
                creds_free(h->retired);
                h->retired = next;
        }
        pthread_mutex_destroy(&h->lock);
        if (serving == h)
                serving = NULL;
        free(h);
}

int http_start(const struct http_config *cfg, struct http **ret, char *ret_bound, size_t bound_size,
               struct errbuf *err)
{
        if (serving)
                return errbuf_set(err, -EBUSY, "a server is already running in this process");
        struct http *h = calloc(1, sizeof(*h));
        if (!h)
                return -ENOMEM;
        h->cfg = *cfg;
        h->listen_fd = -1;
        pthread_mutex_init(&h->lock, NULL);
        int r;
        if (cfg->listen_fd >= 0)
                h->listen_fd = cfg->listen_fd;
        else {
                h->listen_fd = open_listener(cfg->host, cfg->port, err);
                if (h->listen_fd < 0) {
                        r = h->listen_fd;
                        http_free(h);
                        return r;
                }
                h->owns_listen_fd = true;
        }
        bound_name(h->listen_fd, ret_bound, bound_size);

        if (!cfg->plain) {
                r = http_set_certificate(h, cfg->cert_pem, cfg->key_pem, err);
                if (r < 0) {
                        http_free(h);
                        return r;
                }
        }
        serving = h;

        unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_USE_ITC;
        if (!cfg->plain)
                flags |= MHD_USE_TLS;
        struct MHD_OptionItem tls_opts[] = {
                { MHD_OPTION_HTTPS_CERT_CALLBACK, 0, (void *) pick_certificate },
                { MHD_OPTION_HTTPS_PRIORITIES, 0, (void *) TLS_PRIORITIES },
                { cfg->client_ca_pem ? MHD_OPTION_HTTPS_MEM_TRUST : MHD_OPTION_END, 0, (void *) cfg->client_ca_pem },
                { MHD_OPTION_END, 0, NULL },
        };
        struct MHD_OptionItem no_opts[] = { { MHD_OPTION_END, 0, NULL } };
        h->daemon = MHD_start_daemon(
                flags, 0, NULL, NULL, on_request, h, MHD_OPTION_EXTERNAL_LOGGER, mhd_logger, NULL,
                MHD_OPTION_LISTEN_SOCKET, h->listen_fd, MHD_OPTION_THREAD_POOL_SIZE, (unsigned) THREADS,
                MHD_OPTION_CONNECTION_LIMIT, cfg->connection_limit, MHD_OPTION_PER_IP_CONNECTION_LIMIT,
                cfg->per_client_limit, MHD_OPTION_CONNECTION_TIMEOUT, cfg->idle_timeout_s,
                MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t) CONNECTION_MEMORY, MHD_OPTION_NOTIFY_COMPLETED,
                on_completed, h, MHD_OPTION_NOTIFY_CONNECTION, on_connection, h, MHD_OPTION_UNESCAPE_CALLBACK,
                unescape, NULL, MHD_OPTION_URI_LOG_CALLBACK, on_uri, NULL, MHD_OPTION_STRICT_FOR_CLIENT, (int) 1,
                MHD_OPTION_ARRAY,
                cfg->plain ? no_opts : tls_opts, MHD_OPTION_END);
        if (!h->daemon) {
                http_free(h);
                return errbuf_set(err, -EIO, "libmicrohttpd could not start on %s (see the messages above)",
                                  ret_bound);
        }
        r = -pthread_create(&h->reaper, NULL, reaper_main, h);
        if (r < 0) {
                MHD_stop_daemon(h->daemon);
                http_free(h);
                return errbuf_set(err, r, "cannot start the request-timeout thread");
        }
        h->reaper_running = true;
        *ret = h;
        return 0;
}

void http_quiesce(struct http *h)
{
        if (h && h->daemon && !h->quiesced) {
                MHD_quiesce_daemon(h->daemon);
                h->quiesced = true;
        }
}

int http_listen_fd(const struct http *h)
{
        return h->listen_fd;
}

void http_stop(struct http *h)
{
        if (!h)
                return;
        if (h->daemon) {
                http_quiesce(h);
                MHD_stop_daemon(h->daemon);
        }
        /* MHD does not close a socket it was given; close it only after the
         * daemon is gone (http_free). */
        http_free(h);
}
