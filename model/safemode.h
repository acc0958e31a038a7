/* Safe mode: a way to boot a node whose hugepage config hurts it without
 * applying that config again. It is on when the kernel command line holds
 * hugepaged.safe=1 (or a bare hugepaged.safe; "=0" turns it off), typed
 * at the boot menu, or when the state directory holds a file named
 * "safe-mode" (made from a rescue shell). apply-saved then applies
 * nothing, and the service says so in GET /status. */
#pragma once

#include <stdbool.h>

#include "sysfs.h"

#define SAFEMODE_FLAG_FILE "safe-mode"

struct safe_mode {
        bool active;
        char source[160]; /* what turned it on, for people */
};

/* Looks at <procfs>/cmdline and state_dir/safe-mode. A command line that
 * cannot be read counts as one without the flag. */
void safemode_detect(const struct sysfs *fs, const char *state_dir, struct safe_mode *ret);

/* The verdict of the command line text alone: 1 on, 0 off or absent. The
 * last hugepaged.safe token wins, as the kernel's own parameters do. */
int safemode_cmdline(const char *cmdline);
