/* GET /status: the kernel now, the desired config, the last apply and where
 * the two differ. */
#include <errno.h>
#include <string.h>
#include <time.h>

#include "../model/bootargs.h"
#include "../model/cleanup.h"
#include "../model/config.h"
#include "../model/kubelet.h"
#include "../model/drift.h"
#include "../model/floor.h"
#include "../model/validate.h"
#include "app.h"
#include "kernel.h"
#include "report.h"

static json_t *drift_json(const struct drift *d)
{
        json_t *a = json_array();
        for (size_t i = 0; a && i < d->n; i++) {
                const struct drift_item *it = &d->items[i];
                json_t *o = it->is_word ? json_pack("{s:s, s:s, s:s}", "pointer", it->pointer, "desired",
                                                    it->desired_word, "actual", it->actual_word)
                                        : json_pack("{s:s, s:I, s:I}", "pointer", it->pointer, "desired",
                                                    (json_int_t) it->desired, "actual", (json_int_t) it->actual);
                if (!o || json_array_append_new(a, o) < 0) {
                        json_decref(a);
                        return NULL;
                }
        }
        return a;
}

/* The boot-arguments backend: what was written for the confirmed config,
 * and where the running kernel's command line differs from what that
 * config needs at boot (each difference takes a reboot). NULL without a
 * backend. */
static json_t *boot_json(struct app *app, const json_t *confirmed, const struct sizes *sizes)
{
        pthread_mutex_lock(&app->state_lock);
        struct boot_state b = app->boot;
        pthread_mutex_unlock(&app->state_lock);
        if (!b.configured)
                return json_null();
        json_t *diffs = json_array();
        json_t *compare_error = json_null();
        if (confirmed && diffs) {
                struct config c;
                struct findings errors = { 0 };
                struct errbuf err = { { 0 } };
                if (config_parse((json_t *) confirmed, &c, &errors) == 0) {
                        struct bootargs_diff d;
                        if (bootargs_compare(&app->fs, &c, sizes, &d, &err) == 0) {
                                for (size_t i = 0; i < d.n; i++)
                                        json_array_append_new(diffs, json_pack("{s:s, s:s, s:s}", "pointer",
                                                                               d.items[i].pointer, "wanted",
                                                                               d.items[i].want, "running",
                                                                               d.items[i].running));
                                bootargs_diff_release(&d);
                        } else
                                compare_error = json_string(err.msg);
                        config_release(&c);
                }
                findings_release(&errors);
        }
        if (!diffs)
                return NULL;
        return json_pack("{s:s, s:I, s:s, s:o, s:b, s:o, s:o}", "backend", b.spec, "generation",
                         (json_int_t) b.generation, "written", b.written, "error",
                         b.error[0] ? json_string(b.error) : json_null(), "in_effect",
                         json_array_size(diffs) == 0 && json_is_null(compare_error), "reboot_required", diffs,
                         "compare_error", compare_error);
}

/* kubelet reads the pools once, at start: it is stale when it started
 * before the last apply that wrote a pool. NULL when no kubelet runs. */
static json_t *kubelet_json(struct app *app, const struct sizes *s, const json_t *last_apply)
{
        struct kubelet_info k;
        app_kubelet(app, s, &k);
        if (!k.found)
                return json_null();
        char started[32];
        journal_format_time(k.started, started);
        const char *changed = NULL;
        size_t i;
        json_t *it;
        json_array_foreach(json_object_get(last_apply, "results"), i, it)
        {
                if (json_is_true(json_object_get(it, "written")))
                        changed = json_string_value(json_object_get(last_apply, "time"));
        }
        int64_t changed_at = changed ? journal_parse_time(changed) : 0;
        bool stale = changed_at > 0 && k.started < changed_at;
        char why[256] = "";
        if (stale)
                snprintf(why, sizeof(why),
                         "%s started at %s, before the pools changed at %s: it still advertises the old "
                         "hugepages-<size> capacity until it restarts",
                         k.comm, started, changed);
        return json_pack("{s:s, s:i, s:s, s:b, s:o}", "process", k.comm, "pid", (int) k.pid, "started", started,
                         "stale", stale, "reason", stale ? json_string(why) : json_null());
}

int handle_status(struct app *app, const struct request *req, struct response *ret)
{
        unsigned long epoch;
        int r = answer_cache_serve(&app->status_answer, app, ret, &epoch);
        if (r != 0)
                return r < 0 ? r : 0;
        struct kernel k;
        struct errbuf err = { { 0 } };
        r = kernel_read(app, &k, &err);
        if (r < 0)
                return kernel_problem(ret, r, req->path, &err);

        struct snapshot snap;
        app_snapshot(app, &snap);
        uint64_t generation = snap.generation;
        _cleanup_json_ json_t *desired = json_incref(snap.desired);
        _cleanup_json_ json_t *last = json_incref(snap.last_apply);
        _cleanup_json_ json_t *pending = NULL;
        if (snap.pending) {
                char when[32];
                journal_format_time(snap.deadline, when);
                int64_t left = snap.deadline - (int64_t) time(NULL);
                pending = json_pack("{s:I, s:s, s:I, s:I}", "generation", (json_int_t) snap.pending_generation,
                                    "deadline", when, "seconds_left", (json_int_t) (left > 0 ? left : 0),
                                    "reverts_to", (json_int_t) snap.confirmed_generation);
        }
        _cleanup_json_ json_t *note = snap.journal_note[0] ? json_string(snap.journal_note) : json_null();
        uint64_t confirmed = snap.confirmed_generation;
        _cleanup_json_ json_t *confirmed_config = json_incref(snap.confirmed);
        snapshot_release(&snap);

        _cleanup_json_ json_t *drift = NULL, *reboot = NULL;
        if (desired) {
                /* The stored config passed validation when it was accepted;
                 * if it no longer parses, say so instead of guessing. */
                struct config c;
                struct findings errors = { 0 };
                r = config_parse(desired, &c, &errors);
                findings_release(&errors);
                if (r == -ENOMEM)
                        goto oom;
                if (r < 0) {
                        kernel_release(&k);
                        return response_problem(ret, 500, "store", req->path,
                                                "the stored config of generation %llu cannot be read back",
                                                (unsigned long long) generation);
                }
                struct drift d;
                struct validation v;
                r = drift_compute(&c, &k.sizes, &k.thp, &d);
                if (r == 0) {
                        drift = drift_json(&d);
                        drift_release(&d);
                        /* Only the reboot items are wanted here: no
                         * process scan for pages in use. */
                        struct validate_opts o = app->vopts;
                        o.shrink_in_use_is_error = false;
                        r = validate_config(&c, &k.sizes, &k.thp, &o, &v);
                        if (r == 0) {
                                reboot = findings_to_json(&v.reboot_required);
                                validation_release(&v);
                        }
                }
                config_release(&c);
                if (r < 0 || !drift || !reboot)
                        goto oom;
        } else {
                drift = json_array();
                reboot = json_array();
        }

        json_t *boot = boot_json(app, confirmed_config, &k.sizes);
        json_t *kubelet = kubelet_json(app, &k.sizes, last);
        json_t *kernel = report_sizes(&k.sizes, &k.thp, &app->vopts);
        /* Who holds the pages; null when the process list cannot be read
         * (a procfs root without it, or no permission). */
        json_t *holders = NULL;
        struct errbuf herr = { { 0 } };
        r = app_holders(app, &k.sizes, &holders, &herr);
        if (r < 0 && r != -ENOMEM)
                holders = json_null();
        json_t *floors = floors_to_json(app->vopts.floors);
        kernel_release(&k);
        pthread_mutex_lock(&app->state_lock);
        json_t *restart = app->restart_note[0] ? json_string(app->restart_note) : json_null();
        pthread_mutex_unlock(&app->state_lock);
        json_t *safe = json_pack("{s:b, s:o}", "active", app->safe.active, "source",
                                 app->safe.active ? json_string(app->safe.source) : json_null());
        if (!boot || !kubelet || !kernel || !restart || !safe || !holders || !floors) {
                json_decref(boot);
                json_decref(kubelet);
                json_decref(kernel);
                json_decref(restart);
                json_decref(safe);
                json_decref(holders);
                json_decref(floors);
                return -ENOMEM;
        }
        bool in_sync = json_array_size(drift) == 0;
        json_t *body = json_pack("{s:s, s:s, s:I, s:I, s:O?, s:b, s:O, s:O?, s:O, s:O?, s:O, s:o}", "node_name",
                                 app->node_name, "version", app->version, "generation", (json_int_t) generation,
                                 "confirmed_generation", (json_int_t) confirmed, "desired", desired, "in_sync",
                                 in_sync, "drift", drift, "last_apply", last, "reboot_required", reboot,
                                 "pending_confirm", pending, "journal_recovery", note, "kernel", kernel);
        if (body && (json_object_set_new(body, "safe_mode", safe) < 0 ||
                     json_object_set_new(body, "boot_args", boot) < 0 ||
                     json_object_set_new(body, "kubelet", kubelet) < 0 ||
                     json_object_set_new(body, "last_unit_restart", restart) < 0 ||
                     json_object_set_new(body, "hugetlb_holders", holders) < 0 ||
                     json_object_set_new(body, "floors", floors) < 0)) {
                json_decref(body);
                return -ENOMEM;
        }
        if (!body) {
                json_decref(safe);
                json_decref(boot);
                json_decref(kubelet);
                json_decref(restart);
                json_decref(holders);
                json_decref(floors);
        }
        r = response_json(ret, 200, body);
        /* An answer that cannot be kept is still sent; the next one is
         * built again. */
        if (r == 0)
                (void) answer_cache_store(&app->status_answer, epoch, ret);
        return r;

oom:
        kernel_release(&k);
        return -ENOMEM;
}
