/* See tls.h. The generation sequence is the one LIBS.md §4 verified with
 * OpenSSL 3.0 and libmicrohttpd. */
#include "tls.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "../model/cleanup.h"

#define CERT_NAME "tls.crt"
#define KEY_NAME "tls.key"
#define PEM_MAX (64 * 1024)
/* The self-signed certificate's life: within the 398 days browsers accept
 * for server certificates, renewed (same key) when fewer than
 * RENEW_BEFORE_DAYS are left, at start, on SIGHUP, and every few hours. */
#define SELF_SIGNED_DAYS 397
#define RENEW_BEFORE_DAYS 30

static const char *ssl_error(void)
{
        static __thread char buf[256];
        unsigned long e = ERR_get_error();
        if (!e)
                return "unknown OpenSSL error";
        ERR_error_string_n(e, buf, sizeof(buf));
        return buf;
}

/* Reads a PEM file. A secret (a private key) must not be readable by
 * other users, nor writable by the group: refused with the mode and the
 * fix, since a key others could read is no longer a secret. */
static int read_pem(const char *path, bool secret, char **ret, struct errbuf *err)
{
        _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
        if (fd < 0)
                return errbuf_set(err, -errno, "cannot open %s: %s", path, strerror(errno));
        struct stat st;
        if (fstat(fd, &st) < 0)
                return errbuf_set(err, -errno, "cannot stat %s: %s", path, strerror(errno));
        if (!S_ISREG(st.st_mode))
                return errbuf_set(err, -EINVAL, "%s is not a regular file", path);
        if (secret && (st.st_mode & (S_IRWXO | S_IWGRP)))
                return errbuf_set(err, -EPERM,
                                  "the private key %s is open to other users (mode %04o): refusing it; "
                                  "run chmod 600 %s (or 640 with a trusted group)",
                                  path, (unsigned) (st.st_mode & 07777), path);
        char *buf = malloc(PEM_MAX);
        if (!buf)
                return -ENOMEM;
        size_t len = 0;
        for (;;) {
                ssize_t k = read(fd, buf + len, PEM_MAX - 1 - len);
                if (k < 0 && errno == EINTR)
                        continue;
                if (k < 0) {
                        int e = errno;
                        free(buf);
                        return errbuf_set(err, -e, "cannot read %s: %s", path, strerror(e));
                }
                if (k == 0)
                        break;
                len += (size_t) k;
                if (len == PEM_MAX - 1) {
                        free(buf);
                        return errbuf_set(err, -EFBIG, "%s is larger than %d bytes", path, PEM_MAX - 1);
                }
        }
        buf[len] = '\0';
        *ret = buf;
        return 0;
}

/* Parses and cross-checks a certificate and key in PEM form. */
static int check_pair(const char *cert_pem, const char *key_pem, const char *cert_path, const char *key_path,
                      struct errbuf *err)
{
        int r = 0;
        BIO *cb = BIO_new_mem_buf(cert_pem, -1), *kb = BIO_new_mem_buf(key_pem, -1);
        X509 *x = cb ? PEM_read_bio_X509(cb, NULL, NULL, NULL) : NULL;
        EVP_PKEY *k = kb ? PEM_read_bio_PrivateKey(kb, NULL, NULL, NULL) : NULL;
        if (!x)
                r = errbuf_set(err, -EINVAL, "%s holds no PEM certificate: %s", cert_path, ssl_error());
        else if (!k)
                r = errbuf_set(err, -EINVAL, "%s holds no unencrypted PEM private key: %s", key_path, ssl_error());
        else if (X509_check_private_key(x, k) != 1)
                r = errbuf_set(err, -EINVAL, "the key in %s does not belong to the certificate in %s", key_path,
                               cert_path);
        else if (X509_cmp_current_time(X509_get0_notAfter(x)) <= 0)
                r = errbuf_set(err, -EINVAL, "the certificate in %s has expired", cert_path);
        else if (X509_cmp_current_time(X509_get0_notBefore(x)) >= 0)
                r = errbuf_set(err, -EINVAL, "the certificate in %s is not valid yet", cert_path);
        X509_free(x);
        EVP_PKEY_free(k);
        BIO_free(cb);
        BIO_free(kb);
        ERR_clear_error();
        return r;
}

static int add_ext(X509 *x, int nid, const char *value)
{
        X509V3_CTX ctx;
        X509V3_set_ctx_nodb(&ctx);
        X509V3_set_ctx(&ctx, x, x, NULL, NULL, 0);
        X509_EXTENSION *ext = X509V3_EXT_conf_nid(NULL, &ctx, nid, value);
        if (!ext)
                return -EINVAL;
        int ok = X509_add_ext(x, ext, -1);
        X509_EXTENSION_free(ext);
        return ok ? 0 : -EINVAL;
}

static char *bio_to_string(BIO *b)
{
        char *data;
        long n = BIO_get_mem_data(b, &data);
        if (n < 0)
                return NULL;
        return strndup(data, (size_t) n);
}

/* Makes a self-signed certificate, as PEM strings, for a new key, or for
 * the key in key_pem (a renewal keeps the key). */
static int generate(const char *host_name, const char *key_pem, char **ret_cert, char **ret_key, struct errbuf *err)
{
        int r = -EIO;
        EVP_PKEY *k = NULL;
        if (key_pem) {
                BIO *in = BIO_new_mem_buf(key_pem, -1);
                k = in ? PEM_read_bio_PrivateKey(in, NULL, NULL, NULL) : NULL;
                BIO_free(in);
        } else
                k = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
        X509 *x = X509_new();
        BIO *cb = BIO_new(BIO_s_mem()), *kb = BIO_new(BIO_s_mem());
        ASN1_INTEGER *serial = ASN1_INTEGER_new();
        BIGNUM *bn = BN_new();
        unsigned char rnd[16];
        char san[512];

        if (!k || !x || !cb || !kb || !serial || !bn)
                goto out;
        if (RAND_bytes(rnd, sizeof(rnd)) != 1)
                goto out;
        rnd[0] &= 0x7f; /* a positive serial */
        if (!BN_bin2bn(rnd, sizeof(rnd), bn) || !BN_to_ASN1_INTEGER(bn, serial))
                goto out;
        if (!X509_set_version(x, X509_VERSION_3) || !X509_set_serialNumber(x, serial) ||
            !X509_gmtime_adj(X509_getm_notBefore(x), -60) ||
            !X509_gmtime_adj(X509_getm_notAfter(x), (long) SELF_SIGNED_DAYS * 24 * 3600) || !X509_set_pubkey(x, k))
                goto out;
        X509_NAME *name = X509_get_subject_name(x);
        if (!X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8, (const unsigned char *) host_name, -1, -1, 0) ||
            !X509_NAME_add_entry_by_txt(name, "O", MBSTRING_UTF8, (const unsigned char *) "hugepaged", -1, -1, 0) ||
            !X509_set_issuer_name(x, name))
                goto out;
        if (strcmp(host_name, "localhost") == 0)
                snprintf(san, sizeof(san), "DNS:localhost,IP:127.0.0.1,IP:::1");
        else
                snprintf(san, sizeof(san), "DNS:%s,DNS:localhost,IP:127.0.0.1,IP:::1", host_name);
        if (add_ext(x, NID_subject_alt_name, san) < 0 || add_ext(x, NID_basic_constraints, "critical,CA:FALSE") < 0 ||
            add_ext(x, NID_key_usage, "critical,digitalSignature") < 0 ||
            add_ext(x, NID_ext_key_usage, "serverAuth") < 0 || add_ext(x, NID_subject_key_identifier, "hash") < 0)
                goto out;
        if (!X509_sign(x, k, EVP_sha256()))
                goto out;
        if (!PEM_write_bio_X509(cb, x) || !PEM_write_bio_PrivateKey(kb, k, NULL, NULL, 0, NULL, NULL))
                goto out;
        *ret_cert = bio_to_string(cb);
        *ret_key = bio_to_string(kb);
        if (!*ret_cert || !*ret_key) {
                free(*ret_cert);
                free(*ret_key);
                r = -ENOMEM;
                goto out;
        }
        r = 0;
out:
        if (r == -EIO)
                errbuf_set(err, r, "cannot make a self-signed certificate: %s", ssl_error());
        BN_free(bn);
        ASN1_INTEGER_free(serial);
        BIO_free(cb);
        BIO_free(kb);
        X509_free(x);
        EVP_PKEY_free(k);
        ERR_clear_error();
        return r;
}

/* Creates path with exactly data, failing if it exists (O_EXCL): a key is
 * never written over, and never readable by others even for a moment. */
static int write_new(const char *path, const char *data, mode_t mode, struct errbuf *err)
{
        _cleanup_close_ int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, mode);
        if (fd < 0)
                return errbuf_set(err, -errno, "cannot create %s: %s", path, strerror(errno));
        size_t len = strlen(data);
        while (len > 0) {
                ssize_t k = write(fd, data, len);
                if (k < 0 && errno == EINTR)
                        continue;
                if (k < 0)
                        return errbuf_set(err, -errno, "cannot write %s: %s", path, strerror(errno));
                data += k;
                len -= (size_t) k;
        }
        if (fsync(fd) < 0)
                return errbuf_set(err, -errno, "cannot fsync %s: %s", path, strerror(errno));
        return 0;
}

/* Whether cert_pem is a certificate this service made (self-signed,
 * O=hugepaged) with fewer than RENEW_BEFORE_DAYS left. */
static bool self_made_and_due(const char *cert_pem)
{
        BIO *b = BIO_new_mem_buf(cert_pem, -1);
        X509 *x = b ? PEM_read_bio_X509(b, NULL, NULL, NULL) : NULL;
        bool due = false;
        if (x && X509_NAME_cmp(X509_get_subject_name(x), X509_get_issuer_name(x)) == 0) {
                char org[64] = "";
                X509_NAME_get_text_by_NID(X509_get_subject_name(x), NID_organizationName, org, sizeof(org));
                time_t soon = time(NULL) + (time_t) RENEW_BEFORE_DAYS * 24 * 3600;
                due = strcmp(org, "hugepaged") == 0 && X509_cmp_time(X509_get0_notAfter(x), &soon) < 0;
        }
        X509_free(x);
        BIO_free(b);
        ERR_clear_error();
        return due;
}

/* Replaces the self-made certificate by a new one for the same key: a new
 * file renamed over the old, so that a crash leaves one or the other. */
static int renew(const char *host_name, const char *cert_path, struct tls_material *t, struct errbuf *err)
{
        char *cert = NULL, *key = NULL;
        int r = generate(host_name, t->key_pem, &cert, &key, err);
        if (r < 0)
                return r;
        if (key) {
                OPENSSL_cleanse(key, strlen(key));
                free(key);
        }
        char tmp[4200];
        snprintf(tmp, sizeof(tmp), "%s.new", cert_path);
        unlink(tmp);
        r = write_new(tmp, cert, 0644, err);
        if (r >= 0 && rename(tmp, cert_path) < 0)
                r = errbuf_set(err, -errno, "cannot rename %s to %s: %s", tmp, cert_path, strerror(errno));
        if (r < 0) {
                unlink(tmp);
                free(cert);
                return r;
        }
        /* The rename is durable once the directory is. */
        char dir[4200];
        snprintf(dir, sizeof(dir), "%s", cert_path);
        char *slash = strrchr(dir, '/');
        if (slash) {
                *slash = '\0';
                _cleanup_close_ int dfd = open(dir[0] ? dir : "/", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
                if (dfd >= 0)
                        (void) fsync(dfd);
        }
        free(t->cert_pem);
        t->cert_pem = cert;
        t->renewed = true;
        return 0;
}

int tls_load(const char *cert_file, const char *key_file, const char *state_dir, const char *host_name,
             struct tls_material *ret, struct errbuf *err)
{
        struct tls_material t = { 0 };
        char cert_path[4096], key_path[4096];
        int r;

        if (cert_file) {
                snprintf(cert_path, sizeof(cert_path), "%s", cert_file);
                snprintf(key_path, sizeof(key_path), "%s", key_file);
        } else {
                snprintf(cert_path, sizeof(cert_path), "%s/" CERT_NAME, state_dir);
                snprintf(key_path, sizeof(key_path), "%s/" KEY_NAME, state_dir);
                bool have_cert = access(cert_path, F_OK) == 0, have_key = access(key_path, F_OK) == 0;
                if (have_cert != have_key)
                        return errbuf_set(err, -EINVAL,
                                          "%s exists but %s does not: remove the other one to have both made anew",
                                          have_cert ? cert_path : key_path, have_cert ? key_path : cert_path);
                if (!have_cert) {
                        r = generate(host_name, NULL, &t.cert_pem, &t.key_pem, err);
                        if (r < 0)
                                return r;
                        r = write_new(key_path, t.key_pem, 0600, err);
                        if (r >= 0)
                                r = write_new(cert_path, t.cert_pem, 0644, err);
                        if (r < 0) {
                                unlink(key_path);
                                tls_release(&t);
                                return r;
                        }
                        t.created = true;
                }
        }
        if (!t.cert_pem) {
                r = read_pem(cert_path, false, &t.cert_pem, err);
                if (r >= 0)
                        r = read_pem(key_path, true, &t.key_pem, err);
                if (r < 0) {
                        tls_release(&t);
                        return r;
                }
        }
        if (!cert_file && !t.created && self_made_and_due(t.cert_pem)) {
                r = renew(host_name, cert_path, &t, err);
                if (r < 0) {
                        tls_release(&t);
                        return r;
                }
        }
        r = check_pair(t.cert_pem, t.key_pem, cert_path, key_path, err);
        if (r < 0) {
                tls_release(&t);
                return r;
        }
        snprintf(t.cert_path, sizeof(t.cert_path), "%s", cert_path);
        *ret = t;
        return 0;
}

void tls_release(struct tls_material *t)
{
        if (!t)
                return;
        if (t->key_pem) {
                OPENSSL_cleanse(t->key_pem, strlen(t->key_pem));
                free(t->key_pem);
        }
        free(t->cert_pem);
        t->cert_pem = t->key_pem = NULL;
}

int tls_read_ca(const char *path, char **ret_pem, struct errbuf *err)
{
        char *pem = NULL;
        int r = read_pem(path, false, &pem, err);
        if (r < 0)
                return r;
        BIO *b = BIO_new_mem_buf(pem, -1);
        X509 *x = b ? PEM_read_bio_X509(b, NULL, NULL, NULL) : NULL;
        if (!x)
                r = errbuf_set(err, -EINVAL, "%s holds no PEM certificate: %s", path, ssl_error());
        else if (X509_check_ca(x) == 0)
                r = errbuf_set(err, -EINVAL, "the certificate in %s is not a CA certificate", path);
        X509_free(x);
        BIO_free(b);
        ERR_clear_error();
        if (r < 0) {
                free(pem);
                return r;
        }
        *ret_pem = pem;
        return 0;
}
