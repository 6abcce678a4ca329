/* televisitd: HTTPS and WSS on one port with libwebsockets. This first part serves the web client
 * with its security headers under a strict TLS policy; accounts, visits, signaling, storage and the
 * audit log follow (issue 4). */
#define _POSIX_C_SOURCE 200809L
#include "tv_cert.h"
#include "tv_config.h"
#include "tv_err.h"
#include "tv_http.h"
#include "tv_init.h"
#include "tv_store.h"
#include "tv_tls_policy.h"
#include "tv_auditlog.h"
#include "tv_backup.h"
#include "tv_api.h"
#include "tv_jobs.h"
#include "tv_ws.h"
#include "tv_clock.h"

#include <curl/curl.h>
#include <ev.h>
#include <time.h>
#include <unistd.h>

#include <errno.h>
#include <libwebsockets.h>
#include <openssl/ssl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sodium.h>
#include <sys/stat.h>


static volatile sig_atomic_t interrupted;

static void on_signal(int sig)
{
    (void)sig;
    interrupted = 1;
}

static void usage(FILE *out)
{
    fprintf(out,
            "usage: televisitd [--config FILE] [--SETTING VALUE ...]\n"
            "       televisitd user add EMAIL [--admin] [--SETTING VALUE ...]   (password on stdin)\n"
            "       televisitd audit verify [--data-dir DIR] [--key-file FILE]\n"
            "       televisitd backup OUT-DIR [--data-dir DIR] [--key-file FILE]\n"
            "       televisitd restore BACKUP-FILE [--data-dir DIR] [--key-file FILE]\n"
            "\n"
            "Secure video visits: the web client, its API and WebSocket signaling over HTTPS (TLS 1.2+ only)\n"
            "on one port. Settings come from built-in defaults, then --config FILE (key = value lines), then\n"
            "TELEVISIT_<SETTING> environment variables (TELEVISIT_DATA_DIR...), then these flags:\n"
            "\n");
    tv_config_help(out);
    fprintf(out,
            "  --config FILE            read settings from FILE\n"
            "  --help                   this text\n"
            "\n"
            "user add creates an active clinician account (no activation mail), reading the password from\n"
            "standard input. audit verify checks the audit log's hash chain and names the first record that\n"
            "breaks it, and checks its end against audit.anchor beside the master key (a missing anchor is a\n"
            "finding once the log has a record); exit status 0 intact, 3 broken. backup writes an encrypted,\n"
            "consistent copy of the database while the server runs; it can only be read with the master key,\n"
            "so keep that file, and a copy of it, somewhere else. restore checks a backup and puts it in place\n"
            "of a missing database (not while the old database's -wal or -shm is still there: move them away\n"
            "with its file).\n");
}

static void store_paths(const tv_config *cfg, char *db, size_t db_size, char *key, size_t key_size)
{
    snprintf(db, db_size, "%s/televisit.db", cfg->data_dir);
    if (cfg->key_file[0])
        snprintf(key, key_size, "%s", cfg->key_file);
    else
        snprintf(key, key_size, "%s/master.key", cfg->data_dir);
}

static int user_add(const tv_config *cfg, const char *email, int admin)
{
    char err[512], db_path[TV_CONFIG_STR + 32], key_path[TV_CONFIG_STR + 32], pw[TV_PASSWORD_MAX_BYTES + 2];
    store_paths(cfg, db_path, sizeof db_path, key_path, sizeof key_path);
    if (isatty(0))
        fprintf(stderr, "password for %s: ", email);
    if (fgets(pw, sizeof pw, stdin) == NULL) {
        fprintf(stderr, "televisitd: no password on standard input\n");
        return 2;
    }
    pw[strcspn(pw, "\r\n")] = '\0';
    if (mkdir(cfg->data_dir, 0700) != 0 && errno != EEXIST) {
        fprintf(stderr, "televisitd: cannot create data directory %s: %s\n", cfg->data_dir, strerror(errno));
        return 1;
    }
    static tv_api api;
    tv_store st;
    int rc = 1;
    if (tv_store_open(&st, db_path, key_path, err, sizeof err) != 0) {
        fprintf(stderr, "televisitd: %s\n", err);
    } else {
        if (tv_api_init(&api, cfg) != 0) {
            fprintf(stderr, "televisitd: cannot set up the API: password hashing, or the providers file above\n");
        } else {
            if (tv_api_user_add(&api, &st, email, pw, admin, tv_clock_ms(), err, sizeof err) != 0)
                fprintf(stderr, "televisitd: %s\n", err);
            else {
                printf("added %s%s; it can sign in now\n", email, admin ? " (administrator)" : "");
                rc = 0;
            }
            tv_api_free(&api);
        }
        tv_store_close(&st);
    }
    sodium_memzero(pw, sizeof pw);
    return rc;
}


static int backup_or_restore(const tv_config *cfg, int restore, const char *arg)
{
    char err[512], db_path[TV_CONFIG_STR + 32], key_path[TV_CONFIG_STR + 32], out[4096];
    store_paths(cfg, db_path, sizeof db_path, key_path, sizeof key_path);
    if (restore) {
        if (mkdir(cfg->data_dir, 0700) != 0 && errno != EEXIST) {
            fprintf(stderr, "televisitd: cannot create data directory %s: %s\n", cfg->data_dir, strerror(errno));
            return 1;
        }
        if (tv_backup_restore(arg, key_path, db_path, err, sizeof err) != 0) {
            fprintf(stderr, "televisitd: restore refused: %s\n", err);
            return 1;
        }
        printf("restored %s from %s (integrity and audit chain checked)\n", db_path, arg);
        return 0;
    }
    tv_store st;
    if (tv_store_open(&st, db_path, key_path, err, sizeof err) != 0) {
        fprintf(stderr, "televisitd: %s\n", err);
        return 1;
    }
    int rc = tv_backup_write(&st, arg, out, sizeof out, err, sizeof err);
    tv_store_close(&st);
    if (rc != 0) {
        fprintf(stderr, "televisitd: backup failed: %s\n", err);
        return 1;
    }
    printf("backup written to %s (encrypted; readable only with %s)\n", out, key_path);
    return 0;
}

/* televisitd audit verify: exit 0 when the chain is intact, 3 when it is not. */
static int audit_verify(const tv_config *cfg)
{
    tv_store st;
    char err[256], db_path[TV_CONFIG_STR + 32], key_path[TV_CONFIG_STR + 32];
    store_paths(cfg, db_path, sizeof db_path, key_path, sizeof key_path);
    if (tv_store_open(&st, db_path, key_path, err, sizeof err) != 0) {
        fprintf(stderr, "televisitd: %s\n", err);
        return 1;
    }
    int64_t count = 0, bad = 0, cut = 0;
    int anchored = 0;
    int rc = tv_auditlog_verify(&st, &count, &bad);
    int arc = rc == 0 ? tv_auditlog_anchor_check(&st, &anchored, &cut) : 0;
    char anchor[sizeof st.audit_anchor];
    snprintf(anchor, sizeof anchor, "%s", st.audit_anchor);
    tv_store_close(&st);
    if (rc != 0) {
        fprintf(stderr, "televisitd: cannot read the audit log\n");
        return 1;
    }
    if (bad) {
        printf("audit log: BROKEN at record %lld (the records from there on cannot be trusted)\n", (long long)bad);
        return 3;
    }
    if (arc == TV_ERR_NOT_FOUND) {
        printf("audit log: BROKEN: the anchor %s is missing, but the log has %lld records: records cut from its "
               "end could not be seen (was the anchor deleted, or the database copied without it?)\n",
               anchor, (long long)count);
        return 3;
    }
    if (arc != 0) {
        printf("audit log: the anchor %s is unreadable; the end of the log cannot be checked\n", anchor);
        return 3;
    }
    if (cut) {
        printf("audit log: BROKEN at record %lld: the anchor %s names it, the log does not have it "
               "(records were cut from the end, or replaced)\n", (long long)cut, anchor);
        return 3;
    }
    printf("audit log: %lld records, chain intact%s\n", (long long)count,
           anchored ? ", its end matches the anchor" : " (no record, no anchor yet)");
    return 0;
}

int main(int argc, char **argv)
{
    tv_config cfg;
    char err[256];
    tv_config_defaults(&cfg);
    for (int i = 1; i < argc; i++)
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            usage(stdout);
            return 0;
        }
    /* A command word comes first: "audit verify". */
    int command = 0, first_flag = 1, admin = 0;
    const char *command_arg = NULL;
    if (argc >= 4 && strcmp(argv[1], "user") == 0 && strcmp(argv[2], "add") == 0) {
        command = 4;
        command_arg = argv[3];
        first_flag = 4;
    } else if (argc >= 3 && strcmp(argv[1], "audit") == 0 && strcmp(argv[2], "verify") == 0) {
        command = 1;
        first_flag = 3;
    } else if (argc >= 3 && (strcmp(argv[1], "backup") == 0 || strcmp(argv[1], "restore") == 0) &&
               strncmp(argv[2], "--", 2) != 0) {
        command = strcmp(argv[1], "backup") == 0 ? 2 : 3;
        command_arg = argv[2];
        first_flag = 3;
    } else if (argc >= 2 && strncmp(argv[1], "--", 2) != 0) {
        fprintf(stderr, "televisitd: unknown command \"%s\" (see --help)\n", argv[1]);
        return 2;
    }
    /* --config first, so flags given after it override the file whatever their order. */
    for (int i = 1; i + 1 < argc; i++)
        if (strcmp(argv[i], "--config") == 0 && tv_config_load_file(&cfg, argv[i + 1], err, sizeof err) != 0) {
            fprintf(stderr, "televisitd: %s\n", err);
            return 2;
        }
    if (tv_config_load_env(&cfg, err, sizeof err) != 0) {
        fprintf(stderr, "televisitd: %s\n", err);
        return 2;
    }
    for (int i = first_flag; i < argc; i++) {
        if (strcmp(argv[i], "--config") == 0) {
            i++;
            continue;
        }
        if (command == 4 && strcmp(argv[i], "--admin") == 0) {
            admin = 1;
            continue;
        }
        if (strncmp(argv[i], "--", 2) != 0 || i + 1 >= argc) {
            fprintf(stderr, "televisitd: unexpected argument \"%s\" (see --help)\n", argv[i]);
            return 2;
        }
        char key[64];
        snprintf(key, sizeof key, "%s", argv[i] + 2);
        for (char *k = key; *k; k++)
            if (*k == '-')
                *k = '_';
        if (tv_config_set(&cfg, key, argv[++i], err, sizeof err) != 0) {
            fprintf(stderr, "televisitd: %s (see --help)\n", err);
            return 2;
        }
    }
    if (tv_init() != 0) {
        fprintf(stderr, "televisitd: no secure random source\n");
        return 1;
    }
    if (command == 1)
        return audit_verify(&cfg);
    if (command == 4)
        return user_add(&cfg, command_arg, admin);
    if (command == 2 || command == 3)
        return backup_or_restore(&cfg, command == 3, command_arg);
    if (mkdir(cfg.data_dir, 0700) != 0 && errno != EEXIST) {
        fprintf(stderr, "televisitd: cannot create data directory %s: %s\n", cfg.data_dir, strerror(errno));
        return 1;
    }
    chmod(cfg.data_dir, 0700);

    /* The database and its master key: encrypted fields are useless without the key file. */
    static tv_store store;
    char db_path[TV_CONFIG_STR + 32], key_path[TV_CONFIG_STR + 32];
    store_paths(&cfg, db_path, sizeof db_path, key_path, sizeof key_path);
    if (tv_store_open(&store, db_path, key_path, err, sizeof err) != 0) {
        fprintf(stderr, "televisitd: %s\n", err);
        return 1;
    }
    int schema = 0;
    tv_store_schema_version(&store, &schema);
    printf("televisitd: database %s (schema %d), master key %s\n", db_path, schema, key_path);

    char cert[TV_CONFIG_STR + 32], key[TV_CONFIG_STR + 32], fp[100];
    if (cfg.tls_cert[0] == '\0') {
        int created = 0;
        if (tv_cert_ensure(cfg.data_dir, cert, sizeof cert, key, sizeof key, fp, sizeof fp, &created) != 0) {
            fprintf(stderr, "televisitd: cannot create a TLS certificate in %s\n", cfg.data_dir);
            return 1;
        }
        printf("televisitd: %s self-signed certificate %s\n", created ? "generated a" : "using the", cert);
    } else {
        snprintf(cert, sizeof cert, "%s", cfg.tls_cert);
        snprintf(key, sizeof key, "%s", cfg.tls_key);
        if (tv_cert_fingerprint(cert, fp, sizeof fp) != 0) {
            fprintf(stderr, "televisitd: cannot read the certificate %s\n", cert);
            return 1;
        }
    }
    printf("televisitd: certificate SHA-256 fingerprint %s\n", fp);

    static tv_http http;
    if (tv_http_init(&http, &cfg) != 0) {
        fprintf(stderr, "televisitd: web root %s not found (run npm run build)\n", cfg.web_root);
        return 1;
    }
    /* The API's workers: Argon2id and mail off the event loop, each with its own connection. */
    curl_global_init(CURL_GLOBAL_DEFAULT);
    static tv_api api;
    static tv_jobs jobs;
    if (tv_api_init(&api, &cfg) != 0) {
        fprintf(stderr, "televisitd: cannot set up the API: password hashing (pwhash_mem_mib %d), or the providers file above\n", cfg.pwhash_mem_mib);
        return 1;
    }
    if (tv_jobs_start(&jobs, &api, 2, db_path, key_path, err, sizeof err) != 0) {
        fprintf(stderr, "televisitd: %s\n", err);
        return 1;
    }
    http.jobs = &jobs;
    /* Signaling on the event loop, with the loop's own database connection. */
    static tv_ws ws;
    tv_ws_init(&ws, &cfg, &api, &store);
    api.notify = tv_ws_notify;
    api.notify_ctx = &ws;
    http.ws = &ws;

    static const struct lws_protocols protocols[] = {
        { "http", tv_http_callback, sizeof(tv_http_session), 0, 0, NULL, 0 },
        /* 4 KiB read at a time: larger messages are reassembled up to the protocol's cap; writes of
         * up to TV_WS_WRITE_BYTES in one piece */
        { TV_WS_PROTOCOL, tv_ws_callback, sizeof(tv_ws_conn), 4096, 0, NULL, TV_WS_WRITE_BYTES },
        { NULL, NULL, 0, 0, 0, NULL, 0 },
    };
    struct lws_context_creation_info info;
    memset(&info, 0, sizeof info);
    info.port = cfg.port;
    info.iface = cfg.bind;
    info.protocols = protocols;
    info.user = &http;
    /* libev (epoll): libwebsockets' own loop polls every socket on every turn, which at thousands of
     * connections costs more than the messages (bench:signaling) */
    info.options = LWS_SERVER_OPTION_LIBEV | LWS_SERVER_OPTION_DO_SSL_GLOBAL_INIT | LWS_SERVER_OPTION_VALIDATE_UTF8 |
                   LWS_SERVER_OPTION_DISABLE_IPV6;
    info.ssl_cert_filepath = cert;
    info.ssl_private_key_filepath = key;
    info.ssl_cipher_list = TV_TLS12_CIPHERS;
    info.tls1_3_plus_cipher_list = TV_TLS13_CIPHERS;
    info.ssl_options_set = SSL_OP_NO_SSLv2 | SSL_OP_NO_SSLv3 | SSL_OP_NO_TLSv1 | SSL_OP_NO_TLSv1_1 |
                           SSL_OP_NO_COMPRESSION | SSL_OP_CIPHER_SERVER_PREFERENCE | SSL_OP_NO_RENEGOTIATION;
    lws_set_log_level(LLL_ERR | LLL_WARN, NULL);
    /* Our own libev loop (epoll) handed to libwebsockets: we run it a turn at a time, so a signal
     * stops the server between turns */
    struct ev_loop *loop = ev_loop_new(EVFLAG_AUTO | EVFLAG_NOSIGMASK);
    void *foreign[] = { loop };
    info.foreign_loops = foreign;

    struct lws_context *ctx = lws_create_context(&info);
    if (ctx == NULL) {
        fprintf(stderr, "televisitd: cannot listen on %s:%d\n", cfg.bind, cfg.port);
        return 1;
    }
    tv_jobs_set_context(&jobs, ctx);
    tv_ws_start(&ws, ctx, loop);
    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);
    printf("televisitd: listening on https://%s:%d/ (web root %s, data %s)\n",
           strcmp(cfg.bind, "127.0.0.1") == 0 ? "localhost" : cfg.bind, cfg.port, http.root, cfg.data_dir);
    printf("televisitd: TURN %s\n", cfg.turn_urls[0] && cfg.turn_secret[0] ? cfg.turn_urls : "not configured (calls that cannot go peer to peer will fail)");
    printf("televisitd: mail %s\n", cfg.smtp_url[0] ? cfg.smtp_url : "is written to the data directory's mail/ folder (no relay configured)");
    printf("televisitd: first clinician: register in the web client, or run televisitd user add EMAIL\n");
    fflush(stdout);
    while (!interrupted)
        ev_run(loop, EVRUN_ONCE);
    tv_ws_stop(&ws);                    /* members are told the server is going away */
    for (int i = 0; i < 50 && ws.connections > 0; i++, ev_run(loop, EVRUN_NOWAIT))
        nanosleep(&(struct timespec){ 0, 10000000 }, NULL);   /* ...and up to half a second for those last frames to go out */
    tv_jobs_set_context(&jobs, NULL);   /* no wake-up of a context being destroyed */
    lws_context_destroy(ctx);           /* closes connections: their pending jobs are orphaned */
    tv_jobs_stop(&jobs);
    tv_ws_free(&ws);
    ev_loop_destroy(loop);
    tv_api_free(&api);
    curl_global_cleanup();
    tv_store_close(&store);
    printf("televisitd: stopped\n");
    return 0;
}
