/* See fixture.h. */
#include "fixture.h"

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

void fixture_sh(const char *fmt, ...)
{
        char cmd[8192];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(cmd, sizeof(cmd), fmt, ap);
        va_end(ap);
        int rc = system(cmd);
        if (rc != 0)
                fail_msg("command failed (%d): %s", rc, cmd);
}

char *fixture_copy(const char *name)
{
        char tmpl[] = "/tmp/hugepaged-test-XXXXXX";
        char *dir = mkdtemp(tmpl);
        assert_non_null(dir);
        fixture_sh("cp -a '%s/%s/.' '%s/'", FIXTURES, name, dir);
        return strdup(dir);
}

void fixture_remove(char *dir)
{
        if (!dir)
                return;
        if (strncmp(dir, "/tmp/hugepaged-test-", 20) == 0)
                fixture_sh("rm -rf '%s'", dir);
        free(dir);
}

void fixture_sysfs(const char *dir, struct sysfs *fs)
{
        char sys[4096], proc[4096];
        snprintf(sys, sizeof(sys), "%s/sys", dir);
        snprintf(proc, sizeof(proc), "%s/proc", dir);
        assert_int_equal(sysfs_init(fs, sys, proc), 0);
}

void fixture_put(const char *dir, const char *rel, const char *content)
{
        char path[4096];
        snprintf(path, sizeof(path), "%s/%s", dir, rel);
        if (!content) {
                if (unlink(path) != 0)
                        fail_msg("cannot remove %s", path);
                return;
        }
        FILE *f = fopen(path, "w");
        if (!f)
                fail_msg("cannot write %s", path);
        fputs(content, f);
        fclose(f);
}

const char *fixture_get(const char *dir, const char *rel)
{
        static char buf[8192];
        char path[4096];
        snprintf(path, sizeof(path), "%s/%s", dir, rel);
        FILE *f = fopen(path, "r");
        if (!f)
                fail_msg("cannot read %s", path);
        size_t n = fread(buf, 1, sizeof(buf) - 1, f);
        buf[n] = '\0';
        fclose(f);
        return buf;
}
