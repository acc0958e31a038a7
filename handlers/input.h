/* Reading a config document from a request body. */
#pragma once

#include <stdbool.h>

#include "../model/config.h"
#include "../model/vmfit.h"
#include "app.h"

/* Parses req's body into *ret. Returns 0 on success, 1 when the body is not
 * a config document (resp then holds a 400 problem listing every finding),
 * or -ENOMEM. */
int input_config(const struct request *req, struct config *ret, struct response *resp);

/* The body of POST /validate: a config document that may also hold "vms"
 * (vmfit.h), which is taken out before the config is parsed. Fills *ret and
 * *ret_vms (empty, with *ret_has_vms false, when the body has no "vms").
 * Returns as input_config(): 1 with a 400 problem that lists every finding
 * of both parts (a bad quantity names its field, "/vms/0/memory"). */
int input_validate_body(const struct request *req, struct config *ret, struct vm_requests *ret_vms,
                        bool *ret_has_vms, struct response *resp);
