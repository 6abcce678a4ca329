#include "tv_media.h"
#include "tv_err.h"

#include <mbedtls/hkdf.h>
#include <sodium.h>
#include <string.h>

int tv_media_init(tv_media *m, tv_sframe_suite suite, tv_media_codec codec)
{
    if (m == NULL || (codec != TV_MEDIA_OPUS && codec != TV_MEDIA_VP8))
        return TV_ERR_INVALID;
    memset(m, 0, sizeof *m);
    m->codec = codec;
    return tv_sframe_receiver_init(&m->rx, suite);
}

/* This kind's own base key: HKDF-SHA256(IKM = the agreed key, info = a label naming the kind). */
static int kind_key(const tv_media *m, const uint8_t *key, size_t key_len, uint8_t out[32])
{
    static const char audio[] = "televisit 1 media opus", video[] = "televisit 1 media vp8";
    const char *label = m->codec == TV_MEDIA_OPUS ? audio : video;
    if (key == NULL || key_len == 0 || key_len > TV_SFRAME_BASE_MAX)
        return TV_ERR_INVALID;
    return mbedtls_hkdf(mbedtls_md_info_from_type(MBEDTLS_MD_SHA256), NULL, 0, key, key_len,
                        (const uint8_t *)label, strlen(label), out, 32) == 0 ? 0 : TV_ERR_UNSUPPORTED;
}

int tv_media_set_send_key(tv_media *m, uint64_t generation, const uint8_t *key, size_t key_len)
{
    uint8_t k[32];
    if (m == NULL)
        return TV_ERR_INVALID;
    int rc = kind_key(m, key, key_len, k);
    if (rc == 0)
        rc = m->have_tx ? tv_sframe_sender_rekey(&m->tx, generation, k, sizeof k)
                        : tv_sframe_sender_init(&m->tx, m->rx.suite, generation, k, sizeof k);
    sodium_memzero(k, sizeof k);
    if (rc == 0)
        m->have_tx = 1;
    return rc;
}

int tv_media_add_recv_key(tv_media *m, uint64_t generation, const uint8_t *key, size_t key_len)
{
    uint8_t k[32];
    if (m == NULL)
        return TV_ERR_INVALID;
    int rc = kind_key(m, key, key_len, k);
    if (rc == 0)
        rc = tv_sframe_receiver_add(&m->rx, generation, k, sizeof k);
    sodium_memzero(k, sizeof k);
    return rc;
}

int tv_media_ratchet(tv_media *m)
{
    return m == NULL || !m->have_tx ? TV_ERR_INVALID : tv_sframe_sender_ratchet(&m->tx);
}

size_t tv_media_clear_prefix(tv_media_codec codec, const uint8_t *frame, size_t len)
{
    size_t n = 0;
    if (codec == TV_MEDIA_OPUS)
        n = 1;   /* the TOC byte */
    else if (codec == TV_MEDIA_VP8)
        /* RFC 6386 section 9.1: bit 0 of the frame tag is 0 on key frames, which carry 7 more
         * bytes (start code and dimensions) the depacketizer and decoder setup read. */
        n = len > 0 && (frame[0] & 1) == 0 ? 10 : 3;
    return n;
}

static void count_failure(tv_media_stats *s, int rc)
{
    switch (rc) {
    case TV_ERR_SFRAME_AUTH: s->fail_auth++; break;
    case TV_ERR_SFRAME_REPLAY: s->fail_replay++; break;
    case TV_ERR_SFRAME_KID: s->fail_kid++; break;
    case TV_ERR_SFRAME_HEADER: s->fail_header++; break;
    case TV_ERR_SFRAME_SHORT: s->fail_short++; break;
    default: s->fail_other++;
    }
}

int tv_media_encrypt(tv_media *m, const uint8_t *frame, size_t len,
                     uint8_t *out, size_t out_size, size_t *out_len)
{
    if (m == NULL)
        return TV_ERR_INVALID;
    if (!m->have_tx || (frame == NULL && len > 0) || out == NULL) {
        m->stats.send_dropped++;   /* before the keys are agreed, nothing leaves in clear */
        return TV_ERR_INVALID;
    }
    tv_media_codec codec = m->codec;
    /* A frame shorter than the bytes its codec keeps clear is malformed: the receiver could not
     * find the same split, so it is refused rather than sent with a guessed one. */
    size_t p = tv_media_clear_prefix(codec, frame, len), n;
    int rc = len < p ? TV_ERR_SFRAME_SHORT : out_size < p ? TV_ERR_NOSPACE
                                           : tv_sframe_sender_protect(&m->tx, frame, p, frame + p, len - p, out + p,
                                                                      out_size - p, &n);
    if (rc != 0) {
        m->stats.send_dropped++;
        return rc;
    }
    memcpy(out, frame, p);
    m->stats.encrypted++;
    m->stats.send_kid = tv_sframe_sender_kid(&m->tx);
    if (out_len)
        *out_len = p + n;
    return 0;
}

int tv_media_decrypt(tv_media *m, const uint8_t *frame, size_t len,
                     uint8_t *out, size_t out_size, size_t *out_len)
{
    if (m == NULL || (frame == NULL && len > 0) || out == NULL)
        return TV_ERR_INVALID;
    tv_media_codec codec = m->codec;
    /* The prefix rule reads the clear bytes as sent; if an attacker flips the key-frame bit, the
     * split moves and authentication fails. */
    size_t p = tv_media_clear_prefix(codec, frame, len), n;
    uint64_t kid = 0;
    int rc = len < p ? TV_ERR_SFRAME_SHORT : out_size < p ? TV_ERR_NOSPACE
                          : tv_sframe_receiver_unprotect(&m->rx, frame, p, frame + p, len - p, out + p,
                                                         out_size - p, &n, &kid);
    if (rc != 0) {
        count_failure(&m->stats, rc);
        sodium_memzero(out, out_size < len ? out_size : len);
        return rc;
    }
    memcpy(out, frame, p);
    m->stats.decrypted++;
    m->stats.recv_kid = kid;
    if (out_len)
        *out_len = p + n;
    return 0;
}

void tv_media_wipe(tv_media *m)
{
    if (m == NULL)
        return;
    tv_sframe_sender_wipe(&m->tx);
    tv_sframe_receiver_wipe(&m->rx);
    sodium_memzero(m, sizeof *m);
}
