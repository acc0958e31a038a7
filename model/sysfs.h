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

struct sysfs {
        char *sys_root;  /* owned */
        char *proc_root; /* owned */
};

/* Copies both roots; trailing slashes are dropped. Returns 0 or -ENOMEM. */
int sysfs_init(struct sysfs *fs, const char *sys_root, const char *proc_root);
void sysfs_release(struct sysfs *fs);

/* Reads a whole (small) file into buf, NUL-terminated. Files larger than
 * size-1 bytes give -EFBIG. ret_len may be NULL. */
int sysfs_read(const struct sysfs *fs, enum sysfs_tree tree, const char *rel, char *buf, size_t size,
               size_t *ret_len, struct errbuf *err);

/* Reads a file holding one unsigned decimal number and a newline, as the
 * hugetlb counters do. Anything else gives -EINVAL with the text quoted. */
int sysfs_read_u64(const struct sysfs *fs, enum sysfs_tree tree, const char *rel, uint64_t *ret,
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
