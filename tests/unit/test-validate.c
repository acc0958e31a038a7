/* Validation of configs against fake machines: every error and warning the
 * API documents, with its pointer, and the memory arithmetic. The x86-2node
 * fixture: 65606484 kB in all (node0 32601320, node1 33005164), 2Mi pool
 * 512 pages (free 500, reserved 10), 1Gi pool 2 pages (one per node). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../model/config.h"
#include "../../model/floor.h"
#include "../../model/validate.h"
#include "fixture.h"

static const struct validate_opts default_opts = { .reserve_kb = 1024 * 1024, .reserve_percent = 10 };

struct ctx {
        char *dir;
        struct sysfs fs;
        struct sizes s;
        struct thp t;
        struct validation v;
};

static void load_machine(struct ctx *c, const char *fixture, void (*mutate)(const char *dir))
{
        memset(c, 0, sizeof(*c));
        c->dir = fixture_copy(fixture);
        if (mutate)
                mutate(c->dir);
        fixture_sysfs(c->dir, &c->fs);
        struct errbuf err;
        if (sizes_read(&c->fs, 4, &c->s, &err) < 0 || thp_read(&c->fs, &c->t, &err) < 0)
                fail_msg("cannot read fixture %s: %s", fixture, err.msg);
}

/* Validates json (which must parse) with opts on the loaded machine. */
static void check(struct ctx *c, const char *json, const struct validate_opts *opts)
{
        struct findings errors = { 0 };
        json_t *doc = NULL;
        struct config cfg;
        if (config_load(json, strlen(json), &doc, &errors) < 0 || config_parse(doc, &cfg, &errors) < 0)
                fail_msg("config did not parse: %s: %s", json, errors.n ? errors.items[0].message : "?");
        json_decref(doc);
        validation_release(&c->v);
        assert_int_equal(validate_config(&cfg, &c->s, &c->t, opts ? opts : &default_opts, &c->v), 0);
        config_release(&cfg);
}

static void done(struct ctx *c)
{
        validation_release(&c->v);
        sizes_release(&c->s);
        sysfs_release(&c->fs);
        fixture_remove(c->dir);
}

static void dump(const char *what, const struct findings *f)
{
        for (size_t i = 0; i < f->n; i++)
                print_message("  %s: %s %s: %s\n", what, f->items[i].pointer, f->items[i].code, f->items[i].message);
}

/* Asserts that f has a finding with this pointer and code. */
static void expect(const struct findings *f, const char *pointer, const char *code)
{
        for (size_t i = 0; i < f->n; i++)
                if (strcmp(f->items[i].pointer, pointer) == 0 && strcmp(f->items[i].code, code) == 0)
                        return;
        dump("have", f);
        fail_msg("expected a finding %s at \"%s\"", code, pointer);
}

static void test_valid_config_and_memory(void **state)
{
        (void) state;
        struct ctx c;
        load_machine(&c, "x86-2node", NULL);
        check(&c, "{\"pools\": {\"2Mi\": {\"count\": 1024}, \"1Gi\": {\"nodes\": {\"0\": 2, \"1\": 1}}},"
                  " \"transparent_hugepage\": {\"enabled\": \"never\", \"defrag\": \"defer+madvise\"}}",
              NULL);
        dump("errors", &c.v.errors);
        assert_true(validation_ok(&c.v));
        assert_int_equal(c.v.total_kb, 65606484);
        /* 1024 × 2 MiB + 3 × 1 GiB */
        assert_int_equal(c.v.hugepages_kb, 1024 * 2048 + 3 * 1048576);
        assert_int_equal(c.v.current_hugepages_kb, 512 * 2048 + 2 * 1048576);
        /* 10 % of MemTotal is more than 1 GiB here. */
        assert_int_equal(c.v.reserve_kb, 65606484 / 100 * 10);
        assert_int_equal(c.v.n_nodes, 2);
        /* 2Mi by count is spread evenly over both nodes for the report. */
        assert_int_equal(c.v.nodes[0].hugepages_kb, 512 * 2048 + 2 * 1048576);
        assert_int_equal(c.v.nodes[1].hugepages_kb, 512 * 2048 + 1 * 1048576);
        expect(&c.v.warnings, "/pools/1Gi", "gigantic_runtime");
        assert_int_equal(c.v.reboot_required.n, 0);
        done(&c);
}

static void test_unsupported_size(void **state)
{
        (void) state;
        struct ctx c;
        load_machine(&c, "x86-2node", NULL);
        check(&c, "{\"pools\": {\"4Mi\": {\"count\": 1}, \"1000\": {\"count\": 1}}}", NULL);
        expect(&c.v.errors, "/pools/4Mi", "unsupported_size");
        expect(&c.v.errors, "/pools/1000", "unsupported_size");
        assert_non_null(strstr(c.v.errors.items[0].message, "2Mi, 1Gi"));
        done(&c);

        load_machine(&c, "nogigantic", NULL);
        check(&c, "{\"pools\": {\"1Gi\": {\"count\": 1}}, \"default_size\": \"1Gi\"}", NULL);
        expect(&c.v.errors, "/pools/1Gi", "unsupported_size");
        expect(&c.v.errors, "/default_size", "unsupported_size");
        done(&c);
}

static void test_nodes(void **state)
{
        (void) state;
        struct ctx c;
        load_machine(&c, "x86-2node", NULL);
        check(&c, "{\"pools\": {\"1Gi\": {\"nodes\": {\"0\": 1, \"3\": 1}}}}", NULL);
        expect(&c.v.errors, "/pools/1Gi/nodes/3", "unknown_node");

        check(&c, "{\"pools\": {\"2Mi\": {\"count\": 10, \"nodes\": {\"0\": 4, \"1\": 5}}}}", NULL);
        expect(&c.v.errors, "/pools/2Mi/count", "count_mismatch");

        check(&c, "{\"pools\": {\"2Mi\": {\"count\": 4, \"nodes\": {\"0\": 4}}}}", NULL);
        expect(&c.v.errors, "/pools/2Mi/nodes", "nodes_incomplete");

        check(&c, "{\"pools\": {\"2Mi\": {\"count\": 9, \"nodes\": {\"0\": 4, \"1\": 5}}}}", NULL);
        assert_true(validation_ok(&c.v));

        /* Nodes not listed keep their pages: node1 still holds 256. */
        check(&c, "{\"pools\": {\"2Mi\": {\"nodes\": {\"0\": 100}}}}", NULL);
        assert_true(validation_ok(&c.v));
        assert_int_equal(c.v.hugepages_kb, (100 + 256) * 2048 + 2 * 1048576);
        done(&c);

        load_machine(&c, "nonuma", NULL);
        check(&c, "{\"pools\": {\"2Mi\": {\"nodes\": {\"0\": 1}}}}", NULL);
        expect(&c.v.errors, "/pools/2Mi/nodes/0", "unknown_node");
        assert_non_null(strstr(c.v.errors.items[0].message, "no NUMA nodes"));
        done(&c);
}

static void test_memory_limits(void **state)
{
        (void) state;
        struct ctx c;
        load_machine(&c, "x86-2node", NULL);

        /* 40000 × 2 MiB = 78 GiB > 62.6 GiB */
        check(&c, "{\"pools\": {\"2Mi\": {\"count\": 40000}}}", NULL);
        expect(&c.v.errors, "/pools", "exceeds_memory");

        /* 28000 × 2 MiB + 2 GiB ≈ 56.7 GiB: fits, but leaves less than the
         * 10 % reserve (6.26 GiB). */
        check(&c, "{\"pools\": {\"2Mi\": {\"count\": 28000}}}", NULL);
        expect(&c.v.errors, "/pools", "host_reserve");

        /* The same with a 1Gi reserve passes. */
        const struct validate_opts small = { .reserve_kb = 1024 * 1024 };
        check(&c, "{\"pools\": {\"2Mi\": {\"count\": 28000}}}", &small);
        assert_true(validation_ok(&c.v));

        /* 40 GiB on node 0 alone exceeds its 31 GiB, though the machine
         * could hold it. */
        check(&c, "{\"pools\": {\"1Gi\": {\"nodes\": {\"0\": 40}}}}", &small);
        expect(&c.v.errors, "/pools/1Gi/nodes/0", "exceeds_node_memory");

        /* 15300 × 2 MiB and its 1Gi page leave node 0 about 213 MiB: the
         * machine has plenty, but processes bound to node 0 would starve.
         * Node 0's share of the 10 % reserve is about 3.1 GiB. */
        check(&c, "{\"pools\": {\"2Mi\": {\"nodes\": {\"0\": 15300}}}}", NULL);
        expect(&c.v.errors, "/pools/2Mi/nodes/0", "host_reserve");
        assert_non_null(strstr(c.v.errors.items[0].message, "NUMA node 0"));
        check(&c, "{\"pools\": {\"2Mi\": {\"nodes\": {\"0\": 12000}}}}", NULL);
        dump("errors", &c.v.errors);
        assert_true(validation_ok(&c.v));

        /* The message gives the real reserve, not the amount left. */
        check(&c, "{\"pools\": {\"2Mi\": {\"count\": 28000}}}", NULL);
        expect(&c.v.errors, "/pools", "host_reserve");
        assert_non_null(strstr(c.v.errors.items[0].message, "leaving 6165332Ki"));
        assert_non_null(strstr(c.v.errors.items[0].message, "at least 6560640Ki"));

        /* Per-node counts that overflow are named too. */
        check(&c, "{\"pools\": {\"1Gi\": {\"nodes\": {\"1\": 9223372036854775807}}}}", NULL);
        expect(&c.v.errors, "/pools/1Gi/nodes/1", "too_large");

        /* A count so large that pages × size overflows 64 bits. */
        check(&c, "{\"pools\": {\"1Gi\": {\"count\": 9223372036854775807}}}", NULL);
        expect(&c.v.errors, "/pools/1Gi/count", "too_large");
        expect(&c.v.errors, "/pools", "exceeds_memory");
        done(&c);
}

static void test_limits_are_warnings_when_not_growing(void **state)
{
        (void) state;
        struct ctx c;
        load_machine(&c, "x86-2node", NULL);
        /* The node already holds 2.5 GiB of pools; a 64 GiB reserve is
         * breached today. A config that only shrinks must not be blocked,
         * or the operator could not get out of that state. */
        const struct validate_opts huge = { .reserve_kb = 64ULL * 1024 * 1024 };
        check(&c, "{\"pools\": {\"2Mi\": {\"count\": 100}}}", &huge);
        assert_true(validation_ok(&c.v));
        expect(&c.v.warnings, "/pools", "host_reserve");
        check(&c, "{\"pools\": {\"2Mi\": {\"count\": 600}}}", &huge);
        expect(&c.v.errors, "/pools", "host_reserve");
        done(&c);
}

static void test_thp(void **state)
{
        (void) state;
        struct ctx c;
        load_machine(&c, "x86-2node", NULL);
        check(&c, "{\"transparent_hugepage\": {\"enabled\": \"sometimes\", \"defrag\": \"defer\"}}", NULL);
        expect(&c.v.errors, "/transparent_hugepage/enabled", "thp_value");
        assert_int_equal(c.v.errors.n, 1);
        assert_non_null(strstr(c.v.errors.items[0].message, "always, madvise, never"));
        done(&c);
}

static void no_shmem_enabled(const char *dir)
{
        fixture_put(dir, "sys/kernel/mm/transparent_hugepage/shmem_enabled", NULL);
}
static void test_thp_unsupported(void **state)
{
        (void) state;
        struct ctx c;
        load_machine(&c, "x86-2node", no_shmem_enabled);
        check(&c, "{\"transparent_hugepage\": {\"shmem_enabled\": \"never\"}}", NULL);
        expect(&c.v.errors, "/transparent_hugepage/shmem_enabled", "thp_unsupported");
        done(&c);
}

static void test_default_size(void **state)
{
        (void) state;
        struct ctx c;
        load_machine(&c, "x86-2node", NULL);
        check(&c, "{\"default_size\": \"2Mi\"}", NULL);
        assert_true(validation_ok(&c.v));
        assert_int_equal(c.v.reboot_required.n, 0);
        check(&c, "{\"default_size\": \"1Gi\"}", NULL);
        assert_true(validation_ok(&c.v));
        expect(&c.v.reboot_required, "/default_size", "default_size_change");
        expect(&c.v.warnings, "/default_size", "default_size_change");
        check(&c, "{\"default_size\": \"1048576Ki\"}", NULL);
        expect(&c.v.reboot_required, "/default_size", "default_size_change");
        done(&c);
}

/* With the error off (the console's boot and recovery paths): a warning. */
static void test_shrink_in_use(void **state)
{
        (void) state;
        struct ctx c;
        load_machine(&c, "x86-2node", NULL);
        /* 12 pages in use and 10 reserved: the kernel keeps 22. */
        check(&c, "{\"pools\": {\"2Mi\": {\"count\": 0}}}", NULL);
        assert_true(validation_ok(&c.v));
        expect(&c.v.warnings, "/pools/2Mi", "shrink_in_use");
        assert_non_null(strstr(c.v.warnings.items[0].message, "22"));
        assert_int_equal(c.v.hugepages_kb, 22 * 2048 + 2 * 1048576);
        check(&c, "{\"pools\": {\"2Mi\": {\"count\": 22}}}", NULL);
        assert_int_equal(c.v.warnings.n, 0);
        done(&c);
}

/* The service's choice (validate.h): below the pages in use is an error
 * that says how many and by whom, and the warning above is not given. */
static void holders_in_proc(const char *dir)
{
        char cmd[1024];
        snprintf(cmd, sizeof(cmd), "cp -r %s/procfs-holders/proc/[0-9]* %s/proc/", FIXTURES, dir);
        if (system(cmd) != 0)
                fail_msg("%s failed", cmd);
}

static const struct finding *find(const struct findings *f, const char *pointer, const char *code)
{
        expect(f, pointer, code);
        for (size_t i = 0; i < f->n; i++)
                if (strcmp(f->items[i].pointer, pointer) == 0 && strcmp(f->items[i].code, code) == 0)
                        return &f->items[i];
        return NULL;
}

static void test_shrink_in_use_is_error(void **state)
{
        (void) state;
        struct ctx c;
        load_machine(&c, "x86-2node", holders_in_proc);
        struct validate_opts o = default_opts;
        o.shrink_in_use_is_error = true;

        /* Without a procfs to scan: the counts, no holders. */
        check(&c, "{\"pools\": {\"2Mi\": {\"count\": 16}}}", &o);
        assert_false(validation_ok(&c.v));
        const struct finding *f = find(&c.v.errors, "/pools/2Mi/count", "below_in_use");
        assert_non_null(strstr(f->message, "22 are in use or reserved (12 in use, 10 reserved)"));
        for (size_t i = 0; i < c.v.warnings.n; i++)
                assert_string_not_equal(c.v.warnings.items[i].code, "shrink_in_use");

        /* With one: the holders are named, the largest first. */
        o.fs = &c.fs;
        check(&c, "{\"pools\": {\"2Mi\": {\"count\": 16}}}", &o);
        f = find(&c.v.errors, "/pools/2Mi/count", "below_in_use");
        assert_non_null(strstr(f->message, "held by qemu-kvm (pid 4242, VM default/db-1, 6 pages)"));
        assert_non_null(strstr(f->message, "reactor_0 (pid 777"));

        /* Per node, only the pages in use there (6 on each node). */
        check(&c, "{\"pools\": {\"2Mi\": {\"nodes\": {\"0\": 5, \"1\": 6}}}}", &o);
        f = find(&c.v.errors, "/pools/2Mi/nodes/0", "below_in_use");
        assert_non_null(strstr(f->message, "NUMA node 0"));
        assert_non_null(strstr(f->message, "qemu-kvm (pid 4242, VM default/db-1, 4 pages)"));
        for (size_t i = 0; i < c.v.errors.n; i++)
                assert_string_not_equal(c.v.errors.items[i].pointer, "/pools/2Mi/nodes/1");
        /* ... and the pool as a whole (11 < 22) too. */
        expect(&c.v.errors, "/pools/2Mi/nodes", "below_in_use");

        /* At the pages held, or above: valid, no finding about it. */
        check(&c, "{\"pools\": {\"2Mi\": {\"count\": 22}}}", &o);
        assert_true(validation_ok(&c.v));
        assert_int_equal(c.v.warnings.n, 0);
        /* A pool the config does not name is not checked. */
        check(&c, "{\"pools\": {\"1Gi\": {\"count\": 0}}}", &o);
        assert_true(validation_ok(&c.v));
        done(&c);
}

/* Floors (--floor-file) through the validation options. */
static void test_floors(void **state)
{
        (void) state;
        struct ctx c;
        load_machine(&c, "x86-2node", NULL);
        struct floors fl;
        struct errbuf err;
        const char *text = "2Mi 300 longhorn-v2\n2Mi 100 dpdk\n";
        assert_int_equal(floors_parse(text, strlen(text), "floors.txt", &fl, &err), 0);
        struct validate_opts o = default_opts;
        o.floors = &fl;
        check(&c, "{\"pools\": {\"2Mi\": {\"count\": 399}}}", &o);
        assert_false(validation_ok(&c.v));
        const struct finding *f = find(&c.v.errors, "/pools/2Mi/count", "below_floor");
        assert_non_null(
                strstr(f->message, "400 pages kept for longhorn-v2 (300, floors.txt line 1) and dpdk"));
        check(&c, "{\"pools\": {\"2Mi\": {\"count\": 400}}}", &o);
        assert_true(validation_ok(&c.v));
        /* Pools given by nodes: the listed nodes plus what the others hold. */
        check(&c, "{\"pools\": {\"2Mi\": {\"nodes\": {\"0\": 100}}}}", &o);
        expect(&c.v.errors, "/pools/2Mi/nodes", "below_floor");
        check(&c, "{\"pools\": {\"2Mi\": {\"nodes\": {\"0\": 144}}}}", &o);
        assert_true(validation_ok(&c.v));
        /* Not naming the pool leaves it alone. */
        check(&c, "{\"pools\": {\"1Gi\": {\"count\": 1}}}", &o);
        assert_true(validation_ok(&c.v));
        floors_release(&fl);
        done(&c);
}

static void overcommit(const char *dir)
{
        fixture_put(dir, "sys/kernel/mm/hugepages/hugepages-2048kB/nr_overcommit_hugepages", "512\n");
}
static void test_overcommit_warning(void **state)
{
        (void) state;
        struct ctx c;
        load_machine(&c, "x86-2node", overcommit);
        check(&c, "{\"pools\": {\"2Mi\": {\"count\": 512}}}", NULL);
        assert_true(validation_ok(&c.v));
        expect(&c.v.warnings, "/pools/2Mi", "overcommit_present");
        done(&c);
}

static void test_empty_config(void **state)
{
        (void) state;
        struct ctx c;
        load_machine(&c, "x86-2node", NULL);
        check(&c, "{}", NULL);
        assert_true(validation_ok(&c.v));
        expect(&c.v.warnings, "", "empty_config");
        assert_int_equal(c.v.hugepages_kb, c.v.current_hugepages_kb);
        done(&c);
}

static void test_arm64_gigantic(void **state)
{
        (void) state;
        struct ctx c;
        load_machine(&c, "arm64", NULL);
        check(&c, "{\"pools\": {\"64Ki\": {\"count\": 16}, \"32Mi\": {\"count\": 4}}}", NULL);
        assert_true(validation_ok(&c.v));
        expect(&c.v.warnings, "/pools/32Mi", "gigantic_runtime");
        for (size_t i = 0; i < c.v.warnings.n; i++)
                assert_string_not_equal(c.v.warnings.items[i].pointer, "/pools/64Ki");
        done(&c);
}

static void test_reserve_and_max_pages(void **state)
{
        (void) state;
        const struct validate_opts o = { .reserve_kb = 1024 * 1024, .reserve_percent = 10 };
        assert_int_equal(validate_reserve_kb(&o, 4 * 1024 * 1024), 1024 * 1024);
        assert_int_equal(validate_reserve_kb(&o, 100 * 1024 * 1024), 10 * 1024 * 1024);
        const struct validate_opts abs = { .reserve_kb = 2 * 1024 * 1024 };
        assert_int_equal(validate_max_pages(&abs, 10 * 1024 * 1024, 2048), 8 * 512);
        assert_int_equal(validate_max_pages(&abs, 1024 * 1024, 2048), 0);
        assert_int_equal(validate_max_pages(&abs, 10 * 1024 * 1024, 0), 0);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_valid_config_and_memory),
                cmocka_unit_test(test_unsupported_size),
                cmocka_unit_test(test_nodes),
                cmocka_unit_test(test_memory_limits),
                cmocka_unit_test(test_limits_are_warnings_when_not_growing),
                cmocka_unit_test(test_thp),
                cmocka_unit_test(test_thp_unsupported),
                cmocka_unit_test(test_default_size),
                cmocka_unit_test(test_shrink_in_use),
                cmocka_unit_test(test_shrink_in_use_is_error),
                cmocka_unit_test(test_floors),
                cmocka_unit_test(test_overcommit_warning),
                cmocka_unit_test(test_empty_config),
                cmocka_unit_test(test_arm64_gigantic),
                cmocka_unit_test(test_reserve_and_max_pages),
        };
        return cmocka_run_group_tests_name("validate", tests, NULL, NULL);
}
