/* The per-frame E2EE transform of a call, as the media worker runs it: the bytes a codec's
 * packetizer must read stay in clear and are authenticated as SFrame metadata (VP8: 10 bytes of a
 * key frame, 3 of a delta frame; Opus: the TOC byte), the rest is SFrame-encrypted. Keeps the
 * counters the call UI and the tests read. Frames that fail are never passed on. */
#ifndef TV_MEDIA_H
#define TV_MEDIA_H

#include "tv_sframe_ctx.h"

typedef enum tv_media_codec { TV_MEDIA_OPUS = 1, TV_MEDIA_VP8 = 2 } tv_media_codec;

/* Counters, by reason, for what the UI shows and the tests assert. */
typedef struct tv_media_stats {
    uint64_t encrypted, decrypted;
    uint64_t fail_auth, fail_replay, fail_kid, fail_header, fail_short, fail_other;
    uint64_t send_kid, recv_kid;     /* the KIDs last used each way */
    uint64_t send_dropped;           /* outgoing frames refused (no send key yet, malformed): never sent */
} tv_media_stats;

/* One stream kind (audio or video) of a call. Each kind derives its own SFrame base keys from the
 * agreed ones, so the two never share a key, a counter or a replay window. */
typedef struct tv_media {
    tv_media_codec codec;
    tv_sframe_sender tx;
    tv_sframe_receiver rx;
    int have_tx;
    tv_media_stats stats;
} tv_media;

#define TV_MEDIA_OVERHEAD (TV_SFRAME_HEADER_MAX + TV_SFRAME_TAG_MAX)

int tv_media_init(tv_media *m, tv_sframe_suite suite, tv_media_codec codec);
int tv_media_set_send_key(tv_media *m, uint64_t generation, const uint8_t *key, size_t key_len);
int tv_media_add_recv_key(tv_media *m, uint64_t generation, const uint8_t *key, size_t key_len);
int tv_media_ratchet(tv_media *m);

/* Bytes of a frame that stay in clear for this codec; a shorter frame is refused (TV_ERR_SFRAME_SHORT). */
size_t tv_media_clear_prefix(tv_media_codec codec, const uint8_t *frame, size_t len);

/* out = clear prefix || SFrame(rest); out_size >= len + TV_MEDIA_OVERHEAD. */
int tv_media_encrypt(tv_media *m, const uint8_t *frame, size_t len,
                     uint8_t *out, size_t out_size, size_t *out_len);
/* The reverse; on failure the frame is counted by reason and nothing usable is in out. */
int tv_media_decrypt(tv_media *m, const uint8_t *frame, size_t len,
                     uint8_t *out, size_t out_size, size_t *out_len);

void tv_media_wipe(tv_media *m);

#endif
