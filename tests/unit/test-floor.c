/* How low a pool may go (model/floor.c): the floor file, the floor rule, the
 * rule against shrinking below the pages in use (with their holders from
 * tests/fixtures/procfs-holders), and the apply path's re-check. x86-2node's
 * 2Mi pool: 512 pages, 500 free, 10 reserved (22 held: 12 in use, 6 per
 * node); 1Gi: 2 pages, both free. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../../model/floor.h"
#include "fixture.h"

#define VL_UID "7c1f5b2e-3a4d-4e8f-9b6a-2d1c0e9f8a7b"
#define LH_UID "0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d"

struct ctx {
        char *dir;
        struct sysfs fs;
        struct sizes s;
        struct holders h;
};

static int setup(void **state)
{
        struct ctx *c = calloc(1, sizeof(*c));
        c->dir = fixture_copy("x86-2node");
        fixture_sysfs(c->dir, &c->fs);
        struct errbuf err;
        if (sizes_read(&c->fs, 4, &c->s, &err) < 0)
                fail_msg("cannot read x86-2node: %s", err.msg);
        struct sysfs procs;
        assert_int_equal(sysfs_init(&procs, "/nonexistent", FIXTURES "/procfs-holders/proc"), 0);
        if (holders_scan(&procs, &c->s, NULL, &c->h, &err) < 0)
                fail_msg("cannot scan procfs-holders: %s", err.msg);
        sysfs_release(&procs);
        *state = c;
        return 0;
}

static int teardown(void **state)
{
        struct ctx *c = *state;
        holders_release(&c->h);
        sizes_release(&c->s);
        sysfs_release(&c->fs);
        fixture_remove(c->dir);
        free(c);
        return 0;
}

static void parse_ok(const char *text, struct floors *ret)
{
        struct errbuf err = { { 0 } };
        int r = floors_parse(text, strlen(text), "/etc/hugepaged/floors", ret, &err);
        if (r != 0)
                fail_msg("floors_parse returned %d: %s", r, err.msg);
}

static void parse_bad(const char *text, const char *want)
{
        struct floors f = { .n = 99 };
        struct errbuf err = { { 0 } };
        int r = floors_parse(text, strlen(text), "F", &f, &err);
        if (r != -EINVAL)
                fail_msg("floors_parse(\"%s\") returned %d, expected -EINVAL", text, r);
        assert_int_equal(f.n, 99);
        if (!strstr(err.msg, want))
                fail_msg("floors_parse(\"%s\") said \"%s\", expected \"%s\" in it", text, err.msg, want);
}

static void load_config(const char *json, struct config *ret)
{
        struct findings errors = { 0 };
        json_t *doc = NULL;
        if (config_load(json, strlen(json), &doc, &errors) < 0 || config_parse(doc, ret, &errors) < 0)
                fail_msg("config did not parse: %s", json);
        json_decref(doc);
}

static void dump(const struct findings *f)
{
        for (size_t i = 0; i < f->n; i++)
                print_message("  have: %s %s: %s\n", f->items[i].pointer, f->items[i].code,
                              f->items[i].message);
}

static const struct finding *expect(const struct findings *f, const char *pointer, const char *code)
{
        for (size_t i = 0; i < f->n; i++)
                if (strcmp(f->items[i].pointer, pointer) == 0 && strcmp(f->items[i].code, code) == 0)
                        return &f->items[i];
        dump(f);
        fail_msg("expected a finding %s at \"%s\"", code, pointer);
        return NULL;
}

static void expect_text(const struct finding *x, const char *part)
{
        if (!strstr(x->message, part))
                fail_msg("message \"%s\" does not contain \"%s\"", x->message, part);
}

/* Runs floor_check (f) or inuse_check (h) on config_json; returns the
 * findings. */
static void run_floor(const struct ctx *c, const struct floors *f, const char *config_json,
                      struct findings *e)
{
        struct config cfg;
        load_config(config_json, &cfg);
        *e = (struct findings){ 0 };
        assert_int_equal(floor_check(f, &cfg, &c->s, e), 0);
        config_release(&cfg);
}

static void run_inuse(const struct ctx *c, const struct holders *h, const char *config_json,
                      struct findings *e)
{
        struct config cfg;
        load_config(config_json, &cfg);
        *e = (struct findings){ 0 };
        assert_int_equal(inuse_check(&cfg, &c->s, h, e), 0);
        config_release(&cfg);
}

/* ---- the file --------------------------------------------------------- */

static void test_parse(void **state)
{
        (void) state;
        struct floors f;
        parse_ok("# hugepaged floors: pages other components keep\n"
                 "\n"
                 "2Mi 1024 longhorn-v2\r\n"
                 "   # an indented comment\n"
                 "2048Ki\t256\tspdk.app_1   # a trailing comment\n"
                 "1Gi 2 dpdk-gateway",
                 &f);
        assert_int_equal(f.n, 3);
        assert_string_equal(f.source, "/etc/hugepaged/floors");
        assert_int_equal(f.items[0].size_kb, 2048);
        assert_int_equal(f.items[0].pages, 1024);
        assert_string_equal(f.items[0].owner, "longhorn-v2");
        assert_int_equal(f.items[0].line, 3);
        assert_int_equal(f.items[1].size_kb, 2048);
        assert_string_equal(f.items[1].owner, "spdk.app_1");
        assert_int_equal(f.items[1].line, 5);
        assert_int_equal(f.items[2].size_kb, 1048576);
        assert_int_equal(f.items[2].line, 6);
        /* Floors of one size add up. */
        assert_int_equal(floors_pages(&f, 2048), 1280);
        assert_int_equal(floors_pages(&f, 1048576), 2);
        assert_int_equal(floors_pages(&f, 64), 0);
        assert_int_equal(floors_pages(NULL, 2048), 0);

        json_t *j = floors_to_json(&f);
        assert_int_equal(json_array_size(j), 3);
        json_t *o = json_array_get(j, 1);
        assert_string_equal(json_string_value(json_object_get(o, "size")), "2Mi");
        assert_int_equal(json_integer_value(json_object_get(o, "pages")), 256);
        assert_string_equal(json_string_value(json_object_get(o, "owner")), "spdk.app_1");
        json_decref(j);
        floors_release(&f);

        parse_ok("", &f);
        assert_int_equal(f.n, 0);
        floors_release(&f);
        parse_ok("\n# nothing\n\n", &f);
        assert_int_equal(f.n, 0);
        floors_release(&f);
        floors_release(NULL);
}

static void test_parse_errors(void **state)
{
        (void) state;
        parse_bad("2Mi 1024\n", "F:1: expected SIZE PAGES OWNER");
        parse_bad("# ok\n2Mi 1024 longhorn v2\n", "F:2: too many fields");
        parse_bad("2M 1024 longhorn-v2\n", "F:1: \"2M\" is not a hugepage size");
        parse_bad("2MB 1024 longhorn-v2\n", "F:1: \"2MB\" is not a size");
        parse_bad("0 1024 longhorn-v2\n", "not a hugepage size");
        parse_bad("99999Ei 1 x\n", "is not a size");
        parse_bad("2Mi -1 longhorn-v2\n", "\"-1\" is not a page count");
        parse_bad("2Mi +1 longhorn-v2\n", "\"+1\" is not a page count");
        parse_bad("2Mi 1e3 longhorn-v2\n", "\"1e3\" is not a page count");
        parse_bad("2Mi 99999999999999999999 longhorn-v2\n", "is not a page count");
        parse_bad("2Mi 1 longhorn/v2\n", "\"longhorn/v2\" is not an owner name");
        parse_bad("2Mi 1 l\xc3\xb6nghorn\n", "is not an owner name");
        parse_bad("2Mi 1 a\x01\n", "control character");
        parse_bad("2Mi 1 a\vb\n", "control character");
        parse_bad("2Mi 1 x\n2048Ki 5 x\n", "F:2: 2Mi for x is already given on line 1");

        char owner[80];
        memset(owner, 'o', 64);
        owner[64] = '\0';
        char text[200];
        snprintf(text, sizeof(text), "2Mi 1 %s\n", owner);
        parse_bad(text, "not an owner name");

        char line[300];
        memset(line, ' ', 256);
        line[256] = '\0';
        parse_bad(line, "F:1: longer than 255 bytes");

        char many[4096] = "";
        for (int i = 0; i <= FLOORS_MAX; i++)
                snprintf(many + strlen(many), sizeof(many) - strlen(many), "2Mi 1 o%d\n", i);
        parse_bad(many, "F:65: more than 64 floors");

        struct floors f;
        struct errbuf err;
        assert_int_equal(floors_parse("2Mi 1 a\0b", 9, "F", &f, &err), -EINVAL);
        assert_non_null(strstr(err.msg, "NUL"));
        char *big = calloc(1, FLOORS_MAX_BYTES + 2);
        memset(big, '#', FLOORS_MAX_BYTES + 1);
        assert_int_equal(floors_parse(big, FLOORS_MAX_BYTES + 1, "F", &f, &err), -EINVAL);
        free(big);
}

static void test_load(void **state)
{
        (void) state;
        char path[] = "/tmp/hugepaged-test-floors-XXXXXX";
        int fd = mkstemp(path);
        assert_true(fd >= 0);
        const char *text = "2Mi 1024 longhorn-v2\n";
        assert_int_equal(write(fd, text, strlen(text)), (ssize_t) strlen(text));
        close(fd);
        struct floors f;
        struct errbuf err;
        assert_int_equal(floors_load(path, &f, &err), 0);
        assert_int_equal(f.n, 1);
        assert_string_equal(f.source, path);
        floors_release(&f);

        fd = open(path, O_WRONLY | O_APPEND);
        assert_int_equal(write(fd, "oops\n", 5), 5);
        close(fd);
        assert_int_equal(floors_load(path, &f, &err), -EINVAL);
        assert_non_null(strstr(err.msg, ":2:"));
        assert_non_null(strstr(err.msg, path));
        unlink(path);
        assert_int_equal(floors_load(path, &f, &err), -ENOENT);
        assert_non_null(strstr(err.msg, path));
}

static void test_verify(void **state)
{
        struct ctx *c = *state;
        struct floors f;
        struct errbuf err;
        parse_ok("2Mi 1 a\n1Gi 1 b\n", &f);
        assert_int_equal(floors_verify(&f, &c->s, &err), 0);
        floors_release(&f);
        parse_ok("2Mi 1 a\n4Mi 1 b\n", &f);
        assert_int_equal(floors_verify(&f, &c->s, &err), -ENOENT);
        assert_non_null(strstr(err.msg, "/etc/hugepaged/floors:2: this kernel has no 4Mi hugepages"));
        floors_release(&f);
}

/* ---- the floor rule --------------------------------------------------- */

static void test_floor_check(void **state)
{
        struct ctx *c = *state;
        struct floors f;
        struct findings e;
        parse_ok("# Longhorn V2 data engine\n2Mi 1024 longhorn-v2\n", &f);

        run_floor(c, &f, "{\"pools\": {\"2Mi\": {\"count\": 512}}}", &e);
        assert_int_equal(e.n, 1);
        const struct finding *x = expect(&e, "/pools/2Mi/count", "below_floor");
        expect_text(x, "the 2Mi pool would hold 512 pages, below the 1024 pages kept for longhorn-v2 "
                       "(/etc/hugepaged/floors, line 2); keep at least 1024");
        findings_release(&e);

        run_floor(c, &f, "{\"pools\": {\"2Mi\": {\"count\": 1024}}}", &e);
        assert_int_equal(e.n, 0);
        run_floor(c, &f, "{\"pools\": {\"1Gi\": {\"count\": 0}}}", &e);
        assert_int_equal(e.n, 0); /* the 2Mi pool is not changed */
        run_floor(c, &f, "{}", &e);
        assert_int_equal(e.n, 0);

        /* By nodes: node 1 keeps its 256. */
        run_floor(c, &f, "{\"pools\": {\"2048Ki\": {\"nodes\": {\"0\": 600}}}}", &e);
        expect_text(expect(&e, "/pools/2048Ki/nodes", "below_floor"), "would hold 856 pages");
        findings_release(&e);
        run_floor(c, &f, "{\"pools\": {\"2Mi\": {\"nodes\": {\"0\": 600, \"1\": 600}}}}", &e);
        assert_int_equal(e.n, 0);
        /* count and nodes together: the count is the target. */
        run_floor(c, &f, "{\"pools\": {\"2Mi\": {\"count\": 1000, \"nodes\": {\"0\": 500, \"1\": 500}}}}",
                  &e);
        expect(&e, "/pools/2Mi/count", "below_floor");
        findings_release(&e);
        floors_release(&f);

        /* Two owners of one size. */
        parse_ok("2Mi 1024 longhorn-v2\n2Mi 256 spdk-app\n1Gi 2 dpdk\n", &f);
        run_floor(c, &f, "{\"pools\": {\"2Mi\": {\"count\": 1100}, \"1Gi\": {\"count\": 1}}}", &e);
        assert_int_equal(e.n, 2);
        expect_text(
                expect(&e, "/pools/2Mi/count", "below_floor"),
                "below the 1280 pages kept for longhorn-v2 (1024, /etc/hugepaged/floors line 1) and spdk-app "
                "(256, /etc/hugepaged/floors line 2)");
        expect_text(expect(&e, "/pools/1Gi/count", "below_floor"), "kept for dpdk");
        findings_release(&e);
        floors_release(&f);

        /* No floor file, and floors of sizes the kernel lacks. */
        run_floor(c, NULL, "{\"pools\": {\"2Mi\": {\"count\": 0}}}", &e);
        assert_int_equal(e.n, 0);
        parse_ok("4Mi 10 other\n", &f);
        run_floor(c, &f, "{\"pools\": {\"4Mi\": {\"count\": 0}}}", &e);
        assert_int_equal(e.n, 0);
        floors_release(&f);
}

/* ---- the in-use rule -------------------------------------------------- */

static void test_inuse_check(void **state)
{
        struct ctx *c = *state;
        struct findings e;

        run_inuse(c, &c->h, "{\"pools\": {\"2Mi\": {\"count\": 10}}}", &e);
        assert_int_equal(e.n, 1);
        const struct finding *x = expect(&e, "/pools/2Mi/count", "below_in_use");
        assert_string_equal(
                x->message,
                "the 2Mi pool cannot shrink to 10 pages: 22 are in use or reserved (12 in use, 10 "
                "reserved); held by qemu-kvm (pid 4242, VM default/db-1, 6 pages), virtiofsd (pid 4300, "
                "pod " VL_UID ", 6 pages), reactor_0 (pid 777, pod " LH_UID ", 4 pages), "
                "qemu-system-x86 (pid 5150, VM tenant-a/web, 2 pages); the kernel would keep them as "
                "surplus until they are released; keep at least 22 or stop their users first");
        findings_release(&e);

        run_inuse(c, &c->h, "{\"pools\": {\"2Mi\": {\"count\": 22}, \"1Gi\": {\"count\": 0}}}", &e);
        assert_int_equal(e.n, 0);

        /* Per node: node 0 has 6 pages in use. virtiofsd's pages are 2Mi
         * ones on a node not known; 5150's are all on node 1. */
        run_inuse(c, &c->h, "{\"pools\": {\"2Mi\": {\"nodes\": {\"0\": 5}}}}", &e);
        assert_int_equal(e.n, 1);
        x = expect(&e, "/pools/2Mi/nodes/0", "below_in_use");
        assert_string_equal(
                x->message,
                "the 2Mi pool on NUMA node 0 cannot shrink to 5 pages: 6 are in use there; held by "
                "qemu-kvm (pid 4242, VM default/db-1, 4 pages), virtiofsd (pid 4300, pod " VL_UID
                ", 6 pages, node not known), reactor_0 (pid 777, pod " LH_UID ", 2 pages); keep at "
                "least 6 or stop their users first");
        findings_release(&e);

        /* Each node keeps its pages in use, but the reservations are global. */
        run_inuse(c, &c->h, "{\"pools\": {\"2Mi\": {\"nodes\": {\"0\": 6, \"1\": 6}}}}", &e);
        assert_int_equal(e.n, 1);
        expect_text(expect(&e, "/pools/2Mi/nodes", "below_in_use"), "cannot shrink to 12 pages: 22 are");
        findings_release(&e);

        /* Without a process scan; with one that found nobody; with one
         * that listed fewer than it found, and stopped early. */
        run_inuse(c, NULL, "{\"pools\": {\"2Mi\": {\"count\": 0}}}", &e);
        expect_text(expect(&e, "/pools/2Mi/count", "below_in_use"), "10 reserved); the kernel would keep");
        findings_release(&e);
        struct holders none = { 0 };
        run_inuse(c, &none, "{\"pools\": {\"2Mi\": {\"count\": 0}}}", &e);
        expect_text(expect(&e, "/pools/2Mi/count", "below_in_use"),
                    "; no process maps them: they may be in files on a hugetlbfs mount or in shared memory "
                    "segments (ipcs -m); the kernel");
        findings_release(&e);
        struct holders some = c->h;
        some.n = 1;
        some.truncated = true;
        some.scanned = 7;
        run_inuse(c, &some, "{\"pools\": {\"2Mi\": {\"count\": 0}}}", &e);
        expect_text(expect(&e, "/pools/2Mi/count", "below_in_use"),
                    "6 pages) and 3 more processes (the process scan stopped after 7 entries); the kernel");
        findings_release(&e);
        some.n = 0;
        run_inuse(c, &some, "{\"pools\": {\"2Mi\": {\"count\": 0}}}", &e);
        expect_text(expect(&e, "/pools/2Mi/count", "below_in_use"),
                    "none of the processes listed maps them (4 more were not looked at)");
        findings_release(&e);
}

/* The scan happens only when a pool is below its pages in use. */
static void test_inuse_check_fs(void **state)
{
        struct ctx *c = *state;
        struct sysfs procs;
        assert_int_equal(sysfs_init(&procs, "/nonexistent", FIXTURES "/procfs-holders/proc"), 0);
        struct config cfg;
        struct findings e = { 0 };
        load_config("{\"pools\": {\"2Mi\": {\"count\": 10}}}", &cfg);
        assert_int_equal(inuse_check_fs(&procs, &cfg, &c->s, &e), 0);
        assert_int_equal(e.n, 1);
        expect_text(expect(&e, "/pools/2Mi/count", "below_in_use"), "held by qemu-kvm (pid 4242");
        findings_release(&e);
        sysfs_release(&procs);

        /* Without a procfs to scan: the finding stays, and says why. */
        assert_int_equal(sysfs_init(&procs, "/nonexistent", "/nonexistent/proc"), 0);
        assert_int_equal(inuse_check_fs(&procs, &cfg, &c->s, &e), 0);
        assert_int_equal(e.n, 1);
        expect_text(expect(&e, "/pools/2Mi/count", "below_in_use"),
                    "(the processes holding them could not be listed: cannot open /nonexistent/proc");
        findings_release(&e);
        config_release(&cfg);

        /* Nothing below: no scan (the procfs root is not even opened). */
        load_config("{\"pools\": {\"2Mi\": {\"count\": 600}}}", &cfg);
        assert_int_equal(inuse_check_fs(&procs, &cfg, &c->s, &e), 0);
        assert_int_equal(e.n, 0);
        config_release(&cfg);
        sysfs_release(&procs);
}

/* ---- the apply path's re-check ---------------------------------------- */

static void test_inuse_read(void **state)
{
        struct ctx *c = *state;
        struct inuse u;
        struct errbuf err = { { 0 } };
        assert_int_equal(inuse_read(&c->fs, 2048, -1, &u, &err), 0);
        assert_int_equal(u.nr, 512);
        assert_int_equal(u.free, 500);
        assert_int_equal(u.resv, 10);
        assert_int_equal(u.surplus, 0);
        assert_int_equal(u.held, 22);
        assert_int_equal(inuse_read(&c->fs, 2048, 0, &u, &err), 0);
        assert_int_equal(u.nr, 256);
        assert_int_equal(u.free, 250);
        assert_int_equal(u.resv, 0);
        assert_int_equal(u.held, 6);
        assert_int_equal(inuse_read(&c->fs, 4096, -1, &u, &err), -ENOENT);

        assert_int_equal(inuse_recheck(&c->fs, 2048, -1, 22, &err), 0);
        assert_int_equal(inuse_recheck(&c->fs, 2048, -1, 21, &err), -EBUSY);
        assert_string_equal(err.msg,
                            "22 2Mi pages are in use or reserved now (12 in use, 10 reserved); shrinking "
                            "to 21 would leave them as surplus");
        assert_int_equal(inuse_recheck(&c->fs, 2048, 0, 5, &err), -EBUSY);
        assert_non_null(strstr(err.msg, "6 2Mi pages on NUMA node 0 are in use"));

        /* A VM started between the validation and the write. */
        fixture_put(c->dir, "sys/kernel/mm/hugepages/hugepages-2048kB/free_hugepages", "400\n");
        assert_int_equal(inuse_recheck(&c->fs, 2048, -1, 22, &err), -EBUSY);
        assert_non_null(strstr(err.msg, "122 2Mi pages"));
        fixture_put(c->dir, "sys/kernel/mm/hugepages/hugepages-2048kB/free_hugepages", "500\n");
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_parse),          cmocka_unit_test(test_parse_errors),
                cmocka_unit_test(test_load),           cmocka_unit_test(test_verify),
                cmocka_unit_test(test_floor_check),    cmocka_unit_test(test_inuse_check),
                cmocka_unit_test(test_inuse_check_fs), cmocka_unit_test(test_inuse_read),
        };
        return cmocka_run_group_tests(tests, setup, teardown);
}
