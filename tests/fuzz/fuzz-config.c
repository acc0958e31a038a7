/* libFuzzer target: the config document path. The input is a request body
 * as PUT /config and POST /validate receive it: config_load, config_parse,
 * then validate_config against the fake machines under tests/fixtures
 * (read once, never written), and everything released again, so that
 * LeakSanitizer sees every allocation the path makes.
 *
 * Besides crashes, leaks and undefined behaviour, three properties are
 * checked, and a violation aborts with a message:
 *
 * - the canonical form (config_to_json) parses again into the same
 *   canonical form: the journal stores it and rollback reads it back;
 * - a config that validates and grows the pools leaves the host its
 *   reserve: hugepages_kb + reserve_kb <= MemTotal;
 * - every finding's pointer and message is valid UTF-8, since the API
 *   sends them as JSON strings (jansson refuses anything else).
 *
 * Set HUGEPAGED_FUZZ_ORACLE=0 to check only for crashes, leaks and UB.
 * HUGEPAGED_FUZZ_SKIP_KNOWN=1 steps around the bugs in FOUND.md,
 * which would otherwise stop every run within seconds: inputs holding a
 * NUL byte are skipped (the JSON scanner hangs on one), and so is the
 * UTF-8 check (findings cut inside a character). */
#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../model/config.h"
#include "../../model/sizes.h"
#include "../../model/thp.h"
#include "../../model/validate.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* x86-2node first: the machine the seeds are written for. */
static const char *const fixtures[] = { "x86-2node", "arm64", "nonuma", "nogigantic" };
#define N_MACHINES (sizeof(fixtures) / sizeof(fixtures[0]))

struct machine {
        const char *name;
        struct sizes sizes;
        struct thp thp;
};

static struct machine machines[N_MACHINES];
static const struct validate_opts opts = { .reserve_kb = 1024 * 1024, .reserve_percent = 10 };
static bool oracle = true;
static bool check_utf8 = true;
static bool skip_known;

static void die(const char *what, const uint8_t *data, size_t size)
{
        fprintf(stderr, "fuzz-config: %s\ninput (%zu bytes): %.*s\n", what, size,
                (int) (size > 512 ? 512 : size), (const char *) data);
        abort();
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
        (void) argc;
        (void) argv;
        const char *o = getenv("HUGEPAGED_FUZZ_ORACLE");
        oracle = !o || strcmp(o, "0") != 0;
        const char *k = getenv("HUGEPAGED_FUZZ_SKIP_KNOWN");
        skip_known = k && strcmp(k, "1") == 0;
        check_utf8 = oracle && !skip_known;
        for (size_t i = 0; i < N_MACHINES; i++) {
                char sys[4096], proc[4096];
                snprintf(sys, sizeof(sys), "%s/%s/sys", FIXTURES, fixtures[i]);
                snprintf(proc, sizeof(proc), "%s/%s/proc", FIXTURES, fixtures[i]);
                struct sysfs fs;
                struct errbuf err = { { 0 } };
                machines[i].name = fixtures[i];
                if (sysfs_init(&fs, sys, proc) < 0 || sizes_read(&fs, 4, &machines[i].sizes, &err) < 0 ||
                    thp_read(&fs, &machines[i].thp, &err) < 0) {
                        fprintf(stderr, "fuzz-config: cannot read fixture %s: %s\n", fixtures[i], err.msg);
                        exit(1);
                }
                sysfs_release(&fs);
        }
        return 0;
}

/* The canonical form of c must parse back to itself. */
static void check_round_trip(const struct config *c, const uint8_t *data, size_t size)
{
        json_t *canon = config_to_json(c);
        if (!canon)
                die("config_to_json failed", data, size);
        char *text = json_dumps(canon, JSON_COMPACT);
        if (!text)
                die("the canonical form cannot be serialized", data, size);
        struct findings errors = { 0 };
        json_t *doc = NULL;
        struct config again;
        int r = config_load(text, strlen(text), &doc, &errors);
        if (r == 0)
                r = config_parse(doc, &again, &errors);
        if (r < 0) {
                fprintf(stderr, "canonical form %s: %s\n", text, errors.n ? errors.items[0].message : "?");
                die("the canonical form does not parse again", data, size);
        }
        json_t *canon2 = config_to_json(&again);
        if (!canon2 || !json_equal(canon, canon2)) {
                fprintf(stderr, "canonical form %s\n", text);
                die("the canonical form parses into another config", data, size);
        }
        json_decref(canon2);
        config_release(&again);
        json_decref(doc);
        findings_release(&errors);
        free(text);
        json_decref(canon);
}

/* Findings travel in JSON answers: each must have all three parts, and
 * with the oracle on, be text that jansson accepts. */
static void check_findings(const struct findings *f, const uint8_t *data, size_t size)
{
        for (size_t i = 0; i < f->n; i++) {
                const struct finding *it = &f->items[i];
                if (!it->pointer || !it->message || !it->code)
                        die("a finding without pointer, code or message", data, size);
                if (!check_utf8)
                        continue;
                json_t *p = json_string(it->pointer), *m = json_string(it->message);
                if (!p || !m) {
                        fprintf(stderr, "finding %s at \"%s\": %s\n", it->code, it->pointer, it->message);
                        die("a finding is not valid UTF-8, so it cannot be sent as JSON", data, size);
                }
                json_decref(p);
                json_decref(m);
        }
}

static void check_validation(const struct config *c, const struct machine *m, const uint8_t *data,
                             size_t size)
{
        struct validation v;
        if (validate_config(c, &m->sizes, &m->thp, &opts, &v) < 0)
                die("validate_config failed (out of memory?)", data, size);
        check_findings(&v.errors, data, size);
        check_findings(&v.warnings, data, size);
        check_findings(&v.reboot_required, data, size);
        if (oracle && validation_ok(&v) && v.hugepages_kb > v.current_hugepages_kb &&
            (v.hugepages_kb > v.total_kb || v.total_kb - v.hugepages_kb < v.reserve_kb)) {
                fprintf(stderr,
                        "%s: pools %" PRIu64 " kB (now %" PRIu64 "), total %" PRIu64 ", reserve %" PRIu64
                        "\n",
                        m->name, v.hugepages_kb, v.current_hugepages_kb, v.total_kb, v.reserve_kb);
                die("a config that grows the pools into the host reserve was accepted", data, size);
        }
        validation_release(&v);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        if (size > CONFIG_MAX_BYTES)
                return -1; /* the HTTP layer refuses larger bodies */
        if (skip_known && memchr(data, 0, size))
                return -1;
        struct findings errors = { 0 };
        json_t *doc = NULL;
        struct config c;
        int r = config_load((const char *) data, size, &doc, &errors);
        if (r == 0)
                r = config_parse(doc, &c, &errors);
        if (r == -ENOMEM)
                die("out of memory", data, size);
        if (r < 0 && errors.n == 0)
                die("a document was refused without a finding", data, size);
        check_findings(&errors, data, size);
        if (r == 0) {
                if (oracle)
                        check_round_trip(&c, data, size);
                for (size_t i = 0; i < N_MACHINES; i++)
                        check_validation(&c, &machines[i], data, size);
                config_release(&c);
        }
        json_decref(doc);
        findings_release(&errors);
        return 0;
}
