/* See notify.h. */
#include "notify.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <systemd/sd-daemon.h>

#include "../model/journal.h"
#include "log.h"

#define STATUS_INTERVAL_S 5
#define CHECK_TIMEOUT_S 5
#define STUCK_APPLY_S 600

struct notify {
        struct notify_config cfg;
        pthread_t thread;
        pthread_mutex_t lock;
        pthread_cond_t wake;
        bool stop;
        uint64_t watchdog_usec; /* 0: no watchdog */
        SSL_CTX *ssl;
        int64_t busy_since; /* when the apply lock was first seen held, 0 = free */
        char last_status[512];
        char last_problem[256];
};

void notify_status_text(struct app *app, const char *bound, char *buf, size_t size)
{
        struct snapshot s;
        app_snapshot(app, &s);
        char deadline[32] = "";
        if (s.pending)
                journal_format_time(s.deadline, deadline);
        const char *apply = "no apply yet";
        if (s.last_apply) {
                json_t *c = json_object_get(s.last_apply, "complete");
                apply = json_is_true(c) ? "last apply complete" : "last apply partial";
        }
        snprintf(buf, size, "serving on %s; generation %llu%s%s; %s%s", bound, (unsigned long long) s.generation,
                 s.pending ? " pending confirmation until " : s.generation ? " confirmed" : " (no config)", deadline, apply,
                 app->safe.active ? "; SAFE MODE: the boot apply is skipped" : "");
        snapshot_release(&s);
}

/* Connects to the server's own listener: its address, or loopback when it
 * listens on every address. Returns the fd or -errno. */
static int connect_self(int listen_fd)
{
        struct sockaddr_storage ss;
        socklen_t len = sizeof(ss);
        if (getsockname(listen_fd, (struct sockaddr *) &ss, &len) < 0)
                return -errno;
        if (ss.ss_family == AF_INET) {
                struct sockaddr_in *a = (struct sockaddr_in *) &ss;
                if (a->sin_addr.s_addr == htonl(INADDR_ANY))
                        a->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        } else if (ss.ss_family == AF_INET6) {
                struct sockaddr_in6 *a = (struct sockaddr_in6 *) &ss;
                if (IN6_IS_ADDR_UNSPECIFIED(&a->sin6_addr))
                        a->sin6_addr = in6addr_loopback;
        } else
                return -EAFNOSUPPORT;
        int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0)
                return -errno;
        struct timeval tv = { CHECK_TIMEOUT_S, 0 };
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
        if (connect(fd, (struct sockaddr *) &ss, len) < 0) {
                int e = errno;
                close(fd);
                return -e;
        }
        return fd;
}

/* GET /healthz through the listener, as any client would. */
static int self_check(struct notify *n, char *why, size_t why_size)
{
        static const char req[] = "GET /healthz HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n";
        int fd = connect_self(n->cfg.listen_fd);
        if (fd < 0) {
                snprintf(why, why_size, "cannot connect to its own listener: %s", strerror(-fd));
                return fd;
        }
        char buf[64] = "";
        int got = -1;
        SSL *ssl = NULL;
        if (n->cfg.plain) {
                if (write(fd, req, sizeof(req) - 1) == (ssize_t) (sizeof(req) - 1))
                        got = (int) read(fd, buf, sizeof(buf) - 1);
        } else {
                ssl = SSL_new(n->ssl);
                if (ssl && SSL_set_fd(ssl, fd) == 1 && SSL_connect(ssl) == 1 &&
                    SSL_write(ssl, req, (int) sizeof(req) - 1) == (int) sizeof(req) - 1)
                        got = SSL_read(ssl, buf, (int) sizeof(buf) - 1);
                if (ssl)
                        SSL_shutdown(ssl);
                SSL_free(ssl);
                ERR_clear_error();
        }
        close(fd);
        if (got <= 0) {
                snprintf(why, why_size, "its own listener did not answer GET /healthz within %d s", CHECK_TIMEOUT_S);
                return -ETIMEDOUT;
        }
        buf[got] = '\0';
        if (strncmp(buf, "HTTP/1.1 200", 12) != 0) {
                buf[strcspn(buf, "\r\n")] = '\0';
                snprintf(why, why_size, "GET /healthz answered \"%.40s\"", buf);
                return -EIO;
        }
        return 0;
}

/* Everything the watchdog vouches for. */
static bool healthy(struct notify *n, char *why, size_t why_size)
{
        struct app *app = n->cfg.app;
        if (!sysfs_exists(&app->fs, SYSFS_SYS, "kernel/mm/hugepages")) {
                snprintf(why, why_size, "the kernel's hugepage directory cannot be read");
                return false;
        }
        if (pthread_mutex_trylock(&app->apply_lock) == 0) {
                pthread_mutex_unlock(&app->apply_lock);
                n->busy_since = 0;
        } else {
                int64_t now = (int64_t) time(NULL);
                if (!n->busy_since)
                        n->busy_since = now;
                if (now - n->busy_since > STUCK_APPLY_S) {
                        snprintf(why, why_size, "a change has held the apply lock for %lld s",
                                 (long long) (now - n->busy_since));
                        return false;
                }
        }
        return self_check(n, why, why_size) == 0;
}

static void *notify_main(void *arg)
{
        struct notify *n = arg;
        /* Ping at half the watchdog interval; refresh STATUS at least every
         * few seconds either way. */
        uint64_t interval_ms = STATUS_INTERVAL_S * 1000;
        if (n->watchdog_usec && n->watchdog_usec / 2000 < interval_ms)
                interval_ms = n->watchdog_usec / 2000;
        if (interval_ms < 100)
                interval_ms = 100;
        pthread_mutex_lock(&n->lock);
        while (!n->stop) {
                pthread_mutex_unlock(&n->lock);
                char status[512], why[256] = "";
                notify_status_text(n->cfg.app, n->cfg.bound, status, sizeof(status));
                bool ok = n->watchdog_usec ? healthy(n, why, sizeof(why)) : true;
                if (!ok) {
                        if (strcmp(why, n->last_problem) != 0)
                                log_error("watchdog: not pinging systemd: %s", why);
                        snprintf(n->last_problem, sizeof(n->last_problem), "%s", why);
                        char line[800];
                        snprintf(line, sizeof(line), "STATUS=unhealthy: %s", why);
                        sd_notify(0, line);
                        n->last_status[0] = '\0';
                } else {
                        if (n->last_problem[0])
                                log_info("watchdog: healthy again");
                        n->last_problem[0] = '\0';
                        char line[600];
                        if (strcmp(status, n->last_status) != 0) {
                                snprintf(line, sizeof(line), "STATUS=%s%s", status, n->watchdog_usec ? "\nWATCHDOG=1" : "");
                                snprintf(n->last_status, sizeof(n->last_status), "%s", status);
                                sd_notify(0, line);
                        } else if (n->watchdog_usec)
                                sd_notify(0, "WATCHDOG=1");
                }
                struct timespec until;
                clock_gettime(CLOCK_REALTIME, &until);
                until.tv_sec += (time_t) (interval_ms / 1000);
                until.tv_nsec += (long) (interval_ms % 1000) * 1000000L;
                if (until.tv_nsec >= 1000000000L) {
                        until.tv_sec++;
                        until.tv_nsec -= 1000000000L;
                }
                pthread_mutex_lock(&n->lock);
                if (!n->stop)
                        pthread_cond_timedwait(&n->wake, &n->lock, &until);
        }
        pthread_mutex_unlock(&n->lock);
        return NULL;
}

int notify_start(const struct notify_config *cfg, struct notify **ret)
{
        struct notify *n = calloc(1, sizeof(*n));
        if (!n)
                return -ENOMEM;
        n->cfg = *cfg;
        uint64_t usec = 0;
        if (sd_watchdog_enabled(0, &usec) > 0)
                n->watchdog_usec = usec;
        if (!cfg->plain) {
                /* The self-check only proves that the server answers; it
                 * trusts whatever certificate it is shown. */
                n->ssl = SSL_CTX_new(TLS_client_method());
                if (!n->ssl) {
                        free(n);
                        return -ENOMEM;
                }
                SSL_CTX_set_verify(n->ssl, SSL_VERIFY_NONE, NULL);
        }
        pthread_mutex_init(&n->lock, NULL);
        pthread_cond_init(&n->wake, NULL);
        int r = -pthread_create(&n->thread, NULL, notify_main, n);
        if (r < 0) {
                SSL_CTX_free(n->ssl);
                free(n);
                return r;
        }
        *ret = n;
        return 0;
}

void notify_stop(struct notify *n)
{
        if (!n)
                return;
        pthread_mutex_lock(&n->lock);
        n->stop = true;
        pthread_cond_signal(&n->wake);
        pthread_mutex_unlock(&n->lock);
        pthread_join(n->thread, NULL);
        SSL_CTX_free(n->ssl);
        pthread_cond_destroy(&n->wake);
        pthread_mutex_destroy(&n->lock);
        free(n);
}
