/* The server's one reading of the wall clock, for the I/O layers that feed the sans-I/O parts
 * (tv_api, tv_hub) their "now". */
#ifndef TV_CLOCK_H
#define TV_CLOCK_H

#include <stdint.h>
#include <time.h>

static inline int64_t tv_clock_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

#endif
