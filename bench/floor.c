/* The floor under GET /status: the cost of reading the kernel files one
 * status reads, and nothing else (no parsing, no JSON, no HTTP, no TLS).
 *
 * The files are those model/sizes.c and model/thp.c read under a sysfs and a
 * procfs root: procfs meminfo, every node's meminfo, the five counters of
 * every size, the three per-node counters of every size on every node with
 * hugepages, and the three transparent_hugepage settings. They are found
 * here by listing the same directories, so the count matches the tree.
 *
 * Two loops, each timed over many iterations (one iteration = every file
 * once), and the median of several batches printed in µs per iteration:
 *   open   open(), read() until EOF, close(), as a status did originally;
 *   pread  the files opened once and kept, pread() from offset 0 each time
 *          (sysfs and procfs produce a fresh value on every read at 0).
 *
 * Usage: floor SYSFS-ROOT PROCFS-ROOT [ITERATIONS]
 * Prints one line per loop: "floor MODE FILES us_per_iteration". */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define MAX_FILES 4096
#define BATCHES 7

static char *files[MAX_FILES];
static size_t n_files;

static void add(const char *fmt, const char *a, const char *b, const char *c)
{
        char path[4096];
        snprintf(path, sizeof(path), fmt, a, b, c);
        if (access(path, R_OK) != 0)
                return;
        if (n_files == MAX_FILES) {
                fprintf(stderr, "floor: more than %d files\n", MAX_FILES);
                exit(1);
        }
        files[n_files++] = strdup(path);
}

/* The entries of dir starting with prefix (unsorted: order does not matter
 * for a cost). */
static size_t list(const char *dir, const char *prefix, char names[][256], size_t max)
{
        DIR *d = opendir(dir);
        size_t n = 0;
        if (!d)
                return 0;
        struct dirent *de;
        while ((de = readdir(d)) && n < max)
                if (strncmp(de->d_name, prefix, strlen(prefix)) == 0)
                        snprintf(names[n++], 256, "%s", de->d_name);
        closedir(d);
        return n;
}

static double now_us(void)
{
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (double) ts.tv_sec * 1e6 + (double) ts.tv_nsec / 1e3;
}

static int cmp_double(const void *a, const void *b)
{
        double x = *(const double *) a, y = *(const double *) b;
        return x < y ? -1 : x > y;
}

static char buf[16384];

static void read_open(void)
{
        for (size_t i = 0; i < n_files; i++) {
                int fd = open(files[i], O_RDONLY | O_CLOEXEC | O_NOCTTY);
                if (fd < 0) {
                        fprintf(stderr, "floor: %s: %s\n", files[i], strerror(errno));
                        exit(1);
                }
                while (read(fd, buf, sizeof(buf)) > 0)
                        ;
                close(fd);
        }
}

static int fds[MAX_FILES];

static void read_pread(void)
{
        for (size_t i = 0; i < n_files; i++)
                if (pread(fds[i], buf, sizeof(buf), 0) < 0) {
                        fprintf(stderr, "floor: %s: %s\n", files[i], strerror(errno));
                        exit(1);
                }
}

static double measure(void (*loop)(void), long iterations)
{
        double per[BATCHES];
        for (int b = 0; b < BATCHES; b++) {
                double t0 = now_us();
                for (long i = 0; i < iterations; i++)
                        loop();
                per[b] = (now_us() - t0) / (double) iterations;
        }
        qsort(per, BATCHES, sizeof(double), cmp_double);
        return per[BATCHES / 2];
}

int main(int argc, char **argv)
{
        if (argc < 3) {
                fprintf(stderr, "usage: floor SYSFS-ROOT PROCFS-ROOT [ITERATIONS]\n");
                return 2;
        }
        const char *sys = argv[1], *proc = argv[2];
        long iterations = argc > 3 ? atol(argv[3]) : 2000;
        static char sizes[64][256], nodes[1024][256];
        char dir[4096];

        add("%s/meminfo", proc, "", "");
        snprintf(dir, sizeof(dir), "%s/kernel/mm/hugepages", sys);
        size_t ns = list(dir, "hugepages-", sizes, 64);
        snprintf(dir, sizeof(dir), "%s/devices/system/node", sys);
        size_t nn = list(dir, "node", nodes, 1024);
        static const char *const global[] = { "nr_hugepages", "free_hugepages", "resv_hugepages",
                                              "surplus_hugepages", "nr_overcommit_hugepages" };
        static const char *const per_node[] = { "nr_hugepages", "free_hugepages", "surplus_hugepages" };
        for (size_t k = 0; k < nn; k++)
                add("%s/devices/system/node/%s/meminfo", sys, nodes[k], "");
        for (size_t i = 0; i < ns; i++) {
                for (size_t f = 0; f < 5; f++)
                        add("%s/kernel/mm/hugepages/%s/%s", sys, sizes[i], global[f]);
                for (size_t k = 0; k < nn; k++)
                        for (size_t f = 0; f < 3; f++) {
                                char rel[600];
                                snprintf(rel, sizeof(rel), "%s/hugepages/%s", nodes[k], sizes[i]);
                                add("%s/devices/system/node/%s/%s", sys, rel, per_node[f]);
                        }
        }
        add("%s/kernel/mm/transparent_hugepage/%s", sys, "enabled", "");
        add("%s/kernel/mm/transparent_hugepage/%s", sys, "defrag", "");
        add("%s/kernel/mm/transparent_hugepage/%s", sys, "shmem_enabled", "");
        if (n_files < 3) {
                fprintf(stderr, "floor: only %zu readable files under %s and %s\n", n_files, sys, proc);
                return 1;
        }

        read_open(); /* warm the dentry cache */
        printf("floor open %zu %.2f\n", n_files, measure(read_open, iterations));
        for (size_t i = 0; i < n_files; i++) {
                fds[i] = open(files[i], O_RDONLY | O_CLOEXEC | O_NOCTTY);
                if (fds[i] < 0) {
                        fprintf(stderr, "floor: %s: %s\n", files[i], strerror(errno));
                        return 1;
                }
        }
        read_pread();
        printf("floor pread %zu %.2f\n", n_files, measure(read_pread, iterations));
        for (size_t i = 0; i < n_files; i++)
                close(fds[i]);
        return 0;
}
