/* See sysfs.h. Every file is opened, read or written in one call, and closed
 * again: sysfs attributes produce their whole value on the first read() and
 * take a whole value in one write(). */
#include "sysfs.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cleanup.h"

static char *dup_root(const char *root)
{
        size_t n = strlen(root);
        while (n > 1 && root[n - 1] == '/')
                n--;
        return strndup(root, n);
}

int sysfs_init(struct sysfs *fs, const char *sys_root, const char *proc_root)
{
        _cleanup_free_ char *s = dup_root(sys_root);
        _cleanup_free_ char *p = dup_root(proc_root);
        if (!s || !p)
                return -ENOMEM;
        fs->sys_root = TAKE_PTR(s);
        fs->proc_root = TAKE_PTR(p);
        return 0;
}

void sysfs_release(struct sysfs *fs)
{
        if (!fs)
                return;
        free(fs->sys_root);
        free(fs->proc_root);
        fs->sys_root = fs->proc_root = NULL;
}

static int full_path(const struct sysfs *fs, enum sysfs_tree tree, const char *rel, char *buf, size_t size)
{
        const char *root = tree == SYSFS_PROC ? fs->proc_root : fs->sys_root;
        /* A root of "/" would otherwise give "//kernel/...", which works but
         * reads badly in error messages. */
        int n = snprintf(buf, size, "%s/%s", strcmp(root, "/") == 0 ? "" : root, rel);
        if (n < 0 || (size_t) n >= size)
                return -ENAMETOOLONG;
        return 0;
}

int sysfs_read(const struct sysfs *fs, enum sysfs_tree tree, const char *rel, char *buf, size_t size,
               size_t *ret_len, struct errbuf *err)
{
        char path[PATH_MAX];
        int r = full_path(fs, tree, rel, path, sizeof(path));
        if (r < 0)
                return errbuf_set(err, r, "%s: path too long", rel);

        _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
        if (fd < 0)
                return errbuf_set(err, -errno, "cannot open %s: %s", path, strerror(errno));

        size_t len = 0;
        for (;;) {
                if (len + 1 >= size)
                        return errbuf_set(err, -EFBIG, "%s is larger than %zu bytes", path, size - 1);
                ssize_t k = read(fd, buf + len, size - 1 - len);
                if (k < 0) {
                        if (errno == EINTR)
                                continue;
                        return errbuf_set(err, -errno, "cannot read %s: %s", path, strerror(errno));
                }
                if (k == 0)
                        break;
                len += (size_t) k;
        }
        buf[len] = '\0';
        if (memchr(buf, '\0', len))
                return errbuf_set(err, -EINVAL, "%s holds a NUL byte", path);
        if (ret_len)
                *ret_len = len;
        return 0;
}

int sysfs_read_u64(const struct sysfs *fs, enum sysfs_tree tree, const char *rel, uint64_t *ret,
                   struct errbuf *err)
{
        char buf[64];
        size_t len;
        int r = sysfs_read(fs, tree, rel, buf, sizeof(buf), &len, err);
        if (r < 0)
                return r;

        /* The kernel prints "%lu\n". Accept exactly digits and one optional
         * trailing newline; anything else means the tree is not what we
         * think it is, and guessing would be worse than failing. */
        if (len > 0 && buf[len - 1] == '\n')
                buf[--len] = '\0';
        if (len == 0 || len > 20)
                return errbuf_set(err, -EINVAL, "%s/%s: expected a number, found \"%s\"",
                                  tree == SYSFS_PROC ? fs->proc_root : fs->sys_root, rel, buf);
        uint64_t v = 0;
        for (size_t i = 0; i < len; i++) {
                if (!isdigit((unsigned char) buf[i]) ||
                    __builtin_mul_overflow(v, 10, &v) ||
                    __builtin_add_overflow(v, (uint64_t) (buf[i] - '0'), &v))
                        return errbuf_set(err, -EINVAL, "%s/%s: expected a number, found \"%s\"",
                                          tree == SYSFS_PROC ? fs->proc_root : fs->sys_root, rel, buf);
        }
        *ret = v;
        return 0;
}

static int write_all(const struct sysfs *fs, const char *rel, const char *text, struct errbuf *err)
{
        char path[PATH_MAX];
        int r = full_path(fs, SYSFS_SYS, rel, path, sizeof(path));
        if (r < 0)
                return errbuf_set(err, r, "%s: path too long", rel);

        /* No O_CREAT: a file the kernel does not offer must never be made up.
         * O_TRUNC is ignored by sysfs and makes a fake tree behave alike. */
        _cleanup_close_ int fd = open(path, O_WRONLY | O_TRUNC | O_CLOEXEC | O_NOCTTY);
        if (fd < 0)
                return errbuf_set(err, -errno, "cannot open %s for writing: %s", path, strerror(errno));

        size_t len = strlen(text);
        ssize_t k;
        do
                k = write(fd, text, len);
        while (k < 0 && errno == EINTR);
        if (k < 0)
                return errbuf_set(err, -errno, "the kernel refused \"%.*s\" in %s: %s", (int) (len - 1), text,
                                  path, strerror(errno));
        if ((size_t) k != len)
                return errbuf_set(err, -EIO, "short write to %s (%zd of %zu bytes)", path, k, len);
        return 0;
}

int sysfs_write_u64(const struct sysfs *fs, const char *rel, uint64_t value, struct errbuf *err)
{
        char text[32];
        snprintf(text, sizeof(text), "%" PRIu64 "\n", value);
        return write_all(fs, rel, text, err);
}

int sysfs_write_word(const struct sysfs *fs, const char *rel, const char *word, struct errbuf *err)
{
        size_t n = strlen(word);
        if (n == 0 || n > 32)
                return errbuf_set(err, -EINVAL, "refusing to write an empty or long word to %s", rel);
        for (size_t i = 0; i < n; i++)
                if (!isalnum((unsigned char) word[i]) && word[i] != '+' && word[i] != '_')
                        return errbuf_set(err, -EINVAL, "refusing to write \"%s\" to %s", word, rel);
        char text[40];
        snprintf(text, sizeof(text), "%s\n", word);
        return write_all(fs, rel, text, err);
}

bool sysfs_exists(const struct sysfs *fs, enum sysfs_tree tree, const char *rel)
{
        char path[PATH_MAX];
        if (full_path(fs, tree, rel, path, sizeof(path)) < 0)
                return false;
        return access(path, F_OK) == 0;
}

static int cmp_names(const void *a, const void *b)
{
        return strcmp(*(char *const *) a, *(char *const *) b);
}

char **sysfs_names_free(char **names)
{
        if (names)
                for (char **p = names; *p; p++)
                        free(*p);
        free(names);
        return NULL;
}

int sysfs_list(const struct sysfs *fs, enum sysfs_tree tree, const char *rel, const char *prefix,
               char ***ret_names, size_t *ret_n, struct errbuf *err)
{
        char path[PATH_MAX];
        int r = full_path(fs, tree, rel, path, sizeof(path));
        if (r < 0)
                return errbuf_set(err, r, "%s: path too long", rel);

        _cleanup_closedir_ DIR *d = opendir(path);
        if (!d)
                return errbuf_set(err, -errno, "cannot list %s: %s", path, strerror(errno));

        char **names = calloc(1, sizeof(char *));
        size_t n = 0;
        if (!names)
                return -ENOMEM;
        struct dirent *de;
        while ((errno = 0, de = readdir(d))) {
                if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
                        continue;
                if (strncmp(de->d_name, prefix, strlen(prefix)) != 0)
                        continue;
                char **grown = realloc(names, (n + 2) * sizeof(char *));
                if (!grown) {
                        sysfs_names_free(names);
                        return -ENOMEM;
                }
                names = grown;
                names[n] = strdup(de->d_name);
                if (!names[n]) {
                        sysfs_names_free(names);
                        return -ENOMEM;
                }
                names[++n] = NULL;
        }
        if (errno != 0) {
                int e = errno;
                sysfs_names_free(names);
                return errbuf_set(err, -e, "cannot list %s: %s", path, strerror(e));
        }
        qsort(names, n, sizeof(char *), cmp_names);
        *ret_names = names;
        if (ret_n)
                *ret_n = n;
        return 0;
}
