/* See response.h. */
#include "response.h"

#include "../model/utf8.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *status_title(unsigned status)
{
        switch (status) {
        case 400:
                return "Bad Request";
        case 401:
                return "Unauthorized";
        case 403:
                return "Forbidden";
        case 404:
                return "Not Found";
        case 405:
                return "Method Not Allowed";
        case 406:
                return "Not Acceptable";
        case 409:
                return "Conflict";
        case 412:
                return "Precondition Failed";
        case 428:
                return "Precondition Required";
        case 507:
                return "Insufficient Storage";
        case 413:
                return "Content Too Large";
        case 415:
                return "Unsupported Media Type";
        case 422:
                return "Unprocessable Content";
        case 500:
                return "Internal Server Error";
        case 503:
                return "Service Unavailable";
        }
        return "Error";
}

/* The request path arrives percent-decoded; "instance" must be a URI
 * reference again, so everything outside RFC 3986's unreserved and
 * path characters is encoded back. Overlong paths are cut. */
static const char *uri_escape(const char *in, char *out, size_t size)
{
        static const char hex[] = "0123456789ABCDEF";
        size_t o = 0;
        for (const unsigned char *p = (const unsigned char *) in; *p && o + 4 < size; p++) {
                if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
                    strchr("-._~/!$&'()*+,;=:@", *p))
                        out[o++] = (char) *p;
                else {
                        out[o++] = '%';
                        out[o++] = hex[*p >> 4];
                        out[o++] = hex[*p & 15];
                }
        }
        out[o] = '\0';
        return out;
}

int response_json(struct response *r, unsigned status, json_t *body)
{
        if (!body)
                return -ENOMEM;
        json_decref(r->body);
        r->status = status;
        r->body = body;
        r->problem = false;
        return 0;
}

int response_problem(struct response *r, unsigned status, const char *slug, const char *instance, const char *fmt,
                     ...)
{
        char detail[1024];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(detail, sizeof(detail), fmt, ap);
        va_end(ap);
        /* A detail quotes the client's bytes, and may be cut mid-character. */
        utf8_repair(detail);

        char type[96];
        snprintf(type, sizeof(type), "urn:hugepaged:problem:%s", slug);
        json_t *body = json_pack("{s:s, s:s, s:i, s:s}", "type", type, "title", status_title(status), "status",
                                 (int) status, "detail", detail);
        if (!body)
                return -ENOMEM;
        char escaped[1024];
        if (instance && json_object_set_new(body, "instance", json_string(uri_escape(instance, escaped,
                                                                                     sizeof(escaped)))) < 0) {
                json_decref(body);
                return -ENOMEM;
        }
        json_decref(r->body);
        r->status = status;
        r->body = body;
        r->problem = true;
        return 0;
}

int response_errno(struct response *r, int err, const char *instance, const char *detail)
{
        switch (err) {
        case -EBUSY:
                return response_problem(r, 409, "busy", instance, "%s", detail);
        case -EINVAL:
                return response_problem(r, 400, "invalid", instance, "%s", detail);
        default:
                return response_problem(r, 500, "internal", instance, "%s", detail && *detail ? detail : strerror(-err));
        }
}

json_t *findings_to_json(const struct findings *f)
{
        json_t *a = json_array();
        if (!a)
                return NULL;
        for (size_t i = 0; i < f->n; i++) {
                json_t *o = json_pack("{s:s, s:s, s:s}", "pointer", f->items[i].pointer, "code", f->items[i].code,
                                      "message", f->items[i].message);
                if (!o || json_array_append_new(a, o) < 0) {
                        json_decref(a);
                        return NULL;
                }
        }
        return a;
}

int response_add_findings(struct response *r, const char *member, const struct findings *f)
{
        json_t *a = findings_to_json(f);
        if (!a || json_object_set_new(r->body, member, a) < 0)
                return -ENOMEM;
        return 0;
}

int response_text(struct response *r, unsigned status, const char *content_type, char *text)
{
        if (!text)
                return -ENOMEM;
        free(r->text);
        json_decref(r->body);
        r->body = NULL;
        r->status = status;
        r->text = text;
        r->content_type = content_type;
        r->problem = false;
        return 0;
}

void response_release(struct response *r)
{
        if (!r)
                return;
        json_decref(r->body);
        r->body = NULL;
        free(r->text);
        r->text = NULL;
}
