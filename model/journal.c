/* See journal.h. */
#include "journal.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/falloc.h>
#include <inttypes.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "cleanup.h"

#define JOURNAL_NAME "journal"
#define JOURNAL_TMP ".journal.tmp"
#define LOCK_NAME "lock"
#define JOURNAL_MAX (64 * 1024 * 1024)

struct journal {
        char *dir;
        int dir_fd;
        int fd;
        int lock_fd;
        unsigned keep;
        struct journal_record *recs;
        size_t n, cap;
        uint64_t next_seq;
        dev_t dev; /* the file we loaded, to notice another process's changes */
        ino_t ino;
        off_t size;
        struct journal_recovery recovery;
};

static const char *const event_names[_JOURNAL_EVENT_MAX] = {
        [JOURNAL_ACCEPTED] = "accepted",
        [JOURNAL_APPLIED] = "applied",
        [JOURNAL_CONFIRMED] = "confirmed",
        [JOURNAL_REVERTED] = "reverted",
};

const char *journal_event_name(enum journal_event e)
{
        return e < _JOURNAL_EVENT_MAX ? event_names[e] : "unknown";
}

/* The checksum. EVP_Digest() looks SHA-256 up in the provider tables and
 * builds a context on every call, which cost a third of the checksum's time
 * per record at replay; a load keeps one fetched algorithm and one context
 * for all its records. A NULL or unready one falls back to EVP_Digest(). */
struct sha256 {
        EVP_MD *md;
        EVP_MD_CTX *ctx;
};

static void sha256_init(struct sha256 *s)
{
        s->md = EVP_MD_fetch(NULL, "SHA256", NULL);
        s->ctx = EVP_MD_CTX_new();
}

static void sha256_release(struct sha256 *s)
{
        EVP_MD_CTX_free(s->ctx);
        EVP_MD_free(s->md);
        *s = (struct sha256) { 0 };
}

static void sha256_hex(struct sha256 *s, const char *data, size_t len, char hex[65])
{
        unsigned char md[32];
        unsigned int n = 0;
        int ok;
        if (s && s->md && s->ctx)
                ok = EVP_DigestInit_ex2(s->ctx, s->md, NULL) && EVP_DigestUpdate(s->ctx, data, len) &&
                     EVP_DigestFinal_ex(s->ctx, md, &n);
        else
                ok = EVP_Digest(data, len, md, &n, EVP_sha256(), NULL);
        if (!ok || n != 32) {
                memset(hex, '0', 64); /* cannot match a real digest */
                hex[64] = '\0';
                return;
        }
        static const char digits[] = "0123456789abcdef";
        for (unsigned i = 0; i < 32; i++) {
                hex[2 * i] = digits[md[i] >> 4];
                hex[2 * i + 1] = digits[md[i] & 15];
        }
        hex[64] = '\0';
}

/* --- the record codec ------------------------------------------------------ */

char *journal_encode(const struct journal_record *rec)
{
        _cleanup_json_ json_t *o = json_pack("{s:i, s:I, s:s, s:I, s:s, s:s}", "v", JOURNAL_FORMAT, "seq",
                                             (json_int_t) rec->seq, "event", journal_event_name(rec->event), "gen",
                                             (json_int_t) rec->generation, "time", rec->time, "who", rec->who);
        if (!o)
                return NULL;
        if ((rec->config && json_object_set(o, "config", rec->config) < 0) ||
            (rec->before && json_object_set(o, "before", rec->before) < 0) ||
            (rec->deadline && json_object_set_new(o, "deadline", json_integer(rec->deadline)) < 0) ||
            (rec->report && json_object_set(o, "report", rec->report) < 0) ||
            (rec->event == JOURNAL_REVERTED && json_object_set_new(o, "to", json_integer((json_int_t) rec->to)) < 0) ||
            (rec->reason[0] && json_object_set_new(o, "reason", json_string(rec->reason)) < 0) ||
            (rec->origin && json_object_set_new(o, "origin", json_integer((json_int_t) rec->origin)) < 0))
                return NULL;
        /* Compact output escapes every control character, so the text
         * holds no newline of its own. */
        _cleanup_free_ char *text = json_dumps(o, JSON_COMPACT);
        if (!text)
                return NULL;
        size_t len = strlen(text);
        char *line = malloc(64 + 1 + len + 2);
        if (!line)
                return NULL;
        sha256_hex(NULL, text, len, line);
        line[64] = ' ';
        memcpy(line + 65, text, len);
        line[65 + len] = '\n';
        line[66 + len] = '\0';
        return line;
}

void journal_record_release(struct journal_record *rec)
{
        if (!rec)
                return;
        json_decref(rec->config);
        json_decref(rec->before);
        json_decref(rec->report);
        rec->config = rec->before = rec->report = NULL;
}

/* What a load keeps from record to record: the checksum context, and the
 * trees (config, before, report) already parsed, by their text. A journal
 * often says the same thing again (a rollback accepts an earlier config
 * anew, an apply of an unchanged config may write the same report), and
 * the same text always parses to the same tree, so a repeated text shares
 * the tree parsed first instead of building another. Sharing is safe
 * because nobody changes a record's trees: the state and the history
 * borrow them or take references, as they already do with the trees an
 * append shares with its caller. A text seen once costs one hash. */
struct tree_slot {
        const char *text; /* borrowed from the load's buffer */
        size_t len;
        uint64_t hash;
        json_t *tree; /* a reference of the cache's own */
};

struct decoder {
        struct sha256 sha;
        struct tree_slot *slots; /* open addressing, cap a power of two */
        size_t cap, n;
};

static void decoder_init(struct decoder *d)
{
        *d = (struct decoder) { 0 };
        sha256_init(&d->sha);
}

static void decoder_release(struct decoder *d)
{
        for (size_t i = 0; i < d->cap; i++)
                json_decref(d->slots[i].tree);
        free(d->slots);
        sha256_release(&d->sha);
        *d = (struct decoder) { 0 };
}

static uint64_t text_hash(const char *p, size_t len)
{
        /* FNV-1a over 64-bit words, then a final mix: the cache only needs
         * the texts spread, a collision costs one memcmp. */
        uint64_t h = 0xcbf29ce484222325ULL ^ len;
        for (; len >= 8; p += 8, len -= 8) {
                uint64_t w;
                memcpy(&w, p, 8);
                h = (h ^ w) * 0x100000001b3ULL;
                h ^= h >> 32;
        }
        for (; len > 0; p++, len--)
                h = (h ^ (unsigned char) *p) * 0x100000001b3ULL;
        h ^= h >> 33;
        h *= 0xff51afd7ed558ccdULL;
        h ^= h >> 33;
        return h;
}

static bool cache_grow(struct decoder *d)
{
        size_t cap = d->cap ? d->cap * 2 : 256;
        struct tree_slot *slots = calloc(cap, sizeof(*slots));
        if (!slots)
                return false;
        for (size_t i = 0; i < d->cap; i++) {
                const struct tree_slot *s = &d->slots[i];
                if (!s->tree)
                        continue;
                size_t k = (size_t) s->hash & (cap - 1);
                while (slots[k].tree)
                        k = (k + 1) & (cap - 1);
                slots[k] = *s;
        }
        free(d->slots);
        d->slots = slots;
        d->cap = cap;
        return true;
}

/* The tree of the JSON object text [text, text + len), as json_loadb()
 * with JSON_REJECT_DUPLICATES parses it (a new reference), or NULL when it
 * does not parse. d may be NULL: nothing is remembered then. */
static json_t *parse_tree(struct decoder *d, const char *text, size_t len)
{
        json_error_t e;
        if (!d)
                return json_loadb(text, len, JSON_REJECT_DUPLICATES, &e);
        uint64_t h = text_hash(text, len);
        size_t k = 0;
        if (d->cap) {
                for (k = (size_t) h & (d->cap - 1); d->slots[k].tree; k = (k + 1) & (d->cap - 1)) {
                        const struct tree_slot *s = &d->slots[k];
                        if (s->hash == h && s->len == len && memcmp(s->text, text, len) == 0)
                                return json_incref(s->tree);
                }
        }
        json_t *tree = json_loadb(text, len, JSON_REJECT_DUPLICATES, &e);
        if (!tree)
                return NULL;
        /* Kept at most half full. Without room the tree is simply not
         * remembered. */
        if (2 * (d->n + 1) > d->cap) {
                if (!cache_grow(d))
                        return tree;
                for (k = (size_t) h & (d->cap - 1); d->slots[k].tree; k = (k + 1) & (d->cap - 1))
                        ;
        }
        d->slots[k] = (struct tree_slot) { .text = text, .len = len, .hash = h, .tree = json_incref(tree) };
        d->n++;
        return tree;
}

/* The full decoder: jansson parses the whole text and json_unpack_ex() reads
 * it. Every line the quick one below does not vouch for comes here, damaged
 * ones included, so this is the decoder that defines what a record is. */
static int decode_full(struct decoder *d, const char *line, size_t len, struct journal_record *ret)
{
        const char *text = line + 65;
        size_t tlen = len - 65;

        json_error_t e;
        _cleanup_json_ json_t *o = json_loadb(text, tlen, JSON_REJECT_DUPLICATES, &e);
        json_int_t v = 0;
        /* The format is looked at before the checksum: a newer binary may
         * have changed how records are summed, and its records must stop
         * us rather than be cut as damaged. */
        if (o && json_unpack(o, "{s:I}", "v", &v) == 0 && v > JOURNAL_FORMAT)
                return -EPROTONOSUPPORT;
        char hex[65];
        sha256_hex(d ? &d->sha : NULL, text, tlen, hex);
        if (memcmp(hex, line, 64) != 0 || !o || v != JOURNAL_FORMAT)
                return -EBADMSG;

        struct journal_record r = { 0 };
        json_int_t seq = 0, gen = 0, deadline = 0, to = 0, origin = 0;
        const char *event = NULL, *when = NULL, *who = NULL, *reason = NULL;
        json_t *config = NULL, *before = NULL, *report = NULL;
        if (json_unpack_ex(o, &e, 0, "{s:I, s:s, s:I, s:s, s:s, s?o, s?o, s?I, s?o, s?I, s?s, s?I}", "seq", &seq,
                           "event", &event, "gen", &gen, "time", &when, "who", &who, "config", &config, "before",
                           &before, "deadline", &deadline, "report", &report, "to", &to, "reason", &reason, "origin",
                           &origin) < 0)
                return -EBADMSG;
        if (seq < 1 || gen < 0 || to < 0 || origin < 0)
                return -EBADMSG;
        int ev = -1;
        for (int i = 0; i < _JOURNAL_EVENT_MAX; i++)
                if (strcmp(event, event_names[i]) == 0)
                        ev = i;
        if (ev < 0 || (ev == JOURNAL_ACCEPTED && !json_is_object(config)) ||
            (ev == JOURNAL_APPLIED && !json_is_object(report)))
                return -EBADMSG;

        r.seq = (uint64_t) seq;
        r.event = (enum journal_event) ev;
        r.generation = (uint64_t) gen;
        snprintf(r.time, sizeof(r.time), "%s", when);
        snprintf(r.who, sizeof(r.who), "%s", who);
        r.config = json_incref(config);
        r.before = json_incref(before);
        r.report = json_incref(report);
        r.deadline = deadline;
        r.to = (uint64_t) to;
        r.origin = (uint64_t) origin;
        if (reason)
                snprintf(r.reason, sizeof(r.reason), "%s", reason);
        *ret = r;
        return 0;
}

/* The quick decoder, for the lines journal_encode() writes. Parsing the
 * whole record with jansson built a tree for every field only to copy the
 * scalars out and free it again, and that building and freeing was most of
 * a replay's time. This one reads the top level itself and hands jansson
 * only the trees, which the record keeps.
 *
 * It reads only a narrow shape: an object of the documented keys, each at
 * most once, no whitespace, the integers plain non-negative decimals that
 * fit, the strings printable ASCII without escapes (other strings are
 * decoded by jansson), the trees objects. It vouches for a line only when
 * the checksum matches, "v" is JOURNAL_FORMAT and the record is complete
 * and valid, and then its result is exactly decode_full()'s: the text is
 * the same JSON, and each tree is the same text parsed by the same parser
 * with the same flags. For anything else, it says nothing (1), and the
 * caller asks decode_full(), which decides. It never writes ret then. */
enum field {
        F_V,
        F_SEQ,
        F_EVENT,
        F_GEN,
        F_TIME,
        F_WHO,
        F_CONFIG,
        F_BEFORE,
        F_DEADLINE,
        F_REPORT,
        F_TO,
        F_REASON,
        F_ORIGIN,
        _F_MAX,
};

/* A string kept in the record: where, and its room. */
#define IN_RECORD(m) offsetof(struct journal_record, m), sizeof(((struct journal_record *) NULL)->m)

static const struct {
        const char *name;
        size_t len;
        char kind; /* 'i' integer, 's' string, 'o' tree */
        size_t offset, size; /* strings but "event" */
} fields[_F_MAX] = {
        [F_V] = { "v", 1, 'i', 0, 0 },
        [F_SEQ] = { "seq", 3, 'i', 0, 0 },
        [F_EVENT] = { "event", 5, 's', 0, 0 },
        [F_GEN] = { "gen", 3, 'i', 0, 0 },
        [F_TIME] = { "time", 4, 's', IN_RECORD(time) },
        [F_WHO] = { "who", 3, 's', IN_RECORD(who) },
        [F_CONFIG] = { "config", 6, 'o', 0, 0 },
        [F_BEFORE] = { "before", 6, 'o', 0, 0 },
        [F_DEADLINE] = { "deadline", 8, 'i', 0, 0 },
        [F_REPORT] = { "report", 6, 'o', 0, 0 },
        [F_TO] = { "to", 2, 'i', 0, 0 },
        [F_REASON] = { "reason", 6, 's', IN_RECORD(reason) },
        [F_ORIGIN] = { "origin", 6, 'i', 0, 0 },
};

/* Far below jansson's own depth limit for the whole record (2048), so that
 * a tree parsed alone is never accepted where the record would not be. */
#define TREE_MAX_DEPTH 256

/* The end of the string token that starts at p (its opening quote), one
 * past the closing quote, or NULL; *plain says whether it holds only
 * printable ASCII without escapes, which is then its value as is. */
static const char *string_end(const char *p, const char *end, bool *plain)
{
        bool simple = true;
        for (p++; p < end && *p != '"'; p++) {
                unsigned char c = (unsigned char) *p;
                if (c < 0x20 || c > 0x7e)
                        simple = false;
                else if (c == '\\') {
                        simple = false;
                        p++;
                }
        }
        if (p >= end)
                return NULL;
        *plain = simple;
        return p + 1;
}

/* The end of the object or array that starts at p, one past its closing
 * bracket, or NULL. It follows only brackets and strings: jansson checks
 * the text between when it parses the tree. */
static const char *tree_end(const char *p, const char *end)
{
        size_t depth = 0;
        while (p < end) {
                char c = *p;
                if (c == '"') {
                        bool plain;
                        p = string_end(p, end, &plain);
                        if (!p)
                                return NULL;
                        continue;
                }
                p++;
                if (c == '{' || c == '[') {
                        if (++depth > TREE_MAX_DEPTH)
                                return NULL;
                } else if ((c == '}' || c == ']') && (depth == 0 || --depth == 0))
                        return p;
        }
        return NULL;
}

/* A JSON integer token that is a plain non-negative decimal fitting
 * json_int_t (a "-", a fraction or an exponent: false). */
static bool scan_uint(const char **pp, const char *end, json_int_t *ret)
{
        const char *p = *pp;
        if (p == end || *p < '0' || *p > '9' || (*p == '0' && p + 1 < end && p[1] >= '0' && p[1] <= '9'))
                return false;
        uint64_t v = 0;
        for (; p < end && *p >= '0' && *p <= '9'; p++) {
                unsigned digit = (unsigned) (*p - '0');
                if (v > ((uint64_t) INT64_MAX - digit) / 10)
                        return false;
                v = v * 10 + digit;
        }
        if (p < end && (*p == '.' || *p == 'e' || *p == 'E'))
                return false;
        *pp = p;
        *ret = (json_int_t) v;
        return true;
}

/* Copies the value of the string token [start, stop) into buf as
 * snprintf("%s") would copy jansson's decoded string. */
static bool copy_string(const char *start, const char *stop, bool plain, char *buf, size_t size)
{
        if (plain) {
                size_t n = (size_t) (stop - start) - 2;
                if (n >= size)
                        n = size - 1;
                memcpy(buf, start + 1, n);
                buf[n] = '\0';
                return true;
        }
        json_error_t e;
        json_t *s = json_loadb(start, (size_t) (stop - start), JSON_DECODE_ANY, &e);
        bool ok = json_is_string(s);
        if (ok)
                snprintf(buf, size, "%s", json_string_value(s));
        json_decref(s);
        return ok;
}

static int decode_quick(struct decoder *d, const char *line, size_t len, struct journal_record *ret)
{
        const char *text = line + 65, *p = text, *end = text + (len - 65);
        char hex[65];
        sha256_hex(d ? &d->sha : NULL, text, len - 65, hex);
        if (memcmp(hex, line, 64) != 0 || p == end || *p++ != '{')
                return 1;

        struct journal_record r = { 0 };
        json_int_t ints[_F_MAX] = { 0 };
        json_t *trees[_F_MAX] = { NULL };
        const char *event = NULL;
        size_t event_len = 0;
        unsigned seen = 0;
        int result = 1;
        for (;;) {
                /* A key, written as is. */
                if (p == end || *p != '"')
                        goto out;
                bool plain;
                const char *key = p, *stop = string_end(p, end, &plain);
                if (!stop || !plain || stop == end || *stop != ':')
                        goto out;
                size_t key_len = (size_t) (stop - key) - 2;
                int f = 0;
                while (f < _F_MAX &&
                       (fields[f].len != key_len || memcmp(fields[f].name, key + 1, key_len) != 0))
                        f++;
                if (f == _F_MAX || (seen & (1u << f)))
                        goto out;
                seen |= 1u << f;
                p = stop + 1;

                /* Its value. */
                switch (fields[f].kind) {
                case 'i':
                        if (!scan_uint(&p, end, &ints[f]))
                                goto out;
                        break;
                case 's':
                        if (p == end || *p != '"' || !(stop = string_end(p, end, &plain)))
                                goto out;
                        if (f == F_EVENT) {
                                if (!plain)
                                        goto out;
                                event = p + 1;
                                event_len = (size_t) (stop - p) - 2;
                        } else if (!copy_string(p, stop, plain, (char *) &r + fields[f].offset, fields[f].size))
                                goto out;
                        p = stop;
                        break;
                default:
                        if (p == end || *p != '{' || !(stop = tree_end(p, end)))
                                goto out;
                        trees[f] = parse_tree(d, p, (size_t) (stop - p));
                        if (!trees[f])
                                goto out;
                        p = stop;
                        break;
                }

                if (p == end)
                        goto out;
                if (*p == '}' && p + 1 == end)
                        break;
                if (*p++ != ',')
                        goto out;
        }

        /* What decode_full() requires of a record. */
        const unsigned required =
                1u << F_V | 1u << F_SEQ | 1u << F_EVENT | 1u << F_GEN | 1u << F_TIME | 1u << F_WHO;
        if ((seen & required) != required || ints[F_V] != JOURNAL_FORMAT || ints[F_SEQ] < 1)
                goto out;
        int ev = -1;
        for (int i = 0; i < _JOURNAL_EVENT_MAX; i++)
                if (strlen(event_names[i]) == event_len && memcmp(event, event_names[i], event_len) == 0)
                        ev = i;
        if (ev < 0 || (ev == JOURNAL_ACCEPTED && !trees[F_CONFIG]) ||
            (ev == JOURNAL_APPLIED && !trees[F_REPORT]))
                goto out;

        r.seq = (uint64_t) ints[F_SEQ];
        r.event = (enum journal_event) ev;
        r.generation = (uint64_t) ints[F_GEN];
        r.config = TAKE_PTR(trees[F_CONFIG]);
        r.before = TAKE_PTR(trees[F_BEFORE]);
        r.report = TAKE_PTR(trees[F_REPORT]);
        r.deadline = ints[F_DEADLINE];
        r.to = (uint64_t) ints[F_TO];
        r.origin = (uint64_t) ints[F_ORIGIN];
        *ret = r;
        result = 0;
out:
        for (int f = 0; f < _F_MAX; f++)
                json_decref(trees[f]);
        return result;
}

static int decode(struct decoder *d, const char *line, size_t len, struct journal_record *ret)
{
        if (len > 0 && line[len - 1] == '\n')
                len--;
        if (len < 67 || line[64] != ' ')
                return -EBADMSG;
        int r = decode_quick(d, line, len, ret);
        return r <= 0 ? r : decode_full(d, line, len, ret);
}

int journal_decode(const char *line, size_t len, struct journal_record *ret)
{
        return decode(NULL, line, len, ret);
}

/* --- loading and recovery --------------------------------------------------- */

static void free_records(struct journal *j)
{
        for (size_t i = 0; i < j->n; i++)
                journal_record_release(&j->recs[i]);
        free(j->recs);
        j->recs = NULL;
        j->n = j->cap = 0;
}

static int push_record(struct journal *j, const struct journal_record *rec)
{
        if (j->n == j->cap) {
                size_t cap = j->cap ? j->cap * 2 : 64;
                struct journal_record *grown = realloc(j->recs, cap * sizeof(*grown));
                if (!grown)
                        return -ENOMEM;
                j->recs = grown;
                j->cap = cap;
        }
        j->recs[j->n++] = *rec;
        if (rec->seq >= j->next_seq)
                j->next_seq = rec->seq + 1;
        return 0;
}

static int write_all(int fd, const char *p, size_t len)
{
        while (len > 0) {
                ssize_t k = write(fd, p, len);
                if (k < 0 && errno == EINTR)
                        continue;
                if (k < 0)
                        return -errno;
                p += k;
                len -= (size_t) k;
        }
        return 0;
}

/* Writes data to a new file in the directory, durably. */
static int save_aside(struct journal *j, const char *data, size_t len, char *ret_name, size_t size)
{
        char name[96];
        time_t now = time(NULL);
        struct tm tm;
        gmtime_r(&now, &tm);
        for (int i = 0; i < 100; i++) {
                char stamp[32];
                strftime(stamp, sizeof(stamp), "%Y%m%dT%H%M%SZ", &tm);
                snprintf(name, sizeof(name), JOURNAL_NAME ".corrupt-%s%s%.0d", stamp, i ? "-" : "", i);
                int fd = openat(j->dir_fd, name, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
                if (fd < 0 && errno == EEXIST)
                        continue;
                if (fd < 0)
                        return -errno;
                int r = write_all(fd, data, len);
                if (r == 0 && fsync(fd) < 0)
                        r = -errno;
                close(fd);
                if (r < 0)
                        return r;
                snprintf(ret_name, size, "%s/%s", j->dir, name);
                return fsync(j->dir_fd) < 0 ? -errno : 0;
        }
        return -EEXIST;
}

/* Replaces the journal file with text (temp file, fsync, rename, fsync
 * directory) and reopens it. */
static int replace_file(struct journal *j, const char *text, size_t len, struct errbuf *err)
{
        (void) unlinkat(j->dir_fd, JOURNAL_TMP, 0);
        int fd = openat(j->dir_fd, JOURNAL_TMP, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
        if (fd < 0)
                return errbuf_set(err, -errno, "cannot create %s/" JOURNAL_TMP ": %s", j->dir, strerror(errno));
        int r = write_all(fd, text, len);
        if (r == 0 && fsync(fd) < 0)
                r = -errno;
        close(fd);
        if (r == 0 && renameat(j->dir_fd, JOURNAL_TMP, j->dir_fd, JOURNAL_NAME) < 0)
                r = -errno;
        if (r < 0) {
                unlinkat(j->dir_fd, JOURNAL_TMP, 0);
                return errbuf_set(err, r, "cannot rewrite %s/" JOURNAL_NAME ": %s", j->dir, strerror(-r));
        }
        if (fsync(j->dir_fd) < 0)
                return errbuf_set(err, -errno, "cannot fsync %s: %s", j->dir, strerror(errno));
        int nfd = openat(j->dir_fd, JOURNAL_NAME, O_RDWR | O_APPEND | O_CLOEXEC);
        if (nfd < 0)
                return errbuf_set(err, -errno, "cannot reopen %s/" JOURNAL_NAME ": %s", j->dir, strerror(errno));
        if (j->fd >= 0)
                close(j->fd);
        j->fd = nfd;
        return 0;
}

static int remember_file(struct journal *j)
{
        struct stat st;
        if (fstat(j->fd, &st) < 0)
                return -errno;
        j->dev = st.st_dev;
        j->ino = st.st_ino;
        j->size = st.st_size;
        return 0;
}

/* Reads the file into records, mending a damaged tail or middle. */
static int load(struct journal *j, struct errbuf *err)
{
        struct stat st;
        if (fstat(j->fd, &st) < 0)
                return errbuf_set(err, -errno, "cannot stat %s/" JOURNAL_NAME ": %s", j->dir, strerror(errno));
        if (st.st_size > JOURNAL_MAX)
                return errbuf_set(err, -EFBIG, "%s/" JOURNAL_NAME " is larger than %d bytes", j->dir, JOURNAL_MAX);
        size_t len = (size_t) st.st_size;
        _cleanup_free_ char *buf = malloc(len + 1);
        if (!buf)
                return -ENOMEM;
        size_t got = 0;
        while (got < len) {
                ssize_t k = pread(j->fd, buf + got, len - got, (off_t) got);
                if (k < 0 && errno == EINTR)
                        continue;
                if (k < 0)
                        return errbuf_set(err, -errno, "cannot read %s/" JOURNAL_NAME ": %s", j->dir, strerror(errno));
                if (k == 0)
                        break;
                got += (size_t) k;
        }
        len = got;

        free_records(j);
        j->next_seq = 1;
        j->recovery = (struct journal_recovery) { 0 };

        /* Room for every line at once, rather than growing as they come. */
        size_t lines = 1;
        for (const char *p = buf; (p = memchr(p, '\n', len - (size_t) (p - buf))); p++)
                lines++;
        j->recs = malloc(lines * sizeof(*j->recs));
        if (!j->recs)
                return -ENOMEM;
        j->cap = lines;

        /* good: the text of the readable lines, bad: the rest. good is
         * copied out only once a line turned out bad; until then it is
         * the start of buf. */
        _cleanup_free_ char *good = NULL, *bad = NULL;
        _cleanup_(decoder_release) struct decoder d;
        decoder_init(&d);
        size_t good_len = 0, bad_len = 0, bad_lines = 0, pos = 0;
        bool bad_in_middle = false, pending_bad = false;
        int r = 0;
        while (pos < len) {
                const char *nl = memchr(buf + pos, '\n', len - pos);
                size_t end = nl ? (size_t) (nl - buf) + 1 : len;
                struct journal_record rec;
                r = nl ? decode(&d, buf + pos, end - pos, &rec) : -EBADMSG;
                if (r == -EPROTONOSUPPORT) {
                        free_records(j);
                        return errbuf_set(err, r,
                                          "%s/" JOURNAL_NAME " holds a record of a newer format than this binary's "
                                          "(%d): refusing to start rather than rewrite it; run the newer hugepaged",
                                          j->dir, JOURNAL_FORMAT);
                }
                if (r == 0) {
                        if (pending_bad)
                                bad_in_middle = true;
                        r = push_record(j, &rec);
                        if (r < 0) {
                                journal_record_release(&rec);
                                return r;
                        }
                        if (good)
                                memcpy(good + good_len, buf + pos, end - pos);
                        good_len += end - pos;
                } else {
                        if (!bad) {
                                good = malloc(len + 1);
                                bad = malloc(len + 1);
                                if (!good || !bad)
                                        return -ENOMEM;
                                memcpy(good, buf, good_len);
                        }
                        memcpy(bad + bad_len, buf + pos, end - pos);
                        bad_len += end - pos;
                        bad_lines++;
                        pending_bad = true;
                }
                pos = end;
        }
        r = 0;
        if (bad_len == 0)
                return remember_file(j);

        if (j->n == 0) {
                /* Not one readable record: this is not a damaged tail but
                 * not our file, or a format we cannot even recognise. */
                return errbuf_set(err, -EBADMSG,
                                  "%s/" JOURNAL_NAME " holds no readable record (%zu bytes): not a hugepaged journal "
                                  "of format %d; move it aside deliberately to start afresh",
                                  j->dir, len, JOURNAL_FORMAT);
        }

        r = save_aside(j, bad, bad_len, j->recovery.saved_as, sizeof(j->recovery.saved_as));
        if (r < 0)
                return errbuf_set(err, r, "cannot save the damaged part of %s/" JOURNAL_NAME ": %s", j->dir,
                                  strerror(-r));
        if (bad_in_middle) {
                j->recovery.corrupt_records = bad_lines;
                r = replace_file(j, good, good_len, err);
        } else {
                j->recovery.torn_tail = true;
                if (ftruncate(j->fd, (off_t) good_len) < 0 || fsync(j->fd) < 0)
                        r = errbuf_set(err, -errno, "cannot cut %s/" JOURNAL_NAME ": %s", j->dir, strerror(errno));
        }
        if (r < 0)
                return r;
        snprintf(j->recovery.message, sizeof(j->recovery.message),
                 "%s: %zu damaged byte%s (%zu line%s) set aside in %s; the journal goes on from its last good "
                 "record (seq %" PRIu64 ")",
                 bad_in_middle ? "damaged records in the middle of the journal" : "a torn or damaged tail", bad_len,
                 bad_len == 1 ? "" : "s", bad_lines, bad_lines == 1 ? "" : "s", j->recovery.saved_as,
                 j->next_seq - 1);
        return remember_file(j);
}

static int mkdir_p(const char *dir, mode_t mode)
{
        char buf[4096];
        if (strlen(dir) >= sizeof(buf))
                return -ENAMETOOLONG;
        strcpy(buf, dir);
        for (size_t n = strlen(buf); n > 1 && buf[n - 1] == '/'; n--)
                buf[n - 1] = '\0';
        for (char *p = buf + 1; *p; p++) {
                if (*p != '/')
                        continue;
                *p = '\0';
                if (mkdir(buf, 0755) < 0 && errno != EEXIST)
                        return -errno;
                *p = '/';
        }
        if (mkdir(buf, mode) < 0 && errno != EEXIST)
                return -errno;
        return 0;
}

int journal_open(const char *dir, unsigned keep_generations, struct journal **ret, struct errbuf *err)
{
        int r = mkdir_p(dir, 0700);
        if (r < 0)
                return errbuf_set(err, r, "cannot create the state directory %s: %s", dir, strerror(-r));

        struct journal *j = calloc(1, sizeof(*j));
        if (!j)
                return -ENOMEM;
        j->fd = j->lock_fd = -1;
        j->keep = keep_generations < 2 ? 2 : keep_generations;
        j->next_seq = 1;
        j->dir = strdup(dir);
        j->dir_fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (!j->dir || j->dir_fd < 0) {
                r = j->dir ? errbuf_set(err, -errno, "cannot open %s: %s", dir, strerror(errno)) : -ENOMEM;
                goto fail;
        }
        j->lock_fd = openat(j->dir_fd, LOCK_NAME, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
        if (j->lock_fd < 0) {
                r = errbuf_set(err, -errno, "cannot open %s/" LOCK_NAME ": %s", dir, strerror(errno));
                goto fail;
        }
        r = journal_lock(j, err); /* opens and loads under the lock */
        if (r < 0)
                goto fail;
        journal_unlock(j);
        *ret = j;
        return 0;
fail:
        journal_close(j);
        return r;
}

void journal_close(struct journal *j)
{
        if (!j)
                return;
        free_records(j);
        if (j->fd >= 0)
                close(j->fd);
        if (j->lock_fd >= 0)
                close(j->lock_fd);
        if (j->dir_fd >= 0)
                close(j->dir_fd);
        free(j->dir);
        free(j);
}

const char *journal_dir(const struct journal *j)
{
        return j->dir;
}

int journal_refresh(struct journal *j, struct errbuf *err)
{
        struct stat st;
        bool created = false;
        if (fstatat(j->dir_fd, JOURNAL_NAME, &st, 0) < 0) {
                if (errno != ENOENT)
                        return errbuf_set(err, -errno, "cannot stat %s/" JOURNAL_NAME ": %s", j->dir,
                                          strerror(errno));
                created = true;
        } else if (j->fd >= 0 && st.st_dev == j->dev && st.st_ino == j->ino && st.st_size == j->size)
                return 0; /* nobody else changed it */

        if (j->fd >= 0)
                close(j->fd);
        (void) unlinkat(j->dir_fd, JOURNAL_TMP, 0); /* a compaction that died before its rename */
        j->fd = openat(j->dir_fd, JOURNAL_NAME, O_RDWR | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
        if (j->fd < 0)
                return errbuf_set(err, -errno, "cannot open %s/" JOURNAL_NAME ": %s", j->dir, strerror(errno));
        if (created && fsync(j->dir_fd) < 0)
                return errbuf_set(err, -errno, "cannot fsync %s: %s", j->dir, strerror(errno));
        return load(j, err);
}

int journal_lock(struct journal *j, struct errbuf *err)
{
        while (flock(j->lock_fd, LOCK_EX) < 0)
                if (errno != EINTR)
                        return errbuf_set(err, -errno, "cannot lock %s/" LOCK_NAME ": %s", j->dir, strerror(errno));
        int r = journal_refresh(j, err);
        if (r < 0)
                journal_unlock(j);
        return r;
}

void journal_unlock(struct journal *j)
{
        (void) flock(j->lock_fd, LOCK_UN);
}

/* --- changes ------------------------------------------------------------------- */

static int compact(struct journal *j, bool when_worth_it, struct errbuf *err);

int journal_append(struct journal *j, struct journal_record *rec, struct errbuf *err)
{
        rec->seq = j->next_seq;
        journal_format_time((int64_t) time(NULL), rec->time);

        _cleanup_free_ char *line = journal_encode(rec);
        if (!line)
                return -ENOMEM;
        size_t len = strlen(line);
        int r = write_all(j->fd, line, len);
        if (r == 0 && fdatasync(j->fd) < 0)
                r = -errno;
        if (r < 0) {
                /* Take back whatever part of the line reached the file, so
                 * that the journal ends on its last good record. */
                if (ftruncate(j->fd, j->size) == 0)
                        (void) fdatasync(j->fd);
                return errbuf_set(err, r, "cannot append to %s/" JOURNAL_NAME ": %s", j->dir, strerror(-r));
        }

        struct journal_record copy = *rec;
        json_incref(copy.config);
        json_incref(copy.before);
        json_incref(copy.report);
        r = push_record(j, &copy);
        if (r < 0) {
                journal_record_release(&copy);
                return r;
        }
        j->size += (off_t) len;

        /* Bound the file: a few records per generation are normal. */
        if (j->n > (size_t) j->keep * 8 + 64) {
                r = compact(j, true, err);
                if (r < 0)
                        return 0; /* the record is safe; compaction can wait for the next append */
        }
        return 0;
}

int journal_reserve(struct journal *j, size_t bytes, struct errbuf *err)
{
        if (fallocate(j->fd, FALLOC_FL_KEEP_SIZE, j->size, (off_t) bytes) == 0)
                return 0;
        if (errno == EOPNOTSUPP || errno == ENOSYS)
                return 0;
        return errbuf_set(err, -errno, "cannot reserve %zu bytes in %s/" JOURNAL_NAME ": %s", bytes, j->dir,
                          strerror(errno));
}

void journal_file_id(const struct journal *j, struct journal_file_id *ret)
{
        *ret = (struct journal_file_id) { .dev = j->dev, .ino = j->ino, .size = j->size };
}

int journal_peek(const struct journal *j, struct journal_file_id *ret)
{
        struct stat st;
        if (fstatat(j->dir_fd, JOURNAL_NAME, &st, 0) < 0)
                return -errno;
        *ret = (struct journal_file_id) { .dev = st.st_dev, .ino = st.st_ino, .size = st.st_size };
        return 0;
}

static bool keep_generation(uint64_t gen, const uint64_t *keep, size_t n)
{
        for (size_t i = 0; i < n; i++)
                if (keep[i] == gen)
                        return true;
        return false;
}

/* when_worth_it: only when a quarter of the records or more would go. */
static int compact(struct journal *j, bool when_worth_it, struct errbuf *err)
{
        struct journal_state st;
        journal_state(j, &st);

        /* The newest accepted generations, the desired one and the confirmed
         * one: everything the state and the history need. */
        size_t cap = j->keep + 3, n_keep = 0;
        _cleanup_free_ uint64_t *keep = calloc(cap, sizeof(uint64_t));
        if (!keep)
                return -ENOMEM;
        if (st.generation)
                keep[n_keep++] = st.generation;
        if (st.confirmed_generation && !keep_generation(st.confirmed_generation, keep, n_keep))
                keep[n_keep++] = st.confirmed_generation;
        size_t newest = 0;
        for (size_t i = j->n; i-- > 0 && newest < j->keep;) {
                const struct journal_record *r = &j->recs[i];
                if (r->event != JOURNAL_ACCEPTED)
                        continue;
                newest++;
                if (!keep_generation(r->generation, keep, n_keep) && n_keep < cap)
                        keep[n_keep++] = r->generation;
        }

        /* Of a kept generation's "applied" records only the last counts
         * (the state and the history read the last one): applying the same
         * config again, or the boot path's apply, adds one each time. */
        _cleanup_free_ bool *kept = calloc(j->n ? j->n : 1, sizeof(bool));
        _cleanup_free_ uint64_t *applied_seen = calloc(n_keep ? n_keep : 1, sizeof(uint64_t));
        if (!kept || !applied_seen)
                return -ENOMEM;
        size_t n_seen = 0, n_kept = 0;
        for (size_t i = j->n; i-- > 0;) {
                const struct journal_record *rec = &j->recs[i];
                if (!keep_generation(rec->generation, keep, n_keep))
                        continue;
                if (rec->event == JOURNAL_APPLIED) {
                        if (keep_generation(rec->generation, applied_seen, n_seen))
                                continue;
                        applied_seen[n_seen++] = rec->generation;
                }
                kept[i] = true;
                n_kept++;
        }
        /* Rewriting the file is worth it only when it sheds a good part;
         * otherwise the next appends try again. */
        if (when_worth_it && j->n - n_kept < j->n / 4)
                return 0;

        size_t total = 0;
        char **lines = calloc(j->n ? j->n : 1, sizeof(char *));
        if (!lines)
                return -ENOMEM;
        int r = 0;
        for (size_t i = 0; i < j->n && r == 0; i++) {
                const struct journal_record *rec = &j->recs[i];
                if (!kept[i])
                        continue;
                lines[i] = journal_encode(rec);
                if (!lines[i])
                        r = -ENOMEM;
                else
                        total += strlen(lines[i]);
        }
        char *text = r == 0 ? malloc(total + 1) : NULL;
        if (r == 0 && !text)
                r = -ENOMEM;
        size_t off = 0;
        for (size_t i = 0; i < j->n; i++) {
                if (text && lines[i]) {
                        size_t l = strlen(lines[i]);
                        memcpy(text + off, lines[i], l);
                        off += l;
                }
                free(lines[i]);
        }
        free(lines);
        if (r < 0) {
                free(text);
                return r;
        }
        r = replace_file(j, text, off, err);
        free(text);
        if (r < 0)
                return r;

        /* Drop the records that were left out, in memory too. */
        size_t w = 0;
        for (size_t i = 0; i < j->n; i++) {
                struct journal_record *rec = &j->recs[i];
                if (kept[i])
                        j->recs[w++] = *rec;
                else
                        journal_record_release(rec);
        }
        j->n = w;
        return remember_file(j);
}

int journal_compact(struct journal *j, struct errbuf *err)
{
        return compact(j, false, err);
}

/* --- reading --------------------------------------------------------------------- */

const struct journal_record *journal_records(const struct journal *j, size_t *ret_n)
{
        *ret_n = j->n;
        return j->recs;
}

const struct journal_record *journal_find_accepted(const struct journal *j, uint64_t gen)
{
        for (size_t i = j->n; i-- > 0;)
                if (j->recs[i].event == JOURNAL_ACCEPTED && j->recs[i].generation == gen)
                        return &j->recs[i];
        return NULL;
}

const struct journal_recovery *journal_recovery(const struct journal *j)
{
        return &j->recovery;
}

void journal_state(const struct journal *j, struct journal_state *ret)
{
        struct journal_state s = { 0 };
        for (size_t i = 0; i < j->n; i++) {
                const struct journal_record *r = &j->recs[i];
                if (r->generation > s.max_generation)
                        s.max_generation = r->generation;
                switch (r->event) {
                case JOURNAL_ACCEPTED:
                        s.generation = r->generation;
                        s.config = r->config;
                        s.pending = true;
                        s.deadline = r->deadline;
                        s.pending_before = r->before;
                        break;
                case JOURNAL_APPLIED:
                        s.last_applied = r;
                        break;
                case JOURNAL_CONFIRMED:
                        if (r->generation == s.generation) {
                                s.pending = false;
                                s.deadline = 0;
                                s.pending_before = NULL;
                        }
                        s.confirmed_generation = r->generation;
                        s.confirmed_config = r->generation == s.generation ? s.config : NULL;
                        if (!s.confirmed_config) {
                                const struct journal_record *a = journal_find_accepted(j, r->generation);
                                s.confirmed_config = a ? a->config : NULL;
                        }
                        break;
                case JOURNAL_REVERTED:
                        if (r->generation == s.generation) {
                                const struct journal_record *a = r->to ? journal_find_accepted(j, r->to) : NULL;
                                s.generation = a ? r->to : 0;
                                s.config = a ? a->config : NULL;
                                s.pending = false;
                                s.deadline = 0;
                                s.pending_before = NULL;
                        }
                        if (r->report)
                                s.last_applied = r;
                        break;
                case _JOURNAL_EVENT_MAX:
                        break;
                }
        }
        *ret = s;
}

const char *journal_generation_state(const struct journal *j, uint64_t gen)
{
        struct journal_state st;
        journal_state(j, &st);
        if (st.pending && st.generation == gen)
                return "pending";
        for (size_t i = j->n; i-- > 0;) {
                if (j->recs[i].generation != gen)
                        continue;
                if (j->recs[i].event == JOURNAL_CONFIRMED)
                        return "confirmed";
                if (j->recs[i].event == JOURNAL_REVERTED)
                        return "reverted";
        }
        return "unconfirmed";
}

void journal_format_time(int64_t unix_s, char buf[static 32])
{
        time_t t = (time_t) unix_s;
        struct tm tm;
        gmtime_r(&t, &tm);
        strftime(buf, 32, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

int64_t journal_parse_time(const char *text)
{
        struct tm tm = { 0 };
        const char *end = text ? strptime(text, "%Y-%m-%dT%H:%M:%SZ", &tm) : NULL;
        if (!end || *end)
                return 0;
        return (int64_t) timegm(&tm);
}
