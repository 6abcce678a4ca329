#include "tv_sframe_ctx.h"
#include "tv_err.h"

#include <sodium.h>
#include <string.h>

#define R TV_SFRAME_RATCHET_BITS
#define STEP_MASK ((1u << R) - 1)
#define GEN_MAX (UINT64_MAX >> R)

static uint64_t make_kid(uint64_t generation, uint64_t step)
{
    return (generation << R) | (step & STEP_MASK);
}

/* ---- Sender ---- */

int tv_sframe_sender_init(tv_sframe_sender *s, tv_sframe_suite suite, uint64_t generation,
                          const uint8_t *base_key, size_t base_len)
{
    if (s == NULL || base_key == NULL || base_len == 0 || base_len > TV_SFRAME_BASE_MAX || generation > GEN_MAX)
        return TV_ERR_INVALID;
    memset(s, 0, sizeof *s);
    int rc = tv_sframe_key_init(&s->key, suite, make_kid(generation, 0), base_key, base_len);
    if (rc != 0)
        return rc;
    s->suite = suite;
    s->generation = generation;
    memcpy(s->base, base_key, base_len);
    s->base_len = base_len;
    return 0;
}

int tv_sframe_sender_rekey(tv_sframe_sender *s, uint64_t generation, const uint8_t *base_key, size_t base_len)
{
    if (s == NULL || generation == s->generation)
        return TV_ERR_INVALID;   /* receivers tell keys apart by generation; callers never reuse a
                                    key pair, so a new generation is a new key */
    tv_sframe_suite suite = s->suite;
    tv_sframe_sender next;
    int rc = tv_sframe_sender_init(&next, suite, generation, base_key, base_len);
    if (rc != 0)
        return rc;
    tv_sframe_sender_wipe(s);
    *s = next;
    sodium_memzero(&next, sizeof next);
    return 0;
}

int tv_sframe_sender_ratchet(tv_sframe_sender *s)
{
    if (s == NULL || s->base_len == 0)
        return TV_ERR_INVALID;
    uint8_t next[TV_SFRAME_BASE_MAX];
    size_t n;
    tv_sframe_key key;
    int rc = tv_sframe_ratchet(s->suite, s->base, s->base_len, next, sizeof next, &n);
    if (rc == 0)
        rc = tv_sframe_key_init(&key, s->suite, make_kid(s->generation, s->step + 1), next, n);
    if (rc == 0) {
        tv_sframe_key_wipe(&s->key);
        s->key = key;
        sodium_memzero(&key, sizeof key);
        sodium_memzero(s->base, sizeof s->base);
        memcpy(s->base, next, n);
        s->base_len = n;
        s->step++;
        s->ctr = 0;   /* a new key: (KID, CTR) pairs stay unique */
    }
    sodium_memzero(next, sizeof next);
    return rc;
}

uint64_t tv_sframe_sender_kid(const tv_sframe_sender *s)
{
    return make_kid(s->generation, s->step);
}

int tv_sframe_sender_protect(tv_sframe_sender *s, const uint8_t *metadata, size_t metadata_len,
                             const uint8_t *pt, size_t pt_len, uint8_t *out, size_t out_size, size_t *out_len)
{
    if (s == NULL || s->base_len == 0)
        return TV_ERR_INVALID;
    if (s->ctr == UINT64_MAX)
        return TV_ERR_SFRAME_COUNTER;   /* ratchet or rekey first */
    /* The counter is spent whatever happens next, so no failure path can lead to its reuse. */
    uint64_t ctr = s->ctr++;
    return tv_sframe_encrypt(&s->key, ctr, metadata, metadata_len, pt, pt_len, out, out_size, out_len);
}

void tv_sframe_sender_wipe(tv_sframe_sender *s)
{
    if (s == NULL)
        return;
    tv_sframe_key_wipe(&s->key);
    sodium_memzero(s, sizeof *s);
}

/* ---- Receiver ---- */

int tv_sframe_receiver_init(tv_sframe_receiver *r, tv_sframe_suite suite)
{
    if (r == NULL)
        return TV_ERR_INVALID;
    if (tv_sframe_suite_sizes(suite, NULL, NULL) != 0)
        return TV_ERR_UNSUPPORTED;
    memset(r, 0, sizeof *r);
    r->suite = suite;
    return 0;
}

static void drop_key(tv_sframe_rx_key *k)
{
    tv_sframe_key_wipe(&k->key);
    sodium_memzero(k, sizeof *k);
}

static void drop_generation(tv_sframe_receiver *r, tv_sframe_rx_gen *g)
{
    for (int i = 0; i < TV_SFRAME_RX_KEYS; i++)
        if (r->keys[i].used && (r->keys[i].kid >> R) == g->generation)
            drop_key(&r->keys[i]);
    sodium_memzero(g, sizeof *g);
}

int tv_sframe_receiver_add(tv_sframe_receiver *r, uint64_t generation, const uint8_t *base_key, size_t base_len)
{
    if (r == NULL || base_key == NULL || base_len == 0 || base_len > TV_SFRAME_BASE_MAX || generation > GEN_MAX)
        return TV_ERR_INVALID;
    /* The same generation again replaces it; otherwise the oldest of the two slots goes. */
    tv_sframe_rx_gen *slot = NULL;
    for (int i = 0; i < 2; i++)
        if (r->gens[i].used && r->gens[i].generation == generation)
            slot = &r->gens[i];
    if (slot == NULL) {   /* the one added longest ago goes: generations are labels, not an order */
        slot = !r->gens[0].used ? &r->gens[0] : !r->gens[1].used ? &r->gens[1]
             : r->gens[0].added < r->gens[1].added ? &r->gens[0] : &r->gens[1];
    }
    if (slot->used)
        drop_generation(r, slot);
    slot->used = 1;
    slot->generation = generation;
    slot->added = ++r->clock;
    slot->step = 0;
    slot->installed = 0;
    memcpy(slot->base, base_key, base_len);
    slot->base_len = base_len;
    return 0;
}

/* Replay window: `newest` is the highest counter accepted, bit i of `seen` is newest - i. */
static int seen_bit(const tv_sframe_rx_key *k, uint64_t back)
{
    return (int)((k->seen[back / 64] >> (back % 64)) & 1);
}

static int replay_check(const tv_sframe_rx_key *k, uint64_t ctr)
{
    if (!k->any || ctr > k->newest)
        return 0;
    uint64_t back = k->newest - ctr;
    if (back >= TV_SFRAME_REPLAY_WINDOW || seen_bit(k, back))
        return TV_ERR_SFRAME_REPLAY;
    return 0;
}

static void replay_accept(tv_sframe_rx_key *k, uint64_t ctr)
{
    if (!k->any) {
        k->any = 1;
        k->newest = ctr;
        memset(k->seen, 0, sizeof k->seen);
        k->seen[0] = 1;
        return;
    }
    if (ctr > k->newest) {
        uint64_t shift = ctr - k->newest;
        if (shift >= TV_SFRAME_REPLAY_WINDOW) {
            memset(k->seen, 0, sizeof k->seen);
        } else {
            for (int w = TV_SFRAME_REPLAY_WINDOW / 64 - 1; w >= 0; w--) {
                uint64_t v = 0;
                int from = w - (int)(shift / 64);
                unsigned bits = (unsigned)(shift % 64);
                if (from >= 0)
                    v = k->seen[from] << bits;
                if (bits && from - 1 >= 0)
                    v |= k->seen[from - 1] >> (64 - bits);
                k->seen[w] = v;
            }
        }
        k->newest = ctr;
        k->seen[0] |= 1;
    } else {
        uint64_t back = k->newest - ctr;
        k->seen[back / 64] |= 1ull << (back % 64);
    }
}

static tv_sframe_rx_key *free_slot(tv_sframe_receiver *r)
{
    tv_sframe_rx_key *best = &r->keys[0];
    for (int i = 0; i < TV_SFRAME_RX_KEYS; i++) {
        if (!r->keys[i].used)
            return &r->keys[i];
        if (r->keys[i].age < best->age)
            best = &r->keys[i];
    }
    drop_key(best);
    return best;
}

int tv_sframe_receiver_unprotect(tv_sframe_receiver *r, const uint8_t *metadata, size_t metadata_len,
                                 const uint8_t *in, size_t in_len, uint8_t *out, size_t out_size,
                                 size_t *out_len, uint64_t *kid_out)
{
    if (r == NULL)
        return TV_ERR_INVALID;
    uint64_t kid, ctr, got_ctr;
    int rc = tv_sframe_header_decode(in, in_len, &kid, &ctr, NULL);
    if (rc != 0)
        return rc;
    r->clock++;

    for (int i = 0; i < TV_SFRAME_RX_KEYS; i++) {
        tv_sframe_rx_key *k = &r->keys[i];
        if (!k->used || k->kid != kid)
            continue;
        if ((rc = replay_check(k, ctr)) != 0)
            return rc;
        rc = tv_sframe_decrypt(&k->key, metadata, metadata_len, in, in_len, out, out_size, out_len, &got_ctr);
        if (rc != 0)
            return rc;
        replay_accept(k, got_ctr);
        k->age = r->clock;
        if (kid_out)
            *kid_out = kid;
        return 0;
    }

    /* A KID with no key yet: a known generation, at its confirmed step or up to 2^R - 1 ahead. */
    tv_sframe_rx_gen *g = NULL;
    for (int i = 0; i < 2; i++)
        if (r->gens[i].used && r->gens[i].generation == (kid >> R))
            g = &r->gens[i];
    if (g == NULL)
        return TV_ERR_SFRAME_KID;
    uint64_t ahead = ((kid & STEP_MASK) - (g->step & STEP_MASK)) & STEP_MASK;
    if (ahead == 0 && g->installed)
        return TV_ERR_SFRAME_KID;   /* its key was evicted; re-deriving it would forget which frames came */
    uint8_t base[TV_SFRAME_BASE_MAX], next[TV_SFRAME_BASE_MAX];
    size_t base_len = g->base_len;
    memcpy(base, g->base, base_len);
    for (uint64_t i = 0; i < ahead && rc == 0; i++) {
        rc = tv_sframe_ratchet(r->suite, base, base_len, next, sizeof next, &base_len);
        memcpy(base, next, base_len);
    }
    tv_sframe_key cand;
    if (rc == 0)
        rc = tv_sframe_key_init(&cand, r->suite, kid, base, base_len);
    if (rc == 0) {
        rc = tv_sframe_decrypt(&cand, metadata, metadata_len, in, in_len, out, out_size, out_len, &got_ctr);
        if (rc == 0) {
            /* Authenticated: only now does the receiver move its ratchet and keep the key. The step
             * it leaves keeps its key too (frames sent just before the ratchet may still arrive),
             * unless that key was already installed once. */
            tv_sframe_key prev;
            int keep_prev = ahead > 0 && !g->installed &&
                            tv_sframe_key_init(&prev, r->suite, make_kid(g->generation, g->step),
                                               g->base, g->base_len) == 0;
            if (keep_prev) {
                tv_sframe_rx_key *p = free_slot(r);
                p->used = 1;
                p->kid = make_kid(g->generation, g->step);
                p->age = r->clock - 1;
                p->key = prev;
                sodium_memzero(&prev, sizeof prev);
            }
            tv_sframe_rx_key *k = free_slot(r);
            k->used = 1;
            k->kid = kid;
            k->age = r->clock;
            k->key = cand;
            replay_accept(k, got_ctr);
            g->installed = 1;
            if (ahead > 0) {
                g->step += ahead;
                sodium_memzero(g->base, sizeof g->base);
                memcpy(g->base, base, base_len);
                g->base_len = base_len;
            }
            if (kid_out)
                *kid_out = kid;
        }
        /* On success cand was moved into the slot (the mbedtls contexts' heap parts go with it):
         * forget it. On failure it still owns them: wipe frees and zeroes. */
        if (rc == 0)
            sodium_memzero(&cand, sizeof cand);
        else
            tv_sframe_key_wipe(&cand);
    }
    sodium_memzero(base, sizeof base);
    sodium_memzero(next, sizeof next);
    return rc;
}

void tv_sframe_receiver_wipe(tv_sframe_receiver *r)
{
    if (r == NULL)
        return;
    for (int i = 0; i < TV_SFRAME_RX_KEYS; i++)
        if (r->keys[i].used)
            drop_key(&r->keys[i]);
    sodium_memzero(r, sizeof *r);
}
