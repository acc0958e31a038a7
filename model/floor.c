/* See floor.h. */
#include "floor.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cleanup.h"
#include "quantity.h"
#include "validate.h"

#define LINE_MAX_BYTES 255
/* Holders named in one message; the rest are counted. */
#define NAMED_HOLDERS 5

static uint64_t sub_sat(uint64_t a, uint64_t b)
{
        return a > b ? a - b : 0;
}

static uint64_t add_sat(uint64_t a, uint64_t b)
{
        uint64_t r;
        return __builtin_add_overflow(a, b, &r) ? UINT64_MAX : r;
}

static char *fmt_kb(uint64_t kb, char buf[static QUANTITY_MAX])
{
        if (kb > UINT64_MAX / 1024) {
                snprintf(buf, QUANTITY_MAX, "over 16Ei");
                return buf;
        }
        return quantity_format(kb * 1024, buf);
}

/* ---- the floor file --------------------------------------------------- */

static bool is_blank(char c)
{
        return c == ' ' || c == '\t';
}

static bool owner_ok(const char *s, size_t n)
{
        if (n == 0 || n > FLOORS_OWNER_MAX)
                return false;
        for (size_t i = 0; i < n; i++) {
                char c = s[i];
                if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                      c == '.' || c == '_' || c == '-'))
                        return false;
        }
        return true;
}

static bool parse_pages(const char *s, size_t n, uint64_t *ret)
{
        uint64_t v = 0;
        if (n == 0 || n > 20)
                return false;
        for (size_t i = 0; i < n; i++)
                if (s[i] < '0' || s[i] > '9' || __builtin_mul_overflow(v, 10, &v) ||
                    __builtin_add_overflow(v, (uint64_t) (s[i] - '0'), &v))
                        return false;
        *ret = v;
        return true;
}

/* Parses one line (without its newline) into *ret; 1 for a floor, 0 for a
 * blank or comment line, -EINVAL with err. */
static int parse_line(const char *line, size_t len, const char *source, unsigned no, struct floor *ret,
                      struct errbuf *err)
{
        const char *field[3];
        size_t flen[3], n = 0;
        for (size_t i = 0; i < len;) {
                while (i < len && is_blank(line[i]))
                        i++;
                if (i == len || line[i] == '#')
                        break;
                size_t start = i;
                while (i < len && !is_blank(line[i]))
                        i++;
                if (n == ELEMENTSOF(field))
                        return errbuf_set(
                                err, -EINVAL,
                                "%s:%u: too many fields (expected SIZE PAGES OWNER; an owner has no blanks)",
                                source, no);
                field[n] = line + start;
                flen[n++] = i - start;
        }
        if (n == 0)
                return 0;
        if (n != 3)
                return errbuf_set(err, -EINVAL,
                                  "%s:%u: expected SIZE PAGES OWNER, e.g. \"2Mi 1024 longhorn-v2\"", source,
                                  no);
        for (size_t i = 0; i < len; i++)
                if ((unsigned char) line[i] < 0x20 && !is_blank(line[i]))
                        return errbuf_set(err, -EINVAL, "%s:%u: control character in the line", source, no);

        char size[LINE_MAX_BYTES + 1];
        snprintf(size, sizeof(size), "%.*s", (int) flen[0], field[0]);
        uint64_t bytes;
        int r = quantity_parse(size, &bytes);
        if (r < 0)
                return errbuf_set(err, -EINVAL,
                                  "%s:%u: \"%s\" is not a size (write a quantity such as 2Mi or 1Gi)", source,
                                  no, size);
        if (bytes == 0 || bytes % 1024 != 0)
                return errbuf_set(err, -EINVAL,
                                  "%s:%u: \"%s\" is not a hugepage size (not a whole number of kB)", source,
                                  no, size);
        struct floor f = { .size_kb = bytes / 1024, .line = no };
        if (!parse_pages(field[1], flen[1], &f.pages))
                return errbuf_set(err, -EINVAL, "%s:%u: \"%.*s\" is not a page count", source, no,
                                  (int) flen[1], field[1]);
        if (!owner_ok(field[2], flen[2]))
                return errbuf_set(
                        err, -EINVAL,
                        "%s:%u: \"%.*s\" is not an owner name (1 to %d of letters, digits, '.', '_', '-')",
                        source, no, (int) flen[2], field[2], FLOORS_OWNER_MAX);
        memcpy(f.owner, field[2], flen[2]);
        f.owner[flen[2]] = '\0';
        *ret = f;
        return 1;
}

int floors_parse(const char *text, size_t len, const char *source, struct floors *ret, struct errbuf *err)
{
        source = source ? source : "floors";
        if (len > FLOORS_MAX_BYTES)
                return errbuf_set(err, -EINVAL, "%s: larger than %d bytes", source, FLOORS_MAX_BYTES);
        if (memchr(text, '\0', len))
                return errbuf_set(err, -EINVAL, "%s: holds a NUL byte", source);
        struct floors f = { .items = calloc(FLOORS_MAX, sizeof(struct floor)), .source = strdup(source) };
        if (!f.items || !f.source) {
                floors_release(&f);
                return -ENOMEM;
        }
        unsigned no = 0;
        for (size_t pos = 0; pos < len;) {
                const char *line = text + pos;
                const char *nl = memchr(line, '\n', len - pos);
                size_t n = nl ? (size_t) (nl - line) : len - pos;
                pos += n + (nl ? 1 : 0);
                no++;
                if (n > 0 && line[n - 1] == '\r')
                        n--;
                if (n > LINE_MAX_BYTES) {
                        floors_release(&f);
                        return errbuf_set(err, -EINVAL, "%s:%u: longer than %d bytes", source, no,
                                          LINE_MAX_BYTES);
                }
                struct floor fl;
                int r = parse_line(line, n, source, no, &fl, err);
                if (r < 0) {
                        floors_release(&f);
                        return r;
                }
                if (r == 0)
                        continue;
                for (size_t i = 0; i < f.n; i++)
                        if (f.items[i].size_kb == fl.size_kb && strcmp(f.items[i].owner, fl.owner) == 0) {
                                char q[QUANTITY_MAX];
                                r = errbuf_set(err, -EINVAL, "%s:%u: %s for %s is already given on line %u",
                                               source, no, fmt_kb(fl.size_kb, q), fl.owner, f.items[i].line);
                                floors_release(&f);
                                return r;
                        }
                if (f.n == FLOORS_MAX) {
                        floors_release(&f);
                        return errbuf_set(err, -EINVAL, "%s:%u: more than %d floors", source, no, FLOORS_MAX);
                }
                f.items[f.n++] = fl;
        }
        *ret = f;
        return 0;
}

int floors_load(const char *path, struct floors *ret, struct errbuf *err)
{
        _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
        if (fd < 0)
                return errbuf_set(err, -errno, "cannot open the floor file %s: %s", path, strerror(errno));
        _cleanup_free_ char *buf = malloc(FLOORS_MAX_BYTES + 1);
        if (!buf)
                return -ENOMEM;
        size_t len = 0;
        for (;;) {
                ssize_t k = read(fd, buf + len, FLOORS_MAX_BYTES + 1 - len);
                if (k < 0 && errno == EINTR)
                        continue;
                if (k < 0)
                        return errbuf_set(err, -errno, "cannot read the floor file %s: %s", path,
                                          strerror(errno));
                if (k == 0)
                        break;
                len += (size_t) k;
                if (len > FLOORS_MAX_BYTES)
                        return errbuf_set(err, -EINVAL, "%s: larger than %d bytes", path, FLOORS_MAX_BYTES);
        }
        return floors_parse(buf, len, path, ret, err);
}

void floors_release(struct floors *f)
{
        if (!f)
                return;
        free(f->items);
        free(f->source);
        *f = (struct floors){ 0 };
}

uint64_t floors_pages(const struct floors *f, uint64_t size_kb)
{
        uint64_t sum = 0;
        for (size_t i = 0; f && i < f->n; i++)
                if (f->items[i].size_kb == size_kb)
                        sum = add_sat(sum, f->items[i].pages);
        return sum;
}

int floors_verify(const struct floors *f, const struct sizes *s, struct errbuf *err)
{
        for (size_t i = 0; f && i < f->n; i++)
                if (!sizes_find(s, f->items[i].size_kb)) {
                        char q[QUANTITY_MAX];
                        return errbuf_set(
                                err, -ENOENT,
                                "%s:%u: this kernel has no %s hugepages; the floor for %s never applies",
                                f->source, f->items[i].line, fmt_kb(f->items[i].size_kb, q),
                                f->items[i].owner);
                }
        return 0;
}

json_t *floors_to_json(const struct floors *f)
{
        _cleanup_json_ json_t *a = json_array();
        if (!a)
                return NULL;
        for (size_t i = 0; f && i < f->n; i++) {
                char q[QUANTITY_MAX];
                json_t *o = json_pack(
                        "{s:s, s:I, s:s}", "size", fmt_kb(f->items[i].size_kb, q), "pages",
                        (json_int_t) (f->items[i].pages > INT64_MAX ? INT64_MAX : f->items[i].pages), "owner",
                        f->items[i].owner);
                if (!o || json_array_append_new(a, o) < 0)
                        return NULL;
        }
        return TAKE_PTR(a);
}

/* ---- the checks ------------------------------------------------------- */

/* The persistent pages a pool would hold: its count, or its listed nodes
 * plus what the other nodes hold now (apply.c writes the nodes of a pool
 * that lists them, and the count otherwise). */
static uint64_t pool_target(const struct pool_cfg *p, const struct size_info *si, const struct sizes *s)
{
        if (p->has_count)
                return p->count;
        if (s->n_nodes == 0)
                return size_persistent(si); /* nodes on a machine without any: validate_config() reports it */
        uint64_t sum = 0;
        for (size_t k = 0; k < s->n_nodes; k++) {
                uint64_t v = size_node_persistent(&si->nodes[k]);
                for (size_t j = 0; j < p->n_nodes; j++)
                        if (p->nodes[j].node == s->nodes[k].id)
                                v = p->nodes[j].count;
                sum = add_sat(sum, v);
        }
        return sum;
}

/* "/pools/<key>/count", or ".../nodes" for a pool given by nodes. */
static char *target_pointer(const struct pool_cfg *p)
{
        _cleanup_free_ char *pool = pointer_join("/pools", p->key);
        return pool ? pointer_join(pool, p->has_count ? "count" : "nodes") : NULL;
}

/* Appends to *buf (a growing string); returns -ENOMEM. */
static int appendf(char **buf, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int appendf(char **buf, const char *fmt, ...)
{
        char *more = NULL;
        va_list ap;
        va_start(ap, fmt);
        int k = vasprintf(&more, fmt, ap);
        va_end(ap);
        if (k < 0)
                return -ENOMEM;
        char *joined = NULL;
        k = asprintf(&joined, "%s%s", *buf ? *buf : "", more);
        free(more);
        if (k < 0)
                return -ENOMEM;
        free(*buf);
        *buf = joined;
        return 0;
}

int floor_check(const struct floors *f, const struct config *c, const struct sizes *s,
                struct findings *errors)
{
        if (!f)
                return 0;
        for (size_t i = 0; i < c->n_pools; i++) {
                const struct pool_cfg *p = &c->pools[i];
                const struct size_info *si = p->size_kb ? sizes_find(s, p->size_kb) : NULL;
                uint64_t floor = si ? floors_pages(f, si->size_kb) : 0;
                if (!si || floor == 0)
                        continue;
                uint64_t target = pool_target(p, si, s);
                if (target >= floor)
                        continue;

                _cleanup_free_ char *owners = NULL;
                size_t named = 0, total = 0;
                for (size_t j = 0; j < f->n; j++)
                        total += f->items[j].size_kb == si->size_kb;
                for (size_t j = 0; j < f->n; j++) {
                        const struct floor *fl = &f->items[j];
                        if (fl->size_kb != si->size_kb)
                                continue;
                        int r = total == 1
                                        ? appendf(&owners, "%s (%s, line %u)", fl->owner, f->source, fl->line)
                                        : appendf(&owners, "%s%s (%" PRIu64 ", %s line %u)",
                                                  named == 0           ? ""
                                                  : named + 1 == total ? " and "
                                                                       : ", ",
                                                  fl->owner, fl->pages, f->source, fl->line);
                        if (r < 0)
                                return r;
                        named++;
                }
                _cleanup_free_ char *ptr = target_pointer(p);
                if (!ptr)
                        return -ENOMEM;
                char q[QUANTITY_MAX];
                int r = findings_add(errors, ptr, "below_floor",
                                     "the %s pool would hold %" PRIu64 " pages, below the %" PRIu64
                                     " pages kept for %s; keep at least %" PRIu64 " (--floor-file)",
                                     fmt_kb(si->size_kb, q), target, floor, owners, floor);
                if (r < 0)
                        return r;
        }
        return 0;
}

/* ", held by qemu-kvm (pid 4242, VM default/db-1, 4096 pages), ..." or a
 * sentence on why no process shows. node -1: any node. */
static int describe_holders(const struct holders *h, uint64_t size_kb, int node, char **buf)
{
        if (!h)
                return 0;
        size_t named = 0, more = 0;
        int r = 0;
        for (size_t i = 0; r == 0 && i < h->n; i++) {
                const struct holder *x = &h->items[i];
                uint64_t pages = holder_pages_of(x, size_kb, node);
                if (pages == 0)
                        continue;
                if (named == NAMED_HOLDERS) {
                        more++;
                        continue;
                }
                char q[QUANTITY_MAX], amount[64];
                uint64_t anywhere = node >= 0 ? holder_pages_of(x, size_kb, -1) : pages;
                if (pages == UINT64_MAX && anywhere != UINT64_MAX)
                        snprintf(amount, sizeof(amount), "%" PRIu64 " page%s, node not known", anywhere,
                                 anywhere == 1 ? "" : "s");
                else if (pages == UINT64_MAX)
                        snprintf(amount, sizeof(amount), "%s of hugetlb memory, sizes not known",
                                 fmt_kb(x->hugetlb_kb, q));
                else
                        snprintf(amount, sizeof(amount), "%" PRIu64 " page%s", pages, pages == 1 ? "" : "s");
                r = appendf(buf, "%s%s (pid %d", named ? ", " : "; held by ", x->name[0] ? x->name : "?",
                            x->pid);
                if (r == 0 && x->vm_name[0])
                        r = appendf(buf, ", VM %s/%s", x->vm_namespace, x->vm_name);
                else if (r == 0 && x->pod_uid[0])
                        r = appendf(buf, ", pod %s", x->pod_uid);
                if (r == 0)
                        r = appendf(buf, ", %s)", amount);
                named++;
        }
        if (r < 0)
                return r;
        size_t unlisted = h->n_found - h->n;
        if (named > 0 && more + unlisted > 0)
                r = appendf(buf, " and %zu more process%s", more + unlisted,
                            more + unlisted == 1 ? "" : "es");
        else if (named == 0 && unlisted > 0)
                r = appendf(buf, "; none of the processes listed maps them (%zu more were not looked at)",
                            unlisted);
        else if (named == 0)
                r = appendf(buf,
                            "; no process maps them: they may be in files on a hugetlbfs mount or in shared "
                            "memory segments (ipcs -m)");
        if (r == 0 && h->truncated)
                r = appendf(buf, " (the process scan stopped after %zu entries)", h->scanned);
        return r;
}

int inuse_check(const struct config *c, const struct sizes *s, const struct holders *h,
                struct findings *errors)
{
        char q[QUANTITY_MAX];
        for (size_t i = 0; i < c->n_pools; i++) {
                const struct pool_cfg *p = &c->pools[i];
                const struct size_info *si = p->size_kb ? sizes_find(s, p->size_kb) : NULL;
                if (!si)
                        continue;
                uint64_t held = validate_pages_held(si), used = sub_sat(si->nr, si->free);
                uint64_t target = pool_target(p, si, s);
                fmt_kb(si->size_kb, q);
                if (target < held) {
                        _cleanup_free_ char *who = NULL, *ptr = target_pointer(p);
                        if (!ptr || describe_holders(h, si->size_kb, -1, &who) < 0)
                                return -ENOMEM;
                        int r = findings_add(
                                errors, ptr, "below_in_use",
                                "the %s pool cannot shrink to %" PRIu64 " pages: %" PRIu64
                                " are in use or reserved (%" PRIu64 " in use, %" PRIu64
                                " reserved)%s; the kernel would keep them as surplus until they are "
                                "released; keep at least %" PRIu64 " or stop their users first",
                                q, target, held, used, si->resv, who ? who : "", held);
                        if (r < 0)
                                return r;
                }
                for (size_t j = 0; p->has_nodes && j < p->n_nodes; j++) {
                        int k = sizes_node_index(s, p->nodes[j].node);
                        if (k < 0 || !s->nodes[k].has_hugepages)
                                continue; /* validate_config() reports it */
                        const struct size_node *sn = &si->nodes[k];
                        uint64_t node_used = sub_sat(sn->nr, sn->free);
                        if (p->nodes[j].count >= node_used)
                                continue;
                        char key[16];
                        snprintf(key, sizeof(key), "%u", p->nodes[j].node);
                        _cleanup_free_ char *who = NULL, *pool = pointer_join("/pools", p->key);
                        _cleanup_free_ char *nodes = pool ? pointer_join(pool, "nodes") : NULL;
                        _cleanup_free_ char *ptr = nodes ? pointer_join(nodes, key) : NULL;
                        if (!ptr || describe_holders(h, si->size_kb, (int) p->nodes[j].node, &who) < 0)
                                return -ENOMEM;
                        int r = findings_add(
                                errors, ptr, "below_in_use",
                                "the %s pool on NUMA node %u cannot shrink to %" PRIu64 " pages: %" PRIu64
                                " are in use there%s; keep at least %" PRIu64 " or stop their users first",
                                q, p->nodes[j].node, p->nodes[j].count, node_used, who ? who : "", node_used);
                        if (r < 0)
                                return r;
                }
        }
        return 0;
}

int inuse_check_fs(const struct sysfs *fs, const struct config *c, const struct sizes *s,
                   struct findings *errors)
{
        struct findings first = { 0 };
        int r = inuse_check(c, s, NULL, &first);
        if (r < 0 || first.n == 0) {
                findings_release(&first);
                return r;
        }
        struct holders h;
        struct errbuf err = { { 0 } };
        r = holders_scan(fs, s, NULL, &h, &err);
        if (r == -ENOMEM) {
                findings_release(&first);
                return r;
        }
        if (r < 0) {
                /* Keep the findings without holders, and say why. */
                for (size_t i = 0; i < first.n && r != -ENOMEM; i++)
                        r = findings_add(errors, first.items[i].pointer, first.items[i].code,
                                         "%s (the processes holding them could not be listed: %s)",
                                         first.items[i].message, err.msg);
                findings_release(&first);
                return r == -ENOMEM ? r : 0;
        }
        findings_release(&first);
        r = inuse_check(c, s, &h, errors);
        holders_release(&h);
        return r;
}

int inuse_read(const struct sysfs *fs, uint64_t size_kb, int node, struct inuse *ret, struct errbuf *err)
{
        struct inuse u = { 0 };
        struct {
                const char *file;
                uint64_t *dst;
        } files[] = {
                { "nr_hugepages", &u.nr },
                { "free_hugepages", &u.free },
                { "surplus_hugepages", &u.surplus },
                { "resv_hugepages", &u.resv }, /* global only */
        };
        for (size_t i = 0; i < ELEMENTSOF(files) - (node >= 0); i++) {
                char rel[160];
                int r = sizes_path(rel, sizeof(rel), size_kb, node, files[i].file);
                if (r < 0)
                        return errbuf_set(err, r, "path too long");
                r = sysfs_read_u64(fs, SYSFS_SYS, rel, files[i].dst, err);
                if (r < 0)
                        return r;
        }
        u.held = add_sat(sub_sat(u.nr, u.free), u.resv);
        *ret = u;
        return 0;
}

int inuse_recheck(const struct sysfs *fs, uint64_t size_kb, int node, uint64_t target, struct errbuf *err)
{
        struct inuse u;
        int r = inuse_read(fs, size_kb, node, &u, err);
        if (r < 0)
                return r;
        if (target >= u.held)
                return 0;
        char q[QUANTITY_MAX], where[40] = "";
        if (node >= 0)
                snprintf(where, sizeof(where), " on NUMA node %d", node);
        return errbuf_set(err, -EBUSY,
                          "%" PRIu64 " %s pages%s are in use or reserved now (%" PRIu64 " in use, %" PRIu64
                          " reserved); shrinking to %" PRIu64 " would leave them as surplus",
                          u.held, fmt_kb(size_kb, q), where, sub_sat(u.nr, u.free), u.resv, target);
}
