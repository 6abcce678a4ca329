/* The SFrame state of one direction of a call (RFC 9605 section 5.1, sender keys): the sender's
 * counter and key ratchet, and the receiver's keys with a replay window each. KID = generation << R |
 * ratchet step mod 2^R: a new generation is a new base key from the key agreement (a rejoin), a
 * ratchet step is forward secrecy within one. Keys change here, never by replacing a transform. */
#ifndef TV_SFRAME_CTX_H
#define TV_SFRAME_CTX_H

#include "tv_sframe.h"

#define TV_SFRAME_RATCHET_BITS 4     /* R: up to 16 ratchet steps in flight */
#define TV_SFRAME_RX_KEYS 4          /* keys a receiver holds at once (rotation and reordering) */
#define TV_SFRAME_REPLAY_WINDOW 128  /* counters behind the newest one still accepted, once each */
#define TV_SFRAME_BASE_MAX 64        /* Nh of the largest suite hash */

typedef struct tv_sframe_sender {
    tv_sframe_suite suite;
    uint64_t generation, step, ctr;
    uint8_t base[TV_SFRAME_BASE_MAX];
    size_t base_len;
    tv_sframe_key key;
} tv_sframe_sender;

typedef struct tv_sframe_rx_key {
    int used;
    uint64_t kid, newest, age;
    uint64_t seen[TV_SFRAME_REPLAY_WINDOW / 64];   /* bit i: newest - i was received */
    int any;                                       /* a frame was accepted under this key */
    tv_sframe_key key;
} tv_sframe_rx_key;

typedef struct tv_sframe_rx_gen {
    int used;
    uint64_t added;                                /* when it was added, for eviction */
    uint64_t generation, step;                     /* the newest ratchet step confirmed */
    int installed;                                 /* that step's key has been in a slot: never
                                                      derive it again, its replay state would be lost */
    uint8_t base[TV_SFRAME_BASE_MAX];              /* the base key at that step */
    size_t base_len;
} tv_sframe_rx_gen;

typedef struct tv_sframe_receiver {
    tv_sframe_suite suite;
    uint64_t clock;                                /* for least-recently-used eviction */
    tv_sframe_rx_gen gens[2];                      /* the current generation and the one before */
    tv_sframe_rx_key keys[TV_SFRAME_RX_KEYS];
} tv_sframe_receiver;

/* base_key: the sender's base key for this generation (from tv_e2ee). */
int tv_sframe_sender_init(tv_sframe_sender *s, tv_sframe_suite suite, uint64_t generation,
                          const uint8_t *base_key, size_t base_len);
/* A new generation (new base key): counters restart, the old key is wiped. The generation must differ
 * from the current one, and a caller must never bring back an old (generation, key). */
int tv_sframe_sender_rekey(tv_sframe_sender *s, uint64_t generation, const uint8_t *base_key, size_t base_len);
/* One ratchet step forward: the old base key and key are wiped. */
int tv_sframe_sender_ratchet(tv_sframe_sender *s);
uint64_t tv_sframe_sender_kid(const tv_sframe_sender *s);
/* Encrypts with the next counter, which is never used again under this key. */
int tv_sframe_sender_protect(tv_sframe_sender *s, const uint8_t *metadata, size_t metadata_len,
                             const uint8_t *pt, size_t pt_len, uint8_t *out, size_t out_size, size_t *out_len);
void tv_sframe_sender_wipe(tv_sframe_sender *s);

int tv_sframe_receiver_init(tv_sframe_receiver *r, tv_sframe_suite suite);
/* Accepts the peer's base key for a generation; the previous generation stays usable until a third
 * arrives, so frames in flight across a rekey still decode. */
int tv_sframe_receiver_add(tv_sframe_receiver *r, uint64_t generation, const uint8_t *base_key, size_t base_len);
/* Decrypts a frame. A KID a few ratchet steps ahead is derived and kept only if the frame
 * authenticates, so a forged header cannot make the receiver drop keys. Errors: TV_ERR_SFRAME_KID
 * (unknown generation or step too far), _AUTH, _REPLAY, _HEADER, _SHORT. */
int tv_sframe_receiver_unprotect(tv_sframe_receiver *r, const uint8_t *metadata, size_t metadata_len,
                                 const uint8_t *in, size_t in_len, uint8_t *out, size_t out_size,
                                 size_t *out_len, uint64_t *kid);
void tv_sframe_receiver_wipe(tv_sframe_receiver *r);

#endif
