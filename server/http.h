/* The HTTPS listener: libmicrohttpd with a small thread pool (so that reads
 * are answered while an apply runs), explicit limits on connections, time
 * and memory, request bodies gathered up to a limit, authentication, and
 * handler responses turned into bytes. */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "../handlers/app.h"
#include "../model/errbuf.h"
#include "auth.h"

struct http_config {
        const char *host;
        const char *port;
        const char *cert_pem;
        const char *key_pem;
        size_t max_body;
        bool anonymous_read;
        struct app *app;   /* borrowed, outlives the server */
        struct auth *auth; /* borrowed, outlives the server */
};

struct http;

/* Binds, listens and starts serving. *ret_bound gets "host:port" as bound
 * (the real port when port was 0). */
int http_start(const struct http_config *cfg, struct http **ret, char *ret_bound, size_t bound_size,
               struct errbuf *err);

/* Stops accepting, lets running handlers finish, frees everything. */
void http_stop(struct http *h);
