/* See smaps.h. The parser is strict about the lines it must understand (a
 * header, a "Key: value" line) and reads only the keys it needs, so a kernel
 * that adds fields does not break it. */
#include "smaps.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "cleanup.h"

static int hexval(char c)
{
        if (c >= '0' && c <= '9')
                return c - '0';
        if (c >= 'a' && c <= 'f')
                return c - 'a' + 10;
        return -1;
}

/* Parses lower-case hex digits at *p; advances *p. */
static bool parse_hex(const char **p, uint64_t *ret)
{
        const char *s = *p;
        uint64_t v = 0;
        size_t n = 0;
        for (int d; (d = hexval(*s)) >= 0; s++, n++) {
                if (n == 16)
                        return false;
                v = v << 4 | (uint64_t) d;
        }
        if (n == 0)
                return false;
        *p = s;
        *ret = v;
        return true;
}

/* A header line: "start-end perms offset dev inode [path]". Only the range
 * is used; the perms are checked so that no other line passes for one. */
static bool parse_header(const char *line, const char *eol, uint64_t *ret_start, uint64_t *ret_end)
{
        const char *p = line;
        uint64_t start, end;
        if (!parse_hex(&p, &start) || *p++ != '-' || !parse_hex(&p, &end) || *p++ != ' ')
                return false;
        if (eol - p < 5 || p[4] != ' ')
                return false;
        for (int i = 0; i < 4; i++)
                if (!strchr(i == 3 ? "ps" : i == 0 ? "r-" : i == 1 ? "w-" : "x-", p[i]))
                        return false;
        if (end <= start)
                return false;
        *ret_start = start;
        *ret_end = end;
        return true;
}

/* The value of "Key:   123 kB". */
static bool parse_kb(const char *v, const char *eol, uint64_t *ret)
{
        while (v < eol && *v == ' ')
                v++;
        uint64_t n = 0;
        const char *d = v;
        for (; d < eol && *d >= '0' && *d <= '9'; d++)
                if (__builtin_mul_overflow(n, 10, &n) || __builtin_add_overflow(n, (uint64_t) (*d - '0'), &n))
                        return false;
        if (d == v || eol - d != 3 || memcmp(d, " kB", 3) != 0)
                return false;
        *ret = n;
        return true;
}

struct vma {
        bool overlaps;
        uint64_t kernel_page_kb, mmu_page_kb;
};

/* Folds one VMA's page sizes into the range: they must agree. */
static void fold_page_sizes(struct smaps_range *r, const struct vma *v, bool first)
{
        if (first) {
                r->kernel_page_kb = v->kernel_page_kb;
                r->mmu_page_kb = v->mmu_page_kb;
                return;
        }
        if (r->kernel_page_kb != v->kernel_page_kb)
                r->kernel_page_kb = 0;
        if (r->mmu_page_kb != v->mmu_page_kb)
                r->mmu_page_kb = 0;
}

int smaps_parse(const char *text, uint64_t start, uint64_t end, struct smaps_range *ret, struct errbuf *err)
{
        if (start >= end)
                return errbuf_set(err, -EINVAL, "empty range %#llx-%#llx", (unsigned long long) start,
                                  (unsigned long long) end);
        struct smaps_range r = { .start = start, .end = end };
        struct vma v = { 0 };
        bool in_vma = false;
        unsigned lineno = 0;

        for (const char *line = text; *line;) {
                const char *eol = strchr(line, '\n');
                if (!eol)
                        eol = line + strlen(line);
                lineno++;
                uint64_t s, e;
                if (hexval(*line) >= 0) {
                        if (!parse_header(line, eol, &s, &e))
                                return errbuf_set(err, -EINVAL,
                                                  "smaps line %u: not a mapping header: \"%.*s\"", lineno,
                                                  (int) (eol - line > 80 ? 80 : eol - line), line);
                        if (v.overlaps)
                                fold_page_sizes(&r, &v, r.n_vmas == 1);
                        v = (struct vma){ .overlaps = s < end && e > start };
                        in_vma = true;
                        if (v.overlaps) {
                                r.n_vmas++;
                                r.exact = r.n_vmas == 1 && s == start && e == end;
                        }
                } else if (eol > line) {
                        const char *colon = memchr(line, ':', (size_t) (eol - line));
                        if (!in_vma || !colon || colon == line)
                                return errbuf_set(err, -EINVAL,
                                                  "smaps line %u: expected \"Key: value\": \"%.*s\"", lineno,
                                                  (int) (eol - line > 80 ? 80 : eol - line), line);
                        size_t klen = (size_t) (colon - line);
                        const char *val = colon + 1;
                        uint64_t *field = NULL;
#define KEY(k) (klen == sizeof(k) - 1 && memcmp(line, k, klen) == 0)
                        if (KEY("Size"))
                                field = &r.size_kb;
                        else if (KEY("Rss"))
                                field = &r.rss_kb;
                        else if (KEY("AnonHugePages"))
                                field = &r.anon_huge_kb;
                        else if (KEY("Shared_Hugetlb"))
                                field = &r.shared_hugetlb_kb;
                        else if (KEY("Private_Hugetlb"))
                                field = &r.private_hugetlb_kb;
                        else if (KEY("KernelPageSize"))
                                field = &v.kernel_page_kb;
                        else if (KEY("MMUPageSize"))
                                field = &v.mmu_page_kb;
                        if (v.overlaps && KEY("VmFlags") && r.n_vmas == 1) {
                                while (val < eol && *val == ' ')
                                        val++;
                                size_t n = (size_t) (eol - val);
                                while (n > 0 && val[n - 1] == ' ')
                                        n--;
                                if (n >= sizeof(r.vmflags))
                                        n = sizeof(r.vmflags) - 1;
                                memcpy(r.vmflags, val, n);
                                r.vmflags[n] = '\0';
                        }
#undef KEY
                        if (field) {
                                uint64_t kb;
                                if (!parse_kb(val, eol, &kb))
                                        return errbuf_set(err, -EINVAL,
                                                          "smaps line %u: expected \"%.*s: N kB\": \"%.*s\"",
                                                          lineno, (int) klen, line,
                                                          (int) (eol - line > 80 ? 80 : eol - line), line);
                                if (v.overlaps && (field == &v.kernel_page_kb || field == &v.mmu_page_kb))
                                        *field = kb;
                                else if (v.overlaps && __builtin_add_overflow(*field, kb, field))
                                        return errbuf_set(err, -EINVAL, "smaps line %u: the sum overflows",
                                                          lineno);
                        }
                }
                line = *eol ? eol + 1 : eol;
        }
        if (v.overlaps)
                fold_page_sizes(&r, &v, r.n_vmas == 1);
        if (r.n_vmas == 0)
                return errbuf_set(err, -ENOENT, "no mapping overlaps %#llx-%#llx", (unsigned long long) start,
                                  (unsigned long long) end);
        *ret = r;
        return 0;
}

bool smaps_has_flag(const struct smaps_range *r, const char *flag)
{
        size_t n = strlen(flag);
        for (const char *p = r->vmflags; *p;) {
                const char *e = strchr(p, ' ');
                size_t len = e ? (size_t) (e - p) : strlen(p);
                if (len == n && memcmp(p, flag, n) == 0)
                        return true;
                if (!e)
                        break;
                p = e + 1;
        }
        return false;
}

int smaps_read(const struct sysfs *fs, const char *rel, uint64_t start, uint64_t end, struct smaps_range *ret,
               struct errbuf *err)
{
        for (size_t size = 256u << 10;; size *= 2) {
                _cleanup_free_ char *buf = malloc(size);
                if (!buf)
                        return errbuf_set(err, -ENOMEM, "no memory for %zu bytes of %s", size, rel);
                int r = sysfs_read(fs, SYSFS_PROC, rel, buf, size, NULL, err);
                if (r == -EFBIG && size < SMAPS_MAX_BYTES)
                        continue;
                if (r < 0)
                        return r;
                return smaps_parse(buf, start, end, ret, err);
        }
}
