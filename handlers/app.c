/* See app.h. */
#include "app.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "../model/cleanup.h"
#include "../model/holders.h"
#include "kernel.h"

struct change_ctx app_change_ctx(struct app *app)
{
        return (struct change_ctx) {
                .fs = &app->fs,
                .base_page_kb = app->base_page_kb,
                .vopts = app->vopts,
                .journal = app->journal,
        };
}

static json_t *iso_time(int64_t t)
{
        char buf[32];
        journal_format_time(t, buf);
        return json_string(buf);
}

static json_t *build_history(const struct journal *j, const struct journal_state *st)
{
        size_t n;
        const struct journal_record *recs = journal_records(j, &n);
        json_t *a = json_array();
        for (size_t i = n; a && i-- > 0;) {
                const struct journal_record *r = &recs[i];
                if (r->event != JOURNAL_ACCEPTED)
                        continue;
                /* The last apply of this generation says how it went. */
                json_t *complete = json_null();
                for (size_t k = n; k-- > i;)
                        if (recs[k].event == JOURNAL_APPLIED && recs[k].generation == r->generation) {
                                complete = json_boolean(json_is_true(json_object_get(recs[k].report, "complete")));
                                break;
                        }
                json_t *e = json_pack("{s:I, s:s, s:s, s:s, s:b, s:o, s:o, s:o, s:O}", "generation",
                                      (json_int_t) r->generation, "time", r->time, "who", r->who, "state",
                                      journal_generation_state(j, r->generation), "current",
                                      r->generation == st->generation, "complete", complete, "origin",
                                      r->origin ? json_integer((json_int_t) r->origin) : json_null(), "deadline",
                                      r->deadline ? iso_time(r->deadline) : json_null(), "config", r->config);
                if (!e || json_array_append_new(a, e) < 0) {
                        json_decref(a);
                        return NULL;
                }
        }
        return a;
}

static json_t *build_last_apply(const struct journal_state *st)
{
        const struct journal_record *r = st->last_applied;
        if (!r || !r->report)
                return NULL;
        json_t *o = json_deep_copy(r->report);
        uint64_t gen = r->event == JOURNAL_REVERTED ? r->to : r->generation;
        if (!o || json_object_set_new(o, "generation", json_integer((json_int_t) gen)) < 0 ||
            json_object_set_new(o, "time", json_string(r->time)) < 0) {
                json_decref(o);
                return NULL;
        }
        return o;
}

int app_publish(struct app *app)
{
        struct journal_state st;
        journal_state(app->journal, &st);
        struct snapshot s = {
                .generation = st.generation,
                .desired = json_deep_copy(st.config),
                .confirmed_generation = st.confirmed_generation,
                .pending = st.pending,
                .pending_generation = st.pending ? st.generation : 0,
                .deadline = st.pending ? st.deadline : 0,
                .last_apply = build_last_apply(&st),
                .history = build_history(app->journal, &st),
                .confirmed = json_deep_copy(st.confirmed_config),
        };
        journal_file_id(app->journal, &s.file);
        snprintf(s.journal_note, sizeof(s.journal_note), "%s%s%s", app->start_note,
                 app->start_note[0] && journal_recovery(app->journal)->message[0] ? "; " : "",
                 journal_recovery(app->journal)->message);
        if ((st.config && !s.desired) || !s.history || (st.last_applied && st.last_applied->report && !s.last_apply) ||
            (st.confirmed_config && !s.confirmed)) {
                snapshot_release(&s);
                return -ENOMEM;
        }
        pthread_mutex_lock(&app->state_lock);
        struct snapshot old = app->snap;
        app->snap = s;
        pthread_mutex_unlock(&app->state_lock);
        snapshot_release(&old);
        /* A change may have started or ended a holder's mapping, or moved
         * the pools under it: the next GET /status scans again. */
        atomic_fetch_add(&app->publish_epoch, 1);
        if (app->on_publish) {
                app->on_publish(app, &st, app->on_publish_cls);
                /* It records boot arguments and unit restarts, which
                 * GET /status shows: no answer built meanwhile is kept. */
                atomic_fetch_add(&app->publish_epoch, 1);
        }
        return 0;
}

static int64_t monotonic_ms(void)
{
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (int64_t) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Refreshes the cache if it is stale; c->lock held. */
static int refresh(struct app *app, const struct sizes *s)
{
        struct holders_cache *c = &app->holders;
        unsigned long epoch = atomic_load(&app->publish_epoch);
        int64_t now = monotonic_ms();
        bool fresh = c->scans > 0 && c->epoch == epoch && now - c->scanned_ms < HOLDERS_CACHE_MS;
        if (!fresh) {
                /* The epoch is read before the scan: a change published
                 * while it runs makes the next reader scan again. */
                struct holders h;
                struct errbuf why = { { 0 } };
                int r = holders_scan(&app->fs, s, NULL, &h, &why);
                if (r == -ENOMEM)
                        return r;
                json_t *j = r == 0 ? holders_to_json(&h) : NULL;
                if (r == 0)
                        holders_release(&h);
                if (r == 0 && !j)
                        return -ENOMEM;
                struct errbuf ignore = { { 0 } };
                struct kubelet_info k;
                if (kubelet_find(&app->fs, &k, &ignore) < 0)
                        k = (struct kubelet_info) { .found = false };
                json_decref(c->json);
                c->json = j;
                c->kubelet = k;
                snprintf(c->error, sizeof(c->error), "%s", r < 0 ? why.msg : "");
                c->scanned_ms = now;
                c->epoch = epoch;
                c->scans++;
        }
        return 0;
}

void app_kubelet(struct app *app, const struct sizes *s, struct kubelet_info *ret)
{
        struct holders_cache *c = &app->holders;
        pthread_mutex_lock(&c->lock);
        if (refresh(app, s) < 0)
                *ret = (struct kubelet_info) { .found = false };
        else
                *ret = c->kubelet;
        pthread_mutex_unlock(&c->lock);
}

int app_holders(struct app *app, const struct sizes *s, json_t **ret, struct errbuf *err)
{
        struct holders_cache *c = &app->holders;
        pthread_mutex_lock(&c->lock);
        int r = refresh(app, s);
        if (r < 0) {
                pthread_mutex_unlock(&c->lock);
                return r;
        }
        if (c->json)
                *ret = json_incref(c->json);
        else
                r = errbuf_set(err, -EIO, "%s", c->error);
        pthread_mutex_unlock(&c->lock);
        return r;
}

void app_snapshot(struct app *app, struct snapshot *ret)
{
        pthread_mutex_lock(&app->state_lock);
        *ret = app->snap;
        json_incref(ret->desired);
        json_incref(ret->last_apply);
        json_incref(ret->history);
        json_incref(ret->confirmed);
        pthread_mutex_unlock(&app->state_lock);
}

void snapshot_release(struct snapshot *s)
{
        if (!s)
                return;
        json_decref(s->desired);
        json_decref(s->last_apply);
        json_decref(s->history);
        json_decref(s->confirmed);
        s->desired = s->last_apply = s->history = s->confirmed = NULL;
}

/* Reverts a pending change (why: "restart", "deadline"); with the locks
 * held. Logs nothing: the journal and the snapshot say it. */
static int revert_pending(struct app *app, const char *reason, struct errbuf *err)
{
        struct change_ctx ctx = app_change_ctx(app);
        struct change_result res;
        int r = change_revert(&ctx, "hugepaged", reason, &res);
        if (r == -ENOENT)
                return 0;
        if (r == 0)
                app_count_change(app, &res);
        if (r == 0 && (res.outcome != CHANGE_DONE || res.journal_failed))
                r = errbuf_set(err, -EIO, "%s", res.message);
        change_result_release(&res);
        return r;
}

int app_init(struct app *app, struct errbuf *err)
{
        pthread_mutex_init(&app->state_lock, NULL);
        pthread_mutex_init(&app->apply_lock, NULL);
        pthread_mutex_init(&app->holders.lock, NULL);
        answer_cache_init(&app->status_answer);
        answer_cache_init(&app->sizes_answer);
        answer_cache_init(&app->metrics_answer);
        pthread_mutex_lock(&app->apply_lock);
        int r = journal_lock(app->journal, err);
        if (r == 0) {
                /* A change nobody confirmed does not outlive the process
                 * that made it: a crash mid-apply, or a restart inside the
                 * confirm window. If the kernel cannot be written now, the
                 * service still starts (to show why), and says so. */
                struct errbuf why = { { 0 } };
                if (revert_pending(app, "restart", &why) < 0)
                        snprintf(app->start_note, sizeof(app->start_note),
                                 "a change left unconfirmed by the last run could not be reverted: %.400s", why.msg);
                r = app_publish(app);
                journal_unlock(app->journal);
        }
        pthread_mutex_unlock(&app->apply_lock);
        return r;
}

/* Whether the watcher has work: a window that ran out, a change left
 * pending by an interrupted apply (deadline 0: a change always closes
 * itself unless its journal records failed), or a journal another process
 * changed. Reads only the snapshot and the file's identity on disk, so it
 * never holds up a change. */
static bool watcher_has_work(struct app *app)
{
        pthread_mutex_lock(&app->state_lock);
        bool pending = app->snap.pending;
        int64_t deadline = app->snap.deadline;
        struct journal_file_id known = app->snap.file;
        pthread_mutex_unlock(&app->state_lock);
        if (pending && (deadline == 0 || time(NULL) >= deadline))
                return true;
        struct journal_file_id now;
        if (journal_peek(app->journal, &now) < 0)
                return false;
        return now.dev != known.dev || now.ino != known.ino || now.size != known.size;
}

/* Every 200 ms: revert a change whose window ran out or whose apply was
 * interrupted; pick up what a console command changed. */
static void *watch(void *arg)
{
        struct app *app = arg;
        while (!app->stopping) {
                struct timespec ts = { .tv_sec = 0, .tv_nsec = 200 * 1000 * 1000 };
                nanosleep(&ts, NULL);
                if (!watcher_has_work(app) || pthread_mutex_trylock(&app->apply_lock) != 0)
                        continue;
                struct errbuf err = { { 0 } };
                if (journal_lock(app->journal, &err) == 0) {
                        struct journal_state st;
                        journal_state(app->journal, &st);
                        if (st.pending && st.deadline && time(NULL) >= st.deadline)
                                (void) revert_pending(app, "deadline", &err);
                        else if (st.pending && st.deadline == 0)
                                (void) revert_pending(app, "interrupted", &err);
                        (void) app_publish(app);
                        journal_unlock(app->journal);
                }
                pthread_mutex_unlock(&app->apply_lock);
        }
        return NULL;
}

int app_start(struct app *app)
{
        int r = pthread_create(&app->watcher, NULL, watch, app);
        if (r != 0)
                return -r;
        app->watcher_running = true;
        return 0;
}

void app_release(struct app *app)
{
        if (!app)
                return;
        app->stopping = true;
        probe_slot_release(app);
        if (app->watcher_running)
                pthread_join(app->watcher, NULL);
        app->watcher_running = false;
        snapshot_release(&app->snap);
        json_decref(app->holders.json);
        app->holders.json = NULL;
        pthread_mutex_destroy(&app->holders.lock);
        answer_cache_release(&app->status_answer);
        answer_cache_release(&app->sizes_answer);
        answer_cache_release(&app->metrics_answer);
        pthread_mutex_destroy(&app->state_lock);
        pthread_mutex_destroy(&app->apply_lock);
}

int kernel_read(const struct app *app, struct kernel *ret, struct errbuf *err)
{
        struct kernel k = { 0 };
        int r = sizes_read(&app->fs, app->base_page_kb, &k.sizes, err);
        if (r < 0)
                return r;
        r = thp_read(&app->fs, &k.thp, err);
        if (r < 0) {
                sizes_release(&k.sizes);
                return r;
        }
        *ret = k;
        return 0;
}

void kernel_release(struct kernel *k)
{
        if (k)
                sizes_release(&k->sizes);
}

int kernel_problem(struct response *resp, int r, const char *instance, const struct errbuf *err)
{
        if (r == -ENOMEM)
                return r;
        return response_problem(resp, 500, "kernel-state", instance,
                                "cannot read the kernel's hugepage state: %s", err->msg);
}

const char *app_outcome_name(enum app_outcome o)
{
        static const char *const names[] = { "complete", "partial", "failed", "invalid", "refused" };
        return o < _APP_OUTCOME_MAX ? names[o] : "?";
}

void app_count_change(struct app *app, const struct change_result *res)
{
        enum app_outcome o = APP_OUTCOME_REFUSED;
        if (res->outcome == CHANGE_INVALID)
                o = APP_OUTCOME_INVALID;
        else if (res->outcome == CHANGE_DONE) {
                bool refused = res->journal_failed;
                bool short_pages = false;
                for (size_t i = 0; i < res->apply.n_items; i++) {
                        refused |= res->apply.items[i].status == APPLY_FAILED;
                        short_pages |= res->apply.items[i].status != APPLY_OK;
                }
                for (size_t i = 0; i < res->apply.n_thp; i++)
                        refused |= res->apply.thp[i].status == APPLY_FAILED;
                o = refused ? APP_OUTCOME_FAILED : short_pages ? APP_OUTCOME_PARTIAL : APP_OUTCOME_COMPLETE;
        }
        atomic_fetch_add(&app->applies[o], 1);
}
