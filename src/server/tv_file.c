#define _POSIX_C_SOURCE 200809L
#include "tv_file.h"
#include "tv_err.h"

#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <stdio.h>
#include <unistd.h>

int tv_file_replace(const char *path, const void *data, size_t len, mode_t mode)
{
    /* a name per writer: worker threads and the event loop may replace the same file at once */
    uint8_t r[8];
    char rh[17], tmp[4200];
    randombytes_buf(r, sizeof r);
    sodium_bin2hex(rh, sizeof rh, r, sizeof r);
    if ((size_t)snprintf(tmp, sizeof tmp, "%s.%s.tmp", path, rh) >= sizeof tmp) {
        errno = ENAMETOOLONG;
        return TV_ERR_INVALID;
    }
    int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW, mode);
    if (fd < 0)
        return TV_ERR_INVALID;
    const unsigned char *p = data;
    size_t off = 0;
    int ok = 1;
    while (ok && off < len) {
        ssize_t n = write(fd, p + off, len - off);
        if (n > 0)
            off += (size_t)n;
        else if (n < 0 && errno == EINTR)
            continue;
        else
            ok = 0;
    }
    /* synced before the rename, or a crash could leave the new name on an empty file */
    ok = ok && fsync(fd) == 0;
    int saved = errno;
    close(fd);
    if (ok && rename(tmp, path) == 0)
        return 0;
    saved = ok ? errno : saved;
    unlink(tmp);
    errno = saved;
    return TV_ERR_INVALID;
}
