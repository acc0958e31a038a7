/* See input.h. */
#include "input.h"

#include <errno.h>

#include "../model/cleanup.h"

int input_config(const struct request *req, struct config *ret, struct response *resp)
{
        struct findings errors = { 0 };
        _cleanup_json_ json_t *doc = NULL;
        int r = config_load(req->body, req->body_len, &doc, &errors);
        if (r == 0)
                r = config_parse(doc, ret, &errors);
        if (r == -EINVAL) {
                r = response_problem(resp, 400, "invalid-config", req->path,
                                     "the body is not a valid config document: %zu problem%s, listed in errors",
                                     errors.n, errors.n == 1 ? "" : "s");
                if (r == 0)
                        r = response_add_findings(resp, "errors", &errors);
                if (r == 0)
                        r = 1;
        }
        findings_release(&errors);
        return r;
}
