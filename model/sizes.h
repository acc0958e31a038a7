/* Discovery of the node's hugetlb setup, read fresh from the kernel: which
 * page sizes exist (the directories under kernel/mm/hugepages, never a list
 * compiled in), each pool's counters globally and per NUMA node, the default
 * size and the memory the pools come out of.
 *
 * Counter semantics (KERNEL.md §1): the kernel's nr_hugepages counts
 * persistent plus surplus pages; the persistent pool an operator configures
 * is nr_hugepages - surplus_hugepages. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "errbuf.h"
#include "sysfs.h"

/* NUMA node numbers are below MAX_NUMNODES = 1 << CONFIG_NODES_SHIFT, and
 * CONFIG_NODES_SHIFT is at most 10. */
#define SIZES_MAX_NODE 1023

struct node_info {
        unsigned id;
        uint64_t mem_total_kb; /* "Node N MemTotal" */
        bool has_hugepages;    /* memoryless nodes have no hugepages directory */
};

struct size_node {
        uint64_t nr;      /* nr_hugepages: persistent + surplus */
        uint64_t free;    /* free_hugepages */
        uint64_t surplus; /* surplus_hugepages */
};

struct size_info {
        uint64_t size_kb;
        uint64_t nr, free, resv, surplus, overcommit;
        /* One entry per sizes.nodes[], in the same order; entries of nodes
         * without hugepages are zero. */
        struct size_node *nodes;
};

struct sizes {
        uint64_t default_size_kb;  /* "Hugepagesize" in meminfo */
        uint64_t mem_total_kb;     /* "MemTotal" */
        uint64_t mem_available_kb; /* "MemAvailable" */
        uint64_t base_page_kb;     /* the kernel's smallest page */
        struct node_info *nodes;   /* sorted by id; empty without CONFIG_NUMA */
        size_t n_nodes;
        struct size_info *sizes; /* sorted by size */
        size_t n_sizes;
};

/* Reads everything above. base_page_kb is the base page size of the machine
 * the tree describes (getpagesize() on a real host); it decides which sizes
 * are gigantic. Any missing or malformed file fails the whole read with err
 * naming the file: a half-read state would make validation lie. */
int sizes_read(const struct sysfs *fs, uint64_t base_page_kb, struct sizes *ret, struct errbuf *err);
void sizes_release(struct sizes *s);

/* Looks up a size or a node; NULL or -1 when absent. */
const struct size_info *sizes_find(const struct sizes *s, uint64_t size_kb);
int sizes_node_index(const struct sizes *s, unsigned node_id);

/* Persistent pages: what the operator configures. */
static inline uint64_t size_persistent(const struct size_info *si)
{
        return si->nr >= si->surplus ? si->nr - si->surplus : 0;
}
static inline uint64_t size_node_persistent(const struct size_node *sn)
{
        return sn->nr >= sn->surplus ? sn->nr - sn->surplus : 0;
}

/* The buddy allocator's largest order for a base page size: the kernel's
 * default MAX_PAGE_ORDER, 10 with 4 KiB pages (x86_64, arm64), and on arm64
 * 11 with 16 KiB and 13 with 64 KiB pages (ARCH_FORCE_MAX_ORDER's defaults). */
static inline unsigned sizes_max_order(uint64_t base_page_kb)
{
        return base_page_kb == 64 ? 13 : base_page_kb == 16 ? 11 : 10;
}

/* Gigantic pages are larger than the buddy allocator's largest block (4 MiB
 * with 4 KiB pages); growing their pool at run time needs contiguous memory
 * and may fail or come back short. */
static inline bool size_is_gigantic(const struct sizes *s, uint64_t size_kb)
{
        return size_kb > (s->base_page_kb << sizes_max_order(s->base_page_kb));
}

/* Relative sysfs paths of a size's files, globally or for one node. */
int sizes_path(char *buf, size_t size, uint64_t size_kb, int node_id, const char *file);
