/* GET /sizes: what this kernel offers and holds, per size and per node. */
#include "app.h"
#include "kernel.h"
#include "report.h"

int handle_sizes(struct app *app, const struct request *req, struct response *ret)
{
        struct kernel k;
        struct errbuf err = { { 0 } };
        int r = kernel_read(app, &k, &err);
        if (r < 0)
                return kernel_problem(ret, r, req->path, &err);
        json_t *body = report_sizes(&k.sizes, &k.thp, &app->vopts);
        kernel_release(&k);
        return response_json(ret, 200, body);
}
