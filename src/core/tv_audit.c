#include "tv_audit.h"
#include "tv_err.h"
#include "tv_utf8.h"

#include <mbedtls/sha256.h>
#include <string.h>

static const char *const types[] = {
#define TV_AUDIT_NAME_(id, name) name,
    TV_AUDIT_TYPES(TV_AUDIT_NAME_)
#undef TV_AUDIT_NAME_
};

int tv_audit_type_valid(const char *type)
{
    if (type == NULL)
        return 0;
    for (size_t i = 0; i < sizeof types / sizeof types[0]; i++)
        if (strcmp(types[i], type) == 0)
            return 1;
    return 0;
}

static void put_u64(mbedtls_sha256_context *h, uint64_t v)
{
    uint8_t b[8];
    for (int i = 7; i >= 0; i--) {
        b[i] = (uint8_t)v;
        v >>= 8;
    }
    mbedtls_sha256_update_ret(h, b, sizeof b);
}

static int put_field(mbedtls_sha256_context *h, const char *s)
{
    size_t n = s ? strlen(s) : 0;
    if (n > TV_AUDIT_FIELD_MAX || (n && tv_utf8_check(s, n, NULL) != 0))
        return TV_ERR_INVALID;
    put_u64(h, n);
    if (n)
        mbedtls_sha256_update_ret(h, (const uint8_t *)s, n);
    return 0;
}

int tv_audit_hash(const tv_audit_record *r, const uint8_t prev[TV_AUDIT_HASHBYTES], uint8_t out[TV_AUDIT_HASHBYTES])
{
    if (r == NULL || prev == NULL || out == NULL || r->seq < 1 || r->ts_ms < 0 || !tv_audit_type_valid(r->type))
        return TV_ERR_INVALID;
    static const char domain[] = "televisit audit v1";
    mbedtls_sha256_context h;
    mbedtls_sha256_init(&h);
    mbedtls_sha256_starts_ret(&h, 0);
    mbedtls_sha256_update_ret(&h, (const uint8_t *)domain, sizeof domain - 1);
    put_u64(&h, (uint64_t)r->seq);
    put_u64(&h, (uint64_t)r->ts_ms);
    int rc = 0;
    const char *fields[] = { r->type, r->requester, r->message, r->room, r->ip, r->extra };
    for (size_t i = 0; i < sizeof fields / sizeof fields[0] && rc == 0; i++)
        rc = put_field(&h, fields[i]);
    mbedtls_sha256_update_ret(&h, prev, TV_AUDIT_HASHBYTES);
    if (rc == 0)
        mbedtls_sha256_finish_ret(&h, out);
    mbedtls_sha256_free(&h);
    return rc;
}
