/* The command line. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../model/validate.h"

struct options {
        const char *command;     /* "serve", "history", "rollback", "apply-saved" */
        char listen_host[256];   /* "127.0.0.1", "::1", "localhost" */
        char listen_port[8];     /* "8443"; "0" picks a free port */
        const char *state_dir;
        const char *sysfs_root;
        const char *procfs_root;
        const char *tls_cert;
        const char *tls_key;
        const char *token_file;
        struct validate_opts reserve;
        bool anonymous_read;
        size_t max_body;
        const char *node_name;
        uint64_t base_page_kb; /* 0: this machine's */
        unsigned history;      /* generations the journal keeps */
        bool require_if_match;
        const char *initial_config;
        uint64_t rollback_to;  /* "rollback --to GEN"; 0: the previous confirmed one */
        const char *client_ca;  /* --client-ca FILE */
        int client_cert_role;   /* enum role (server/auth.h) of a verified client certificate */
        bool plain_http;        /* serve plain HTTP */
        bool plain_http_remote; /* ... on an address other than loopback too */
        const char *cors_origins[16];
        size_t n_cors_origins;
        unsigned max_connections;
        unsigned max_connections_per_client;
        unsigned idle_timeout_s;
        unsigned request_timeout_s;
        unsigned header_timeout_s;
        const char *boot_args;          /* --boot-args grubenv:FILE:VARIABLE */
        const char *restart_units[8];   /* --restart-unit UNIT… */
        size_t n_restart_units;
        unsigned retries;               /* apply-saved: tries when the kernel gives fewer pages */
        const char *floor_file;         /* --floor-file FILE: pages other components keep */
        unsigned retry_delay_s;
};

/* Parses argv into *ret. Returns 0 to go on, 1 when the program should exit
 * successfully (after --help or --version), or -EINVAL after printing what
 * was wrong to stderr. */
int options_parse(int argc, char **argv, struct options *ret);
