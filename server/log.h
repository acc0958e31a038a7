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
