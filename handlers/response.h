/* What a handler answers: a status, a JSON body and the few headers the API
 * uses. Problems (RFC 9457) are built here, and so is the one mapping from
 * a model errno to an HTTP status. The server turns a response into bytes. */
#pragma once

#include <stdbool.h>

#include <jansson.h>

#include "../model/finding.h"

struct response {
        unsigned status;
        json_t *body;       /* owned */
        bool problem;       /* application/problem+json instead of application/json */
        const char *allow;  /* "Allow" header for 405, static */
        bool authenticate;  /* add "WWW-Authenticate: Bearer" */
        char etag[32];      /* "ETag" when not empty */
        char location[64];  /* "Location" when not empty */
        const char *cors_origin;  /* "Access-Control-Allow-Origin", borrowed; NULL: none */
        const char *cors_methods; /* a CORS preflight's allowed methods, static; NULL: not one */
        char *text;               /* a body that is not JSON (owned), sent instead of body */
        const char *content_type; /* of text, static */
        const char *csp;          /* "Content-Security-Policy", with frame and referrer policies; static */
};

/* Sets a JSON answer; steals body. Returns 0 or -ENOMEM. */
int response_json(struct response *r, unsigned status, json_t *body);

/* Sets a problem document: type urn:hugepaged:problem:<slug>, the title
 * from status, detail formatted. Returns 0 or -ENOMEM. */
int response_problem(struct response *r, unsigned status, const char *slug, const char *instance, const char *fmt,
                     ...) __attribute__((format(printf, 5, 6)));

/* Maps a negative errno from the model to a problem, the one such mapping:
 * -EBUSY 409; -EINVAL 400; everything else 500. */
int response_errno(struct response *r, int err, const char *instance, const char *detail);

/* Adds "errors" / "warnings" arrays of findings to a problem body. */
int response_add_findings(struct response *r, const char *member, const struct findings *f);

/* A findings list as a JSON array of {pointer, code, message}. */
json_t *findings_to_json(const struct findings *f);

/* Sets a text answer (200) of the given content type; takes text. */
int response_text(struct response *r, unsigned status, const char *content_type, char *text);

void response_release(struct response *r);
