/* See node.h. */
#include "node.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <systemd/sd-bus.h>

#include "../model/config.h"
#include "../model/sizes.h"
#include "log.h"

int node_init(struct node *n, const char *boot_args, const char *const *restart_units, size_t n_units,
              struct errbuf *err)
{
        *n = (struct node) { 0 };
        if (boot_args) {
                int r = bootargs_spec_parse(boot_args, &n->boot_args, err);
                if (r < 0)
                        return r;
                n->have_boot_args = true;
        }
        if (n_units > sizeof(n->restart_units) / sizeof(n->restart_units[0]))
                return errbuf_set(err, -E2BIG, "too many units to restart");
        for (size_t i = 0; i < n_units; i++)
                n->restart_units[i] = restart_units[i];
        n->n_restart_units = n_units;
        return 0;
}

void node_release(struct node *n)
{
        if (!n)
                return;
        if (n->have_boot_args)
                bootargs_spec_release(&n->boot_args);
        json_decref(n->restart_pools);
        n->restart_pools = NULL;
}

int node_restart_unit(const char *unit, char *ret_job, size_t job_size, struct errbuf *err)
{
        sd_bus *bus = NULL;
        sd_bus_error e = SD_BUS_ERROR_NULL;
        sd_bus_message *reply = NULL;
        int r = sd_bus_open_system(&bus);
        if (r < 0)
                return errbuf_set(err, r, "cannot reach systemd on the system bus: %s", strerror(-r));
        r = sd_bus_call_method(bus, "org.freedesktop.systemd1", "/org/freedesktop/systemd1",
                               "org.freedesktop.systemd1.Manager", "RestartUnit", &e, &reply, "ss", unit, "replace");
        if (r < 0)
                r = errbuf_set(err, r, "systemd did not restart %s: %s", unit, e.message ? e.message : strerror(-r));
        else {
                const char *job = NULL;
                if (sd_bus_message_read(reply, "o", &job) < 0 || !job)
                        job = "?";
                snprintf(ret_job, job_size, "%s", job);
        }
        sd_bus_error_free(&e);
        sd_bus_message_unref(reply);
        sd_bus_flush_close_unref(bus);
        return r;
}

/* Writes the boot arguments of the confirmed config. */
static void write_boot_args(struct app *app, struct node *n, const struct journal_state *st)
{
        struct boot_state b = { .configured = true, .generation = st->confirmed_generation };
        snprintf(b.spec, sizeof(b.spec), "grubenv:%s:%s", n->boot_args.file, n->boot_args.variable);
        struct errbuf err = { { 0 } };
        struct config c;
        struct findings errors = { 0 };
        struct sizes s;
        struct bootargs want = { 0 };
        bool changed = false;
        int r = config_parse((json_t *) st->confirmed_config, &c, &errors);
        findings_release(&errors);
        if (r < 0) {
                snprintf(b.error, sizeof(b.error), "the confirmed config cannot be read back");
                goto out;
        }
        r = sizes_read(&app->fs, app->base_page_kb, &s, &err);
        if (r == 0) {
                r = bootargs_from_config(&c, &s, &want, &err);
                sizes_release(&s);
        }
        config_release(&c);
        if (r == 0)
                r = bootargs_write(&n->boot_args, &want, &changed, &err);
        if (r < 0)
                snprintf(b.error, sizeof(b.error), "%s", err.msg);
        else {
                char *joined = bootargs_join(&want);
                snprintf(b.written, sizeof(b.written), "%s", joined ? joined : "");
                free(joined);
        }
        bootargs_release(&want);
out:
        if (b.error[0])
                log_event(LOG_ERR, LOG_MESSAGE_ID_BOOT_ARGS, st->confirmed_generation, NULL,
                          "boot arguments for generation %llu not written to %s: %s",
                          (unsigned long long) st->confirmed_generation, b.spec, b.error);
        else if (changed)
                log_event(LOG_NOTICE, LOG_MESSAGE_ID_BOOT_ARGS, st->confirmed_generation, NULL,
                          "boot arguments for generation %llu written to %s: \"%s\"",
                          (unsigned long long) st->confirmed_generation, b.spec, b.written);
        pthread_mutex_lock(&app->state_lock);
        app->boot = b;
        pthread_mutex_unlock(&app->state_lock);
        n->boot_generation = st->confirmed_generation;
}

static void restart_units(struct app *app, struct node *n, const struct journal_state *st)
{
        json_t *pools = st->confirmed_config ? json_object_get(st->confirmed_config, "pools") : NULL;
        bool pools_changed = !json_equal(pools, n->restart_pools) && (pools || n->restart_pools);
        json_decref(n->restart_pools);
        n->restart_pools = json_deep_copy(pools);
        n->restart_generation = st->confirmed_generation;
        if (!n->started || !pools_changed)
                return;
        char note[512] = "";
        for (size_t i = 0; i < n->n_restart_units; i++) {
                char job[256];
                struct errbuf err = { { 0 } };
                int r = node_restart_unit(n->restart_units[i], job, sizeof(job), &err);
                if (r < 0)
                        log_event(LOG_ERR, LOG_MESSAGE_ID_RESTART, st->confirmed_generation, n->restart_units[i],
                                  "%s", err.msg);
                else
                        log_event(LOG_NOTICE, LOG_MESSAGE_ID_RESTART, st->confirmed_generation, n->restart_units[i],
                                  "restarted %s after the pools of generation %llu were confirmed (job %s), so "
                                  "that kubelet advertises them",
                                  n->restart_units[i], (unsigned long long) st->confirmed_generation, job);
                size_t used = strlen(note);
                snprintf(note + used, sizeof(note) - used, "%s%.64s: %.300s", used ? "; " : "", n->restart_units[i],
                         r < 0 ? err.msg : "restarted");
        }
        pthread_mutex_lock(&app->state_lock);
        snprintf(app->restart_note, sizeof(app->restart_note), "generation %llu: %.480s",
                 (unsigned long long) st->confirmed_generation, note);
        pthread_mutex_unlock(&app->state_lock);
}

/* One journal event per write of a new apply (or revert) record. */
static void log_applied(const struct journal_record *rec)
{
        uint64_t gen = rec->event == JOURNAL_REVERTED ? rec->to : rec->generation;
        size_t i;
        json_t *it;
        json_array_foreach(json_object_get(rec->report, "results"), i, it)
        {
                char node[16] = "all", requested[32], after[32];
                json_t *jn = json_object_get(it, "node");
                if (json_is_integer(jn))
                        snprintf(node, sizeof(node), "%lld", (long long) json_integer_value(jn));
                snprintf(requested, sizeof(requested), "%lld",
                         (long long) json_integer_value(json_object_get(it, "requested")));
                snprintf(after, sizeof(after), "%lld", (long long) json_integer_value(json_object_get(it, "after")));
                const char *size = json_string_value(json_object_get(it, "size"));
                const char *status = json_string_value(json_object_get(it, "status"));
                struct apply_event e = { gen, size ? size : "?", node, requested, after, status ? status : "?" };
                log_apply(&e);
        }
        json_array_foreach(json_object_get(rec->report, "thp"), i, it)
        {
                const char *ptr = json_string_value(json_object_get(it, "pointer"));
                const char *knob = ptr && strrchr(ptr, '/') ? strrchr(ptr, '/') + 1 : "?";
                const char *req = json_string_value(json_object_get(it, "requested"));
                const char *after = json_string_value(json_object_get(it, "after"));
                const char *status = json_string_value(json_object_get(it, "status"));
                struct apply_event e = { gen, knob, "all", req ? req : "?", after ? after : "?", status ? status : "?" };
                log_apply(&e);
        }
}

void node_on_publish(struct app *app, const struct journal_state *st, void *cls)
{
        struct node *n = cls;
        if (st->last_applied && st->last_applied->seq != n->applied_seq) {
                if (n->started && st->last_applied->report)
                        log_applied(st->last_applied);
                n->applied_seq = st->last_applied->seq;
        }
        if (n->have_boot_args && st->confirmed_config &&
            (!n->started || st->confirmed_generation != n->boot_generation))
                write_boot_args(app, n, st);
        if (n->n_restart_units && (!n->started || st->confirmed_generation != n->restart_generation))
                restart_units(app, n, st);
        n->started = true;
}
