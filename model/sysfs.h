/* The I/O seam between hugepaged and the kernel: the only module that opens
 * files under /sys and /proc. Every path is relative to a root directory
 * given at start-up, so tests can point the service at a fake tree that
 * copies the kernel's formats.
 *
 * Reads return what the kernel printed; writes put plain decimal or a bare
 * keyword, as the kernel's parsers expect (see KERNEL.md §1: sysfs uses
 * kstrtoul base 10 and rejects anything else). */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "errbuf.h"

enum sysfs_tree {
        SYSFS_SYS,  /* the sysfs root, "/sys" on a real host */
        SYSFS_PROC, /* the procfs root, "/proc" on a real host */
};

struct sysfs_kept;

struct sysfs {
        char *sys_root;  /* owned */
        char *proc_root; /* owned */
        struct sysfs_kept *kept; /* owned; NULL until sysfs_keep_open() */
};

/* Copies both roots; trailing slashes are dropped. Returns 0 or -ENOMEM. */
int sysfs_init(struct sysfs *fs, const char *sys_root, const char *proc_root);
/* Closes the kept files too. */
void sysfs_release(struct sysfs *fs);

/* Kept-open files, for the fixed set of counters every GET /status, /sizes
 * and /metrics reads (some 30 files): opening and closing them is most of
 * the cost of a read (a path walk and a file allocation per file), while a
 * pread() at offset 0 of a file kept open makes sysfs and procfs print a
 * fresh value each time. So sysfs_read_kept() and sysfs_read_u64_kept() give
 * the same values as a new open would, with these bounds:
 *
 * - every write through this struct (sysfs_write_*) closes the kept files
 *   first, so no read after a change made here can see an older file;
 * - a file that fails on its kept descriptor is read again by opening it
 *   (and the kept set is dropped), so a vanished node gives the same error
 *   as before;
 * - the kept set is closed and reopened at least every SYSFS_KEPT_MS, so a
 *   file replaced by another one under the same name (which the kernel's
 *   sysfs never does, a fake tree may) is seen at most that late.
 *
 * Off until sysfs_keep_open(); then safe to use from several threads at
 * once. Returns 0 or -ENOMEM. */
#define SYSFS_KEPT_MS 1000
int sysfs_keep_open(struct sysfs *fs);
/* Closes the kept files now; the next read opens them again. */
void sysfs_forget(const struct sysfs *fs);

/* Reads a whole (small) file into buf, NUL-terminated. Files larger than
 * size-1 bytes give -EFBIG. ret_len may be NULL. */
int sysfs_read(const struct sysfs *fs, enum sysfs_tree tree, const char *rel, char *buf, size_t size,
               size_t *ret_len, struct errbuf *err);

/* Reads a file holding one unsigned decimal number and a newline, as the
 * hugetlb counters do. Anything else gives -EINVAL with the text quoted. */
int sysfs_read_u64(const struct sysfs *fs, enum sysfs_tree tree, const char *rel, uint64_t *ret,
                   struct errbuf *err);

/* As sysfs_read() and sysfs_read_u64(), through a kept descriptor when
 * sysfs_keep_open() was called (see above). */
int sysfs_read_kept(const struct sysfs *fs, enum sysfs_tree tree, const char *rel, char *buf, size_t size,
                    size_t *ret_len, struct errbuf *err);
int sysfs_read_u64_kept(const struct sysfs *fs, enum sysfs_tree tree, const char *rel, uint64_t *ret,
                        struct errbuf *err);

/* Writes value in plain decimal. */
int sysfs_write_u64(const struct sysfs *fs, const char *rel, uint64_t value, struct errbuf *err);

/* Writes a bare keyword (letters, digits, '+', '_' only). */
int sysfs_write_word(const struct sysfs *fs, const char *rel, const char *word, struct errbuf *err);

/* Tells whether rel exists (any type). */
bool sysfs_exists(const struct sysfs *fs, enum sysfs_tree tree, const char *rel);

/* Lists the entries of directory rel whose names start with prefix, sorted
 * by name; "." and ".." are skipped. *ret_names is a NULL-terminated array
 * the caller frees with sysfs_names_free(). A missing directory gives
 * -ENOENT. */
int sysfs_list(const struct sysfs *fs, enum sysfs_tree tree, const char *rel, const char *prefix,
               char ***ret_names, size_t *ret_n, struct errbuf *err);
char **sysfs_names_free(char **names);
