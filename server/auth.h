/* Bearer tokens. The token file holds one token per line, optionally
 * followed by a name and a role: "<token> <name> <role>", role "admin" or
 * "read"; a bare token is an admin named "admin". Blank lines and lines
 * starting with '#' are skipped. Only SHA-256 hashes of the tokens are kept
 * in memory, and a presented token is compared with every one of them in
 * constant time. */
#pragma once

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
