/* Whether kubelet's view of the hugepage pools is stale. kubelet reads
 * each size's capacity once, at start (KERNEL.md §5), so after a pool
 * change at run time it keeps advertising the old hugepages-<size>
 * capacity until it restarts. This finds the process that runs kubelet
 * (kubelet itself under rke2 and plain Kubernetes; the k3s server or
 * agent, which embed it) and its start time, from <procfs>/<pid>/stat and
 * <procfs>/uptime. */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "errbuf.h"
#include "sysfs.h"

struct kubelet_info {
        bool found;
        unsigned pid;
        char comm[32];      /* "kubelet", "k3s-server", "k3s-agent", "k3s" */
        int64_t started;    /* Unix seconds */
};

/* Scans <procfs>/[0-9]* for the kubelet process; the oldest one if there
 * are several. found = false when there is none (not a Kubernetes node, or
 * kubelet not running). Errors only when <procfs>/uptime or the process
 * list cannot be read. */
int kubelet_find(const struct sysfs *fs, struct kubelet_info *ret, struct errbuf *err);

/* Parses the start time (field 22, clock ticks since boot) out of a
 * /proc/<pid>/stat text, whose second field (comm, in parentheses) may
 * hold spaces and parentheses itself. Also gives comm. */
int kubelet_parse_stat(const char *text, uint64_t *ret_start_ticks, char ret_comm[static 32]);
