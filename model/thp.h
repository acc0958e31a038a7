/* Transparent hugepage settings: the files under
 * kernel/mm/transparent_hugepage/ that list every choice with the active one
 * in brackets, "always [madvise] never". hugepaged offers exactly the choices
 * the running kernel prints, never a list of its own. */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "errbuf.h"
#include "sysfs.h"

#define THP_MAX_CHOICES 16
#define THP_MAX_WORD 32

enum thp_knob {
        THP_ENABLED,
        THP_DEFRAG,
        THP_SHMEM_ENABLED,
        _THP_KNOB_MAX,
};

struct thp_setting {
        bool present; /* the kernel has the file */
        char choices[THP_MAX_CHOICES][THP_MAX_WORD];
        size_t n_choices;
        int active; /* index into choices */
};

struct thp {
        struct thp_setting knobs[_THP_KNOB_MAX];
};

/* "enabled", "defrag", "shmem_enabled": the file name and config field. */
const char *thp_knob_name(enum thp_knob k);

/* Parses one file's text. A text without exactly one bracketed word, or
 * with an empty or overlong word, gives -EINVAL. */
int thp_parse(const char *text, struct thp_setting *ret);

/* Reads all knobs; a missing file leaves present = false (THP not built, or
 * an older kernel), a malformed one fails with err naming it. */
int thp_read(const struct sysfs *fs, struct thp *ret, struct errbuf *err);

/* Tells whether word is one of the setting's choices. */
bool thp_offers(const struct thp_setting *s, const char *word);

/* Writes word (which must be offered) to the knob's file. */
int thp_write(const struct sysfs *fs, enum thp_knob k, const char *word, struct errbuf *err);
