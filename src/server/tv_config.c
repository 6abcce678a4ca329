#include "tv_config.h"
#include "tv_err.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct key_info { const char *name; size_t offset; int is_port; const char *help; } key_info;

#define STR(field, help) { #field, offsetof(tv_config, field), 0, help }
static const key_info keys[] = {
    { "port", offsetof(tv_config, port), 1, "TCP port for HTTPS and WSS (default 8443)" },
    STR(bind, "address to listen on (default 127.0.0.1)"),
    STR(data_dir, "directory for the database, keys and generated certificate (default ./data)"),
    STR(web_root, "directory of static files (default ./build/web)"),
    STR(tls_cert, "PEM certificate; empty: a self-signed one is generated in data_dir"),
    STR(tls_key, "PEM private key of tls_cert"),
    STR(frame_ancestors, "space-separated EHR origins allowed to embed televisit (default: none)"),
    STR(key_file, "master key file, mode 0600, never in the database (default data_dir/master.key)"),
};

void tv_config_defaults(tv_config *c)
{
    memset(c, 0, sizeof *c);
    c->port = 8443;
    snprintf(c->bind, sizeof c->bind, "127.0.0.1");
    snprintf(c->data_dir, sizeof c->data_dir, "data");
    snprintf(c->web_root, sizeof c->web_root, "build/web");
}

static int fail(char *err, size_t n, const char *fmt, const char *a)
{
    if (err && n)
        snprintf(err, n, fmt, a);
    return TV_ERR_INVALID;
}

/* One origin: https://host or http://host, with an optional :port; host letters, digits, '-' and '.'.
 * Nothing else: a bare scheme ("https:") or a wildcard would let any site frame televisit, and other
 * characters could inject into the CSP header. */
static int origin_ok(const char *s, size_t n)
{
    size_t i;
    if (n > 8 && strncmp(s, "https://", 8) == 0)
        i = 8;
    else if (n > 7 && strncmp(s, "http://", 7) == 0)
        i = 7;
    else
        return 0;
    size_t host = i;
    while (i < n && (isalnum((unsigned char)s[i]) || s[i] == '-' || s[i] == '.'))
        i++;
    if (i == host || s[host] == '.' || s[host] == '-')
        return 0;
    if (i < n && s[i] == ':') {
        size_t digits = ++i;
        while (i < n && isdigit((unsigned char)s[i]))
            i++;
        if (i == digits || i - digits > 5)
            return 0;
    }
    return i == n;
}

static int origins_ok(const char *v)
{
    const char *p = v;
    while (*p) {
        while (*p == ' ')
            p++;
        const char *start = p;
        while (*p && *p != ' ')
            p++;
        if (p > start && !origin_ok(start, (size_t)(p - start)))
            return 0;
    }
    return 1;
}

int tv_config_set(tv_config *c, const char *key, const char *value, char *err, size_t err_size)
{
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
        if (strcmp(keys[i].name, key) != 0)
            continue;
        if (keys[i].is_port) {
            char *end;
            long v = strtol(value, &end, 10);
            if (*value == '\0' || *end != '\0' || v < 1 || v > 65535)
                return fail(err, err_size, "port must be a number from 1 to 65535, not \"%s\"", value);
            c->port = (int)v;
            return 0;
        }
        size_t size = strcmp(key, "bind") == 0 ? sizeof c->bind : TV_CONFIG_STR;
        if (strlen(value) >= size)
            return fail(err, err_size, "%s is too long", key);
        if (strcmp(key, "frame_ancestors") == 0 && !origins_ok(value))
            return fail(err, err_size, "frame_ancestors must be origins like https://ehr.example.org, not \"%s\"", value);
        memcpy((char *)c + keys[i].offset, value, strlen(value) + 1);
        return 0;
    }
    return fail(err, err_size, "unknown setting \"%s\"", key);
}

static char *trim(char *s)
{
    while (isspace((unsigned char)*s))
        s++;
    char *e = s + strlen(s);
    while (e > s && isspace((unsigned char)e[-1]))
        *--e = '\0';
    return s;
}

int tv_config_load_file(tv_config *c, const char *path, char *err, size_t err_size)
{
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return fail(err, err_size, "cannot read config file %s", path);
    char line[1024];
    int lineno = 0, rc = 0;
    while (rc == 0 && fgets(line, sizeof line, f)) {
        lineno++;
        char *hash = strchr(line, '#');
        if (hash)
            *hash = '\0';
        char *s = trim(line);
        if (*s == '\0')
            continue;
        char *eq = strchr(s, '=');
        if (eq == NULL) {
            char where[32];
            snprintf(where, sizeof where, "%d", lineno);
            rc = fail(err, err_size, "config line %s: expected key = value", where);
            break;
        }
        *eq = '\0';
        rc = tv_config_set(c, trim(s), trim(eq + 1), err, err_size);
    }
    fclose(f);
    return rc;
}

int tv_config_load_env(tv_config *c, char *err, size_t err_size)
{
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
        char name[64] = "TELEVISIT_";
        size_t n = strlen(name);
        for (const char *k = keys[i].name; *k && n < sizeof name - 1; k++)
            name[n++] = (char)toupper((unsigned char)*k);
        name[n] = '\0';
        const char *v = getenv(name);
        if (v) {
            int rc = tv_config_set(c, keys[i].name, v, err, err_size);
            if (rc != 0)
                return rc;
        }
    }
    return 0;
}
