/* The change protocol: how a config becomes the node's, durably and
 * undoably. Every step is journaled before anyone hears of it:
 *
 *   accepted (config, what it replaces, confirm deadline)
 *   → the kernel is written and read back → applied (the report)
 *   → confirmed at once, or when the operator confirms within the window;
 *     otherwise reverted: the replaced values are written back.
 *
 * A generation that is accepted but not confirmed when the process starts
 * (a crash, a restart inside the window) is reverted the same way, so the
 * node never keeps a change nobody confirmed. The service and the console
 * commands share this code; the caller holds the journal lock. */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>

#include "apply.h"
#include "config.h"
#include "journal.h"
#include "sizes.h"
#include "sysfs.h"
#include "thp.h"
#include "validate.h"

struct change_ctx {
        const struct sysfs *fs;
        uint64_t base_page_kb;
        struct validate_opts vopts;
        struct journal *journal;
};

enum change_outcome {
        CHANGE_DONE,      /* applied (maybe partially: see the result) */
        CHANGE_INVALID,   /* validation errors: nothing written */
        CHANGE_PENDING,   /* another change awaits confirmation: nothing written */
        CHANGE_NO_KERNEL, /* the kernel state could not be read: nothing written */
        CHANGE_NO_DISK,   /* the journal could not be written: nothing written to the kernel */
};

struct change_result {
        enum change_outcome outcome;
        uint64_t generation;
        bool new_generation;    /* false when the same config was applied again */
        int64_t deadline;       /* confirm deadline, 0 = confirmed */
        json_t *config;         /* canonical (owned) */
        struct validation validation;
        struct apply_result apply;
        bool journal_failed;    /* the kernel was written but a later record was not */
        int error;              /* the errno behind NO_KERNEL or NO_DISK (negative) */
        char message[640];
};

/* Validates c on the machine as it is, then journals and applies it.
 * origin is the generation a rollback brings back (0 for a new config);
 * confirm_within_s > 0 opens a confirm window. Returns 0 with the outcome
 * in *ret, or -ENOMEM. */
int change_apply(const struct change_ctx *ctx, const struct config *c, const char *who, uint64_t origin,
                 int64_t confirm_within_s, struct change_result *ret);

/* Confirms the pending generation. -ENOENT when none is pending. */
int change_confirm(const struct change_ctx *ctx, const char *who, uint64_t *ret_generation, struct errbuf *err);

/* Reverts the pending generation: writes back what it replaced and
 * journals why. -ENOENT when none is pending. */
int change_revert(const struct change_ctx *ctx, const char *who, const char *reason, struct change_result *ret);

/* Applies the last confirmed config once (the boot path). -ENOENT when no
 * config was ever confirmed. */
int change_apply_saved(const struct change_ctx *ctx, struct change_result *ret);

void change_result_release(struct change_result *r);
