#define _DEFAULT_SOURCE   /* timegm */
#include "tv_cert.h"
#include "tv_file.h"
#include "tv_err.h"

#include <fcntl.h>
#include <mbedtls/ecp.h>
#include <mbedtls/oid.h>
#include <mbedtls/pk.h>
#include <mbedtls/sha256.h>
#include <mbedtls/x509_crt.h>
#include <mbedtls/x509_csr.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* mbedTLS asks for randomness through a callback: libsodium's CSPRNG answers. */
static int rng(void *ctx, unsigned char *out, size_t len)
{
    (void)ctx;
    randombytes_buf(out, len);
    return 0;
}


/* 1 when the certificate ends within a week (or cannot be read): time to make a new one. */
static int expiring(const char *cert_path)
{
    mbedtls_x509_crt crt;
    mbedtls_x509_crt_init(&crt);
    int soon = 1;
    if (mbedtls_x509_crt_parse_file(&crt, cert_path) == 0) {
        struct tm t = { 0 };
        t.tm_year = crt.valid_to.year - 1900;
        t.tm_mon = crt.valid_to.mon - 1;
        t.tm_mday = crt.valid_to.day;
        t.tm_hour = crt.valid_to.hour;
        t.tm_min = crt.valid_to.min;
        t.tm_sec = crt.valid_to.sec;
        soon = timegm(&t) < time(NULL) + 7L * 24 * 3600;
    }
    mbedtls_x509_crt_free(&crt);
    return soon;
}

int tv_cert_fingerprint(const char *cert_path, char *fingerprint, size_t fp_size)
{
    mbedtls_x509_crt crt;
    mbedtls_x509_crt_init(&crt);
    if (fp_size < 96 || mbedtls_x509_crt_parse_file(&crt, cert_path) != 0) {
        mbedtls_x509_crt_free(&crt);
        return TV_ERR_INVALID;
    }
    unsigned char h[32];
    mbedtls_sha256_ret(crt.raw.p, crt.raw.len, h, 0);
    for (int i = 0; i < 32; i++)
        snprintf(fingerprint + 3 * i, 4, i < 31 ? "%02X:" : "%02X", h[i]);
    mbedtls_x509_crt_free(&crt);
    return 0;
}

static void validity(time_t t, char out[15])
{
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(out, 15, "%Y%m%d%H%M%S", &tm);
}

static int generate(const char *cert_path, const char *key_path)
{
    mbedtls_pk_context key;
    mbedtls_x509write_cert crt;
    mbedtls_mpi serial;
    unsigned char pem[4096], sn[16];
    int rc;
    mbedtls_pk_init(&key);
    mbedtls_x509write_crt_init(&crt);
    mbedtls_mpi_init(&serial);

    rc = mbedtls_pk_setup(&key, mbedtls_pk_info_from_type(MBEDTLS_PK_ECKEY));
    if (rc == 0)
        rc = mbedtls_ecp_gen_key(MBEDTLS_ECP_DP_SECP256R1, mbedtls_pk_ec(key), rng, NULL);
    randombytes_buf(sn, sizeof sn);
    sn[0] &= 0x7F;   /* a positive serial */
    if (rc == 0)
        rc = mbedtls_mpi_read_binary(&serial, sn, sizeof sn);
    char from[15], to[15];
    time_t now = time(NULL);
    validity(now - 3600, from);
    validity(now + 397L * 24 * 3600, to);   /* the longest lifetime browsers accept */
    mbedtls_x509write_crt_set_version(&crt, MBEDTLS_X509_CRT_VERSION_3);
    mbedtls_x509write_crt_set_md_alg(&crt, MBEDTLS_MD_SHA256);
    mbedtls_x509write_crt_set_subject_key(&crt, &key);
    mbedtls_x509write_crt_set_issuer_key(&crt, &key);
    if (rc == 0) rc = mbedtls_x509write_crt_set_subject_name(&crt, "CN=localhost,O=televisit");
    if (rc == 0) rc = mbedtls_x509write_crt_set_issuer_name(&crt, "CN=localhost,O=televisit");
    if (rc == 0) rc = mbedtls_x509write_crt_set_serial(&crt, &serial);
    if (rc == 0) rc = mbedtls_x509write_crt_set_validity(&crt, from, to);
    if (rc == 0) rc = mbedtls_x509write_crt_set_basic_constraints(&crt, 0, -1);
    if (rc == 0) rc = mbedtls_x509write_crt_set_key_usage(&crt, MBEDTLS_X509_KU_DIGITAL_SIGNATURE);
    /* subjectAltName: DNS localhost, IP 127.0.0.1 and ::1 (browsers ignore the CN). mbedTLS 2.28 has no
     * helper for it, so the extension's DER is written out. */
    static const unsigned char san[] = {
        0x30, 0x23, 0x82, 0x09, 'l', 'o', 'c', 'a', 'l', 'h', 'o', 's', 't',
        0x87, 0x04, 127, 0, 0, 1,
        0x87, 0x10, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1 };
    _Static_assert(sizeof san == 2 + 0x23, "the SEQUENCE length must match its contents");
    if (rc == 0)
        rc = mbedtls_x509write_crt_set_extension(&crt, MBEDTLS_OID_SUBJECT_ALT_NAME,
                                                 MBEDTLS_OID_SIZE(MBEDTLS_OID_SUBJECT_ALT_NAME), 0, san, sizeof san);
    if (rc == 0)
        rc = mbedtls_pk_write_key_pem(&key, pem, sizeof pem);
    /* The key first, private from its creation; then the certificate. */
    if (rc == 0)
        rc = tv_file_replace(key_path, pem, strlen((char *)pem), 0600);
    sodium_memzero(pem, sizeof pem);
    if (rc == 0)
        rc = mbedtls_x509write_crt_pem(&crt, pem, sizeof pem, rng, NULL);
    if (rc == 0)
        rc = tv_file_replace(cert_path, pem, strlen((char *)pem), 0644);
    mbedtls_x509write_crt_free(&crt);
    mbedtls_pk_free(&key);
    mbedtls_mpi_free(&serial);
    return rc == 0 ? 0 : TV_ERR_INVALID;
}

int tv_cert_ensure(const char *dir, char *cert_path, size_t cert_size, char *key_path, size_t key_size,
                   char *fingerprint, size_t fp_size, int *created)
{
    if ((size_t)snprintf(cert_path, cert_size, "%s/tls-cert.pem", dir) >= cert_size ||
        (size_t)snprintf(key_path, key_size, "%s/tls-key.pem", dir) >= key_size)
        return TV_ERR_TOO_LONG;
    *created = 0;
    if (access(cert_path, R_OK) != 0 || access(key_path, R_OK) != 0 || expiring(cert_path)) {
        int rc = generate(cert_path, key_path);
        if (rc != 0)
            return rc;
        *created = 1;
    }
    chmod(key_path, 0600);   /* whatever an editor or a copy did to it */
    return tv_cert_fingerprint(cert_path, fingerprint, fp_size);
}
