/* For the tests that run the API without a relay: mail goes to .eml files in DATA_DIR/mail (tv_mail), and
 * the tests read the mailed key back from there. */
#ifndef TV_TEST_MAIL_H
#define TV_TEST_MAIL_H

#include <dirent.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "tv_token.h"

/* Takes the mails to `to` out of mail_dir: each one's text goes to `seen` (if not NULL) as it is read,
 * then the file is removed. The number of mails taken. */
static inline int tv_test_mail_take(const char *mail_dir, const char *to, void (*seen)(const char *text, void *arg),
                                    void *arg)
{
    char path[512], text[8192], want[300];
    snprintf(want, sizeof want, "To: <%s>", to);
    DIR *d = opendir(mail_dir);
    struct dirent *e;
    int taken = 0;
    while (d && (e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.')
            continue;
        snprintf(path, sizeof path, "%s/%s", mail_dir, e->d_name);
        FILE *f = fopen(path, "r");
        size_t n = f ? fread(text, 1, sizeof text - 1, f) : 0;
        if (f)
            fclose(f);
        text[n] = '\0';
        if (strstr(text, want) == NULL)
            continue;
        if (seen)
            seen(text, arg);
        taken++;
        unlink(path);
    }
    if (d)
        closedir(d);
    return taken;
}

typedef struct tv_test_mail_found { char *key; int found; } tv_test_mail_found;

static inline void tv_test_mail_key_of(const char *text, void *arg)
{
    tv_test_mail_found *f = (tv_test_mail_found *)arg;
    const char *k = strstr(text, "#key=");
    f->found = k ? (snprintf(f->key, TV_TOKEN_STRBYTES, "%.43s", k + 5), 0) : 1;
}

/* The key in a mail to `to` in mail_dir (the last one read); the mails to `to` are removed. 0: a key, 1: a
 * mail without a key, -1: no mail. */
static inline int tv_test_mail_key(const char *mail_dir, const char *to, char key[TV_TOKEN_STRBYTES])
{
    tv_test_mail_found f = { key, -1 };
    tv_test_mail_take(mail_dir, to, tv_test_mail_key_of, &f);
    return f.found;
}

#endif
