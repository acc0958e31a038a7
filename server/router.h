/* The route table: which handler answers which path and method, what role
 * it needs, and whether it reads a body. The one place the API's paths are
 * listed in C. */
#pragma once

#include <stdbool.h>

#include "../handlers/app.h"
#include "auth.h"

enum access {
        ACCESS_OPEN,  /* no token needed */
        ACCESS_READ,  /* read or admin, unless --anonymous-read */
        ACCESS_ADMIN, /* admin */
};

struct route {
        const char *path;
        const char *method;
        handler_fn handler;
        enum access access;
        bool takes_body;
        const char *produces; /* the media type of a success; NULL: application/json */
};

enum router_match {
        ROUTE_FOUND,
        ROUTE_NO_PATH,
        ROUTE_NO_METHOD,
};

/* Looks up method and path (HEAD matches GET). Sets *ret_route when found,
 * and *ret_allow to the path's "Allow" header value when the path exists. */
enum router_match router_find(const char *method, const char *path, const struct route **ret_route,
                              const char **ret_allow);
