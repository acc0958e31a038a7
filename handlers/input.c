/* See input.h. */
#include "input.h"

#include <errno.h>

#include "../model/cleanup.h"

static int bad_body(const struct request *req, const struct findings *errors, struct response *resp)
{
        int r = response_problem(resp, 400, "invalid-config", req->path,
                                 "the body is not a valid config document: %zu problem%s, listed in errors",
                                 errors->n, errors->n == 1 ? "" : "s");
        if (r == 0)
                r = response_add_findings(resp, "errors", errors);
        return r == 0 ? 1 : r;
}

int input_config(const struct request *req, struct config *ret, struct response *resp)
{
        struct findings errors = { 0 };
        _cleanup_json_ json_t *doc = NULL;
        int r = config_load(req->body, req->body_len, &doc, &errors);
        if (r == 0)
                r = config_parse(doc, ret, &errors);
        if (r == -EINVAL)
                r = bad_body(req, &errors, resp);
        findings_release(&errors);
        return r;
}

int input_validate_body(const struct request *req, struct config *ret, struct vm_requests *ret_vms,
                        bool *ret_has_vms, struct response *resp)
{
        struct findings errors = { 0 };
        _cleanup_json_ json_t *doc = NULL, *vms = NULL;
        struct config c = { 0 };
        struct vm_requests reqs = { 0 };
        int r = config_load(req->body, req->body_len, &doc, &errors);
        if (r == 0) {
                /* Both parts are read in full, so that one answer lists
                 * every problem. */
                vms = vmfit_take(doc);
                int rc = config_parse(doc, &c, &errors);
                int rv = vms ? vmfit_parse(vms, &reqs, &errors) : 0;
                r = rc == -ENOMEM || rv == -ENOMEM ? -ENOMEM : rc < 0 ? rc : rv;
                if (r < 0) {
                        if (rc == 0)
                                config_release(&c);
                        if (rv == 0)
                                vm_requests_release(&reqs);
                }
        }
        if (r == -EINVAL)
                r = bad_body(req, &errors, resp);
        findings_release(&errors);
        if (r == 0) {
                *ret = c;
                *ret_vms = reqs;
                *ret_has_vms = vms != NULL;
        }
        return r;
}
