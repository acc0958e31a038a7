/* A fixed-size buffer for the one sentence that explains a failure. Model
 * functions never log: they return a negative errno and, when the caller
 * passed an errbuf, fill it with what went wrong and where, so the caller can
 * log once or put it in a problem response. */
#pragma once

#include <stddef.h>

struct errbuf {
        char msg[512];
};

/* Formats the message into e (if e is not NULL) and returns err, which must
 * be a negative errno, so that callers can write "return errbuf_set(...)". */
int errbuf_set(struct errbuf *e, int err, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
