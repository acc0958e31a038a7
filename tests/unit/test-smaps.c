/* Unit tests for model/smaps.c: the proof of backing read from real smaps
 * files of a Linux 6.18 x86_64 VM (tests/fixtures/smaps: base pages, THP,
 * 2 MiB and 1 GiB hugetlb pages, private and shared, before and after a
 * fork), the parser's refusals, the read through the I/O seam with a file
 * larger than the first buffer, and the test process's own smaps. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../../model/cleanup.h"
#include "../../model/smaps.h"
#include "fixture.h"

#define SMAPS FIXTURES "/smaps"

/* The mappings capture.c made, from addresses.txt. */
struct mapping {
        char name[32];
        uint64_t start, end;
};
static struct mapping maps[8];
static size_t n_maps;

static char *slurp(const char *path)
{
        FILE *f = fopen(path, "re");
        if (!f)
                fail_msg("cannot open %s", path);
        char *buf = malloc(1 << 20);
        assert_non_null(buf);
        size_t n = fread(buf, 1, (1 << 20) - 1, f);
        buf[n] = '\0';
        fclose(f);
        return buf;
}

static const struct mapping *mapping(const char *name)
{
        if (n_maps == 0) {
                _cleanup_free_ char *text = slurp(SMAPS "/addresses.txt");
                char *save = NULL;
                for (char *line = strtok_r(text, "\n", &save); line && n_maps < 8;
                     line = strtok_r(NULL, "\n", &save)) {
                        unsigned long long s, e;
                        struct mapping *m = &maps[n_maps];
                        if (sscanf(line, "%31s %llx %llx", m->name, &s, &e) != 3)
                                fail_msg("addresses.txt: bad line \"%s\"", line);
                        m->start = s;
                        m->end = e;
                        n_maps++;
                }
        }
        for (size_t i = 0; i < n_maps; i++)
                if (strcmp(maps[i].name, name) == 0)
                        return &maps[i];
        fail_msg("no mapping %s in addresses.txt", name);
        return NULL;
}

static struct smaps_range parse_ok(const char *file, const char *name)
{
        _cleanup_free_ char *text = slurp(file);
        const struct mapping *m = mapping(name);
        struct smaps_range r;
        struct errbuf err = { "" };
        int k = smaps_parse(text, m->start, m->end, &r, &err);
        if (k != 0)
                fail_msg("smaps_parse(%s, %s) = %d: %s", file, name, k, err.msg);
        assert_true(r.exact);
        assert_int_equal(r.n_vmas, 1);
        assert_int_equal(r.size_kb * 1024, m->end - m->start);
        return r;
}

static void test_base_and_thp(void **state)
{
        (void) state;
        struct smaps_range r = parse_ok(SMAPS "/all.smaps", "base");
        assert_int_equal(r.kernel_page_kb, 4);
        assert_int_equal(r.mmu_page_kb, 4);
        assert_int_equal(r.rss_kb, 8192);
        assert_int_equal(r.anon_huge_kb, 0);
        assert_int_equal(smaps_hugetlb_kb(&r), 0);
        assert_string_equal(r.vmflags, "rd wr mr mw me ac nh");
        assert_true(smaps_has_flag(&r, "nh"));
        assert_false(smaps_has_flag(&r, "hg"));
        assert_false(smaps_has_flag(&r, "n"));
        assert_false(smaps_has_flag(&r, "ht"));

        /* THP: the kernel page size stays the base page; AnonHugePages
         * counts the PMD-mapped part. */
        r = parse_ok(SMAPS "/all.smaps", "thp");
        assert_int_equal(r.kernel_page_kb, 4);
        assert_int_equal(r.rss_kb, 8192);
        assert_int_equal(r.anon_huge_kb, 8192);
        assert_int_equal(smaps_hugetlb_kb(&r), 0);
        assert_true(smaps_has_flag(&r, "hg"));
        assert_false(smaps_has_flag(&r, "nh"));
}

/* name, kernel page size, Shared_Hugetlb and Private_Hugetlb in kB. */
static void check_hugetlb(const char *file, const char *name, uint64_t page_kb, uint64_t shared_kb,
                          uint64_t private_kb)
{
        struct smaps_range r = parse_ok(file, name);
        if (r.kernel_page_kb != page_kb || r.mmu_page_kb != page_kb)
                fail_msg("%s %s: KernelPageSize %llu, MMUPageSize %llu, expected %llu", file, name,
                         (unsigned long long) r.kernel_page_kb, (unsigned long long) r.mmu_page_kb,
                         (unsigned long long) page_kb);
        if (r.shared_hugetlb_kb != shared_kb || r.private_hugetlb_kb != private_kb)
                fail_msg("%s %s: Shared_Hugetlb %llu, Private_Hugetlb %llu, expected %llu and %llu", file,
                         name, (unsigned long long) r.shared_hugetlb_kb,
                         (unsigned long long) r.private_hugetlb_kb, (unsigned long long) shared_kb,
                         (unsigned long long) private_kb);
        assert_int_equal(smaps_hugetlb_kb(&r), shared_kb + private_kb);
        assert_int_equal(smaps_hugetlb_kb(&r) * 1024, mapping(name)->end - mapping(name)->start);
        /* hugetlb pages are not in Rss, nor are they THP. */
        assert_int_equal(r.rss_kb, 0);
        assert_int_equal(r.anon_huge_kb, 0);
        assert_true(smaps_has_flag(&r, "ht"));
}

static void test_hugetlb_private(void **state)
{
        (void) state;
        /* Freshly mapped by one process: Private_Hugetlb, for MAP_PRIVATE
         * and for a MAP_SHARED memfd alike. */
        check_hugetlb(SMAPS "/all.smaps", "hugetlb-2m-private", 2048, 0, 8192);
        check_hugetlb(SMAPS "/all.smaps", "hugetlb-2m-shared", 2048, 0, 8192);
        check_hugetlb(SMAPS "/all.smaps", "hugetlb-1g-private", 1048576, 0, 1048576);
        check_hugetlb(SMAPS "/all.smaps", "hugetlb-1g-shared", 1048576, 0, 1048576);
        struct smaps_range r = parse_ok(SMAPS "/all.smaps", "hugetlb-1g-shared");
        assert_true(smaps_has_flag(&r, "sh"));
}

static void test_hugetlb_shared(void **state)
{
        (void) state;
        /* Mapped by two processes after fork: Shared_Hugetlb, 1 GiB pages
         * too, in the parent and in the child. */
        static const char *const files[] = { SMAPS "/parent-after-fork.smaps",
                                             SMAPS "/child-after-fork.smaps" };
        for (size_t i = 0; i < 2; i++) {
                check_hugetlb(files[i], "hugetlb-2m-private", 2048, 8192, 0);
                check_hugetlb(files[i], "hugetlb-2m-shared", 2048, 8192, 0);
                check_hugetlb(files[i], "hugetlb-1g-private", 1048576, 1048576, 0);
                check_hugetlb(files[i], "hugetlb-1g-shared", 1048576, 1048576, 0);
        }
}

static void test_ranges(void **state)
{
        (void) state;
        _cleanup_free_ char *text = slurp(SMAPS "/all.smaps");
        const struct mapping *m = mapping("hugetlb-1g-private");
        struct smaps_range r;

        /* Part of one VMA: that VMA, whole, and not exact. */
        assert_int_equal(smaps_parse(text, m->start + 4096, m->start + 8192, &r, NULL), 0);
        assert_false(r.exact);
        assert_int_equal(r.n_vmas, 1);
        assert_int_equal(r.private_hugetlb_kb, 1048576);

        /* The guard before it and the mapping: two VMAs whose page sizes
         * differ, so no common page size. */
        assert_int_equal(smaps_parse(text, m->start - 4096, m->end, &r, NULL), 0);
        assert_false(r.exact);
        assert_int_equal(r.n_vmas, 2);
        assert_int_equal(r.kernel_page_kb, 0);
        assert_int_equal(r.mmu_page_kb, 0);
        assert_int_equal(r.private_hugetlb_kb, 1048576);
        assert_string_equal(r.vmflags, "mr mw me nr"); /* the first VMA's: the PROT_NONE guard */

        /* Two base-page VMAs agree on the page size. */
        const struct mapping *base = mapping("base");
        assert_int_equal(smaps_parse(text, base->start - 4096, base->end, &r, NULL), 0);
        assert_int_equal(r.n_vmas, 2);
        assert_int_equal(r.kernel_page_kb, 4);

        /* The last VMA of the file, and the end of the address space. */
        assert_int_equal(smaps_parse(text, 0xffffffffff600000ULL, 0xffffffffff601000ULL, &r, NULL), 0);
        assert_true(r.exact);
        assert_int_equal(r.size_kb, 4);
}

static void test_no_overlap(void **state)
{
        (void) state;
        _cleanup_free_ char *text = slurp(SMAPS "/all.smaps");
        struct smaps_range r, before;
        memset(&r, 0x5a, sizeof(r));
        before = r;
        struct errbuf err = { "" };
        assert_int_equal(smaps_parse(text, 0x1000, 0x2000, &r, &err), -ENOENT);
        assert_memory_equal(&r, &before, sizeof(r));
        if (!strstr(err.msg, "0x1000-0x2000"))
                fail_msg("the error \"%s\" does not name the range", err.msg);
        assert_int_equal(smaps_parse("", 0x1000, 0x2000, &r, NULL), -ENOENT);
        assert_int_equal(smaps_parse(text, 0x2000, 0x2000, &r, NULL), -EINVAL);
        assert_int_equal(smaps_parse(text, 0x3000, 0x2000, &r, NULL), -EINVAL);
        assert_memory_equal(&r, &before, sizeof(r));
}

static void check_malformed(const char *text, unsigned line)
{
        struct smaps_range r, before;
        memset(&r, 0x5a, sizeof(r));
        before = r;
        struct errbuf err = { "" };
        int k = smaps_parse(text, 0x1000, 0x2000, &r, &err);
        if (k != -EINVAL)
                fail_msg("smaps_parse(\"%s\") = %d, expected -EINVAL", text, k);
        assert_memory_equal(&r, &before, sizeof(r));
        char want[32];
        snprintf(want, sizeof(want), "line %u", line);
        if (!strstr(err.msg, want))
                fail_msg("the error \"%s\" does not name %s", err.msg, want);
}

static void test_malformed(void **state)
{
        (void) state;
        const char *hdr = "1000-2000 rw-p 00000000 00:00 0 \n";
        char text[512];
        check_malformed("Size: 4 kB\n", 1); /* a field before any header */
        check_malformed("1000-2000\nSize: 4 kB\n", 1);
        check_malformed("1000+2000 rw-p 00000000 00:00 0\n", 1);
        check_malformed("2000-1000 rw-p 00000000 00:00 0\n", 1); /* end before start */
        check_malformed("1000-2000 rwzp 00000000 00:00 0\n", 1);
        check_malformed("1000-2000 rw-p00000000 00:00 0\n", 1);
        check_malformed("10000000000000000-10000000000000001 rw-p 0 00:00 0\n", 1); /* 17 digits */
        snprintf(text, sizeof(text), "%sSize 4 kB\n", hdr);
        check_malformed(text, 2);
        snprintf(text, sizeof(text), "%sSize:                  4\n", hdr);
        check_malformed(text, 2);
        snprintf(text, sizeof(text), "%sSize: 4 MB\n", hdr);
        check_malformed(text, 2);
        snprintf(text, sizeof(text), "%sSize:\n", hdr);
        check_malformed(text, 2);
        snprintf(text, sizeof(text), "%sSize: 4 kB\nRss: -4 kB\n", hdr);
        check_malformed(text, 3);
        snprintf(text, sizeof(text), "%sRss: 99999999999999999999 kB\n", hdr);
        check_malformed(text, 2);
        snprintf(text, sizeof(text), "%s: 4 kB\n", hdr);
        check_malformed(text, 2);
}

static void test_tolerant(void **state)
{
        (void) state;
        /* Unknown keys, keys without kB (THPeligible), no VmFlags, no
         * final newline, an empty line: all fine. */
        const char *text = "1000-3000 rw-p 00000000 00:00 0\n"
                           "Size:                  8 kB\n"
                           "NewField:    whatever 7\n"
                           "THPeligible:           0\n"
                           "\n"
                           "KernelPageSize:        4 kB\n"
                           "Rss:                   4 kB";
        struct smaps_range r;
        assert_int_equal(smaps_parse(text, 0x1000, 0x3000, &r, NULL), 0);
        assert_true(r.exact);
        assert_int_equal(r.size_kb, 8);
        assert_int_equal(r.rss_kb, 4);
        assert_int_equal(r.kernel_page_kb, 4);
        assert_int_equal(r.mmu_page_kb, 0);
        assert_string_equal(r.vmflags, "");
}

/* Through the I/O seam: a procfs root holding a copy of the sample, then
 * one grown past the first buffer. */
static void test_read(void **state)
{
        (void) state;
        char *dir = fixture_copy("nonuma");
        char self[4096];
        snprintf(self, sizeof(self), "%s/proc/self", dir);
        assert_int_equal(mkdir(self, 0755), 0);
        _cleanup_free_ char *text = slurp(SMAPS "/all.smaps");
        fixture_put(dir, "proc/self/smaps", text);
        struct sysfs fs;
        fixture_sysfs(dir, &fs);
        const struct mapping *m = mapping("thp");
        struct smaps_range r;
        struct errbuf err = { "" };
        assert_int_equal(smaps_read(&fs, "self/smaps", m->start, m->end, &r, &err), 0);
        assert_int_equal(r.anon_huge_kb, 8192);

        /* 40 copies, about 1.1 MB: the buffer grows from 256 KiB. The
         * mapping's counters add up over the copies. */
        size_t len = strlen(text);
        char *big = malloc(40 * len + 1);
        assert_non_null(big);
        for (int i = 0; i < 40; i++)
                memcpy(big + (size_t) i * len, text, len);
        big[40 * len] = '\0';
        fixture_put(dir, "proc/self/smaps", big);
        free(big);
        assert_int_equal(smaps_read(&fs, "self/smaps", m->start, m->end, &r, &err), 0);
        assert_int_equal(r.n_vmas, 40);
        assert_int_equal(r.anon_huge_kb, 40 * 8192);
        assert_false(r.exact);

        /* A missing file names itself. */
        assert_int_equal(smaps_read(&fs, "1/smaps", m->start, m->end, &r, &err), -ENOENT);
        if (!strstr(err.msg, "/proc/1/smaps"))
                fail_msg("the error \"%s\" does not name the file", err.msg);

        sysfs_release(&fs);
        fixture_remove(dir);
}

/* The running kernel: a mapping of our own, between guards. */
static void test_own_process(void **state)
{
        (void) state;
        size_t page = (size_t) sysconf(_SC_PAGESIZE), len = 16 * page;
        char *g = mmap(NULL, len + 2 * page, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        assert_true(g != MAP_FAILED);
        char *a = mmap(g + page, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
        assert_true(a == g + page);
        assert_int_equal(madvise(a, len, MADV_NOHUGEPAGE), 0);
        for (size_t i = 0; i < len / 2; i += page)
                a[i] = 1;
        struct sysfs fs;
        assert_int_equal(sysfs_init(&fs, "/sys", "/proc"), 0);
        struct smaps_range r;
        struct errbuf err = { "" };
        int k = smaps_read(&fs, "self/smaps", (uint64_t) (uintptr_t) a, (uint64_t) (uintptr_t) (a + len), &r,
                           &err);
        if (k != 0)
                fail_msg("smaps_read: %d: %s", k, err.msg);
        assert_true(r.exact);
        assert_int_equal(r.size_kb * 1024, len);
        assert_int_equal(r.rss_kb * 1024, len / 2);
        assert_int_equal(r.kernel_page_kb * 1024, page);
        assert_int_equal(r.anon_huge_kb, 0);
        assert_true(smaps_has_flag(&r, "nh"));
        sysfs_release(&fs);
        munmap(g, len + 2 * page);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_base_and_thp),   cmocka_unit_test(test_hugetlb_private),
                cmocka_unit_test(test_hugetlb_shared), cmocka_unit_test(test_ranges),
                cmocka_unit_test(test_no_overlap),     cmocka_unit_test(test_malformed),
                cmocka_unit_test(test_tolerant),       cmocka_unit_test(test_read),
                cmocka_unit_test(test_own_process),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
