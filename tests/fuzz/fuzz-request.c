/* libFuzzer target: the whole request path, from a decoded request to the
 * answer, as server/http.c drives it: dispatch_precheck when a body is
 * coming, dispatch_run, dispatch_answered, and the response serialized as
 * the transport would. Everything but the network is real: the route
 * table, CORS, the token store, the handlers, the change protocol, the
 * journal (on a tmpfs) and a private copy of the x86-2node fixture behind
 * a fake kernel, with a kernel command line for GET /status to compare the
 * boot arguments with.
 *
 * The input format (tests/fuzz/README.md has examples) is HTTP-like text,
 * so seeds can be written by hand:
 *
 *   input    = [ "@journal " ("empty" | "history" | "full") LF ]
 *              request *( LF "%%" LF request )     at most 8 requests
 *   request  = "@expire"                            a pending window runs out now
 *            | line LF *( header LF ) [ LF body ]
 *   line     = METHOD [ SP TARGET [ SP anything ] ]  TARGET = path [ "?" query ]
 *   header   = name ":" [ OWS ] value               at most 24; the first of a name wins
 *   body     = any bytes, up to the next LF "%%" LF
 *
 * The path and the query arguments ("a=1&confirm_within=30") are
 * percent-decoded, and a path spelling "%2F", "%5C" or "%00" is marked as
 * rejected, as server/http.c does. Header names are matched without
 * case. Names that start with ':' are not headers but what the transport
 * knows about the connection, or the service's options:
 *
 *   :cert-subject: DN     a client certificate with this subject verified
 *   :cert-rejected        a client certificate did not verify
 *   :cert-role: read      certificates get the read role (default admin)
 *   :peer: ADDR           the client address (default 127.0.0.1)
 *   :anonymous-read       --anonymous-read
 *   :require-if-match     --require-if-match
 *
 * Tokens: "Authorization: Bearer " ADMIN_TOKEN or READ_TOKEN (below).
 *
 * Every input starts from the same state, so that a crash reproduces from
 * its input alone: the fixture's files the fake kernel wrote are restored,
 * and the journal is replaced by a fresh one, empty or a prepared history
 * ("history": five generations, one reverted and one rolled back; "full":
 * a few records short of compaction). So the journal never grows beyond
 * what eight requests add. The confirm-window watcher thread is not
 * started: it would revert at its own pace and make runs irreproducible,
 * and nothing else waits (the apply lock is never contended here). The
 * "@expire" request does what the watcher does when a window runs out.
 *
 * Besides crashes, leaks and undefined behaviour, these are checked, and a
 * violation aborts with a message (HUGEPAGED_FUZZ_ORACLE=0 turns them off):
 * no -ENOMEM from the request path (nothing runs out of memory here); a
 * status from 100 to 599; no 5xx answer (this machine, disk and journal
 * never fail); every problem document has type, title, status and detail;
 * every body serializes to JSON.
 *
 * HUGEPAGED_FUZZ_SKIP_KNOWN=1 steps around the bugs in FOUND.md,
 * which would otherwise stop every run within seconds: inputs holding a
 * NUL byte are skipped (the JSON scanner hangs on one), and violations by
 * inputs holding a byte over 0x7f, as such or percent-encoded, are
 * forgiven (findings and details cut inside a UTF-8 character).
 *
 * The service logs audit lines to stderr; they are dropped unless
 * HUGEPAGED_FUZZ_LOG=1. HUGEPAGED_FUZZ_TRACE=1 prints every answer, which
 * helps when writing seeds. libFuzzer's own output and sanitizer reports still
 * reach stderr: libFuzzer keeps the FILE it captured at start-up, and the
 * sanitizers write to fd 2. */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../../handlers/app.h"
#include "../../model/change.h"
#include "../../model/sysfs.h"
#include "../../model/thp.h"
#include "../../server/auth.h"
#include "../../server/dispatch.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The fake kernel (below) sits behind the I/O seam: the target is linked
 * with -Wl,--wrap of both write functions. */
int __real_sysfs_write_u64(const struct sysfs *fs, const char *rel, uint64_t value, struct errbuf *err);
int __wrap_sysfs_write_u64(const struct sysfs *fs, const char *rel, uint64_t value, struct errbuf *err);
int __wrap_sysfs_write_word(const struct sysfs *fs, const char *rel, const char *word, struct errbuf *err);

#define ADMIN_TOKEN "fuzz-admin-0123456789abcdef"
#define READ_TOKEN "fuzz-read-0123456789abcdef"
#define MAX_REQUESTS 8
#define MAX_HEADERS 24
#define MAX_ARGS 8
#define MAX_BODY 4096
#define HISTORY 2 /* generations the journal keeps: compaction after 2 * 8 + 64 records */

static const char openapi_doc[] =
        "{\"openapi\": \"3.1.0\", \"info\": {\"title\": \"hugepaged\", \"version\": \"fuzz\"}}";
static const char *const cors_origins[] = { "https://dash.example:8443", "http://localhost:3000" };

static char root[4096];  /* the temporary directory */
static char state[4096]; /* root/state: the journal's directory */
static struct app app;
static struct auth_store auth;
static struct dispatch dispatch;
static bool oracle = true;
static bool skip_known;         /* HUGEPAGED_FUZZ_SKIP_KNOWN=1 */
static bool trace;              /* HUGEPAGED_FUZZ_TRACE=1: every answer on stderr */
static FILE *out;               /* the real stderr, for our own messages */
static const uint8_t *cur_data; /* the input, for messages */
static size_t cur_size;

/* Whether the input holds a byte over 0x7f, as such or percent-encoded. */
static bool non_ascii_input(void)
{
        for (size_t i = 0; i < cur_size; i++)
                if (cur_data[i] >= 0x80 ||
                    (cur_data[i] == '%' && i + 2 < cur_size && cur_data[i + 1] != '\0' &&
                     strchr("89abcdefABCDEF", cur_data[i + 1]) && isxdigit(cur_data[i + 2])))
                        return true;
        return false;
}

static void remove_root(void);

static void fail(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
static void fail(const char *fmt, ...)
{
        FILE *f = out ? out : stderr;
        va_list ap;
        va_start(ap, fmt);
        fputs("fuzz-request: ", f);
        vfprintf(f, fmt, ap);
        va_end(ap);
        if (cur_data)
                fprintf(f, "\ninput (%zu bytes):\n%.*s\n", cur_size,
                        (int) (cur_size > 2048 ? 2048 : cur_size), (const char *) cur_data);
        fputc('\n', f);
        fflush(f);
        remove_root(); /* abort() skips atexit */
        abort();
}

/* --- files ---------------------------------------------------------------- */

static void write_file(const char *path, const char *data, size_t len, mode_t mode)
{
        int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
        if (fd < 0)
                fail("cannot write %s: %s", path, strerror(errno));
        for (size_t off = 0; off < len;) {
                ssize_t n = write(fd, data + off, len - off);
                if (n <= 0)
                        fail("cannot write %s: %s", path, strerror(errno));
                off += (size_t) n;
        }
        close(fd);
}

/* The whole file, NUL-terminated, or NULL when it cannot be opened. */
static char *read_file(const char *path, size_t *ret_len)
{
        FILE *f = fopen(path, "re");
        if (!f)
                return NULL;
        size_t cap = 4096, len = 0, n;
        char *buf = malloc(cap + 1);
        if (!buf)
                fail("out of memory reading %s", path);
        while ((n = fread(buf + len, 1, cap - len, f)) > 0) {
                len += n;
                if (len == cap) {
                        cap *= 2;
                        buf = realloc(buf, cap + 1);
                        if (!buf)
                                fail("out of memory reading %s", path);
                }
        }
        fclose(f);
        buf[len] = '\0';
        *ret_len = len;
        return buf;
}

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
        (void) st;
        (void) flag;
        (void) ftw;
        return remove(path) < 0 && errno != ENOENT ? -1 : 0;
}

/* Empties dir, which holds only files (the journal, its lock, a temp file
 * and corrupt copies), and keeps dir itself. */
static void empty_dir(const char *dir)
{
        DIR *d = opendir(dir);
        if (!d)
                fail("cannot open %s: %s", dir, strerror(errno));
        struct dirent *e;
        while ((e = readdir(d)))
                if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0 &&
                    unlinkat(dirfd(d), e->d_name, 0) < 0)
                        fail("cannot remove %s/%s: %s", dir, e->d_name, strerror(errno));
        closedir(d);
}

static void remove_root(void)
{
        if (root[0])
                (void) nftw(root, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
}

/* --- the fixture copy, and what restores it ----------------------------------- */

/* Every file under the copy's sys/, as it was. The fake kernel marks what
 * it writes; the next input puts those files back. */
struct pristine {
        char *rel; /* relative to sys/ */
        char *text;
        size_t len;
        bool dirty;
};

static struct pristine *files;
static size_t n_files, cap_files;
static char sys_root[4096];

static int remember(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
        (void) st;
        (void) ftw;
        if (flag != FTW_F)
                return 0;
        if (n_files == cap_files) {
                cap_files = cap_files ? cap_files * 2 : 256;
                files = realloc(files, cap_files * sizeof(*files));
                if (!files)
                        fail("out of memory");
        }
        struct pristine *p = &files[n_files++];
        p->rel = strdup(path + strlen(sys_root) + 1);
        p->text = read_file(path, &p->len);
        p->dirty = false;
        if (!p->rel || !p->text)
                fail("cannot read %s", path);
        return 0;
}

static void mark_dirty(const char *rel)
{
        for (size_t i = 0; i < n_files; i++)
                if (strcmp(files[i].rel, rel) == 0) {
                        files[i].dirty = true;
                        return;
                }
        fail("the service wrote %s, which the fixture does not have", rel);
}

static void restore_fixture(void)
{
        for (size_t i = 0; i < n_files; i++) {
                if (!files[i].dirty)
                        continue;
                char path[8192];
                snprintf(path, sizeof(path), "%s/%s", sys_root, files[i].rel);
                write_file(path, files[i].text, files[i].len, 0644);
                files[i].dirty = false;
        }
}

/* --- the fake kernel ------------------------------------------------------------ */

/* The kernel's semantics for the writes hugepaged makes (KERNEL.md §1), on
 * plain files: a pool grows into free pages (1 GiB pages, which need
 * contiguous memory, at most two more per write: the rest comes back
 * short); a shrink never frees pages in use or reserved, which stay as
 * surplus; a global write is spread evenly over the nodes, a node write
 * adds up into the global counters; a THP file shows the new word in
 * brackets, and refuses a word it does not list. */

static uint64_t get_u64(const struct sysfs *fs, const char *rel)
{
        uint64_t v = 0;
        struct errbuf err;
        if (sysfs_read_u64(fs, SYSFS_SYS, rel, &v, &err) < 0)
                fail("fake kernel: %s", err.msg);
        return v;
}

static void put_u64(const struct sysfs *fs, const char *rel, uint64_t v)
{
        struct errbuf err;
        mark_dirty(rel);
        if (__real_sysfs_write_u64(fs, rel, v, &err) < 0)
                fail("fake kernel: %s", err.msg);
}

/* "…/nr_hugepages" → "…/<file>" */
static void sibling(const char *rel, const char *file, char *buf, size_t size)
{
        snprintf(buf, size, "%.*s%s", (int) (strrchr(rel, '/') + 1 - rel), rel, file);
}

/* One pool directory (global or a node's) takes a write of value. A shrink
 * frees at most `spare` pages: free ones that no reservation holds. */
static void pool_write(const struct sysfs *fs, const char *rel, uint64_t value, uint64_t size_kb,
                       uint64_t spare)
{
        char free_rel[256], surplus_rel[256];
        sibling(rel, "free_hugepages", free_rel, sizeof(free_rel));
        sibling(rel, "surplus_hugepages", surplus_rel, sizeof(surplus_rel));
        uint64_t nr = get_u64(fs, rel), free_pages = get_u64(fs, free_rel),
                 surplus = get_u64(fs, surplus_rel);
        uint64_t persistent = nr - surplus;
        if (value >= persistent) {
                /* Surplus pages become persistent first, then new pages
                 * are allocated until the first failure. */
                uint64_t target = value;
                if (size_kb >= 1024 * 1024 && target > nr + 2)
                        target = nr + 2;
                uint64_t grown = target > nr ? target - nr : 0;
                nr = nr > target ? nr : target;
                surplus = nr > value ? nr - value : 0;
                free_pages += grown;
        } else {
                /* What cannot be freed stays, as surplus. */
                uint64_t freed = nr - value < spare ? nr - value : spare;
                nr -= freed;
                free_pages -= freed;
                surplus = nr - value;
        }
        put_u64(fs, rel, nr);
        put_u64(fs, free_rel, free_pages);
        put_u64(fs, surplus_rel, surplus);
}

/* The nodes that have a directory for size_kb, as "nodeN" names. */
static size_t pool_nodes(const struct sysfs *fs, uint64_t size_kb, char names[][32], size_t max)
{
        char **list = NULL;
        size_t n = 0, found = 0;
        struct errbuf err;
        if (sysfs_list(fs, SYSFS_SYS, "devices/system/node", "node", &list, &n, &err) < 0)
                return 0;
        for (size_t i = 0; i < n && found < max; i++) {
                char rel[256];
                snprintf(rel, sizeof(rel), "devices/system/node/%s/hugepages/hugepages-%" PRIu64 "kB",
                         list[i], size_kb);
                if (strspn(list[i] + 4, "0123456789") == strlen(list[i] + 4) &&
                    sysfs_exists(fs, SYSFS_SYS, rel))
                        snprintf(names[found++], 32, "%s", list[i]);
        }
        sysfs_names_free(list);
        return found;
}

static uint64_t share(uint64_t total, size_t n, size_t i)
{
        return total / n + (i < total % n ? 1 : 0);
}

static void node_rel(char *buf, size_t size, const char *node, uint64_t size_kb, const char *file)
{
        snprintf(buf, size, "devices/system/node/%s/hugepages/hugepages-%" PRIu64 "kB/%s", node, size_kb,
                 file);
}

int __wrap_sysfs_write_u64(const struct sysfs *fs, const char *rel, uint64_t value, struct errbuf *err)
{
        const char *dir = strstr(rel, "hugepages-");
        const char *base = strrchr(rel, '/');
        if (!dir || !base || strcmp(base, "/nr_hugepages") != 0) {
                mark_dirty(rel);
                return __real_sysfs_write_u64(fs, rel, value, err);
        }
        uint64_t size_kb = strtoull(dir + strlen("hugepages-"), NULL, 10);
        char g_nr[256], g_free[256], g_resv[256], g_surplus[256], g_mempolicy[256], path[256];
        snprintf(g_nr, sizeof(g_nr), "kernel/mm/hugepages/hugepages-%" PRIu64 "kB/nr_hugepages", size_kb);
        sibling(g_nr, "free_hugepages", g_free, sizeof(g_free));
        sibling(g_nr, "resv_hugepages", g_resv, sizeof(g_resv));
        sibling(g_nr, "surplus_hugepages", g_surplus, sizeof(g_surplus));
        sibling(g_nr, "nr_hugepages_mempolicy", g_mempolicy, sizeof(g_mempolicy));
        bool global = strncmp(rel, "kernel/", 7) == 0;

        /* Reserved pages are counted as free but never freed, wherever
         * the write comes from (set_max_huge_pages' min_count). */
        uint64_t g_free_pages = get_u64(fs, g_free), resv = get_u64(fs, g_resv);
        uint64_t spare = g_free_pages > resv ? g_free_pages - resv : 0;
        if (!global) {
                char node_free[256];
                sibling(rel, "free_hugepages", node_free, sizeof(node_free));
                uint64_t f = get_u64(fs, node_free);
                spare = f < spare ? f : spare;
        }
        pool_write(fs, rel, value, size_kb, spare);

        char names[64][32];
        size_t n = pool_nodes(fs, size_kb, names, 64);
        if (n == 0) {
                if (sysfs_exists(fs, SYSFS_SYS, g_mempolicy))
                        put_u64(fs, g_mempolicy, get_u64(fs, g_nr));
                return 0;
        }
        if (global) {
                uint64_t nr = get_u64(fs, g_nr), free_pages = get_u64(fs, g_free),
                         surplus = get_u64(fs, g_surplus);
                for (size_t i = 0; i < n; i++) {
                        node_rel(path, sizeof(path), names[i], size_kb, "nr_hugepages");
                        put_u64(fs, path, share(nr, n, i));
                        node_rel(path, sizeof(path), names[i], size_kb, "free_hugepages");
                        put_u64(fs, path, share(free_pages, n, i));
                        node_rel(path, sizeof(path), names[i], size_kb, "surplus_hugepages");
                        put_u64(fs, path, share(surplus, n, i));
                }
        } else {
                uint64_t nr = 0, free_pages = 0, surplus = 0;
                for (size_t i = 0; i < n; i++) {
                        node_rel(path, sizeof(path), names[i], size_kb, "nr_hugepages");
                        nr += get_u64(fs, path);
                        node_rel(path, sizeof(path), names[i], size_kb, "free_hugepages");
                        free_pages += get_u64(fs, path);
                        node_rel(path, sizeof(path), names[i], size_kb, "surplus_hugepages");
                        surplus += get_u64(fs, path);
                }
                put_u64(fs, g_nr, nr);
                put_u64(fs, g_free, free_pages);
                put_u64(fs, g_surplus, surplus);
        }
        if (sysfs_exists(fs, SYSFS_SYS, g_mempolicy))
                put_u64(fs, g_mempolicy, get_u64(fs, g_nr));
        return 0;
}

int __wrap_sysfs_write_word(const struct sysfs *fs, const char *rel, const char *word, struct errbuf *err)
{
        char text[512];
        int r = sysfs_read(fs, SYSFS_SYS, rel, text, sizeof(text), NULL, err);
        if (r < 0)
                return r;
        struct thp_setting st;
        if (thp_parse(text, &st) < 0)
                fail("fake kernel: %s does not parse: %s", rel, text);
        char shown[sizeof(text)] = "";
        bool found = false;
        for (size_t i = 0; i < st.n_choices; i++) {
                bool active = strcmp(st.choices[i], word) == 0;
                found |= active;
                snprintf(shown + strlen(shown), sizeof(shown) - strlen(shown), "%s%s%s%s", i ? " " : "",
                         active ? "[" : "", st.choices[i], active ? "]" : "");
        }
        if (!found)
                return errbuf_set(err, -EINVAL, "cannot write \"%s\" to %s: Invalid argument", word, rel);
        strcat(shown, "\n");
        mark_dirty(rel);
        char path[8192];
        snprintf(path, sizeof(path), "%s/%s", sys_root, rel);
        write_file(path, shown, strlen(shown), 0644);
        return 0;
}

/* --- the journal ------------------------------------------------------------------- */

enum preset { PRESET_EMPTY, PRESET_HISTORY, PRESET_FULL, _PRESET_MAX };
static const char *const preset_names[] = { "empty", "history", "full" };
static char *preset_text[_PRESET_MAX];
static size_t preset_len[_PRESET_MAX];

/* A fresh journal holding the preset, and the snapshot published from it. */
static void reset_journal(enum preset p)
{
        if (app.journal)
                journal_close(app.journal);
        app.journal = NULL;
        empty_dir(state);
        if (preset_len[p] > 0) {
                char path[8192];
                snprintf(path, sizeof(path), "%s/journal", state);
                write_file(path, preset_text[p], preset_len[p], 0600);
        }
        struct errbuf err = { { 0 } };
        if (journal_open(state, HISTORY, &app.journal, &err) < 0)
                fail("journal_open: %s", err.msg);
        if (journal_recovery(app.journal)->message[0])
                fail("the preset journal needed recovery: %s", journal_recovery(app.journal)->message);
        pthread_mutex_lock(&app.apply_lock);
        if (journal_lock(app.journal, &err) < 0)
                fail("journal_lock: %s", err.msg);
        if (app_publish(&app) < 0)
                fail("app_publish failed");
        journal_unlock(app.journal);
        pthread_mutex_unlock(&app.apply_lock);
}

/* What the watcher does when a confirm window runs out. */
static void expire(void)
{
        struct errbuf err = { { 0 } };
        pthread_mutex_lock(&app.apply_lock);
        if (journal_lock(app.journal, &err) < 0)
                fail("journal_lock: %s", err.msg);
        struct journal_state st;
        journal_state(app.journal, &st);
        if (st.pending) {
                struct change_ctx ctx = app_change_ctx(&app);
                struct change_result res;
                int r = change_revert(&ctx, "hugepaged", "deadline", &res);
                if (r < 0)
                        fail("change_revert: %s", strerror(-r));
                if (oracle && (res.outcome != CHANGE_DONE || res.journal_failed))
                        fail("the revert of a pending change failed: %s", res.message);
                change_result_release(&res);
        }
        if (app_publish(&app) < 0)
                fail("app_publish failed");
        journal_unlock(app.journal);
        pthread_mutex_unlock(&app.apply_lock);
}

/* --- one request --------------------------------------------------------------------- */

struct field {
        const char *name;
        const char *value;
};

struct req {
        const char *method;
        char *path;
        struct field headers[MAX_HEADERS];
        size_t n_headers;
        struct field args[MAX_ARGS];
        size_t n_args;
        bool path_rejected;
        const char *body;
        size_t body_len;
        /* pseudo-headers */
        const char *cert_subject;
        bool cert_rejected;
        bool cert_read;
        const char *peer;
        bool anonymous_read;
        bool require_if_match;
};

static const char *req_header(void *cls, const char *name)
{
        const struct req *r = cls;
        for (size_t i = 0; i < r->n_headers; i++)
                if (strcasecmp(r->headers[i].name, name) == 0)
                        return r->headers[i].value;
        return NULL;
}

static const char *req_argument(void *cls, const char *name)
{
        const struct req *r = cls;
        for (size_t i = 0; i < r->n_args; i++)
                if (strcmp(r->args[i].name, name) == 0)
                        return r->args[i].value;
        return NULL;
}

static int hex(char c)
{
        if (c >= '0' && c <= '9')
                return c - '0';
        if (c >= 'a' && c <= 'f')
                return c - 'a' + 10;
        if (c >= 'A' && c <= 'F')
                return c - 'A' + 10;
        return -1;
}

/* In place, as server/http.c's unescape callback does: "%XX" becomes the
 * byte, except "%00", which stays as it is; anything else stays too. */
static void percent_decode(char *s)
{
        char *w = s;
        for (char *p = s; *p;) {
                if (p[0] == '%' && hex(p[1]) >= 0 && hex(p[2]) >= 0 && hex(p[1]) * 16 + hex(p[2]) > 0) {
                        *w++ = (char) (hex(p[1]) * 16 + hex(p[2]));
                        p += 3;
                } else
                        *w++ = *p++;
        }
        *w = '\0';
}

static char *trim(char *s)
{
        s += strspn(s, " \t");
        size_t n = strlen(s);
        while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\r'))
                s[--n] = '\0';
        return s;
}

/* Cuts the next line out of [*p, end): NUL-terminates it in place. */
static char *next_line(char **p, char *end)
{
        char *start = *p;
        char *lf = memchr(start, '\n', (size_t) (end - start));
        if (lf) {
                *lf = '\0';
                *p = lf + 1;
        } else {
                *end = '\0';
                *p = end;
        }
        return start;
}

/* Decodes one request from [p, end), which is NUL-terminated at end. */
static void decode(char *p, char *end, struct req *r)
{
        *r = (struct req){ .peer = "127.0.0.1", .body = "" };
        char *line = next_line(&p, end);
        char *sp = strchr(line, ' ');
        char *target = line + strlen(line); /* "" that may be written */
        if (sp) {
                *sp = '\0';
                target = sp + 1;
                char *sp2 = strchr(target, ' ');
                if (sp2)
                        *sp2 = '\0';
        }
        r->method = line;
        char *q = strchr(target, '?');
        if (q) {
                *q++ = '\0';
                for (char *save = NULL, *a = strtok_r(q, "&", &save); a && r->n_args < MAX_ARGS;
                     a = strtok_r(NULL, "&", &save)) {
                        char *eq = strchr(a, '=');
                        if (eq)
                                *eq++ = '\0';
                        percent_decode(a);
                        if (eq)
                                percent_decode(eq);
                        r->args[r->n_args++] = (struct field){ a, eq ? eq : "" };
                }
        }
        /* As http.c's on_uri: a path that spells a separator or a NUL in
         * percent form names no resource. */
        for (const char *c = strchr(target, '%'); c; c = strchr(c + 1, '%'))
                if ((c[1] == '2' && (c[2] | 0x20) == 'f') || (c[1] == '5' && (c[2] | 0x20) == 'c') ||
                    (c[1] == '0' && c[2] == '0'))
                        r->path_rejected = true;
        percent_decode(target);
        r->path = target;

        while (p < end) {
                if (*p == '\n') { /* the blank line: the body follows */
                        r->body = p + 1;
                        r->body_len = (size_t) (end - p - 1);
                        return;
                }
                char *h = next_line(&p, end);
                char *colon = strchr(h + (h[0] == ':'), ':');
                char *value = "";
                if (colon) {
                        *colon = '\0';
                        value = trim(colon + 1);
                }
                if (strcasecmp(h, ":cert-subject") == 0)
                        r->cert_subject = value;
                else if (strcasecmp(h, ":cert-rejected") == 0)
                        r->cert_rejected = true;
                else if (strcasecmp(h, ":cert-role") == 0)
                        r->cert_read = strcmp(value, "read") == 0;
                else if (strcasecmp(h, ":peer") == 0)
                        r->peer = value;
                else if (strcasecmp(h, ":anonymous-read") == 0)
                        r->anonymous_read = true;
                else if (strcasecmp(h, ":require-if-match") == 0)
                        r->require_if_match = true;
                else if (h[0] != ':' && r->n_headers < MAX_HEADERS)
                        r->headers[r->n_headers++] = (struct field){ h, value };
        }
}

/* A property violation: fatal, unless it is the known UTF-8 bug
 * (FOUND.md) and HUGEPAGED_FUZZ_SKIP_KNOWN=1. */
#define oracle_fail(...)                                                                                     \
        do {                                                                                                 \
                if (!(skip_known && non_ascii_input()))                                                      \
                        fail(__VA_ARGS__);                                                                   \
        } while (0)

/* The checks every answer must pass. */
static void check_response(const struct req *r, const struct response *resp)
{
        if (trace) {
                char *text = resp->body ? json_dumps(resp->body, JSON_COMPACT) : NULL;
                fprintf(out, "%s %s -> %u%s%s %s\n", r->method, r->path, resp->status,
                        resp->etag[0] ? " ETag " : "", resp->etag,
                        text         ? text
                        : resp->text ? resp->text
                                     : "");
                free(text);
        }
        if (resp->status < 100 || resp->status > 599)
                fail("%s %s: status %u", r->method, r->path, resp->status);
        if (resp->body) {
                char *text = json_dumps(resp->body, JSON_COMPACT);
                if (!text)
                        fail("%s %s: the %u answer's body does not serialize", r->method, r->path,
                             resp->status);
                free(text);
        }
        if (resp->text && !resp->content_type)
                fail("%s %s: a text answer without a content type", r->method, r->path);
        if (!oracle)
                return;
        if (resp->problem) {
                json_t *st = json_object_get(resp->body, "status");
                if (!json_is_string(json_object_get(resp->body, "type")) ||
                    !json_is_string(json_object_get(resp->body, "title")) ||
                    !json_is_string(json_object_get(resp->body, "detail")) || !json_is_integer(st) ||
                    json_integer_value(st) != (json_int_t) resp->status)
                        oracle_fail("%s %s: a %u problem document without type, title, detail or status",
                                    r->method, r->path, resp->status);
        }
        if (resp->status >= 500) {
                char *text = resp->body ? json_dumps(resp->body, JSON_COMPACT) : NULL;
                if (!(skip_known && non_ascii_input()))
                        fail("%s %s: %u: %s", r->method, r->path, resp->status, text ? text : "(no body)");
                free(text);
        }
}

static void run_request(struct req *r)
{
        dispatch.anonymous_read = r->anonymous_read;
        dispatch.cert_role = r->cert_read ? ROLE_READ : ROLE_ADMIN;
        app.require_if_match = r->require_if_match;
        struct incoming in = {
                .method = r->method,
                .path = r->path,
                .header = req_header,
                .argument = req_argument,
                .cls = r,
                .peer = r->peer,
                .cert_subject = r->cert_subject,
                .cert_rejected = r->cert_rejected,
                .path_rejected = r->path_rejected,
                .body = "",
                .body_len = 0,
        };
        struct verdict v = { 0 };
        struct response resp = { 0 };
        int rc = 0;

        /* As http.c: a request with a body is prechecked before the body
         * is read; the body is kept only for a route that takes one and
         * only up to the limit, else dropped (413 when it was wanted). */
        if (r->body_len > 0) {
                rc = dispatch_precheck(&dispatch, &in, &v, &resp);
                if (rc == 0) {
                        if (v.route->takes_body && r->body_len > dispatch.max_body)
                                in.body_too_big = true;
                        else if (v.route->takes_body) {
                                in.body = r->body;
                                in.body_len = r->body_len;
                        }
                        rc = dispatch_run(&dispatch, &in, &v, &resp);
                } else if (rc > 0)
                        rc = 0;
        } else
                rc = dispatch_run(&dispatch, &in, &v, &resp);
        if (rc < 0 && oracle)
                oracle_fail("%s %s: the request path returned %s", r->method, r->path, strerror(-rc));
        if (rc == 0) {
                dispatch_answered(&dispatch, &in, &v, &resp);
                check_response(r, &resp);
        }
        response_release(&resp);
        app.require_if_match = false;
}

/* --- libFuzzer --------------------------------------------------------------------------- */

/* Runs one request given as text, while the presets are made. */
static void scripted(const char *text)
{
        size_t len = strlen(text);
        char *buf = malloc(len + 1);
        memcpy(buf, text, len + 1);
        if (strcmp(buf, "@expire") == 0)
                expire();
        else {
                struct req r;
                decode(buf, buf + len, &r);
                run_request(&r);
        }
        free(buf);
}

#define PUT_ADMIN(query, body)                                                                               \
        "PUT /config" query "\nAuthorization: Bearer " ADMIN_TOKEN "\nContent-Type: "                        \
        "application/json\n\n" body

static void make_presets(void)
{
        static const char *const history[] = {
                PUT_ADMIN("", "{\"pools\": {\"2Mi\": {\"count\": 512}}}"),
                PUT_ADMIN(
                        "",
                        "{\"pools\": {\"2Mi\": {\"count\": 600}, \"1Gi\": {\"nodes\": {\"0\": 1, \"1\": 2}}},"
                        " \"transparent_hugepage\": {\"enabled\": \"always\"}}"),
                PUT_ADMIN("?confirm_within=60", "{\"pools\": {\"2Mi\": {\"count\": 256}}}"),
                "@expire",
                PUT_ADMIN("?confirm_within=60",
                          "{\"pools\": {\"2Mi\": {\"count\": 700}}, \"default_size\": \"1Gi\"}"),
                "POST /config/confirm\nAuthorization: Bearer " ADMIN_TOKEN "\n",
                "POST /config/rollback\nAuthorization: Bearer " ADMIN_TOKEN
                "\nContent-Type: application/json\n\n{\"generation\": 2}",
        };
        char path[8192];
        snprintf(path, sizeof(path), "%s/journal", state);

        preset_text[PRESET_EMPTY] = NULL;
        preset_len[PRESET_EMPTY] = 0;

        reset_journal(PRESET_EMPTY);
        for (size_t i = 0; i < sizeof(history) / sizeof(history[0]); i++)
                scripted(history[i]);
        preset_text[PRESET_HISTORY] = read_file(path, &preset_len[PRESET_HISTORY]);

        /* New generations, alternately, until a few records short of the
         * compaction threshold. */
        for (unsigned i = 0;; i++) {
                size_t n;
                journal_records(app.journal, &n);
                if (n + 3 > (size_t) HISTORY * 8 + 64)
                        break;
                scripted(
                        i % 2 ? PUT_ADMIN("", "{\"pools\": {\"2Mi\": {\"count\": 520}}}")
                              : PUT_ADMIN("",
                                          "{\"pools\": {\"2Mi\": {\"count\": 530}}, \"transparent_hugepage\":"
                                          " {\"defrag\": \"never\"}}"));
        }
        preset_text[PRESET_FULL] = read_file(path, &preset_len[PRESET_FULL]);
        if (!preset_text[PRESET_HISTORY] || !preset_text[PRESET_FULL])
                fail("cannot read the preset journals");
        restore_fixture();
}

static void make_root(void)
{
        /* A tmpfs, when there is one: every journal record is fdatasync'ed. */
        const char *base = getenv("TMPDIR");
        if (!base || !*base)
                base = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
        snprintf(root, sizeof(root), "%s/hugepaged-fuzz-XXXXXX", base);
        if (!mkdtemp(root))
                fail("mkdtemp %s: %s", root, strerror(errno));
        atexit(remove_root);

        char cmd[16384];
        snprintf(cmd, sizeof(cmd), "cp -a '%s/x86-2node' '%s/machine'", FIXTURES, root);
        if (system(cmd) != 0)
                fail("cannot copy the fixture: %s", cmd);
        /* A kernel command line, so that GET /status compares the
         * confirmed config's boot arguments with it (model/bootargs.c). */
        char cmdline[8192];
        snprintf(cmdline, sizeof(cmdline), "%s/machine/proc/cmdline", root);
        static const char args[] = "BOOT_IMAGE=/boot/vmlinuz-6.18 root=/dev/vda1 ro quiet hugepagesz=1G "
                                   "hugepages=2 default_hugepagesz=2M transparent_hugepage=madvise\n";
        write_file(cmdline, args, sizeof(args) - 1, 0444);
        snprintf(sys_root, sizeof(sys_root), "%s/machine/sys", root);
        if (nftw(sys_root, remember, 16, FTW_PHYS) < 0)
                fail("cannot read %s", sys_root);
        snprintf(state, sizeof(state), "%s/state", root);
        if (mkdir(state, 0700) < 0)
                fail("mkdir %s: %s", state, strerror(errno));
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
        (void) argc;
        (void) argv;
        const char *o = getenv("HUGEPAGED_FUZZ_ORACLE");
        oracle = !o || strcmp(o, "0") != 0;
        const char *k = getenv("HUGEPAGED_FUZZ_SKIP_KNOWN");
        skip_known = k && strcmp(k, "1") == 0;
        out = stderr;
        const char *log = getenv("HUGEPAGED_FUZZ_LOG");
        if (!log || strcmp(log, "1") != 0) {
                /* The service's log lines go through the stdio stream
                 * "stderr"; libFuzzer captured its value at start-up. */
                FILE *null = fopen("/dev/null", "we");
                if (null)
                        stderr = null;
        }
        make_root();

        char proc[8192], tokens[8192];
        snprintf(proc, sizeof(proc), "%s/machine/proc", root);
        struct errbuf err = { { 0 } };
        if (sysfs_init(&app.fs, sys_root, proc) < 0)
                fail("sysfs_init");
        app.base_page_kb = 4;
        app.vopts = (struct validate_opts){ .reserve_kb = 1024 * 1024, .reserve_percent = 10 };
        snprintf(app.node_name, sizeof(app.node_name), "fuzz-node");
        app.version = "fuzz";
        app.openapi = openapi_doc;
        app.openapi_len = sizeof(openapi_doc) - 1;
        /* As if --boot-args were given; nothing writes it here (on_publish
         * is NULL), GET /status only compares. */
        app.boot.configured = true;
        snprintf(app.boot.spec, sizeof(app.boot.spec), "grubenv:%s/grubenv:kernel_args", root);
        if (journal_open(state, HISTORY, &app.journal, &err) < 0)
                fail("journal_open: %s", err.msg);
        if (app_init(&app, &err) < 0)
                fail("app_init: %s", err.msg);

        snprintf(tokens, sizeof(tokens), "%s/tokens", root);
        static const char token_file[] =
                "# fuzz-request\n" ADMIN_TOKEN " fuzz-admin admin\n" READ_TOKEN " fuzz-reader read\n";
        write_file(tokens, token_file, sizeof(token_file) - 1, 0600);
        if (auth_store_init(&auth, tokens, &err) < 0)
                fail("auth_store_init: %s", err.msg);
        dispatch = (struct dispatch){
                .app = &app,
                .auth = &auth,
                .max_body = MAX_BODY,
                .cors_origins = cors_origins,
                .n_cors_origins = sizeof(cors_origins) / sizeof(cors_origins[0]),
                .cert_role = ROLE_ADMIN,
        };
        make_presets();
        const char *t = getenv("HUGEPAGED_FUZZ_TRACE");
        trace = t && strcmp(t, "1") == 0;
        return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        if (skip_known && memchr(data, 0, size))
                return -1;
        cur_data = data;
        cur_size = size;
        char *buf = malloc(size + 1);
        if (!buf)
                return 0;
        memcpy(buf, data, size);
        buf[size] = '\0';
        char *p = buf, *end = buf + size;

        enum preset preset = PRESET_HISTORY;
        if (size >= 9 && memcmp(p, "@journal ", 9) == 0) {
                char *line = next_line(&p, end);
                for (int i = 0; i < _PRESET_MAX; i++)
                        if (strcmp(line + 9, preset_names[i]) == 0)
                                preset = (enum preset) i;
        }
        restore_fixture();
        reset_journal(preset);
        for (size_t i = 0; i < _APP_OUTCOME_MAX; i++)
                atomic_store(&app.applies[i], 0);

        for (int n = 0; n < MAX_REQUESTS && p < end; n++) {
                char *sep = memmem(p, (size_t) (end - p), "\n%%\n", 4);
                char *stop = sep ? sep : end;
                *stop = '\0';
                if (strcmp(p, "@expire") == 0)
                        expire();
                else {
                        struct req r;
                        decode(p, stop, &r);
                        run_request(&r);
                }
                if (!sep)
                        break;
                p = sep + 4;
        }
        free(buf);
        cur_data = NULL;
        return 0;
}
