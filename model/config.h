/* The config document: what the operator wants the node's hugepage setup to
 * be. Its JSON form is the API's (docs/api.md):
 *
 *   {"pools": {"2Mi": {"count": 512}, "1Gi": {"nodes": {"0": 1, "1": 1}}},
 *    "default_size": "2Mi",
 *    "transparent_hugepage": {"enabled": "madvise", "defrag": "madvise",
 *                             "shmem_enabled": "never"}}
 *
 * Everything is optional: what the document leaves out is not managed.
 * This module checks the document's form only (types, ranges, names);
 * whether it fits the machine is validate.c's job. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "finding.h"
#include "thp.h"

/* The largest body hugepaged parses; also the HTTP body limit's default. */
#define CONFIG_MAX_BYTES (64 * 1024)
/* Nesting of arrays and objects a config document may have (it needs 4). */
#define CONFIG_MAX_DEPTH 16

struct pool_node {
        unsigned node;
        uint64_t count;
};

struct pool_cfg {
        char *key;           /* owned: the size as the document spelled it, for pointers */
        uint64_t size_bytes; /* the quantity's value */
        uint64_t size_kb;    /* size_bytes / 1024, or 0 when not a whole kB */
        bool has_count;
        uint64_t count;
        bool has_nodes;
        struct pool_node *nodes; /* owned, sorted by node */
        size_t n_nodes;
};

struct config {
        struct pool_cfg *pools; /* owned, sorted by size */
        size_t n_pools;
        bool has_default_size;
        uint64_t default_size_bytes;
        uint64_t default_size_kb; /* 0 when not a whole kB */
        char *thp[_THP_KNOB_MAX]; /* owned words, NULL = not managed */
};

/* Parses a request body as JSON: duplicate keys, NUL bytes, trailing data
 * and anything that is not a JSON object are refused, each as a finding in
 * errors ("invalid_json", "duplicate_key", "wrong_type"). Returns 0 with
 * *ret_doc set (caller owns it), -EINVAL with findings, or -ENOMEM. */
int config_load(const char *buf, size_t len, json_t **ret_doc, struct findings *errors);

/* Checks the document's form and fills *ret. Every problem found is added
 * to errors (all of them, not just the first); the result is then -EINVAL
 * and *ret is untouched. Borrows doc. */
int config_parse(const json_t *doc, struct config *ret, struct findings *errors);

/* The canonical JSON form: sizes in canonical quantity form and ascending
 * order, nodes ascending, only the members that were given. New reference. */
json_t *config_to_json(const struct config *c);

void config_release(struct config *c);

/* Finds the pool for size_kb, or NULL. */
const struct pool_cfg *config_find_pool(const struct config *c, uint64_t size_kb);

/* "an object", "a string", "a number with a fraction or exponent", …: the
 * JSON type of j as findings name it. */
const char *config_type_name(const json_t *j);
