/* Kubernetes quantity strings for memory sizes, as KubeVirt spells
 * spec.domain.memory.hugepages.pageSize and as operators write memory:
 * "2Mi", "1Gi", "2048Ki", "8G", "2097152". Only quantities that are a whole
 * number of bytes are accepted. */
#pragma once

#include <stddef.h>
#include <stdint.h>

/* The longest canonical form: 20 digits and a two-letter suffix. */
#define QUANTITY_MAX 24

/* Parses s, in Kubernetes' grammar: an optional '+', digits with an
 * optional fraction, then a binary or decimal suffix or a signed decimal
 * exponent ("+2Mi", "8E+9", "2000e-3"). Returns 0, -EINVAL when s is not a
 * quantity (empty, no digit, a minus sign, spaces, unknown suffix, more
 * than one dot), -EDOM when it is not a whole number of bytes ("0.001Ki",
 * "1m", "1e-3"), -ERANGE when it does not fit 64 bits. */
int quantity_parse(const char *s, uint64_t *ret_bytes);

/* Writes the canonical form: the largest binary suffix that divides bytes
 * exactly ("2Mi", "64Ki", "1536Mi"), or plain bytes. buf must hold
 * QUANTITY_MAX bytes. Returns buf. */
char *quantity_format(uint64_t bytes, char buf[static QUANTITY_MAX]);
