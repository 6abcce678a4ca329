/* televisitd's TLS policy: TLS 1.2 and 1.3 only, forward-secret key exchange and AEAD ciphers only
 * (no SSL 2/3, TLS 1.0/1.1, RSA key exchange, CBC, 3DES, RC4, NULL or EXPORT suites). In OpenSSL's
 * syntax, for libwebsockets; tests expand these lists with openssl ciphers to check them. */
#ifndef TV_TLS_POLICY_H
#define TV_TLS_POLICY_H

#define TV_TLS12_CIPHERS "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:" \
                         "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:" \
                         "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305"
#define TV_TLS13_CIPHERS "TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256"

#endif
