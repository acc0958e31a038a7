/* See auth.h. */
#include "auth.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include "../model/cleanup.h"

#define TOKEN_MIN 16
#define TOKEN_MAX AUTH_TOKEN_MAX
#define TOKENS_MAX 256

static int sha256(const char *data, size_t len, unsigned char out[32])
{
        unsigned int n = 0;
        return EVP_Digest(data, len, out, &n, EVP_sha256(), NULL) && n == 32 ? 0 : -EIO;
}

static bool token_char(char c)
{
        /* RFC 6750 b64token: ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" then "=" */
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || strchr("-._~+/=", c);
}

int auth_load(const char *path, struct auth *ret, struct errbuf *err)
{
        _cleanup_fclose_ FILE *f = fopen(path, "re");
        if (!f)
                return errbuf_set(err, -errno, "cannot open the token file %s: %s", path, strerror(errno));

        struct auth a = { .tokens = calloc(TOKENS_MAX, sizeof(struct token)) };
        if (!a.tokens)
                return -ENOMEM;
        char line[TOKEN_MAX + 256];
        unsigned lineno = 0;
        int r = 0;
        while (fgets(line, sizeof(line), f)) {
                lineno++;
                size_t len = strlen(line);
                if (len == sizeof(line) - 1 && line[len - 1] != '\n') {
                        r = errbuf_set(err, -EINVAL, "%s:%u: line too long", path, lineno);
                        break;
                }
                line[strcspn(line, "\r\n")] = '\0';
                char *save = NULL;
                char *tok = strtok_r(line, " \t", &save);
                if (!tok || tok[0] == '#')
                        continue;
                char *name = strtok_r(NULL, " \t", &save);
                char *role = strtok_r(NULL, " \t", &save);
                char *extra = strtok_r(NULL, " \t", &save);
                size_t tlen = strlen(tok);
                bool ok_chars = true;
                for (size_t i = 0; i < tlen; i++)
                        ok_chars &= token_char(tok[i]);
                if (tlen < TOKEN_MIN || tlen > TOKEN_MAX || !ok_chars) {
                        r = errbuf_set(err, -EINVAL,
                                       "%s:%u: a token must be %d to %d characters of letters, digits and -._~+/=",
                                       path, lineno, TOKEN_MIN, TOKEN_MAX);
                        break;
                }
                if (extra) {
                        r = errbuf_set(err, -EINVAL, "%s:%u: expected TOKEN [NAME [ROLE]], found more fields", path,
                                       lineno);
                        break;
                }
                bool name_ok = true;
                for (const char *c = name; c && *c; c++)
                        name_ok &= (*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') || (*c >= '0' && *c <= '9') ||
                                    strchr("-._@:", *c) != NULL;
                if (!name_ok) {
                        /* Names go into logs, answers and the journal. */
                        r = errbuf_set(err, -EINVAL, "%s:%u: a name may hold letters, digits and -._@: only", path,
                                       lineno);
                        break;
                }
                if (name && strlen(name) >= sizeof(a.tokens[0].name)) {
                        r = errbuf_set(err, -EINVAL, "%s:%u: the name is longer than %zu characters", path, lineno,
                                       sizeof(a.tokens[0].name) - 1);
                        break;
                }
                enum role ro = ROLE_ADMIN;
                if (role && strcmp(role, "read") == 0)
                        ro = ROLE_READ;
                else if (role && strcmp(role, "admin") != 0) {
                        r = errbuf_set(err, -EINVAL, "%s:%u: unknown role \"%.32s\" (admin or read)", path, lineno,
                                       role);
                        break;
                }
                if (a.n == TOKENS_MAX) {
                        r = errbuf_set(err, -EINVAL, "%s: more than %d tokens", path, TOKENS_MAX);
                        break;
                }
                struct token *t = &a.tokens[a.n++];
                if (sha256(tok, tlen, t->hash) < 0) {
                        r = errbuf_set(err, -EIO, "SHA-256 failed");
                        break;
                }
                snprintf(t->name, sizeof(t->name), "%s", name ? name : "admin");
                t->role = ro;
        }
        OPENSSL_cleanse(line, sizeof(line));
        if (r == 0 && ferror(f))
                r = errbuf_set(err, -EIO, "cannot read the token file %s", path);
        if (r == 0 && a.n == 0)
                r = errbuf_set(err, -EINVAL, "the token file %s holds no token", path);
        if (r < 0) {
                auth_release(&a);
                return r;
        }
        *ret = a;
        return 0;
}

int auth_generate(const char *path, struct errbuf *err)
{
        unsigned char rnd[32];
        char text[2 * sizeof(rnd) + 2];
        if (RAND_bytes(rnd, sizeof(rnd)) != 1)
                return errbuf_set(err, -EIO, "no random bytes for a token");
        for (size_t i = 0; i < sizeof(rnd); i++)
                snprintf(text + 2 * i, 3, "%02x", rnd[i]);
        strcat(text, "\n");
        OPENSSL_cleanse(rnd, sizeof(rnd));

        _cleanup_close_ int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
        if (fd < 0)
                return errbuf_set(err, -errno, "cannot create the token file %s: %s", path, strerror(errno));
        size_t len = strlen(text);
        ssize_t k = write(fd, text, len);
        OPENSSL_cleanse(text, sizeof(text));
        if (k != (ssize_t) len || fsync(fd) < 0) {
                int e = k < 0 ? errno : EIO;
                unlink(path);
                return errbuf_set(err, -e, "cannot write the token file %s", path);
        }
        return 0;
}

void auth_release(struct auth *a)
{
        if (!a)
                return;
        if (a->tokens)
                OPENSSL_cleanse(a->tokens, TOKENS_MAX * sizeof(struct token));
        free(a->tokens);
        a->tokens = NULL;
        a->n = 0;
}

const struct token *auth_check(const struct auth *a, const char *authorization)
{
        if (!authorization || strncasecmp(authorization, "Bearer ", 7) != 0)
                return NULL;
        const char *tok = authorization + 7;
        while (*tok == ' ')
                tok++;
        size_t len = strlen(tok);
        while (len > 0 && tok[len - 1] == ' ')
                len--;
        if (len == 0 || len > TOKEN_MAX)
                return NULL;

        /* Hashing first makes the comparison independent of the presented
         * token's length; every stored hash is compared, match or not. */
        unsigned char h[32];
        if (sha256(tok, len, h) < 0)
                return NULL;
        const struct token *found = NULL;
        for (size_t i = 0; i < a->n; i++)
                if (CRYPTO_memcmp(h, a->tokens[i].hash, sizeof(h)) == 0)
                        found = &a->tokens[i];
        return found;
}

int auth_store_init(struct auth_store *s, const char *path, struct errbuf *err)
{
        if (strlen(path) >= sizeof(s->path))
                return errbuf_set(err, -ENAMETOOLONG, "the token file path is too long");
        struct auth a;
        int r = auth_load(path, &a, err);
        if (r < 0)
                return r;
        r = -pthread_rwlock_init(&s->lock, NULL);
        if (r < 0) {
                auth_release(&a);
                return errbuf_set(err, r, "cannot set up the token lock");
        }
        s->current = a;
        snprintf(s->path, sizeof(s->path), "%s", path);
        return 0;
}

int auth_store_reload(struct auth_store *s, size_t *ret_count, struct errbuf *err)
{
        struct auth a;
        int r = auth_load(s->path, &a, err);
        if (r < 0)
                return r;
        pthread_rwlock_wrlock(&s->lock);
        struct auth old = s->current;
        s->current = a;
        pthread_rwlock_unlock(&s->lock);
        auth_release(&old);
        *ret_count = a.n;
        return 0;
}

bool auth_store_check(struct auth_store *s, const char *authorization, struct caller *ret)
{
        pthread_rwlock_rdlock(&s->lock);
        const struct token *t = auth_check(&s->current, authorization);
        if (t) {
                ret->kind = CALLER_TOKEN;
                ret->role = t->role;
                snprintf(ret->name, sizeof(ret->name), "%s", t->name);
        }
        pthread_rwlock_unlock(&s->lock);
        return t != NULL;
}

void auth_store_release(struct auth_store *s)
{
        if (!s || !s->current.tokens)
                return;
        auth_release(&s->current);
        pthread_rwlock_destroy(&s->lock);
}
