/* See options.h. Every flag is checked here, so that a typo is a clear
 * message at start and never a surprise at the first request. */
#include "options.h"

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#include "../model/quantity.h"
#include "../model/bootargs.h"
#include "auth.h"
#include "dispatch.h"
#include "version.h"

#define DEFAULT_STATE_DIR "/var/lib/hugepaged"
#define DEFAULT_MAX_BODY (64 * 1024)
#define MAX_MAX_BODY (1024 * 1024)

static void usage(FILE *f)
{
        fputs("Usage: hugepaged [serve] [OPTIONS]\n"
              "       hugepaged history [OPTIONS]\n"
              "       hugepaged rollback [--to GEN] [OPTIONS]\n"
              "       hugepaged apply-saved [OPTIONS]\n"
              "\n"
              "Serves the node's hugepage setup over HTTPS: see, check and apply pools per size\n"
              "and NUMA node, the default size and transparent hugepages.\n"
              "\n"
              "Console commands, for when the API cannot be reached (they share the state\n"
              "directory with a running service safely):\n"
              "  history                  list the journaled generations\n"
              "  rollback [--to GEN]      undo a change awaiting confirmation, or go back to\n"
              "                           generation GEN (default: the confirmed one before\n"
              "                           the current), applied and confirmed at once\n"
              "  apply-saved              apply the last confirmed config once and exit (the\n"
              "                           boot path)\n"
              "\n"
              "Options:\n"
              "  --listen HOST:PORT       address to serve on (default 127.0.0.1:8443;\n"
              "                           [::1]:8443 for IPv6; port 0 picks a free port)\n"
              "  --state-dir DIR          where the config, certificate and token live\n"
              "                           (default " DEFAULT_STATE_DIR ")\n"
              "  --sysfs-root DIR         the sysfs tree to read and write (default /sys)\n"
              "  --procfs-root DIR        the procfs tree to read (default /proc)\n"
              "  --tls-cert FILE          PEM certificate (default: a self-signed one made\n"
              "                           in the state directory on first start)\n"
              "  --tls-key FILE           PEM private key for --tls-cert\n"
              "  --token-file FILE        bearer tokens, one per line: TOKEN [NAME [ROLE]],\n"
              "                           ROLE admin or read; a bare token is an admin\n"
              "                           (default: a random admin token made in the state\n"
              "                           directory, file \"token\")\n"
              "  --host-reserve SIZE|N%   memory that must stay for the host, e.g. 8Gi or 15%\n"
              "                           (default: the larger of 1Gi and 10% of MemTotal)\n"
              "  --anonymous-read         allow reads (GET, POST /validate) without a token\n"
              "  --max-body BYTES         largest request body accepted (default 65536)\n"
              "  --node-name NAME         name reported in /status (default $NODE_NAME,\n"
              "                           else the host name)\n"
              "  --base-page-size SIZE    base page size of the machine the sysfs tree\n"
              "                           describes (default: this machine's)\n"
              "  --history N              generations the journal keeps (default 50)\n"
              "  --require-if-match       refuse changes without If-Match (428)\n"
              "  --initial-config FILE    a config (from an installer) that becomes\n"
              "                           generation 1 on the first start only\n"
              "  --to GEN                 for rollback: the generation to bring back\n"
              "  --floor-file FILE        pages other components keep for themselves, one\n"
              "                           \"SIZE PAGES OWNER\" per line (e.g. \"2Mi 1024\n"
              "                           longhorn-v2\"); the service refuses a config that\n"
              "                           sets a pool below them (below_floor)\n"
              "\n"
              "Node integration:\n"
              "  --boot-args grubenv:FILE:VARIABLE\n"
              "                           write the kernel parameters of every confirmed\n"
              "                           config (gigantic pools, default size, THP) into\n"
              "                           VARIABLE of the GRUB environment block FILE, e.g.\n"
              "                           grubenv:/oem/grubenv:third_party_kernel_args on\n"
              "                           Harvester; other arguments there are kept\n"
              "  --restart-unit UNIT      restart UNIT through systemd after a confirmed change\n"
              "                           of the pools (kubelet reads them only at start);\n"
              "                           repeatable, e.g. rke2-agent.service\n"
              "  --retries N              apply-saved: apply again up to N times while the\n"
              "                           kernel gives fewer pages than asked (default 3)\n"
              "  --retry-delay S          apply-saved: seconds between tries (default 2)\n"
              "  Safe mode: hugepaged.safe=1 on the kernel command line, or a file named\n"
              "  safe-mode in the state directory, makes apply-saved skip applying, and\n"
              "  GET /status say so.\n"
              "\n"
              "Security and limits:\n"
              "  --client-ca FILE         also accept client certificates signed by this CA\n"
              "                           (PEM); the certificate's subject names the caller\n"
              "  --client-cert-role ROLE  role of such a caller: admin (default) or read\n"
              "  --cors-origin ORIGIN     let pages from ORIGIN (https://host[:port]) call the\n"
              "                           API from a browser; repeatable (default: none)\n"
              "  --plain-http             serve plain HTTP instead of HTTPS, on a loopback\n"
              "                           address only (for a local proxy that adds TLS)\n"
              "  --plain-http-remote      with --plain-http: allow any address as well\n"
              "  --max-connections N      connections at once, in total (default 256)\n"
              "  --max-connections-per-client N\n"
              "                           connections at once from one address (default 16)\n"
              "  --idle-timeout S         close a connection silent for S seconds (default 10)\n"
              "  --header-timeout S       cut a connection whose request headers are not in\n"
              "                           S seconds after it opened or after its previous\n"
              "                           answer (default 10)\n"
              "  --request-timeout S      cut a request not complete, headers and body, S\n"
              "                           seconds after its connection opened or its previous\n"
              "                           answer (default 30)\n"
              "  -h, --help               show this help\n"
              "  --version                show the version\n",
              f);
}

static int fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int fail(const char *fmt, ...)
{
        va_list ap;
        va_start(ap, fmt);
        fprintf(stderr, "hugepaged: ");
        vfprintf(stderr, fmt, ap);
        fprintf(stderr, "\nTry 'hugepaged --help'.\n");
        va_end(ap);
        return -EINVAL;
}

static int parse_listen(const char *arg, struct options *o)
{
        const char *host, *port;
        size_t hlen;
        if (arg[0] == '[') {
                const char *end = strchr(arg, ']');
                if (!end || end[1] != ':')
                        return fail("--listen: expected [IPV6]:PORT, got '%s'", arg);
                host = arg + 1;
                hlen = (size_t) (end - host);
                port = end + 2;
        } else {
                const char *colon = strrchr(arg, ':');
                if (!colon || strchr(arg, ':') != colon)
                        return fail("--listen: expected HOST:PORT (IPv6 in brackets), got '%s'", arg);
                host = arg;
                hlen = (size_t) (colon - arg);
                port = colon + 1;
        }
        if (hlen == 0 || hlen >= sizeof(o->listen_host))
                return fail("--listen: missing or overlong host in '%s'", arg);
        char *end;
        errno = 0;
        unsigned long p = strtoul(port, &end, 10);
        if (!*port || *end || errno || p > 65535 || port[0] == '-' || port[0] == '+' || port[0] == ' ')
                return fail("--listen: '%s' is not a port number (0-65535)", port);
        memcpy(o->listen_host, host, hlen);
        o->listen_host[hlen] = '\0';
        snprintf(o->listen_port, sizeof(o->listen_port), "%lu", p);
        return 0;
}

/* A unit name as systemd takes it: "name.type", name of letters, digits
 * and ":-_.\\@", type one of systemd's. */
static bool unit_name_valid(const char *u)
{
        static const char *const types[] = { ".service", ".socket", ".target", ".mount", ".slice", ".scope" };
        size_t n = strlen(u);
        if (n < 3 || n > 255 || u[0] == '.' || u[0] == '-')
                return false;
        for (const char *p = u; *p; p++)
                if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
                      strchr(":-_.\\@", *p)))
                        return false;
        for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
                size_t t = strlen(types[i]);
                if (n > t && strcmp(u + n - t, types[i]) == 0)
                        return true;
        }
        return false;
}

static int parse_count(const char *flag, const char *arg, unsigned min, unsigned max, unsigned *ret)
{
        char *end;
        errno = 0;
        unsigned long v = strtoul(arg, &end, 10);
        if (arg[0] < '0' || arg[0] > '9' || *end || errno || v < min || v > max)
                return fail("%s: '%s' is not a number from %u to %u", flag, arg, min, max);
        *ret = (unsigned) v;
        return 0;
}

/* 127.0.0.0/8, ::1 and "localhost": the addresses only this machine
 * reaches. */
static bool is_loopback(const char *host)
{
        struct in_addr a4;
        struct in6_addr a6;
        if (strcmp(host, "localhost") == 0)
                return true;
        if (inet_pton(AF_INET, host, &a4) == 1)
                return (ntohl(a4.s_addr) >> 24) == 127;
        if (inet_pton(AF_INET6, host, &a6) == 1)
                return IN6_IS_ADDR_LOOPBACK(&a6);
        return false;
}

static int parse_reserve(const char *arg, struct options *o)
{
        size_t n = strlen(arg);
        if (n > 1 && arg[n - 1] == '%') {
                char *end;
                errno = 0;
                unsigned long pct = strtoul(arg, &end, 10);
                if (arg[0] < '0' || arg[0] > '9' || end != arg + n - 1 || errno || pct > 90)
                        return fail("--host-reserve: '%s' is not a percentage from 0%% to 90%%", arg);
                o->reserve = (struct validate_opts) { .reserve_kb = 0, .reserve_percent = (unsigned) pct };
                return 0;
        }
        uint64_t bytes;
        if (quantity_parse(arg, &bytes) < 0)
                return fail("--host-reserve: '%s' is neither a size (8Gi) nor a percentage (15%%)", arg);
        o->reserve = (struct validate_opts) { .reserve_kb = bytes / 1024, .reserve_percent = 0 };
        return 0;
}

int options_parse(int argc, char **argv, struct options *o)
{
        enum {
                OPT_LISTEN = 256,
                OPT_STATE_DIR,
                OPT_SYSFS_ROOT,
                OPT_PROCFS_ROOT,
                OPT_TLS_CERT,
                OPT_TLS_KEY,
                OPT_TOKEN_FILE,
                OPT_HOST_RESERVE,
                OPT_ANON_READ,
                OPT_MAX_BODY,
                OPT_NODE_NAME,
                OPT_BASE_PAGE,
                OPT_VERSION,
                OPT_HISTORY,
                OPT_REQUIRE_IF_MATCH,
                OPT_INITIAL_CONFIG,
                OPT_TO,
                OPT_CLIENT_CA,
                OPT_CLIENT_CERT_ROLE,
                OPT_PLAIN_HTTP,
                OPT_PLAIN_HTTP_REMOTE,
                OPT_CORS_ORIGIN,
                OPT_MAX_CONNECTIONS,
                OPT_MAX_PER_CLIENT,
                OPT_IDLE_TIMEOUT,
                OPT_REQUEST_TIMEOUT,
                OPT_HEADER_TIMEOUT,
                OPT_BOOT_ARGS,
                OPT_RESTART_UNIT,
                OPT_RETRIES,
                OPT_RETRY_DELAY,
                OPT_FLOOR_FILE,
        };
        static const struct option longopts[] = {
                { "listen", required_argument, NULL, OPT_LISTEN },
                { "state-dir", required_argument, NULL, OPT_STATE_DIR },
                { "sysfs-root", required_argument, NULL, OPT_SYSFS_ROOT },
                { "procfs-root", required_argument, NULL, OPT_PROCFS_ROOT },
                { "tls-cert", required_argument, NULL, OPT_TLS_CERT },
                { "tls-key", required_argument, NULL, OPT_TLS_KEY },
                { "token-file", required_argument, NULL, OPT_TOKEN_FILE },
                { "host-reserve", required_argument, NULL, OPT_HOST_RESERVE },
                { "anonymous-read", no_argument, NULL, OPT_ANON_READ },
                { "max-body", required_argument, NULL, OPT_MAX_BODY },
                { "node-name", required_argument, NULL, OPT_NODE_NAME },
                { "base-page-size", required_argument, NULL, OPT_BASE_PAGE },
                { "help", no_argument, NULL, 'h' },
                { "version", no_argument, NULL, OPT_VERSION },
                { "history", required_argument, NULL, OPT_HISTORY },
                { "require-if-match", no_argument, NULL, OPT_REQUIRE_IF_MATCH },
                { "initial-config", required_argument, NULL, OPT_INITIAL_CONFIG },
                { "to", required_argument, NULL, OPT_TO },
                { "client-ca", required_argument, NULL, OPT_CLIENT_CA },
                { "client-cert-role", required_argument, NULL, OPT_CLIENT_CERT_ROLE },
                { "plain-http", no_argument, NULL, OPT_PLAIN_HTTP },
                { "plain-http-remote", no_argument, NULL, OPT_PLAIN_HTTP_REMOTE },
                { "cors-origin", required_argument, NULL, OPT_CORS_ORIGIN },
                { "max-connections", required_argument, NULL, OPT_MAX_CONNECTIONS },
                { "max-connections-per-client", required_argument, NULL, OPT_MAX_PER_CLIENT },
                { "idle-timeout", required_argument, NULL, OPT_IDLE_TIMEOUT },
                { "request-timeout", required_argument, NULL, OPT_REQUEST_TIMEOUT },
                { "header-timeout", required_argument, NULL, OPT_HEADER_TIMEOUT },
                { "boot-args", required_argument, NULL, OPT_BOOT_ARGS },
                { "restart-unit", required_argument, NULL, OPT_RESTART_UNIT },
                { "retries", required_argument, NULL, OPT_RETRIES },
                { "retry-delay", required_argument, NULL, OPT_RETRY_DELAY },
                { "floor-file", required_argument, NULL, OPT_FLOOR_FILE },
                {},
        };

        *o = (struct options) {
                .command = "serve",
                .listen_host = "127.0.0.1",
                .listen_port = "8443",
                .state_dir = DEFAULT_STATE_DIR,
                .sysfs_root = "/sys",
                .procfs_root = "/proc",
                .reserve = { .reserve_kb = 1024 * 1024, .reserve_percent = 10 },
                .max_body = DEFAULT_MAX_BODY,
                .history = 50,
                .client_cert_role = ROLE_ADMIN,
                .max_connections = 256,
                .max_connections_per_client = 16,
                .idle_timeout_s = 10,
                .request_timeout_s = 30,
                .header_timeout_s = 10,
                .retries = 3,
                .retry_delay_s = 2,
        };

        /* A leading command word, as in "hugepaged serve --listen …". */
        int first = 1;
        if (argc > 1 && argv[1][0] != '-') {
                static const char *const commands[] = { "serve", "history", "rollback", "apply-saved" };
                o->command = NULL;
                for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
                        if (strcmp(argv[1], commands[i]) == 0)
                                o->command = commands[i];
                if (!o->command)
                        return fail("unknown command '%s' (serve, history, rollback or apply-saved)", argv[1]);
                first = 2;
        }
        optind = first;
        opterr = 0;
        int c;
        while ((c = getopt_long(argc, argv, ":h", longopts, NULL)) >= 0) {
                int r = 0;
                switch (c) {
                case OPT_LISTEN:
                        r = parse_listen(optarg, o);
                        break;
                case OPT_STATE_DIR:
                        o->state_dir = optarg;
                        break;
                case OPT_SYSFS_ROOT:
                        o->sysfs_root = optarg;
                        break;
                case OPT_PROCFS_ROOT:
                        o->procfs_root = optarg;
                        break;
                case OPT_TLS_CERT:
                        o->tls_cert = optarg;
                        break;
                case OPT_TLS_KEY:
                        o->tls_key = optarg;
                        break;
                case OPT_TOKEN_FILE:
                        o->token_file = optarg;
                        break;
                case OPT_HOST_RESERVE:
                        r = parse_reserve(optarg, o);
                        break;
                case OPT_ANON_READ:
                        o->anonymous_read = true;
                        break;
                case OPT_MAX_BODY: {
                        char *end;
                        errno = 0;
                        unsigned long v = strtoul(optarg, &end, 10);
                        if (optarg[0] < '0' || optarg[0] > '9' || *end || errno || v < 1024 || v > MAX_MAX_BODY)
                                r = fail("--max-body: '%s' is not a byte count from 1024 to 1048576", optarg);
                        else
                                o->max_body = v;
                        break;
                }
                case OPT_NODE_NAME:
                        if (!*optarg || strlen(optarg) > 253)
                                r = fail("--node-name: '%s' must be 1 to 253 characters", optarg);
                        o->node_name = optarg;
                        break;
                case OPT_BASE_PAGE: {
                        uint64_t b;
                        if (quantity_parse(optarg, &b) < 0 || b < 4096 || (b & (b - 1)) != 0)
                                r = fail("--base-page-size: '%s' is not a power-of-two size of at least 4Ki", optarg);
                        else
                                o->base_page_kb = b / 1024;
                        break;
                }
                case OPT_HISTORY: {
                        char *end;
                        errno = 0;
                        unsigned long v = strtoul(optarg, &end, 10);
                        if (optarg[0] < '0' || optarg[0] > '9' || *end || errno || v < 2 || v > 10000)
                                r = fail("--history: '%s' is not a number of generations from 2 to 10000", optarg);
                        else
                                o->history = (unsigned) v;
                        break;
                }
                case OPT_REQUIRE_IF_MATCH:
                        o->require_if_match = true;
                        break;
                case OPT_INITIAL_CONFIG:
                        o->initial_config = optarg;
                        break;
                case OPT_TO: {
                        char *end;
                        errno = 0;
                        unsigned long long v = strtoull(optarg, &end, 10);
                        if (optarg[0] < '1' || optarg[0] > '9' || *end || errno)
                                r = fail("--to: '%s' is not a generation number", optarg);
                        else
                                o->rollback_to = v;
                        break;
                }
                case OPT_CLIENT_CA:
                        o->client_ca = optarg;
                        break;
                case OPT_CLIENT_CERT_ROLE:
                        if (strcmp(optarg, "admin") == 0)
                                o->client_cert_role = ROLE_ADMIN;
                        else if (strcmp(optarg, "read") == 0)
                                o->client_cert_role = ROLE_READ;
                        else
                                r = fail("--client-cert-role: '%s' is not a role (admin or read)", optarg);
                        break;
                case OPT_PLAIN_HTTP:
                        o->plain_http = true;
                        break;
                case OPT_PLAIN_HTTP_REMOTE:
                        o->plain_http_remote = true;
                        break;
                case OPT_CORS_ORIGIN:
                        if (!dispatch_origin_valid(optarg))
                                r = fail("--cors-origin: '%s' is not an origin (https://host or https://host:port, "
                                         "no path)",
                                         optarg);
                        else if (o->n_cors_origins == sizeof(o->cors_origins) / sizeof(o->cors_origins[0]))
                                r = fail("--cors-origin: at most %zu origins",
                                         sizeof(o->cors_origins) / sizeof(o->cors_origins[0]));
                        else
                                o->cors_origins[o->n_cors_origins++] = optarg;
                        break;
                case OPT_MAX_CONNECTIONS:
                        r = parse_count("--max-connections", optarg, 1, 1000, &o->max_connections);
                        break;
                case OPT_MAX_PER_CLIENT:
                        r = parse_count("--max-connections-per-client", optarg, 1, 1000,
                                        &o->max_connections_per_client);
                        break;
                case OPT_IDLE_TIMEOUT:
                        r = parse_count("--idle-timeout", optarg, 1, 3600, &o->idle_timeout_s);
                        break;
                case OPT_REQUEST_TIMEOUT:
                        r = parse_count("--request-timeout", optarg, 1, 3600, &o->request_timeout_s);
                        break;
                case OPT_HEADER_TIMEOUT:
                        r = parse_count("--header-timeout", optarg, 1, 3600, &o->header_timeout_s);
                        break;
                case OPT_BOOT_ARGS: {
                        struct bootargs_spec spec;
                        struct errbuf err = { { 0 } };
                        if (bootargs_spec_parse(optarg, &spec, &err) < 0)
                                r = fail("--boot-args: %s", err.msg);
                        else {
                                bootargs_spec_release(&spec);
                                o->boot_args = optarg;
                        }
                        break;
                }
                case OPT_RESTART_UNIT:
                        if (!unit_name_valid(optarg))
                                r = fail("--restart-unit: '%s' is not a systemd unit name (name.service, …)", optarg);
                        else if (o->n_restart_units == sizeof(o->restart_units) / sizeof(o->restart_units[0]))
                                r = fail("--restart-unit: at most %zu units",
                                         sizeof(o->restart_units) / sizeof(o->restart_units[0]));
                        else
                                o->restart_units[o->n_restart_units++] = optarg;
                        break;
                case OPT_RETRIES:
                        r = parse_count("--retries", optarg, 0, 100, &o->retries);
                        break;
                case OPT_RETRY_DELAY:
                        r = parse_count("--retry-delay", optarg, 0, 600, &o->retry_delay_s);
                        break;
                case OPT_FLOOR_FILE:
                        if (!*optarg)
                                r = fail("--floor-file: the file name is empty");
                        o->floor_file = optarg;
                        break;
                case 'h':
                        usage(stdout);
                        return 1;
                case OPT_VERSION:
                        printf("hugepaged %s\n", HUGEPAGED_VERSION);
                        return 1;
                case ':':
                        return fail("option '%s' needs a value", argv[optind - 1]);
                default:
                        return fail("unknown option '%s'", argv[optind - 1]);
                }
                if (r < 0)
                        return r;
        }
        if (optind < argc)
                return fail("unexpected argument '%s'", argv[optind]);
        if (o->rollback_to && strcmp(o->command, "rollback") != 0)
                return fail("--to goes with the rollback command");
        if (!o->tls_cert != !o->tls_key)
                return fail("--tls-cert and --tls-key go together");
        if (!*o->state_dir || !*o->sysfs_root || !*o->procfs_root)
                return fail("directory options must not be empty");
        if (o->plain_http_remote && !o->plain_http)
                return fail("--plain-http-remote goes with --plain-http");
        if (o->plain_http && (o->tls_cert || o->client_ca))
                return fail("--plain-http serves no TLS: it does not go with --tls-cert or --client-ca");
        if (o->plain_http && !o->plain_http_remote && !is_loopback(o->listen_host))
                return fail("--plain-http on %s would send tokens in the clear over the network: listen on a "
                            "loopback address (127.0.0.1, ::1, localhost), or add --plain-http-remote",
                            o->listen_host);
        if (o->header_timeout_s > o->request_timeout_s)
                return fail("--header-timeout (%u s) is longer than --request-timeout (%u s)", o->header_timeout_s,
                            o->request_timeout_s);
        if (o->max_connections_per_client > o->max_connections)
                return fail("--max-connections-per-client (%u) is more than --max-connections (%u)",
                            o->max_connections_per_client, o->max_connections);
        return 0;
}
