/* Text that goes into a JSON answer must be UTF-8: jansson refuses a string
 * that is not, and a message cut by byte count ("%.64s") can end inside a
 * character, while a client's bytes copied into one (a key, a header) may
 * not be UTF-8 at all. */
#pragma once

#include <stdbool.h>

/* Makes s valid UTF-8 in place, keeping its length: every byte that does
 * not start a well-formed sequence (overlong forms, surrogates and code
 * points past U+10FFFF included), and every byte of a sequence cut short,
 * becomes '?'. */
void utf8_repair(char *s);

/* Whether s is valid UTF-8 as utf8_repair understands it. */
bool utf8_valid(const char *s);
