/* Drift: where the kernel differs from the desired config. Someone else may
 * have written sysfs (another agent, an operator with echo), or an apply came
 * back partial. Only what the config manages is compared. The default size
 * is not drift but a pending reboot, and is left to validation. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "sizes.h"
#include "thp.h"

struct drift_item {
        char *pointer; /* owned, into the config document */
        bool is_word;  /* THP: the words below; pools: the numbers */
        uint64_t desired, actual;
        char desired_word[THP_MAX_WORD], actual_word[THP_MAX_WORD];
};

struct drift {
        struct drift_item *items;
        size_t n;
};

/* Compares c with the kernel state. Returns 0 or -ENOMEM. */
int drift_compute(const struct config *c, const struct sizes *s, const struct thp *t, struct drift *ret);
void drift_release(struct drift *d);
