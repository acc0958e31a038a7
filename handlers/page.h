/* The built-in node page: ui/index.html, ui/app.js and ui/style.css,
 * embedded in the binary at build time (cmake/embed.cmake makes
 * ui_*_blob.c in the build directory). GET /, GET /ui/app.js and GET
 * /ui/style.css are open: the page holds no secret, and every API call it
 * makes sends the operator's token. Every link in the page is relative, so
 * it works under any path prefix a reverse proxy puts in front. */
#pragma once

#include <stddef.h>

#include "app.h"

/* The embedded files, NUL-terminated. */
extern const char hugepaged_ui_index[];
extern const size_t hugepaged_ui_index_len;
extern const char hugepaged_ui_app[];
extern const size_t hugepaged_ui_app_len;
extern const char hugepaged_ui_style[];
extern const size_t hugepaged_ui_style_len;

/* The Content-Security-Policy every page answer carries: only this origin,
 * no inline script or style, no framing by other origins. */
extern const char page_csp[];

int handle_page_index(struct app *app, const struct request *req, struct response *ret);
int handle_page_script(struct app *app, const struct request *req, struct response *ret);
int handle_page_style(struct app *app, const struct request *req, struct response *ret);
