#include "tv_worker.h"

#include "tv_e2ee.h"
#include "tv_err.h"
#include "tv_media.h"

#include <sodium.h>
#include <stdlib.h>
#include <string.h>

typedef struct call {
    tv_visit_role role;
    tv_sframe_suite suite;
    uint32_t epoch;
    tv_e2ee_keypair kp;
    int committed;                               /* clinician: its commitment has gone out */
    int have_commitment;                         /* patient: holds the clinician's commitment */
    uint8_t commitment[TV_E2EE_COMMIT_BYTES];
    uint32_t peer_epoch;
    int derived;                                 /* this key pair has served its exchange */
    tv_media audio, video;
} call;

static int epoch_ok(double e)
{
    return e >= 0 && e <= 4294967295.0 && e == (double)(uint32_t)e;
}

static tv_media *kind(call *c, int codec)
{
    return codec == TV_MEDIA_OPUS ? &c->audio : codec == TV_MEDIA_VP8 ? &c->video : NULL;
}

void *tv_worker_call_new(int role, int suite)
{
    call *c = calloc(1, sizeof *c);
    if (c == NULL)
        return NULL;
    c->role = (tv_visit_role)role;
    c->suite = (tv_sframe_suite)suite;
    if ((role != TV_ROLE_PATIENT && role != TV_ROLE_CLINICIAN) || tv_e2ee_keypair_generate(&c->kp) != 0 ||
        tv_media_init(&c->audio, c->suite, TV_MEDIA_OPUS) != 0 ||
        tv_media_init(&c->video, c->suite, TV_MEDIA_VP8) != 0) {
        tv_worker_call_free(c);
        return NULL;
    }
    return c;
}

void tv_worker_call_free(void *p)
{
    call *c = p;
    if (c == NULL)
        return;
    tv_media_wipe(&c->audio);
    tv_media_wipe(&c->video);
    sodium_memzero(c, sizeof *c);
    free(c);
}

int tv_worker_call_commitment(void *p, const char *visit, size_t visit_len, uint8_t *out)
{
    call *c = p;
    if (c == NULL || c->role != TV_ROLE_CLINICIAN || c->derived)
        return TV_ERR_STATE_ILLEGAL;
    int rc = tv_e2ee_commitment(c->kp.pk, c->epoch, visit, visit_len, out);
    if (rc == 0)
        c->committed = 1;
    return rc;
}

int tv_worker_call_accept_commitment(void *p, const uint8_t *commitment, double peer_epoch)
{
    call *c = p;
    if (c == NULL || c->role != TV_ROLE_PATIENT || c->derived || c->have_commitment)
        return TV_ERR_STATE_ILLEGAL;
    if (commitment == NULL || !epoch_ok(peer_epoch))
        return TV_ERR_INVALID;
    memcpy(c->commitment, commitment, sizeof c->commitment);
    c->peer_epoch = (uint32_t)peer_epoch;
    c->have_commitment = 1;
    return 0;
}

int tv_worker_call_public_key(const void *p, uint8_t *out)
{
    const call *c = p;
    if (c == NULL || out == NULL)
        return TV_ERR_INVALID;
    /* The patient reveals once it holds the commitment; the clinician once it has derived. */
    if ((c->role == TV_ROLE_PATIENT && !c->have_commitment) || (c->role == TV_ROLE_CLINICIAN && !c->derived))
        return TV_ERR_STATE_ILLEGAL;
    for (int i = 0; i < TV_E2EE_PUBLIC_BYTES; i++)
        out[i] = c->kp.pk[i];
    return 0;
}

double tv_worker_call_epoch(const void *p)
{
    return p ? (double)((const call *)p)->epoch : -1;
}

int tv_worker_call_rekey(void *p)
{
    call *c = p;
    if (c == NULL)
        return TV_ERR_INVALID;
    tv_e2ee_keypair_wipe(&c->kp);
    c->epoch++;
    c->committed = c->have_commitment = c->derived = 0;
    sodium_memzero(c->commitment, sizeof c->commitment);
    return tv_e2ee_keypair_generate(&c->kp);
}

int tv_worker_call_derive(void *p, const uint8_t *peer_pk, double peer_epoch,
                          const char *visit, size_t visit_len, const char *local_fp, size_t local_fp_len,
                          const char *remote_fp, size_t remote_fp_len, uint32_t *sas)
{
    call *c = p;
    if (c == NULL || sas == NULL || peer_pk == NULL || !epoch_ok(peer_epoch))
        return TV_ERR_INVALID;
    /* One exchange per key pair: the same pair twice could rebuild an old transcript, and with it an
     * old key whose counters would start again. */
    if (c->derived || (c->role == TV_ROLE_CLINICIAN && !c->committed) ||
        (c->role == TV_ROLE_PATIENT && !c->have_commitment))
        return TV_ERR_STATE_ILLEGAL;
    if (c->role == TV_ROLE_PATIENT &&
        (c->peer_epoch != (uint32_t)peer_epoch ||
         tv_e2ee_commitment_check(c->commitment, peer_pk, c->peer_epoch, visit, visit_len) != 0))
        return TV_ERR_TOKEN_MISMATCH;   /* not the key the clinician committed to */
    int clin = c->role == TV_ROLE_CLINICIAN;
    tv_e2ee_context ctx = { visit, visit_len, (uint16_t)c->suite,
                            clin ? c->epoch : (uint32_t)peer_epoch, clin ? (uint32_t)peer_epoch : c->epoch,
                            clin ? local_fp : remote_fp, clin ? local_fp_len : remote_fp_len,
                            clin ? remote_fp : local_fp, clin ? remote_fp_len : local_fp_len };
    tv_e2ee_keys k;
    int rc = tv_e2ee_derive(&c->kp, c->role, peer_pk, &ctx, &k);
    if (rc != 0)
        return rc;
    rc = tv_media_set_send_key(&c->audio, k.generation, k.send_key, sizeof k.send_key);
    if (rc == 0) rc = tv_media_set_send_key(&c->video, k.generation, k.send_key, sizeof k.send_key);
    if (rc == 0) rc = tv_media_add_recv_key(&c->audio, k.generation, k.recv_key, sizeof k.recv_key);
    if (rc == 0) rc = tv_media_add_recv_key(&c->video, k.generation, k.recv_key, sizeof k.recv_key);
    if (rc == 0) {
        *sas = k.sas;
        c->derived = 1;
    }
    tv_e2ee_keys_wipe(&k);
    return rc;
}

int tv_worker_ratchet(void *p)
{
    call *c = p;
    if (c == NULL || !c->derived)
        return TV_ERR_STATE_ILLEGAL;
    int rc = tv_media_ratchet(&c->audio);
    return rc == 0 ? tv_media_ratchet(&c->video) : rc;
}

int tv_worker_encrypt(void *p, int codec, const uint8_t *in, size_t len, uint8_t *out, size_t out_size,
                      size_t *out_len)
{
    tv_media *m = p ? kind(p, codec) : NULL;
    return m ? tv_media_encrypt(m, in, len, out, out_size, out_len) : TV_ERR_INVALID;
}

int tv_worker_decrypt(void *p, int codec, const uint8_t *in, size_t len, uint8_t *out, size_t out_size,
                      size_t *out_len)
{
    tv_media *m = p ? kind(p, codec) : NULL;
    return m ? tv_media_decrypt(m, in, len, out, out_size, out_len) : TV_ERR_INVALID;
}

int tv_worker_simd(void)
{
    /* libsodium picks its SSSE3 ChaCha20 exactly when this says yes (sodium_init must have run) */
    return sodium_runtime_has_ssse3() ? 1 : 0;
}

int tv_worker_stats(const void *p, int codec, double *out)
{
    const tv_media *m = p ? kind((call *)p, codec) : NULL;
    if (m == NULL || out == NULL)
        return TV_ERR_INVALID;
    const tv_media_stats *s = &m->stats;
    const uint64_t v[11] = { s->encrypted, s->decrypted, s->fail_auth, s->fail_replay, s->fail_kid,
                             s->fail_header, s->fail_short, s->fail_other, s->send_kid, s->recv_kid,
                             s->send_dropped };
    for (int i = 0; i < 11; i++)
        out[i] = (double)v[i];
    return 0;
}
