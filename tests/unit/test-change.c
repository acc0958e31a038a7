/* The change protocol (model/change.c) on a fake tree with a real journal:
 * a change is journaled, applied, confirmed; a confirm window reverts; and
 * when the journal cannot take a record (a full disk), the change never
 * stays half done. Journal appends go through the I/O seam (ld --wrap of
 * journal_append, called across translation units), so a test can make the
 * N-th one fail with ENOSPC. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../model/change.h"
#include "fixture.h"

static int appends;     /* calls so far */
static int fail_append; /* the call that fails with ENOSPC, 0 = none */

int __real_journal_append(struct journal *j, struct journal_record *rec, struct errbuf *err);
int __wrap_journal_append(struct journal *j, struct journal_record *rec, struct errbuf *err);
int __wrap_journal_append(struct journal *j, struct journal_record *rec, struct errbuf *err)
{
        if (++appends == fail_append)
                return errbuf_set(err, -ENOSPC, "No space left on device (test)");
        return __real_journal_append(j, rec, err);
}

struct ctx {
        char *dir;
        char state[4200];
        struct sysfs fs;
        struct journal *j;
        struct change_ctx cc;
};

static void setup_ctx(struct ctx *x)
{
        memset(x, 0, sizeof(*x));
        appends = fail_append = 0;
        x->dir = fixture_copy("x86-2node");
        snprintf(x->state, sizeof(x->state), "%s/state", x->dir);
        fixture_sysfs(x->dir, &x->fs);
        struct errbuf err;
        if (journal_open(x->state, 10, &x->j, &err) < 0)
                fail_msg("journal_open: %s", err.msg);
        assert_int_equal(journal_lock(x->j, &err), 0);
        x->cc = (struct change_ctx) { .fs = &x->fs, .base_page_kb = 4, .vopts = { .reserve_kb = 1024 * 1024 },
                                      .journal = x->j };
}

static void done(struct ctx *x)
{
        journal_unlock(x->j);
        journal_close(x->j);
        sysfs_release(&x->fs);
        fixture_remove(x->dir);
}

static void parse(const char *json, struct config *c)
{
        struct findings f = { 0 };
        json_t *doc = NULL;
        if (config_load(json, strlen(json), &doc, &f) < 0 || config_parse(doc, c, &f) < 0)
                fail_msg("does not parse: %s", json);
        json_decref(doc);
}

static int nr_2m(const struct ctx *x)
{
        return atoi(fixture_get(x->dir, "sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages"));
}

static void change(struct ctx *x, const char *json, int64_t window, struct change_result *res)
{
        struct config c;
        parse(json, &c);
        assert_int_equal(change_apply(&x->cc, &c, "test", 0, window, res), 0);
        config_release(&c);
}

static void test_change_is_journaled_and_confirmed(void **state)
{
        (void) state;
        struct ctx x;
        setup_ctx(&x);
        struct change_result res;
        change(&x, "{\"pools\": {\"2Mi\": {\"count\": 600}}}", 0, &res);
        assert_int_equal(res.outcome, CHANGE_DONE);
        assert_int_equal(res.generation, 1);
        assert_true(res.apply.complete);
        change_result_release(&res);
        assert_int_equal(nr_2m(&x), 600);
        assert_int_equal(appends, 3); /* accepted, applied, confirmed */
        struct journal_state st;
        journal_state(x.j, &st);
        assert_false(st.pending);
        assert_int_equal(st.confirmed_generation, 1);
        done(&x);
}

static void test_full_disk_before_the_change(void **state)
{
        (void) state;
        struct ctx x;
        setup_ctx(&x);
        fail_append = 1;
        struct change_result res;
        change(&x, "{\"pools\": {\"2Mi\": {\"count\": 600}}}", 0, &res);
        assert_int_equal(res.outcome, CHANGE_NO_DISK);
        assert_int_equal(res.error, -ENOSPC);
        change_result_release(&res);
        assert_int_equal(nr_2m(&x), 512); /* the kernel was never written */
        struct journal_state st;
        journal_state(x.j, &st);
        assert_int_equal(st.generation, 0);
        assert_false(st.pending);
        done(&x);
}

static void test_full_disk_in_the_middle_takes_the_change_back(void **state)
{
        (void) state;
        struct ctx x;
        setup_ctx(&x);
        struct change_result res;
        change(&x, "{\"pools\": {\"2Mi\": {\"count\": 600}}}", 0, &res);
        change_result_release(&res);

        /* The next change's "applied" record does not fit. */
        fail_append = appends + 2;
        change(&x, "{\"pools\": {\"2Mi\": {\"count\": 700}}}", 0, &res);
        assert_int_equal(res.outcome, CHANGE_NO_DISK);
        assert_int_equal(res.error, -ENOSPC);
        print_message("  %s\n", res.message);
        assert_non_null(strstr(res.message, "set back"));
        change_result_release(&res);
        assert_int_equal(nr_2m(&x), 600); /* written, then taken back */
        struct journal_state st;
        journal_state(x.j, &st);
        assert_false(st.pending); /* the revert was journaled */
        assert_int_equal(st.generation, 1);
        assert_int_equal(st.config ? json_integer_value(json_object_get(json_object_get(
                                 json_object_get(st.config, "pools"), "2Mi"), "count"))
                                   : -1,
                         600);
        done(&x);
}

static void test_window_reverts(void **state)
{
        (void) state;
        struct ctx x;
        setup_ctx(&x);
        struct change_result res;
        change(&x, "{\"pools\": {\"2Mi\": {\"count\": 600}}, \"transparent_hugepage\": {\"defrag\": \"madvise\"}}", 0,
               &res);
        change_result_release(&res);
        change(&x, "{\"pools\": {\"2Mi\": {\"count\": 800}, \"1Gi\": {\"nodes\": {\"1\": 0}}}}", 300, &res);
        assert_int_equal(res.outcome, CHANGE_DONE);
        assert_true(res.deadline > 0);
        change_result_release(&res);
        assert_int_equal(nr_2m(&x), 800);
        struct journal_state st;
        journal_state(x.j, &st);
        assert_true(st.pending);

        /* A second change meanwhile is refused. */
        change(&x, "{\"pools\": {\"2Mi\": {\"count\": 900}}}", 0, &res);
        assert_int_equal(res.outcome, CHANGE_PENDING);
        change_result_release(&res);

        /* The revert writes back everything the pending change replaced,
         * the 1Gi node count it added too. */
        assert_int_equal(change_revert(&x.cc, "test", "deadline", &res), 0);
        assert_int_equal(res.outcome, CHANGE_DONE);
        change_result_release(&res);
        assert_int_equal(nr_2m(&x), 600);
        assert_int_equal(atoi(fixture_get(x.dir, "sys/devices/system/node/node1/hugepages/hugepages-1048576kB/"
                                                  "nr_hugepages")),
                         1);
        journal_state(x.j, &st);
        assert_false(st.pending);
        assert_int_equal(st.generation, 1);
        assert_int_equal(change_revert(&x.cc, "test", "deadline", &res), -ENOENT);
        done(&x);
}

static void test_confirm_and_apply_saved(void **state)
{
        (void) state;
        struct ctx x;
        setup_ctx(&x);
        struct change_result res;
        change(&x, "{\"pools\": {\"2Mi\": {\"count\": 640}}}", 60, &res);
        change_result_release(&res);
        struct errbuf err;
        uint64_t gen = 0;
        assert_int_equal(change_confirm(&x.cc, "test", &gen, &err), 0);
        assert_int_equal(gen, 1);
        assert_int_equal(change_confirm(&x.cc, "test", &gen, &err), -ENOENT);

        /* Someone writes the pool behind our back; the boot path puts the
         * confirmed config back. */
        fixture_put(x.dir, "sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages", "100\n");
        assert_int_equal(change_apply_saved(&x.cc, &res), 0);
        assert_int_equal(res.outcome, CHANGE_DONE);
        assert_int_equal(res.generation, 1);
        change_result_release(&res);
        assert_int_equal(nr_2m(&x), 640);
        done(&x);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_change_is_journaled_and_confirmed),
                cmocka_unit_test(test_full_disk_before_the_change),
                cmocka_unit_test(test_full_disk_in_the_middle_takes_the_change_back),
                cmocka_unit_test(test_window_reverts),
                cmocka_unit_test(test_confirm_and_apply_saved),
        };
        return cmocka_run_group_tests_name("change", tests, NULL, NULL);
}
