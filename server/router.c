/* See router.h. */
#include "router.h"

#include <string.h>

#include "../handlers/page.h"

static const struct route routes[] = {
        { "/sizes", "GET", handle_sizes, ACCESS_READ, false },
        { "/status", "GET", handle_status, ACCESS_READ, false },
        { "/validate", "POST", handle_validate, ACCESS_READ, true },
        { "/config", "GET", handle_config_get, ACCESS_READ, false },
        { "/config", "PUT", handle_config_put, ACCESS_ADMIN, true },
        { "/config/history", "GET", handle_config_history, ACCESS_READ, false },
        { "/config/confirm", "POST", handle_config_confirm, ACCESS_ADMIN, false },
        { "/config/revert", "POST", handle_config_revert, ACCESS_ADMIN, false },
        { "/config/rollback", "POST", handle_config_rollback, ACCESS_ADMIN, true },
        { "/healthz", "GET", handle_healthz, ACCESS_OPEN, false },
        { "/readyz", "GET", handle_readyz, ACCESS_OPEN, false },
        { "/openapi.json", "GET", handle_openapi, ACCESS_OPEN, false },
        { "/metrics", "GET", handle_metrics, ACCESS_READ, false, "text/plain" },
        { "/probe", "POST", handle_probe_start, ACCESS_ADMIN, true, NULL },
        { "/probe/{id}", "GET", handle_probe_get, ACCESS_READ, false, NULL },
        { "/", "GET", handle_page_index, ACCESS_OPEN, false, "text/html" },
        { "/ui/app.js", "GET", handle_page_script, ACCESS_OPEN, false, "text/javascript" },
        { "/ui/style.css", "GET", handle_page_style, ACCESS_OPEN, false, "text/css" },
};

/* The Allow header of each path. */
static const struct {
        const char *path;
        const char *allow;
} allows[] = {
        { "/sizes", "GET, HEAD, OPTIONS" },
        { "/status", "GET, HEAD, OPTIONS" },
        { "/validate", "POST, OPTIONS" },
        { "/config", "GET, HEAD, PUT, OPTIONS" },
        { "/config/history", "GET, HEAD, OPTIONS" },
        { "/config/confirm", "POST, OPTIONS" },
        { "/config/revert", "POST, OPTIONS" },
        { "/config/rollback", "POST, OPTIONS" },
        { "/healthz", "GET, HEAD, OPTIONS" },
        { "/readyz", "GET, HEAD, OPTIONS" },
        { "/openapi.json", "GET, HEAD, OPTIONS" },
        { "/metrics", "GET, HEAD, OPTIONS" },
        { "/probe", "POST, OPTIONS" },
        { "/probe/{id}", "GET, HEAD, OPTIONS" },
        { "/", "GET, HEAD, OPTIONS" },
        { "/ui/app.js", "GET, HEAD, OPTIONS" },
        { "/ui/style.css", "GET, HEAD, OPTIONS" },
};

/* The table's name for path: itself, or "/probe/{id}" for "/probe/" and a
 * number (the one path with a parameter). */
static const char *table_path(const char *path)
{
        static const char prefix[] = "/probe/";
        size_t n = strlen(prefix), digits = strspn(path + (strncmp(path, prefix, n) == 0 ? n : 0), "0123456789");
        if (strncmp(path, prefix, n) == 0 && digits > 0 && digits <= 19 && path[n + digits] == '\0' && path[n] != '0')
                return "/probe/{id}";
        return path;
}

enum router_match router_find(const char *method, const char *path, const struct route **ret_route,
                              const char **ret_allow)
{
        path = table_path(path);
        const char *allow = NULL;
        for (size_t i = 0; i < sizeof(allows) / sizeof(allows[0]); i++)
                if (strcmp(allows[i].path, path) == 0)
                        allow = allows[i].allow;
        if (!allow)
                return ROUTE_NO_PATH;
        *ret_allow = allow;

        const char *m = strcmp(method, "HEAD") == 0 ? "GET" : method;
        for (size_t i = 0; i < sizeof(routes) / sizeof(routes[0]); i++)
                if (strcmp(routes[i].path, path) == 0 && strcmp(routes[i].method, m) == 0) {
                        *ret_route = &routes[i];
                        return ROUTE_FOUND;
                }
        return ROUTE_NO_METHOD;
}
