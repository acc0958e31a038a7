/* Logging for the server: one line per event on stderr, which systemd sends
 * to the journal. Under journald (JOURNAL_STREAM set) each line carries a
 * syslog priority prefix so the journal keeps the level. */
#pragma once

#include <syslog.h>

void log_msg(int priority, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define log_info(...) log_msg(LOG_INFO, __VA_ARGS__)
#define log_warning(...) log_msg(LOG_WARNING, __VA_ARGS__)
#define log_error(...) log_msg(LOG_ERR, __VA_ARGS__)
