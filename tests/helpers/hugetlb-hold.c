/* hugetlb-hold: maps hugetlb pages and keeps them until it is killed, so
 * that tests on the real kernel have a process that holds pages of the
 * pool, as a KubeVirt VM's QEMU does with its hugetlb memfd.
 *
 *   hugetlb-hold [--size KB] [--touch N] [--shared] [--node N] PAGES
 *
 * It maps PAGES pages of --size kB (default 2048) with
 * mmap(MAP_HUGETLB | MAP_HUGE_<size>), which reserves them all, then writes
 * one byte into each of the first --touch pages (default: all), which takes
 * them out of the pool's free pages. Untouched pages stay reserved:
 * resv_hugepages counts them and free_hugepages still does too
 * (KERNEL.md §1). --node binds the allocation to one NUMA node
 * (set_mempolicy MPOL_BIND). --shared maps MAP_SHARED instead of
 * MAP_PRIVATE, like a memfd that a child would share.
 *
 * When everything is in place it prints "ready" on a line of its own to
 * stdout and waits; SIGTERM or SIGINT end it with status 0, and the kernel
 * gives the pages back. Exit status 2 is a usage error, 3 a failed mmap
 * (the pool was too small: the kernel refuses the mapping up front with
 * ENOMEM), 4 a failed set_mempolicy. */
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#ifndef MAP_HUGE_SHIFT
#define MAP_HUGE_SHIFT 26
#endif
#define HOLD_MPOL_BIND 2 /* <linux/mempolicy.h>, not in glibc's headers */

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
        (void) sig;
        stop = 1;
}

static int parse_u64(const char *s, uint64_t *ret)
{
        char *end;
        errno = 0;
        unsigned long long v = strtoull(s, &end, 10);
        if (errno || end == s || *end || *s == '-' || *s == '+')
                return -1;
        *ret = v;
        return 0;
}

static void usage(void)
{
        fprintf(stderr, "usage: hugetlb-hold [--size KB] [--touch N] [--shared] [--node N] PAGES\n");
        exit(2);
}

int main(int argc, char **argv)
{
        uint64_t size_kb = 2048, pages = 0, touch = UINT64_MAX, node = UINT64_MAX;
        bool shared = false, have_pages = false;

        for (int i = 1; i < argc; i++) {
                const char *a = argv[i];
                if (strcmp(a, "--shared") == 0)
                        shared = true;
                else if ((strcmp(a, "--size") == 0 || strcmp(a, "--touch") == 0 ||
                          strcmp(a, "--node") == 0) &&
                         i + 1 < argc) {
                        uint64_t *dst = a[2] == 's' ? &size_kb : a[2] == 't' ? &touch : &node;
                        if (parse_u64(argv[++i], dst) < 0)
                                usage();
                } else if (!have_pages && parse_u64(a, &pages) == 0)
                        have_pages = true;
                else
                        usage();
        }
        /* A hugetlb size is a power of two of at least 64 kB. */
        if (!have_pages || pages == 0 || size_kb < 64 || (size_kb & (size_kb - 1)) != 0 ||
            (node != UINT64_MAX && node > 1023))
                usage();
        if (touch > pages)
                touch = pages;

        uint64_t size = size_kb * 1024, len;
        if (__builtin_mul_overflow(size, pages, &len))
                usage();
        int shift = __builtin_ctzll(size);

        if (node != UINT64_MAX) {
                unsigned long mask[1024 / (8 * sizeof(unsigned long))] = { 0 };
                mask[node / (8 * sizeof(unsigned long))] |= 1UL << (node % (8 * sizeof(unsigned long)));
                if (syscall(SYS_set_mempolicy, HOLD_MPOL_BIND, mask, (unsigned long) 1024 + 1) != 0) {
                        fprintf(stderr, "hugetlb-hold: set_mempolicy(node %" PRIu64 "): %s\n", node,
                                strerror(errno));
                        return 4;
                }
        }

        int flags =
                (shared ? MAP_SHARED : MAP_PRIVATE) | MAP_ANONYMOUS | MAP_HUGETLB | (shift << MAP_HUGE_SHIFT);
        char *p = mmap(NULL, (size_t) len, PROT_READ | PROT_WRITE, flags, -1, 0);
        if (p == MAP_FAILED) {
                fprintf(stderr, "hugetlb-hold: mmap of %" PRIu64 " pages of %" PRIu64 " kB: %s\n", pages,
                        size_kb, strerror(errno));
                return 3;
        }
        for (uint64_t i = 0; i < touch; i++)
                p[i * size] = 1;

        struct sigaction sa = { .sa_handler = on_signal };
        sigemptyset(&sa.sa_mask);
        sigaction(SIGTERM, &sa, NULL);
        sigaction(SIGINT, &sa, NULL);

        /* Block the signals until we sleep on them, so that one arriving
         * between the check and the wait is not lost. */
        sigset_t block, old;
        sigemptyset(&block);
        sigaddset(&block, SIGTERM);
        sigaddset(&block, SIGINT);
        sigprocmask(SIG_BLOCK, &block, &old);
        printf("ready\n");
        fflush(stdout);
        while (!stop)
                sigsuspend(&old);
        munmap(p, (size_t) len);
        return 0;
}
