/* Journal costs: appending records durably, and replaying a journal of
 * 10,000 records at open, as a service start does. Prints figures; asserts
 * nothing. The baseline in the same run is the cost of reading the same
 * bytes back with plain read(2), so the ratio shows what parsing and
 * checksumming add.
 *
 * Usage: bench-journal [DIR] (default: a new directory under /tmp) */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "../model/journal.h"

static double now_ms(void)
{
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (double) ts.tv_sec * 1e3 + (double) ts.tv_nsec / 1e6;
}

int main(int argc, char **argv)
{
        char tmpl[] = "/tmp/hugepaged-bench-XXXXXX";
        const char *dir = argc > 1 ? argv[1] : mkdtemp(tmpl);
        if (!dir)
                return 1;
        enum { RECORDS = 10000 };
        struct errbuf err;
        struct journal *j;
        /* Keep everything: the replay must see all 10,000 records. */
        if (journal_open(dir, 10000, &j, &err) < 0) {
                fprintf(stderr, "%s\n", err.msg);
                return 1;
        }
        json_t *config = json_pack("{s:{s:{s:i}, s:{s:{s:i, s:i}}}, s:{s:s}}", "pools", "2Mi", "count", 512, "1Gi",
                                   "nodes", "0", 1, "1", 1, "transparent_hugepage", "enabled", "madvise");
        json_t *report = json_pack("{s:b, s:[{s:s, s:s, s:n, s:i, s:i, s:i, s:i, s:i, s:b, s:s}], s:[]}", "complete", 1,
                                   "results", "pointer", "/pools/2Mi/count", "size", "2Mi", "node", "requested", 512,
                                   "before", 500, "after", 512, "total", 512, "surplus", 0, "written", 1, "status",
                                   "ok", "thp");
        double t0 = now_ms(), worst = 0;
        if (journal_lock(j, &err) < 0)
                return 1;
        for (int i = 0; i < RECORDS; i++) {
                struct journal_record rec = { .generation = (uint64_t) (i / 3 + 1) };
                rec.event = i % 3 == 0 ? JOURNAL_ACCEPTED : i % 3 == 1 ? JOURNAL_APPLIED : JOURNAL_CONFIRMED;
                if (rec.event == JOURNAL_ACCEPTED) {
                        rec.config = config;
                        rec.before = config;
                }
                if (rec.event == JOURNAL_APPLIED)
                        rec.report = report;
                snprintf(rec.who, sizeof(rec.who), "bench");
                double a = now_ms();
                if (journal_append(j, &rec, &err) < 0) {
                        fprintf(stderr, "%s\n", err.msg);
                        return 1;
                }
                double d = now_ms() - a;
                worst = d > worst ? d : worst;
        }
        journal_unlock(j);
        double append_ms = now_ms() - t0;
        journal_close(j);

        char path[4096];
        snprintf(path, sizeof(path), "%s/journal", dir);
        double r0 = now_ms();
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        char buf[1 << 16];
        size_t bytes = 0;
        ssize_t k;
        while ((k = read(fd, buf, sizeof(buf))) > 0)
                bytes += (size_t) k;
        close(fd);
        double read_ms = now_ms() - r0;

        double o0 = now_ms();
        if (journal_open(dir, 10000, &j, &err) < 0) {
                fprintf(stderr, "%s\n", err.msg);
                return 1;
        }
        double open_ms = now_ms() - o0;
        size_t n;
        journal_records(j, &n);
        struct journal_state st;
        double s0 = now_ms();
        journal_state(j, &st);
        double state_ms = now_ms() - s0;
        journal_close(j);

        printf("journal: %d records, %zu bytes\n", RECORDS, bytes);
        printf("append (write + fdatasync) : %.3f ms per record on average, %.3f ms worst\n", append_ms / RECORDS,
               worst);
        printf("replay at open (%zu records): %.1f ms (plain read of the same bytes: %.2f ms, ratio %.0fx)\n", n,
               open_ms, read_ms, read_ms > 0 ? open_ms / read_ms : 0);
        printf("state from the records      : %.3f ms\n", state_ms);
        json_decref(config);
        json_decref(report);
        if (argc <= 1) {
                char cmd[4200];
                snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
                if (system(cmd) != 0)
                        return 1;
        }
        return 0;
}
