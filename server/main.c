/* hugepaged: the node's hugepage setup over HTTPS. main() only runs run(). */
#include <errno.h>
#include <limits.h>
#include <malloc.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <systemd/sd-daemon.h>

#include "../handlers/app.h"
#include "../handlers/kernel.h"
#include "../model/cleanup.h"
#include "../model/config.h"
#include "../model/floor.h"
#include "auth.h"
#include "console.h"
#include "http.h"
#include "log.h"
#include "node.h"
#include "notify.h"
#include "openapi_blob.h"
#include "options.h"
#include "probe-cli.h"
#include "tls.h"
#include "version.h"

/* The token file: --token-file, else STATE/token, made with a random
 * admin token on first start. */
static int load_tokens(const struct options *o, struct auth_store *ret)
{
        struct errbuf err = { { 0 } };
        char path[PATH_MAX];
        if (o->token_file)
                snprintf(path, sizeof(path), "%s", o->token_file);
        else {
                snprintf(path, sizeof(path), "%s/token", o->state_dir);
                if (access(path, F_OK) != 0) {
                        int r = auth_generate(path, &err);
                        if (r < 0) {
                                log_error("%s", err.msg);
                                return r;
                        }
                        log_info("generated an admin token in %s (mode 0600); pass --token-file to use your own",
                                 path);
                }
        }
        int r = auth_store_init(ret, path, &err);
        if (r < 0)
                log_error("%s", err.msg);
        else
                log_info("loaded %zu token%s from %s", ret->current.n, ret->current.n == 1 ? "" : "s", path);
        return r;
}

/* Reads the certificate and key again (renewing a self-made certificate
 * near its end) and hands them to the server for new connections. always:
 * also when nothing was renewed (SIGHUP), else only then. */
static void reload_certificate(const struct options *o, struct http *http, const char *node_name, bool always)
{
        struct errbuf err = { { 0 } };
        struct tls_material tls;
        int r = tls_load(o->tls_cert, o->tls_key, o->state_dir, node_name, &tls, &err);
        if (r >= 0) {
                if (tls.renewed)
                        log_warning("the self-made certificate %s was near its end and was made anew (same key): "
                                    "clients that pin it need the new file",
                                    tls.cert_path);
                if (always || tls.renewed) {
                        r = http_set_certificate(http, tls.cert_pem, tls.key_pem, &err);
                        if (r >= 0)
                                log_info("reload: certificate %s in force for new connections", tls.cert_path);
                }
                tls_release(&tls);
        }
        if (r < 0)
                log_error("reload: the certificate in force stays: %s", err.msg);
}

/* SIGHUP: the token file, and the certificate and key, read again. What
 * fails to load is reported and the old one stays in force. */
static void reload(const struct options *o, struct auth_store *auth, struct http *http, const char *node_name)
{
        struct errbuf err = { { 0 } };
        size_t n = 0;
        if (auth_store_reload(auth, &n, &err) < 0)
                log_error("reload: the tokens in force stay: %s", err.msg);
        else
                log_info("reload: %zu token%s from %s", n, n == 1 ? "" : "s", auth->path);
        if (!o->plain_http)
                reload_certificate(o, http, node_name, true);
}

/* --initial-config: an installer's config becomes generation 1, on the
 * first start only, checked like any other. */
static int initial_config(struct app *app, const char *path)
{
        struct snapshot snap;
        app_snapshot(app, &snap);
        uint64_t existing = snap.generation ? snap.generation : snap.confirmed_generation;
        bool has_history = json_array_size(snap.history) > 0;
        snapshot_release(&snap);
        if (has_history) {
                log_info("--initial-config %s ignored: the journal already holds generation %llu", path,
                         (unsigned long long) existing);
                return 0;
        }
        _cleanup_fclose_ FILE *f = fopen(path, "re");
        if (!f) {
                log_error("--initial-config: cannot open %s: %s", path, strerror(errno));
                return -errno;
        }
        char *buf = malloc(CONFIG_MAX_BYTES + 1);
        if (!buf)
                return -ENOMEM;
        size_t len = fread(buf, 1, CONFIG_MAX_BYTES + 1, f);
        if (len > CONFIG_MAX_BYTES) {
                free(buf);
                log_error("--initial-config: %s is larger than %d bytes", path, CONFIG_MAX_BYTES);
                return -EFBIG;
        }
        struct findings errors = { 0 };
        _cleanup_json_ json_t *doc = NULL;
        struct config c;
        int r = config_load(buf, len, &doc, &errors);
        free(buf);
        if (r == 0)
                r = config_parse(doc, &c, &errors);
        for (size_t i = 0; i < errors.n; i++)
                log_error("--initial-config %s: at \"%s\" (%s): %s", path, errors.items[i].pointer,
                          errors.items[i].code, errors.items[i].message);
        findings_release(&errors);
        if (r < 0)
                return r;

        pthread_mutex_lock(&app->apply_lock);
        struct errbuf err = { { 0 } };
        r = journal_lock(app->journal, &err);
        if (r < 0) {
                pthread_mutex_unlock(&app->apply_lock);
                config_release(&c);
                log_error("%s", err.msg);
                return r;
        }
        struct change_ctx ctx = app_change_ctx(app);
        struct change_result res;
        r = change_apply(&ctx, &c, "installer", 0, 0, &res);
        if (r == 0 && res.outcome == CHANGE_INVALID) {
                for (size_t i = 0; i < res.validation.errors.n; i++)
                        log_error("--initial-config %s: at \"%s\" (%s): %s", path, res.validation.errors.items[i].pointer,
                                  res.validation.errors.items[i].code, res.validation.errors.items[i].message);
                r = -EINVAL;
        } else if (r == 0 && res.outcome != CHANGE_DONE) {
                log_error("--initial-config %s: %s", path, res.message);
                r = -EIO;
        } else if (r == 0)
                log_info("--initial-config %s became generation %llu (%s)", path,
                         (unsigned long long) res.generation,
                         res.apply.complete ? "the kernel holds it" : "the kernel did not take all of it");
        change_result_release(&res);
        (void) app_publish(app);
        journal_unlock(app->journal);
        pthread_mutex_unlock(&app->apply_lock);
        config_release(&c);
        return r;
}

static int run(int argc, char **argv)
{
        if (argc > 1 && strcmp(argv[1], "probe") == 0)
                return probe_cli_run(argc - 1, argv + 1);
        struct options o;
        int r = options_parse(argc, argv, &o);
        if (r != 0)
                return r > 0 ? EXIT_SUCCESS : 2;
        if (strcmp(o.command, "serve") != 0)
                return console_run(&o);

        /* glibc gives each thread that meets a busy heap an arena of its own,
         * up to eight per CPU, and keeps what each one grew: under load the
         * HTTP threads' arenas were most of the memory the service held. Two
         * arenas keep that bounded, and at this request size cost no
         * measurable throughput (bench/run.sh). */
        mallopt(M_ARENA_MAX, 2);

        /* Block the stop signals before any thread starts, so that only the
         * sigwait below receives them. */
        sigset_t stop;
        sigemptyset(&stop);
        sigaddset(&stop, SIGINT);
        sigaddset(&stop, SIGTERM);
        sigaddset(&stop, SIGHUP);
        pthread_sigmask(SIG_BLOCK, &stop, NULL);
        signal(SIGPIPE, SIG_IGN);
        umask(0022);

        struct errbuf err = { { 0 } };
        static struct app app;
        app.version = HUGEPAGED_VERSION;
        app.openapi = hugepaged_openapi;
        app.openapi_len = hugepaged_openapi_len;
        app.vopts = o.reserve;
        app.base_page_kb = o.base_page_kb ? o.base_page_kb : (uint64_t) sysconf(_SC_PAGESIZE) / 1024;
        const char *node = o.node_name ? o.node_name : getenv("NODE_NAME");
        if (node && *node)
                snprintf(app.node_name, sizeof(app.node_name), "%s", node);
        else if (gethostname(app.node_name, sizeof(app.node_name) - 1) < 0)
                snprintf(app.node_name, sizeof(app.node_name), "localhost");

        /* The counters every read serves stay open (model/sysfs.h). */
        if (sysfs_init(&app.fs, o.sysfs_root, o.procfs_root) < 0 || sysfs_keep_open(&app.fs) < 0)
                return EXIT_FAILURE;
        if (!sysfs_exists(&app.fs, SYSFS_SYS, "kernel/mm/hugepages")) {
                log_error("%s/kernel/mm/hugepages does not exist: not a sysfs tree, or a kernel without HugeTLB "
                          "support (--sysfs-root)",
                          o.sysfs_root);
                return EXIT_FAILURE;
        }
        /* The changes an operator asks for may not shrink a pool below the
         * pages in use (naming their holders) nor below the floors other
         * components keep; the boot and console paths keep the warning
         * (model/validate.h). */
        static struct floors floors;
        if (o.floor_file) {
                r = floors_load(o.floor_file, &floors, &err);
                if (r < 0) {
                        log_error("--floor-file: %s", err.msg);
                        return EXIT_FAILURE;
                }
                log_info("loaded %zu floor%s from %s", floors.n, floors.n == 1 ? "" : "s", o.floor_file);
                app.vopts.floors = &floors;
        }
        app.vopts.fs = &app.fs;
        app.vopts.shrink_in_use_is_error = true;

        struct kernel k;
        r = kernel_read(&app, &k, &err);
        if (r < 0)
                log_warning("the kernel's hugepage state cannot be read; requests will fail until it can: %s",
                            err.msg);
        else {
                log_info("found %zu hugepage size%s and %zu NUMA node%s under %s", k.sizes.n_sizes,
                         k.sizes.n_sizes == 1 ? "" : "s", k.sizes.n_nodes, k.sizes.n_nodes == 1 ? "" : "s",
                         o.sysfs_root);
                if (floors_verify(&floors, &k.sizes, &err) < 0)
                        log_warning("--floor-file: %s", err.msg);
                kernel_release(&k);
        }

        safemode_detect(&app.fs, o.state_dir, &app.safe);
        if (app.safe.active)
                log_warning("safe mode (%s): the boot apply skips applying; the service serves as usual",
                            app.safe.source);
        static struct node glue;
        r = node_init(&glue, o.boot_args, o.restart_units, o.n_restart_units, &err);
        if (r < 0) {
                log_error("%s", err.msg);
                return EXIT_FAILURE;
        }
        app.boot.configured = o.boot_args != NULL;
        if (o.boot_args)
                snprintf(app.boot.spec, sizeof(app.boot.spec), "%s", o.boot_args);
        app.on_publish = node_on_publish;
        app.on_publish_cls = &glue;

        r = journal_open(o.state_dir, o.history, &app.journal, &err);
        if (r < 0) {
                log_error("%s", err.msg);
                return EXIT_FAILURE;
        }
        if (journal_recovery(app.journal)->message[0])
                log_warning("journal: %s", journal_recovery(app.journal)->message);
        app.require_if_match = o.require_if_match;
        r = app_init(&app, &err);
        if (r < 0) {
                log_error("%s", err.msg);
                return EXIT_FAILURE;
        }
        if (app.start_note[0])
                log_error("%s", app.start_note);
        if (o.initial_config && initial_config(&app, o.initial_config) < 0)
                return EXIT_FAILURE;
        struct snapshot snap;
        app_snapshot(&app, &snap);
        log_info("desired config: generation %llu%s", (unsigned long long) snap.generation,
                 snap.confirmed_generation == snap.generation ? " (confirmed)" : "");
        snapshot_release(&snap);
        r = app_start(&app);
        if (r < 0) {
                log_error("cannot start the confirm-window watcher: %s", strerror(-r));
                return EXIT_FAILURE;
        }

        struct tls_material tls = { 0 };
        if (!o.plain_http) {
                r = tls_load(o.tls_cert, o.tls_key, o.state_dir, app.node_name, &tls, &err);
                if (r < 0) {
                        log_error("TLS: %s", err.msg);
                        return EXIT_FAILURE;
                }
                if (tls.created)
                        log_info("made a self-signed certificate in %s", tls.cert_path);
                if (tls.renewed)
                        log_warning("the self-made certificate %s was near its end and was made anew (same key)",
                                    tls.cert_path);
        }
        _cleanup_free_ char *client_ca = NULL;
        if (o.client_ca) {
                r = tls_read_ca(o.client_ca, &client_ca, &err);
                if (r < 0) {
                        log_error("--client-ca: %s", err.msg);
                        tls_release(&tls);
                        return EXIT_FAILURE;
                }
        }

        static struct auth_store auth;
        if (load_tokens(&o, &auth) < 0) {
                tls_release(&tls);
                return EXIT_FAILURE;
        }

        /* Socket activation (hugepaged.socket): one inherited listening
         * TCP socket replaces --listen. */
        int inherited = sd_listen_fds(1);
        if (inherited > 1) {
                log_error("socket activation passed %d sockets; hugepaged serves exactly one (ListenStream=[::]:8443 "
                          "serves IPv4 and IPv6)",
                          inherited);
                tls_release(&tls);
                return EXIT_FAILURE;
        }
        if (inherited == 1 && sd_is_socket_inet(SD_LISTEN_FDS_START, AF_UNSPEC, SOCK_STREAM, 1, 0) <= 0) {
                log_error("the socket passed by systemd is not a listening TCP socket");
                tls_release(&tls);
                return EXIT_FAILURE;
        }

        struct http_config hc = {
                .host = o.listen_host,
                .port = o.listen_port,
                .listen_fd = inherited == 1 ? SD_LISTEN_FDS_START : -1,
                .plain = o.plain_http,
                .cert_pem = tls.cert_pem,
                .key_pem = tls.key_pem,
                .client_ca_pem = client_ca,
                .connection_limit = o.max_connections,
                .per_client_limit = o.max_connections_per_client,
                .idle_timeout_s = o.idle_timeout_s,
                .request_timeout_s = o.request_timeout_s,
                .header_timeout_s = o.header_timeout_s,
                .dispatch = {
                        .app = &app,
                        .auth = &auth,
                        .anonymous_read = o.anonymous_read,
                        .max_body = o.max_body,
                        .cors_origins = o.cors_origins,
                        .n_cors_origins = o.n_cors_origins,
                        .cert_role = (enum role) o.client_cert_role,
                },
        };
        struct http *http = NULL;
        char bound[128] = "";
        r = http_start(&hc, &http, bound, sizeof(bound), &err);
        tls_release(&tls); /* the server keeps its own copy */
        if (r < 0) {
                log_error("%s", err.msg);
                return EXIT_FAILURE;
        }
        log_info("listening on %s://%s%s", o.plain_http ? "http" : "https", bound,
                 inherited == 1 ? " (a socket from systemd)" : "");
        if (o.plain_http)
                log_warning("serving plain HTTP: tokens and configs cross %s unencrypted",
                            o.plain_http_remote ? "the network" : "loopback");
        char status[512];
        notify_status_text(&app, bound, status, sizeof(status));
        sd_notifyf(0, "READY=1\nSTATUS=%s", status);
        log_event(LOG_INFO, LOG_MESSAGE_ID_LIFECYCLE, snap.generation, NULL, "ready: %s", status);
        struct notify *notify = NULL;
        struct notify_config nc = { .app = &app, .listen_fd = http_listen_fd(http), .plain = o.plain_http, .bound = bound };
        r = notify_start(&nc, &notify);
        if (r < 0)
                log_warning("no STATUS or WATCHDOG updates for systemd: %s", strerror(-r));

        int sig = 0;
        for (;;) {
                /* Every few hours, a look at the self-made certificate:
                 * tls_load renews it (same key) when its end is near. */
                struct timespec every = { .tv_sec = 6 * 3600 };
                sig = sigtimedwait(&stop, NULL, &every);
                if (sig < 0) {
                        if (!o.plain_http && !o.tls_cert)
                                reload_certificate(&o, http, app.node_name, false);
                        continue;
                }
                if (sig != SIGHUP)
                        break;
                sd_notify(0, "RELOADING=1");
                reload(&o, &auth, http, app.node_name);
                sd_notify(0, "READY=1");
        }
        log_event(LOG_INFO, LOG_MESSAGE_ID_LIFECYCLE, 0, NULL, "stopping on signal %d; a change in flight finishes first",
                  sig);
        notify_stop(notify);
        sd_notify(0, "STOPPING=1");
        /* No new connections; a change in flight runs to its end (its
         * records are in the journal before it answers), and its answer
         * gets a moment to leave before the connections close. */
        http_quiesce(http);
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_sec += 80;
        if (pthread_mutex_timedlock(&app.apply_lock, &until) == 0) {
                pthread_mutex_unlock(&app.apply_lock);
                struct timespec grace = { 0, 300 * 1000 * 1000 };
                nanosleep(&grace, NULL);
        } else
                log_error("a change was still running after 80 s; stopping anyway (its journal records say how far it "
                          "got, and the next start reverts it if it was not confirmed)");

        http_stop(http);
        auth_store_release(&auth);
        app.on_publish = NULL;
        node_release(&glue);
        app_release(&app);
        journal_close(app.journal);
        sysfs_release(&app.fs);
        floors_release(&floors);
        return EXIT_SUCCESS;
}

int main(int argc, char **argv)
{
        return run(argc, argv);
}
