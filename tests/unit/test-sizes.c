/* Size discovery on fake trees that copy the kernel's formats: an x86_64
 * host with two NUMA nodes, an arm64 host, a host without gigantic pages, a
 * kernel without NUMA, and broken trees that must fail with the file named. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../model/sizes.h"
#include "fixture.h"

struct ctx {
        char *dir;
        struct sysfs fs;
        struct sizes s;
        struct errbuf err;
};

static int read_fixture(const char *name, struct ctx *c, void (*mutate)(const char *dir))
{
        memset(c, 0, sizeof(*c));
        c->dir = fixture_copy(name);
        if (mutate)
                mutate(c->dir);
        fixture_sysfs(c->dir, &c->fs);
        return sizes_read(&c->fs, 4, &c->s, &c->err);
}

static void done(struct ctx *c)
{
        sizes_release(&c->s);
        sysfs_release(&c->fs);
        fixture_remove(c->dir);
}

static void test_x86_two_nodes(void **state)
{
        (void) state;
        struct ctx c;
        assert_int_equal(read_fixture("x86-2node", &c, NULL), 0);

        assert_int_equal(c.s.default_size_kb, 2048);
        assert_int_equal(c.s.mem_total_kb, 65606484);
        assert_int_equal(c.s.mem_available_kb, 56310484);
        assert_int_equal(c.s.n_nodes, 2);
        assert_int_equal(c.s.nodes[0].id, 0);
        assert_int_equal(c.s.nodes[1].id, 1);
        assert_int_equal(c.s.nodes[0].mem_total_kb, 32601320);
        assert_int_equal(c.s.nodes[1].mem_total_kb, 33005164);
        assert_true(c.s.nodes[0].has_hugepages);

        assert_int_equal(c.s.n_sizes, 2);
        const struct size_info *m2 = &c.s.sizes[0], *g1 = &c.s.sizes[1];
        assert_int_equal(m2->size_kb, 2048);
        assert_int_equal(g1->size_kb, 1048576);
        assert_int_equal(m2->nr, 512);
        assert_int_equal(m2->free, 500);
        assert_int_equal(m2->resv, 10);
        assert_int_equal(m2->surplus, 0);
        assert_int_equal(m2->overcommit, 0);
        assert_int_equal(m2->nodes[0].nr, 256);
        assert_int_equal(m2->nodes[1].free, 250);
        assert_int_equal(g1->nr, 2);
        assert_int_equal(g1->nodes[0].nr, 1);
        assert_int_equal(g1->nodes[1].nr, 1);

        assert_false(size_is_gigantic(&c.s, 2048));
        assert_true(size_is_gigantic(&c.s, 1048576));
        assert_ptr_equal(sizes_find(&c.s, 2048), m2);
        assert_null(sizes_find(&c.s, 4096));
        assert_int_equal(sizes_node_index(&c.s, 1), 1);
        assert_int_equal(sizes_node_index(&c.s, 2), -1);
        done(&c);
}

static void test_arm64(void **state)
{
        (void) state;
        struct ctx c;
        assert_int_equal(read_fixture("arm64", &c, NULL), 0);
        assert_int_equal(c.s.n_sizes, 4);
        uint64_t want[] = { 64, 2048, 32768, 1048576 };
        for (size_t i = 0; i < 4; i++)
                assert_int_equal(c.s.sizes[i].size_kb, want[i]);
        /* With 4 KiB base pages the buddy allocator's largest block is
         * 4 MiB: 64Ki and 2Mi are ordinary, 32Mi and 1Gi gigantic. */
        assert_false(size_is_gigantic(&c.s, 64));
        assert_false(size_is_gigantic(&c.s, 2048));
        assert_true(size_is_gigantic(&c.s, 32768));
        assert_true(size_is_gigantic(&c.s, 1048576));
        assert_int_equal(c.s.sizes[1].nr, 64);
        assert_int_equal(c.s.n_nodes, 1);
        done(&c);
}

static void test_no_gigantic(void **state)
{
        (void) state;
        struct ctx c;
        assert_int_equal(read_fixture("nogigantic", &c, NULL), 0);
        assert_int_equal(c.s.n_sizes, 1);
        assert_int_equal(c.s.sizes[0].size_kb, 2048);
        assert_null(sizes_find(&c.s, 1048576));
        done(&c);
}

static void test_no_numa(void **state)
{
        (void) state;
        struct ctx c;
        assert_int_equal(read_fixture("nonuma", &c, NULL), 0);
        assert_int_equal(c.s.n_nodes, 0);
        assert_int_equal(c.s.n_sizes, 2);
        done(&c);
}

static void test_broken_fixture(void **state)
{
        (void) state;
        struct ctx c;
        int r = read_fixture("broken", &c, NULL);
        assert_int_not_equal(r, 0);
        /* The first defect met is reported with its file. */
        print_message("broken: %s\n", c.err.msg);
        assert_true(strstr(c.err.msg, "meminfo") || strstr(c.err.msg, "free_hugepages") ||
                    strstr(c.err.msg, "nr_hugepages"));
        done(&c);
}

static void garble_nr(const char *dir)
{
        fixture_put(dir, "sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages", "12x\n");
}
static void test_garbled_counter(void **state)
{
        (void) state;
        struct ctx c;
        assert_int_equal(read_fixture("x86-2node", &c, garble_nr), -EINVAL);
        assert_non_null(strstr(c.err.msg, "hugepages-2048kB/nr_hugepages"));
        assert_non_null(strstr(c.err.msg, "\"12x\""));
        done(&c);
}

static void drop_free(const char *dir)
{
        fixture_put(dir, "sys/kernel/mm/hugepages/hugepages-1048576kB/free_hugepages", NULL);
}
static void test_missing_counter(void **state)
{
        (void) state;
        struct ctx c;
        assert_int_equal(read_fixture("x86-2node", &c, drop_free), -ENOENT);
        assert_non_null(strstr(c.err.msg, "hugepages-1048576kB/free_hugepages"));
        done(&c);
}

static void drop_hugepagesize(const char *dir)
{
        fixture_put(dir, "proc/meminfo", "MemTotal:       65606484 kB\nMemAvailable:   56310484 kB\n");
}
static void test_missing_default_size(void **state)
{
        (void) state;
        struct ctx c;
        assert_int_equal(read_fixture("x86-2node", &c, drop_hugepagesize), -ENOENT);
        assert_non_null(strstr(c.err.msg, "Hugepagesize"));
        done(&c);
}

static void drop_node_meminfo(const char *dir)
{
        fixture_put(dir, "sys/devices/system/node/node1/meminfo", NULL);
}
static void test_missing_node_meminfo(void **state)
{
        (void) state;
        struct ctx c;
        assert_int_equal(read_fixture("x86-2node", &c, drop_node_meminfo), -ENOENT);
        assert_non_null(strstr(c.err.msg, "node1/meminfo"));
        done(&c);
}

static void surplus(const char *dir)
{
        fixture_put(dir, "sys/kernel/mm/hugepages/hugepages-2048kB/surplus_hugepages", "12\n");
        fixture_put(dir, "sys/devices/system/node/node0/hugepages/hugepages-2048kB/surplus_hugepages", "12\n");
}
static void test_persistent_excludes_surplus(void **state)
{
        (void) state;
        struct ctx c;
        assert_int_equal(read_fixture("x86-2node", &c, surplus), 0);
        assert_int_equal(size_persistent(&c.s.sizes[0]), 500);
        assert_int_equal(size_node_persistent(&c.s.sizes[0].nodes[0]), 244);
        assert_int_equal(size_node_persistent(&c.s.sizes[0].nodes[1]), 256);
        done(&c);
}

static void memoryless_node1(const char *dir)
{
        char cmd[4200];
        snprintf(cmd, sizeof(cmd), "rm -rf '%s/sys/devices/system/node/node1/hugepages'", dir);
        assert_int_equal(system(cmd), 0);
}
static void test_memoryless_node(void **state)
{
        (void) state;
        struct ctx c;
        assert_int_equal(read_fixture("x86-2node", &c, memoryless_node1), 0);
        assert_int_equal(c.s.n_nodes, 2);
        assert_true(c.s.nodes[0].has_hugepages);
        assert_false(c.s.nodes[1].has_hugepages);
        assert_int_equal(c.s.sizes[0].nodes[1].nr, 0);
        done(&c);
}

static void default_without_dir(const char *dir)
{
        const char *m = fixture_get(dir, "proc/meminfo");
        char buf[8192];
        snprintf(buf, sizeof(buf), "%s", m);
        char *p = strstr(buf, "Hugepagesize:       2048 kB");
        assert_non_null(p);
        memcpy(p, "Hugepagesize:       4096 kB", strlen("Hugepagesize:       4096 kB"));
        fixture_put(dir, "proc/meminfo", buf);
}
static void test_default_size_must_exist(void **state)
{
        (void) state;
        struct ctx c;
        assert_int_equal(read_fixture("x86-2node", &c, default_without_dir), -EINVAL);
        assert_non_null(strstr(c.err.msg, "4096 kB"));
        done(&c);
}

static void test_gigantic_by_base_page(void **state)
{
        (void) state;
        /* arm64's largest buddy block: 4 MiB with 4 KiB pages (order 10),
         * 32 MiB with 16 KiB pages (order 11), 512 MiB with 64 KiB pages
         * (order 13). */
        struct sizes s = { .base_page_kb = 4 };
        assert_false(size_is_gigantic(&s, 4096));
        assert_true(size_is_gigantic(&s, 32768));
        s.base_page_kb = 16;
        assert_false(size_is_gigantic(&s, 32768));
        assert_true(size_is_gigantic(&s, 1048576));
        s.base_page_kb = 64;
        assert_false(size_is_gigantic(&s, 2048));
        assert_false(size_is_gigantic(&s, 524288));
        assert_true(size_is_gigantic(&s, 16777216));
}

static void test_paths(void **state)
{
        (void) state;
        char buf[160];
        assert_int_equal(sizes_path(buf, sizeof(buf), 2048, -1, "nr_hugepages"), 0);
        assert_string_equal(buf, "kernel/mm/hugepages/hugepages-2048kB/nr_hugepages");
        assert_int_equal(sizes_path(buf, sizeof(buf), 1048576, 3, "free_hugepages"), 0);
        assert_string_equal(buf, "devices/system/node/node3/hugepages/hugepages-1048576kB/free_hugepages");
        assert_int_equal(sizes_path(buf, 10, 2048, -1, "nr_hugepages"), -ENAMETOOLONG);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_x86_two_nodes),
                cmocka_unit_test(test_arm64),
                cmocka_unit_test(test_no_gigantic),
                cmocka_unit_test(test_no_numa),
                cmocka_unit_test(test_broken_fixture),
                cmocka_unit_test(test_garbled_counter),
                cmocka_unit_test(test_missing_counter),
                cmocka_unit_test(test_missing_default_size),
                cmocka_unit_test(test_missing_node_meminfo),
                cmocka_unit_test(test_persistent_excludes_surplus),
                cmocka_unit_test(test_memoryless_node),
                cmocka_unit_test(test_default_size_must_exist),
                cmocka_unit_test(test_gigantic_by_base_page),
                cmocka_unit_test(test_paths),
        };
        return cmocka_run_group_tests_name("sizes", tests, NULL, NULL);
}
