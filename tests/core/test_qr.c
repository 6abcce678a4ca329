#define _POSIX_C_SOURCE 200809L   /* popen, mkdtemp */
#include "tv_test.h"
#include "tv_qr.h"

#include <qrencode.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

static const char uri[] = "otpauth://totp/televisit:dr.alice%40example.org?secret="
                          "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ&issuer=televisit";

/* Redraws the SVG's path into a bitmap and compares it, module by module, with libqrencode's matrix:
 * the SVG is the code, with the quiet zone, and nothing else. */
static void svg_draws_exactly_the_code(void **s)
{
    (void)s;
    size_t need = 0;
    assert_int_equal(tv_qr_svg(uri, strlen(uri), NULL, 0, &need), TV_ERR_NOSPACE);
    assert_true(need > 100);
    char *svg = malloc(need);
    size_t n;
    assert_non_null(svg);
    assert_int_equal(tv_qr_svg(uri, strlen(uri), svg, need, &n), 0);
    assert_int_equal(n + 1, need);
    assert_int_equal(strncmp(svg, "<svg ", 5), 0);
    assert_string_equal(svg + n - 6, "</svg>");
    assert_null(strstr(svg, "style"));
    assert_null(strstr(svg, "<script"));

    QRcode *qr = QRcode_encodeData((int)strlen(uri), (const unsigned char *)uri, 0, QR_ECLEVEL_M);
    assert_non_null(qr);
    int w = qr->width, full = w + 8;
    char vb[64];
    snprintf(vb, sizeof vb, "viewBox=\"0 0 %d %d\"", full, full);
    assert_non_null(strstr(svg, vb));

    unsigned char *drawn = calloc((size_t)(full * full), 1);
    assert_non_null(drawn);
    const char *p = strstr(svg, " d=\"");
    assert_non_null(p);
    p += 4;
    while (*p == 'M') {
        int x, y, run, run2;
        int used = 0;
        assert_int_equal(sscanf(p, "M%d %dh%dv1h-%dz%n", &x, &y, &run, &run2, &used), 4);
        assert_int_equal(run, run2);
        for (int i = 0; i < run; i++)
            drawn[y * full + x + i] = 1;
        p += used;
    }
    assert_int_equal(*p, '"');
    for (int y = 0; y < full; y++)
        for (int x = 0; x < full; x++) {
            int in = x >= 4 && y >= 4 && x < w + 4 && y < w + 4;
            int dark = in ? (qr->data[(y - 4) * w + (x - 4)] & 1) : 0;
            if (drawn[y * full + x] != dark)
                fail_msg("module %d,%d differs", x, y);
        }
    free(drawn);
    QRcode_free(qr);
    free(svg);
}

/* An independent reader: librsvg draws the SVG, zbar decodes it back to the URI. Native only,
 * as the wasm tests cannot start processes. */
static void scans_back_with_zbar(void **s)
{
    (void)s;
#ifdef __EMSCRIPTEN__
    skip();
#else
    size_t need = 0, n;
    tv_qr_svg(uri, strlen(uri), NULL, 0, &need);
    char *svg = malloc(need);
    assert_non_null(svg);
    assert_int_equal(tv_qr_svg(uri, strlen(uri), svg, need, &n), 0);
    char dir[] = "/tmp/tv-qr-XXXXXX";
    assert_non_null(mkdtemp(dir));
    char svg_path[64], png_path[64], cmd[256];
    snprintf(svg_path, sizeof svg_path, "%s/qr.svg", dir);
    snprintf(png_path, sizeof png_path, "%s/qr.png", dir);
    FILE *f = fopen(svg_path, "w");
    assert_non_null(f);
    fwrite(svg, 1, n, f);
    fclose(f);
    snprintf(cmd, sizeof cmd, "rsvg-convert -w 400 -o %s %s && zbarimg --quiet --raw %s", png_path, svg_path, png_path);
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    char decoded[512] = { 0 };
    size_t got = fread(decoded, 1, sizeof decoded - 1, p);
    int status = pclose(p);
    remove(svg_path);
    remove(png_path);
    rmdir(dir);
    free(svg);
    assert_int_equal(status, 0);
    while (got > 0 && (decoded[got - 1] == '\n' || decoded[got - 1] == '\r'))
        decoded[--got] = '\0';
    assert_string_equal(decoded, uri);
#endif
}

static void bad_input(void **s)
{
    (void)s;
    char buf[16];
    size_t need = 0;
    assert_int_equal(tv_qr_svg("", 0, buf, sizeof buf, NULL), TV_ERR_INVALID);
    assert_int_equal(tv_qr_svg(NULL, 4, buf, sizeof buf, NULL), TV_ERR_INVALID);
    static char big[TV_QR_TEXT_MAX + 1];
    memset(big, 'a', sizeof big);
    assert_int_equal(tv_qr_svg(big, sizeof big, buf, sizeof buf, NULL), TV_ERR_TOO_LONG);
    assert_int_equal(tv_qr_svg("hello", 5, buf, sizeof buf, &need), TV_ERR_NOSPACE);
    assert_true(need > sizeof buf);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(svg_draws_exactly_the_code),
        cmocka_unit_test(scans_back_with_zbar),
        cmocka_unit_test(bad_input),
    };
    return TV_RUN(tests);
}
