/* See probe-cli.h. The probe runs in a thread of its own, as an HTTP
 * handler would run it, and this thread polls its progress (shown on a
 * terminal) and turns SIGINT, SIGTERM and SIGHUP into probe_cancel(), after
 * which the probe still shrinks back any pool it grew. */
#include "probe-cli.h"

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "../model/cleanup.h"
#include "../model/probe.h"
#include "../model/quantity.h"

#define DEFAULT_STATE_DIR "/var/lib/hugepaged"
#define DEFAULT_WORKING_SET (256ULL << 20)

static void usage(FILE *f)
{
        fprintf(f,
                "Usage: hugepaged probe [OPTIONS]\n"
                "\n"
                "Times a random pointer chase on this node over each working set, backed by base pages,\n"
                "transparent hugepages and hugetlb pages, and shows how the memory was really backed\n"
                "(/proc/self/smaps). It reports numbers, never a recommendation. THP settings are never\n"
                "changed; hugetlb pools only with --grow-pool, and shrunk back afterwards.\n"
                "\n"
                "  --working-set SIZE[,SIZE...]  working sets, e.g. 64Mi,1Gi (default 256Mi)\n"
                "  --backing LIST                base,thp and hugetlb sizes, e.g. base,thp,2Mi,1Gi\n"
                "                                (default: base, thp and every hugetlb size)\n"
                "  --stride page|line            one node per base page (TLB reach, the default) or\n"
                "                                per cache line\n"
                "  --rounds N                    timed rounds after one warm-up (default %d, at most %d)\n"
                "  --grow-pool                   grow a hugetlb pool for the run when it has too few\n"
                "                                free pages, and shrink it back afterwards\n"
                "  --cpu N                       the CPU to pin to (default: the last one allowed)\n"
                "  --max-memory SIZE             memory taken at once (default a quarter of MemAvailable,\n"
                "                                at most three quarters; within what the memory cgroup\n"
                "                                still allows, less 64Mi)\n"
                "  --max-seconds N               stop after N seconds (default %d)\n"
                "  --seed N                      the chain's random seed (default: from the clock)\n"
                "  --json                        JSON instead of a table\n"
                "  --sysfs-root DIR              default /sys\n"
                "  --procfs-root DIR             default /proc\n"
                "  --state-dir DIR               holds the lock and the pool record (default %s)\n"
                "  -h, --help                    this text\n"
                "\n"
                "Exit status: 0 when the probe ran (the results say per backing what was measured, or why\n"
                "not), 1 when it could not run or was interrupted, 2 for a usage error.\n",
                PROBE_DEFAULT_ROUNDS, PROBE_MAX_ROUNDS, PROBE_DEFAULT_SECONDS, DEFAULT_STATE_DIR);
}

static int fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int fail(const char *fmt, ...)
{
        va_list ap;
        va_start(ap, fmt);
        fprintf(stderr, "hugepaged probe: ");
        vfprintf(stderr, fmt, ap);
        fprintf(stderr, " (see --help)\n");
        va_end(ap);
        return -EINVAL;
}

static int parse_uint(const char *opt, const char *s, uint64_t max, uint64_t *ret)
{
        char *end;
        errno = 0;
        if (!*s || *s < '0' || *s > '9')
                return fail("%s: \"%s\" is not a number", opt, s);
        unsigned long long v = strtoull(s, &end, 10);
        if (errno || *end || v > max)
                return fail("%s: \"%s\" is not a number up to %" PRIu64, opt, s, max);
        *ret = v;
        return 0;
}

static int parse_sets(const char *s, struct probe_request *req)
{
        _cleanup_free_ char *copy = strdup(s);
        if (!copy)
                return -ENOMEM;
        req->n_sets = 0;
        char *save = NULL;
        for (char *t = strtok_r(copy, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
                uint64_t bytes;
                if (req->n_sets == PROBE_MAX_SETS)
                        return fail("--working-set: at most %d sizes", PROBE_MAX_SETS);
                if (quantity_parse(t, &bytes) < 0 || bytes == 0)
                        return fail("--working-set: \"%s\" is not a size such as 64Mi or 1Gi", t);
                req->working_sets[req->n_sets++] = bytes;
        }
        if (req->n_sets == 0)
                return fail("--working-set: no size given");
        return 0;
}

static int parse_backings(const char *s, struct probe_request *req)
{
        _cleanup_free_ char *copy = strdup(s);
        if (!copy)
                return -ENOMEM;
        req->n_backings = 0;
        char *save = NULL;
        for (char *t = strtok_r(copy, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
                if (req->n_backings == PROBE_MAX_BACKINGS)
                        return fail("--backing: at most %d backings", PROBE_MAX_BACKINGS);
                if (probe_parse_backing(t, &req->backings[req->n_backings]) < 0)
                        return fail("--backing: \"%s\" is not base, thp or a hugetlb size such as 2Mi", t);
                req->n_backings++;
        }
        if (req->n_backings == 0)
                return fail("--backing: no backing given");
        return 0;
}

struct cli {
        struct probe_request req;
        bool json;
        const char *sysfs_root, *procfs_root, *state_dir;
};

static int parse(int argc, char **argv, struct cli *ret)
{
        enum {
                O_SET = 256,
                O_BACKING,
                O_STRIDE,
                O_ROUNDS,
                O_GROW,
                O_CPU,
                O_MAXMEM,
                O_MAXSEC,
                O_SEED,
                O_JSON,
                O_SYS,
                O_PROC,
                O_STATE,
        };
        static const struct option longopts[] = {
                { "working-set", required_argument, NULL, O_SET },
                { "backing", required_argument, NULL, O_BACKING },
                { "stride", required_argument, NULL, O_STRIDE },
                { "rounds", required_argument, NULL, O_ROUNDS },
                { "grow-pool", no_argument, NULL, O_GROW },
                { "cpu", required_argument, NULL, O_CPU },
                { "max-memory", required_argument, NULL, O_MAXMEM },
                { "max-seconds", required_argument, NULL, O_MAXSEC },
                { "seed", required_argument, NULL, O_SEED },
                { "json", no_argument, NULL, O_JSON },
                { "sysfs-root", required_argument, NULL, O_SYS },
                { "procfs-root", required_argument, NULL, O_PROC },
                { "state-dir", required_argument, NULL, O_STATE },
                { "help", no_argument, NULL, 'h' },
                {},
        };
        struct cli c = {
                .req = { .working_sets = { DEFAULT_WORKING_SET },
                         .n_sets = 1,
                         .cpu = -1,
                         .rounds = PROBE_DEFAULT_ROUNDS },
                .sysfs_root = "/sys",
                .procfs_root = "/proc",
                .state_dir = DEFAULT_STATE_DIR,
        };
        uint64_t v;
        int o, r;
        optind = 0; /* GNU: start afresh */
        opterr = 0;
        while ((o = getopt_long(argc, argv, ":h", longopts, NULL)) >= 0) {
                switch (o) {
                case O_SET:
                        if ((r = parse_sets(optarg, &c.req)) < 0)
                                return r;
                        break;
                case O_BACKING:
                        if ((r = parse_backings(optarg, &c.req)) < 0)
                                return r;
                        break;
                case O_STRIDE:
                        if (strcmp(optarg, "page") == 0)
                                c.req.stride = PROBE_STRIDE_PAGE;
                        else if (strcmp(optarg, "line") == 0)
                                c.req.stride = PROBE_STRIDE_LINE;
                        else
                                return fail("--stride: \"%s\" is neither page nor line", optarg);
                        break;
                case O_ROUNDS:
                        if ((r = parse_uint("--rounds", optarg, PROBE_MAX_ROUNDS, &v)) < 0)
                                return r;
                        if (v == 0)
                                return fail("--rounds: at least 1");
                        c.req.rounds = (unsigned) v;
                        break;
                case O_GROW:
                        c.req.grow_pool = true;
                        break;
                case O_CPU:
                        if ((r = parse_uint("--cpu", optarg, CPU_SETSIZE - 1, &v)) < 0)
                                return r;
                        c.req.cpu = (int) v;
                        break;
                case O_MAXMEM:
                        if (quantity_parse(optarg, &v) < 0 || v == 0)
                                return fail("--max-memory: \"%s\" is not a size such as 4Gi", optarg);
                        c.req.max_memory_bytes = v;
                        break;
                case O_MAXSEC:
                        if ((r = parse_uint("--max-seconds", optarg, 24 * 3600, &v)) < 0)
                                return r;
                        if (v == 0)
                                return fail("--max-seconds: at least 1");
                        c.req.max_seconds = (unsigned) v;
                        break;
                case O_SEED:
                        if ((r = parse_uint("--seed", optarg, UINT64_MAX, &v)) < 0)
                                return r;
                        c.req.seed = v;
                        break;
                case O_JSON:
                        c.json = true;
                        break;
                case O_SYS:
                        c.sysfs_root = optarg;
                        break;
                case O_PROC:
                        c.procfs_root = optarg;
                        break;
                case O_STATE:
                        c.state_dir = optarg;
                        break;
                case 'h':
                        usage(stdout);
                        return 1;
                case ':':
                        return fail("option '%s' needs a value", argv[optind - 1]);
                default:
                        return fail("unknown option '%s'", argv[optind - 1]);
                }
        }
        if (optind < argc)
                return fail("unexpected argument '%s'", argv[optind]);
        if (!*c.sysfs_root || !*c.procfs_root || !*c.state_dir)
                return fail("--sysfs-root, --procfs-root and --state-dir must not be empty");
        *ret = c;
        return 0;
}

/* --- output ------------------------------------------------------------------ */

static const char *q(uint64_t bytes, char buf[static QUANTITY_MAX])
{
        return quantity_format(bytes, buf);
}

/* What smaps showed, in one phrase. */
static void backed_by(const struct probe_result *r, const struct probe_machine *m, char *buf, size_t size)
{
        const struct probe_proof *p = &r->proof;
        char a[QUANTITY_MAX], b[QUANTITY_MAX], c[QUANTITY_MAX];
        if (!p->read) {
                snprintf(buf, size, "-");
                return;
        }
        switch (r->backing.kind) {
        case PROBE_BASE:
                snprintf(buf, size,
                         "%s in %s pages (KernelPageSize %" PRIu64 " kB, AnonHugePages %" PRIu64 " kB)",
                         q(p->backed_bytes, a), q(m->base_page_kb * 1024, b), p->kernel_page_kb,
                         p->anon_huge_kb);
                break;
        case PROBE_THP:
                snprintf(buf, size, "AnonHugePages %s of %s", q(p->anon_huge_kb * 1024, a),
                         q(p->mapped_bytes, b));
                break;
        case PROBE_HUGETLB:
                snprintf(buf, size,
                         "%s hugetlb (Private_Hugetlb %s, Shared_Hugetlb %s), KernelPageSize %" PRIu64 " kB",
                         q(p->backed_bytes, a), q(p->private_hugetlb_kb * 1024, b),
                         q(p->shared_hugetlb_kb * 1024, c), p->kernel_page_kb);
                break;
        }
}

/* Approximately, for the reader: "22.1Gi", "512Mi". */
static const char *approx(uint64_t bytes, char buf[static QUANTITY_MAX])
{
        static const char *const units[] = { "", "Ki", "Mi", "Gi", "Ti" };
        double v = (double) bytes;
        size_t u = 0;
        while (v >= 1024 && u + 1 < sizeof(units) / sizeof(units[0])) {
                v /= 1024;
                u++;
        }
        snprintf(buf, QUANTITY_MAX, v == (double) (uint64_t) v ? "%.0f%s" : "%.1f%s", v, units[u]);
        return buf;
}

static void print_table(const struct probe *p)
{
        const struct probe_machine *m = &p->machine;
        char a[QUANTITY_MAX], b[QUANTITY_MAX], c[QUANTITY_MAX];
        printf("hugepaged probe: random pointer chase, one node per %s, %u timed rounds after a warm-up\n",
               p->req.stride == PROBE_STRIDE_LINE ? "cache line" : "base page", p->req.rounds);
        printf("CPU %d", m->cpu);
        if (m->node >= 0)
                printf(" (node %d)", m->node);
        printf(", %s; base page %s, cache line %u B; THP enabled [%s] defrag [%s]; memory bound %s of "
               "MemAvailable %s\n",
               m->cpu_vendor, q(m->base_page_kb * 1024, a), m->line_bytes,
               m->thp_enabled[0] ? m->thp_enabled : "-", m->thp_defrag[0] ? m->thp_defrag : "-",
               approx(m->max_memory_bytes, b), approx(m->mem_available_kb * 1024, c));
        printf("\n%-11s %-7s %-12s %5s %10s %11s %9s %9s %9s %7s", "WORKING SET", "BACKING", "STATUS",
               "GROUP", "NODES", "LOADS/ROUND", "MEDIAN ns", "MIN ns", "MAX ns", "/BASE");
        size_t n_counters = 0;
        for (size_t i = 0; i < p->n_results; i++)
                if (p->results[i].n_counters > n_counters)
                        n_counters = p->results[i].n_counters;
        for (size_t k = 0; k < n_counters; k++)
                printf(" %8s%zu", "C", k + 1);
        printf("  BACKED BY (smaps)\n");
        bool cross = false;
        for (size_t i = 0; i < p->n_results; i++) {
                const struct probe_result *r = &p->results[i];
                char name[32], group[12] = "-", by[256];
                probe_backing_name(&r->backing, name, sizeof(name));
                if (r->group)
                        snprintf(group, sizeof(group), "%u", r->group);
                printf("%-11s %-7s %-12s %5s ", q(r->working_set_bytes, a), name,
                       probe_status_name(r->status), group);
                if (r->n_rounds) {
                        printf("%10" PRIu64 " %11" PRIu64 " %9.2f %9.2f %9.2f", r->nodes, r->loads_per_round,
                               r->median_ns, r->min_ns, r->max_ns);
                        if (r->ratio_to_base > 0 && r->base_group != r->group) {
                                printf(" %6.2f*", r->ratio_to_base);
                                cross = true;
                        } else if (r->ratio_to_base > 0)
                                printf(" %7.2f", r->ratio_to_base);
                        else
                                printf(" %7s", "-");
                        for (size_t k = 0; k < n_counters; k++)
                                if (k < r->n_counters)
                                        printf(" %9.4f", r->counters[k].per_load);
                                else
                                        printf(" %9s", "-");
                } else {
                        printf("%10s %11s %9s %9s %9s %7s", "-", "-", "-", "-", "-", "-");
                        for (size_t k = 0; k < n_counters; k++)
                                printf(" %9s", "-");
                }
                backed_by(r, m, by, sizeof(by));
                printf("  %s%s%s\n", by, r->reason[0] ? "; " : "", r->reason);
        }
        printf("\n/BASE: median time per load over base pages' median for the same working set, measured in "
               "the "
               "same group.\n");
        if (cross)
                printf("*: against base pages of another group (they did not fit beside it under the memory "
                       "bound): drift between groups is in it.\n");
        if (n_counters) {
                for (size_t i = 0; i < p->n_results; i++)
                        if (p->results[i].n_counters == n_counters) {
                                for (size_t k = 0; k < n_counters; k++)
                                        printf("C%zu: %s per load%s\n", k + 1, p->results[i].counters[k].name,
                                               p->results[i].counters[k].scaled ? " (multiplexed, scaled)"
                                                                                : "");
                                break;
                        }
        } else
                printf("Counters: %s.\n", m->counters_note);
        for (size_t i = 0; i < p->n_pools; i++) {
                const struct probe_pool *pp = &p->pools[i];
                char where[24] = "";
                if (pp->node >= 0)
                        snprintf(where, sizeof(where), " on node %d", pp->node);
                printf("Pool %s%s: %" PRIu64 " -> %" PRIu64
                       " persistent pages for the run (the kernel gave %" PRIu64 "), %s %" PRIu64 "%s%s\n",
                       q(pp->size_kb * 1024, a), where, pp->before, pp->asked, pp->got,
                       pp->restored ? "shrunk back to" : "NOT shrunk back, holds", pp->after,
                       pp->message[0] ? ": " : "", pp->message);
        }
        for (size_t i = 0; i < p->n_notes; i++)
                printf("Note: %s.\n", p->notes[i]);
}

/* --- running ------------------------------------------------------------------- */

struct job {
        struct probe probe;
        struct sysfs fs;
        const char *state_dir;
        struct errbuf err;
        int r;
};

static struct probe *volatile running;

static void on_signal(int sig)
{
        (void) sig;
        struct probe *p = running;
        if (p)
                probe_cancel(p);
}

static void *job_main(void *arg)
{
        struct job *j = arg;
        j->r = probe_run(&j->probe, &j->fs, j->state_dir, &j->err);
        return NULL;
}


int probe_cli_run(int argc, char **argv)
{
        struct cli c;
        int r = parse(argc, argv, &c);
        if (r != 0)
                return r > 0 ? EXIT_SUCCESS : 2;

        static struct job j; /* large; and the signal handler reaches it */
        memset(&j, 0, sizeof(j));
        r = probe_init(&j.probe, &c.req, &j.err);
        if (r < 0) {
                fprintf(stderr, "hugepaged probe: %s\n", j.err.msg);
                return 2;
        }
        if (sysfs_init(&j.fs, c.sysfs_root, c.procfs_root) < 0) {
                fprintf(stderr, "hugepaged probe: out of memory\n");
                return EXIT_FAILURE;
        }
        j.state_dir = c.state_dir;

        struct sigaction sa = { .sa_handler = on_signal }, old[3];
        const int sigs[3] = { SIGINT, SIGTERM, SIGHUP };
        sigemptyset(&sa.sa_mask);
        running = &j.probe;
        for (int i = 0; i < 3; i++)
                sigaction(sigs[i], &sa, &old[i]);

        /* The probe thread takes no signals: they land here, where the
         * handler cancels it. */
        sigset_t block, prev;
        sigemptyset(&block);
        for (int i = 0; i < 3; i++)
                sigaddset(&block, sigs[i]);
        pthread_sigmask(SIG_BLOCK, &block, &prev);
        pthread_t t;
        r = pthread_create(&t, NULL, job_main, &j);
        pthread_sigmask(SIG_SETMASK, &prev, NULL);
        if (r != 0) {
                fprintf(stderr, "hugepaged probe: cannot start a thread: %s\n", strerror(r));
                sysfs_release(&j.fs);
                return EXIT_FAILURE;
        }
        bool tty = isatty(STDERR_FILENO);
        for (;;) {
                struct probe_progress pr;
                probe_progress(&j.probe, &pr);
                if (pr.finished)
                        break;
                if (tty)
                        fprintf(stderr, "\rhugepaged probe: %s, %u of %u rounds%s   ", probe_phase_name(pr.phase),
                                pr.rounds_done, pr.rounds_total, pr.cancelled ? " (cancelling)" : "");
                struct timespec ts = { 0, 200 * 1000 * 1000 };
                nanosleep(&ts, NULL);
        }
        if (tty)
                fprintf(stderr, "\r%60s\r", "");
        pthread_join(t, NULL);
        for (int i = 0; i < 3; i++)
                sigaction(sigs[i], &old[i], NULL);
        running = NULL;

        int status = EXIT_SUCCESS;
        if (j.r < 0) {
                fprintf(stderr, "hugepaged probe: %s\n", j.err.msg[0] ? j.err.msg : strerror(-j.r));
                status = j.r == -EINVAL || j.r == -E2BIG ? 2 : EXIT_FAILURE;
        } else {
                if (c.json) {
                        _cleanup_json_ json_t *doc = probe_to_json(&j.probe);
                        if (!doc || json_dumpf(doc, stdout, JSON_INDENT(2)) < 0) {
                                fprintf(stderr, "hugepaged probe: cannot write the JSON\n");
                                status = EXIT_FAILURE;
                        }
                        printf("\n");
                } else
                        print_table(&j.probe);
                struct probe_progress pr;
                probe_progress(&j.probe, &pr);
                if (pr.cancelled) {
                        fprintf(stderr, "hugepaged probe: interrupted; the results above are incomplete\n");
                        status = EXIT_FAILURE;
                }
                for (size_t i = 0; i < j.probe.n_pools; i++)
                        if (!j.probe.pools[i].restored) {
                                fprintf(stderr, "hugepaged probe: a pool was not shrunk back: %s\n",
                                        j.probe.pools[i].message);
                                status = EXIT_FAILURE;
                        }
        }
        if (fflush(stdout) != 0)
                status = EXIT_FAILURE;
        probe_release(&j.probe);
        sysfs_release(&j.fs);
        return status;
}
