/* What a confirmed config means for the node beyond its sysfs files:
 *
 * - the boot arguments backend (--boot-args grubenv:FILE:VARIABLE) gets
 *   the kernel parameters of every newly confirmed config, so that the
 *   next boot starts with them (pending changes never reach it);
 * - the units named with --restart-unit (kubelet, rke2-server, …) are
 *   restarted through systemd's D-Bus API after a confirmed change of the
 *   pools, since kubelet reads hugepage capacity only at start.
 *
 * node_on_publish is the app's on_publish hook; it runs under the change
 * locks, so writes to the environment block are serialized with every
 * change. Each action is logged as a journal event. */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>

#include "../handlers/app.h"
#include "../model/bootargs.h"
#include "../model/errbuf.h"

struct node {
        bool have_boot_args;
        struct bootargs_spec boot_args;
        const char *restart_units[8];
        size_t n_restart_units;

        /* What was done already: the first publish (at start) only
         * remembers, it never restarts anything. */
        bool started;
        uint64_t boot_generation;
        uint64_t restart_generation;
        json_t *restart_pools; /* the pools of restart_generation */
        uint64_t applied_seq;  /* the journal record whose apply was logged last */
};

/* Sets up from the flags; boot_args may be NULL. */
int node_init(struct node *n, const char *boot_args, const char *const *restart_units, size_t n_units,
              struct errbuf *err);
void node_release(struct node *n);

/* The app's on_publish hook (cls: the struct node). */
void node_on_publish(struct app *app, const struct journal_state *st, void *cls);

/* Restarts one unit through org.freedesktop.systemd1.Manager.RestartUnit
 * on the system bus (DBUS_SYSTEM_BUS_ADDRESS is honoured). */
int node_restart_unit(const char *unit, char *ret_job, size_t job_size, struct errbuf *err);
