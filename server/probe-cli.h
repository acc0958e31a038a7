/* `hugepaged probe`: the measurement of model/probe.h on the console,
 * printed as a table or as JSON. */
#pragma once

/* argv[0] is "probe"; parses its own flags (see --help). Returns the exit
 * status: 0 when the probe ran (its results say per backing what was
 * measured or why not), 1 when it could not run or was interrupted, 2 for
 * a usage error or a request this machine cannot serve. */
int probe_cli_run(int argc, char **argv);
