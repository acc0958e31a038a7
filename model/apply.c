/* See apply.h. */
#include "apply.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cleanup.h"
#include "floor.h"
#include "quantity.h"

const char *apply_status_name(enum apply_status s)
{
        switch (s) {
        case APPLY_OK:
                return "ok";
        case APPLY_PARTIAL:
                return "partial";
        case APPLY_IN_USE:
                return "in_use";
        case APPLY_FAILED:
                return "failed";
        case APPLY_SKIPPED:
                return "skipped";
        }
        return "failed";
}

/* Builds one item per pool target: the size's global pool for "count", one
 * per listed node for "nodes" (which also covers "count" when both are
 * given, since validation made them agree). */
static int plan(const struct config *c, const struct sizes *now, struct apply_result *res)
{
        size_t cap = 0;
        for (size_t i = 0; i < c->n_pools; i++)
                cap += c->pools[i].has_nodes ? c->pools[i].n_nodes : 1;
        res->items = calloc(cap ? cap : 1, sizeof(struct apply_item));
        if (!res->items)
                return -ENOMEM;

        for (size_t i = 0; i < c->n_pools; i++) {
                const struct pool_cfg *p = &c->pools[i];
                const struct size_info *si = sizes_find(now, p->size_kb);
                if (!si)
                        continue; /* validation refused it; never invent a file */
                if (p->has_nodes) {
                        for (size_t j = 0; j < p->n_nodes; j++) {
                                int k = sizes_node_index(now, p->nodes[j].node);
                                if (k < 0)
                                        continue;
                                res->items[res->n_items++] = (struct apply_item) {
                                        .size_kb = p->size_kb,
                                        .node = (int) p->nodes[j].node,
                                        .requested = p->nodes[j].count,
                                        .before = size_node_persistent(&si->nodes[k]),
                                };
                        }
                } else {
                        res->items[res->n_items++] = (struct apply_item) {
                                .size_kb = p->size_kb,
                                .node = -1,
                                .requested = p->count,
                                .before = size_persistent(si),
                        };
                }
        }
        return 0;
}

static bool shrinks(const struct apply_item *it)
{
        return it->requested < it->before;
}

/* Shrinks first; then grows by size, largest first; node order within. */
static int cmp_order(const void *a, const void *b)
{
        const struct apply_item *x = a, *y = b;
        if (shrinks(x) != shrinks(y))
                return shrinks(x) ? -1 : 1;
        if (x->size_kb != y->size_kb)
                return x->size_kb > y->size_kb ? -1 : 1;
        return x->node < y->node ? -1 : x->node > y->node;
}

static void apply_pool(const struct sysfs *fs, const struct sizes *now, struct apply_item *it)
{
        char nr_path[160], surplus_path[160];
        struct errbuf err = { { 0 } };

        sizes_path(nr_path, sizeof(nr_path), it->size_kb, it->node, "nr_hugepages");
        sizes_path(surplus_path, sizeof(surplus_path), it->size_kb, it->node, "surplus_hugepages");

        /* Re-check at write time what validation promised: a target larger
         * than the machine's memory is never written, whatever happened
         * between validation and now. The kernel takes anything up to
         * ULONG_MAX and then grabs all the memory it can. */
        uint64_t limit_kb = now->mem_total_kb;
        if (it->node >= 0) {
                int k = sizes_node_index(now, (unsigned) it->node);
                limit_kb = k >= 0 ? now->nodes[k].mem_total_kb : 0;
        }
        uint64_t want_kb;
        if (__builtin_mul_overflow(it->requested, it->size_kb, &want_kb) || want_kb > limit_kb) {
                it->status = APPLY_FAILED;
                snprintf(it->error, sizeof(it->error),
                         "refused to write %" PRIu64 " pages: more than the memory of the %s", it->requested,
                         it->node >= 0 ? "node" : "machine");
                return;
        }

        if (it->requested < it->before) {
                /* What no write can free now (see apply.h); a failed read
                 * only leaves it unreported. */
                struct inuse u;
                struct errbuf ignored = { { 0 } };
                if (inuse_read(fs, it->size_kb, it->node, &u, &ignored) == 0) {
                        it->held = it->node >= 0 ? (u.nr > u.free ? u.nr - u.free : 0) : u.held;
                        it->held_known = true;
                }
        }
        if (it->requested != it->before) {
                int r = sysfs_write_u64(fs, nr_path, it->requested, &err);
                if (r < 0) {
                        it->status = APPLY_FAILED;
                        snprintf(it->error, sizeof(it->error), "%s", err.msg);
                        /* Still read back: a refused write may have done
                         * part of its work before failing. */
                }
                it->written = r >= 0;
        }

        uint64_t nr, surplus;
        if (sysfs_read_u64(fs, SYSFS_SYS, nr_path, &nr, &err) < 0 ||
            sysfs_read_u64(fs, SYSFS_SYS, surplus_path, &surplus, &err) < 0) {
                it->status = APPLY_FAILED;
                snprintf(it->error, sizeof(it->error), "cannot read back: %s", err.msg);
                return;
        }
        it->total = nr;
        it->surplus = surplus;
        it->after = nr >= surplus ? nr - surplus : 0;
        if (it->status == APPLY_FAILED)
                return;
        if (it->after != it->requested)
                it->status = APPLY_PARTIAL;
        else if (surplus > 0 && it->requested < it->before)
                it->status = APPLY_IN_USE;
        else
                it->status = APPLY_OK;
}

static void copy_word(char dst[static THP_MAX_WORD], const char *src)
{
        size_t n = strnlen(src, THP_MAX_WORD - 1);
        memcpy(dst, src, n);
        dst[n] = '\0';
}

static void apply_thp(const struct sysfs *fs, const struct thp *thp_now, enum thp_knob k, const char *word,
                      struct apply_thp_item *it)
{
        struct errbuf err = { { 0 } };
        const struct thp_setting *st = &thp_now->knobs[k];

        it->knob = k;
        copy_word(it->requested, word);
        if (st->present && st->active >= 0)
                copy_word(it->before, st->choices[st->active]);
        if (strcmp(it->before, word) == 0) {
                copy_word(it->after, word);
                it->status = APPLY_OK;
                return;
        }
        if (!thp_offers(st, word)) {
                it->status = APPLY_FAILED;
                snprintf(it->error, sizeof(it->error), "the kernel does not offer \"%s\"", word);
                return;
        }
        int r = thp_write(fs, k, word, &err);
        if (r < 0) {
                it->status = APPLY_FAILED;
                snprintf(it->error, sizeof(it->error), "%s", err.msg);
        }
        struct thp after;
        if (thp_read(fs, &after, &err) < 0) {
                it->status = APPLY_FAILED;
                snprintf(it->error, sizeof(it->error), "cannot read back: %s", err.msg);
                return;
        }
        const struct thp_setting *sa = &after.knobs[k];
        if (sa->present && sa->active >= 0)
                copy_word(it->after, sa->choices[sa->active]);
        if (r >= 0)
                it->status = strcmp(it->after, word) == 0 ? APPLY_OK : APPLY_FAILED;
        if (r >= 0 && it->status == APPLY_FAILED) {
                char shown[THP_MAX_WORD];
                copy_word(shown, it->after);
                snprintf(it->error, sizeof(it->error), "the kernel shows \"%s\" after writing \"%s\"", shown, word);
        }
}

int apply_config(const struct sysfs *fs, const struct config *c, const struct sizes *now,
                 const struct thp *thp_now, struct apply_result *ret)
{
        struct apply_result res = { 0 };
        int r = plan(c, now, &res);
        if (r < 0)
                return r;
        qsort(res.items, res.n_items, sizeof(struct apply_item), cmp_order);

        /* The grows were validated on the promise that the shrinks free
         * their memory first; if a shrink fails, growing could take the
         * memory the host needs, so the grows are skipped. */
        bool shrink_failed = false;
        for (size_t i = 0; i < res.n_items; i++) {
                struct apply_item *it = &res.items[i];
                if (!shrinks(it) && shrink_failed) {
                        /* Nothing was written: the pool is as the snapshot
                         * showed it. */
                        const struct size_info *si = sizes_find(now, it->size_kb);
                        int k = it->node >= 0 ? sizes_node_index(now, (unsigned) it->node) : -1;
                        it->status = APPLY_SKIPPED;
                        it->after = it->before;
                        it->total = k >= 0 ? si->nodes[k].nr : si->nr;
                        it->surplus = k >= 0 ? si->nodes[k].surplus : si->surplus;
                        snprintf(it->error, sizeof(it->error), "not attempted: an earlier shrink failed");
                        continue;
                }
                apply_pool(fs, now, it);
                if (shrinks(it) && it->status == APPLY_FAILED)
                        shrink_failed = true;
        }

        for (int k = 0; k < _THP_KNOB_MAX; k++)
                if (c->thp[k])
                        apply_thp(fs, thp_now, (enum thp_knob) k, c->thp[k], &res.thp[res.n_thp++]);

        res.complete = true;
        for (size_t i = 0; i < res.n_items; i++)
                res.complete &= res.items[i].status == APPLY_OK;
        for (size_t i = 0; i < res.n_thp; i++)
                res.complete &= res.thp[i].status == APPLY_OK;
        *ret = res;
        return 0;
}

void apply_result_release(struct apply_result *r)
{
        if (!r)
                return;
        free(r->items);
        *r = (struct apply_result) { 0 };
}

json_t *apply_snapshot(const struct config *c, const struct sizes *now, const struct thp *thp_now)
{
        _cleanup_json_ json_t *root = json_object();
        json_t *pools = json_object();
        if (!root || json_object_set_new(root, "pools", pools) < 0)
                return NULL;
        char q[QUANTITY_MAX];
        for (size_t i = 0; i < c->n_pools; i++) {
                const struct pool_cfg *p = &c->pools[i];
                const struct size_info *si = sizes_find(now, p->size_kb);
                if (!si)
                        continue;
                json_t *pj = json_object();
                if (json_object_set_new(pools, quantity_format(p->size_kb * 1024, q), pj) < 0)
                        return NULL;
                if (!p->has_nodes) {
                        if (json_object_set_new(pj, "count", json_integer((json_int_t) size_persistent(si))) < 0)
                                return NULL;
                        continue;
                }
                json_t *nodes = json_object();
                if (json_object_set_new(pj, "nodes", nodes) < 0)
                        return NULL;
                for (size_t j = 0; j < p->n_nodes; j++) {
                        int k = sizes_node_index(now, p->nodes[j].node);
                        if (k < 0)
                                continue;
                        char key[16];
                        snprintf(key, sizeof(key), "%u", p->nodes[j].node);
                        if (json_object_set_new(nodes, key,
                                                json_integer((json_int_t) size_node_persistent(&si->nodes[k]))) < 0)
                                return NULL;
                }
        }
        json_t *t = NULL;
        for (int k = 0; k < _THP_KNOB_MAX; k++) {
                const struct thp_setting *st = &thp_now->knobs[k];
                if (!c->thp[k] || !st->present || st->active < 0)
                        continue;
                if (!t && (!(t = json_object()) || json_object_set_new(root, "transparent_hugepage", t) < 0))
                        return NULL;
                if (json_object_set_new(t, thp_knob_name((enum thp_knob) k), json_string(st->choices[st->active])) < 0)
                        return NULL;
        }
        return TAKE_PTR(root);
}

json_t *apply_result_to_json(const struct apply_result *a)
{
        _cleanup_json_ json_t *root = json_object();
        json_t *results = json_array(), *thp = json_array();
        if (!root || json_object_set_new(root, "complete", json_boolean(a->complete)) < 0 ||
            json_object_set_new(root, "results", results) < 0 || json_object_set_new(root, "thp", thp) < 0)
                return NULL;

        for (size_t i = 0; i < a->n_items; i++) {
                const struct apply_item *it = &a->items[i];
                char ptr[128], q[QUANTITY_MAX];
                quantity_format(it->size_kb * 1024, q);
                if (it->node >= 0)
                        snprintf(ptr, sizeof(ptr), "/pools/%s/nodes/%d", q, it->node);
                else
                        snprintf(ptr, sizeof(ptr), "/pools/%s/count", q);
                json_t *j = json_pack("{s:s, s:s, s:o, s:I, s:I, s:I, s:I, s:I, s:b, s:s}", "pointer", ptr, "size", q,
                                      "node", it->node >= 0 ? json_integer(it->node) : json_null(), "requested",
                                      (json_int_t) (it->requested), "before", (json_int_t) (it->before), "after", (json_int_t) (it->after),
                                      "total", (json_int_t) (it->total), "surplus", (json_int_t) (it->surplus), "written", it->written,
                                      "status", apply_status_name(it->status));
                json_int_t held = it->held > INT64_MAX ? INT64_MAX : (json_int_t) it->held;
                if (!j || (it->held_known && json_object_set_new(j, "held", json_integer(held)) < 0) ||
                    (it->error[0] && json_object_set_new(j, "error", json_string(it->error)) < 0) ||
                    json_array_append_new(results, j) < 0)
                        return NULL;
        }
        for (size_t i = 0; i < a->n_thp; i++) {
                const struct apply_thp_item *it = &a->thp[i];
                char ptr[96];
                snprintf(ptr, sizeof(ptr), "/transparent_hugepage/%s", thp_knob_name(it->knob));
                json_t *j = json_pack("{s:s, s:s, s:s, s:s, s:s}", "pointer", ptr, "requested", it->requested,
                                      "before", it->before, "after", it->after, "status",
                                      apply_status_name(it->status));
                if (!j || (it->error[0] && json_object_set_new(j, "error", json_string(it->error)) < 0) ||
                    json_array_append_new(thp, j) < 0)
                        return NULL;
        }
        return TAKE_PTR(root);
}
