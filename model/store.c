/* See store.h. */
#include "store.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "cleanup.h"

#define RECORD_NAME "desired.json"
#define RECORD_MAX (256 * 1024)

static int mkdir_p(const char *dir, mode_t mode)
{
        char buf[4096];
        if (strlen(dir) >= sizeof(buf))
                return -ENAMETOOLONG;
        strcpy(buf, dir);
        /* "state/" would otherwise create "state" with the parents' mode. */
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

int store_open(const char *dir, struct store *ret, struct errbuf *err)
{
        int r = mkdir_p(dir, 0700);
        if (r < 0)
                return errbuf_set(err, r, "cannot create the state directory %s: %s", dir, strerror(-r));
        int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fd < 0)
                return errbuf_set(err, -errno, "cannot open the state directory %s: %s", dir, strerror(errno));
        char *d = strdup(dir);
        if (!d) {
                close(fd);
                return -ENOMEM;
        }
        *ret = (struct store) { .dir = d, .dir_fd = fd };
        return 0;
}

void store_close(struct store *s)
{
        if (!s)
                return;
        if (s->dir_fd >= 0)
                close(s->dir_fd);
        free(s->dir);
        s->dir = NULL;
        s->dir_fd = -1;
}

int store_path(const struct store *s, const char *name, char *buf, size_t size)
{
        int n = snprintf(buf, size, "%s/%s", s->dir, name);
        return n < 0 || (size_t) n >= size ? -ENAMETOOLONG : 0;
}

static int sha256_hex(const char *data, size_t len, char hex[65])
{
        unsigned char md[32];
        unsigned int mdlen = 0;
        if (!EVP_Digest(data, len, md, &mdlen, EVP_sha256(), NULL) || mdlen != 32)
                return -EIO;
        for (unsigned i = 0; i < 32; i++)
                snprintf(hex + 2 * i, 3, "%02x", md[i]);
        return 0;
}

int store_write_file(int dir_fd, const char *name, const void *data, size_t len, unsigned mode, struct errbuf *err)
{
        char tmp[256];
        snprintf(tmp, sizeof(tmp), ".%s.tmp", name);
        (void) unlinkat(dir_fd, tmp, 0);

        _cleanup_close_ int fd = openat(dir_fd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, (mode_t) mode);
        if (fd < 0)
                return errbuf_set(err, -errno, "cannot create %s: %s", tmp, strerror(errno));
        const char *p = data;
        size_t left = len;
        while (left > 0) {
                ssize_t k = write(fd, p, left);
                if (k < 0 && errno == EINTR)
                        continue;
                if (k < 0) {
                        int e = errno;
                        unlinkat(dir_fd, tmp, 0);
                        return errbuf_set(err, -e, "cannot write %s: %s", tmp, strerror(e));
                }
                p += k;
                left -= (size_t) k;
        }
        if (fsync(fd) < 0) {
                int e = errno;
                unlinkat(dir_fd, tmp, 0);
                return errbuf_set(err, -e, "cannot fsync %s: %s", tmp, strerror(e));
        }
        if (renameat(dir_fd, tmp, dir_fd, name) < 0) {
                int e = errno;
                unlinkat(dir_fd, tmp, 0);
                return errbuf_set(err, -e, "cannot rename %s to %s: %s", tmp, name, strerror(e));
        }
        if (fsync(dir_fd) < 0)
                return errbuf_set(err, -errno, "cannot fsync the state directory: %s", strerror(errno));
        return 0;
}

int store_save(struct store *s, uint64_t generation, const json_t *config, const char *who, struct errbuf *err)
{
        _cleanup_free_ char *compact = json_dumps(config, JSON_COMPACT | JSON_SORT_KEYS);
        if (!compact)
                return -ENOMEM;
        char hex[65];
        if (sha256_hex(compact, strlen(compact), hex) < 0)
                return errbuf_set(err, -EIO, "SHA-256 failed");

        char when[32];
        time_t now = time(NULL);
        struct tm tm;
        gmtime_r(&now, &tm);
        strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);

        _cleanup_json_ json_t *rec = json_pack("{s:i, s:I, s:s, s:s, s:s, s:O}", "format", STORE_FORMAT,
                                               "generation", (json_int_t) generation, "time", when, "who",
                                               who ? who : "", "sha256", hex, "config", config);
        if (!rec)
                return -ENOMEM;
        _cleanup_free_ char *text = json_dumps(rec, JSON_INDENT(2));
        if (!text)
                return -ENOMEM;
        size_t len = strlen(text);
        text[len] = '\0';
        _cleanup_free_ char *line = malloc(len + 2);
        if (!line)
                return -ENOMEM;
        memcpy(line, text, len);
        line[len] = '\n';
        line[len + 1] = '\0';
        return store_write_file(s->dir_fd, RECORD_NAME, line, len + 1, 0600, err);
}

int store_load(struct store *s, struct stored_config *ret, struct errbuf *err)
{
        _cleanup_close_ int fd = openat(s->dir_fd, RECORD_NAME, O_RDONLY | O_CLOEXEC);
        if (fd < 0) {
                if (errno == ENOENT) {
                        *ret = (struct stored_config) { 0 };
                        return 0;
                }
                return errbuf_set(err, -errno, "cannot open %s/" RECORD_NAME ": %s", s->dir, strerror(errno));
        }
        _cleanup_free_ char *buf = malloc(RECORD_MAX);
        if (!buf)
                return -ENOMEM;
        size_t len = 0;
        for (;;) {
                ssize_t k = read(fd, buf + len, RECORD_MAX - len);
                if (k < 0 && errno == EINTR)
                        continue;
                if (k < 0)
                        return errbuf_set(err, -errno, "cannot read %s/" RECORD_NAME ": %s", s->dir, strerror(errno));
                if (k == 0)
                        break;
                len += (size_t) k;
                if (len == RECORD_MAX)
                        return errbuf_set(err, -EBADMSG, "%s/" RECORD_NAME " is larger than %d bytes", s->dir,
                                          RECORD_MAX);
        }

        json_error_t je;
        _cleanup_json_ json_t *rec = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &je);
        if (!rec)
                return errbuf_set(err, -EBADMSG, "%s/" RECORD_NAME " is not valid JSON: %s (line %d)", s->dir,
                                  je.text, je.line);
        json_int_t format = 0, generation = 0;
        const char *when = "", *who = "", *sum = "";
        json_t *config = NULL;
        /* Check the format before anything else: a newer binary may have
         * changed every other field. */
        if (json_unpack(rec, "{s:I}", "format", &format) < 0)
                return errbuf_set(err, -EBADMSG, "%s/" RECORD_NAME " has no format version", s->dir);
        if (format > STORE_FORMAT)
                return errbuf_set(err, -EPROTONOSUPPORT,
                                  "%s/" RECORD_NAME " has format %" JSON_INTEGER_FORMAT
                                  ", newer than this binary's %d: refusing to start rather than overwrite it "
                                  "(run the newer hugepaged, or move the file aside deliberately)",
                                  s->dir, format, STORE_FORMAT);
        if (format < 1 ||
            json_unpack_ex(rec, &je, JSON_STRICT, "{s:I, s:I, s:s, s:s, s:s, s:o}", "format", &format, "generation",
                           &generation, "time", &when, "who", &who, "sha256", &sum, "config", &config) < 0 ||
            generation < 1 || !json_is_object(config))
                return errbuf_set(err, -EBADMSG, "%s/" RECORD_NAME " is not a hugepaged record: %s", s->dir,
                                  je.text[0] ? je.text : "bad generation or config");

        _cleanup_free_ char *compact = json_dumps(config, JSON_COMPACT | JSON_SORT_KEYS);
        char hex[65];
        if (!compact)
                return -ENOMEM;
        if (sha256_hex(compact, strlen(compact), hex) < 0 || strcmp(hex, sum) != 0)
                return errbuf_set(err, -EBADMSG, "%s/" RECORD_NAME ": the checksum does not match its config",
                                  s->dir);

        struct stored_config c = { .generation = (uint64_t) generation, .config = json_incref(config) };
        snprintf(c.time, sizeof(c.time), "%s", when);
        snprintf(c.who, sizeof(c.who), "%s", who);
        *ret = c;
        return 0;
}

void stored_config_release(struct stored_config *c)
{
        if (!c)
                return;
        json_decref(c->config);
        c->config = NULL;
}
