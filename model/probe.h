/* The probe: a measurement taken on this very node, never a
 * recommendation. It times the dependent loads of a random pointer chase
 * over working sets the operator chooses, backed in turn by base pages, by
 * transparent hugepages and by each hugetlb size, and says how the memory
 * was really backed (smaps.h) next to each figure.
 *
 * One run:
 *
 *   1. Plan. Every (working set, backing) pair is a cell. Hugetlb sizes
 *      with too few free pages are skipped unless the caller allows a
 *      temporary pool (grow_pool). The memory a group of cells takes at
 *      once is bounded by max_memory (default a quarter of MemAvailable);
 *      cells of one working set that do not fit together run in groups
 *      one after the other, and each result names its group. Base pages
 *      come first; a later group gets base pages measured again beside
 *      it (when they fit) and its ratios use those (a note gives them).
 *   2. Per group: grow the pools it needs (if allowed), map each cell,
 *      pre-fault it, build its chain, read its proof of backing. A cell
 *      whose backing was not obtained is reported so and never timed.
 *   3. One uncounted warm-up round per cell, then `rounds` timed rounds,
 *      interleaved: round r times every cell once, starting at a different
 *      cell each round, so that drift hits all alike.
 *   4. Read the proof again, unmap, shrink the pools back.
 *
 * The chain: one node per base page (at a pseudo-random cache line inside
 * the page, so that the nodes do not all fall into one cache set), or one
 * per cache line; the nodes form a single random cycle (Sattolo), the same
 * for every backing of a working set. A round chases loads_per_round
 * dependent loads, carrying on where the previous round stopped.
 *
 * Safety on a production node:
 *   - THP settings are read, never written.
 *   - Only free, unreserved pages of existing pools are used by default.
 *     With grow_pool a pool is grown on the CPU's NUMA node (or globally
 *     without per-node files) for a group and shrunk back right after it,
 *     also when the run is cancelled. Before growing, a record of the old
 *     and new values is written to STATE_DIR/probe-pools; a run that dies
 *     (SIGKILL) leaves it behind, and the next run restores the pools from
 *     it first. A pool is put back only while it still holds what the
 *     probe set: another writer's change is left alone and reported.
 *   - One probe at a time, on the whole node: an exclusive flock on
 *     STATE_DIR/probe.lock (threads of one process exclude each other too).
 *   - The calling thread is pinned to one CPU for the run and unpinned
 *     after; memory and time are bounded (max_memory, max_seconds).
 *
 * Threads: probe_run() runs in the caller's thread and may take minutes. A
 * server runs it in a thread of its own and polls: probe_progress() and
 * probe_cancel() may be called from any thread at any time; the results
 * (probe.results, probe.notes, probe.machine) belong to probe_run() until
 * probe_progress() reports finished (an acquire of what probe_run released),
 * or the thread is joined. */
#pragma once

#include <jansson.h>

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "errbuf.h"
#include "sysfs.h"

#define PROBE_MAX_SETS 8
#define PROBE_MAX_BACKINGS 8
#define PROBE_MAX_ROUNDS 100
#define PROBE_DEFAULT_ROUNDS 5
#define PROBE_DEFAULT_SECONDS 1800
#define PROBE_MAX_NOTES 16
/* Pools grown over a run: one per working set and hugetlb size at most. */
#define PROBE_MAX_POOLS (PROBE_MAX_SETS * PROBE_MAX_BACKINGS)
#define PROBE_MAX_COUNTERS 3
/* Loads per timed round: at least one pass over the nodes up to the
 * maximum, and never fewer than the minimum (small sets go round several
 * times). */
#define PROBE_MIN_LOADS (1u << 20)
#define PROBE_MAX_LOADS (1u << 24)
/* The smallest working set: a few pages. */
#define PROBE_MIN_WORKING_SET (64u << 10)

enum probe_kind {
        PROBE_BASE,    /* base pages, THP refused (MADV_NOHUGEPAGE) */
        PROBE_THP,     /* THP asked for (MADV_HUGEPAGE) */
        PROBE_HUGETLB, /* MAP_HUGETLB of one hugetlb size */
};

struct probe_backing {
        enum probe_kind kind;
        uint64_t page_kb; /* PROBE_HUGETLB: the size; otherwise 0 */
};

enum probe_stride {
        PROBE_STRIDE_PAGE, /* one node per base page: TLB reach */
        PROBE_STRIDE_LINE, /* one node per cache line */
};

struct probe_request {
        uint64_t working_sets[PROBE_MAX_SETS]; /* bytes, multiples of the base page */
        size_t n_sets;
        /* Empty: base, thp and every hugetlb size the plan can serve. */
        struct probe_backing backings[PROBE_MAX_BACKINGS];
        size_t n_backings;
        enum probe_stride stride;
        unsigned rounds;           /* timed rounds; 0: PROBE_DEFAULT_ROUNDS */
        bool grow_pool;            /* may grow hugetlb pools for the run */
        int cpu;                   /* -1: the last CPU the caller may use */
        uint64_t max_memory_bytes; /* 0: MemAvailable / 4, within the cgroup's room */
        unsigned max_seconds;      /* 0: PROBE_DEFAULT_SECONDS */
        const char *cgroup_root;   /* the cgroup file system; NULL: /sys/fs/cgroup (borrowed) */
        uint64_t seed;             /* 0: from the clock */
        uint64_t base_page_kb;     /* 0: this machine's */
};

enum probe_status {
        PROBE_OK,           /* timed, backed as asked */
        PROBE_PARTIAL,      /* timed, but only part was backed as asked (THP): see proof */
        PROBE_NOT_OBTAINED, /* asked for, not obtained: not timed */
        PROBE_SKIPPED,      /* not tried: see reason */
        PROBE_FAILED,       /* an error: see reason */
        PROBE_CANCELLED,    /* not finished: cancelled or out of time */
};

/* How a cell's memory was backed, from smaps (smaps.h). */
struct probe_proof {
        bool read;  /* false: no proof (not mapped, or smaps unreadable) */
        bool exact; /* smaps shows exactly the cell's mapping as one VMA */
        uint64_t mapped_bytes;
        uint64_t kernel_page_kb, mmu_page_kb;
        uint64_t rss_kb, anon_huge_kb, shared_hugetlb_kb, private_hugetlb_kb;
        uint64_t backed_bytes; /* bytes in the pages asked for */
        char vmflags[128];
};

struct probe_counter {
        char name[64];  /* what it counts on this CPU, e.g. "L2 dTLB misses (page walks)" */
        uint64_t value; /* over the timed rounds, scaled if multiplexed */
        double per_load;
        bool scaled;
};

struct probe_result {
        uint64_t working_set_bytes;
        struct probe_backing backing;
        enum probe_status status;
        char reason[256];               /* why not OK, or a remark; "" when nothing to say */
        unsigned group;                 /* cells of one group were mapped and interleaved together */
        struct probe_proof proof;       /* after setup, before the warm-up */
        struct probe_proof proof_after; /* after the last round */
        uint64_t nodes, loads_per_round;
        unsigned n_rounds; /* timed rounds done */
        double ns_per_load[PROBE_MAX_ROUNDS];
        double median_ns, min_ns, max_ns;
        /* median / base pages' median for the same working set, measured in
         * the same group when they fit beside it (base_group == group);
         * 0 when there is none. */
        double ratio_to_base;
        double base_median_ns;
        unsigned base_group;
        double setup_s; /* map, pre-fault and build, outside the timing */
        struct probe_counter counters[PROBE_MAX_COUNTERS];
        size_t n_counters;
};

/* A pool the run grew, and what became of it. */
struct probe_pool {
        uint64_t size_kb;
        int node;        /* -1: the global pool */
        uint64_t before; /* persistent pages before */
        uint64_t asked;  /* persistent pages asked for */
        uint64_t got;    /* what the kernel allocated */
        uint64_t after;  /* persistent pages when the run left it */
        bool restored;   /* back to `before` */
        char message[192];
};

struct probe_machine {
        int cpu, node; /* where the run was pinned; node -1 when unknown */
        uint64_t base_page_kb;
        unsigned line_bytes;  /* cache line */
        uint64_t thp_pmd_kb;  /* hpage_pmd_size; 0 without THP */
        char thp_enabled[32]; /* the active word of transparent_hugepage/enabled; "" without */
        char thp_defrag[32];
        uint64_t mem_available_kb;
        uint64_t max_memory_bytes; /* the bound in force */
        char cpu_vendor[16];       /* "GenuineIntel", "AuthenticAMD", … */
        bool counters;             /* hardware counters were used */
        char counters_note[192];   /* what they count here, or why there are none */
        uint64_t seed;
};

enum probe_phase {
        PROBE_PHASE_IDLE,
        PROBE_PHASE_PLANNING,
        PROBE_PHASE_SETUP,  /* growing pools, mapping, building chains */
        PROBE_PHASE_TIMING, /* warm-up and timed rounds */
        PROBE_PHASE_RESTORING,
        PROBE_PHASE_DONE,
};

struct probe_progress {
        enum probe_phase phase;
        unsigned rounds_done, rounds_total; /* warm-ups included */
        bool finished;                      /* results may be read */
        bool cancelled;
};

struct probe {
        struct probe_request req; /* copied by probe_init */

        /* Written by probe_run, readable from any thread. */
        _Atomic int phase;
        _Atomic unsigned rounds_done, rounds_total;
        _Atomic bool finished;
        _Atomic bool cancel; /* set by probe_cancel (async-signal-safe: lock-free) */

        /* Results: owned by probe_run until finished. */
        struct probe_machine machine;
        struct probe_result *results; /* owned; one per cell, sets in order, backings in order */
        size_t n_results;
        struct probe_pool pools[PROBE_MAX_POOLS];
        size_t n_pools;
        char notes[PROBE_MAX_NOTES][256]; /* what could not be tested and why; pool recovery */
        size_t n_notes;
};

/* Copies req. Returns 0, or -EINVAL for a request that cannot be right
 * whatever the machine (no working set, too many, a zero or unaligned
 * working set, rounds over PROBE_MAX_ROUNDS, a hugetlb backing without a
 * size), with err saying which. */
int probe_init(struct probe *p, const struct probe_request *req, struct errbuf *err);

/* Runs the probe (see the top of this file); fs is borrowed, state_dir
 * holds the lock and the pool record. Returns 0 when the run went through
 * (results say per cell what was measured, including cells not obtained,
 * and cancelled ones); -EBUSY when another probe holds the lock; -EINVAL
 * or -E2BIG for a request this machine cannot serve (an unknown hugetlb
 * size, a working set over the memory bound); other -errno for a failure
 * before anything was measured. err says what went wrong. Pools it grew
 * are shrunk back on every path. */
int probe_run(struct probe *p, const struct sysfs *fs, const char *state_dir, struct errbuf *err);

/* Asks a running probe to stop at the next round; it still shrinks the
 * pools back. Safe from any thread and from a signal handler. */
void probe_cancel(struct probe *p);

void probe_progress(struct probe *p, struct probe_progress *ret);

/* Frees the results; accepts NULL. */
void probe_release(struct probe *p);

/* Names: "base", "thp", and the quantity of a hugetlb size ("2Mi"). buf
 * holds at least 24 bytes. */
const char *probe_backing_name(const struct probe_backing *b, char *buf, size_t size);
const char *probe_status_name(enum probe_status s);
const char *probe_stride_name(enum probe_stride s);

/* Restores the pools a run that died (SIGKILL, a crash) left grown, from
 * its record in state_dir (see above), under the probe lock; probe_run
 * does it first, and a server may at start. Notes go to p when not NULL.
 * Returns the number of pools put back, or -EBUSY while a probe runs. */
int probe_recover(const struct sysfs *fs, const char *state_dir, struct probe *p, struct errbuf *err);

/* The chain, exposed for the tests. Links n nodes (n >= 2) into one random
 * cycle: node i lives at base + i * stride + offset(i), where offset(i) is a
 * multiple of line below stride chosen from i and seed (always 0 when
 * stride == line). stride and line are powers of two, line >= 8. Returns
 * the first node, or NULL when cancel became true meanwhile. */
void *probe_chain_build(void *base, uint64_t n, size_t stride, size_t line, uint64_t seed,
                        const _Atomic bool *cancel);

/* Chases loads dependent loads from *pos and leaves the node reached there. */
void probe_chase(void **pos, uint64_t loads);

/* "planning", "setting up", "timing", "restoring", "done", "starting". */
const char *probe_phase_name(enum probe_phase ph);

/* "base", "thp" or a hugetlb size ("2Mi"); -EINVAL for anything else. */
int probe_parse_backing(const char *word, struct probe_backing *ret);

/* The request, machine, results (each with its proof of backing), the
 * pools it grew and restored, and the notes, as one JSON document (the
 * console's --json and GET /probe/{id}). New reference, NULL on OOM. */
json_t *probe_to_json(const struct probe *p);

