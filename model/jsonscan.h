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

/* The pointer of the place that holds byte offset: the member whose value
 * is being read there, or the object itself when offset falls in or before
 * a key (a key with invalid UTF-8 or a NUL has no name to give). "" at the
 * top level; NULL when the text is too deep or broken to tell. Caller
 * frees. */
char *jsonscan_place_at(const char *buf, size_t len, size_t offset);
