/* Who holds the hugetlb pages: the processes whose /proc/<pid>/status shows
 * HugetlbPages above zero, with their command, the Kubernetes pod and
 * container their cgroup names (a KubeVirt virt-launcher's QEMU lives in the
 * compute container of its pod), the VM a QEMU runs, and, from
 * /proc/<pid>/numa_maps, how many pages of which size on which NUMA node.
 *
 * What the figures mean (fs/proc/task_mmu.c, mm/hugetlb.c):
 *
 * - HugetlbPages is mm->hugetlb_usage: the hugetlb memory mapped into the
 *   process, in kB, all sizes together. Pages are counted when touched, so
 *   reserved pages are not in it. A mapping shared by several processes (a
 *   memfd, a hugetlbfs file, shm) is counted in each of them, so the sum
 *   over processes can exceed the pool; and pages of a hugetlbfs file or a
 *   shm segment that no process maps are in use without any holder.
 * - Per size and node: numa_maps prints one line per mapping, and for
 *   hugetlb ones "huge ... N<node>=<pages> kernelpagesize_kB=<size>", pages
 *   counted in huge pages. smaps has the size too (KernelPageSize and
 *   Private_/Shared_Hugetlb) but no node, and is about ten times longer
 *   (some 25 lines per mapping against one). Both walk the page tables of
 *   every mapping of the process, so they are read only for the processes
 *   listed (at most max_holders), never for every process. Without
 *   CONFIG_NUMA (no numa_maps) or without the right to read it (it needs
 *   ptrace read access, which root has), the split is known only when a
 *   single size has pages in use.
 *
 * The cost is bounded: one open/read/close of status per /proc entry, and at
 * most max_scan entries; cmdline, cgroup and numa_maps only for the listed
 * holders, each read up to a fixed size (see holders.c). bench/ measures it.
 *
 * On a Kubernetes node the daemon must see the host's /proc (hostPID), or it
 * sees only its own pid namespace.
 *
 * This module opens files under the procfs root itself (with openat() from
 * one directory descriptor) rather than through sysfs.c: sysfs_read() wants
 * a whole file in one buffer, and numa_maps of a large QEMU does not fit. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "errbuf.h"
#include "sizes.h"
#include "sysfs.h"

#define HOLDERS_DEFAULT_MAX 64
#define HOLDERS_DEFAULT_MAX_SCAN 32768
/* Bytes of a command line kept (the rest is cut and "..." added). */
#define HOLDERS_COMMAND_MAX 512
/* Different (size, node) pairs kept per holder. */
#define HOLDERS_MAX_PAGES 32

struct holder_pages {
        uint64_t size_kb;
        int node; /* NUMA node, or -1 when not known */
        uint64_t pages;
};

struct holder {
        int pid;
        uint64_t hugetlb_kb; /* HugetlbPages */
        char name[64];       /* status "Name:" (the comm), printable ASCII */
        char *command;       /* owned: cmdline, arguments joined by spaces, printable ASCII; NULL if empty */
        /* From /proc/<pid>/cgroup; "" when the process is not in a pod or
         * the part is not shown. */
        char pod_uid[40];
        char container_id[72];
        char container_runtime[16]; /* "containerd", "cri-o", "docker" (systemd-style paths only) */
        char qos_class[12];         /* "guaranteed", "burstable", "besteffort" */
        /* From a QEMU's "-name guest=<domain>": KubeVirt names the libvirt
         * domain "<namespace>_<vm name>". "" when absent. */
        char vm_domain[320];
        char vm_namespace[64];
        char vm_name[254];
        struct holder_pages pages[HOLDERS_MAX_PAGES]; /* sorted by size, then node */
        size_t n_pages;
        bool pages_known; /* pages[] accounts for all of hugetlb_kb */
};

struct holders {
        struct holder *items; /* owned: the most hugetlb memory first, then by pid */
        size_t n;
        size_t n_found;    /* processes seen with HugetlbPages > 0 (n of them listed) */
        uint64_t found_kb; /* their HugetlbPages summed (shared mappings once per process) */
        size_t scanned;    /* /proc/<pid> entries looked at */
        bool truncated;    /* stopped at max_scan: there may be more */
};

struct holders_opts {
        size_t max_holders; /* 0: HOLDERS_DEFAULT_MAX */
        size_t max_scan;    /* 0: HOLDERS_DEFAULT_MAX_SCAN */
        bool no_details;    /* skip numa_maps (per size and node) */
};

/* Scans <procfs root>/[0-9]*. s (may be NULL) tells which sizes have pages
 * in use, for the split when numa_maps cannot be read. A process that ends
 * during the scan is skipped. Returns 0, -ENOMEM, or -errno with err when
 * the procfs root cannot be listed. opts may be NULL (defaults). */
int holders_scan(const struct sysfs *fs, const struct sizes *s, const struct holders_opts *opts,
                 struct holders *ret, struct errbuf *err);
void holders_release(struct holders *h);

/* Pages of size_kb that h maps, on node (or on any node with node -1);
 * UINT64_MAX when not known. */
uint64_t holder_pages_of(const struct holder *h, uint64_t size_kb, int node);

/* Parses the contents of a /proc/<pid>/cgroup file into h's pod and
 * container fields (exposed for the tests). Returns true when a pod was
 * found. */
bool holders_parse_cgroup(const char *text, struct holder *h);

/* As GET /status shows it, under "hugetlb_holders":
 *   {"processes": [{"pid", "name", "command"?, "hugetlb_bytes",
 *                   "pages": [{"size", "node"?, "pages"}], "pages_known",
 *                   "pod_uid"?, "container_id"?, "container_runtime"?, "qos_class"?,
 *                   "vm": {"domain", "namespace"?, "name"?}?}],
 *    "found", "listed", "hugetlb_bytes", "scanned", "truncated"}
 * New reference, or NULL on OOM. */
json_t *holders_to_json(const struct holders *h);
