/* The HTTPS listener: libmicrohttpd with a small thread pool (so that reads
 * are answered while an apply runs), explicit limits on connections, time
 * and memory, request bodies gathered up to a limit, client certificates
 * checked, and every request handed to dispatch.c.
 *
 * Limits, each a flag with a default (server/options.c):
 * - connections in total and per client address (libmicrohttpd refuses
 *   the ones over it at accept);
 * - an idle timeout: a connection that sends nothing for that long is
 *   closed (libmicrohttpd's own);
 * - a header timeout and a request timeout: a request's headers must be in
 *   within the first, and the whole request within the second, counted
 *   from the connection's start or the previous answer on it; a slow
 *   client (slowloris, a trickled body) is cut off then, however steadily
 *   it trickles. Time in a handler does not count.
 * - header size: 32 KiB of connection memory (libmicrohttpd answers 431
 *   beyond it); the body: --max-body.
 *
 * The certificate and key can be replaced while serving
 * (http_set_certificate): new handshakes use the new pair, established
 * connections keep going. */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "../model/errbuf.h"
#include "dispatch.h"

struct http_config {
        const char *host;
        const char *port;
        int listen_fd; /* an inherited listening socket (socket activation), or -1 */
        bool plain;    /* plain HTTP instead of HTTPS */
        const char *cert_pem;
        const char *key_pem;
        const char *client_ca_pem; /* request client certificates and verify them against this; or NULL */
        unsigned connection_limit;
        unsigned per_client_limit;
        unsigned idle_timeout_s;
        unsigned header_timeout_s;
        unsigned request_timeout_s;
        struct dispatch dispatch; /* copied; what it points to is borrowed */
};

struct http;

/* Binds (unless cfg->listen_fd is given), listens and starts serving.
 * *ret_bound gets "host:port" as bound (the real port when port was 0). */
int http_start(const struct http_config *cfg, struct http **ret, char *ret_bound, size_t bound_size,
               struct errbuf *err);

/* Replaces the certificate and key for new handshakes (SIGHUP). On error
 * the pair in force stays. */
int http_set_certificate(struct http *h, const char *cert_pem, const char *key_pem, struct errbuf *err);

/* The listening socket (bound, or inherited). */
int http_listen_fd(const struct http *h);

/* Stops accepting new connections; those open are still served. */
void http_quiesce(struct http *h);

/* Stops accepting, lets running handlers finish, frees everything. */
void http_stop(struct http *h);
