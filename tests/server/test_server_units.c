#define _DEFAULT_SOURCE   /* mkstemp, fdopen, setenv, popen */
/* Unit tests of televisitd's pure parts: the path whitelist, MIME types, versioned names, settings. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tv_config.h"
#include "tv_err.h"
#include "tv_http.h"
#include "tv_tls_policy.h"

static void safe_paths(void **s)
{
    (void)s;
    char rel[256];
    assert_int_equal(tv_http_safe_path("/", rel, sizeof rel), 0);
    assert_string_equal(rel, "index.html");
    assert_int_equal(tv_http_safe_path("/televisit-core.wasm", rel, sizeof rel), 0);
    assert_string_equal(rel, "televisit-core.wasm");
    assert_int_equal(tv_http_safe_path("/v/app.1234abcd.js", rel, sizeof rel), 0);
    assert_string_equal(rel, "v/app.1234abcd.js");
    static const char *const bad[] = {
        "", "x", "/..", "/../etc/passwd", "/a/../b", "/.git/config", "/a/.hidden", "//etc/passwd",
        "/a//b", "/a/", "/%2e%2e/x", "/a\\b", "/a b", "/a?b", "/caf\xc3\xa9.js", "/a;b", "/a:b",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        if (tv_http_safe_path(bad[i], rel, sizeof rel) == 0)
            fail_msg("accepted \"%s\"", bad[i]);
    char long_path[300];
    memset(long_path, 'a', sizeof long_path);
    long_path[0] = '/';
    long_path[sizeof long_path - 1] = '\0';
    assert_int_equal(tv_http_safe_path(long_path, rel, sizeof rel), TV_ERR_INVALID);
    assert_int_equal(tv_http_safe_path("/abcdef.js", rel, 4), TV_ERR_NOSPACE);
}

static void mime_and_versions(void **s)
{
    (void)s;
    assert_string_equal(tv_http_mime("x.wasm"), "application/wasm");
    assert_string_equal(tv_http_mime("a/b.mjs"), "text/javascript; charset=utf-8");
    assert_string_equal(tv_http_mime("index.html"), "text/html; charset=utf-8");
    assert_null(tv_http_mime("x.php"));
    assert_null(tv_http_mime("Makefile"));
    assert_null(tv_http_mime("a.b/c"));
    assert_int_equal(tv_http_versioned("app.1234abcd.js"), 1);
    assert_int_equal(tv_http_versioned("app.1234abc.js"), 0);   /* too short to be a content hash */
    assert_int_equal(tv_http_versioned("app.js"), 0);
    assert_int_equal(tv_http_versioned("televisit-core.wasm"), 0);
}

static void settings(void **s)
{
    (void)s;
    tv_config c;
    char err[200];
    tv_config_defaults(&c);
    assert_int_equal(c.port, 8443);
    assert_string_equal(c.bind, "127.0.0.1");
    assert_int_equal(tv_config_set(&c, "port", "9443", err, sizeof err), 0);
    assert_int_equal(c.port, 9443);
    assert_int_equal(tv_config_set(&c, "port", "99999", err, sizeof err), TV_ERR_INVALID);
    assert_int_equal(tv_config_set(&c, "port", "12x", err, sizeof err), TV_ERR_INVALID);
    assert_int_equal(c.port, 9443);   /* unchanged by the refused values */
    assert_int_equal(tv_config_set(&c, "frame_ancestors", "https://ehr.example.org https://b.example:8443", err, sizeof err), 0);
    assert_int_equal(tv_config_set(&c, "frame_ancestors", "https://x; script-src *", err, sizeof err), TV_ERR_INVALID);
    static const char *const not_origins[] = { "https:", "http:", "*", "https://*.example.org", "ftp://x.org",
                                               "https://", "https://a.org/path", "https://a.org:", "https://.a.org",
                                               "https://a.org:123456", "'self'", "https://a.org https:" };
    for (size_t i = 0; i < sizeof not_origins / sizeof not_origins[0]; i++)
        if (tv_config_set(&c, "frame_ancestors", not_origins[i], err, sizeof err) == 0)
            fail_msg("accepted frame_ancestors \"%s\"", not_origins[i]);
    assert_int_equal(tv_config_set(&c, "frame_ancestors", "http://localhost:8080", err, sizeof err), 0);
    assert_string_equal(c.frame_ancestors, "http://localhost:8080");
    assert_int_equal(tv_config_set(&c, "nope", "1", err, sizeof err), TV_ERR_INVALID);
    assert_non_null(strstr(err, "unknown setting"));

    char path[] = "/tmp/tv-config-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    FILE *f = fdopen(fd, "w");
    fputs("# televisitd settings\n  port = 7443   # comment\n\nweb_root=/srv/web\n", f);
    fclose(f);
    assert_int_equal(tv_config_load_file(&c, path, err, sizeof err), 0);
    assert_int_equal(c.port, 7443);
    assert_string_equal(c.web_root, "/srv/web");
    f = fopen(path, "w");
    fputs("port 7443\n", f);
    fclose(f);
    assert_int_equal(tv_config_load_file(&c, path, err, sizeof err), TV_ERR_INVALID);
    assert_non_null(strstr(err, "line 1"));
    remove(path);

    setenv("TELEVISIT_DATA_DIR", "/var/lib/televisit", 1);
    assert_int_equal(tv_config_load_env(&c, err, sizeof err), 0);
    assert_string_equal(c.data_dir, "/var/lib/televisit");
    unsetenv("TELEVISIT_DATA_DIR");
}

/* The cipher lists, expanded by OpenSSL itself: every suite forward-secret (ECDHE, or TLS 1.3) and
 * AEAD, none older than TLS 1.2. Independent of what any client still offers, so it fails if a weak
 * suite (3DES, RC4, CBC, RSA key exchange, NULL) ever enters the policy. */
static void tls_policy_expanded_by_openssl(void **s)
{
    (void)s;
    /* Both lists at once, as the server sets them: OpenSSL prints the TLS 1.3 suites, then the 1.2 ones. */
    FILE *p = popen("openssl ciphers -v -ciphersuites '" TV_TLS13_CIPHERS "' '" TV_TLS12_CIPHERS "' 2>&1", "r");
    assert_non_null(p);
    char line[256];
    int tls13 = 0, tls12 = 0;
    while (fgets(line, sizeof line, p)) {
        if (strstr(line, "Mac=AEAD") == NULL ||
            (strstr(line, "Enc=AESGCM") == NULL && strstr(line, "Enc=CHACHA20/POLY1305") == NULL))
            fail_msg("not an AEAD suite: %s", line);
        if (strstr(line, " TLSv1.3 "))
            tls13++;
        else if (strstr(line, " TLSv1.2 ") && strstr(line, "Kx=ECDH "))
            tls12++;
        else
            fail_msg("not TLS 1.3, nor TLS 1.2 with ECDHE: %s", line);
    }
    assert_int_equal(pclose(p), 0);
    assert_int_equal(tls13, 3);
    assert_int_equal(tls12, 6);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(safe_paths),
        cmocka_unit_test(mime_and_versions),
        cmocka_unit_test(settings),
        cmocka_unit_test(tls_policy_expanded_by_openssl),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
