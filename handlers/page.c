/* GET /, GET /ui/app.js, GET /ui/style.css: the node page (see page.h). The
 * answers are copies of the embedded files (a few tens of kilobytes), sent
 * with a Content-Security-Policy that allows this origin only. */
#include "page.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* 'self' for scripts, styles and fetch(); nothing inline (the page sets no
 * style= or on*= attribute: styles set from JS through element.style are
 * allowed by CSP). Framed only by its own origin: the dashboard that shows
 * it through the Kubernetes API proxy serves both from one origin. */
const char page_csp[] = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
                        "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'self'";

static int page_file(const char *data, size_t len, const char *content_type, struct response *ret)
{
        char *copy = malloc(len + 1);
        if (!copy)
                return -ENOMEM;
        memcpy(copy, data, len + 1);
        int r = response_text(ret, 200, content_type, copy);
        if (r == 0)
                ret->csp = page_csp;
        return r;
}

int handle_page_index(struct app *app, const struct request *req, struct response *ret)
{
        (void) app;
        (void) req;
        return page_file(hugepaged_ui_index, hugepaged_ui_index_len, "text/html; charset=utf-8", ret);
}

int handle_page_script(struct app *app, const struct request *req, struct response *ret)
{
        (void) app;
        (void) req;
        return page_file(hugepaged_ui_app, hugepaged_ui_app_len, "text/javascript; charset=utf-8", ret);
}

int handle_page_style(struct app *app, const struct request *req, struct response *ret)
{
        (void) app;
        (void) req;
        return page_file(hugepaged_ui_style, hugepaged_ui_style_len, "text/css; charset=utf-8", ret);
}
