/* Logging for the server. Under systemd (JOURNAL_STREAM set: stderr is the
 * journal) an ordinary line carries a syslog priority prefix so the journal
 * keeps the level, and audit events go to the journal natively, as
 * structured fields; elsewhere every line goes to stderr. */
#pragma once

#include <stdint.h>
#include <syslog.h>

void log_msg(int priority, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define log_info(...) log_msg(LOG_INFO, __VA_ARGS__)
#define log_warning(...) log_msg(LOG_WARNING, __VA_ARGS__)
#define log_error(...) log_msg(LOG_ERR, __VA_ARGS__)

/* The journal's MESSAGE_ID of an audit event (a request that could change
 * something), for `journalctl MESSAGE_ID=…`. */
#define LOG_MESSAGE_ID_AUDIT "7d3eb49d887646b8aa239366dbcf5f31"

/* The MESSAGE_IDs of the other events. */
#define LOG_MESSAGE_ID_APPLY "f4d75f29d7a444f28f6ca69402c82480"     /* a pool or THP write and what the kernel did */
#define LOG_MESSAGE_ID_BOOT_ARGS "cd61983bb81741a3a1392b3794a88032" /* boot arguments written, or not */
#define LOG_MESSAGE_ID_RESTART "093d132612d94957b5ca8d6356faaaa5"   /* a --restart-unit restart */
#define LOG_MESSAGE_ID_LIFECYCLE "8cb6d705e2f344eaa7b6c1d7b7c46bb2" /* ready, reloading, stopping */
#define LOG_MESSAGE_ID_JOURNAL "48afbd1333804fdfb88ae136e46e51aa"   /* the journal's recovery at start */

/* An event with a MESSAGE_ID and HUGEPAGED_GENERATION (and HUGEPAGED_UNIT
 * when unit is not NULL) in the journal; a plain line elsewhere. */
void log_event(int priority, const char *message_id, uint64_t generation, const char *unit, const char *fmt, ...)
        __attribute__((format(printf, 5, 6)));

/* One write of an apply: HUGEPAGED_GENERATION, HUGEPAGED_SIZE ("2Mi" or a
 * THP setting), HUGEPAGED_NODE ("all" or a number), HUGEPAGED_REQUESTED,
 * HUGEPAGED_AFTER and HUGEPAGED_OUTCOME ("ok", "partial", …). */
struct apply_event {
        uint64_t generation;
        const char *size;
        const char *node;
        const char *requested;
        const char *after;
        const char *outcome;
};
void log_apply(const struct apply_event *e);

/* One audited request; strings already made printable by the caller. */
struct audit_event {
        const char *method;
        const char *path;
        const char *peer;        /* source address */
        const char *caller;      /* token name, "cert:<subject>", or "-" */
        const char *caller_kind; /* "token", "certificate", "none" */
        unsigned status;
        const char *outcome; /* "accepted", "denied", "refused", "failed" */
        uint64_t generation; /* the generation concerned, 0 = none */
};

/* Writes the event: to the journal with the fields HUGEPAGED_METHOD,
 * HUGEPAGED_PATH, HUGEPAGED_PEER, HUGEPAGED_CALLER, HUGEPAGED_CALLER_KIND,
 * HUGEPAGED_STATUS, HUGEPAGED_OUTCOME and HUGEPAGED_GENERATION under
 * systemd, else as one "audit:" line on stderr with the same words. */
void log_audit(const struct audit_event *e);

/* True when the journal is the log (JOURNAL_STREAM is set). */
int log_to_journal(void);
