/* bench-holders: the cost of one scan for hugetlb holders (model/holders.c),
 * which GET /status runs on every call.
 *
 *   bench-holders [--processes N] [--holders-every K] [--maps-lines L] [--runs R]
 *                 [--fake-only | --real-only] [--hold]
 *
 * 1. A fake procfs tree of N processes (default 1000) in a temporary
 *    directory, in the formats of tests/fixtures/procfs-holders; every K-th
 *    one (default 10) holds 2Mi pages and has a numa_maps of L lines
 *    (default 300, a QEMU's order of magnitude). Scanned R times (default
 *    30) with the defaults (details for at most 64 holders) and without
 *    numa_maps.
 * 2. The real /proc with N sleeping children started here (and killed and
 *    reaped afterwards; they also die with this process). With --hold, the
 *    parent first maps one shared 2Mi hugetlb page, so that every child
 *    holds it too and the scan lists N holders; this needs one free 2Mi
 *    page in the pool, which the benchmark never changes.
 *
 * Prints the minimum, median and maximum of one scan, and the median per
 * /proc entry. */
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "../model/holders.h"

static double now_ms(void)
{
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (double) ts.tv_sec * 1e3 + (double) ts.tv_nsec / 1e6;
}

static int cmp_double(const void *a, const void *b)
{
        double x = *(const double *) a, y = *(const double *) b;
        return x < y ? -1 : x > y;
}

static void write_file(const char *path, const char *text, size_t len)
{
        FILE *f = fopen(path, "w");
        if (!f || fwrite(text, 1, len, f) != len || fclose(f) != 0) {
                fprintf(stderr, "bench-holders: cannot write %s: %s\n", path, strerror(errno));
                exit(1);
        }
}

static void make_process(const char *root, int pid, bool holder, unsigned maps_lines)
{
        char dir[4200], path[4300], buf[4096];
        snprintf(dir, sizeof(dir), "%s/%d", root, pid);
        if (mkdir(dir, 0755) != 0) {
                fprintf(stderr, "bench-holders: mkdir %s: %s\n", dir, strerror(errno));
                exit(1);
        }
        unsigned kb = holder ? 2048u * (unsigned) (1 + pid % 8) : 0;
        int n = snprintf(
                buf, sizeof(buf),
                "Name:\t%s\nUmask:\t0022\nState:\tS (sleeping)\nTgid:\t%d\nNgid:\t0\nPid:\t%d\nPPid:\t1\n"
                "TracerPid:\t0\nUid:\t107\t107\t107\t107\nGid:\t107\t107\t107\t107\nFDSize:\t64\nGroups:\t \n"
                "NStgid:\t%d\nNSpid:\t%d\nNSpgid:\t%d\nNSsid:\t%d\nKthread:\t0\nVmPeak:\t 2411228 kB\n"
                "VmSize:\t 2411228 kB\nVmLck:\t       0 kB\nVmPin:\t       0 kB\nVmHWM:\t   61560 kB\n"
                "VmRSS:\t   61560 kB\nRssAnon:\t   15390 kB\nRssFile:\t   46170 kB\nRssShmem:\t       0 kB\n"
                "VmData:\t  301403 kB\nVmStk:\t     132 kB\nVmExe:\t      20 kB\nVmLib:\t    1528 kB\n"
                "VmPTE:\t      48 kB\nVmSwap:\t       0 kB\nHugetlbPages:\t%8u kB\nCoreDumping:\t0\n"
                "THP_enabled:\t1\nuntag_mask:\t0xffffffffffffffff\nThreads:\t7\nSigQ:\t1/96364\n"
                "SigPnd:\t0000000000000000\nShdPnd:\t0000000000000000\nSigBlk:\t0000000000000000\n"
                "SigIgn:\t0000000000001000\nSigCgt:\t0000000180014a07\nCapInh:\t0000000000000000\n"
                "CapPrm:\t0000000000000000\nCapEff:\t0000000000000000\nCapBnd:\t000001ffffffffff\n"
                "CapAmb:\t0000000000000000\nNoNewPrivs:\t0\nSeccomp:\t0\nSeccomp_filters:\t0\n"
                "Speculation_Store_Bypass:\tvulnerable\nSpeculationIndirectBranch:\talways enabled\n"
                "Cpus_allowed:\tffff\nCpus_allowed_list:\t0-15\nMems_allowed:\t00000000,00000003\n"
                "Mems_allowed_list:\t0-1\nvoluntary_ctxt_switches:\t1523\nnonvoluntary_ctxt_switches:\t17\n",
                holder ? "qemu-kvm" : "sleeper", pid, pid, pid, pid, pid, pid, kb);
        snprintf(path, sizeof(path), "%s/status", dir);
        write_file(path, buf, (size_t) n);

        n = snprintf(
                buf, sizeof(buf),
                "0::/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod7c1f5b2e_3a4d_4e8f_9b6a_"
                "%012d.slice/"
                "cri-containerd-3f9a2c4e6b8d0f1a3c5e7b9d1f3a5c7e9b1d3f5a7c9e1b3d5f7a9c1e%08d.scope\n",
                pid, pid);
        snprintf(path, sizeof(path), "%s/cgroup", dir);
        write_file(path, buf, (size_t) n);

        n = snprintf(buf, sizeof(buf),
                     "/usr/libexec/qemu-kvm%c-name%cguest=default_vm-%d,debug-threads=on%c-m%c%u%c", 0, 0,
                     pid, 0, 0, kb / 1024, 0);
        snprintf(path, sizeof(path), "%s/cmdline", dir);
        write_file(path, buf, (size_t) n);

        if (!holder)
                return;
        snprintf(path, sizeof(path), "%s/numa_maps", dir);
        FILE *f = fopen(path, "w");
        if (!f)
                exit(1);
        for (unsigned i = 0; i + 1 < maps_lines; i++)
                fprintf(f,
                        "7f%010x default file=/usr/lib64/libfoo-%u.so.1 mapped=%u mapmax=3 N0=%u "
                        "kernelpagesize_kB=4\n",
                        i * 4096, i, i % 97 + 1, i % 97 + 1);
        fprintf(f,
                "7f2a40000000 bind:0-1 file=/memfd:pc.ram\\040(deleted) huge dirty=%u N0=%u "
                "kernelpagesize_kB=2048\n",
                kb / 2048, kb / 2048);
        fclose(f);
}

/* Runs `runs` scans; prints one line of figures. */
static void measure(const char *label, const struct sysfs *fs, const struct holders_opts *o, unsigned runs)
{
        double *t = calloc(runs, sizeof(double));
        struct holders last = { 0 };
        for (unsigned i = 0; i < runs; i++) {
                struct holders h;
                struct errbuf err;
                double t0 = now_ms();
                int r = holders_scan(fs, NULL, o, &h, &err);
                t[i] = now_ms() - t0;
                if (r < 0) {
                        fprintf(stderr, "bench-holders: scan failed: %s\n", err.msg);
                        exit(1);
                }
                holders_release(&last);
                last = h;
        }
        qsort(t, runs, sizeof(double), cmp_double);
        double median = t[runs / 2];
        printf("%-44s %5zu entries, %5zu holders (%3zu listed): min %7.2f ms  median %7.2f ms  max %7.2f ms  "
               "(%.2f us per entry)\n",
               label, last.scanned, last.n_found, last.n, t[0], median, t[runs - 1],
               last.scanned ? median * 1e3 / (double) last.scanned : 0.0);
        holders_release(&last);
        free(t);
}

static void bench_fake(unsigned processes, unsigned every, unsigned maps_lines, unsigned runs)
{
        char tmpl[] = "/tmp/bench-holders-XXXXXX";
        char *root = mkdtemp(tmpl);
        if (!root) {
                perror("mkdtemp");
                exit(1);
        }
        for (unsigned i = 0; i < processes; i++)
                make_process(root, 1000 + (int) i, every && i % every == 0, maps_lines);

        struct sysfs fs;
        if (sysfs_init(&fs, "/nonexistent", root) < 0)
                exit(1);
        char label[128];
        snprintf(label, sizeof(label), "fake procfs (numa_maps %u lines):", maps_lines);
        measure(label, &fs, NULL, runs);
        struct holders_opts o = { .no_details = true };
        measure("fake procfs, without numa_maps:", &fs, &o, runs);
        sysfs_release(&fs);

        char cmd[4200];
        snprintf(cmd, sizeof(cmd), "rm -rf '%s'", root);
        if (system(cmd) != 0)
                fprintf(stderr, "bench-holders: could not remove %s\n", root);
}

static void bench_real(unsigned processes, unsigned runs, bool hold)
{
        void *page = MAP_FAILED;
        if (hold) {
                page = mmap(NULL, 2 << 20, PROT_READ | PROT_WRITE,
                            MAP_SHARED | MAP_ANONYMOUS | MAP_HUGETLB | (21 << MAP_HUGE_SHIFT), -1, 0);
                if (page == MAP_FAILED)
                        fprintf(stderr,
                                "bench-holders: --hold: no free 2Mi page (%s); children hold nothing\n",
                                strerror(errno));
                else
                        *(volatile char *) page = 1;
        }
        pid_t parent = getpid();
        pid_t *kids = calloc(processes, sizeof(pid_t));
        unsigned started = 0;
        for (; started < processes; started++) {
                pid_t p = fork();
                if (p < 0) {
                        fprintf(stderr, "bench-holders: fork %u: %s\n", started, strerror(errno));
                        break;
                }
                if (p == 0) {
                        prctl(PR_SET_PDEATHSIG, SIGKILL);
                        if (getppid() != parent)
                                _exit(0);
                        /* fork() does not copy the page tables of a shared
                         * mapping: touch it so that it counts here too. */
                        if (page != MAP_FAILED)
                                (void) *(volatile char *) page;
                        for (;;)
                                pause();
                }
                kids[started] = p;
        }

        struct sysfs fs;
        if (sysfs_init(&fs, "/sys", "/proc") < 0)
                exit(1);
        char label[128];
        snprintf(label, sizeof(label), "real /proc, %u sleeping children%s:", started,
                 page != MAP_FAILED ? " holding 2Mi" : "");
        measure(label, &fs, NULL, runs);
        struct holders_opts o = { .no_details = true };
        measure("real /proc, without numa_maps:", &fs, &o, runs);
        sysfs_release(&fs);

        for (unsigned i = 0; i < started; i++)
                kill(kids[i], SIGKILL);
        unsigned reaped = 0;
        for (unsigned i = 0; i < started; i++)
                if (waitpid(kids[i], NULL, 0) == kids[i])
                        reaped++;
        printf("(%u children started, %u reaped)\n", started, reaped);
        free(kids);
        if (page != MAP_FAILED)
                munmap(page, 2 << 20);
}

int main(int argc, char **argv)
{
        unsigned processes = 1000, every = 10, maps_lines = 300, runs = 30;
        bool fake = true, real = true, hold = false;
        for (int i = 1; i < argc; i++) {
                const char *a = argv[i];
                unsigned *dst = strcmp(a, "--processes") == 0       ? &processes
                                : strcmp(a, "--holders-every") == 0 ? &every
                                : strcmp(a, "--maps-lines") == 0    ? &maps_lines
                                : strcmp(a, "--runs") == 0          ? &runs
                                                                    : NULL;
                if (dst && i + 1 < argc)
                        *dst = (unsigned) strtoul(argv[++i], NULL, 10);
                else if (strcmp(a, "--fake-only") == 0)
                        real = false;
                else if (strcmp(a, "--real-only") == 0)
                        fake = false;
                else if (strcmp(a, "--hold") == 0)
                        hold = true;
                else {
                        fprintf(stderr,
                                "usage: bench-holders [--processes N] [--holders-every K] [--maps-lines L] "
                                "[--runs R] [--fake-only | --real-only] [--hold]\n");
                        return 2;
                }
        }
        if (runs == 0 || processes == 0 || maps_lines == 0)
                return 2;
        if (fake)
                bench_fake(processes, every, maps_lines, runs);
        if (real)
                bench_real(processes, runs, hold);
        return 0;
}
