/* Tests of the ID token check (tv_jwt): the RFC 7515 examples, then tokens signed here with fixed
 * test keys, one per way a token can be wrong. Each negative case is generated from a good one by
 * changing one thing, so a failure names exactly the check that let it through. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <mbedtls/ecdsa.h>
#include <mbedtls/pk.h>
#include <mbedtls/rsa.h>
#include <sodium.h>

#include "tv_err.h"
#include "tv_jwt.h"

/* ---- RFC 7515 Appendix A.2 (RS256) and A.3 (ES256): the compact serializations and the public half
 * of the example JWKs, line breaks removed. Their payload is {"iss":"joe","exp":1300819380,...}.
 * Taken from two transcriptions of the RFC's text that agree (the RFC text itself was not reachable
 * from the machine they were written on); both signatures also verify outside this code. ---- */
#define RFC_PAYLOAD "eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFtcGxlLmNvbS9pc19yb290Ijp0cnVlfQ"
static const char RFC_A2_JWS[] =
    "eyJhbGciOiJSUzI1NiJ9." RFC_PAYLOAD "."
    "cC4hiUPoj9Eetdgtv3hF80EGrhuB__dzERat0XF9g2VtQgr9PJbu3XOiZj5RZmh7"
    "AAuHIm4Bh-0Qc_lF5YKt_O8W2Fp5jujGbds9uJdbF9CUAr7t1dnZcAcQjbKBYNX4"
    "BAynRFdiuB--f_nZLgrnbyTyWzO75vRK5h6xBArLIARNPvkSjtQBMHlb1L07Qe7K"
    "0GarZRmB_eSN9383LcOLn6_dO--xi12jzDwusC-eOkHWEsqtFZESc6BfI7noOPqv"
    "hJ1phCnvWh6IeYI2w9QOYEUipUTI8np6LbgGY9Fs98rqVt5AXLIhWkWywlVmtVrB"
    "p0igcN_IoypGlUPQGe77Rw";
static const char RFC_A2_JWKS[] =
    "{\"keys\":[{\"kty\":\"RSA\","
    "\"n\":\"ofgWCuLjybRlzo0tZWJjNiuSfb4p4fAkd_wWJcyQoTbji9k0l8W26mPddx"
    "HmfHQp-Vaw-4qPCJrcS2mJPMEzP1Pt0Bm4d4QlL-yRT-SFd2lZS-pCgNMs"
    "D1W_YpRPEwOWvG6b32690r2jZ47soMZo9wGzjb_7OMg0LOL-bSf63kpaSH"
    "SXndS5z5rexMdbBYUsLA9e-KXBdQOS-UTo7WTBEMa2R2CapHg665xsmtdV"
    "MTBQY4uDZlxvb3qCo5ZwKh9kG4LT6_I5IhlJH7aGhyxXFvUK-DWNmoudF8"
    "NAco9_h9iaGNj8q2ethFkMLs91kzk2PAcDTW9gb54h4FRWyuXpoQ\","
    "\"e\":\"AQAB\"}]}";
static const char RFC_A3_JWS[] =
    "eyJhbGciOiJFUzI1NiJ9." RFC_PAYLOAD "."
    "DtEhU3ljbEg8L38VWAfUAqOyKAM6-Xx-F4GawxaepmXFCgfTjDxw5djxLa8ISlSApmWQxfKTUJqPP3-Kg6NU1Q";
static const char RFC_A3_JWKS[] =
    "{\"keys\":[{\"kty\":\"EC\",\"crv\":\"P-256\","
    "\"x\":\"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU\","
    "\"y\":\"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0\"}]}";

/* ---- Fixed test keys, made once with `openssl genpkey` (RSA 2048 twice, RSA 1024, EC P-256). They
 * sign nothing outside this file. ---- */
static const char RSA_A_PEM[] =
    "-----BEGIN PRIVATE KEY-----\n"
    "MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQCh33bSCc7axMpP\n"
    "KYVoXxut8IOki+thjhh8SbICo9azlcK9+0nXGoU2IMwW+bFwm3vB8Ltfm4GWODG3\n"
    "2tlc5ix0gFr5t/2ch18Y94qDFhPiVawqHpUipYTqKWhFLBH+9Nt91uGulp7gp0xf\n"
    "e7BN2LozTMQfGzhUKycA4r6gH/3u6tjREp/+coKzaKxrifEnTSBeBkkhYPaD1nWd\n"
    "fG/kmK9SjwdhJQWEC9m+H+P6/gR2yh/HKvDO+RfUKqSVICf+kPY/XI3WYVvK+OqK\n"
    "zwSS+u1KHF6kt0AonIWK87i2pNRSD450NjKCIix2pgSX9UYDf1b6g6cm9YXrqym+\n"
    "jwnLqAtzAgMBAAECggEAE5bSb0qmkMz92qSgs2fHFr6jf7c7Dfw/NFNKyoz/P45h\n"
    "GdKeNfzMoCdJ64HeGk2GpYq3cjOEdCRqx+AhK9/jA1pBKDU+6MFtHb1fMsvqLhrG\n"
    "EfbPf3jeY+QM7UoPB3akVU860oEByxgT4v458MHIjsq8dTM7Ftx+BNprzT7x4Qaz\n"
    "L7siQ7F6i5jMvkeE/Cdc91zKzqchdrDdWc6yebsV3xe62dsiN9ZEoV3QXJD/rlXD\n"
    "7+5HYMnYavZ/YSAU40d5/SGxvPNKS7PVPXTIwsNSGvp3C40Eg3ZrUrZrCvB1NsMZ\n"
    "nSb85Io9qsaXIZTINj5DPTLsUGpV96bFmmkql77BgQKBgQDeAilmTfDOqWc6ibG9\n"
    "f+QXk4c40oDo9pINbPVSigaXaah03ijZ1V3YxU93FgxB5+v0vokjKCsM6ydsc+QE\n"
    "on33l3OM2uAdAw/ivfPN+JQIUzix6jYm4E8SnAcbaD9jbQiBWSH00hmqgPwVR5p2\n"
    "EDTy7tEyrxUpx7ZxXmnLvj5wQQKBgQC6qDsuK/KSua+TarqPyXwr6zPAsfjOhJLf\n"
    "2y6hZBMffUwfOgEK0umjonSBWLciagYWcy0THM62u/yn24ftaSrfQvxgBYKgEXf2\n"
    "CasDvzqc2EVhdG0E/wAd6GFPDUZJkovM1NJkPkejNLH5oy8U7bDseLpxhR8xkM6f\n"
    "nLUK5NwOswKBgQCnDXVdd9R1jV8R2z6VW0CkxOwBQ9Sgd7kaxRwsCZRAJs8NcYXH\n"
    "tBez33SWJU7/4KXaOe0zOSx7wg6eOu4e1q52uc3G9YOiEQXJFin4mM27HfQRXC13\n"
    "P14AoMtwQhdAl3DI8+rrL5UEiZ4l3QVLRZKyIiXkP35rO836rJJrLzIIgQKBgCSc\n"
    "0Rbqaedb4tOgsL15gRDATuNyRWKE4KZmQMxJa/LWSfMqFoBABLIjMIUamLl4YH9Q\n"
    "0juYf/eaAiIOzqfD5DPs2MIg8pFhO82X8eKHRQD07w8BnkzHlAdJyKSP7wSJaUCh\n"
    "Ui91g+nAcVSNLLQHN5f6yl9wBEFdrRnjzCM55uw/AoGAGPONJLR44mMIrfa7VY1Q\n"
    "c4d1gUYqtJ4NUB5PkizjVNmvYC0jRzRQj0FOfIwfV6TPgPK8Ao2iQ54ggDJpDfa+\n"
    "Yk6HaeeSWwgvyYcv70aypoIRpNs57QPPQn5cU8h08aIuHJF0oZfbAdpyhfFcEdDv\n"
    "GEyd7vY/uGRZ3oDnMMmQTMg=\n"
    "-----END PRIVATE KEY-----\n"
    ;
static const char RSA_B_PEM[] =
    "-----BEGIN PRIVATE KEY-----\n"
    "MIIEvAIBADANBgkqhkiG9w0BAQEFAASCBKYwggSiAgEAAoIBAQCsNfFtOcbn1KIz\n"
    "7pRwQNIbyXb2r9x6x4h2gd/qTjQr+vN7bI3p6c7RtcfChFcGz7DMP72Sk5qq9UYg\n"
    "KgCZDos64kJSJ7WboHe+vWbDxzlEa67CH5N1ASs28qqAPmllPjq5V8Q8qE2bgTKK\n"
    "uqDa18GQrpPfyZkEfnObt/RLVBOeo3pwTH0lF1U3M/eRCvaiJqR4EQQ6g1pkpeeJ\n"
    "c/5Lry51vR32nZItrViJz/iPkUuV+0HYtOza6EfOHYeNxlk3F/A+pMyeD6shTX4K\n"
    "z+1ro2UHymxIHUMnTzllFLR866YmCT9PHNu+2P2ALpjrTQZqLIYs/cCtxQd8LMOV\n"
    "oFCAfJmtAgMBAAECggEAFBoP3nIaF8GoVWuKBDhszjWMH2uTzvkvorWyT4VlbaTT\n"
    "exrGzgEu1Sfk833DMtZXit/93vg/26jZ0LNWcodSFUOH/lMITexDTg6JylydALGZ\n"
    "KqvI6KWER9u3r1SZtOm4rR3jmDkFJhvErJDwads5iwv10u+TXwTrtceZSpm72I6H\n"
    "gV+mKSLXmMKcojI08khvJz4icTVH4jTNks3wlxJPy0/4owOEqvGaHmnPJn7OhTgO\n"
    "e8EuaJincmoOYqiEDXk8zN7rBg1Iq7NsJEsSMJVyCSEtAJgsyi+dVQyapcfuw2HX\n"
    "Li7sHPXCumOLCErG1cgVFHqB05cL2SjS1TdxBBgb+QKBgQDggNy2zJdx6Uyb/z+L\n"
    "mEMgzVVxSx+tWPubSXTzAGDmzmbDvxHmSPe1q7BW26yt5PvDafYujNFEQbGvbb2D\n"
    "ckjOE+VYEJom/LYAI98Y+Ioe/MAf2r+wtFdStszyaumjOoEN6CJbw8myUzilow9j\n"
    "NAzs+eho/XJqlEGujJtldhRPmwKBgQDEXveWZh6Mx5JyOylY0Vru1GLFWp4RUi85\n"
    "dNGexRWyWYH9wZzzFuWFazXdy0CbrsUkfM+rtNscnF3lfKICeiQffHn8ySYMYCeX\n"
    "4TYVlQshjE4Gfro4npeKbn/84yOGMGF9XWeEETeYRZTKQsJReTi8DOGYznpjErrT\n"
    "x2ulHcdkVwKBgF5wtuhK/nZTzv9ci628epik6AmFsaipYwZ7CzBh+2F8eCxmBzCZ\n"
    "h2Kr+70+IdDxH5ufyojggfO1svp6LpvKCqhuJC88pKw76I/8hxApFWldp7B+w96g\n"
    "ro9ECMj9gpVAuiNQgIubvBBBA/ZhtspjjgBuTH9GBsig31R/H6u51Wd7AoGAGzc6\n"
    "Q0r18vb58gEHEvs5Ch6/bbDIdYgZaXIqV0HjZuuG25+I3BwRRXN9bLbtxmXrhsoR\n"
    "ki+nqoh1bwfeAE/jT8XVtlY+grqU4jThZQ5aE5U5fybzMkOwpwv3ixoD42YzLMfU\n"
    "P/aO6PjDzWCBQ/90AIQchCwhxDdlU1KxNZox91MCgYA34EunZ1kTaEsvaQ/dZCxj\n"
    "SpmUDmO7OKBRvYLDje6BLEweqW3R2XbUjwh2PaAV2UWLs86Im6VZbDnTllJSPfeN\n"
    "BEkWYzlzlagguGTfclppTc1xZE2aWsz5Na7w/sF4Qs51Ta0/L3phqYg32GfA2wmb\n"
    "vdyRYv0E5gMYOWfZXW61cA==\n"
    "-----END PRIVATE KEY-----\n"
    ;
static const char RSA_SMALL_PEM[] =
    "-----BEGIN PRIVATE KEY-----\n"
    "MIICdgIBADANBgkqhkiG9w0BAQEFAASCAmAwggJcAgEAAoGBAMyeJzaFypH/P49Z\n"
    "Ek5QdyVqJH4Ls/q9QIIkH5w1c2Xjs29xxxQ9n6jTB0sjORojTrLq+nrLjNBvFhz2\n"
    "Nv6LusOdxUDtiDmwk7qkA484L1eaBDUQ8yxAzPzUALXmNDHqHZoMUGU6UeP4CwRc\n"
    "33B/JvJXhX/hc1BA50irBpw2ot1HAgMBAAECgYAxbiNa8Ic3LcpU/teFQ7sEtteJ\n"
    "+5nHAOEMj11zhxYRjyhRy9Kj+R8Q0an5ZNDul4jzgABymamy0KMu6+vtIiRDnpMd\n"
    "5vYo9Z47h51ml07e7UxHXYshBm2rINOBeWwaj5evCV6K9iNI+20uKUOgHp5Wf1nO\n"
    "YMInxWbqLK53UUStgQJBAPP6SDIsb1WUTz+mx/BrXMsM1izQTn7tcTjkUr5G0Suu\n"
    "Ny6WtAwFPq6oIJSQ27wOvq35pt9wjr67XBuaJ4nU4z8CQQDWs1sj0HkOsH4N76EL\n"
    "IzdH3UtUHr/6z94pKxjTG36Q3VzmCx4neMVjasFE2Z5te/vRH//nOZhhNNtMJaHT\n"
    "Sev5AkEAo1uchYO9FBcWrO7WBsNMQWSZ7y2WsWP4oHg4ctDl8xJWPmqHqVjFrJpE\n"
    "HlWT2yogQErdkdRCr7CxroWcHayebwJAF+AqKnlsfO2zluknB44K/7rkPZ6Nyt6C\n"
    "3iEkyZUtJf737b0exVTw3nVouLdanuJCxqbAVn5ZK7YtDPLCZDS8QQJACV1+bmdY\n"
    "ymV0qIrHbHVQc96cIknU3qDqqnlNonI4Uhffz53/g7nnndkuGpye7D+0CE0aF6rp\n"
    "vws6clPDSGAAqg==\n"
    "-----END PRIVATE KEY-----\n"
    ;
static const char EC_PEM[] =
    "-----BEGIN PRIVATE KEY-----\n"
    "MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQga3DSleBiRbOrsXKz\n"
    "D4+tkk6YtpBFi1mLvwFSFUuP7oChRANCAAS5SUfeFV6SeBAQq+1U2qeWqmZ4+U7X\n"
    "CfYOG7epGJwif1GXqdgfZ3mRv2/yOAvKm7c0ugzV0KY7Ny1JKX1lpVje\n"
    "-----END PRIVATE KEY-----\n"
    ;

/* ---- Signing: tokens are made here, so every case is a real signature over its own bytes. ---- */

static int rng(void *ctx, unsigned char *out, size_t len)
{
    (void)ctx;
    randombytes_buf(out, len);
    return 0;
}

typedef enum signer { S_RSA_A, S_RSA_B, S_RSA_SMALL, S_EC, S_EC_DER, S_NONE, S_HMAC_RSA_PUB } signer;

typedef struct keys {
    mbedtls_pk_context rsa_a, rsa_b, rsa_small, ec;
    char rsa_a_pub_pem[1024];   /* the confusion attack's "HMAC secret" */
    char jwk_rsa_a[1024], jwk_rsa_b[1024], jwk_rsa_small[600], jwk_ec[300];
    char jwks[4096];            /* rsa-1 (key A) and ec-1 */
} keys;

static keys K;

static void b64url(const unsigned char *in, size_t len, char *out, size_t out_size)
{
    assert_true(out_size >= sodium_base64_ENCODED_LEN(len, sodium_base64_VARIANT_URLSAFE_NO_PADDING));
    sodium_bin2base64(out, out_size, in, len, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
}

static void mpi_b64url(const mbedtls_mpi *x, size_t len, char *out, size_t out_size)
{
    unsigned char buf[1024];
    assert_true(len <= sizeof buf);
    assert_int_equal(mbedtls_mpi_write_binary(x, buf, len), 0);
    b64url(buf, len, out, out_size);
}

static void jwk_rsa(mbedtls_pk_context *pk, const char *kid, const char *extra, char *out, size_t out_size)
{
    const mbedtls_rsa_context *rsa = mbedtls_pk_rsa(*pk);
    char n[700], e[16];
    mpi_b64url(&rsa->N, mbedtls_rsa_get_len(rsa), n, sizeof n);
    mpi_b64url(&rsa->E, mbedtls_mpi_size(&rsa->E), e, sizeof e);
    assert_true((size_t)snprintf(out, out_size, "{\"kty\":\"RSA\",\"kid\":\"%s\",\"n\":\"%s\",\"e\":\"%s\"%s}", kid, n, e,
                                 extra) < out_size);
}

/* y_flip: toggles the last bit of y, which takes the point off the curve. */
static void jwk_ec(mbedtls_pk_context *pk, const char *kid, int y_flip, char *out, size_t out_size)
{
    const mbedtls_ecp_keypair *ec = mbedtls_pk_ec(*pk);
    unsigned char y[32];
    char xs[64], ys[64];
    mpi_b64url(&ec->Q.X, 32, xs, sizeof xs);
    assert_int_equal(mbedtls_mpi_write_binary(&ec->Q.Y, y, 32), 0);
    y[31] ^= (unsigned char)(y_flip ? 1 : 0);
    b64url(y, 32, ys, sizeof ys);
    assert_true((size_t)snprintf(out, out_size, "{\"kty\":\"EC\",\"crv\":\"P-256\",\"kid\":\"%s\",\"x\":\"%s\",\"y\":\"%s\"}",
                                 kid, xs, ys) < out_size);
}

static void sign(signer s, const char *input, size_t len, char *out, size_t out_size)
{
    unsigned char hash[32], sig[MBEDTLS_PK_SIGNATURE_MAX_SIZE];
    size_t sig_len = 0;
    crypto_hash_sha256(hash, (const unsigned char *)input, len);
    switch (s) {
    case S_RSA_A:
    case S_RSA_B:
    case S_RSA_SMALL:
    case S_EC_DER: {
        mbedtls_pk_context *pk = s == S_RSA_A ? &K.rsa_a : s == S_RSA_B ? &K.rsa_b : s == S_RSA_SMALL ? &K.rsa_small : &K.ec;
        assert_int_equal(mbedtls_pk_sign(pk, MBEDTLS_MD_SHA256, hash, 32, sig, &sig_len, rng, NULL), 0);
        break;
    }
    case S_EC: {
        /* JWS wants r||s, not the DER mbedtls_pk_sign writes. */
        mbedtls_ecp_keypair *ec = mbedtls_pk_ec(K.ec);
        mbedtls_mpi r, sv;
        mbedtls_mpi_init(&r);
        mbedtls_mpi_init(&sv);
        assert_int_equal(mbedtls_ecdsa_sign(&ec->grp, &r, &sv, &ec->d, hash, 32, rng, NULL), 0);
        assert_int_equal(mbedtls_mpi_write_binary(&r, sig, 32), 0);
        assert_int_equal(mbedtls_mpi_write_binary(&sv, sig + 32, 32), 0);
        mbedtls_mpi_free(&r);
        mbedtls_mpi_free(&sv);
        sig_len = 64;
        break;
    }
    case S_NONE:
        break;
    case S_HMAC_RSA_PUB: {
        /* The classic confusion: HS256 keyed with the verifier's public key, which anyone has. */
        crypto_auth_hmacsha256_state st;
        crypto_auth_hmacsha256_init(&st, (const unsigned char *)K.rsa_a_pub_pem, strlen(K.rsa_a_pub_pem));
        crypto_auth_hmacsha256_update(&st, (const unsigned char *)input, len);
        crypto_auth_hmacsha256_final(&st, sig);
        sig_len = 32;
        break;
    }
    }
    b64url(sig, sig_len, out, out_size);
}

/* header.payload.signature from the JSON texts; the payload may hold NUL bytes. */
static char *make_len(signer s, const char *header, const char *payload, size_t payload_len)
{
    size_t cap = 2 * (strlen(header) + payload_len) + 2048;
    char *tok = malloc(cap);
    assert_non_null(tok);
    b64url((const unsigned char *)header, strlen(header), tok, cap);
    size_t n = strlen(tok);
    tok[n++] = '.';
    b64url((const unsigned char *)payload, payload_len, tok + n, cap - n);
    n += strlen(tok + n);
    size_t input_len = n;
    tok[n++] = '.';
    sign(s, tok, input_len, tok + n, cap - n);
    return tok;
}

static char *make(signer s, const char *header, const char *payload)
{
    return make_len(s, header, payload, strlen(payload));
}

/* ---- The expectations and a good claim set; each case changes one member. ---- */

#define NOW 1700000000
#define ISS "\"iss\":\"https://idp.example.org\""
#define AUD "\"aud\":\"televisit\""
#define EXP "\"exp\":1700000600"
#define IAT "\"iat\":1699999940"
#define SUB "\"sub\":\"patient-42\""
#define NONCE "\"nonce\":\"n-0S6_WzA2Mj\""
#define GOOD "{" ISS "," AUD "," EXP "," IAT "," SUB "," NONCE "}"
#define H_RSA "{\"alg\":\"RS256\",\"kid\":\"rsa-1\",\"typ\":\"JWT\"}"
#define H_EC "{\"alg\":\"ES256\",\"kid\":\"ec-1\"}"

static tv_jwt_expect expect(const char *nonce)
{
    tv_jwt_expect ex = { .issuer = "https://idp.example.org", .audience = "televisit", .nonce = nonce,
                         .now_s = NOW, .leeway_s = 60, .max_age_s = 600 };
    return ex;
}

/* The code, after checking the contract on claims: the payload on success, NULL on failure. */
static int check_full(const char *tok, size_t len, const char *jwks, const tv_jwt_expect *ex)
{
    cJSON *claims = (cJSON *)&claims;   /* not NULL, so a failure that leaves it is seen */
    int rc = tv_jwt_verify(tok, len, jwks, strlen(jwks), ex, &claims);
    if (rc == 0) {
        assert_non_null(claims);
        cJSON_Delete(claims);
    } else {
        assert_null(claims);
    }
    return rc;
}

static int check(const char *tok, const char *jwks, const char *nonce)
{
    tv_jwt_expect ex = expect(nonce);
    return check_full(tok, strlen(tok), jwks, &ex);
}

/* Signs with s and checks against the default key set, expecting the nonce of GOOD. */
static int run(signer s, const char *header, const char *payload)
{
    char *tok = make(s, header, payload);
    int rc = check(tok, K.jwks, "n-0S6_WzA2Mj");
    free(tok);
    return rc;
}

static int group_setup(void **state)
{
    (void)state;
    if (sodium_init() < 0)
        return -1;
    struct { mbedtls_pk_context *pk; const char *pem; size_t len; } all[] = {
        { &K.rsa_a, RSA_A_PEM, sizeof RSA_A_PEM }, { &K.rsa_b, RSA_B_PEM, sizeof RSA_B_PEM },
        { &K.rsa_small, RSA_SMALL_PEM, sizeof RSA_SMALL_PEM }, { &K.ec, EC_PEM, sizeof EC_PEM },
    };
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) {
        mbedtls_pk_init(all[i].pk);
        if (mbedtls_pk_parse_key(all[i].pk, (const unsigned char *)all[i].pem, all[i].len, NULL, 0) != 0)
            return -1;
    }
    if (mbedtls_pk_write_pubkey_pem(&K.rsa_a, (unsigned char *)K.rsa_a_pub_pem, sizeof K.rsa_a_pub_pem) != 0)
        return -1;
    jwk_rsa(&K.rsa_a, "rsa-1", "", K.jwk_rsa_a, sizeof K.jwk_rsa_a);
    jwk_rsa(&K.rsa_b, "rsa-2", "", K.jwk_rsa_b, sizeof K.jwk_rsa_b);
    jwk_rsa(&K.rsa_small, "small", "", K.jwk_rsa_small, sizeof K.jwk_rsa_small);
    jwk_ec(&K.ec, "ec-1", 0, K.jwk_ec, sizeof K.jwk_ec);
    snprintf(K.jwks, sizeof K.jwks, "{\"keys\":[%s,%s]}", K.jwk_rsa_a, K.jwk_ec);
    return 0;
}

static int group_teardown(void **state)
{
    (void)state;
    mbedtls_pk_free(&K.rsa_a);
    mbedtls_pk_free(&K.rsa_b);
    mbedtls_pk_free(&K.rsa_small);
    mbedtls_pk_free(&K.ec);
    return 0;
}

/* A copy of tok with one bit of the decoded signature flipped, re-encoded canonically. */
static char *flip_signature_bit(const char *tok)
{
    const char *sig = strrchr(tok, '.') + 1;
    unsigned char raw[1024];
    size_t raw_len = 0;
    assert_int_equal(sodium_base642bin(raw, sizeof raw, sig, strlen(sig), NULL, &raw_len, NULL,
                                       sodium_base64_VARIANT_URLSAFE_NO_PADDING), 0);
    raw[raw_len / 2] ^= 0x10;
    size_t prefix = (size_t)(sig - tok), cap = prefix + 2 * raw_len + 8;
    char *out = malloc(cap);
    assert_non_null(out);
    memcpy(out, tok, prefix);
    b64url(raw, raw_len, out + prefix, cap - prefix);
    return out;
}

/* ---- The RFC 7515 examples ---- */

/* The claims are only read after the signature verifies, so the claim code proves the signature
 * passed: iss "joe" is accepted, and the example has no aud, the next check. */
static void rfc7515_a2_rs256(void **s)
{
    (void)s;
    tv_jwt_expect ex = expect(NULL);
    ex.issuer = "joe";
    assert_int_equal(check_full(RFC_A2_JWS, strlen(RFC_A2_JWS), RFC_A2_JWKS, &ex), TV_ERR_JWT_AUDIENCE);
    ex.issuer = "not-joe";
    assert_int_equal(check_full(RFC_A2_JWS, strlen(RFC_A2_JWS), RFC_A2_JWKS, &ex), TV_ERR_JWT_ISSUER);
    char *bad = flip_signature_bit(RFC_A2_JWS);
    ex.issuer = "joe";
    assert_int_equal(check_full(bad, strlen(bad), RFC_A2_JWKS, &ex), TV_ERR_JWT_SIGNATURE);
    free(bad);
    /* The RS256 example against the ES256 example's key: no key of the right type. */
    assert_int_equal(check_full(RFC_A2_JWS, strlen(RFC_A2_JWS), RFC_A3_JWKS, &ex), TV_ERR_JWT_KEY);
    char kid[TV_JWT_KID_MAX];
    strcpy(kid, "x");
    assert_int_equal(tv_jwt_kid(RFC_A2_JWS, strlen(RFC_A2_JWS), kid, sizeof kid), 0);
    assert_string_equal(kid, "");
}

static void rfc7515_a3_es256(void **s)
{
    (void)s;
    tv_jwt_expect ex = expect(NULL);
    ex.issuer = "joe";
    assert_int_equal(check_full(RFC_A3_JWS, strlen(RFC_A3_JWS), RFC_A3_JWKS, &ex), TV_ERR_JWT_AUDIENCE);
    char *bad = flip_signature_bit(RFC_A3_JWS);
    assert_int_equal(check_full(bad, strlen(bad), RFC_A3_JWKS, &ex), TV_ERR_JWT_SIGNATURE);
    free(bad);
    assert_int_equal(check_full(RFC_A3_JWS, strlen(RFC_A3_JWS), RFC_A2_JWKS, &ex), TV_ERR_JWT_KEY);
    /* The payload altered (the signing input changes): the same signature no longer holds. */
    char tampered[sizeof RFC_A3_JWS];
    memcpy(tampered, RFC_A3_JWS, sizeof tampered);
    tampered[strlen("eyJhbGciOiJFUzI1NiJ9.eyJpc3MiOiJ")] = 'r';   /* "joe" becomes "koe" */
    assert_int_equal(check_full(tampered, strlen(tampered), RFC_A3_JWKS, &ex), TV_ERR_JWT_SIGNATURE);
}

/* ---- Good tokens ---- */

static void good_rs256_and_es256(void **s)
{
    (void)s;
    static const signer signers[] = { S_RSA_A, S_EC };
    static const char *const headers[] = { H_RSA, H_EC };
    for (int i = 0; i < 2; i++) {
        char *tok = make(signers[i], headers[i], GOOD);
        tv_jwt_expect ex = expect("n-0S6_WzA2Mj");
        cJSON *claims = NULL;
        assert_int_equal(tv_jwt_verify(tok, strlen(tok), K.jwks, strlen(K.jwks), &ex, &claims), 0);
        assert_non_null(claims);
        const cJSON *sub = cJSON_GetObjectItemCaseSensitive(claims, "sub");
        assert_true(cJSON_IsString(sub));
        assert_string_equal(sub->valuestring, "patient-42");
        cJSON_Delete(claims);
        /* the token is not read past jwt_len, and need not be NUL-terminated */
        char *copy = malloc(strlen(tok));
        memcpy(copy, tok, strlen(tok));
        assert_int_equal(check_full(copy, strlen(tok), K.jwks, &ex), 0);
        free(copy);
        /* no nonce was sent (expect->nonce NULL): the token's own nonce does not matter */
        assert_int_equal(check(tok, K.jwks, NULL), 0);
        free(tok);
    }
    /* kid-less headers: each key of the right type is tried */
    assert_int_equal(run(S_RSA_A, "{\"alg\":\"RS256\"}", GOOD), 0);
    assert_int_equal(run(S_EC, "{\"alg\":\"ES256\"}", GOOD), 0);
    /* the edges of the leeway are inside */
    assert_int_equal(run(S_RSA_A, H_RSA, "{" ISS "," AUD ",\"exp\":1699999940," IAT "," SUB "," NONCE "}"), 0);
    assert_int_equal(run(S_RSA_A, H_RSA, "{" ISS "," AUD "," EXP ",\"iat\":1700000060," SUB "," NONCE "}"), 0);
    assert_int_equal(run(S_RSA_A, H_RSA, "{" ISS "," AUD "," EXP ",\"iat\":1699999400," SUB "," NONCE "}"), 0);
    assert_int_equal(run(S_RSA_A, H_RSA, "{" ISS "," AUD "," EXP "," IAT ",\"nbf\":1700000060," SUB "," NONCE "}"), 0);
    /* a single audience in an array, and an azp naming us */
    assert_int_equal(run(S_RSA_A, H_RSA, "{" ISS ",\"aud\":[\"televisit\"]," EXP "," IAT "," SUB "," NONCE "}"), 0);
    assert_int_equal(run(S_RSA_A, H_RSA, "{" ISS "," AUD ",\"azp\":\"televisit\"," EXP "," IAT "," SUB "," NONCE "}"), 0);
}

/* ---- Times ---- */

static void times(void **s)
{
    (void)s;
    /* expired beyond the leeway */
    assert_int_equal(run(S_RSA_A, H_RSA, "{" ISS "," AUD ",\"exp\":1699999939," IAT "," SUB "," NONCE "}"),
                     TV_ERR_JWT_EXPIRED);
    /* issued in the future */
    assert_int_equal(run(S_RSA_A, H_RSA, "{" ISS "," AUD "," EXP ",\"iat\":1700000061," SUB "," NONCE "}"),
                     TV_ERR_JWT_TIME);
    /* issued too long ago, though not expired */
    assert_int_equal(run(S_RSA_A, H_RSA, "{" ISS "," AUD "," EXP ",\"iat\":1699999399," SUB "," NONCE "}"),
                     TV_ERR_JWT_TIME);
    /* not valid yet */
    assert_int_equal(run(S_RSA_A, H_RSA, "{" ISS "," AUD "," EXP "," IAT ",\"nbf\":1700000061," SUB "," NONCE "}"),
                     TV_ERR_JWT_TIME);
    /* missing or not numbers */
    assert_int_equal(run(S_RSA_A, H_RSA, "{" ISS "," AUD "," IAT "," SUB "," NONCE "}"), TV_ERR_JWT_CLAIM);
    assert_int_equal(run(S_RSA_A, H_RSA, "{" ISS "," AUD "," EXP "," SUB "," NONCE "}"), TV_ERR_JWT_CLAIM);
    assert_int_equal(run(S_RSA_A, H_RSA, "{" ISS "," AUD ",\"exp\":\"1700000600\"," IAT "," SUB "," NONCE "}"),
                     TV_ERR_JWT_CLAIM);
    assert_int_equal(run(S_RSA_A, H_RSA, "{" ISS "," AUD "," EXP "," IAT ",\"nbf\":null," SUB "," NONCE "}"),
                     TV_ERR_JWT_CLAIM);
    assert_int_equal(run(S_RSA_A, H_RSA, "{" ISS "," AUD ",\"exp\":1e300," IAT "," SUB "," NONCE "}"),
                     TV_ERR_JWT_CLAIM);
}

/* ---- Issuer and audience ---- */

static void issuer_and_audience(void **s)
{
    (void)s;
    assert_int_equal(run(S_RSA_A, H_RSA, "{\"iss\":\"https://evil.example.org\"," AUD "," EXP "," IAT "," SUB "," NONCE "}"),
                     TV_ERR_JWT_ISSUER);
    assert_int_equal(run(S_RSA_A, H_RSA, "{\"iss\":\"https://idp.example.org/\"," AUD "," EXP "," IAT "," SUB "," NONCE "}"),
                     TV_ERR_JWT_ISSUER);
    assert_int_equal(run(S_RSA_A, H_RSA, "{" AUD "," EXP "," IAT "," SUB "," NONCE "}"), TV_ERR_JWT_ISSUER);
    assert_int_equal(run(S_RSA_A, H_RSA, "{" ISS ",\"aud\":\"other-app\"," EXP "," IAT "," SUB "," NONCE "}"),
                     TV_ERR_JWT_AUDIENCE);
    assert_int_equal(run(S_RSA_A, H_RSA, "{" ISS "," EXP "," IAT "," SUB "," NONCE "}"), TV_ERR_JWT_AUDIENCE);
    assert_int_equal(run(S_RSA_A, H_RSA, "{" ISS ",\"aud\":[]," EXP "," IAT "," SUB "," NONCE "}"), TV_ERR_JWT_AUDIENCE);
    /* several audiences: azp must be present and name us */
    assert_int_equal(run(S_RSA_A, H_RSA, "{" ISS ",\"aud\":[\"televisit\",\"other-app\"]," EXP "," IAT "," SUB "," NONCE "}"),
                     TV_ERR_JWT_AUDIENCE);
    assert_int_equal(run(S_RSA_A, H_RSA, "{" ISS ",\"aud\":[\"televisit\",\"other-app\"],\"azp\":\"other-app\"," EXP ","
                                         IAT "," SUB "," NONCE "}"),
                     TV_ERR_JWT_AUDIENCE);
    assert_int_equal(run(S_RSA_A, H_RSA, "{" ISS ",\"aud\":[\"other-app\",\"televisit\"],\"azp\":\"televisit\"," EXP ","
                                         IAT "," SUB "," NONCE "}"),
                     0);
    /* an azp naming another client, even with us as the one audience */
    assert_int_equal(run(S_RSA_A, H_RSA, "{" ISS "," AUD ",\"azp\":\"other-app\"," EXP "," IAT "," SUB "," NONCE "}"),
                     TV_ERR_JWT_AUDIENCE);
}

/* ---- Subject and nonce ---- */

static void subject_and_nonce(void **s)
{
    (void)s;
    assert_int_equal(run(S_RSA_A, H_RSA, "{" ISS "," AUD "," EXP "," IAT "," NONCE "}"), TV_ERR_JWT_CLAIM);
    assert_int_equal(run(S_RSA_A, H_RSA, "{" ISS "," AUD "," EXP "," IAT ",\"sub\":\"\"," NONCE "}"), TV_ERR_JWT_CLAIM);
    assert_int_equal(run(S_RSA_A, H_RSA, "{" ISS "," AUD "," EXP "," IAT ",\"sub\":42," NONCE "}"), TV_ERR_JWT_CLAIM);
    char payload[600], long_sub[300];
    memset(long_sub, 'a', 256);
    long_sub[256] = '\0';
    snprintf(payload, sizeof payload, "{" ISS "," AUD "," EXP "," IAT ",\"sub\":\"%s\"," NONCE "}", long_sub);
    assert_int_equal(run(S_RSA_A, H_RSA, payload), TV_ERR_JWT_CLAIM);
    long_sub[255] = '\0';
    snprintf(payload, sizeof payload, "{" ISS "," AUD "," EXP "," IAT ",\"sub\":\"%s\"," NONCE "}", long_sub);
    assert_int_equal(run(S_RSA_A, H_RSA, payload), 0);
    /* wrong nonce, one a prefix of ours, one longer, none at all, not a string */
    assert_int_equal(run(S_RSA_A, H_RSA, "{" ISS "," AUD "," EXP "," IAT "," SUB ",\"nonce\":\"n-0S6_WzA2Mk\"}"),
                     TV_ERR_JWT_NONCE);
    assert_int_equal(run(S_RSA_A, H_RSA, "{" ISS "," AUD "," EXP "," IAT "," SUB ",\"nonce\":\"n-0S6_WzA2M\"}"),
                     TV_ERR_JWT_NONCE);
    assert_int_equal(run(S_RSA_A, H_RSA, "{" ISS "," AUD "," EXP "," IAT "," SUB ",\"nonce\":\"n-0S6_WzA2Mj2\"}"),
                     TV_ERR_JWT_NONCE);
    assert_int_equal(run(S_RSA_A, H_RSA, "{" ISS "," AUD "," EXP "," IAT "," SUB "}"), TV_ERR_JWT_NONCE);
    assert_int_equal(run(S_RSA_A, H_RSA, "{" ISS "," AUD "," EXP "," IAT "," SUB ",\"nonce\":7}"), TV_ERR_JWT_NONCE);
    /* "\u0000" would hide the rest of a string from a C comparison: such tokens are malformed */
    assert_int_equal(run(S_RSA_A, H_RSA, "{" ISS "," AUD "," EXP "," IAT "," SUB ",\"nonce\":\"n-0S6_WzA2Mj\\u0000x\"}"),
                     TV_ERR_JWT_FORMAT);
    /* but an escaped backslash followed by the text u0000 is an ordinary string */
    assert_int_equal(run(S_RSA_A, H_RSA, "{" ISS "," AUD "," EXP "," IAT ",\"sub\":\"a\\\\u0000\"," NONCE "}"), 0);
}

/* ---- Algorithms ---- */

static void algorithms(void **s)
{
    (void)s;
    /* RFC 7515 A.5's unsecured JWS shape: alg none, empty signature */
    assert_int_equal(run(S_NONE, "{\"alg\":\"none\"}", GOOD), TV_ERR_JWT_ALG);
    assert_int_equal(run(S_NONE, "{\"alg\":\"none\",\"kid\":\"rsa-1\"}", GOOD), TV_ERR_JWT_ALG);
    /* HS256 keyed with the RSA public key (PEM, and the raw JWK text) */
    assert_int_equal(run(S_HMAC_RSA_PUB, "{\"alg\":\"HS256\",\"kid\":\"rsa-1\"}", GOOD), TV_ERR_JWT_ALG);
    assert_int_equal(run(S_HMAC_RSA_PUB, "{\"alg\":\"HS256\"}", GOOD), TV_ERR_JWT_ALG);
    static const char *const others[] = {
        "{\"alg\":\"RS512\",\"kid\":\"rsa-1\"}", "{\"alg\":\"PS256\",\"kid\":\"rsa-1\"}", "{\"alg\":\"rs256\",\"kid\":\"rsa-1\"}",
        "{\"alg\":\"RS256 \",\"kid\":\"rsa-1\"}", "{\"kid\":\"rsa-1\"}", "{\"alg\":null,\"kid\":\"rsa-1\"}",
        "{\"alg\":[\"RS256\"],\"kid\":\"rsa-1\"}", "{\"alg\":\"ES384\",\"kid\":\"ec-1\"}", "{\"alg\":\"EdDSA\"}",
    };
    for (size_t i = 0; i < sizeof others / sizeof others[0]; i++)
        if (run(S_RSA_A, others[i], GOOD) != TV_ERR_JWT_ALG)
            fail_msg("accepted header %s", others[i]);
    /* RS256 naming the EC key: no fitting key. ES256 signed by the RSA key naming the RSA key: same. */
    assert_int_equal(run(S_RSA_A, "{\"alg\":\"RS256\",\"kid\":\"ec-1\"}", GOOD), TV_ERR_JWT_KEY);
    assert_int_equal(run(S_RSA_A, "{\"alg\":\"ES256\",\"kid\":\"rsa-1\"}", GOOD), TV_ERR_JWT_KEY);
    /* ES256 with a DER signature (what most ECDSA APIs return) */
    assert_int_equal(run(S_EC_DER, H_EC, GOOD), TV_ERR_JWT_SIGNATURE);
    assert_int_equal(run(S_EC_DER, "{\"alg\":\"ES256\"}", GOOD), TV_ERR_JWT_SIGNATURE);
}

/* ---- Signatures and keys ---- */

static void signatures(void **s)
{
    (void)s;
    /* another RSA key claiming our key's kid */
    assert_int_equal(run(S_RSA_B, H_RSA, GOOD), TV_ERR_JWT_SIGNATURE);
    assert_int_equal(run(S_RSA_B, "{\"alg\":\"RS256\"}", GOOD), TV_ERR_JWT_SIGNATURE);
    /* a kid the set does not have */
    assert_int_equal(run(S_RSA_A, "{\"alg\":\"RS256\",\"kid\":\"rsa-9\"}", GOOD), TV_ERR_JWT_KEY);
    /* payload swapped after signing: the good token's signature on another payload */
    char *good = make(S_RSA_A, H_RSA, GOOD);
    char *evil = make(S_RSA_A, H_RSA, "{" ISS "," AUD "," EXP "," IAT ",\"sub\":\"admin\"," NONCE "}");
    char *forged = malloc(strlen(good) + strlen(evil));
    const char *evil_sig = strrchr(evil, '.'), *good_sig = strrchr(good, '.');
    size_t head = (size_t)(evil_sig - evil);
    memcpy(forged, evil, head);
    strcpy(forged + head, good_sig);
    assert_int_equal(check(forged, K.jwks, "n-0S6_WzA2Mj"), TV_ERR_JWT_SIGNATURE);
    /* one bit of each signature flipped */
    char *bad = flip_signature_bit(good);
    assert_int_equal(check(bad, K.jwks, "n-0S6_WzA2Mj"), TV_ERR_JWT_SIGNATURE);
    free(bad);
    char *ec = make(S_EC, H_EC, GOOD);
    bad = flip_signature_bit(ec);
    assert_int_equal(check(bad, K.jwks, "n-0S6_WzA2Mj"), TV_ERR_JWT_SIGNATURE);
    free(bad);
    /* signature truncated by one byte (RSA: shorter than the modulus; EC: not 64 bytes) */
    char *toks[] = { good, ec };
    for (int i = 0; i < 2; i++) {
        const char *sig = strrchr(toks[i], '.') + 1;
        unsigned char raw[512];
        size_t raw_len = 0;
        assert_int_equal(sodium_base642bin(raw, sizeof raw, sig, strlen(sig), NULL, &raw_len, NULL,
                                           sodium_base64_VARIANT_URLSAFE_NO_PADDING), 0);
        size_t prefix = (size_t)(sig - toks[i]);
        char *t = malloc(prefix + 2 * raw_len + 8);
        memcpy(t, toks[i], prefix);
        b64url(raw, raw_len - 1, t + prefix, 2 * raw_len + 8);
        assert_int_equal(check(t, K.jwks, "n-0S6_WzA2Mj"), TV_ERR_JWT_SIGNATURE);
        /* and an empty signature */
        t[prefix] = '\0';
        assert_int_equal(check(t, K.jwks, "n-0S6_WzA2Mj"), TV_ERR_JWT_SIGNATURE);
        free(t);
    }
    /* ES256 signature of all zeros (r = s = 0 must not verify) */
    const char *ec_sig = strrchr(ec, '.') + 1;
    size_t ec_prefix = (size_t)(ec_sig - ec);
    char *z = malloc(ec_prefix + 100);
    memcpy(z, ec, ec_prefix);
    unsigned char zero_sig[64] = { 0 };
    b64url(zero_sig, 64, z + ec_prefix, 100);
    assert_int_equal(check(z, K.jwks, "n-0S6_WzA2Mj"), TV_ERR_JWT_SIGNATURE);
    free(z);
    free(ec);
    free(good);
    free(evil);
    free(forged);
}

static void key_sets(void **s)
{
    (void)s;
    char jwks[4096], jwk[1100];
    /* rotation: the second key of the set, by kid, and without kid */
    snprintf(jwks, sizeof jwks, "{\"keys\":[%s,%s]}", K.jwk_rsa_a, K.jwk_rsa_b);
    char *tok = make(S_RSA_B, "{\"alg\":\"RS256\",\"kid\":\"rsa-2\"}", GOOD);
    assert_int_equal(check(tok, jwks, "n-0S6_WzA2Mj"), 0);
    char kid[TV_JWT_KID_MAX];
    assert_int_equal(tv_jwt_kid(tok, strlen(tok), kid, sizeof kid), 0);
    assert_string_equal(kid, "rsa-2");
    /* the set before the rotation does not have it: the caller refreshes on _KEY */
    assert_int_equal(check(tok, K.jwks, "n-0S6_WzA2Mj"), TV_ERR_JWT_KEY);
    free(tok);
    tok = make(S_RSA_B, "{\"alg\":\"RS256\"}", GOOD);
    assert_int_equal(check(tok, jwks, "n-0S6_WzA2Mj"), 0);
    free(tok);
    /* unusable sets */
    tok = make(S_RSA_A, H_RSA, GOOD);
    static const char *const bad_sets[] = {
        "", "not json", "{\"keys\":[]}", "{}", "[]", "{\"keys\":{}}", "{\"keys\":[1,\"x\",null]}", "{\"keys\":[{}]}",
        "{\"keys\":[{\"kty\":\"RSA\",\"kid\":\"rsa-1\",\"n\":\"AQAB\",\"e\":\"AQAB\"}]}",
        "{\"keys\":[{\"kty\":\"RSA\",\"kid\":\"rsa-1\",\"n\":\"!!\",\"e\":\"AQAB\"}]}",
        "{\"keys\":[{\"kty\":\"RSA\",\"kid\":\"rsa-1\"}]}",
    };
    for (size_t i = 0; i < sizeof bad_sets / sizeof bad_sets[0]; i++) {
        tv_jwt_expect ex = expect("n-0S6_WzA2Mj");
        cJSON *claims = NULL;
        if (tv_jwt_verify(tok, strlen(tok), bad_sets[i], strlen(bad_sets[i]), &ex, &claims) != TV_ERR_JWT_KEY)
            fail_msg("key set %zu (%s) not refused as _KEY", i, bad_sets[i]);
        assert_null(claims);
    }
    {
        tv_jwt_expect ex = expect("n-0S6_WzA2Mj");
        cJSON *claims = NULL;
        assert_int_equal(tv_jwt_verify(tok, strlen(tok), NULL, 0, &ex, &claims), TV_ERR_JWT_KEY);
        /* the JWKS text is bounded by its length, not by a NUL */
        snprintf(jwks, sizeof jwks, "{\"keys\":[%s]}garbage", K.jwk_rsa_a);
        assert_int_equal(tv_jwt_verify(tok, strlen(tok), jwks, strlen(jwks) - 7, &ex, &claims), 0);
        cJSON_Delete(claims);
        assert_int_equal(tv_jwt_verify(tok, strlen(tok), jwks, strlen(jwks), &ex, &claims), TV_ERR_JWT_KEY);
    }
    /* the key's own alg, use and key_ops */
    static const char *const extras[] = { ",\"alg\":\"RS512\"", ",\"use\":\"enc\"", ",\"key_ops\":[\"encrypt\"]",
                                          ",\"alg\":7", ",\"use\":null" };
    for (size_t i = 0; i < sizeof extras / sizeof extras[0]; i++) {
        jwk_rsa(&K.rsa_a, "rsa-1", extras[i], jwk, sizeof jwk);
        snprintf(jwks, sizeof jwks, "{\"keys\":[%s]}", jwk);
        if (check(tok, jwks, "n-0S6_WzA2Mj") != TV_ERR_JWT_KEY)
            fail_msg("used a key with %s", extras[i]);
    }
    /* a 9-byte public exponent: valid RSA, but only a slow way to verify */
    jwk_rsa(&K.rsa_a, "rsa-1", "", jwk, sizeof jwk);
    char *e = strstr(jwk, "\"e\":\"AQAB\"");
    assert_non_null(e);
    snprintf(jwks, sizeof jwks, "{\"keys\":[%.*s\"e\":\"AQAAAAAAAAAB\"}]}", (int)(e - jwk), jwk);
    assert_int_equal(check(tok, jwks, "n-0S6_WzA2Mj"), TV_ERR_JWT_KEY);
    jwk_rsa(&K.rsa_a, "rsa-1", ",\"alg\":\"RS256\",\"use\":\"sig\",\"key_ops\":[\"verify\"]", jwk, sizeof jwk);
    snprintf(jwks, sizeof jwks, "{\"keys\":[%s]}", jwk);
    assert_int_equal(check(tok, jwks, "n-0S6_WzA2Mj"), 0);
    free(tok);
    /* a 1024-bit modulus, though the signature is right for it */
    snprintf(jwks, sizeof jwks, "{\"keys\":[%s]}", K.jwk_rsa_small);
    tok = make(S_RSA_SMALL, "{\"alg\":\"RS256\",\"kid\":\"small\"}", GOOD);
    assert_int_equal(check(tok, jwks, "n-0S6_WzA2Mj"), TV_ERR_JWT_KEY);
    free(tok);
    tok = make(S_RSA_SMALL, "{\"alg\":\"RS256\"}", GOOD);
    assert_int_equal(check(tok, jwks, "n-0S6_WzA2Mj"), TV_ERR_JWT_KEY);
    free(tok);
    /* an EC point off the curve; and x or y not 32 bytes */
    jwk_ec(&K.ec, "ec-1", 1, jwk, sizeof jwk);
    snprintf(jwks, sizeof jwks, "{\"keys\":[%s]}", jwk);
    tok = make(S_EC, H_EC, GOOD);
    assert_int_equal(check(tok, jwks, "n-0S6_WzA2Mj"), TV_ERR_JWT_KEY);
    snprintf(jwks, sizeof jwks, "{\"keys\":[{\"kty\":\"EC\",\"crv\":\"P-256\",\"kid\":\"ec-1\",\"x\":\"AQAB\",\"y\":\"AQAB\"}]}");
    assert_int_equal(check(tok, jwks, "n-0S6_WzA2Mj"), TV_ERR_JWT_KEY);
    /* the right point on another curve name */
    jwk_ec(&K.ec, "ec-1", 0, jwk, sizeof jwk);
    char *crv = strstr(jwk, "P-256");
    memcpy(crv, "P-384", 5);
    snprintf(jwks, sizeof jwks, "{\"keys\":[%s]}", jwk);
    assert_int_equal(check(tok, jwks, "n-0S6_WzA2Mj"), TV_ERR_JWT_KEY);
    free(tok);
}

/* ---- Malformed tokens ---- */

static char *b64_of(const char *s)
{
    size_t cap = 2 * strlen(s) + 8;
    char *out = malloc(cap);
    b64url((const unsigned char *)s, strlen(s), out, cap);
    return out;
}

static void malformed(void **s)
{
    (void)s;
    char *good = make(S_RSA_A, H_RSA, GOOD);
    size_t len = strlen(good);
    const char *dot1 = strchr(good, '.'), *dot2 = strrchr(good, '.');
    char buf[TV_JWT_MAX + 64];

    /* two parts, four parts, five parts (JWE's shape), nothing */
    snprintf(buf, sizeof buf, "%.*s", (int)(dot2 - good), good);
    assert_int_equal(check(buf, K.jwks, NULL), TV_ERR_JWT_FORMAT);
    snprintf(buf, sizeof buf, "%s.", good);
    assert_int_equal(check(buf, K.jwks, NULL), TV_ERR_JWT_FORMAT);
    snprintf(buf, sizeof buf, "%s.AAAA", good);
    assert_int_equal(check(buf, K.jwks, NULL), TV_ERR_JWT_FORMAT);
    snprintf(buf, sizeof buf, "%s.AAAA.AAAA", good);
    assert_int_equal(check(buf, K.jwks, NULL), TV_ERR_JWT_FORMAT);
    assert_int_equal(check("", K.jwks, NULL), TV_ERR_JWT_FORMAT);
    assert_int_equal(check("..", K.jwks, NULL), TV_ERR_JWT_FORMAT);
    /* bad base64: a foreign character in each part; standard alphabet; padding; whitespace */
    size_t at[3] = { 3, (size_t)(dot1 - good) + 5, (size_t)(dot2 - good) + 5 };
    static const char foreign[] = { '*', '+', '/', '=', ' ', '\n' };
    for (int p = 0; p < 3; p++)
        for (size_t f = 0; f < sizeof foreign; f++) {
            memcpy(buf, good, len + 1);
            buf[at[p]] = foreign[f];
            if (check(buf, K.jwks, NULL) != TV_ERR_JWT_FORMAT)
                fail_msg("part %d with 0x%02x accepted", p, foreign[f]);
        }
    snprintf(buf, sizeof buf, "%.*s=%s", (int)(dot2 - good), good, dot2);
    assert_int_equal(check(buf, K.jwks, NULL), TV_ERR_JWT_FORMAT);
    snprintf(buf, sizeof buf, "%s==", good);
    assert_int_equal(check(buf, K.jwks, NULL), TV_ERR_JWT_FORMAT);
    /* a NUL inside the length */
    memcpy(buf, good, len + 1);
    buf[at[1]] = '\0';
    {
        tv_jwt_expect ex = expect(NULL);
        assert_int_equal(check_full(buf, len, K.jwks, &ex), TV_ERR_JWT_FORMAT);
    }
    /* non-canonical base64: "eyJ" + a last character with leftover bits set */
    char *p_b64 = b64_of(GOOD);
    size_t pl = strlen(p_b64);
    assert_true(pl % 4 != 0);   /* a part with leftover bits, or this case tests nothing */
    {
        static const char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
        char last = p_b64[pl - 1];
        size_t idx = (size_t)(strchr(alphabet, last) - alphabet);
        p_b64[pl - 1] = alphabet[idx ^ 1];   /* same decoded bytes, a leftover bit set */
        snprintf(buf, sizeof buf, "%.*s.%s%s", (int)(dot1 - good), good, p_b64, dot2);
        assert_int_equal(check(buf, K.jwks, NULL), TV_ERR_JWT_FORMAT);
    }
    free(p_b64);
    /* header and payload that are not JSON objects (signed, so only the shape is wrong) */
    static const char *const not_objects[] = { "{\"alg\":\"RS256\"", "[\"RS256\"]", "\"RS256\"", "null", "",
                                               "{\"alg\":\"RS256\"} x", "{\"alg\":\"RS256\"}{}", "\xff{}" };
    for (size_t i = 0; i < sizeof not_objects / sizeof not_objects[0]; i++) {
        char *t = make(S_RSA_A, not_objects[i], GOOD);
        if (check(t, K.jwks, NULL) != TV_ERR_JWT_FORMAT)
            fail_msg("header %s accepted", not_objects[i]);
        free(t);
        t = make(S_RSA_A, H_RSA, not_objects[i]);
        if (check(t, K.jwks, NULL) != TV_ERR_JWT_FORMAT)
            fail_msg("payload %s accepted", not_objects[i]);
        free(t);
    }
    /* a raw NUL byte: inside a string cJSON keeps it, and C would read the string as ending there */
    {
        static const char nul_in_string[] = "{" ISS "," AUD "," EXP "," IAT "," SUB ",\"nonce\":\"n-0S6_WzA2Mj\0x\"}";
        static const char nul_tail[] = GOOD "\0{\"sub\":\"admin\"}";
        char *t = make_len(S_RSA_A, H_RSA, nul_in_string, sizeof nul_in_string - 1);
        assert_int_equal(check(t, K.jwks, "n-0S6_WzA2Mj"), TV_ERR_JWT_FORMAT);
        free(t);
        t = make_len(S_RSA_A, H_RSA, nul_tail, sizeof nul_tail - 1);
        assert_int_equal(check(t, K.jwks, "n-0S6_WzA2Mj"), TV_ERR_JWT_FORMAT);
        free(t);
    }
    /* invalid UTF-8 in a string */
    assert_int_equal(run(S_RSA_A, H_RSA, "{" ISS "," AUD "," EXP "," IAT ",\"sub\":\"\xc0\xaf\"," NONCE "}"),
                     TV_ERR_JWT_FORMAT);
    /* repeated names: header and payload */
    assert_int_equal(run(S_RSA_A, "{\"alg\":\"RS256\",\"kid\":\"rsa-1\",\"alg\":\"none\"}", GOOD), TV_ERR_JWT_FORMAT);
    assert_int_equal(run(S_RSA_A, H_RSA, "{" ISS "," AUD "," EXP "," IAT "," SUB "," NONCE ",\"sub\":\"admin\"}"),
                     TV_ERR_JWT_FORMAT);
    assert_int_equal(run(S_RSA_A, H_RSA, "{" ISS "," AUD "," EXP "," IAT "," SUB "," NONCE ",\"iss\":\"x\"}"),
                     TV_ERR_JWT_FORMAT);
    /* crit, kid of the wrong type, empty, too long */
    assert_int_equal(run(S_RSA_A, "{\"alg\":\"RS256\",\"kid\":\"rsa-1\",\"crit\":[\"exp\"],\"exp\":1}", GOOD),
                     TV_ERR_JWT_FORMAT);
    assert_int_equal(run(S_RSA_A, "{\"alg\":\"RS256\",\"kid\":1}", GOOD), TV_ERR_JWT_FORMAT);
    assert_int_equal(run(S_RSA_A, "{\"alg\":\"RS256\",\"kid\":\"\"}", GOOD), TV_ERR_JWT_FORMAT);
    /* oversized: one byte over the limit by length, and a real token grown past it */
    memset(buf, 'A', TV_JWT_MAX + 1);
    buf[10] = '.';
    buf[20] = '.';
    buf[TV_JWT_MAX + 1] = '\0';
    assert_int_equal(check(buf, K.jwks, NULL), TV_ERR_JWT_FORMAT);
    char *big = malloc(TV_JWT_MAX + 200);
    int n = snprintf(big, TV_JWT_MAX + 200, "{" ISS "," AUD "," EXP "," IAT "," SUB "," NONCE ",\"pad\":\"");
    memset(big + n, 'x', TV_JWT_MAX * 3 / 4);
    strcpy(big + n + TV_JWT_MAX * 3 / 4, "\"}");
    char *t = make(S_RSA_A, H_RSA, big);
    assert_true(strlen(t) > TV_JWT_MAX);
    assert_int_equal(check(t, K.jwks, "n-0S6_WzA2Mj"), TV_ERR_JWT_FORMAT);
    free(t);
    /* ... while a token just under the limit is fine */
    size_t fill = TV_JWT_MAX * 3 / 4 - 700;
    memset(big + n, 'x', fill);
    strcpy(big + n + fill, "\"}");
    t = make(S_RSA_A, H_RSA, big);
    assert_true(strlen(t) <= TV_JWT_MAX);
    assert_int_equal(check(t, K.jwks, "n-0S6_WzA2Mj"), 0);
    free(t);
    free(big);
    free(good);
    /* arguments */
    tv_jwt_expect ex = expect(NULL);
    cJSON *claims = NULL;
    assert_int_equal(tv_jwt_verify("a.b.c", 5, K.jwks, strlen(K.jwks), &ex, NULL), TV_ERR_INVALID);
    assert_int_equal(tv_jwt_verify("a.b.c", 5, K.jwks, strlen(K.jwks), NULL, &claims), TV_ERR_INVALID);
    assert_null(claims);
    ex.audience = NULL;
    assert_int_equal(tv_jwt_verify("a.b.c", 5, K.jwks, strlen(K.jwks), &ex, &claims), TV_ERR_INVALID);
    assert_int_equal(tv_jwt_verify(NULL, 0, K.jwks, strlen(K.jwks), &ex, &claims), TV_ERR_INVALID);
    ex = expect(NULL);
    assert_int_equal(tv_jwt_verify(NULL, 0, K.jwks, strlen(K.jwks), &ex, &claims), TV_ERR_JWT_FORMAT);
}

/* ---- tv_jwt_kid ---- */

static void kid(void **s)
{
    (void)s;
    char k[TV_JWT_KID_MAX];
    char *tok = make(S_RSA_A, H_RSA, GOOD);
    assert_int_equal(tv_jwt_kid(tok, strlen(tok), k, sizeof k), 0);
    assert_string_equal(k, "rsa-1");
    assert_int_equal(tv_jwt_kid(tok, strlen(tok), k, 6), 0);   /* "rsa-1" and its NUL */
    assert_int_equal(tv_jwt_kid(tok, strlen(tok), k, 5), TV_ERR_NOSPACE);
    assert_string_equal(k, "");
    assert_int_equal(tv_jwt_kid(tok, strlen(tok), NULL, 0), TV_ERR_INVALID);
    free(tok);
    /* the kid is read whatever the alg: the caller needs it before any key is chosen */
    tok = make(S_NONE, "{\"alg\":\"none\",\"kid\":\"k\"}", GOOD);
    assert_int_equal(tv_jwt_kid(tok, strlen(tok), k, sizeof k), 0);
    assert_string_equal(k, "k");
    free(tok);
    tok = make(S_RSA_A, "{\"alg\":\"RS256\"}", GOOD);
    strcpy(k, "stale");
    assert_int_equal(tv_jwt_kid(tok, strlen(tok), k, sizeof k), 0);
    assert_string_equal(k, "");
    free(tok);
    /* garbage */
    static const char *const garbage[] = { "", "abc", "a.b", "a.b.c", "....", "eyJ9.eyJ9.", "e30.e30.e30.e30" };
    for (size_t i = 0; i < sizeof garbage / sizeof garbage[0]; i++) {
        strcpy(k, "stale");
        if (tv_jwt_kid(garbage[i], strlen(garbage[i]), k, sizeof k) != TV_ERR_JWT_FORMAT)
            fail_msg("kid of \"%s\" not _FORMAT", garbage[i]);
        assert_string_equal(k, "");
    }
    /* "e30" is {}: a minimal JWS with no kid */
    assert_int_equal(tv_jwt_kid("e30.e30.", 8, k, sizeof k), 0);
    assert_string_equal(k, "");
    /* a kid of TV_JWT_KID_MAX bytes has no room for its NUL anywhere: malformed, not just too long */
    char header[400];
    char long_kid[TV_JWT_KID_MAX + 1];
    memset(long_kid, 'k', TV_JWT_KID_MAX);
    long_kid[TV_JWT_KID_MAX] = '\0';
    snprintf(header, sizeof header, "{\"alg\":\"RS256\",\"kid\":\"%s\"}", long_kid);
    tok = make(S_RSA_A, header, GOOD);
    assert_int_equal(tv_jwt_kid(tok, strlen(tok), k, sizeof k), TV_ERR_JWT_FORMAT);
    assert_int_equal(check(tok, K.jwks, NULL), TV_ERR_JWT_FORMAT);
    free(tok);
    long_kid[TV_JWT_KID_MAX - 1] = '\0';
    snprintf(header, sizeof header, "{\"alg\":\"RS256\",\"kid\":\"%s\"}", long_kid);
    tok = make(S_RSA_A, header, GOOD);
    assert_int_equal(tv_jwt_kid(tok, strlen(tok), k, sizeof k), 0);
    assert_int_equal(strlen(k), TV_JWT_KID_MAX - 1);
    free(tok);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(rfc7515_a2_rs256),
        cmocka_unit_test(rfc7515_a3_es256),
        cmocka_unit_test(good_rs256_and_es256),
        cmocka_unit_test(times),
        cmocka_unit_test(issuer_and_audience),
        cmocka_unit_test(subject_and_nonce),
        cmocka_unit_test(algorithms),
        cmocka_unit_test(signatures),
        cmocka_unit_test(key_sets),
        cmocka_unit_test(malformed),
        cmocka_unit_test(kid),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
