/* POST /probe and GET /probe/{id}: the probe (model/probe.h) run by the
 * service. One probe at a time on the node (the model's lock file also
 * keeps out a console "hugepaged probe"): POST starts one in a thread of
 * its own and answers 202 with its location at once; GET polls its
 * progress, and gives the results when it is done. The last probe is kept
 * until the next one starts; a POST while one runs is a 409. */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../model/cleanup.h"
#include "../model/probe.h"
#include "../model/quantity.h"
#include "app.h"

struct probe_slot {
        uint64_t id;
        struct probe probe;
        pthread_t thread;
        atomic_bool done;
        int r;              /* probe_run's return, once done */
        struct errbuf err;  /* its message, once done */
        struct app *app;
};

static pthread_mutex_t slot_lock = PTHREAD_MUTEX_INITIALIZER;
static uint64_t last_id;

static void *run(void *arg)
{
        struct probe_slot *s = arg;
        s->r = probe_run(&s->probe, &s->app->fs, journal_dir(s->app->journal), &s->err);
        atomic_store(&s->done, true);
        return NULL;
}

static void slot_free(struct probe_slot *s)
{
        if (!s)
                return;
        pthread_join(s->thread, NULL);
        probe_release(&s->probe);
        free(s);
}

void probe_slot_release(struct app *app)
{
        pthread_mutex_lock(&slot_lock);
        struct probe_slot *s = app->probe;
        app->probe = NULL;
        pthread_mutex_unlock(&slot_lock);
        if (s && !atomic_load(&s->done))
                probe_cancel(&s->probe);
        slot_free(s);
}

/* The request body: every member optional.
 *   {"working_sets": ["64Mi", "1Gi"], "backings": ["base", "thp", "2Mi"],
 *    "stride": "page" | "line", "rounds": 5, "grow_pool": false,
 *    "max_seconds": 600, "seed": 1} */
static int parse_request(const struct request *req, struct probe_request *ret, struct findings *errors)
{
        *ret = (struct probe_request) { .cpu = -1 };
        ret->working_sets[ret->n_sets++] = 256ull << 20;
        if (req->body_len == 0)
                return 0;
        json_error_t je;
        _cleanup_json_ json_t *doc = json_loadb(req->body, req->body_len, JSON_REJECT_DUPLICATES, &je);
        if (!doc || !json_is_object(doc))
                return findings_add(errors, "", doc ? "wrong_type" : "invalid_json", "%s",
                                    doc ? "the body must be a JSON object" : je.text) ?: -EINVAL;
        const char *key;
        json_t *v;
        json_object_foreach(doc, key, v)
        {
                char ptr[96];
                snprintf(ptr, sizeof(ptr), "/%.80s", key);
                if (strcmp(key, "working_sets") == 0) {
                        size_t i;
                        json_t *e;
                        if (!json_is_array(v) || json_array_size(v) == 0 || json_array_size(v) > PROBE_MAX_SETS) {
                                if (findings_add(errors, ptr, "wrong_type", "a list of 1 to %d sizes such as \"64Mi\"",
                                                 PROBE_MAX_SETS) < 0)
                                        return -ENOMEM;
                                continue;
                        }
                        ret->n_sets = 0;
                        json_array_foreach(v, i, e)
                        {
                                uint64_t bytes;
                                if (!json_is_string(e) || quantity_parse(json_string_value(e), &bytes) < 0 ||
                                    bytes == 0) {
                                        if (findings_add(errors, ptr, "invalid_quantity",
                                                         "item %zu is not a size such as \"64Mi\"", i) < 0)
                                                return -ENOMEM;
                                } else
                                        ret->working_sets[ret->n_sets++] = bytes;
                        }
                } else if (strcmp(key, "backings") == 0) {
                        size_t i;
                        json_t *e;
                        if (!json_is_array(v) || json_array_size(v) == 0 ||
                            json_array_size(v) > PROBE_MAX_BACKINGS) {
                                if (findings_add(errors, ptr, "wrong_type",
                                                 "a list of 1 to %d of \"base\", \"thp\" and hugetlb sizes",
                                                 PROBE_MAX_BACKINGS) < 0)
                                        return -ENOMEM;
                                continue;
                        }
                        json_array_foreach(v, i, e)
                        {
                                if (!json_is_string(e) ||
                                    probe_parse_backing(json_string_value(e), &ret->backings[ret->n_backings]) < 0) {
                                        if (findings_add(errors, ptr, "invalid_backing",
                                                         "item %zu is not \"base\", \"thp\" or a hugetlb size", i) < 0)
                                                return -ENOMEM;
                                } else
                                        ret->n_backings++;
                        }
                } else if (strcmp(key, "stride") == 0) {
                        const char *w = json_string_value(v);
                        if (w && strcmp(w, "page") == 0)
                                ret->stride = PROBE_STRIDE_PAGE;
                        else if (w && strcmp(w, "line") == 0)
                                ret->stride = PROBE_STRIDE_LINE;
                        else if (findings_add(errors, ptr, "wrong_type", "\"page\" or \"line\"") < 0)
                                return -ENOMEM;
                } else if (strcmp(key, "rounds") == 0 || strcmp(key, "max_seconds") == 0 ||
                           strcmp(key, "seed") == 0) {
                        bool rounds = key[0] == 'r', secs = key[0] == 'm';
                        json_int_t n = json_is_integer(v) ? json_integer_value(v) : -1;
                        json_int_t max = rounds ? PROBE_MAX_ROUNDS : secs ? 3600 : INT64_MAX;
                        if (n < 1 || n > max) {
                                if (findings_add(errors, ptr, "wrong_type", "an integer from 1 to %lld",
                                                 (long long) max) < 0)
                                        return -ENOMEM;
                        } else if (rounds)
                                ret->rounds = (unsigned) n;
                        else if (secs)
                                ret->max_seconds = (unsigned) n;
                        else
                                ret->seed = (uint64_t) n;
                } else if (strcmp(key, "grow_pool") == 0) {
                        if (!json_is_boolean(v)) {
                                if (findings_add(errors, ptr, "wrong_type", "true or false") < 0)
                                        return -ENOMEM;
                        } else
                                ret->grow_pool = json_is_true(v);
                } else if (findings_add(errors, ptr, "unknown_field",
                                        "unknown field (working_sets, backings, stride, rounds, grow_pool, "
                                        "max_seconds, seed)") < 0)
                        return -ENOMEM;
        }
        return errors->n ? -EINVAL : 0;
}

int handle_probe_start(struct app *app, const struct request *req, struct response *ret)
{
        struct findings errors = { 0 };
        struct probe_request pr;
        int r = parse_request(req, &pr, &errors);
        if (r == -EINVAL) {
                r = response_problem(ret, 400, "invalid-probe", req->path, "the probe request is not valid: %zu problem%s",
                                     errors.n, errors.n == 1 ? "" : "s");
                if (r == 0)
                        r = response_add_findings(ret, "errors", &errors);
                findings_release(&errors);
                return r;
        }
        findings_release(&errors);
        if (r < 0)
                return r;
        pr.base_page_kb = app->base_page_kb;

        pthread_mutex_lock(&slot_lock);
        struct probe_slot *old = app->probe;
        if (old && !atomic_load(&old->done)) {
                uint64_t id = old->id;
                pthread_mutex_unlock(&slot_lock);
                snprintf(ret->location, sizeof(ret->location), "/probe/%" PRIu64, id);
                return response_problem(ret, 409, "probe-running", req->path,
                                        "probe %" PRIu64 " is still running (GET /probe/%" PRIu64 ")", id, id);
        }
        struct probe_slot *s = calloc(1, sizeof(*s));
        if (!s) {
                pthread_mutex_unlock(&slot_lock);
                return -ENOMEM;
        }
        s->app = app;
        r = probe_init(&s->probe, &pr, &s->err);
        if (r < 0) {
                pthread_mutex_unlock(&slot_lock);
                r = response_problem(ret, 400, "invalid-probe", req->path, "%s", s->err.msg);
                free(s);
                return r;
        }
        s->id = ++last_id;
        r = -pthread_create(&s->thread, NULL, run, s);
        if (r < 0) {
                pthread_mutex_unlock(&slot_lock);
                probe_release(&s->probe);
                free(s);
                return response_problem(ret, 503, "probe", req->path, "cannot start the probe: %s", strerror(-r));
        }
        app->probe = s;
        pthread_mutex_unlock(&slot_lock);
        slot_free(old); /* finished: its thread is joined at once */

        snprintf(ret->location, sizeof(ret->location), "/probe/%" PRIu64, s->id);
        return response_json(ret, 202, json_pack("{s:I, s:s, s:s}", "id", (json_int_t) s->id, "state", "running",
                                                 "location", ret->location));
}

int handle_probe_get(struct app *app, const struct request *req, struct response *ret)
{
        char *end;
        uint64_t id = strtoull(req->path + strlen("/probe/"), &end, 10);
        pthread_mutex_lock(&slot_lock);
        struct probe_slot *s = app->probe;
        if (!s || s->id != id || *end) {
                pthread_mutex_unlock(&slot_lock);
                return response_problem(ret, 404, "unknown-probe", req->path,
                                        "no probe %s here: only the last one is kept (POST /probe starts one)",
                                        req->path + strlen("/probe/"));
        }
        struct probe_progress pp;
        probe_progress(&s->probe, &pp);
        bool done = atomic_load(&s->done);
        json_t *body = json_pack("{s:I, s:s, s:{s:s, s:I, s:I}}", "id", (json_int_t) s->id, "state",
                                 !done ? "running" : s->r < 0 ? "failed" : pp.cancelled ? "cancelled" : "done",
                                 "progress", "phase", probe_phase_name(pp.phase), "rounds_done",
                                 (json_int_t) pp.rounds_done, "rounds_total", (json_int_t) pp.rounds_total);
        if (body)
                json_object_set_new(body, "error", done && s->r < 0 ? json_string(s->err.msg) : json_null());
        if (body)
                json_object_set_new(body, "result", done && s->r >= 0 ? probe_to_json(&s->probe) : json_null());
        pthread_mutex_unlock(&slot_lock);
        return response_json(ret, 200, body);
}
