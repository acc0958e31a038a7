/* See change.h. */
#include "change.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "cleanup.h"

/* The deadline in whole seconds, rounded up: the window is never shorter
 * than asked. */
static int64_t deadline_after(int64_t seconds)
{
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        return (int64_t) ts.tv_sec + seconds + (ts.tv_nsec > 0 ? 1 : 0);
}

static int read_kernel(const struct change_ctx *ctx, struct sizes *s, struct thp *t, struct errbuf *err)
{
        int r = sizes_read(ctx->fs, ctx->base_page_kb, s, err);
        if (r < 0)
                return r;
        r = thp_read(ctx->fs, t, err);
        if (r < 0)
                sizes_release(s);
        return r;
}

static void fail(struct change_result *ret, enum change_outcome o, int error, const char *what,
                 const struct errbuf *err)
{
        ret->outcome = o;
        ret->error = error;
        snprintf(ret->message, sizeof(ret->message), "%s: %s", what, err->msg);
}

/* Journals the apply report of generation gen. */
static int journal_applied(const struct change_ctx *ctx, uint64_t gen, const char *who, json_t *report,
                           struct errbuf *err)
{
        struct journal_record rec = { .event = JOURNAL_APPLIED, .generation = gen, .report = report };
        snprintf(rec.who, sizeof(rec.who), "%s", who);
        return journal_append(ctx->journal, &rec, err);
}


int change_apply(const struct change_ctx *ctx, const struct config *c, const char *who, uint64_t origin,
                 int64_t confirm_within_s, struct change_result *ret)
{
        *ret = (struct change_result) { 0 };
        struct errbuf err = { { 0 } };
        struct sizes s = { 0 };
        struct thp t = { 0 };
        _cleanup_json_ json_t *report = NULL;
        _cleanup_json_ json_t *ret_before = NULL; /* what a new generation replaced */
        int r;

        struct journal_state st;
        journal_state(ctx->journal, &st);
        if (st.pending) {
                ret->outcome = CHANGE_PENDING;
                ret->generation = st.generation;
                snprintf(ret->message, sizeof(ret->message),
                         "generation %llu awaits confirmation; confirm it or let it revert before the next change",
                         (unsigned long long) st.generation);
                return 0;
        }

        r = read_kernel(ctx, &s, &t, &err);
        if (r == -ENOMEM)
                return r;
        if (r < 0) {
                fail(ret, CHANGE_NO_KERNEL, r, "cannot read the kernel's hugepage state", &err);
                return 0;
        }
        r = validate_config(c, &s, &t, &ctx->vopts, &ret->validation);
        if (r < 0)
                goto out;
        if (!validation_ok(&ret->validation)) {
                ret->outcome = CHANGE_INVALID;
                goto out;
        }
        ret->config = config_to_json(c);
        if (!ret->config) {
                r = -ENOMEM;
                goto out;
        }

        /* The same config again, nothing pending: apply it again under its
         * generation (this repairs drift) without a new one. */
        bool same = st.config && json_equal(st.config, ret->config) && confirm_within_s <= 0 && !origin;
        uint64_t gen = same ? st.generation : st.max_generation + 1;
        ret->generation = gen;
        ret->new_generation = !same;
        if (!same) {
                _cleanup_json_ json_t *before = apply_snapshot(c, &s, &t);
                if (!before) {
                        r = -ENOMEM;
                        goto out;
                }
                struct journal_record rec = {
                        .event = JOURNAL_ACCEPTED,
                        .generation = gen,
                        .config = ret->config,
                        .before = before,
                        .origin = origin,
                        .deadline = confirm_within_s > 0 ? deadline_after(confirm_within_s) : 0,
                };
                snprintf(rec.who, sizeof(rec.who), "%s", who);
                /* Room for this record and the ones that close the change
                 * (applied: about 300 bytes an item; confirmed), taken
                 * before the first: a disk that fills up halfway would
                 * leave a change in the kernel that the journal cannot
                 * finish. */
                _cleanup_free_ char *line = journal_encode(&rec);
                if (!line) {
                        r = -ENOMEM;
                        goto out;
                }
                size_t items = c->n_pools * 4 + _THP_KNOB_MAX;
                for (size_t i = 0; i < c->n_pools; i++)
                        items += c->pools[i].n_nodes;
                r = journal_reserve(ctx->journal, strlen(line) + 1024 + 400 * items, &err);
                if (r == 0)
                        r = journal_append(ctx->journal, &rec, &err);
                if (r == -ENOMEM)
                        goto out;
                if (r < 0) {
                        fail(ret, CHANGE_NO_DISK, r, "the config could not be recorded, so nothing was applied", &err);
                        r = 0;
                        goto out;
                }
                ret->deadline = rec.deadline;
                ret_before = json_incref(before);
        }

        r = apply_config(ctx->fs, c, &s, &t, &ret->apply);
        if (r < 0)
                goto out;
        ret->outcome = CHANGE_DONE;

        report = apply_result_to_json(&ret->apply);
        if (!report) {
                r = -ENOMEM;
                goto out;
        }
        r = journal_applied(ctx, gen, who, report, &err);
        if (r == 0 && !same && ret->deadline == 0) {
                struct journal_record rec = { .event = JOURNAL_CONFIRMED, .generation = gen };
                snprintf(rec.who, sizeof(rec.who), "%s", who);
                r = journal_append(ctx->journal, &rec, &err);
        }
        if (r == -ENOMEM)
                goto out;
        if (r < 0 && ret_before) {
                /* The journal cannot finish the change (the reservation
                 * could not be made or did not hold): take it back out of
                 * the kernel, so that the node holds what the journal
                 * says, and record the revert if the disk lets us. */
                int error = r;
                struct config undo;
                struct findings f = { 0 };
                struct apply_result undone = { 0 };
                bool restored = false;
                if (config_parse(ret_before, &undo, &f) == 0) {
                        struct sizes s2 = { 0 };
                        struct thp t2 = { 0 };
                        if (read_kernel(ctx, &s2, &t2, &err) == 0) {
                                restored = apply_config(ctx->fs, &undo, &s2, &t2, &undone) == 0 && undone.complete;
                                sizes_release(&s2);
                        }
                        config_release(&undo);
                }
                findings_release(&f);
                apply_result_release(&undone);
                struct journal_record rec = { .event = JOURNAL_REVERTED, .generation = gen, .to = st.generation };
                snprintf(rec.who, sizeof(rec.who), "%s", who);
                snprintf(rec.reason, sizeof(rec.reason), "journal");
                struct errbuf err2 = { { 0 } };
                (void) journal_append(ctx->journal, &rec, &err2);
                ret->outcome = CHANGE_NO_DISK;
                ret->error = error;
                snprintf(ret->message, sizeof(ret->message),
                         "the journal could not record the change (%.300s), so %s", err.msg,
                         restored ? "the kernel was set back to what it held before: nothing changed"
                                  : "the kernel could not all be set back: check GET /status");
                r = 0;
        } else if (r < 0) {
                /* The same config applied again: the kernel holds what the
                 * journal already says. */
                ret->journal_failed = true;
                snprintf(ret->message, sizeof(ret->message),
                         "the config was applied again, but the journal could not record it: %.400s", err.msg);
                r = 0;
        }
out:
        sizes_release(&s);
        return r;
}

int change_confirm(const struct change_ctx *ctx, const char *who, uint64_t *ret_generation, struct errbuf *err)
{
        struct journal_state st;
        journal_state(ctx->journal, &st);
        if (!st.pending)
                return errbuf_set(err, -ENOENT, "no change awaits confirmation");
        struct journal_record rec = { .event = JOURNAL_CONFIRMED, .generation = st.generation };
        snprintf(rec.who, sizeof(rec.who), "%s", who);
        int r = journal_append(ctx->journal, &rec, err);
        if (r < 0)
                return r;
        *ret_generation = st.generation;
        return 0;
}

int change_revert(const struct change_ctx *ctx, const char *who, const char *reason, struct change_result *ret)
{
        *ret = (struct change_result) { 0 };
        struct errbuf err = { { 0 } };
        struct journal_state st;
        journal_state(ctx->journal, &st);
        if (!st.pending)
                return -ENOENT;

        uint64_t pending = st.generation, to = st.confirmed_generation;
        struct sizes s = { 0 };
        struct thp t = { 0 };
        struct config before = { 0 };
        struct findings f = { 0 };
        _cleanup_json_ json_t *report = NULL;
        int r = read_kernel(ctx, &s, &t, &err);
        if (r == -ENOMEM)
                return r;
        if (r < 0) {
                fail(ret, CHANGE_NO_KERNEL, r, "cannot read the kernel's hugepage state", &err);
                return 0;
        }
        /* Write back what the pending change replaced. It was read from this
         * kernel, so it needs no validation; apply still refuses anything
         * beyond the machine's memory. */
        if (st.pending_before && config_parse(st.pending_before, &before, &f) == 0) {
                r = apply_config(ctx->fs, &before, &s, &t, &ret->apply);
                if (r < 0)
                        goto out;
        }
        ret->outcome = CHANGE_DONE;
        ret->generation = to;
        report = apply_result_to_json(&ret->apply);
        if (!report) {
                r = -ENOMEM;
                goto out;
        }
        struct journal_record rec = { .event = JOURNAL_REVERTED, .generation = pending, .to = to, .report = report };
        snprintf(rec.who, sizeof(rec.who), "%s", who);
        snprintf(rec.reason, sizeof(rec.reason), "%s", reason);
        r = journal_append(ctx->journal, &rec, &err);
        if (r == -ENOMEM)
                goto out;
        if (r < 0) {
                ret->journal_failed = true;
                snprintf(ret->message, sizeof(ret->message),
                         "generation %llu was reverted in the kernel, but the journal could not record it: %.400s",
                         (unsigned long long) pending, err.msg);
        } else
                snprintf(ret->message, sizeof(ret->message), "generation %llu reverted (%s), back to generation %llu",
                         (unsigned long long) pending, reason, (unsigned long long) to);
        r = 0;
out:
        config_release(&before);
        findings_release(&f);
        sizes_release(&s);
        return r;
}

int change_apply_saved(const struct change_ctx *ctx, struct change_result *ret)
{
        *ret = (struct change_result) { 0 };
        struct journal_state st;
        journal_state(ctx->journal, &st);
        if (!st.confirmed_config)
                return -ENOENT;
        struct config c;
        struct findings f = { 0 };
        int r = config_parse(st.confirmed_config, &c, &f);
        findings_release(&f);
        if (r < 0)
                return r == -ENOMEM ? r : -EBADMSG;

        struct errbuf err = { { 0 } };
        struct sizes s = { 0 };
        struct thp t = { 0 };
        r = read_kernel(ctx, &s, &t, &err);
        if (r < 0) {
                config_release(&c);
                if (r == -ENOMEM)
                        return r;
                fail(ret, CHANGE_NO_KERNEL, r, "cannot read the kernel's hugepage state", &err);
                return 0;
        }
        /* Today's machine may differ from the one the config was accepted
         * on (memory removed, a kernel without 1Gi pages): check again. */
        r = validate_config(&c, &s, &t, &ctx->vopts, &ret->validation);
        if (r == 0 && !validation_ok(&ret->validation))
                ret->outcome = CHANGE_INVALID;
        else if (r == 0) {
                r = apply_config(ctx->fs, &c, &s, &t, &ret->apply);
                ret->outcome = CHANGE_DONE;
                ret->generation = st.confirmed_generation;
                _cleanup_json_ json_t *report = r == 0 ? apply_result_to_json(&ret->apply) : NULL;
                if (r == 0 && !report)
                        r = -ENOMEM;
                if (r == 0 && journal_applied(ctx, st.confirmed_generation, "boot", report, &err) < 0) {
                        ret->journal_failed = true;
                        snprintf(ret->message, sizeof(ret->message), "applied, but not journaled: %s", err.msg);
                }
        }
        ret->config = json_incref((json_t *) st.confirmed_config);
        sizes_release(&s);
        config_release(&c);
        return r;
}

void change_result_release(struct change_result *r)
{
        if (!r)
                return;
        json_decref(r->config);
        r->config = NULL;
        validation_release(&r->validation);
        apply_result_release(&r->apply);
}
