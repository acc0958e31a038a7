/* See log.h. */
#include "log.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

void log_msg(int priority, const char *fmt, ...)
{
        char line[2048];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(line, sizeof(line), fmt, ap);
        va_end(ap);
        if (getenv("JOURNAL_STREAM"))
                fprintf(stderr, "<%d>%s\n", priority, line);
        else
                fprintf(stderr, "hugepaged: %s%s\n",
                        priority <= LOG_ERR ? "error: " : priority == LOG_WARNING ? "warning: " : "", line);
}
