/* See sysfs.h. Every file is opened, read or written in one call, and closed
 * again: sysfs attributes produce their whole value on the first read() and
 * take a whole value in one write(). The exception is the kept set (see
 * sysfs_keep_open in sysfs.h): descriptors kept open and read with pread()
 * from offset 0, which makes sysfs and procfs produce the value afresh. */
#include "sysfs.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
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
        fs->kept = NULL;
        return 0;
}

/* The kept set. Descriptors are used under life's read lock and closed
 * under its write lock, so a descriptor is never closed (and its number
 * reused) while another thread reads it; table guards the array. */
#define KEPT_MAX 128

struct kept_file {
        enum sysfs_tree tree;
        uint32_t hash;
        char *rel;
        int fd;
};

struct sysfs_kept {
        pthread_rwlock_t life;
        pthread_mutex_t table;
        struct kept_file files[KEPT_MAX];
        size_t n;
        atomic_llong opened_ms; /* CLOCK_MONOTONIC, when the set was last emptied */
        atomic_bool stale;      /* drop the set before the next read */
};

static int64_t monotonic_ms(void)
{
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (int64_t) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Closes every kept file; life held for writing. */
static void kept_close_all(struct sysfs_kept *k)
{
        for (size_t i = 0; i < k->n; i++) {
                close(k->files[i].fd);
                free(k->files[i].rel);
        }
        k->n = 0;
        atomic_store(&k->opened_ms, monotonic_ms());
        atomic_store(&k->stale, false);
}

int sysfs_keep_open(struct sysfs *fs)
{
        if (fs->kept)
                return 0;
        struct sysfs_kept *k = calloc(1, sizeof(*k));
        if (!k)
                return -ENOMEM;
        /* Writers first: a change must not wait behind a stream of reads. */
        pthread_rwlockattr_t attr;
        pthread_rwlockattr_init(&attr);
        pthread_rwlockattr_setkind_np(&attr, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
        pthread_rwlock_init(&k->life, &attr);
        pthread_rwlockattr_destroy(&attr);
        pthread_mutex_init(&k->table, NULL);
        atomic_store(&k->opened_ms, monotonic_ms());
        fs->kept = k;
        return 0;
}

void sysfs_forget(const struct sysfs *fs)
{
        struct sysfs_kept *k = fs->kept;
        if (!k)
                return;
        pthread_rwlock_wrlock(&k->life);
        kept_close_all(k);
        pthread_rwlock_unlock(&k->life);
}

void sysfs_release(struct sysfs *fs)
{
        if (!fs)
                return;
        if (fs->kept) {
                sysfs_forget(fs);
                pthread_rwlock_destroy(&fs->kept->life);
                pthread_mutex_destroy(&fs->kept->table);
                free(fs->kept);
                fs->kept = NULL;
        }
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

static int parse_u64(const struct sysfs *fs, enum sysfs_tree tree, const char *rel, char *buf, size_t len,
                     uint64_t *ret, struct errbuf *err);

static uint32_t hash_rel(const char *rel)
{
        uint32_t h = 2166136261u; /* FNV-1a */
        for (const unsigned char *p = (const unsigned char *) rel; *p; p++)
                h = (h ^ *p) * 16777619u;
        return h;
}

/* The kept descriptor of (tree, rel), or -1; table held. */
static int kept_find(const struct sysfs_kept *k, enum sysfs_tree tree, uint32_t hash, const char *rel)
{
        for (size_t i = 0; i < k->n; i++)
                if (k->files[i].hash == hash && k->files[i].tree == tree && strcmp(k->files[i].rel, rel) == 0)
                        return k->files[i].fd;
        return -1;
}

/* Reads fd from offset 0 into buf as sysfs_read does; 0 or -errno. One
 * pread() is the whole value unless it fills the buffer: sysfs attributes
 * and seq_file give everything they have in one read. */
static int pread_all(int fd, char *buf, size_t size, size_t *ret_len)
{
        size_t len = 0;
        for (;;) {
                if (len + 1 >= size)
                        return -EFBIG;
                ssize_t k = pread(fd, buf + len, size - 1 - len, (off_t) len);
                if (k < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                len += (size_t) k;
                if (k == 0 || len + 1 < size)
                        break;
        }
        buf[len] = '\0';
        if (memchr(buf, '\0', len))
                return -EINVAL;
        *ret_len = len;
        return 0;
}

int sysfs_read_kept(const struct sysfs *fs, enum sysfs_tree tree, const char *rel, char *buf, size_t size,
                    size_t *ret_len, struct errbuf *err)
{
        struct sysfs_kept *k = fs->kept;
        if (!k)
                return sysfs_read(fs, tree, rel, buf, size, ret_len, err);
        if (atomic_load(&k->stale) || monotonic_ms() - atomic_load(&k->opened_ms) > SYSFS_KEPT_MS) {
                pthread_rwlock_wrlock(&k->life);
                /* Another thread may have emptied it meanwhile. */
                if (atomic_load(&k->stale) || monotonic_ms() - atomic_load(&k->opened_ms) > SYSFS_KEPT_MS)
                        kept_close_all(k);
                pthread_rwlock_unlock(&k->life);
        }

        uint32_t hash = hash_rel(rel);
        pthread_rwlock_rdlock(&k->life);
        pthread_mutex_lock(&k->table);
        int fd = kept_find(k, tree, hash, rel);
        pthread_mutex_unlock(&k->table);
        if (fd < 0) {
                char path[PATH_MAX];
                char *copy = strdup(rel);
                if (full_path(fs, tree, rel, path, sizeof(path)) < 0 || !copy ||
                    (fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY)) < 0) {
                        /* The plain read says what is wrong, in its words. */
                        free(copy);
                        pthread_rwlock_unlock(&k->life);
                        return sysfs_read(fs, tree, rel, buf, size, ret_len, err);
                }
                pthread_mutex_lock(&k->table);
                int other = kept_find(k, tree, hash, rel);
                if (other >= 0 || k->n == KEPT_MAX) {
                        /* Kept by another thread meanwhile, or no room. */
                        close(fd);
                        free(copy);
                        fd = other;
                } else
                        k->files[k->n++] = (struct kept_file) { .tree = tree, .hash = hash, .rel = copy, .fd = fd };
                pthread_mutex_unlock(&k->table);
                if (fd < 0) {
                        pthread_rwlock_unlock(&k->life);
                        return sysfs_read(fs, tree, rel, buf, size, ret_len, err);
                }
        }
        size_t len = 0;
        int r = pread_all(fd, buf, size, &len);
        pthread_rwlock_unlock(&k->life);
        if (r < 0) {
                /* A node gone, a file grown: drop the set, and let a new
                 * open give the value or the error. */
                atomic_store(&k->stale, true);
                return sysfs_read(fs, tree, rel, buf, size, ret_len, err);
        }
        if (ret_len)
                *ret_len = len;
        return 0;
}

int sysfs_read_u64_kept(const struct sysfs *fs, enum sysfs_tree tree, const char *rel, uint64_t *ret,
                        struct errbuf *err)
{
        char buf[64];
        size_t len;
        int r = sysfs_read_kept(fs, tree, rel, buf, sizeof(buf), &len, err);
        if (r < 0)
                return r;
        return parse_u64(fs, tree, rel, buf, len, ret, err);
}

int sysfs_read_u64(const struct sysfs *fs, enum sysfs_tree tree, const char *rel, uint64_t *ret,
                   struct errbuf *err)
{
        char buf[64];
        size_t len;
        int r = sysfs_read(fs, tree, rel, buf, sizeof(buf), &len, err);
        if (r < 0)
                return r;
        return parse_u64(fs, tree, rel, buf, len, ret, err);
}

static int parse_u64(const struct sysfs *fs, enum sysfs_tree tree, const char *rel, char *buf, size_t len,
                     uint64_t *ret, struct errbuf *err)
{
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

        /* No read after this write may come from a file kept before it. */
        sysfs_forget(fs);

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
