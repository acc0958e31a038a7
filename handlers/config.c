/* The config and its history: GET and PUT /config, GET /config/history,
 * POST /config/confirm, POST /config/revert and POST /config/rollback.
 *
 * A change runs under apply_lock (a second one meanwhile gets 409) and the
 * journal's file lock (console commands in other processes take it too);
 * the model's change protocol journals each step before anyone hears of it
 * (model/change.h). PUT is idempotent: the same config again keeps its
 * generation and is applied again, which also repairs drift.
 *
 * Optimistic concurrency: the ETag of /config is the generation. A change
 * with If-Match that names another generation gets 412; without If-Match
 * it is applied unconditionally, unless the service runs with
 * --require-if-match, which answers 428. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../model/change.h"
#include "../model/cleanup.h"
#include "../model/config.h"
#include "app.h"
#include "input.h"
#include "kernel.h"

#define CONFIRM_MAX_S (24 * 3600)

static void set_etag(struct response *ret, uint64_t generation)
{
        snprintf(ret->etag, sizeof(ret->etag), "\"%" PRIu64 "\"", generation);
}

static json_t *iso_time(int64_t t)
{
        char buf[32];
        journal_format_time(t, buf);
        return json_string(buf);
}

int handle_config_get(struct app *app, const struct request *req, struct response *ret)
{
        (void) req;
        struct snapshot s;
        app_snapshot(app, &s);
        json_t *body = json_pack("{s:I, s:O?}", "generation", (json_int_t) s.generation, "config", s.desired);
        snapshot_release(&s);
        int r = response_json(ret, 200, body);
        if (r == 0)
                set_etag(ret, s.generation);
        return r;
}

int handle_config_history(struct app *app, const struct request *req, struct response *ret)
{
        (void) req;
        struct snapshot s;
        app_snapshot(app, &s);
        json_t *body = json_pack("{s:I, s:I, s:O}", "generation", (json_int_t) s.generation, "confirmed_generation",
                                 (json_int_t) s.confirmed_generation, "generations", s.history);
        snapshot_release(&s);
        return response_json(ret, 200, body);
}

/* 0 when the request may change generation `current`; 1 with a problem. */
static int check_if_match(const struct app *app, const struct request *req, uint64_t current, struct response *ret)
{
        int r;
        if (!req->if_match) {
                if (!app->require_if_match)
                        return 0;
                r = response_problem(ret, 428, "precondition-required", req->path,
                                     "this service requires If-Match with the ETag of GET /config (now \"%" PRIu64
                                     "\")",
                                     current);
                return r < 0 ? r : 1;
        }
        if (strcmp(req->if_match, "*") == 0)
                return 0;
        char want[32];
        snprintf(want, sizeof(want), "\"%" PRIu64 "\"", current);
        /* A list of ETags is allowed; weak ones never match (RFC 9110). */
        const char *p = req->if_match;
        size_t wl = strlen(want);
        while (*p) {
                while (*p == ' ' || *p == ',')
                        p++;
                if (strncmp(p, want, wl) == 0 && (p[wl] == '\0' || p[wl] == ',' || p[wl] == ' '))
                        return 0;
                while (*p && *p != ',')
                        p++;
        }
        r = response_problem(ret, 412, "precondition-failed", req->path,
                             "If-Match %s does not name the current generation %" PRIu64
                             "; GET /config and try again",
                             req->if_match, current);
        if (r == 0)
                set_etag(ret, current);
        return r < 0 ? r : 1;
}

/* ?confirm_within=SECONDS: 0 when absent; 1 with a problem when bad. */
static int parse_confirm_within(const struct request *req, int64_t *ret_s, struct response *ret)
{
        *ret_s = 0;
        if (!req->confirm_within)
                return 0;
        char *end;
        errno = 0;
        long long v = strtoll(req->confirm_within, &end, 10);
        if (req->confirm_within[0] < '1' || req->confirm_within[0] > '9' || *end || errno || v > CONFIRM_MAX_S) {
                int r = response_problem(ret, 400, "invalid-query", req->path,
                                         "confirm_within must be a whole number of seconds from 1 to %d, not \"%s\"",
                                         CONFIRM_MAX_S, req->confirm_within);
                return r < 0 ? r : 1;
        }
        *ret_s = v;
        return 0;
}

/* Answers a report of kernel writes (taken): 200 with it, or, when a write
 * was refused or the journal failed after the kernel was written, a 500
 * problem that carries it. res is borrowed. */
static int answer_report(const struct request *req, const struct change_result *res, json_t *report,
                         struct response *ret)
{
        _cleanup_json_ json_t *owned = report;
        int r;
        /* A write the kernel refused is an error the client must not miss,
         * so it is a problem response; the report travels inside it, since
         * the other writes did happen. A short allocation is not an error:
         * the kernel did what it could, and the report says how much. */
        const char *first_error = NULL;
        size_t refused = 0;
        for (size_t i = 0; i < res->apply.n_items; i++)
                if (res->apply.items[i].status == APPLY_FAILED) {
                        refused++;
                        first_error = first_error ? first_error : res->apply.items[i].error;
                }
        for (size_t i = 0; i < res->apply.n_thp; i++)
                if (res->apply.thp[i].status == APPLY_FAILED) {
                        refused++;
                        first_error = first_error ? first_error : res->apply.thp[i].error;
                }
        if (refused > 0 || res->journal_failed) {
                if (refused > 0)
                        r = response_problem(ret, 500, "kernel-write-failed", req->path,
                                             "%zu write%s failed, so the node holds only part of generation %" PRIu64
                                             "; the first: %s",
                                             refused, refused == 1 ? " was refused or" : "s were refused or",
                                             res->generation, first_error);
                else
                        r = response_problem(ret, 500, "journal", req->path, "%s", res->message);
                if (r == 0 && json_object_update(ret->body, owned) < 0)
                        r = -ENOMEM;
                return r;
        }
        r = response_json(ret, 200, TAKE_PTR(owned));
        if (r == 0)
                set_etag(ret, res->generation);
        return r;
}

/* The answer to a change, from the model's result. */
static int change_response(const struct request *req, struct change_result *res, struct response *ret)
{
        int r;
        switch (res->outcome) {
        case CHANGE_INVALID:
                r = response_problem(ret, 422, "config-rejected", req->path,
                                     "the config does not fit this node: %zu error%s, listed in errors; nothing "
                                     "was changed",
                                     res->validation.errors.n, res->validation.errors.n == 1 ? "" : "s");
                if (r == 0)
                        r = response_add_findings(ret, "errors", &res->validation.errors);
                if (r == 0)
                        r = response_add_findings(ret, "warnings", &res->validation.warnings);
                return r;
        case CHANGE_PENDING:
                return response_problem(ret, 409, "confirm-pending", req->path, "%s", res->message);
        case CHANGE_NO_KERNEL:
                return response_problem(ret, 500, "kernel-state", req->path, "%s", res->message);
        case CHANGE_NO_DISK:
                if (res->error == -ENOSPC || res->error == -EDQUOT)
                        return response_problem(ret, 507, "insufficient-storage", req->path, "%s", res->message);
                return response_problem(ret, 500, "journal", req->path, "%s", res->message);
        case CHANGE_DONE:
                break;
        }

        _cleanup_json_ json_t *report = apply_result_to_json(&res->apply);
        char when[32];
        journal_format_time((int64_t) time(NULL), when);
        if (!report || json_object_set_new(report, "generation", json_integer((json_int_t) res->generation)) < 0 ||
            json_object_set_new(report, "time", json_string(when)) < 0 ||
            json_object_set(report, "config", res->config) < 0 ||
            json_object_set_new(report, "warnings", findings_to_json(&res->validation.warnings)) < 0 ||
            json_object_set_new(report, "reboot_required", findings_to_json(&res->validation.reboot_required)) < 0 ||
            json_object_set_new(report, "confirm_deadline",
                                res->deadline ? iso_time(res->deadline) : json_null()) < 0)
                return -ENOMEM;

        return answer_report(req, res, TAKE_PTR(report), ret);
}

/* Runs a change of config c (borrowed); origin as for change_apply. */
static int run_change(struct app *app, const struct request *req, const struct config *c, uint64_t origin,
                      int64_t confirm_within_s, struct response *ret)
{
        struct change_ctx ctx = app_change_ctx(app);
        struct change_result res;
        int r = change_apply(&ctx, c, req->caller ? req->caller : "", origin, confirm_within_s, &res);
        if (r == 0) {
                app_count_change(app, &res);
                r = change_response(req, &res, ret);
        }
        change_result_release(&res);
        return r;
}

/* Takes both locks for a change, or answers why not. Returns 0 with the
 * locks held, 1 with a problem in ret. */
static int lock_change(struct app *app, const struct request *req, struct response *ret)
{
        /* The watcher takes the lock now and then for a few milliseconds;
         * wait that long, but not for a real change. */
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_nsec += 300 * 1000 * 1000;
        if (until.tv_nsec >= 1000000000) {
                until.tv_sec++;
                until.tv_nsec -= 1000000000;
        }
        if (pthread_mutex_timedlock(&app->apply_lock, &until) != 0) {
                int r = response_problem(ret, 409, "apply-in-progress", req->path,
                                         "another change is running; try again when it has finished");
                return r < 0 ? r : 1;
        }
        struct errbuf err = { { 0 } };
        if (journal_lock(app->journal, &err) < 0) {
                pthread_mutex_unlock(&app->apply_lock);
                int r = response_problem(ret, 500, "journal", req->path, "%s", err.msg);
                return r < 0 ? r : 1;
        }
        return 0;
}

static void unlock_change(struct app *app)
{
        (void) app_publish(app);
        journal_unlock(app->journal);
        pthread_mutex_unlock(&app->apply_lock);
}

int handle_config_put(struct app *app, const struct request *req, struct response *ret)
{
        int64_t within;
        int r = parse_confirm_within(req, &within, ret);
        if (r != 0)
                return r < 0 ? r : 0;
        struct config c;
        r = input_config(req, &c, ret);
        if (r != 0)
                return r < 0 ? r : 0;

        r = lock_change(app, req, ret);
        if (r == 0) {
                struct journal_state st;
                journal_state(app->journal, &st);
                r = check_if_match(app, req, st.generation, ret);
                if (r == 0)
                        r = run_change(app, req, &c, 0, within, ret);
                unlock_change(app);
        }
        config_release(&c);
        return r < 0 ? r : 0;
}

int handle_config_confirm(struct app *app, const struct request *req, struct response *ret)
{
        int r = lock_change(app, req, ret);
        if (r != 0)
                return r < 0 ? r : 0;
        struct journal_state st;
        journal_state(app->journal, &st);
        r = check_if_match(app, req, st.generation, ret);
        if (r == 0) {
                struct change_ctx ctx = app_change_ctx(app);
                struct errbuf err = { { 0 } };
                uint64_t gen = 0;
                r = change_confirm(&ctx, req->caller ? req->caller : "", &gen, &err);
                if (r == -ENOENT)
                        r = response_problem(ret, 409, "nothing-pending", req->path, "%s", err.msg);
                else if (r == -ENOSPC)
                        r = response_problem(ret, 507, "insufficient-storage", req->path, "%s", err.msg);
                else if (r < 0 && r != -ENOMEM)
                        r = response_problem(ret, 500, "journal", req->path, "%s", err.msg);
                else if (r == 0) {
                        r = response_json(ret, 200, json_pack("{s:I, s:b}", "generation", (json_int_t) gen,
                                                              "confirmed", 1));
                        if (r == 0)
                                set_etag(ret, gen);
                }
        }
        unlock_change(app);
        return r < 0 ? r : 0;
}

/* The answer to a revert: what was written back, from the model's result. */
static int revert_response(const struct request *req, uint64_t reverted, const struct change_result *res,
                           struct response *ret)
{
        if (res->outcome == CHANGE_NO_KERNEL)
                return response_problem(ret, 500, "kernel-state", req->path, "%s", res->message);
        _cleanup_json_ json_t *report = apply_result_to_json(&res->apply);
        char when[32];
        journal_format_time((int64_t) time(NULL), when);
        if (!report || json_object_set_new(report, "reverted", json_integer((json_int_t) reverted)) < 0 ||
            json_object_set_new(report, "generation", json_integer((json_int_t) res->generation)) < 0 ||
            json_object_set_new(report, "time", json_string(when)) < 0 ||
            json_object_set_new(report, "message", json_string(res->message)) < 0)
                return -ENOMEM;
        return answer_report(req, res, TAKE_PTR(report), ret);
}

/* Undoes the change awaiting confirmation now, as its deadline would: the
 * Revert of a confirm window, when the operator sees the node suffer. */
int handle_config_revert(struct app *app, const struct request *req, struct response *ret)
{
        int r = lock_change(app, req, ret);
        if (r != 0)
                return r < 0 ? r : 0;
        struct journal_state st;
        journal_state(app->journal, &st);
        r = check_if_match(app, req, st.generation, ret);
        if (r == 0 && !st.pending)
                r = response_problem(ret, 409, "nothing-pending", req->path,
                                     "no change awaits confirmation: generation %" PRIu64
                                     " is confirmed (to go back to an earlier one, use POST /config/rollback)",
                                     st.generation);
        else if (r == 0) {
                struct change_ctx ctx = app_change_ctx(app);
                struct change_result res;
                r = change_revert(&ctx, req->caller ? req->caller : "", "operator", &res);
                if (r == 0) {
                        app_count_change(app, &res);
                        r = revert_response(req, st.generation, &res, ret);
                }
                change_result_release(&res);
        }
        unlock_change(app);
        return r < 0 ? r : 0;
}

int handle_config_rollback(struct app *app, const struct request *req, struct response *ret)
{
        int64_t within;
        int r = parse_confirm_within(req, &within, ret);
        if (r != 0)
                return r < 0 ? r : 0;

        /* The body: {"generation": N}. */
        struct findings errors = { 0 };
        _cleanup_json_ json_t *doc = NULL;
        json_int_t target = 0;
        json_error_t je;
        r = config_load(req->body, req->body_len, &doc, &errors);
        if (r == 0) {
                const char *k;
                json_t *v;
                json_object_foreach(doc, k, v) {
                        if (strcmp(k, "generation") == 0)
                                continue;
                        _cleanup_free_ char *ptr = pointer_join("", k);
                        r = !ptr ? -ENOMEM
                                 : findings_add(&errors, ptr, "unknown_field",
                                                "unknown field \"%.64s\" (expected \"generation\")", k) ?: -EINVAL;
                        if (r == -ENOMEM)
                                break;
                }
                if (r != -ENOMEM &&
                    (json_unpack_ex(doc, &je, 0, "{s:I}", "generation", &target) < 0 || target < 1)) {
                        int r2 = findings_add(&errors, "/generation", "wrong_type",
                                              "\"generation\" must be a generation number from GET /config/history");
                        r = r2 < 0 ? r2 : -EINVAL;
                }
        }
        if (r < 0) {
                if (r != -ENOMEM) {
                        r = response_problem(ret, 400, "invalid-rollback", req->path,
                                             "the body is not a rollback request: %zu problem%s, listed in errors",
                                             errors.n, errors.n == 1 ? "" : "s");
                        if (r == 0)
                                r = response_add_findings(ret, "errors", &errors);
                }
                findings_release(&errors);
                return r;
        }
        findings_release(&errors);

        r = lock_change(app, req, ret);
        if (r != 0)
                return r < 0 ? r : 0;
        struct journal_state st;
        journal_state(app->journal, &st);
        r = check_if_match(app, req, st.generation, ret);
        if (r == 0) {
                const struct journal_record *a = journal_find_accepted(app->journal, (uint64_t) target);
                struct config c;
                struct findings f = { 0 };
                if (!a)
                        r = response_problem(ret, 404, "unknown-generation", req->path,
                                             "generation %lld is not in the history (GET /config/history)",
                                             (long long) target);
                else if ((r = config_parse(a->config, &c, &f)) < 0) {
                        if (r != -ENOMEM)
                                r = response_problem(ret, 500, "journal", req->path,
                                                     "the config of generation %lld cannot be read back",
                                                     (long long) target);
                } else {
                        /* Applied like a PUT, validated against today's
                         * machine, as a new generation. */
                        r = run_change(app, req, &c, (uint64_t) target, within, ret);
                        config_release(&c);
                }
                findings_release(&f);
        }
        unlock_change(app);
        return r < 0 ? r : 0;
}
