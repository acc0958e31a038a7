/* Checks a config against the machine as it is now, without touching it:
 * sizes the kernel offers, NUMA nodes that exist, memory (globally, per node,
 * and what must stay for the host), THP words the kernel prints. Errors make
 * a config unacceptable; warnings are legal but risky choices; reboot items
 * are parts that only take effect at the next boot.
 *
 * It never judges whether a choice is beneficial (a non-goal of the
 * proposal). */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "config.h"
#include "finding.h"
#include "sizes.h"
#include "thp.h"

struct floors;
struct sysfs;

/* What must stay for the host: the larger of reserve_kb and
 * reserve_percent of MemTotal. The service's default is 1 GiB and 10 %.
 *
 * How low a pool may go (floor.h): below the floors other components keep
 * (floors, NULL for none) is always an error, "below_floor". Below the
 * pages the kernel cannot free (in use or reserved) is an error,
 * "below_in_use", with shrink_in_use_is_error, naming the processes that
 * hold them when fs is given (a scan of its procfs root, only when a pool
 * is below them); without it, a warning, "shrink_in_use". The service turns
 * the error on for the changes an operator asks for (PUT, rollback,
 * POST /validate); the console's boot and recovery paths leave it off, so
 * that a VM started meanwhile never blocks them. The pointers are
 * borrowed. */
struct validate_opts {
        uint64_t reserve_kb;
        unsigned reserve_percent;
        const struct floors *floors;
        const struct sysfs *fs;
        bool shrink_in_use_is_error;
};

struct node_memory {
        unsigned node;
        uint64_t total_kb;
        uint64_t hugepages_kb; /* projected; pools given by count are spread evenly */
};

struct validation {
        struct findings errors;
        struct findings warnings;
        struct findings reboot_required;
        uint64_t total_kb;             /* MemTotal */
        uint64_t hugepages_kb;         /* every pool after applying */
        uint64_t current_hugepages_kb; /* every pool now */
        uint64_t reserve_kb;           /* the effective host reserve */
        struct node_memory *nodes;     /* owned, one per NUMA node */
        size_t n_nodes;
};

/* Resolves the effective host reserve for a machine of total_kb. */
uint64_t validate_reserve_kb(const struct validate_opts *o, uint64_t total_kb);

/* The most pages of size_kb that the checks allow, were it the only pool. */
uint64_t validate_max_pages(const struct validate_opts *o, uint64_t total_kb, uint64_t size_kb);

/* Pages of a pool the kernel cannot free right now: in use or reserved
 * (set_max_huge_pages' min_count = resv + nr - free). */
uint64_t validate_pages_held(const struct size_info *si);

/* Fills *ret (always, even when the config has errors). Returns 0 or
 * -ENOMEM. Borrows everything. */
int validate_config(const struct config *c, const struct sizes *s, const struct thp *t,
                    const struct validate_opts *o, struct validation *ret);
void validation_release(struct validation *v);

static inline bool validation_ok(const struct validation *v)
{
        return v->errors.n == 0;
}
