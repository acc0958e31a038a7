/* The TLS certificate and key the HTTPS listener serves. TLS itself is
 * libmicrohttpd's (GnuTLS); OpenSSL makes a self-signed certificate on first
 * start and checks configured ones, so that a wrong file is a clear message
 * at start rather than a failed handshake later. */
#pragma once

#include <stdbool.h>

#include "../model/errbuf.h"

struct tls_material {
        char *cert_pem; /* owned, NUL-terminated */
        char *key_pem;  /* owned, NUL-terminated */
        char cert_path[4096];
        bool created; /* made on this start */
        bool renewed; /* the self-made certificate was near its end and was made anew (same key) */
};

/* With cert_file and key_file, loads and checks them (parse, key matches
 * certificate, validity period; a key file open to other users is
 * refused). Without, uses state_dir/tls.crt and
 * tls.key, creating them (EC P-256, SAN for host_name, localhost, 127.0.0.1
 * and ::1, valid 397 days, key mode 0600) when neither exists, and
 * renewing the certificate for the same key when it is one it made and
 * fewer than 30 days are left. */
int tls_load(const char *cert_file, const char *key_file, const char *state_dir, const char *host_name,
             struct tls_material *ret, struct errbuf *err);
void tls_release(struct tls_material *t);

/* Reads the CA certificate(s) that client certificates must chain to
 * (--client-ca): PEM, the first one a CA. *ret_pem is owned by the
 * caller. */
int tls_read_ca(const char *path, char **ret_pem, struct errbuf *err);
