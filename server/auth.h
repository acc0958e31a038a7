/* Bearer tokens. The token file holds one token per line, optionally
 * followed by a name and a role: "<token> <name> <role>", role "admin" or
 * "read"; a bare token is an admin named "admin". Blank lines and lines
 * starting with '#' are skipped. Only SHA-256 hashes of the tokens are kept
 * in memory, and a presented token is compared with every one of them in
 * constant time. */
#pragma once

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>

#include "../model/errbuf.h"

enum role {
        ROLE_NONE = 0,
        ROLE_READ = 1,
        ROLE_ADMIN = 2,
};

struct token {
        unsigned char hash[32];
        char name[64];
        enum role role;
};

struct auth {
        struct token *tokens; /* owned */
        size_t n;
};

/* Reads path. Tokens shorter than 16 characters, unknown roles, extra
 * fields and a file with no token are errors naming the line. */
int auth_load(const char *path, struct auth *ret, struct errbuf *err);

/* Creates path (mode 0600, never over an existing file) holding one fresh
 * random admin token (32 random bytes, hex). */
int auth_generate(const char *path, struct errbuf *err);

void auth_release(struct auth *a);

/* Checks an Authorization header value. Returns the matching token, or NULL
 * when the header is missing, malformed or names no known token. */
const struct token *auth_check(const struct auth *a, const char *authorization);

/* Who made a request, as the handlers and the audit log see it: a copy, so
 * that it stays valid when the token file is reloaded meanwhile. */
enum caller_kind {
        CALLER_ANONYMOUS = 0,
        CALLER_TOKEN,
        CALLER_CERTIFICATE,
};

struct caller {
        enum caller_kind kind;
        enum role role;
        char name[128]; /* token name, or "cert:" and the certificate's subject */
};

/* The tokens in force, replaced as a whole when the file is reloaded
 * (SIGHUP); requests being checked meanwhile see either the old set or the
 * new one, never a mix, and connections are not touched. */
/* The longest token a token file may hold. */
#define AUTH_TOKEN_MAX 512

struct auth_store {
        pthread_rwlock_t lock;
        struct auth current;
        char path[4096];
};

/* Loads path into a new store. */
int auth_store_init(struct auth_store *s, const char *path, struct errbuf *err);
/* Reads the file again; on any error the tokens in force stay as they
 * were. Sets *ret_count to the number of tokens now in force. */
int auth_store_reload(struct auth_store *s, size_t *ret_count, struct errbuf *err);
/* Like auth_check; true and *ret filled when a token matches. */
bool auth_store_check(struct auth_store *s, const char *authorization, struct caller *ret);
void auth_store_release(struct auth_store *s);
