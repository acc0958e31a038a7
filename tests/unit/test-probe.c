/* Unit tests for model/probe.c: the chain is one cycle through every node
 * (every length, stride and seed tried), the chase follows it, requests
 * are checked, and whole runs against a fake sysfs tree whose procfs has
 * the test process's real smaps (proc/self -> /proc/self): the plan (free
 * pages, the memory bound, groups), the proof of backing of real base and
 * THP mappings, a hugetlb size that the fake tree offers and the kernel
 * does not (asked for, not obtained, never timed), a pool grown and shrunk
 * back, the lock, cancellation, and recovery from a dead run's record.
 *
 * The fake hugetlb size is 8 MiB, which no x86_64 or arm64 kernel has, so
 * that no test takes pages from the host's pools. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../../model/cleanup.h"
#include "../../model/probe.h"
#include "fixture.h"

#define FAKE_KB 8192
#define POOL8 "sys/kernel/mm/hugepages/hugepages-8192kB"

/* --- the chain --------------------------------------------------------------- */

/* aligned_alloc wants a size that is a multiple of the alignment. */
static void *alloc_aligned(size_t align, size_t size)
{
        void *p = aligned_alloc(align, (size + align - 1) / align * align);
        assert_non_null(p);
        return p;
}

/* Walks the chain from start and checks that it is one cycle through all
 * n nodes, each in its own cell of stride bytes, line-aligned. */
static void check_cycle(char *base, uint64_t n, size_t stride, size_t line, void *start)
{
        unsigned char *seen = calloc(n, 1);
        assert_non_null(seen);
        void *p = start;
        for (uint64_t k = 0; k < n; k++) {
                uintptr_t off = (uintptr_t) p - (uintptr_t) base;
                if ((uintptr_t) p < (uintptr_t) base || off >= n * stride)
                        fail_msg("n=%llu stride=%zu: step %llu leaves the buffer (offset %#lx)",
                                 (unsigned long long) n, stride, (unsigned long long) k, (unsigned long) off);
                if (off % line)
                        fail_msg("n=%llu stride=%zu: node at offset %#lx is not on a line",
                                 (unsigned long long) n, stride, (unsigned long) off);
                uint64_t i = off / stride;
                if (seen[i])
                        fail_msg("n=%llu stride=%zu line=%zu: node %llu visited twice, after %llu of %llu "
                                 "steps",
                                 (unsigned long long) n, stride, line, (unsigned long long) i,
                                 (unsigned long long) k, (unsigned long long) n);
                seen[i] = 1;
                p = *(void **) p;
        }
        if (p != start)
                fail_msg("n=%llu: after %llu steps the chain is not back at its start",
                         (unsigned long long) n, (unsigned long long) n);
        free(seen);
}

static void test_chain_one_cycle(void **state)
{
        (void) state;
        static const uint64_t lengths[] = { 2, 3, 4, 5, 7, 16, 17, 100, 1000, 4096, 65537 };
        static const struct {
                size_t stride, line;
        } geometry[] = { { 8, 8 }, { 64, 64 }, { 4096, 64 }, { 4096, 128 }, { 256, 8 } };
        for (size_t g = 0; g < ELEMENTSOF(geometry); g++)
                for (size_t l = 0; l < ELEMENTSOF(lengths); l++)
                        for (uint64_t seed = 1; seed <= 3; seed++) {
                                uint64_t n = lengths[l];
                                size_t stride = geometry[g].stride, line = geometry[g].line;
                                if (n * stride > (64u << 20))
                                        continue;
                                char *buf = alloc_aligned(4096, n * stride);
                                assert_non_null(buf);
                                void *start = probe_chain_build(buf, n, stride, line, seed, NULL);
                                assert_non_null(start);
                                check_cycle(buf, n, stride, line, start);
                                free(buf);
                        }
}

static void test_chain_spreads_lines(void **state)
{
        (void) state;
        /* One node per page: the nodes sit at different lines of their
         * pages, so that they do not all fall into one cache set. */
        uint64_t n = 1024;
        char *buf = alloc_aligned(4096, n * 4096);
        assert_non_null(buf);
        void *start = probe_chain_build(buf, n, 4096, 64, 42, NULL);
        unsigned used[64] = { 0 };
        void *p = start;
        for (uint64_t k = 0; k < n; k++) {
                used[((uintptr_t) p % 4096) / 64]++;
                p = *(void **) p;
        }
        unsigned lines = 0, most = 0;
        for (int i = 0; i < 64; i++) {
                lines += used[i] > 0;
                most = used[i] > most ? used[i] : most;
        }
        if (lines < 60 || most > 64)
                fail_msg("1024 nodes use %u of 64 lines, the busiest %u times", lines, most);
        free(buf);
}

static void test_chain_seeds(void **state)
{
        (void) state;
        /* The same seed builds the same chain (every backing of a working
         * set gets the same one); another seed another. */
        uint64_t n = 4096;
        char *a = alloc_aligned(4096, n * 64), *b = alloc_aligned(4096, n * 64);
        assert_non_null(a);
        assert_non_null(b);
        void *sa = probe_chain_build(a, n, 64, 64, 7, NULL);
        void *sb = probe_chain_build(b, n, 64, 64, 7, NULL);
        assert_int_equal((char *) sa - a, (char *) sb - b);
        for (uint64_t i = 0; i < n; i++)
                assert_int_equal(*(char **) (a + i * 64) - a, *(char **) (b + i * 64) - b);
        probe_chain_build(b, n, 64, 64, 8, NULL);
        size_t same = 0;
        for (uint64_t i = 0; i < n; i++)
                same += *(char **) (a + i * 64) - a == *(char **) (b + i * 64) - b;
        if (same > n / 100)
                fail_msg("seeds 7 and 8 agree on %zu of %llu links", same, (unsigned long long) n);
        free(a);
        free(b);
}

static void test_chain_cancel(void **state)
{
        (void) state;
        uint64_t n = 200000;
        char *buf = malloc(n * 8);
        assert_non_null(buf);
        _Atomic bool cancel = true;
        assert_null(probe_chain_build(buf, n, 8, 8, 1, &cancel));
        cancel = false;
        void *start = probe_chain_build(buf, n, 8, 8, 1, &cancel);
        assert_non_null(start);
        check_cycle(buf, n, 8, 8, start);
        free(buf);
}

static void test_chase(void **state)
{
        (void) state;
        uint64_t n = 1000;
        char *buf = alloc_aligned(64, n * 64);
        assert_non_null(buf);
        void *start = probe_chain_build(buf, n, 64, 64, 3, NULL);
        /* k loads from the start reach the k-th node, for every remainder
         * of the unrolled loop; n loads come back. */
        for (uint64_t k = 0; k <= 20; k++) {
                void *want = start;
                for (uint64_t i = 0; i < k; i++)
                        want = *(void **) want;
                void *pos = start;
                probe_chase(&pos, k);
                assert_ptr_equal(pos, want);
        }
        void *pos = start;
        probe_chase(&pos, n);
        assert_ptr_equal(pos, start);
        probe_chase(&pos, 7 * n);
        assert_ptr_equal(pos, start);
        free(buf);
}

/* --- requests ---------------------------------------------------------------- */

/* The tests run under whatever memory cgroup the machine gives them; a
 * cgroup file system where nothing is found keeps the bound at a quarter
 * of the fake MemAvailable (test_run_cgroup_room has one that limits). */
#define NO_CGROUP "/nonexistent-cgroup-root"

static struct probe_request request(uint64_t ws)
{
        struct probe_request r = { .working_sets = { ws }, .n_sets = 1, .cpu = -1, .rounds = 2, .seed = 1,
                                   .cgroup_root = NO_CGROUP };
        return r;
}

static void check_init_rejects(const struct probe_request *req, const char *what)
{
        struct probe p;
        struct errbuf err = { "" };
        assert_int_equal(probe_init(&p, req, &err), -EINVAL);
        if (!strstr(err.msg, what))
                fail_msg("the error \"%s\" does not say \"%s\"", err.msg, what);
}

static void test_init(void **state)
{
        (void) state;
        struct probe p;
        struct probe_request req = request(1 << 20);
        req.rounds = 0;
        assert_int_equal(probe_init(&p, &req, NULL), 0);
        assert_int_equal(p.req.rounds, PROBE_DEFAULT_ROUNDS);
        assert_int_equal(p.req.max_seconds, PROBE_DEFAULT_SECONDS);
        struct probe_progress pr;
        probe_progress(&p, &pr);
        assert_false(pr.finished);
        assert_int_equal(pr.phase, PROBE_PHASE_IDLE);
        probe_release(&p);
        probe_release(NULL);

        req = request(1 << 20);
        req.n_sets = 0;
        check_init_rejects(&req, "working sets");
        req = request(1 << 20);
        req.n_sets = PROBE_MAX_SETS + 1;
        check_init_rejects(&req, "working sets");
        req = request(4096);
        check_init_rejects(&req, "smallest");
        req = request(1 << 20);
        req.working_sets[1] = 1 << 20;
        req.n_sets = 2;
        check_init_rejects(&req, "twice");
        req = request(1 << 20);
        req.rounds = PROBE_MAX_ROUNDS + 1;
        check_init_rejects(&req, "rounds");
        req = request(1 << 20);
        req.backings[0] = (struct probe_backing){ PROBE_HUGETLB, 0 };
        req.n_backings = 1;
        check_init_rejects(&req, "size");
        req.backings[0] = (struct probe_backing){ PROBE_BASE, 2048 };
        check_init_rejects(&req, "size");
        req.backings[0] = (struct probe_backing){ PROBE_HUGETLB, 2048 };
        req.backings[1] = (struct probe_backing){ PROBE_HUGETLB, 2048 };
        req.n_backings = 2;
        check_init_rejects(&req, "2Mi is given twice");
        req = request(1 << 20);
        req.stride = (enum probe_stride) 7;
        check_init_rejects(&req, "stride");
}

static void test_names(void **state)
{
        (void) state;
        char buf[32];
        assert_string_equal(probe_backing_name(&(struct probe_backing){ PROBE_BASE, 0 }, buf, sizeof(buf)),
                            "base");
        assert_string_equal(probe_backing_name(&(struct probe_backing){ PROBE_THP, 0 }, buf, sizeof(buf)),
                            "thp");
        assert_string_equal(
                probe_backing_name(&(struct probe_backing){ PROBE_HUGETLB, 2048 }, buf, sizeof(buf)), "2Mi");
        assert_string_equal(
                probe_backing_name(&(struct probe_backing){ PROBE_HUGETLB, 1048576 }, buf, sizeof(buf)),
                "1Gi");
        assert_string_equal(
                probe_backing_name(&(struct probe_backing){ PROBE_HUGETLB, 64 }, buf, sizeof(buf)), "64Ki");
        assert_string_equal(probe_status_name(PROBE_OK), "ok");
        assert_string_equal(probe_status_name(PROBE_NOT_OBTAINED), "not-obtained");
        assert_string_equal(probe_status_name(PROBE_CANCELLED), "cancelled");
        assert_string_equal(probe_stride_name(PROBE_STRIDE_PAGE), "page");
        assert_string_equal(probe_stride_name(PROBE_STRIDE_LINE), "line");
}

/* --- whole runs on a fake tree --------------------------------------------------- */

struct tree {
        char *dir;
        char state[1024];
        struct sysfs fs;
};

/* x86-2node with an 8 MiB size beside 2 MiB and 1 GiB, whose pools have no
 * free pages, and the real /proc/self. */
static void tree_make(struct tree *t)
{
        t->dir = fixture_copy("x86-2node");
        const char *d = t->dir;
        fixture_sh("cd '%s/sys' && for p in kernel/mm/hugepages devices/system/node/node0/hugepages "
           "devices/system/node/node1/hugepages; do cp -a $p/hugepages-2048kB $p/hugepages-8192kB; "
           "for s in 2048 1048576; do echo 0 > $p/hugepages-${s}kB/free_hugepages; done; done",
           d);
        fixture_put(d, POOL8 "/nr_hugepages", "4\n");
        fixture_put(d, POOL8 "/free_hugepages", "3\n");
        fixture_put(d, POOL8 "/resv_hugepages", "1\n");
        fixture_put(d, POOL8 "/surplus_hugepages", "0\n");
        fixture_sh("ln -s /proc/self '%s/proc/self'", d);
        snprintf(t->state, sizeof(t->state), "%s/state", d);
        fixture_sysfs(d, &t->fs);
}

static void tree_free(struct tree *t)
{
        sysfs_release(&t->fs);
        fixture_remove(t->dir);
}

static int run(struct tree *t, const struct probe_request *req, struct probe *p, struct errbuf *err)
{
        int r = probe_init(p, req, err);
        if (r < 0)
                fail_msg("probe_init: %s", err->msg);
        return probe_run(p, &t->fs, t->state, err);
}

static const struct probe_result *result(const struct probe *p, uint64_t ws, enum probe_kind kind,
                                         uint64_t kb)
{
        for (size_t i = 0; i < p->n_results; i++)
                if (p->results[i].working_set_bytes == ws && p->results[i].backing.kind == kind &&
                    p->results[i].backing.page_kb == kb)
                        return &p->results[i];
        fail_msg("no result for %llu bytes, kind %d, %llu kB", (unsigned long long) ws, (int) kind,
                 (unsigned long long) kb);
        return NULL;
}

static void check_timed(const struct probe *p, const struct probe_result *r)
{
        assert_int_equal(r->n_rounds, p->req.rounds);
        assert_true(r->min_ns > 0);
        assert_true(r->min_ns <= r->median_ns);
        assert_true(r->median_ns <= r->max_ns);
        assert_int_equal(r->loads_per_round, PROBE_MIN_LOADS);
        assert_true(r->proof.read);
        assert_true(r->proof.exact);
        assert_true(r->proof_after.read);
}

static void test_run_base_thp_and_fake_size(void **state)
{
        (void) state;
        struct tree t;
        tree_make(&t);
        struct probe p;
        struct errbuf err = { "" };
        struct probe_request req = request(2 << 20);
        req.backings[0] = (struct probe_backing){ PROBE_BASE, 0 };
        req.backings[1] = (struct probe_backing){ PROBE_THP, 0 };
        req.backings[2] = (struct probe_backing){ PROBE_HUGETLB, FAKE_KB };
        req.n_backings = 3;
        int r = run(&t, &req, &p, &err);
        if (r != 0)
                fail_msg("probe_run: %d: %s", r, err.msg);
        assert_int_equal(p.n_results, 3);

        const struct probe_result *base = result(&p, 2 << 20, PROBE_BASE, 0);
        if (base->status != PROBE_OK)
                fail_msg("base: %s: %s", probe_status_name(base->status), base->reason);
        check_timed(&p, base);
        assert_int_equal(base->nodes, (2 << 20) / sysconf(_SC_PAGESIZE));
        assert_int_equal(base->proof.kernel_page_kb * 1024, sysconf(_SC_PAGESIZE));
        assert_int_equal(base->proof.anon_huge_kb, 0);
        assert_int_equal(base->proof.backed_bytes, 2 << 20);
        assert_true(strstr(base->proof.vmflags, "nh") != NULL);
        assert_true(base->ratio_to_base == 1.0);

        /* THP depends on the host's THP mode: whatever it is, the status
         * must match the proof. */
        const struct probe_result *thp = result(&p, 2 << 20, PROBE_THP, 0);
        assert_true(strstr(thp->proof.vmflags, "hg") != NULL);
        switch (thp->status) {
        case PROBE_OK:
                check_timed(&p, thp);
                assert_int_equal(thp->proof.anon_huge_kb * 1024, thp->proof.mapped_bytes);
                assert_true(thp->ratio_to_base > 0);
                break;
        case PROBE_PARTIAL:
                check_timed(&p, thp);
                assert_true(thp->proof.anon_huge_kb * 1024 < thp->proof.mapped_bytes);
                break;
        case PROBE_NOT_OBTAINED:
                assert_int_equal(thp->proof.anon_huge_kb, 0);
                assert_int_equal(thp->n_rounds, 0);
                break;
        default:
                fail_msg("thp: %s: %s", probe_status_name(thp->status), thp->reason);
        }

        /* The fake tree has 2 free unreserved 8 MiB pages; the kernel has
         * no such size: asked for, not obtained, not timed. */
        const struct probe_result *h = result(&p, 2 << 20, PROBE_HUGETLB, FAKE_KB);
        assert_int_equal(h->status, PROBE_NOT_OBTAINED);
        assert_int_equal(h->n_rounds, 0);
        assert_true(h->median_ns == 0);
        assert_true(h->ratio_to_base == 0);
        if (!strstr(h->reason, "MAP_HUGETLB"))
                fail_msg("the reason \"%s\" does not say MAP_HUGETLB", h->reason);
        assert_int_equal(p.n_pools, 0);

        struct probe_progress pr;
        probe_progress(&p, &pr);
        assert_true(pr.finished);
        assert_false(pr.cancelled);
        assert_int_equal(pr.phase, PROBE_PHASE_DONE);
        assert_int_equal(pr.rounds_done, pr.rounds_total);
        assert_int_equal(pr.rounds_total, (base->n_rounds + 1) * (thp->n_rounds ? 2 : 1));
        assert_true(p.machine.cpu >= 0);
        assert_int_equal(p.machine.max_memory_bytes, (56310484ULL * 1024 / 4) >> 20 << 20);
        assert_string_equal(p.machine.thp_enabled, "madvise");
        assert_int_equal(p.machine.thp_pmd_kb, 2048);
        assert_true(p.machine.counters_note[0] != '\0');
        probe_release(&p);
        tree_free(&t);
}

static void test_run_defaults_and_skips(void **state)
{
        (void) state;
        struct tree t;
        tree_make(&t);
        struct probe p;
        struct errbuf err = { "" };
        /* The default backings: base, thp and every size; 2Mi and 1Gi have
         * no free pages, and 2 MiB of 8 MiB pages needs one, but 16 MiB
         * needs two and the pool has 3 free, 1 reserved: 2 usable. 24 MiB
         * needs 3. */
        struct probe_request req = request(24 << 20);
        req.rounds = 1;
        req.working_sets[1] = 1 << 20;
        req.n_sets = 2;
        int r = run(&t, &req, &p, &err);
        if (r != 0)
                fail_msg("probe_run: %d: %s", r, err.msg);
        assert_int_equal(p.n_results, 2 * 5);
        for (size_t s = 0; s < 2; s++) {
                uint64_t ws = req.working_sets[s];
                assert_int_equal(result(&p, ws, PROBE_HUGETLB, 2048)->status, PROBE_SKIPPED);
                assert_int_equal(result(&p, ws, PROBE_HUGETLB, 1048576)->status, PROBE_SKIPPED);
                assert_int_equal(result(&p, ws, PROBE_HUGETLB, 2048)->n_rounds, 0);
                assert_int_equal(result(&p, ws, PROBE_BASE, 0)->status, PROBE_OK);
        }
        const struct probe_result *h = result(&p, 24 << 20, PROBE_HUGETLB, FAKE_KB);
        assert_int_equal(h->status, PROBE_SKIPPED);
        if (!strstr(h->reason, "needs 3 free 8Mi pages, the pool has 2 free and unreserved"))
                fail_msg("reason: \"%s\"", h->reason);
        assert_int_equal(result(&p, 1 << 20, PROBE_HUGETLB, FAKE_KB)->status, PROBE_NOT_OBTAINED);
        /* One note per size not tested. */
        bool two = false, gig = false;
        for (size_t i = 0; i < p.n_notes; i++) {
                two |= strncmp(p.notes[i], "2Mi: not tested", 15) == 0;
                gig |= strncmp(p.notes[i], "1Gi: not tested", 15) == 0;
        }
        assert_true(two);
        assert_true(gig);
        /* Each working set is one group. */
        assert_int_equal(result(&p, 24 << 20, PROBE_BASE, 0)->group, 1);
        assert_int_equal(result(&p, 1 << 20, PROBE_BASE, 0)->group, 2);
        assert_int_equal(result(&p, 1 << 20, PROBE_HUGETLB, 2048)->group, 0);
        probe_release(&p);
        tree_free(&t);
}

static void test_run_groups(void **state)
{
        (void) state;
        struct tree t;
        tree_make(&t);
        struct probe p;
        struct errbuf err = { "" };
        /* A bound of 3 MiB: base and THP of 2 MiB each do not fit together. */
        struct probe_request req = request(2 << 20);
        req.rounds = 1;
        req.max_memory_bytes = 3 << 20;
        req.backings[0] = (struct probe_backing){ PROBE_BASE, 0 };
        req.backings[1] = (struct probe_backing){ PROBE_THP, 0 };
        req.n_backings = 2;
        assert_int_equal(run(&t, &req, &p, &err), 0);
        assert_int_equal(result(&p, 2 << 20, PROBE_BASE, 0)->group, 1);
        assert_int_equal(result(&p, 2 << 20, PROBE_THP, 0)->group, 2);
        assert_int_equal(p.machine.max_memory_bytes, 3 << 20);
        probe_release(&p);

        /* Base pages listed last still come first, in group 1; THP does
         * not fit beside them, nor do base pages again beside THP: its
         * ratio is against group 1's. */
        req.backings[0] = (struct probe_backing){ PROBE_THP, 0 };
        req.backings[1] = (struct probe_backing){ PROBE_BASE, 0 };
        assert_int_equal(run(&t, &req, &p, &err), 0);
        const struct probe_result *base = result(&p, 2 << 20, PROBE_BASE, 0);
        const struct probe_result *thp = result(&p, 2 << 20, PROBE_THP, 0);
        assert_int_equal(base->group, 1);
        assert_int_equal(thp->group, 2);
        assert_int_equal(base->base_group, 1);
        if (thp->n_rounds) {
                assert_int_equal(thp->base_group, 1);
                assert_true(thp->base_median_ns == base->median_ns);
        }
        assert_int_equal(p.n_notes, 0);
        probe_release(&p);

        /* 8 MiB each and a bound of 16 MiB: base and THP together, then
         * the 8 MiB pages from a pool grown for them, with base pages
         * measured again beside them. */
        req = request(8 << 20);
        req.rounds = 1;
        req.grow_pool = true;
        req.max_memory_bytes = 16 << 20;
        req.backings[0] = (struct probe_backing){ PROBE_BASE, 0 };
        req.backings[1] = (struct probe_backing){ PROBE_THP, 0 };
        req.backings[2] = (struct probe_backing){ PROBE_HUGETLB, FAKE_KB };
        req.n_backings = 3;
        assert_int_equal(run(&t, &req, &p, &err), 0);
        assert_int_equal(result(&p, 8 << 20, PROBE_BASE, 0)->group, 1);
        assert_int_equal(result(&p, 8 << 20, PROBE_THP, 0)->group, 1);
        assert_int_equal(result(&p, 8 << 20, PROBE_HUGETLB, FAKE_KB)->group, 2);
        assert_int_equal(result(&p, 8 << 20, PROBE_HUGETLB, FAKE_KB)->status, PROBE_NOT_OBTAINED);
        assert_int_equal(p.n_results, 3); /* the second base pages are no result of their own */
        assert_int_equal(p.n_notes, 1);
        if (!strstr(p.notes[0], "group 2 (8Mi): base pages were measured again beside it, median"))
                fail_msg("note: \"%s\"", p.notes[0]);
        struct probe_progress pr;
        probe_progress(&p, &pr);
        assert_int_equal(pr.rounds_done, pr.rounds_total);
        assert_true(pr.rounds_total >= 2 * 2); /* base twice, one round and a warm-up each */
        probe_release(&p);

        /* Over the bound on its own: refused before anything is mapped. */
        req = request(16ULL << 30);
        assert_int_equal(run(&t, &req, &p, &err), -E2BIG);
        if (!strstr(err.msg, "working set 16Gi backed by base takes 16Gi, over the memory bound"))
                fail_msg("error: \"%s\"", err.msg);
        assert_int_equal(p.n_results, 0);
        probe_progress(&p, &pr);
        assert_true(pr.finished);
        probe_release(&p);

        /* A bound over three quarters of MemAvailable. */
        req = request(2 << 20);
        req.max_memory_bytes = 50ULL << 30;
        assert_int_equal(run(&t, &req, &p, &err), -E2BIG);
        if (!strstr(err.msg, "three quarters"))
                fail_msg("error: \"%s\"", err.msg);
        probe_release(&p);

        /* Sizes the kernel does not have; sets that are not whole pages. */
        req = request(2 << 20);
        req.backings[0] = (struct probe_backing){ PROBE_HUGETLB, 4096 };
        req.n_backings = 1;
        assert_int_equal(run(&t, &req, &p, &err), -EINVAL);
        if (!strstr(err.msg, "no 4Mi hugepages (it has 2Mi, 8Mi, 1Gi)"))
                fail_msg("error: \"%s\"", err.msg);
        probe_release(&p);
        req = request((2 << 20) + 100);
        assert_int_equal(run(&t, &req, &p, &err), -EINVAL);
        if (!strstr(err.msg, "not a multiple of the base page"))
                fail_msg("error: \"%s\"", err.msg);
        probe_release(&p);
        tree_free(&t);
}

/* Writes, under the fake cgroup root cg, limit and usage files for every
 * memory cgroup /proc/self/cgroup names (v2's memory.max and
 * memory.current, v1's memory.limit_in_bytes and memory.usage_in_bytes):
 * whichever line the probe reads first, it finds the same figures. Returns
 * false when the process is in no memory cgroup at all. */
static bool cgroup_fake(const char *cg, const char *max, const char *current)
{
        FILE *f = fopen("/proc/self/cgroup", "re");
        if (!f)
                return false;
        char line[1024];
        bool any = false;
        while (fgets(line, sizeof(line), f)) {
                line[strcspn(line, "\n")] = '\0';
                char *c1 = strchr(line, ':'), *c2 = c1 ? strchr(c1 + 1, ':') : NULL;
                if (!c2)
                        continue;
                *c2 = '\0';
                const char *path = c2 + 1;
                if (strcmp(line, "0") == 0 && c1[1] == '\0') {
                        fixture_sh("mkdir -p '%s%s' && printf '%%s\\n' '%s' > '%s%s/memory.max' && "
                                   "printf '%%s\\n' '%s' > '%s%s/memory.current'",
                                   cg, path, max, cg, path, current, cg, path);
                        any = true;
                } else if (strstr(c1 + 1, "memory")) {
                        const char *v1max = strcmp(max, "max") == 0 ? "9223372036854771712" : max;
                        fixture_sh("mkdir -p '%s/memory%s' && printf '%%s\\n' '%s' > '%s/memory%s/memory.limit_in_bytes' && "
                                   "printf '%%s\\n' '%s' > '%s/memory%s/memory.usage_in_bytes'",
                                   cg, path, v1max, cg, path, current, cg, path);
                        any = true;
                }
        }
        fclose(f);
        return any;
}

static void test_run_cgroup_room(void **state)
{
        (void) state;
        struct tree t;
        tree_make(&t);
        char cg[PATH_MAX];
        snprintf(cg, sizeof(cg), "%s/cgroup", t.dir);
        /* A limit of 512 MiB with 100 MiB used: 412 MiB of room, less 64 MiB
         * for the service. */
        if (!cgroup_fake(cg, "536870912", "104857600")) {
                tree_free(&t);
                skip();
        }
        struct probe p;
        struct errbuf err = { "" };
        struct probe_request req = request(2 << 20);
        req.rounds = 1;
        req.backings[0] = (struct probe_backing){ PROBE_BASE, 0 };
        req.n_backings = 1;
        req.cgroup_root = cg;
        int r = run(&t, &req, &p, &err);
        if (r != 0)
                fail_msg("probe_run: %d: %s", r, err.msg);
        assert_int_equal(p.machine.max_memory_bytes, 348ULL << 20);
        bool noted = false;
        for (size_t i = 0; i < p.n_notes; i++)
                noted = noted || strstr(p.notes[i], "memory cgroup allows 412Mi more (limit 512Mi, less 64Mi");
        if (!noted)
                fail_msg("no note of the cgroup's room among %zu notes", p.n_notes);
        assert_int_equal(result(&p, 2 << 20, PROBE_BASE, 0)->status, PROBE_OK);
        probe_release(&p);

        /* A working set over the room: refused before anything is mapped. */
        req.working_sets[0] = 400ULL << 20;
        assert_int_equal(run(&t, &req, &p, &err), -E2BIG);
        if (!strstr(err.msg, "takes 400Mi, over the memory bound of 348Mi"))
                fail_msg("error: \"%s\"", err.msg);
        probe_release(&p);

        /* An explicit bound over the room is an error, not cut silently. */
        req.working_sets[0] = 2 << 20;
        req.max_memory_bytes = 400ULL << 20;
        assert_int_equal(run(&t, &req, &p, &err), -E2BIG);
        if (!strstr(err.msg, "over what this process's memory cgroup still allows (412Mi below its limit of 512Mi"))
                fail_msg("error: \"%s\"", err.msg);
        probe_release(&p);

        /* No limit ("max"): the quarter of MemAvailable again. */
        cgroup_fake(cg, "max", "104857600");
        req.max_memory_bytes = 0;
        assert_int_equal(run(&t, &req, &p, &err), 0);
        assert_int_equal(p.machine.max_memory_bytes, (56310484ULL * 1024 / 4) >> 20 << 20);
        probe_release(&p);
        tree_free(&t);
}

static void test_run_grows_and_restores(void **state)
{
        (void) state;
        struct tree t;
        tree_make(&t);
        struct probe p;
        struct errbuf err = { "" };
        /* 24 MiB of 8 MiB pages with grow_pool: the pool grows by 3 pages
         * (a fake file takes whatever is written), the kernel has no such
         * size so the mapping fails, and the pool goes back to 4. */
        struct probe_request req = request(24 << 20);
        req.rounds = 1;
        req.grow_pool = true;
        req.backings[0] = (struct probe_backing){ PROBE_HUGETLB, FAKE_KB };
        req.n_backings = 1;
        assert_int_equal(run(&t, &req, &p, &err), 0);
        const struct probe_result *h = result(&p, 24 << 20, PROBE_HUGETLB, FAKE_KB);
        assert_int_equal(h->status, PROBE_NOT_OBTAINED);
        assert_int_equal(p.n_pools, 1);
        assert_int_equal(p.pools[0].size_kb, FAKE_KB);
        assert_int_equal(p.pools[0].node, -1); /* the fake tree has no cpu directories */
        assert_int_equal(p.pools[0].before, 4);
        assert_int_equal(p.pools[0].asked, 7);
        assert_int_equal(p.pools[0].got, 3);
        assert_int_equal(p.pools[0].after, 4);
        assert_true(p.pools[0].restored);
        assert_string_equal(fixture_get(t.dir, POOL8 "/nr_hugepages"), "4\n");
        char path[4096];
        snprintf(path, sizeof(path), "%s/probe-pools", t.state);
        assert_int_equal(access(path, F_OK), -1);
        probe_release(&p);
        tree_free(&t);
}

static void test_run_lock(void **state)
{
        (void) state;
        struct tree t;
        tree_make(&t);
        assert_int_equal(mkdir(t.state, 0700), 0);
        char path[4096];
        snprintf(path, sizeof(path), "%s/probe.lock", t.state);
        int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
        assert_true(fd >= 0);
        assert_int_equal(write(fd, "pid 4242\n", 9), 9);
        assert_int_equal(flock(fd, LOCK_EX | LOCK_NB), 0);

        struct probe p;
        struct errbuf err = { "" };
        struct probe_request req = request(1 << 20);
        assert_int_equal(run(&t, &req, &p, &err), -EBUSY);
        if (!strstr(err.msg, "another probe is running (pid 4242 holds"))
                fail_msg("error: \"%s\"", err.msg);
        probe_release(&p);
        assert_int_equal(probe_recover(&t.fs, t.state, NULL, &err), -EBUSY);

        close(fd);
        assert_int_equal(run(&t, &req, &p, &err), 0);
        probe_release(&p);
        tree_free(&t);
}

static void test_run_cancelled(void **state)
{
        (void) state;
        struct tree t;
        tree_make(&t);
        struct probe p;
        struct errbuf err = { "" };
        struct probe_request req = request(1 << 20);
        req.grow_pool = true;
        req.backings[0] = (struct probe_backing){ PROBE_BASE, 0 };
        req.backings[1] = (struct probe_backing){ PROBE_HUGETLB, FAKE_KB };
        req.n_backings = 2;
        assert_int_equal(probe_init(&p, &req, &err), 0);
        probe_cancel(&p);
        assert_int_equal(probe_run(&p, &t.fs, t.state, &err), 0);
        for (size_t i = 0; i < p.n_results; i++) {
                assert_int_equal(p.results[i].status, PROBE_CANCELLED);
                assert_int_equal(p.results[i].n_rounds, 0);
        }
        assert_int_equal(p.n_pools, 0);
        assert_string_equal(fixture_get(t.dir, POOL8 "/nr_hugepages"), "4\n");
        struct probe_progress pr;
        probe_progress(&p, &pr);
        assert_true(pr.cancelled);
        assert_true(pr.finished);
        probe_release(&p);
        tree_free(&t);
}

static void test_recover(void **state)
{
        (void) state;
        struct tree t;
        tree_make(&t);
        assert_int_equal(mkdir(t.state, 0700), 0);
        char record[4096];
        snprintf(record, sizeof(record), "%s/probe-pools", t.state);
        struct errbuf err = { "" };
        struct probe p;
        struct probe_request req = request(1 << 20);

        /* Nothing to do. */
        assert_int_equal(probe_recover(&t.fs, t.state, NULL, &err), 0);

        /* A dead run grew the global 8 MiB pool from 1 to 4 (it holds 4) and
         * node1's 2 MiB pool from 5 to 9 (it got as far as 6): both back. */
        fixture_put(t.dir, "state/probe-pools",
                    "kernel/mm/hugepages/hugepages-8192kB 1 4\n"
                    "devices/system/node/node1/hugepages/hugepages-2048kB 5 9\n");
        fixture_put(t.dir, "sys/devices/system/node/node1/hugepages/hugepages-2048kB/nr_hugepages", "6\n");
        assert_int_equal(probe_init(&p, &req, &err), 0);
        assert_int_equal(probe_recover(&t.fs, t.state, &p, &err), 2);
        assert_string_equal(fixture_get(t.dir, POOL8 "/nr_hugepages"), "1\n");
        assert_string_equal(
                fixture_get(t.dir, "sys/devices/system/node/node1/hugepages/hugepages-2048kB/nr_hugepages"),
                "5\n");
        assert_int_equal(access(record, F_OK), -1);
        assert_int_equal(p.n_notes, 2);
        if (!strstr(p.notes[0],
                    "kernel/mm/hugepages/hugepages-8192kB: a probe that did not finish had grown it "
                    "from 1 to 4 pages; shrunk back"))
                fail_msg("note: \"%s\"", p.notes[0]);
        probe_release(&p);

        /* Another writer set 20 meanwhile: left alone, and said so. */
        fixture_put(t.dir, "state/probe-pools", "kernel/mm/hugepages/hugepages-8192kB 1 4\n");
        fixture_put(t.dir, POOL8 "/nr_hugepages", "20\n");
        assert_int_equal(probe_init(&p, &req, &err), 0);
        assert_int_equal(probe_recover(&t.fs, t.state, &p, &err), 0);
        assert_string_equal(fixture_get(t.dir, POOL8 "/nr_hugepages"), "20\n");
        assert_int_equal(p.n_notes, 1);
        if (!strstr(p.notes[0], "another writer"))
                fail_msg("note: \"%s\"", p.notes[0]);
        assert_int_equal(access(record, F_OK), -1);
        probe_release(&p);

        /* probe_run recovers first. */
        fixture_put(t.dir, "state/probe-pools", "kernel/mm/hugepages/hugepages-8192kB 4 20\n");
        assert_int_equal(run(&t, &req, &p, &err), 0);
        assert_string_equal(fixture_get(t.dir, POOL8 "/nr_hugepages"), "4\n");
        assert_int_equal(access(record, F_OK), -1);
        probe_release(&p);

        /* A record naming any other file is refused, and nothing written. */
        static const char *const bad[] = {
                "../../../etc/passwd 0 1\n",
                "kernel/mm/hugepages/hugepages-8192kB/../../x 0 1\n",
                "kernel/mm/hugepages/hugepages-8192kB 5 1\n", /* asked below before */
                "kernel/mm/hugepages/hugepages-8192kB 1\n",
        };
        fixture_put(t.dir, POOL8 "/nr_hugepages", "4\n");
        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                fixture_put(t.dir, "state/probe-pools", bad[i]);
                assert_int_equal(probe_recover(&t.fs, t.state, NULL, &err), -EBADMSG);
                if (!strstr(err.msg, "not a pool record"))
                        fail_msg("error: \"%s\"", err.msg);
                assert_string_equal(fixture_get(t.dir, POOL8 "/nr_hugepages"), "4\n");
                assert_int_equal(run(&t, &req, &p, &err), -EBADMSG);
                probe_release(&p);
        }
        tree_free(&t);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_chain_one_cycle),
                cmocka_unit_test(test_chain_spreads_lines),
                cmocka_unit_test(test_chain_seeds),
                cmocka_unit_test(test_chain_cancel),
                cmocka_unit_test(test_chase),
                cmocka_unit_test(test_init),
                cmocka_unit_test(test_names),
                cmocka_unit_test(test_run_base_thp_and_fake_size),
                cmocka_unit_test(test_run_defaults_and_skips),
                cmocka_unit_test(test_run_groups),
                cmocka_unit_test(test_run_grows_and_restores),
                cmocka_unit_test(test_run_cgroup_room),
                cmocka_unit_test(test_run_lock),
                cmocka_unit_test(test_run_cancelled),
                cmocka_unit_test(test_recover),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
