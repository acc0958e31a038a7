/* See probe.h. The file runs top-down in the order of a run: the chain and
 * the chase, the machine, the lock and the pool record, the plan, a group's
 * setup, the timed rounds, and the teardown that always shrinks the pools
 * back. */
#include "probe.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <linux/perf_event.h>
#include <sched.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>
#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#endif

#include "cleanup.h"
#include "quantity.h"
#include "sizes.h"
#include "smaps.h"
#include "thp.h"

#define LOCK_FILE "probe.lock"
#define POOL_RECORD "probe-pools"
#define THP_DIR "kernel/mm/transparent_hugepage"

/* --- names ---------------------------------------------------------------- */

const char *probe_backing_name(const struct probe_backing *b, char *buf, size_t size)
{
        switch (b->kind) {
        case PROBE_BASE:
                snprintf(buf, size, "base");
                break;
        case PROBE_THP:
                snprintf(buf, size, "thp");
                break;
        case PROBE_HUGETLB: {
                char q[QUANTITY_MAX];
                snprintf(buf, size, "%s", quantity_format(b->page_kb * 1024, q));
                break;
        }
        }
        return buf;
}

const char *probe_status_name(enum probe_status s)
{
        static const char *const names[] = {
                [PROBE_OK] = "ok",
                [PROBE_PARTIAL] = "partial",
                [PROBE_NOT_OBTAINED] = "not-obtained",
                [PROBE_SKIPPED] = "skipped",
                [PROBE_FAILED] = "failed",
                [PROBE_CANCELLED] = "cancelled",
        };
        return (size_t) s < ELEMENTSOF(names) ? names[s] : "?";
}

const char *probe_stride_name(enum probe_stride s)
{
        return s == PROBE_STRIDE_LINE ? "line" : "page";
}

static const char *qty(uint64_t bytes, char buf[static QUANTITY_MAX])
{
        return quantity_format(bytes, buf);
}

/* --- the chain -------------------------------------------------------------- */

static uint64_t splitmix64(uint64_t *state)
{
        uint64_t z = (*state += 0x9e3779b97f4a7c15ULL);
        z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
        z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
        return z ^ (z >> 31);
}

/* A uniform number below bound (bias below bound / 2^64: negligible). */
static uint64_t below(uint64_t *state, uint64_t bound)
{
        return (uint64_t) (((unsigned __int128) splitmix64(state) * bound) >> 64);
}

static inline uint64_t *slot(char *base, uint64_t i, size_t stride, size_t line, uint64_t seed)
{
        size_t off = 0;
        if (stride > line) {
                uint64_t h = i ^ seed;
                off = (size_t) below(&h, stride / line) * line;
        }
        return (uint64_t *) (base + i * stride + off);
}

void *probe_chain_build(void *base, uint64_t n, size_t stride, size_t line, uint64_t seed,
                        const _Atomic bool *cancel)
{
        char *b = base;
        uint64_t rng = seed ^ 0x5bd1e9955bd1e995ULL;
        uint64_t offseed = splitmix64(&rng);

        /* Sattolo's algorithm, in place: each node first holds its own
         * index; swapping slot i with a slot below i, from the top down,
         * leaves a permutation i -> slot(i) that is a single cycle through
         * all n nodes. The indices then become addresses. */
        for (uint64_t i = 0; i < n; i++)
                *slot(b, i, stride, line, offseed) = i;
        for (uint64_t i = n - 1; i > 0; i--) {
                if ((i & 0xffff) == 0 && cancel && atomic_load_explicit(cancel, memory_order_relaxed))
                        return NULL;
                uint64_t j = below(&rng, i);
                uint64_t *si = slot(b, i, stride, line, offseed), *sj = slot(b, j, stride, line, offseed);
                uint64_t t = *si;
                *si = *sj;
                *sj = t;
        }
        for (uint64_t i = 0; i < n; i++) {
                uint64_t *s = slot(b, i, stride, line, offseed);
                *s = (uint64_t) (uintptr_t) slot(b, *s, stride, line, offseed);
        }
        return slot(b, 0, stride, line, offseed);
}

__attribute__((noinline)) void probe_chase(void **pos, uint64_t loads)
{
        void *p = *pos;
        uint64_t n = loads;
        /* Unrolled so that the loop's own branch costs nothing next to a
         * load that misses; every load still depends on the one before. */
        for (; n >= 8; n -= 8) {
                p = *(void **) p;
                p = *(void **) p;
                p = *(void **) p;
                p = *(void **) p;
                p = *(void **) p;
                p = *(void **) p;
                p = *(void **) p;
                p = *(void **) p;
        }
        for (; n > 0; n--)
                p = *(void **) p;
        *pos = p;
}

/* --- small helpers ------------------------------------------------------------ */

static double now_s(void)
{
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (double) ts.tv_sec + (double) ts.tv_nsec * 1e-9;
}

static int cmp_double(const void *a, const void *b)
{
        double x = *(const double *) a, y = *(const double *) b;
        return x < y ? -1 : x > y;
}

static void add_note(struct probe *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void add_note(struct probe *p, const char *fmt, ...)
{
        if (p->n_notes == PROBE_MAX_NOTES)
                return;
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(p->notes[p->n_notes++], sizeof(p->notes[0]), fmt, ap);
        va_end(ap);
}

static void set_reason(struct probe_result *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void set_reason(struct probe_result *r, const char *fmt, ...)
{
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(r->reason, sizeof(r->reason), fmt, ap);
        va_end(ap);
}

static bool cancelled(struct probe *p)
{
        return atomic_load_explicit(&p->cancel, memory_order_relaxed);
}

static bool is_pow2(uint64_t x)
{
        return x && !(x & (x - 1));
}

static uint64_t round_up(uint64_t x, uint64_t to)
{
        return (x + to - 1) / to * to;
}

/* --- init, progress ------------------------------------------------------------- */

int probe_init(struct probe *p, const struct probe_request *req, struct errbuf *err)
{
        if (req->n_sets == 0 || req->n_sets > PROBE_MAX_SETS)
                return errbuf_set(err, -EINVAL, "between 1 and %d working sets, not %zu", PROBE_MAX_SETS,
                                  req->n_sets);
        if (req->n_backings > PROBE_MAX_BACKINGS)
                return errbuf_set(err, -EINVAL, "at most %d backings, not %zu", PROBE_MAX_BACKINGS,
                                  req->n_backings);
        if (req->rounds > PROBE_MAX_ROUNDS)
                return errbuf_set(err, -EINVAL, "at most %d rounds, not %u", PROBE_MAX_ROUNDS, req->rounds);
        if (req->stride != PROBE_STRIDE_PAGE && req->stride != PROBE_STRIDE_LINE)
                return errbuf_set(err, -EINVAL, "unknown stride %d", (int) req->stride);
        for (size_t i = 0; i < req->n_sets; i++) {
                char q[QUANTITY_MAX];
                if (req->working_sets[i] < PROBE_MIN_WORKING_SET)
                        return errbuf_set(err, -EINVAL, "working set %s is below the smallest, %s",
                                          qty(req->working_sets[i], q), "64Ki");
                for (size_t k = 0; k < i; k++)
                        if (req->working_sets[k] == req->working_sets[i])
                                return errbuf_set(err, -EINVAL, "working set %s is given twice",
                                                  qty(req->working_sets[i], q));
        }
        for (size_t i = 0; i < req->n_backings; i++) {
                const struct probe_backing *b = &req->backings[i];
                if (b->kind == PROBE_HUGETLB ? b->page_kb == 0 : b->page_kb != 0)
                        return errbuf_set(err, -EINVAL,
                                          "backing %zu: a hugetlb backing needs a size, others none", i + 1);
                for (size_t k = 0; k < i; k++)
                        if (req->backings[k].kind == b->kind && req->backings[k].page_kb == b->page_kb) {
                                char name[32];
                                return errbuf_set(err, -EINVAL, "backing %s is given twice",
                                                  probe_backing_name(b, name, sizeof(name)));
                        }
        }
        memset(p, 0, sizeof(*p));
        p->req = *req;
        if (p->req.rounds == 0)
                p->req.rounds = PROBE_DEFAULT_ROUNDS;
        if (p->req.max_seconds == 0)
                p->req.max_seconds = PROBE_DEFAULT_SECONDS;
        atomic_init(&p->phase, PROBE_PHASE_IDLE);
        atomic_init(&p->rounds_done, 0);
        atomic_init(&p->rounds_total, 0);
        atomic_init(&p->finished, false);
        atomic_init(&p->cancel, false);
        return 0;
}

void probe_cancel(struct probe *p)
{
        atomic_store(&p->cancel, true);
}

void probe_progress(struct probe *p, struct probe_progress *ret)
{
        struct probe_progress pr = {
                .finished = atomic_load_explicit(&p->finished, memory_order_acquire),
                .phase = (enum probe_phase) atomic_load(&p->phase),
                .rounds_done = atomic_load(&p->rounds_done),
                .rounds_total = atomic_load(&p->rounds_total),
                .cancelled = atomic_load(&p->cancel),
        };
        *ret = pr;
}

void probe_release(struct probe *p)
{
        if (!p)
                return;
        free(p->results);
        p->results = NULL;
        p->n_results = 0;
}

/* --- the machine ---------------------------------------------------------------- */

static void cpu_vendor(char buf[static 16], unsigned *ret_family, unsigned *ret_model)
{
        *ret_family = *ret_model = 0;
        snprintf(buf, 16, "unknown");
#if defined(__x86_64__) || defined(__i386__)
        unsigned a, b, c, d;
        if (!__get_cpuid(0, &a, &b, &c, &d))
                return;
        memcpy(buf, &b, 4);
        memcpy(buf + 4, &d, 4);
        memcpy(buf + 8, &c, 4);
        buf[12] = '\0';
        if (!__get_cpuid(1, &a, &b, &c, &d))
                return;
        unsigned family = (a >> 8) & 0xf, model = (a >> 4) & 0xf;
        if (family == 0xf)
                family += (a >> 20) & 0xff;
        if (family == 0x6 || family >= 0xf)
                model |= ((a >> 16) & 0xf) << 4;
        *ret_family = family;
        *ret_model = model;
#endif
}

/* The NUMA node of a CPU: the "nodeK" entry in its sysfs directory. */
static int cpu_node(const struct sysfs *fs, int cpu)
{
        char rel[64];
        snprintf(rel, sizeof(rel), "devices/system/cpu/cpu%d", cpu);
        char **names = NULL;
        size_t n = 0;
        int node = -1;
        if (sysfs_list(fs, SYSFS_SYS, rel, "node", &names, &n, NULL) == 0) {
                for (size_t i = 0; i < n && node < 0; i++) {
                        char *end;
                        long v = strtol(names[i] + 4, &end, 10);
                        if (end != names[i] + 4 && *end == '\0' && v >= 0 && v <= SIZES_MAX_NODE)
                                node = (int) v;
                }
                sysfs_names_free(names);
        }
        return node;
}

static void thp_active(const struct thp_setting *s, char *buf, size_t size)
{
        snprintf(buf, size, "%s", s->present && s->active >= 0 ? s->choices[s->active] : "");
}

/* --- hardware counters ---------------------------------------------------------- */

struct counter_def {
        uint32_t type;
        uint64_t config;
        const char *name;
};

struct counter_set {
        struct counter_def defs[PROBE_MAX_COUNTERS];
        size_t n;
};

static uint64_t hw_cache(uint64_t result)
{
        return PERF_COUNT_HW_CACHE_DTLB | (PERF_COUNT_HW_CACHE_OP_READ << 8) | (result << 16);
}

/* Intel's DTLB_LOAD_MISSES.WALK_ACTIVE (cycles with a page walk for a load
 * in flight; WALK_DURATION on Haswell and Broadwell): event 0x08 umask
 * 0x10 up to Ice Lake and Tiger Lake, event 0x12 umask 0x10 from Sapphire
 * Rapids and Alder Lake's P-cores on, both with cmask 1 (perf's event
 * lists). Other CPUs get no page-walk cycles. */
static uint64_t intel_walk_event(unsigned family, unsigned model)
{
        static const unsigned older[] = { 0x3c, 0x3f, 0x45, 0x46, 0x3d, 0x47, 0x4f, 0x56,
                                          0x4e, 0x5e, 0x55, 0x8e, 0x9e, 0xa5, 0xa6, 0x66,
                                          0x7d, 0x7e, 0x6a, 0x6c, 0x8c, 0x8d, 0xa7 };
        static const unsigned newer[] = { 0x8f, 0xcf, 0xad, 0xae, 0x97, 0x9a, 0xb7, 0xba, 0xbf };
        if (family != 6)
                return 0;
        for (size_t i = 0; i < ELEMENTSOF(older); i++)
                if (older[i] == model)
                        return 0x08 | 0x10 << 8 | 1ULL << 24;
        for (size_t i = 0; i < ELEMENTSOF(newer); i++)
                if (newer[i] == model)
                        return 0x12 | 0x10 << 8 | 1ULL << 24;
        return 0;
}

/* What the kernel's generic dTLB events count depends on the vendor: on
 * AMD since Zen (family 17h) "dTLB-loads" counts L2 DTLB lookups, that is
 * L1 DTLB misses, not loads, and "dTLB-load-misses" L2 DTLB misses, which
 * are page walks (arch/x86/events/amd/core.c); on Intel they count loads
 * and loads whose translation needed a page walk. */
static void counter_set_for(const char *vendor, unsigned family, unsigned model, struct counter_set *ret)
{
        struct counter_set s = { 0 };
        if (strcmp(vendor, "AuthenticAMD") == 0 && family >= 0x17) {
                s.defs[s.n++] =
                        (struct counter_def){ PERF_TYPE_HW_CACHE, hw_cache(PERF_COUNT_HW_CACHE_RESULT_ACCESS),
                                              "L1 dTLB misses (L2 dTLB lookups)" };
                s.defs[s.n++] =
                        (struct counter_def){ PERF_TYPE_HW_CACHE, hw_cache(PERF_COUNT_HW_CACHE_RESULT_MISS),
                                              "L2 dTLB misses (page walks)" };
        } else if (strcmp(vendor, "GenuineIntel") == 0) {
                s.defs[s.n++] =
                        (struct counter_def){ PERF_TYPE_HW_CACHE, hw_cache(PERF_COUNT_HW_CACHE_RESULT_MISS),
                                              "dTLB load misses (page walks)" };
                uint64_t walk = intel_walk_event(family, model);
                if (walk)
                        s.defs[s.n++] = (struct counter_def){ PERF_TYPE_RAW, walk, "page-walk cycles" };
        } else
                s.defs[s.n++] =
                        (struct counter_def){ PERF_TYPE_HW_CACHE, hw_cache(PERF_COUNT_HW_CACHE_RESULT_MISS),
                                              "dTLB-load-misses (generic event)" };
        *ret = s;
}

static int counter_open(const struct counter_def *d)
{
        struct perf_event_attr a;
        memset(&a, 0, sizeof(a));
        a.type = d->type;
        a.size = sizeof(a);
        a.config = d->config;
        a.disabled = 1;
        a.exclude_kernel = 1;
        a.exclude_hv = 1;
        a.read_format = PERF_FORMAT_TOTAL_TIME_ENABLED | PERF_FORMAT_TOTAL_TIME_RUNNING;
        /* pid 0, cpu -1: this thread, wherever it runs. */
        long fd = syscall(SYS_perf_event_open, &a, 0, -1, -1, PERF_FLAG_FD_CLOEXEC);
        return fd < 0 ? -errno : (int) fd;
}

/* Opens the first counter once to learn whether this machine has any. */
static void counters_check(struct probe_machine *m, const struct counter_set *cs)
{
        int fd = counter_open(&cs->defs[0]);
        if (fd >= 0) {
                close(fd);
                m->counters = true;
                size_t len = 0;
                for (size_t i = 0; i < cs->n; i++)
                        len += (size_t) snprintf(m->counters_note + len, sizeof(m->counters_note) - len,
                                                 "%s%s", i ? ", " : "", cs->defs[i].name);
                if (cs->n == 1 && strcmp(m->cpu_vendor, "GenuineIntel") != 0 &&
                    len < sizeof(m->counters_note))
                        snprintf(m->counters_note + len, sizeof(m->counters_note) - len,
                                 "; no page-walk cycle event on this CPU");
                return;
        }
        m->counters = false;
        if (fd == -ENOENT || fd == -EOPNOTSUPP || fd == -ENODEV || fd == -EINVAL)
                snprintf(m->counters_note, sizeof(m->counters_note),
                         "no hardware counters: perf_event_open for dTLB misses gives \"%s\"; the CPU "
                         "exposes no "
                         "PMU here (usual in VMs)",
                         strerror(-fd));
        else
                snprintf(m->counters_note, sizeof(m->counters_note),
                         "no hardware counters: perf_event_open gives \"%s\" (kernel.perf_event_paranoid?)",
                         strerror(-fd));
}

/* --- the lock and the pool record ---------------------------------------------- */

static int state_path(char *buf, size_t size, const char *state_dir, const char *name)
{
        int n = snprintf(buf, size, "%s/%s", state_dir, name);
        return n < 0 || (size_t) n >= size ? -ENAMETOOLONG : 0;
}

static int lock_take(const char *state_dir, int *ret_fd, struct errbuf *err)
{
        char path[PATH_MAX];
        if (state_path(path, sizeof(path), state_dir, LOCK_FILE) < 0)
                return errbuf_set(err, -ENAMETOOLONG, "%s: path too long", state_dir);
        if (mkdir(state_dir, 0700) < 0 && errno != EEXIST)
                return errbuf_set(err, -errno, "cannot make the state directory %s: %s", state_dir,
                                  strerror(errno));
        _cleanup_close_ int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOCTTY | O_NOFOLLOW, 0600);
        if (fd < 0)
                return errbuf_set(err, -errno, "cannot open %s: %s", path, strerror(errno));
        if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
                int e = errno;
                if (e != EWOULDBLOCK)
                        return errbuf_set(err, -e, "cannot lock %s: %s", path, strerror(e));
                char who[32] = "";
                ssize_t k = pread(fd, who, sizeof(who) - 1, 0);
                who[k > 0 ? k : 0] = '\0';
                who[strcspn(who, "\n")] = '\0';
                return errbuf_set(err, -EBUSY, "another probe is running (%s holds %s)",
                                  who[0] ? who : "a process", path);
        }
        char who[32];
        int n = snprintf(who, sizeof(who), "pid %ld\n", (long) getpid());
        if (ftruncate(fd, 0) < 0 || pwrite(fd, who, (size_t) n, 0) < 0) {
                /* The pid is only for the message above: no harm. */
        }
        *ret_fd = TAKE_FD(fd);
        return 0;
}

/* The record of the pools grown and not yet shrunk back: one line per pool,
 * "<sysfs directory of the pool> <persistent pages before> <asked>". */
struct pool_entry {
        char dir[128];
        uint64_t before, asked;
};

static int record_write(const char *state_dir, const struct pool_entry *e, size_t n, struct errbuf *err)
{
        char path[PATH_MAX], tmp[PATH_MAX];
        if (state_path(path, sizeof(path), state_dir, POOL_RECORD) < 0 ||
            state_path(tmp, sizeof(tmp), state_dir, POOL_RECORD ".tmp") < 0)
                return errbuf_set(err, -ENAMETOOLONG, "%s: path too long", state_dir);
        if (n == 0) {
                if (unlink(path) < 0 && errno != ENOENT)
                        return errbuf_set(err, -errno, "cannot remove %s: %s", path, strerror(errno));
                return 0;
        }
        _cleanup_close_ int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
        if (fd < 0)
                return errbuf_set(err, -errno, "cannot write %s: %s", tmp, strerror(errno));
        char text[PROBE_MAX_BACKINGS * 192];
        size_t len = 0;
        for (size_t i = 0; i < n && i < PROBE_MAX_BACKINGS && len < sizeof(text); i++)
                len += (size_t) snprintf(text + len, sizeof(text) - len, "%s %" PRIu64 " %" PRIu64 "\n",
                                         e[i].dir, e[i].before, e[i].asked);
        if (len >= sizeof(text) || n > PROBE_MAX_BACKINGS)
                return errbuf_set(err, -E2BIG, "the pool record is too long");
        errno = 0;
        if (write(fd, text, len) != (ssize_t) len || fsync(fd) < 0)
                return errbuf_set(err, -errno ? -errno : -EIO, "cannot write %s: %s", tmp, strerror(errno));
        if (rename(tmp, path) < 0)
                return errbuf_set(err, -errno, "cannot rename %s: %s", tmp, strerror(errno));
        _cleanup_close_ int dfd = open(state_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dfd >= 0)
                (void) fsync(dfd);
        return 0;
}

/* A pool directory as the probe writes them, and nothing else: the record
 * decides which sysfs file gets written. */
static bool pool_dir_valid(const char *dir)
{
        unsigned long long kb;
        int node, end = 0;
        if (sscanf(dir, "kernel/mm/hugepages/hugepages-%llukB%n", &kb, &end) == 1 && dir[end] == '\0')
                return true;
        end = 0;
        return sscanf(dir, "devices/system/node/node%d/hugepages/hugepages-%llukB%n", &node, &kb, &end) ==
                       2 &&
               dir[end] == '\0' && node >= 0 && node <= SIZES_MAX_NODE;
}

static int record_read(const char *state_dir, struct pool_entry *e, size_t *ret_n, struct errbuf *err)
{
        char path[PATH_MAX];
        if (state_path(path, sizeof(path), state_dir, POOL_RECORD) < 0)
                return errbuf_set(err, -ENAMETOOLONG, "%s: path too long", state_dir);
        _cleanup_fclose_ FILE *f = fopen(path, "re");
        if (!f) {
                if (errno == ENOENT) {
                        *ret_n = 0;
                        return 0;
                }
                return errbuf_set(err, -errno, "cannot read %s: %s", path, strerror(errno));
        }
        size_t n = 0;
        char line[256];
        while (fgets(line, sizeof(line), f)) {
                struct pool_entry x = { 0 };
                unsigned long long before, asked;
                if (n == PROBE_MAX_BACKINGS || sscanf(line, "%127s %llu %llu", x.dir, &before, &asked) != 3 ||
                    !pool_dir_valid(x.dir) || asked < before)
                        return errbuf_set(err, -EBADMSG, "%s: not a pool record: \"%.*s\"", path,
                                          (int) strcspn(line, "\n"), line);
                x.before = before;
                x.asked = asked;
                e[n++] = x;
        }
        *ret_n = n;
        return 0;
}

static int pool_persistent(const struct sysfs *fs, const char *dir, uint64_t *ret, struct errbuf *err)
{
        char rel[192];
        uint64_t nr, surplus;
        snprintf(rel, sizeof(rel), "%s/nr_hugepages", dir);
        int r = sysfs_read_u64(fs, SYSFS_SYS, rel, &nr, err);
        if (r < 0)
                return r;
        snprintf(rel, sizeof(rel), "%s/surplus_hugepages", dir);
        r = sysfs_read_u64(fs, SYSFS_SYS, rel, &surplus, err);
        if (r < 0)
                return r;
        *ret = nr >= surplus ? nr - surplus : 0;
        return 0;
}

/* Puts a pool back to e->before, if it still holds what the probe set
 * (anything from before to asked: a grow can come back short). */
static int pool_restore(const struct sysfs *fs, const struct pool_entry *e, uint64_t *ret_after, char *msg,
                        size_t msg_size)
{
        struct errbuf err = { "" };
        uint64_t now;
        int r = pool_persistent(fs, e->dir, &now, &err);
        if (r < 0) {
                snprintf(msg, msg_size, "cannot read the pool back: %s", err.msg);
                return r;
        }
        if (now < e->before || now > e->asked) {
                *ret_after = now;
                snprintf(msg, msg_size,
                         "another writer changed the pool during the probe (it holds %" PRIu64
                         " persistent pages, the probe set %" PRIu64 "): left as it is",
                         now, e->asked);
                return -EEXIST;
        }
        char rel[192];
        snprintf(rel, sizeof(rel), "%s/nr_hugepages", e->dir);
        if (now != e->before && (r = sysfs_write_u64(fs, rel, e->before, &err)) < 0) {
                *ret_after = now;
                snprintf(msg, msg_size, "cannot shrink it back: %s", err.msg);
                return r;
        }
        r = pool_persistent(fs, e->dir, &now, &err);
        if (r < 0) {
                snprintf(msg, msg_size, "cannot read the pool back: %s", err.msg);
                return r;
        }
        *ret_after = now;
        if (now != e->before) {
                snprintf(msg, msg_size, "shrinking back left %" PRIu64 " persistent pages, not %" PRIu64, now,
                         e->before);
                return -EIO;
        }
        msg[0] = '\0';
        return 0;
}

/* The pool record of a run that did not finish. Called with the lock held. */
static int recover_locked(const struct sysfs *fs, const char *state_dir, struct probe *p, struct errbuf *err)
{
        struct pool_entry e[PROBE_MAX_BACKINGS];
        size_t n = 0;
        int r = record_read(state_dir, e, &n, err);
        if (r < 0 || n == 0)
                return r;
        int restored = 0;
        for (size_t i = 0; i < n; i++) {
                char msg[192];
                uint64_t after = 0;
                int k = pool_restore(fs, &e[i], &after, msg, sizeof(msg));
                if (p)
                        add_note(p,
                                 "%s: a probe that did not finish had grown it from %" PRIu64 " to %" PRIu64
                                 " pages; %s%s",
                                 e[i].dir, e[i].before, e[i].asked, k == 0 ? "shrunk back" : "", msg);
                restored += k == 0;
        }
        r = record_write(state_dir, NULL, 0, err);
        return r < 0 ? r : restored;
}

int probe_recover(const struct sysfs *fs, const char *state_dir, struct probe *p, struct errbuf *err)
{
        _cleanup_close_ int fd = -1;
        int r = lock_take(state_dir, &fd, err);
        if (r < 0)
                return r;
        return recover_locked(fs, state_dir, p, err);
}

/* --- a run ------------------------------------------------------------------------ */

struct cell {
        struct probe_result *res;
        uint64_t size_kb;    /* hugetlb: the page size */
        uint64_t pages;      /* hugetlb: pages needed */
        bool grow;           /* hugetlb: from a pool grown for it */
        uint64_t cost_bytes; /* what it takes out of MemAvailable */
        bool timed;
        void *reserve; /* the PROT_NONE reservation around the mapping */
        size_t reserve_len;
        char *addr;
        size_t len;
        void *pos;
        int fds[PROBE_MAX_COUNTERS];
};

struct run {
        struct probe *p;
        const struct sysfs *fs;
        const char *state_dir;
        struct sizes sizes;
        struct counter_set counters;
        uint64_t base_bytes, line_bytes, pmd_bytes;
        double deadline;
        struct cell *cells;
        size_t n_cells;
        /* Base pages measured again beside a later group of a working set,
         * for that group's ratios: not results of their own. */
        struct cell *refs;
        struct probe_result *ref_results;
        size_t n_refs;
        struct pool_entry grown[PROBE_MAX_BACKINGS];       /* pools grown and not yet shrunk */
        struct probe_pool *grown_pool[PROBE_MAX_BACKINGS]; /* their entries in probe.pools */
        size_t n_grown;
};

/* Shrinks pool i of the run back and forgets it. */
static void pool_shrink(struct run *run, size_t i)
{
        struct probe_pool *pp = run->grown_pool[i];
        char msg[192];
        uint64_t after = 0;
        int r = pool_restore(run->fs, &run->grown[i], &after, msg, sizeof(msg));
        pp->after = after;
        pp->restored = r == 0;
        if (r < 0)
                snprintf(pp->message, sizeof(pp->message), "%s", msg);
        run->n_grown--;
        memmove(&run->grown[i], &run->grown[i + 1], (run->n_grown - i) * sizeof(run->grown[0]));
        memmove(&run->grown_pool[i], &run->grown_pool[i + 1],
                (run->n_grown - i) * sizeof(run->grown_pool[0]));
        struct errbuf err = { "" };
        if (record_write(run->state_dir, run->grown, run->n_grown, &err) < 0)
                add_note(run->p, "%s", err.msg);
}

/* Shrinks every pool the run grew; called on every path. */
static void pools_restore(struct run *run)
{
        while (run->n_grown)
                pool_shrink(run, run->n_grown - 1);
}

/* Grows the pool of size_kb by pages on the run's node (globally without
 * per-node files), recording it first. Returns 0 when all pages came. */
static int pool_grow(struct run *run, uint64_t size_kb, uint64_t pages, char *why, size_t why_size)
{
        struct probe *p = run->p;
        struct pool_entry e = { 0 };
        int node = p->machine.node;
        if (node >= 0) {
                snprintf(e.dir, sizeof(e.dir), "devices/system/node/node%d/hugepages/hugepages-%" PRIu64 "kB",
                         node, size_kb);
                char rel[192];
                snprintf(rel, sizeof(rel), "%s/nr_hugepages", e.dir);
                if (!sysfs_exists(run->fs, SYSFS_SYS, rel))
                        node = -1;
        }
        if (node < 0)
                snprintf(e.dir, sizeof(e.dir), "kernel/mm/hugepages/hugepages-%" PRIu64 "kB", size_kb);

        struct errbuf err = { "" };
        if (p->n_pools == PROBE_MAX_POOLS || run->n_grown == PROBE_MAX_BACKINGS) {
                snprintf(why, why_size, "too many pools grown in one run");
                return -E2BIG;
        }
        struct probe_pool *pp = &p->pools[p->n_pools++];
        *pp = (struct probe_pool){ .size_kb = size_kb, .node = node };
        int r = pool_persistent(run->fs, e.dir, &e.before, &err);
        if (r < 0) {
                snprintf(why, why_size, "%s", err.msg);
                snprintf(pp->message, sizeof(pp->message), "%.190s", err.msg);
                return r;
        }
        e.asked = e.before + pages;
        pp->before = pp->after = e.before;
        pp->asked = e.asked;
        pp->restored = true; /* nothing to undo yet */
        run->grown[run->n_grown] = e;
        run->grown_pool[run->n_grown++] = pp;
        r = record_write(run->state_dir, run->grown, run->n_grown, &err);
        if (r < 0) {
                run->n_grown--;
                snprintf(why, why_size, "the pool was not grown: %s", err.msg);
                snprintf(pp->message, sizeof(pp->message), "not grown: %.170s", err.msg);
                return r;
        }
        char rel[192];
        snprintf(rel, sizeof(rel), "%s/nr_hugepages", e.dir);
        pp->restored = false;
        r = sysfs_write_u64(run->fs, rel, e.asked, &err);
        uint64_t now = e.before;
        int k = pool_persistent(run->fs, e.dir, &now, NULL);
        pp->got = k == 0 && now > e.before ? now - e.before : 0;
        pp->after = now;
        if (r < 0 || pp->got < pages) {
                char q[QUANTITY_MAX], where[32] = "";
                if (node >= 0)
                        snprintf(where, sizeof(where), " on node %d", node);
                if (r < 0)
                        snprintf(why, why_size, "growing the pool failed: %s", err.msg);
                else
                        snprintf(why, why_size,
                                 "the kernel allocated %" PRIu64 " of the %" PRIu64
                                 " %s pages asked for%s (memory "
                                 "too fragmented, or too little free)",
                                 pp->got, pages, qty(size_kb * 1024, q), where);
                snprintf(pp->message, sizeof(pp->message), "%s", why);
                /* Give back what came at once: a short pool is not used. */
                pool_shrink(run, run->n_grown - 1);
                return r < 0 ? r : -ENOMEM;
        }
        return 0;
}

static uint64_t usable_pages(const struct size_info *si)
{
        return si->free > si->resv ? si->free - si->resv : 0;
}

static uint64_t cell_len(const struct run *run, const struct cell *c)
{
        uint64_t ws = c->res->working_set_bytes;
        switch (c->res->backing.kind) {
        case PROBE_THP:
                return round_up(ws, run->pmd_bytes ? run->pmd_bytes : run->base_bytes);
        case PROBE_HUGETLB:
                return round_up(ws, c->size_kb * 1024);
        default:
                return round_up(ws, run->base_bytes);
        }
}

/* Fills the machine description. */
static int machine_read(struct run *run, struct errbuf *err)
{
        struct probe *p = run->p;
        struct probe_machine *m = &p->machine;
        m->base_page_kb = p->req.base_page_kb ? p->req.base_page_kb : (uint64_t) sysconf(_SC_PAGESIZE) / 1024;
        run->base_bytes = m->base_page_kb * 1024;

        int r = sizes_read(run->fs, m->base_page_kb, &run->sizes, err);
        if (r < 0)
                return r;
        m->mem_available_kb = run->sizes.mem_available_kb;

        struct thp t;
        if (thp_read(run->fs, &t, NULL) == 0) {
                thp_active(&t.knobs[THP_ENABLED], m->thp_enabled, sizeof(m->thp_enabled));
                thp_active(&t.knobs[THP_DEFRAG], m->thp_defrag, sizeof(m->thp_defrag));
        }
        uint64_t pmd = 0;
        if (sysfs_read_u64(run->fs, SYSFS_SYS, THP_DIR "/hpage_pmd_size", &pmd, NULL) == 0 && is_pow2(pmd))
                m->thp_pmd_kb = pmd / 1024;
        run->pmd_bytes = m->thp_pmd_kb * 1024;

        uint64_t line = 0;
        char rel[96];
        snprintf(rel, sizeof(rel), "devices/system/cpu/cpu%d/cache/index0/coherency_line_size", m->cpu);
        if (sysfs_read_u64(run->fs, SYSFS_SYS, rel, &line, NULL) < 0 || !is_pow2(line) || line < 8 ||
            line > run->base_bytes)
                line = 64;
        m->line_bytes = (unsigned) line;
        run->line_bytes = line;
        m->node = cpu_node(run->fs, m->cpu);

        unsigned family, model;
        cpu_vendor(m->cpu_vendor, &family, &model);
        counter_set_for(m->cpu_vendor, family, model, &run->counters);
        counters_check(m, &run->counters);
        return 0;
}

/* The backings to probe: the request's, or base, thp and every size. */
static int backings_plan(struct run *run, struct probe_backing *ret, size_t *ret_n, struct errbuf *err)
{
        struct probe *p = run->p;
        size_t n = 0;
        if (p->req.n_backings) {
                for (size_t i = 0; i < p->req.n_backings; i++) {
                        const struct probe_backing *b = &p->req.backings[i];
                        if (b->kind == PROBE_HUGETLB && !sizes_find(&run->sizes, b->page_kb)) {
                                char q[QUANTITY_MAX], list[128] = "";
                                size_t len = 0;
                                for (size_t k = 0; k < run->sizes.n_sizes && len < sizeof(list); k++) {
                                        char s[QUANTITY_MAX];
                                        len += (size_t) snprintf(list + len, sizeof(list) - len, "%s%s",
                                                                 k ? ", " : "",
                                                                 qty(run->sizes.sizes[k].size_kb * 1024, s));
                                }
                                return errbuf_set(err, -EINVAL, "this kernel has no %s hugepages (it has %s)",
                                                  qty(b->page_kb * 1024, q), list[0] ? list : "none");
                        }
                        ret[n++] = *b;
                }
        } else {
                ret[n++] = (struct probe_backing){ PROBE_BASE, 0 };
                ret[n++] = (struct probe_backing){ PROBE_THP, 0 };
                for (size_t k = 0; k < run->sizes.n_sizes && n < PROBE_MAX_BACKINGS; k++)
                        ret[n++] = (struct probe_backing){ PROBE_HUGETLB, run->sizes.sizes[k].size_kb };
        }
        *ret_n = n;
        return 0;
}

/* What this process's memory cgroup still lets it take, kept clear of
 * PROBE_CGROUP_MARGIN for the service itself: under a limit (a pod's, a
 * unit's MemoryMax=) a working set of a quarter of the host's MemAvailable
 * would have the kernel kill the whole service. From /proc/self/cgroup,
 * then cgroup v2's memory.max and memory.current, else v1's
 * memory.limit_in_bytes and memory.usage_in_bytes. Returns 0 with
 * *ret_bytes and the limit in *ret_limit, or -ENOENT when no limit is set
 * or none can be read. */
#define PROBE_CGROUP_MARGIN (64ULL << 20)

static int cgroup_room(const struct sysfs *fs, const char *cgroup_root, uint64_t *ret_bytes, uint64_t *ret_limit)
{
        char self[4096];
        struct errbuf ignore = { { 0 } };
        if (sysfs_read(fs, SYSFS_PROC, "self/cgroup", self, sizeof(self), NULL, &ignore) < 0)
                return -ENOENT;
        struct sysfs cg;
        if (sysfs_init(&cg, cgroup_root ? cgroup_root : "/sys/fs/cgroup", "/proc") < 0)
                return -ENOMEM;
        int r = -ENOENT;
        char *save = NULL;
        for (char *line = strtok_r(self, "\n", &save); line && r == -ENOENT; line = strtok_r(NULL, "\n", &save)) {
                /* "0::/path" (v2) or "N:memory:/path" (v1; a controller list may name more). */
                char *c1 = strchr(line, ':'), *c2 = c1 ? strchr(c1 + 1, ':') : NULL;
                if (!c2)
                        continue;
                *c2 = '\0';
                const char *controllers = c1 + 1, *path = c2 + 1;
                while (*path == '/')
                        path++;
                const char *max_file, *cur_file, *prefix;
                if (strcmp(line, "0") == 0 && controllers[0] == '\0') {
                        prefix = "", max_file = "memory.max", cur_file = "memory.current";
                } else {
                        bool memory = false;
                        char list[256];
                        snprintf(list, sizeof(list), "%s", controllers);
                        char *s2 = NULL;
                        for (char *w = strtok_r(list, ",", &s2); w; w = strtok_r(NULL, ",", &s2))
                                memory = memory || strcmp(w, "memory") == 0;
                        if (!memory)
                                continue;
                        prefix = "memory/", max_file = "memory.limit_in_bytes", cur_file = "memory.usage_in_bytes";
                }
                char rel[PATH_MAX], text[64];
                uint64_t limit, used;
                snprintf(rel, sizeof(rel), "%s%s%s%s", prefix, path, *path ? "/" : "", max_file);
                if (sysfs_read(&cg, SYSFS_SYS, rel, text, sizeof(text), NULL, &ignore) < 0)
                        continue;
                if (strncmp(text, "max", 3) == 0)
                        break; /* v2 without a limit */
                if (sysfs_read_u64(&cg, SYSFS_SYS, rel, &limit, &ignore) < 0 || limit >= (1ULL << 62))
                        break; /* v1 prints about 2^63 for none */
                snprintf(rel, sizeof(rel), "%s%s%s%s", prefix, path, *path ? "/" : "", cur_file);
                if (sysfs_read_u64(&cg, SYSFS_SYS, rel, &used, &ignore) < 0)
                        break;
                uint64_t room = limit > used ? limit - used : 0;
                *ret_bytes = room > PROBE_CGROUP_MARGIN ? room - PROBE_CGROUP_MARGIN : 0;
                *ret_limit = limit;
                r = 0;
        }
        sysfs_release(&cg);
        return r;
}

/* Makes the cells and decides which hugetlb cells can run. */
static int plan(struct run *run, struct errbuf *err)
{
        struct probe *p = run->p;
        struct probe_backing b[PROBE_MAX_BACKINGS];
        size_t nb = 0;
        int r = backings_plan(run, b, &nb, err);
        if (r < 0)
                return r;

        uint64_t avail = run->sizes.mem_available_kb * 1024;
        /* The default bound in whole MiB, so that it reads as a quantity. */
        uint64_t limit = p->req.max_memory_bytes ? p->req.max_memory_bytes : avail / 4 >> 20 << 20;
        char q1[QUANTITY_MAX], q2[QUANTITY_MAX], q3[QUANTITY_MAX], q4[QUANTITY_MAX];
        if (limit > avail / 4 * 3)
                return errbuf_set(
                        err, -E2BIG,
                        "a memory bound of %s is over three quarters of MemAvailable (%s): not on a node "
                        "in use",
                        qty(limit, q1), qty(avail, q2));
        uint64_t room, cg_limit;
        if (cgroup_room(run->fs, p->req.cgroup_root, &room, &cg_limit) == 0 && limit > room) {
                uint64_t cap = room >> 20 << 20;
                if (p->req.max_memory_bytes)
                        return errbuf_set(err, -E2BIG,
                                          "a memory bound of %s is over what this process's memory cgroup "
                                          "still allows (%s below its limit of %s, less %s for the service)",
                                          qty(limit, q1), qty(room + PROBE_CGROUP_MARGIN, q2), qty(cg_limit, q3),
                                          qty(PROBE_CGROUP_MARGIN, q4));
                add_note(p, "the memory bound is %s, not a quarter of MemAvailable: this process's memory cgroup "
                            "allows %s more (limit %s, less %s for the service)",
                         qty(cap, q1), qty(room + PROBE_CGROUP_MARGIN, q2), qty(cg_limit, q3),
                         qty(PROBE_CGROUP_MARGIN, q4));
                limit = cap;
        }
        p->machine.max_memory_bytes = limit;

        uint64_t stride = p->req.stride == PROBE_STRIDE_LINE ? run->line_bytes : run->base_bytes;
        for (size_t i = 0; i < p->req.n_sets; i++) {
                if (p->req.working_sets[i] % run->base_bytes)
                        return errbuf_set(err, -EINVAL,
                                          "working set %s is not a multiple of the base page (%s)",
                                          qty(p->req.working_sets[i], q1), qty(run->base_bytes, q2));
                if (p->req.working_sets[i] / stride < 2)
                        return errbuf_set(err, -EINVAL, "working set %s holds fewer than two nodes of %s",
                                          qty(p->req.working_sets[i], q1), qty(stride, q2));
        }

        run->n_cells = p->req.n_sets * nb;
        p->results = calloc(run->n_cells, sizeof(*p->results));
        run->cells = calloc(run->n_cells, sizeof(*run->cells));
        if (!p->results || !run->cells)
                return errbuf_set(err, -ENOMEM, "no memory for %zu results", run->n_cells);
        p->n_results = run->n_cells;

        bool noted[PROBE_MAX_BACKINGS] = { false };
        for (size_t s = 0; s < p->req.n_sets; s++)
                for (size_t k = 0; k < nb; k++) {
                        struct cell *c = &run->cells[s * nb + k];
                        struct probe_result *res = &p->results[s * nb + k];
                        c->res = res;
                        for (size_t f = 0; f < PROBE_MAX_COUNTERS; f++)
                                c->fds[f] = -1;
                        res->working_set_bytes = p->req.working_sets[s];
                        res->backing = b[k];
                        res->status = PROBE_OK;
                        c->size_kb = b[k].page_kb;
                        c->len = cell_len(run, c);
                        if (b[k].kind != PROBE_HUGETLB) {
                                c->cost_bytes = c->len;
                                if (b[k].kind == PROBE_THP && !run->pmd_bytes) {
                                        res->status = PROBE_SKIPPED;
                                        set_reason(res, "this kernel has no transparent hugepages");
                                }
                        } else {
                                const struct size_info *si = sizes_find(&run->sizes, b[k].page_kb);
                                c->pages = c->len / (c->size_kb * 1024);
                                uint64_t usable = usable_pages(si);
                                if (p->req.grow_pool) {
                                        c->grow = true;
                                        c->cost_bytes = c->len;
                                } else if (usable < c->pages) {
                                        res->status = PROBE_SKIPPED;
                                        set_reason(res,
                                                   "needs %" PRIu64 " free %s pages, the pool has %" PRIu64
                                                   " free and unreserved; a temporary pool was not allowed",
                                                   c->pages, qty(c->size_kb * 1024, q1), usable);
                                        if (!noted[k]) {
                                                noted[k] = true;
                                                add_note(p,
                                                         "%s: not tested for %s: %" PRIu64
                                                         " free pages, %" PRIu64 " needed",
                                                         qty(c->size_kb * 1024, q1),
                                                         qty(res->working_set_bytes, q3), usable, c->pages);
                                        }
                                }
                        }
                        if (res->status == PROBE_OK && c->cost_bytes > limit)
                                return errbuf_set(
                                        err, -E2BIG,
                                        "working set %s backed by %s takes %s, over the memory bound of "
                                        "%s (a quarter of MemAvailable unless raised, within the memory cgroup's room)",
                                        qty(res->working_set_bytes, q1),
                                        probe_backing_name(&b[k], q3, sizeof(q3)), qty(c->cost_bytes, q2),
                                        qty(limit, q4));
                }

        /* Groups: per working set, base pages first, then the cells in
         * order, as many together as the bound allows. A later group gets
         * base pages of its own again when they fit beside it, so that
         * each ratio compares cells interleaved with each other. */
        run->refs = calloc(run->n_cells, sizeof(*run->refs));
        run->ref_results = calloc(run->n_cells, sizeof(*run->ref_results));
        if (!run->refs || !run->ref_results)
                return errbuf_set(err, -ENOMEM, "no memory for %zu results", run->n_cells);
        unsigned group = 0;
        for (size_t s = 0; s < p->req.n_sets; s++) {
                struct cell *base = NULL;
                for (size_t k = 0; k < nb; k++)
                        if (b[k].kind == PROBE_BASE && run->cells[s * nb + k].res->status == PROBE_OK)
                                base = &run->cells[s * nb + k];
                uint64_t used = 0;
                bool open = false;
                for (size_t k = base ? 0 : 1; k <= nb; k++) {
                        struct cell *c = k == 0 ? base : &run->cells[s * nb + k - 1];
                        if (c->res->status != PROBE_OK || (k > 0 && c == base))
                                continue;
                        if (!open || used + c->cost_bytes > limit) {
                                group++;
                                used = 0;
                                open = true;
                                if (base && c != base && base->cost_bytes + c->cost_bytes <= limit) {
                                        struct cell *ref = &run->refs[run->n_refs];
                                        struct probe_result *rr = &run->ref_results[run->n_refs++];
                                        *rr = (struct probe_result){ .working_set_bytes =
                                                                             base->res->working_set_bytes,
                                                                     .backing = base->res->backing,
                                                                     .status = PROBE_OK,
                                                                     .group = group };
                                        *ref = (struct cell){ .res = rr,
                                                              .len = base->len,
                                                              .cost_bytes = base->cost_bytes };
                                        for (size_t f = 0; f < PROBE_MAX_COUNTERS; f++)
                                                ref->fds[f] = -1;
                                        used = base->cost_bytes;
                                }
                        }
                        used += c->cost_bytes;
                        c->res->group = group;
                }
        }
        unsigned total = 0;
        for (size_t i = 0; i < run->n_cells; i++)
                if (run->cells[i].res->status == PROBE_OK)
                        total += p->req.rounds + 1;
        total += (unsigned) run->n_refs * (p->req.rounds + 1);
        atomic_store(&p->rounds_total, total);
        return 0;
}

/* --- a group: setup --------------------------------------------------------------- */

static void proof_fill(struct probe_proof *pr, const struct smaps_range *sr, uint64_t len)
{
        *pr = (struct probe_proof){
                .read = true,
                .exact = sr->exact,
                .mapped_bytes = len,
                .kernel_page_kb = sr->kernel_page_kb,
                .mmu_page_kb = sr->mmu_page_kb,
                .rss_kb = sr->rss_kb,
                .anon_huge_kb = sr->anon_huge_kb,
                .shared_hugetlb_kb = sr->shared_hugetlb_kb,
                .private_hugetlb_kb = sr->private_hugetlb_kb,
        };
        snprintf(pr->vmflags, sizeof(pr->vmflags), "%s", sr->vmflags);
}

/* Reads the proof and judges it: OK, PARTIAL or NOT_OBTAINED, with reason. */
static enum probe_status proof_judge(struct run *run, struct cell *c, struct probe_proof *pr, char *why,
                                     size_t why_size)
{
        struct smaps_range sr;
        struct errbuf err = { "" };
        char q1[QUANTITY_MAX], q2[QUANTITY_MAX], q3[QUANTITY_MAX];
        int r = smaps_read(run->fs, "self/smaps", (uint64_t) (uintptr_t) c->addr,
                           (uint64_t) (uintptr_t) c->addr + c->len, &sr, &err);
        if (r < 0) {
                snprintf(why, why_size, "no proof of backing: %s", err.msg);
                return PROBE_FAILED;
        }
        proof_fill(pr, &sr, c->len);
        if (!sr.exact) {
                snprintf(why, why_size,
                         "no proof of backing: smaps shows the mapping in %zu pieces, or merged", sr.n_vmas);
                return PROBE_FAILED;
        }
        uint64_t base_kb = run->base_bytes / 1024;
        switch (c->res->backing.kind) {
        case PROBE_BASE:
                pr->backed_bytes =
                        (sr.rss_kb - (sr.anon_huge_kb < sr.rss_kb ? sr.anon_huge_kb : sr.rss_kb)) * 1024;
                if (sr.kernel_page_kb != base_kb || sr.anon_huge_kb) {
                        snprintf(why, why_size,
                                 "not base pages: KernelPageSize %" PRIu64 " kB, AnonHugePages %" PRIu64
                                 " kB",
                                 sr.kernel_page_kb, sr.anon_huge_kb);
                        return PROBE_NOT_OBTAINED;
                }
                if (pr->backed_bytes < c->len) {
                        snprintf(why, why_size, "only %s of %s resident (swapped out?)",
                                 qty(pr->backed_bytes, q1), qty(c->len, q2));
                        return PROBE_PARTIAL;
                }
                return PROBE_OK;
        case PROBE_THP:
                pr->backed_bytes = sr.anon_huge_kb * 1024;
                if (pr->backed_bytes >= c->len)
                        return PROBE_OK;
                if (pr->backed_bytes == 0) {
                        snprintf(why, why_size,
                                 "no THP obtained (AnonHugePages 0; transparent_hugepage/enabled is [%s], "
                                 "defrag [%s])",
                                 run->p->machine.thp_enabled, run->p->machine.thp_defrag);
                        return PROBE_NOT_OBTAINED;
                }
                snprintf(why, why_size, "only %s of %s in huge pages (AnonHugePages), the rest in base pages",
                         qty(pr->backed_bytes, q1), qty(c->len, q2));
                return PROBE_PARTIAL;
        case PROBE_HUGETLB:
                pr->backed_bytes = smaps_hugetlb_kb(&sr) * 1024;
                if (sr.kernel_page_kb != c->size_kb || pr->backed_bytes < c->len) {
                        snprintf(why, why_size,
                                 "not %s pages: KernelPageSize %" PRIu64 " kB, %s in hugetlb pages of %s",
                                 qty(c->size_kb * 1024, q1), sr.kernel_page_kb, qty(pr->backed_bytes, q2),
                                 qty(c->len, q3));
                        return PROBE_NOT_OBTAINED;
                }
                return PROBE_OK;
        }
        return PROBE_FAILED;
}

static void cell_unmap(struct cell *c)
{
        if (c->addr)
                munmap(c->addr, c->len);
        if (c->reserve)
                munmap(c->reserve, c->reserve_len);
        c->addr = NULL;
        c->reserve = NULL;
        for (size_t f = 0; f < PROBE_MAX_COUNTERS; f++)
                if (c->fds[f] >= 0) {
                        close(c->fds[f]);
                        c->fds[f] = -1;
                }
}

/* Maps, pre-faults and links one cell; judges its proof. Sets c->timed. */
static void cell_setup(struct run *run, struct cell *c)
{
        struct probe_result *res = c->res;
        double t0 = now_s();
        char q[QUANTITY_MAX];
        uint64_t align = run->pmd_bytes > run->base_bytes ? run->pmd_bytes : run->base_bytes;
        if (res->backing.kind == PROBE_HUGETLB && c->size_kb * 1024 > align)
                align = c->size_kb * 1024;

        /* A PROT_NONE reservation with room to align, and the mapping in
         * its middle: the guards on both sides keep it a VMA of its own,
         * so that smaps speaks of this mapping alone. */
        c->reserve_len = c->len + 2 * align;
        c->reserve =
                mmap(NULL, c->reserve_len, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
        if (c->reserve == MAP_FAILED) {
                c->reserve = NULL;
                res->status = PROBE_FAILED;
                set_reason(res, "cannot reserve %s of address space: %s", qty(c->reserve_len, q),
                           strerror(errno));
                return;
        }
        char *addr =
                (char *) (uintptr_t) round_up((uint64_t) (uintptr_t) c->reserve + run->base_bytes, align);
        int flags = MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED;
        if (res->backing.kind == PROBE_HUGETLB)
                flags |= MAP_HUGETLB | (__builtin_ctzll(c->size_kb * 1024) << MAP_HUGE_SHIFT);
        void *m = mmap(addr, c->len, PROT_READ | PROT_WRITE, flags, -1, 0);
        if (m == MAP_FAILED) {
                int e = errno;
                res->status = res->backing.kind == PROBE_HUGETLB ? PROBE_NOT_OBTAINED : PROBE_FAILED;
                set_reason(res, "mmap of %s%s failed: %s", qty(c->len, q),
                           res->backing.kind == PROBE_HUGETLB ? " with MAP_HUGETLB" : "", strerror(e));
                return;
        }
        c->addr = addr;
        if (res->backing.kind != PROBE_HUGETLB &&
            madvise(addr, c->len, res->backing.kind == PROBE_THP ? MADV_HUGEPAGE : MADV_NOHUGEPAGE) < 0 &&
            (res->backing.kind == PROBE_THP || errno != EINVAL)) {
                res->status = res->backing.kind == PROBE_THP ? PROBE_NOT_OBTAINED : PROBE_FAILED;
                set_reason(res, "madvise(%s): %s",
                           res->backing.kind == PROBE_THP ? "MADV_HUGEPAGE" : "MADV_NOHUGEPAGE",
                           strerror(errno));
                return;
        }
        /* Pre-fault it all, in address order. MADV_POPULATE_WRITE (Linux
         * 5.14) takes the ordinary write faults, THP included, and turns
         * a fault that fails into an error where a write would raise
         * SIGBUS (a hugetlb page that cannot be had after all). Older
         * kernels: one write per page (base pages for THP too: the first
         * write in a huge page faults it whole). */
        if (madvise(addr, c->len, MADV_POPULATE_WRITE) < 0) {
                int e = errno;
                if (e != EINVAL) {
                        res->status = res->backing.kind == PROBE_HUGETLB ? PROBE_NOT_OBTAINED : PROBE_FAILED;
                        set_reason(res, "cannot fault in %s: madvise(MADV_POPULATE_WRITE): %s",
                                   qty(c->len, q), strerror(e));
                        return;
                }
                uint64_t step = res->backing.kind == PROBE_HUGETLB ? c->size_kb * 1024 : run->base_bytes;
                for (uint64_t off = 0; off < c->len; off += step)
                        ((volatile char *) addr)[off] = 1;
        }

        uint64_t stride = run->p->req.stride == PROBE_STRIDE_LINE ? run->line_bytes : run->base_bytes;
        res->nodes = res->working_set_bytes / stride;
        uint64_t loads = res->nodes < PROBE_MIN_LOADS ? PROBE_MIN_LOADS : res->nodes;
        res->loads_per_round = loads > PROBE_MAX_LOADS ? PROBE_MAX_LOADS : loads;
        c->pos = probe_chain_build(addr, res->nodes, stride, run->line_bytes, run->p->machine.seed,
                                   &run->p->cancel);
        if (!c->pos) {
                res->status = PROBE_CANCELLED;
                set_reason(res, "cancelled while building the chain");
                return;
        }
        res->setup_s = now_s() - t0;

        char why[256] = "";
        res->status = proof_judge(run, c, &res->proof, why, sizeof(why));
        snprintf(res->reason, sizeof(res->reason), "%s", why);
        if (res->status != PROBE_OK && res->status != PROBE_PARTIAL)
                return;

        if (run->p->machine.counters) {
                res->n_counters = run->counters.n;
                for (size_t f = 0; f < run->counters.n; f++) {
                        snprintf(res->counters[f].name, sizeof(res->counters[f].name), "%s",
                                 run->counters.defs[f].name);
                        int fd = counter_open(&run->counters.defs[f]);
                        c->fds[f] = fd >= 0 ? fd : -1;
                }
        }
        c->timed = true;
}

/* --- a group: rounds ----------------------------------------------------------------- */

static bool out_of_time(struct run *run)
{
        return now_s() > run->deadline;
}

static void counters_toggle(struct cell *c, bool on)
{
        for (size_t f = 0; f < PROBE_MAX_COUNTERS; f++)
                if (c->fds[f] >= 0)
                        ioctl(c->fds[f], on ? PERF_EVENT_IOC_ENABLE : PERF_EVENT_IOC_DISABLE, 0);
}

static void counters_read(struct cell *c)
{
        struct probe_result *res = c->res;
        uint64_t loads = res->loads_per_round * res->n_rounds;
        for (size_t f = 0; f < res->n_counters; f++) {
                uint64_t v[3];
                if (c->fds[f] < 0 || read(c->fds[f], v, sizeof(v)) != (ssize_t) sizeof(v)) {
                        snprintf(res->counters[f].name + strlen(res->counters[f].name),
                                 sizeof(res->counters[f].name) - strlen(res->counters[f].name),
                                 " (unavailable)");
                        continue;
                }
                double value = (double) v[0];
                if (v[2] && v[2] < v[1]) {
                        value = value * (double) v[1] / (double) v[2];
                        res->counters[f].scaled = true;
                }
                res->counters[f].value = (uint64_t) value;
                res->counters[f].per_load = loads ? value / (double) loads : 0;
        }
}

static void group_rounds(struct run *run, struct cell **cells, size_t n)
{
        struct probe *p = run->p;
        unsigned rounds = p->req.rounds;
        atomic_store(&p->phase, PROBE_PHASE_TIMING);
        for (unsigned r = 0; r <= rounds; r++)
                for (size_t k = 0; k < n; k++) {
                        struct cell *c = cells[(k + r) % n];
                        if (!c->timed)
                                continue;
                        if (cancelled(p) || out_of_time(run))
                                return;
                        bool counted = r > 0;
                        if (counted)
                                counters_toggle(c, true);
                        double t0 = now_s();
                        probe_chase(&c->pos, c->res->loads_per_round);
                        double t1 = now_s();
                        if (counted) {
                                counters_toggle(c, false);
                                c->res->ns_per_load[c->res->n_rounds++] =
                                        (t1 - t0) * 1e9 / (double) c->res->loads_per_round;
                        }
                        atomic_fetch_add(&p->rounds_done, 1);
                }
}

static void cell_finish(struct run *run, struct cell *c)
{
        struct probe_result *res = c->res;
        if (!c->timed)
                return;
        counters_read(c);
        if (res->n_rounds < run->p->req.rounds) {
                res->status = PROBE_CANCELLED;
                set_reason(res, "%s after %u of %u rounds",
                           cancelled(run->p) ? "cancelled" : "out of time (max_seconds)", res->n_rounds,
                           run->p->req.rounds);
        }
        if (res->n_rounds) {
                double sorted[PROBE_MAX_ROUNDS];
                memcpy(sorted, res->ns_per_load, res->n_rounds * sizeof(double));
                qsort(sorted, res->n_rounds, sizeof(double), cmp_double);
                unsigned n = res->n_rounds;
                res->median_ns = n % 2 ? sorted[n / 2] : (sorted[n / 2 - 1] + sorted[n / 2]) / 2;
                res->min_ns = sorted[0];
                res->max_ns = sorted[n - 1];
        }
        /* The backing may change under the run: khugepaged collapses, THP
         * splits under pressure, pages get swapped. Say so. */
        char why[256] = "";
        enum probe_status after = proof_judge(run, c, &res->proof_after, why, sizeof(why));
        if (after != PROBE_OK && res->status == PROBE_OK) {
                res->status = after == PROBE_FAILED ? PROBE_OK : PROBE_PARTIAL;
                set_reason(res, "after the rounds: %s", why);
        } else if (res->proof_after.backed_bytes != res->proof.backed_bytes && res->status == PROBE_PARTIAL) {
                char q1[QUANTITY_MAX], q2[QUANTITY_MAX];
                size_t len = strlen(res->reason);
                snprintf(res->reason + len, sizeof(res->reason) - len, "; %s after the rounds (was %s)",
                         qty(res->proof_after.backed_bytes, q1), qty(res->proof.backed_bytes, q2));
        }
}

/* Runs one group: grows its pools, sets up, times, tears down, restores. */
static void group_run(struct run *run, unsigned group)
{
        struct probe *p = run->p;
        struct cell *cells[PROBE_MAX_BACKINGS + 1];
        size_t n = 0;
        for (size_t i = 0; i < run->n_refs && n < ELEMENTSOF(cells); i++)
                if (run->refs[i].res->group == group)
                        cells[n++] = &run->refs[i];
        for (size_t i = 0; i < run->n_cells && n < ELEMENTSOF(cells); i++)
                if (run->cells[i].res->group == group && run->cells[i].res->status == PROBE_OK)
                        cells[n++] = &run->cells[i];

        atomic_store(&p->phase, PROBE_PHASE_SETUP);
        for (size_t k = 0; k < n; k++) {
                struct cell *c = cells[k];
                if (cancelled(p) || out_of_time(run)) {
                        c->res->status = PROBE_CANCELLED;
                        set_reason(c->res, "%s before its setup", cancelled(p) ? "cancelled" : "out of time");
                        continue;
                }
                if (c->grow) {
                        char why[256] = "";
                        if (pool_grow(run, c->size_kb, c->pages, why, sizeof(why)) < 0) {
                                c->res->status = PROBE_NOT_OBTAINED;
                                set_reason(c->res, "%s", why);
                                continue;
                        }
                }
                cell_setup(run, c);
        }
        unsigned lost = 0;
        for (size_t k = 0; k < n; k++)
                lost += !cells[k]->timed;
        atomic_fetch_sub(&p->rounds_total, lost * (p->req.rounds + 1));

        group_rounds(run, cells, n);

        atomic_store(&p->phase, PROBE_PHASE_RESTORING);
        for (size_t k = 0; k < n; k++) {
                cell_finish(run, cells[k]);
                cell_unmap(cells[k]);
        }
        pools_restore(run);
}

/* --- probe_run ------------------------------------------------------------------------ */

static int pin(struct probe *p, cpu_set_t *ret_old, struct errbuf *err)
{
        if (sched_getaffinity(0, sizeof(*ret_old), ret_old) < 0)
                return errbuf_set(err, -errno, "sched_getaffinity: %s", strerror(errno));
        int cpu = p->req.cpu;
        if (cpu < 0)
                for (int i = CPU_SETSIZE - 1; i >= 0; i--)
                        if (CPU_ISSET(i, ret_old)) {
                                cpu = i;
                                break;
                        }
        if (cpu < 0 || cpu >= CPU_SETSIZE || !CPU_ISSET(cpu, ret_old))
                return errbuf_set(err, -EINVAL, "CPU %d is not one this process may run on", p->req.cpu);
        cpu_set_t one;
        CPU_ZERO(&one);
        CPU_SET(cpu, &one);
        if (sched_setaffinity(0, sizeof(one), &one) < 0)
                return errbuf_set(err, -errno, "cannot pin to CPU %d: %s", cpu, strerror(errno));
        p->machine.cpu = cpu;
        return 0;
}

/* Each timed result against base pages of the same working set: those of
 * its own group, else the ones measured beside it, else (they did not fit
 * beside it) those of another group, which the result says. */
static void ratios(struct run *run)
{
        struct probe *p = run->p;
        for (size_t i = 0; i < p->n_results; i++) {
                struct probe_result *r = &p->results[i];
                if (!r->n_rounds)
                        continue;
                const struct probe_result *base = NULL, *ref = NULL;
                for (size_t k = 0; k < p->n_results; k++)
                        if (p->results[k].working_set_bytes == r->working_set_bytes &&
                            p->results[k].backing.kind == PROBE_BASE && p->results[k].status == PROBE_OK)
                                base = &p->results[k];
                for (size_t k = 0; k < run->n_refs; k++)
                        if (run->ref_results[k].group == r->group && run->ref_results[k].status == PROBE_OK)
                                ref = &run->ref_results[k];
                const struct probe_result *d = base && base->group == r->group ? base : ref ? ref : base;
                if (!d || d->median_ns <= 0)
                        continue;
                r->ratio_to_base = r->median_ns / d->median_ns;
                r->base_median_ns = d->median_ns;
                r->base_group = d->group;
        }
        for (size_t k = 0; k < run->n_refs; k++) {
                const struct probe_result *rr = &run->ref_results[k];
                char q[QUANTITY_MAX];
                if (rr->status == PROBE_OK)
                        add_note(
                                p,
                                "group %u (%s): base pages were measured again beside it, median %.2f ns per "
                                "load (min %.2f, max %.2f), for its ratios",
                                rr->group, qty(rr->working_set_bytes, q), rr->median_ns, rr->min_ns,
                                rr->max_ns);
                else
                        add_note(p, "group %u (%s): base pages measured again beside it: %s: %s", rr->group,
                                 qty(rr->working_set_bytes, q), probe_status_name(rr->status), rr->reason);
        }
}

int probe_run(struct probe *p, const struct sysfs *fs, const char *state_dir, struct errbuf *err)
{
        struct run run = { .p = p, .fs = fs, .state_dir = state_dir };
        _cleanup_close_ int lock = -1;
        cpu_set_t old;
        bool pinned = false;
        atomic_store(&p->phase, PROBE_PHASE_PLANNING);

        int r = lock_take(state_dir, &lock, err);
        if (r < 0)
                goto out;
        r = recover_locked(fs, state_dir, p, err);
        if (r < 0)
                goto out;
        r = pin(p, &old, err);
        if (r < 0)
                goto out;
        pinned = true;
        p->machine.seed = p->req.seed;
        if (!p->machine.seed) {
                struct timespec ts;
                clock_gettime(CLOCK_REALTIME, &ts);
                p->machine.seed =
                        (uint64_t) ts.tv_sec * 1000000007u ^ (uint64_t) ts.tv_nsec ^ (uint64_t) getpid();
        }
        r = machine_read(&run, err);
        if (r < 0)
                goto out;
        r = plan(&run, err);
        if (r < 0)
                goto out;
        run.deadline = now_s() + p->req.max_seconds;

        unsigned groups = 0;
        for (size_t i = 0; i < run.n_cells; i++)
                if (run.cells[i].res->group > groups)
                        groups = run.cells[i].res->group;
        for (unsigned g = 1; g <= groups; g++)
                group_run(&run, g);
        ratios(&run);
        if (cancelled(p))
                add_note(p, "the run was cancelled; the pools it grew were shrunk back");
        r = 0;
out:
        if (run.n_grown)
                pools_restore(&run);
        if (run.cells)
                for (size_t i = 0; i < run.n_cells; i++)
                        cell_unmap(&run.cells[i]);
        for (size_t i = 0; i < run.n_refs; i++)
                cell_unmap(&run.refs[i]);
        free(run.cells);
        free(run.refs);
        free(run.ref_results);
        sizes_release(&run.sizes);
        if (pinned)
                (void) sched_setaffinity(0, sizeof(old), &old);
        if (r < 0) {
                free(p->results);
                p->results = NULL;
                p->n_results = 0;
        }
        atomic_store(&p->phase, PROBE_PHASE_DONE);
        atomic_store_explicit(&p->finished, true, memory_order_release);
        return r;
}

/* --- JSON ------------------------------------------------------------------------ */

int probe_parse_backing(const char *word, struct probe_backing *ret)
{
        struct probe_backing b = { 0 };
        uint64_t bytes;
        if (strcmp(word, "base") == 0)
                b.kind = PROBE_BASE;
        else if (strcmp(word, "thp") == 0)
                b.kind = PROBE_THP;
        else if (quantity_parse(word, &bytes) == 0 && bytes >= 1024 && bytes % 1024 == 0) {
                b.kind = PROBE_HUGETLB;
                b.page_kb = bytes / 1024;
        } else
                return -EINVAL;
        *ret = b;
        return 0;
}

static json_t *proof_json(const struct probe_proof *p)
{
        if (!p->read)
                return json_null();
        return json_pack("{s:b, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:s}", "exact", p->exact,
                         "mapped_bytes", (json_int_t) p->mapped_bytes, "backed_bytes",
                         (json_int_t) p->backed_bytes, "kernel_page_size_kb", (json_int_t) p->kernel_page_kb,
                         "mmu_page_size_kb", (json_int_t) p->mmu_page_kb, "rss_kb", (json_int_t) p->rss_kb,
                         "anon_huge_pages_kb", (json_int_t) p->anon_huge_kb, "shared_hugetlb_kb",
                         (json_int_t) p->shared_hugetlb_kb, "private_hugetlb_kb",
                         (json_int_t) p->private_hugetlb_kb, "vmflags", p->vmflags);
}

json_t *probe_to_json(const struct probe *p)
{
        const struct probe_machine *m = &p->machine;
        char a[QUANTITY_MAX];
        json_t *results = json_array();
        for (size_t i = 0; i < p->n_results; i++) {
                const struct probe_result *r = &p->results[i];
                char name[32];
                json_t *rounds = json_array(), *counters = json_array();
                for (unsigned k = 0; k < r->n_rounds; k++)
                        json_array_append_new(rounds, json_real(r->ns_per_load[k]));
                for (size_t k = 0; k < r->n_counters; k++)
                        json_array_append_new(counters,
                                              json_pack("{s:s, s:I, s:f, s:b}", "name", r->counters[k].name,
                                                        "value", (json_int_t) r->counters[k].value,
                                                        "per_load", r->counters[k].per_load, "scaled",
                                                        r->counters[k].scaled));
                json_t *o = json_pack(
                        "{s:s, s:I, s:s, s:s, s:s, s:I, s:o, s:o, s:I, s:I, s:o}", "working_set",
                        quantity_format(r->working_set_bytes, a), "working_set_bytes", (json_int_t) r->working_set_bytes,
                        "backing", probe_backing_name(&r->backing, name, sizeof(name)), "status",
                        probe_status_name(r->status), "reason", r->reason, "group", (json_int_t) r->group,
                        "proof", proof_json(&r->proof), "proof_after", proof_json(&r->proof_after), "nodes",
                        (json_int_t) r->nodes, "loads_per_round", (json_int_t) r->loads_per_round,
                        "ns_per_load", rounds);
                if (r->n_rounds) {
                        json_object_set_new(o, "median_ns", json_real(r->median_ns));
                        json_object_set_new(o, "min_ns", json_real(r->min_ns));
                        json_object_set_new(o, "max_ns", json_real(r->max_ns));
                }
                json_object_set_new(o, "ratio_to_base",
                                    r->ratio_to_base > 0 ? json_real(r->ratio_to_base) : json_null());
                json_object_set_new(o, "base_median_ns",
                                    r->ratio_to_base > 0 ? json_real(r->base_median_ns) : json_null());
                json_object_set_new(o, "base_group",
                                    r->ratio_to_base > 0 ? json_integer(r->base_group) : json_null());
                json_object_set_new(o, "setup_seconds", json_real(r->setup_s));
                json_object_set_new(o, "counters", counters);
                json_array_append_new(results, o);
        }
        json_t *pools = json_array();
        for (size_t i = 0; i < p->n_pools; i++) {
                const struct probe_pool *pp = &p->pools[i];
                json_array_append_new(pools, json_pack("{s:s, s:o, s:I, s:I, s:I, s:I, s:b, s:s}", "size",
                                                       quantity_format(pp->size_kb * 1024, a), "node",
                                                       pp->node >= 0 ? json_integer(pp->node) : json_null(),
                                                       "before", (json_int_t) pp->before, "asked",
                                                       (json_int_t) pp->asked, "got", (json_int_t) pp->got,
                                                       "after", (json_int_t) pp->after, "restored",
                                                       pp->restored, "message", pp->message));
        }
        json_t *notes = json_array();
        for (size_t i = 0; i < p->n_notes; i++)
                json_array_append_new(notes, json_string(p->notes[i]));
        char seed[24];
        snprintf(seed, sizeof(seed), "%" PRIu64, m->seed);
        json_t *machine = json_pack("{s:i, s:o, s:s, s:I, s:i, s:I, s:s, s:s, s:I, s:I, s:b, s:s, s:s}",
                                    "cpu", m->cpu, "node", m->node >= 0 ? json_integer(m->node) : json_null(),
                                    "cpu_vendor", m->cpu_vendor, "base_page_kb", (json_int_t) m->base_page_kb,
                                    "cache_line_bytes", (int) m->line_bytes, "thp_pmd_size_kb",
                                    (json_int_t) m->thp_pmd_kb, "thp_enabled", m->thp_enabled, "thp_defrag",
                                    m->thp_defrag, "mem_available_kb", (json_int_t) m->mem_available_kb,
                                    "max_memory_bytes", (json_int_t) m->max_memory_bytes, "counters",
                                    m->counters, "counters_note", m->counters_note, "seed", seed);
        struct probe_progress pr;
        probe_progress((struct probe *) p, &pr);
        return json_pack("{s:s, s:I, s:o, s:o, s:o, s:o, s:b}", "stride", probe_stride_name(p->req.stride),
                         "rounds", (json_int_t) p->req.rounds, "machine", machine, "results", results,
                         "pools", pools, "notes", notes, "cancelled", pr.cancelled);
}


const char *probe_phase_name(enum probe_phase ph)
{
        switch (ph) {
        case PROBE_PHASE_PLANNING:
                return "planning";
        case PROBE_PHASE_SETUP:
                return "setting up";
        case PROBE_PHASE_TIMING:
                return "timing";
        case PROBE_PHASE_RESTORING:
                return "restoring";
        case PROBE_PHASE_DONE:
                return "done";
        default:
                return "starting";
        }
}
