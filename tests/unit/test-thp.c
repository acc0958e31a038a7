/* Unit tests for model/thp.c: parsing the kernel's "always [madvise] never"
 * lists exactly as the kernel prints them, refusing anything else, and
 * reading and writing the knobs of a fake sysfs tree. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "../../model/thp.h"
#include "fixture.h"

#define THP_DIR "sys/kernel/mm/transparent_hugepage"

/* Checks that s lists exactly the n words in want, with want[active]
 * bracketed. */
static void check_setting(const struct thp_setting *s, const char *const *want, size_t n, int active)
{
        assert_true(s->present);
        assert_int_equal(s->n_choices, n);
        for (size_t i = 0; i < n; i++)
                assert_string_equal(s->choices[i], want[i]);
        assert_int_equal(s->active, active);
}

static void check_rejected(const char *text)
{
        struct thp_setting s, before;
        memset(&s, 0xa5, sizeof(s));
        before = s;
        int r = thp_parse(text, &s);
        if (r != -EINVAL)
                fail_msg("thp_parse(\"%s\") returned %d, expected %d (-EINVAL)", text, r, -EINVAL);
        if (memcmp(&s, &before, sizeof(s)) != 0)
                fail_msg("thp_parse(\"%s\") failed but wrote to ret", text);
}

static void test_knob_names(void **state)
{
        (void) state;
        assert_string_equal(thp_knob_name(THP_ENABLED), "enabled");
        assert_string_equal(thp_knob_name(THP_DEFRAG), "defrag");
        assert_string_equal(thp_knob_name(THP_SHMEM_ENABLED), "shmem_enabled");
        assert_null(thp_knob_name(_THP_KNOB_MAX));
}

static void test_parse_kernel_formats(void **state)
{
        (void) state;
        struct thp_setting s;

        assert_int_equal(thp_parse("always [madvise] never\n", &s), 0);
        check_setting(&s, (const char *const[]){ "always", "madvise", "never" }, 3, 1);

        assert_int_equal(thp_parse("always defer defer+madvise [madvise] never\n", &s), 0);
        check_setting(&s, (const char *const[]){ "always", "defer", "defer+madvise", "madvise", "never" }, 5,
                      3);

        assert_int_equal(thp_parse("always within_size advise [never] deny force\n", &s), 0);
        check_setting(&s,
                      (const char *const[]){ "always", "within_size", "advise", "never", "deny", "force" }, 6,
                      3);

        /* mTHP: hugepages-<N>kB/enabled, active word first and last. */
        assert_int_equal(thp_parse("[always] inherit madvise never\n", &s), 0);
        check_setting(&s, (const char *const[]){ "always", "inherit", "madvise", "never" }, 4, 0);

        assert_int_equal(thp_parse("always inherit madvise [never]\n", &s), 0);
        check_setting(&s, (const char *const[]){ "always", "inherit", "madvise", "never" }, 4, 3);

        /* Without the trailing newline, and a single choice. */
        assert_int_equal(thp_parse("always [madvise] never", &s), 0);
        check_setting(&s, (const char *const[]){ "always", "madvise", "never" }, 3, 1);
        assert_int_equal(thp_parse("[never]\n", &s), 0);
        check_setting(&s, (const char *const[]){ "never" }, 1, 0);
}

static void test_parse_rejects(void **state)
{
        (void) state;
        check_rejected("always madvise never\n"); /* no active choice */
        check_rejected("[always] [never]\n");     /* two */
        check_rejected("[always never\n");        /* unclosed */
        check_rejected("always] never");          /* unopened */
        check_rejected("");
        check_rejected("\n");
        check_rejected("[]");
        check_rejected("[] never");
        check_rejected("[[always]] never");
        check_rejected("[always]] never");
        check_rejected("al[ways] never");
        check_rejected("always [mad]vise never"); /* glued words */
}

static void test_parse_limits(void **state)
{
        (void) state;
        struct thp_setting s;
        char text[1024];

        /* A word of THP_MAX_WORD - 1 characters fits, one more does not. */
        char word[THP_MAX_WORD + 1];
        memset(word, 'w', THP_MAX_WORD - 1);
        word[THP_MAX_WORD - 1] = '\0';
        snprintf(text, sizeof(text), "[%s] never\n", word);
        assert_int_equal(thp_parse(text, &s), 0);
        assert_string_equal(s.choices[0], word);
        memset(word, 'w', THP_MAX_WORD);
        word[THP_MAX_WORD] = '\0';
        snprintf(text, sizeof(text), "[%s] never\n", word);
        check_rejected(text);
        snprintf(text, sizeof(text), "[never] %s\n", word);
        check_rejected(text);

        /* THP_MAX_CHOICES words fit, one more does not. */
        size_t len = (size_t) snprintf(text, sizeof(text), "[w0]");
        for (int i = 1; i < THP_MAX_CHOICES; i++)
                len += (size_t) snprintf(text + len, sizeof(text) - len, " w%d", i);
        assert_int_equal(thp_parse(text, &s), 0);
        assert_int_equal(s.n_choices, THP_MAX_CHOICES);
        assert_string_equal(s.choices[THP_MAX_CHOICES - 1], "w15");
        snprintf(text + len, sizeof(text) - len, " w%d\n", THP_MAX_CHOICES);
        check_rejected(text);
}

static void test_offers(void **state)
{
        (void) state;
        struct thp_setting s;
        assert_int_equal(thp_parse("always defer defer+madvise [madvise] never\n", &s), 0);
        assert_true(thp_offers(&s, "always"));
        assert_true(thp_offers(&s, "defer+madvise"));
        assert_true(thp_offers(&s, "madvise"));
        assert_true(thp_offers(&s, "never"));
        assert_false(thp_offers(&s, "[madvise]"));
        assert_false(thp_offers(&s, "defer+"));
        assert_false(thp_offers(&s, "Never"));
        assert_false(thp_offers(&s, ""));
        assert_false(thp_offers(&s, "within_size"));

        /* A knob the kernel lacks offers nothing, whatever its array holds. */
        s.present = false;
        assert_false(thp_offers(&s, "madvise"));
}

static void test_read_fixture(void **state)
{
        (void) state;
        char *dir = fixture_copy("x86-2node");
        struct sysfs fs;
        fixture_sysfs(dir, &fs);
        struct errbuf err = { "" };
        struct thp t;

        assert_int_equal(thp_read(&fs, &t, &err), 0);
        check_setting(&t.knobs[THP_ENABLED], (const char *const[]){ "always", "madvise", "never" }, 3, 1);
        check_setting(&t.knobs[THP_DEFRAG],
                      (const char *const[]){ "always", "defer", "defer+madvise", "madvise", "never" }, 5, 3);
        check_setting(&t.knobs[THP_SHMEM_ENABLED],
                      (const char *const[]){ "always", "within_size", "advise", "never", "deny", "force" }, 6,
                      3);
        assert_string_equal(err.msg, "");

        sysfs_release(&fs);
        fixture_remove(dir);
}

static void test_read_missing_file(void **state)
{
        (void) state;
        char *dir = fixture_copy("x86-2node");
        fixture_put(dir, THP_DIR "/shmem_enabled", NULL);
        struct sysfs fs;
        fixture_sysfs(dir, &fs);
        struct errbuf err = { "" };
        struct thp t;

        assert_int_equal(thp_read(&fs, &t, &err), 0);
        assert_false(t.knobs[THP_SHMEM_ENABLED].present);
        assert_false(thp_offers(&t.knobs[THP_SHMEM_ENABLED], "never"));
        check_setting(&t.knobs[THP_ENABLED], (const char *const[]){ "always", "madvise", "never" }, 3, 1);
        assert_true(t.knobs[THP_DEFRAG].present);

        /* No THP at all (CONFIG_TRANSPARENT_HUGEPAGE=n): nothing present. */
        fixture_put(dir, THP_DIR "/enabled", NULL);
        fixture_put(dir, THP_DIR "/defrag", NULL);
        assert_int_equal(thp_read(&fs, &t, &err), 0);
        for (int k = 0; k < _THP_KNOB_MAX; k++)
                assert_false(t.knobs[k].present);

        sysfs_release(&fs);
        fixture_remove(dir);
}

static void test_read_other_fixture(void **state)
{
        (void) state;
        char *dir = fixture_copy("nogigantic");
        struct sysfs fs;
        fixture_sysfs(dir, &fs);
        struct thp t;

        assert_int_equal(thp_read(&fs, &t, NULL), 0);
        check_setting(&t.knobs[THP_ENABLED], (const char *const[]){ "always", "madvise", "never" }, 3, 0);

        sysfs_release(&fs);
        fixture_remove(dir);
}

static void test_read_broken(void **state)
{
        (void) state;
        char *dir = fixture_copy("broken");
        struct sysfs fs;
        fixture_sysfs(dir, &fs);
        struct errbuf err = { "" };
        struct thp t, before;
        memset(&t, 0xa5, sizeof(t));
        before = t;

        assert_int_equal(thp_read(&fs, &t, &err), -EINVAL);
        char path[4096];
        snprintf(path, sizeof(path), "%s/" THP_DIR "/enabled", dir);
        if (!strstr(err.msg, path))
                fail_msg("the error \"%s\" does not name \"%s\"", err.msg, path);
        if (!strstr(err.msg, "always madvise never"))
                fail_msg("the error \"%s\" does not quote the file's text", err.msg);
        assert_null(strchr(err.msg, '\n'));
        assert_memory_equal(&t, &before, sizeof(t));

        /* Without an errbuf the error code is the same. */
        assert_int_equal(thp_read(&fs, &t, NULL), -EINVAL);

        sysfs_release(&fs);
        fixture_remove(dir);
}

static void test_read_malformed_other_knob(void **state)
{
        (void) state;
        char *dir = fixture_copy("x86-2node");
        fixture_put(dir, THP_DIR "/defrag", "always [defer] [madvise] never\n");
        struct sysfs fs;
        fixture_sysfs(dir, &fs);
        struct errbuf err = { "" };
        struct thp t;

        assert_int_equal(thp_read(&fs, &t, &err), -EINVAL);
        char path[4096];
        snprintf(path, sizeof(path), "%s/" THP_DIR "/defrag", dir);
        if (!strstr(err.msg, path))
                fail_msg("the error \"%s\" does not name \"%s\"", err.msg, path);

        /* An empty file is malformed too, not absent. */
        fixture_put(dir, THP_DIR "/defrag", "");
        assert_int_equal(thp_read(&fs, &t, &err), -EINVAL);
        if (!strstr(err.msg, path))
                fail_msg("the error \"%s\" does not name \"%s\"", err.msg, path);

        sysfs_release(&fs);
        fixture_remove(dir);
}

static void test_write(void **state)
{
        (void) state;
        char *dir = fixture_copy("x86-2node");
        struct sysfs fs;
        fixture_sysfs(dir, &fs);
        struct errbuf err = { "" };

        assert_int_equal(thp_write(&fs, THP_ENABLED, "never", &err), 0);
        assert_string_equal(fixture_get(dir, THP_DIR "/enabled"), "never\n");
        assert_int_equal(thp_write(&fs, THP_DEFRAG, "defer+madvise", &err), 0);
        assert_string_equal(fixture_get(dir, THP_DIR "/defrag"), "defer+madvise\n");

        /* A word sysfs would not take is refused before the file is opened. */
        assert_int_equal(thp_write(&fs, THP_SHMEM_ENABLED, "never force", &err), -EINVAL);
        assert_string_equal(fixture_get(dir, THP_DIR "/shmem_enabled"),
                            "always within_size advise [never] deny force\n");

        /* A missing knob is never created. */
        fixture_put(dir, THP_DIR "/shmem_enabled", NULL);
        assert_int_equal(thp_write(&fs, THP_SHMEM_ENABLED, "never", &err), -ENOENT);
        char path[4096];
        snprintf(path, sizeof(path), "%s/" THP_DIR "/shmem_enabled", dir);
        assert_int_equal(access(path, F_OK), -1);
        if (!strstr(err.msg, path))
                fail_msg("the error \"%s\" does not name \"%s\"", err.msg, path);

        sysfs_release(&fs);
        fixture_remove(dir);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_knob_names),
                cmocka_unit_test(test_parse_kernel_formats),
                cmocka_unit_test(test_parse_rejects),
                cmocka_unit_test(test_parse_limits),
                cmocka_unit_test(test_offers),
                cmocka_unit_test(test_read_fixture),
                cmocka_unit_test(test_read_missing_file),
                cmocka_unit_test(test_read_other_fixture),
                cmocka_unit_test(test_read_broken),
                cmocka_unit_test(test_read_malformed_other_knob),
                cmocka_unit_test(test_write),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
