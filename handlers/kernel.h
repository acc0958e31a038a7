/* One snapshot of the kernel's hugepage state, as every handler that reports
 * or checks needs it. */
#pragma once

#include "../model/sizes.h"
#include "../model/thp.h"
#include "app.h"

struct kernel {
        struct sizes sizes;
        struct thp thp;
};

int kernel_read(const struct app *app, struct kernel *ret, struct errbuf *err);
void kernel_release(struct kernel *k);

/* Fills a 500 problem for a failed kernel_read (r < 0); returns r for
 * -ENOMEM, 0 otherwise. */
int kernel_problem(struct response *resp, int r, const char *instance, const struct errbuf *err);
