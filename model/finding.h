/* Validation findings: what is wrong or risky in a submitted config, each
 * tied to the place in the document it is about by an RFC 6901 JSON
 * pointer, with a stable code for programs and a sentence for people. */
#pragma once

#include <stddef.h>

struct finding {
        char *pointer;    /* owned; "" is the whole document */
        const char *code; /* static string, e.g. "unknown_node" */
        char *message;    /* owned */
};

struct findings {
        struct finding *items;
        size_t n;
};

/* Appends a finding. Returns 0 or -ENOMEM. */
int findings_add(struct findings *f, const char *pointer, const char *code, const char *fmt, ...)
        __attribute__((format(printf, 4, 5)));
void findings_release(struct findings *f);

/* Returns a newly allocated pointer "<base>/<token>" with '~' and '/' in
 * token escaped as "~0" and "~1", or NULL on OOM. */
char *pointer_join(const char *base, const char *token);
