/* End-to-end key agreement for a call: a fresh X25519 key pair per participant per exchange, and
 * from the two public keys, their epochs, the visit id and both DTLS fingerprints a transcript hash,
 * one SFrame base key per direction and a short authentication string the two people compare.
 * Commit, then reveal (as ZRTP): the clinician sends a commitment to its public key first, the patient
 * reveals its key only once it holds the commitment, and the clinician reveals last. A signaling
 * server that substitutes keys must fix its keys before it sees a real one, so it cannot search for
 * a substitute that makes the two strings agree: it succeeds once in 10^6, and shows otherwise. */
#ifndef TV_E2EE_H
#define TV_E2EE_H

#include <stddef.h>
#include <stdint.h>

#include "tv_visit.h"

#define TV_E2EE_PUBLIC_BYTES 32
#define TV_E2EE_SECRET_BYTES 32
#define TV_E2EE_KEY_BYTES 32
#define TV_E2EE_HASH_BYTES 32
#define TV_E2EE_SAS_MODULUS 1000000u     /* six digits */
#define TV_E2EE_SAS_SYMBOLS 4            /* the same value as four symbols of 32: 32^4 > 10^6 */
#define TV_E2EE_FINGERPRINT_MAX 256
#define TV_E2EE_COMMIT_BYTES 32

typedef struct tv_e2ee_keypair {
    uint8_t pk[TV_E2EE_PUBLIC_BYTES];
    uint8_t sk[TV_E2EE_SECRET_BYTES];
} tv_e2ee_keypair;

/* What both sides must agree on. Fingerprints are the SDP a=fingerprint values
 * ("sha-256 AB:CD:..."), the clinician's and the patient's, each as its own side sees it. */
typedef struct tv_e2ee_context {
    const char *visit_id;
    size_t visit_id_len;
    uint16_t suite;                      /* the SFrame suite in use, bound too */
    uint32_t clinician_epoch;            /* each side's key pair number (0, then +1 per new pair) */
    uint32_t patient_epoch;
    const char *clinician_fingerprint;
    size_t clinician_fingerprint_len;
    const char *patient_fingerprint;
    size_t patient_fingerprint_len;
} tv_e2ee_context;

typedef struct tv_e2ee_keys {
    uint8_t send_key[TV_E2EE_KEY_BYTES];   /* SFrame base key for what this side sends */
    uint8_t recv_key[TV_E2EE_KEY_BYTES];   /* ... and for what it receives */
    uint8_t transcript[TV_E2EE_HASH_BYTES];
    uint32_t sas;                          /* 0 to 999999, shown as six digits */
    uint64_t generation;                   /* SFrame KID generation: names the two public keys (60 bits),
                                              the same on both sides, new with every new key pair */
} tv_e2ee_keys;

int tv_e2ee_keypair_generate(tv_e2ee_keypair *kp);
void tv_e2ee_keypair_wipe(tv_e2ee_keypair *kp);

/* Derives this side's keys. TV_ERR_INVALID for a low-order peer key (an all-zero shared secret) or a
 * peer key equal to our own (a reflected key). */
int tv_e2ee_derive(const tv_e2ee_keypair *mine, tv_visit_role my_role,
                   const uint8_t peer_pk[TV_E2EE_PUBLIC_BYTES], const tv_e2ee_context *ctx,
                   tv_e2ee_keys *out);

void tv_e2ee_keys_wipe(tv_e2ee_keys *k);

/* The commitment to a public key: BLAKE2b-256("televisit e2ee commit v1", visit, epoch, pk). */
int tv_e2ee_commitment(const uint8_t pk[TV_E2EE_PUBLIC_BYTES], uint32_t epoch, const char *visit, size_t visit_len,
                       uint8_t out[TV_E2EE_COMMIT_BYTES]);

/* 0 if pk (with its epoch) is the one committed to, TV_ERR_TOKEN_MISMATCH otherwise (constant time). */
int tv_e2ee_commitment_check(const uint8_t commitment[TV_E2EE_COMMIT_BYTES], const uint8_t pk[TV_E2EE_PUBLIC_BYTES],
                             uint32_t epoch, const char *visit, size_t visit_len);

/* The SAS as six ASCII digits (out_size >= 7). */
int tv_e2ee_sas_digits(uint32_t sas, char *out, size_t out_size);

/* The SAS as TV_E2EE_SAS_SYMBOLS indices (0-31) into tv_e2ee_sas_symbol(); a bijection with the digits. */
int tv_e2ee_sas_symbols(uint32_t sas, uint8_t idx[TV_E2EE_SAS_SYMBOLS]);

/* The symbol for an index: an emoji with a name, as UTF-8 ("🐶 dog"); NULL outside 0-31. */
const char *tv_e2ee_sas_symbol(unsigned idx);

#endif
