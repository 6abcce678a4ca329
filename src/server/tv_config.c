#include "tv_config.h"
#include "tv_err.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct key_info {
    const char *name;
    size_t offset, size;   /* size 0: an int within [min, max] */
    long min, max;
    const char *help;
} key_info;

#define STR(field, help) { #field, offsetof(tv_config, field), sizeof ((tv_config *)0)->field, 0, 0, help }
#define INT(field, lo, hi, help) { #field, offsetof(tv_config, field), 0, lo, hi, help }
static const key_info keys[] = {
    INT(port, 1, 65535, "TCP port for HTTPS and WSS (default 8443)"),
    STR(bind, "address to listen on (default 127.0.0.1)"),
    STR(data_dir, "directory for the database, keys and generated certificate (default ./data)"),
    STR(web_root, "directory of static files (default ./build/web)"),
    STR(tls_cert, "PEM certificate; empty: a self-signed one is generated in data_dir"),
    STR(tls_key, "PEM private key of tls_cert"),
    STR(frame_ancestors, "space-separated EHR origins allowed to embed televisit (default: none)"),
    STR(key_file, "master key file, mode 0600, never in the database (default data_dir/master.key)"),
    STR(public_url, "base URL in links sent by mail (default https://localhost:PORT)"),
    STR(smtp_url, "mail relay, smtp://host:port or smtps://host:port (default: none, mail is written to data_dir/mail)"),
    STR(smtp_from, "sender address of mail (default televisit@localhost)"),
    STR(smtp_user, "mail relay user name"),
    STR(smtp_password, "mail relay password"),
    STR(turn_urls, "space-separated TURN/STUN URLs for browsers, e.g. turn:host:3478?transport=udp"),
    STR(turn_secret, "coturn static-auth-secret for time-limited TURN credentials"),
    INT(turn_ttl_s, 60, 86400, "lifetime of a TURN credential in seconds (default 3600)"),
    INT(session_idle_min, 1, 1440, "clinician session inactivity timeout in minutes (default 15)"),
    INT(session_max_hours, 1, 168, "clinician session absolute lifetime in hours (default 12)"),
    INT(invite_ttl_hours, 1, 720, "invite link lifetime in hours (default 24)"),
    INT(chat_retention_days, 0, 3650, "days chat is kept, encrypted; 0 keeps none (default 30)"),
    INT(require_2fa, 0, 1, "1: every clinician must enroll TOTP (default 0)"),
    INT(pwhash_mem_mib, 19, 1024, "Argon2id memory per password hash in MiB (default 64)"),
    INT(auth_per_minute, 1, 100000, "auth requests per minute per source address (default 30)"),
    INT(msg_per_second, 1, 100000, "signaling messages per second per connection, in bursts of 4 s' worth (default 50)"),
    STR(oidc_providers, "JSON file of OpenID Connect / SMART providers, mode 0600 (default: no single sign-on)"),
    STR(oidc_ca_file, "extra CA certificates (PEM) trusted for the providers' HTTPS (default: the system's)"),
};

void tv_config_defaults(tv_config *c)
{
    memset(c, 0, sizeof *c);
    c->port = 8443;
    snprintf(c->bind, sizeof c->bind, "127.0.0.1");
    snprintf(c->data_dir, sizeof c->data_dir, "data");
    snprintf(c->web_root, sizeof c->web_root, "build/web");
    snprintf(c->smtp_from, sizeof c->smtp_from, "televisit@localhost");
    c->turn_ttl_s = 3600;
    c->session_idle_min = 15;
    c->session_max_hours = 12;
    c->invite_ttl_hours = 24;
    c->chat_retention_days = 30;
    c->pwhash_mem_mib = 64;
    c->auth_per_minute = 30;
    c->msg_per_second = 50;
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
        if (keys[i].size == 0) {
            char *end, msg[160];
            long v = strtol(value, &end, 10);
            if (*value == '\0' || *end != '\0' || v < keys[i].min || v > keys[i].max) {
                snprintf(msg, sizeof msg, "%s must be a number from %ld to %ld, not \"%%s\"", key, keys[i].min,
                         keys[i].max);
                return fail(err, err_size, msg, value);
            }
            memcpy((char *)c + keys[i].offset, &(int){ (int)v }, sizeof(int));
            return 0;
        }
        if (strlen(value) >= keys[i].size)
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

void tv_config_help(FILE *out)
{
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
        char flag[40];
        snprintf(flag, sizeof flag, "--%s", keys[i].name);
        for (char *f = flag + 2; *f; f++)
            if (*f == '_')
                *f = '-';
        fprintf(out, "  %-24s %s\n", flag, keys[i].help);
    }
}
