/* See jsonscan.h. A small tokenizer that follows objects and arrays and
 * keeps the pointer of the value being read. It trusts nothing: on any
 * surprise it gives up and the caller reports the error without a pointer.
 * Keys are decoded by jansson itself, so "\u0070ools" is "pools" here too. */
#include "jsonscan.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "finding.h"

#define MAX_DEPTH 64
#define MAX_KEYS 1024

struct frame {
        bool object;
        char *path;       /* this container's pointer */
        char *member;     /* object: the current member's pointer */
        size_t index;     /* array: the current element */
        char **keys;      /* object: keys seen so far */
        size_t n_keys;
        bool expect_key;
};

struct scan {
        struct frame stack[MAX_DEPTH];
        size_t depth;
};

static void frame_free(struct frame *f)
{
        free(f->path);
        free(f->member);
        for (size_t i = 0; i < f->n_keys; i++)
                free(f->keys[i]);
        free(f->keys);
        memset(f, 0, sizeof(*f));
}

/* The pointer of the value that starts here. */
static char *value_path(const struct scan *s)
{
        if (s->depth == 0)
                return strdup("");
        const struct frame *f = &s->stack[s->depth - 1];
        if (f->object)
                return f->member ? strdup(f->member) : NULL;
        char idx[24];
        snprintf(idx, sizeof(idx), "%zu", f->index);
        return pointer_join(f->path, idx);
}

/* Decodes the string token [start, end] (quotes included). */
static char *decode_key(const char *start, const char *end)
{
        json_error_t e;
        json_t *j = json_loadb(start, (size_t) (end - start + 1), JSON_DECODE_ANY | JSON_ALLOW_NUL, &e);
        char *out = j && json_is_string(j) ? strdup(json_string_value(j)) : strndup(start + 1, (size_t) (end - start - 1));
        json_decref(j);
        return out;
}

enum mode {
        FIND_DUP,   /* the first duplicate key */
        VALUE_AT,   /* the last scalar value before offset */
        PLACE_AT,   /* the member (or, inside a key, the object) that holds offset */
};

/* The place the scan is at: the object itself while a key is read or
 * expected (a bad key has no name to give), else the value's member. */
static char *place(const struct scan *s, bool in_key)
{
        if (s->depth == 0)
                return strdup("");
        const struct frame *f = &s->stack[s->depth - 1];
        if (f->object && (in_key || f->expect_key))
                return strdup(f->path);
        return value_path(s);
}

/* Runs the scan in the given mode; see enum mode. Returns the pointer
 * found, or NULL. */
static char *run(const char *buf, size_t len, enum mode mode, size_t offset)
{
        bool find_dup = mode == FIND_DUP;
        struct scan s = { .depth = 0 };
        char *found = NULL, *last_value = NULL;
        const char *p = buf, *end = buf + len;

        while (p < end) {
                if (!find_dup && (size_t) (p - buf) >= offset)
                        break;
                char c = *p;
                if (c == ' ' || c == '\t' || c == '\n' || c == '\r') {
                        p++;
                        continue;
                }
                struct frame *top = s.depth ? &s.stack[s.depth - 1] : NULL;
                if (c == '{' || c == '[') {
                        if (s.depth == MAX_DEPTH)
                                goto out;
                        char *path = value_path(&s);
                        if (!path)
                                goto out;
                        s.stack[s.depth++] = (struct frame) { .object = c == '{', .path = path, .expect_key = c == '{' };
                        p++;
                } else if (c == '}' || c == ']') {
                        if (!top)
                                goto out;
                        frame_free(top);
                        s.depth--;
                        p++;
                } else if (c == ',') {
                        if (!top)
                                goto out;
                        if (top->object)
                                top->expect_key = true;
                        else
                                top->index++;
                        p++;
                } else if (c == ':') {
                        if (!top || !top->object)
                                goto out;
                        top->expect_key = false;
                        p++;
                } else if (c == '"') {
                        const char *q = p + 1;
                        while (q < end && *q != '"')
                                q += *q == '\\' ? 2 : 1;
                        if (mode == PLACE_AT && (size_t) (q - buf) >= offset) {
                                found = place(&s, top && top->object && top->expect_key);
                                goto out;
                        }
                        if (q >= end)
                                goto out;
                        if (top && top->object && top->expect_key) {
                                char *key = decode_key(p, q);
                                if (!key)
                                        goto out;
                                if (find_dup)
                                        for (size_t i = 0; i < top->n_keys; i++)
                                                if (strcmp(top->keys[i], key) == 0) {
                                                        found = pointer_join(top->path, key);
                                                        free(key);
                                                        goto out;
                                                }
                                free(top->member);
                                top->member = pointer_join(top->path, key);
                                char **grown = top->n_keys < MAX_KEYS
                                                       ? realloc(top->keys, (top->n_keys + 1) * sizeof(char *))
                                                       : NULL;
                                if (!grown || !top->member) {
                                        free(key);
                                        goto out;
                                }
                                top->keys = grown;
                                top->keys[top->n_keys++] = key;
                        } else {
                                free(last_value);
                                last_value = value_path(&s);
                        }
                        p = q + 1;
                } else {
                        /* A number, true, false or null. */
                        free(last_value);
                        last_value = value_path(&s);
                        /* strchr() would match a NUL (the terminator): test it first. */
                        const char *start = p;
                        while (p < end && *p && !strchr(",}] \t\r\n", *p))
                                p++;
                        if (p == start)
                                goto out; /* a byte no JSON token starts with */
                }
        }
        if (mode == VALUE_AT) {
                found = last_value;
                last_value = NULL;
        } else if (mode == PLACE_AT)
                found = place(&s, false);
out:
        free(last_value);
        while (s.depth > 0)
                frame_free(&s.stack[--s.depth]);
        return found;
}

char *jsonscan_duplicate(const char *buf, size_t len)
{
        return run(buf, len, FIND_DUP, 0);
}

char *jsonscan_value_at(const char *buf, size_t len, size_t offset)
{
        return run(buf, len, VALUE_AT, offset);
}

char *jsonscan_place_at(const char *buf, size_t len, size_t offset)
{
        return run(buf, len, PLACE_AT, offset);
}
