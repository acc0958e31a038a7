/* The release, also reported in GET /status and the OpenAPI document. */
#pragma once

#define HUGEPAGED_VERSION "0.1.0"
