/* Outgoing mail (activation and password-reset keys): SMTP through libcurl to the configured relay,
 * or, with no relay (the embedded default), an .eml file in data_dir/mail and the link on the console
 * so a first clinician can activate on a machine with no mail set up. */
#ifndef TV_MAIL_H
#define TV_MAIL_H

#include <stddef.h>

#include "tv_config.h"

#define TV_MAIL_ADDRESS_MAX 254

/* 0 for an address we will send to: one '@', a local part of printable ASCII without spaces, quotes,
 * angle brackets or commas, a domain of letters, digits, '-' and '.'; never CR or LF. */
int tv_mail_address_ok(const char *addr, size_t len);

/* Sends a plain-text message. link (may be NULL) is printed to the console when the message goes to
 * a file instead of a relay. */
int tv_mail_send(const tv_config *cfg, const char *to, const char *subject, const char *body,
                 const char *link, char *err, size_t err_size);

#endif
