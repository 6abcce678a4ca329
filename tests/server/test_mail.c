/* Outgoing mail without a relay: which addresses tv_mail_send takes (no header injection through the
 * recipient or the subject), and the .eml written to data_dir/mail: complete, private to the server's
 * user, headers that a body cannot add to, and the link on the console. The SMTP path needs a relay:
 * tests/server/mail.test.mjs covers it against a real one. */
#include "tv_server_test.h"

#include <dirent.h>
#include <fcntl.h>

#include "tv_config.h"
#include "tv_mail.h"

static tv_config cfg;

static int setup(void **state)
{
    (void)state;
    if (tv_test_dir_make("mail") != 0)
        return -1;
    tv_config_defaults(&cfg);
    snprintf(cfg.data_dir, sizeof cfg.data_dir, "%s", tv_test_dir);
    cfg.smtp_url[0] = '\0';   /* no relay: the file path */
    snprintf(cfg.smtp_from, sizeof cfg.smtp_from, "noreply@televisit.test");
    return 0;
}

static int ok(const char *a) { return tv_mail_address_ok(a, strlen(a)) == 0; }

static void address_validation(void **state)
{
    (void)state;
    static const char *const good[] = {
        "a@b.c", "alice@example.org", "Alice.Martin+tv@mail.example.org", "x_y-z@sub-domain.example.co.uk",
        "o'brien@example.ie", "1234@127.0.0.1",
    };
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++)
        if (!ok(good[i]))
            fail_msg("refused \"%s\"", good[i]);
    static const char *const bad[] = {
        /* header injection: a second header, a second recipient, an SMTP command */
        "a@example.org\r\nBcc: victim@example.net", "a@example.org\nBcc: victim@example.net",
        "a@example.org\rX: y", "a\r\n@example.org", "a@example.org>\r\nRCPT TO:<b@example.net",
        "a@example.org\r\n.\r\nMAIL FROM:<x@y.z>",
        /* one recipient only, and no display names or comments that could carry another */
        "a@example.org,b@example.org", "a@example.org;b@example.org", "a@b@example.org", "\"a b\"@example.org",
        "<a@example.org>", "Eve <a@example.org>", "a(comment)@example.org", "a b@example.org", "a:b@example.org",
        "a\\b@example.org", "[a]@example.org",
        /* not an address */
        "", "@", "a@", "@example.org", "ab", "example.org", "a@exa mple.org", "a@example..org", "a@.example.org",
        "a@example.org.", "a@exam_ple.org", "a@[127.0.0.1]",
        /* control characters and bytes outside ASCII */
        "a\tb@example.org", "a\x01@example.org", "a\x7f@example.org", "a@exa\x7fmple.org", "caf\xc3\xa9@example.org",
        "a@caf\xc3\xa9.fr", "a@example.org\x1b[2J",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        if (ok(bad[i]))
            fail_msg("accepted bad[%zu] \"%s\"", i, bad[i]);
    /* a NUL inside the given length: what comes after it must not be taken for part of the address */
    assert_int_equal(tv_mail_address_ok("a@example.org\0Bcc: x", 20), TV_ERR_INVALID);
    assert_int_equal(tv_mail_address_ok(NULL, 5), TV_ERR_INVALID);
    /* the length limit: 254 is the longest address SMTP carries */
    char longest[TV_MAIL_ADDRESS_MAX + 2];
    memset(longest, 'a', sizeof longest);
    memcpy(longest + TV_MAIL_ADDRESS_MAX - 12, "@example.org", 12);
    longest[TV_MAIL_ADDRESS_MAX] = '\0';
    assert_int_equal(strlen(longest), 254);
    assert_int_equal(tv_mail_address_ok(longest, 254), 0);
    memmove(longest + 1, longest, TV_MAIL_ADDRESS_MAX + 1);   /* one more 'a' in front: 255 */
    assert_int_equal(strlen(longest), 255);
    assert_int_equal(tv_mail_address_ok(longest, 255), TV_ERR_INVALID);
}

/* The names of the files in data_dir/mail (at most 8); their count. */
static int mail_files(char names[8][256])
{
    char dir[128];
    snprintf(dir, sizeof dir, "%s/mail", tv_test_dir);
    DIR *d = opendir(dir);
    int n = 0;
    struct dirent *e;
    while (d && (e = readdir(d)) != NULL)
        if (e->d_name[0] != '.' && n < 8)
            snprintf(names[n++], 256, "%s", e->d_name);
    if (d)
        closedir(d);
    return n;
}

static char *read_mail(const char *name, struct stat *sb)
{
    char path[512];
    snprintf(path, sizeof path, "%s/mail/%s", tv_test_dir, name);
    assert_int_equal(stat(path, sb), 0);
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    char *text = calloc(1, (size_t)sb->st_size + 1);
    assert_non_null(text);
    assert_int_equal(fread(text, 1, (size_t)sb->st_size, f), (size_t)sb->st_size);
    fclose(f);
    return text;
}

/* Runs tv_mail_send with stdout going to a file; out gets what it printed. */
static int send_capturing(const char *to, const char *subject, const char *body, const char *link, char *err,
                          size_t err_size, char *out, size_t out_size)
{
    char path[128];
    snprintf(path, sizeof path, "%s/stdout", tv_test_dir);
    fflush(stdout);
    int saved = dup(STDOUT_FILENO), fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    assert_true(saved >= 0 && fd >= 0);
    dup2(fd, STDOUT_FILENO);
    close(fd);
    int rc = tv_mail_send(&cfg, to, subject, body, link, err, err_size);
    fflush(stdout);
    dup2(saved, STDOUT_FILENO);
    close(saved);
    FILE *f = fopen(path, "r");
    size_t n = f ? fread(out, 1, out_size - 1, f) : 0;
    out[n] = '\0';
    if (f)
        fclose(f);
    unlink(path);
    return rc;
}

static void written_to_a_private_file(void **state)
{
    (void)state;
    char err[256] = "", out[2048], names[8][256];
    const char *link = "https://localhost:8443/activate.html#key=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";
    char body[512];
    snprintf(body, sizeof body, "Open this link to activate your account:\r\n\r\n%s\r\n", link);
    assert_int_equal(send_capturing("new@example.org", "Activate your account", body, link, err, sizeof err, out, sizeof out), 0);
    assert_int_equal(mail_files(names), 1);
    /* a finished .eml, no temporary file beside it */
    size_t nl = strlen(names[0]);
    assert_true(nl > 4 && strcmp(names[0] + nl - 4, ".eml") == 0);
    struct stat sb;
    char *text = read_mail(names[0], &sb);
    assert_true(S_ISREG(sb.st_mode));
    assert_int_equal(sb.st_mode & 077, 0);   /* it holds a single-use key: nobody else may read it */
    char dir[128];
    snprintf(dir, sizeof dir, "%s/mail", tv_test_dir);
    assert_int_equal(stat(dir, &sb), 0);
    assert_int_equal(sb.st_mode & 077, 0);
    assert_non_null(strstr(text, "\r\nTo: <new@example.org>\r\n"));
    assert_non_null(strstr(text, "\r\nFrom: televisit <noreply@televisit.test>\r\n"));
    assert_non_null(strstr(text, "\r\nSubject: Activate your account\r\n"));
    assert_non_null(strstr(text, "Message-ID: <"));
    assert_non_null(strstr(text, "@televisit.test>\r\n"));   /* the id in the sender's domain */
    assert_non_null(strstr(text, "Content-Type: text/plain; charset=utf-8\r\n"));
    assert_int_equal(strncmp(text, "Date: ", 6), 0);
    /* the body after the one blank line, unchanged */
    const char *sep = strstr(text, "\r\n\r\n");
    assert_non_null(sep);
    assert_string_equal(sep + 4, body);
    free(text);
    /* the console names the file and the link, so a first clinician can activate without mail */
    assert_non_null(strstr(out, names[0]));
    assert_non_null(strstr(out, "new@example.org"));
    assert_non_null(strstr(out, link));

    /* a second message: another file, the first one left as it was */
    assert_int_equal(send_capturing("other@example.org", "Reset", "x", NULL, err, sizeof err, out, sizeof out), 0);
    assert_null(strstr(out, "the link in it"));   /* no link given, none printed */
    assert_int_equal(mail_files(names), 2);
    assert_string_not_equal(names[0], names[1]);
}

/* A recipient or subject that would add a header is refused before anything is written; a body
 * cannot add one either, because it comes after the blank line that ends the headers. */
static void no_header_injection(void **state)
{
    (void)state;
    char err[256], out[1024], names[8][256];
    static const char *const subjects[] = { "Hi\r\nBcc: eve@example.net", "Hi\nBcc: eve@example.net", "Hi\rX: y", "\r\n" };
    for (size_t i = 0; i < sizeof subjects / sizeof subjects[0]; i++) {
        err[0] = '\0';
        assert_int_equal(send_capturing("a@example.org", subjects[i], "body", NULL, err, sizeof err, out, sizeof out),
                         TV_ERR_INVALID);
        assert_true(err[0] != '\0');
    }
    static const char *const rcpts[] = { "a@example.org\r\nBcc: eve@example.net", "a@example.org>\r\nX: y", "" };
    for (size_t i = 0; i < sizeof rcpts / sizeof rcpts[0]; i++)
        assert_int_equal(send_capturing(rcpts[i], "Hi", "body", NULL, err, sizeof err, out, sizeof out), TV_ERR_INVALID);
    assert_int_equal(mail_files(names), 0);   /* nothing at all was written */

    /* header-looking lines in the body stay in the body */
    const char *body = "Bcc: eve@example.net\r\n\r\nTo: <eve@example.net>\r\n.\r\nend\n";
    assert_int_equal(send_capturing("a@example.org", "Hi", body, NULL, err, sizeof err, out, sizeof out), 0);
    assert_int_equal(mail_files(names), 1);
    struct stat sb;
    char *text = read_mail(names[0], &sb);
    const char *sep = strstr(text, "\r\n\r\n");
    assert_non_null(sep);
    assert_string_equal(sep + 4, body);
    /* the headers: exactly the nine the server writes, and one To */
    int lines = 0;
    for (const char *p = text; p < sep + 2; p = strstr(p, "\r\n") + 2)
        lines++;
    assert_int_equal(lines, 9);
    const char *to = strstr(text, "\r\nTo: ");
    assert_true(to != NULL && to < sep);
    assert_true(strstr(to + 1, "\r\nTo: ") == NULL || strstr(to + 1, "\r\nTo: ") > sep);
    assert_true(strstr(text, "Bcc:") > sep);
    free(text);
}

static void unwritable_data_dir(void **state)
{
    (void)state;
    char err[256] = "", out[1024];
    tv_config saved = cfg;
    snprintf(cfg.data_dir, sizeof cfg.data_dir, "%s/does/not/exist", tv_test_dir);
    assert_int_equal(send_capturing("a@example.org", "Hi", "body", "https://x/#key=1", err, sizeof err, out, sizeof out),
                     TV_ERR_INVALID);
    assert_non_null(strstr(err, "cannot create"));
    assert_null(strstr(out, "https://x/#key=1"));   /* no link for a mail that was not written */
    cfg = saved;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(address_validation),
        cmocka_unit_test_setup_teardown(written_to_a_private_file, setup, tv_test_dir_remove),
        cmocka_unit_test_setup_teardown(no_header_injection, setup, tv_test_dir_remove),
        cmocka_unit_test_setup_teardown(unwritable_data_dir, setup, tv_test_dir_remove),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
