#include "tv_e2ee.h"
#include "tv_err.h"
#include "tv_totp.h"

#include <mbedtls/hkdf.h>
#include <mbedtls/md.h>
#include <sodium.h>
#include <string.h>

/* Distinct, easy to name aloud in French and English, no look-alikes. */
static const char *const symbols[32] = {
    "\xf0\x9f\x90\xb6 dog", "\xf0\x9f\x90\xb1 cat", "\xf0\x9f\xa6\x81 lion", "\xf0\x9f\x90\xb4 horse",
    "\xf0\x9f\xa6\x84 unicorn", "\xf0\x9f\x90\xb7 pig", "\xf0\x9f\x90\x98 elephant", "\xf0\x9f\x90\xb0 rabbit",
    "\xf0\x9f\x90\xbc panda", "\xf0\x9f\x90\x93 rooster", "\xf0\x9f\x90\xa7 penguin", "\xf0\x9f\x90\xa2 turtle",
    "\xf0\x9f\x90\x9f fish", "\xf0\x9f\x90\x99 octopus", "\xf0\x9f\xa6\x8b butterfly", "\xf0\x9f\x8c\xb7 tulip",
    "\xf0\x9f\x8c\xb3 tree", "\xf0\x9f\x8c\xb5 cactus", "\xf0\x9f\x8d\x84 mushroom", "\xf0\x9f\x8c\x8d globe",
    "\xf0\x9f\x8c\x99 moon", "\xe2\x98\x80\xef\xb8\x8f sun", "\xe2\x9b\x85 cloud", "\xe2\x9d\x84\xef\xb8\x8f snowflake",
    "\xf0\x9f\x94\xa5 fire", "\xf0\x9f\x8d\x8e apple", "\xf0\x9f\x8d\x8c banana", "\xf0\x9f\x8d\x87 grapes",
    "\xf0\x9f\x8d\x93 strawberry", "\xf0\x9f\x8e\xb8 guitar", "\xf0\x9f\x9a\xb2 bicycle", "\xe2\x9a\x93 anchor",
};

int tv_e2ee_keypair_generate(tv_e2ee_keypair *kp)
{
    if (kp == NULL)
        return TV_ERR_INVALID;
    return crypto_box_keypair(kp->pk, kp->sk) == 0 ? 0 : TV_ERR_UNSUPPORTED;   /* an X25519 pair */
}

void tv_e2ee_keypair_wipe(tv_e2ee_keypair *kp)
{
    if (kp)
        sodium_memzero(kp, sizeof *kp);
}

void tv_e2ee_keys_wipe(tv_e2ee_keys *k)
{
    if (k)
        sodium_memzero(k, sizeof *k);
}

/* Each field is length-prefixed, so no two different contexts hash alike. */
static void absorb(crypto_generichash_state *h, const void *p, size_t n)
{
    uint8_t len[4] = { (uint8_t)(n >> 24), (uint8_t)(n >> 16), (uint8_t)(n >> 8), (uint8_t)n };
    crypto_generichash_update(h, len, sizeof len);
    crypto_generichash_update(h, p, n);
}

static int check_ctx(const tv_e2ee_context *c)
{
    if (c == NULL || c->visit_id == NULL || c->visit_id_len == 0 || c->visit_id_len > 256 ||
        c->clinician_fingerprint == NULL || c->patient_fingerprint == NULL ||
        c->clinician_fingerprint_len == 0 || c->patient_fingerprint_len == 0)
        return TV_ERR_INVALID;
    if (c->clinician_fingerprint_len > TV_E2EE_FINGERPRINT_MAX || c->patient_fingerprint_len > TV_E2EE_FINGERPRINT_MAX)
        return TV_ERR_TOO_LONG;
    return 0;
}

int tv_e2ee_derive(const tv_e2ee_keypair *mine, tv_visit_role my_role,
                   const uint8_t peer_pk[TV_E2EE_PUBLIC_BYTES], const tv_e2ee_context *ctx,
                   tv_e2ee_keys *out)
{
    int rc = check_ctx(ctx);
    if (rc != 0)
        return rc;
    if (mine == NULL || peer_pk == NULL || out == NULL ||
        (my_role != TV_ROLE_PATIENT && my_role != TV_ROLE_CLINICIAN))
        return TV_ERR_INVALID;
    if (sodium_memcmp(mine->pk, peer_pk, TV_E2EE_PUBLIC_BYTES) == 0)
        return TV_ERR_INVALID;
    uint8_t shared[32];
    if (crypto_scalarmult(shared, mine->sk, peer_pk) != 0)
        return TV_ERR_INVALID;   /* low-order point: the "shared" secret would be public */

    const uint8_t *clin_pk = my_role == TV_ROLE_CLINICIAN ? mine->pk : peer_pk;
    const uint8_t *pat_pk = my_role == TV_ROLE_CLINICIAN ? peer_pk : mine->pk;
    crypto_generichash_state h;
    static const char proto[] = "televisit e2ee v1";
    uint8_t suite[2] = { (uint8_t)(ctx->suite >> 8), (uint8_t)ctx->suite };
    uint8_t epochs[8];
    for (int i = 0; i < 4; i++) {
        epochs[i] = (uint8_t)(ctx->clinician_epoch >> (24 - 8 * i));
        epochs[4 + i] = (uint8_t)(ctx->patient_epoch >> (24 - 8 * i));
    }
    crypto_generichash_init(&h, NULL, 0, TV_E2EE_HASH_BYTES);
    absorb(&h, proto, sizeof proto - 1);
    absorb(&h, ctx->visit_id, ctx->visit_id_len);
    absorb(&h, suite, sizeof suite);
    absorb(&h, epochs, sizeof epochs);
    absorb(&h, clin_pk, TV_E2EE_PUBLIC_BYTES);
    absorb(&h, pat_pk, TV_E2EE_PUBLIC_BYTES);
    absorb(&h, ctx->clinician_fingerprint, ctx->clinician_fingerprint_len);
    absorb(&h, ctx->patient_fingerprint, ctx->patient_fingerprint_len);
    crypto_generichash_final(&h, out->transcript, TV_E2EE_HASH_BYTES);

    /* PRK = HKDF-Extract(salt = transcript, IKM = X25519 shared secret) */
    const mbedtls_md_info_t *md = mbedtls_md_info_from_type(MBEDTLS_MD_SHA256);
    uint8_t prk[32], c2p[32], p2c[32], sas[4];
    static const char l_c2p[] = "televisit 1 clinician to patient", l_p2c[] = "televisit 1 patient to clinician",
                      l_sas[] = "televisit 1 sas";
    rc = mbedtls_hkdf_extract(md, out->transcript, TV_E2EE_HASH_BYTES, shared, sizeof shared, prk);
    if (rc == 0)
        rc = mbedtls_hkdf_expand(md, prk, sizeof prk, (const uint8_t *)l_c2p, sizeof l_c2p - 1, c2p, sizeof c2p);
    if (rc == 0)
        rc = mbedtls_hkdf_expand(md, prk, sizeof prk, (const uint8_t *)l_p2c, sizeof l_p2c - 1, p2c, sizeof p2c);
    if (rc == 0)
        rc = mbedtls_hkdf_expand(md, prk, sizeof prk, (const uint8_t *)l_sas, sizeof l_sas - 1, sas, sizeof sas);
    if (rc == 0) {
        memcpy(out->send_key, my_role == TV_ROLE_CLINICIAN ? c2p : p2c, TV_E2EE_KEY_BYTES);
        memcpy(out->recv_key, my_role == TV_ROLE_CLINICIAN ? p2c : c2p, TV_E2EE_KEY_BYTES);
        out->sas = (((uint32_t)sas[0] << 24) | ((uint32_t)sas[1] << 16) | ((uint32_t)sas[2] << 8) | sas[3]) %
                   TV_E2EE_SAS_MODULUS;
        /* The generation names the pair of key pairs: 60 bits of a hash of the two public keys (public
         * anyway: it is in every frame's KID), never 0. Fingerprints and the rest bind the keys, not
         * the label, so a certificate swap shows as frames that fail authentication. */
        uint8_t gh[8];
        static const char gproto[] = "televisit e2ee generation v1";
        crypto_generichash_state gs;
        crypto_generichash_init(&gs, NULL, 0, sizeof gh);
        absorb(&gs, gproto, sizeof gproto - 1);
        absorb(&gs, clin_pk, TV_E2EE_PUBLIC_BYTES);
        absorb(&gs, pat_pk, TV_E2EE_PUBLIC_BYTES);
        crypto_generichash_final(&gs, gh, sizeof gh);
        uint64_t g = 0;
        for (int i = 0; i < 8; i++)
            g = (g << 8) | gh[i];
        out->generation = (g >> 4) | 1;
    }
    sodium_memzero(shared, sizeof shared);
    sodium_memzero(prk, sizeof prk);
    sodium_memzero(c2p, sizeof c2p);
    sodium_memzero(p2c, sizeof p2c);
    sodium_memzero(sas, sizeof sas);
    if (rc != 0) {
        tv_e2ee_keys_wipe(out);
        return TV_ERR_UNSUPPORTED;
    }
    return 0;
}

int tv_e2ee_commitment(const uint8_t pk[TV_E2EE_PUBLIC_BYTES], uint32_t epoch, const char *visit, size_t visit_len,
                       uint8_t out[TV_E2EE_COMMIT_BYTES])
{
    if (pk == NULL || out == NULL || visit == NULL || visit_len == 0 || visit_len > 256)
        return TV_ERR_INVALID;
    static const char proto[] = "televisit e2ee commit v1";
    uint8_t e[4] = { (uint8_t)(epoch >> 24), (uint8_t)(epoch >> 16), (uint8_t)(epoch >> 8), (uint8_t)epoch };
    crypto_generichash_state h;
    crypto_generichash_init(&h, NULL, 0, TV_E2EE_COMMIT_BYTES);
    absorb(&h, proto, sizeof proto - 1);
    absorb(&h, visit, visit_len);
    absorb(&h, e, sizeof e);
    absorb(&h, pk, TV_E2EE_PUBLIC_BYTES);
    crypto_generichash_final(&h, out, TV_E2EE_COMMIT_BYTES);
    return 0;
}

int tv_e2ee_commitment_check(const uint8_t commitment[TV_E2EE_COMMIT_BYTES], const uint8_t pk[TV_E2EE_PUBLIC_BYTES],
                             uint32_t epoch, const char *visit, size_t visit_len)
{
    uint8_t c[TV_E2EE_COMMIT_BYTES];
    if (commitment == NULL)
        return TV_ERR_INVALID;
    int rc = tv_e2ee_commitment(pk, epoch, visit, visit_len, c);
    if (rc != 0)
        return rc;
    return sodium_memcmp(c, commitment, sizeof c) == 0 ? 0 : TV_ERR_TOKEN_MISMATCH;
}

int tv_e2ee_sas_digits(uint32_t sas, char *out, size_t out_size)
{
    if (sas >= TV_E2EE_SAS_MODULUS)
        return TV_ERR_INVALID;
    return tv_otp_format(sas, 6, out, out_size);   /* the same zero-padded digits as a TOTP code */
}

int tv_e2ee_sas_symbols(uint32_t sas, uint8_t idx[TV_E2EE_SAS_SYMBOLS])
{
    if (idx == NULL || sas >= TV_E2EE_SAS_MODULUS)
        return TV_ERR_INVALID;
    for (int i = TV_E2EE_SAS_SYMBOLS - 1; i >= 0; i--) {
        idx[i] = (uint8_t)(sas & 31);
        sas >>= 5;
    }
    return 0;
}

const char *tv_e2ee_sas_symbol(unsigned idx)
{
    return idx < 32 ? symbols[idx] : NULL;
}
