/* A token bucket: a burst of `cap`, refilled at `per_ms` tokens a millisecond. The server limits sign-in
 * requests per address and signaling messages per connection with it. The caller gives the time. */
#ifndef TV_BUCKET_H
#define TV_BUCKET_H

#include <stdint.h>

typedef struct tv_bucket {
    double tokens;
    int64_t at_ms;
} tv_bucket;

/* A full bucket. */
void tv_bucket_fill(tv_bucket *b, double cap, int64_t now_ms);

/* The tokens the bucket would hold at now_ms (at most cap), without taking any. */
double tv_bucket_level(const tv_bucket *b, double cap, double per_ms, int64_t now_ms);

/* Refills for the time passed (a clock that steps back refills nothing), then takes one token: 1, or
 * 0 when there is none, with *wait_ms (if not NULL) set to how long until there is. */
int tv_bucket_take(tv_bucket *b, double cap, double per_ms, int64_t now_ms, int64_t *wait_ms);

#endif
