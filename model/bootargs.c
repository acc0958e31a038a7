/* See bootargs.h. Three parts: the parameters a config needs (and the
 * kernel's reading of a command line, to compare with the running one),
 * the GRUB environment block codec, and the merge into a block on disk. */
#include "bootargs.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cleanup.h"
#include "finding.h"
#include "quantity.h"

#define SIG_LEN (sizeof(BOOTARGS_ENVBLK_SIGNATURE) - 1)

/* The kernel's command line is at most a few KiB (COMMAND_LINE_SIZE is
 * 2048 on x86_64 and arm64); leave room for any architecture. */
#define CMDLINE_MAX (64 * 1024)

/* ---- small helpers -------------------------------------------------- */

/* A short, printable excerpt of s for messages: control bytes become '?'. */
static const char *excerpt(const char *s, size_t len, char *buf, size_t size)
{
        size_t n = 0;
        for (size_t i = 0; i < len && n + 4 < size; i++)
                buf[n++] = (unsigned char) s[i] < 0x20 || s[i] == 0x7f ? '?' : s[i];
        if (n < len && n + 4 <= size) {
                memcpy(buf + n, "...", 3);
                n += 3;
        }
        buf[n] = '\0';
        return buf;
}

/* A growing string. */
struct sbuf {
        char *s;
        size_t len, cap;
};

static int sbuf_add(struct sbuf *b, const char *s, size_t len)
{
        if (b->len + len + 1 > b->cap) {
                size_t cap = b->cap ? b->cap : 64;
                while (cap < b->len + len + 1)
                        cap *= 2;
                char *grown = realloc(b->s, cap);
                if (!grown)
                        return -ENOMEM;
                b->s = grown;
                b->cap = cap;
        }
        memcpy(b->s + b->len, s, len);
        b->len += len;
        b->s[b->len] = '\0';
        return 0;
}

static int sbuf_adds(struct sbuf *b, const char *s)
{
        return sbuf_add(b, s, strlen(s));
}

/* Hands the string out ("" when nothing was added). */
static char *sbuf_take(struct sbuf *b)
{
        if (!b->s)
                return strdup("");
        char *s = b->s;
        b->s = NULL;
        b->len = b->cap = 0;
        return s;
}

/* ---- the spec ------------------------------------------------------- */

static bool valid_variable(const char *s, size_t len)
{
        if (len == 0)
                return false;
        for (size_t i = 0; i < len; i++) {
                char ch = s[i];
                bool alpha = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || ch == '_';
                if (!alpha && !(i > 0 && ch >= '0' && ch <= '9'))
                        return false;
        }
        return true;
}

int bootargs_spec_parse(const char *spec, struct bootargs_spec *ret, struct errbuf *err)
{
        static const char prefix[] = "grubenv:";
        const char *colon = strchr(spec, ':');
        if (!colon)
                return errbuf_set(err, -EINVAL,
                                  "boot arguments \"%.64s\": expected grubenv:FILE:VARIABLE, e.g. "
                                  "grubenv:/oem/grubenv:third_party_kernel_args",
                                  spec);
        if (strncmp(spec, prefix, sizeof(prefix) - 1) != 0)
                return errbuf_set(
                        err, -EINVAL,
                        "boot arguments \"%.64s\": unknown backend \"%.*s\" (supported: grubenv, as "
                        "grubenv:FILE:VARIABLE)",
                        spec, (int) (colon - spec > 32 ? 32 : colon - spec), spec);
        const char *file = spec + sizeof(prefix) - 1;
        const char *last = strrchr(file, ':');
        if (!last)
                return errbuf_set(
                        err, -EINVAL,
                        "boot arguments \"%.64s\": no VARIABLE; expected grubenv:FILE:VARIABLE, e.g. "
                        "grubenv:/oem/grubenv:third_party_kernel_args",
                        spec);
        size_t file_len = (size_t) (last - file);
        const char *var = last + 1;
        size_t var_len = strlen(var);
        if (file_len == 0)
                return errbuf_set(err, -EINVAL, "boot arguments \"%.64s\": FILE is empty", spec);
        if (file[0] != '/')
                return errbuf_set(err, -EINVAL,
                                  "boot arguments \"%.64s\": FILE \"%.*s\" must be an absolute path", spec,
                                  (int) (file_len > 128 ? 128 : file_len), file);
        if (file_len >= PATH_MAX)
                return errbuf_set(err, -EINVAL, "boot arguments: FILE is longer than %d bytes", PATH_MAX - 1);
        if (var_len == 0)
                return errbuf_set(err, -EINVAL, "boot arguments \"%.64s\": VARIABLE is empty", spec);
        if (var_len > BOOTARGS_VARIABLE_MAX)
                return errbuf_set(err, -EINVAL,
                                  "boot arguments: VARIABLE \"%.32s...\" is longer than %d characters", var,
                                  BOOTARGS_VARIABLE_MAX);
        if (!valid_variable(var, var_len))
                return errbuf_set(
                        err, -EINVAL,
                        "boot arguments: VARIABLE \"%.64s\" is not a GRUB variable name (letters, digits "
                        "and '_', not starting with a digit)",
                        var);

        _cleanup_free_ char *f = strndup(file, file_len);
        _cleanup_free_ char *v = strdup(var);
        if (!f || !v)
                return -ENOMEM;
        ret->file = TAKE_PTR(f);
        ret->variable = TAKE_PTR(v);
        return 0;
}

void bootargs_spec_release(struct bootargs_spec *s)
{
        if (!s)
                return;
        free(s->file);
        free(s->variable);
        s->file = s->variable = NULL;
}

/* ---- kernel command-line tokens --------------------------------------- */

/* Blanks as the kernel's isspace() sees them in ASCII. */
static bool blank(char ch)
{
        return ch == ' ' || ch == '\t' || ch == '\n' || ch == '\v' || ch == '\f' || ch == '\r';
}

struct span {
        size_t start, end;
};

/* Splits s into tokens as the kernel's next_arg() does: blanks separate,
 * except inside double quotes. */
static int split(const char *s, struct span **ret, size_t *ret_n)
{
        struct span *v = NULL;
        size_t n = 0, cap = 0, i = 0;
        for (;;) {
                while (s[i] && blank(s[i]))
                        i++;
                if (!s[i])
                        break;
                size_t start = i;
                bool quote = false;
                for (; s[i]; i++) {
                        if (blank(s[i]) && !quote)
                                break;
                        if (s[i] == '"')
                                quote = !quote;
                }
                if (n == cap) {
                        cap = cap ? 2 * cap : 16;
                        struct span *grown = realloc(v, cap * sizeof(*v));
                        if (!grown) {
                                free(v);
                                return -ENOMEM;
                        }
                        v = grown;
                }
                v[n++] = (struct span){ start, i };
        }
        *ret = v;
        *ret_n = n;
        return 0;
}

/* One argument read as next_arg() and the __setup() matching read it: the
 * name with dashes as underscores (parameqn), the value with its quotes
 * removed. Names longer than the buffer are never ones we look for. */
struct arg {
        char name[32];
        bool has_value;
        const char *value;
        size_t value_len;
};

static void read_arg(const char *tok, size_t len, struct arg *ret)
{
        struct arg a = { .name = "" };
        bool quoted = len > 0 && tok[0] == '"';
        size_t begin = quoted ? 1 : 0, end = len;
        /* next_arg() takes the first '=' after the name's first byte. */
        const char *eq = end > begin + 1 ? memchr(tok + begin + 1, '=', end - begin - 1) : NULL;
        size_t name_end = eq ? (size_t) (eq - tok) : end;
        if (!eq && quoted && end > begin && tok[end - 1] == '"')
                name_end = end - 1;
        size_t nlen = name_end - begin;
        if (nlen < sizeof(a.name)) {
                for (size_t i = 0; i < nlen; i++)
                        a.name[i] = tok[begin + i] == '-' ? '_' : tok[begin + i];
                a.name[nlen] = '\0';
        }
        if (eq) {
                size_t vs = name_end + 1, ve = end;
                bool vq = vs < ve && tok[vs] == '"';
                if (vq)
                        vs++;
                if ((vq || quoted) && ve > vs && tok[ve - 1] == '"')
                        ve--;
                a.has_value = true;
                a.value = tok + vs;
                a.value_len = ve - vs;
        }
        *ret = a;
}

static bool arg_is(const struct arg *a, const char *name)
{
        return a->has_value && strcmp(a->name, name) == 0;
}

static bool is_hugetlb_arg(const struct arg *a)
{
        return arg_is(a, "default_hugepagesz") || arg_is(a, "hugepagesz") || arg_is(a, "hugepages");
}

static bool is_thp_arg(const struct arg *a)
{
        return arg_is(a, "transparent_hugepage");
}

static bool is_end_of_kernel_args(const char *tok, size_t len)
{
        return len == 2 && tok[0] == '-' && tok[1] == '-';
}

/* ---- the parameters ------------------------------------------------- */

char *bootargs_format_size(uint64_t size_kb, char buf[static BOOTARGS_SIZE_MAX])
{
        if (size_kb && size_kb % (1024 * 1024) == 0)
                snprintf(buf, BOOTARGS_SIZE_MAX, "%" PRIu64 "G", size_kb / (1024 * 1024));
        else if (size_kb && size_kb % 1024 == 0)
                snprintf(buf, BOOTARGS_SIZE_MAX, "%" PRIu64 "M", size_kb / 1024);
        else
                snprintf(buf, BOOTARGS_SIZE_MAX, "%" PRIu64 "K", size_kb);
        return buf;
}

/* A boot-time pool: a count, or counts per node (sorted by node). */
struct boot_pool {
        uint64_t size_kb;
        bool by_node;
        uint64_t count; /* by_node: the sum */
        struct pool_node *nodes;
        size_t n_nodes;
};

static void boot_pool_release(struct boot_pool *p)
{
        free(p->nodes);
        p->nodes = NULL;
        p->n_nodes = 0;
}

static uint64_t boot_pool_pages(const struct boot_pool *p)
{
        return p->count;
}

/* The canonical spelling, "hugepagesz=1G hugepages=4" or
 * "hugepagesz=1G hugepages=0:2,1:2", zero nodes left out; "" for a pool of
 * no pages. */
static char *boot_pool_format(const struct boot_pool *p)
{
        struct sbuf b = { 0 };
        char size[BOOTARGS_SIZE_MAX], num[48];
        int r = 0;
        if (boot_pool_pages(p) == 0)
                return strdup("");
        r = sbuf_adds(&b, "hugepagesz=");
        if (r >= 0)
                r = sbuf_adds(&b, bootargs_format_size(p->size_kb, size));
        if (r >= 0)
                r = sbuf_adds(&b, " hugepages=");
        if (!p->by_node) {
                snprintf(num, sizeof(num), "%" PRIu64, p->count);
                if (r >= 0)
                        r = sbuf_adds(&b, num);
        } else {
                bool first = true;
                for (size_t i = 0; i < p->n_nodes && r >= 0; i++) {
                        if (p->nodes[i].count == 0)
                                continue;
                        snprintf(num, sizeof(num), "%s%u:%" PRIu64, first ? "" : ",", p->nodes[i].node,
                                 p->nodes[i].count);
                        first = false;
                        r = sbuf_adds(&b, num);
                }
        }
        if (r < 0) {
                free(b.s);
                return NULL;
        }
        return sbuf_take(&b);
}

static int add_token(struct bootargs *a, const char *tok, size_t len)
{
        char **grown = realloc(a->tokens, (a->n + 1) * sizeof(char *));
        if (!grown)
                return -ENOMEM;
        a->tokens = grown;
        char *t = strndup(tok, len);
        if (!t)
                return -ENOMEM;
        a->tokens[a->n++] = t;
        return 0;
}

/* Adds every blank-separated word of s. */
static int add_tokens(struct bootargs *a, const char *s)
{
        while (*s) {
                while (*s == ' ')
                        s++;
                size_t len = strcspn(s, " ");
                if (len) {
                        int r = add_token(a, s, len);
                        if (r < 0)
                                return r;
                }
                s += len;
        }
        return 0;
}

static bool thp_boot_word(const char *w)
{
        return strcmp(w, "always") == 0 || strcmp(w, "madvise") == 0 || strcmp(w, "never") == 0;
}

/* The boot pool a config pool asks for. Borrows p's node array. */
static struct boot_pool pool_from_config(const struct pool_cfg *p)
{
        struct boot_pool b = { .size_kb = p->size_kb, .by_node = p->has_nodes };
        if (p->has_nodes) {
                b.nodes = p->nodes;
                b.n_nodes = p->n_nodes;
                for (size_t i = 0; i < p->n_nodes; i++)
                        b.count += p->nodes[i].count;
        } else
                b.count = p->count;
        return b;
}

int bootargs_from_config(const struct config *c, const struct sizes *s, struct bootargs *ret,
                         struct errbuf *err)
{
        struct bootargs a = { 0 };
        char size[BOOTARGS_SIZE_MAX], q[QUANTITY_MAX], tok[64];
        int r = 0;

        if (c->has_default_size) {
                if (!c->default_size_kb)
                        return errbuf_set(err, -EINVAL, "default_size %s is not a whole number of KiB",
                                          quantity_format(c->default_size_bytes, q));
                snprintf(tok, sizeof(tok), "default_hugepagesz=%s",
                         bootargs_format_size(c->default_size_kb, size));
                r = add_token(&a, tok, strlen(tok));
        }
        for (size_t i = 0; i < c->n_pools && r >= 0; i++) {
                const struct pool_cfg *p = &c->pools[i];
                if (!p->size_kb) {
                        bootargs_release(&a);
                        return errbuf_set(err, -EINVAL, "pool %s is not a whole number of KiB", p->key);
                }
                if (!size_is_gigantic(s, p->size_kb))
                        continue;
                struct boot_pool b = pool_from_config(p);
                _cleanup_free_ char *text = boot_pool_format(&b);
                r = text ? add_tokens(&a, text) : -ENOMEM;
        }
        const char *thp = c->thp[THP_ENABLED];
        if (r >= 0 && thp) {
                if (!thp_boot_word(thp)) {
                        bootargs_release(&a);
                        return errbuf_set(err, -EINVAL,
                                          "transparent_hugepage.enabled \"%.32s\" cannot be a boot parameter "
                                          "(transparent_hugepage= takes always, madvise or never)",
                                          thp);
                }
                snprintf(tok, sizeof(tok), "transparent_hugepage=%s", thp);
                r = add_token(&a, tok, strlen(tok));
        }
        if (r < 0) {
                bootargs_release(&a);
                return r;
        }
        *ret = a;
        return 0;
}

void bootargs_release(struct bootargs *a)
{
        if (!a)
                return;
        for (size_t i = 0; i < a->n; i++)
                free(a->tokens[i]);
        free(a->tokens);
        a->tokens = NULL;
        a->n = 0;
}

char *bootargs_join(const struct bootargs *a)
{
        struct sbuf b = { 0 };
        for (size_t i = 0; i < a->n; i++)
                if ((i && sbuf_adds(&b, " ") < 0) || sbuf_adds(&b, a->tokens[i]) < 0) {
                        free(b.s);
                        return NULL;
                }
        return sbuf_take(&b);
}

/* ---- the GRUB environment block --------------------------------------- */

static void line_release(struct bootargs_envblk_line *l)
{
        free(l->raw);
        free(l->name);
        free(l->value);
}

void bootargs_envblk_release(struct bootargs_envblk *e)
{
        if (!e)
                return;
        for (size_t i = 0; i < e->n; i++)
                line_release(&e->lines[i]);
        free(e->lines);
        e->lines = NULL;
        e->n = 0;
}

static int envblk_push(struct bootargs_envblk *e, struct bootargs_envblk_line l)
{
        struct bootargs_envblk_line *grown = realloc(e->lines, (e->n + 1) * sizeof(*grown));
        if (!grown)
                return -ENOMEM;
        e->lines = grown;
        e->lines[e->n++] = l;
        return 0;
}

/* GRUB's unescaping: a backslash takes the next byte literally. */
static char *unescape(const char *s, size_t len)
{
        char *out = malloc(len + 1), *o = out;
        if (!out)
                return NULL;
        for (size_t i = 0; i < len; i++) {
                if (s[i] == '\\' && i + 1 < len)
                        i++;
                *o++ = s[i];
        }
        *o = '\0';
        return out;
}

int bootargs_envblk_parse(const char *buf, size_t len, const char *where, struct bootargs_envblk *ret,
                          struct errbuf *err)
{
        char ex[64];
        if (!where)
                where = "environment block";
        if (len != BOOTARGS_ENVBLK_SIZE)
                return errbuf_set(err, -EBADMSG,
                                  "%s is %zu bytes; a GRUB environment block is exactly %d bytes", where, len,
                                  BOOTARGS_ENVBLK_SIZE);
        if (memcmp(buf, BOOTARGS_ENVBLK_SIGNATURE, SIG_LEN) != 0)
                return errbuf_set(err, -EBADMSG,
                                  "%s is not a GRUB environment block: it starts \"%s\", not \"# GRUB "
                                  "Environment Block\"",
                                  where, excerpt(buf, 24, ex, sizeof(ex)));
        if (memchr(buf, '\0', len))
                return errbuf_set(err, -EBADMSG, "%s holds a NUL byte at offset %zu", where,
                                  (size_t) ((const char *) memchr(buf, '\0', len) - buf));

        /* The padding: the run of '#' at the end, after the last line's
         * newline (grub_envblk_set finds free space the same way). */
        size_t end = len;
        while (end > SIG_LEN && buf[end - 1] == '#')
                end--;
        if (end > SIG_LEN && buf[end - 1] != '\n') {
                size_t tail = end - SIG_LEN > 24 ? 24 : end - SIG_LEN;
                return errbuf_set(err, -EBADMSG,
                                  "%s: the last line (ending \"%s\") has no newline before the '#' padding",
                                  where, excerpt(buf + end - tail, tail, ex, sizeof(ex)));
        }

        struct bootargs_envblk e = { 0 };
        size_t p = SIG_LEN, lineno = 1;
        while (p < end) {
                size_t start = p;
                lineno++;
                /* A backslash escapes the next byte, a newline included. */
                while (p < end && buf[p] != '\n')
                        p += buf[p] == '\\' ? 2 : 1;
                if (p >= end) {
                        bootargs_envblk_release(&e);
                        return errbuf_set(err, -EBADMSG, "%s: line %zu ends in an escaped newline (\"%s\")",
                                          where, lineno, excerpt(buf + start, end - start, ex, 32));
                }
                size_t rlen = p - start;
                p++;
                struct bootargs_envblk_line l = { 0 };
                const char *raw = buf + start;
                if (rlen == 0) {
                        bootargs_envblk_release(&e);
                        return errbuf_set(err, -EBADMSG, "%s: line %zu is empty (expected name=value)", where,
                                          lineno);
                }
                if (raw[0] != '#') {
                        const char *eq = memchr(raw, '=', rlen);
                        if (!eq || eq == raw) {
                                bootargs_envblk_release(&e);
                                return errbuf_set(err, -EBADMSG, "%s: line %zu (\"%s\") is not name=value",
                                                  where, lineno, excerpt(raw, rlen, ex, 40));
                        }
                        l.name = strndup(raw, (size_t) (eq - raw));
                        l.value = unescape(eq + 1, rlen - (size_t) (eq - raw) - 1);
                        if (!l.name || !l.value) {
                                line_release(&l);
                                bootargs_envblk_release(&e);
                                return -ENOMEM;
                        }
                }
                l.raw = strndup(raw, rlen);
                if (!l.raw || envblk_push(&e, l) < 0) {
                        line_release(&l);
                        bootargs_envblk_release(&e);
                        return -ENOMEM;
                }
        }
        *ret = e;
        return 0;
}

int bootargs_envblk_format(const struct bootargs_envblk *e, char *ret_buf, struct errbuf *err)
{
        size_t need = SIG_LEN;
        for (size_t i = 0; i < e->n; i++)
                need += strlen(e->lines[i].raw) + 1;
        if (need > BOOTARGS_ENVBLK_SIZE)
                return errbuf_set(err, -ENOSPC,
                                  "the environment block would need %zu bytes, %zu more than the %d it holds",
                                  need, need - BOOTARGS_ENVBLK_SIZE, BOOTARGS_ENVBLK_SIZE);
        size_t o = 0;
        memcpy(ret_buf, BOOTARGS_ENVBLK_SIGNATURE, SIG_LEN);
        o = SIG_LEN;
        for (size_t i = 0; i < e->n; i++) {
                size_t l = strlen(e->lines[i].raw);
                memcpy(ret_buf + o, e->lines[i].raw, l);
                o += l;
                ret_buf[o++] = '\n';
        }
        memset(ret_buf + o, '#', BOOTARGS_ENVBLK_SIZE - o);
        return 0;
}

const char *bootargs_envblk_get(const struct bootargs_envblk *e, const char *name)
{
        const char *v = NULL;
        for (size_t i = 0; i < e->n; i++)
                if (e->lines[i].name && strcmp(e->lines[i].name, name) == 0)
                        v = e->lines[i].value;
        return v;
}

size_t bootargs_envblk_count(const struct bootargs_envblk *e, const char *name)
{
        size_t n = 0;
        for (size_t i = 0; i < e->n; i++)
                n += e->lines[i].name && strcmp(e->lines[i].name, name) == 0;
        return n;
}

int bootargs_envblk_set(struct bootargs_envblk *e, const char *name, const char *value)
{
        if (!*name || name[0] == '#' || strpbrk(name, "=\n\\"))
                return -EINVAL;
        size_t n = bootargs_envblk_count(e, name);
        if (n > 1)
                return -ENOTUNIQ;

        struct sbuf raw = { 0 };
        int r = sbuf_adds(&raw, name);
        if (r >= 0)
                r = sbuf_adds(&raw, "=");
        for (const char *v = value; *v && r >= 0; v++) {
                if (*v == '\\' || *v == '\n')
                        r = sbuf_add(&raw, "\\", 1);
                if (r >= 0)
                        r = sbuf_add(&raw, v, 1);
        }
        struct bootargs_envblk_line l = { .raw = r >= 0 ? sbuf_take(&raw) : NULL };
        free(raw.s);
        l.name = strdup(name);
        l.value = strdup(value);
        if (!l.raw || !l.name || !l.value) {
                line_release(&l);
                return -ENOMEM;
        }
        for (size_t i = 0; i < e->n; i++)
                if (e->lines[i].name && strcmp(e->lines[i].name, name) == 0) {
                        line_release(&e->lines[i]);
                        e->lines[i] = l;
                        return 0;
                }
        r = envblk_push(e, l);
        if (r < 0)
                line_release(&l);
        return r;
}

int bootargs_envblk_unset(struct bootargs_envblk *e, const char *name)
{
        for (size_t i = 0; i < e->n; i++)
                if (e->lines[i].name && strcmp(e->lines[i].name, name) == 0) {
                        line_release(&e->lines[i]);
                        memmove(&e->lines[i], &e->lines[i + 1], (e->n - i - 1) * sizeof(e->lines[0]));
                        e->n--;
                        return 0;
                }
        return 0;
}

/* ---- the merge ------------------------------------------------------ */

/* Tells whether token i of value is byte for byte token j of owned. */
static bool same_token(const char *value, const struct span *t, const char *owned, const struct span *o)
{
        size_t len = t->end - t->start;
        return len == o->end - o->start && memcmp(value + t->start, owned + o->start, len) == 0;
}

int bootargs_merge(const char *value, const char *owned, const struct bootargs *want, const char *where,
                   char **ret_value, struct errbuf *err)
{
        char ex[96];
        if (!value)
                value = "";
        if (!owned)
                owned = "";

        _cleanup_free_ struct span *tok = NULL, *rec = NULL;
        size_t n, m;
        if (split(value, &tok, &n) < 0 || split(owned, &rec, &m) < 0)
                return -ENOMEM;

        /* The record must hold only what we write. */
        for (size_t j = 0; j < m; j++) {
                struct arg a;
                read_arg(owned + rec[j].start, rec[j].end - rec[j].start, &a);
                if (!is_hugetlb_arg(&a) && !is_thp_arg(&a))
                        return errbuf_set(
                                err, -EBADMSG,
                                "the record of hugepaged's tokens for %s holds \"%s\", which hugepaged "
                                "never writes; fix or remove the record variable",
                                where, excerpt(owned + rec[j].start, rec[j].end - rec[j].start, ex, 48));
        }

        /* Arguments after "--" go to init, not to the kernel. */
        size_t dd = n;
        for (size_t i = 0; i < n; i++)
                if (is_end_of_kernel_args(value + tok[i].start, tok[i].end - tok[i].start)) {
                        dd = i;
                        break;
                }

        _cleanup_free_ bool *removed = calloc(n ? n : 1, sizeof(bool));
        if (!removed)
                return -ENOMEM;
        size_t insert_at = dd;
        bool found = false;
        /* Our last tokens as the run we wrote... */
        for (size_t i = 0; m && i + m <= dd && !found; i++) {
                size_t j = 0;
                while (j < m && same_token(value, &tok[i + j], owned, &rec[j]))
                        j++;
                if (j == m) {
                        found = true;
                        insert_at = i;
                        for (j = 0; j < m; j++)
                                removed[i + j] = true;
                }
        }
        /* ...or one occurrence each, if someone moved them apart. */
        if (!found && m) {
                size_t first = dd;
                for (size_t j = 0; j < m; j++)
                        for (size_t i = 0; i < dd; i++) {
                                if (removed[i] || !same_token(value, &tok[i], owned, &rec[j]))
                                        continue;
                                removed[i] = true;
                                if (i < first)
                                        first = i;
                                break;
                        }
                insert_at = first;
        }

        /* A foreign parameter of a kind we write is a conflict. */
        bool want_hugetlb = false, want_thp = false;
        for (size_t j = 0; j < want->n; j++) {
                struct arg a;
                read_arg(want->tokens[j], strlen(want->tokens[j]), &a);
                want_hugetlb |= is_hugetlb_arg(&a);
                want_thp |= is_thp_arg(&a);
        }
        for (size_t i = 0; i < dd; i++) {
                if (removed[i])
                        continue;
                struct arg a;
                read_arg(value + tok[i].start, tok[i].end - tok[i].start, &a);
                bool h = want_hugetlb && is_hugetlb_arg(&a), t = want_thp && is_thp_arg(&a);
                if (!h && !t)
                        continue;
                return errbuf_set(
                        err, -EEXIST,
                        "%s holds \"%s\", which hugepaged did not write; hugepaged will not mix its %s "
                        "with another's: remove it from the variable (grub-editenv FILE set "
                        "VARIABLE=...) or leave %s out of the config",
                        where, excerpt(value + tok[i].start, tok[i].end - tok[i].start, ex, 64),
                        h ? "hugetlb parameters (the kernel reads them in order)" : "transparent_hugepage=",
                        h ? "default_size and the gigantic pools" : "transparent_hugepage.enabled");
        }

        _cleanup_free_ char *block = bootargs_join(want);
        if (!block)
                return -ENOMEM;

        /* Everything else byte for byte: the leading blanks, each kept
         * token with the blanks before it, the trailing blanks. */
        struct sbuf out = { 0 };
        bool first = true;
        int r = sbuf_add(&out, value, n ? tok[0].start : strlen(value));
        for (size_t i = 0; i <= n && r >= 0; i++) {
                if (i == insert_at && *block) {
                        r = sbuf_adds(&out, first ? "" : " ");
                        if (r >= 0)
                                r = sbuf_adds(&out, block);
                        first = false;
                }
                if (i == n || removed[i] || r < 0)
                        continue;
                if (!first) {
                        if (i == 0)
                                r = sbuf_adds(&out, " ");
                        else
                                r = sbuf_add(&out, value + tok[i - 1].end, tok[i].start - tok[i - 1].end);
                }
                if (r >= 0)
                        r = sbuf_add(&out, value + tok[i].start, tok[i].end - tok[i].start);
                first = false;
        }
        if (r >= 0 && n)
                r = sbuf_adds(&out, value + tok[n - 1].end);
        if (r < 0) {
                free(out.s);
                return -ENOMEM;
        }
        char *merged = sbuf_take(&out);
        if (!merged)
                return -ENOMEM;
        *ret_value = merged;
        return 0;
}

/* ---- the file ------------------------------------------------------- */

/* Reads the whole block at path: exactly BOOTARGS_ENVBLK_SIZE bytes of a
 * regular file. */
static int read_block(const char *path, char buf[static BOOTARGS_ENVBLK_SIZE], struct stat *ret_st,
                      struct errbuf *err)
{
        _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
        if (fd < 0)
                return errbuf_set(err, -errno, "cannot open %s: %s", path, strerror(errno));
        struct stat st;
        if (fstat(fd, &st) < 0)
                return errbuf_set(err, -errno, "cannot stat %s: %s", path, strerror(errno));
        if (!S_ISREG(st.st_mode))
                return errbuf_set(err, -EBADMSG, "%s is not a regular file", path);
        if (st.st_size != BOOTARGS_ENVBLK_SIZE)
                return errbuf_set(err, -EBADMSG,
                                  "%s is %lld bytes; a GRUB environment block is exactly %d bytes", path,
                                  (long long) st.st_size, BOOTARGS_ENVBLK_SIZE);
        size_t len = 0;
        while (len < BOOTARGS_ENVBLK_SIZE) {
                ssize_t k = read(fd, buf + len, BOOTARGS_ENVBLK_SIZE - len);
                if (k < 0) {
                        if (errno == EINTR)
                                continue;
                        return errbuf_set(err, -errno, "cannot read %s: %s", path, strerror(errno));
                }
                if (k == 0)
                        return errbuf_set(err, -EBADMSG, "%s shrank while being read", path);
                len += (size_t) k;
        }
        if (ret_st)
                *ret_st = st;
        return 0;
}

/* The record variable's name for variable. */
static void record_name(const char *variable, char buf[static BOOTARGS_VARIABLE_MAX + 16])
{
        snprintf(buf, BOOTARGS_VARIABLE_MAX + 16, "%s" BOOTARGS_RECORD_SUFFIX, variable);
}

/* Opens and parses spec's block; checks that neither managed variable is
 * given twice. */
static int load(const struct bootargs_spec *spec, char *path, char buf[static BOOTARGS_ENVBLK_SIZE],
                struct stat *st, struct bootargs_envblk *e, struct errbuf *err)
{
        char rec[BOOTARGS_VARIABLE_MAX + 16];
        if (!realpath(spec->file, path))
                return errbuf_set(err, -errno, "cannot open %s: %s", spec->file, strerror(errno));
        int r = read_block(path, buf, st, err);
        if (r < 0)
                return r;
        r = bootargs_envblk_parse(buf, BOOTARGS_ENVBLK_SIZE, path, e, err);
        if (r < 0)
                return r;
        record_name(spec->variable, rec);
        const char *names[] = { spec->variable, rec };
        for (size_t i = 0; i < ELEMENTSOF(names); i++) {
                size_t k = bootargs_envblk_count(e, names[i]);
                if (k > 1) {
                        bootargs_envblk_release(e);
                        return errbuf_set(
                                err, -EBADMSG,
                                "%s sets %s %zu times (GRUB boots with the last, grub-editenv changes the "
                                "first); remove the duplicates",
                                path, names[i], k);
                }
        }
        return 0;
}

int bootargs_read(const struct bootargs_spec *spec, char **ret_value, char **ret_owned, struct errbuf *err)
{
        char path[PATH_MAX], buf[BOOTARGS_ENVBLK_SIZE], rec[BOOTARGS_VARIABLE_MAX + 16];
        struct stat st;
        struct bootargs_envblk e;
        int r = load(spec, path, buf, &st, &e, err);
        if (r < 0)
                return r;
        record_name(spec->variable, rec);
        const char *v = bootargs_envblk_get(&e, spec->variable), *o = bootargs_envblk_get(&e, rec);
        _cleanup_free_ char *value = strdup(v ? v : "");
        _cleanup_free_ char *owned = strdup(o ? o : "");
        bootargs_envblk_release(&e);
        if (!value || !owned)
                return -ENOMEM;
        *ret_value = TAKE_PTR(value);
        *ret_owned = TAKE_PTR(owned);
        return 0;
}

static int write_all(int fd, const char *buf, size_t len)
{
        while (len) {
                ssize_t k = write(fd, buf, len);
                if (k < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                buf += k;
                len -= (size_t) k;
        }
        return 0;
}

/* Gives the temporary file st's mode and owner and the block's bytes,
 * durably. On failure *ret_what names the step. */
static int fill_temp(int fd, const struct stat *st, const char *buf, const char **ret_what)
{
        if (fchmod(fd, st->st_mode & 07777) < 0) {
                *ret_what = "set the mode of";
                return -errno;
        }
        if ((st->st_uid != geteuid() || st->st_gid != getegid()) && fchown(fd, st->st_uid, st->st_gid) < 0) {
                *ret_what = "set the owner of";
                return -errno;
        }
        int r = write_all(fd, buf, BOOTARGS_ENVBLK_SIZE);
        if (r < 0) {
                *ret_what = "write";
                return r;
        }
        if (fsync(fd) < 0) {
                *ret_what = "fsync";
                return -errno;
        }
        return 0;
}

/* Replaces path with buf (temp file, fsync, rename, fsync directory),
 * keeping st's mode and owner; old is what path held when we read it. */
static int replace_file(const char *path, const struct stat *st, const char *old, const char *buf,
                        struct errbuf *err)
{
        char dir[PATH_MAX], tmp[PATH_MAX + 32];
        const char *slash = strrchr(path, '/');
        size_t dlen = slash == path ? 1 : (size_t) (slash - path);
        memcpy(dir, path, dlen);
        dir[dlen] = '\0';
        /* A dot file that ends neither in .yaml nor .yml: yip loads those
         * from /oem. */
        int n = snprintf(tmp, sizeof(tmp), "%s/.%s.hugepaged-XXXXXX", dlen == 1 ? "" : dir, slash + 1);
        if (n < 0 || (size_t) n >= sizeof(tmp))
                return errbuf_set(err, -ENAMETOOLONG, "%s: path too long", path);

        _cleanup_close_ int fd = mkostemp(tmp, O_CLOEXEC);
        if (fd < 0)
                return errbuf_set(err, -errno, "cannot create a temporary file in %s: %s", dir,
                                  strerror(errno));
        const char *what = NULL;
        int r = fill_temp(fd, st, buf, &what);
        if (r >= 0) {
                r = close(TAKE_FD(fd)) < 0 ? -errno : 0;
                what = "close";
        }
        if (r < 0) {
                (void) unlink(tmp);
                return errbuf_set(err, r, "cannot %s %s: %s", what, tmp, strerror(-r));
        }

        /* Someone (grub-editenv, an upgrade script) may have changed the
         * file since we read it: their change would be lost. */
        char now[BOOTARGS_ENVBLK_SIZE];
        struct stat st_now;
        struct errbuf ignored;
        if (read_block(path, now, &st_now, &ignored) < 0 || st_now.st_ino != st->st_ino ||
            st_now.st_dev != st->st_dev || memcmp(now, old, BOOTARGS_ENVBLK_SIZE) != 0) {
                (void) unlink(tmp);
                return errbuf_set(err, -EAGAIN,
                                  "%s changed while hugepaged was updating it; nothing written, retry", path);
        }

        if (rename(tmp, path) < 0) {
                r = -errno;
                (void) unlink(tmp);
                return errbuf_set(err, r, "cannot rename %s to %s: %s", tmp, path, strerror(-r));
        }
        _cleanup_close_ int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dfd < 0 || fsync(dfd) < 0)
                return errbuf_set(err, -errno, "%s was written, but fsync of %s failed: %s", path, dir,
                                  strerror(errno));
        return 0;
}

int bootargs_write(const struct bootargs_spec *spec, const struct bootargs *want, bool *ret_changed,
                   struct errbuf *err)
{
        char path[PATH_MAX], old[BOOTARGS_ENVBLK_SIZE], new_buf[BOOTARGS_ENVBLK_SIZE];
        char rec[BOOTARGS_VARIABLE_MAX + 16], where[PATH_MAX + 96];
        struct stat st;
        struct bootargs_envblk e;
        int r = load(spec, path, old, &st, &e, err);
        if (r < 0)
                return r;
        record_name(spec->variable, rec);
        snprintf(where, sizeof(where), "%s in %s", spec->variable, path);

        const char *value = bootargs_envblk_get(&e, spec->variable);
        _cleanup_free_ char *merged = NULL;
        _cleanup_free_ char *record = bootargs_join(want);
        r = record ? bootargs_merge(value, bootargs_envblk_get(&e, rec), want, where, &merged, err) : -ENOMEM;
        /* A variable that was absent stays absent while it would be empty. */
        if (r >= 0 && (value ? strcmp(value, merged) != 0 : *merged != '\0'))
                r = bootargs_envblk_set(&e, spec->variable, merged);
        if (r >= 0)
                r = *record ? bootargs_envblk_set(&e, rec, record) : bootargs_envblk_unset(&e, rec);
        if (r >= 0) {
                r = bootargs_envblk_format(&e, new_buf, err);
                if (r == -ENOSPC)
                        r = errbuf_set(err, r,
                                       "%s: the new value of %s (\"%.160s\") does not fit the %d-byte GRUB "
                                       "environment block; the file is unchanged",
                                       path, spec->variable, merged, BOOTARGS_ENVBLK_SIZE);
        }
        bootargs_envblk_release(&e);
        if (r < 0)
                return r;

        bool changed = memcmp(old, new_buf, BOOTARGS_ENVBLK_SIZE) != 0;
        if (changed) {
                r = replace_file(path, &st, old, new_buf, err);
                if (r < 0)
                        return r;
        }
        if (ret_changed)
                *ret_changed = changed;
        return 0;
}

/* ---- the running command line --------------------------------------- */

/* memparse(): a number (base 0, as simple_strtoull) and an optional
 * K/M/G/T/P/E suffix; the rest is ignored. Returns the size in kB, 0 when
 * it is not a whole, non-zero number of kB. */
static uint64_t parse_size_kb(const char *s, size_t len)
{
        char buf[64];
        if (len == 0 || len >= sizeof(buf))
                return 0;
        memcpy(buf, s, len);
        buf[len] = '\0';
        if (buf[0] < '0' || buf[0] > '9')
                return 0;
        char *end;
        errno = 0;
        unsigned long long v = strtoull(buf, &end, 0);
        if (errno)
                return 0;
        static const char units[] = "KMGTPE";
        const char *u = *end ? strchr(units, toupper((unsigned char) *end)) : NULL;
        if (u) {
                unsigned shift = 10 * (unsigned) (u - units); /* K is already kB */
                if (shift && v > (UINT64_MAX >> shift))
                        return 0;
                return (uint64_t) v << shift;
        }
        return v % 1024 == 0 ? v / 1024 : 0;
}

/* The kernel's reading of the hugetlb parameters (mm/hugetlb.c:
 * hugepagesz_setup, default_hugepagesz_setup, hugepages_setup and
 * hugetlb_init's handling of a leading hugepages=). */
struct sim {
        struct boot_pool *pools; /* hstates in registration order, nodes owned */
        size_t n;
        int current; /* parsed_hstate, -1 = none */
        bool valid;  /* parsed_valid_hugepagesz */
        bool default_parsed;
        int default_idx; /* with default_parsed */
        int last_target; /* last_mhp: -2 none, -1 the leading count, else a pool */
        struct boot_pool leading;
        bool has_leading;
        char thp[16];
};

static void sim_release(struct sim *s)
{
        for (size_t i = 0; i < s->n; i++)
                boot_pool_release(&s->pools[i]);
        free(s->pools);
        boot_pool_release(&s->leading);
}

static int sim_find(const struct sim *s, uint64_t size_kb)
{
        for (size_t i = 0; i < s->n; i++)
                if (s->pools[i].size_kb == size_kb)
                        return (int) i;
        return -1;
}

static int sim_add(struct sim *s, uint64_t size_kb)
{
        struct boot_pool *grown = realloc(s->pools, (s->n + 1) * sizeof(*grown));
        if (!grown)
                return -ENOMEM;
        s->pools = grown;
        s->pools[s->n] = (struct boot_pool){ .size_kb = size_kb };
        return (int) s->n++;
}

static int set_node(struct boot_pool *p, unsigned node, uint64_t count)
{
        for (size_t i = 0; i < p->n_nodes; i++)
                if (p->nodes[i].node == node) {
                        p->nodes[i].count = count;
                        return 0;
                }
        struct pool_node *grown = realloc(p->nodes, (p->n_nodes + 1) * sizeof(*grown));
        if (!grown)
                return -ENOMEM;
        p->nodes = grown;
        size_t at = p->n_nodes;
        while (at > 0 && p->nodes[at - 1].node > node) {
                p->nodes[at] = p->nodes[at - 1];
                at--;
        }
        p->nodes[at] = (struct pool_node){ node, count };
        p->n_nodes++;
        return 0;
}

/* Reads decimal digits (sscanf "%lu"); returns the count of digits. */
static size_t read_u64(const char *s, size_t len, uint64_t *ret)
{
        uint64_t v = 0;
        size_t i = 0;
        for (; i < len && s[i] >= '0' && s[i] <= '9'; i++)
                if (__builtin_mul_overflow(v, 10, &v) ||
                    __builtin_add_overflow(v, (uint64_t) (s[i] - '0'), &v))
                        return 0;
        *ret = v;
        return i;
}

/* hugepages=N or hugepages=0:1,1:2 into *ret. -EINVAL when the kernel
 * would call it invalid (and ignore it). */
static int parse_hugepages(const char *s, size_t len, struct boot_pool *ret)
{
        struct boot_pool p = { .size_kb = ret->size_kb };
        size_t i = 0;
        for (;;) {
                uint64_t a, b;
                size_t k = read_u64(s + i, len - i, &a);
                if (!k)
                        goto invalid;
                if (i + k < len && s[i + k] == ':') {
                        if (a > SIZES_MAX_NODE)
                                goto invalid;
                        i += k + 1;
                        k = read_u64(s + i, len - i, &b);
                        if (!k)
                                goto invalid;
                        p.by_node = true;
                        if (set_node(&p, (unsigned) a, b) < 0) {
                                boot_pool_release(&p);
                                return -ENOMEM;
                        }
                        i += k;
                        if (i < len && s[i] == ',') {
                                i++;
                                continue;
                        }
                        break;
                }
                if (i != 0)
                        goto invalid;
                p.count = a;
                break;
        }
        if (p.by_node)
                for (size_t j = 0; j < p.n_nodes; j++)
                        p.count += p.nodes[j].count;
        boot_pool_release(ret);
        *ret = p;
        return 0;
invalid:
        boot_pool_release(&p);
        return -EINVAL;
}

static int sim_arg(struct sim *s, const struct arg *a)
{
        if (arg_is(a, "transparent_hugepage")) {
                static const char *const words[] = { "always", "madvise", "never" };
                for (size_t i = 0; i < ELEMENTSOF(words); i++)
                        if (a->value_len == strlen(words[i]) && memcmp(a->value, words[i], a->value_len) == 0)
                                snprintf(s->thp, sizeof(s->thp), "%s", words[i]);
                return 0;
        }
        if (arg_is(a, "default_hugepagesz")) {
                s->valid = false;
                if (s->default_parsed)
                        return 0;
                uint64_t kb = parse_size_kb(a->value, a->value_len);
                if (!kb)
                        return 0;
                int idx = sim_find(s, kb);
                if (idx < 0) {
                        idx = sim_add(s, kb);
                        if (idx < 0)
                                return idx;
                        s->current = idx;
                }
                s->valid = true;
                s->default_parsed = true;
                s->default_idx = idx;
                if (s->has_leading) {
                        struct boot_pool *p = &s->pools[idx];
                        boot_pool_release(p);
                        *p = s->leading;
                        p->size_kb = kb;
                        s->leading = (struct boot_pool){ 0 };
                        s->has_leading = false;
                }
                return 0;
        }
        if (arg_is(a, "hugepagesz")) {
                s->valid = false;
                uint64_t kb = parse_size_kb(a->value, a->value_len);
                if (!kb)
                        return 0;
                int idx = sim_find(s, kb);
                if (idx >= 0) {
                        /* Allowed twice only for the default size, before
                         * its count was given. */
                        if (!s->default_parsed || idx != s->default_idx || s->pools[idx].count)
                                return 0;
                } else {
                        idx = sim_add(s, kb);
                        if (idx < 0)
                                return idx;
                }
                s->current = idx;
                s->valid = true;
                return 0;
        }
        if (arg_is(a, "hugepages")) {
                if (!s->valid) {
                        s->valid = true;
                        return 0;
                }
                int target = s->n == 0 ? -1 : s->current;
                if (target == s->last_target)
                        return 0;
                struct boot_pool *p = target < 0 ? &s->leading : &s->pools[target];
                int r = parse_hugepages(a->value, a->value_len, p);
                if (r == -ENOMEM)
                        return r;
                if (r == 0) {
                        if (target < 0)
                                s->has_leading = true;
                        s->last_target = target;
                }
                return 0;
        }
        return 0;
}

/* Reads cmdline as the kernel does; arch_default_kb is the size a leading
 * hugepages= counts for when no default_hugepagesz= follows. */
static int sim_run(const char *cmdline, uint64_t arch_default_kb, struct sim *ret)
{
        struct sim s = { .current = -1, .valid = true, .default_idx = -1, .last_target = -2 };
        _cleanup_free_ struct span *tok = NULL;
        size_t n;
        int r = split(cmdline, &tok, &n);
        if (r < 0)
                return r;
        for (size_t i = 0; i < n && r >= 0; i++) {
                const char *t = cmdline + tok[i].start;
                size_t len = tok[i].end - tok[i].start;
                if (is_end_of_kernel_args(t, len))
                        break;
                struct arg a;
                read_arg(t, len, &a);
                r = sim_arg(&s, &a);
        }
        if (r >= 0 && s.has_leading && !s.default_parsed && arch_default_kb) {
                /* hugetlb_init: the leading count wins over a later pair. */
                int idx = sim_find(&s, arch_default_kb);
                if (idx < 0)
                        idx = sim_add(&s, arch_default_kb);
                if (idx >= 0) {
                        boot_pool_release(&s.pools[idx]);
                        s.pools[idx] = s.leading;
                        s.pools[idx].size_kb = arch_default_kb;
                        s.leading = (struct boot_pool){ 0 };
                        s.has_leading = false;
                } else
                        r = idx;
        }
        if (r < 0) {
                sim_release(&s);
                return r;
        }
        *ret = s;
        return 0;
}

static int diff_add(struct bootargs_diff *d, enum bootargs_item what, uint64_t size_kb, char *pointer,
                    char *want, char *running)
{
        struct bootargs_diff_item *grown = NULL;
        if (pointer && want && running)
                grown = realloc(d->items, (d->n + 1) * sizeof(*grown));
        if (!grown) {
                free(pointer);
                free(want);
                free(running);
                return -ENOMEM;
        }
        d->items = grown;
        d->items[d->n++] = (struct bootargs_diff_item){ what, size_kb, pointer, want, running };
        return 0;
}

static char *strdupf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static char *strdupf(const char *fmt, ...)
{
        char *s;
        va_list ap;
        va_start(ap, fmt);
        int n = vasprintf(&s, fmt, ap);
        va_end(ap);
        return n < 0 ? NULL : s;
}

void bootargs_diff_release(struct bootargs_diff *d)
{
        if (!d)
                return;
        for (size_t i = 0; i < d->n; i++) {
                free(d->items[i].pointer);
                free(d->items[i].want);
                free(d->items[i].running);
        }
        free(d->items);
        d->items = NULL;
        d->n = 0;
}

int bootargs_compare_cmdline(const char *cmdline, const struct config *c, const struct sizes *s,
                             struct bootargs_diff *ret, struct errbuf *err)
{
        /* Refuses what bootargs_from_config refuses, so that both agree. */
        struct bootargs check;
        int r = bootargs_from_config(c, s, &check, err);
        if (r < 0)
                return r;
        bootargs_release(&check);

        struct sim sim;
        r = sim_run(cmdline, s->default_size_kb, &sim);
        if (r < 0)
                return r;

        struct bootargs_diff d = { 0 };
        char a[BOOTARGS_SIZE_MAX], b[BOOTARGS_SIZE_MAX];
        if (c->has_default_size && c->default_size_kb != s->default_size_kb)
                r = diff_add(&d, BOOTARGS_DEFAULT_SIZE, c->default_size_kb, strdup("/default_size"),
                             strdupf("default_hugepagesz=%s", bootargs_format_size(c->default_size_kb, a)),
                             s->default_size_kb ? strdupf("default_hugepagesz=%s",
                                                          bootargs_format_size(s->default_size_kb, b))
                                                : strdup(""));
        for (size_t i = 0; i < c->n_pools && r >= 0; i++) {
                const struct pool_cfg *p = &c->pools[i];
                if (!size_is_gigantic(s, p->size_kb))
                        continue;
                struct boot_pool want = pool_from_config(p);
                int idx = sim_find(&sim, p->size_kb);
                struct boot_pool none = { .size_kb = p->size_kb };
                const struct boot_pool *have = idx >= 0 ? &sim.pools[idx] : &none;
                _cleanup_free_ char *w = boot_pool_format(&want);
                _cleanup_free_ char *h = boot_pool_format(have);
                if (!w || !h) {
                        r = -ENOMEM;
                        break;
                }
                if (strcmp(w, h) == 0)
                        continue;
                r = diff_add(&d, BOOTARGS_POOL, p->size_kb, pointer_join("/pools", p->key), TAKE_PTR(w),
                             TAKE_PTR(h));
        }
        const char *thp = c->thp[THP_ENABLED];
        if (r >= 0 && thp && strcmp(thp, sim.thp) != 0)
                r = diff_add(&d, BOOTARGS_THP, 0, strdup("/transparent_hugepage/enabled"),
                             strdupf("transparent_hugepage=%s", thp),
                             *sim.thp ? strdupf("transparent_hugepage=%s", sim.thp) : strdup(""));
        sim_release(&sim);
        if (r < 0) {
                bootargs_diff_release(&d);
                return r;
        }
        *ret = d;
        return 0;
}

int bootargs_compare(const struct sysfs *fs, const struct config *c, const struct sizes *s,
                     struct bootargs_diff *ret, struct errbuf *err)
{
        _cleanup_free_ char *buf = malloc(CMDLINE_MAX);
        if (!buf)
                return -ENOMEM;
        int r = sysfs_read(fs, SYSFS_PROC, "cmdline", buf, CMDLINE_MAX, NULL, err);
        if (r < 0)
                return r;
        return bootargs_compare_cmdline(buf, c, s, ret, err);
}
