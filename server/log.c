/* See log.h. */
#include "log.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#define SD_JOURNAL_SUPPRESS_LOCATION
#include <systemd/sd-journal.h>

int log_to_journal(void)
{
        return getenv("JOURNAL_STREAM") != NULL;
}

void log_msg(int priority, const char *fmt, ...)
{
        char line[2048];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(line, sizeof(line), fmt, ap);
        va_end(ap);
        if (log_to_journal())
                fprintf(stderr, "<%d>%s\n", priority, line);
        else
                fprintf(stderr, "hugepaged: %s%s\n",
                        priority <= LOG_ERR ? "error: " : priority == LOG_WARNING ? "warning: " : "", line);
}

void log_audit(const struct audit_event *e)
{
        int priority = e->status >= 500 ? LOG_ERR : e->status == 401 || e->status == 403 ? LOG_WARNING : LOG_NOTICE;
        char line[1024];
        snprintf(line, sizeof(line), "audit: %s %s from %s by %s (%s): %u %s, generation %" PRIu64, e->method,
                 e->path, e->peer, e->caller, e->caller_kind, e->status, e->outcome, e->generation);
        if (!log_to_journal()) {
                fprintf(stderr, "hugepaged: %s\n", line);
                return;
        }
        /* sd_journal_send returns 0 even when no journald listens
         * (LIBS.md §3); stderr, which is the journal here too, keeps a
         * plain copy only when the native protocol fails outright. */
        int r = sd_journal_send("MESSAGE=%s", line, "MESSAGE_ID=" LOG_MESSAGE_ID_AUDIT, "PRIORITY=%d", priority,
                                "SYSLOG_IDENTIFIER=hugepaged", "HUGEPAGED_METHOD=%s", e->method,
                                "HUGEPAGED_PATH=%s", e->path, "HUGEPAGED_PEER=%s", e->peer, "HUGEPAGED_CALLER=%s",
                                e->caller, "HUGEPAGED_CALLER_KIND=%s", e->caller_kind, "HUGEPAGED_STATUS=%u",
                                e->status, "HUGEPAGED_OUTCOME=%s", e->outcome,
                                "HUGEPAGED_GENERATION=%" PRIu64, e->generation, NULL);
        if (r < 0)
                fprintf(stderr, "<%d>%s\n", priority, line);
}

void log_event(int priority, const char *message_id, uint64_t generation, const char *unit, const char *fmt, ...)
{
        char line[1024];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(line, sizeof(line), fmt, ap);
        va_end(ap);
        if (!log_to_journal() ||
            sd_journal_send("MESSAGE=%s", line, "MESSAGE_ID=%s", message_id, "PRIORITY=%d", priority,
                            "SYSLOG_IDENTIFIER=hugepaged", "HUGEPAGED_GENERATION=%" PRIu64, generation,
                            unit ? "HUGEPAGED_UNIT=%s" : NULL, unit, NULL) < 0)
                log_msg(priority, "%s", line);
}

void log_apply(const struct apply_event *e)
{
        char line[512];
        snprintf(line, sizeof(line), "generation %" PRIu64 ": %s%s%s: asked %s, the kernel holds %s (%s)",
                 e->generation, e->size, strcmp(e->node, "all") ? " on node " : "",
                 strcmp(e->node, "all") ? e->node : "", e->requested, e->after, e->outcome);
        int priority = strcmp(e->outcome, "ok") == 0 ? LOG_INFO : LOG_WARNING;
        if (!log_to_journal() ||
            sd_journal_send("MESSAGE=%s", line, "MESSAGE_ID=" LOG_MESSAGE_ID_APPLY, "PRIORITY=%d", priority,
                            "SYSLOG_IDENTIFIER=hugepaged", "HUGEPAGED_GENERATION=%" PRIu64, e->generation,
                            "HUGEPAGED_SIZE=%s", e->size, "HUGEPAGED_NODE=%s", e->node, "HUGEPAGED_REQUESTED=%s",
                            e->requested, "HUGEPAGED_AFTER=%s", e->after, "HUGEPAGED_OUTCOME=%s", e->outcome,
                            NULL) < 0)
                log_msg(priority, "%s", line);
}
