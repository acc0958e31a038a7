/* See app.h. */
#include "app.h"

#include <errno.h>
#include <string.h>

#include "kernel.h"

int app_init(struct app *app, struct errbuf *err)
{
        struct stored_config sc;
        int r = store_load(&app->store, &sc, err);
        if (r < 0)
                return r;
        pthread_mutex_init(&app->state_lock, NULL);
        pthread_mutex_init(&app->apply_lock, NULL);
        app->generation = sc.generation;
        app->desired = sc.config; /* ownership moves to the app */
        app->last_apply = NULL;
        return 0;
}

void app_release(struct app *app)
{
        if (!app)
                return;
        json_decref(app->desired);
        json_decref(app->last_apply);
        app->desired = app->last_apply = NULL;
        pthread_mutex_destroy(&app->state_lock);
        pthread_mutex_destroy(&app->apply_lock);
}

int kernel_read(const struct app *app, struct kernel *ret, struct errbuf *err)
{
        struct kernel k = { 0 };
        int r = sizes_read(&app->fs, app->base_page_kb, &k.sizes, err);
        if (r < 0)
                return r;
        r = thp_read(&app->fs, &k.thp, err);
        if (r < 0) {
                sizes_release(&k.sizes);
                return r;
        }
        *ret = k;
        return 0;
}

void kernel_release(struct kernel *k)
{
        if (k)
                sizes_release(&k->sizes);
}

int kernel_problem(struct response *resp, int r, const char *instance, const struct errbuf *err)
{
        if (r == -ENOMEM)
                return r;
        return response_problem(resp, 500, "kernel-state", instance,
                                "cannot read the kernel's hugepage state: %s", err->msg);
}
