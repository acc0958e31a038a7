/* GET /metrics: the Prometheus text exposition format (0.0.4). The pools
 * by size, node and state, read fresh from the kernel like GET /status;
 * the desired and confirmed generations; changes by outcome since start;
 * drift; the pending confirm deadline; THP modes; build info. Every series
 * is a gauge except hugepaged_changes_total. */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../model/cleanup.h"
#include "../model/config.h"
#include "../model/drift.h"
#include "../model/quantity.h"
#include "app.h"
#include "kernel.h"

/* A growing text buffer; on OOM it stays failed and out() returns NULL. */
struct out {
        char *buf;
        size_t len, cap;
        bool failed;
};

static void outf(struct out *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void outf(struct out *o, const char *fmt, ...)
{
        if (o->failed)
                return;
        for (;;) {
                va_list ap;
                va_start(ap, fmt);
                int n = vsnprintf(o->buf ? o->buf + o->len : NULL, o->buf ? o->cap - o->len : 0, fmt, ap);
                va_end(ap);
                if (n < 0) {
                        o->failed = true;
                        return;
                }
                if (o->buf && o->len + (size_t) n < o->cap) {
                        o->len += (size_t) n;
                        return;
                }
                size_t cap = o->cap ? o->cap * 2 : 4096;
                while (cap < o->len + (size_t) n + 1)
                        cap *= 2;
                char *grown = realloc(o->buf, cap);
                if (!grown) {
                        o->failed = true;
                        return;
                }
                o->buf = grown;
                o->cap = cap;
        }
}

static void family(struct out *o, const char *name, const char *type, const char *help)
{
        outf(o, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* Label values are written only from what the kernel and the build give
 * (sizes, node numbers, THP words); escape them anyway. */
static const char *label(const char *in, char out[static 128])
{
        size_t o = 0;
        for (; *in && o + 2 < 128; in++) {
                if (*in == '\\' || *in == '"') {
                        out[o++] = '\\';
                        out[o++] = *in;
                } else if (*in == '\n') {
                        out[o++] = '\\';
                        out[o++] = 'n';
                } else
                        out[o++] = *in;
        }
        out[o] = '\0';
        return out;
}

/* The number of places where the kernel differs from the desired config,
 * or -1 when there is no desired config or it cannot be read back. */
static long drift_count(const json_t *desired, const struct kernel *k)
{
        if (!desired)
                return -1;
        struct config c;
        struct findings errors = { 0 };
        int r = config_parse(desired, &c, &errors);
        findings_release(&errors);
        if (r < 0)
                return -1;
        struct drift d;
        r = drift_compute(&c, &k->sizes, &k->thp, &d);
        config_release(&c);
        if (r < 0)
                return -1;
        long n = (long) d.n;
        drift_release(&d);
        return n;
}

int handle_metrics(struct app *app, const struct request *req, struct response *ret)
{
        unsigned long epoch;
        int r = answer_cache_serve(&app->metrics_answer, app, ret, &epoch);
        if (r != 0)
                return r < 0 ? r : 0;
        struct kernel k;
        struct errbuf err = { { 0 } };
        r = kernel_read(app, &k, &err);
        if (r < 0)
                return kernel_problem(ret, r, req->path, &err);
        struct snapshot snap;
        app_snapshot(app, &snap);

        struct out o = { 0 };
        char l1[128], l2[128];
        family(&o, "hugepaged_build_info", "gauge", "The running hugepaged: always 1, the version as a label.");
        outf(&o, "hugepaged_build_info{version=\"%s\",node_name=\"%s\"} 1\n", label(app->version, l1),
             label(app->node_name, l2));

        family(&o, "hugepaged_page_size_bytes", "gauge", "Each hugepage size the kernel offers, in bytes.");
        for (size_t i = 0; i < k.sizes.n_sizes; i++) {
                char q[QUANTITY_MAX];
                const struct size_info *si = &k.sizes.sizes[i];
                outf(&o, "hugepaged_page_size_bytes{size=\"%s\"} %" PRIu64 "\n",
                     quantity_format(si->size_kb * 1024, q), si->size_kb * 1024);
        }

        family(&o, "hugepaged_pool_pages", "gauge",
               "Hugepages by size, NUMA node (\"all\" for the whole pool) and state: total (nr_hugepages), "
               "persistent (total - surplus), free, reserved (whole pool only), surplus.");
        for (size_t i = 0; i < k.sizes.n_sizes; i++) {
                char q[QUANTITY_MAX];
                const struct size_info *si = &k.sizes.sizes[i];
                quantity_format(si->size_kb * 1024, q);
                const struct {
                        const char *state;
                        uint64_t v;
                } all[] = { { "total", si->nr }, { "persistent", size_persistent(si) }, { "free", si->free },
                            { "reserved", si->resv }, { "surplus", si->surplus } };
                for (size_t j = 0; j < sizeof(all) / sizeof(all[0]); j++)
                        outf(&o, "hugepaged_pool_pages{size=\"%s\",node=\"all\",state=\"%s\"} %" PRIu64 "\n", q,
                             all[j].state, all[j].v);
                for (size_t n = 0; n < k.sizes.n_nodes; n++) {
                        if (!k.sizes.nodes[n].has_hugepages)
                                continue;
                        const struct size_node *sn = &si->nodes[n];
                        const struct {
                                const char *state;
                                uint64_t v;
                        } per[] = { { "total", sn->nr },
                                    { "persistent", size_node_persistent(sn) },
                                    { "free", sn->free },
                                    { "surplus", sn->surplus } };
                        for (size_t j = 0; j < sizeof(per) / sizeof(per[0]); j++)
                                outf(&o, "hugepaged_pool_pages{size=\"%s\",node=\"%u\",state=\"%s\"} %" PRIu64 "\n",
                                     q, k.sizes.nodes[n].id, per[j].state, per[j].v);
                }
        }

        family(&o, "hugepaged_default_size_bytes", "gauge", "The default hugepage size (Hugepagesize).");
        outf(&o, "hugepaged_default_size_bytes %" PRIu64 "\n", k.sizes.default_size_kb * 1024);

        family(&o, "hugepaged_transparent_hugepage", "gauge",
               "THP modes the kernel offers per setting; 1 for the active one.");
        for (int t = 0; t < _THP_KNOB_MAX; t++) {
                const struct thp_setting *ts = &k.thp.knobs[t];
                for (size_t c = 0; ts->present && c < ts->n_choices; c++)
                        outf(&o, "hugepaged_transparent_hugepage{setting=\"%s\",mode=\"%s\"} %d\n",
                             thp_knob_name((enum thp_knob) t), label(ts->choices[c], l1), (int) c == ts->active);
        }

        family(&o, "hugepaged_config_generation", "gauge",
               "The generation of the desired config, and of the confirmed one (0: none).");
        outf(&o, "hugepaged_config_generation{kind=\"desired\"} %" PRIu64 "\n", snap.generation);
        outf(&o, "hugepaged_config_generation{kind=\"confirmed\"} %" PRIu64 "\n", snap.confirmed_generation);

        family(&o, "hugepaged_changes_total", "counter",
               "Changes run since the service started (PUT /config, rollbacks, reverts), by outcome.");
        for (int i = 0; i < _APP_OUTCOME_MAX; i++)
                outf(&o, "hugepaged_changes_total{outcome=\"%s\"} %lu\n", app_outcome_name((enum app_outcome) i),
                     atomic_load(&app->applies[i]));

        long drift = drift_count(snap.desired, &k);
        family(&o, "hugepaged_drift_items", "gauge",
               "Places where the kernel differs from the desired config (-1: no desired config).");
        outf(&o, "hugepaged_drift_items %ld\n", drift);

        family(&o, "hugepaged_confirm_deadline_seconds", "gauge",
               "Unix time at which a pending change is reverted unless confirmed; 0 when none is pending.");
        outf(&o, "hugepaged_confirm_deadline_seconds %" PRId64 "\n", snap.pending ? snap.deadline : (int64_t) 0);

        family(&o, "hugepaged_memory_bytes", "gauge", "Memory: total (MemTotal), available (MemAvailable).");
        outf(&o, "hugepaged_memory_bytes{kind=\"total\"} %" PRIu64 "\n", k.sizes.mem_total_kb * 1024);
        outf(&o, "hugepaged_memory_bytes{kind=\"available\"} %" PRIu64 "\n", k.sizes.mem_available_kb * 1024);

        snapshot_release(&snap);
        kernel_release(&k);
        if (o.failed) {
                free(o.buf);
                return -ENOMEM;
        }
        r = response_text(ret, 200, "text/plain; version=0.0.4; charset=utf-8", o.buf);
        /* An answer that cannot be kept is still sent; the next one is
         * built again. */
        if (r == 0)
                (void) answer_cache_store(&app->metrics_answer, epoch, ret);
        return r;
}
