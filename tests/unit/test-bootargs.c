/* Unit tests for model/bootargs.c: the --boot-args spec, the kernel
 * parameters a config needs (order, sizes, per-node syntax), the GRUB
 * environment block codec (both header forms, escaping, refusals,
 * overflow), the merge into the operator's variable (ownership across
 * writes, foreign tokens byte for byte, conflicts), the atomic file update,
 * and the comparison with a running command line.
 *
 * Blocks are cross-checked with Debian's real grub-editenv (grub-common),
 * run as a child process: what it writes must read back here, what we
 * write must list back there. The test fails when it is missing. */
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
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../../model/bootargs.h"
#include "../../model/config.h"
#include "fixture.h"

#define HARVESTER_VALUE "multipath=off ifname=mgmt0:52:54:00:ab:cd:ef"

/* ---- helpers -------------------------------------------------------- */

static void load_config(const char *json, struct config *ret)
{
        struct findings errors = { 0 };
        json_t *doc = NULL;
        if (config_load(json, strlen(json), &doc, &errors) < 0 || config_parse(doc, ret, &errors) < 0)
                fail_msg("config did not parse: %s: %s", json, errors.n ? errors.items[0].message : "?");
        json_decref(doc);
        findings_release(&errors);
}

/* A machine as far as the parameters care: its base page and default size. */
static struct sizes machine(uint64_t base_page_kb, uint64_t default_size_kb)
{
        return (struct sizes){ .base_page_kb = base_page_kb, .default_size_kb = default_size_kb };
}

/* The parameters of json on an x86_64 machine (4K pages), joined. */
static char *params_of(const char *json, uint64_t base_page_kb)
{
        struct config c;
        struct bootargs a;
        struct errbuf err = { "" };
        struct sizes s = machine(base_page_kb, 2048);
        load_config(json, &c);
        int r = bootargs_from_config(&c, &s, &a, &err);
        if (r < 0)
                fail_msg("bootargs_from_config(%s) = %d: %s", json, r, err.msg);
        char *joined = bootargs_join(&a);
        assert_non_null(joined);
        bootargs_release(&a);
        config_release(&c);
        return joined;
}

static void check_params(const char *json, uint64_t base_page_kb, const char *want)
{
        char *got = params_of(json, base_page_kb);
        if (strcmp(got, want) != 0)
                fail_msg("parameters of %s:\n got \"%s\"\nwant \"%s\"", json, got, want);
        free(got);
}

/* Makes a struct bootargs from a blank-separated string. */
static struct bootargs tokens(const char *s)
{
        struct bootargs a = { 0 };
        char *copy = strdup(s), *save = NULL;
        for (char *t = strtok_r(copy, " ", &save); t; t = strtok_r(NULL, " ", &save)) {
                a.tokens = realloc(a.tokens, (a.n + 1) * sizeof(char *));
                a.tokens[a.n++] = strdup(t);
        }
        free(copy);
        return a;
}

static void read_bytes(const char *path, char *buf, size_t size, size_t *ret_len)
{
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
                fail_msg("cannot open %s: %s", path, strerror(errno));
        ssize_t n = read(fd, buf, size);
        close(fd);
        assert_true(n >= 0);
        *ret_len = (size_t) n;
}

static void write_bytes(const char *path, const char *buf, size_t len)
{
        int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        if (fd < 0)
                fail_msg("cannot create %s: %s", path, strerror(errno));
        assert_int_equal(write(fd, buf, len), (ssize_t) len);
        close(fd);
}

/* Reads a fixture block (exactly 1024 bytes) from the source tree. */
static void fixture_block(const char *name, char buf[static BOOTARGS_ENVBLK_SIZE])
{
        char path[4096];
        size_t len;
        snprintf(path, sizeof(path), "%s/grubenv/%s", FIXTURES, name);
        read_bytes(path, buf, BOOTARGS_ENVBLK_SIZE, &len);
        assert_int_equal(len, BOOTARGS_ENVBLK_SIZE);
}

static void parse_ok(const char *buf, size_t len, struct bootargs_envblk *e)
{
        struct errbuf err = { "" };
        int r = bootargs_envblk_parse(buf, len, "test block", e, &err);
        if (r < 0)
                fail_msg("bootargs_envblk_parse = %d: %s", r, err.msg);
}

static void check_value(const struct bootargs_envblk *e, const char *name, const char *want)
{
        const char *got = bootargs_envblk_get(e, name);
        if (!want && !got)
                return;
        if (!want || !got || strcmp(got, want) != 0)
                fail_msg("%s: got \"%s\", want \"%s\"", name, got ? got : "(absent)",
                         want ? want : "(absent)");
}

/* A temporary copy of tests/fixtures/grubenv and the spec for one file. */
struct ctx {
        char *dir;
        char path[4096];
        struct bootargs_spec spec;
};

static void ctx_open(struct ctx *c, const char *file)
{
        memset(c, 0, sizeof(*c));
        c->dir = fixture_copy("grubenv");
        snprintf(c->path, sizeof(c->path), "%s/%s", c->dir, file);
        char spec[4200];
        snprintf(spec, sizeof(spec), "grubenv:%s:third_party_kernel_args", c->path);
        struct errbuf err;
        assert_int_equal(bootargs_spec_parse(spec, &c->spec, &err), 0);
}

static void ctx_close(struct ctx *c)
{
        bootargs_spec_release(&c->spec);
        fixture_remove(c->dir);
}

static int write_want(struct ctx *c, const char *want, bool *changed, struct errbuf *err)
{
        struct bootargs a = tokens(want);
        int r = bootargs_write(&c->spec, &a, changed, err);
        bootargs_release(&a);
        return r;
}

static void write_ok(struct ctx *c, const char *want, bool expect_changed)
{
        struct errbuf err = { "" };
        bool changed = !expect_changed;
        int r = write_want(c, want, &changed, &err);
        if (r < 0)
                fail_msg("bootargs_write(\"%s\") = %d: %s", want, r, err.msg);
        if (changed != expect_changed)
                fail_msg("bootargs_write(\"%s\"): changed = %d, expected %d", want, changed, expect_changed);
}

static void check_file_value(struct ctx *c, const char *want_value, const char *want_owned)
{
        char *value, *owned;
        struct errbuf err = { "" };
        int r = bootargs_read(&c->spec, &value, &owned, &err);
        if (r < 0)
                fail_msg("bootargs_read = %d: %s", r, err.msg);
        if (strcmp(value, want_value) != 0)
                fail_msg("value:\n got \"%s\"\nwant \"%s\"", value, want_value);
        if (strcmp(owned, want_owned) != 0)
                fail_msg("record:\n got \"%s\"\nwant \"%s\"", owned, want_owned);
        free(value);
        free(owned);
}

/* ---- grub-editenv as a child process ---------------------------------- */

/* grub-editenv from $GRUB_EDITENV, $PATH or /usr/bin; NULL when none. */
static const char *find_editenv(void)
{
        static char found[4096];
        const char *env = getenv("GRUB_EDITENV");
        if (env && *env)
                return access(env, X_OK) == 0 ? env : NULL;
        const char *path = getenv("PATH");
        char *copy = strdup(path ? path : ""), *save = NULL;
        for (char *d = strtok_r(copy, ":", &save); d; d = strtok_r(NULL, ":", &save)) {
                snprintf(found, sizeof(found), "%s/grub-editenv", d);
                if (access(found, X_OK) == 0) {
                        free(copy);
                        return found;
                }
        }
        free(copy);
        return access("/usr/bin/grub-editenv", X_OK) == 0 ? "/usr/bin/grub-editenv" : NULL;
}

#define NO_EDITENV                                                                                           \
        "grub-editenv not found (set GRUB_EDITENV, or install Debian's grub-common: scripts/deps.sh); "      \
        "the cross-check with the real tool cannot be skipped"

static const char *editenv_path(void)
{
        const char *p = find_editenv();
        if (!p)
                fail_msg(NO_EDITENV);
        return p;
}

/* Runs grub-editenv FILE args..., returns its exit status, its standard
 * output in out (NUL-terminated) and its standard error in errout. */
static int editenv(const char *file, char *out, size_t out_size, char *errout, size_t err_size,
                   const char *const *args)
{
        const char *argv[16] = { editenv_path(), file };
        size_t n = 2;
        for (; args[n - 2]; n++) {
                assert_true(n < sizeof(argv) / sizeof(argv[0]) - 1);
                argv[n] = args[n - 2];
        }
        argv[n] = NULL;

        int po[2], pe[2];
        assert_int_equal(pipe2(po, O_CLOEXEC), 0);
        assert_int_equal(pipe2(pe, O_CLOEXEC), 0);
        pid_t pid = fork();
        assert_true(pid >= 0);
        if (pid == 0) {
                dup2(po[1], 1);
                dup2(pe[1], 2);
                execv(argv[0], (char *const *) argv);
                _exit(127);
        }
        close(po[1]);
        close(pe[1]);
        size_t lo = 0, le = 0;
        for (bool open_o = true, open_e = true; open_o || open_e;) {
                if (open_o) {
                        ssize_t k = read(po[0], out + lo, out_size - 1 - lo);
                        if (k <= 0)
                                open_o = false;
                        else
                                lo += (size_t) k;
                }
                if (open_e) {
                        ssize_t k = read(pe[0], errout + le, err_size - 1 - le);
                        if (k <= 0)
                                open_e = false;
                        else
                                le += (size_t) k;
                }
        }
        out[lo] = '\0';
        errout[le] = '\0';
        close(po[0]);
        close(pe[0]);
        int status;
        assert_int_equal(waitpid(pid, &status, 0), pid);
        return WIFEXITED(status) ? WEXITSTATUS(status) : 128;
}

static void editenv_ok(const char *file, char *out, size_t out_size, const char *const *args)
{
        char errout[4096];
        int rc = editenv(file, out, out_size, errout, sizeof(errout), args);
        if (rc != 0)
                fail_msg("grub-editenv %s %s... exited %d: %s", file, args[0], rc, errout);
}

#define EDITENV(file, ...)                                                                                   \
        do {                                                                                                 \
                char _out[4096];                                                                             \
                editenv_ok(file, _out, sizeof(_out), (const char *const[]){ __VA_ARGS__, NULL });            \
        } while (0)

static void editenv_list(const char *file, char *out, size_t size)
{
        editenv_ok(file, out, size, (const char *const[]){ "list", NULL });
}

/* ---- the spec ------------------------------------------------------- */

static void check_spec_rejected(const char *spec, const char *needle)
{
        struct bootargs_spec s = { (char *) 0x1, (char *) 0x2 };
        struct errbuf err = { "" };
        int r = bootargs_spec_parse(spec, &s, &err);
        if (r != -EINVAL)
                fail_msg("bootargs_spec_parse(\"%s\") = %d, expected -EINVAL", spec, r);
        if (s.file != (char *) 0x1 || s.variable != (char *) 0x2)
                fail_msg("bootargs_spec_parse(\"%s\") failed but wrote to ret", spec);
        if (!strstr(err.msg, needle))
                fail_msg("bootargs_spec_parse(\"%s\"): message \"%s\" lacks \"%s\"", spec, err.msg, needle);
}

static void test_spec_parse(void **state)
{
        (void) state;
        struct bootargs_spec s;
        struct errbuf err = { "" };

        assert_int_equal(bootargs_spec_parse("grubenv:/oem/grubenv:third_party_kernel_args", &s, &err), 0);
        assert_string_equal(s.file, "/oem/grubenv");
        assert_string_equal(s.variable, "third_party_kernel_args");
        bootargs_spec_release(&s);

        /* The variable follows the last colon; the file may hold colons. */
        assert_int_equal(bootargs_spec_parse("grubenv:/boot/efi:x/grubenv:_K2", &s, &err), 0);
        assert_string_equal(s.file, "/boot/efi:x/grubenv");
        assert_string_equal(s.variable, "_K2");
        bootargs_spec_release(&s);
        bootargs_spec_release(&s); /* released twice is harmless */
        bootargs_spec_release(NULL);

        check_spec_rejected("", "expected grubenv:FILE:VARIABLE");
        check_spec_rejected("grubenv", "expected grubenv:FILE:VARIABLE");
        check_spec_rejected("grubenv:/oem/grubenv", "no VARIABLE");
        check_spec_rejected("grub2:/oem/grubenv:third_party_kernel_args", "unknown backend \"grub2\"");
        check_spec_rejected("efivar:/x:y", "supported: grubenv");
        check_spec_rejected("grubenv::third_party_kernel_args", "FILE is empty");
        check_spec_rejected("grubenv:oem/grubenv:third_party_kernel_args", "must be an absolute path");
        check_spec_rejected("grubenv:/oem/grubenv:", "VARIABLE is empty");
        check_spec_rejected("grubenv:/oem/grubenv:1args", "not a GRUB variable name");
        check_spec_rejected("grubenv:/oem/grubenv:kernel-args", "not a GRUB variable name");
        check_spec_rejected("grubenv:/oem/grubenv:a b", "not a GRUB variable name");
        /* 64 characters are fine, 65 are not. */
        char spec[128] = "grubenv:/g:";
        size_t at = strlen(spec);
        memset(spec + at, 'v', BOOTARGS_VARIABLE_MAX);
        spec[at + BOOTARGS_VARIABLE_MAX] = '\0';
        assert_int_equal(bootargs_spec_parse(spec, &s, &err), 0);
        assert_int_equal(strlen(s.variable), BOOTARGS_VARIABLE_MAX);
        bootargs_spec_release(&s);
        spec[at + BOOTARGS_VARIABLE_MAX] = 'v';
        spec[at + BOOTARGS_VARIABLE_MAX + 1] = '\0';
        check_spec_rejected(spec, "longer than 64");
}

/* ---- the parameters ------------------------------------------------- */

static void test_format_size(void **state)
{
        (void) state;
        char b[BOOTARGS_SIZE_MAX];
        assert_string_equal(bootargs_format_size(64, b), "64K");
        assert_string_equal(bootargs_format_size(2048, b), "2M");
        assert_string_equal(bootargs_format_size(32768, b), "32M");
        assert_string_equal(bootargs_format_size(524288, b), "512M");
        assert_string_equal(bootargs_format_size(1048576, b), "1G");
        assert_string_equal(bootargs_format_size(16ULL * 1048576, b), "16G");
        assert_string_equal(bootargs_format_size(1536, b), "1536K");
        assert_string_equal(bootargs_format_size(3 * 1024 * 1024 / 2, b), "1536M");
}

static void test_params_order(void **state)
{
        (void) state;
        /* default_hugepagesz first, pairs ascending by size, THP last; the
         * 2Mi pool is set at run time, defrag is no boot parameter. */
        check_params("{\"transparent_hugepage\": {\"enabled\": \"madvise\", \"defrag\": \"never\"},"
                     " \"pools\": {\"1Gi\": {\"count\": 4}, \"2Mi\": {\"count\": 512}}, \"default_size\": "
                     "\"1Gi\"}",
                     4, "default_hugepagesz=1G hugepagesz=1G hugepages=4 transparent_hugepage=madvise");
        check_params("{\"default_size\": \"2Mi\", \"pools\": {\"2Mi\": {\"count\": 512}}}", 4,
                     "default_hugepagesz=2M");
        check_params("{\"pools\": {\"1Gi\": {\"count\": 1}}}", 4, "hugepagesz=1G hugepages=1");
        check_params("{\"transparent_hugepage\": {\"enabled\": \"never\"}}", 4, "transparent_hugepage=never");
        check_params("{\"transparent_hugepage\": {\"enabled\": \"always\", \"shmem_enabled\": \"advise\"}}",
                     4, "transparent_hugepage=always");
        /* Nothing managed at boot. */
        check_params("{}", 4, "");
        check_params(
                "{\"pools\": {\"2Mi\": {\"count\": 16}}, \"transparent_hugepage\": {\"defrag\": \"never\"}}",
                4, "");
        /* Sizes spelled in any quantity form come out as the kernel's. */
        check_params("{\"pools\": {\"1073741824\": {\"count\": 2}}, \"default_size\": \"1048576Ki\"}", 4,
                     "default_hugepagesz=1G hugepagesz=1G hugepages=2");
}

static void test_params_per_node(void **state)
{
        (void) state;
        check_params("{\"pools\": {\"1Gi\": {\"nodes\": {\"1\": 2, \"0\": 1}}}}", 4,
                     "hugepagesz=1G hugepages=0:1,1:2");
        check_params("{\"pools\": {\"1Gi\": {\"count\": 3, \"nodes\": {\"0\": 1, \"1\": 2}}}}", 4,
                     "hugepagesz=1G hugepages=0:1,1:2");
        /* Nodes without pages are left out; a pool without pages writes
         * nothing (the kernel's own default). */
        check_params("{\"pools\": {\"1Gi\": {\"nodes\": {\"0\": 0, \"1\": 2}}}}", 4,
                     "hugepagesz=1G hugepages=1:2");
        check_params("{\"pools\": {\"1Gi\": {\"nodes\": {\"0\": 0, \"1\": 0}}}}", 4, "");
        check_params("{\"pools\": {\"1Gi\": {\"count\": 0}}, \"default_size\": \"2Mi\"}", 4,
                     "default_hugepagesz=2M");
        check_params("{\"pools\": {\"1Gi\": {\"nodes\": {\"10\": 1, \"2\": 3}}}}", 4,
                     "hugepagesz=1G hugepages=2:3,10:1");
}

static void test_params_arm64(void **state)
{
        (void) state;
        /* 4K granule: 64K (CONT-PTE) and 2M (PMD) are buddy-allocatable,
         * 32M (CONT-PMD) and 1G (PUD) are gigantic. */
        check_params("{\"pools\": {\"1Gi\": {\"nodes\": {\"0\": 2}}, \"64Ki\": {\"count\": 8},"
                     " \"32Mi\": {\"count\": 16}, \"2Mi\": {\"count\": 4}}, \"default_size\": \"64Ki\"}",
                     4, "default_hugepagesz=64K hugepagesz=32M hugepages=16 hugepagesz=1G hugepages=0:2");
        /* 64K granule: the buddy allocator reaches 512M, 16G is gigantic. */
        check_params(
                "{\"pools\": {\"512Mi\": {\"count\": 2}, \"16Gi\": {\"count\": 1}, \"2Mi\": {\"count\": 1}}}",
                64, "hugepagesz=16G hugepages=1");
}

static void test_params_rejects(void **state)
{
        (void) state;
        struct config c;
        struct bootargs a = { (char **) 0x1, 7 };
        struct errbuf err = { "" };
        struct sizes s = machine(4, 2048);
        load_config("{\"transparent_hugepage\": {\"enabled\": \"defer\"}}", &c);
        assert_int_equal(bootargs_from_config(&c, &s, &a, &err), -EINVAL);
        assert_non_null(strstr(err.msg, "always, madvise or never"));
        assert_ptr_equal(a.tokens, (char **) 0x1);
        assert_int_equal(a.n, 7);
        config_release(&c);

        load_config("{\"default_size\": \"1536\"}", &c);
        assert_int_equal(bootargs_from_config(&c, &s, &a, &err), -EINVAL);
        assert_non_null(strstr(err.msg, "not a whole number of KiB"));
        config_release(&c);
}

/* ---- the block codec ------------------------------------------------ */

static void test_envblk_debian_form(void **state)
{
        (void) state;
        char buf[BOOTARGS_ENVBLK_SIZE], out[BOOTARGS_ENVBLK_SIZE];
        struct bootargs_envblk e;
        fixture_block("debian-editenv", buf);
        parse_ok(buf, sizeof(buf), &e);

        /* The WARNING line is a comment, kept as it is. */
        assert_int_equal(e.n, 7);
        assert_null(e.lines[0].name);
        assert_string_equal(e.lines[0].raw,
                            "# WARNING: Do not edit this file by tools other than grub-editenv!!!");
        check_value(&e, "saved_entry", "cos");
        check_value(&e, "third_party_kernel_args",
                    "multipath=off ifname=mgmt0:52:54:00:ab:cd:ef rd.note=\"two words\"");
        check_value(&e, "windows_path", "C:\\EFI\\Boot\\x");
        assert_string_equal(e.lines[3].raw, "windows_path=C:\\\\EFI\\\\Boot\\\\x");
        check_value(&e, "note", "first line\nsecond line");
        check_value(&e, "trailing", "ends with a backslash \\");
        check_value(&e, "next_entry", "");
        check_value(&e, "absent", NULL);

        /* Written back unchanged, byte for byte. */
        struct errbuf err;
        assert_int_equal(bootargs_envblk_format(&e, out, &err), 0);
        assert_memory_equal(out, buf, sizeof(buf));
        bootargs_envblk_release(&e);
}

static void test_envblk_old_form(void **state)
{
        (void) state;
        char buf[BOOTARGS_ENVBLK_SIZE], out[BOOTARGS_ENVBLK_SIZE];
        struct bootargs_envblk e;
        fixture_block("harvester", buf);
        parse_ok(buf, sizeof(buf), &e);
        assert_int_equal(e.n, 1);
        check_value(&e, "third_party_kernel_args", HARVESTER_VALUE);
        struct errbuf err;
        assert_int_equal(bootargs_envblk_format(&e, out, &err), 0);
        assert_memory_equal(out, buf, sizeof(buf));

        /* A new variable goes after the last line, the header stays. */
        assert_int_equal(bootargs_envblk_set(&e, "k", "v"), 0);
        assert_int_equal(bootargs_envblk_format(&e, out, &err), 0);
        const char want[] = "# GRUB Environment Block\nthird_party_kernel_args=" HARVESTER_VALUE "\nk=v\n#";
        assert_memory_equal(out, want, sizeof(want) - 1);
        assert_int_equal(out[BOOTARGS_ENVBLK_SIZE - 1], '#');
        bootargs_envblk_release(&e);

        /* An empty block. */
        memset(buf, '#', sizeof(buf));
        memcpy(buf, BOOTARGS_ENVBLK_SIGNATURE, strlen(BOOTARGS_ENVBLK_SIGNATURE));
        parse_ok(buf, sizeof(buf), &e);
        assert_int_equal(e.n, 0);
        bootargs_envblk_release(&e);
}

static void test_envblk_escaping(void **state)
{
        (void) state;
        char buf[BOOTARGS_ENVBLK_SIZE];
        struct bootargs_envblk e = { 0 };
        struct errbuf err;
        assert_int_equal(bootargs_envblk_set(&e, "a", "back\\slash"), 0);
        assert_int_equal(bootargs_envblk_set(&e, "b", "new\nline"), 0);
        assert_int_equal(bootargs_envblk_set(&e, "c", "\\\n\\"), 0);
        assert_int_equal(bootargs_envblk_set(&e, "d", "x=y \"q\" #"), 0);
        assert_int_equal(bootargs_envblk_set(&e, "e", ""), 0);
        assert_string_equal(e.lines[0].raw, "a=back\\\\slash");
        assert_string_equal(e.lines[1].raw, "b=new\\\nline");
        assert_string_equal(e.lines[2].raw, "c=\\\\\\\n\\\\");
        assert_string_equal(e.lines[3].raw, "d=x=y \"q\" #");
        assert_int_equal(bootargs_envblk_format(&e, buf, &err), 0);
        bootargs_envblk_release(&e);

        parse_ok(buf, sizeof(buf), &e);
        assert_int_equal(e.n, 5);
        check_value(&e, "a", "back\\slash");
        check_value(&e, "b", "new\nline");
        check_value(&e, "c", "\\\n\\");
        check_value(&e, "d", "x=y \"q\" #");
        check_value(&e, "e", "");

        /* Set rewrites in place, unset removes the line. */
        assert_int_equal(bootargs_envblk_set(&e, "b", "B"), 0);
        assert_string_equal(e.lines[1].name, "b");
        check_value(&e, "b", "B");
        assert_int_equal(bootargs_envblk_unset(&e, "a"), 0);
        assert_int_equal(bootargs_envblk_unset(&e, "nothing"), 0);
        assert_int_equal(e.n, 4);
        assert_string_equal(e.lines[0].name, "b");

        /* Names GRUB could not read back. */
        assert_int_equal(bootargs_envblk_set(&e, "", "v"), -EINVAL);
        assert_int_equal(bootargs_envblk_set(&e, "#c", "v"), -EINVAL);
        assert_int_equal(bootargs_envblk_set(&e, "a=b", "v"), -EINVAL);
        assert_int_equal(bootargs_envblk_set(&e, "a\nb", "v"), -EINVAL);
        assert_int_equal(bootargs_envblk_set(&e, "a\\b", "v"), -EINVAL);
        bootargs_envblk_release(&e);
}

static void check_block_rejected(const char *buf, size_t len, const char *needle)
{
        struct bootargs_envblk e = { (struct bootargs_envblk_line *) 0x1, 3 };
        struct errbuf err = { "" };
        int r = bootargs_envblk_parse(buf, len, "/oem/grubenv", &e, &err);
        if (r != -EBADMSG)
                fail_msg("parse returned %d, expected -EBADMSG (%s)", r, needle);
        if (e.lines != (struct bootargs_envblk_line *) 0x1 || e.n != 3)
                fail_msg("parse failed but wrote to ret (%s)", needle);
        if (!strstr(err.msg, needle) || !strstr(err.msg, "/oem/grubenv"))
                fail_msg("message \"%s\" lacks \"%s\" or the file name", err.msg, needle);
}

/* A block with body after the signature, padded. */
static void make_block(char buf[static BOOTARGS_ENVBLK_SIZE], const char *sig, const char *body)
{
        memset(buf, '#', BOOTARGS_ENVBLK_SIZE);
        memcpy(buf, sig, strlen(sig));
        memcpy(buf + strlen(sig), body, strlen(body));
}

static void test_envblk_rejects(void **state)
{
        (void) state;
        char buf[BOOTARGS_ENVBLK_SIZE + 8];
        fixture_block("bad-signature", buf);
        check_block_rejected(buf, BOOTARGS_ENVBLK_SIZE, "not a GRUB environment block");
        make_block(buf, "", "");
        check_block_rejected(buf, BOOTARGS_ENVBLK_SIZE, "not a GRUB environment block");

        make_block(buf, BOOTARGS_ENVBLK_SIGNATURE, "k=v\n");
        check_block_rejected(buf, 1000, "is 1000 bytes");
        check_block_rejected(buf, BOOTARGS_ENVBLK_SIZE + 1, "is 1025 bytes");
        check_block_rejected(buf, 0, "is 0 bytes");

        make_block(buf, BOOTARGS_ENVBLK_SIGNATURE, "k=v\nnovalue\n");
        check_block_rejected(buf, BOOTARGS_ENVBLK_SIZE, "line 3 (\"novalue\") is not name=value");
        make_block(buf, BOOTARGS_ENVBLK_SIGNATURE, "=v\n");
        check_block_rejected(buf, BOOTARGS_ENVBLK_SIZE, "is not name=value");
        make_block(buf, BOOTARGS_ENVBLK_SIGNATURE, "k=v\n\nj=w\n");
        check_block_rejected(buf, BOOTARGS_ENVBLK_SIZE, "line 3 is empty");
        make_block(buf, BOOTARGS_ENVBLK_SIGNATURE, "k=v");
        check_block_rejected(buf, BOOTARGS_ENVBLK_SIZE, "no newline before the '#' padding");
        make_block(buf, BOOTARGS_ENVBLK_SIGNATURE, "k=v\nj=w\\\n");
        check_block_rejected(buf, BOOTARGS_ENVBLK_SIZE, "escaped newline");
        make_block(buf, BOOTARGS_ENVBLK_SIGNATURE, "k=v\n");
        buf[100] = '\0';
        check_block_rejected(buf, BOOTARGS_ENVBLK_SIZE, "NUL byte at offset 100");
        /* Padding with something else in it. */
        make_block(buf, BOOTARGS_ENVBLK_SIGNATURE, "k=v\n");
        buf[500] = ' ';
        check_block_rejected(buf, BOOTARGS_ENVBLK_SIZE, "no newline before the '#' padding");
        make_block(buf, BOOTARGS_ENVBLK_SIGNATURE, "k=v\n");
        buf[BOOTARGS_ENVBLK_SIZE - 1] = 'x';
        check_block_rejected(buf, BOOTARGS_ENVBLK_SIZE, "no newline before the '#' padding");

        /* Comments anywhere are fine, "####\n" at the end too. */
        make_block(buf, BOOTARGS_ENVBLK_SIGNATURE, "# one\nk=v\n#two\n");
        struct bootargs_envblk e;
        parse_ok(buf, BOOTARGS_ENVBLK_SIZE, &e);
        assert_int_equal(e.n, 3);
        check_value(&e, "k", "v");
        bootargs_envblk_release(&e);
        make_block(buf, BOOTARGS_ENVBLK_SIGNATURE, "k=v\n");
        buf[BOOTARGS_ENVBLK_SIZE - 1] = '\n';
        parse_ok(buf, BOOTARGS_ENVBLK_SIZE, &e);
        assert_int_equal(e.n, 2);
        assert_null(e.lines[1].name);
        bootargs_envblk_release(&e);
}

static void test_envblk_overflow(void **state)
{
        (void) state;
        char buf[BOOTARGS_ENVBLK_SIZE], out[BOOTARGS_ENVBLK_SIZE];
        struct bootargs_envblk e;
        struct errbuf err = { "" };
        make_block(buf, BOOTARGS_ENVBLK_SIGNATURE, "");
        parse_ok(buf, sizeof(buf), &e);

        /* Exactly full: signature + "k=" + value + "\n" = 1024, no padding. */
        size_t vlen = BOOTARGS_ENVBLK_SIZE - strlen(BOOTARGS_ENVBLK_SIGNATURE) - 3;
        char *v = malloc(vlen + 2);
        memset(v, 'v', vlen + 1);
        v[vlen] = '\0';
        assert_int_equal(bootargs_envblk_set(&e, "k", v), 0);
        assert_int_equal(bootargs_envblk_format(&e, out, &err), 0);
        assert_int_equal(out[BOOTARGS_ENVBLK_SIZE - 1], '\n');
        struct bootargs_envblk back;
        parse_ok(out, sizeof(out), &back);
        check_value(&back, "k", v);
        bootargs_envblk_release(&back);

        /* One byte more does not fit, and the output is untouched. */
        v[vlen] = 'v';
        v[vlen + 1] = '\0';
        assert_int_equal(bootargs_envblk_set(&e, "k", v), 0);
        memset(out, 'Z', sizeof(out));
        assert_int_equal(bootargs_envblk_format(&e, out, &err), -ENOSPC);
        assert_non_null(strstr(err.msg, "1025 bytes, 1 more than the 1024"));
        for (size_t i = 0; i < sizeof(out); i++)
                assert_int_equal(out[i], 'Z');
        /* An escape costs a byte too. */
        v[vlen] = '\0';
        v[0] = '\\';
        assert_int_equal(bootargs_envblk_set(&e, "k", v), 0);
        assert_int_equal(bootargs_envblk_format(&e, out, &err), -ENOSPC);
        free(v);
        bootargs_envblk_release(&e);
}

static void test_envblk_duplicates(void **state)
{
        (void) state;
        char buf[BOOTARGS_ENVBLK_SIZE];
        struct bootargs_envblk e;
        make_block(buf, BOOTARGS_ENVBLK_SIGNATURE, "k=first\nj=x\nk=second\n");
        parse_ok(buf, sizeof(buf), &e);
        /* GRUB's load_env leaves the last one set. */
        check_value(&e, "k", "second");
        assert_int_equal(bootargs_envblk_count(&e, "k"), 2);
        assert_int_equal(bootargs_envblk_set(&e, "k", "third"), -ENOTUNIQ);
        check_value(&e, "k", "second");
        bootargs_envblk_release(&e);
}

/* ---- the merge ------------------------------------------------------ */

static int merge(const char *value, const char *owned, const char *want, char **ret, struct errbuf *err)
{
        struct bootargs a = tokens(want);
        int r = bootargs_merge(value, owned, &a, "third_party_kernel_args in /oem/grubenv", ret, err);
        bootargs_release(&a);
        return r;
}

static void check_merge(const char *value, const char *owned, const char *want, const char *expect)
{
        char *got = NULL;
        struct errbuf err = { "" };
        int r = merge(value, owned, want, &got, &err);
        if (r < 0)
                fail_msg("merge(\"%s\", \"%s\", \"%s\") = %d: %s", value ? value : "(null)",
                         owned ? owned : "(null)", want, r, err.msg);
        if (strcmp(got, expect) != 0)
                fail_msg("merge(\"%s\", \"%s\", \"%s\"):\n got \"%s\"\nwant \"%s\"", value ? value : "(null)",
                         owned ? owned : "(null)", want, got, expect);
        free(got);
}

static void check_merge_fails(const char *value, const char *owned, const char *want, int expect_r,
                              const char *needle)
{
        char *got = (char *) 0x1;
        struct errbuf err = { "" };
        int r = merge(value, owned, want, &got, &err);
        if (r != expect_r)
                fail_msg("merge(\"%s\", \"%s\", \"%s\") = %d, expected %d", value, owned ? owned : "(null)",
                         want, r, expect_r);
        assert_ptr_equal(got, (char *) 0x1);
        if (!strstr(err.msg, needle))
                fail_msg("message \"%s\" lacks \"%s\"", err.msg, needle);
}

static void test_merge_fresh(void **state)
{
        (void) state;
        check_merge(NULL, NULL, "hugepagesz=1G hugepages=4", "hugepagesz=1G hugepages=4");
        check_merge("", "", "hugepagesz=1G hugepages=4", "hugepagesz=1G hugepages=4");
        check_merge(HARVESTER_VALUE, NULL, "default_hugepagesz=1G hugepagesz=1G hugepages=4",
                    HARVESTER_VALUE " default_hugepagesz=1G hugepagesz=1G hugepages=4");
        check_merge(HARVESTER_VALUE, NULL, "", HARVESTER_VALUE);
        check_merge(NULL, NULL, "", "");
        /* Arguments after "--" go to init: ours go before it. */
        check_merge("multipath=off -- single", NULL, "transparent_hugepage=never",
                    "multipath=off transparent_hugepage=never -- single");
        check_merge("-- hugepages=7", NULL, "hugepagesz=1G hugepages=1",
                    "hugepagesz=1G hugepages=1 -- hugepages=7");
}

static void test_merge_foreign_bytes(void **state)
{
        (void) state;
        /* Odd blanks, tabs, quoted values with blanks and '=' inside, a
         * foreign token that merely looks like ours. */
        const char *v0 =
                "  multipath=off   rd.note=\"two  words\"\tifname=a:b \"x=hugepages=1 y\" nohugepages ";
        check_merge(v0, NULL, "hugepagesz=1G hugepages=4",
                    "  multipath=off   rd.note=\"two  words\"\tifname=a:b \"x=hugepages=1 y\" nohugepages "
                    "hugepagesz=1G hugepages=4 ");
        /* Replaced, not duplicated; the rest stays byte for byte. */
        check_merge("  multipath=off   rd.note=\"two  words\"\tifname=a:b \"x=hugepages=1 y\" nohugepages "
                    "hugepagesz=1G hugepages=4 ",
                    "hugepagesz=1G hugepages=4", "hugepagesz=1G hugepages=8 transparent_hugepage=never",
                    "  multipath=off   rd.note=\"two  words\"\tifname=a:b \"x=hugepages=1 y\" nohugepages "
                    "hugepagesz=1G hugepages=8 transparent_hugepage=never ");
        /* And taken out again: exactly the original. */
        check_merge("  multipath=off   rd.note=\"two  words\"\tifname=a:b \"x=hugepages=1 y\" nohugepages "
                    "hugepagesz=1G hugepages=8 transparent_hugepage=never ",
                    "hugepagesz=1G hugepages=8 transparent_hugepage=never", "", v0);
}

static void test_merge_in_place(void **state)
{
        (void) state;
        /* Where the run was. */
        check_merge("a hugepagesz=1G hugepages=2 b", "hugepagesz=1G hugepages=2",
                    "default_hugepagesz=1G hugepagesz=1G hugepages=4",
                    "a default_hugepagesz=1G hugepagesz=1G hugepages=4 b");
        check_merge("hugepagesz=1G hugepages=2 a  b", "hugepagesz=1G hugepages=2",
                    "transparent_hugepage=never", "transparent_hugepage=never a  b");
        check_merge("hugepagesz=1G hugepages=2 a  b", "hugepagesz=1G hugepages=2", "", "a  b");
        check_merge("a  b\thugepagesz=1G hugepages=2", "hugepagesz=1G hugepages=2", "", "a  b");
        /* Unchanged parameters give the same value. */
        check_merge("x hugepagesz=1G hugepages=2 y", "hugepagesz=1G hugepages=2", "hugepagesz=1G hugepages=2",
                    "x hugepagesz=1G hugepages=2 y");
        /* Moved apart by someone: each taken out, ours where the first was. */
        check_merge("hugepages=2 a hugepagesz=1G b", "hugepagesz=1G hugepages=2", "hugepagesz=1G hugepages=3",
                    "hugepagesz=1G hugepages=3 a b");
        /* Recorded tokens the operator already removed. */
        check_merge("a b", "hugepagesz=1G hugepages=2", "hugepagesz=1G hugepages=3",
                    "a b hugepagesz=1G hugepages=3");
        /* Our run found among foreign look-alikes after "--". */
        check_merge("a -- hugepagesz=1G hugepages=2", "hugepagesz=1G hugepages=2",
                    "transparent_hugepage=never",
                    "a transparent_hugepage=never -- hugepagesz=1G hugepages=2");
}

static void test_merge_conflicts(void **state)
{
        (void) state;
        const char *pool = "hugepagesz=1G hugepages=4";
        check_merge_fails("multipath=off hugepagesz=1G hugepages=2", NULL, pool, -EEXIST,
                          "holds \"hugepagesz=1G\", which hugepaged did not write");
        check_merge_fails("multipath=off hugepagesz=1G hugepages=2", NULL, pool, -EEXIST,
                          "third_party_kernel_args in /oem/grubenv");
        /* Even an equal token, even another size, even a bare count. */
        check_merge_fails("hugepagesz=1G hugepages=4", NULL, pool, -EEXIST, "\"hugepagesz=1G\"");
        check_merge_fails("hugepagesz=2M hugepages=512", NULL, pool, -EEXIST, "\"hugepagesz=2M\"");
        check_merge_fails("hugepages=512", NULL, pool, -EEXIST, "\"hugepages=512\"");
        check_merge_fails("default_hugepagesz=2M", NULL, pool, -EEXIST,
                          "default_size and the gigantic pools");
        /* As the kernel reads names: dashes, quotes. */
        check_merge_fails("a default-hugepagesz=2M", NULL, "default_hugepagesz=1G", -EEXIST,
                          "\"default-hugepagesz=2M\"");
        check_merge_fails("\"hugepages=3\"", NULL, pool, -EEXIST, "\"\"hugepages=3\"\"");
        check_merge_fails("transparent_hugepage=never", NULL, "transparent_hugepage=madvise", -EEXIST,
                          "leave transparent_hugepage.enabled out");
        check_merge_fails("transparent-hugepage=never", NULL, "transparent_hugepage=never", -EEXIST,
                          "\"transparent-hugepage=never\"");
        /* Our token edited by the operator is theirs now. */
        check_merge_fails("hugepagesz=1G hugepages=4", "hugepagesz=1G hugepages=2",
                          "hugepagesz=1G hugepages=2", -EEXIST, "\"hugepages=4\"");

        /* No conflict when we write nothing of that kind. */
        check_merge("hugepagesz=1G hugepages=2", NULL, "transparent_hugepage=never",
                    "hugepagesz=1G hugepages=2 transparent_hugepage=never");
        check_merge("transparent_hugepage=always", NULL, pool,
                    "transparent_hugepage=always hugepagesz=1G hugepages=4");
        check_merge("hugepagesz=1G hugepages=2", NULL, "", "hugepagesz=1G hugepages=2");
        /* Names that only resemble ours, and words without '='. */
        check_merge("hugetlb_cma=4G hugepages hugepagesz hugetlb_free_vmemmap=on", NULL, pool,
                    "hugetlb_cma=4G hugepages hugepagesz hugetlb_free_vmemmap=on hugepagesz=1G hugepages=4");
        /* After "--" they are init's. */
        check_merge("-- hugepagesz=1G", NULL, pool, "hugepagesz=1G hugepages=4 -- hugepagesz=1G");

        /* A record with something we never write. */
        check_merge_fails(HARVESTER_VALUE, "multipath=off", pool, -EBADMSG, "never writes");
        check_merge_fails(HARVESTER_VALUE, "hugepages", pool, -EBADMSG, "\"hugepages\"");
}

/* ---- the file ------------------------------------------------------- */

static void test_write_twice(void **state)
{
        (void) state;
        struct ctx c;
        char orig[BOOTARGS_ENVBLK_SIZE], now[BOOTARGS_ENVBLK_SIZE];
        size_t len;
        ctx_open(&c, "harvester");
        read_bytes(c.path, orig, sizeof(orig), &len);

        write_ok(&c, "default_hugepagesz=1G hugepagesz=1G hugepages=4", true);
        check_file_value(&c, HARVESTER_VALUE " default_hugepagesz=1G hugepagesz=1G hugepages=4",
                         "default_hugepagesz=1G hugepagesz=1G hugepages=4");

        /* The second write replaces what the first wrote. */
        write_ok(&c, "hugepagesz=1G hugepages=0:2,1:2 transparent_hugepage=madvise", true);
        check_file_value(&c, HARVESTER_VALUE " hugepagesz=1G hugepages=0:2,1:2 transparent_hugepage=madvise",
                         "hugepagesz=1G hugepages=0:2,1:2 transparent_hugepage=madvise");

        /* The same again: nothing to do, the file is not even rewritten. */
        struct stat before, after;
        assert_int_equal(stat(c.path, &before), 0);
        write_ok(&c, "hugepagesz=1G hugepages=0:2,1:2 transparent_hugepage=madvise", false);
        assert_int_equal(stat(c.path, &after), 0);
        assert_int_equal(before.st_ino, after.st_ino);

        /* Nothing left to own: the file is exactly the original again. */
        write_ok(&c, "", true);
        check_file_value(&c, HARVESTER_VALUE, "");
        read_bytes(c.path, now, sizeof(now), &len);
        assert_int_equal(len, BOOTARGS_ENVBLK_SIZE);
        assert_memory_equal(now, orig, sizeof(orig));
        ctx_close(&c);
}

static void test_write_keeps_other_lines(void **state)
{
        (void) state;
        struct ctx c;
        char orig[BOOTARGS_ENVBLK_SIZE], now[BOOTARGS_ENVBLK_SIZE];
        size_t len;
        ctx_open(&c, "debian-editenv");
        read_bytes(c.path, orig, sizeof(orig), &len);
        write_ok(&c, "hugepagesz=1G hugepages=4", true);

        read_bytes(c.path, now, sizeof(now), &len);
        struct bootargs_envblk a, b;
        parse_ok(orig, sizeof(orig), &a);
        parse_ok(now, len, &b);
        /* Every line but ours byte for byte and in place, the record new
         * at the end. */
        assert_int_equal(b.n, a.n + 1);
        for (size_t i = 0; i < a.n; i++) {
                if (a.lines[i].name && strcmp(a.lines[i].name, "third_party_kernel_args") == 0)
                        assert_string_equal(
                                b.lines[i].raw,
                                "third_party_kernel_args=multipath=off ifname=mgmt0:52:54:00:ab:cd:ef "
                                "rd.note=\"two words\" hugepagesz=1G hugepages=4");
                else
                        assert_string_equal(b.lines[i].raw, a.lines[i].raw);
        }
        assert_string_equal(b.lines[a.n].raw, "third_party_kernel_args_hugepaged=hugepagesz=1G hugepages=4");
        bootargs_envblk_release(&a);
        bootargs_envblk_release(&b);
        ctx_close(&c);
}

static void check_unchanged(const char *path, const char *orig, const struct stat *st_orig)
{
        char now[BOOTARGS_ENVBLK_SIZE + 8];
        size_t len;
        struct stat st;
        read_bytes(path, now, sizeof(now), &len);
        assert_int_equal(len, (size_t) st_orig->st_size);
        assert_memory_equal(now, orig, len);
        assert_int_equal(stat(path, &st), 0);
        assert_int_equal(st.st_ino, st_orig->st_ino);
        assert_int_equal(st.st_mtim.tv_sec, st_orig->st_mtim.tv_sec);
        assert_int_equal(st.st_mtim.tv_nsec, st_orig->st_mtim.tv_nsec);
}

/* Expects write_want to fail with expect_r and leave the file (and its
 * directory) exactly as it was. */
static void check_write_fails(struct ctx *c, const char *want, int expect_r, const char *needle)
{
        char orig[BOOTARGS_ENVBLK_SIZE + 8];
        size_t len;
        struct stat st;
        read_bytes(c->path, orig, sizeof(orig), &len);
        assert_int_equal(stat(c->path, &st), 0);
        struct errbuf err = { "" };
        bool changed = true;
        int r = write_want(c, want, &changed, &err);
        if (r != expect_r)
                fail_msg("bootargs_write(\"%s\") on %s = %d, expected %d: %s", want, c->path, r, expect_r,
                         err.msg);
        if (!strstr(err.msg, needle))
                fail_msg("message \"%s\" lacks \"%s\"", err.msg, needle);
        assert_true(changed); /* untouched */
        check_unchanged(c->path, orig, &st);
        /* No temporary file left behind. */
        char cmd[8300], out[64];
        snprintf(cmd, sizeof(cmd), "ls -A '%s' | grep -c hugepaged-", c->dir);
        FILE *p = popen(cmd, "r");
        assert_non_null(p);
        assert_non_null(fgets(out, sizeof(out), p));
        pclose(p);
        assert_string_equal(out, "0\n");
}

static void test_write_overflow(void **state)
{
        (void) state;
        struct ctx c;
        ctx_open(&c, "nearly-full");
        /* 88 bytes free. A token of 28 bytes needs 1 + 28 in the value and
         * 33 + 1 + 28 + 1 for the record line: 92, too many. */
        check_write_fails(&c, "transparent_hugepage=madvise", -ENOSPC, "does not fit the 1024-byte");
        check_write_fails(&c, "hugepagesz=1G hugepages=0:2,1:2", -ENOSPC, "the file is unchanged");
        /* 26 bytes need exactly 88: the block is full to the last byte. */
        write_ok(&c, "transparent_hugepage=never", true);
        check_file_value(&c, "multipath=off transparent_hugepage=never", "transparent_hugepage=never");
        char buf[BOOTARGS_ENVBLK_SIZE];
        size_t len;
        read_bytes(c.path, buf, sizeof(buf), &len);
        assert_int_equal(buf[BOOTARGS_ENVBLK_SIZE - 1], '\n');
        assert_null(memchr(buf + BOOTARGS_ENVBLK_SIZE - 90, '#', 90));
        char list[4096];
        editenv_list(c.path, list, sizeof(list));
        assert_non_null(strstr(list, "third_party_kernel_args=multipath=off transparent_hugepage=never\n"));
        assert_non_null(strstr(list, "third_party_kernel_args_hugepaged=transparent_hugepage=never\n"));
        ctx_close(&c);
}

static void test_write_refuses_bad_files(void **state)
{
        (void) state;
        struct ctx c;
        ctx_open(&c, "bad-signature");
        check_write_fails(&c, "hugepagesz=1G hugepages=1", -EBADMSG, "is not a GRUB environment block");
        ctx_close(&c);

        ctx_open(&c, "short");
        check_write_fails(&c, "hugepagesz=1G hugepages=1", -EBADMSG, "is 1000 bytes");
        ctx_close(&c);

        ctx_open(&c, "missing");
        struct errbuf err = { "" };
        bool changed = true;
        assert_int_equal(write_want(&c, "hugepagesz=1G hugepages=1", &changed, &err), -ENOENT);
        assert_non_null(strstr(err.msg, c.path));
        assert_true(changed);
        char *v = (char *) 0x1, *o = (char *) 0x1;
        assert_int_equal(bootargs_read(&c.spec, &v, &o, &err), -ENOENT);
        assert_ptr_equal(v, (char *) 0x1);
        ctx_close(&c);

        /* The variable twice: which one would we change? */
        ctx_open(&c, "dup");
        char buf[BOOTARGS_ENVBLK_SIZE];
        make_block(buf, BOOTARGS_ENVBLK_SIGNATURE, "third_party_kernel_args=a\nthird_party_kernel_args=b\n");
        write_bytes(c.path, buf, sizeof(buf));
        check_write_fails(&c, "hugepagesz=1G hugepages=1", -EBADMSG, "sets third_party_kernel_args 2 times");
        make_block(buf, BOOTARGS_ENVBLK_SIGNATURE,
                   "third_party_kernel_args_hugepaged=\nthird_party_kernel_args_hugepaged=\n");
        write_bytes(c.path, buf, sizeof(buf));
        check_write_fails(&c, "", -EBADMSG, "sets third_party_kernel_args_hugepaged 2 times");

        /* A directory is not a block. */
        snprintf(c.path + strlen(c.path), 16, ".d");
        assert_int_equal(mkdir(c.path, 0755), 0);
        bootargs_spec_release(&c.spec);
        char spec[4200];
        snprintf(spec, sizeof(spec), "grubenv:%s:third_party_kernel_args", c.path);
        assert_int_equal(bootargs_spec_parse(spec, &c.spec, &err), 0);
        assert_int_equal(write_want(&c, "", &changed, &err), -EBADMSG);
        assert_non_null(strstr(err.msg, "not a regular file"));
        ctx_close(&c);
}

static void test_write_conflict(void **state)
{
        (void) state;
        struct ctx c;
        ctx_open(&c, "operator-hugepages");
        check_write_fails(&c, "hugepagesz=1G hugepages=4", -EEXIST,
                          "holds \"hugepagesz=1G\", which hugepaged did not write");
        check_write_fails(&c, "default_hugepagesz=1G", -EEXIST, "in ");
        /* THP alone does not touch the operator's pages. */
        write_ok(&c, "transparent_hugepage=never", true);
        check_file_value(&c, "multipath=off hugepagesz=1G hugepages=2 transparent_hugepage=never",
                         "transparent_hugepage=never");
        ctx_close(&c);
}

static void test_write_keeps_mode_and_symlink(void **state)
{
        (void) state;
        struct ctx c;
        ctx_open(&c, "harvester");
        assert_int_equal(chmod(c.path, 0600), 0);
        write_ok(&c, "hugepagesz=1G hugepages=1", true);
        struct stat st;
        assert_int_equal(stat(c.path, &st), 0);
        assert_int_equal(st.st_mode & 07777, 0600);
        assert_int_equal(chmod(c.path, 0640), 0);
        write_ok(&c, "hugepagesz=1G hugepages=2", true);
        assert_int_equal(stat(c.path, &st), 0);
        assert_int_equal(st.st_mode & 07777, 0640);

        /* Through a symbolic link the target is replaced, the link stays. */
        char link[4200];
        snprintf(link, sizeof(link), "%s/link", c.dir);
        assert_int_equal(symlink(c.path, link), 0);
        bootargs_spec_release(&c.spec);
        char spec[4300];
        snprintf(spec, sizeof(spec), "grubenv:%s:third_party_kernel_args", link);
        struct errbuf err;
        assert_int_equal(bootargs_spec_parse(spec, &c.spec, &err), 0);
        write_ok(&c, "hugepagesz=1G hugepages=3", true);
        assert_int_equal(lstat(link, &st), 0);
        assert_true(S_ISLNK(st.st_mode));
        check_file_value(&c, HARVESTER_VALUE " hugepagesz=1G hugepages=3", "hugepagesz=1G hugepages=3");
        ctx_close(&c);
}

static void test_write_new_variable(void **state)
{
        (void) state;
        struct ctx c;
        ctx_open(&c, "fresh");
        EDITENV(c.path, "create");
        EDITENV(c.path, "set", "saved_entry=recovery");

        /* Nothing to write into a block without the variable: untouched. */
        write_ok(&c, "", false);
        write_ok(&c, "hugepagesz=1G hugepages=2", true);
        char list[4096];
        editenv_list(c.path, list, sizeof(list));
        assert_string_equal(list, "saved_entry=recovery\n"
                                  "third_party_kernel_args=hugepagesz=1G hugepages=2\n"
                                  "third_party_kernel_args_hugepaged=hugepagesz=1G hugepages=2\n");
        /* Emptied, the variable stays (empty), the record goes. */
        write_ok(&c, "", true);
        editenv_list(c.path, list, sizeof(list));
        assert_string_equal(list, "saved_entry=recovery\nthird_party_kernel_args=\n");
        ctx_close(&c);
}

/* ---- grub-editenv cross-checks -------------------------------------- */

static void test_editenv_writes_we_read(void **state)
{
        (void) state;
        struct ctx c;
        ctx_open(&c, "fresh");
        EDITENV(c.path, "create");
        EDITENV(c.path, "set", "third_party_kernel_args=multipath=off ifname=mgmt0:52:54:00:ab:cd:ef",
                "backslashes=\\\\server\\share\\", "newlines=one\ntwo\n\nfour", "equals=a=b=c",
                "empty=", "mixed=\\\n\\n",
                "utf8=n\xc3\xb6"
                "de");
        EDITENV(c.path, "set", "backslashes=C:\\x\\y");
        EDITENV(c.path, "unset", "empty");

        char buf[BOOTARGS_ENVBLK_SIZE + 8], out[BOOTARGS_ENVBLK_SIZE];
        size_t len;
        read_bytes(c.path, buf, sizeof(buf), &len);
        assert_int_equal(len, BOOTARGS_ENVBLK_SIZE);
        struct bootargs_envblk e;
        parse_ok(buf, len, &e);
        check_value(&e, "third_party_kernel_args", "multipath=off ifname=mgmt0:52:54:00:ab:cd:ef");
        check_value(&e, "backslashes", "C:\\x\\y");
        check_value(&e, "newlines", "one\ntwo\n\nfour");
        check_value(&e, "equals", "a=b=c");
        check_value(&e, "empty", NULL);
        check_value(&e, "mixed", "\\\n\\n");
        check_value(&e, "utf8",
                    "n\xc3\xb6"
                    "de");
        assert_int_equal(bootargs_envblk_count(&e, "backslashes"), 1);

        /* We write what grub-editenv writes, byte for byte: the same edits
         * on a block it created give the same file. */
        struct errbuf err;
        assert_int_equal(bootargs_envblk_format(&e, out, &err), 0);
        assert_memory_equal(out, buf, BOOTARGS_ENVBLK_SIZE);
        bootargs_envblk_release(&e);

        char other[4200];
        snprintf(other, sizeof(other), "%s/other", c.dir);
        EDITENV(other, "create");
        read_bytes(other, buf, sizeof(buf), &len);
        parse_ok(buf, len, &e);
        assert_int_equal(bootargs_envblk_set(&e, "k", "a\\b\nc"), 0);
        assert_int_equal(bootargs_envblk_set(&e, "j", "x"), 0);
        assert_int_equal(bootargs_envblk_set(&e, "k", "longer \\ value\n"), 0);
        assert_int_equal(bootargs_envblk_format(&e, out, &err), 0);
        bootargs_envblk_release(&e);
        EDITENV(other, "set", "k=a\\b\nc", "j=x");
        EDITENV(other, "set", "k=longer \\ value\n");
        read_bytes(other, buf, sizeof(buf), &len);
        assert_memory_equal(out, buf, BOOTARGS_ENVBLK_SIZE);

        /* The fixture it wrote, too. */
        fixture_block("debian-editenv", buf);
        parse_ok(buf, BOOTARGS_ENVBLK_SIZE, &e);
        check_value(&e, "note", "first line\nsecond line");
        bootargs_envblk_release(&e);
        ctx_close(&c);
}

static void test_editenv_reads_what_we_write(void **state)
{
        (void) state;
        struct ctx c;
        char list[4096];
        ctx_open(&c, "debian-editenv");
        write_ok(&c, "default_hugepagesz=1G hugepagesz=1G hugepages=0:2,1:2 transparent_hugepage=madvise",
                 true);
        editenv_list(c.path, list, sizeof(list));
        assert_string_equal(list,
                            "saved_entry=cos\n"
                            "third_party_kernel_args=multipath=off ifname=mgmt0:52:54:00:ab:cd:ef "
                            "rd.note=\"two words\" default_hugepagesz=1G hugepagesz=1G hugepages=0:2,1:2 "
                            "transparent_hugepage=madvise\n"
                            "windows_path=C:\\EFI\\Boot\\x\n"
                            "note=first line\nsecond line\n"
                            "trailing=ends with a backslash \\\n"
                            "next_entry=\n"
                            "third_party_kernel_args_hugepaged=default_hugepagesz=1G hugepagesz=1G "
                            "hugepages=0:2,1:2 transparent_hugepage=madvise\n");

        /* Our blocks with escapes list back exactly, and grub-editenv can
         * go on editing them. */
        char buf[BOOTARGS_ENVBLK_SIZE];
        size_t len;
        struct bootargs_envblk e;
        struct errbuf err;
        read_bytes(c.path, buf, sizeof(buf), &len);
        parse_ok(buf, len, &e);
        assert_int_equal(bootargs_envblk_set(&e, "esc", "a\\b\nc\\"), 0);
        assert_int_equal(bootargs_envblk_unset(&e, "note"), 0);
        assert_int_equal(bootargs_envblk_format(&e, buf, &err), 0);
        bootargs_envblk_release(&e);
        write_bytes(c.path, buf, sizeof(buf));
        EDITENV(c.path, "set", "saved_entry=fallback");
        editenv_list(c.path, list, sizeof(list));
        assert_non_null(strstr(list, "saved_entry=fallback\n"));
        assert_non_null(strstr(list, "\nesc=a\\b\nc\\\n"));
        assert_null(strstr(list, "\nnote="));
        /* And our write still finds its own tokens after grub-editenv. */
        write_ok(&c, "hugepagesz=1G hugepages=1", true);
        check_file_value(&c,
                         "multipath=off ifname=mgmt0:52:54:00:ab:cd:ef rd.note=\"two words\" "
                         "hugepagesz=1G hugepages=1",
                         "hugepagesz=1G hugepages=1");

        /* The overflow grub-editenv refuses, we refuse too. */
        char big[1100];
        memset(big, 'x', sizeof(big) - 1);
        big[sizeof(big) - 1] = '\0';
        char errout[1024], out[1024];
        char arg[1200];
        snprintf(arg, sizeof(arg), "big=%s", big);
        assert_int_equal(editenv(c.path, out, sizeof(out), errout, sizeof(errout),
                                 (const char *const[]){ "set", arg, NULL }),
                         1);
        assert_non_null(strstr(errout, "environment block too small"));
        ctx_close(&c);

        /* grub-editenv refuses the bad fixture as we do. */
        char errout2[1024], out2[1024], path[4200];
        snprintf(path, sizeof(path), "%s/grubenv/bad-signature", FIXTURES);
        assert_int_equal(editenv(path, out2, sizeof(out2), errout2, sizeof(errout2),
                                 (const char *const[]){ "list", NULL }),
                         1);
        assert_non_null(strstr(errout2, "invalid environment block"));
}

/* ---- the running command line --------------------------------------- */

static const char *const cfg_full =
        "{\"pools\": {\"2Mi\": {\"count\": 512}, \"1Gi\": {\"count\": 4}},"
        " \"default_size\": \"1Gi\", \"transparent_hugepage\": {\"enabled\": \"madvise\"}}";

static void compare(const char *cmdline, const char *json, uint64_t running_default_kb,
                    struct bootargs_diff *ret)
{
        struct config c;
        struct sizes s = machine(4, running_default_kb);
        struct errbuf err = { "" };
        load_config(json, &c);
        int r = bootargs_compare_cmdline(cmdline, &c, &s, ret, &err);
        if (r < 0)
                fail_msg("bootargs_compare_cmdline(\"%s\") = %d: %s", cmdline, r, err.msg);
        config_release(&c);
}

static void check_same(const char *cmdline, const char *json, uint64_t running_default_kb)
{
        struct bootargs_diff d;
        compare(cmdline, json, running_default_kb, &d);
        if (d.n)
                fail_msg("\"%s\" against %s: %zu differences, the first %s: want \"%s\", running \"%s\"",
                         cmdline, json, d.n, d.items[0].pointer, d.items[0].want, d.items[0].running);
        bootargs_diff_release(&d);
}

/* Expects exactly one difference. */
static void check_differs(const char *cmdline, const char *json, uint64_t running_default_kb,
                          enum bootargs_item what, const char *pointer, const char *want, const char *running)
{
        struct bootargs_diff d;
        compare(cmdline, json, running_default_kb, &d);
        if (d.n != 1)
                fail_msg("\"%s\" against %s: %zu differences, expected 1", cmdline, json, d.n);
        const struct bootargs_diff_item *it = &d.items[0];
        if ((int) it->what != (int) what || strcmp(it->pointer, pointer) || strcmp(it->want, want) ||
            strcmp(it->running, running))
                fail_msg("\"%s\": got (%d, %s, \"%s\", \"%s\"), expected (%d, %s, \"%s\", \"%s\")", cmdline,
                         (int) it->what, it->pointer, it->want, it->running, (int) what, pointer, want,
                         running);
        bootargs_diff_release(&d);
}

static void test_compare_same(void **state)
{
        (void) state;
        check_same("BOOT_IMAGE=(loop0)/boot/vmlinuz console=tty1 root=LABEL=COS_STATE default_hugepagesz=1G "
                   "hugepagesz=1G hugepages=4 transparent_hugepage=madvise multipath=off\n",
                   cfg_full, 1048576);
        /* Spelled otherwise, read as the kernel reads it. */
        check_same("default-hugepagesz=1G hugepagesz=1024M \"hugepages=4\" transparent_hugepage=\"madvise\"",
                   cfg_full, 1048576);
        check_same(
                "hugepagesz=0x40000000 hugepages=4 transparent_hugepage=never transparent_hugepage=madvise",
                cfg_full, 1048576);
        /* default_hugepagesz= followed by its count. */
        check_same("default_hugepagesz=1G hugepages=4 transparent_hugepage=madvise", cfg_full, 1048576);
        /* The default size is what meminfo says, token or not. */
        check_same("hugepagesz=1G hugepages=4 transparent_hugepage=madvise", cfg_full, 1048576);
        /* Non-gigantic pools are not boot parameters; a config that needs
         * nothing at boot never differs. */
        check_same("hugepages=16", "{\"pools\": {\"2Mi\": {\"count\": 512}}}", 2048);
        check_same("", "{}", 2048);
        /* Per node. */
        check_same("hugepagesz=1G hugepages=1:2,0:2",
                   "{\"pools\": {\"1Gi\": {\"nodes\": {\"0\": 2, \"1\": 2}}}}", 2048);
        check_same("hugepagesz=1G hugepages=0:0,1:2", "{\"pools\": {\"1Gi\": {\"nodes\": {\"1\": 2}}}}",
                   2048);
        /* A pool of none: nothing on the command line is the same. */
        check_same("quiet", "{\"pools\": {\"1Gi\": {\"count\": 0}}}", 2048);
        check_same("hugepagesz=1G hugepages=0", "{\"pools\": {\"1Gi\": {\"count\": 0}}}", 2048);
}

static void test_compare_differs(void **state)
{
        (void) state;
        struct bootargs_diff d;
        compare("BOOT_IMAGE=/vmlinuz root=/dev/sda1 multipath=off\n", cfg_full, 2048, &d);
        assert_int_equal(d.n, 3);
        assert_int_equal(d.items[0].what, BOOTARGS_DEFAULT_SIZE);
        assert_string_equal(d.items[0].pointer, "/default_size");
        assert_string_equal(d.items[0].want, "default_hugepagesz=1G");
        assert_string_equal(d.items[0].running, "default_hugepagesz=2M");
        assert_int_equal(d.items[1].what, BOOTARGS_POOL);
        assert_int_equal(d.items[1].size_kb, 1048576);
        assert_string_equal(d.items[1].pointer, "/pools/1Gi");
        assert_string_equal(d.items[1].want, "hugepagesz=1G hugepages=4");
        assert_string_equal(d.items[1].running, "");
        assert_int_equal(d.items[2].what, BOOTARGS_THP);
        assert_string_equal(d.items[2].pointer, "/transparent_hugepage/enabled");
        assert_string_equal(d.items[2].want, "transparent_hugepage=madvise");
        assert_string_equal(d.items[2].running, "");
        bootargs_diff_release(&d);
        bootargs_diff_release(&d);
        bootargs_diff_release(NULL);

        const char *pool4 = "{\"pools\": {\"1Gi\": {\"count\": 4}}}";
        check_differs("hugepagesz=1G hugepages=2", pool4, 2048, BOOTARGS_POOL, "/pools/1Gi",
                      "hugepagesz=1G hugepages=4", "hugepagesz=1G hugepages=2");
        /* The running pool was given per node, the config wants a count. */
        check_differs("hugepagesz=1G hugepages=0:2,1:2", pool4, 2048, BOOTARGS_POOL, "/pools/1Gi",
                      "hugepagesz=1G hugepages=4", "hugepagesz=1G hugepages=0:2,1:2");
        check_differs("hugepagesz=1G hugepages=4",
                      "{\"pools\": {\"1Gi\": {\"nodes\": {\"0\": 2, \"1\": 2}}}}", 2048, BOOTARGS_POOL,
                      "/pools/1Gi", "hugepagesz=1G hugepages=0:2,1:2", "hugepagesz=1G hugepages=4");
        /* The config wants none, the kernel booted with some. */
        check_differs("hugepagesz=1G hugepages=4", "{\"pools\": {\"1Gi\": {\"count\": 0}}}", 2048,
                      BOOTARGS_POOL, "/pools/1Gi", "", "hugepagesz=1G hugepages=4");
        /* The kernel's order rules: a leading count is the default size's... */
        check_differs("hugepages=4 hugepagesz=1G", pool4, 2048, BOOTARGS_POOL, "/pools/1Gi",
                      "hugepagesz=1G hugepages=4", "");
        /* ...unless the default size is 1G. */
        check_same("hugepages=4 default_hugepagesz=1G", pool4, 1048576);
        /* A leading count wins over a later pair for the default size. */
        check_differs("hugepages=2 hugepagesz=1G hugepages=4", pool4, 1048576, BOOTARGS_POOL, "/pools/1Gi",
                      "hugepagesz=1G hugepages=4", "hugepagesz=1G hugepages=2");
        /* A second hugepagesz= is ignored with its count. */
        check_differs("hugepagesz=1G hugepages=2 hugepagesz=1G hugepages=4", pool4, 2048, BOOTARGS_POOL,
                      "/pools/1Gi", "hugepagesz=1G hugepages=4", "hugepagesz=1G hugepages=2");
        /* A count twice without hugepagesz= between: the second is ignored. */
        check_differs("hugepagesz=1G hugepages=2 hugepages=4", pool4, 2048, BOOTARGS_POOL, "/pools/1Gi",
                      "hugepagesz=1G hugepages=4", "hugepagesz=1G hugepages=2");
        /* A count after an invalid size is ignored. */
        check_differs("hugepagesz=1G hugepages=2 hugepagesz=bogus hugepages=4", pool4, 2048, BOOTARGS_POOL,
                      "/pools/1Gi", "hugepagesz=1G hugepages=4", "hugepagesz=1G hugepages=2");
        /* An invalid count is ignored. */
        check_differs("hugepagesz=1G hugepages=0:2,x", pool4, 2048, BOOTARGS_POOL, "/pools/1Gi",
                      "hugepagesz=1G hugepages=4", "");
        /* After "--" it is init's. */
        check_differs("quiet -- hugepagesz=1G hugepages=4", pool4, 2048, BOOTARGS_POOL, "/pools/1Gi",
                      "hugepagesz=1G hugepages=4", "");
        /* Inside quotes it is another parameter's value. */
        check_differs("foo=\"hugepagesz=1G hugepages=4\"", pool4, 2048, BOOTARGS_POOL, "/pools/1Gi",
                      "hugepagesz=1G hugepages=4", "");

        const char *thp = "{\"transparent_hugepage\": {\"enabled\": \"never\"}}";
        check_differs("transparent_hugepage=never transparent_hugepage=always", thp, 2048, BOOTARGS_THP,
                      "/transparent_hugepage/enabled", "transparent_hugepage=never",
                      "transparent_hugepage=always");
        check_differs("transparent_hugepage=bogus", thp, 2048, BOOTARGS_THP, "/transparent_hugepage/enabled",
                      "transparent_hugepage=never", "");
        check_differs("hugepagesz=1G hugepages=4", "{\"default_size\": \"1Gi\"}", 2048, BOOTARGS_DEFAULT_SIZE,
                      "/default_size", "default_hugepagesz=1G", "default_hugepagesz=2M");
}

static void test_compare_procfs(void **state)
{
        (void) state;
        char *dir = fixture_copy("x86-2node");
        struct sysfs fs;
        struct config c;
        struct sizes s = machine(4, 2048);
        struct bootargs_diff d = { (struct bootargs_diff_item *) 0x1, 5 };
        struct errbuf err = { "" };
        fixture_sysfs(dir, &fs);
        load_config(cfg_full, &c);

        /* No cmdline file: an error naming it, ret untouched. */
        assert_int_equal(bootargs_compare(&fs, &c, &s, &d, &err), -ENOENT);
        assert_non_null(strstr(err.msg, "/proc/cmdline"));
        assert_ptr_equal(d.items, (struct bootargs_diff_item *) 0x1);

        fixture_put(dir, "proc/cmdline",
                    "BOOT_IMAGE=/vmlinuz default_hugepagesz=1G hugepagesz=1G hugepages=4 "
                    "transparent_hugepage=madvise\n");
        s.default_size_kb = 1048576;
        assert_int_equal(bootargs_compare(&fs, &c, &s, &d, &err), 0);
        assert_int_equal(d.n, 0);
        bootargs_diff_release(&d);

        fixture_put(dir, "proc/cmdline", "BOOT_IMAGE=/vmlinuz hugepagesz=1G hugepages=2\n");
        assert_int_equal(bootargs_compare(&fs, &c, &s, &d, &err), 0);
        assert_int_equal(d.n, 2);
        assert_string_equal(d.items[0].running, "hugepagesz=1G hugepages=2");
        assert_string_equal(d.items[1].want, "transparent_hugepage=madvise");
        bootargs_diff_release(&d);

        config_release(&c);
        sysfs_release(&fs);
        fixture_remove(dir);
}

int main(void)
{
        /* Fail at once, not test by test, when the real tool is missing. */
        if (!find_editenv()) {
                fprintf(stderr, "test-bootargs: %s\n", NO_EDITENV);
                return 1;
        }
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_spec_parse),
                cmocka_unit_test(test_format_size),
                cmocka_unit_test(test_params_order),
                cmocka_unit_test(test_params_per_node),
                cmocka_unit_test(test_params_arm64),
                cmocka_unit_test(test_params_rejects),
                cmocka_unit_test(test_envblk_debian_form),
                cmocka_unit_test(test_envblk_old_form),
                cmocka_unit_test(test_envblk_escaping),
                cmocka_unit_test(test_envblk_rejects),
                cmocka_unit_test(test_envblk_overflow),
                cmocka_unit_test(test_envblk_duplicates),
                cmocka_unit_test(test_merge_fresh),
                cmocka_unit_test(test_merge_foreign_bytes),
                cmocka_unit_test(test_merge_in_place),
                cmocka_unit_test(test_merge_conflicts),
                cmocka_unit_test(test_write_twice),
                cmocka_unit_test(test_write_keeps_other_lines),
                cmocka_unit_test(test_write_overflow),
                cmocka_unit_test(test_write_refuses_bad_files),
                cmocka_unit_test(test_write_conflict),
                cmocka_unit_test(test_write_keeps_mode_and_symlink),
                cmocka_unit_test(test_write_new_variable),
                cmocka_unit_test(test_editenv_writes_we_read),
                cmocka_unit_test(test_editenv_reads_what_we_write),
                cmocka_unit_test(test_compare_same),
                cmocka_unit_test(test_compare_differs),
                cmocka_unit_test(test_compare_procfs),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
