/* Test helpers: private copies of the fake sysfs/procfs trees under
 * tests/fixtures, so that a test may write to them and mutate them. */
#pragma once

#include "../../model/sysfs.h"

/* Copies fixture `name` into a new temporary directory and returns its path
 * (caller frees with fixture_remove). Aborts the test on failure. */
char *fixture_copy(const char *name);

/* Removes a copy made by fixture_copy and frees the path. */
void fixture_remove(char *dir);

/* Points fs at dir/sys and dir/proc. */
void fixture_sysfs(const char *dir, struct sysfs *fs);

/* Replaces (or creates) dir/rel with content; NULL content deletes it. */
void fixture_put(const char *dir, const char *rel, const char *content);

/* Reads dir/rel into a static buffer (newline kept). */
const char *fixture_get(const char *dir, const char *rel);

/* Runs a shell command built like printf; fails the test unless it exits 0. */
void fixture_sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
