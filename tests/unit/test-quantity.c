/* Unit tests for model/quantity.c: the Kubernetes quantity grammar as
 * hugepaged accepts it (binary and decimal suffixes, fractions, decimal
 * exponents, whole bytes only, 64-bit range) and the canonical form it
 * prints. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <inttypes.h>
#include <string.h>

#include "../../model/quantity.h"

/* A value quantity_parse() never produces for the inputs below, so that a
 * failed parse can be seen to leave *ret_bytes alone. */
#define UNTOUCHED UINT64_C(0x5a5a5a5a5a5a5a5a)

static const char *errno_name(int r)
{
        switch (r) {
        case 0:
                return "0";
        case -EINVAL:
                return "-EINVAL";
        case -EDOM:
                return "-EDOM";
        case -ERANGE:
                return "-ERANGE";
        }
        return "another error";
}

/* Parses s and checks the result. The message names the input, so that a
 * table-driven test says which row failed and what it got. */
static void check_parse(const char *s, int want_r, uint64_t want_bytes)
{
        uint64_t got = UNTOUCHED;
        int r = quantity_parse(s, &got);
        if (r != want_r)
                fail_msg("quantity_parse(\"%s\") returned %d (%s), expected %d (%s); value %" PRIu64, s, r,
                         errno_name(r), want_r, errno_name(want_r), got);
        if (r == 0 && got != want_bytes)
                fail_msg("quantity_parse(\"%s\") gave %" PRIu64 ", expected %" PRIu64, s, got, want_bytes);
        if (r < 0 && got != UNTOUCHED)
                fail_msg("quantity_parse(\"%s\") failed with %d but wrote %" PRIu64 " to ret_bytes", s, r,
                         got);
}

static void check_format(uint64_t bytes, const char *want)
{
        char buf[QUANTITY_MAX];
        memset(buf, 'x', sizeof(buf));
        char *got = quantity_format(bytes, buf);
        assert_ptr_equal(got, buf);
        if (strcmp(got, want) != 0)
                fail_msg("quantity_format(%" PRIu64 ") gave \"%s\", expected \"%s\"", bytes, got, want);
}

static void test_binary_suffixes(void **state)
{
        (void) state;
        check_parse("2Mi", 0, 2097152);
        check_parse("1Gi", 0, UINT64_C(1073741824));
        check_parse("64Ki", 0, 65536);
        check_parse("32Mi", 0, UINT64_C(33554432));
        check_parse("2048Ki", 0, 2097152);
        check_parse("1Ki", 0, 1024);
        check_parse("1Ti", 0, UINT64_C(1) << 40);
        check_parse("1Pi", 0, UINT64_C(1) << 50);
        check_parse("1Ei", 0, UINT64_C(1) << 60);
        check_parse("15Ei", 0, UINT64_C(15) << 60);
        check_parse("1048576Ki", 0, UINT64_C(1) << 30);
        check_parse("0Mi", 0, 0);
}

static void test_plain_and_decimal_suffixes(void **state)
{
        (void) state;
        check_parse("2097152", 0, 2097152);
        check_parse("0", 0, 0);
        check_parse("2k", 0, 2000);
        check_parse("2M", 0, 2000000);
        check_parse("8G", 0, UINT64_C(8000000000));
        check_parse("1T", 0, UINT64_C(1000000000000));
        check_parse("1P", 0, UINT64_C(1000000000000000));
        /* "E" alone is the exa suffix, not an exponent. */
        check_parse("2E", 0, UINT64_C(2000000000000000000));
        check_parse("18446744073709551615", 0, UINT64_MAX);
}

static void test_fractions(void **state)
{
        (void) state;
        check_parse("0.5Gi", 0, UINT64_C(536870912));
        check_parse("1.5Mi", 0, 1572864);
        check_parse("0.5Ki", 0, 512); /* 512 bytes: a whole number */
        check_parse(".5Ki", 0, 512);
        check_parse("2.", 0, 2);
        check_parse("2.0", 0, 2);
        check_parse("1.5k", 0, 1500);
        check_parse("0.000001M", 0, 1);
}

static void test_decimal_exponent(void **state)
{
        (void) state;
        check_parse("2e6", 0, 2000000);
        /* "E" followed by a digit is an exponent, as in Kubernetes. */
        check_parse("1E3", 0, 1000);
        check_parse("1e0", 0, 1);
        check_parse("1.5e3", 0, 1500);
        check_parse("1e19", 0, UINT64_C(10000000000000000000));
        check_parse("2e19", -ERANGE, 0);
        check_parse("1e31", -ERANGE, 0);
        check_parse("2e", -EINVAL, 0);
        check_parse("2e6x", -EINVAL, 0);
        check_parse("2e6Mi", -EINVAL, 0);
        /* A signed exponent, as Kubernetes reads it; a negative one must
         * still leave whole bytes. */
        check_parse("1e+3", 0, 1000);
        check_parse("2000e-3", 0, 2);
        check_parse("2.5e-0", -EDOM, 0);
        check_parse("25e-1", -EDOM, 0);
        check_parse("1e-3", -EDOM, 0);
        check_parse("0e-40", 0, 0);
        check_parse("0e40", 0, 0);
        check_parse("100000000000000000000000000000e-28", 0, 10);
        check_parse("2e-", -EINVAL, 0);
        check_parse("2e+", -EINVAL, 0);
        check_parse("2e+-3", -EINVAL, 0);
        check_parse("2e3-", -EINVAL, 0);
        check_parse("2e-3x", -EINVAL, 0);
}

/* A leading '+' is Kubernetes' (parseQuantityString); one sign only, and
 * never a minus. */
static void test_plus_sign(void **state)
{
        (void) state;
        check_parse("+2Mi", 0, 2 * 1024 * 1024);
        check_parse("+0", 0, 0);
        check_parse("+.5Ki", 0, 512);
        check_parse("+8E+9", 0, UINT64_C(8000000000));
        check_parse("+", -EINVAL, 0);
        check_parse("++2Mi", -EINVAL, 0);
        check_parse("+ 2Mi", -EINVAL, 0);
        check_parse("-2Mi", -EINVAL, 0);
        check_parse("+Mi", -EINVAL, 0);
}

static void test_submultiples(void **state)
{
        (void) state;
        check_parse("2000m", 0, 2);
        check_parse("1000000u", 0, 1);
        check_parse("1000000000n", 0, 1);
        check_parse("0m", 0, 0);
}

static void test_not_whole_bytes(void **state)
{
        (void) state;
        check_parse("1m", -EDOM, 0);
        check_parse("0.5", -EDOM, 0);
        check_parse("1500m", -EDOM, 0);
        check_parse("1n", -EDOM, 0);
        check_parse("1u", -EDOM, 0);
        check_parse("0.001Ki", -EDOM, 0);
        check_parse("1.0000001Mi", -EDOM, 0);
}

static void test_invalid(void **state)
{
        (void) state;
        static const char *const bad[] = {
                "",      "-2Mi", "+-2Mi", " 2Mi", "2Mi ", "2 Mi", "2mi",  "2Mb",  "2MiB", "2KI",  "2K",
                "1.2.3", ".",    "Mi",    "Ki",   "e6",   "2..0", "0x10", "2Mi2", "2\n",  "2Gii", "2ki",
        };
        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
                check_parse(bad[i], -EINVAL, 0);

        uint64_t got = UNTOUCHED;
        assert_int_equal(quantity_parse(NULL, &got), -EINVAL);
        assert_int_equal(got, UNTOUCHED);

        /* More than 64 characters is refused before it is read. */
        char long_s[80];
        memset(long_s, '1', 65);
        long_s[65] = '\0';
        check_parse(long_s, -EINVAL, 0);
}

static void test_out_of_range(void **state)
{
        (void) state;
        check_parse("16Ei", -ERANGE, 0);
        /* A fraction so fine that no size could be a whole number of bytes,
         * however many leading zeros come first (this once wrapped the
         * denominator and read as 1 byte). */
        check_parse("0.000000000000000000000000000000000000000248320640401725263249Ei", -EDOM, 0);
        /* Zeros that end a fraction carry no value. */
        check_parse("1.0000000000000000000000000000000000000000Ki", 0, 1024);
        check_parse("0.50000000000000000000000000000000000Ki", 0, 512);
        /* Leading zeros are not significant digits. */
        check_parse("00000000000000000000000000000000002Mi", 0, 2097152);
        check_parse("1234567890123456789012345678901", -ERANGE, 0);
        check_parse("18446744073709551616", -ERANGE, 0);
        check_parse("99999999999999999999", -ERANGE, 0);
        check_parse("20E", -ERANGE, 0);
        check_parse("16384Pi", -ERANGE, 0);
        check_parse("17179869184Gi", -ERANGE, 0);
        /* Far beyond 128 bits in the intermediate product. */
        check_parse("999999999999999999999999999999Ei", -ERANGE, 0);
        check_parse("1234567890123456789012345678901", -ERANGE, 0);
}

static void test_format(void **state)
{
        (void) state;
        check_format(2097152, "2Mi");
        check_format(UINT64_C(1073741824), "1Gi");
        check_format(65536, "64Ki");
        check_format(UINT64_C(1536) << 20, "1536Mi");
        check_format(1000, "1000");
        check_format(0, "0");
        check_format(UINT64_C(3) << 30, "3Gi");
        check_format(1024, "1Ki");
        check_format(1536, "1536");
        check_format(512, "512");
        check_format(UINT64_C(1) << 60, "1Ei");
        check_format(UINT64_C(15) << 60, "15Ei");
        check_format(UINT64_C(1) << 40, "1Ti");
        check_format(UINT64_C(1) << 50, "1Pi");
        check_format(UINT64_MAX, "18446744073709551615");
        check_format(UINT64_MAX - 1023, "18014398509481983Ki");
}

static void test_round_trip(void **state)
{
        (void) state;
        for (unsigned shift = 10; shift <= 62; shift++) {
                uint64_t values[] = { UINT64_C(1) << shift, UINT64_C(3) << (shift - 1),
                                      (UINT64_C(1) << shift) + 1024, (UINT64_C(1) << shift) - 1 };
                for (size_t i = 0; i < sizeof(values) / sizeof(values[0]); i++) {
                        char buf[QUANTITY_MAX];
                        uint64_t back = UNTOUCHED;
                        quantity_format(values[i], buf);
                        int r = quantity_parse(buf, &back);
                        if (r != 0 || back != values[i])
                                fail_msg("%" PRIu64 " formats as \"%s\", which parses as %d, %" PRIu64,
                                         values[i], buf, r, back);
                }
        }
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_binary_suffixes), cmocka_unit_test(test_plain_and_decimal_suffixes),
                cmocka_unit_test(test_fractions),       cmocka_unit_test(test_decimal_exponent),
                cmocka_unit_test(test_plus_sign),       cmocka_unit_test(test_submultiples),
                cmocka_unit_test(test_not_whole_bytes), cmocka_unit_test(test_invalid),
                cmocka_unit_test(test_out_of_range),    cmocka_unit_test(test_format),
                cmocka_unit_test(test_round_trip),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
