/* GET /openapi.json: the contract, embedded in the binary at build time. */
#include "app.h"

int handle_openapi(struct app *app, const struct request *req, struct response *ret)
{
        (void) req;
        json_error_t e;
        json_t *doc = json_loadb(app->openapi, app->openapi_len, 0, &e);
        if (!doc)
                return response_problem(ret, 500, "internal", req->path, "the embedded OpenAPI document is broken: %s",
                                        e.text);
        return response_json(ret, 200, doc);
}
