/* See utf8.h. */
#include "utf8.h"

#include <stddef.h>

/* The length of the well-formed sequence at p, or 0 (RFC 3629 §4). */
static size_t sequence(const unsigned char *p)
{
        unsigned char c = p[0];
        if (c < 0x80)
                return 1;
        size_t n;
        unsigned char lo = 0x80, hi = 0xbf; /* the second byte's range */
        if (c >= 0xc2 && c <= 0xdf)
                n = 2;
        else if (c >= 0xe0 && c <= 0xef) {
                n = 3;
                if (c == 0xe0)
                        lo = 0xa0; /* no overlong forms */
                else if (c == 0xed)
                        hi = 0x9f; /* no surrogates */
        } else if (c >= 0xf0 && c <= 0xf4) {
                n = 4;
                if (c == 0xf0)
                        lo = 0x90;
                else if (c == 0xf4)
                        hi = 0x8f; /* nothing past U+10FFFF */
        } else
                return 0;
        if (p[1] < lo || p[1] > hi)
                return 0;
        for (size_t i = 2; i < n; i++)
                if (p[i] < 0x80 || p[i] > 0xbf)
                        return 0;
        return n;
}

void utf8_repair(char *s)
{
        unsigned char *p = (unsigned char *) s;
        while (*p) {
                size_t n = sequence(p);
                if (n == 0)
                        *p++ = '?';
                else
                        p += n;
        }
}

bool utf8_valid(const char *s)
{
        const unsigned char *p = (const unsigned char *) s;
        while (*p) {
                size_t n = sequence(p);
                if (n == 0)
                        return false;
                p += n;
        }
        return true;
}
