/* Kubernetes quantities as VM requests spell them (model/quantity.c, seen
 * from the "vms" of POST /validate): the same memory in every suffix, every
 * suffix's value and its 64-bit edge, and garbage. test-quantity.c has the
 * grammar's own cases; this file holds the forms a KubeVirt manifest or an
 * operator would write, checked against what k8s.io/apimachinery's
 * resource.ParseQuantity does with them.
 *
 * Where hugepaged is stricter than Kubernetes on purpose (whole bytes only,
 * no negative sizes, at least one digit), test_stricter_on_purpose says so;
 * test_kubernetes_signs holds the signed forms (a leading '+', a signed
 * exponent) that Kubernetes reads and quantity.c reads the same way. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "../../model/quantity.h"

#define UNTOUCHED UINT64_C(0x5a5a5a5a5a5a5a5a)

struct row {
        const char *text;
        int r;
        uint64_t bytes;
};

static int run(const struct row *rows, size_t n, bool report_only)
{
        int bad = 0;
        for (size_t i = 0; i < n; i++) {
                uint64_t got = UNTOUCHED;
                int r = quantity_parse(rows[i].text, &got);
                bool ok = r == rows[i].r && (r != 0 || got == rows[i].bytes) && (r == 0 || got == UNTOUCHED);
                if (ok)
                        continue;
                bad++;
                print_message("%s quantity_parse(\"%s\") = %d, %" PRIu64 "; expected %d, %" PRIu64 "\n",
                              report_only ? "differs:" : "FAILED:", rows[i].text, r, r == 0 ? got : 0,
                              rows[i].r, rows[i].bytes);
        }
        return bad;
}

#define RUN(rows) assert_int_equal(run(rows, sizeof(rows) / sizeof(rows[0]), false), 0)

#define Ki UINT64_C(1024)
#define Mi (Ki * 1024)
#define Gi (Mi * 1024)
#define Ti (Gi * 1024)
#define Pi (Ti * 1024)
#define Ei (Pi * 1024)

/* 8 GiB, as a VM's memory is written. */
static void test_same_memory(void **state)
{
        (void) state;
        static const struct row rows[] = {
                { "8Gi", 0, 8 * Gi },
                { "8192Mi", 0, 8 * Gi },
                { "8388608Ki", 0, 8 * Gi },
                { "8589934592", 0, 8 * Gi },
                { "0.0078125Ti", 0, 8 * Gi },
                { "8589934592000m", 0, 8 * Gi },
                { "8589934592e0", 0, 8 * Gi },
                { "8.589934592e9", 0, 8 * Gi },
                { "8.589934592G", 0, 8 * Gi },
                { "8589934.592k", 0, 8 * Gi },
                { "008Gi", 0, 8 * Gi },
                { "8.000Gi", 0, 8 * Gi },
                /* The decimal forms are not the binary ones. */
                { "8G", 0, UINT64_C(8000000000) },
                { "8e9", 0, UINT64_C(8000000000) },
                { "8E9", 0, UINT64_C(8000000000) },
                { "8000M", 0, UINT64_C(8000000000) },
                { "8000000k", 0, UINT64_C(8000000000) },
        };
        RUN(rows);
}

/* Every suffix Kubernetes knows (binarySI, decimalSI, decimalExponent). */
static void test_every_suffix(void **state)
{
        (void) state;
        static const struct row rows[] = {
                { "3Ki", 0, 3 * Ki },
                { "3Mi", 0, 3 * Mi },
                { "3Gi", 0, 3 * Gi },
                { "3Ti", 0, 3 * Ti },
                { "3Pi", 0, 3 * Pi },
                { "3Ei", 0, 3 * Ei },
                { "3000000000n", 0, 3 },
                { "3000000u", 0, 3 },
                { "3000m", 0, 3 },
                { "3", 0, 3 },
                { "3k", 0, UINT64_C(3000) },
                { "3M", 0, UINT64_C(3000000) },
                { "3G", 0, UINT64_C(3000000000) },
                { "3T", 0, UINT64_C(3000000000000) },
                { "3P", 0, UINT64_C(3000000000000000) },
                { "3E", 0, UINT64_C(3000000000000000000) },
                { "3e3", 0, UINT64_C(3000) },
                { "3E18", 0, UINT64_C(3000000000000000000) },
                /* The page sizes KubeVirt and the kernels offer. */
                { "64Ki", 0, 64 * Ki },
                { "2Mi", 0, 2 * Mi },
                { "32Mi", 0, 32 * Mi },
                { "512Mi", 0, 512 * Mi },
                { "1Gi", 0, Gi },
                { "16Gi", 0, 16 * Gi },
        };
        RUN(rows);
}

/* The largest value each suffix can spell in 64 bits, and one more. */
static void test_overflow(void **state)
{
        (void) state;
        static const struct row rows[] = {
                { "18446744073709551615", 0, UINT64_MAX },
                { "18446744073709551616", -ERANGE, 0 },
                { "18014398509481983Ki", 0, UINT64_MAX - 1023 },
                { "18014398509481984Ki", -ERANGE, 0 },
                { "17592186044415Mi", 0, UINT64_MAX - (Mi - 1) },
                { "17592186044416Mi", -ERANGE, 0 },
                { "17179869183Gi", 0, UINT64_MAX - (Gi - 1) },
                { "17179869184Gi", -ERANGE, 0 },
                { "16777215Ti", 0, UINT64_MAX - (Ti - 1) },
                { "16777216Ti", -ERANGE, 0 },
                { "16383Pi", 0, UINT64_MAX - (Pi - 1) },
                { "16384Pi", -ERANGE, 0 },
                { "15Ei", 0, 15 * Ei },
                { "15.9990234375Ei", 0, UINT64_MAX - (Pi - 1) },
                { "16Ei", -ERANGE, 0 },
                { "18446744073709551k", 0, UINT64_C(18446744073709551000) },
                { "18446744073709552k", -ERANGE, 0 },
                { "18446744073709M", 0, UINT64_C(18446744073709000000) },
                { "18446744073710M", -ERANGE, 0 },
                { "18446744073G", 0, UINT64_C(18446744073000000000) },
                { "18446744074G", -ERANGE, 0 },
                { "18E", 0, UINT64_C(18000000000000000000) },
                { "18.446744073709551615E", 0, UINT64_MAX },
                { "18.446744073709551616E", -ERANGE, 0 },
                { "19E", -ERANGE, 0 },
                { "1.8446744073709551615e19", 0, UINT64_MAX },
                { "1e20", -ERANGE, 0 },
                { "18446744073709551615000m", 0, UINT64_MAX },
                { "18446744073709551616000m", -ERANGE, 0 },
                { "99999999999999999999999999999Ei", -ERANGE, 0 },
        };
        RUN(rows);
}

static void test_garbage(void **state)
{
        (void) state;
        static const char *const garbage[] = {
                "",      " ",     "Gi",    "8 Gi", "8Gi ",   " 8Gi",        "8gi",   "8GI",   "8GiB",
                "8Gb",   "8K",    "8KiB",  "8kb",  "0x10",   "0x10Gi",      "1_000", "1,5Gi", "8Gi8",
                "--8",   "8-",    "8e",    "8ee3", "8e3e3",  "8.8.8",       "NaN",   "inf",   "Infinity",
                "8\tGi", "\n8Gi", "8Gi\n", "８Gi", "8Ｇi",   "8Gi\xc2\xa0", "1/2Gi", "(8)Gi", "8Gi;",
                "8\"Gi", "e",     "E",     "Ki",   "i",      "8i",          "8iG",   "8MiMi", "8Mi Gi",
                "8ki",   "8KI",   "8mi",   "8m i", "8.5.Gi", "..8Gi",
        };
        for (size_t i = 0; i < sizeof(garbage) / sizeof(garbage[0]); i++) {
                uint64_t got = UNTOUCHED;
                int r = quantity_parse(garbage[i], &got);
                if (r != -EINVAL || got != UNTOUCHED)
                        fail_msg("quantity_parse(\"%s\") = %d, %" PRIu64 "; expected -EINVAL", garbage[i], r,
                                 got);
        }
}

/* Stricter than Kubernetes, on purpose: memory and page sizes are whole
 * bytes and not negative. Kubernetes would round "1.5" up to 2 bytes and
 * accept "-8Gi" as a quantity (KubeVirt then refuses it). */
static void test_stricter_on_purpose(void **state)
{
        (void) state;
        static const struct row rows[] = {
                { "-8Gi", -EINVAL, 0 },
                { "-0", -EINVAL, 0 },
                { "1.5", -EDOM, 0 },
                { "1m", -EDOM, 0 },
                { "0.1Ki", -EDOM, 0 },
                { "8.0000000001Gi", -EDOM, 0 },
                { "1n", -EDOM, 0 },
                { "2.5e0", -EDOM, 0 },
                { "8e-3", -EDOM, 0 },
                /* Kubernetes reads these as 0: no digit, no quantity here. */
                { ".", -EINVAL, 0 },
                { "+", -EINVAL, 0 },
                { "Ki", -EINVAL, 0 },
                { "E", -EINVAL, 0 },
                { "+.", -EINVAL, 0 },
        };
        RUN(rows);
}

/* Forms resource.ParseQuantity accepts through parseQuantityString's signs:
 * a leading '+', and an exponent with a sign ("e+3", "e-3"). */
static void test_kubernetes_signs(void **state)
{
        (void) state;
        static const struct row rows[] = {
                { "+8Gi", 0, 8 * Gi },
                { "+2Mi", 0, 2 * Mi },
                { "1e+3", 0, UINT64_C(1000) },
                { "8E+9", 0, UINT64_C(8000000000) },
                { "2000e-3", 0, 2 },
                { "8589934592000e-3", 0, 8 * Gi },
                { "+8192Mi", 0, 8 * Gi },
                { "+8G", 0, UINT64_C(8000000000) },
                { "8.589934592e+9", 0, 8 * Gi },
        };
        RUN(rows);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_same_memory),
                cmocka_unit_test(test_every_suffix),
                cmocka_unit_test(test_overflow),
                cmocka_unit_test(test_garbage),
                cmocka_unit_test(test_stricter_on_purpose),
                cmocka_unit_test(test_kubernetes_signs),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
