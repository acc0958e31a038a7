/* The state every handler shares. Handlers run on several of the HTTP
 * server's threads at once:
 *
 * - apply_lock is held for a whole change (PUT, rollback, confirm, and the
 *   watcher's revert); a second change meanwhile gets 409. The journal is
 *   only touched under it, and under the journal's own file lock, which
 *   console commands in other processes take too.
 * - Reads never touch the journal: they use the published snapshot, which
 *   a change replaces under state_lock when it is done. So reads are
 *   answered while an apply runs.
 * - A watcher thread reverts a change whose confirm window ran out, and
 *   picks up changes made by console commands.
 *
 * A handler takes the app and the request (both borrowed) and fills a
 * response; it returns 0, or -ENOMEM when even the response could not be
 * built. */
#pragma once

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>

#include "../model/change.h"
#include "../model/journal.h"
#include "../model/kubelet.h"
#include "../model/safemode.h"
#include "../model/sysfs.h"
#include "../model/validate.h"
#include "answer.h"
#include "response.h"

struct app;
struct probe_slot;

/* How a change ended, as GET /metrics counts them. */
enum app_outcome {
        APP_OUTCOME_COMPLETE, /* the kernel holds all of it */
        APP_OUTCOME_PARTIAL,  /* the kernel gave fewer pages than asked */
        APP_OUTCOME_FAILED,   /* a write was refused, or the journal failed after the kernel was written */
        APP_OUTCOME_INVALID,  /* validation refused it: nothing written */
        APP_OUTCOME_REFUSED,  /* not run: another change pending, kernel unreadable, journal full */
        _APP_OUTCOME_MAX,
};

/* "complete", "partial", … */
const char *app_outcome_name(enum app_outcome o);
/* Counts a change's outcome. */
void app_count_change(struct app *app, const struct change_result *res);

/* What reads see: rebuilt from the journal after every change. */
struct snapshot {
        uint64_t generation;           /* the desired config's, 0 = none */
        json_t *desired;               /* or NULL */
        uint64_t confirmed_generation; /* 0 = none */
        bool pending;
        uint64_t pending_generation;
        int64_t deadline; /* Unix seconds; 0 = none */
        json_t *last_apply; /* {generation, time, complete, results, thp} or NULL */
        json_t *history;    /* the GET /config/history array */
        json_t *confirmed;             /* the confirmed config, or NULL */
        char journal_note[1100]; /* what the journal's recovery found, "" = clean */
        struct journal_file_id file; /* the journal as this snapshot saw it */
};

/* The boot-arguments backend as GET /status shows it; under state_lock. */
struct boot_state {
        bool configured;
        char spec[512];      /* "grubenv:/oem/grubenv:third_party_kernel_args" */
        uint64_t generation; /* the confirmed generation last written, 0 = none yet */
        char written[1024];  /* the parameters written for it */
        char error[512];     /* why the last write failed, "" = it did not */
};

/* GET /status's list of the processes that hold hugetlb pages
 * (model/holders.h), and the process that runs kubelet (model/kubelet.h):
 * both walk the process list, which costs some 10-30 ms per 1,000
 * processes, so they are refreshed together and
 * its result is kept for HOLDERS_CACHE_MS and shared: a reader that finds
 * it older, or older than the last change published (app_publish), scans
 * again while the others wait for that result. */
#define HOLDERS_CACHE_MS 1000

struct holders_cache {
        pthread_mutex_t lock; /* held for a scan */
        json_t *json;         /* the last scan's report, or NULL */
        char error[512];      /* why the last scan failed, "" = it did not */
        struct kubelet_info kubelet; /* found = false when none runs, or it could not be looked up */
        int64_t scanned_ms;   /* CLOCK_MONOTONIC */
        unsigned long epoch;  /* app->publish_epoch when the scan began */
        unsigned long scans;  /* scans made; 0: none yet */
};

struct app {
        struct sysfs fs;
        uint64_t base_page_kb;
        struct validate_opts vopts;
        struct journal *journal; /* owned by main */
        bool require_if_match;
        char node_name[256];
        const char *version; /* static */
        const char *openapi; /* static, the embedded document */
        size_t openapi_len;

        pthread_mutex_t apply_lock; /* held for a whole change */
        pthread_mutex_t state_lock; /* guards snap */
        struct snapshot snap;

        char start_note[512]; /* a revert that failed at start, "" = none */

        pthread_t watcher;
        bool watcher_running;
        atomic_bool stopping;

        /* Changes since the process started, by outcome (GET /metrics). */
        atomic_ulong applies[_APP_OUTCOME_MAX];

        struct holders_cache holders;
        atomic_ulong publish_epoch; /* bumped by every app_publish */

        /* The last answers of GET /status, /sizes and /metrics (answer.h). */
        struct answer_cache status_answer, sizes_answer, metrics_answer;

        struct boot_state boot; /* under state_lock */
        struct safe_mode safe;  /* set before the server starts */
        char restart_note[512]; /* the last --restart-unit result, under state_lock */

        /* Called at the end of every app_publish, with apply_lock and the
         * journal lock held: the server writes the boot arguments of a
         * newly confirmed config and restarts units there. NULL: none. */
        void (*on_publish)(struct app *app, const struct journal_state *st, void *cls);
        void *on_publish_cls;

        struct probe_slot *probe; /* the last POST /probe (handlers/probe.c) */
};

struct request {
        const char *method;
        const char *path;
        const char *body;
        size_t body_len;
        const char *caller;    /* the authenticated caller's name, or NULL */
        const char *if_match;  /* the If-Match header, or NULL */
        const char *confirm_within; /* the query argument, or NULL */
};

typedef int (*handler_fn)(struct app *app, const struct request *req, struct response *ret);

/* Sets up locks, reverts a change left unconfirmed by the last run, and
 * publishes the first snapshot. The journal must be open. */
int app_init(struct app *app, struct errbuf *err);
/* Starts and stops the watcher thread. */
int app_start(struct app *app);
void app_release(struct app *app);

/* The change context for the model. */
struct change_ctx app_change_ctx(struct app *app);

/* Rebuilds the snapshot from the journal; apply_lock and the journal lock
 * held. */
int app_publish(struct app *app);

/* The hugetlb holders report (holders_to_json()), from the cache or a new
 * scan of the procfs root; s (borrowed) helps when numa_maps cannot be
 * read. Returns 0 with *ret a new reference, -ENOMEM, or another -errno
 * with err when the process list cannot be read. */
int app_holders(struct app *app, const struct sizes *s, json_t **ret, struct errbuf *err);

/* The kubelet process found by the same refresh (fresh as app_holders). */
void app_kubelet(struct app *app, const struct sizes *s, struct kubelet_info *ret);

/* Copies what a read needs out of the snapshot (new references). */
void app_snapshot(struct app *app, struct snapshot *ret);
void snapshot_release(struct snapshot *s);

int handle_sizes(struct app *app, const struct request *req, struct response *ret);
int handle_validate(struct app *app, const struct request *req, struct response *ret);
int handle_config_get(struct app *app, const struct request *req, struct response *ret);
int handle_config_put(struct app *app, const struct request *req, struct response *ret);
int handle_config_history(struct app *app, const struct request *req, struct response *ret);
int handle_config_confirm(struct app *app, const struct request *req, struct response *ret);
int handle_config_rollback(struct app *app, const struct request *req, struct response *ret);
int handle_config_revert(struct app *app, const struct request *req, struct response *ret);
int handle_status(struct app *app, const struct request *req, struct response *ret);
int handle_healthz(struct app *app, const struct request *req, struct response *ret);
int handle_readyz(struct app *app, const struct request *req, struct response *ret);
int handle_metrics(struct app *app, const struct request *req, struct response *ret);
int handle_probe_start(struct app *app, const struct request *req, struct response *ret);
int handle_probe_get(struct app *app, const struct request *req, struct response *ret);
/* Cancels a running probe and waits for it; called by app_release. */
void probe_slot_release(struct app *app);
int handle_openapi(struct app *app, const struct request *req, struct response *ret);
