/* POST /validate: checks a config against this node without touching it,
 * and, when the body lists "vms", whether each VM fits the node now and
 * under that config (model/vmfit.h). */
#include <stdlib.h>
#include <string.h>

#include "../model/config.h"
#include "../model/validate.h"
#include "../model/vmfit.h"
#include "app.h"
#include "input.h"
#include "kernel.h"
#include "report.h"

/* A body that only asks about VMs manages nothing, and says so by being
 * empty: that is not worth a warning. */
static void drop_empty_config(struct findings *warnings)
{
        size_t k = 0;
        for (size_t i = 0; i < warnings->n; i++) {
                if (strcmp(warnings->items[i].code, "empty_config") == 0) {
                        free(warnings->items[i].pointer);
                        free(warnings->items[i].message);
                        continue;
                }
                warnings->items[k++] = warnings->items[i];
        }
        warnings->n = k;
}

int handle_validate(struct app *app, const struct request *req, struct response *ret)
{
        struct config c;
        struct vm_requests vms;
        bool has_vms;
        int r = input_validate_body(req, &c, &vms, &has_vms, ret);
        if (r != 0)
                return r < 0 ? r : 0;

        struct kernel k;
        struct errbuf err = { { 0 } };
        r = kernel_read(app, &k, &err);
        if (r < 0) {
                config_release(&c);
                vm_requests_release(&vms);
                return kernel_problem(ret, r, req->path, &err);
        }
        struct validation v;
        r = validate_config(&c, &k.sizes, &k.thp, &app->vopts, &v);
        if (r == 0) {
                if (has_vms)
                        drop_empty_config(&v.warnings);
                json_t *body = report_validation(&v);
                struct vmfit fit;
                if (body && has_vms) {
                        /* Only pools change what a VM can take: without
                         * one, "proposed" is the state now. */
                        r = vmfit_check(&vms, &k.sizes, c.n_pools ? &c : NULL, &fit);
                        if (r == 0) {
                                if (json_object_set_new(body, "vm_fit", vmfit_to_json(&vms, &fit)) < 0) {
                                        json_decref(body);
                                        body = NULL;
                                }
                                vmfit_release(&fit);
                        }
                }
                if (r == 0)
                        r = response_json(ret, 200, body);
                else
                        json_decref(body);
                validation_release(&v);
        }
        kernel_release(&k);
        config_release(&c);
        vm_requests_release(&vms);
        return r;
}
