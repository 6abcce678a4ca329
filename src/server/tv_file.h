/* Files televisitd writes whole (keys, certificates, the audit anchor, mail without a relay): a new
 * file with a unique name, synced, then renamed over the old one, so a reader or a crash sees the
 * old content or the new, never half, and the mode is set when the file is made. */
#ifndef TV_FILE_H
#define TV_FILE_H

#include <stddef.h>
#include <sys/types.h>

/* 0, or TV_ERR_INVALID with errno from the step that failed. */
int tv_file_replace(const char *path, const void *data, size_t len, mode_t mode);

#endif
