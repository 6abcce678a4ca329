/* televisitd's settings: embedded defaults, then a config file ("key = value" lines), then
 * TELEVISIT_* environment variables, then command-line flags; each later source wins. */
#ifndef TV_CONFIG_H
#define TV_CONFIG_H

#include <stddef.h>
#include <stdio.h>

#define TV_CONFIG_STR 512

typedef struct tv_config {
    char bind[64];                 /* address to listen on */
    int port;
    char data_dir[TV_CONFIG_STR];  /* database, keys, generated certificate, outgoing mail */
    char web_root[TV_CONFIG_STR];  /* static files */
    char tls_cert[TV_CONFIG_STR];  /* PEM; empty: generate a self-signed one in data_dir */
    char tls_key[TV_CONFIG_STR];
    char frame_ancestors[TV_CONFIG_STR];   /* EHR origins allowed to frame us, space-separated */
    char key_file[TV_CONFIG_STR];  /* master key; empty: data_dir/master.key. Keep it off the DB's disk
                                      and out of its backups where you can. */
    char public_url[TV_CONFIG_STR];   /* base of links in mail; empty: https://localhost:PORT */
    char smtp_url[TV_CONFIG_STR];     /* smtp://host:port or smtps://; empty: mail goes to data_dir/mail */
    char smtp_from[256];
    char smtp_user[256];
    char smtp_password[256];
    char turn_urls[TV_CONFIG_STR];    /* space-separated turn:/turns:/stun: URLs handed to browsers */
    char turn_secret[256];            /* coturn's static-auth-secret (use-auth-secret) */
    int turn_ttl_s;                   /* lifetime of a TURN credential */
    int session_idle_min;             /* inactivity timeout of a clinician session */
    int session_max_hours;            /* absolute lifetime */
    int invite_ttl_hours;             /* how long an invite link stays valid */
    int chat_retention_days;          /* 0: chat is relayed but never stored */
    int require_2fa;                  /* 1: clinicians must enroll TOTP before using the console */
    int pwhash_mem_mib;               /* Argon2id memory per hash (64; at least 19) */
    int auth_per_minute;              /* requests per source address to the auth endpoints */
    int msg_per_second;               /* signaling messages per connection, sustained (bursts of 4 s' worth) */
    char oidc_providers[TV_CONFIG_STR];   /* JSON file of single sign-on providers (mode 0600); empty: none */
    char oidc_ca_file[TV_CONFIG_STR];     /* extra CA bundle for the providers' TLS; empty: the system's */
} tv_config;

void tv_config_defaults(tv_config *c);

/* Sets one key from text; TV_ERR_INVALID with a message in err for an unknown key or a bad value. */
int tv_config_set(tv_config *c, const char *key, const char *value, char *err, size_t err_size);

/* Reads a "key = value" file ('#' starts a comment). */
int tv_config_load_file(tv_config *c, const char *path, char *err, size_t err_size);

/* TELEVISIT_PORT, TELEVISIT_BIND, ... : the keys in upper case with the prefix. */
int tv_config_load_env(tv_config *c, char *err, size_t err_size);

/* One line per setting: its flag and what it does. */
void tv_config_help(FILE *out);

#endif
