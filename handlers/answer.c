/* See answer.h. */
#include "answer.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "app.h"

static int64_t monotonic_ms(void)
{
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (int64_t) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void answer_cache_init(struct answer_cache *c)
{
        *c = (struct answer_cache) { 0 };
        pthread_mutex_init(&c->lock, NULL);
}

void answer_cache_release(struct answer_cache *c)
{
        if (!c)
                return;
        free(c->text);
        c->text = NULL;
        pthread_mutex_destroy(&c->lock);
}

int answer_cache_serve(struct answer_cache *c, const struct app *app, struct response *ret,
                       unsigned long *ret_epoch)
{
        /* The epoch is read before anything is built: a change published
         * while the answer is being built leaves it under the old epoch,
         * so the next request builds again. */
        unsigned long epoch = atomic_load(&app->publish_epoch);
        char *copy = NULL;
        const char *type = NULL;
        pthread_mutex_lock(&c->lock);
        if (c->text && c->epoch == epoch && monotonic_ms() - c->made_ms < ANSWER_CACHE_MS) {
                copy = malloc(c->len + 1);
                if (copy) {
                        memcpy(copy, c->text, c->len + 1);
                        type = c->content_type;
                }
        }
        pthread_mutex_unlock(&c->lock);
        if (copy)
                return response_text(ret, 200, type, copy) ?: 1;
        *ret_epoch = epoch;
        return 0;
}

int answer_cache_store(struct answer_cache *c, unsigned long epoch, const struct response *ret)
{
        if (ret->status != 200 || ret->problem || ret->etag[0] || ret->location[0])
                return 0;
        char *text;
        const char *type;
        if (ret->text) {
                text = strdup(ret->text);
                type = ret->content_type;
        } else if (ret->body) {
                /* As server/http.c sends it. */
                char *dumped = json_dumps(ret->body, JSON_COMPACT);
                size_t n = dumped ? strlen(dumped) : 0;
                text = dumped ? realloc(dumped, n + 2) : NULL;
                if (!text)
                        free(dumped);
                else {
                        text[n] = '\n';
                        text[n + 1] = '\0';
                }
                type = "application/json";
        } else
                return 0;
        if (!text)
                return -ENOMEM;
        pthread_mutex_lock(&c->lock);
        free(c->text);
        c->text = text;
        c->len = strlen(text);
        c->content_type = type;
        c->made_ms = monotonic_ms();
        c->epoch = epoch;
        pthread_mutex_unlock(&c->lock);
        return 0;
}
