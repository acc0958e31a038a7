/* How low a pool may go: the floors other components keep, and the pages in
 * use now.
 *
 * Floors. Some components keep hugepages for themselves outside
 * hugepaged's config: on Harvester, Longhorn's V2 data engine (SPDK) sets
 * the 2Mi pool to its own figure (vm.nr_hugepages, KERNEL.md §6) and needs
 * it to stay. An operator declares such pages in a floor file, given with
 * --floor-file FILE; a config that would set a pool below the sum of its
 * floors is an error. The file is plain text, one floor per line:
 *
 *   # size  pages  owner
 *   2Mi     1024   longhorn-v2
 *   1Gi     2      dpdk-gateway   # a comment may end a line
 *
 * - size: a Kubernetes quantity of whole kB ("2Mi", "1Gi", "2048Ki");
 * - pages: a decimal page count;
 * - owner: who keeps them, 1 to 63 of [A-Za-z0-9._-]; it is named in the
 *   error, so pick what an operator recognises;
 * - blank lines and lines whose first non-blank is '#' are ignored; fields
 *   are separated by blanks (spaces or tabs).
 * Floors of the same size add up (two owners each keep their pages); the
 * same size and owner twice is an error. At most FLOORS_MAX floors, lines
 * up to 255 bytes, the file up to 16 KiB. A floor bounds the pool's
 * persistent size as a whole (nr_hugepages - surplus), not one node's, as
 * Longhorn's setting does.
 *
 * In use. The kernel cannot free pages that are in use or reserved:
 * set_max_huge_pages() keeps min_count = resv + nr - free, and a smaller
 * target leaves the difference as surplus, silently (KERNEL.md §1). So a
 * config below that is an error that says how many pages are held and by
 * whom (holders.h). Per node only the pages in use count: reservations are
 * global. The apply path reads the counters again right before it writes
 * (inuse_recheck()), as a VM may have started since the validation. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "config.h"
#include "errbuf.h"
#include "finding.h"
#include "holders.h"
#include "sizes.h"
#include "sysfs.h"

#define FLOORS_MAX 64
#define FLOORS_MAX_BYTES (16 * 1024)
#define FLOORS_OWNER_MAX 63

struct floor {
        uint64_t size_kb;
        uint64_t pages;
        char owner[FLOORS_OWNER_MAX + 1];
        unsigned line; /* in the file, for messages */
};

struct floors {
        struct floor *items; /* owned, in file order */
        size_t n;
        char *source; /* owned: the file's name, for messages; NULL when none */
};

/* Parses a floor file's text. source names it in messages. Returns 0, or
 * -EINVAL with err as "SOURCE:LINE: what is wrong", or -ENOMEM. An empty
 * text gives no floors. */
int floors_parse(const char *text, size_t len, const char *source, struct floors *ret, struct errbuf *err);
/* Reads and parses the file at path (not under the sysfs/procfs roots: it
 * is the operator's). A missing file is -ENOENT with err. */
int floors_load(const char *path, struct floors *ret, struct errbuf *err);
void floors_release(struct floors *f);

/* The sum of the floors of one size; 0 when none. */
uint64_t floors_pages(const struct floors *f, uint64_t size_kb);

/* Checks that every floor's size is one the kernel offers; -ENOENT with err
 * naming the first that is not (for the caller to log at start: such a
 * floor never applies). */
int floors_verify(const struct floors *f, const struct sizes *s, struct errbuf *err);

/* Adds a "below_floor" error for every pool of c that would hold fewer
 * persistent pages than the floors of its size, at /pools/<size>/count (or
 * /pools/<size>/nodes when the pool is given by nodes; nodes not listed keep
 * what they hold now). Pools the config does not name are not changed by it
 * and not checked. f may be NULL (no floors). Returns 0 or -ENOMEM. */
int floor_check(const struct floors *f, const struct config *c, const struct sizes *s,
                struct findings *errors);

/* Adds a "below_in_use" error for every pool of c whose target is below the
 * pages the kernel cannot free (validate_pages_held(): in use or reserved),
 * and for every node of a pool given by nodes whose count is below the
 * pages in use there. The message names the holders of pages of that size
 * (h may be NULL when the process scan is not available). Returns 0 or
 * -ENOMEM. */
int inuse_check(const struct config *c, const struct sizes *s, const struct holders *h,
                struct findings *errors);

/* inuse_check() that scans for the holders (holders_scan() with its
 * defaults, under fs's procfs root) only when a pool is below its pages in
 * use, so that a config that shrinks nothing costs no process scan. When
 * the scan fails, the findings say so instead of naming holders. Returns 0
 * or -ENOMEM. */
int inuse_check_fs(const struct sysfs *fs, const struct config *c, const struct sizes *s,
                   struct findings *errors);

/* A pool's counters read fresh from the kernel, for the apply path. */
struct inuse {
        uint64_t nr, free, resv, surplus;
        uint64_t held; /* nr - free + resv: what no write can free */
};

/* Reads size_kb's counters globally (node -1) or on one node (where resv is
 * 0: the kernel keeps reservations globally). */
int inuse_read(const struct sysfs *fs, uint64_t size_kb, int node, struct inuse *ret, struct errbuf *err);

/* Reads the counters again and returns -EBUSY with err when target
 * (persistent pages) is below what is held now; 0 when the write is safe. */
int inuse_recheck(const struct sysfs *fs, uint64_t size_kb, int node, uint64_t target, struct errbuf *err);

/* [{"size": "2Mi", "pages": 1024, "owner": "longhorn-v2"}], for GET /sizes
 * or /status. New reference, or NULL on OOM. */
json_t *floors_to_json(const struct floors *f);
