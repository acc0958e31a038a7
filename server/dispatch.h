/* What the service decides about one request, independent of
 * libmicrohttpd: the route, CORS, authentication and role, content
 * negotiation, the handler, and the audit line of every mutation. http.c
 * feeds it from the network; tests/fuzz feeds it from bytes.
 *
 * The order of the checks is fixed, and each answers with a problem
 * document: unknown path 404; CORS preflight (unauthenticated, as browsers
 * send it); wrong method 405 with Allow; no or bad credentials 401 with
 * WWW-Authenticate; a known caller without the role 403; an Accept that
 * excludes application/json 406; a body that is not application/json 415;
 * a body over the limit 413. Only then does a handler run. */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "../handlers/app.h"
#include "auth.h"
#include "router.h"

/* The policy of one server; everything borrowed, outliving the server. */
struct dispatch {
        struct app *app;
        struct auth_store *auth;
        bool anonymous_read;
        size_t max_body;
        const char *const *cors_origins; /* exact origins ("https://dash.example:8443") */
        size_t n_cors_origins;
        enum role cert_role; /* the role of a caller known by a verified client certificate */
};

/* One request as it arrived. Strings are borrowed for the call. */
struct incoming {
        const char *method;
        const char *path; /* percent-decoded, without the query */
        /* Looks up a request header or query argument; NULL when absent. */
        const char *(*header)(void *cls, const char *name);
        const char *(*argument)(void *cls, const char *name);
        void *cls;
        const char *peer;         /* client address, for the audit */
        const char *cert_subject; /* subject of a client certificate that verified, or NULL */
        bool cert_rejected;       /* a certificate was presented and did not verify */
        const char *body;         /* NUL-terminated; "" when none */
        size_t body_len;
        bool body_too_big; /* more than max_body arrived and was dropped */
        bool path_rejected; /* the path as sent spelled "/", "\\" or NUL in percent form */
};

/* What the headers decided: set by dispatch_precheck. */
struct verdict {
        bool checked;              /* every check passed */
        const struct route *route; /* the route, once path and method matched one */
        struct caller caller;
};

/* The checks the headers alone decide, before any body is read. Returns 0
 * when the request may go on (*v filled), 1 when resp holds the answer, or
 * -ENOMEM. */
int dispatch_precheck(const struct dispatch *d, const struct incoming *in, struct verdict *v, struct response *resp);

/* The whole request: dispatch_precheck unless v->checked already, then the
 * body limit and the handler. resp always holds an answer on 0; -ENOMEM
 * when even a problem document could not be built. */
int dispatch_run(const struct dispatch *d, const struct incoming *in, struct verdict *v, struct response *resp);

/* Call once for every answer before it is sent, early refusals included:
 * adds the CORS headers an allowed Origin gets, and writes the audit line
 * of a mutation (a route that needs the admin role), accepted or refused. */
void dispatch_answered(const struct dispatch *d, const struct incoming *in, const struct verdict *v,
                       struct response *resp);

/* Checks a --cors-origin value: "scheme://host[:port]", no path, no
 * trailing slash. */
bool dispatch_origin_valid(const char *origin);

/* Whether an Accept header value admits the media type ("application/json"):
 * a range that matches it (exactly, "application/ *" or "* / *", without the
 * spaces) with q > 0. A missing header, or one with no range that parses,
 * admits everything. */
bool dispatch_accepts(const char *accept, const char *type);
