/* See thp.h. */
#include "thp.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#define THP_DIR "kernel/mm/transparent_hugepage"

const char *thp_knob_name(enum thp_knob k)
{
        static const char *const names[_THP_KNOB_MAX] = {
                [THP_ENABLED] = "enabled",
                [THP_DEFRAG] = "defrag",
                [THP_SHMEM_ENABLED] = "shmem_enabled",
        };
        return k < _THP_KNOB_MAX ? names[k] : NULL;
}

int thp_parse(const char *text, struct thp_setting *ret)
{
        struct thp_setting s = { .present = true, .active = -1 };
        const char *p = text;

        for (;;) {
                while (*p == ' ' || *p == '\n')
                        p++;
                if (!*p)
                        break;
                bool bracket = *p == '[';
                if (bracket)
                        p++;
                const char *start = p;
                while (*p && *p != ' ' && *p != '\n' && *p != ']' && *p != '[')
                        p++;
                size_t len = (size_t) (p - start);
                if (len == 0 || len >= THP_MAX_WORD || s.n_choices == THP_MAX_CHOICES)
                        return -EINVAL;
                if (bracket) {
                        if (*p != ']' || s.active >= 0)
                                return -EINVAL;
                        p++;
                        s.active = (int) s.n_choices;
                } else if (*p == ']' || *p == '[')
                        return -EINVAL;
                /* Words are separated by blanks: "[mad]vise" is not two. */
                if (*p && *p != ' ' && *p != '\n')
                        return -EINVAL;
                memcpy(s.choices[s.n_choices], start, len);
                s.choices[s.n_choices][len] = '\0';
                s.n_choices++;
        }
        if (s.active < 0)
                return -EINVAL;
        *ret = s;
        return 0;
}

int thp_read(const struct sysfs *fs, struct thp *ret, struct errbuf *err)
{
        struct thp t = { 0 };
        for (int k = 0; k < _THP_KNOB_MAX; k++) {
                char rel[96], buf[512];
                snprintf(rel, sizeof(rel), THP_DIR "/%s", thp_knob_name((enum thp_knob) k));
                /* A knob this kernel lacks is skipped (one lookup: no
                 * separate existence check before the read). */
                int r = sysfs_read_kept(fs, SYSFS_SYS, rel, buf, sizeof(buf), NULL, err);
                if (r == -ENOENT)
                        continue;
                if (r < 0)
                        return r;
                r = thp_parse(buf, &t.knobs[k]);
                if (r < 0) {
                        buf[strcspn(buf, "\n")] = '\0';
                        return errbuf_set(err, r,
                                          "%s/%s: expected the choices with the active one in brackets, found \"%s\"",
                                          fs->sys_root, rel, buf);
                }
        }
        *ret = t;
        return 0;
}

bool thp_offers(const struct thp_setting *s, const char *word)
{
        if (!s->present)
                return false;
        for (size_t i = 0; i < s->n_choices; i++)
                if (strcmp(s->choices[i], word) == 0)
                        return true;
        return false;
}

int thp_write(const struct sysfs *fs, enum thp_knob k, const char *word, struct errbuf *err)
{
        char rel[96];
        snprintf(rel, sizeof(rel), THP_DIR "/%s", thp_knob_name(k));
        return sysfs_write_word(fs, rel, word, err);
}
