/* The service's side of systemd's notify protocol (sd_notify; no-ops
 * without NOTIFY_SOCKET):
 *
 * - STATUS= with the generation, whether a change awaits confirmation (and
 *   until when), the last apply's outcome and safe mode, refreshed as they
 *   change (checked every few seconds);
 * - WATCHDOG=1 every WatchdogSec/2, but only while the service is really
 *   healthy: a request to its own listener (TLS handshake and GET /healthz,
 *   answered by the same threads that answer everyone) succeeds, the
 *   journal and the kernel's hugepage directory are there, and no change
 *   has held the apply lock for longer than STUCK_APPLY_S. When a check
 *   fails, the pings stop and systemd restarts the service.
 *
 * READY=1 and STOPPING=1 are sent by main, around the server's start and
 * stop. */
#pragma once

#include <stdbool.h>

#include "../handlers/app.h"

struct notify_config {
        struct app *app;    /* borrowed */
        int listen_fd;      /* the server's listening socket: where the self-check connects */
        bool plain;         /* the self-check speaks plain HTTP */
        const char *bound;  /* "host:port", for STATUS */
};

struct notify;

/* Starts the thread. */
int notify_start(const struct notify_config *cfg, struct notify **ret);
void notify_stop(struct notify *n);

/* The one-line STATUS text for the snapshot now (also logged at start). */
void notify_status_text(struct app *app, const char *bound, char *buf, size_t size);
