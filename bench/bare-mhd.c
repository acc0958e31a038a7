/* The framework's ceiling: a bare libmicrohttpd server that answers every
 * GET with a static buffer, set up as hugepaged's server/http.c sets up
 * its daemon (the same threading mode, thread pool, connection memory,
 * strictness, timeouts and GnuTLS priority string), so that the difference
 * to hugepaged is what hugepaged does per request.
 *
 * The buffers are files captured from hugepaged first: each FILE is served
 * at /NAME, NAME being the file name without its directory and extension
 * (status.json -> /status), with CONTENT-TYPE; any other path is a 404.
 *
 * Usage: bare-mhd CERT.pem KEY.pem FILE[=CONTENT-TYPE]…
 * Prints "listening on PORT" (127.0.0.1, a free port) and serves until
 * SIGTERM or SIGINT. */
#include <errno.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* As server/http.c: keep these in step with it. */
#define THREADS 4
#define CONNECTION_MEMORY (32 * 1024)
#define TLS_PRIORITIES                                                                                               \
        "NORMAL:-VERS-ALL:+VERS-TLS1.3:+VERS-TLS1.2:-CIPHER-ALL:+AES-256-GCM:+AES-128-GCM:+CHACHA20-POLY1305:"      \
        "-MAC-ALL:+AEAD:-KX-ALL:+ECDHE-ECDSA:+ECDHE-RSA:%SERVER_PRECEDENCE"

struct page {
        char path[256];
        const char *type;
        char *body;
        size_t len;
};

static struct page pages[16];
static size_t n_pages;

static char *slurp(const char *path, size_t *ret_len)
{
        FILE *f = fopen(path, "rb");
        if (!f)
                return NULL;
        size_t cap = 65536, len = 0;
        char *b = malloc(cap + 1);
        size_t k;
        while (b && (k = fread(b + len, 1, cap - len, f)) > 0) {
                len += k;
                if (len == cap) {
                        char *g = realloc(b, (cap *= 2) + 1);
                        if (!g) {
                                free(b);
                                b = NULL;
                                break;
                        }
                        b = g;
                }
        }
        fclose(f);
        if (b) {
                b[len] = '\0';
                *ret_len = len;
        }
        return b;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url, const char *method,
                                  const char *version, const char *data, size_t *data_size, void **state)
{
        (void) cls;
        (void) version;
        (void) data;
        /* Answer on the second call, as hugepaged does (see its http.c). */
        if (!*state) {
                *state = (void *) 1;
                return MHD_YES;
        }
        *data_size = 0;
        if (strcmp(method, "GET") != 0)
                return MHD_NO;
        for (size_t i = 0; i < n_pages; i++) {
                if (strcmp(url, pages[i].path) != 0)
                        continue;
                struct MHD_Response *r = MHD_create_response_from_buffer(pages[i].len, pages[i].body,
                                                                         MHD_RESPMEM_PERSISTENT);
                /* The headers hugepaged adds to every answer. */
                MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, pages[i].type);
                MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
                MHD_add_response_header(r, "X-Content-Type-Options", "nosniff");
                MHD_add_response_header(r, "Strict-Transport-Security", "max-age=31536000");
                enum MHD_Result q = MHD_queue_response(c, MHD_HTTP_OK, r);
                MHD_destroy_response(r);
                return q;
        }
        static char missing[] = "not found\n";
        struct MHD_Response *r = MHD_create_response_from_buffer(sizeof(missing) - 1, missing, MHD_RESPMEM_PERSISTENT);
        enum MHD_Result q = MHD_queue_response(c, MHD_HTTP_NOT_FOUND, r);
        MHD_destroy_response(r);
        return q;
}

int main(int argc, char **argv)
{
        if (argc < 4) {
                fprintf(stderr, "usage: bare-mhd CERT.pem KEY.pem FILE[=CONTENT-TYPE]...\n");
                return 2;
        }
        size_t cert_len, key_len;
        char *cert = slurp(argv[1], &cert_len), *key = slurp(argv[2], &key_len);
        if (!cert || !key) {
                fprintf(stderr, "bare-mhd: cannot read the certificate or key: %s\n", strerror(errno));
                return 1;
        }
        for (int i = 3; i < argc && n_pages < 16; i++) {
                struct page *p = &pages[n_pages++];
                char *spec = argv[i], *eq = strchr(spec, '=');
                p->type = "application/json";
                if (eq) {
                        *eq = '\0';
                        p->type = eq + 1;
                }
                const char *base = strrchr(spec, '/') ? strrchr(spec, '/') + 1 : spec;
                snprintf(p->path, sizeof(p->path), "/%s", base);
                char *dot = strchr(p->path, '.');
                if (dot)
                        *dot = '\0';
                p->body = slurp(spec, &p->len);
                if (!p->body) {
                        fprintf(stderr, "bare-mhd: cannot read %s: %s\n", spec, strerror(errno));
                        return 1;
                }
        }

        int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        struct sockaddr_in sa = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
        int one = 1;
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
        socklen_t sl = sizeof(sa);
        if (fd < 0 || bind(fd, (struct sockaddr *) &sa, sizeof(sa)) < 0 || listen(fd, 128) < 0 ||
            getsockname(fd, (struct sockaddr *) &sa, &sl) < 0) {
                fprintf(stderr, "bare-mhd: cannot listen: %s\n", strerror(errno));
                return 1;
        }

        sigset_t set;
        sigemptyset(&set);
        sigaddset(&set, SIGTERM);
        sigaddset(&set, SIGINT);
        pthread_sigmask(SIG_BLOCK, &set, NULL); /* the daemon's threads inherit the mask */

        struct MHD_Daemon *d = MHD_start_daemon(
                MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_USE_ITC | MHD_USE_TLS, 0, NULL, NULL,
                on_request, NULL, MHD_OPTION_LISTEN_SOCKET, fd, MHD_OPTION_THREAD_POOL_SIZE, (unsigned) THREADS,
                MHD_OPTION_CONNECTION_LIMIT, (unsigned) 256, MHD_OPTION_PER_IP_CONNECTION_LIMIT, (unsigned) 64,
                MHD_OPTION_CONNECTION_TIMEOUT, (unsigned) 10, MHD_OPTION_CONNECTION_MEMORY_LIMIT,
                (size_t) CONNECTION_MEMORY, MHD_OPTION_STRICT_FOR_CLIENT, (int) 1, MHD_OPTION_HTTPS_MEM_CERT, cert,
                MHD_OPTION_HTTPS_MEM_KEY, key, MHD_OPTION_HTTPS_PRIORITIES, TLS_PRIORITIES, MHD_OPTION_END);
        if (!d) {
                fprintf(stderr, "bare-mhd: libmicrohttpd could not start\n");
                return 1;
        }
        printf("listening on %u\n", (unsigned) ntohs(sa.sin_port));
        fflush(stdout);
        int sig;
        sigwait(&set, &sig);
        MHD_stop_daemon(d);
        close(fd);
        return 0;
}
