/* See config.h. The parser walks the whole document and reports every
 * problem it meets, so that an operator fixes a document in one round. */
#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cleanup.h"
#include "jsonscan.h"
#include "quantity.h"
#include "sizes.h"

const char *config_type_name(const json_t *j)
{
        switch (json_typeof(j)) {
        case JSON_OBJECT:
                return "an object";
        case JSON_ARRAY:
                return "an array";
        case JSON_STRING:
                return "a string";
        case JSON_INTEGER:
                return "an integer";
        case JSON_REAL:
                return "a number with a fraction or exponent";
        case JSON_TRUE:
        case JSON_FALSE:
                return "a boolean";
        case JSON_NULL:
                return "null";
        }
        return "something else";
}

/* The offset at which buf's arrays and objects nest deeper than
 * CONFIG_MAX_DEPTH, or len when they never do. Brackets inside strings do
 * not count. */
static size_t too_deep_at(const char *buf, size_t len)
{
        unsigned depth = 0;
        bool in_string = false;
        for (size_t i = 0; i < len; i++) {
                char c = buf[i];
                if (in_string) {
                        if (c == '\\')
                                i++;
                        else if (c == '"')
                                in_string = false;
                } else if (c == '"')
                        in_string = true;
                else if (c == '{' || c == '[') {
                        if (++depth > CONFIG_MAX_DEPTH)
                                return i;
                } else if ((c == '}' || c == ']') && depth > 0)
                        depth--;
        }
        return len;
}

int config_load(const char *buf, size_t len, json_t **ret_doc, struct findings *errors)
{
        json_error_t e;
        if (len == 0)
                return findings_add(errors, "", "invalid_json", "the body is empty; send a JSON object") ?: -EINVAL;
        /* jansson lets a raw NUL through after a number ({"a": 0<NUL>}); a
         * config never holds one. */
        const char *nul = memchr(buf, '\0', len);
        if (nul) {
                _cleanup_free_ char *ptr = jsonscan_place_at(buf, (size_t) (nul - buf), (size_t) (nul - buf));
                return findings_add(errors, ptr ? ptr : "", "nul_byte", "a NUL byte at byte %zu (write \\u0000 inside a string)",
                                    (size_t) (nul - buf))
                               ?: -EINVAL;
        }
        /* A config is at most four levels deep; anything much deeper is not
         * one, and is refused before the parser spends a stack on it. */
        size_t deep = too_deep_at(buf, len);
        if (deep < len) {
                _cleanup_free_ char *ptr = jsonscan_place_at(buf, len, deep);
                return findings_add(errors, ptr ? ptr : "", "too_deep",
                                    "arrays and objects nest deeper than %d levels at byte %zu", CONFIG_MAX_DEPTH,
                                    deep)
                               ?: -EINVAL;
        }
        /* NUL escapes inside strings are let through here so that the
         * parser can name the field that holds one; raw NUL bytes were
         * refused above. */
        json_t *doc = json_loadb(buf, len, JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL, &e);
        if (!doc) {
                /* jansson gives a byte position; name the field where we can. */
                enum json_error_code code = json_error_code(&e);
                _cleanup_free_ char *ptr = NULL;
                const char *what = "invalid_json";
                if (code == json_error_duplicate_key) {
                        ptr = jsonscan_duplicate(buf, len);
                        what = "duplicate_key";
                } else if (code == json_error_numeric_overflow) {
                        ptr = jsonscan_value_at(buf, len, e.position > 0 ? (size_t) e.position : 0);
                        what = "too_large";
                } else if (code == json_error_invalid_utf8 || code == json_error_null_byte_in_key ||
                           code == json_error_null_character) {
                        /* jansson's position is just past the bad byte. */
                        ptr = jsonscan_place_at(buf, len, e.position > 1 ? (size_t) e.position - 1 : 0);
                        what = code == json_error_invalid_utf8 ? "invalid_utf8" : "nul_byte";
                }
                int r = findings_add(errors, ptr ? ptr : "", what, "%s at line %d, column %d (byte %d)", e.text,
                                     e.line, e.column, e.position);
                return r < 0 ? r : -EINVAL;
        }
        if (!json_is_object(doc)) {
                int r = findings_add(errors, "", "wrong_type", "the config must be a JSON object, not %s",
                                     config_type_name(doc));
                json_decref(doc);
                return r < 0 ? r : -EINVAL;
        }
        *ret_doc = doc;
        return 0;
}

/* Reads a non-negative integer member; adds a finding otherwise. */
static int parse_count(const json_t *v, const char *ptr, uint64_t *ret, struct findings *errors)
{
        char num[64];
        if (json_is_real(v)) {
                double d = json_real_value(v);
                snprintf(num, sizeof(num), "%.17g", d);
                if (d > -9e18 && d < 9e18 && d == (double) (long long) d)
                        return findings_add(errors, ptr, "not_integer",
                                            "a page count must be written as an integer, without a fraction or "
                                            "exponent (%s)",
                                            num) ?: -EINVAL;
                return findings_add(errors, ptr, "not_integer", "a page count must be a whole number, found %s",
                                    num) ?: -EINVAL;
        }
        if (!json_is_integer(v))
                return findings_add(errors, ptr, "wrong_type", "a page count must be an integer, found %s",
                                    config_type_name(v)) ?: -EINVAL;
        json_int_t n = json_integer_value(v);
        if (n < 0)
                return findings_add(errors, ptr, "negative", "a page count cannot be negative, found %" JSON_INTEGER_FORMAT,
                                    n) ?: -EINVAL;
        *ret = (uint64_t) n;
        return 0;
}

/* Parses a quantity member value or key into bytes; adds a finding
 * otherwise. */
static int parse_size(const char *text, const char *ptr, uint64_t *ret, struct findings *errors)
{
        int r = quantity_parse(text, ret);
        if (r == 0)
                return 0;
        const char *why = r == -ERANGE ? "too large" : r == -EDOM ? "not a whole number of bytes" : "not a size";
        return findings_add(errors, ptr, r == -ERANGE ? "too_large" : "invalid_quantity",
                            "\"%.64s\" is %s; write a Kubernetes quantity such as \"2Mi\" or \"1Gi\"", text, why)
                       ?: -EINVAL;
}

static int parse_node_key(const char *key, unsigned *ret)
{
        size_t n = strlen(key);
        if (n == 0 || n > 4 || (key[0] == '0' && n > 1))
                return -EINVAL;
        unsigned v = 0;
        for (size_t i = 0; i < n; i++) {
                if (key[i] < '0' || key[i] > '9')
                        return -EINVAL;
                v = v * 10 + (unsigned) (key[i] - '0');
        }
        if (v > SIZES_MAX_NODE)
                return -EINVAL;
        *ret = v;
        return 0;
}

static int cmp_node(const void *a, const void *b)
{
        const struct pool_node *x = a, *y = b;
        return x->node < y->node ? -1 : x->node > y->node;
}

static int cmp_pool(const void *a, const void *b)
{
        const struct pool_cfg *x = a, *y = b;
        return x->size_bytes < y->size_bytes ? -1 : x->size_bytes > y->size_bytes;
}

static void pool_release(struct pool_cfg *p)
{
        free(p->key);
        free(p->nodes);
}

/* Parses one member of "pools". Returns 0, -EINVAL (findings added) or
 * -ENOMEM. */
static int parse_pool(const char *key, const json_t *v, const char *ptr, struct pool_cfg *ret,
                      struct findings *errors)
{
        struct pool_cfg p = { 0 };
        int bad = 0, r;

        r = parse_size(key, ptr, &p.size_bytes, errors);
        if (r == -ENOMEM)
                return r;
        bad |= r < 0;
        p.size_kb = p.size_bytes % 1024 == 0 ? p.size_bytes / 1024 : 0;

        if (!json_is_object(v))
                return findings_add(errors, ptr, "wrong_type",
                                    "a pool must be an object with \"count\" or \"nodes\", found %s",
                                    config_type_name(v))
                               ?: -EINVAL;

        const char *k;
        json_t *m;
        json_object_foreach((json_t *) v, k, m) {
                _cleanup_free_ char *mptr = pointer_join(ptr, k);
                if (!mptr)
                        return -ENOMEM;
                if (strcmp(k, "count") == 0) {
                        r = parse_count(m, mptr, &p.count, errors);
                        p.has_count = r == 0;
                } else if (strcmp(k, "nodes") == 0) {
                        if (!json_is_object(m)) {
                                r = findings_add(errors, mptr, "wrong_type",
                                                 "\"nodes\" must map NUMA node numbers to page counts, found %s",
                                                 config_type_name(m)) ?: -EINVAL;
                        } else {
                                p.has_nodes = true;
                                size_t n = json_object_size(m);
                                p.nodes = calloc(n ? n : 1, sizeof(struct pool_node));
                                if (!p.nodes)
                                        return -ENOMEM;
                                const char *nk;
                                json_t *nv;
                                r = 0;
                                json_object_foreach(m, nk, nv) {
                                        _cleanup_free_ char *nptr = pointer_join(mptr, nk);
                                        if (!nptr) {
                                                pool_release(&p);
                                                return -ENOMEM;
                                        }
                                        struct pool_node *pn = &p.nodes[p.n_nodes];
                                        int rn = 0;
                                        if (parse_node_key(nk, &pn->node) < 0)
                                                rn = findings_add(errors, nptr, "invalid_node",
                                                                  "\"%.32s\" is not a NUMA node number (write \"0\", \"1\", …)",
                                                                  nk) ?: -EINVAL;
                                        int rc = parse_count(nv, nptr, &pn->count, errors);
                                        if (rn == -ENOMEM || rc == -ENOMEM) {
                                                pool_release(&p);
                                                return -ENOMEM;
                                        }
                                        if (rn == 0 && rc == 0)
                                                p.n_nodes++;
                                        else
                                                r = -EINVAL;
                                }
                                qsort(p.nodes, p.n_nodes, sizeof(struct pool_node), cmp_node);
                        }
                } else {
                        r = findings_add(errors, mptr, "unknown_field",
                                         "unknown field \"%.64s\" in a pool (expected \"count\" or \"nodes\")", k)
                                    ?: -EINVAL;
                }
                if (r == -ENOMEM) {
                        pool_release(&p);
                        return r;
                }
                bad |= r < 0;
        }
        if (!bad && !p.has_count && (!p.has_nodes || p.n_nodes == 0)) {
                r = findings_add(errors, ptr, "empty_pool",
                                 "a pool needs \"count\" or at least one node in \"nodes\"") ?: -EINVAL;
                bad = 1;
                if (r == -ENOMEM) {
                        pool_release(&p);
                        return r;
                }
        }
        if (bad) {
                pool_release(&p);
                return -EINVAL;
        }
        p.key = strdup(key);
        if (!p.key) {
                pool_release(&p);
                return -ENOMEM;
        }
        *ret = p;
        return 0;
}

static int parse_pools(const json_t *pools, struct config *c, struct findings *errors)
{
        if (!json_is_object(pools))
                return findings_add(errors, "/pools", "wrong_type",
                                    "\"pools\" must be an object keyed by page size, found %s", config_type_name(pools))
                               ?: -EINVAL;
        size_t n = json_object_size(pools);
        c->pools = calloc(n ? n : 1, sizeof(struct pool_cfg));
        if (!c->pools)
                return -ENOMEM;

        int result = 0;
        const char *k;
        json_t *v;
        json_object_foreach((json_t *) pools, k, v) {
                _cleanup_free_ char *ptr = pointer_join("/pools", k);
                if (!ptr)
                        return -ENOMEM;
                struct pool_cfg p;
                int r = parse_pool(k, v, ptr, &p, errors);
                if (r == -ENOMEM)
                        return r;
                if (r < 0) {
                        result = -EINVAL;
                        continue;
                }
                /* "2Mi" and "2048Ki" are the same size: JSON sees two keys,
                 * we see a duplicate. */
                for (size_t i = 0; i < c->n_pools; i++)
                        if (c->pools[i].size_bytes == p.size_bytes) {
                                r = findings_add(errors, ptr, "duplicate_key",
                                                 "\"%s\" is the same size as \"%s\", given earlier", k,
                                                 c->pools[i].key) ?: -EINVAL;
                                break;
                        }
                if (r < 0) {
                        pool_release(&p);
                        if (r == -ENOMEM)
                                return r;
                        result = -EINVAL;
                        continue;
                }
                c->pools[c->n_pools++] = p;
        }
        qsort(c->pools, c->n_pools, sizeof(struct pool_cfg), cmp_pool);
        return result;
}

static int parse_thp(const json_t *thp, struct config *c, struct findings *errors)
{
        if (!json_is_object(thp))
                return findings_add(errors, "/transparent_hugepage", "wrong_type",
                                    "\"transparent_hugepage\" must be an object, found %s", config_type_name(thp))
                               ?: -EINVAL;
        int result = 0;
        const char *k;
        json_t *v;
        json_object_foreach((json_t *) thp, k, v) {
                _cleanup_free_ char *ptr = pointer_join("/transparent_hugepage", k);
                if (!ptr)
                        return -ENOMEM;
                int knob = -1;
                for (int i = 0; i < _THP_KNOB_MAX; i++)
                        if (strcmp(k, thp_knob_name((enum thp_knob) i)) == 0)
                                knob = i;
                int r = 0;
                if (knob < 0)
                        r = findings_add(errors, ptr, "unknown_field",
                                         "unknown field \"%.64s\" (expected \"enabled\", \"defrag\" or \"shmem_enabled\")",
                                         k) ?: -EINVAL;
                else if (!json_is_string(v))
                        r = findings_add(errors, ptr, "wrong_type", "expected a string, found %s", config_type_name(v))
                                    ?: -EINVAL;
                else if (json_string_length(v) == 0 || json_string_length(v) >= THP_MAX_WORD ||
                         strlen(json_string_value(v)) != json_string_length(v))
                        r = findings_add(errors, ptr, "thp_value", "\"%.40s\" is not a THP mode",
                                         json_string_value(v)) ?: -EINVAL;
                else if (!(c->thp[knob] = strdup(json_string_value(v))))
                        return -ENOMEM;
                if (r == -ENOMEM)
                        return r;
                if (r < 0)
                        result = -EINVAL;
        }
        return result;
}

int config_parse(const json_t *doc, struct config *ret, struct findings *errors)
{
        struct config c = { 0 };
        int result = 0, r = 0;

        if (!json_is_object(doc))
                return findings_add(errors, "", "wrong_type", "the config must be a JSON object, not %s",
                                    config_type_name(doc)) ?: -EINVAL;

        const char *k;
        json_t *v;
        json_object_foreach((json_t *) doc, k, v) {
                if (strcmp(k, "pools") == 0)
                        r = parse_pools(v, &c, errors);
                else if (strcmp(k, "default_size") == 0) {
                        if (!json_is_string(v))
                                r = findings_add(errors, "/default_size", "wrong_type",
                                                 "\"default_size\" must be a quantity string such as \"2Mi\", found %s",
                                                 config_type_name(v)) ?: -EINVAL;
                        else if (strlen(json_string_value(v)) != json_string_length(v))
                                r = findings_add(errors, "/default_size", "invalid_quantity",
                                                 "the size holds a NUL byte") ?: -EINVAL;
                        else {
                                r = parse_size(json_string_value(v), "/default_size", &c.default_size_bytes, errors);
                                c.has_default_size = r == 0;
                                c.default_size_kb = c.default_size_bytes % 1024 == 0 ? c.default_size_bytes / 1024 : 0;
                        }
                } else if (strcmp(k, "transparent_hugepage") == 0)
                        r = parse_thp(v, &c, errors);
                else {
                        _cleanup_free_ char *ptr = pointer_join("", k);
                        if (!ptr)
                                r = -ENOMEM;
                        else
                                r = findings_add(errors, ptr, "unknown_field",
                                                 "unknown field \"%.64s\" (expected \"pools\", \"default_size\" or "
                                                 "\"transparent_hugepage\")",
                                                 k) ?: -EINVAL;
                }
                if (r == -ENOMEM) {
                        config_release(&c);
                        return r;
                }
                if (r < 0)
                        result = -EINVAL;
        }
        if (result < 0) {
                config_release(&c);
                return result;
        }
        *ret = c;
        return 0;
}

json_t *config_to_json(const struct config *c)
{
        _cleanup_json_ json_t *root = json_object();
        if (!root)
                return NULL;
        char q[QUANTITY_MAX];

        /* Always emit "pools" so that clients can rely on it, even when it
         * is empty ("manage no pool"). */
        json_t *pools = json_object();
        if (json_object_set_new(root, "pools", pools) < 0)
                return NULL;
        for (size_t i = 0; i < c->n_pools; i++) {
                const struct pool_cfg *p = &c->pools[i];
                json_t *pj = json_object();
                if (json_object_set_new(pools, quantity_format(p->size_bytes, q), pj) < 0)
                        return NULL;
                if (p->has_count && json_object_set_new(pj, "count", json_integer((json_int_t) p->count)) < 0)
                        return NULL;
                if (p->has_nodes) {
                        json_t *nodes = json_object();
                        if (json_object_set_new(pj, "nodes", nodes) < 0)
                                return NULL;
                        for (size_t k = 0; k < p->n_nodes; k++) {
                                char key[16];
                                snprintf(key, sizeof(key), "%u", p->nodes[k].node);
                                if (json_object_set_new(nodes, key, json_integer((json_int_t) p->nodes[k].count)) < 0)
                                        return NULL;
                        }
                }
        }
        if (c->has_default_size &&
            json_object_set_new(root, "default_size", json_string(quantity_format(c->default_size_bytes, q))) < 0)
                return NULL;
        bool any_thp = false;
        for (int k = 0; k < _THP_KNOB_MAX; k++)
                any_thp |= c->thp[k] != NULL;
        if (any_thp) {
                json_t *t = json_object();
                if (json_object_set_new(root, "transparent_hugepage", t) < 0)
                        return NULL;
                for (int k = 0; k < _THP_KNOB_MAX; k++)
                        if (c->thp[k] &&
                            json_object_set_new(t, thp_knob_name((enum thp_knob) k), json_string(c->thp[k])) < 0)
                                return NULL;
        }
        return TAKE_PTR(root);
}

void config_release(struct config *c)
{
        if (!c)
                return;
        for (size_t i = 0; i < c->n_pools; i++)
                pool_release(&c->pools[i]);
        free(c->pools);
        for (int k = 0; k < _THP_KNOB_MAX; k++)
                free(c->thp[k]);
        *c = (struct config) { 0 };
}

const struct pool_cfg *config_find_pool(const struct config *c, uint64_t size_kb)
{
        for (size_t i = 0; i < c->n_pools; i++)
                if (c->pools[i].size_kb == size_kb && size_kb != 0)
                        return &c->pools[i];
        return NULL;
}
