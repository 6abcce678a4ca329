/* The one call a program makes before using the core: it readies libsodium's random source.
 * Everything else in the core is free of global state. */
#ifndef TV_INIT_H
#define TV_INIT_H

int tv_init(void);

#endif
