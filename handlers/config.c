/* PUT /config: validate, record, apply, read back, answer what the kernel
 * really did.
 *
 * The order matters. Validation runs against the kernel as it is at this
 * moment, under apply_lock so that no other apply changes it meanwhile. The
 * config is made durable before the first sysfs write: if the store cannot
 * be written, the kernel is not touched (a 500), and if the service dies
 * halfway through the writes, the stored desired config still says what was
 * meant. PUT is idempotent: the same config again keeps its generation and is
 * applied again, which also repairs drift. */
#include <errno.h>
#include <string.h>
#include <time.h>

#include "../model/apply.h"
#include "../model/cleanup.h"
#include "../model/config.h"
#include "../model/validate.h"
#include "app.h"
#include "input.h"
#include "kernel.h"
#include "report.h"

static void now_iso(char buf[32])
{
        time_t t = time(NULL);
        struct tm tm;
        gmtime_r(&t, &tm);
        strftime(buf, 32, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static int apply_locked(struct app *app, const struct request *req, struct response *ret)
{
        struct config c;
        int r = input_config(req, &c, ret);
        if (r != 0)
                return r < 0 ? r : 0;

        struct kernel k = { 0 };
        struct validation v = { 0 };
        struct apply_result res = { 0 };
        struct errbuf err = { { 0 } };
        _cleanup_json_ json_t *canonical = NULL;
        _cleanup_json_ json_t *report = NULL;

        r = kernel_read(app, &k, &err);
        if (r < 0) {
                config_release(&c);
                return kernel_problem(ret, r, req->path, &err);
        }
        r = validate_config(&c, &k.sizes, &k.thp, &app->vopts, &v);
        if (r < 0)
                goto out;
        if (!validation_ok(&v)) {
                r = response_problem(ret, 422, "config-rejected", req->path,
                                     "the config does not fit this node: %zu error%s, listed in errors; nothing "
                                     "was changed",
                                     v.errors.n, v.errors.n == 1 ? "" : "s");
                if (r == 0)
                        r = response_add_findings(ret, "errors", &v.errors);
                if (r == 0)
                        r = response_add_findings(ret, "warnings", &v.warnings);
                goto out;
        }

        canonical = config_to_json(&c);
        if (!canonical) {
                r = -ENOMEM;
                goto out;
        }

        pthread_mutex_lock(&app->state_lock);
        uint64_t generation = app->generation;
        bool same = app->desired && json_equal(app->desired, canonical);
        pthread_mutex_unlock(&app->state_lock);

        if (!same) {
                generation++;
                r = store_save(&app->store, generation, canonical, req->caller ? req->caller : "", &err);
                if (r < 0) {
                        r = response_problem(ret, 500, "store", req->path,
                                             "the config could not be recorded, so nothing was applied: %s", err.msg);
                        goto out;
                }
                pthread_mutex_lock(&app->state_lock);
                json_decref(app->desired);
                app->desired = json_incref(canonical);
                app->generation = generation;
                pthread_mutex_unlock(&app->state_lock);
        }

        r = apply_config(&app->fs, &c, &k.sizes, &k.thp, &res);
        if (r < 0)
                goto out;

        report = report_apply(&res);
        char when[32];
        now_iso(when);
        if (!report || json_object_set_new(report, "generation", json_integer((json_int_t) generation)) < 0 ||
            json_object_set_new(report, "time", json_string(when)) < 0) {
                r = -ENOMEM;
                goto out;
        }
        json_t *last = json_deep_copy(report);
        if (!last) {
                r = -ENOMEM;
                goto out;
        }
        pthread_mutex_lock(&app->state_lock);
        json_decref(app->last_apply);
        app->last_apply = last;
        pthread_mutex_unlock(&app->state_lock);

        if (json_object_set(report, "config", canonical) < 0 ||
            json_object_set_new(report, "warnings", findings_to_json(&v.warnings)) < 0 ||
            json_object_set_new(report, "reboot_required", findings_to_json(&v.reboot_required)) < 0) {
                r = -ENOMEM;
                goto out;
        }

        /* A write the kernel refused is an error the client must not miss,
         * so it is a problem response; the report travels inside it, since
         * the other writes did happen. A short allocation is not an error:
         * the kernel did what it could, and the report says how much. */
        const char *first_error = NULL;
        size_t refused = 0;
        for (size_t i = 0; i < res.n_items; i++)
                if (res.items[i].status == APPLY_FAILED) {
                        refused++;
                        first_error = first_error ? first_error : res.items[i].error;
                }
        for (size_t i = 0; i < res.n_thp; i++)
                if (res.thp[i].status == APPLY_FAILED) {
                        refused++;
                        first_error = first_error ? first_error : res.thp[i].error;
                }
        if (refused > 0) {
                r = response_problem(ret, 500, "kernel-write-failed", req->path,
                                     "%zu write%s failed, so the node holds only part of generation %llu; the first: %s",
                                     refused, refused == 1 ? " was refused or" : "s were refused or",
                                     (unsigned long long) generation, first_error);
                if (r == 0 && json_object_update(ret->body, report) < 0)
                        r = -ENOMEM;
                goto out;
        }
        r = response_json(ret, 200, TAKE_PTR(report));
        if (r == 0)
                snprintf(ret->etag, sizeof(ret->etag), "\"%llu\"", (unsigned long long) generation);
out:
        apply_result_release(&res);
        validation_release(&v);
        kernel_release(&k);
        config_release(&c);
        return r;
}

int handle_config_put(struct app *app, const struct request *req, struct response *ret)
{
        if (pthread_mutex_trylock(&app->apply_lock) != 0)
                return response_problem(ret, 409, "apply-in-progress", req->path,
                                        "another apply is running; try again when it has finished");
        int r = apply_locked(app, req, ret);
        pthread_mutex_unlock(&app->apply_lock);
        return r;
}
