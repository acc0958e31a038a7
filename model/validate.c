/* See validate.h.
 *
 * The memory projection follows the kernel's own arithmetic. For each size,
 * the pool after applying holds its target persistent pages, but never fewer
 * than the pages the kernel cannot free (in use or reserved: shrinking below
 * them leaves surplus, KERNEL.md §1). Pools the config does not name keep
 * what they hold now. Per node, explicit node counts are exact; a pool given
 * by "count" is spread evenly for the report, as the kernel interleaves a
 * global write over the nodes with memory, but only explicit node counts can
 * make a node-level error. */
#include "validate.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cleanup.h"
#include "floor.h"
#include "quantity.h"

static uint64_t mul_sat(uint64_t a, uint64_t b)
{
        uint64_t r;
        return __builtin_mul_overflow(a, b, &r) ? UINT64_MAX : r;
}

static uint64_t add_sat(uint64_t a, uint64_t b)
{
        uint64_t r;
        return __builtin_add_overflow(a, b, &r) ? UINT64_MAX : r;
}

static uint64_t max_u64(uint64_t a, uint64_t b)
{
        return a > b ? a : b;
}

uint64_t validate_reserve_kb(const struct validate_opts *o, uint64_t total_kb)
{
        return max_u64(o->reserve_kb, total_kb / 100 * o->reserve_percent);
}

uint64_t validate_max_pages(const struct validate_opts *o, uint64_t total_kb, uint64_t size_kb)
{
        uint64_t reserve = validate_reserve_kb(o, total_kb);
        return total_kb > reserve && size_kb ? (total_kb - reserve) / size_kb : 0;
}

uint64_t validate_pages_held(const struct size_info *si)
{
        uint64_t used = si->nr > si->free ? si->nr - si->free : 0;
        return add_sat(used, si->resv);
}

static char *fmt_kb(uint64_t kb, char buf[static QUANTITY_MAX])
{
        if (kb > UINT64_MAX / 1024) {
                snprintf(buf, QUANTITY_MAX, "over 16Ei");
                return buf;
        }
        return quantity_format(kb * 1024, buf);
}

/* "/pools/<key>/nodes/<node>", newly allocated. */
static char *node_pointer(const char *pool_key, unsigned node)
{
        char key[16];
        snprintf(key, sizeof(key), "%u", node);
        _cleanup_free_ char *pool = pointer_join("/pools", pool_key);
        _cleanup_free_ char *nodes = pool ? pointer_join(pool, "nodes") : NULL;
        return nodes ? pointer_join(nodes, key) : NULL;
}

/* "2Mi, 1Gi" */
static void list_sizes(const struct sizes *s, char *buf, size_t size)
{
        size_t off = 0;
        buf[0] = '\0';
        for (size_t i = 0; i < s->n_sizes && off < size; i++) {
                char q[QUANTITY_MAX];
                int n = snprintf(buf + off, size - off, "%s%s", i ? ", " : "", fmt_kb(s->sizes[i].size_kb, q));
                if (n < 0)
                        break;
                off += (size_t) n;
        }
        if (s->n_sizes == 0)
                snprintf(buf, size, "none");
}

static void list_nodes(const struct sizes *s, char *buf, size_t size)
{
        size_t off = 0;
        buf[0] = '\0';
        for (size_t i = 0; i < s->n_nodes && off < size; i++) {
                if (!s->nodes[i].has_hugepages)
                        continue;
                int n = snprintf(buf + off, size - off, "%s%u", off ? ", " : "", s->nodes[i].id);
                if (n < 0)
                        break;
                off += (size_t) n;
        }
        if (off == 0)
                snprintf(buf, size, "none");
}

/* The plan for one kernel size: target persistent pages globally and per
 * node, and the same figures as they are now. */
struct size_plan {
        const struct size_info *si;
        const struct pool_cfg *pool; /* NULL: not managed */
        uint64_t target;             /* persistent pages after applying */
        uint64_t *node_target;       /* per sizes.nodes[] */
        bool *node_explicit;         /* the config names this node */
};

static void plan_size(const struct sizes *s, const struct size_info *si, const struct pool_cfg *p,
                      struct size_plan *plan)
{
        plan->si = si;
        plan->pool = p;
        if (p && p->has_nodes) {
                plan->target = 0;
                for (size_t k = 0; k < s->n_nodes; k++) {
                        plan->node_target[k] = size_node_persistent(&si->nodes[k]);
                        for (size_t j = 0; j < p->n_nodes; j++)
                                if (p->nodes[j].node == s->nodes[k].id) {
                                        plan->node_target[k] = p->nodes[j].count;
                                        plan->node_explicit[k] = true;
                                }
                        plan->target = add_sat(plan->target, plan->node_target[k]);
                }
        } else if (p && p->has_count) {
                plan->target = p->count;
                size_t with = 0;
                for (size_t k = 0; k < s->n_nodes; k++)
                        with += s->nodes[k].has_hugepages;
                uint64_t share = with ? p->count / with : 0, rest = with ? p->count % with : 0;
                for (size_t k = 0; k < s->n_nodes; k++) {
                        if (!s->nodes[k].has_hugepages)
                                continue;
                        plan->node_target[k] = share + (rest ? 1 : 0);
                        if (rest)
                                rest--;
                }
        } else {
                plan->target = size_persistent(si);
                for (size_t k = 0; k < s->n_nodes; k++)
                        plan->node_target[k] = size_node_persistent(&si->nodes[k]);
        }
}

static int check_pool_form(const struct config *c, const struct sizes *s, struct validation *v)
{
        char list[256], q[QUANTITY_MAX];
        int r;
        for (size_t i = 0; i < c->n_pools; i++) {
                const struct pool_cfg *p = &c->pools[i];
                _cleanup_free_ char *ptr = pointer_join("/pools", p->key);
                if (!ptr)
                        return -ENOMEM;
                const struct size_info *si = p->size_kb ? sizes_find(s, p->size_kb) : NULL;
                if (!si) {
                        list_sizes(s, list, sizeof(list));
                        r = findings_add(&v->errors, ptr, "unsupported_size",
                                         "this kernel has no %s hugepages (sizes offered: %s)",
                                         quantity_format(p->size_bytes, q), list);
                        if (r < 0)
                                return r;
                        continue;
                }
                _cleanup_free_ char *nodes_ptr = pointer_join(ptr, "nodes");
                if (!nodes_ptr)
                        return -ENOMEM;
                for (size_t j = 0; j < p->n_nodes; j++) {
                        int idx = sizes_node_index(s, p->nodes[j].node);
                        bool known = idx >= 0 && s->nodes[idx].has_hugepages;
                        bool huge = mul_sat(p->nodes[j].count, p->size_kb) == UINT64_MAX;
                        if (known && !huge)
                                continue;
                        _cleanup_free_ char *nptr = node_pointer(p->key, p->nodes[j].node);
                        if (!nptr)
                                return -ENOMEM;
                        list_nodes(s, list, sizeof(list));
                        if (huge)
                                r = findings_add(&v->errors, nptr, "too_large",
                                                 "%" PRIu64 " pages of %s is more memory than any machine has",
                                                 p->nodes[j].count, quantity_format(p->size_bytes, q));
                        else if (s->n_nodes == 0)
                                r = findings_add(&v->errors, nptr, "unknown_node",
                                                 "this kernel shows no NUMA nodes; give the pool as \"count\"");
                        else if (idx >= 0)
                                r = findings_add(&v->errors, nptr, "unknown_node",
                                                 "NUMA node %u has no memory for hugepages (nodes with memory: %s)",
                                                 p->nodes[j].node, list);
                        else
                                r = findings_add(&v->errors, nptr, "unknown_node",
                                                 "NUMA node %u does not exist on this machine (nodes: %s)",
                                                 p->nodes[j].node, list);
                        if (r < 0)
                                return r;
                }
                if (p->has_count && p->has_nodes) {
                        uint64_t sum = 0;
                        for (size_t j = 0; j < p->n_nodes; j++)
                                sum = add_sat(sum, p->nodes[j].count);
                        size_t listed_known = 0, with = 0;
                        for (size_t k = 0; k < s->n_nodes; k++) {
                                if (!s->nodes[k].has_hugepages)
                                        continue;
                                with++;
                                for (size_t j = 0; j < p->n_nodes; j++)
                                        listed_known += p->nodes[j].node == s->nodes[k].id;
                        }
                        if (listed_known != with) {
                                list_nodes(s, list, sizeof(list));
                                r = findings_add(&v->errors, nodes_ptr, "nodes_incomplete",
                                                 "with both \"count\" and \"nodes\", every node must be listed (nodes: %s)",
                                                 list);
                                if (r < 0)
                                        return r;
                        }
                        if (sum != p->count) {
                                _cleanup_free_ char *cptr = pointer_join(ptr, "count");
                                if (!cptr)
                                        return -ENOMEM;
                                r = findings_add(&v->errors, cptr, "count_mismatch",
                                                 "\"count\" is %" PRIu64 " but the nodes add up to %" PRIu64, p->count,
                                                 sum);
                                if (r < 0)
                                        return r;
                        }
                }
                if (p->has_count && mul_sat(p->count, p->size_kb) == UINT64_MAX) {
                        _cleanup_free_ char *cptr = pointer_join(ptr, "count");
                        if (!cptr)
                                return -ENOMEM;
                        r = findings_add(&v->errors, cptr, "too_large",
                                         "%" PRIu64 " pages of %s is more memory than any machine has", p->count,
                                         quantity_format(p->size_bytes, q));
                        if (r < 0)
                                return r;
                }
        }
        return 0;
}

static int check_memory(const struct config *c, const struct sizes *s, const struct validate_opts *o,
                        struct validation *v)
{
        char q1[QUANTITY_MAX], q2[QUANTITY_MAX], q3[QUANTITY_MAX], q4[QUANTITY_MAX];
        int r;

        v->total_kb = s->mem_total_kb;
        v->reserve_kb = validate_reserve_kb(o, s->mem_total_kb);
        v->n_nodes = s->n_nodes;
        v->nodes = calloc(s->n_nodes ? s->n_nodes : 1, sizeof(struct node_memory));
        uint64_t *explicit_kb = calloc(s->n_nodes ? s->n_nodes : 1, sizeof(uint64_t));
        uint64_t *current_kb = calloc(s->n_nodes ? s->n_nodes : 1, sizeof(uint64_t));
        uint64_t *node_target = calloc(s->n_nodes ? s->n_nodes : 1, sizeof(uint64_t));
        bool *node_explicit = calloc(s->n_nodes ? s->n_nodes : 1, sizeof(bool));
        /* Per node, the explicit entry that takes the most there: the place
         * a node-level finding points at. */
        char **blame = calloc(s->n_nodes ? s->n_nodes : 1, sizeof(char *));
        uint64_t *blame_kb = calloc(s->n_nodes ? s->n_nodes : 1, sizeof(uint64_t));
        if (!v->nodes || !explicit_kb || !current_kb || !node_target || !node_explicit || !blame || !blame_kb) {
                r = -ENOMEM;
                goto out;
        }
        for (size_t k = 0; k < s->n_nodes; k++) {
                v->nodes[k].node = s->nodes[k].id;
                v->nodes[k].total_kb = s->nodes[k].mem_total_kb;
        }

        for (size_t i = 0; i < s->n_sizes; i++) {
                const struct size_info *si = &s->sizes[i];
                struct size_plan plan = { .node_target = node_target, .node_explicit = node_explicit };
                memset(node_target, 0, sizeof(uint64_t) * (s->n_nodes ? s->n_nodes : 1));
                memset(node_explicit, 0, sizeof(bool) * (s->n_nodes ? s->n_nodes : 1));
                plan_size(s, si, config_find_pool(c, si->size_kb), &plan);

                uint64_t held = validate_pages_held(si);
                v->hugepages_kb = add_sat(v->hugepages_kb, mul_sat(max_u64(plan.target, held), si->size_kb));
                v->current_hugepages_kb = add_sat(v->current_hugepages_kb, mul_sat(si->nr, si->size_kb));
                for (size_t k = 0; k < s->n_nodes; k++) {
                        const struct size_node *sn = &si->nodes[k];
                        uint64_t node_held = sn->nr > sn->free ? sn->nr - sn->free : 0;
                        uint64_t projected = mul_sat(max_u64(node_target[k], node_held), si->size_kb);
                        v->nodes[k].hugepages_kb = add_sat(v->nodes[k].hugepages_kb, projected);
                        current_kb[k] = add_sat(current_kb[k], mul_sat(sn->nr, si->size_kb));
                        /* Pools given by count cannot be pinned to a node;
                         * count what each node holds now. */
                        explicit_kb[k] = add_sat(explicit_kb[k],
                                                 node_explicit[k] ? projected : mul_sat(sn->nr, si->size_kb));
                        if (node_explicit[k] && projected >= blame_kb[k]) {
                                char *b = node_pointer(plan.pool->key, s->nodes[k].id);
                                if (!b) {
                                        r = -ENOMEM;
                                        goto out;
                                }
                                free(blame[k]);
                                blame[k] = b;
                                blame_kb[k] = projected;
                        }
                }

                const struct pool_cfg *p = plan.pool;
                if (!p)
                        continue;
                _cleanup_free_ char *ptr = pointer_join("/pools", p->key);
                if (!ptr) {
                        r = -ENOMEM;
                        goto out;
                }
                uint64_t now = size_persistent(si);
                bool grows = plan.target > now;
                for (size_t k = 0; k < s->n_nodes; k++)
                        grows |= node_explicit[k] && node_target[k] > size_node_persistent(&si->nodes[k]);
                if (grows && size_is_gigantic(s, si->size_kb)) {
                        r = findings_add(&v->warnings, ptr, "gigantic_runtime",
                                         "%s pages are gigantic: growing the pool at run time needs contiguous free "
                                         "memory and may come back short; the boot command line is the reliable path",
                                         fmt_kb(si->size_kb, q1));
                        if (r < 0)
                                goto out;
                }
                /* With the error on, floor.c's inuse_check() says it,
                 * with the holders. */
                if (plan.target < held && !o->shrink_in_use_is_error) {
                        r = findings_add(&v->warnings, ptr, "shrink_in_use",
                                         "%" PRIu64 " %s pages are in use or reserved; shrinking to %" PRIu64
                                         " leaves them as surplus until their users release them",
                                         held, fmt_kb(si->size_kb, q1), plan.target);
                        if (r < 0)
                                goto out;
                }
                if (si->overcommit > 0) {
                        r = findings_add(&v->warnings, ptr, "overcommit_present",
                                         "nr_overcommit_hugepages is %" PRIu64 " for %s: up to that many surplus pages "
                                         "may appear beyond the configured pool",
                                         si->overcommit, fmt_kb(si->size_kb, q1));
                        if (r < 0)
                                goto out;
                }
        }

        bool grows_total = v->hugepages_kb > v->current_hugepages_kb;
        if (v->hugepages_kb > v->total_kb) {
                r = findings_add(grows_total ? &v->errors : &v->warnings, "/pools", "exceeds_memory",
                                 "the pools would take %s but the machine has %s", fmt_kb(v->hugepages_kb, q1),
                                 fmt_kb(v->total_kb, q2));
        } else if (v->total_kb - v->hugepages_kb < v->reserve_kb) {
                r = findings_add(grows_total ? &v->errors : &v->warnings, "/pools", "host_reserve",
                                 "the pools would take %s of %s, leaving %s for the host; at least %s must stay "
                                 "(--host-reserve)",
                                 fmt_kb(v->hugepages_kb, q1), fmt_kb(v->total_kb, q2),
                                 fmt_kb(v->total_kb - v->hugepages_kb, q3), fmt_kb(v->reserve_kb, q4));
        } else
                r = 0;
        if (r < 0)
                goto out;

        /* Per node, pages pinned there by "nodes" must leave the node its
         * share of the host reserve: plenty of memory on one node does not
         * help processes bound to another that was drained. The share is
         * the node's part of the memory all nodes report. */
        uint64_t nodes_total_kb = 0;
        for (size_t k = 0; k < s->n_nodes; k++)
                nodes_total_kb = add_sat(nodes_total_kb, s->nodes[k].mem_total_kb);
        for (size_t k = 0; k < s->n_nodes; k++) {
                uint64_t total = s->nodes[k].mem_total_kb;
                uint64_t share = nodes_total_kb
                                         ? (uint64_t) ((unsigned __int128) v->reserve_kb * total / nodes_total_kb)
                                         : 0;
                bool grows = explicit_kb[k] > current_kb[k];
                const char *ptr = blame[k] ? blame[k] : "/pools";
                if (explicit_kb[k] > total)
                        r = findings_add(grows ? &v->errors : &v->warnings, ptr, "exceeds_node_memory",
                                         "the pools would take %s on NUMA node %u, which has %s",
                                         fmt_kb(explicit_kb[k], q1), s->nodes[k].id, fmt_kb(total, q2));
                else if (total - explicit_kb[k] < share && blame[k])
                        r = findings_add(grows ? &v->errors : &v->warnings, ptr, "host_reserve",
                                         "the pools would take %s of NUMA node %u's %s, leaving %s there; at least "
                                         "%s (its share of --host-reserve) must stay",
                                         fmt_kb(explicit_kb[k], q1), s->nodes[k].id, fmt_kb(total, q2),
                                         fmt_kb(total - explicit_kb[k], q3), fmt_kb(share, q4));
                else
                        r = 0;
                if (r < 0)
                        goto out;
        }
        r = 0;
out:
        if (blame)
                for (size_t k = 0; k < s->n_nodes; k++)
                        free(blame[k]);
        free(blame);
        free(blame_kb);
        free(explicit_kb);
        free(current_kb);
        free(node_target);
        free(node_explicit);
        return r;
}

static int check_thp(const struct config *c, const struct thp *t, struct validation *v)
{
        for (int k = 0; k < _THP_KNOB_MAX; k++) {
                if (!c->thp[k])
                        continue;
                const char *name = thp_knob_name((enum thp_knob) k);
                _cleanup_free_ char *ptr = pointer_join("/transparent_hugepage", name);
                if (!ptr)
                        return -ENOMEM;
                const struct thp_setting *st = &t->knobs[k];
                int r = 0;
                if (!st->present)
                        r = findings_add(&v->errors, ptr, "thp_unsupported",
                                         "this kernel has no transparent_hugepage/%s file", name);
                else if (!thp_offers(st, c->thp[k])) {
                        char list[THP_MAX_CHOICES * (THP_MAX_WORD + 2)] = "";
                        for (size_t i = 0; i < st->n_choices; i++) {
                                if (i)
                                        strcat(list, ", ");
                                strcat(list, st->choices[i]);
                        }
                        r = findings_add(&v->errors, ptr, "thp_value",
                                         "\"%s\" is not offered by this kernel for %s (choices: %s)", c->thp[k], name,
                                         list);
                }
                if (r < 0)
                        return r;
        }
        return 0;
}

static int check_default_size(const struct config *c, const struct sizes *s, struct validation *v)
{
        char q1[QUANTITY_MAX], q2[QUANTITY_MAX], list[256];
        if (!c->has_default_size)
                return 0;
        if (!c->default_size_kb || !sizes_find(s, c->default_size_kb)) {
                list_sizes(s, list, sizeof(list));
                return findings_add(&v->errors, "/default_size", "unsupported_size",
                                    "this kernel has no %s hugepages (sizes offered: %s)",
                                    quantity_format(c->default_size_bytes, q1), list);
        }
        if (c->default_size_kb == s->default_size_kb)
                return 0;
        int r = findings_add(&v->reboot_required, "/default_size", "default_size_change",
                             "the default size changes from %s to %s only at the next boot (default_hugepagesz=)",
                             fmt_kb(s->default_size_kb, q1), fmt_kb(c->default_size_kb, q2));
        if (r < 0)
                return r;
        return findings_add(&v->warnings, "/default_size", "default_size_change",
                            "the running kernel keeps %s as its default size until it is rebooted with "
                            "default_hugepagesz=%s",
                            fmt_kb(s->default_size_kb, q1), fmt_kb(c->default_size_kb, q2));
}

int validate_config(const struct config *c, const struct sizes *s, const struct thp *t,
                    const struct validate_opts *o, struct validation *ret)
{
        struct validation v = { 0 };
        int r;

        r = check_pool_form(c, s, &v);
        if (r >= 0)
                r = check_memory(c, s, o, &v);
        if (r >= 0)
                r = floor_check(o->floors, c, s, &v.errors);
        if (r >= 0 && o->shrink_in_use_is_error)
                r = o->fs ? inuse_check_fs(o->fs, c, s, &v.errors) : inuse_check(c, s, NULL, &v.errors);
        if (r >= 0)
                r = check_thp(c, t, &v);
        if (r >= 0)
                r = check_default_size(c, s, &v);
        if (r >= 0 && c->n_pools == 0 && !c->has_default_size) {
                bool any = false;
                for (int k = 0; k < _THP_KNOB_MAX; k++)
                        any |= c->thp[k] != NULL;
                if (!any)
                        r = findings_add(&v.warnings, "", "empty_config",
                                         "the config manages nothing: no pool, default size or THP setting");
        }
        if (r < 0) {
                validation_release(&v);
                return r;
        }
        *ret = v;
        return 0;
}

void validation_release(struct validation *v)
{
        if (!v)
                return;
        findings_release(&v->errors);
        findings_release(&v->warnings);
        findings_release(&v->reboot_required);
        free(v->nodes);
        *v = (struct validation) { 0 };
}
