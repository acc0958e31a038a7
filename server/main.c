/* hugepaged: the node's hugepage setup over HTTPS. main() only runs run(). */
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <systemd/sd-daemon.h>

#include "../handlers/app.h"
#include "../handlers/kernel.h"
#include "auth.h"
#include "http.h"
#include "log.h"
#include "openapi_blob.h"
#include "options.h"
#include "tls.h"
#include "version.h"

static int load_tokens(const struct options *o, struct auth *ret)
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
        int r = auth_load(path, ret, &err);
        if (r < 0)
                log_error("%s", err.msg);
        else
                log_info("loaded %zu token%s from %s", ret->n, ret->n == 1 ? "" : "s", path);
        return r;
}

static int run(int argc, char **argv)
{
        struct options o;
        int r = options_parse(argc, argv, &o);
        if (r != 0)
                return r > 0 ? EXIT_SUCCESS : 2;

        /* Block the stop signals before any thread starts, so that only the
         * sigwait below receives them. */
        sigset_t stop;
        sigemptyset(&stop);
        sigaddset(&stop, SIGINT);
        sigaddset(&stop, SIGTERM);
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

        if (sysfs_init(&app.fs, o.sysfs_root, o.procfs_root) < 0)
                return EXIT_FAILURE;
        if (!sysfs_exists(&app.fs, SYSFS_SYS, "kernel/mm/hugepages")) {
                log_error("%s/kernel/mm/hugepages does not exist: not a sysfs tree, or a kernel without HugeTLB "
                          "support (--sysfs-root)",
                          o.sysfs_root);
                return EXIT_FAILURE;
        }
        struct kernel k;
        r = kernel_read(&app, &k, &err);
        if (r < 0)
                log_warning("the kernel's hugepage state cannot be read; requests will fail until it can: %s",
                            err.msg);
        else {
                log_info("found %zu hugepage size%s and %zu NUMA node%s under %s", k.sizes.n_sizes,
                         k.sizes.n_sizes == 1 ? "" : "s", k.sizes.n_nodes, k.sizes.n_nodes == 1 ? "" : "s",
                         o.sysfs_root);
                kernel_release(&k);
        }

        r = store_open(o.state_dir, &app.store, &err);
        if (r < 0) {
                log_error("%s", err.msg);
                return EXIT_FAILURE;
        }
        r = app_init(&app, &err);
        if (r < 0) {
                log_error("%s", err.msg);
                return EXIT_FAILURE;
        }
        log_info("desired config: generation %llu", (unsigned long long) app.generation);

        struct tls_material tls;
        r = tls_load(o.tls_cert, o.tls_key, o.state_dir, app.node_name, &tls, &err);
        if (r < 0) {
                log_error("TLS: %s", err.msg);
                return EXIT_FAILURE;
        }
        if (tls.created)
                log_info("made a self-signed certificate in %s", tls.cert_path);

        struct auth auth;
        if (load_tokens(&o, &auth) < 0)
                return EXIT_FAILURE;

        struct http_config hc = {
                .host = o.listen_host,
                .port = o.listen_port,
                .cert_pem = tls.cert_pem,
                .key_pem = tls.key_pem,
                .max_body = o.max_body,
                .anonymous_read = o.anonymous_read,
                .app = &app,
                .auth = &auth,
        };
        struct http *http = NULL;
        char bound[128] = "";
        r = http_start(&hc, &http, bound, sizeof(bound), &err);
        tls_release(&tls); /* libmicrohttpd keeps its own copy */
        if (r < 0) {
                log_error("%s", err.msg);
                return EXIT_FAILURE;
        }
        log_info("listening on https://%s", bound);
        sd_notifyf(0, "READY=1\nSTATUS=serving on %s, generation %llu", bound, (unsigned long long) app.generation);

        int sig = 0;
        sigwait(&stop, &sig);
        log_info("stopping on signal %d", sig);
        sd_notify(0, "STOPPING=1");

        http_stop(http);
        auth_release(&auth);
        app_release(&app);
        store_close(&app.store);
        sysfs_release(&app.fs);
        return EXIT_SUCCESS;
}

int main(int argc, char **argv)
{
        return run(argc, argv);
}
