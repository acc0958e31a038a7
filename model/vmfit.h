/* Hugepage-backed VMs (KubeVirt spec.domain.memory.hugepages.pageSize): does
 * a VM of a given memory and page size fit this node, now and under a
 * proposed config, and if not, why not.
 *
 * The request is the "vms" member of a POST /validate body:
 *
 *   "vms": [{"name": "db-1", "memory": "8Gi", "page_size": "2Mi", "numa_node": 0}]
 *
 * "numa_node" is optional. Quantities are Kubernetes quantity strings.
 *
 * The pages a new VM can take (KERNEL.md §1, §7):
 *
 * - Globally, free_hugepages - resv_hugepages. The kernel counts pages that
 *   are reserved (promised to a mapping, not yet touched) as free; they are
 *   not free for anyone else, so they count as taken.
 * - On NUMA node K, node K's free_hugepages, and never more than the global
 *   figure. The kernel keeps reservations globally, not per node: which
 *   node's pages a reservation will take is decided when it is touched, so
 *   the per-node figure is an upper bound that the global one caps.
 * - Overcommit (surplus pages made on demand) is not counted: it depends on
 *   free buddy memory at fault time, which is no promise.
 *
 * Under a proposed config a pool of T persistent pages holds max(T, held)
 * pages, where held = nr - free + resv is what the kernel cannot free
 * (set_max_huge_pages' min_count); free pages after applying are that pool
 * minus the pages in use now. Per node, explicit node counts are modelled the
 * same way; a pool given by "count" is spread over the nodes the way the
 * kernel's round-robin would grow or shrink it, which is an estimate (a
 * short allocation on one node is not foreseen).
 *
 * "All fit together" admits the VMs in the order listed: a VM that fits in
 * what the VMs before it left is counted and takes its pages; one that does
 * not is reported and takes nothing. A VM without numa_node takes pages from
 * the size's global figure only, as the kernel may spread it over nodes, so
 * for the admitted set the check is exact under the model above; only which
 * VMs are left out depends on the order.
 *
 * It never judges whether a VM's size or page size is a good choice. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "config.h"
#include "finding.h"
#include "sizes.h"

/* The most VMs one request may list. */
#define VMFIT_MAX_VMS 1024
/* A Kubernetes object name (DNS-1123 subdomain) is at most 253 bytes. */
#define VMFIT_MAX_NAME 253

struct vm_request {
        char *name; /* owned */
        uint64_t memory_bytes;
        uint64_t page_size_bytes;
        bool has_node;
        unsigned node;
};

struct vm_requests {
        struct vm_request *items; /* owned, in the order listed */
        size_t n;
};

/* Takes the "vms" member out of a request document so that config_parse()
 * sees only the config. Returns it (new reference; the caller owns it), or
 * NULL when doc has no "vms". */
json_t *vmfit_take(json_t *doc);

/* Checks the form of a "vms" value and fills *ret. Every problem is added to
 * errors with its pointer ("/vms/0/memory"): not an array, too many, an item
 * that is not an object, unknown fields ("unknown_field"), missing ones
 * ("missing_field"), wrong types ("wrong_type", "not_integer"), bad
 * quantities ("invalid_quantity", "too_large"), bad node numbers ("negative",
 * "invalid_node"), empty or overlong names ("invalid_name") and names given
 * twice ("duplicate_name"). Returns 0, -EINVAL with findings (*ret untouched)
 * or -ENOMEM. Borrows vms. */
int vmfit_parse(const json_t *vms, struct vm_requests *ret, struct findings *errors);
void vm_requests_release(struct vm_requests *r);

/* One VM's answer against one state of the node (now, or under the proposed
 * config). */
struct vm_fit {
        bool fits;                /* on its own */
        bool fits_together;       /* with the VMs listed before it that fit */
        uint64_t available_pages; /* pages of its size it could take: on its node, or anywhere */
        uint64_t missing_pages;   /* pages short on its own; 0 when it fits or cannot be counted */
        /* Why not (empty when it fits together), each with the pointer of
         * the field it is about and a code:
         *   unsupported_size        /vms/i/page_size  the kernel has no such size
         *   memory_below_page_size  /vms/i/memory     less than one page (KubeVirt refuses it)
         *   not_page_multiple       /vms/i/memory     not a whole number of pages (KubeVirt refuses it)
         *   unknown_node            /vms/i/numa_node  no such node, or one without hugepages
         *   not_allocated           /vms/i/page_size  the pool (on that node) has no pages
         *   insufficient_pages      /vms/i            not enough free pages; the message says how many miss
         *   insufficient_together   /vms/i            fits alone, not after the VMs listed before it */
        struct findings reasons;
};

struct vm_verdict {
        uint64_t pages; /* pages it needs: memory / page size, rounded up */
        struct vm_fit now;
        struct vm_fit proposed;
};

struct vmfit {
        struct vm_verdict *items; /* owned, one per vm_requests item, same order */
        size_t n;
        bool all_fit_now;
        bool all_fit_proposed;
};

/* Answers every VM against s (the kernel now) and against proposed applied
 * to s. proposed may be NULL: the proposed state is then the state now.
 * Pools of the config that the kernel does not offer are ignored here
 * (validate_config() reports them). Returns 0 or -ENOMEM. Borrows all. */
int vmfit_check(const struct vm_requests *vms, const struct sizes *s, const struct config *proposed,
                struct vmfit *ret);
void vmfit_release(struct vmfit *f);

/* The answer as POST /validate shows it, under "vm_fit":
 *   {"all_fit_now": b, "all_fit_proposed": b, "placement": "listed_order",
 *    "vms": [{"name", "memory", "memory_bytes", "page_size", "page_size_bytes",
 *             "numa_node"?, "pages",
 *             "now": {"fits", "fits_together", "available_pages", "missing_pages",
 *                     "reasons": [{"pointer", "code", "message"}]},
 *             "proposed": {same}}]}
 * New reference, or NULL on OOM. */
json_t *vmfit_to_json(const struct vm_requests *vms, const struct vmfit *f);

/* What a new VM of one page size can take now, globally (node_index -1) or
 * on sizes.nodes[node_index]. */
struct vm_capacity {
        uint64_t available_pages; /* see the top of this file */
        uint64_t max_vm_bytes;    /* available_pages × page size: the largest VM that fits */
};
struct vm_capacity vmfit_capacity(const struct sizes *s, const struct size_info *si, int node_index);

/* {"available_pages": N, "max_vm_bytes": B, "max_vm_memory": "980Mi"}, for
 * GET /sizes beside each size and each of its nodes. New reference, or NULL
 * on OOM. */
json_t *vmfit_capacity_to_json(const struct sizes *s, const struct size_info *si, int node_index);
