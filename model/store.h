/* The config store: the desired config and its generation, kept in the
 * state directory so that it survives restarts. This first version keeps
 * one record, replaced atomically (write temp, fsync, rename, fsync the
 * directory); the journal with history and rollback grows from here.
 *
 * A record is a JSON object:
 *   {"format": 1, "generation": 3, "time": "2026-11-27T10:00:00Z",
 *    "who": "admin", "sha256": "<hex of the compact config>", "config": {…}}
 * A record of a newer format than this binary knows is refused and never
 * rewritten, so that a downgrade cannot destroy a newer binary's state. */
#pragma once

#include <stdint.h>

#include <jansson.h>

#include "errbuf.h"

#define STORE_FORMAT 1

struct store {
        char *dir; /* owned */
        int dir_fd;
};

struct stored_config {
        uint64_t generation; /* 0: nothing stored yet */
        json_t *config;      /* owned; NULL when generation is 0 */
        char time[32];
        char who[128];
};

/* Opens (and creates, mode 0700) the state directory. */
int store_open(const char *dir, struct store *ret, struct errbuf *err);
void store_close(struct store *s);

/* Loads the stored record. No record gives generation 0. A record that is
 * unreadable, fails its checksum or has an unknown format gives -EBADMSG;
 * a newer format gives -EPROTONOSUPPORT. */
int store_load(struct store *s, struct stored_config *ret, struct errbuf *err);
void stored_config_release(struct stored_config *c);

/* Durably records config (borrowed) as generation, on behalf of who. */
int store_save(struct store *s, uint64_t generation, const json_t *config, const char *who, struct errbuf *err);

/* The state directory's path for a file name (for certificates and
 * tokens that live beside the store). Returns 0 or -ENAMETOOLONG. */
int store_path(const struct store *s, const char *name, char *buf, size_t size);

/* Atomically replaces dir_fd/name with data (temp file, fsync, rename,
 * fsync directory), created with the given mode. */
int store_write_file(int dir_fd, const char *name, const void *data, size_t len, unsigned mode, struct errbuf *err);
