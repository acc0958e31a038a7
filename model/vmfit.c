/* See vmfit.h. The node is modelled as one "pool state" per kernel size:
 * total pages, pages a new VM can take globally, and per node the pages and
 * free pages. The state now comes straight from struct sizes; the proposed
 * state applies the config's pool targets with the kernel's arithmetic
 * (set_max_huge_pages, KERNEL.md §1). Every VM is then answered against
 * both states by the same function. */
#include "vmfit.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cleanup.h"
#include "config.h"
#include "quantity.h"

struct pool_state {
        const struct size_info *si;
        uint64_t total;       /* nr_hugepages */
        uint64_t free;        /* free_hugepages */
        uint64_t resv;        /* resv_hugepages */
        uint64_t available;   /* free - resv: what a new VM can take */
        uint64_t *node_total; /* per sizes.nodes[] */
        uint64_t *node_free;
        /* Taken by the VMs admitted so far ("all fit together"). */
        uint64_t taken;
        uint64_t *node_taken;
};

struct state {
        struct pool_state *pools; /* one per sizes.sizes[], same order */
        size_t n;
        bool proposed;
};

static uint64_t sub_sat(uint64_t a, uint64_t b)
{
        return a > b ? a - b : 0;
}

static uint64_t min_u64(uint64_t a, uint64_t b)
{
        return a < b ? a : b;
}

static uint64_t max_u64(uint64_t a, uint64_t b)
{
        return a > b ? a : b;
}

static json_int_t jint(uint64_t v)
{
        return v > (uint64_t) INT64_MAX ? INT64_MAX : (json_int_t) v;
}


/* ---- the request ------------------------------------------------------ */

json_t *vmfit_take(json_t *doc)
{
        json_t *vms = json_is_object(doc) ? json_object_get(doc, "vms") : NULL;
        if (!vms)
                return NULL;
        json_incref(vms);
        json_object_del(doc, "vms");
        return vms;
}

/* Adds a finding and turns its result into -EINVAL (or -ENOMEM). */
#define FAIL(errors, ptr, code, ...) (findings_add((errors), (ptr), (code), __VA_ARGS__) ?: -EINVAL)

static int parse_quantity(const json_t *v, const char *ptr, const char *field, const char *example,
                          uint64_t *ret, struct findings *errors)
{
        if (!json_is_string(v))
                return FAIL(errors, ptr, "wrong_type",
                            "\"%s\" must be a quantity string such as \"%s\", found %s", field, example,
                            config_type_name(v));
        const char *text = json_string_value(v);
        if (strlen(text) != json_string_length(v))
                return FAIL(errors, ptr, "invalid_quantity", "\"%s\" holds a NUL byte", field);
        int r = quantity_parse(text, ret);
        if (r == 0)
                return 0;
        const char *why = r == -ERANGE ? "too large"
                          : r == -EDOM ? "not a whole number of bytes"
                                       : "not a quantity";
        return FAIL(errors, ptr, r == -ERANGE ? "too_large" : "invalid_quantity",
                    "\"%.64s\" is %s; write a Kubernetes quantity such as \"%s\"", text, why, example);
}

static int parse_node(const json_t *v, const char *ptr, unsigned *ret, struct findings *errors)
{
        if (json_is_real(v))
                return FAIL(errors, ptr, "not_integer", "\"numa_node\" must be an integer, found %.17g",
                            json_real_value(v));
        if (!json_is_integer(v))
                return FAIL(errors, ptr, "wrong_type", "\"numa_node\" must be an integer, found %s",
                            config_type_name(v));
        json_int_t n = json_integer_value(v);
        if (n < 0)
                return FAIL(errors, ptr, "negative",
                            "a NUMA node number cannot be negative, found %" JSON_INTEGER_FORMAT, n);
        if (n > SIZES_MAX_NODE)
                return FAIL(errors, ptr, "invalid_node",
                            "%" JSON_INTEGER_FORMAT
                            " is not a NUMA node number (Linux numbers them below %d)",
                            n, SIZES_MAX_NODE + 1);
        *ret = (unsigned) n;
        return 0;
}

static int parse_name(const json_t *v, const char *ptr, struct findings *errors)
{
        if (!json_is_string(v))
                return FAIL(errors, ptr, "wrong_type", "\"name\" must be a string, found %s",
                            config_type_name(v));
        const char *s = json_string_value(v);
        size_t n = json_string_length(v);
        if (n == 0 || n > VMFIT_MAX_NAME || strlen(s) != n)
                return FAIL(errors, ptr, "invalid_name", "a VM name must be 1 to %d bytes without NUL",
                            VMFIT_MAX_NAME);
        for (size_t i = 0; i < n; i++)
                if ((unsigned char) s[i] < 0x20 || s[i] == 0x7f)
                        return FAIL(errors, ptr, "invalid_name", "a VM name cannot hold control characters");
        return 0;
}

static void vm_request_release(struct vm_request *vm)
{
        free(vm->name);
        vm->name = NULL;
}

/* Parses one item. The name is checked but not copied: the caller checks
 * it for duplicates first. Returns 0, -EINVAL or -ENOMEM. */
static int parse_vm(const json_t *item, const char *ptr, struct vm_request *ret, struct findings *errors)
{
        if (!json_is_object(item))
                return FAIL(errors, ptr, "wrong_type",
                            "a VM must be an object with \"name\", \"memory\" and \"page_size\", found %s",
                            config_type_name(item));
        struct vm_request vm = { 0 };
        bool bad = false, has_name = false, has_memory = false, has_page_size = false;
        const char *k;
        json_t *v;
        json_object_foreach((json_t *) item, k, v)
        {
                _cleanup_free_ char *mptr = pointer_join(ptr, k);
                if (!mptr)
                        return -ENOMEM;
                int r;
                if (strcmp(k, "name") == 0) {
                        r = parse_name(v, mptr, errors);
                        has_name = true;
                } else if (strcmp(k, "memory") == 0) {
                        r = parse_quantity(v, mptr, "memory", "8Gi", &vm.memory_bytes, errors);
                        has_memory = true;
                } else if (strcmp(k, "page_size") == 0) {
                        r = parse_quantity(v, mptr, "page_size", "2Mi", &vm.page_size_bytes, errors);
                        has_page_size = true;
                } else if (strcmp(k, "numa_node") == 0) {
                        r = parse_node(v, mptr, &vm.node, errors);
                        vm.has_node = r == 0;
                } else
                        r = FAIL(errors, mptr, "unknown_field",
                                 "unknown field \"%.64s\" in a VM (expected \"name\", \"memory\", "
                                 "\"page_size\" or "
                                 "\"numa_node\")",
                                 k);
                if (r == -ENOMEM)
                        return r;
                bad |= r < 0;
        }
        static const char *const required[] = { "name", "memory", "page_size" };
        const bool present[] = { has_name, has_memory, has_page_size };
        for (size_t i = 0; i < ELEMENTSOF(required); i++) {
                if (present[i])
                        continue;
                _cleanup_free_ char *mptr = pointer_join(ptr, required[i]);
                if (!mptr)
                        return -ENOMEM;
                int r = FAIL(errors, mptr, "missing_field", "a VM needs \"%s\"", required[i]);
                if (r == -ENOMEM)
                        return r;
                bad = true;
        }
        if (bad)
                return -EINVAL;
        *ret = vm;
        return 0;
}

int vmfit_parse(const json_t *vms, struct vm_requests *ret, struct findings *errors)
{
        if (!json_is_array(vms))
                return FAIL(errors, "/vms", "wrong_type", "\"vms\" must be an array of VMs, found %s",
                            config_type_name(vms));
        size_t n = json_array_size(vms);
        if (n > VMFIT_MAX_VMS)
                return FAIL(errors, "/vms", "too_many", "at most %d VMs per request, found %zu",
                            VMFIT_MAX_VMS, n);

        struct vm_requests out = { .items = calloc(n ? n : 1, sizeof(struct vm_request)) };
        /* Names seen so far, borrowed from the document, by index. */
        _cleanup_free_ const char **names = calloc(n ? n : 1, sizeof(char *));
        if (!out.items || !names) {
                free(out.items);
                return -ENOMEM;
        }
        int result = 0;
        for (size_t i = 0; i < n; i++) {
                char idx[24];
                snprintf(idx, sizeof(idx), "%zu", i);
                _cleanup_free_ char *ptr = pointer_join("/vms", idx);
                if (!ptr) {
                        result = -ENOMEM;
                        break;
                }
                const json_t *item = json_array_get(vms, i);
                struct vm_request vm;
                int r = parse_vm(item, ptr, &vm, errors);
                const json_t *name = json_is_object(item) ? json_object_get(item, "name") : NULL;
                if (name && json_is_string(name) && json_string_length(name) > 0 &&
                    json_string_length(name) <= VMFIT_MAX_NAME &&
                    strlen(json_string_value(name)) == json_string_length(name)) {
                        const char *s = json_string_value(name);
                        for (size_t j = 0; j < i && r != -ENOMEM; j++)
                                if (names[j] && strcmp(names[j], s) == 0) {
                                        _cleanup_free_ char *nptr = pointer_join(ptr, "name");
                                        r = nptr ? FAIL(errors, nptr, "duplicate_name",
                                                        "the name \"%s\" is already used by /vms/%zu", s, j)
                                                 : -ENOMEM;
                                        break;
                                }
                        if (!names[i] && r != -ENOMEM)
                                names[i] = s;
                }
                if (r == -ENOMEM) {
                        result = r;
                        break;
                }
                if (r < 0) {
                        result = -EINVAL;
                        continue;
                }
                vm.name = strdup(json_string_value(name));
                if (!vm.name) {
                        result = -ENOMEM;
                        break;
                }
                out.items[out.n++] = vm;
        }
        if (result < 0) {
                vm_requests_release(&out);
                return result;
        }
        *ret = out;
        return 0;
}

void vm_requests_release(struct vm_requests *r)
{
        if (!r)
                return;
        for (size_t i = 0; i < r->n; i++)
                vm_request_release(&r->items[i]);
        free(r->items);
        *r = (struct vm_requests){ 0 };
}

/* ---- the node's state, now and proposed ------------------------------- */

static void state_release(struct state *st)
{
        for (size_t i = 0; st->pools && i < st->n; i++) {
                free(st->pools[i].node_total);
                free(st->pools[i].node_free);
                free(st->pools[i].node_taken);
        }
        free(st->pools);
        *st = (struct state){ 0 };
}

static int state_now(const struct sizes *s, struct state *ret)
{
        struct state st = { .pools = calloc(s->n_sizes ? s->n_sizes : 1, sizeof(struct pool_state)),
                            .n = s->n_sizes };
        if (!st.pools)
                return -ENOMEM;
        size_t nn = s->n_nodes ? s->n_nodes : 1;
        for (size_t i = 0; i < s->n_sizes; i++) {
                const struct size_info *si = &s->sizes[i];
                struct pool_state *ps = &st.pools[i];
                ps->si = si;
                ps->node_total = calloc(nn, sizeof(uint64_t));
                ps->node_free = calloc(nn, sizeof(uint64_t));
                ps->node_taken = calloc(nn, sizeof(uint64_t));
                if (!ps->node_total || !ps->node_free || !ps->node_taken) {
                        state_release(&st);
                        return -ENOMEM;
                }
                ps->total = si->nr;
                ps->free = si->free;
                ps->resv = si->resv;
                ps->available = sub_sat(si->free, si->resv);
                for (size_t k = 0; k < s->n_nodes; k++) {
                        ps->node_total[k] = si->nodes[k].nr;
                        ps->node_free[k] = si->nodes[k].free;
                }
        }
        *ret = st;
        return 0;
}

/* Takes `pages` free pages off the nodes the way the kernel's shrink does:
 * one page at a time from the next node that has a free one, round robin,
 * so the nodes lose alike until one runs out. */
static void spread_shrink(const struct sizes *s, struct pool_state *ps, uint64_t pages)
{
        while (pages > 0) {
                size_t cnt = 0;
                uint64_t least = UINT64_MAX;
                for (size_t k = 0; k < s->n_nodes; k++)
                        if (s->nodes[k].has_hugepages && ps->node_free[k] > 0) {
                                cnt++;
                                least = min_u64(least, ps->node_free[k]);
                        }
                if (cnt == 0)
                        return;
                uint64_t step = least <= pages / cnt ? least : pages / cnt;
                uint64_t extra = step == least ? 0 : pages % cnt;
                for (size_t k = 0; k < s->n_nodes; k++) {
                        if (!s->nodes[k].has_hugepages || ps->node_free[k] == 0)
                                continue;
                        uint64_t take = step + (extra > 0 ? 1 : 0);
                        if (extra > 0)
                                extra--;
                        ps->node_free[k] -= take;
                        ps->node_total[k] -= take;
                        pages -= take;
                }
        }
}

/* Adds `pages` new pages over the nodes with memory as the kernel's grow
 * does, round robin; the node it starts at is not known, so the first nodes
 * get the remainder. */
static void spread_grow(const struct sizes *s, struct pool_state *ps, uint64_t pages)
{
        size_t with = 0;
        for (size_t k = 0; k < s->n_nodes; k++)
                with += s->nodes[k].has_hugepages;
        if (with == 0)
                return;
        uint64_t share = pages / with, rest = pages % with;
        for (size_t k = 0; k < s->n_nodes; k++) {
                if (!s->nodes[k].has_hugepages)
                        continue;
                uint64_t add = share + (rest > 0 ? 1 : 0);
                if (rest > 0)
                        rest--;
                ps->node_free[k] += add;
                ps->node_total[k] += add;
        }
}

/* A pool given by "count": one global write of the persistent target. */
static void propose_count(const struct sizes *s, struct pool_state *ps, uint64_t target)
{
        const struct size_info *si = ps->si;
        uint64_t persistent = size_persistent(si);
        uint64_t held = sub_sat(si->nr, si->free) + si->resv;
        if (target >= persistent) {
                /* Surplus pages turn persistent first; only then are new
                 * pages allocated. */
                uint64_t grow = sub_sat(target, si->nr);
                ps->total += grow;
                ps->free += grow;
                spread_grow(s, ps, grow);
        } else {
                uint64_t freed = min_u64(sub_sat(persistent, max_u64(target, held)), si->free);
                ps->total -= freed;
                ps->free -= freed;
                spread_shrink(s, ps, freed);
        }
}

/* A pool given by "nodes": one write per listed node. Shrinks come first
 * (apply.c's order) and share one budget, as each of them is held back by
 * the global min_count = resv + nr - free. */
static void propose_nodes(const struct sizes *s, struct pool_state *ps, const struct pool_cfg *p)
{
        const struct size_info *si = ps->si;
        uint64_t held = sub_sat(si->nr, si->free) + si->resv;
        uint64_t budget = sub_sat(size_persistent(si), held);
        for (size_t j = 0; j < p->n_nodes; j++) {
                int k = sizes_node_index(s, p->nodes[j].node);
                if (k < 0 || !s->nodes[k].has_hugepages)
                        continue; /* validate_config() reports it */
                const struct size_node *sn = &si->nodes[k];
                uint64_t persistent = size_node_persistent(sn), target = p->nodes[j].count;
                if (target >= persistent) {
                        uint64_t grow = sub_sat(target, sn->nr);
                        ps->node_total[k] += grow;
                        ps->node_free[k] += grow;
                        ps->total += grow;
                        ps->free += grow;
                } else {
                        uint64_t freed = min_u64(min_u64(persistent - target, sn->free), budget);
                        budget -= freed;
                        ps->node_total[k] -= freed;
                        ps->node_free[k] -= freed;
                        ps->total -= freed;
                        ps->free -= freed;
                }
        }
}

static int state_proposed(const struct sizes *s, const struct config *c, struct state *ret)
{
        int r = state_now(s, ret);
        if (r < 0 || !c)
                return r;
        ret->proposed = true;
        for (size_t i = 0; i < ret->n; i++) {
                struct pool_state *ps = &ret->pools[i];
                const struct pool_cfg *p = config_find_pool(c, ps->si->size_kb);
                if (!p)
                        continue;
                if (p->has_nodes && p->n_nodes > 0 && s->n_nodes > 0)
                        propose_nodes(s, ps, p);
                else if (p->has_count)
                        propose_count(s, ps, p->count);
                ps->available = sub_sat(ps->free, ps->resv);
        }
        return 0;
}

/* ---- the fit rules ---------------------------------------------------- */

static char *fmt_bytes(uint64_t bytes, char buf[static QUANTITY_MAX])
{
        return quantity_format(bytes, buf);
}

static char *fmt_kb(uint64_t kb, char buf[static QUANTITY_MAX])
{
        if (kb > UINT64_MAX / 1024) {
                snprintf(buf, QUANTITY_MAX, "over 16Ei");
                return buf;
        }
        return quantity_format(kb * 1024, buf);
}

static void list_sizes(const struct sizes *s, char *buf, size_t size)
{
        size_t off = 0;
        snprintf(buf, size, "none");
        for (size_t i = 0; i < s->n_sizes && off < size; i++) {
                char q[QUANTITY_MAX];
                int n = snprintf(buf + off, size - off, "%s%s", i ? ", " : "",
                                 fmt_kb(s->sizes[i].size_kb, q));
                if (n < 0)
                        break;
                off += (size_t) n;
        }
}

static void list_nodes(const struct sizes *s, char *buf, size_t size)
{
        size_t off = 0;
        snprintf(buf, size, "none");
        for (size_t i = 0; i < s->n_nodes && off < size; i++) {
                if (!s->nodes[i].has_hugepages)
                        continue;
                int n = snprintf(buf + off, size - off, "%s%u", off ? ", " : "", s->nodes[i].id);
                if (n < 0)
                        break;
                off += (size_t) n;
        }
}

static int field_reason(struct findings *f, const char *vm_ptr, const char *field, const char *code,
                        const char *fmt, ...) __attribute__((format(printf, 5, 6)));
static int field_reason(struct findings *f, const char *vm_ptr, const char *field, const char *code,
                        const char *fmt, ...)
{
        _cleanup_free_ char *ptr = field ? pointer_join(vm_ptr, field) : strdup(vm_ptr);
        _cleanup_free_ char *msg = NULL;
        va_list ap;
        va_start(ap, fmt);
        int k = vasprintf(&msg, fmt, ap);
        va_end(ap);
        if (!ptr || k < 0)
                return -ENOMEM;
        return findings_add(f, ptr, code, "%s", msg);
}

/* Answers one VM against one state; with `admit`, also takes its pages
 * when it fits in what earlier VMs left. */
static int fit_one(const struct sizes *s, struct state *st, const struct vm_request *vm, const char *vm_ptr,
                   uint64_t pages, struct vm_fit *ret)
{
        char q1[QUANTITY_MAX], q2[QUANTITY_MAX], list[256];
        const char *when = st->proposed ? "under the proposed config, " : "";
        const char *are = st->proposed ? "would be" : "are";
        struct vm_fit fit = { 0 };
        int r = 0;

        struct pool_state *ps = NULL;
        uint64_t size_kb = vm->page_size_bytes % 1024 == 0 ? vm->page_size_bytes / 1024 : 0;
        for (size_t i = 0; size_kb && i < st->n; i++)
                if (st->pools[i].si->size_kb == size_kb)
                        ps = &st->pools[i];
        if (!ps) {
                list_sizes(s, list, sizeof(list));
                r = field_reason(&fit.reasons, vm_ptr, "page_size", "unsupported_size",
                                 "this kernel has no %s hugepages (sizes offered: %s)",
                                 fmt_bytes(vm->page_size_bytes, q1), list);
                if (r < 0)
                        goto fail;
        }
        if (vm->memory_bytes < vm->page_size_bytes || vm->memory_bytes == 0)
                r = field_reason(
                        &fit.reasons, vm_ptr, "memory", "memory_below_page_size",
                        "%s is less than one %s page; KubeVirt refuses a VM smaller than its page size",
                        fmt_bytes(vm->memory_bytes, q1), fmt_bytes(vm->page_size_bytes, q2));
        else if (vm->memory_bytes % vm->page_size_bytes != 0) {
                char lo[QUANTITY_MAX], hi[QUANTITY_MAX];
                uint64_t below = vm->memory_bytes - vm->memory_bytes % vm->page_size_bytes;
                r = field_reason(
                        &fit.reasons, vm_ptr, "memory", "not_page_multiple",
                        "%s is not a multiple of the %s page size, which KubeVirt refuses (%s or %s would "
                        "be)",
                        fmt_bytes(vm->memory_bytes, q1), fmt_bytes(vm->page_size_bytes, q2),
                        fmt_bytes(below, lo),
                        below > UINT64_MAX - vm->page_size_bytes
                                ? "none larger"
                                : fmt_bytes(below + vm->page_size_bytes, hi));
        }
        if (r < 0)
                goto fail;

        int k = -1;
        if (vm->has_node) {
                k = sizes_node_index(s, vm->node);
                list_nodes(s, list, sizeof(list));
                if (s->n_nodes == 0)
                        r = field_reason(&fit.reasons, vm_ptr, "numa_node", "unknown_node",
                                         "this kernel shows no NUMA nodes; leave \"numa_node\" out");
                else if (k < 0)
                        r = field_reason(&fit.reasons, vm_ptr, "numa_node", "unknown_node",
                                         "NUMA node %u does not exist on this machine (nodes: %s)", vm->node,
                                         list);
                else if (!s->nodes[k].has_hugepages)
                        r = field_reason(&fit.reasons, vm_ptr, "numa_node", "unknown_node",
                                         "NUMA node %u has no memory for hugepages (nodes with memory: %s)",
                                         vm->node, list);
                if (r < 0)
                        goto fail;
                if (s->n_nodes == 0 || k < 0 || !s->nodes[k].has_hugepages)
                        k = -2;
        }

        if (ps && k != -2) {
                uint64_t total = k >= 0 ? ps->node_total[k] : ps->total;
                fit.available_pages = k >= 0 ? min_u64(ps->node_free[k], ps->available) : ps->available;
                char where[48] = "";
                if (k >= 0)
                        snprintf(where, sizeof(where), " on NUMA node %u", vm->node);
                fmt_kb(ps->si->size_kb, q1);
                if (total == 0)
                        r = field_reason(&fit.reasons, vm_ptr, "page_size", "not_allocated",
                                         "%sno %s pages %s allocated%s", when, q1, are, where);
                else if (pages > fit.available_pages) {
                        fit.missing_pages = pages - fit.available_pages;
                        char detail[160] = "";
                        if (k >= 0 && ps->node_free[k] > ps->available)
                                snprintf(detail, sizeof(detail),
                                         " (node %u has %" PRIu64 " free but the pool has only %" PRIu64
                                         " after %" PRIu64 " reserved)",
                                         vm->node, ps->node_free[k], ps->available, ps->resv);
                        else if (k < 0 && ps->resv > 0)
                                snprintf(detail, sizeof(detail),
                                         " (%" PRIu64 " free, %" PRIu64 " of them reserved)", ps->free,
                                         ps->resv);
                        r = field_reason(&fit.reasons, vm_ptr, NULL, "insufficient_pages",
                                         "%sit needs %" PRIu64 " %s pages%s but %" PRIu64
                                         " %s free%s%s: %" PRIu64 " missing",
                                         when, pages, q1, where, fit.available_pages, are,
                                         k >= 0 ? " there" : "", detail, fit.missing_pages);
                }
                if (r < 0)
                        goto fail;
        }
        fit.fits = fit.reasons.n == 0;

        if (fit.fits) {
                uint64_t left = sub_sat(ps->available, ps->taken);
                if (k >= 0)
                        left = min_u64(left, sub_sat(ps->node_free[k], ps->node_taken[k]));
                if (pages <= left) {
                        fit.fits_together = true;
                        ps->taken += pages;
                        if (k >= 0)
                                ps->node_taken[k] += pages;
                } else {
                        char where[48] = "";
                        if (k >= 0)
                                snprintf(where, sizeof(where), " on NUMA node %u", vm->node);
                        r = field_reason(&fit.reasons, vm_ptr, NULL, "insufficient_together",
                                         "%sit fits alone, but the VMs listed before it take %" PRIu64
                                         " of the %" PRIu64 " %s pages%s; %" PRIu64 " missing",
                                         when, fit.available_pages - left, fit.available_pages,
                                         fmt_kb(ps->si->size_kb, q1), where, pages - left);
                        if (r < 0)
                                goto fail;
                }
        }
        *ret = fit;
        return 0;
fail:
        findings_release(&fit.reasons);
        return r;
}

int vmfit_check(const struct vm_requests *vms, const struct sizes *s, const struct config *proposed,
                struct vmfit *ret)
{
        struct state now = { 0 }, prop = { 0 };
        struct vmfit f = { .items = calloc(vms->n ? vms->n : 1, sizeof(struct vm_verdict)),
                           .all_fit_now = true,
                           .all_fit_proposed = true };
        int r = f.items ? 0 : -ENOMEM;
        if (r == 0)
                r = state_now(s, &now);
        if (r == 0)
                r = state_proposed(s, proposed, &prop);
        for (size_t i = 0; r == 0 && i < vms->n; i++) {
                const struct vm_request *vm = &vms->items[i];
                struct vm_verdict *v = &f.items[i];
                char idx[24];
                snprintf(idx, sizeof(idx), "%zu", i);
                _cleanup_free_ char *ptr = pointer_join("/vms", idx);
                if (!ptr) {
                        r = -ENOMEM;
                        break;
                }
                v->pages = vm->page_size_bytes == 0 ? 0
                                                    : vm->memory_bytes / vm->page_size_bytes +
                                                              (vm->memory_bytes % vm->page_size_bytes != 0);
                r = fit_one(s, &now, vm, ptr, v->pages, &v->now);
                if (r == 0)
                        r = fit_one(s, &prop, vm, ptr, v->pages, &v->proposed);
                f.n = i + 1;
                f.all_fit_now &= v->now.fits_together;
                f.all_fit_proposed &= v->proposed.fits_together;
        }
        state_release(&now);
        state_release(&prop);
        if (r < 0) {
                vmfit_release(&f);
                return r;
        }
        *ret = f;
        return 0;
}

void vmfit_release(struct vmfit *f)
{
        if (!f)
                return;
        for (size_t i = 0; f->items && i < f->n; i++) {
                findings_release(&f->items[i].now.reasons);
                findings_release(&f->items[i].proposed.reasons);
        }
        free(f->items);
        *f = (struct vmfit){ 0 };
}

/* ---- JSON ------------------------------------------------------------- */

static json_t *reasons_json(const struct findings *f)
{
        json_t *a = json_array();
        for (size_t i = 0; a && i < f->n; i++) {
                json_t *o = json_pack("{s:s, s:s, s:s}", "pointer", f->items[i].pointer, "code",
                                      f->items[i].code, "message", f->items[i].message);
                if (!o || json_array_append_new(a, o) < 0) {
                        json_decref(a);
                        return NULL;
                }
        }
        return a;
}

static json_t *fit_json(const struct vm_fit *fit)
{
        return json_pack("{s:b, s:b, s:I, s:I, s:o}", "fits", fit->fits, "fits_together", fit->fits_together,
                         "available_pages", jint(fit->available_pages), "missing_pages",
                         jint(fit->missing_pages), "reasons", reasons_json(&fit->reasons));
}

json_t *vmfit_to_json(const struct vm_requests *vms, const struct vmfit *f)
{
        _cleanup_json_ json_t *list = json_array();
        if (!list)
                return NULL;
        for (size_t i = 0; i < f->n && i < vms->n; i++) {
                const struct vm_request *vm = &vms->items[i];
                const struct vm_verdict *v = &f->items[i];
                char q1[QUANTITY_MAX], q2[QUANTITY_MAX];
                json_t *o = json_pack("{s:s, s:s, s:I, s:s, s:I, s:I, s:o, s:o}", "name", vm->name, "memory",
                                      fmt_bytes(vm->memory_bytes, q1), "memory_bytes", jint(vm->memory_bytes),
                                      "page_size", fmt_bytes(vm->page_size_bytes, q2), "page_size_bytes",
                                      jint(vm->page_size_bytes), "pages", jint(v->pages), "now",
                                      fit_json(&v->now), "proposed", fit_json(&v->proposed));
                if (!o || json_array_append_new(list, o) < 0)
                        return NULL;
                if (vm->has_node && json_object_set_new(o, "numa_node", json_integer(vm->node)) < 0)
                        return NULL;
        }
        return json_pack("{s:b, s:b, s:s, s:O}", "all_fit_now", f->all_fit_now, "all_fit_proposed",
                         f->all_fit_proposed, "placement", "listed_order", "vms", list);
}

/* ---- capacity --------------------------------------------------------- */

struct vm_capacity vmfit_capacity(const struct sizes *s, const struct size_info *si, int node_index)
{
        struct vm_capacity c = { .available_pages = sub_sat(si->free, si->resv) };
        if (node_index >= 0 && (size_t) node_index < s->n_nodes)
                c.available_pages = s->nodes[node_index].has_hugepages
                                            ? min_u64(c.available_pages, si->nodes[node_index].free)
                                            : 0;
        uint64_t kb;
        if (__builtin_mul_overflow(c.available_pages, si->size_kb, &kb) ||
            __builtin_mul_overflow(kb, 1024, &c.max_vm_bytes))
                c.max_vm_bytes = UINT64_MAX;
        return c;
}

json_t *vmfit_capacity_to_json(const struct sizes *s, const struct size_info *si, int node_index)
{
        struct vm_capacity c = vmfit_capacity(s, si, node_index);
        char q[QUANTITY_MAX];
        return json_pack("{s:I, s:I, s:s}", "available_pages", jint(c.available_pages), "max_vm_bytes",
                         jint(c.max_vm_bytes), "max_vm_memory", quantity_format(c.max_vm_bytes, q));
}
