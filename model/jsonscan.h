/* Naming the place of a JSON error that jansson reports only by byte
 * position: a duplicate key, or a number too large for 64 bits. The
 * document's fields are named by RFC 6901 pointers, like every other
 * finding, so that an operator sees which field to fix. */
#pragma once

#include <stddef.h>

/* The pointer of the second occurrence of the first duplicate key, or NULL
 * when there is none (or the text is too deep or too broken to tell).
 * Caller frees. */
char *jsonscan_duplicate(const char *buf, size_t len);

/* The pointer of the last scalar value that starts before byte offset, or
 * NULL. Caller frees. */
char *jsonscan_value_at(const char *buf, size_t len, size_t offset);
