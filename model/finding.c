/* See finding.h. */
#include "finding.h"

#include "utf8.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int findings_add(struct findings *f, const char *pointer, const char *code, const char *fmt, ...)
{
        struct finding *grown = realloc(f->items, (f->n + 1) * sizeof(struct finding));
        if (!grown)
                return -ENOMEM;
        f->items = grown;

        char *msg = NULL;
        va_list ap;
        va_start(ap, fmt);
        int k = vasprintf(&msg, fmt, ap);
        va_end(ap);
        char *ptr = strdup(pointer);
        if (k < 0 || !ptr) {
                if (k >= 0)
                        free(msg);
                free(ptr);
                return -ENOMEM;
        }
        /* Messages quote the client's bytes and cut them by byte count. */
        utf8_repair(msg);
        utf8_repair(ptr);
        f->items[f->n++] = (struct finding) { .pointer = ptr, .code = code, .message = msg };
        return 0;
}

void findings_release(struct findings *f)
{
        if (!f)
                return;
        for (size_t i = 0; i < f->n; i++) {
                free(f->items[i].pointer);
                free(f->items[i].message);
        }
        free(f->items);
        f->items = NULL;
        f->n = 0;
}

char *pointer_join(const char *base, const char *token)
{
        size_t extra = 0;
        for (const char *p = token; *p; p++)
                extra += *p == '~' || *p == '/';
        size_t blen = strlen(base), tlen = strlen(token);
        char *out = malloc(blen + 1 + tlen + extra + 1);
        if (!out)
                return NULL;
        memcpy(out, base, blen);
        char *o = out + blen;
        *o++ = '/';
        for (const char *p = token; *p; p++) {
                if (*p == '~') {
                        *o++ = '~';
                        *o++ = '0';
                } else if (*p == '/') {
                        *o++ = '~';
                        *o++ = '1';
                } else
                        *o++ = *p;
        }
        *o = '\0';
        return out;
}
