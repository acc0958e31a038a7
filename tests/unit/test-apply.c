/* The apply path against a fake kernel. The fixture trees are plain files,
 * so the writes are caught at the I/O seam (ld --wrap of sysfs_write_u64 and
 * sysfs_write_word, which apply.c and thp.c call across translation units)
 * and given the kernel's semantics (KERNEL.md §1): a grow may come back
 * short without an error, a shrink never frees pages in use or reserved (they
 * stay as surplus), a THP file shows the new word in brackets, and a write
 * may be refused with an errno. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../model/apply.h"
#include "../../model/validate.h"
#include "fixture.h"

static struct {
        const char *dir;
        uint64_t cap;          /* most pages a grow reaches, 0: no limit */
        const char *fail_path; /* writes to paths containing this fail */
        int fail_errno;
        char writes[16][160]; /* paths written, in order */
        size_t n_writes;
} fake;

int __real_sysfs_write_u64(const struct sysfs *fs, const char *rel, uint64_t value, struct errbuf *err);
int __wrap_sysfs_write_u64(const struct sysfs *fs, const char *rel, uint64_t value, struct errbuf *err);
int __wrap_sysfs_write_word(const struct sysfs *fs, const char *rel, const char *word, struct errbuf *err);

static uint64_t get_u64(const char *rel)
{
        char path[256];
        snprintf(path, sizeof(path), "sys/%s", rel);
        return strtoull(fixture_get(fake.dir, path), NULL, 10);
}

static void put_u64(const char *rel, uint64_t v)
{
        char path[256], text[32];
        snprintf(path, sizeof(path), "sys/%s", rel);
        snprintf(text, sizeof(text), "%" PRIu64 "\n", v);
        fixture_put(fake.dir, path, text);
}

/* "…/nr_hugepages" → "…/<file>" */
static void sibling(const char *rel, const char *file, char *buf, size_t size)
{
        snprintf(buf, size, "%.*s%s", (int) (strrchr(rel, '/') + 1 - rel), rel, file);
}

int __wrap_sysfs_write_u64(const struct sysfs *fs, const char *rel, uint64_t value, struct errbuf *err)
{
        if (fake.n_writes < 16)
                snprintf(fake.writes[fake.n_writes++], sizeof(fake.writes[0]), "%s", rel);
        if (fake.fail_path && strstr(rel, fake.fail_path))
                return errbuf_set(err, -fake.fail_errno, "the kernel refused \"%" PRIu64 "\" in %s: %s", value, rel,
                                  strerror(fake.fail_errno));
        if (!strstr(rel, "/nr_hugepages"))
                return __real_sysfs_write_u64(fs, rel, value, err);

        char free_rel[200], surplus_rel[200], resv_rel[200];
        sibling(rel, "free_hugepages", free_rel, sizeof(free_rel));
        sibling(rel, "surplus_hugepages", surplus_rel, sizeof(surplus_rel));
        sibling(rel, "resv_hugepages", resv_rel, sizeof(resv_rel));
        bool global = strncmp(rel, "kernel/", 7) == 0;

        uint64_t nr = get_u64(rel), free_pages = get_u64(free_rel), surplus = get_u64(surplus_rel);
        uint64_t resv = global ? get_u64(resv_rel) : 0;
        uint64_t persistent = nr - surplus;
        if (value >= persistent) {
                /* Surplus pages become persistent first, then new pages are
                 * allocated until the first failure. */
                uint64_t target = value;
                if (fake.cap && target > fake.cap)
                        target = fake.cap;
                uint64_t grown = target > nr ? target - nr : 0;
                nr = nr > target ? nr : target;
                surplus = nr > value ? nr - value : 0;
                free_pages += grown;
        } else {
                uint64_t min_count = resv + nr - free_pages;
                uint64_t new_nr = value > min_count ? value : min_count;
                free_pages -= nr - new_nr;
                surplus = new_nr - value;
                nr = new_nr;
        }
        int r = __real_sysfs_write_u64(fs, rel, nr, err);
        if (r < 0)
                return r;
        put_u64(free_rel, free_pages);
        put_u64(surplus_rel, surplus);
        return 0;
}

int __wrap_sysfs_write_word(const struct sysfs *fs, const char *rel, const char *word, struct errbuf *err)
{
        (void) fs;
        if (fake.n_writes < 16)
                snprintf(fake.writes[fake.n_writes++], sizeof(fake.writes[0]), "%s", rel);
        if (fake.fail_path && strstr(rel, fake.fail_path))
                return errbuf_set(err, -fake.fail_errno, "the kernel refused \"%s\" in %s", word, rel);
        char path[256];
        snprintf(path, sizeof(path), "sys/%s", rel);
        struct thp_setting st;
        assert_int_equal(thp_parse(fixture_get(fake.dir, path), &st), 0);
        char out[512] = "";
        bool found = false;
        for (size_t i = 0; i < st.n_choices; i++) {
                bool active = strcmp(st.choices[i], word) == 0;
                found |= active;
                snprintf(out + strlen(out), sizeof(out) - strlen(out), "%s%s%s%s", i ? " " : "", active ? "[" : "",
                         st.choices[i], active ? "]" : "");
        }
        if (!found)
                return errbuf_set(err, -EINVAL, "the kernel refused \"%s\" in %s", word, rel);
        strcat(out, "\n");
        fixture_put(fake.dir, path, out);
        return 0;
}

struct ctx {
        char *dir;
        struct sysfs fs;
        struct sizes s;
        struct thp t;
        struct config c;
        struct apply_result res;
};

static void setup_machine(struct ctx *x, const char *fixture)
{
        memset(x, 0, sizeof(*x));
        memset(&fake, 0, sizeof(fake));
        x->dir = fixture_copy(fixture);
        fake.dir = x->dir;
        fixture_sysfs(x->dir, &x->fs);
}

/* Reads the machine, parses json and applies it (without validation, as a
 * caller that already validated would). */
static void apply_json(struct ctx *x, const char *json)
{
        struct errbuf err;
        struct findings f = { 0 };
        json_t *doc = NULL;
        if (sizes_read(&x->fs, 4, &x->s, &err) < 0 || thp_read(&x->fs, &x->t, &err) < 0)
                fail_msg("cannot read the fixture: %s", err.msg);
        if (config_load(json, strlen(json), &doc, &f) < 0 || config_parse(doc, &x->c, &f) < 0)
                fail_msg("config did not parse: %s", json);
        json_decref(doc);
        assert_int_equal(apply_config(&x->fs, &x->c, &x->s, &x->t, &x->res), 0);
        for (size_t i = 0; i < x->res.n_items; i++) {
                const struct apply_item *it = &x->res.items[i];
                print_message("  item %zu: %" PRIu64 "kB node %d: %" PRIu64 " -> %" PRIu64 " (asked %" PRIu64
                              ", surplus %" PRIu64 ") %s %s\n",
                              i, it->size_kb, it->node, it->before, it->after, it->requested, it->surplus,
                              apply_status_name(it->status), it->error);
        }
}

static void done(struct ctx *x)
{
        apply_result_release(&x->res);
        config_release(&x->c);
        sizes_release(&x->s);
        sysfs_release(&x->fs);
        fixture_remove(x->dir);
}

#define G2M "kernel/mm/hugepages/hugepages-2048kB/"
#define G1G "kernel/mm/hugepages/hugepages-1048576kB/"

static void test_grow(void **state)
{
        (void) state;
        struct ctx x;
        setup_machine(&x, "x86-2node");
        apply_json(&x, "{\"pools\": {\"2Mi\": {\"count\": 600}}}");
        assert_int_equal(x.res.n_items, 1);
        const struct apply_item *it = &x.res.items[0];
        assert_int_equal(it->status, APPLY_OK);
        assert_int_equal(it->before, 512);
        assert_int_equal(it->after, 600);
        assert_int_equal(it->total, 600);
        assert_true(it->written);
        assert_true(x.res.complete);
        assert_int_equal(get_u64(G2M "nr_hugepages"), 600);
        done(&x);
}

static void test_partial_grow_is_reported(void **state)
{
        (void) state;
        struct ctx x;
        setup_machine(&x, "x86-2node");
        fake.cap = 550;
        apply_json(&x, "{\"pools\": {\"2Mi\": {\"count\": 600}}}");
        assert_int_equal(x.res.items[0].status, APPLY_PARTIAL);
        assert_int_equal(x.res.items[0].after, 550);
        assert_false(x.res.complete);
        done(&x);
}

static void test_shrink_below_in_use_leaves_surplus(void **state)
{
        (void) state;
        struct ctx x;
        setup_machine(&x, "x86-2node");
        /* nr 512, free 500, resv 10: the kernel keeps 22 pages. */
        apply_json(&x, "{\"pools\": {\"2Mi\": {\"count\": 0}}}");
        const struct apply_item *it = &x.res.items[0];
        assert_int_equal(it->status, APPLY_IN_USE);
        assert_int_equal(it->after, 0);
        assert_int_equal(it->total, 22);
        assert_int_equal(it->surplus, 22);
        assert_false(x.res.complete);
        /* The pages held were read again right before the write. */
        assert_true(it->held_known);
        assert_int_equal(it->held, 22);
        done(&x);
}

/* A VM that starts between validation and the write: the counters read
 * right before the write show it, the write is made all the same (it frees
 * every free page above the target), and the report says what the kernel
 * kept. The grows after it still run. */
static void test_shrink_recheck_at_write_time(void **state)
{
        (void) state;
        struct ctx x;
        setup_machine(&x, "x86-2node");
        struct errbuf err;
        if (sizes_read(&x.fs, 4, &x.s, &err) < 0 || thp_read(&x.fs, &x.t, &err) < 0)
                fail_msg("cannot read the fixture: %s", err.msg);
        /* Validated against 22 held (12 in use, 10 reserved): 100 is fine.
         * Then a VM touches 200 pages. */
        put_u64(G2M "free_hugepages", 300);
        struct findings f = { 0 };
        json_t *doc = NULL;
        const char *json = "{\"pools\": {\"2Mi\": {\"count\": 100}, \"1Gi\": {\"count\": 3}}}";
        assert_int_equal(config_load(json, strlen(json), &doc, &f), 0);
        assert_int_equal(config_parse(doc, &x.c, &f), 0);
        json_decref(doc);
        assert_int_equal(apply_config(&x.fs, &x.c, &x.s, &x.t, &x.res), 0);
        assert_int_equal(x.res.n_items, 2);
        const struct apply_item *it = &x.res.items[0];
        assert_int_equal(it->size_kb, 2048);
        assert_true(it->written);
        assert_true(it->held_known);
        assert_int_equal(it->held, 222); /* 212 in use + 10 reserved */
        assert_int_equal(it->status, APPLY_IN_USE);
        assert_int_equal(it->after, 100);
        assert_int_equal(it->total, 222);
        assert_int_equal(it->surplus, 122);
        assert_int_equal(get_u64(G2M "nr_hugepages"), 222);
        assert_int_equal(x.res.items[1].size_kb, 1048576);
        assert_int_not_equal(x.res.items[1].status, APPLY_SKIPPED);
        assert_false(x.res.items[1].held_known); /* a grow: nothing to re-check */

        json_t *j = apply_result_to_json(&x.res);
        assert_non_null(j);
        json_t *r0 = json_array_get(json_object_get(j, "results"), 0);
        assert_int_equal(json_integer_value(json_object_get(r0, "held")), 222);
        assert_string_equal(json_string_value(json_object_get(r0, "status")), "in_use");
        assert_null(json_object_get(json_array_get(json_object_get(j, "results"), 1), "held"));
        json_decref(j);
        done(&x);
}

/* Per node only the pages in use there count (reservations are global). */
static void test_node_shrink_reports_held(void **state)
{
        (void) state;
        struct ctx x;
        setup_machine(&x, "x86-2node");
        apply_json(&x, "{\"pools\": {\"2Mi\": {\"nodes\": {\"0\": 100}}}}");
        assert_int_equal(x.res.n_items, 1);
        const struct apply_item *it = &x.res.items[0];
        assert_true(it->held_known);
        assert_int_equal(it->held, 6); /* node0: 256 pages, 250 free */
        assert_int_equal(it->after, 100);
        done(&x);
}

static void test_order_shrink_first_then_largest(void **state)
{
        (void) state;
        struct ctx x;
        setup_machine(&x, "x86-2node");
        apply_json(&x, "{\"pools\": {\"2Mi\": {\"count\": 600}, \"1Gi\": {\"nodes\": {\"0\": 2, \"1\": 0}}}}");
        assert_int_equal(fake.n_writes, 3);
        assert_string_equal(fake.writes[0], "devices/system/node/node1/hugepages/hugepages-1048576kB/nr_hugepages");
        assert_string_equal(fake.writes[1], "devices/system/node/node0/hugepages/hugepages-1048576kB/nr_hugepages");
        assert_string_equal(fake.writes[2], G2M "nr_hugepages");
        assert_int_equal(x.res.items[0].node, 1);
        assert_int_equal(x.res.items[0].after, 0);
        assert_int_equal(x.res.items[1].after, 2);
        assert_true(x.res.complete);
        done(&x);
}

static void test_failed_shrink_skips_grows(void **state)
{
        (void) state;
        struct ctx x;
        setup_machine(&x, "x86-2node");
        fake.fail_path = "hugepages-1048576kB";
        fake.fail_errno = EINVAL;
        apply_json(&x, "{\"pools\": {\"2Mi\": {\"count\": 600}, \"1Gi\": {\"count\": 0}}}");
        assert_int_equal(x.res.n_items, 2);
        assert_int_equal(x.res.items[0].status, APPLY_FAILED);
        assert_non_null(strstr(x.res.items[0].error, "Invalid argument"));
        assert_int_equal(x.res.items[0].after, 2); /* read back after the refusal */
        assert_int_equal(x.res.items[1].status, APPLY_SKIPPED);
        /* A skipped item reports the pool as it stands, untouched. */
        assert_int_equal(x.res.items[1].before, 512);
        assert_int_equal(x.res.items[1].after, 512);
        assert_int_equal(x.res.items[1].total, 512);
        assert_int_equal(x.res.items[1].surplus, 0);
        assert_int_equal(get_u64(G2M "nr_hugepages"), 512);
        assert_false(x.res.complete);
        done(&x);
}

static void test_unchanged_pool_is_not_written(void **state)
{
        (void) state;
        struct ctx x;
        setup_machine(&x, "x86-2node");
        apply_json(&x, "{\"pools\": {\"2Mi\": {\"count\": 512}}}");
        assert_int_equal(fake.n_writes, 0);
        assert_false(x.res.items[0].written);
        assert_int_equal(x.res.items[0].status, APPLY_OK);
        done(&x);
}

static void test_unsafe_count_is_never_written(void **state)
{
        (void) state;
        struct ctx x;
        setup_machine(&x, "x86-2node");
        /* Not validated on purpose: apply re-checks at write time. */
        apply_json(&x, "{\"pools\": {\"2Mi\": {\"count\": 18446744073709551}}}");
        assert_int_equal(fake.n_writes, 0);
        assert_int_equal(x.res.items[0].status, APPLY_FAILED);
        assert_non_null(strstr(x.res.items[0].error, "refused"));
        assert_int_equal(get_u64(G2M "nr_hugepages"), 512);
        done(&x);
}

static void test_thp_write(void **state)
{
        (void) state;
        struct ctx x;
        setup_machine(&x, "x86-2node");
        apply_json(&x, "{\"transparent_hugepage\": {\"enabled\": \"never\", \"defrag\": \"madvise\"}}");
        assert_int_equal(x.res.n_thp, 2);
        assert_int_equal(x.res.thp[0].status, APPLY_OK);
        assert_string_equal(x.res.thp[0].before, "madvise");
        assert_string_equal(x.res.thp[0].after, "never");
        assert_string_equal(fixture_get(x.dir, "sys/kernel/mm/transparent_hugepage/enabled"), "always madvise [never]\n");
        /* defrag already was madvise: nothing written. */
        assert_int_equal(fake.n_writes, 1);
        assert_true(x.res.complete);
        done(&x);
}

static void test_thp_refused(void **state)
{
        (void) state;
        struct ctx x;
        setup_machine(&x, "x86-2node");
        fake.fail_path = "transparent_hugepage/enabled";
        fake.fail_errno = EBUSY;
        apply_json(&x, "{\"transparent_hugepage\": {\"enabled\": \"never\"}}");
        assert_int_equal(x.res.thp[0].status, APPLY_FAILED);
        assert_string_equal(x.res.thp[0].after, "madvise");
        assert_non_null(strstr(x.res.thp[0].error, "refused"));
        assert_false(x.res.complete);
        done(&x);
}

static void test_per_node_pool(void **state)
{
        (void) state;
        struct ctx x;
        setup_machine(&x, "x86-2node");
        apply_json(&x, "{\"pools\": {\"2Mi\": {\"count\": 300, \"nodes\": {\"0\": 100, \"1\": 200}}}}");
        assert_int_equal(x.res.n_items, 2);
        /* Both nodes shrink (256 -> 100, 256 -> 200), in node order. */
        assert_int_equal(x.res.items[0].node, 0);
        assert_int_equal(x.res.items[1].node, 1);
        assert_int_equal(
                get_u64("devices/system/node/node0/hugepages/hugepages-2048kB/nr_hugepages"), 100);
        assert_int_equal(
                get_u64("devices/system/node/node1/hugepages/hugepages-2048kB/nr_hugepages"), 200);
        assert_true(x.res.complete);
        done(&x);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_grow),
                cmocka_unit_test(test_partial_grow_is_reported),
                cmocka_unit_test(test_shrink_below_in_use_leaves_surplus),
                cmocka_unit_test(test_shrink_recheck_at_write_time),
                cmocka_unit_test(test_node_shrink_reports_held),
                cmocka_unit_test(test_order_shrink_first_then_largest),
                cmocka_unit_test(test_failed_shrink_skips_grows),
                cmocka_unit_test(test_unchanged_pool_is_not_written),
                cmocka_unit_test(test_unsafe_count_is_never_written),
                cmocka_unit_test(test_thp_write),
                cmocka_unit_test(test_thp_refused),
                cmocka_unit_test(test_per_node_pool),
        };
        return cmocka_run_group_tests_name("apply", tests, NULL, NULL);
}
