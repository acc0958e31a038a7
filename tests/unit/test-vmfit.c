/* The "vms" of POST /validate and the fit rules (model/vmfit.c) on fake
 * machines. x86-2node: 2Mi pool 512 pages, 500 free, 10 reserved (490 a VM
 * can take), 256/250 on each node; 1Gi pool 2 pages, one free on each node.
 * arm64: 64Ki, 2Mi (64 pages, all free, node0), 32Mi and 1Gi, the others
 * empty. nonuma: no NUMA nodes, both pools empty. */
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

#include "../../model/config.h"
#include "../../model/vmfit.h"
#include "fixture.h"

#define MiB (UINT64_C(1) << 20)
#define GiB (UINT64_C(1) << 30)

struct machine {
        char *dir;
        struct sysfs fs;
        struct sizes s;
};

static void load(struct machine *m, const char *fixture, void (*mutate)(const char *dir))
{
        memset(m, 0, sizeof(*m));
        m->dir = fixture_copy(fixture);
        if (mutate)
                mutate(m->dir);
        fixture_sysfs(m->dir, &m->fs);
        struct errbuf err;
        if (sizes_read(&m->fs, 4, &m->s, &err) < 0)
                fail_msg("cannot read fixture %s: %s", fixture, err.msg);
}

static void unload(struct machine *m)
{
        sizes_release(&m->s);
        sysfs_release(&m->fs);
        fixture_remove(m->dir);
}

static void dump(const struct findings *f)
{
        for (size_t i = 0; i < f->n; i++)
                print_message("  have: %s %s: %s\n", f->items[i].pointer, f->items[i].code,
                              f->items[i].message);
}

static const struct finding *find(const struct findings *f, const char *pointer, const char *code)
{
        for (size_t i = 0; i < f->n; i++)
                if (strcmp(f->items[i].pointer, pointer) == 0 && strcmp(f->items[i].code, code) == 0)
                        return &f->items[i];
        return NULL;
}

static const struct finding *expect(const struct findings *f, const char *pointer, const char *code)
{
        const struct finding *x = find(f, pointer, code);
        if (!x) {
                dump(f);
                fail_msg("expected a finding %s at \"%s\"", code, pointer);
        }
        return x;
}

static void expect_text(const struct finding *x, const char *part)
{
        if (!strstr(x->message, part))
                fail_msg("message \"%s\" does not contain \"%s\"", x->message, part);
}

/* Parses a "vms" JSON text that must be valid. */
static void parse_ok(const char *json, struct vm_requests *ret)
{
        json_error_t e;
        json_t *v = json_loads(json, JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL, &e);
        if (!v)
                fail_msg("bad test JSON: %s: %s", json, e.text);
        struct findings errors = { 0 };
        int r = vmfit_parse(v, ret, &errors);
        if (r != 0) {
                dump(&errors);
                fail_msg("vmfit_parse(%s) returned %d", json, r);
        }
        assert_int_equal(errors.n, 0);
        json_decref(v);
}

/* Parses a "vms" JSON text that must fail; returns the findings. */
static void parse_bad(const char *json, struct findings *errors)
{
        json_error_t e;
        json_t *v = json_loads(json, JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL, &e);
        if (!v)
                fail_msg("bad test JSON: %s: %s", json, e.text);
        struct vm_requests untouched = { .items = (void *) 0x1, .n = 77 };
        int r = vmfit_parse(v, &untouched, errors);
        if (r != -EINVAL) {
                dump(errors);
                fail_msg("vmfit_parse(%s) returned %d, expected -EINVAL", json, r);
        }
        assert_ptr_equal(untouched.items, (void *) 0x1);
        assert_int_equal(untouched.n, 77);
        json_decref(v);
}

static void load_config(const char *json, struct config *ret)
{
        struct findings errors = { 0 };
        json_t *doc = NULL;
        if (config_load(json, strlen(json), &doc, &errors) < 0 || config_parse(doc, ret, &errors) < 0)
                fail_msg("config did not parse: %s: %s", json, errors.n ? errors.items[0].message : "?");
        json_decref(doc);
}

/* Answers vms_json on m with config_json (NULL: none). */
static void check(const struct machine *m, const char *vms_json, const char *config_json,
                  struct vm_requests *vms, struct vmfit *f)
{
        parse_ok(vms_json, vms);
        struct config c;
        if (config_json)
                load_config(config_json, &c);
        assert_int_equal(vmfit_check(vms, &m->s, config_json ? &c : NULL, f), 0);
        assert_int_equal(f->n, vms->n);
        if (config_json)
                config_release(&c);
}

static void done(struct vm_requests *vms, struct vmfit *f)
{
        vmfit_release(f);
        vm_requests_release(vms);
}

static void expect_fit(const struct vm_fit *fit, bool fits, bool together, uint64_t available,
                       uint64_t missing)
{
        if (fit->fits != fits || fit->fits_together != together || fit->available_pages != available ||
            fit->missing_pages != missing) {
                dump(&fit->reasons);
                fail_msg("fits %d together %d available %" PRIu64 " missing %" PRIu64
                         "; expected %d %d %" PRIu64 " %" PRIu64,
                         fit->fits, fit->fits_together, fit->available_pages, fit->missing_pages, fits,
                         together, available, missing);
        }
        if (together && fit->reasons.n != 0) {
                dump(&fit->reasons);
                fail_msg("a VM that fits has reasons");
        }
}

/* ---- parsing ---------------------------------------------------------- */

static void test_parse_forms(void **state)
{
        (void) state;
        struct vm_requests vms;
        parse_ok("[{\"name\": \"db-1\", \"memory\": \"8Gi\", \"page_size\": \"2Mi\", \"numa_node\": 0},"
                 " {\"name\": \"db-2\", \"memory\": \"8192Mi\", \"page_size\": \"1Gi\"},"
                 " {\"name\": \"db-3\", \"memory\": \"8G\", \"page_size\": \"2048Ki\", \"numa_node\": 1023},"
                 " {\"page_size\": \"2Mi\", \"memory\": \"8589934592\", \"name\": \"ünïcode vm\"}]",
                 &vms);
        assert_int_equal(vms.n, 4);
        assert_string_equal(vms.items[0].name, "db-1");
        assert_int_equal(vms.items[0].memory_bytes, 8 * GiB);
        assert_int_equal(vms.items[0].page_size_bytes, 2 * MiB);
        assert_true(vms.items[0].has_node);
        assert_int_equal(vms.items[0].node, 0);
        assert_int_equal(vms.items[1].memory_bytes, 8 * GiB);
        assert_int_equal(vms.items[1].page_size_bytes, GiB);
        assert_false(vms.items[1].has_node);
        assert_int_equal(vms.items[2].memory_bytes, UINT64_C(8000000000));
        assert_int_equal(vms.items[2].page_size_bytes, 2 * MiB);
        assert_int_equal(vms.items[2].node, 1023);
        assert_int_equal(vms.items[3].memory_bytes, 8 * GiB);
        assert_string_equal(vms.items[3].name, "ünïcode vm");
        vm_requests_release(&vms);

        parse_ok("[]", &vms);
        assert_int_equal(vms.n, 0);
        vm_requests_release(&vms);
        vm_requests_release(NULL);
}

static void test_parse_errors(void **state)
{
        (void) state;
        struct findings e = { 0 };

        parse_bad("{\"name\": \"x\"}", &e);
        expect(&e, "/vms", "wrong_type");
        findings_release(&e);

        /* Every problem of every item in one pass. */
        parse_bad("[{\"name\": \"a\", \"memory\": 8589934592, \"page_size\": \"2Mi\"},"
                  " 17,"
                  " {\"name\": \"b\", \"memory\": \"8GB\", \"page_size\": \"\", \"cpu\": 2},"
                  " {\"name\": \"c\", \"memory\": \"1.5\", \"page_size\": \"99999Ei\", \"numa_node\": \"0\"},"
                  " {\"name\": \"d\", \"memory\": \"1Gi\", \"page_size\": \"2Mi\", \"numa_node\": 1.0},"
                  " {\"name\": \"e\", \"memory\": \"1Gi\", \"page_size\": \"2Mi\", \"numa_node\": -1},"
                  " {\"name\": \"f\", \"memory\": \"1Gi\", \"page_size\": \"2Mi\", \"numa_node\": 1024},"
                  " {\"memory\": \"1Gi\"},"
                  " {\"name\": \"\", \"memory\": \"1Gi\", \"page_size\": \"2Mi\"},"
                  " {\"name\": 5, \"memory\": \"1Gi\", \"page_size\": \"2Mi\"},"
                  " {\"name\": \"a\", \"memory\": \"1Gi\", \"page_size\": \"2Mi\"},"
                  " {\"name\": \"tab\\there\", \"memory\": \"1Gi\", \"page_size\": \"2Mi\"},"
                  " {\"name\": \"nul\\u0000\", \"memory\": \"1Gi\\u0000\", \"page_size\": \"2Mi\"},"
                  " {\"name\": \"g\", \"memory\": null, \"page_size\": [\"2Mi\"]}]",
                  &e);
        expect_text(expect(&e, "/vms/0/memory", "wrong_type"), "\"8Gi\"");
        expect(&e, "/vms/1", "wrong_type");
        expect_text(expect(&e, "/vms/2/memory", "invalid_quantity"), "\"8GB\"");
        expect(&e, "/vms/2/page_size", "invalid_quantity");
        expect(&e, "/vms/2/cpu", "unknown_field");
        expect_text(expect(&e, "/vms/3/memory", "invalid_quantity"), "whole number of bytes");
        expect(&e, "/vms/3/page_size", "too_large");
        expect(&e, "/vms/3/numa_node", "wrong_type");
        expect(&e, "/vms/4/numa_node", "not_integer");
        expect(&e, "/vms/5/numa_node", "negative");
        expect(&e, "/vms/6/numa_node", "invalid_node");
        expect(&e, "/vms/7/name", "missing_field");
        expect(&e, "/vms/7/page_size", "missing_field");
        assert_null(find(&e, "/vms/7/memory", "missing_field"));
        expect(&e, "/vms/8/name", "invalid_name");
        expect(&e, "/vms/9/name", "wrong_type");
        expect_text(expect(&e, "/vms/10/name", "duplicate_name"), "/vms/0");
        expect(&e, "/vms/11/name", "invalid_name");
        expect(&e, "/vms/12/name", "invalid_name");
        expect(&e, "/vms/12/memory", "invalid_quantity");
        expect(&e, "/vms/13/memory", "wrong_type");
        expect(&e, "/vms/13/page_size", "wrong_type");
        assert_int_equal(e.n, 21);
        findings_release(&e);

        /* A name of 253 bytes is a Kubernetes name; 254 is not. */
        char json[1024], name[300];
        memset(name, 'a', 254);
        name[254] = '\0';
        snprintf(json, sizeof(json), "[{\"name\": \"%s\", \"memory\": \"1Gi\", \"page_size\": \"2Mi\"}]",
                 name);
        parse_bad(json, &e);
        expect(&e, "/vms/0/name", "invalid_name");
        findings_release(&e);
        name[253] = '\0';
        snprintf(json, sizeof(json), "[{\"name\": \"%s\", \"memory\": \"1Gi\", \"page_size\": \"2Mi\"}]",
                 name);
        struct vm_requests vms;
        parse_ok(json, &vms);
        vm_requests_release(&vms);
}

static void test_parse_too_many(void **state)
{
        (void) state;
        json_t *a = json_array();
        for (int i = 0; i <= VMFIT_MAX_VMS; i++) {
                char name[16];
                snprintf(name, sizeof(name), "vm-%d", i);
                json_array_append_new(
                        a, json_pack("{s:s, s:s, s:s}", "name", name, "memory", "2Mi", "page_size", "2Mi"));
        }
        struct findings e = { 0 };
        struct vm_requests vms;
        assert_int_equal(vmfit_parse(a, &vms, &e), -EINVAL);
        expect(&e, "/vms", "too_many");
        findings_release(&e);
        json_array_remove(a, 0);
        assert_int_equal(vmfit_parse(a, &vms, &e), 0);
        assert_int_equal(vms.n, VMFIT_MAX_VMS);
        vm_requests_release(&vms);
        json_decref(a);
}

/* The handler takes "vms" out before config_parse(), which refuses unknown
 * members. */
static void test_take(void **state)
{
        (void) state;
        const char *body =
                "{\"pools\": {\"2Mi\": {\"count\": 8}}, \"vms\": [{\"name\": \"a\", \"memory\": \"2Mi\","
                " \"page_size\": \"2Mi\"}]}";
        struct findings e = { 0 };
        json_t *doc = NULL;
        assert_int_equal(config_load(body, strlen(body), &doc, &e), 0);
        json_t *vms = vmfit_take(doc);
        assert_non_null(vms);
        assert_true(json_is_array(vms));
        assert_null(json_object_get(doc, "vms"));
        struct config c;
        assert_int_equal(config_parse(doc, &c, &e), 0);
        config_release(&c);
        assert_null(vmfit_take(doc));
        json_decref(vms);
        json_decref(doc);
        assert_null(vmfit_take(NULL));
}

/* ---- the rules, now --------------------------------------------------- */

static void test_fit_now_x86(void **state)
{
        (void) state;
        struct machine m;
        load(&m, "x86-2node", NULL);
        struct vm_requests vms;
        struct vmfit f;
        check(&m,
              "[{\"name\": \"small\", \"memory\": \"8Mi\", \"page_size\": \"2Mi\", \"numa_node\": 0},"
              " {\"name\": \"big\", \"memory\": \"2Gi\", \"page_size\": \"2Mi\"},"
              " {\"name\": \"pinned\", \"memory\": \"600Mi\", \"page_size\": \"2Mi\", \"numa_node\": 1},"
              " {\"name\": \"giant\", \"memory\": \"1Gi\", \"page_size\": \"1Gi\", \"numa_node\": 0},"
              " {\"name\": \"giant2\", \"memory\": \"2Gi\", \"page_size\": \"1Gi\", \"numa_node\": 0},"
              " {\"name\": \"odd-size\", \"memory\": \"8Mi\", \"page_size\": \"4Mi\"},"
              " {\"name\": \"odd-memory\", \"memory\": \"3Mi\", \"page_size\": \"2Mi\"},"
              " {\"name\": \"tiny\", \"memory\": \"1Mi\", \"page_size\": \"2Mi\"},"
              " {\"name\": \"far\", \"memory\": \"2Mi\", \"page_size\": \"2Mi\", \"numa_node\": 2},"
              " {\"name\": \"decimal\", \"memory\": \"8G\", \"page_size\": \"2Mi\"}]",
              NULL, &vms, &f);

        assert_int_equal(f.items[0].pages, 4);
        expect_fit(&f.items[0].now, true, true, 250, 0);

        assert_int_equal(f.items[1].pages, 1024);
        expect_fit(&f.items[1].now, false, false, 490, 534);
        const struct finding *x = expect(&f.items[1].now.reasons, "/vms/1", "insufficient_pages");
        expect_text(x, "1024 2Mi pages");
        expect_text(x, "490 are free");
        expect_text(x, "500 free, 10 of them reserved");
        expect_text(x, "534 missing");

        /* Node 1 has 250 free; the pool's 490 does not help a pinned VM. */
        assert_int_equal(f.items[2].pages, 300);
        expect_fit(&f.items[2].now, false, false, 250, 50);
        expect_text(expect(&f.items[2].now.reasons, "/vms/2", "insufficient_pages"), "on NUMA node 1");

        expect_fit(&f.items[3].now, true, true, 1, 0);
        expect_fit(&f.items[4].now, false, false, 1, 1);

        expect_fit(&f.items[5].now, false, false, 0, 0);
        expect_text(expect(&f.items[5].now.reasons, "/vms/5/page_size", "unsupported_size"), "2Mi, 1Gi");

        /* KubeVirt refuses memory that is not a whole number of pages; the
         * pages are still counted (rounded up). */
        assert_int_equal(f.items[6].pages, 2);
        expect_fit(&f.items[6].now, false, false, 490, 0);
        x = expect(&f.items[6].now.reasons, "/vms/6/memory", "not_page_multiple");
        expect_text(x, "2Mi or 4Mi would be");
        assert_int_equal(f.items[6].now.reasons.n, 1);

        expect(&f.items[7].now.reasons, "/vms/7/memory", "memory_below_page_size");
        expect_text(expect(&f.items[8].now.reasons, "/vms/8/numa_node", "unknown_node"), "nodes: 0, 1");
        assert_int_equal(f.items[8].now.reasons.n, 1);

        /* 8G = 8e9 bytes is not a whole number of 2Mi pages. */
        expect(&f.items[9].now.reasons, "/vms/9/memory", "not_page_multiple");
        assert_int_equal(f.items[9].pages, 3815);

        assert_false(f.all_fit_now);
        /* Without a config the proposed state is the state now. */
        for (size_t i = 0; i < f.n; i++) {
                assert_int_equal(f.items[i].proposed.fits, f.items[i].now.fits);
                assert_int_equal(f.items[i].proposed.available_pages, f.items[i].now.available_pages);
        }
        done(&vms, &f);
        unload(&m);
}

static void test_fit_together(void **state)
{
        (void) state;
        struct machine m;
        load(&m, "x86-2node", NULL);
        struct vm_requests vms;
        struct vmfit f;

        /* Three VMs of 200 pages: each fits alone in 490, two together. */
        check(&m,
              "[{\"name\": \"a\", \"memory\": \"400Mi\", \"page_size\": \"2Mi\"},"
              " {\"name\": \"b\", \"memory\": \"400Mi\", \"page_size\": \"2Mi\"},"
              " {\"name\": \"c\", \"memory\": \"400Mi\", \"page_size\": \"2Mi\"},"
              " {\"name\": \"d\", \"memory\": \"1Gi\", \"page_size\": \"1Gi\"}]",
              NULL, &vms, &f);
        expect_fit(&f.items[0].now, true, true, 490, 0);
        expect_fit(&f.items[1].now, true, true, 490, 0);
        expect_fit(&f.items[2].now, true, false, 490, 0);
        const struct finding *x = expect(&f.items[2].now.reasons, "/vms/2", "insufficient_together");
        expect_text(x, "take 400 of the 490 2Mi pages");
        expect_text(x, "110 missing");
        expect_fit(&f.items[3].now, true, true, 2, 0); /* another size: its own pool */
        assert_false(f.all_fit_now);
        assert_false(f.all_fit_proposed);
        done(&vms, &f);

        /* Pinned and unpinned: a takes 240 of node0's 250, b 240 of the
         * pool's remaining 250 (anywhere), c on node0 finds 10. */
        check(&m,
              "[{\"name\": \"a\", \"memory\": \"480Mi\", \"page_size\": \"2Mi\", \"numa_node\": 0},"
              " {\"name\": \"b\", \"memory\": \"480Mi\", \"page_size\": \"2Mi\"},"
              " {\"name\": \"c\", \"memory\": \"40Mi\", \"page_size\": \"2Mi\", \"numa_node\": 0}]",
              NULL, &vms, &f);
        expect_fit(&f.items[0].now, true, true, 250, 0);
        expect_fit(&f.items[1].now, true, true, 490, 0);
        expect_fit(&f.items[2].now, true, false, 250, 0);
        expect_text(expect(&f.items[2].now.reasons, "/vms/2", "insufficient_together"), "10 missing");
        done(&vms, &f);

        /* Pinned to both nodes: 250 + 240 = 490, all of it. */
        check(&m,
              "[{\"name\": \"a\", \"memory\": \"500Mi\", \"page_size\": \"2Mi\", \"numa_node\": 0},"
              " {\"name\": \"b\", \"memory\": \"480Mi\", \"page_size\": \"2Mi\", \"numa_node\": 1}]",
              NULL, &vms, &f);
        assert_true(f.all_fit_now);
        done(&vms, &f);
        check(&m,
              "[{\"name\": \"a\", \"memory\": \"500Mi\", \"page_size\": \"2Mi\", \"numa_node\": 0},"
              " {\"name\": \"b\", \"memory\": \"500Mi\", \"page_size\": \"2Mi\", \"numa_node\": 1}]",
              NULL, &vms, &f);
        /* b fits node1 alone, but the reservations leave 240 after a. */
        expect_fit(&f.items[1].now, true, false, 250, 0);
        assert_false(f.all_fit_now);
        done(&vms, &f);

        /* A VM that does not fit takes nothing from the ones after it. */
        check(&m,
              "[{\"name\": \"huge\", \"memory\": \"4Gi\", \"page_size\": \"2Mi\"},"
              " {\"name\": \"odd\", \"memory\": \"3Mi\", \"page_size\": \"2Mi\"},"
              " {\"name\": \"ok\", \"memory\": \"980Mi\", \"page_size\": \"2Mi\"}]",
              NULL, &vms, &f);
        expect_fit(&f.items[2].now, true, true, 490, 0);
        done(&vms, &f);

        check(&m, "[]", NULL, &vms, &f);
        assert_true(f.all_fit_now);
        assert_true(f.all_fit_proposed);
        done(&vms, &f);
        unload(&m);
}

static void test_fit_arm64(void **state)
{
        (void) state;
        struct machine m;
        load(&m, "arm64", NULL);
        struct vm_requests vms;
        struct vmfit f;
        check(&m,
              "[{\"name\": \"exact\", \"memory\": \"128Mi\", \"page_size\": \"2Mi\", \"numa_node\": 0},"
              " {\"name\": \"one-more\", \"memory\": \"130Mi\", \"page_size\": \"2Mi\"},"
              " {\"name\": \"cont-pmd\", \"memory\": \"64Mi\", \"page_size\": \"32Mi\"},"
              " {\"name\": \"pud\", \"memory\": \"1Gi\", \"page_size\": \"1Gi\"},"
              " {\"name\": \"cont-pte\", \"memory\": \"1Mi\", \"page_size\": \"64Ki\"},"
              " {\"name\": \"granule\", \"memory\": \"1Mi\", \"page_size\": \"16Ki\"},"
              " {\"name\": \"node1\", \"memory\": \"2Mi\", \"page_size\": \"2Mi\", \"numa_node\": 1}]",
              NULL, &vms, &f);
        expect_fit(&f.items[0].now, true, true, 64, 0);
        expect_fit(&f.items[1].now, false, false, 64, 1);
        expect_text(expect(&f.items[2].now.reasons, "/vms/2/page_size", "not_allocated"),
                    "no 32Mi pages are allocated");
        expect(&f.items[3].now.reasons, "/vms/3/page_size", "not_allocated");
        assert_int_equal(f.items[4].pages, 16);
        expect(&f.items[4].now.reasons, "/vms/4/page_size", "not_allocated");
        /* 16K is a base-page granule, never a hugetlb size (KERNEL.md §4). */
        expect_text(expect(&f.items[5].now.reasons, "/vms/5/page_size", "unsupported_size"),
                    "64Ki, 2Mi, 32Mi, 1Gi");
        expect_text(expect(&f.items[6].now.reasons, "/vms/6/numa_node", "unknown_node"), "does not exist");
        done(&vms, &f);

        /* The proposed config makes 32Mi pages. */
        check(&m, "[{\"name\": \"cont-pmd\", \"memory\": \"64Mi\", \"page_size\": \"32Mi\"}]",
              "{\"pools\": {\"32Mi\": {\"count\": 2}}}", &vms, &f);
        assert_false(f.items[0].now.fits);
        expect_fit(&f.items[0].proposed, true, true, 2, 0);
        assert_true(f.all_fit_proposed);
        assert_false(f.all_fit_now);
        done(&vms, &f);
        unload(&m);
}

static void test_fit_nonuma(void **state)
{
        (void) state;
        struct machine m;
        load(&m, "nonuma", NULL);
        struct vm_requests vms;
        struct vmfit f;
        check(&m,
              "[{\"name\": \"a\", \"memory\": \"2Mi\", \"page_size\": \"2Mi\", \"numa_node\": 0},"
              " {\"name\": \"b\", \"memory\": \"20Mi\", \"page_size\": \"2Mi\"}]",
              "{\"pools\": {\"2Mi\": {\"count\": 10}}}", &vms, &f);
        expect_text(expect(&f.items[0].now.reasons, "/vms/0/numa_node", "unknown_node"), "no NUMA nodes");
        expect(&f.items[0].proposed.reasons, "/vms/0/numa_node", "unknown_node");
        expect(&f.items[1].now.reasons, "/vms/1/page_size", "not_allocated");
        expect_fit(&f.items[1].proposed, true, true, 10, 0);
        done(&vms, &f);
        unload(&m);
}

/* ---- the rules under a proposed config -------------------------------- */

static void test_fit_proposed_grow_shrink(void **state)
{
        (void) state;
        struct machine m;
        load(&m, "x86-2node", NULL);
        struct vm_requests vms;
        struct vmfit f;
        const char *two =
                "[{\"name\": \"a\", \"memory\": \"2Gi\", \"page_size\": \"2Mi\"},"
                " {\"name\": \"b\", \"memory\": \"1000Mi\", \"page_size\": \"2Mi\", \"numa_node\": 0}]";

        /* Growing to 1024: 512 new pages, 256 on each node; 1012 free, 10
         * reserved. */
        check(&m, two, "{\"pools\": {\"2Mi\": {\"count\": 1024}}}", &vms, &f);
        expect_fit(&f.items[0].now, false, false, 490, 534);
        expect_fit(&f.items[0].proposed, false, false, 1002, 22);
        const struct finding *x = expect(&f.items[0].proposed.reasons, "/vms/0", "insufficient_pages");
        expect_text(x, "under the proposed config");
        expect_text(x, "would be free");
        expect_fit(&f.items[1].proposed, true, true, 506, 0);
        done(&vms, &f);

        /* Shrinking to 0 frees all but the 22 pages in use or reserved
         * (min_count = resv + nr - free): nothing is left for a VM. */
        check(&m, two, "{\"pools\": {\"2Mi\": {\"count\": 0}}}", &vms, &f);
        expect_fit(&f.items[0].proposed, false, false, 0, 1024);
        expect(&f.items[0].proposed.reasons, "/vms/0", "insufficient_pages");
        expect_fit(&f.items[1].proposed, false, false, 0, 500);
        done(&vms, &f);

        /* Shrinking to 300: 212 pages go, 106 from each node; 288 stay
         * free, 10 of them reserved. */
        check(&m, "[{\"name\": \"a\", \"memory\": \"556Mi\", \"page_size\": \"2Mi\"}]",
              "{\"pools\": {\"2Mi\": {\"count\": 300}}}", &vms, &f);
        expect_fit(&f.items[0].proposed, true, true, 278, 0);
        done(&vms, &f);

        /* A config that leaves the 1Gi pool alone and names a size this
         * kernel lacks changes nothing for 1Gi VMs. */
        check(&m, "[{\"name\": \"g\", \"memory\": \"1Gi\", \"page_size\": \"1Gi\", \"numa_node\": 1}]",
              "{\"pools\": {\"4Mi\": {\"count\": 3}, \"2Mi\": {\"count\": 0}}}", &vms, &f);
        expect_fit(&f.items[0].proposed, true, true, 1, 0);
        done(&vms, &f);

        /* 1Gi by count: 3 new pages, the first node gets the odd one. */
        check(&m,
              "[{\"name\": \"g0\", \"memory\": \"3Gi\", \"page_size\": \"1Gi\", \"numa_node\": 0},"
              " {\"name\": \"g1\", \"memory\": \"2Gi\", \"page_size\": \"1Gi\", \"numa_node\": 1}]",
              "{\"pools\": {\"1Gi\": {\"count\": 5}}}", &vms, &f);
        expect_fit(&f.items[0].proposed, true, true, 3, 0);
        expect_fit(&f.items[1].proposed, true, true, 2, 0);
        assert_true(f.all_fit_proposed);
        assert_false(f.all_fit_now);
        done(&vms, &f);

        /* Emptying the 1Gi pool: nothing in use, so nothing stays. */
        check(&m, "[{\"name\": \"g\", \"memory\": \"1Gi\", \"page_size\": \"1Gi\"}]",
              "{\"pools\": {\"1Gi\": {\"count\": 0}}}", &vms, &f);
        expect_text(expect(&f.items[0].proposed.reasons, "/vms/0/page_size", "not_allocated"),
                    "under the proposed config, no 1Gi pages would be allocated");
        done(&vms, &f);
        unload(&m);
}

static void test_fit_proposed_nodes(void **state)
{
        (void) state;
        struct machine m;
        load(&m, "x86-2node", NULL);
        struct vm_requests vms;
        struct vmfit f;
        const char *vms_json =
                "[{\"name\": \"n0\", \"memory\": \"200Mi\", \"page_size\": \"2Mi\", \"numa_node\": 0},"
                " {\"name\": \"n1\", \"memory\": \"500Mi\", \"page_size\": \"2Mi\", \"numa_node\": 1},"
                " {\"name\": \"g1\", \"memory\": \"3Gi\", \"page_size\": \"1Gi\", \"numa_node\": 1}]";
        /* Node 0 down to 100: 156 free pages go there, 94 stay free. */
        check(&m, vms_json,
              "{\"pools\": {\"2Mi\": {\"nodes\": {\"0\": 100}}, \"1Gi\": {\"nodes\": {\"1\": 3}}}}", &vms,
              &f);
        expect_fit(&f.items[0].proposed, false, false, 94, 6);
        expect_fit(&f.items[1].proposed, true, true, 250, 0);
        expect_fit(&f.items[2].now, false, false, 1, 2);
        expect_fit(&f.items[2].proposed, true, true, 3, 0);
        done(&vms, &f);

        /* Node 0 to 0 keeps its 6 pages in use. The pool then has 250 free
         * pages, all on node 1, but the reservations are global: 240. */
        check(&m, vms_json, "{\"pools\": {\"2Mi\": {\"nodes\": {\"0\": 0, \"1\": 256}}}}", &vms, &f);
        expect_fit(&f.items[0].proposed, false, false, 0, 100);
        expect_fit(&f.items[1].proposed, false, false, 240, 10);
        expect_text(expect(&f.items[1].proposed.reasons, "/vms/1", "insufficient_pages"),
                    "node 1 has 250 free but the pool has only 240 after 10 reserved");
        done(&vms, &f);
        unload(&m);
}

/* Node 1 has few free pages: a shrink by count takes from both nodes alike
 * until node 1 runs out, then from node 0 alone. */
static void uneven(const char *dir)
{
        fixture_put(dir, "sys/kernel/mm/hugepages/hugepages-2048kB/free_hugepages", "300\n");
        fixture_put(dir, "sys/devices/system/node/node1/hugepages/hugepages-2048kB/free_hugepages", "50\n");
}

static void test_fit_proposed_uneven(void **state)
{
        (void) state;
        struct machine m;
        load(&m, "x86-2node", uneven);
        struct vm_requests vms;
        struct vmfit f;
        /* held = 212 + 10; count 300 frees 212: 50 from each node, then
         * 112 from node 0 (250 -> 88 free, node 1 none). */
        check(&m,
              "[{\"name\": \"n0\", \"memory\": \"156Mi\", \"page_size\": \"2Mi\", \"numa_node\": 0},"
              " {\"name\": \"n1\", \"memory\": \"2Mi\", \"page_size\": \"2Mi\", \"numa_node\": 1}]",
              "{\"pools\": {\"2Mi\": {\"count\": 300}}}", &vms, &f);
        expect_fit(&f.items[0].now, true, true, 250, 0);
        expect_fit(&f.items[1].now, true, true, 50, 0);
        expect_fit(&f.items[0].proposed, true, true, 78, 0);
        expect_fit(&f.items[1].proposed, false, false, 0, 1);
        done(&vms, &f);
        unload(&m);
}

/* ---- capacity and JSON ------------------------------------------------ */

static void test_capacity(void **state)
{
        (void) state;
        struct machine m;
        load(&m, "x86-2node", NULL);
        const struct size_info *two = sizes_find(&m.s, 2048), *giga = sizes_find(&m.s, 1048576);
        struct vm_capacity c = vmfit_capacity(&m.s, two, -1);
        assert_int_equal(c.available_pages, 490);
        assert_int_equal(c.max_vm_bytes, 490 * 2 * MiB);
        c = vmfit_capacity(&m.s, two, 0);
        assert_int_equal(c.available_pages, 250);
        assert_int_equal(c.max_vm_bytes, 500 * MiB);
        c = vmfit_capacity(&m.s, giga, 1);
        assert_int_equal(c.available_pages, 1);
        assert_int_equal(c.max_vm_bytes, GiB);
        c = vmfit_capacity(&m.s, giga, 7); /* no such index: global */
        assert_int_equal(c.available_pages, 2);

        json_t *j = vmfit_capacity_to_json(&m.s, two, 0);
        assert_non_null(j);
        assert_int_equal(json_integer_value(json_object_get(j, "available_pages")), 250);
        assert_int_equal(json_integer_value(json_object_get(j, "max_vm_bytes")), 500 * MiB);
        assert_string_equal(json_string_value(json_object_get(j, "max_vm_memory")), "500Mi");
        json_decref(j);
        j = vmfit_capacity_to_json(&m.s, two, -1);
        assert_string_equal(json_string_value(json_object_get(j, "max_vm_memory")), "980Mi");
        json_decref(j);
        unload(&m);

        load(&m, "arm64", NULL);
        c = vmfit_capacity(&m.s, sizes_find(&m.s, 2048), 0);
        assert_int_equal(c.max_vm_bytes, 128 * MiB);
        j = vmfit_capacity_to_json(&m.s, sizes_find(&m.s, 32768), -1);
        assert_int_equal(json_integer_value(json_object_get(j, "available_pages")), 0);
        assert_string_equal(json_string_value(json_object_get(j, "max_vm_memory")), "0");
        json_decref(j);
        unload(&m);
}

static void test_json(void **state)
{
        (void) state;
        struct machine m;
        load(&m, "x86-2node", NULL);
        struct vm_requests vms;
        struct vmfit f;
        check(&m,
              "[{\"name\": \"db-1\", \"memory\": \"8192Mi\", \"page_size\": \"2048Ki\", \"numa_node\": 0},"
              " {\"name\": \"db-2\", \"memory\": \"8Mi\", \"page_size\": \"2Mi\"}]",
              "{\"pools\": {\"2Mi\": {\"nodes\": {\"0\": 5000}}}}", &vms, &f);
        json_t *j = vmfit_to_json(&vms, &f);
        assert_non_null(j);
        char *text = json_dumps(j, JSON_SORT_KEYS);
        print_message("%s\n", text);
        free(text);
        assert_false(json_is_true(json_object_get(j, "all_fit_now")));
        assert_true(json_is_true(json_object_get(j, "all_fit_proposed")));
        assert_string_equal(json_string_value(json_object_get(j, "placement")), "listed_order");
        json_t *a = json_object_get(j, "vms");
        assert_int_equal(json_array_size(a), 2);
        json_t *v0 = json_array_get(a, 0), *v1 = json_array_get(a, 1);
        assert_string_equal(json_string_value(json_object_get(v0, "name")), "db-1");
        assert_string_equal(json_string_value(json_object_get(v0, "memory")), "8Gi");
        assert_int_equal(json_integer_value(json_object_get(v0, "memory_bytes")), 8 * GiB);
        assert_string_equal(json_string_value(json_object_get(v0, "page_size")), "2Mi");
        assert_int_equal(json_integer_value(json_object_get(v0, "page_size_bytes")), 2 * MiB);
        assert_int_equal(json_integer_value(json_object_get(v0, "numa_node")), 0);
        assert_int_equal(json_integer_value(json_object_get(v0, "pages")), 4096);
        assert_null(json_object_get(v1, "numa_node"));
        json_t *now = json_object_get(v0, "now"), *prop = json_object_get(v0, "proposed");
        assert_false(json_is_true(json_object_get(now, "fits")));
        assert_int_equal(json_integer_value(json_object_get(now, "available_pages")), 250);
        assert_int_equal(json_integer_value(json_object_get(now, "missing_pages")), 3846);
        json_t *r0 = json_array_get(json_object_get(now, "reasons"), 0);
        assert_string_equal(json_string_value(json_object_get(r0, "pointer")), "/vms/0");
        assert_string_equal(json_string_value(json_object_get(r0, "code")), "insufficient_pages");
        assert_non_null(json_string_value(json_object_get(r0, "message")));
        assert_true(json_is_true(json_object_get(prop, "fits")));
        assert_true(json_is_true(json_object_get(prop, "fits_together")));
        assert_int_equal(json_array_size(json_object_get(prop, "reasons")), 0);
        json_decref(j);
        done(&vms, &f);
        unload(&m);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_parse_forms),
                cmocka_unit_test(test_parse_errors),
                cmocka_unit_test(test_parse_too_many),
                cmocka_unit_test(test_take),
                cmocka_unit_test(test_fit_now_x86),
                cmocka_unit_test(test_fit_together),
                cmocka_unit_test(test_fit_arm64),
                cmocka_unit_test(test_fit_nonuma),
                cmocka_unit_test(test_fit_proposed_grow_shrink),
                cmocka_unit_test(test_fit_proposed_nodes),
                cmocka_unit_test(test_fit_proposed_uneven),
                cmocka_unit_test(test_capacity),
                cmocka_unit_test(test_json),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
