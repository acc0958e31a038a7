/* See quantity.h. The grammar is Kubernetes' (k8s.io/apimachinery
 * pkg/api/resource): digits with an optional fraction, then a binary suffix
 * (Ki Mi Gi Ti Pi Ei), a decimal suffix (n u m k M G T P E) or a decimal
 * exponent with an optional sign (e3, E6, e+3, 2000e-3), after an optional
 * leading '+', as parseQuantityString reads them. The value is kept as an
 * exact fraction in 128 bits so that "0.5Gi" and "1.5Mi" are exact and
 * anything beyond 64 bits is caught.
 *
 * Stricter than Kubernetes on purpose: a minus sign is refused (no size is
 * negative; Kubernetes parses "-8Gi" and KubeVirt refuses it later), a
 * quantity needs at least one digit (Kubernetes reads ".", "Ki" and "E" as
 * 0), and only whole bytes are accepted (Kubernetes rounds "1.5" up). */
#include "quantity.h"

#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

typedef unsigned __int128 u128;

static const u128 U64_LIMIT = (u128) UINT64_MAX;

static int mul_checked(u128 *v, u128 m)
{
        if (m != 0 && *v > ((u128) -1) / m)
                return -ERANGE;
        *v *= m;
        return 0;
}

static u128 pow10_u128(unsigned e)
{
        u128 v = 1;
        while (e--)
                v *= 10;
        return v;
}

int quantity_parse(const char *s, uint64_t *ret_bytes)
{
        if (!s || !*s || strlen(s) > 64)
                return -EINVAL;
        /* A leading '+' is Kubernetes' too; a second sign is not. */
        if (*s == '+')
                s++;

        /* The number is kept as num / den. Leading zeros and the zeros that
         * end a fraction carry no value and are skipped; up to 30
         * significant digits and 30 fraction digits keep every step below
         * 2^128. */
        u128 num = 0, den = 1;
        unsigned digits = 0, frac_digits = 0, pending_zeros = 0;
        bool seen_dot = false, any_digit = false;
        const char *p = s;
        for (; *p; p++) {
                if (*p >= '0' && *p <= '9') {
                        any_digit = true;
                        if (seen_dot && *p == '0') {
                                pending_zeros++; /* counted only if a digit follows */
                                continue;
                        }
                        for (; pending_zeros > 0; pending_zeros--) {
                                if (++frac_digits > 30)
                                        return -EDOM; /* no size is that fine-grained */
                                if (num != 0 && ++digits > 30)
                                        return -ERANGE;
                                num *= 10;
                                den *= 10;
                        }
                        if ((num != 0 || *p != '0') && ++digits > 30)
                                return -ERANGE;
                        num = num * 10 + (u128) (*p - '0');
                        if (seen_dot) {
                                if (++frac_digits > 30)
                                        return -EDOM;
                                den *= 10;
                        }
                } else if (*p == '.' && !seen_dot) {
                        seen_dot = true;
                } else
                        break;
        }
        if (!any_digit)
                return -EINVAL;

        static const struct {
                const char *suffix;
                unsigned shift; /* binary: multiply by 2^shift */
                int exp10;      /* decimal: multiply by 10^exp10 */
        } suffixes[] = {
                { "Ki", 10, 0 }, { "Mi", 20, 0 }, { "Gi", 30, 0 }, { "Ti", 40, 0 }, { "Pi", 50, 0 },
                { "Ei", 60, 0 }, { "n", 0, -9 }, { "u", 0, -6 },  { "m", 0, -3 },  { "k", 0, 3 },
                { "M", 0, 6 },   { "G", 0, 9 },  { "T", 0, 12 },  { "P", 0, 15 },  { "E", 0, 18 },
                { "", 0, 0 },
        };

        int r;
        bool exp_sign = (*p == 'e' || *p == 'E') && (p[1] == '+' || p[1] == '-');
        if ((*p == 'e' || *p == 'E') && p[exp_sign ? 2 : 1] >= '0' && p[exp_sign ? 2 : 1] <= '9') {
                /* Decimal exponent, e.g. "2e6", "1e+3", "2000e-3". */
                bool negative = exp_sign && p[1] == '-';
                unsigned e = 0;
                for (p += exp_sign ? 2 : 1; *p; p++) {
                        if (*p < '0' || *p > '9')
                                return -EINVAL;
                        if ((e = e * 10 + (unsigned) (*p - '0')) > 60)
                                e = 61; /* keep reading: a later non-digit is still garbage */
                }
                if (!negative && num != 0) {
                        if (e > 30)
                                return -ERANGE;
                        r = mul_checked(&num, pow10_u128(e));
                        if (r < 0)
                                return r;
                } else if (negative) {
                        /* Dividing by 10^e is exact only while num ends in
                         * zeros; the first non-zero digit cut off means a
                         * fraction of a byte. */
                        for (; e > 0 && num != 0 && num % 10 == 0; e--)
                                num /= 10;
                        if (e > 0 && num != 0)
                                return -EDOM;
                }
        } else {
                size_t i;
                for (i = 0; i < sizeof(suffixes) / sizeof(suffixes[0]); i++)
                        if (strcmp(p, suffixes[i].suffix) == 0)
                                break;
                if (i == sizeof(suffixes) / sizeof(suffixes[0]))
                        return -EINVAL;
                if (suffixes[i].shift)
                        r = mul_checked(&num, (u128) 1 << suffixes[i].shift);
                else if (suffixes[i].exp10 > 0)
                        r = mul_checked(&num, pow10_u128((unsigned) suffixes[i].exp10));
                else {
                        r = mul_checked(&den, pow10_u128((unsigned) -suffixes[i].exp10));
                }
                if (r < 0)
                        return r;
        }

        if (num % den != 0)
                return -EDOM;
        u128 v = num / den;
        if (v > U64_LIMIT)
                return -ERANGE;
        *ret_bytes = (uint64_t) v;
        return 0;
}

char *quantity_format(uint64_t bytes, char buf[static QUANTITY_MAX])
{
        static const char *const names[] = { "Ei", "Pi", "Ti", "Gi", "Mi", "Ki" };
        for (unsigned i = 0; i < 6; i++) {
                unsigned shift = 60 - 10 * i;
                uint64_t unit = UINT64_C(1) << shift;
                if (bytes != 0 && bytes % unit == 0) {
                        snprintf(buf, QUANTITY_MAX, "%" PRIu64 "%s", bytes >> shift, names[i]);
                        return buf;
                }
        }
        snprintf(buf, QUANTITY_MAX, "%" PRIu64, bytes);
        return buf;
}
