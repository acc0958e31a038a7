/* Applies a validated config to the kernel and reports what the kernel
 * really did. Writes go in a safe order: every shrink first (freeing memory),
 * then every grow, largest page size first (gigantic pages need contiguous
 * memory, which only gets scarcer), then the THP settings. Each write is
 * read back: the kernel may allocate fewer pages than asked without any
 * error (KERNEL.md §1).
 *
 * The default size is never written here: it can change only at boot.
 *
 * Shrinking below the pages in use. Validation refuses a target below the
 * pages the kernel cannot free (floor.h), but a VM may start between the
 * validation and the write, and the revert and boot paths do not refuse it
 * at all. So right before each shrink the pool's counters are read again
 * (inuse_read()) and the pages held then are reported ("held"). The write
 * is made all the same: the kernel frees every free page above the target
 * and keeps the held ones as surplus, freed as their users let go
 * (KERNEL.md §1), so writing frees more memory than not writing would, and
 * the pool converges to the target by itself. Such an item is APPLY_IN_USE,
 * with the surplus read back. Refusing instead would leave the free pages
 * in the pool too, and would block an automatic revert behind a VM that
 * started meanwhile. */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "config.h"
#include "errbuf.h"
#include "sizes.h"
#include "sysfs.h"
#include "thp.h"

enum apply_status {
        APPLY_OK,      /* the kernel holds what was asked */
        APPLY_PARTIAL, /* fewer (or more) persistent pages than asked */
        APPLY_IN_USE,  /* shrunk as asked, but pages in use stay as surplus */
        APPLY_FAILED,  /* the kernel refused the write, or it was unsafe */
        APPLY_SKIPPED, /* not attempted: an earlier shrink failed */
};

const char *apply_status_name(enum apply_status s);

struct apply_item {
        uint64_t size_kb;
        int node; /* NUMA node, or -1 for the size's global pool */
        uint64_t requested;
        uint64_t before;  /* persistent pages before */
        uint64_t after;   /* persistent pages read back */
        uint64_t total;   /* nr_hugepages read back (persistent + surplus) */
        uint64_t surplus; /* surplus_hugepages read back */
        bool written;     /* false when the pool already held the target */
        /* Shrinks only: the pages the kernel could not free right before
         * the write, read again then (globally in use or reserved; on a
         * node, in use there). held_known is false when not read. */
        uint64_t held;
        bool held_known;
        enum apply_status status;
        char error[640];
};

struct apply_thp_item {
        enum thp_knob knob;
        char requested[THP_MAX_WORD];
        char before[THP_MAX_WORD];
        char after[THP_MAX_WORD];
        enum apply_status status;
        char error[640];
};

struct apply_result {
        struct apply_item *items; /* owned, in the order they were applied */
        size_t n_items;
        struct apply_thp_item thp[_THP_KNOB_MAX];
        size_t n_thp;
        bool complete; /* every item APPLY_OK */
};

/* Applies c, which must have passed validate_config() against now and
 * thp_now. Fills *ret with one item per pool write (or per node for pools
 * given by nodes). Returns 0 (kernel refusals are items, not errors) or
 * -ENOMEM. */
int apply_config(const struct sysfs *fs, const struct config *c, const struct sizes *now,
                 const struct thp *thp_now, struct apply_result *ret);
void apply_result_release(struct apply_result *r);

/* The per-item results as the API and the journal show them:
 * {"complete", "results": [{pointer, size, node, requested, before, after,
 * total, surplus, written, status, held?, error?}], "thp": [{pointer, requested,
 * before, after, status, error?}]}. New reference, or NULL on OOM. */
json_t *apply_result_to_json(const struct apply_result *a);

/* What the kernel holds now of everything c manages, as a config document
 * (pools by count or by the same nodes, THP words): applying it undoes an
 * apply of c. New reference, or NULL on OOM. */
json_t *apply_snapshot(const struct config *c, const struct sizes *now, const struct thp *thp_now);
