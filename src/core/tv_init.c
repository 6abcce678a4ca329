#include "tv_init.h"
#include "tv_err.h"

#include <sodium.h>

int tv_init(void)
{
    /* 1 means "already initialised", which is fine. */
    return sodium_init() < 0 ? TV_ERR_UNSUPPORTED : 0;
}
