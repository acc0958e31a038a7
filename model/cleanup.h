/* Scope-bound cleanup helpers in the systemd manner: a variable declared with
 * one of these attributes is released when it goes out of scope, so error
 * paths cannot forget it. Each helper accepts NULL or -1. */
#pragma once

#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
#include <dirent.h>
#include <errno.h>
#include <jansson.h>

static inline void freep(void *p)
{
        free(*(void **) p);
}

static inline void closep(int *fd)
{
        if (*fd >= 0) {
                int saved = errno;
                close(*fd);
                errno = saved;
        }
}

static inline void fclosep(FILE **f)
{
        if (*f)
                fclose(*f);
}

static inline void closedirp(DIR **d)
{
        if (*d)
                closedir(*d);
}

#define _cleanup_(f) __attribute__((cleanup(f)))
#define _cleanup_free_ _cleanup_(freep)
#define _cleanup_close_ _cleanup_(closep)
#define _cleanup_fclose_ _cleanup_(fclosep)
#define _cleanup_closedir_ _cleanup_(closedirp)
/* jansson 2.14 provides json_decrefp() itself. */
#define _cleanup_json_ _cleanup_(json_decrefp)

/* Hands ownership out of a _cleanup_ variable. */
#define TAKE_PTR(p)                                  \
        ({                                           \
                __typeof__(p) _taken = (p);          \
                (p) = NULL;                          \
                _taken;                              \
        })

#define TAKE_FD(fd)                                  \
        ({                                           \
                int _taken = (fd);                   \
                (fd) = -1;                           \
                _taken;                              \
        })

#define ELEMENTSOF(a) (sizeof(a) / sizeof((a)[0]))
