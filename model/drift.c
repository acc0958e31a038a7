/* See drift.h. */
#include "drift.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cleanup.h"

static int add(struct drift *d, char *pointer_owned, struct drift_item it)
{
        if (!pointer_owned)
                return -ENOMEM;
        struct drift_item *grown = realloc(d->items, (d->n + 1) * sizeof(struct drift_item));
        if (!grown) {
                free(pointer_owned);
                return -ENOMEM;
        }
        d->items = grown;
        it.pointer = pointer_owned;
        d->items[d->n++] = it;
        return 0;
}

int drift_compute(const struct config *c, const struct sizes *s, const struct thp *t, struct drift *ret)
{
        struct drift d = { 0 };
        int r = 0;

        for (size_t i = 0; i < c->n_pools && r >= 0; i++) {
                const struct pool_cfg *p = &c->pools[i];
                const struct size_info *si = sizes_find(s, p->size_kb);
                _cleanup_free_ char *base = pointer_join("/pools", p->key);
                if (!base) {
                        r = -ENOMEM;
                        break;
                }
                if (!si) {
                        /* The size vanished (another kernel booted): every
                         * page of the pool is missing. */
                        r = add(&d, pointer_join(base, p->has_count ? "count" : "nodes"),
                                (struct drift_item) { .desired = p->count, .actual = 0 });
                        continue;
                }
                if (p->has_nodes) {
                        _cleanup_free_ char *nodes = pointer_join(base, "nodes");
                        if (!nodes) {
                                r = -ENOMEM;
                                break;
                        }
                        for (size_t j = 0; j < p->n_nodes && r >= 0; j++) {
                                int k = sizes_node_index(s, p->nodes[j].node);
                                uint64_t actual = k >= 0 ? size_node_persistent(&si->nodes[k]) : 0;
                                if (actual == p->nodes[j].count)
                                        continue;
                                char key[16];
                                snprintf(key, sizeof(key), "%u", p->nodes[j].node);
                                r = add(&d, pointer_join(nodes, key),
                                        (struct drift_item) { .desired = p->nodes[j].count, .actual = actual });
                        }
                } else if (size_persistent(si) != p->count)
                        r = add(&d, pointer_join(base, "count"),
                                (struct drift_item) { .desired = p->count, .actual = size_persistent(si) });
        }

        for (int k = 0; k < _THP_KNOB_MAX && r >= 0; k++) {
                if (!c->thp[k])
                        continue;
                const struct thp_setting *st = &t->knobs[k];
                const char *actual = st->present && st->active >= 0 ? st->choices[st->active] : "";
                if (strcmp(actual, c->thp[k]) == 0)
                        continue;
                struct drift_item it = { .is_word = true };
                snprintf(it.desired_word, sizeof(it.desired_word), "%s", c->thp[k]);
                snprintf(it.actual_word, sizeof(it.actual_word), "%s", actual);
                r = add(&d, pointer_join("/transparent_hugepage", thp_knob_name((enum thp_knob) k)), it);
        }

        if (r < 0) {
                drift_release(&d);
                return r;
        }
        *ret = d;
        return 0;
}

void drift_release(struct drift *d)
{
        if (!d)
                return;
        for (size_t i = 0; i < d->n; i++)
                free(d->items[i].pointer);
        free(d->items);
        *d = (struct drift) { 0 };
}
