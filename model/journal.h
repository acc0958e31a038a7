/* The journal: every change to the desired config, kept in the state
 * directory so that nothing is lost in a crash and any generation can be
 * brought back.
 *
 * The file "journal" is append-only, one record per line, readable with
 * ordinary tools (cut -d' ' -f2- journal | jq .):
 *
 *   <SHA-256 of the JSON text, hex> SP <compact JSON object> LF
 *
 *   {"v":1,"seq":7,"event":"accepted","gen":3,"time":"2026-11-27T10:00:00Z",
 *    "who":"admin","config":{…},"before":{…},"deadline":1795000000}
 *
 * Events: "accepted" (a config becomes the desired one: its generation, the
 * config, "before" the kernel values it replaces, and for a confirm window
 * the deadline in Unix seconds), "applied" (what the kernel did: "report"),
 * "confirmed" (the generation is kept), "reverted" (the pending generation
 * "gen" is undone, back to generation "to", with a "reason").
 *
 * A record is appended and fdatasync'ed before the caller answers anyone.
 * On open, a torn or corrupt tail (a crash mid-write, a bad disk) is copied
 * to "journal.corrupt-<time>" for inspection and cut off; a corrupt record
 * between good ones is set aside the same way and the file rewritten
 * without it. A record of a newer format than this binary knows stops the
 * open with -EPROTONOSUPPORT, and the file is never rewritten. Compaction
 * keeps the records of the newest generations (and of the confirmed one)
 * and replaces the file atomically (temp file, fsync, rename, fsync dir).
 *
 * Several processes may use one state directory (the service, and console
 * commands when the API is unreachable): every change happens under an
 * exclusive flock on "lock", and journal_refresh() reloads what another
 * process appended. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "errbuf.h"

#define JOURNAL_FORMAT 1

enum journal_event {
        JOURNAL_ACCEPTED,
        JOURNAL_APPLIED,
        JOURNAL_CONFIRMED,
        JOURNAL_REVERTED,
        _JOURNAL_EVENT_MAX,
};

const char *journal_event_name(enum journal_event e);

struct journal_record {
        uint64_t seq;
        enum journal_event event;
        uint64_t generation;
        char time[32];
        char who[128];
        /* The trees hold a reference each, and may be shared with other
         * records (a replay parses a repeated text once) and with callers:
         * nobody changes them. */
        json_t *config;     /* accepted: the config (owned) */
        json_t *before;     /* accepted: kernel values it replaced (owned, may be NULL) */
        int64_t deadline;   /* accepted: confirm deadline, Unix seconds; 0 = none */
        json_t *report;     /* applied: the apply report (owned) */
        uint64_t to;        /* reverted: the generation restored (0 = none) */
        char reason[64];    /* reverted: "deadline", "restart", "operator" */
        uint64_t origin;    /* accepted: the generation rolled back to, 0 = a new config */
};

/* What the records say, replayed in order. */
struct journal_state {
        uint64_t max_generation;       /* the highest ever given out */
        uint64_t generation;           /* the desired config's, 0 = none */
        const json_t *config;          /* the desired config (borrowed), NULL = none */
        uint64_t confirmed_generation; /* 0 = none */
        const json_t *confirmed_config;
        bool pending;                  /* generation is accepted but not confirmed */
        int64_t deadline;              /* for pending: 0 = confirmed as soon as applied */
        const json_t *pending_before;  /* for pending: what it replaced */
        const struct journal_record *last_applied; /* NULL = none */
};

struct journal_recovery {
        bool torn_tail;          /* a tail was cut */
        size_t corrupt_records;  /* records set aside */
        char saved_as[256];      /* where the cut bytes went, "" = nowhere */
        char message[512];       /* for the log and GET /status, "" = clean */
};

struct journal;

/* Opens dir (creating it, mode 0700) and its journal, recovering as above.
 * keep_generations bounds the history that compaction keeps (at least 2). */
int journal_open(const char *dir, unsigned keep_generations, struct journal **ret, struct errbuf *err);
void journal_close(struct journal *j);

/* The state directory's path. */
const char *journal_dir(const struct journal *j);

/* Exclusive lock for a change; journal_lock also refreshes (see above). */
int journal_lock(struct journal *j, struct errbuf *err);
void journal_unlock(struct journal *j);

/* Reloads the file if another process changed it. Called by journal_lock. */
int journal_refresh(struct journal *j, struct errbuf *err);

/* Appends rec (seq and time are filled in; borrowed otherwise) durably.
 * Must be called with the lock held. -ENOSPC when the disk is full; the
 * journal is unchanged then. May compact afterwards. */
int journal_append(struct journal *j, struct journal_record *rec, struct errbuf *err);

/* Reserves room for the next `bytes` of records (fallocate beyond the end
 * of the file), so that a change whose first record was written can also
 * write its last. -ENOSPC when the disk cannot hold them; 0 where the file
 * system cannot reserve (the appends then find out). Lock held. */
int journal_reserve(struct journal *j, size_t bytes, struct errbuf *err);

/* The journal file's identity and size: as last loaded or written
 * (journal_file_id, lock held), and as it is on disk now (journal_peek,
 * no lock needed). When they differ, another process changed it. */
struct journal_file_id {
        unsigned long long dev, ino;
        long long size;
};
void journal_file_id(const struct journal *j, struct journal_file_id *ret);
int journal_peek(const struct journal *j, struct journal_file_id *ret);

/* Rewrites the journal keeping the newest generations, and of each only
 * its last "applied" record. Lock held. Appends call it themselves when the
 * journal has grown past a few records per kept generation and a
 * compaction would shed a quarter of it. */
int journal_compact(struct journal *j, struct errbuf *err);

/* Replays the records. The state borrows from j until the next change. */
void journal_state(const struct journal *j, struct journal_state *ret);

/* The records, oldest first (borrowed). */
const struct journal_record *journal_records(const struct journal *j, size_t *ret_n);

/* The accepted record of generation gen, or NULL. */
const struct journal_record *journal_find_accepted(const struct journal *j, uint64_t gen);

/* How generation gen ended: "pending", "confirmed", "reverted" or
 * "unconfirmed" (accepted, never closed). */
const char *journal_generation_state(const struct journal *j, uint64_t gen);

/* Unix seconds as "2026-11-27T10:00:00Z" (UTC), the journal's time format. */
void journal_format_time(int64_t unix_s, char buf[static 32]);
/* The reverse: Unix seconds, or 0 for a text not in that format. */
int64_t journal_parse_time(const char *text);

/* What the last open found and mended. */
const struct journal_recovery *journal_recovery(const struct journal *j);

/* Record codec, exposed for tests: one line (with its LF) from rec, and
 * back. journal_decode gives -EBADMSG for a damaged line and
 * -EPROTONOSUPPORT for a newer format. */
char *journal_encode(const struct journal_record *rec);
int journal_decode(const char *line, size_t len, struct journal_record *ret);
void journal_record_release(struct journal_record *rec);
