/* The boot-arguments backend: the kernel parameters a confirmed config
 * needs at boot, written into a GRUB environment block, and a comparison of
 * the running kernel's command line with them.
 *
 * Selected with --boot-args grubenv:FILE:VARIABLE. On Harvester/Elemental
 * that is grubenv:/oem/grubenv:third_party_kernel_args: /etc/cos/bootargs.cfg
 * appends $third_party_kernel_args to the kernel command line, and the
 * variable already holds the operator's own arguments (multipath=off,
 * ifname=...), see KERNEL.md §6.
 *
 * Which parameters. In the order the kernel requires (KERNEL.md §2):
 *
 *   default_hugepagesz=1G hugepagesz=32M hugepages=8 hugepagesz=1G hugepages=0:2,1:2
 *   transparent_hugepage=madvise
 *
 *   - default_hugepagesz= when the config sets default_size: the default
 *     size can change only at boot.
 *   - hugepagesz=X hugepages=N for each managed pool of a *gigantic* size
 *     (larger than the buddy allocator's largest block, size_is_gigantic()),
 *     ascending by size, always as a pair: a hugepages= that follows no
 *     hugepagesz= would set the default size's pool instead. A pool given
 *     per node is written in the node format hugepages=0:2,1:2 (nodes the
 *     config does not list get no pages at boot); nodes with 0 pages are
 *     left out and a pool of 0 pages writes nothing, which is what the
 *     kernel does without a parameter.
 *   - transparent_hugepage= when the config manages THP "enabled" (always,
 *     madvise or never: the only words the boot parameter takes).
 *
 *   Pools of other sizes (2M on x86_64) stay off the command line, even
 *   the default size's pool. Gigantic pages need contiguous memory that
 *   is reliably there only at boot, so the command line is the one way to
 *   get them; the others allocate fine at run time, and the boot-time apply
 *   sets them before kubelet starts, reading them back as every apply does.
 *   Keeping them off means: the safe-mode flag that skips the boot apply
 *   still skips them (a pool the kernel allocates from the command line
 *   could only be undone by editing GRUB at the console); changing them
 *   needs no reboot and no write to the boot configuration; there is one
 *   writer per pool instead of the command line and the apply fighting
 *   (Longhorn v2's initramfs sysctl vm.nr_hugepages also writes the 2M
 *   pool); and the 1024-byte block, shared with the operator's arguments,
 *   stays small.
 *
 * Ownership and merge. The backend owns only the tokens it wrote, and
 * records them exactly, space-separated, in a second variable of the same
 * block, VARIABLE BOOTARGS_RECORD_SUFFIX ("third_party_kernel_args_hugepaged").
 * The record lives in the same file as the value, so one atomic rename
 * changes both: a crash leaves either the old pair or the new one, never a
 * value whose owner is unknown (a separate state file could disagree after
 * a crash, and on Harvester would need yet another persistent path). On
 * each write the recorded tokens are taken out of VARIABLE (as the
 * contiguous run it wrote when still there, otherwise one occurrence
 * each) and the new ones go in where the old run was, else before a "--"
 * (after which arguments go to init), else at the end. Every other token
 * (quoted values included) is kept byte for byte and in place order; only
 * the blanks next to a removed token go with it. A record that holds
 * anything but hugetlb or THP parameters was not written by us and is
 * refused.
 *
 * Conflicts. The kernel reads the hugetlb parameters in order: hugepages=
 * counts for the hugepagesz= before it, a leading one for the default size,
 * a repeated hugepagesz= is ignored together with its count. A foreign one
 * can therefore silently change what ours mean, so when the backend writes
 * any of default_hugepagesz=/hugepagesz=/hugepages=, a foreign token with
 * one of those names (dashes count as underscores, as the kernel reads
 * them) before "--" fails the write with -EEXIST naming it, even when it
 * equals one of ours; likewise a foreign transparent_hugepage= when the
 * backend writes one. Nothing is written then. An operator resolves it by
 * removing the token (grub-editenv FILE set VARIABLE=...) or by leaving
 * that part out of the config. A token of ours that the operator edited
 * (hugepages=2 made hugepages=4) no longer matches the record, so it is
 * foreign from then on: the same error, never a silent overwrite.
 *
 * The block: exactly 1024 bytes, "# GRUB Environment Block\n", then lines
 * (comments starting '#', such as grub-editenv 2.06's "# WARNING: Do not
 * edit this file..." line, and name=value lines with '\' escaping
 * backslash and newline), padded with '#' (include/grub/lib/envblk.h,
 * grub-core/lib/envblk.c). Lines the backend does not change, comments
 * included, are written back byte for byte; new variables go after the
 * last line, as grub-editenv puts them. A block with a bad signature, the
 * wrong size, an empty line or one without '=', a NUL byte, or padding
 * that is not '#' after a final newline is refused, as is VARIABLE or its
 * record appearing twice. A symbolic link is followed and its target
 * replaced. The file is replaced atomically (temp file
 * ".NAME.hugepaged-XXXXXX" in the same directory, fsync, rename, fsync
 * directory), keeping its mode and owner; when the result would not fit,
 * or anything fails, the file is left as it was.
 *
 * Concurrency: the caller serializes its own writers (the journal lock).
 * Another tool editing the file between our read and our rename is
 * detected by reading the file again just before the rename (-EAGAIN). */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "errbuf.h"
#include "sizes.h"
#include "sysfs.h"

#define BOOTARGS_ENVBLK_SIZE 1024
#define BOOTARGS_ENVBLK_SIGNATURE "# GRUB Environment Block\n"
#define BOOTARGS_RECORD_SUFFIX "_hugepaged"
/* GRUB script names ($VARIABLE in bootargs.cfg): [A-Za-z_][A-Za-z0-9_]*. */
#define BOOTARGS_VARIABLE_MAX 64
/* The longest size spelling: 20 digits and a suffix. */
#define BOOTARGS_SIZE_MAX 24

/* --boot-args grubenv:FILE:VARIABLE */
struct bootargs_spec {
        char *file;     /* owned: absolute path of the environment block */
        char *variable; /* owned: the variable holding the kernel arguments */
};

/* Parses a --boot-args value. FILE may itself contain ':' (the variable is
 * what follows the last one). Errors (-EINVAL, with err saying which part
 * and what is expected): no "grubenv:" backend prefix or another backend,
 * a FILE that is empty or not absolute, a VARIABLE that is empty, longer
 * than BOOTARGS_VARIABLE_MAX or not a GRUB name. -ENOMEM. */
int bootargs_spec_parse(const char *spec, struct bootargs_spec *ret, struct errbuf *err);
void bootargs_spec_release(struct bootargs_spec *s);

/* The kernel parameters a config needs at boot, in command-line order. */
struct bootargs {
        char **tokens; /* owned strings, e.g. "hugepagesz=1G" */
        size_t n;
};

/* A size spelled as the kernel's memparse() reads it, in the largest unit
 * that divides it: "64K", "2M", "32M", "1G", "1536K". Returns buf. */
char *bootargs_format_size(uint64_t size_kb, char buf[static BOOTARGS_SIZE_MAX]);

/* Computes the parameters for c (see the top of this file); s decides
 * which sizes are gigantic (s->base_page_kb). -EINVAL with err for a size
 * that is not a whole kB or a THP word the boot parameter does not take;
 * -ENOMEM. Borrows c and s; *ret is the caller's (bootargs_release). */
int bootargs_from_config(const struct config *c, const struct sizes *s, struct bootargs *ret,
                         struct errbuf *err);
void bootargs_release(struct bootargs *a);

/* The tokens joined by single spaces ("" for none); NULL on -ENOMEM. */
char *bootargs_join(const struct bootargs *a);

/* A GRUB environment block in memory: its lines after the signature, in
 * file order. */
struct bootargs_envblk_line {
        char *raw;   /* owned: the line as in the file, escapes kept, without its '\n' */
        char *name;  /* owned: NULL for a comment line */
        char *value; /* owned: unescaped; NULL for a comment line */
};

struct bootargs_envblk {
        struct bootargs_envblk_line *lines;
        size_t n;
};

/* Parses a block of exactly BOOTARGS_ENVBLK_SIZE bytes. where names it in
 * messages (the file; NULL for "environment block"). -EBADMSG with err for
 * any defect listed at the top of this file; -ENOMEM. */
int bootargs_envblk_parse(const char *buf, size_t len, const char *where, struct bootargs_envblk *ret,
                          struct errbuf *err);

/* Writes the block, padded with '#' to BOOTARGS_ENVBLK_SIZE bytes, into
 * ret_buf (BOOTARGS_ENVBLK_SIZE bytes). -ENOSPC with err saying how much
 * is missing when it does not fit; ret_buf is untouched then. */
int bootargs_envblk_format(const struct bootargs_envblk *e, char *ret_buf, struct errbuf *err);

/* The value of name, or NULL. A name given twice yields the last value,
 * the one GRUB's load_env leaves set. Borrowed from e. */
const char *bootargs_envblk_get(const struct bootargs_envblk *e, const char *name);

/* How many lines set name. */
size_t bootargs_envblk_count(const struct bootargs_envblk *e, const char *name);

/* Sets name to value: the existing line is rewritten in place, a new one
 * is appended, value escaped as GRUB does. -EINVAL for a name that is
 * empty, starts with '#' or holds '=', '\n' or '\' (GRUB would read it
 * otherwise); -ENOTUNIQ when name appears more than once; -ENOMEM. Copies
 * name and value. */
int bootargs_envblk_set(struct bootargs_envblk *e, const char *name, const char *value);

/* Removes the first line that sets name, as grub-editenv unset does; 0
 * whether or not it was there. */
int bootargs_envblk_unset(struct bootargs_envblk *e, const char *name);
void bootargs_envblk_release(struct bootargs_envblk *e);

/* The merge (see the top of this file), without any file: value is the
 * variable's current value (NULL = absent), owned the record (NULL =
 * none), want the new parameters. where names the variable in messages
 * ("third_party_kernel_args in /oem/grubenv"). Returns 0 with *ret_value
 * the new value (caller frees); -EEXIST for a conflicting foreign token,
 * -EBADMSG for a record that holds a token we never write, -ENOMEM. */
int bootargs_merge(const char *value, const char *owned, const struct bootargs *want, const char *where,
                   char **ret_value, struct errbuf *err);

/* Reads spec's block and returns the variable's value and the record of
 * our tokens (each "" when absent; caller frees both). Errors as for
 * bootargs_write. */
int bootargs_read(const struct bootargs_spec *spec, char **ret_value, char **ret_owned, struct errbuf *err);

/* Merges want into spec's variable and rewrites the file atomically.
 * *ret_changed (may be NULL) tells whether the file was rewritten: a block
 * that already holds exactly the result is left alone. Errors, with err
 * naming the file: -ENOENT and other open/read errnos, -EBADMSG (not a
 * valid block), -EEXIST (conflict), -ENOSPC (the result does not fit the
 * block), -EAGAIN (the file changed while we worked), write errnos; the
 * file is unchanged after every error but one: when fsync of the directory
 * fails after the rename, the new block is in place but may not survive a
 * crash (err says so). */
int bootargs_write(const struct bootargs_spec *spec, const struct bootargs *want, bool *ret_changed,
                   struct errbuf *err);

/* Where the running kernel's command line differs from what c needs at
 * boot, one item per parameter group. The command line is read the way the
 * kernel reads it (quotes, "--", dashes as underscores, the order rules of
 * KERNEL.md §2, sizes such as 1024M for 1G), so only differences that
 * matter are listed:
 *   - default size: when c sets default_size and the running default size
 *     (s->default_size_kb, from meminfo: what the kernel really took)
 *     differs;
 *   - each managed gigantic pool whose boot allocation (count, or counts
 *     per node) on the command line differs from c's;
 *   - THP enabled: when c manages it and the last transparent_hugepage= on
 *     the command line says otherwise or is absent (the kernel's built-in
 *     default cannot be read back). The running mode itself is set at run
 *     time by apply; this item only says the command line differs.
 * Pools of other sizes are not boot parameters here and never listed. */
enum bootargs_item {
        BOOTARGS_DEFAULT_SIZE,
        BOOTARGS_POOL,
        BOOTARGS_THP,
};

struct bootargs_diff_item {
        enum bootargs_item what;
        uint64_t size_kb; /* BOOTARGS_POOL: the page size; BOOTARGS_DEFAULT_SIZE: the one wanted */
        char *pointer;    /* owned: the config member, "/default_size", "/pools/1Gi",
                             "/transparent_hugepage/enabled" */
        char *want;       /* owned: the parameters c needs, e.g. "hugepagesz=1G hugepages=4"; "" = none */
        char *running;    /* owned: what the running kernel has, spelled the same way; "" = none */
};

struct bootargs_diff {
        struct bootargs_diff_item *items;
        size_t n;
};

/* Compares cmdline (the text of /proc/cmdline) with c. Returns 0 with *ret
 * filled (no items = nothing differs), errors as bootargs_from_config.
 * Borrows everything. */
int bootargs_compare_cmdline(const char *cmdline, const struct config *c, const struct sizes *s,
                             struct bootargs_diff *ret, struct errbuf *err);

/* The same with <procfs root>/cmdline, read through the sysfs seam. */
int bootargs_compare(const struct sysfs *fs, const struct config *c, const struct sizes *s,
                     struct bootargs_diff *ret, struct errbuf *err);
void bootargs_diff_release(struct bootargs_diff *d);
