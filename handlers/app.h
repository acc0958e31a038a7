/* The state every handler shares: where the kernel files are, the store, the
 * desired config and the last apply. Handlers run on several of the HTTP
 * server's threads at once, so the mutable part is guarded by state_lock,
 * and apply_lock makes sure only one apply runs at a time while reads go on.
 *
 * A handler takes the app and the request (both borrowed) and fills a
 * response; it returns 0, or -ENOMEM when even the response could not be
 * built. */
#pragma once

#include <pthread.h>
#include <stdint.h>

#include <jansson.h>

#include "../model/store.h"
#include "../model/sysfs.h"
#include "../model/validate.h"
#include "response.h"

struct app {
        struct sysfs fs;
        uint64_t base_page_kb;
        struct validate_opts vopts;
        struct store store;
        char node_name[256];
        const char *version;        /* static */
        const char *openapi;        /* static, the embedded document */
        size_t openapi_len;

        pthread_mutex_t state_lock; /* guards the members below */
        uint64_t generation;        /* 0: no config stored yet */
        json_t *desired;            /* canonical config of generation, or NULL */
        json_t *last_apply;         /* report of the last apply, or NULL */

        pthread_mutex_t apply_lock; /* held for a whole apply */
};

struct request {
        const char *method;
        const char *path;
        const char *query; /* after '?', or NULL */
        const char *body;
        size_t body_len;
        const char *caller; /* the authenticated caller's name, or NULL */
};

typedef int (*handler_fn)(struct app *app, const struct request *req, struct response *ret);

/* Sets up locks and loads the stored config (store must be open). */
int app_init(struct app *app, struct errbuf *err);
void app_release(struct app *app);

int handle_sizes(struct app *app, const struct request *req, struct response *ret);
int handle_validate(struct app *app, const struct request *req, struct response *ret);
int handle_config_put(struct app *app, const struct request *req, struct response *ret);
int handle_status(struct app *app, const struct request *req, struct response *ret);
int handle_healthz(struct app *app, const struct request *req, struct response *ret);
int handle_openapi(struct app *app, const struct request *req, struct response *ret);
