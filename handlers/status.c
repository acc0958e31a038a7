/* GET /status: the kernel now, the desired config, the last apply and where
 * the two differ. */
#include <errno.h>
#include <string.h>
#include <time.h>

#include "../model/cleanup.h"
#include "../model/config.h"
#include "../model/drift.h"
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

int handle_status(struct app *app, const struct request *req, struct response *ret)
{
        struct kernel k;
        struct errbuf err = { { 0 } };
        int r = kernel_read(app, &k, &err);
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
                        r = validate_config(&c, &k.sizes, &k.thp, &app->vopts, &v);
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

        json_t *kernel = report_sizes(&k.sizes, &k.thp, &app->vopts);
        kernel_release(&k);
        bool in_sync = json_array_size(drift) == 0;
        json_t *body = json_pack("{s:s, s:s, s:I, s:I, s:O?, s:b, s:O, s:O?, s:O, s:O?, s:O, s:o}", "node_name",
                                 app->node_name, "version", app->version, "generation", (json_int_t) generation,
                                 "confirmed_generation", (json_int_t) confirmed, "desired", desired, "in_sync",
                                 in_sync, "drift", drift, "last_apply", last, "reboot_required", reboot,
                                 "pending_confirm", pending, "journal_recovery", note, "kernel", kernel);
        return response_json(ret, 200, body);

oom:
        kernel_release(&k);
        return -ENOMEM;
}
