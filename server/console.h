/* The console commands: the same binary, for when the API is unreachable
 * (history, rollback) and for the boot path (apply-saved). They print to
 * stdout, complain to stderr, and return an exit status. */
#pragma once

#include "options.h"

int console_run(const struct options *o);
