/* Unit tests for model/sysfs.c's kept-open files: a read through a kept
 * descriptor gives what a new open gives after an in-place rewrite, after a
 * write through the same struct and across threads; a file replaced under
 * the same name is seen after sysfs_forget(); a missing file fails as a
 * plain read does. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../../model/sysfs.h"
#include "fixture.h"

#define NR "kernel/mm/hugepages/hugepages-2048kB/nr_hugepages"

struct ctx {
        char *dir;
        struct sysfs fs;
};

static int setup(void **state)
{
        struct ctx *c = calloc(1, sizeof(*c));
        c->dir = fixture_copy("x86-2node");
        fixture_sysfs(c->dir, &c->fs);
        assert_int_equal(sysfs_keep_open(&c->fs), 0);
        *state = c;
        return 0;
}

static int teardown(void **state)
{
        struct ctx *c = *state;
        sysfs_release(&c->fs);
        assert_null(c->fs.kept);
        fixture_remove(c->dir);
        free(c);
        return 0;
}

static uint64_t kept_u64(struct ctx *c, const char *rel)
{
        uint64_t v = 0;
        struct errbuf err = { { 0 } };
        int r = sysfs_read_u64_kept(&c->fs, SYSFS_SYS, rel, &v, &err);
        if (r < 0)
                fail_msg("sysfs_read_u64_kept(%s) = %d: %s", rel, r, err.msg);
        return v;
}

static void test_in_place_rewrite_is_seen(void **state)
{
        struct ctx *c = *state;
        assert_int_equal(kept_u64(c, NR), 512);
        assert_non_null(c->fs.kept);
        fixture_put(c->dir, "sys/" NR, "7\n"); /* same inode, as the kernel's files */
        assert_int_equal(kept_u64(c, NR), 7);
        fixture_put(c->dir, "sys/" NR, "123456\n"); /* longer than before */
        assert_int_equal(kept_u64(c, NR), 123456);
}

static void test_write_through_the_struct_is_seen(void **state)
{
        struct ctx *c = *state;
        assert_int_equal(kept_u64(c, NR), 512);
        struct errbuf err = { { 0 } };
        assert_int_equal(sysfs_write_u64(&c->fs, NR, 64, &err), 0);
        assert_int_equal(kept_u64(c, NR), 64);
}

static void test_replaced_file_seen_after_forget(void **state)
{
        struct ctx *c = *state;
        assert_int_equal(kept_u64(c, NR), 512);
        /* A new inode under the old name: the kept descriptor still reads
         * the old one until the set is dropped. */
        fixture_sh("cd '%s/sys/kernel/mm/hugepages/hugepages-2048kB' && echo 9 > nr.new && mv nr.new nr_hugepages",
                   c->dir);
        sysfs_forget(&c->fs);
        assert_int_equal(kept_u64(c, NR), 9);
}

static void test_missing_file_fails_like_a_plain_read(void **state)
{
        struct ctx *c = *state;
        char buf[64];
        struct errbuf kept_err = { { 0 } }, plain_err = { { 0 } };
        int r1 = sysfs_read_kept(&c->fs, SYSFS_SYS, "kernel/mm/nothing", buf, sizeof(buf), NULL, &kept_err);
        int r2 = sysfs_read(&c->fs, SYSFS_SYS, "kernel/mm/nothing", buf, sizeof(buf), NULL, &plain_err);
        assert_int_equal(r1, -ENOENT);
        assert_int_equal(r2, -ENOENT);
        assert_string_equal(kept_err.msg, plain_err.msg);
        /* A file too large for the buffer: -EFBIG through both. */
        fixture_put(c->dir, "sys/" NR, "12345678901234567890123456789012345678901234567890123456789012345678\n");
        r1 = sysfs_read_kept(&c->fs, SYSFS_SYS, NR, buf, 16, NULL, &kept_err);
        assert_int_equal(r1, -EFBIG);
}

static void test_without_keep_open_reads_plainly(void **state)
{
        struct ctx *c = *state;
        struct sysfs plain;
        fixture_sysfs(c->dir, &plain);
        assert_null(plain.kept);
        uint64_t v = 0;
        struct errbuf err = { { 0 } };
        assert_int_equal(sysfs_read_u64_kept(&plain, SYSFS_SYS, NR, &v, &err), 0);
        assert_int_equal(v, 512);
        sysfs_forget(&plain); /* a no-op */
        sysfs_release(&plain);
}

/* Readers on four threads while the main thread writes new values: every
 * read sees a number that was written, and after the last write every
 * reader sees the last value. */
struct reader {
        struct ctx *c;
        int good, bad;
        uint64_t last;
};
static atomic_int writing = 1;

static void *reader_main(void *arg)
{
        struct reader *rd = arg;
        struct errbuf err;
        while (atomic_load(&writing)) {
                /* A fake tree's file is empty for a moment between the
                 * writer's truncation and its write, which fails the read
                 * with or without kept files; a value read must be one
                 * that was written. */
                uint64_t v;
                if (sysfs_read_u64_kept(&rd->c->fs, SYSFS_SYS, NR, &v, &err) < 0)
                        continue;
                rd->good++;
                if (v != 512 && (v < 1000 || v > 1200))
                        rd->bad++;
        }
        sysfs_read_u64_kept(&rd->c->fs, SYSFS_SYS, NR, &rd->last, &err);
        return NULL;
}

static void test_threads(void **state)
{
        struct ctx *c = *state;
        pthread_t t[4];
        struct reader rd[4];
        atomic_store(&writing, 1);
        for (int i = 0; i < 4; i++) {
                rd[i] = (struct reader) { .c = c };
                pthread_create(&t[i], NULL, reader_main, &rd[i]);
        }
        struct errbuf err;
        for (uint64_t v = 1000; v <= 1200; v++)
                assert_int_equal(sysfs_write_u64(&c->fs, NR, v, &err), 0);
        atomic_store(&writing, 0);
        for (int i = 0; i < 4; i++) {
                pthread_join(t[i], NULL);
                if (rd[i].bad || rd[i].last != 1200)
                        fail_msg("reader %d: %d unwritten values among %d reads, last %llu (want 1200)", i,
                                 rd[i].bad, rd[i].good, (unsigned long long) rd[i].last);
        }
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(test_in_place_rewrite_is_seen, setup, teardown),
                cmocka_unit_test_setup_teardown(test_write_through_the_struct_is_seen, setup, teardown),
                cmocka_unit_test_setup_teardown(test_replaced_file_seen_after_forget, setup, teardown),
                cmocka_unit_test_setup_teardown(test_missing_file_fails_like_a_plain_read, setup, teardown),
                cmocka_unit_test_setup_teardown(test_without_keep_open_reads_plainly, setup, teardown),
                cmocka_unit_test_setup_teardown(test_threads, setup, teardown),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
