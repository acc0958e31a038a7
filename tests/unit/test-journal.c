/* Unit tests for model/journal.c, against the contract in journal.h: the
 * record codec (line format, checksum, format versions), the replay of the
 * records into state, recovery from a torn tail and from a corrupt record,
 * the refusal of a newer format (and of a file with nothing readable in
 * it) without touching the file, compaction, two handles on one state
 * directory, and a full disk. Each test works in its own temporary
 * directory, removed afterwards even when the test fails. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "../../model/journal.h"
#include "fixture.h"

#define ELEMENTSOF(a) (sizeof(a) / sizeof((a)[0]))

#define JOURNAL "journal"
#define CORRUPT_PREFIX "journal.corrupt-"

/* A tmpfs the disk-full test mounted, unmounted by teardown. */
static char mounted[4096];

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
        if (mounted[0]) {
                char cmd[8192];
                snprintf(cmd, sizeof(cmd), "umount '%s'", mounted);
                if (system(cmd) != 0)
                        fprintf(stderr, "cannot unmount %s\n", mounted);
                mounted[0] = '\0';
        }
        fixture_remove(*state);
        return 0;
}

static char *path_in(const char *dir, const char *name)
{
        char *p = NULL;
        assert_true(asprintf(&p, "%s/%s", dir, name) > 0);
        return p;
}

/* Reads a whole file, binary-safe, into a new NUL-terminated buffer. */
static char *slurp(const char *path, size_t *ret_len)
{
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
                fail_msg("cannot read %s: %s", path, strerror(errno));
        struct stat st;
        assert_int_equal(fstat(fd, &st), 0);
        size_t size = (size_t) st.st_size;
        char *buf = malloc(size + 1);
        assert_non_null(buf);
        size_t got = 0;
        while (got < size) {
                ssize_t n = read(fd, buf + got, size - got);
                if (n <= 0)
                        break;
                got += (size_t) n;
        }
        close(fd);
        buf[got] = '\0';
        if (ret_len)
                *ret_len = got;
        return buf;
}

static void spit(const char *path, const void *data, size_t len)
{
        int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        if (fd < 0)
                fail_msg("cannot write %s: %s", path, strerror(errno));
        assert_int_equal(write(fd, data, len), (ssize_t) len);
        close(fd);
}

/* Appends bytes the way a crash mid-write leaves them. */
static void append_raw(const char *path, const void *data, size_t len)
{
        int fd = open(path, O_WRONLY | O_APPEND | O_CLOEXEC);
        if (fd < 0)
                fail_msg("cannot append to %s: %s", path, strerror(errno));
        assert_int_equal(write(fd, data, len), (ssize_t) len);
        close(fd);
}

static void sha256_hex(const void *data, size_t len, char out[65])
{
        unsigned char md[EVP_MAX_MD_SIZE];
        unsigned int md_len = 0;
        assert_int_equal(EVP_Digest(data, len, md, &md_len, EVP_sha256(), NULL), 1);
        assert_int_equal(md_len, 32);
        for (unsigned i = 0; i < md_len; i++)
                snprintf(out + 2 * i, 3, "%02x", md[i]);
}

/* A line with a valid checksum around any body: "<hex> <body>\n". */
static char *make_line(const char *body)
{
        char hex[65];
        sha256_hex(body, strlen(body), hex);
        char *line = NULL;
        assert_true(asprintf(&line, "%s %s\n", hex, body) > 0);
        return line;
}

static bool json_same(const json_t *a, const json_t *b)
{
        if (!a || !b)
                return a == b;
        return json_equal(a, b);
}

/* Fails, printing both documents, unless got and want are equal (or both
 * NULL). */
static void check_json(const json_t *got, const json_t *want, const char *what)
{
        if (json_same(got, want))
                return;
        char *g = got ? json_dumps(got, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY) : strdup("NULL");
        char *w = want ? json_dumps(want, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY) : strdup("NULL");
        fail_msg("%s is %s, expected %s", what, g, w);
}

static json_t *config_for(uint64_t gen)
{
        return json_pack("{s:{s:{s:I}},s:s}", "pools", "2Mi", "count", (json_int_t) (gen * 2), "default_size",
                         "2Mi");
}

static json_t *before_for(uint64_t gen)
{
        return json_pack("{s:{s:{s:I}}}", "pools", "2Mi", "count", (json_int_t) (gen * 2 - 1));
}

static json_t *report_for(uint64_t gen)
{
        return json_pack("{s:b,s:[{s:s,s:I,s:I}]}", "ok", 1, "items", "pool", "2Mi", "wanted",
                         (json_int_t) (gen * 2), "got", (json_int_t) (gen * 2));
}

static struct journal *open_ok(const char *dir, unsigned keep)
{
        struct errbuf err = { "" };
        struct journal *j = NULL;
        int r = journal_open(dir, keep, &j, &err);
        if (r != 0)
                fail_msg("journal_open(%s) returned %d (%s), expected 0", dir, r, err.msg);
        assert_non_null(j);
        return j;
}

static void lock_ok(struct journal *j)
{
        struct errbuf err = { "" };
        int r = journal_lock(j, &err);
        if (r != 0)
                fail_msg("journal_lock returned %d (%s), expected 0", r, err.msg);
}

/* Appends rec under the lock; returns journal_append's result. */
static int try_append(struct journal *j, struct journal_record *rec, struct errbuf *err)
{
        lock_ok(j);
        int r = journal_append(j, rec, err);
        journal_unlock(j);
        return r;
}

static void append_ok(struct journal *j, struct journal_record *rec)
{
        struct errbuf err = { "" };
        int r = try_append(j, rec, &err);
        if (r != 0)
                fail_msg("journal_append(%s, gen %" PRIu64 ") returned %d (%s), expected 0",
                         journal_event_name(rec->event), rec->generation, r, err.msg);
}

static void add_accepted(struct journal *j, uint64_t gen, int64_t deadline, uint64_t origin)
{
        json_t *config = config_for(origin ? origin : gen), *before = before_for(gen);
        struct journal_record rec = {
                .event = JOURNAL_ACCEPTED,
                .generation = gen,
                .config = config,
                .before = before,
                .deadline = deadline,
                .origin = origin,
        };
        snprintf(rec.who, sizeof(rec.who), "admin");
        append_ok(j, &rec);
        json_decref(config);
        json_decref(before);
}

static void add_applied(struct journal *j, uint64_t gen)
{
        json_t *report = report_for(gen);
        struct journal_record rec = { .event = JOURNAL_APPLIED, .generation = gen, .report = report };
        snprintf(rec.who, sizeof(rec.who), "hugepaged");
        append_ok(j, &rec);
        json_decref(report);
}

static void add_confirmed(struct journal *j, uint64_t gen)
{
        struct journal_record rec = { .event = JOURNAL_CONFIRMED, .generation = gen };
        snprintf(rec.who, sizeof(rec.who), "admin");
        append_ok(j, &rec);
}

static void add_reverted(struct journal *j, uint64_t gen, uint64_t to, const char *reason)
{
        struct journal_record rec = { .event = JOURNAL_REVERTED, .generation = gen, .to = to };
        snprintf(rec.who, sizeof(rec.who), "hugepaged");
        snprintf(rec.reason, sizeof(rec.reason), "%s", reason);
        append_ok(j, &rec);
}

/* All records of j, encoded and concatenated: what the file should hold. */
static char *encode_all(const struct journal *j)
{
        size_t n = 0;
        const struct journal_record *recs = journal_records(j, &n);
        char *all = strdup("");
        assert_non_null(all);
        for (size_t i = 0; i < n; i++) {
                char *line = journal_encode(&recs[i]);
                assert_non_null(line);
                char *joined = NULL;
                assert_true(asprintf(&joined, "%s%s", all, line) >= 0);
                free(all);
                free(line);
                all = joined;
        }
        return all;
}

/* "No whitespace outside strings": the compact form jansson writes. */
static bool is_compact(const char *body, size_t len)
{
        bool in_string = false;
        for (size_t i = 0; i < len; i++) {
                char c = body[i];
                if (in_string) {
                        if (c == '\\')
                                i++;
                        else if (c == '"')
                                in_string = false;
                } else if (c == '"') {
                        in_string = true;
                } else if (c == ' ' || c == '\t' || c == '\n' || c == '\r') {
                        return false;
                }
        }
        return true;
}

/* Checks one line against "<64 lowercase hex> SP <compact JSON> LF" with
 * the hex being the SHA-256 of the JSON text; returns the parsed JSON. */
static json_t *check_line(const char *line, size_t len)
{
        if (len < 64 + 1 + 2 + 1)
                fail_msg("line \"%.*s\" is too short", (int) len, line);
        for (size_t i = 0; i < 64; i++)
                if (!strchr("0123456789abcdef", line[i]) || line[i] == '\0')
                        fail_msg("line \"%.*s\": byte %zu of the checksum is not lowercase hex", (int) len,
                                 line, i);
        if (line[64] != ' ')
                fail_msg("line \"%.*s\": no space after the checksum", (int) len, line);
        if (line[len - 1] != '\n')
                fail_msg("line \"%.*s\" does not end with LF", (int) len, line);
        const char *body = line + 65;
        size_t body_len = len - 65 - 1;
        if (memchr(body, '\n', body_len))
                fail_msg("line \"%.*s\" holds more than one LF", (int) len, line);
        if (!is_compact(body, body_len))
                fail_msg("JSON \"%.*s\" is not compact", (int) body_len, body);
        char hex[65];
        sha256_hex(body, body_len, hex);
        if (memcmp(hex, line, 64) != 0)
                fail_msg("checksum %.64s, expected the SHA-256 of the JSON text, %s", line, hex);
        json_error_t e;
        json_t *j = json_loadb(body, body_len, JSON_REJECT_DUPLICATES, &e);
        if (!j || !json_is_object(j))
                fail_msg("JSON \"%.*s\" is not an object: %s", (int) body_len, body, e.text);
        return j;
}

/* The journal file of j holds exactly its records, each a well-formed
 * line. */
static void check_file(const struct journal *j)
{
        char *path = path_in(journal_dir(j), JOURNAL);
        size_t len;
        char *text = slurp(path, &len);
        char *want = encode_all(j);
        if (strlen(want) != len || memcmp(want, text, len) != 0)
                fail_msg("%s holds\n%s\nexpected the records\n%s", path, text, want);
        for (char *line = text; *line;) {
                char *lf = strchr(line, '\n');
                assert_non_null(lf);
                json_decref(check_line(line, (size_t) (lf - line + 1)));
                line = lf + 1;
        }
        free(want);
        free(text);
        free(path);
}

/* "2026-11-27T10:00:00Z", within [lo, hi]. */
static void check_time(const char *t, time_t lo, time_t hi)
{
        struct tm tm = { 0 };
        const char *end = strptime(t, "%Y-%m-%dT%H:%M:%SZ", &tm);
        if (strlen(t) != 20 || !end || *end)
                fail_msg("time \"%s\" is not like 2026-11-27T10:00:00Z", t);
        time_t v = timegm(&tm);
        if (v < lo || v > hi)
                fail_msg("time \"%s\" is outside this test's run", t);
}

static void check_record_equal(const struct journal_record *got, const struct journal_record *want,
                               const char *what)
{
        if (got->seq != want->seq)
                fail_msg("%s: seq %" PRIu64 ", expected %" PRIu64, what, got->seq, want->seq);
        if (got->event != want->event)
                fail_msg("%s: event %d, expected %d", what, (int) got->event, (int) want->event);
        if (got->generation != want->generation)
                fail_msg("%s: generation %" PRIu64 ", expected %" PRIu64, what, got->generation,
                         want->generation);
        if (strcmp(got->time, want->time) != 0)
                fail_msg("%s: time \"%s\", expected \"%s\"", what, got->time, want->time);
        if (strcmp(got->who, want->who) != 0)
                fail_msg("%s: who \"%s\", expected \"%s\"", what, got->who, want->who);
        check_json(got->config, want->config, "config");
        check_json(got->before, want->before, "before");
        check_json(got->report, want->report, "report");
        if (got->deadline != want->deadline)
                fail_msg("%s: deadline %" PRId64 ", expected %" PRId64, what, got->deadline, want->deadline);
        if (got->to != want->to)
                fail_msg("%s: to %" PRIu64 ", expected %" PRIu64, what, got->to, want->to);
        if (strcmp(got->reason, want->reason) != 0)
                fail_msg("%s: reason \"%s\", expected \"%s\"", what, got->reason, want->reason);
        if (got->origin != want->origin)
                fail_msg("%s: origin %" PRIu64 ", expected %" PRIu64, what, got->origin, want->origin);
}

/* A copy of journal_state's answer that outlives changes to the journal. */
struct snap {
        uint64_t max_generation, generation, confirmed_generation;
        json_t *config, *confirmed_config, *pending_before;
        bool pending;
        int64_t deadline;
        char *last_applied; /* encoded, NULL = none */
};

static json_t *copy_or_null(const json_t *j)
{
        return j ? json_deep_copy(j) : NULL;
}

static void snap_take(const struct journal *j, struct snap *s)
{
        struct journal_state st;
        memset(&st, 0, sizeof(st));
        journal_state(j, &st);
        *s = (struct snap){
                .max_generation = st.max_generation,
                .generation = st.generation,
                .confirmed_generation = st.confirmed_generation,
                .config = copy_or_null(st.config),
                .confirmed_config = copy_or_null(st.confirmed_config),
                .pending_before = copy_or_null(st.pending_before),
                .pending = st.pending,
                .deadline = st.deadline,
                .last_applied = st.last_applied ? journal_encode(st.last_applied) : NULL,
        };
}

static void snap_release(struct snap *s)
{
        json_decref(s->config);
        json_decref(s->confirmed_config);
        json_decref(s->pending_before);
        free(s->last_applied);
        memset(s, 0, sizeof(*s));
}

static void snap_check_equal(const struct snap *got, const struct snap *want, const char *what)
{
        if (got->max_generation != want->max_generation)
                fail_msg("%s: max_generation %" PRIu64 ", expected %" PRIu64, what, got->max_generation,
                         want->max_generation);
        if (got->generation != want->generation)
                fail_msg("%s: generation %" PRIu64 ", expected %" PRIu64, what, got->generation,
                         want->generation);
        if (got->confirmed_generation != want->confirmed_generation)
                fail_msg("%s: confirmed_generation %" PRIu64 ", expected %" PRIu64, what,
                         got->confirmed_generation, want->confirmed_generation);
        check_json(got->config, want->config, "state config");
        check_json(got->confirmed_config, want->confirmed_config, "state confirmed_config");
        if (got->pending != want->pending)
                fail_msg("%s: pending %d, expected %d", what, got->pending, want->pending);
        if (got->pending) {
                if (got->deadline != want->deadline)
                        fail_msg("%s: deadline %" PRId64 ", expected %" PRId64, what, got->deadline,
                                 want->deadline);
                check_json(got->pending_before, want->pending_before, "state pending_before");
        }
        const char *g = got->last_applied ? got->last_applied : "NULL";
        const char *w = want->last_applied ? want->last_applied : "NULL";
        if (strcmp(g, w) != 0)
                fail_msg("%s: last_applied %s, expected %s", what, g, w);
}

/* The state journal.h's replay rules give; config_gen names the config
 * (config_for) of the desired generation, 0 = none. */
struct want_state {
        uint64_t max_generation, generation, config_gen, confirmed_generation, confirmed_config_gen;
        bool pending;
        int64_t deadline;
        uint64_t before_gen;  /* pending_before = before_for(before_gen) */
        uint64_t applied_gen; /* last_applied's generation, 0 = NULL */
};

/* journal.h does not say what a revert does to last_applied. */
#define ANY_APPLIED UINT64_MAX

static void check_state(const struct journal *j, const struct want_state *w, const char *what)
{
        struct journal_state st;
        memset(&st, 0, sizeof(st));
        journal_state(j, &st);
        if (st.max_generation != w->max_generation)
                fail_msg("%s: max_generation %" PRIu64 ", expected %" PRIu64, what, st.max_generation,
                         w->max_generation);
        if (st.generation != w->generation)
                fail_msg("%s: generation %" PRIu64 ", expected %" PRIu64, what, st.generation, w->generation);
        json_t *config = w->config_gen ? config_for(w->config_gen) : NULL;
        check_json(st.config, config, what);
        json_decref(config);
        if (st.confirmed_generation != w->confirmed_generation)
                fail_msg("%s: confirmed_generation %" PRIu64 ", expected %" PRIu64, what,
                         st.confirmed_generation, w->confirmed_generation);
        json_t *confirmed = w->confirmed_config_gen ? config_for(w->confirmed_config_gen) : NULL;
        check_json(st.confirmed_config, confirmed, what);
        json_decref(confirmed);
        if (st.pending != w->pending)
                fail_msg("%s: pending %d, expected %d", what, st.pending, w->pending);
        if (w->pending) {
                if (st.deadline != w->deadline)
                        fail_msg("%s: deadline %" PRId64 ", expected %" PRId64, what, st.deadline,
                                 w->deadline);
                json_t *before = before_for(w->before_gen);
                check_json(st.pending_before, before, what);
                json_decref(before);
        }
        if (w->applied_gen == ANY_APPLIED) {
                /* not checked */
        } else if (!w->applied_gen) {
                if (st.last_applied)
                        fail_msg("%s: last_applied is generation %" PRIu64 ", expected none", what,
                                 st.last_applied->generation);
        } else {
                if (!st.last_applied)
                        fail_msg("%s: no last_applied, expected generation %" PRIu64, what, w->applied_gen);
                assert_int_equal(st.last_applied->event, JOURNAL_APPLIED);
                assert_int_equal(st.last_applied->generation, w->applied_gen);
                json_t *report = report_for(w->applied_gen);
                check_json(st.last_applied->report, report, what);
                json_decref(report);
        }
}

/* Counts dir's entries named journal.corrupt-*; the first goes to name. */
static int count_corrupt(const char *dir, char *name, size_t size)
{
        DIR *d = opendir(dir);
        if (!d)
                fail_msg("cannot list %s: %s", dir, strerror(errno));
        int n = 0;
        struct dirent *e;
        while ((e = readdir(d))) {
                if (strncmp(e->d_name, CORRUPT_PREFIX, strlen(CORRUPT_PREFIX)) != 0)
                        continue;
                if (n++ == 0 && name)
                        snprintf(name, size, "%s", e->d_name);
        }
        closedir(d);
        return n;
}

/* Fails unless dir holds nothing but the journal and its lock file. */
static void check_only_journal(const char *dir, const char *what)
{
        DIR *d = opendir(dir);
        if (!d)
                fail_msg("cannot list %s: %s", dir, strerror(errno));
        struct dirent *e;
        while ((e = readdir(d))) {
                const char *n = e->d_name;
                if (strcmp(n, ".") && strcmp(n, "..") && strcmp(n, JOURNAL) && strcmp(n, "lock")) {
                        char bad[256];
                        snprintf(bad, sizeof(bad), "%s", n);
                        closedir(d);
                        fail_msg("%s: %s holds \"%s\", expected only \"journal\" and \"lock\"", what, dir,
                                 bad);
                }
        }
        closedir(d);
}

static void check_recovery_clean(const struct journal *j, const char *what)
{
        const struct journal_recovery *rec = journal_recovery(j);
        assert_non_null(rec);
        if (rec->torn_tail || rec->corrupt_records || rec->saved_as[0] || rec->message[0])
                fail_msg("%s: recovery torn_tail %d, corrupt_records %zu, saved_as \"%s\", message \"%s\"; "
                         "expected a clean open",
                         what, rec->torn_tail, rec->corrupt_records, rec->saved_as, rec->message);
}

/* Every descriptor the journal holds on files under dir is O_CLOEXEC. */
static void check_cloexec_under(const char *dir)
{
        char real[4096];
        assert_non_null(realpath(dir, real));
        DIR *d = opendir("/proc/self/fd");
        assert_non_null(d);
        struct dirent *e;
        while ((e = readdir(d))) {
                if (e->d_name[0] == '.')
                        continue;
                int fd = atoi(e->d_name);
                if (fd == dirfd(d))
                        continue;
                char link[64], target[4096];
                snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
                ssize_t n = readlink(link, target, sizeof(target) - 1);
                if (n < 0)
                        continue;
                target[n] = '\0';
                if (strncmp(target, real, strlen(real)) != 0)
                        continue;
                int flags = fcntl(fd, F_GETFD);
                if (flags < 0 || !(flags & FD_CLOEXEC)) {
                        closedir(d);
                        fail_msg("descriptor %d on %s is not O_CLOEXEC", fd, target);
                }
        }
        closedir(d);
}

/* Sets path's mtime far in the past, so that any write shows. */
static void age(const char *path)
{
        struct timespec ts[2] = { { 978307200, 0 }, { 978307200, 0 } };
        assert_int_equal(utimensat(AT_FDCWD, path, ts, 0), 0);
}

/* The file as it was: bytes, inode and mtime. */
struct file_snap {
        char *bytes;
        size_t len;
        struct stat st;
};

static void file_take(const char *path, struct file_snap *f)
{
        f->bytes = slurp(path, &f->len);
        assert_int_equal(stat(path, &f->st), 0);
}

static void file_check_unchanged(const char *path, const struct file_snap *f, const char *what)
{
        struct file_snap now;
        file_take(path, &now);
        if (now.len != f->len || memcmp(now.bytes, f->bytes, f->len) != 0)
                fail_msg("%s: %s was changed (%zu bytes, were %zu)", what, path, now.len, f->len);
        if (now.st.st_ino != f->st.st_ino)
                fail_msg("%s: %s was replaced (inode %ju, was %ju)", what, path, (uintmax_t) now.st.st_ino,
                         (uintmax_t) f->st.st_ino);
        if (now.st.st_mtim.tv_sec != f->st.st_mtim.tv_sec || now.st.st_mtim.tv_nsec != f->st.st_mtim.tv_nsec)
                fail_msg("%s: %s was written (mtime %jd.%09ld, was %jd.%09ld)", what, path,
                         (intmax_t) now.st.st_mtim.tv_sec, now.st.st_mtim.tv_nsec,
                         (intmax_t) f->st.st_mtim.tv_sec, f->st.st_mtim.tv_nsec);
        free(now.bytes);
}

/* One record of each kind, all their fields set. */
static void example_records(struct journal_record recs[4], json_t **owned /* [3] */)
{
        owned[0] = config_for(3);
        owned[1] = before_for(3);
        owned[2] = report_for(3);
        memset(recs, 0, 4 * sizeof(recs[0]));
        recs[0] = (struct journal_record){
                .seq = 7,
                .event = JOURNAL_ACCEPTED,
                .generation = 3,
                .config = owned[0],
                .before = owned[1],
                .deadline = 1795000000,
                .origin = 2,
        };
        recs[1] = (struct journal_record){
                .seq = 8, .event = JOURNAL_APPLIED, .generation = 3, .report = owned[2]
        };
        recs[2] = (struct journal_record){ .seq = 9, .event = JOURNAL_CONFIRMED, .generation = 3 };
        recs[3] = (struct journal_record){ .seq = 10, .event = JOURNAL_REVERTED, .generation = 3, .to = 2 };
        snprintf(recs[3].reason, sizeof(recs[3].reason), "deadline");
        for (int i = 0; i < 4; i++) {
                snprintf(recs[i].time, sizeof(recs[i].time), "2026-11-27T10:00:0%dZ", i);
                snprintf(recs[i].who, sizeof(recs[i].who), "admin");
        }
}

/* Decodes a line that must be refused with want, checking that ret was
 * left alone. */
static void check_decode_fails(const char *line, size_t len, int want, const char *what)
{
        struct journal_record rec, before;
        memset(&rec, 0xa5, sizeof(rec));
        before = rec;
        int r = journal_decode(line, len, &rec);
        if (r == 0)
                journal_record_release(&rec);
        if (r != want)
                fail_msg("%s: journal_decode(\"%.*s\") returned %d, expected %d (%s)", what, (int) len, line,
                         r, want, strerror(-want));
        if (memcmp(&rec, &before, sizeof(rec)) != 0)
                fail_msg("%s: journal_decode wrote its result on failure", what);
}

static void test_event_names(void **state)
{
        (void) state;
        assert_string_equal(journal_event_name(JOURNAL_ACCEPTED), "accepted");
        assert_string_equal(journal_event_name(JOURNAL_APPLIED), "applied");
        assert_string_equal(journal_event_name(JOURNAL_CONFIRMED), "confirmed");
        assert_string_equal(journal_event_name(JOURNAL_REVERTED), "reverted");
}

/* journal.h's line: checksum of the JSON text, a space, the compact JSON
 * with the documented keys, LF. */
static void test_encode_format(void **state)
{
        (void) state;
        struct journal_record recs[4];
        json_t *owned[3];
        example_records(recs, owned);
        static const char *const names[] = { "accepted", "applied", "confirmed", "reverted" };
        for (int i = 0; i < 4; i++) {
                char *line = journal_encode(&recs[i]);
                assert_non_null(line);
                size_t len = strlen(line);
                json_t *body = check_line(line, len);
                char *again = journal_encode(&recs[i]);
                assert_string_equal(again, line);
                free(again);

                assert_true(json_is_integer(json_object_get(body, "v")));
                assert_int_equal(json_integer_value(json_object_get(body, "v")), JOURNAL_FORMAT);
                assert_int_equal(json_integer_value(json_object_get(body, "seq")), recs[i].seq);
                assert_string_equal(json_string_value(json_object_get(body, "event")), names[i]);
                assert_int_equal(json_integer_value(json_object_get(body, "gen")), 3);
                assert_string_equal(json_string_value(json_object_get(body, "time")), recs[i].time);
                assert_string_equal(json_string_value(json_object_get(body, "who")), "admin");
                switch (recs[i].event) {
                case JOURNAL_ACCEPTED:
                        check_json(json_object_get(body, "config"), owned[0], "\"config\"");
                        check_json(json_object_get(body, "before"), owned[1], "\"before\"");
                        assert_int_equal(json_integer_value(json_object_get(body, "deadline")), 1795000000);
                        break;
                case JOURNAL_APPLIED:
                        check_json(json_object_get(body, "report"), owned[2], "\"report\"");
                        break;
                case JOURNAL_REVERTED:
                        assert_int_equal(json_integer_value(json_object_get(body, "to")), 2);
                        assert_string_equal(json_string_value(json_object_get(body, "reason")), "deadline");
                        break;
                default:
                        break;
                }
                json_decref(body);
                free(line);
        }
        for (int i = 0; i < 3; i++)
                json_decref(owned[i]);
}

static void round_trip(const struct journal_record *rec, const char *what)
{
        char *line = journal_encode(rec);
        assert_non_null(line);
        json_decref(check_line(line, strlen(line)));
        struct journal_record got;
        memset(&got, 0, sizeof(got));
        int r = journal_decode(line, strlen(line), &got);
        if (r != 0)
                fail_msg("%s: journal_decode(\"%s\") returned %d, expected 0", what, line, r);
        check_record_equal(&got, rec, what);
        char *again = journal_encode(&got);
        assert_string_equal(again, line);
        free(again);
        journal_record_release(&got);
        free(line);
}

static void test_decode_round_trip(void **state)
{
        (void) state;
        struct journal_record recs[4];
        json_t *owned[3];
        example_records(recs, owned);
        round_trip(&recs[0], "accepted");
        round_trip(&recs[1], "applied");
        round_trip(&recs[2], "confirmed");
        round_trip(&recs[3], "reverted");

        /* An accepted record with nothing optional. */
        struct journal_record bare = {
                .seq = 1, .event = JOURNAL_ACCEPTED, .generation = 1, .config = owned[0]
        };
        snprintf(bare.time, sizeof(bare.time), "2026-01-01T00:00:00Z");
        round_trip(&bare, "accepted, no before, deadline or origin");

        /* who with characters JSON must escape, and non-ASCII. */
        struct journal_record odd = recs[0];
        snprintf(odd.who, sizeof(odd.who), "ops \"night\" \\ shift\tü");
        round_trip(&odd, "accepted, who needing escapes");

        /* Back to nothing, by the operator; large numbers. */
        struct journal_record none = recs[3];
        none.to = 0;
        none.seq = 123456789012ULL;
        none.generation = 9876543210ULL;
        snprintf(none.reason, sizeof(none.reason), "operator");
        round_trip(&none, "reverted to 0");
        struct journal_record restart = recs[3];
        snprintf(restart.reason, sizeof(restart.reason), "restart");
        round_trip(&restart, "reverted on restart");

        journal_record_release(NULL);
        for (int i = 0; i < 3; i++)
                json_decref(owned[i]);
}

/* The record's JSON with edit applied, re-encoded with a valid checksum. */
static char *edited_line(const struct journal_record *rec, void (*edit)(json_t *))
{
        char *line = journal_encode(rec);
        size_t len = strlen(line);
        json_t *body = json_loadb(line + 65, len - 66, 0, NULL);
        assert_non_null(body);
        edit(body);
        char *text = json_dumps(body, JSON_COMPACT);
        char *out = make_line(text);
        free(text);
        json_decref(body);
        free(line);
        return out;
}

static void drop_v(json_t *o)
{
        assert_int_equal(json_object_del(o, "v"), 0);
}
static void unknown_event(json_t *o)
{
        assert_int_equal(json_object_set_new(o, "event", json_string("exploded")), 0);
}
static void v2(json_t *o)
{
        assert_int_equal(json_object_set_new(o, "v", json_integer(2)), 0);
}
/* A newer format may change anything else too. */
static void v2_reshaped(json_t *o)
{
        assert_int_equal(json_object_set_new(o, "v", json_integer(2)), 0);
        assert_int_equal(json_object_set_new(o, "event", json_string("split")), 0);
        assert_int_equal(json_object_del(o, "seq"), 0);
        assert_int_equal(json_object_set_new(o, "gen", json_string("g-3")), 0);
        assert_int_equal(json_object_set_new(o, "shards", json_array()), 0);
}
static void v99(json_t *o)
{
        assert_int_equal(json_object_set_new(o, "v", json_integer(99)), 0);
}

static void test_decode_damaged(void **state)
{
        (void) state;
        struct journal_record recs[4];
        json_t *owned[3];
        example_records(recs, owned);
        char *line = journal_encode(&recs[0]);
        size_t len = strlen(line);
        char what[128];

        /* The good line decodes, so what follows tests the damage alone. */
        struct journal_record ok;
        assert_int_equal(journal_decode(line, len, &ok), 0);
        journal_record_release(&ok);

        /* A flipped bit anywhere before the LF: in the checksum, the
         * space or the JSON. Bits 0 and 7 never make "v" a newer number
         * nor turn a hex digit into its upper-case twin. */
        char *copy = malloc(len + 1);
        assert_non_null(copy);
        for (size_t i = 0; i + 1 < len; i++) {
                for (int bit = 0; bit < 8; bit += 7) {
                        memcpy(copy, line, len + 1);
                        copy[i] = (char) (copy[i] ^ (1 << bit));
                        snprintf(what, sizeof(what), "bit %d of byte %zu flipped", bit, i);
                        check_decode_fails(copy, len, -EBADMSG, what);
                }
        }

        /* The space missing, or another separator. */
        memcpy(copy, line, 64);
        memcpy(copy + 64, line + 65, len - 65);
        check_decode_fails(copy, len - 1, -EBADMSG, "no space");
        memcpy(copy, line, len + 1);
        copy[64] = '\t';
        check_decode_fails(copy, len, -EBADMSG, "a tab for the space");
        char *two = NULL;
        assert_true(asprintf(&two, "%.64s  %s", line, line + 65) > 0);
        check_decode_fails(two, strlen(two), -EBADMSG, "two spaces");
        free(two);

        /* Truncated, as a crash leaves a line, with and without an LF. */
        const size_t cuts[] = { 0, 1, 32, 63, 64, 65, 66, len / 2, len - 3, len - 2 };
        for (size_t i = 0; i < ELEMENTSOF(cuts); i++) {
                snprintf(what, sizeof(what), "cut to %zu bytes", cuts[i]);
                check_decode_fails(line, cuts[i], -EBADMSG, what);
                memcpy(copy, line, cuts[i]);
                copy[cuts[i]] = '\n';
                snprintf(what, sizeof(what), "cut to %zu bytes and an LF", cuts[i]);
                check_decode_fails(copy, cuts[i] + 1, -EBADMSG, what);
        }
        free(copy);

        /* Valid checksums around bodies that are not records. */
        static const char *const bodies[] = {
                "hello world", "", "[1,2]", "null", "\"accepted\"", "42", "{\"v\":1,", "{}",
        };
        for (size_t i = 0; i < ELEMENTSOF(bodies); i++) {
                char *l = make_line(bodies[i]);
                snprintf(what, sizeof(what), "body \"%s\"", bodies[i]);
                check_decode_fails(l, strlen(l), -EBADMSG, what);
                free(l);
        }

        char *l = edited_line(&recs[0], drop_v);
        check_decode_fails(l, strlen(l), -EBADMSG, "no \"v\"");
        free(l);
        for (int i = 0; i < 4; i++) {
                l = edited_line(&recs[i], unknown_event);
                check_decode_fails(l, strlen(l), -EBADMSG, "unknown event");
                free(l);
        }

        free(line);
        for (int i = 0; i < 3; i++)
                json_decref(owned[i]);
}

static void test_decode_newer_format(void **state)
{
        (void) state;
        struct journal_record recs[4];
        json_t *owned[3];
        example_records(recs, owned);
        for (int i = 0; i < 4; i++) {
                char *l = edited_line(&recs[i], v2);
                check_decode_fails(l, strlen(l), -EPROTONOSUPPORT, "\"v\":2");
                free(l);
        }
        char *l = edited_line(&recs[0], v2_reshaped);
        check_decode_fails(l, strlen(l), -EPROTONOSUPPORT, "\"v\":2, reshaped");
        free(l);
        l = edited_line(&recs[1], v99);
        check_decode_fails(l, strlen(l), -EPROTONOSUPPORT, "\"v\":99");
        free(l);
        for (int i = 0; i < 3; i++)
                json_decref(owned[i]);
}

/* --- the quick decoder against jansson ------------------------------------------ */

/* The decoder journal.c had before it read the top level itself: jansson
 * parses the whole text and json_unpack_ex() reads it. journal_decode must
 * give exactly its answer, for every line. */
static int decode_by_jansson(const char *line, size_t len, struct journal_record *ret)
{
        if (len > 0 && line[len - 1] == '\n')
                len--;
        if (len < 67 || line[64] != ' ')
                return -EBADMSG;
        const char *text = line + 65;
        size_t tlen = len - 65;
        json_error_t e;
        json_t *o = json_loadb(text, tlen, JSON_REJECT_DUPLICATES, &e);
        json_int_t v = 0;
        if (o && json_unpack(o, "{s:I}", "v", &v) == 0 && v > JOURNAL_FORMAT) {
                json_decref(o);
                return -EPROTONOSUPPORT;
        }
        char hex[65];
        sha256_hex(text, tlen, hex);
        int r = -EBADMSG;
        json_int_t seq = 0, gen = 0, deadline = 0, to = 0, origin = 0;
        const char *event = NULL, *when = NULL, *who = NULL, *reason = NULL;
        json_t *config = NULL, *before = NULL, *report = NULL;
        if (memcmp(hex, line, 64) != 0 || !o || v != JOURNAL_FORMAT ||
            json_unpack_ex(o, &e, 0, "{s:I, s:s, s:I, s:s, s:s, s?o, s?o, s?I, s?o, s?I, s?s, s?I}", "seq", &seq,
                           "event", &event, "gen", &gen, "time", &when, "who", &who, "config", &config, "before",
                           &before, "deadline", &deadline, "report", &report, "to", &to, "reason", &reason, "origin",
                           &origin) < 0 ||
            seq < 1 || gen < 0 || to < 0 || origin < 0)
                goto out;
        static const char *const names[] = { "accepted", "applied", "confirmed", "reverted" };
        int ev = -1;
        for (int i = 0; i < 4; i++)
                if (strcmp(event, names[i]) == 0)
                        ev = i;
        if (ev < 0 || (ev == JOURNAL_ACCEPTED && !json_is_object(config)) ||
            (ev == JOURNAL_APPLIED && !json_is_object(report)))
                goto out;
        struct journal_record rec = {
                .seq = (uint64_t) seq,
                .event = (enum journal_event) ev,
                .generation = (uint64_t) gen,
                .config = json_incref(config),
                .before = json_incref(before),
                .report = json_incref(report),
                .deadline = deadline,
                .to = (uint64_t) to,
                .origin = (uint64_t) origin,
        };
        snprintf(rec.time, sizeof(rec.time), "%s", when);
        snprintf(rec.who, sizeof(rec.who), "%s", who);
        if (reason)
                snprintf(rec.reason, sizeof(rec.reason), "%s", reason);
        *ret = rec;
        r = 0;
out:
        json_decref(o);
        return r;
}

/* A line with a valid checksum around len bytes of body, NULs allowed. */
static char *make_line_n(const char *body, size_t len, size_t *ret_len)
{
        char hex[65];
        sha256_hex(body, len, hex);
        char *line = malloc(64 + 1 + len + 2);
        assert_non_null(line);
        memcpy(line, hex, 64);
        line[64] = ' ';
        memcpy(line + 65, body, len);
        line[65 + len] = '\n';
        line[66 + len] = '\0';
        *ret_len = 66 + len;
        return line;
}

static size_t n_agreeing, n_accepted;

/* journal_decode and decode_by_jansson give the same answer for the line:
 * the same error, or the same record, field by field, trees by value and
 * by type. */
static void check_decoders_agree(const char *line, size_t len, const char *what)
{
        struct journal_record got, want;
        memset(&got, 0xa5, sizeof(got));
        struct journal_record untouched = got;
        memset(&want, 0, sizeof(want));
        int r = journal_decode(line, len, &got);
        int w = decode_by_jansson(line, len, &want);
        if (r != w)
                fail_msg("%s: journal_decode(\"%.*s\") returned %d, jansson's decoder %d", what, (int) len, line, r,
                         w);
        if (r == 0) {
                check_record_equal(&got, &want, what);
                journal_record_release(&got);
                journal_record_release(&want);
                n_accepted++;
        } else if (memcmp(&got, &untouched, sizeof(got)) != 0) {
                fail_msg("%s: journal_decode wrote its result on failure", what);
        }
        n_agreeing++;
}

/* body with each ' made a ", so that the tests' JSON reads more easily. */
static void check_body_agrees(const char *body, const char *what)
{
        char *text = strdup(body);
        assert_non_null(text);
        for (char *p = text; (p = strchr(p, '\'')); p++)
                *p = '"';
        size_t len;
        char *line = make_line_n(text, strlen(text), &len);
        free(text);
        check_decoders_agree(line, len, what);
        free(line);
}

/* A config nested depth deep: {"a":{"a":…{}…}}. */
static char *nested(size_t depth)
{
        char *s = malloc(depth * 6 + 3);
        assert_non_null(s);
        size_t n = 0;
        for (size_t i = 0; i < depth; i++) {
                memcpy(s + n, "{\"a\":", 5);
                n += 5;
        }
        s[n++] = '{';
        memset(s + n, '}', depth + 1);
        n += depth + 1;
        s[n] = '\0';
        return s;
}

/* Records in every shape the encoder writes, and hand-written ones in
 * shapes it never writes but a line with a valid checksum can hold; then
 * each byte of each encoded record replaced, doubled or dropped (the
 * checksum made valid again). */
static void test_decode_agrees_with_jansson(void **state)
{
        (void) state;
        n_agreeing = n_accepted = 0;
        struct journal_record recs[4];
        json_t *owned[3];
        example_records(recs, owned);
        char *lines[4];
        for (int i = 0; i < 4; i++) {
                lines[i] = journal_encode(&recs[i]);
                check_decoders_agree(lines[i], strlen(lines[i]), "an encoded record");
        }

        /* In these, ' stands for the JSON text's ". */
        static const char *const bodies[] = {
                /* As the encoder writes them, in other orders and spacings. */
                "{'v':1,'seq':1,'event':'confirmed','gen':0,'time':'t','who':'w'}",
                "{'who':'w','time':'t','gen':2,'event':'confirmed','seq':1,'v':1}",
                "{ 'v':1,'seq':1,'event':'confirmed','gen':2,'time':'t','who':'w'}",
                "{'v':1,'seq':1,'event':'confirmed','gen':2,'time':'t','who':'w'} ",
                "{'v':1,'seq':1,'event':'confirmed','gen':2,'time':'t','who':'w'}\x09",
                "{'v' :1,'seq':1,'event':'confirmed','gen':2,'time':'t','who':'w'}",
                "{'v':1,'seq':1,'event':'accepted','gen':2,'time':'t','who':'w','config':{ }}",
                "{'v':1,'seq':1,'event':'accepted','gen':2,'time':'t','who':'w','config':{'a':[1, 2]}}",
                /* Escapes and other characters in keys and strings. */
                "{'\\u0076':1,'seq':1,'event':'confirmed','gen':2,'time':'t','who':'w'}",
                "{'v':1,'seq':1,'event':'confirm\\u0065d','gen':2,'time':'t','who':'w'}",
                "{'v':1,'seq':1,'event':'confirmed','gen':2,'time':'t','who':'a\\'b\\\\c\\/d\\n'}",
                "{'v':1,'seq':1,'event':'confirmed','gen':2,'time':'t','who':'\xc3\xbc\xe2\x82\xac'}",
                "{'v':1,'seq':1,'event':'confirmed','gen':2,'time':'t','who':'\xc3'}",
                "{'v':1,'seq':1,'event':'confirmed','gen':2,'time':'t','who':'\xed\xa0\x80'}",
                "{'v':1,'seq':1,'event':'confirmed','gen':2,'time':'t','who':'a\\u0000b'}",
                "{'v':1,'seq':1,'event':'confirmed','gen':2,'time':'t','who':'\\ud83d\\ude00'}",
                "{'v':1,'seq':1,'event':'confirmed','gen':2,'time':'t','who':'\\ud83d'}",
                "{'v':1,'seq':1,'event':'confirmed','gen':2,'time':'t','who':'a\x7f'}",
                "{'v':1,'seq':1,'event':'confirmed','gen':2,'time':'t','who':'a\x1f'}",
                "{'v':1,'seq':1,'event':'confirmed','gen':2,'time':'t','who':'a\\x'}",
                "{'v':1,'seq':1,'event':'reverted','gen':2,'time':'t','who':'w','reason':'\\u00fc'}",
                /* Strings longer than the record's fields. */
                "{'v':1,'seq':1,'event':'confirmed','gen':2,'time':'2026-11-27T10:00:00Z-and-more-than-thi"
                "rty-two','who':'w'}",
                "{'v':1,'seq':1,'event':'confirmed','gen':2,'time':'t','who':'0123456789012345678901234567"
                "89012345678901234567890123456789012345678901234567890123456789012345678901234567890123456"
                "78901234567890123456789'}",
                "{'v':1,'seq':1,'event':'confirmed','gen':2,'time':'t','who':'0123456789012345678901234567"
                "89012345678901234567890123456789012345678901234567890123456789012345678901234567890123456"
                "7890123456789\xc3\xbc\xc3\xbc'}",
                /* Keys unknown, repeated, missing. */
                "{'v':1,'seq':1,'event':'confirmed','gen':2,'time':'t','who':'w','x':[1,{}]}",
                "{'v':1,'seq':1,'event':'confirmed','gen':2,'time':'t','who':'w','x':[1,{]}",
                "{'v':1,'seq':1,'event':'confirmed','gen':2,'time':'t','who':'w','seq':1}",
                "{'v':1,'seq':1,'event':'confirmed','gen':2,'time':'t','who':'w','\\u0073eq':1}",
                "{'v':1,'seq':1,'event':'confirmed','gen':2,'time':'t'}",
                "{'v':1,'seq':1,'event':'accepted','gen':2,'time':'t','who':'w'}",
                "{'v':1,'seq':1,'event':'applied','gen':2,'time':'t','who':'w','config':{}}",
                "{'v':1,'seq':1,'event':'accepted','gen':2,'time':'t','who':'w','config':{'a':1,'a':2}}",
                "{'v':1,'seq':1,'event':'accepted','gen':2,'time':'t','who':'w','config':{'a':1,'\\u0061':"
                "2}}",
                /* Trees of other types. */
                "{'v':1,'seq':1,'event':'accepted','gen':2,'time':'t','who':'w','config':[]}",
                "{'v':1,'seq':1,'event':'accepted','gen':2,'time':'t','who':'w','config':{},'before':null}",
                "{'v':1,'seq':1,'event':'accepted','gen':2,'time':'t','who':'w','config':{},'before':[1]}",
                "{'v':1,'seq':1,'event':'confirmed','gen':2,'time':'t','who':'w','report':'x'}",
                "{'v':1,'seq':1,'event':'applied','gen':2,'time':'t','who':'w','report':[{}]}",
                "{'v':1,'seq':1,'event':'applied','gen':2,'time':'t','who':'w','report':{'a':[1,2.5,-3,1e3"
                ",true,false,null,'s']}}",
                "{'v':1,'seq':1,'event':'applied','gen':2,'time':'t','who':'w','report':{'a':9223372036854"
                "775808}}",
                "{'v':1,'seq':1,'event':'applied','gen':2,'time':'t','who':'w','report':{'a':']}'}}",
                "{'v':1,'seq':1,'event':'applied','gen':2,'time':'t','who':'w','report':{'a':'\\'}'}}",
                "{'v':1,'seq':1,'event':'applied','gen':2,'time':'t','who':'w','report':{'a':1}}}",
                "{'v':1,'seq':1,'event':'applied','gen':2,'time':'t','who':'w','report':{'a':1]}",
                /* Numbers at and past the edges, and of other kinds. */
                "{'v':1,'seq':9223372036854775807,'event':'confirmed','gen':9223372036854775807,'time':'t'"
                ",'who':'w'}",
                "{'v':1,'seq':9223372036854775808,'event':'confirmed','gen':2,'time':'t','who':'w'}",
                "{'v':1,'seq':18446744073709551616,'event':'confirmed','gen':2,'time':'t','who':'w'}",
                "{'v':1,'seq':0,'event':'confirmed','gen':2,'time':'t','who':'w'}",
                "{'v':1,'seq':-1,'event':'confirmed','gen':2,'time':'t','who':'w'}",
                "{'v':1,'seq':01,'event':'confirmed','gen':2,'time':'t','who':'w'}",
                "{'v':1,'seq':1.0,'event':'confirmed','gen':2,'time':'t','who':'w'}",
                "{'v':1,'seq':1e0,'event':'confirmed','gen':2,'time':'t','who':'w'}",
                "{'v':1,'seq':1E0,'event':'confirmed','gen':2,'time':'t','who':'w'}",
                "{'v':1,'seq':'1','event':'confirmed','gen':2,'time':'t','who':'w'}",
                "{'v':1,'seq':null,'event':'confirmed','gen':2,'time':'t','who':'w'}",
                "{'v':1,'seq':1,'event':'confirmed','gen':-0,'time':'t','who':'w'}",
                "{'v':1,'seq':1,'event':'confirmed','gen':-2,'time':'t','who':'w'}",
                "{'v':1,'seq':1,'event':'accepted','gen':2,'time':'t','who':'w','config':{},'deadline':-5}",
                "{'v':1,'seq':1,'event':'accepted','gen':2,'time':'t','who':'w','config':{},'deadline':nul"
                "l}",
                "{'v':1,'seq':1,'event':'reverted','gen':2,'time':'t','who':'w','to':-1}",
                "{'v':1,'seq':1,'event':'reverted','gen':2,'time':'t','who':'w','reason':null}",
                "{'v':1,'seq':1,'event':'confirmed','gen':2,'time':'t','who':'w','to':3,'origin':4}",
                "{'v':1,'seq':1,'event':'confirmed','gen':2,'time':'t','who':'w','origin':-4}",
                /* The format number. */
                "{'v':2,'seq':1,'event':'confirmed','gen':2,'time':'t','who':'w'}",
                "{'v':2}",
                "{'v':2,'v':2}",
                "{'v':2,'x':[}",
                "{'v':0,'seq':1,'event':'confirmed','gen':2,'time':'t','who':'w'}",
                "{'v':1.0,'seq':1,'event':'confirmed','gen':2,'time':'t','who':'w'}",
                "{'v':'2','seq':1,'event':'confirmed','gen':2,'time':'t','who':'w'}",
                /* Not an object, or not one alone. */
                "[{'v':1,'seq':1,'event':'confirmed','gen':2,'time':'t','who':'w'}]",
                "{'v':1,'seq':1,'event':'confirmed','gen':2,'time':'t','who':'w'}{}",
                "{'v':1,'seq':1,'event':'confirmed','gen':2,'time':'t','who':'w',}",
                "{'v':1,'seq':1,'event':'confirmed','gen':2,'time':'t','who':'w'",
                "{}",
                "",
        };
        for (size_t i = 0; i < ELEMENTSOF(bodies); i++) {
                char what[64];
                snprintf(what, sizeof(what), "hand-written body %zu", i);
                check_body_agrees(bodies[i], what);
        }

        /* Strings at the lengths of the record's fields, either side. */
        const struct {
                const char *key;
                size_t size;
        } fits[] = { { "time", 32 }, { "who", 128 }, { "reason", 64 } };
        for (size_t i = 0; i < ELEMENTSOF(fits); i++)
                for (size_t n = fits[i].size - 2; n <= fits[i].size + 1; n++) {
                        char value[256], *body = NULL, what[64];
                        memset(value, 'x', n);
                        value[n] = '\0';
                        assert_true(asprintf(&body,
                                             "{\"v\":1,\"seq\":1,\"event\":\"reverted\",\"gen\":2,\"time\":\"t\","
                                             "\"who\":\"w\",\"reason\":\"r\",\"%s\":\"%s\"}",
                                             fits[i].key, value) > 0);
                        /* The key given twice would be refused: drop the first. */
                        char *first = strstr(body, fits[i].key);
                        char *comma = strchr(first, ',');
                        memmove(first - 1, comma + 1, strlen(comma + 1) + 1);
                        snprintf(what, sizeof(what), "\"%s\" of %zu bytes", fits[i].key, n);
                        check_body_agrees(body, what);
                        free(body);
                }

        /* Deep trees: fine for jansson up to its limit for the whole record. */
        const size_t depths[] = { 200, 255, 256, 257, 300, 2046, 2047, 2048 };
        for (size_t i = 0; i < ELEMENTSOF(depths); i++) {
                char *tree = nested(depths[i]), *body = NULL, what[64];
                assert_true(asprintf(&body,
                                     "{\"v\":1,\"seq\":1,\"event\":\"accepted\",\"gen\":2,\"time\":\"t\",\"who\":"
                                     "\"w\",\"config\":%s}",
                                     tree) > 0);
                snprintf(what, sizeof(what), "config %zu deep", depths[i]);
                check_body_agrees(body, what);
                free(body);
                free(tree);
        }

        /* Every byte of every encoded record replaced by one of these,
         * doubled, or dropped. */
        static const char repl[] = " \t\r\"\\{}[],:0129-+.eE\x01\x7f\x80\xc3x";
        for (int i = 0; i < 4; i++) {
                const char *body = lines[i] + 65;
                size_t blen = strlen(body) - 1;
                char *edit = malloc(blen + 2);
                assert_non_null(edit);
                for (size_t at = 0; at < blen; at++) {
                        char what[96];
                        for (size_t c = 0; c <= sizeof(repl) - 1; c++) {
                                memcpy(edit, body, blen);
                                edit[at] = c < sizeof(repl) - 1 ? repl[c] : '\0';
                                size_t len;
                                char *line = make_line_n(edit, blen, &len);
                                snprintf(what, sizeof(what), "record %d, byte %zu replaced by 0x%02x", i, at,
                                         (unsigned char) edit[at]);
                                check_decoders_agree(line, len, what);
                                free(line);
                        }
                        memcpy(edit, body, at + 1);
                        memcpy(edit + at + 1, body + at, blen - at);
                        size_t len;
                        char *line = make_line_n(edit, blen + 1, &len);
                        snprintf(what, sizeof(what), "record %d, byte %zu doubled", i, at);
                        check_decoders_agree(line, len, what);
                        free(line);
                        memcpy(edit, body, at);
                        memcpy(edit + at, body + at + 1, blen - at - 1);
                        line = make_line_n(edit, blen - 1, &len);
                        snprintf(what, sizeof(what), "record %d, byte %zu dropped", i, at);
                        check_decoders_agree(line, len, what);
                        free(line);
                }
                free(edit);
        }
        /* The edits must have exercised both answers. */
        if (n_accepted < 100 || n_agreeing - n_accepted < 100)
                fail_msg("only %zu lines accepted and %zu refused: the edits test too little", n_accepted,
                         n_agreeing - n_accepted);
        for (int i = 0; i < 4; i++)
                free(lines[i]);
        for (int i = 0; i < 3; i++)
                json_decref(owned[i]);
}

/* A replay shares the tree of a text it parsed already, so it must tell
 * texts apart exactly: records whose trees are alike, alike but for one
 * byte, or the same, each come back as they were written, checked
 * against a decode of their own line alone. */
static void test_replay_repeated_trees(void **state)
{
        char *dir = path_in(*state, "state");
        char *file = path_in(dir, JOURNAL);
        struct journal *j = open_ok(dir, 1000);
        enum { GENS = 300 };
        for (uint64_t gen = 1; gen <= GENS; gen++) {
                /* Configs of 5 kinds, so most repeat an earlier one; the
                 * before of one generation is the config of another. */
                json_t *config = config_for(gen % 5 + 1), *before = config_for(gen % 7 + 1);
                struct journal_record rec = {
                        .event = JOURNAL_ACCEPTED, .generation = gen, .config = config, .before = before
                };
                snprintf(rec.who, sizeof(rec.who), "admin");
                append_ok(j, &rec);
                json_decref(config);
                json_decref(before);
                add_applied(j, gen % 3 + 1);
        }
        size_t n;
        const struct journal_record *recs = journal_records(j, &n);
        assert_int_equal(n, 2 * GENS);
        char *written = encode_all(j);
        journal_close(j);

        j = open_ok(dir, 1000);
        check_recovery_clean(j, "reopen with repeated trees");
        recs = journal_records(j, &n);
        assert_int_equal(n, 2 * GENS);
        size_t len;
        char *text = slurp(file, &len);
        assert_string_equal(text, written);
        const char *p = text;
        for (size_t i = 0; i < n; i++) {
                const char *nl = strchr(p, '\n');
                assert_non_null(nl);
                struct journal_record alone;
                assert_int_equal(journal_decode(p, (size_t) (nl - p + 1), &alone), 0);
                char what[64];
                snprintf(what, sizeof(what), "record %zu after a replay", i);
                check_record_equal(&recs[i], &alone, what);
                journal_record_release(&alone);
                p = nl + 1;
        }
        char *again = encode_all(j);
        assert_string_equal(again, written);
        journal_close(j);
        free(again);
        free(text);
        free(written);
        free(file);
        free(dir);
}

/* A bad first line: the good lines after it are kept and the file
 * rewritten with them alone. */
static void test_corrupt_first(void **state)
{
        char *dir = path_in(*state, "state");
        char *file = path_in(dir, JOURNAL);
        struct journal *j = open_ok(dir, 10);
        add_accepted(j, 1, 0, 0);
        add_applied(j, 1);
        add_confirmed(j, 1);
        char *want = encode_all(j);
        journal_close(j);

        char *text = NULL;
        assert_true(asprintf(&text, "%064d {}\n%s", 0, want) > 0);
        spit(file, text, strlen(text));
        free(text);

        j = open_ok(dir, 10);
        assert_int_equal(journal_recovery(j)->corrupt_records, 1);
        char *records = encode_all(j);
        assert_string_equal(records, want);
        free(records);
        text = slurp(file, NULL);
        assert_string_equal(text, want);
        free(text);
        assert_int_equal(count_corrupt(dir, NULL, 0), 1);
        journal_close(j);
        free(want);
        free(file);
        free(dir);
}

static void test_open_empty(void **state)
{
        const char *tmp = *state;
        char *dir = path_in(tmp, "var/lib/hugepaged");
        struct journal *j = open_ok(dir, 3);

        struct stat st;
        assert_int_equal(stat(dir, &st), 0);
        assert_true(S_ISDIR(st.st_mode));
        if ((st.st_mode & 07777) != 0700)
                fail_msg("%s has mode %04o, expected 0700", dir, (unsigned) (st.st_mode & 07777));
        assert_string_equal(journal_dir(j), dir);

        char *file = path_in(dir, JOURNAL);
        if (stat(file, &st) != 0)
                fail_msg("journal_open did not create %s: %s", file, strerror(errno));
        assert_true(S_ISREG(st.st_mode));
        assert_int_equal(st.st_size, 0);

        size_t n = 99;
        journal_records(j, &n);
        assert_int_equal(n, 0);
        struct want_state none = { 0 };
        check_state(j, &none, "empty journal");
        assert_null(journal_find_accepted(j, 1));
        check_recovery_clean(j, "new journal");
        check_cloexec_under(dir);
        lock_ok(j);
        check_cloexec_under(dir);
        journal_unlock(j);
        journal_close(j);

        /* Reopening the empty journal is as clean. */
        j = open_ok(dir, 3);
        journal_records(j, &n);
        assert_int_equal(n, 0);
        check_recovery_clean(j, "reopened empty journal");
        assert_int_equal(stat(dir, &st), 0);
        assert_int_equal(st.st_mode & 07777, 0700);
        journal_close(j);
        journal_close(NULL);
        free(file);
        free(dir);
}

static void test_append_replay_reopen(void **state)
{
        char *dir = path_in(*state, "state");
        struct journal *j = open_ok(dir, 10);
        time_t t0 = time(NULL);

        /* append fills seq and time into the caller's record. */
        json_t *c1 = config_for(1), *b1 = before_for(1);
        struct journal_record first = {
                .event = JOURNAL_ACCEPTED,
                .generation = 1,
                .config = c1,
                .before = b1,
                .deadline = 1795000001,
        };
        snprintf(first.who, sizeof(first.who), "admin");
        append_ok(j, &first);
        json_decref(c1);
        json_decref(b1);
        assert_true(first.seq > 0);
        check_time(first.time, t0, time(NULL));
        size_t n;
        const struct journal_record *recs = journal_records(j, &n);
        assert_int_equal(n, 1);
        assert_int_equal(recs[0].seq, first.seq);
        assert_string_equal(recs[0].time, first.time);
        check_state(j,
                    &(struct want_state){ .max_generation = 1,
                                          .generation = 1,
                                          .config_gen = 1,
                                          .pending = true,
                                          .deadline = 1795000001,
                                          .before_gen = 1 },
                    "accepted 1");

        add_applied(j, 1);
        check_state(j,
                    &(struct want_state){ .max_generation = 1,
                                          .generation = 1,
                                          .config_gen = 1,
                                          .pending = true,
                                          .deadline = 1795000001,
                                          .before_gen = 1,
                                          .applied_gen = 1 },
                    "applied 1");
        add_confirmed(j, 1);
        check_state(j,
                    &(struct want_state){ .max_generation = 1,
                                          .generation = 1,
                                          .config_gen = 1,
                                          .confirmed_generation = 1,
                                          .confirmed_config_gen = 1,
                                          .applied_gen = 1 },
                    "confirmed 1");
        add_accepted(j, 2, 1795000002, 0);
        check_state(j,
                    &(struct want_state){ .max_generation = 2,
                                          .generation = 2,
                                          .config_gen = 2,
                                          .confirmed_generation = 1,
                                          .confirmed_config_gen = 1,
                                          .pending = true,
                                          .deadline = 1795000002,
                                          .before_gen = 2,
                                          .applied_gen = 1 },
                    "accepted 2");
        add_applied(j, 2);
        add_reverted(j, 2, 1, "deadline");
        check_state(j,
                    &(struct want_state){ .max_generation = 2,
                                          .generation = 1,
                                          .config_gen = 1,
                                          .confirmed_generation = 1,
                                          .confirmed_config_gen = 1,
                                          .applied_gen = ANY_APPLIED },
                    "reverted 2 to 1");

        /* Generation 3 brings generation 1's config back. */
        add_accepted(j, 3, 1795000003, 1);
        check_state(j,
                    &(struct want_state){ .max_generation = 3,
                                          .generation = 3,
                                          .config_gen = 1,
                                          .confirmed_generation = 1,
                                          .confirmed_config_gen = 1,
                                          .pending = true,
                                          .deadline = 1795000003,
                                          .before_gen = 3,
                                          .applied_gen = ANY_APPLIED },
                    "accepted 3 (origin 1)");
        add_applied(j, 3);
        add_confirmed(j, 3);
        struct want_state final = { .max_generation = 3,
                                    .generation = 3,
                                    .config_gen = 1,
                                    .confirmed_generation = 3,
                                    .confirmed_config_gen = 1,
                                    .applied_gen = 3 };
        check_state(j, &final, "confirmed 3");
        time_t t1 = time(NULL);

        recs = journal_records(j, &n);
        assert_int_equal(n, 9);
        static const enum journal_event events[] = {
                JOURNAL_ACCEPTED, JOURNAL_APPLIED,  JOURNAL_CONFIRMED, JOURNAL_ACCEPTED,  JOURNAL_APPLIED,
                JOURNAL_REVERTED, JOURNAL_ACCEPTED, JOURNAL_APPLIED,   JOURNAL_CONFIRMED,
        };
        static const uint64_t gens[] = { 1, 1, 1, 2, 2, 2, 3, 3, 3 };
        for (size_t i = 0; i < n; i++) {
                assert_int_equal(recs[i].event, events[i]);
                assert_int_equal(recs[i].generation, gens[i]);
                if (i > 0 && recs[i].seq <= recs[i - 1].seq)
                        fail_msg("record %zu has seq %" PRIu64 " after %" PRIu64, i, recs[i].seq,
                                 recs[i - 1].seq);
                check_time(recs[i].time, t0, t1);
        }
        assert_int_equal(recs[5].to, 1);
        assert_string_equal(recs[5].reason, "deadline");

        const struct journal_record *a = journal_find_accepted(j, 2);
        assert_non_null(a);
        assert_int_equal(a->event, JOURNAL_ACCEPTED);
        assert_int_equal(a->generation, 2);
        json_t *c2 = config_for(2);
        check_json(a->config, c2, "accepted 2's config");
        json_decref(c2);
        a = journal_find_accepted(j, 3);
        assert_non_null(a);
        assert_int_equal(a->origin, 1);
        assert_null(journal_find_accepted(j, 4));
        assert_null(journal_find_accepted(j, 0));
        check_file(j);

        /* A reopened journal holds the same records and replays the same. */
        char *before = encode_all(j);
        struct snap s1, s2;
        snap_take(j, &s1);
        journal_close(j);
        j = open_ok(dir, 10);
        check_recovery_clean(j, "reopen");
        char *after = encode_all(j);
        assert_string_equal(after, before);
        snap_take(j, &s2);
        snap_check_equal(&s2, &s1, "reopened");
        check_state(j, &final, "reopened");
        check_file(j);

        snap_release(&s1);
        snap_release(&s2);
        free(before);
        free(after);
        journal_close(j);
        free(dir);
}

static void test_revert_to_nothing(void **state)
{
        char *dir = path_in(*state, "state");
        struct journal *j = open_ok(dir, 3);
        add_accepted(j, 1, 1795000001, 0);
        add_applied(j, 1);
        add_reverted(j, 1, 0, "restart");
        struct journal_state st;
        struct want_state nothing = { .max_generation = 1, .applied_gen = ANY_APPLIED };
        check_state(j, &nothing, "reverted 1 to 0");
        journal_close(j);

        j = open_ok(dir, 3);
        check_state(j, &nothing, "reopened after reverting 1 to 0");
        /* Generations are never given out twice: max_generation stays. */
        add_accepted(j, 2, 0, 0);
        journal_state(j, &st);
        assert_int_equal(st.max_generation, 2);
        assert_int_equal(st.generation, 2);
        journal_close(j);
        free(dir);
}

static void test_torn_tail(void **state)
{
        char *dir = path_in(*state, "state");
        char *file = path_in(dir, JOURNAL);
        struct journal *j = open_ok(dir, 10);
        add_accepted(j, 1, 1795000001, 0);
        add_applied(j, 1);
        add_confirmed(j, 1);
        char *good = encode_all(j);
        journal_close(j);

        size_t good_len;
        char *on_disk = slurp(file, &good_len);
        assert_string_equal(on_disk, good);
        free(on_disk);

        /* The first half of a fourth line, as a crash mid-write leaves it. */
        json_t *c = config_for(2);
        struct journal_record next = { .seq = 4, .event = JOURNAL_ACCEPTED, .generation = 2, .config = c };
        snprintf(next.time, sizeof(next.time), "2026-11-27T10:00:00Z");
        char *line = journal_encode(&next);
        json_decref(c);
        size_t half = strlen(line) / 2;
        append_raw(file, line, half);

        j = open_ok(dir, 10);
        size_t n;
        journal_records(j, &n);
        assert_int_equal(n, 3);
        const struct journal_recovery *rec = journal_recovery(j);
        assert_true(rec->torn_tail);
        if (!rec->message[0])
                fail_msg("recovery message is empty after cutting a torn tail");
        char name[256];
        assert_int_equal(count_corrupt(dir, name, sizeof(name)), 1);
        if (!strstr(rec->saved_as, name))
                fail_msg("saved_as \"%s\" does not name %s", rec->saved_as, name);
        char *saved_path = path_in(dir, name);
        size_t saved_len;
        char *saved = slurp(saved_path, &saved_len);
        assert_int_equal(saved_len, half);
        assert_memory_equal(saved, line, half);
        free(saved);

        struct stat st;
        assert_int_equal(stat(file, &st), 0);
        assert_int_equal(st.st_size, good_len);
        on_disk = slurp(file, NULL);
        assert_string_equal(on_disk, good);
        free(on_disk);
        char *records = encode_all(j);
        assert_string_equal(records, good);
        free(records);

        /* Appending afterwards starts on a line of its own. */
        add_accepted(j, 2, 1795000002, 0);
        journal_records(j, &n);
        assert_int_equal(n, 4);
        check_file(j);
        char *four = encode_all(j);
        journal_close(j);

        j = open_ok(dir, 10);
        journal_records(j, &n);
        assert_int_equal(n, 4);
        check_recovery_clean(j, "reopen after the cut and an append");
        records = encode_all(j);
        assert_string_equal(records, four);
        check_file(j);
        assert_int_equal(count_corrupt(dir, NULL, 0), 1);
        journal_close(j);

        free(records);
        free(four);
        free(saved_path);
        free(line);
        free(good);
        free(file);
        free(dir);
}

static void test_corrupt_middle(void **state)
{
        char *dir = path_in(*state, "state");
        char *file = path_in(dir, JOURNAL);
        struct journal *j = open_ok(dir, 10);
        add_accepted(j, 1, 1795000001, 0);
        add_applied(j, 1);
        add_confirmed(j, 1);
        add_accepted(j, 2, 1795000002, 0);
        size_t n;
        const struct journal_record *recs = journal_records(j, &n);
        assert_int_equal(n, 4);
        char *lines[4];
        for (int i = 0; i < 4; i++)
                lines[i] = journal_encode(&recs[i]);
        journal_close(j);

        /* One byte in the middle of the second line's JSON goes bad. */
        char *damaged = strdup(lines[1]);
        size_t damaged_len = strlen(damaged);
        size_t at = 65 + (damaged_len - 66) / 2;
        damaged[at] = (char) (damaged[at] ^ 0x01);
        char *text = NULL;
        assert_true(asprintf(&text, "%s%s%s%s", lines[0], damaged, lines[2], lines[3]) > 0);
        spit(file, text, strlen(text));
        free(text);

        j = open_ok(dir, 10);
        recs = journal_records(j, &n);
        assert_int_equal(n, 3);
        const struct journal_recovery *rec = journal_recovery(j);
        assert_int_equal(rec->corrupt_records, 1);
        assert_false(rec->torn_tail);
        if (!rec->message[0])
                fail_msg("recovery message is empty after setting a record aside");
        char name[256];
        assert_int_equal(count_corrupt(dir, name, sizeof(name)), 1);
        if (!strstr(rec->saved_as, name))
                fail_msg("saved_as \"%s\" does not name %s", rec->saved_as, name);
        char *saved_path = path_in(dir, name);
        size_t saved_len;
        char *saved = slurp(saved_path, &saved_len);
        if (saved_len && saved[saved_len - 1] == '\n')
                saved_len--;
        if (saved_len != damaged_len - 1 || memcmp(saved, damaged, saved_len) != 0)
                fail_msg("%s holds \"%s\", expected the damaged line \"%s\"", saved_path, saved, damaged);
        free(saved);

        /* The records are the good ones, unchanged, and the file was
         * rewritten without the bad line. */
        char *want = NULL;
        assert_true(asprintf(&want, "%s%s%s", lines[0], lines[2], lines[3]) > 0);
        char *records = encode_all(j);
        assert_string_equal(records, want);
        free(records);
        text = slurp(file, NULL);
        assert_string_equal(text, want);
        free(text);
        journal_close(j);

        j = open_ok(dir, 10);
        check_recovery_clean(j, "reopen after setting a record aside");
        records = encode_all(j);
        assert_string_equal(records, want);
        free(records);
        assert_int_equal(count_corrupt(dir, NULL, 0), 1);
        journal_close(j);

        for (int i = 0; i < 4; i++)
                free(lines[i]);
        free(want);
        free(saved_path);
        free(damaged);
        free(file);
        free(dir);
}

/* A complete last line that fails its checksum is a corrupt tail: cut and
 * saved aside like a torn one. */
static void test_corrupt_tail(void **state)
{
        char *dir = path_in(*state, "state");
        char *file = path_in(dir, JOURNAL);
        struct journal *j = open_ok(dir, 10);
        add_accepted(j, 1, 1795000001, 0);
        add_applied(j, 1);
        add_confirmed(j, 1);
        size_t n;
        const struct journal_record *recs = journal_records(j, &n);
        assert_int_equal(n, 3);
        char *lines[3];
        for (int i = 0; i < 3; i++)
                lines[i] = journal_encode(&recs[i]);
        journal_close(j);

        char *damaged = strdup(lines[2]);
        size_t damaged_len = strlen(damaged);
        size_t at = 65 + (damaged_len - 66) / 2;
        damaged[at] = (char) (damaged[at] ^ 0x01);
        char *text = NULL;
        assert_true(asprintf(&text, "%s%s%s", lines[0], lines[1], damaged) > 0);
        spit(file, text, strlen(text));
        free(text);

        j = open_ok(dir, 10);
        journal_records(j, &n);
        assert_int_equal(n, 2);
        const struct journal_recovery *rec = journal_recovery(j);
        assert_true(rec->torn_tail);
        if (!rec->message[0])
                fail_msg("recovery message is empty after cutting a corrupt tail");
        char name[256];
        assert_int_equal(count_corrupt(dir, name, sizeof(name)), 1);
        if (!strstr(rec->saved_as, name))
                fail_msg("saved_as \"%s\" does not name %s", rec->saved_as, name);
        char *saved_path = path_in(dir, name);
        size_t saved_len;
        char *saved = slurp(saved_path, &saved_len);
        if (saved_len != damaged_len || memcmp(saved, damaged, saved_len) != 0)
                fail_msg("%s holds \"%s\", expected the damaged line \"%s\"", saved_path, saved, damaged);
        free(saved);
        char *want = NULL;
        assert_true(asprintf(&want, "%s%s", lines[0], lines[1]) > 0);
        text = slurp(file, NULL);
        assert_string_equal(text, want);
        free(text);
        check_file(j);
        journal_close(j);

        j = open_ok(dir, 10);
        check_recovery_clean(j, "reopen after cutting a corrupt tail");
        journal_close(j);

        for (int i = 0; i < 3; i++)
                free(lines[i]);
        free(want);
        free(saved_path);
        free(damaged);
        free(file);
        free(dir);
}

/* Writes a journal of the given lines (mtime aged), then checks that
 * journal_open refuses it with want (0 = any error) and leaves it be. */
static void check_open_refused(const char *dir, const char *text, size_t len, int want, const char *what)
{
        assert_true(mkdir(dir, 0700) == 0 || errno == EEXIST);
        char *file = path_in(dir, JOURNAL);
        spit(file, text, len);
        age(file);
        struct file_snap before;
        file_take(file, &before);

        struct errbuf err = { "" };
        struct journal *j = (struct journal *) &before; /* a sentinel */
        int r = journal_open(dir, 3, &j, &err);
        if (r == 0) {
                journal_close(j);
                fail_msg("%s: journal_open returned 0, expected %d", what, want);
        }
        if (want && r != want)
                fail_msg("%s: journal_open returned %d (%s), expected %d (%s)", what, r, err.msg, want,
                         strerror(-want));
        if (j != (struct journal *) &before)
                fail_msg("%s: journal_open wrote its result on failure", what);
        if (!err.msg[0])
                fail_msg("%s: journal_open failed without a message", what);
        file_check_unchanged(file, &before, what);
        free(before.bytes);
        free(file);
}

static void test_newer_format_refused(void **state)
{
        struct journal_record recs[4];
        json_t *owned[3];
        example_records(recs, owned);
        recs[1].seq = 8;
        char *l1 = journal_encode(&recs[0]);
        char *l2 = edited_line(&recs[1], v2_reshaped);
        char *l3 = journal_encode(&recs[2]);

        /* A newer record between ones this binary knows. */
        char *dir = path_in(*state, "middle");
        char *text = NULL;
        assert_true(asprintf(&text, "%s%s%s", l1, l2, l3) > 0);
        check_open_refused(dir, text, strlen(text), -EPROTONOSUPPORT, "\"v\":2 on line 2 of 3");
        assert_int_equal(count_corrupt(dir, NULL, 0), 0);
        check_only_journal(dir, "\"v\":2 on line 2 of 3");
        free(text);
        free(dir);

        /* A newer record last. */
        dir = path_in(*state, "last");
        assert_true(asprintf(&text, "%s%s", l1, l2) > 0);
        check_open_refused(dir, text, strlen(text), -EPROTONOSUPPORT, "\"v\":2 on the last line");
        assert_int_equal(count_corrupt(dir, NULL, 0), 0);
        check_only_journal(dir, "\"v\":2 on the last line");
        free(text);
        free(dir);

        free(l1);
        free(l2);
        free(l3);
        for (int i = 0; i < 3; i++)
                json_decref(owned[i]);
}

static void test_unreadable_refused(void **state)
{
        /* A binary blob: lines of every byte value, no LF at its end. */
        char blob[4096];
        for (size_t i = 0; i < sizeof(blob); i++)
                blob[i] = (char) (i % 256);
        char *dir = path_in(*state, "blob");
        check_open_refused(dir, blob, sizeof(blob), 0, "a binary blob");
        free(dir);

        /* Text lines without checksums, each ending in LF. */
        static const char text[] = "hello\nworld\n{\"v\":1,\"seq\":1}\n";
        dir = path_in(*state, "text");
        check_open_refused(dir, text, strlen(text), 0, "lines without checksums");
        free(dir);
}

/* The records of j, each encoded, into a new array. */
static char **encode_each(const struct journal *j, size_t *ret_n, uint64_t **ret_gens)
{
        size_t n;
        const struct journal_record *recs = journal_records(j, &n);
        char **lines = calloc(n + 1, sizeof(char *));
        uint64_t *gens = calloc(n + 1, sizeof(uint64_t));
        assert_non_null(lines);
        assert_non_null(gens);
        for (size_t i = 0; i < n; i++) {
                lines[i] = journal_encode(&recs[i]);
                gens[i] = recs[i].generation;
        }
        *ret_n = n;
        *ret_gens = gens;
        return lines;
}

static void free_lines(char **lines, size_t n)
{
        for (size_t i = 0; i < n; i++)
                free(lines[i]);
        free(lines);
}

static bool in(uint64_t g, const uint64_t *set, size_t n)
{
        for (size_t i = 0; i < n; i++)
                if (set[i] == g)
                        return true;
        return false;
}

/* Compacts j and checks: exactly the earlier records of the kept
 * generations remain, in order and unchanged; state is the same; the file
 * was replaced (not rewritten in place), nothing is left beside it; a
 * reopen sees the same. */
static void compact_and_check(struct journal *j, const uint64_t *keep, size_t n_keep, size_t want_n)
{
        const char *dir = journal_dir(j);
        char *file = path_in(dir, JOURNAL);
        size_t n_pre;
        uint64_t *gens_pre;
        char **pre = encode_each(j, &n_pre, &gens_pre);
        struct snap s_pre, s_post;
        snap_take(j, &s_pre);
        struct stat st_pre, st_post;
        assert_int_equal(stat(file, &st_pre), 0);

        struct errbuf err = { "" };
        lock_ok(j);
        int r = journal_compact(j, &err);
        journal_unlock(j);
        if (r != 0)
                fail_msg("journal_compact returned %d (%s), expected 0", r, err.msg);

        size_t n_post;
        uint64_t *gens_post;
        char **post = encode_each(j, &n_post, &gens_post);
        for (size_t i = 0; i < n_post; i++)
                if (!in(gens_post[i], keep, n_keep))
                        fail_msg("after compaction record %zu is of generation %" PRIu64 ", not one to keep",
                                 i, gens_post[i]);
        size_t k = 0;
        for (size_t i = 0; i < n_pre; i++) {
                if (!in(gens_pre[i], keep, n_keep))
                        continue;
                if (k >= n_post)
                        fail_msg("compaction dropped record %s", pre[i]);
                if (strcmp(post[k], pre[i]) != 0)
                        fail_msg("after compaction record %zu is\n%s\nexpected\n%s", k, post[k], pre[i]);
                k++;
        }
        assert_int_equal(n_post, k);
        assert_int_equal(n_post, want_n);
        snap_take(j, &s_post);
        snap_check_equal(&s_post, &s_pre, "after compaction");
        check_file(j);
        check_only_journal(dir, "after compaction");
        assert_int_equal(stat(file, &st_post), 0);
        if (n_pre > n_post && st_post.st_ino == st_pre.st_ino)
                fail_msg("compaction rewrote %s in place (inode %ju), expected a rename over it", file,
                         (uintmax_t) st_post.st_ino);

        char *all = encode_all(j);
        char *path = strdup(dir);
        struct journal *again = open_ok(path, 3);
        check_recovery_clean(again, "reopen after compaction");
        char *all_again = encode_all(again);
        assert_string_equal(all_again, all);
        struct snap s_again;
        snap_take(again, &s_again);
        snap_check_equal(&s_again, &s_pre, "reopened after compaction");
        snap_release(&s_again);
        journal_close(again);

        free(all_again);
        free(all);
        free(path);
        snap_release(&s_pre);
        snap_release(&s_post);
        free_lines(pre, n_pre);
        free_lines(post, n_post);
        free(gens_pre);
        free(gens_post);
        free(file);
}

static void test_compaction(void **state)
{
        char *dir = path_in(*state, "state");
        struct journal *j = open_ok(dir, 3);
        for (uint64_t g = 1; g <= 20; g++) {
                add_accepted(j, g, (int64_t) (1795000000 + g), 0);
                add_applied(j, g);
                add_confirmed(j, g);
        }
        check_state(j,
                    &(struct want_state){ .max_generation = 20,
                                          .generation = 20,
                                          .config_gen = 20,
                                          .confirmed_generation = 20,
                                          .confirmed_config_gen = 20,
                                          .applied_gen = 20 },
                    "20 generations");
        const uint64_t keep[] = { 18, 19, 20 };
        compact_and_check(j, keep, ELEMENTSOF(keep), 9);
        assert_non_null(journal_find_accepted(j, 18));
        assert_null(journal_find_accepted(j, 17));

        /* Appending goes on after compaction, with seq still rising. */
        size_t n;
        const struct journal_record *recs = journal_records(j, &n);
        uint64_t last_seq = recs[n - 1].seq;
        add_accepted(j, 21, 1795000021, 0);
        recs = journal_records(j, &n);
        assert_int_equal(n, 10);
        if (recs[n - 1].seq <= last_seq)
                fail_msg("seq %" PRIu64 " after compaction, not above %" PRIu64, recs[n - 1].seq, last_seq);
        check_file(j);
        journal_close(j);
        free(dir);
}

/* The confirmed generation's records survive compaction when it is older
 * than the newest generations. */
static void test_compaction_keeps_confirmed(void **state)
{
        char *dir = path_in(*state, "state");
        struct journal *j = open_ok(dir, 3);
        for (uint64_t g = 1; g <= 10; g++) {
                add_accepted(j, g, (int64_t) (1795000000 + g), 0);
                add_applied(j, g);
                add_confirmed(j, g);
        }
        for (uint64_t g = 11; g <= 15; g++) {
                add_accepted(j, g, (int64_t) (1795000000 + g), 0);
                add_applied(j, g);
                add_reverted(j, g, 10, "deadline");
        }
        struct journal_state st;
        struct want_state want = { .max_generation = 15,
                                   .generation = 10,
                                   .config_gen = 10,
                                   .confirmed_generation = 10,
                                   .confirmed_config_gen = 10,
                                   .applied_gen = ANY_APPLIED };
        check_state(j, &want, "five reverted after 10");
        const uint64_t keep[] = { 10, 13, 14, 15 };
        compact_and_check(j, keep, ELEMENTSOF(keep), 12);
        const struct journal_record *a = journal_find_accepted(j, 10);
        assert_non_null(a);
        json_t *c10 = config_for(10);
        check_json(a->config, c10, "generation 10's config after compaction");
        json_decref(c10);
        journal_state(j, &st);
        assert_int_equal(st.generation, 10);
        assert_int_equal(st.confirmed_generation, 10);
        assert_int_equal(st.max_generation, 15);
        journal_close(j);
        free(dir);
}

/* Applying the config in force again (an idempotent PUT, the boot path)
 * adds an "applied" record each time; compaction keeps only the last one
 * of a generation, so the journal stays bounded however often that is
 * done, and the state read back is the same. */
static void test_reapplies_stay_bounded(void **state)
{
        char *dir = path_in(*state, "state");
        struct journal *j = open_ok(dir, 2);
        add_accepted(j, 1, 0, 0);
        add_applied(j, 1);
        add_confirmed(j, 1);
        size_t most = 0;
        for (int i = 0; i < 1200; i++) {
                add_applied(j, 1);
                size_t n;
                journal_records(j, &n);
                most = n > most ? n : most;
        }
        /* The bound: compaction starts past keep * 8 + 64 = 80 records. */
        if (most > 81)
                fail_msg("the journal grew to %zu records over 1200 re-applies, expected at most 81", most);
        struct stat st;
        char *file = path_in(dir, "journal");
        assert_int_equal(stat(file, &st), 0);
        if (st.st_size > 64 * 1024)
                fail_msg("the journal file is %lld bytes after 1200 re-applies, expected a few kB",
                         (long long) st.st_size);
        struct want_state want = { .max_generation = 1,
                                   .generation = 1,
                                   .config_gen = 1,
                                   .confirmed_generation = 1,
                                   .confirmed_config_gen = 1,
                                   .applied_gen = 1 };
        check_state(j, &want, "after 1200 re-applies");
        journal_close(j);
        /* And from the file, as the next start reads it. */
        j = open_ok(dir, 2);
        check_state(j, &want, "reopened after 1200 re-applies");
        journal_close(j);
        free(file);
        free(dir);
}

/* Two handles on one directory, like the service and a console command. */
static void test_two_handles(void **state)
{
        char *dir = path_in(*state, "state");
        struct journal *a = open_ok(dir, 3);
        struct journal *b = open_ok(dir, 3);

        lock_ok(a);
        /* The lock is an exclusive flock on "lock": others wait. */
        char *lock_path = path_in(dir, "lock");
        int fd = open(lock_path, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
                fail_msg("cannot open %s: %s", lock_path, strerror(errno));
        if (flock(fd, LOCK_EX | LOCK_NB) == 0)
                fail_msg("%s is not flocked while journal_lock is held", lock_path);
        assert_int_equal(errno, EWOULDBLOCK);
        json_t *c1 = config_for(1);
        struct journal_record rec = {
                .event = JOURNAL_ACCEPTED, .generation = 1, .config = c1, .deadline = 1795000001
        };
        struct errbuf err = { "" };
        int r = journal_append(a, &rec, &err);
        journal_unlock(a);
        json_decref(c1);
        if (r != 0)
                fail_msg("journal_append returned %d (%s), expected 0", r, err.msg);
        if (flock(fd, LOCK_EX | LOCK_NB) != 0)
                fail_msg("%s is still flocked after journal_unlock: %s", lock_path, strerror(errno));
        flock(fd, LOCK_UN);
        close(fd);

        /* B's lock refreshes: B sees A's record. */
        lock_ok(b);
        size_t n;
        journal_records(b, &n);
        assert_int_equal(n, 1);
        struct journal_state st;
        journal_state(b, &st);
        assert_int_equal(st.generation, 1);
        assert_int_equal(st.max_generation, 1);
        assert_true(st.pending);
        journal_unlock(b);

        /* B appends; A's refresh sees it. */
        add_applied(b, 1);
        err.msg[0] = '\0';
        r = journal_refresh(a, &err);
        if (r != 0)
                fail_msg("journal_refresh returned %d (%s), expected 0", r, err.msg);
        journal_records(a, &n);
        assert_int_equal(n, 2);
        char *ea = encode_all(a), *eb = encode_all(b);
        assert_string_equal(ea, eb);
        free(ea);
        free(eb);

        /* A writes more generations and compacts; B, still holding the
         * old file open, sees the compacted journal after its lock. */
        add_confirmed(a, 1);
        for (uint64_t g = 2; g <= 8; g++) {
                add_accepted(a, g, 0, 0);
                add_applied(a, g);
                add_confirmed(a, g);
        }
        lock_ok(a);
        r = journal_compact(a, &err);
        journal_unlock(a);
        if (r != 0)
                fail_msg("journal_compact returned %d (%s), expected 0", r, err.msg);
        lock_ok(b);
        journal_unlock(b);
        ea = encode_all(a);
        eb = encode_all(b);
        assert_string_equal(eb, ea);
        free(ea);
        free(eb);
        check_file(b);

        /* B appends to the compacted file; A sees it with a fresh seq. */
        add_accepted(b, 9, 1795000009, 0);
        lock_ok(a);
        const struct journal_record *recs = journal_records(a, &n);
        assert_int_equal(recs[n - 1].generation, 9);
        for (size_t i = 1; i < n; i++)
                if (recs[i].seq <= recs[i - 1].seq)
                        fail_msg("record %zu has seq %" PRIu64 " after %" PRIu64, i, recs[i].seq,
                                 recs[i - 1].seq);
        journal_state(a, &st);
        assert_int_equal(st.max_generation, 9);
        assert_int_equal(st.generation, 9);
        journal_unlock(a);
        check_file(a);

        ea = encode_all(a);
        journal_close(a);
        journal_close(b);
        struct journal *c = open_ok(dir, 3);
        char *ec = encode_all(c);
        assert_string_equal(ec, ea);
        check_recovery_clean(c, "third handle");
        journal_close(c);
        free(ea);
        free(ec);
        free(lock_path);
        free(dir);
}

/* A full disk: an append that does not fit fails with -ENOSPC and leaves
 * the journal as it was; every acknowledged record is still there. */
static void test_disk_full(void **state)
{
        char *mnt = path_in(*state, "tiny");
        assert_int_equal(mkdir(mnt, 0700), 0);
        char cmd[8192];
        snprintf(cmd, sizeof(cmd), "mount -t tmpfs -o size=64k tmpfs '%s' 2>/dev/null", mnt);
        if (system(cmd) != 0) {
                print_message("cannot mount a 64 KiB tmpfs on %s (not root?): skipped\n", mnt);
                free(mnt);
                skip();
        }
        snprintf(mounted, sizeof(mounted), "%s", mnt);

        /* A filler to free later, to show the journal recovers. */
        char *filler = path_in(mnt, "filler");
        static char zeros[16384];
        spit(filler, zeros, sizeof(zeros));

        char *dir = path_in(mnt, "state");
        char *file = path_in(dir, JOURNAL);
        struct journal *j = open_ok(dir, 1000);
        char pad[1500];
        memset(pad, 'x', sizeof(pad) - 1);
        pad[sizeof(pad) - 1] = '\0';
        uint64_t acked = 0;
        size_t acked_size = 0;
        int r = 0;
        struct errbuf err = { "" };
        for (uint64_t g = 1; g <= 200; g++) {
                json_t *config =
                        json_pack("{s:{s:{s:I}},s:s}", "pools", "2Mi", "count", (json_int_t) g, "note", pad);
                struct journal_record rec = {
                        .event = JOURNAL_ACCEPTED,
                        .generation = g,
                        .config = config,
                        .deadline = 0,
                };
                snprintf(rec.who, sizeof(rec.who), "admin");
                err.msg[0] = '\0';
                r = try_append(j, &rec, &err);
                json_decref(config);
                if (r != 0)
                        break;
                acked = g;
                struct stat st;
                assert_int_equal(stat(file, &st), 0);
                acked_size = (size_t) st.st_size;
        }
        if (r != -ENOSPC)
                fail_msg("after %" PRIu64 " appends, journal_append returned %d (%s), expected %d (ENOSPC)",
                         acked, r, err.msg, -ENOSPC);
        assert_true(acked >= 1);

        /* Unchanged: the records in memory, the file, the state. */
        size_t n;
        journal_records(j, &n);
        assert_int_equal(n, acked);
        struct stat st;
        assert_int_equal(stat(file, &st), 0);
        assert_int_equal(st.st_size, acked_size);
        check_file(j);
        struct journal_state js;
        journal_state(j, &js);
        assert_int_equal(js.generation, acked);
        assert_int_equal(js.max_generation, acked);
        journal_close(j);

        j = open_ok(dir, 1000);
        journal_records(j, &n);
        assert_int_equal(n, acked);
        check_recovery_clean(j, "reopen on a full disk");
        check_file(j);

        /* With room again, appending works. */
        assert_int_equal(unlink(filler), 0);
        add_accepted(j, acked + 1, 0, 0);
        journal_close(j);
        j = open_ok(dir, 1000);
        journal_records(j, &n);
        assert_int_equal(n, acked + 1);
        check_recovery_clean(j, "reopen after freeing space");
        journal_close(j);

        free(file);
        free(dir);
        free(filler);
        free(mnt);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_event_names),
                cmocka_unit_test(test_encode_format),
                cmocka_unit_test(test_decode_round_trip),
                cmocka_unit_test(test_decode_damaged),
                cmocka_unit_test(test_decode_newer_format),
                cmocka_unit_test(test_decode_agrees_with_jansson),
                cmocka_unit_test_setup_teardown(test_open_empty, setup, teardown),
                cmocka_unit_test_setup_teardown(test_append_replay_reopen, setup, teardown),
                cmocka_unit_test_setup_teardown(test_revert_to_nothing, setup, teardown),
                cmocka_unit_test_setup_teardown(test_torn_tail, setup, teardown),
                cmocka_unit_test_setup_teardown(test_corrupt_middle, setup, teardown),
                cmocka_unit_test_setup_teardown(test_corrupt_tail, setup, teardown),
                cmocka_unit_test_setup_teardown(test_corrupt_first, setup, teardown),
                cmocka_unit_test_setup_teardown(test_replay_repeated_trees, setup, teardown),
                cmocka_unit_test_setup_teardown(test_newer_format_refused, setup, teardown),
                cmocka_unit_test_setup_teardown(test_unreadable_refused, setup, teardown),
                cmocka_unit_test_setup_teardown(test_compaction, setup, teardown),
                cmocka_unit_test_setup_teardown(test_compaction_keeps_confirmed, setup, teardown),
                cmocka_unit_test_setup_teardown(test_reapplies_stay_bounded, setup, teardown),
                cmocka_unit_test_setup_teardown(test_two_handles, setup, teardown),
                cmocka_unit_test_setup_teardown(test_disk_full, setup, teardown),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
