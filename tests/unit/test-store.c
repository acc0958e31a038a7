/* Unit tests for model/store.c: the state directory, the desired-config
 * record (round trip, checksum, format versions) and the atomic file
 * replacement everything in the state directory is written with. Each test
 * works in its own temporary directory, removed afterwards. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "../../model/store.h"
#include "fixture.h"

#define RECORD "desired.json"

/* The tests' temporary directory; fixture_remove() deletes it. */
static int setup(void **state)
{
        char tmpl[] = "/tmp/hugepaged-test-XXXXXX";
        if (!mkdtemp(tmpl))
                return -1;
        umask(022);
        *state = strdup(tmpl);
        return *state ? 0 : -1;
}

static int teardown(void **state)
{
        fixture_remove(*state);
        return 0;
}

static char *path_in(const char *dir, const char *name)
{
        char *p = NULL;
        assert_true(asprintf(&p, "%s/%s", dir, name) > 0);
        return p;
}

/* Checks path's permission bits, printing both in octal. */
static void check_mode(const char *path, unsigned want)
{
        struct stat st;
        if (stat(path, &st) != 0)
                fail_msg("cannot stat %s: %s", path, strerror(errno));
        unsigned got = (unsigned) (st.st_mode & 07777);
        if (got != want)
                fail_msg("%s has mode %04o, expected %04o", path, got, want);
}

/* Reads a whole file into a new buffer; *ret_len gets its length. */
static char *slurp(const char *path, size_t *ret_len)
{
        FILE *f = fopen(path, "rb");
        if (!f)
                fail_msg("cannot read %s: %s", path, strerror(errno));
        char *buf = malloc(1 << 20);
        assert_non_null(buf);
        size_t n = fread(buf, 1, (1 << 20) - 1, f);
        buf[n] = '\0';
        fclose(f);
        if (ret_len)
                *ret_len = n;
        return buf;
}

static void spit(const char *path, const char *text)
{
        FILE *f = fopen(path, "wb");
        if (!f)
                fail_msg("cannot write %s: %s", path, strerror(errno));
        fputs(text, f);
        fclose(f);
}

/* Lists dir's entries other than "." and "..", sorted, joined by spaces. */
static void list_dir(const char *dir, char *buf, size_t size)
{
        struct dirent **names;
        int n = scandir(dir, &names, NULL, alphasort);
        if (n < 0)
                fail_msg("cannot list %s: %s", dir, strerror(errno));
        buf[0] = '\0';
        for (int i = 0; i < n; i++) {
                const char *name = names[i]->d_name;
                if (strcmp(name, ".") != 0 && strcmp(name, "..") != 0) {
                        size_t used = strlen(buf);
                        snprintf(buf + used, size - used, "%s%s", used ? " " : "", name);
                }
                free(names[i]);
        }
        free(names);
}

static json_t *example_config(void)
{
        json_error_t e;
        json_t *j = json_loads(
                "{\"pools\": {\"2Mi\": {\"count\": 512}, \"1Gi\": {\"nodes\": {\"0\": 1, \"1\": 1}}},"
                " \"default_size\": \"2Mi\","
                " \"transparent_hugepage\": {\"enabled\": \"madvise\"}}",
                0, &e);
        assert_non_null(j);
        return j;
}

/* Opens a store in dir/state and saves the example config as generation 1. */
static void open_and_save(const char *dir, struct store *s)
{
        char *state = path_in(dir, "state");
        struct errbuf err = { "" };
        assert_int_equal(store_open(state, s, &err), 0);
        json_t *config = example_config();
        assert_int_equal(store_save(s, 1, config, "admin", &err), 0);
        json_decref(config);
        free(state);
}

/* Loads the record, which must fail with want; checks that ret was left
 * alone and that the message names the record. */
static void check_load_fails(struct store *s, int want, const char *why)
{
        struct stored_config c, before;
        memset(&c, 0xa5, sizeof(c));
        before = c;
        struct errbuf err = { "" };
        int r = store_load(s, &c, &err);
        if (r != want)
                fail_msg("%s: store_load returned %d (%s), expected %d (%s)", why, r, err.msg, want,
                         strerror(-want));
        assert_memory_equal(&c, &before, sizeof(c));
        char *path = path_in(s->dir, RECORD);
        if (!strstr(err.msg, path))
                fail_msg("%s: the error \"%s\" does not name %s", why, err.msg, path);
        free(path);
}

/* Rewrites the saved record through edit(), keeping it valid JSON. */
static void edit_record(struct store *s, void (*edit)(json_t *rec))
{
        char *path = path_in(s->dir, RECORD);
        json_error_t e;
        json_t *rec = json_load_file(path, 0, &e);
        assert_non_null(rec);
        edit(rec);
        assert_int_equal(json_dump_file(rec, path, JSON_INDENT(2)), 0);
        json_decref(rec);
        free(path);
}

static void test_open_creates_private_dir(void **state)
{
        const char *dir = *state;
        struct errbuf err = { "" };
        struct store s;

        char *flat = path_in(dir, "state");
        assert_int_equal(store_open(flat, &s, &err), 0);
        assert_string_equal(s.dir, flat);
        assert_true(s.dir_fd >= 0);
        check_mode(flat, 0700);
        assert_true(fcntl(s.dir_fd, F_GETFD) & FD_CLOEXEC);
        store_close(&s);
        assert_null(s.dir);
        assert_int_equal(s.dir_fd, -1);
        store_close(&s); /* twice is harmless */
        store_close(NULL);

        /* Opening an existing directory is fine and keeps its mode. */
        assert_int_equal(store_open(flat, &s, &err), 0);
        check_mode(flat, 0700);
        store_close(&s);
        free(flat);

        char *nested = path_in(dir, "var/lib/hugepaged");
        assert_int_equal(store_open(nested, &s, &err), 0);
        check_mode(nested, 0700);
        store_close(&s);
        free(nested);
}

/* The state directory is 0700 however its path is spelled: a trailing
 * slash (as in StateDirectory paths written by hand) must not change it.
 * Fails while mkdir_p() creates "dir" as an intermediate 0755 component
 * before reaching the final mkdir("dir/", 0700). */
static void test_open_trailing_slash(void **state)
{
        const char *dir = *state;
        struct errbuf err = { "" };
        struct store s;
        char slashed[4096];
        snprintf(slashed, sizeof(slashed), "%s/state/", dir);
        assert_int_equal(store_open(slashed, &s, &err), 0);
        store_close(&s);
        check_mode(slashed, 0700);
}

static void test_open_fails(void **state)
{
        const char *dir = *state;
        struct errbuf err = { "" };
        struct store s = { .dir = NULL, .dir_fd = -42 };

        char *file = path_in(dir, "file");
        spit(file, "x");
        char *under = path_in(dir, "file/state");
        assert_int_equal(store_open(under, &s, &err), -ENOTDIR);
        if (!strstr(err.msg, under))
                fail_msg("the error \"%s\" does not name %s", err.msg, under);
        assert_null(s.dir);
        assert_int_equal(s.dir_fd, -42);
        assert_int_equal(store_open(file, &s, &err), -ENOTDIR);
        free(under);
        free(file);
}

static void test_load_empty(void **state)
{
        const char *dir = *state;
        struct errbuf err = { "" };
        struct store s;
        char *st = path_in(dir, "state");
        assert_int_equal(store_open(st, &s, &err), 0);

        struct stored_config c;
        memset(&c, 0xa5, sizeof(c));
        assert_int_equal(store_load(&s, &c, &err), 0);
        assert_int_equal(c.generation, 0);
        assert_null(c.config);
        stored_config_release(&c);
        stored_config_release(NULL);

        store_close(&s);
        free(st);
}

static void test_save_load_round_trip(void **state)
{
        const char *dir = *state;
        struct errbuf err = { "" };
        struct store s;
        time_t before = time(NULL);
        open_and_save(dir, &s);
        time_t after = time(NULL);

        struct stored_config c;
        assert_int_equal(store_load(&s, &c, &err), 0);
        assert_int_equal(c.generation, 1);
        assert_string_equal(c.who, "admin");
        json_t *want = example_config();
        assert_non_null(c.config);
        assert_true(json_equal(c.config, want));
        json_decref(want);

        /* "2026-11-27T10:00:00Z": UTC, whole seconds, within this test. */
        assert_int_equal(strlen(c.time), 20);
        struct tm tm = { 0 };
        const char *end = strptime(c.time, "%Y-%m-%dT%H:%M:%SZ", &tm);
        assert_non_null(end);
        assert_int_equal(*end, '\0');
        time_t t = timegm(&tm);
        assert_in_range(t, before, after);
        stored_config_release(&c);
        assert_null(c.config);

        /* The record: 0600, one JSON object and a final newline, with the
         * fields store.h lists. */
        char *rec = path_in(s.dir, RECORD);
        check_mode(rec, 0600);
        size_t len;
        char *text = slurp(rec, &len);
        assert_true(len > 0);
        assert_int_equal(text[len - 1], '\n');
        json_error_t e;
        json_t *j = json_loads(text, 0, &e);
        assert_non_null(j);
        assert_int_equal(json_integer_value(json_object_get(j, "format")), STORE_FORMAT);
        assert_int_equal(json_integer_value(json_object_get(j, "generation")), 1);
        assert_int_equal(strlen(json_string_value(json_object_get(j, "sha256"))), 64);
        json_decref(j);
        free(text);
        free(rec);

        char names[1024];
        list_dir(s.dir, names, sizeof(names));
        assert_string_equal(names, RECORD);
        store_close(&s);
}

static void test_overwrite(void **state)
{
        const char *dir = *state;
        struct errbuf err = { "" };
        struct store s;
        open_and_save(dir, &s);

        json_error_t e;
        json_t *second = json_loads("{\"pools\": {\"1Gi\": {\"count\": 4}}}", 0, &e);
        assert_int_equal(store_save(&s, 2, second, NULL, &err), 0);

        struct stored_config c;
        assert_int_equal(store_load(&s, &c, &err), 0);
        assert_int_equal(c.generation, 2);
        assert_true(json_equal(c.config, second));
        assert_string_equal(c.who, ""); /* who NULL is stored as "" */
        stored_config_release(&c);

        char names[1024];
        list_dir(s.dir, names, sizeof(names));
        assert_string_equal(names, RECORD);
        char *rec = path_in(s.dir, RECORD);
        check_mode(rec, 0600);
        free(rec);

        /* A reopened store sees the same record. */
        char *path = strdup(s.dir);
        store_close(&s);
        assert_int_equal(store_open(path, &s, &err), 0);
        assert_int_equal(store_load(&s, &c, &err), 0);
        assert_int_equal(c.generation, 2);
        assert_true(json_equal(c.config, second));
        stored_config_release(&c);
        store_close(&s);
        free(path);
        json_decref(second);
}

static void change_config(json_t *rec)
{
        json_t *pool = json_object_get(json_object_get(json_object_get(rec, "config"), "pools"), "2Mi");
        assert_non_null(pool);
        assert_int_equal(json_object_set_new(pool, "count", json_integer(1024)), 0);
}

static void change_sha(json_t *rec)
{
        assert_int_equal(json_object_set_new(rec, "sha256", json_string("00")), 0);
}

static void test_checksum_mismatch(void **state)
{
        struct store s;
        open_and_save(*state, &s);
        edit_record(&s, change_config);
        check_load_fails(&s, -EBADMSG, "edited config");

        struct errbuf err = { "" };
        struct stored_config c;
        assert_int_equal(store_load(&s, &c, &err), -EBADMSG);
        if (!strstr(err.msg, "checksum"))
                fail_msg("the error \"%s\" does not mention the checksum", err.msg);
        store_close(&s);

        open_and_save(*state, &s);
        edit_record(&s, change_sha);
        check_load_fails(&s, -EBADMSG, "edited sha256");
        store_close(&s);
}

/* Reformatting the record by hand (other indentation, key order) keeps the
 * checksum valid: it covers the config's compact sorted form. */
static void test_reformatted_record_loads(void **state)
{
        struct store s;
        open_and_save(*state, &s);
        char *path = path_in(s.dir, RECORD);
        json_error_t e;
        json_t *rec = json_load_file(path, 0, &e);
        assert_non_null(rec);
        assert_int_equal(json_dump_file(rec, path, JSON_COMPACT), 0);
        json_decref(rec);

        struct errbuf err = { "" };
        struct stored_config c;
        assert_int_equal(store_load(&s, &c, &err), 0);
        assert_int_equal(c.generation, 1);
        stored_config_release(&c);
        free(path);
        store_close(&s);
}

static void set_format_99(json_t *rec)
{
        assert_int_equal(json_object_set_new(rec, "format", json_integer(99)), 0);
        /* A newer format may change anything else too. */
        assert_int_equal(json_object_set_new(rec, "generation", json_string("g-7")), 0);
        assert_int_equal(json_object_set_new(rec, "history", json_array()), 0);
}

static void test_newer_format(void **state)
{
        struct store s;
        open_and_save(*state, &s);
        edit_record(&s, set_format_99);

        char *path = path_in(s.dir, RECORD);
        struct stat st_before, st_after;
        assert_int_equal(stat(path, &st_before), 0);
        size_t len_before, len_after;
        char *bytes_before = slurp(path, &len_before);

        check_load_fails(&s, -EPROTONOSUPPORT, "format 99");
        struct errbuf err = { "" };
        struct stored_config c;
        assert_int_equal(store_load(&s, &c, &err), -EPROTONOSUPPORT);
        if (!strstr(err.msg, "format 99"))
                fail_msg("the error \"%s\" does not give the format", err.msg);

        char *bytes_after = slurp(path, &len_after);
        assert_int_equal(len_after, len_before);
        assert_memory_equal(bytes_after, bytes_before, len_before);
        assert_int_equal(stat(path, &st_after), 0);
        assert_int_equal(st_after.st_ino, st_before.st_ino);
        assert_int_equal(st_after.st_mtim.tv_sec, st_before.st_mtim.tv_sec);
        assert_int_equal(st_after.st_mtim.tv_nsec, st_before.st_mtim.tv_nsec);

        char names[1024];
        list_dir(s.dir, names, sizeof(names));
        assert_string_equal(names, RECORD);

        free(bytes_before);
        free(bytes_after);
        free(path);
        store_close(&s);
}

static void test_garbage(void **state)
{
        struct store s;
        open_and_save(*state, &s);
        char *path = path_in(s.dir, RECORD);
        static const char *const bad[] = {
                "not json\n",
                "",
                "{\"format\": 1,",
                "[1, 2]\n",
                "{\"format\": 1}\n{}\n",
                "{\"format\": 1, \"format\": 1}\n",
                "null\n",
        };
        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
                spit(path, bad[i]);
                check_load_fails(&s, -EBADMSG, bad[i]);
        }
        free(path);
        store_close(&s);
}

static void drop_who(json_t *rec)
{
        assert_int_equal(json_object_del(rec, "who"), 0);
}
static void drop_sha(json_t *rec)
{
        assert_int_equal(json_object_del(rec, "sha256"), 0);
}
static void drop_config(json_t *rec)
{
        assert_int_equal(json_object_del(rec, "config"), 0);
}
static void drop_time(json_t *rec)
{
        assert_int_equal(json_object_del(rec, "time"), 0);
}
static void drop_generation(json_t *rec)
{
        assert_int_equal(json_object_del(rec, "generation"), 0);
}
static void drop_format(json_t *rec)
{
        assert_int_equal(json_object_del(rec, "format"), 0);
}
static void format_string(json_t *rec)
{
        assert_int_equal(json_object_set_new(rec, "format", json_string("1")), 0);
}
static void format_zero(json_t *rec)
{
        assert_int_equal(json_object_set_new(rec, "format", json_integer(0)), 0);
}
static void generation_zero(json_t *rec)
{
        assert_int_equal(json_object_set_new(rec, "generation", json_integer(0)), 0);
}
static void generation_negative(json_t *rec)
{
        assert_int_equal(json_object_set_new(rec, "generation", json_integer(-3)), 0);
}
static void config_array(json_t *rec)
{
        assert_int_equal(json_object_set_new(rec, "config", json_array()), 0);
}
static void extra_field(json_t *rec)
{
        assert_int_equal(json_object_set_new(rec, "extra", json_true()), 0);
}

static void test_malformed_records(void **state)
{
        static const struct {
                void (*edit)(json_t *);
                const char *name;
        } edits[] = {
                { drop_who, "no who" },
                { drop_sha, "no sha256" },
                { drop_config, "no config" },
                { drop_time, "no time" },
                { drop_generation, "no generation" },
                { drop_format, "no format" },
                { format_string, "format \"1\"" },
                { format_zero, "format 0" },
                { generation_zero, "generation 0" },
                { generation_negative, "generation -3" },
                { config_array, "config []" },
                { extra_field, "an unknown field" },
        };
        for (size_t i = 0; i < sizeof(edits) / sizeof(edits[0]); i++) {
                struct store s;
                open_and_save(*state, &s);
                edit_record(&s, edits[i].edit);
                check_load_fails(&s, -EBADMSG, edits[i].name);
                store_close(&s);
        }
}

static void test_write_file(void **state)
{
        const char *dir = *state;
        struct errbuf err = { "" };
        int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        assert_true(dfd >= 0);
        char *path = path_in(dir, "token");
        char names[1024];

        assert_int_equal(store_write_file(dfd, "token", "first\n", 6, 0640, &err), 0);
        char *text = slurp(path, NULL);
        assert_string_equal(text, "first\n");
        free(text);
        check_mode(path, 0640);

        /* Replacement is a rename: a reader holding the old file keeps
         * seeing the old content whole, and a new open sees the new one. */
        int old = open(path, O_RDONLY | O_CLOEXEC);
        assert_true(old >= 0);
        assert_int_equal(store_write_file(dfd, "token", "second, longer\n", 15, 0600, &err), 0);
        char buf[64] = "";
        assert_int_equal(read(old, buf, sizeof(buf) - 1), 6);
        assert_string_equal(buf, "first\n");
        close(old);
        text = slurp(path, NULL);
        assert_string_equal(text, "second, longer\n");
        free(text);
        check_mode(path, 0600);

        /* A temp file left by a crash is not in the way. */
        char *tmp = path_in(dir, ".token.tmp");
        spit(tmp, "stale");
        assert_int_equal(store_write_file(dfd, "token", "third\n", 6, 0600, &err), 0);
        text = slurp(path, NULL);
        assert_string_equal(text, "third\n");
        free(text);
        list_dir(dir, names, sizeof(names));
        assert_string_equal(names, "token");

        /* Empty data gives an empty file. */
        assert_int_equal(store_write_file(dfd, "token", "", 0, 0600, &err), 0);
        text = slurp(path, NULL);
        assert_string_equal(text, "");
        free(text);

        /* A failed rename (onto a non-empty directory) leaves the target
         * as it was and no temp file behind. */
        char *sub = path_in(dir, "sub");
        assert_int_equal(mkdir(sub, 0700), 0);
        char *inner = path_in(sub, "keep");
        spit(inner, "keep");
        int r = store_write_file(dfd, "sub", "x", 1, 0600, &err);
        assert_true(r < 0);
        if (!strstr(err.msg, "sub"))
                fail_msg("the error \"%s\" does not name the file", err.msg);
        list_dir(dir, names, sizeof(names));
        assert_string_equal(names, "sub token");
        text = slurp(inner, NULL);
        assert_string_equal(text, "keep");
        free(text);

        free(inner);
        free(sub);
        free(tmp);
        free(path);
        close(dfd);
}

static void test_path(void **state)
{
        (void) state;
        struct store s = { .dir = (char *) "/var/lib/hugepaged", .dir_fd = -1 };
        char buf[64];
        assert_int_equal(store_path(&s, "token", buf, sizeof(buf)), 0);
        assert_string_equal(buf, "/var/lib/hugepaged/token");
        char small[24];
        assert_int_equal(store_path(&s, "token", small, sizeof(small)), -ENAMETOOLONG);
        char exact[25]; /* 24 characters and the NUL */
        assert_int_equal(store_path(&s, "token", exact, sizeof(exact)), 0);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(test_open_creates_private_dir, setup, teardown),
                cmocka_unit_test_setup_teardown(test_open_trailing_slash, setup, teardown),
                cmocka_unit_test_setup_teardown(test_open_fails, setup, teardown),
                cmocka_unit_test_setup_teardown(test_load_empty, setup, teardown),
                cmocka_unit_test_setup_teardown(test_save_load_round_trip, setup, teardown),
                cmocka_unit_test_setup_teardown(test_overwrite, setup, teardown),
                cmocka_unit_test_setup_teardown(test_checksum_mismatch, setup, teardown),
                cmocka_unit_test_setup_teardown(test_reformatted_record_loads, setup, teardown),
                cmocka_unit_test_setup_teardown(test_newer_format, setup, teardown),
                cmocka_unit_test_setup_teardown(test_garbage, setup, teardown),
                cmocka_unit_test_setup_teardown(test_malformed_records, setup, teardown),
                cmocka_unit_test_setup_teardown(test_write_file, setup, teardown),
                cmocka_unit_test(test_path),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
