/* POST /validate: checks a config against this node without touching it. */
#include "../model/config.h"
#include "../model/validate.h"
#include "app.h"
#include "input.h"
#include "kernel.h"
#include "report.h"

int handle_validate(struct app *app, const struct request *req, struct response *ret)
{
        struct config c;
        int r = input_config(req, &c, ret);
        if (r != 0)
                return r < 0 ? r : 0;

        struct kernel k;
        struct errbuf err = { { 0 } };
        r = kernel_read(app, &k, &err);
        if (r < 0) {
                config_release(&c);
                return kernel_problem(ret, r, req->path, &err);
        }
        struct validation v;
        r = validate_config(&c, &k.sizes, &k.thp, &app->vopts, &v);
        if (r == 0) {
                r = response_json(ret, 200, report_validation(&v));
                validation_release(&v);
        }
        kernel_release(&k);
        config_release(&c);
        return r;
}
