/* Reading a config document from a request body. */
#pragma once

#include "../model/config.h"
#include "app.h"

/* Parses req's body into *ret. Returns 0 on success, 1 when the body is not
 * a config document (resp then holds a 400 problem listing every finding),
 * or -ENOMEM. */
int input_config(const struct request *req, struct config *ret, struct response *resp);
