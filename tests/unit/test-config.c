/* Unit tests for model/config.c: loading a request body as strict JSON,
 * checking the document's form with one finding per problem (each at its
 * exact JSON pointer with a stable code), and the canonical JSON form. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../model/config.h"

#define EXAMPLE                                                                                              \
        "{\"pools\": {\"2Mi\": {\"count\": 512}, \"1Gi\": {\"nodes\": {\"0\": 1, \"1\": 1}}},\n"             \
        " \"default_size\": \"2Mi\",\n"                                                                      \
        " \"transparent_hugepage\": {\"enabled\": \"madvise\", \"defrag\": \"madvise\",\n"                   \
        "                          \"shmem_enabled\": \"never\"}}"

struct want {
        const char *pointer;
        const char *code;
};

static void print_findings(const char *doc, const struct findings *f)
{
        print_message("findings for %s:\n", doc);
        for (size_t i = 0; i < f->n; i++)
                print_message("  [%zu] \"%s\" %s: %s\n", i, f->items[i].pointer, f->items[i].code,
                              f->items[i].message);
}

/* Loads and parses text, which must succeed; the caller releases *ret. */
static void parse_ok(const char *text, struct config *ret)
{
        struct findings f = { 0 };
        json_t *doc = NULL;
        int r = config_load(text, strlen(text), &doc, &f);
        if (r == 0)
                r = config_parse(doc, ret, &f);
        if (r != 0 || f.n != 0) {
                print_findings(text, &f);
                fail_msg("%s: expected no findings, got %d and %zu finding(s)", text, r, f.n);
        }
        json_decref(doc);
        findings_release(&f);
}

/* Runs text (of length len) through config_load and, if that accepts it,
 * config_parse; checks that exactly the n findings in want come out, in
 * order, that the result is -EINVAL and that *ret was left alone. */
static void check_errors_len(const char *text, size_t len, const struct want *want, size_t n)
{
        struct findings f = { 0 };
        json_t *doc = NULL;
        struct config c, before;
        memset(&c, 0xa5, sizeof(c));
        before = c;

        int r = config_load(text, len, &doc, &f);
        if (r == 0) {
                assert_non_null(doc);
                r = config_parse(doc, &c, &f);
        }
        if (r != -EINVAL || f.n != n)
                print_findings(text, &f);
        assert_int_equal(r, -EINVAL);
        assert_int_equal(f.n, n);
        for (size_t i = 0; i < n; i++) {
                if (strcmp(f.items[i].pointer, want[i].pointer) != 0 ||
                    strcmp(f.items[i].code, want[i].code) != 0)
                        print_findings(text, &f);
                assert_string_equal(f.items[i].pointer, want[i].pointer);
                assert_string_equal(f.items[i].code, want[i].code);
                assert_non_null(f.items[i].message);
                assert_true(strlen(f.items[i].message) > 0);
        }
        assert_memory_equal(&c, &before, sizeof(c));
        json_decref(doc);
        findings_release(&f);
}

static void check_errors(const char *text, const struct want *want, size_t n)
{
        check_errors_len(text, strlen(text), want, n);
}

/* One document, one finding. */
static void check_error(const char *text, const char *pointer, const char *code)
{
        const struct want w = { pointer, code };
        check_errors(text, &w, 1);
}

static void test_example(void **state)
{
        (void) state;
        struct config c;
        parse_ok(EXAMPLE, &c);

        assert_int_equal(c.n_pools, 2);
        const struct pool_cfg *p = &c.pools[0];
        assert_string_equal(p->key, "2Mi");
        assert_int_equal(p->size_bytes, 2097152);
        assert_int_equal(p->size_kb, 2048);
        assert_true(p->has_count);
        assert_int_equal(p->count, 512);
        assert_false(p->has_nodes);
        assert_int_equal(p->n_nodes, 0);

        p = &c.pools[1];
        assert_string_equal(p->key, "1Gi");
        assert_int_equal(p->size_bytes, UINT64_C(1073741824));
        assert_int_equal(p->size_kb, 1048576);
        assert_false(p->has_count);
        assert_true(p->has_nodes);
        assert_int_equal(p->n_nodes, 2);
        assert_int_equal(p->nodes[0].node, 0);
        assert_int_equal(p->nodes[0].count, 1);
        assert_int_equal(p->nodes[1].node, 1);
        assert_int_equal(p->nodes[1].count, 1);

        assert_true(c.has_default_size);
        assert_int_equal(c.default_size_bytes, 2097152);
        assert_int_equal(c.default_size_kb, 2048);
        assert_string_equal(c.thp[THP_ENABLED], "madvise");
        assert_string_equal(c.thp[THP_DEFRAG], "madvise");
        assert_string_equal(c.thp[THP_SHMEM_ENABLED], "never");

        assert_ptr_equal(config_find_pool(&c, 2048), &c.pools[0]);
        assert_ptr_equal(config_find_pool(&c, 1048576), &c.pools[1]);
        assert_null(config_find_pool(&c, 4));
        assert_null(config_find_pool(&c, 0));

        json_t *got = config_to_json(&c);
        json_error_t e;
        json_t *want = json_loads(EXAMPLE, 0, &e);
        assert_non_null(want);
        assert_true(json_equal(got, want));
        json_decref(want);
        json_decref(got);

        config_release(&c);
        assert_int_equal(c.n_pools, 0);
        assert_null(c.pools);
        config_release(&c); /* twice is harmless */
        config_release(NULL);
}

static void test_empty_document(void **state)
{
        (void) state;
        struct config c;
        parse_ok("{}", &c);
        assert_int_equal(c.n_pools, 0);
        assert_false(c.has_default_size);
        for (int k = 0; k < _THP_KNOB_MAX; k++)
                assert_null(c.thp[k]);
        assert_null(config_find_pool(&c, 2048));

        /* "pools" is always emitted, even when nothing is managed. */
        json_t *got = config_to_json(&c);
        char *s = json_dumps(got, JSON_COMPACT);
        assert_string_equal(s, "{\"pools\":{}}");
        free(s);
        json_decref(got);
        config_release(&c);

        parse_ok("{\"pools\": {}}", &c);
        assert_int_equal(c.n_pools, 0);
        config_release(&c);
}

static void test_canonical(void **state)
{
        (void) state;
        struct config c;
        parse_ok("{\"transparent_hugepage\": {\"shmem_enabled\": \"never\", \"enabled\": \"madvise\"},"
                 " \"default_size\": \"1048576Ki\","
                 " \"pools\": {\"1Gi\": {\"nodes\": {\"1\": 3, \"0\": 2}}, \"2048Ki\": {\"count\": 512},"
                 "           \"0.0625Mi\": {\"count\": 0, \"nodes\": {\"10\": 1, \"9\": 2, \"100\": 3}}}}",
                 &c);

        /* Sorted by size and by node; the key is kept as spelled. */
        assert_int_equal(c.n_pools, 3);
        assert_string_equal(c.pools[0].key, "0.0625Mi");
        assert_int_equal(c.pools[0].size_kb, 64);
        assert_string_equal(c.pools[1].key, "2048Ki");
        assert_string_equal(c.pools[2].key, "1Gi");
        assert_int_equal(c.pools[0].n_nodes, 3);
        assert_int_equal(c.pools[0].nodes[0].node, 9);
        assert_int_equal(c.pools[0].nodes[1].node, 10);
        assert_int_equal(c.pools[0].nodes[2].node, 100);
        assert_int_equal(c.pools[2].nodes[0].node, 0);
        assert_int_equal(c.pools[2].nodes[0].count, 2);
        assert_int_equal(c.pools[2].nodes[1].node, 1);
        assert_int_equal(c.pools[2].nodes[1].count, 3);
        assert_ptr_equal(config_find_pool(&c, 2048), &c.pools[1]);
        assert_int_equal(c.default_size_kb, 1048576);
        assert_null(c.thp[THP_DEFRAG]);

        static const char canonical[] =
                "{\"pools\":{\"64Ki\":{\"count\":0,\"nodes\":{\"9\":2,\"10\":1,\"100\":3}},"
                "\"2Mi\":{\"count\":512},\"1Gi\":{\"nodes\":{\"0\":2,\"1\":3}}},"
                "\"default_size\":\"1Gi\","
                "\"transparent_hugepage\":{\"enabled\":\"madvise\",\"shmem_enabled\":\"never\"}}";
        json_t *got = config_to_json(&c);
        json_error_t e;
        json_t *want = json_loads(canonical, 0, &e);
        assert_non_null(want);
        assert_true(json_equal(got, want));
        /* Also the member order: sizes ascending, nodes ascending, then
         * default_size, then the THP knobs in the kernel's order. */
        char *s = json_dumps(got, JSON_COMPACT);
        assert_string_equal(s, canonical);
        free(s);
        config_release(&c);

        /* The canonical form parses to itself. */
        parse_ok(canonical, &c);
        json_t *again = config_to_json(&c);
        assert_true(json_equal(again, want));
        json_decref(again);
        json_decref(want);
        json_decref(got);
        config_release(&c);
}

static void test_limits_accepted(void **state)
{
        (void) state;
        struct config c;
        parse_ok("{\"pools\": {\"2Mi\": {\"count\": 9223372036854775807, \"nodes\": {\"0\": 0, \"1023\": "
                 "1}}}}",
                 &c);
        assert_int_equal(c.pools[0].count, UINT64_C(9223372036854775807));
        assert_int_equal(c.pools[0].nodes[1].node, 1023);
        config_release(&c);

        /* An empty node map with a count is the count alone. */
        parse_ok("{\"pools\": {\"2Mi\": {\"count\": 0, \"nodes\": {}}}}", &c);
        assert_true(c.pools[0].has_nodes);
        assert_int_equal(c.pools[0].n_nodes, 0);
        config_release(&c);

        /* "0.5Ki" is 512 bytes, a whole number: the form is fine, the size
         * is not a whole kB, so no size_kb lookup finds it. Whether the
         * machine has such a size is validate.c's question. */
        parse_ok("{\"pools\": {\"0.5Ki\": {\"count\": 1}}, \"default_size\": \"1000\"}", &c);
        assert_int_equal(c.pools[0].size_bytes, 512);
        assert_int_equal(c.pools[0].size_kb, 0);
        assert_int_equal(c.default_size_bytes, 1000);
        assert_int_equal(c.default_size_kb, 0);
        assert_null(config_find_pool(&c, 0));
        json_t *got = config_to_json(&c);
        char *s = json_dumps(got, JSON_COMPACT);
        assert_string_equal(s, "{\"pools\":{\"512\":{\"count\":1}},\"default_size\":\"1000\"}");
        free(s);
        json_decref(got);
        config_release(&c);

        /* THP words are checked against the kernel by validate.c, not here. */
        char text[128];
        char word[THP_MAX_WORD];
        memset(word, 'w', THP_MAX_WORD - 1);
        word[THP_MAX_WORD - 1] = '\0';
        snprintf(text, sizeof(text), "{\"transparent_hugepage\": {\"enabled\": \"%s\"}}", word);
        parse_ok(text, &c);
        assert_string_equal(c.thp[THP_ENABLED], word);
        config_release(&c);
}

static void test_unknown_fields(void **state)
{
        (void) state;
        check_error("{\"pool\": {}}", "/pool", "unknown_field");
        check_error("{\"pools\": {\"2Mi\": {\"count\": 1, \"size\": 2}}}", "/pools/2Mi/size",
                    "unknown_field");
        check_error("{\"transparent_hugepage\": {\"enable\": \"never\"}}", "/transparent_hugepage/enable",
                    "unknown_field");
        check_error("{\"\": 1}", "/", "unknown_field");
}

static void test_wrong_types(void **state)
{
        (void) state;
        check_error("{\"pools\": []}", "/pools", "wrong_type");
        check_error("{\"pools\": null}", "/pools", "wrong_type");
        check_error("{\"pools\": {\"2Mi\": 5}}", "/pools/2Mi", "wrong_type");
        check_error("{\"pools\": {\"2Mi\": [512]}}", "/pools/2Mi", "wrong_type");
        check_error("{\"pools\": {\"2Mi\": {\"count\": \"5\"}}}", "/pools/2Mi/count", "wrong_type");
        check_error("{\"pools\": {\"2Mi\": {\"count\": true}}}", "/pools/2Mi/count", "wrong_type");
        check_error("{\"pools\": {\"2Mi\": {\"count\": null}}}", "/pools/2Mi/count", "wrong_type");
        check_error("{\"pools\": {\"2Mi\": {\"nodes\": [1, 1]}}}", "/pools/2Mi/nodes", "wrong_type");
        check_error("{\"pools\": {\"2Mi\": {\"nodes\": {\"0\": \"1\"}}}}", "/pools/2Mi/nodes/0",
                    "wrong_type");
        check_error("{\"pools\": {\"2Mi\": {\"nodes\": {\"0\": {}}}}}", "/pools/2Mi/nodes/0", "wrong_type");
        check_error("{\"default_size\": 2097152}", "/default_size", "wrong_type");
        check_error("{\"default_size\": null}", "/default_size", "wrong_type");
        check_error("{\"transparent_hugepage\": \"never\"}", "/transparent_hugepage", "wrong_type");
        check_error("{\"transparent_hugepage\": {\"enabled\": 1}}", "/transparent_hugepage/enabled",
                    "wrong_type");
        check_error("{\"transparent_hugepage\": {\"defrag\": [\"never\"]}}", "/transparent_hugepage/defrag",
                    "wrong_type");
        check_error("[]", "", "wrong_type");
        check_error("[{\"pools\": {}}]", "", "wrong_type");

        /* config_parse checks the type itself for documents not made by
         * config_load. */
        struct findings f = { 0 };
        struct config c;
        json_t *doc = json_array();
        assert_int_equal(config_parse(doc, &c, &f), -EINVAL);
        assert_int_equal(f.n, 1);
        assert_string_equal(f.items[0].pointer, "");
        assert_string_equal(f.items[0].code, "wrong_type");
        json_decref(doc);
        findings_release(&f);
}

static void test_counts(void **state)
{
        (void) state;
        check_error("{\"pools\": {\"2Mi\": {\"count\": -1}}}", "/pools/2Mi/count", "negative");
        check_error("{\"pools\": {\"2Mi\": {\"nodes\": {\"1\": -5}}}}", "/pools/2Mi/nodes/1", "negative");
        check_error("{\"pools\": {\"2Mi\": {\"count\": 1.5}}}", "/pools/2Mi/count", "not_integer");
        /* jansson reads 1.0 and 1e3 as reals: not integers either. */
        check_error("{\"pools\": {\"2Mi\": {\"count\": 1.0}}}", "/pools/2Mi/count", "not_integer");
        check_error("{\"pools\": {\"2Mi\": {\"count\": 1e3}}}", "/pools/2Mi/count", "not_integer");
        check_error("{\"pools\": {\"2Mi\": {\"count\": -0.5}}}", "/pools/2Mi/count", "not_integer");
        check_error("{\"pools\": {\"2Mi\": {\"nodes\": {\"0\": 2.5}}}}", "/pools/2Mi/nodes/0", "not_integer");
        /* Beyond json_int_t: jansson refuses it while loading, by byte
         * position; the field is named all the same. */
        check_error("{\"pools\": {\"2Mi\": {\"count\": 9223372036854775808}}}", "/pools/2Mi/count", "too_large");
        check_error("{\"pools\": {\"1Gi\": {\"nodes\": {\"0\": 1, \"1\": 99999999999999999999}}}}",
                    "/pools/1Gi/nodes/1", "too_large");
}

static void test_node_keys(void **state)
{
        (void) state;
        static const char *const bad[] = {
                "01", "-1", "x", "1024", "", "00", "1x", "+1", " 1", "99999", "0x1"
        };
        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
                char text[128], pointer[64];
                snprintf(text, sizeof(text), "{\"pools\": {\"2Mi\": {\"nodes\": {\"%s\": 1}}}}", bad[i]);
                snprintf(pointer, sizeof(pointer), "/pools/2Mi/nodes/%s", bad[i]);
                check_error(text, pointer, "invalid_node");
        }
        /* A bad key and a bad count under it are two problems. */
        const struct want w[] = { { "/pools/2Mi/nodes/x", "invalid_node" },
                                  { "/pools/2Mi/nodes/x", "negative" } };
        check_errors("{\"pools\": {\"2Mi\": {\"nodes\": {\"x\": -1}}}}", w, 2);
}

static void test_quantity_keys(void **state)
{
        (void) state;
        static const char *const bad[] = { "2MB", "two", "",    "-2Mi",     "2 Mi",
                                           "2mi", "1m",  "0.5", "0.0001Ki", "1.2.3" };
        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
                char text[128], pointer[64];
                snprintf(text, sizeof(text), "{\"pools\": {\"%s\": {\"count\": 1}}}", bad[i]);
                snprintf(pointer, sizeof(pointer), "/pools/%s", bad[i]);
                check_error(text, pointer, "invalid_quantity");
        }
        check_error("{\"pools\": {\"16Ei\": {\"count\": 1}}}", "/pools/16Ei", "too_large");
        check_error("{\"default_size\": \"2MB\"}", "/default_size", "invalid_quantity");
        check_error("{\"default_size\": \"1m\"}", "/default_size", "invalid_quantity");
        check_error("{\"default_size\": \"16Ei\"}", "/default_size", "too_large");
        check_error("{\"default_size\": \"\"}", "/default_size", "invalid_quantity");

        /* A bad key does not hide what is wrong inside its pool. */
        const struct want w[] = { { "/pools/2MB", "invalid_quantity" }, { "/pools/2MB/count", "negative" } };
        check_errors("{\"pools\": {\"2MB\": {\"count\": -1}}}", w, 2);
        const struct want w2[] = { { "/pools/2MB", "invalid_quantity" }, { "/pools/2MB", "wrong_type" } };
        check_errors("{\"pools\": {\"2MB\": 1}}", w2, 2);
}

static void test_thp_values(void **state)
{
        (void) state;
        check_error("{\"transparent_hugepage\": {\"enabled\": \"\"}}", "/transparent_hugepage/enabled",
                    "thp_value");
        char text[128], word[THP_MAX_WORD + 1];
        memset(word, 'w', THP_MAX_WORD);
        word[THP_MAX_WORD] = '\0';
        snprintf(text, sizeof(text), "{\"transparent_hugepage\": {\"defrag\": \"%s\"}}", word);
        check_error(text, "/transparent_hugepage/defrag", "thp_value");

        /* A NUL inside the word, in a document built in code. */
        json_t *doc = json_pack("{s:{s:o}}", "transparent_hugepage", "enabled", json_stringn("never\0x", 7));
        assert_non_null(doc);
        struct findings f = { 0 };
        struct config c;
        assert_int_equal(config_parse(doc, &c, &f), -EINVAL);
        assert_int_equal(f.n, 1);
        assert_string_equal(f.items[0].pointer, "/transparent_hugepage/enabled");
        assert_string_equal(f.items[0].code, "thp_value");
        findings_release(&f);
        json_decref(doc);
}

static void test_empty_pool(void **state)
{
        (void) state;
        check_error("{\"pools\": {\"2Mi\": {}}}", "/pools/2Mi", "empty_pool");
        /* A node map naming no node manages nothing either. */
        check_error("{\"pools\": {\"2Mi\": {\"nodes\": {}}}}", "/pools/2Mi", "empty_pool");
        /* An unknown field is the finding, not a second "empty" one. */
        check_error("{\"pools\": {\"2Mi\": {\"cnt\": 1}}}", "/pools/2Mi/cnt", "unknown_field");
}

static void test_same_size_twice(void **state)
{
        (void) state;
        check_error("{\"pools\": {\"2Mi\": {\"count\": 1}, \"2048Ki\": {\"count\": 2}}}", "/pools/2048Ki",
                    "duplicate_key");
        check_error("{\"pools\": {\"2048Ki\": {\"count\": 1}, \"2Mi\": {\"count\": 2}}}", "/pools/2Mi",
                    "duplicate_key");
        check_error("{\"pools\": {\"1Gi\": {\"count\": 1}, \"1073741824\": {\"count\": 2}, \"1G\": "
                    "{\"count\": 3}}}",
                    "/pools/1073741824", "duplicate_key");
        const struct want w[] = { { "/pools/2048Ki", "duplicate_key" },
                                  { "/pools/2097152", "duplicate_key" } };
        check_errors("{\"pools\": {\"2Mi\": {\"count\": 1}, \"2048Ki\": {\"count\": 2}, \"2097152\": "
                     "{\"count\": 3}}}",
                     w, 2);
}

static void test_json_errors(void **state)
{
        (void) state;
        /* Duplicate JSON keys, at the top and deeper. */
        check_error("{\"pools\": {}, \"pools\": {}}", "/pools", "duplicate_key");
        check_error("{\"pools\": {\"2Mi\": {\"count\": 1}, \"2Mi\": {\"count\": 2}}}", "/pools/2Mi", "duplicate_key");
        check_error("{\"pools\": {\"2Mi\": {\"nodes\": {\"0\": 1, \"0\": 2}}}}", "/pools/2Mi/nodes/0",
                    "duplicate_key");
        /* Keys are compared decoded, and named escaped. */
        check_error("{\"pools\": {}, \"\\u0070ools\": {}}", "/pools", "duplicate_key");
        check_error("{\"x\": [{\"a/b\": 1, \"a/b\": 2}]}", "/x/0/a~1b", "duplicate_key");

        check_error("{", "", "invalid_json");
        check_error("{\"pools\": }", "", "invalid_json");
        check_error("{'pools': {}}", "", "invalid_json");
        check_error("", "", "invalid_json");
        check_error("   \n", "", "invalid_json");
        check_error("null", "", "invalid_json");
        check_error("\"pools\"", "", "invalid_json");
        check_error("{} x", "", "invalid_json");
        check_error("{}{}", "", "invalid_json");
        /* A NUL inside a string value is named by its field. */
        check_error("{\"default_size\": \"2\\u0000Mi\"}", "/default_size", "invalid_quantity");
        check_error("{\"transparent_hugepage\": {\"enabled\": \"mad\\u0000vise\"}}", "/transparent_hugepage/enabled",
                    "thp_value");
        /* A key with a NUL or invalid UTF-8 has no name to give: the object
         * that holds it is named; a bad string value is named by its field. */
        check_error("{\"a\\u0000b\": 1}", "", "nul_byte");
        /* Nesting: 16 levels are parsed (and refused for what they hold),
         * 17 are not parsed at all. */
        check_error("{\"pools\": {\"2Mi\": {\"nodes\": {\"0\": [[[[[[[[[[[[1]]]]]]]]]]]]}}}}", "/pools/2Mi/nodes/0", "wrong_type");
        check_error("{\"pools\": {\"2Mi\": {\"nodes\": {\"0\": [[[[[[[[[[[[[1]]]]]]]]]]]]]}}}}",
                    "/pools/2Mi/nodes/0/0/0/0/0/0/0/0/0/0/0/0/0", "too_deep");
        check_error("{\"default_size\": \"[[[[[[[[[[[[[[[[[[[[\"}", "/default_size", "invalid_quantity");
        check_error("{\"pools\": {\"2Mi\\u0000\": {\"count\": 1}}}", "/pools", "nul_byte");
        check_error("{\"pools\": {\"2Mi\xff\": {\"count\": 1}}}", "/pools", "invalid_utf8");
        check_error("{\"pools\": {}, \"x\xc3\": 1}", "", "invalid_utf8");
        check_error("{\"transparent_hugepage\": {\"enabled\": \"\xc0\xafnever\"}}", "/transparent_hugepage/enabled",
                    "invalid_utf8");
        check_error("{\"pools\": {\"1Gi\": {\"nodes\": {\"0\": 1, \"1\\u0000\": 1}}}}", "/pools/1Gi/nodes", "nul_byte");
        /* A raw NUL byte, anywhere: refused before parsing (jansson would
         * take one right after a number). */
        static const struct want nul = { "", "nul_byte" };
        check_errors_len("{}\0", 3, &nul, 1);
        check_errors_len("{\"pools\": {}}\0garbage", 21, &nul, 1);
        static const struct want nul_in = { "/a", "nul_byte" };
        check_errors_len("{\"a\": 0\0, \"a\": 1}", 18, &nul_in, 1);

        /* An object with surrounding white space is fine. */
        struct config c;
        parse_ok("  \n{}\n", &c);
        config_release(&c);

        /* The message says where the JSON broke. */
        struct findings f = { 0 };
        json_t *doc = NULL;
        assert_int_equal(config_load("{\n  \"pools\": }", 14, &doc, &f), -EINVAL);
        assert_null(doc);
        assert_int_equal(f.n, 1);
        if (!strstr(f.items[0].message, "line 2"))
                fail_msg("\"%s\" does not give the line", f.items[0].message);
        findings_release(&f);
}

static void test_pointer_escaping(void **state)
{
        (void) state;
        check_error("{\"a/b~c\": 1}", "/a~1b~0c", "unknown_field");
        check_error("{\"pools\": {\"2/Mi~\": {\"count\": 1}}}", "/pools/2~1Mi~0", "invalid_quantity");
        check_error("{\"pools\": {\"2Mi\": {\"~1\": 1}}}", "/pools/2Mi/~01", "unknown_field");
        check_error("{\"pools\": {\"2Mi\": {\"nodes\": {\"0/1\": 1}}}}", "/pools/2Mi/nodes/0~11",
                    "invalid_node");
        check_error("{\"transparent_hugepage\": {\"/\": \"never\"}}", "/transparent_hugepage/~1",
                    "unknown_field");
}

static void test_all_errors_reported(void **state)
{
        (void) state;
        const struct want w[] = {
                { "/pools/2Mi/count", "negative" },      { "/pools/1Gi/nodes/01", "invalid_node" },
                { "/default_size", "invalid_quantity" }, { "/transparent_hugepage/enabeld", "unknown_field" },
                { "/colour", "unknown_field" },
        };
        check_errors("{\"pools\": {\"2Mi\": {\"count\": -1}, \"1Gi\": {\"nodes\": {\"0\": 1, \"01\": 1}},"
                     " \"1Mi\": {\"count\": 3}},"
                     " \"default_size\": \"2 Mi\","
                     " \"transparent_hugepage\": {\"enabled\": \"never\", \"enabeld\": \"never\"},"
                     " \"colour\": \"blue\"}",
                     w, 5);

        const struct want w4[] = {
                { "/x", "unknown_field" },
                { "/pools/2Mi", "wrong_type" },
                { "/pools/4Mi", "empty_pool" },
                { "/transparent_hugepage/defrag", "wrong_type" },
        };
        check_errors("{\"x\": 1, \"pools\": {\"2Mi\": 1, \"4Mi\": {}},"
                     " \"transparent_hugepage\": {\"defrag\": false}}",
                     w4, 4);
}

static void test_find_pool(void **state)
{
        (void) state;
        struct config c;
        parse_ok("{\"pools\": {\"1Gi\": {\"count\": 1}, \"64Ki\": {\"count\": 2}, \"2Mi\": {\"count\": 3},"
                 " \"1000\": {\"count\": 4}}}",
                 &c);
        assert_int_equal(c.n_pools, 4);
        const struct pool_cfg *p = config_find_pool(&c, 64);
        assert_non_null(p);
        assert_int_equal(p->count, 2);
        p = config_find_pool(&c, 2048);
        assert_non_null(p);
        assert_int_equal(p->count, 3);
        p = config_find_pool(&c, 1048576);
        assert_non_null(p);
        assert_int_equal(p->count, 1);
        assert_null(config_find_pool(&c, 0)); /* "1000" bytes has no kB size */
        assert_null(config_find_pool(&c, 1));
        assert_null(config_find_pool(&c, 32768));
        config_release(&c);

        struct config empty = { 0 };
        assert_null(config_find_pool(&empty, 2048));
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_example),
                cmocka_unit_test(test_empty_document),
                cmocka_unit_test(test_canonical),
                cmocka_unit_test(test_limits_accepted),
                cmocka_unit_test(test_unknown_fields),
                cmocka_unit_test(test_wrong_types),
                cmocka_unit_test(test_counts),
                cmocka_unit_test(test_node_keys),
                cmocka_unit_test(test_quantity_keys),
                cmocka_unit_test(test_thp_values),
                cmocka_unit_test(test_empty_pool),
                cmocka_unit_test(test_same_size_twice),
                cmocka_unit_test(test_json_errors),
                cmocka_unit_test(test_pointer_escaping),
                cmocka_unit_test(test_all_errors_reported),
                cmocka_unit_test(test_find_pool),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
