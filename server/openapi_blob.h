/* The OpenAPI document, embedded at build time from openapi/openapi.json
 * (the generated openapi_blob.c). NUL-terminated. */
#pragma once

#include <stddef.h>

extern const char hugepaged_openapi[];
extern const size_t hugepaged_openapi_len;
