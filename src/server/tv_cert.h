/* The server's TLS certificate when none is configured: a self-signed ECDSA P-256 certificate for
 * localhost, generated into the data directory (key file mode 0600) and reused until a week before
 * it expires, when a new one is made. */
#ifndef TV_CERT_H
#define TV_CERT_H

#include <stddef.h>

/* Makes dir/tls-cert.pem and dir/tls-key.pem unless both exist; writes their paths and the
 * certificate's SHA-256 fingerprint ("AB:CD:...", 95 characters + NUL). *created = 1 if new. */
int tv_cert_ensure(const char *dir, char *cert_path, size_t cert_size, char *key_path, size_t key_size,
                   char *fingerprint, size_t fp_size, int *created);

/* The SHA-256 fingerprint of a PEM certificate file. */
int tv_cert_fingerprint(const char *cert_path, char *fingerprint, size_t fp_size);

#endif
