/* See sizes.h. */
#include "sizes.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cleanup.h"

#define HUGEPAGES_DIR "kernel/mm/hugepages"
#define NODES_DIR "devices/system/node"

int sizes_path(char *buf, size_t size, uint64_t size_kb, int node_id, const char *file)
{
        int n;
        if (node_id < 0)
                n = snprintf(buf, size, HUGEPAGES_DIR "/hugepages-%" PRIu64 "kB/%s", size_kb, file);
        else
                n = snprintf(buf, size, NODES_DIR "/node%d/hugepages/hugepages-%" PRIu64 "kB/%s", node_id,
                             size_kb, file);
        return n < 0 || (size_t) n >= size ? -ENAMETOOLONG : 0;
}

/* Parses a strictly decimal number that fills [s, end). */
static int parse_decimal(const char *s, const char *end, uint64_t *ret)
{
        uint64_t v = 0;
        if (s == end || end - s > 20 || (*s == '0' && end - s > 1))
                return -EINVAL;
        for (const char *p = s; p < end; p++) {
                if (*p < '0' || *p > '9' || __builtin_mul_overflow(v, 10, &v) ||
                    __builtin_add_overflow(v, (uint64_t) (*p - '0'), &v))
                        return -EINVAL;
        }
        *ret = v;
        return 0;
}

/* Finds "<key>:" at the start of a line of a meminfo-style text (after an
 * optional "Node N " prefix) and returns its value in kB. */
static int meminfo_field(const char *text, const char *prefix, const char *key, uint64_t *ret)
{
        size_t plen = strlen(prefix), klen = strlen(key);
        for (const char *line = text; line && *line; line = strchr(line, '\n'), line = line ? line + 1 : NULL) {
                if (strncmp(line, prefix, plen) != 0)
                        continue;
                const char *p = line + plen;
                if (strncmp(p, key, klen) != 0 || p[klen] != ':')
                        continue;
                p += klen + 1;
                while (*p == ' ')
                        p++;
                const char *end = p;
                while (*end >= '0' && *end <= '9')
                        end++;
                /* Every field we read is in kB; refuse a line that is not. */
                if (strncmp(end, " kB", 3) != 0)
                        return -EINVAL;
                return parse_decimal(p, end, ret);
        }
        return -ENOENT;
}

static int read_meminfo(const struct sysfs *fs, struct sizes *s, struct errbuf *err)
{
        char buf[8192];
        int r = sysfs_read_kept(fs, SYSFS_PROC, "meminfo", buf, sizeof(buf), NULL, err);
        if (r < 0)
                return r;
        static const struct {
                const char *key;
                size_t offset;
        } fields[] = {
                { "MemTotal", offsetof(struct sizes, mem_total_kb) },
                { "MemAvailable", offsetof(struct sizes, mem_available_kb) },
                { "Hugepagesize", offsetof(struct sizes, default_size_kb) },
        };
        for (size_t i = 0; i < ELEMENTSOF(fields); i++) {
                uint64_t v;
                r = meminfo_field(buf, "", fields[i].key, &v);
                if (r == -ENOENT)
                        return errbuf_set(err, r, "%s/meminfo has no %s line%s", fs->proc_root, fields[i].key,
                                          strcmp(fields[i].key, "Hugepagesize") == 0
                                                  ? " (kernel without HugeTLB support?)"
                                                  : "");
                if (r < 0)
                        return errbuf_set(err, r, "%s/meminfo: cannot parse the %s line", fs->proc_root,
                                          fields[i].key);
                memcpy((char *) s + fields[i].offset, &v, sizeof(v));
        }
        return 0;
}

static int read_nodes(const struct sysfs *fs, struct sizes *s, struct errbuf *err)
{
        /* Without CONFIG_NUMA there is no node directory at all: the machine
         * is then one node as far as hugetlb is concerned, with only global
         * counters. */
        char **names = NULL;
        size_t n = 0;
        int r = sysfs_list(fs, SYSFS_SYS, NODES_DIR, "node", &names, &n, err);
        if (r == -ENOENT) {
                if (err) /* no node directory: no NUMA, not an error */
                        err->msg[0] = '\0';
                return 0;
        }
        if (r < 0)
                return r;

        s->nodes = calloc(n ? n : 1, sizeof(struct node_info));
        if (!s->nodes) {
                sysfs_names_free(names);
                return -ENOMEM;
        }
        for (size_t i = 0; i < n && r >= 0; i++) {
                uint64_t id;
                const char *digits = names[i] + strlen("node");
                if (parse_decimal(digits, digits + strlen(digits), &id) < 0 || id > SIZES_MAX_NODE)
                        continue; /* not a node directory */

                struct node_info *ni = &s->nodes[s->n_nodes];
                ni->id = (unsigned) id;

                char rel[128], buf[8192], prefix[32];
                snprintf(rel, sizeof(rel), NODES_DIR "/%s/meminfo", names[i]);
                r = sysfs_read_kept(fs, SYSFS_SYS, rel, buf, sizeof(buf), NULL, err);
                if (r < 0)
                        break;
                snprintf(prefix, sizeof(prefix), "Node %u ", ni->id);
                r = meminfo_field(buf, prefix, "MemTotal", &ni->mem_total_kb);
                if (r < 0) {
                        r = errbuf_set(err, r, "%s/%s: no readable \"%sMemTotal\" line", fs->sys_root, rel,
                                       prefix);
                        break;
                }
                snprintf(rel, sizeof(rel), NODES_DIR "/%s/hugepages", names[i]);
                ni->has_hugepages = sysfs_exists(fs, SYSFS_SYS, rel);
                s->n_nodes++;
        }
        sysfs_names_free(names);
        if (r < 0)
                return r;

        /* sysfs_list sorted by name, so node10 came before node2. */
        for (size_t i = 1; i < s->n_nodes; i++)
                for (size_t j = i; j > 0 && s->nodes[j - 1].id > s->nodes[j].id; j--) {
                        struct node_info t = s->nodes[j];
                        s->nodes[j] = s->nodes[j - 1];
                        s->nodes[j - 1] = t;
                }
        return 0;
}

static int read_counter(const struct sysfs *fs, uint64_t size_kb, int node, const char *file, uint64_t *ret,
                        struct errbuf *err)
{
        char rel[160];
        int r = sizes_path(rel, sizeof(rel), size_kb, node, file);
        if (r < 0)
                return r;
        return sysfs_read_u64_kept(fs, SYSFS_SYS, rel, ret, err);
}

static int read_size(const struct sysfs *fs, const struct sizes *s, struct size_info *si, struct errbuf *err)
{
        static const struct {
                const char *file;
                size_t offset;
        } global[] = {
                { "nr_hugepages", offsetof(struct size_info, nr) },
                { "free_hugepages", offsetof(struct size_info, free) },
                { "resv_hugepages", offsetof(struct size_info, resv) },
                { "surplus_hugepages", offsetof(struct size_info, surplus) },
                { "nr_overcommit_hugepages", offsetof(struct size_info, overcommit) },
        };
        static const struct {
                const char *file;
                size_t offset;
        } per_node[] = {
                { "nr_hugepages", offsetof(struct size_node, nr) },
                { "free_hugepages", offsetof(struct size_node, free) },
                { "surplus_hugepages", offsetof(struct size_node, surplus) },
        };
        int r;
        for (size_t i = 0; i < ELEMENTSOF(global); i++) {
                uint64_t v;
                r = read_counter(fs, si->size_kb, -1, global[i].file, &v, err);
                if (r < 0)
                        return r;
                memcpy((char *) si + global[i].offset, &v, sizeof(v));
        }

        si->nodes = calloc(s->n_nodes ? s->n_nodes : 1, sizeof(struct size_node));
        if (!si->nodes)
                return -ENOMEM;
        for (size_t k = 0; k < s->n_nodes; k++) {
                if (!s->nodes[k].has_hugepages)
                        continue;
                for (size_t i = 0; i < ELEMENTSOF(per_node); i++) {
                        uint64_t v;
                        r = read_counter(fs, si->size_kb, (int) s->nodes[k].id, per_node[i].file, &v, err);
                        if (r < 0)
                                return r;
                        memcpy((char *) &si->nodes[k] + per_node[i].offset, &v, sizeof(v));
                }
        }
        return 0;
}

static int cmp_size(const void *a, const void *b)
{
        const struct size_info *x = a, *y = b;
        return x->size_kb < y->size_kb ? -1 : x->size_kb > y->size_kb;
}

int sizes_read(const struct sysfs *fs, uint64_t base_page_kb, struct sizes *ret, struct errbuf *err)
{
        struct sizes s = { .base_page_kb = base_page_kb ? base_page_kb : 4 };
        char **names = NULL;
        size_t n = 0;
        int r;

        r = read_meminfo(fs, &s, err);
        if (r < 0)
                goto fail;
        r = read_nodes(fs, &s, err);
        if (r < 0)
                goto fail;

        r = sysfs_list(fs, SYSFS_SYS, HUGEPAGES_DIR, "hugepages-", &names, &n, err);
        if (r < 0)
                goto fail;
        s.sizes = calloc(n ? n : 1, sizeof(struct size_info));
        if (!s.sizes) {
                r = -ENOMEM;
                goto fail;
        }
        for (size_t i = 0; i < n; i++) {
                const char *num = names[i] + strlen("hugepages-");
                const char *end = strstr(num, "kB");
                uint64_t kb;
                if (!end || strcmp(end, "kB") != 0 || parse_decimal(num, end, &kb) < 0 || kb == 0) {
                        r = errbuf_set(err, -EINVAL, "%s/" HUGEPAGES_DIR "/%s: not a hugepage size directory",
                                       fs->sys_root, names[i]);
                        goto fail;
                }
                s.sizes[s.n_sizes].size_kb = kb;
                r = read_size(fs, &s, &s.sizes[s.n_sizes], err);
                s.n_sizes++; /* counted even on failure so release frees its nodes */
                if (r < 0)
                        goto fail;
        }
        qsort(s.sizes, s.n_sizes, sizeof(struct size_info), cmp_size);

        if (s.n_sizes > 0 && !sizes_find(&s, s.default_size_kb)) {
                r = errbuf_set(err, -EINVAL,
                               "the default size %" PRIu64 " kB (meminfo Hugepagesize) has no directory in %s/"
                               HUGEPAGES_DIR,
                               s.default_size_kb, fs->sys_root);
                goto fail;
        }
        sysfs_names_free(names);
        *ret = s;
        return 0;

fail:
        sysfs_names_free(names);
        sizes_release(&s);
        return r;
}

void sizes_release(struct sizes *s)
{
        if (!s)
                return;
        for (size_t i = 0; i < s->n_sizes; i++)
                free(s->sizes[i].nodes);
        free(s->sizes);
        free(s->nodes);
        *s = (struct sizes) { 0 };
}

const struct size_info *sizes_find(const struct sizes *s, uint64_t size_kb)
{
        for (size_t i = 0; i < s->n_sizes; i++)
                if (s->sizes[i].size_kb == size_kb)
                        return &s->sizes[i];
        return NULL;
}

int sizes_node_index(const struct sizes *s, unsigned node_id)
{
        for (size_t i = 0; i < s->n_nodes; i++)
                if (s->nodes[i].id == node_id)
                        return (int) i;
        return -1;
}
