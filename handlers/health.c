/* GET /healthz: the process serves requests. It deliberately reads nothing
 * from the kernel, so a probe never costs more than a round trip. */
#include "app.h"

int handle_healthz(struct app *app, const struct request *req, struct response *ret)
{
        (void) app;
        (void) req;
        return response_json(ret, 200, json_pack("{s:s}", "status", "ok"));
}

/* GET /readyz: the service can do its job: the journal is open, the
 * kernel's hugepage directory is there, and it is not shutting down. One
 * stat, so probes stay cheap. 503 with the reason otherwise. */
int handle_readyz(struct app *app, const struct request *req, struct response *ret)
{
        const char *why = NULL;
        if (atomic_load(&app->stopping))
                why = "the service is stopping";
        else if (!app->journal)
                why = "the journal is not open";
        else if (!sysfs_exists(&app->fs, SYSFS_SYS, "kernel/mm/hugepages"))
                why = "the kernel's hugepage directory cannot be read";
        if (why)
                return response_problem(ret, 503, "not-ready", req->path, "not ready: %s", why);
        return response_json(ret, 200, json_pack("{s:s}", "status", "ready"));
}
