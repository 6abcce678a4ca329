/* televisitd's settings: embedded defaults, then a config file ("key = value" lines), then
 * TELEVISIT_* environment variables, then command-line flags; each later source wins. */
#ifndef TV_CONFIG_H
#define TV_CONFIG_H

#include <stddef.h>

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
} tv_config;

void tv_config_defaults(tv_config *c);

/* Sets one key from text; TV_ERR_INVALID with a message in err for an unknown key or a bad value. */
int tv_config_set(tv_config *c, const char *key, const char *value, char *err, size_t err_size);

/* Reads a "key = value" file ('#' starts a comment). */
int tv_config_load_file(tv_config *c, const char *path, char *err, size_t err_size);

/* TELEVISIT_PORT, TELEVISIT_BIND, ... : the keys in upper case with the prefix. */
int tv_config_load_env(tv_config *c, char *err, size_t err_size);

#endif
