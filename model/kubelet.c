/* See kubelet.h. */
#include "kubelet.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static bool runs_kubelet(const char *comm)
{
        return strcmp(comm, "kubelet") == 0 || strcmp(comm, "k3s") == 0 || strcmp(comm, "k3s-server") == 0 ||
               strcmp(comm, "k3s-agent") == 0;
}

int kubelet_parse_stat(const char *text, uint64_t *ret_start_ticks, char ret_comm[static 32])
{
        /* "pid (comm) state ppid ...": comm is everything between the first
         * '(' and the last ')'. */
        const char *open = strchr(text, '('), *close = strrchr(text, ')');
        if (!open || !close || close < open)
                return -EINVAL;
        size_t n = (size_t) (close - open - 1);
        if (n > 31)
                n = 31;
        char comm[32];
        memcpy(comm, open + 1, n);
        comm[n] = '\0';
        /* After ") ": field 3 (state) onwards; starttime is field 22. */
        const char *p = close + 1;
        for (int field = 3; field < 22; field++) {
                p += strspn(p, " ");
                p += strcspn(p, " ");
                if (!*p)
                        return -EINVAL;
        }
        p += strspn(p, " ");
        char *end;
        errno = 0;
        unsigned long long v = strtoull(p, &end, 10);
        if (errno || end == p || (*end != ' ' && *end != '\n' && *end != '\0'))
                return -EINVAL;
        *ret_start_ticks = v;
        memcpy(ret_comm, comm, n + 1);
        return 0;
}

/* Seconds since boot, from <procfs>/uptime ("12345.67 23456.78"). */
static int uptime(const struct sysfs *fs, double *ret, struct errbuf *err)
{
        char buf[128];
        int r = sysfs_read(fs, SYSFS_PROC, "uptime", buf, sizeof(buf), NULL, err);
        if (r < 0)
                return r;
        char *end;
        double v = strtod(buf, &end);
        if (end == buf || v < 0)
                return errbuf_set(err, -EINVAL, "%s/uptime does not start with a number", fs->proc_root);
        *ret = v;
        return 0;
}

int kubelet_find(const struct sysfs *fs, struct kubelet_info *ret, struct errbuf *err)
{
        struct kubelet_info best = { 0 };
        double up = 0;
        int r = uptime(fs, &up, err);
        if (r < 0)
                return r;
        int64_t now = (int64_t) time(NULL);
        long hz = sysconf(_SC_CLK_TCK);
        if (hz <= 0)
                hz = 100;
        char **names = NULL;
        size_t n = 0;
        r = sysfs_list(fs, SYSFS_PROC, "", "", &names, &n, err);
        if (r < 0)
                return r;
        uint64_t best_ticks = UINT64_MAX;
        for (size_t i = 0; i < n; i++) {
                const char *name = names[i];
                if (name[0] < '1' || name[0] > '9' || strspn(name, "0123456789") != strlen(name))
                        continue;
                char rel[64], text[1024], comm[32];
                snprintf(rel, sizeof(rel), "%s/stat", name);
                struct errbuf ignore = { { 0 } };
                uint64_t ticks;
                /* Processes come and go while we look: skip what vanished. */
                if (sysfs_read(fs, SYSFS_PROC, rel, text, sizeof(text), NULL, &ignore) < 0 ||
                    kubelet_parse_stat(text, &ticks, comm) < 0 || !runs_kubelet(comm))
                        continue;
                /* kubelet itself wins over the k3s process that embeds it;
                 * among equals, the oldest. */
                bool is_kubelet = strcmp(comm, "kubelet") == 0;
                bool best_kubelet = best.found && strcmp(best.comm, "kubelet") == 0;
                bool better = !best.found || (is_kubelet && !best_kubelet) ||
                              (is_kubelet == best_kubelet && ticks < best_ticks);
                if (!better)
                        continue;
                best.found = true;
                best.pid = (unsigned) strtoul(name, NULL, 10);
                snprintf(best.comm, sizeof(best.comm), "%s", comm);
                best.started = now - (int64_t) (up - (double) ticks / (double) hz);
                best_ticks = ticks;
        }
        sysfs_names_free(names);
        *ret = best;
        return 0;
}
