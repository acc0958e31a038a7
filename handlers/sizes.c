/* GET /sizes: what this kernel offers and holds, per size and per node. */
#include "app.h"
#include "kernel.h"
#include "report.h"

int handle_sizes(struct app *app, const struct request *req, struct response *ret)
{
        unsigned long epoch;
        int r = answer_cache_serve(&app->sizes_answer, app, ret, &epoch);
        if (r != 0)
                return r < 0 ? r : 0;
        struct kernel k;
        struct errbuf err = { { 0 } };
        r = kernel_read(app, &k, &err);
        if (r < 0)
                return kernel_problem(ret, r, req->path, &err);
        json_t *body = report_sizes(&k.sizes, &k.thp, &app->vopts);
        kernel_release(&k);
        r = response_json(ret, 200, body);
        /* An answer that cannot be kept is still sent; the next one is
         * built again. */
        if (r == 0)
                (void) answer_cache_store(&app->sizes_answer, epoch, ret);
        return r;
}
