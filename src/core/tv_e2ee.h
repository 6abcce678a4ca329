/* End-to-end key agreement for a call: a fresh X25519 key pair per participant per call, and
 * from the two public keys, the visit id and both DTLS fingerprints a transcript hash, one
 * SFrame base key per direction and a short authentication string the two people compare.
 * A signaling server that substitutes keys or certificates changes the string on each side. */
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
} tv_e2ee_keys;

int tv_e2ee_keypair_generate(tv_e2ee_keypair *kp);
void tv_e2ee_keypair_wipe(tv_e2ee_keypair *kp);

/* Derives this side's keys. TV_ERR_INVALID for a low-order peer key (an all-zero shared secret) or a
 * peer key equal to our own (a reflected key). */
int tv_e2ee_derive(const tv_e2ee_keypair *mine, tv_visit_role my_role,
                   const uint8_t peer_pk[TV_E2EE_PUBLIC_BYTES], const tv_e2ee_context *ctx,
                   tv_e2ee_keys *out);

void tv_e2ee_keys_wipe(tv_e2ee_keys *k);

/* The SAS as six ASCII digits (out_size >= 7). */
int tv_e2ee_sas_digits(uint32_t sas, char *out, size_t out_size);

/* The SAS as TV_E2EE_SAS_SYMBOLS indices (0-31) into tv_e2ee_sas_symbol(); a bijection with the digits. */
int tv_e2ee_sas_symbols(uint32_t sas, uint8_t idx[TV_E2EE_SAS_SYMBOLS]);

/* The symbol for an index: an emoji with a name, as UTF-8 ("🐶 dog"); NULL outside 0-31. */
const char *tv_e2ee_sas_symbol(unsigned idx);

#endif
