/* What /proc/<pid>/smaps says about one range of a process's memory: how it
 * is really backed. The probe (probe.h) maps its working sets and reads the
 * proof of their backing here rather than trusting what it asked for:
 *
 *   - base pages: KernelPageSize is the base page, AnonHugePages is 0, and
 *     VmFlags holds "nh" (MADV_NOHUGEPAGE);
 *   - THP: AnonHugePages counts the bytes mapped by PMD-sized huge pages
 *     (KernelPageSize stays the base page: THP is not a hugetlb size);
 *   - hugetlb: KernelPageSize (and MMUPageSize) is the huge page size, Rss
 *     stays 0, and the pages are counted in Shared_Hugetlb or
 *     Private_Hugetlb. Which one depends on how many processes map each
 *     page, not on MAP_SHARED: a fresh memfd mapping counts as private, a
 *     private mapping after fork as shared, for 2 MiB and 1 GiB pages alike
 *     (tests/fixtures/smaps). The sum of both is what was obtained.
 *
 * The format (fs/proc/task_mmu.c): per VMA a header line
 * "start-end perms offset dev inode [path]" in lower-case hex, then
 * "Key:   value kB" lines, and "VmFlags: rd wr …" last. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "errbuf.h"
#include "sysfs.h"

/* The longest smaps file read: a process with tens of thousands of VMAs. */
#define SMAPS_MAX_BYTES (64u << 20)

struct smaps_range {
        uint64_t start, end; /* the range asked about, [start, end) */
        size_t n_vmas;       /* VMAs that overlap it */
        bool exact;          /* exactly one VMA, and it is [start, end) */
        /* Sums over the overlapping VMAs, whole VMAs (smaps has no finer
         * grain), in kB as the kernel prints them. */
        uint64_t size_kb, rss_kb, anon_huge_kb, shared_hugetlb_kb, private_hugetlb_kb;
        /* The VMAs' page sizes when they agree, else 0 (also when the
         * kernel printed none). */
        uint64_t kernel_page_kb, mmu_page_kb;
        /* VmFlags of the first overlapping VMA, e.g. "rd wr mr mw me ac hg";
         * empty on kernels that print none. */
        char vmflags[128];
};

/* Pages of a hugetlb size, counted under either name. */
static inline uint64_t smaps_hugetlb_kb(const struct smaps_range *r)
{
        return r->shared_hugetlb_kb + r->private_hugetlb_kb;
}

/* Tells whether the two-letter flag (e.g. "hg", "nh", "ht") is in vmflags. */
bool smaps_has_flag(const struct smaps_range *r, const char *flag);

/* Parses smaps text and describes [start, end). Returns 0; -ENOENT when no
 * VMA overlaps the range; -EINVAL when start >= end or the text is not
 * smaps (err names the line). ret is written only on success. */
int smaps_parse(const char *text, uint64_t start, uint64_t end, struct smaps_range *ret, struct errbuf *err);

/* Reads the procfs file rel ("self/smaps") through the I/O seam and parses
 * it as above. The file is read whole into a buffer that grows up to
 * SMAPS_MAX_BYTES. */
int smaps_read(const struct sysfs *fs, const char *rel, uint64_t start, uint64_t end, struct smaps_range *ret,
               struct errbuf *err);
