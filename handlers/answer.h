/* Rendered answers of the read-only resources polled all day (GET /status,
 * /sizes, /metrics): building one reads some 30 kernel files and builds and
 * serializes a JSON document, a few hundred microseconds; dashboards,
 * probes and scrapers on every node ask many times a second. So the bytes
 * of the last 200 answer are kept and served again for ANSWER_CACHE_MS, with
 * these bounds on how fresh an answer is:
 *
 * - never older than the last change published (app_publish): every change
 *   made through the service, and every change a console command made that
 *   the watcher picked up, ends the kept answer (the publish epoch);
 * - a kernel value changed behind the service's back (an echo into sysfs,
 *   another tool) shows at most ANSWER_CACHE_MS late;
 * - errors are never kept: the next request tries again.
 *
 * Kept answers are whole bytes with their content type; a request served
 * from them builds nothing. */
#pragma once

#include <pthread.h>
#include <stdint.h>

#include "response.h"

struct app;

#define ANSWER_CACHE_MS 100

struct answer_cache {
        pthread_mutex_t lock;
        char *text;               /* owned; NULL = nothing kept */
        size_t len;
        const char *content_type; /* static */
        int64_t made_ms;          /* CLOCK_MONOTONIC */
        unsigned long epoch;      /* the publish epoch read before it was built */
};

void answer_cache_init(struct answer_cache *c);
void answer_cache_release(struct answer_cache *c);

/* Serves the kept answer into ret when it is fresh: returns 1 (ret filled),
 * 0 (build one: *ret_epoch is the epoch to store it under), or -ENOMEM. */
int answer_cache_serve(struct answer_cache *c, const struct app *app, struct response *ret,
                       unsigned long *ret_epoch);

/* Keeps ret's answer (borrowed) when it is a 200, under epoch: a JSON body
 * is kept as the server sends it (compact, one newline). Returns 0 or
 * -ENOMEM (ret is untouched either way, and still to be sent). */
int answer_cache_store(struct answer_cache *c, unsigned long epoch, const struct response *ret);
