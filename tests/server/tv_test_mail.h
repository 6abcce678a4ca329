/* For the tests that run the API without a relay: mail goes to .eml files in DATA_DIR/mail (tv_mail), and
 * the tests read the mailed key back from there. */
#ifndef TV_TEST_MAIL_H
#define TV_TEST_MAIL_H

#include <dirent.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "tv_token.h"

/* The key in a mail to `to` in mail_dir (the last one read); the mails to `to` are removed. 0: a key, 1: a
 * mail without a key, -1: no mail. */
static inline int tv_test_mail_key(const char *mail_dir, const char *to, char key[TV_TOKEN_STRBYTES])
{
    char path[512], text[8192], want[300];
    snprintf(want, sizeof want, "To: <%s>", to);
    DIR *d = opendir(mail_dir);
    struct dirent *e;
    int found = -1;
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
        const char *k = strstr(text, "#key=");
        found = k ? (snprintf(key, TV_TOKEN_STRBYTES, "%.43s", k + 5), 0) : 1;
        unlink(path);
    }
    if (d)
        closedir(d);
    return found;
}

#endif
