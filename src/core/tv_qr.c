#include "tv_qr.h"
#include "tv_err.h"

#include <errno.h>
#include <qrencode.h>
#include <stdio.h>
#include <string.h>

#define QUIET 4

typedef struct svg_buf { char *p; size_t size, len; } svg_buf;

/* Counts every byte even when out of room, so the caller learns the size it needs. */
static void emit(svg_buf *b, const char *fmt, int a, int c, int d)
{
    char tmp[96];
    int n = snprintf(tmp, sizeof tmp, fmt, a, c, d);
    if (n < 0)
        return;
    if (b->p != NULL && b->len + (size_t)n < b->size)
        memcpy(b->p + b->len, tmp, (size_t)n);
    b->len += (size_t)n;
}

int tv_qr_svg(const char *text, size_t text_len, char *out, size_t out_size, size_t *out_len)
{
    if (text == NULL || text_len == 0)
        return TV_ERR_INVALID;
    if (text_len > TV_QR_TEXT_MAX)
        return TV_ERR_TOO_LONG;
    errno = 0;
    QRcode *qr = QRcode_encodeData((int)text_len, (const unsigned char *)text, 0, QR_ECLEVEL_M);
    if (qr == NULL)
        return errno == ERANGE ? TV_ERR_TOO_LONG : TV_ERR_NOMEM;
    int w = qr->width, full = w + 2 * QUIET;
    svg_buf b = { out, out_size, 0 };
    emit(&b, "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 %d %d\" "
             "shape-rendering=\"crispEdges\">", full, full, 0);
    emit(&b, "<rect width=\"%d\" height=\"%d\" fill=\"#fff\"/><path fill=\"#000\" d=\"", full, full, 0);
    for (int y = 0; y < w; y++) {
        int x = 0;
        while (x < w) {
            if (!(qr->data[y * w + x] & 1)) { x++; continue; }
            int run = 1;
            while (x + run < w && (qr->data[y * w + x + run] & 1))
                run++;
            emit(&b, "M%d %dh%d", x + QUIET, y + QUIET, run);
            emit(&b, "v1h-%dz", run, 0, 0);
            x += run;
        }
    }
    emit(&b, "\"/></svg>", 0, 0, 0);
    QRcode_free(qr);
    if (out_len)
        *out_len = b.len + 1;
    if (out == NULL || b.len + 1 > out_size)
        return TV_ERR_NOSPACE;
    out[b.len] = '\0';
    if (out_len)
        *out_len = b.len;
    return 0;
}
