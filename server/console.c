/* See console.h. Each command opens the journal in the state directory and
 * works under its file lock, as the service does, so both can run at once
 * without corrupting it; a running service picks up the change within a
 * fraction of a second. */
#include "console.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../model/change.h"
#include "../model/cleanup.h"
#include "../model/journal.h"
#include "../model/quantity.h"
#include "../model/safemode.h"

static int history(struct journal *j)
{
        struct journal_state st;
        journal_state(j, &st);
        size_t n;
        const struct journal_record *recs = journal_records(j, &n);
        printf("%-6s %-20s %-12s %-16s %-8s %s\n", "GEN", "TIME", "STATE", "WHO", "APPLIED", "CONFIG");
        for (size_t i = n; i-- > 0;) {
                const struct journal_record *r = &recs[i];
                if (r->event != JOURNAL_ACCEPTED)
                        continue;
                const char *applied = "-";
                for (size_t k = n; k-- > i;)
                        if (recs[k].event == JOURNAL_APPLIED && recs[k].generation == r->generation) {
                                applied = json_is_true(json_object_get(recs[k].report, "complete")) ? "complete"
                                                                                                      : "partial";
                                break;
                        }
                _cleanup_free_ char *cfg = json_dumps(r->config, JSON_COMPACT);
                printf("%-6" PRIu64 " %-20s %-12s %-16.16s %-8s %s%s\n", r->generation, r->time,
                       journal_generation_state(j, r->generation), r->who[0] ? r->who : "-", applied,
                       cfg ? cfg : "?", r->generation == st.generation ? "  <- current" : "");
        }
        if (st.generation == 0)
                printf("(no config is managed)\n");
        const struct journal_recovery *rec = journal_recovery(j);
        if (rec->message[0])
                fprintf(stderr, "hugepaged: journal: %s\n", rec->message);
        return EXIT_SUCCESS;
}

static void print_result(const char *what, const struct change_result *res)
{
        size_t bad = 0;
        for (size_t i = 0; i < res->apply.n_items; i++) {
                const struct apply_item *it = &res->apply.items[i];
                char q[QUANTITY_MAX], where[32] = "";
                quantity_format(it->size_kb * 1024, q);
                if (it->node >= 0)
                        snprintf(where, sizeof(where), " node %d", it->node);
                printf("  %s%s: %" PRIu64 " -> %" PRIu64 " (asked %" PRIu64 ") %s%s%s\n", q, where, it->before,
                       it->after, it->requested, apply_status_name(it->status), it->error[0] ? ": " : "", it->error);
                bad += it->status != APPLY_OK;
        }
        for (size_t i = 0; i < res->apply.n_thp; i++) {
                const struct apply_thp_item *it = &res->apply.thp[i];
                printf("  transparent_hugepage/%s: %s -> %s %s%s%s\n", thp_knob_name(it->knob), it->before, it->after,
                       apply_status_name(it->status), it->error[0] ? ": " : "", it->error);
                bad += it->status != APPLY_OK;
        }
        printf("%s: generation %" PRIu64 ", %s\n", what, res->generation,
               bad ? "the kernel did not take all of it" : "the kernel holds it");
        if (res->message[0])
                fprintf(stderr, "hugepaged: %s\n", res->message);
}

static void print_findings(const struct findings *f, const char *kind)
{
        for (size_t i = 0; i < f->n; i++)
                fprintf(stderr, "hugepaged: %s at \"%s\" (%s): %s\n", kind, f->items[i].pointer, f->items[i].code,
                        f->items[i].message);
}

/* The confirmed generation before the current confirmed one. */
static uint64_t previous_confirmed(struct journal *j, uint64_t current)
{
        size_t n;
        const struct journal_record *recs = journal_records(j, &n);
        for (size_t i = n; i-- > 0;)
                if (recs[i].event == JOURNAL_CONFIRMED && recs[i].generation != current &&
                    journal_find_accepted(j, recs[i].generation))
                        return recs[i].generation;
        return 0;
}

static int rollback(const struct change_ctx *ctx, uint64_t to)
{
        struct journal_state st;
        journal_state(ctx->journal, &st);
        struct change_result res;
        int r;

        if (st.pending) {
                /* A change awaiting confirmation is what an operator at the
                 * console most likely wants gone: undo it first. */
                r = change_revert(ctx, "console", "operator", &res);
                if (r < 0) {
                        fprintf(stderr, "hugepaged: cannot revert generation %" PRIu64 ": %s\n", st.generation,
                                strerror(-r));
                        return EXIT_FAILURE;
                }
                print_result("reverted the pending change", &res);
                bool ok = res.outcome == CHANGE_DONE && !res.journal_failed;
                change_result_release(&res);
                if (!ok)
                        return EXIT_FAILURE;
                if (!to)
                        return EXIT_SUCCESS;
                journal_state(ctx->journal, &st);
        }

        if (!to)
                to = previous_confirmed(ctx->journal, st.confirmed_generation);
        if (!to) {
                fprintf(stderr, "hugepaged: there is no earlier confirmed generation to roll back to; name one "
                                "with --to (see 'hugepaged history')\n");
                return EXIT_FAILURE;
        }
        const struct journal_record *a = journal_find_accepted(ctx->journal, to);
        if (!a) {
                fprintf(stderr, "hugepaged: generation %" PRIu64 " is not in the journal (see 'hugepaged history')\n",
                        to);
                return EXIT_FAILURE;
        }
        struct config c;
        struct findings f = { 0 };
        r = config_parse(a->config, &c, &f);
        findings_release(&f);
        if (r < 0) {
                fprintf(stderr, "hugepaged: the config of generation %" PRIu64 " cannot be read back\n", to);
                return EXIT_FAILURE;
        }
        r = change_apply(ctx, &c, "console", to, 0, &res);
        config_release(&c);
        if (r < 0) {
                fprintf(stderr, "hugepaged: rollback failed: %s\n", strerror(-r));
                return EXIT_FAILURE;
        }
        int status = EXIT_FAILURE;
        switch (res.outcome) {
        case CHANGE_DONE:
                print_result("rolled back", &res);
                status = res.apply.complete && !res.journal_failed ? EXIT_SUCCESS : EXIT_FAILURE;
                break;
        case CHANGE_INVALID:
                fprintf(stderr, "hugepaged: generation %" PRIu64 " does not fit this machine today:\n", to);
                print_findings(&res.validation.errors, "error");
                break;
        default:
                fprintf(stderr, "hugepaged: %s\n", res.message);
                break;
        }
        change_result_release(&res);
        return status;
}

/* Pages the kernel did not give, summed over the pools. */
static uint64_t shortfall(const struct change_result *res, bool *ret_refused)
{
        uint64_t missing = 0;
        *ret_refused = false;
        for (size_t i = 0; i < res->apply.n_items; i++) {
                const struct apply_item *it = &res->apply.items[i];
                if (it->status == APPLY_FAILED)
                        *ret_refused = true;
                if (it->status == APPLY_PARTIAL && it->after < it->requested)
                        missing += it->requested - it->after;
        }
        for (size_t i = 0; i < res->apply.n_thp; i++)
                if (res->apply.thp[i].status == APPLY_FAILED)
                        *ret_refused = true;
        return missing;
}

/* The boot path: applies the last confirmed config; while the kernel gives
 * fewer pages than asked (memory still being freed early in boot, or
 * fragmented), tries again up to o->retries times, o->retry_delay_s apart.
 * Exit status 0: the kernel holds it all; 3: it is short after the last
 * try (the shortfall is printed); 1: anything else. */
static int apply_saved(const struct options *o, const struct change_ctx *ctx)
{
        struct safe_mode safe;
        safemode_detect(ctx->fs, o->state_dir, &safe);
        if (safe.active) {
                printf("safe mode (%s): not applying the saved config\n", safe.source);
                return EXIT_SUCCESS;
        }
        for (unsigned attempt = 0;; attempt++) {
                struct change_result res;
                int r = change_apply_saved(ctx, &res);
                if (r == -ENOENT) {
                        printf("no confirmed config yet: nothing to apply\n");
                        return EXIT_SUCCESS;
                }
                if (r < 0) {
                        fprintf(stderr, "hugepaged: cannot apply the saved config: %s\n", strerror(-r));
                        return EXIT_FAILURE;
                }
                int status = EXIT_FAILURE;
                bool again = false;
                if (res.outcome == CHANGE_DONE) {
                        print_result(attempt ? "applied the saved config again" : "applied the saved config", &res);
                        bool refused;
                        uint64_t missing = shortfall(&res, &refused);
                        if (res.apply.complete && !res.journal_failed)
                                status = EXIT_SUCCESS;
                        else if (!refused && missing > 0 && attempt < o->retries)
                                again = true;
                        else if (!refused && missing > 0) {
                                fprintf(stderr,
                                        "hugepaged: the kernel is %" PRIu64 " page%s short of generation %" PRIu64
                                        " after %u tr%s\n",
                                        missing, missing == 1 ? "" : "s", res.generation, attempt + 1,
                                        attempt ? "ies" : "y");
                                status = 3;
                        }
                } else if (res.outcome == CHANGE_INVALID) {
                        fprintf(stderr, "hugepaged: the saved config (generation %" PRIu64 ") does not fit this machine:\n",
                                res.generation);
                        print_findings(&res.validation.errors, "error");
                } else
                        fprintf(stderr, "hugepaged: %s\n", res.message);
                change_result_release(&res);
                if (!again)
                        return status;
                printf("  the kernel gave fewer pages than asked; trying again in %u s\n", o->retry_delay_s);
                fflush(stdout);
                sleep(o->retry_delay_s);
        }
}

int console_run(const struct options *o)
{
        struct errbuf err = { { 0 } };
        struct sysfs fs;
        if (sysfs_init(&fs, o->sysfs_root, o->procfs_root) < 0)
                return EXIT_FAILURE;
        struct journal *j = NULL;
        int r = journal_open(o->state_dir, o->history, &j, &err);
        if (r < 0) {
                fprintf(stderr, "hugepaged: %s\n", err.msg);
                sysfs_release(&fs);
                return EXIT_FAILURE;
        }
        struct change_ctx ctx = {
                .fs = &fs,
                .base_page_kb = o->base_page_kb ? o->base_page_kb : (uint64_t) sysconf(_SC_PAGESIZE) / 1024,
                .vopts = o->reserve,
                .journal = j,
        };
        int status = EXIT_FAILURE;
        if (journal_lock(j, &err) < 0)
                fprintf(stderr, "hugepaged: %s\n", err.msg);
        else {
                if (strcmp(o->command, "history") == 0)
                        status = history(j);
                else if (strcmp(o->command, "rollback") == 0)
                        status = rollback(&ctx, o->rollback_to);
                else
                        status = apply_saved(o, &ctx);
                journal_unlock(j);
        }
        journal_close(j);
        sysfs_release(&fs);
        return status;
}
