/* JSON reports built from model results, shared by several handlers. Each
 * returns a new reference, or NULL on OOM. */
#pragma once

#include <jansson.h>

#include "../model/apply.h"
#include "../model/sizes.h"
#include "../model/thp.h"
#include "../model/validate.h"

/* The GET /sizes document. Each size, and each of its nodes, carries
 * "vm_capacity": the pages a new VM could take now and the largest VM
 * memory that fits (vmfit_capacity_to_json()). */
json_t *report_sizes(const struct sizes *s, const struct thp *t, const struct validate_opts *o);

/* The POST /validate document: valid, errors, warnings, reboot_required,
 * memory. */
json_t *report_validation(const struct validation *v);
