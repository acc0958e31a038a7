/* An LD_PRELOAD stand-in for a kernel that allocates fewer hugepages than
 * asked, for the boot path's retry test on a fake tree. A write of a
 * number to a file whose path ends in $HP_SHORT_PATH (e.g.
 * "kernel/mm/hugepages/hugepages-2048kB/nr_hugepages") writes at most
 * $HP_SHORT_CAP instead, for the first $HP_SHORT_TIMES such writes, and
 * returns the full length: the kernel's own behaviour (KERNEL.md §1: a
 * short allocation is silent, only the read-back shows it). */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int shorts_done;

ssize_t write(int fd, const void *buf, size_t n)
{
        static ssize_t (*real_write)(int, const void *, size_t);
        if (!real_write)
                real_write = (ssize_t(*)(int, const void *, size_t)) dlsym(RTLD_NEXT, "write");
        const char *suffix = getenv("HP_SHORT_PATH");
        const char *cap_s = getenv("HP_SHORT_CAP");
        const char *times_s = getenv("HP_SHORT_TIMES");
        if (!suffix || !cap_s || !times_s || n == 0 || n > 30 || shorts_done >= atoi(times_s))
                return real_write(fd, buf, n);
        char link[64], path[4096];
        snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
        ssize_t len = readlink(link, path, sizeof(path) - 1);
        if (len <= 0)
                return real_write(fd, buf, n);
        path[len] = '\0';
        size_t sl = strlen(suffix);
        if ((size_t) len < sl || strcmp(path + len - (ssize_t) sl, suffix) != 0)
                return real_write(fd, buf, n);
        char text[32];
        memcpy(text, buf, n);
        text[n] = '\0';
        unsigned long long asked = strtoull(text, NULL, 10), cap = strtoull(cap_s, NULL, 10);
        if (asked <= cap)
                return real_write(fd, buf, n);
        shorts_done++;
        char got[32];
        int k = snprintf(got, sizeof(got), "%llu\n", cap);
        if (real_write(fd, got, (size_t) k) != k)
                return -1;
        return (ssize_t) n;
}
