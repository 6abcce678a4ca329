#include "tv_bucket.h"

void tv_bucket_fill(tv_bucket *b, double cap, int64_t now_ms)
{
    b->tokens = cap;
    b->at_ms = now_ms;
}

int tv_bucket_take(tv_bucket *b, double cap, double per_ms, int64_t now_ms, int64_t *wait_ms)
{
    if (now_ms > b->at_ms) {
        b->tokens += (double)(now_ms - b->at_ms) * per_ms;
        b->at_ms = now_ms;
    }
    if (b->tokens > cap)
        b->tokens = cap;
    if (b->tokens >= 1.0) {
        b->tokens -= 1.0;
        return 1;
    }
    if (wait_ms)
        *wait_ms = (int64_t)((1.0 - b->tokens) / per_ms) + 1;
    return 0;
}

double tv_bucket_level(const tv_bucket *b, double cap, double per_ms, int64_t now_ms)
{
    double t = b->tokens + (now_ms > b->at_ms ? (double)(now_ms - b->at_ms) * per_ms : 0.0);
    return t < cap ? t : cap;
}
