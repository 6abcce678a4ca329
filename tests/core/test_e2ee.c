#include "tv_test.h"
#include "tv_e2ee.h"
#include "tv_sframe.h"

#include <sodium.h>

/* Deterministic key pairs, so the attack tests cannot pass or fail by chance. */
static void fixed_pair(tv_e2ee_keypair *kp, uint8_t seed)
{
    for (int i = 0; i < 32; i++)
        kp->sk[i] = (uint8_t)(seed * 31 + i);
    assert_int_equal(crypto_scalarmult_base(kp->pk, kp->sk), 0);
}

static const char fp_c[] = "sha-256 AA:BB:CC:DD:EE:FF:00:11:22:33:44:55:66:77:88:99:AA:BB:CC:DD:EE:FF:00:11:22:33:44:55:66:77:88:99";
static const char fp_p[] = "sha-256 01:23:45:67:89:AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:67:89:AB:CD:EF";

static tv_e2ee_context ctx_for(const char *visit, const char *fc, const char *fpat)
{
    tv_e2ee_context c = { visit, strlen(visit), TV_SFRAME_CHACHA20_POLY1305_SHA256_128, 0, 0,
                          fc, strlen(fc), fpat, strlen(fpat) };
    return c;
}

static void both_sides_agree(void **s)
{
    (void)s;
    tv_e2ee_keypair c, p;
    assert_int_equal(tv_e2ee_keypair_generate(&c), 0);
    assert_int_equal(tv_e2ee_keypair_generate(&p), 0);
    tv_e2ee_context ctx = ctx_for("v_42", fp_c, fp_p);
    tv_e2ee_keys kc, kp;
    assert_int_equal(tv_e2ee_derive(&c, TV_ROLE_CLINICIAN, p.pk, &ctx, &kc), 0);
    assert_int_equal(tv_e2ee_derive(&p, TV_ROLE_PATIENT, c.pk, &ctx, &kp), 0);
    assert_memory_equal(kc.send_key, kp.recv_key, TV_E2EE_KEY_BYTES);
    assert_memory_equal(kc.recv_key, kp.send_key, TV_E2EE_KEY_BYTES);
    assert_memory_not_equal(kc.send_key, kc.recv_key, TV_E2EE_KEY_BYTES);
    assert_memory_equal(kc.transcript, kp.transcript, TV_E2EE_HASH_BYTES);
    assert_int_equal(kc.sas, kp.sas);
    assert_int_equal(kc.generation, kp.generation);

    /* The keys work as SFrame base keys: what the clinician sends, the patient reads. */
    tv_sframe_key tx, rx;
    assert_int_equal(tv_sframe_key_init(&tx, TV_SFRAME_CHACHA20_POLY1305_SHA256_128, 1, kc.send_key, 32), 0);
    assert_int_equal(tv_sframe_key_init(&rx, TV_SFRAME_CHACHA20_POLY1305_SHA256_128, 1, kp.recv_key, 32), 0);
    uint8_t frame[64], back[64];
    size_t n, m;
    assert_int_equal(tv_sframe_encrypt(&tx, 9, NULL, 0, (const uint8_t *)"hello", 5, frame, sizeof frame, &n), 0);
    assert_int_equal(tv_sframe_decrypt(&rx, NULL, 0, frame, n, back, sizeof back, &m, NULL), 0);
    assert_memory_equal(back, "hello", 5);
    tv_sframe_key_wipe(&tx);
    tv_sframe_key_wipe(&rx);
    tv_e2ee_keys_wipe(&kc);
    tv_e2ee_keys_wipe(&kp);
    tv_e2ee_keypair_wipe(&c);
    tv_e2ee_keypair_wipe(&p);
    static const uint8_t zero[sizeof(tv_e2ee_keypair)];
    assert_memory_equal(&c, zero, sizeof c);
}

/* A signaling server in the middle gives each side its own key instead of the peer's. It can then
 * read both halves, but the two people see different strings. */
static void substituted_keys_change_the_sas(void **s)
{
    (void)s;
    tv_e2ee_keypair c, p, m1, m2;
    fixed_pair(&c, 1);
    fixed_pair(&p, 2);
    fixed_pair(&m1, 3);
    fixed_pair(&m2, 4);
    tv_e2ee_context ctx = ctx_for("v_42", fp_c, fp_p);
    tv_e2ee_keys kc, kp, honest_c, honest_p;
    assert_int_equal(tv_e2ee_derive(&c, TV_ROLE_CLINICIAN, m2.pk, &ctx, &kc), 0);
    assert_int_equal(tv_e2ee_derive(&p, TV_ROLE_PATIENT, m1.pk, &ctx, &kp), 0);
    assert_int_not_equal(kc.sas, kp.sas);
    assert_memory_not_equal(kc.transcript, kp.transcript, TV_E2EE_HASH_BYTES);
    /* ... while without the substitution the same key pairs agree. */
    assert_int_equal(tv_e2ee_derive(&c, TV_ROLE_CLINICIAN, p.pk, &ctx, &honest_c), 0);
    assert_int_equal(tv_e2ee_derive(&p, TV_ROLE_PATIENT, c.pk, &ctx, &honest_p), 0);
    assert_int_equal(honest_c.sas, honest_p.sas);
}

/* The same with certificates: a relay terminating DTLS on each side shows each a different
 * fingerprint for the other; the transcript differs, and so does the string. */
static void substituted_fingerprints_change_the_sas(void **s)
{
    (void)s;
    tv_e2ee_keypair c, p;
    fixed_pair(&c, 5);
    fixed_pair(&p, 6);
    const char *fake = "sha-256 FF:FF:FF:FF:FF:FF:FF:FF:FF:FF:FF:FF:FF:FF:FF:FF:FF:FF:FF:FF:FF:FF:FF:FF:FF:FF:FF:FF:FF:FF:FF:FF";
    tv_e2ee_context seen_by_c = ctx_for("v_42", fp_c, fake), seen_by_p = ctx_for("v_42", fp_c, fp_p);
    tv_e2ee_keys kc, kp;
    assert_int_equal(tv_e2ee_derive(&c, TV_ROLE_CLINICIAN, p.pk, &seen_by_c, &kc), 0);
    assert_int_equal(tv_e2ee_derive(&p, TV_ROLE_PATIENT, c.pk, &seen_by_p, &kp), 0);
    assert_int_not_equal(kc.sas, kp.sas);
    assert_memory_not_equal(kc.recv_key, kp.send_key, TV_E2EE_KEY_BYTES);
    /* Another visit, or another suite, gives other keys too. */
    tv_e2ee_context other = ctx_for("v_43", fp_c, fp_p);
    tv_e2ee_keys ko;
    assert_int_equal(tv_e2ee_derive(&p, TV_ROLE_PATIENT, c.pk, &other, &ko), 0);
    assert_memory_not_equal(ko.send_key, kp.send_key, TV_E2EE_KEY_BYTES);
    other = seen_by_p;
    other.suite = TV_SFRAME_AES_128_GCM_SHA256_128;
    assert_int_equal(tv_e2ee_derive(&p, TV_ROLE_PATIENT, c.pk, &other, &ko), 0);
    assert_memory_not_equal(ko.send_key, kp.send_key, TV_E2EE_KEY_BYTES);
}

static void hostile_peer_keys_refused(void **s)
{
    (void)s;
    tv_e2ee_keypair c;
    fixed_pair(&c, 7);
    tv_e2ee_context ctx = ctx_for("v_42", fp_c, fp_p);
    tv_e2ee_keys k;
    static const uint8_t zero[32];
    /* A point of order 8 on Curve25519 (from the libsodium and RFC 7748 blocklists). */
    static const uint8_t order8[32] = {
        0xe0, 0xeb, 0x7a, 0x7c, 0x3b, 0x41, 0xb8, 0xae, 0x16, 0x56, 0xe3, 0xfa, 0xf1, 0x9f, 0xc4, 0x6a,
        0xda, 0x09, 0x8d, 0xeb, 0x9c, 0x32, 0xb1, 0xfd, 0x86, 0x62, 0x05, 0x16, 0x5f, 0x49, 0xb8, 0x00 };
    assert_int_equal(tv_e2ee_derive(&c, TV_ROLE_CLINICIAN, zero, &ctx, &k), TV_ERR_INVALID);
    assert_int_equal(tv_e2ee_derive(&c, TV_ROLE_CLINICIAN, order8, &ctx, &k), TV_ERR_INVALID);
    assert_int_equal(tv_e2ee_derive(&c, TV_ROLE_CLINICIAN, c.pk, &ctx, &k), TV_ERR_INVALID);   /* reflected */
    tv_e2ee_context bad = ctx;
    bad.visit_id_len = 0;
    /* a valid peer key, so only the context or the role can be the reason */
    tv_e2ee_keypair p;
    fixed_pair(&p, 8);
    assert_int_equal(tv_e2ee_derive(&c, TV_ROLE_CLINICIAN, p.pk, &ctx, &k), 0);
    assert_int_equal(tv_e2ee_derive(&c, TV_ROLE_CLINICIAN, p.pk, &bad, &k), TV_ERR_INVALID);
    bad = ctx;
    bad.patient_fingerprint_len = TV_E2EE_FINGERPRINT_MAX + 1;
    assert_int_equal(tv_e2ee_derive(&c, TV_ROLE_CLINICIAN, p.pk, &bad, &k), TV_ERR_TOO_LONG);
    assert_int_equal(tv_e2ee_derive(&c, (tv_visit_role)9, p.pk, &ctx, &k), TV_ERR_INVALID);
}

/* Commit, then reveal: the commitment binds the key, its epoch and the visit. */
static void commitments(void **s)
{
    (void)s;
    tv_e2ee_keypair c, m;
    fixed_pair(&c, 11);
    fixed_pair(&m, 12);
    uint8_t com[TV_E2EE_COMMIT_BYTES];
    assert_int_equal(tv_e2ee_commitment(c.pk, 3, "v_42", 4, com), 0);
    assert_int_equal(tv_e2ee_commitment_check(com, c.pk, 3, "v_42", 4), 0);
    assert_int_equal(tv_e2ee_commitment_check(com, m.pk, 3, "v_42", 4), TV_ERR_TOKEN_MISMATCH);   /* another key */
    assert_int_equal(tv_e2ee_commitment_check(com, c.pk, 4, "v_42", 4), TV_ERR_TOKEN_MISMATCH);   /* another epoch */
    assert_int_equal(tv_e2ee_commitment_check(com, c.pk, 3, "v_43", 4), TV_ERR_TOKEN_MISMATCH);   /* another visit */
    assert_int_equal(tv_e2ee_commitment(c.pk, 3, "", 0, com), TV_ERR_INVALID);
}

/* A relay that changes an epoch in transit changes the transcript: the strings differ. */
static void epochs_are_bound(void **s)
{
    (void)s;
    tv_e2ee_keypair c, p;
    fixed_pair(&c, 13);
    fixed_pair(&p, 14);
    tv_e2ee_context a = ctx_for("v_42", fp_c, fp_p), b = a;
    b.patient_epoch = 1;
    tv_e2ee_keys ka, kb;
    assert_int_equal(tv_e2ee_derive(&c, TV_ROLE_CLINICIAN, p.pk, &a, &ka), 0);
    assert_int_equal(tv_e2ee_derive(&p, TV_ROLE_PATIENT, c.pk, &b, &kb), 0);
    assert_int_not_equal(ka.sas, kb.sas);
    /* same key pairs, same label; the keys under it differ, so frames fail authentication */
    assert_int_equal(ka.generation, kb.generation);
    assert_memory_not_equal(ka.send_key, kb.recv_key, TV_E2EE_KEY_BYTES);
}

static void sas_forms(void **s)
{
    (void)s;
    char d[7];
    assert_int_equal(tv_e2ee_sas_digits(42, d, sizeof d), 0);
    assert_string_equal(d, "000042");
    assert_int_equal(tv_e2ee_sas_digits(999999, d, sizeof d), 0);
    assert_string_equal(d, "999999");
    assert_int_equal(tv_e2ee_sas_digits(1000000, d, sizeof d), TV_ERR_INVALID);
    assert_int_equal(tv_e2ee_sas_digits(1, d, 6), TV_ERR_NOSPACE);
    /* Symbols and digits say the same thing: decoding the symbols gives the value back. */
    for (uint32_t v = 0; v < TV_E2EE_SAS_MODULUS; v += 997) {
        uint8_t idx[TV_E2EE_SAS_SYMBOLS];
        assert_int_equal(tv_e2ee_sas_symbols(v, idx), 0);
        uint32_t back = 0;
        for (int i = 0; i < TV_E2EE_SAS_SYMBOLS; i++) {
            assert_true(idx[i] < 32);
            back = back * 32 + idx[i];
        }
        assert_int_equal(back, v);
    }
    for (unsigned i = 0; i < 32; i++) {
        assert_non_null(tv_e2ee_sas_symbol(i));
        for (unsigned j = 0; j < i; j++)
            assert_string_not_equal(tv_e2ee_sas_symbol(i), tv_e2ee_sas_symbol(j));
    }
    assert_null(tv_e2ee_sas_symbol(32));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(both_sides_agree),
        cmocka_unit_test(substituted_keys_change_the_sas),
        cmocka_unit_test(substituted_fingerprints_change_the_sas),
        cmocka_unit_test(hostile_peer_keys_refused),
        cmocka_unit_test(commitments),
        cmocka_unit_test(epochs_are_bound),
        cmocka_unit_test(sas_forms),
    };
    return TV_RUN(tests);
}
