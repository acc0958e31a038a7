/* See holders.h. One pass over the procfs root keeps the max_holders
 * largest holders in a small array (replacing the smallest when a larger one
 * turns up), so memory stays bounded however many processes hold pages;
 * only then are the details of those few read.
 *
 * Every read is bounded: status up to STATUS_MAX bytes (it is about 1.4 kB;
 * only a huge "Groups:" line makes it longer), cmdline up to CMDLINE_MAX,
 * cgroup up to CGROUP_MAX, numa_maps up to NUMA_MAPS_MAX (a line per
 * mapping; a QEMU has a few hundred to a few thousand). */
#include "holders.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cleanup.h"
#include "quantity.h"

#define STATUS_CHUNK 4096
#define STATUS_MAX (64 * 1024)
#define CMDLINE_MAX (32 * 1024)
#define CGROUP_MAX (16 * 1024)
#define NUMA_MAPS_MAX (8 * 1024 * 1024)
#define NUMA_MAPS_LINE 8192

static json_int_t jint(uint64_t v)
{
        return v > (uint64_t) INT64_MAX ? INT64_MAX : (json_int_t) v;
}

/* Reads dirfd/rel: up to size-1 bytes into buf, NUL-terminated. Returns the
 * length, or -errno. With one_read, a short read is taken as the whole file:
 * procfs produces a small file in one read, and that saves a read() per
 * process. */
static ssize_t read_at(int dirfd, const char *rel, char *buf, size_t size, bool one_read)
{
        _cleanup_close_ int fd = openat(dirfd, rel, O_RDONLY | O_CLOEXEC | O_NOCTTY);
        if (fd < 0)
                return -errno;
        size_t len = 0;
        for (;;) {
                if (len + 1 >= size)
                        break;
                ssize_t k = read(fd, buf + len, size - 1 - len);
                if (k < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                if (k == 0)
                        break;
                len += (size_t) k;
                if (one_read)
                        break;
        }
        buf[len] = '\0';
        return (ssize_t) len;
}

/* Copies src (n bytes) as printable ASCII: other bytes become "\xNN". Cuts
 * at size-1 bytes, ending in "..." when cut. */
static void printable(const char *src, size_t n, char *dst, size_t size)
{
        size_t o = 0;
        for (size_t i = 0; i < n; i++) {
                unsigned char ch = (unsigned char) src[i];
                char esc[5];
                size_t w;
                if (ch >= 0x20 && ch < 0x7f) {
                        esc[0] = (char) ch;
                        w = 1;
                } else {
                        snprintf(esc, sizeof(esc), "\\x%02x", ch);
                        w = 4;
                }
                if (o + w + 1 > size) {
                        if (size >= 4) {
                                o = o > size - 4 ? size - 4 : o;
                                memcpy(dst + o, "...", 3);
                                o += 3;
                        }
                        break;
                }
                memcpy(dst + o, esc, w);
                o += w;
        }
        dst[o] = '\0';
}

/* Finds "\n<key>:" (or key at the start) and returns the value after the
 * colon and blanks, up to the end of the line. */
static const char *status_value(const char *text, const char *key, size_t *ret_len)
{
        size_t klen = strlen(key);
        for (const char *p = text; p; p = strchr(p, '\n'), p = p ? p + 1 : NULL) {
                if (strncmp(p, key, klen) != 0 || p[klen] != ':')
                        continue;
                const char *v = p + klen + 1;
                while (*v == ' ' || *v == '\t')
                        v++;
                const char *end = strchrnul(v, '\n');
                *ret_len = (size_t) (end - v);
                return v;
        }
        return NULL;
}

/* "HugetlbPages:\t%8lu kB". Returns 0 with the value, -ENOENT when the line
 * is absent (kernel threads have no mm), -EINVAL when malformed. */
static int parse_hugetlb_kb(const char *status, uint64_t *ret)
{
        size_t len;
        const char *v = status_value(status, "HugetlbPages", &len);
        if (!v)
                return -ENOENT;
        uint64_t kb = 0;
        size_t i = 0;
        for (; i < len && isdigit((unsigned char) v[i]); i++)
                if (__builtin_mul_overflow(kb, 10, &kb) ||
                    __builtin_add_overflow(kb, (uint64_t) (v[i] - '0'), &kb))
                        return -EINVAL;
        if (i == 0 || len - i != 3 || strncmp(v + i, " kB", 3) != 0)
                return -EINVAL;
        *ret = kb;
        return 0;
}

/* ---- cgroup paths ----------------------------------------------------- */

static bool all_hex(const char *s, size_t n)
{
        for (size_t i = 0; i < n; i++)
                if (!isxdigit((unsigned char) s[i]) || isupper((unsigned char) s[i]))
                        return false;
        return n > 0;
}

/* A pod UID as the kubelet writes it into a cgroup name: a UUID, with '_'
 * for '-' in systemd slice names, or 32 hex digits (the hash a static pod
 * gets). Writes the UUID form to ret. */
static bool parse_uid(const char *s, size_t n, char ret[static 40])
{
        if (n == 32 && all_hex(s, n)) {
                memcpy(ret, s, n);
                ret[n] = '\0';
                return true;
        }
        if (n != 36)
                return false;
        char uid[40];
        for (size_t i = 0; i < n; i++) {
                bool dash = i == 8 || i == 13 || i == 18 || i == 23;
                char c = s[i] == '_' ? '-' : s[i];
                if (dash ? c != '-' : !all_hex(&c, 1))
                        return false;
                uid[i] = c;
        }
        uid[n] = '\0';
        memcpy(ret, uid, n + 1);
        return true;
}

static bool seg_is(const char *seg, size_t n, const char *word)
{
        return strlen(word) == n && strncmp(seg, word, n) == 0;
}

/* The container segment after a pod's: "cri-containerd-<id>.scope",
 * "crio-<id>.scope", "docker-<id>.scope" (systemd driver) or a bare "<id>"
 * (cgroupfs driver). */
static void parse_container(const char *seg, size_t n, struct holder *h)
{
        static const struct {
                const char *prefix, *runtime;
        } runtimes[] = {
                { "cri-containerd-", "containerd" },
                { "crio-", "cri-o" },
                { "docker-", "docker" },
        };
        if (n > 6 && strncmp(seg + n - 6, ".scope", 6) == 0) {
                for (size_t i = 0; i < ELEMENTSOF(runtimes); i++) {
                        size_t pl = strlen(runtimes[i].prefix);
                        const char *id = seg + pl;
                        size_t idn = n - 6 - pl;
                        if (n - 6 > pl && strncmp(seg, runtimes[i].prefix, pl) == 0 &&
                            idn < sizeof(h->container_id) && all_hex(id, idn)) {
                                memcpy(h->container_id, id, idn);
                                h->container_id[idn] = '\0';
                                snprintf(h->container_runtime, sizeof(h->container_runtime), "%s",
                                         runtimes[i].runtime);
                                return;
                        }
                }
                return; /* crio-conmon-<id>.scope and the like: not a container */
        }
        if (n >= 12 && n < sizeof(h->container_id) && all_hex(seg, n)) {
                memcpy(h->container_id, seg, n);
                h->container_id[n] = '\0';
        }
}

/* One cgroup path. systemd driver:
 *   /kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod<uid_>.slice/cri-containerd-<id>.scope
 *   /kubepods.slice/kubepods-pod<uid_>.slice/...                 (guaranteed)
 * cgroupfs driver:
 *   /kubepods/burstable/pod<uid>/<id>
 *   /kubepods/pod<uid>/<id>                                       (guaranteed) */
static bool parse_path(const char *path, size_t len, struct holder *h)
{
        const char *prev = NULL;
        size_t prev_n = 0;
        bool in_kubepods = false;
        const char *end = path + len;
        for (const char *seg = path; seg < end;) {
                const char *slash = memchr(seg, '/', (size_t) (end - seg));
                size_t n = (size_t) ((slash ? slash : end) - seg);
                const char *next = slash ? slash + 1 : end;
                if (n == 0) {
                        seg = next;
                        continue;
                }
                if (seg_is(seg, n, "kubepods") ||
                    (n > 8 && strncmp(seg, "kubepods", 8) == 0 && (seg[8] == '.' || seg[8] == '-')))
                        in_kubepods = true;

                const char *uid = NULL, *qos = NULL;
                size_t uid_n = 0;
                if (n > 6 && strncmp(seg + n - 6, ".slice", 6) == 0 && strncmp(seg, "kubepods-", 9) == 0) {
                        const char *rest = seg + 9;
                        size_t rest_n = n - 6 - 9;
                        if (rest_n > 10 && strncmp(rest, "burstable-", 10) == 0) {
                                qos = "burstable";
                                rest += 10;
                                rest_n -= 10;
                        } else if (rest_n > 11 && strncmp(rest, "besteffort-", 11) == 0) {
                                qos = "besteffort";
                                rest += 11;
                                rest_n -= 11;
                        } else
                                qos = "guaranteed";
                        if (rest_n > 3 && strncmp(rest, "pod", 3) == 0) {
                                uid = rest + 3;
                                uid_n = rest_n - 3;
                        }
                } else if (in_kubepods && n > 3 && strncmp(seg, "pod", 3) == 0) {
                        uid = seg + 3;
                        uid_n = n - 3;
                        qos = prev && seg_is(prev, prev_n, "burstable")    ? "burstable"
                              : prev && seg_is(prev, prev_n, "besteffort") ? "besteffort"
                                                                           : "guaranteed";
                }
                if (uid && parse_uid(uid, uid_n, h->pod_uid)) {
                        snprintf(h->qos_class, sizeof(h->qos_class), "%s", qos);
                        if (next < end) {
                                const char *cslash = memchr(next, '/', (size_t) (end - next));
                                parse_container(next, (size_t) ((cslash ? cslash : end) - next), h);
                        }
                        return true;
                }
                prev = seg;
                prev_n = n;
                seg = next;
        }
        return false;
}

bool holders_parse_cgroup(const char *text, struct holder *h)
{
        /* "hierarchy-ID:controllers:path" per line; cgroup v2 has one line
         * "0::path", v1 one per hierarchy. The first that names a pod wins. */
        for (const char *line = text; line && *line;) {
                const char *eol = strchrnul(line, '\n');
                const char *c1 = memchr(line, ':', (size_t) (eol - line));
                const char *c2 = c1 ? memchr(c1 + 1, ':', (size_t) (eol - c1 - 1)) : NULL;
                if (c2 && parse_path(c2 + 1, (size_t) (eol - c2 - 1), h))
                        return true;
                line = *eol ? eol + 1 : NULL;
        }
        return false;
}

/* ---- command line ------------------------------------------------------ */

/* KubeVirt's libvirt domain is "<namespace>_<name>"; QEMU gets it as
 * "-name guest=<domain>,debug-threads=on" (or "-name <domain>"). Kubernetes
 * names have no '_', so the first one splits. */
static void parse_qemu_name(const char *args, size_t len, struct holder *h)
{
        const char *end = args + len;
        for (const char *a = args; a < end; a += strlen(a) + 1) {
                if (strcmp(a, "-name") != 0)
                        continue;
                const char *v = a + strlen(a) + 1;
                if (v >= end)
                        return;
                for (const char *opt = v; *opt;) {
                        const char *comma = strchrnul(opt, ',');
                        size_t n = (size_t) (comma - opt);
                        const char *dom = NULL;
                        if (n > 6 && strncmp(opt, "guest=", 6) == 0) {
                                dom = opt + 6;
                                n -= 6;
                        } else if (opt == v && !memchr(opt, '=', n))
                                dom = opt;
                        if (dom) {
                                printable(dom, n, h->vm_domain, sizeof(h->vm_domain));
                                const char *us = memchr(dom, '_', n);
                                if (us && us > dom && (size_t) (us - dom) < sizeof(h->vm_namespace) &&
                                    n - (size_t) (us - dom) - 1 < sizeof(h->vm_name) && us + 1 < dom + n) {
                                        printable(dom, (size_t) (us - dom), h->vm_namespace,
                                                  sizeof(h->vm_namespace));
                                        printable(us + 1, n - (size_t) (us - dom) - 1, h->vm_name,
                                                  sizeof(h->vm_name));
                                }
                                return;
                        }
                        opt = *comma ? comma + 1 : comma;
                }
                return;
        }
}

static int read_command(int dirfd, struct holder *h)
{
        char rel[32];
        snprintf(rel, sizeof(rel), "%d/cmdline", h->pid);
        _cleanup_free_ char *buf = malloc(CMDLINE_MAX);
        if (!buf)
                return -ENOMEM;
        ssize_t n = read_at(dirfd, rel, buf, CMDLINE_MAX, false);
        if (n <= 0)
                return 0; /* gone, a kernel thread or a zombie: no command line */
        size_t len = (size_t) n;
        while (len > 0 && buf[len - 1] == '\0')
                len--;
        if (len == 0)
                return 0;
        buf[len] = '\0';
        parse_qemu_name(buf, len, h);
        for (size_t i = 0; i < len; i++)
                if (buf[i] == '\0')
                        buf[i] = ' ';
        h->command = malloc(HOLDERS_COMMAND_MAX + 1);
        if (!h->command)
                return -ENOMEM;
        printable(buf, len, h->command, HOLDERS_COMMAND_MAX + 1);
        return 0;
}

static void read_cgroup(int dirfd, struct holder *h)
{
        char rel[32], buf[CGROUP_MAX];
        snprintf(rel, sizeof(rel), "%d/cgroup", h->pid);
        if (read_at(dirfd, rel, buf, sizeof(buf), false) > 0)
                holders_parse_cgroup(buf, h);
}

/* ---- pages per size and node ------------------------------------------ */

static void add_pages(struct holder *h, uint64_t size_kb, int node, uint64_t pages, bool *overflow)
{
        size_t i = 0;
        for (; i < h->n_pages; i++) {
                const struct holder_pages *p = &h->pages[i];
                if (p->size_kb == size_kb && p->node == node) {
                        h->pages[i].pages += pages;
                        return;
                }
                if (p->size_kb > size_kb || (p->size_kb == size_kb && p->node > node))
                        break;
        }
        if (h->n_pages == HOLDERS_MAX_PAGES) {
                *overflow = true;
                return;
        }
        memmove(&h->pages[i + 1], &h->pages[i], (h->n_pages - i) * sizeof(h->pages[0]));
        h->pages[i] = (struct holder_pages){ .size_kb = size_kb, .node = node, .pages = pages };
        h->n_pages++;
}

static bool parse_u64_n(const char *s, size_t n, uint64_t *ret)
{
        uint64_t v = 0;
        if (n == 0 || n > 20)
                return false;
        for (size_t i = 0; i < n; i++)
                if (!isdigit((unsigned char) s[i]) || __builtin_mul_overflow(v, 10, &v) ||
                    __builtin_add_overflow(v, (uint64_t) (s[i] - '0'), &v))
                        return false;
        *ret = v;
        return true;
}

/* One numa_maps line, e.g.
 *   7fb3e7e00000 default file=/memfd:qemu\040(deleted) huge dirty=4 N0=4 kernelpagesize_kB=2048
 * Paths are printed with spaces escaped, so tokens split on ' '. */
static bool numa_maps_line(const char *line, size_t len, struct holder *h, bool *overflow)
{
        /* Most mappings are not hugetlb ones: skip them without splitting. */
        if (!memmem(line, len, " huge", 5))
                return true;
        uint64_t size_kb = 0;
        bool huge = false;
        struct {
                uint64_t node, pages;
        } counts[16];
        size_t n_counts = 0;
        bool too_many = false;
        for (const char *t = line, *end = line + len; t < end;) {
                const char *sp = memchr(t, ' ', (size_t) (end - t));
                size_t n = (size_t) ((sp ? sp : end) - t);
                if (n == 4 && strncmp(t, "huge", 4) == 0)
                        huge = true;
                else if (n > 18 && strncmp(t, "kernelpagesize_kB=", 18) == 0)
                        parse_u64_n(t + 18, n - 18, &size_kb);
                else if (n > 2 && t[0] == 'N' && isdigit((unsigned char) t[1])) {
                        const char *eq = memchr(t, '=', n);
                        uint64_t node, pages;
                        if (eq && parse_u64_n(t + 1, (size_t) (eq - t - 1), &node) &&
                            parse_u64_n(eq + 1, n - (size_t) (eq - t) - 1, &pages) &&
                            node <= SIZES_MAX_NODE) {
                                if (n_counts < ELEMENTSOF(counts)) {
                                        counts[n_counts].node = node;
                                        counts[n_counts++].pages = pages;
                                } else
                                        too_many = true;
                        }
                }
                t = sp ? sp + 1 : end;
        }
        if (!huge || size_kb == 0)
                return true;
        for (size_t i = 0; i < n_counts; i++)
                add_pages(h, size_kb, (int) counts[i].node, counts[i].pages, overflow);
        return !too_many;
}

/* Reads <pid>/numa_maps line by line. Returns true when all of it was read
 * and understood. */
static bool read_numa_maps(int dirfd, struct holder *h)
{
        char rel[32];
        snprintf(rel, sizeof(rel), "%d/numa_maps", h->pid);
        _cleanup_close_ int fd = openat(dirfd, rel, O_RDONLY | O_CLOEXEC | O_NOCTTY);
        if (fd < 0)
                return false;
        _cleanup_free_ char *buf = malloc(NUMA_MAPS_LINE);
        if (!buf)
                return false;
        size_t have = 0, total = 0;
        bool ok = true, skipping = false, overflow = false;
        for (;;) {
                ssize_t k = read(fd, buf + have, NUMA_MAPS_LINE - have);
                if (k < 0 && errno == EINTR)
                        continue;
                if (k < 0)
                        return false;
                if (k == 0)
                        break;
                total += (size_t) k;
                if (total > NUMA_MAPS_MAX)
                        return false;
                have += (size_t) k;
                size_t start = 0;
                for (;;) {
                        char *nl = memchr(buf + start, '\n', have - start);
                        if (!nl)
                                break;
                        size_t n = (size_t) (nl - (buf + start));
                        if (!skipping)
                                ok &= numa_maps_line(buf + start, n, h, &overflow);
                        skipping = false;
                        start += n + 1;
                }
                memmove(buf, buf + start, have - start);
                have -= start;
                if (have == NUMA_MAPS_LINE) {
                        /* A line longer than the buffer (a very long path):
                         * the counts are at its end, which we cannot see. */
                        ok = false;
                        skipping = true;
                        have = 0;
                }
        }
        return ok && !overflow && have == 0;
}

/* Without numa_maps: when only one size has pages in use, they are all of
 * that size. */
static void guess_pages(const struct sizes *s, struct holder *h)
{
        const struct size_info *only = NULL;
        for (size_t i = 0; s && i < s->n_sizes; i++)
                if (s->sizes[i].nr > s->sizes[i].free) {
                        if (only)
                                return;
                        only = &s->sizes[i];
                }
        if (!only || h->hugetlb_kb % only->size_kb != 0)
                return;
        h->n_pages = 0;
        bool overflow = false;
        add_pages(h, only->size_kb, s->n_nodes == 1 ? (int) s->nodes[0].id : -1,
                  h->hugetlb_kb / only->size_kb, &overflow);
        h->pages_known = true;
}

uint64_t holder_pages_of(const struct holder *h, uint64_t size_kb, int node)
{
        if (!h->pages_known)
                return UINT64_MAX;
        uint64_t sum = 0;
        for (size_t i = 0; i < h->n_pages; i++) {
                const struct holder_pages *p = &h->pages[i];
                if (p->size_kb != size_kb)
                        continue;
                if (node >= 0 && p->node != node) {
                        if (p->node < 0)
                                return UINT64_MAX; /* on some node, we do not know which */
                        continue;
                }
                sum += p->pages;
        }
        return sum;
}

/* ---- the scan --------------------------------------------------------- */

static bool better(const struct holder *a, const struct holder *b)
{
        return a->hugetlb_kb != b->hugetlb_kb ? a->hugetlb_kb > b->hugetlb_kb : a->pid < b->pid;
}

static int cmp_holder(const void *x, const void *y)
{
        const struct holder *a = x, *b = y;
        return better(a, b) ? -1 : better(b, a) ? 1 : 0;
}

static bool parse_pid(const char *name, int *ret)
{
        uint64_t v;
        if (name[0] == '0' || !parse_u64_n(name, strlen(name), &v) || v > INT32_MAX)
                return false;
        *ret = (int) v;
        return true;
}

/* Reads one pid's status; 1 with the holder filled when it holds pages, 0
 * when it does not or is gone, -ENOMEM. */
static int read_status(int dirfd, int pid, struct holder *ret)
{
        char rel[32], small[STATUS_CHUNK];
        snprintf(rel, sizeof(rel), "%d/status", pid);
        ssize_t n = read_at(dirfd, rel, small, sizeof(small), true);
        if (n < 0)
                return 0;
        _cleanup_free_ char *big = NULL;
        const char *text = small;
        uint64_t kb = 0;
        int r = parse_hugetlb_kb(text, &kb);
        if (r == -ENOENT && (size_t) n == sizeof(small) - 1) {
                /* A long "Groups:" line pushed it beyond the first chunk. */
                big = malloc(STATUS_MAX);
                if (!big)
                        return -ENOMEM;
                n = read_at(dirfd, rel, big, STATUS_MAX, false);
                if (n < 0)
                        return 0;
                text = big;
                r = parse_hugetlb_kb(text, &kb);
        }
        if (r < 0 || kb == 0)
                return 0;
        struct holder h = { .pid = pid, .hugetlb_kb = kb };
        size_t len;
        const char *name = status_value(text, "Name", &len);
        if (name)
                printable(name, len, h.name, sizeof(h.name));
        *ret = h;
        return 1;
}

int holders_scan(const struct sysfs *fs, const struct sizes *s, const struct holders_opts *opts,
                 struct holders *ret, struct errbuf *err)
{
        size_t max_holders = opts && opts->max_holders ? opts->max_holders : HOLDERS_DEFAULT_MAX;
        size_t max_scan = opts && opts->max_scan ? opts->max_scan : HOLDERS_DEFAULT_MAX_SCAN;
        bool details = !(opts && opts->no_details);

        _cleanup_close_ int dirfd = open(fs->proc_root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dirfd < 0)
                return errbuf_set(err, -errno, "cannot open %s: %s", fs->proc_root, strerror(errno));
        int listfd = dup(dirfd);
        if (listfd < 0)
                return errbuf_set(err, -errno, "cannot list %s: %s", fs->proc_root, strerror(errno));
        _cleanup_closedir_ DIR *d = fdopendir(listfd);
        if (!d) {
                int e = errno;
                close(listfd);
                return errbuf_set(err, -e, "cannot list %s: %s", fs->proc_root, strerror(e));
        }

        struct holders out = { .items = calloc(max_holders, sizeof(struct holder)) };
        if (!out.items)
                return -ENOMEM;
        size_t worst = 0; /* index of the smallest kept holder, when full */
        int r = 0;
        struct dirent *de;
        while ((errno = 0, de = readdir(d))) {
                int pid;
                if (!parse_pid(de->d_name, &pid))
                        continue;
                if (out.scanned == max_scan) {
                        out.truncated = true;
                        break;
                }
                out.scanned++;
                struct holder h;
                r = read_status(dirfd, pid, &h);
                if (r < 0)
                        break;
                if (r == 0)
                        continue;
                out.n_found++;
                if (__builtin_add_overflow(out.found_kb, h.hugetlb_kb, &out.found_kb))
                        out.found_kb = UINT64_MAX;
                if (out.n < max_holders)
                        out.items[out.n++] = h;
                else if (better(&h, &out.items[worst]))
                        out.items[worst] = h;
                else
                        continue;
                if (out.n == max_holders) {
                        worst = 0;
                        for (size_t i = 1; i < out.n; i++)
                                if (better(&out.items[worst], &out.items[i]))
                                        worst = i;
                }
        }
        if (r >= 0 && !de && errno != 0)
                r = errbuf_set(err, -errno, "cannot list %s: %s", fs->proc_root, strerror(errno));
        if (r < 0) {
                free(out.items);
                return r;
        }
        r = 0;
        qsort(out.items, out.n, sizeof(struct holder), cmp_holder);

        for (size_t i = 0; i < out.n; i++) {
                struct holder *h = &out.items[i];
                r = read_command(dirfd, h);
                if (r < 0)
                        break;
                read_cgroup(dirfd, h);
                if (details && read_numa_maps(dirfd, h)) {
                        h->pages_known = true;
                } else {
                        h->n_pages = 0;
                        guess_pages(s, h);
                }
        }
        if (r < 0) {
                holders_release(&out);
                return r;
        }
        *ret = out;
        return 0;
}

void holders_release(struct holders *h)
{
        if (!h)
                return;
        for (size_t i = 0; h->items && i < h->n; i++)
                free(h->items[i].command);
        free(h->items);
        *h = (struct holders){ 0 };
}

/* ---- JSON ------------------------------------------------------------- */

static int set_str(json_t *o, const char *key, const char *value)
{
        return value[0] ? json_object_set_new(o, key, json_string(value)) : 0;
}

static json_t *holder_json(const struct holder *h)
{
        char q[QUANTITY_MAX];
        _cleanup_json_ json_t *pages = json_array();
        if (!pages)
                return NULL;
        for (size_t i = 0; i < h->n_pages; i++) {
                const struct holder_pages *p = &h->pages[i];
                json_t *o = json_pack("{s:s, s:I}", "size", quantity_format(p->size_kb * 1024, q), "pages",
                                      jint(p->pages));
                if (!o || json_array_append_new(pages, o) < 0)
                        return NULL;
                if (p->node >= 0 && json_object_set_new(o, "node", json_integer(p->node)) < 0)
                        return NULL;
        }
        uint64_t bytes;
        if (__builtin_mul_overflow(h->hugetlb_kb, 1024, &bytes))
                bytes = UINT64_MAX;
        _cleanup_json_ json_t *o =
                json_pack("{s:i, s:s, s:I, s:O, s:b}", "pid", h->pid, "name", h->name, "hugetlb_bytes",
                          jint(bytes), "pages", pages, "pages_known", h->pages_known);
        if (!o)
                return NULL;
        if ((h->command && json_object_set_new(o, "command", json_string(h->command)) < 0) ||
            set_str(o, "pod_uid", h->pod_uid) < 0 || set_str(o, "container_id", h->container_id) < 0 ||
            set_str(o, "container_runtime", h->container_runtime) < 0 ||
            set_str(o, "qos_class", h->qos_class) < 0)
                return NULL;
        if (h->vm_domain[0]) {
                json_t *vm = json_pack("{s:s}", "domain", h->vm_domain);
                if (!vm || json_object_set_new(o, "vm", vm) < 0 ||
                    set_str(vm, "namespace", h->vm_namespace) < 0 || set_str(vm, "name", h->vm_name) < 0)
                        return NULL;
        }
        return TAKE_PTR(o);
}

json_t *holders_to_json(const struct holders *h)
{
        _cleanup_json_ json_t *list = json_array();
        if (!list)
                return NULL;
        for (size_t i = 0; i < h->n; i++)
                if (json_array_append_new(list, holder_json(&h->items[i])) < 0)
                        return NULL;
        uint64_t bytes;
        if (__builtin_mul_overflow(h->found_kb, 1024, &bytes))
                bytes = UINT64_MAX;
        return json_pack("{s:O, s:I, s:I, s:I, s:I, s:b}", "processes", list, "found", jint(h->n_found),
                         "listed", jint(h->n), "hugetlb_bytes", jint(bytes), "scanned", jint(h->scanned),
                         "truncated", h->truncated);
}
