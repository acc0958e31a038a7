/* See safemode.h. */
#include "safemode.h"

#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

int safemode_cmdline(const char *cmdline)
{
        int on = 0;
        for (const char *p = cmdline; *p;) {
                p += strspn(p, " \t\n");
                size_t n = strcspn(p, " \t\n");
                if (n == 0)
                        break;
                if (n == strlen("--") && strncmp(p, "--", 2) == 0)
                        break; /* what follows goes to init, not to the kernel */
                if (n == strlen("hugepaged.safe") && strncmp(p, "hugepaged.safe", n) == 0)
                        on = 1;
                else if (n > strlen("hugepaged.safe=") && strncmp(p, "hugepaged.safe=", 15) == 0)
                        on = (n == 16 && (p[15] == '1' || p[15] == 'y' || p[15] == 'Y')) ||
                             (n == 18 && strncmp(p + 15, "yes", 3) == 0) || (n == 17 && strncmp(p + 15, "on", 2) == 0);
                p += n;
        }
        return on;
}

void safemode_detect(const struct sysfs *fs, const char *state_dir, struct safe_mode *ret)
{
        struct safe_mode m = { 0 };
        char cmdline[8192];
        struct errbuf err = { { 0 } };
        if (sysfs_read(fs, SYSFS_PROC, "cmdline", cmdline, sizeof(cmdline), NULL, &err) == 0 &&
            safemode_cmdline(cmdline)) {
                m.active = true;
                snprintf(m.source, sizeof(m.source), "hugepaged.safe on the kernel command line");
        }
        char path[4096];
        struct stat st;
        snprintf(path, sizeof(path), "%s/" SAFEMODE_FLAG_FILE, state_dir);
        if (!m.active && stat(path, &st) == 0) {
                m.active = true;
                snprintf(m.source, sizeof(m.source), "the flag file %.140s", path);
        }
        *ret = m;
}
