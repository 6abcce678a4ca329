#include "tv_client.h"

#include "tv_err.h"
#include "tv_msg.h"
#include "tv_password.h"
#include "tv_record.h"
#include "tv_totp.h"
#include "tv_visit.h"

#include <sodium.h>
#include <stdlib.h>
#include <string.h>

int tv_client_password_check(const char *pw, size_t pw_len, uint32_t min_length, int min_score,
                             uint32_t *failed, int *score, double *entropy_bits)
{
    tv_password_policy p = { min_length, min_score };
    tv_password_strength st = { -1, 0.0 };
    int rc = tv_password_check(&p, pw, pw_len, NULL, failed, &st);
    if (rc == 0) {
        *score = tv_password_have_strength() ? st.score : -1;
        *entropy_bits = st.entropy_bits;
    }
    return rc;
}

int tv_client_totp(const uint8_t *key, size_t key_len, int alg, unsigned digits, unsigned period,
                   uint64_t unix_time, char *out, size_t out_size)
{
    tv_totp_params p = { (tv_otp_alg)alg, digits, period };
    uint32_t code;
    int rc = tv_totp(key, key_len, &p, unix_time, &code);
    return rc != 0 ? rc : tv_otp_format(code, digits, out, out_size);
}

int tv_client_totp_verify(const uint8_t *key, size_t key_len, int alg, unsigned digits, unsigned period,
                          uint64_t unix_time, const char *code, size_t code_len, double last_step,
                          double *matched_step)
{
    tv_totp_params p = { (tv_otp_alg)alg, digits, period };
    /* -1 or a whole number JS holds exactly; anything else (NaN, fractions) would silently turn
     * replay refusal off in the conversion below. */
    if (!(last_step == -1 || (last_step >= 0 && last_step <= 9007199254740991.0 &&
                              last_step == (double)(uint64_t)last_step)))
        return TV_ERR_INVALID;
    uint64_t last = last_step < 0 ? TV_TOTP_NO_STEP : (uint64_t)last_step, m = 0;
    int rc = tv_totp_verify(key, key_len, &p, unix_time, code, code_len, last, &m);
    if (rc == 0)
        *matched_step = (double)m;
    return rc;
}

int tv_client_msg_check(const char *text, size_t len, int origin, int *type, char *field, size_t field_size)
{
    tv_msg m = { 0 };   /* tv_msg_parse refuses a bad origin before it clears m */
    int rc = tv_msg_parse(text, len, (tv_msg_origin)origin, &m);
    if (rc == 0)
        *type = (int)m.type;
    if (field_size > 0) {
        size_t n = strlen(m.err_field);
        if (n >= field_size)
            n = field_size - 1;
        memcpy(field, m.err_field, n);
        field[n] = '\0';
    }
    tv_msg_free(&m);
    return rc;
}

void *tv_client_visit_new(int role, uint32_t join_timeout_ms, uint32_t reconnect_ms)
{
    tv_visit_config cfg = { join_timeout_ms, reconnect_ms };
    tv_visit *v = malloc(sizeof *v);
    if (v != NULL && tv_visit_init(v, (tv_visit_role)role, &cfg) != 0) {
        free(v);
        v = NULL;
    }
    return v;
}

int tv_client_visit_step(void *visit, int event, uint32_t *mask, uint32_t *timer_ms)
{
    tv_visit_actions a;
    int rc = tv_visit_step(visit, (tv_visit_event)event, &a);
    if (rc == 0) {
        *mask = a.mask;
        *timer_ms = a.timer_ms;
    }
    return rc;
}

int tv_client_visit_state(const void *visit)
{
    return visit ? (int)((const tv_visit *)visit)->state : TV_ERR_INVALID;
}

void tv_client_visit_free(void *visit)
{
    free(visit);
}

int tv_client_cache_key(const uint8_t *device_secret, size_t device_len, const uint8_t *share, size_t share_len,
                        uint8_t *out, size_t out_size)
{
    static const char label[] = "televisit browser cache v1";
    if (device_len != 32 || share_len != 32 || out_size != TV_RECORD_KEYBYTES)
        return TV_ERR_INVALID;
    uint8_t both[TV_RECORD_KEYBYTES];
    crypto_generichash_state h;
    /* keyed by the share, over the label and the device secret: neither half alone gives the key */
    if (crypto_generichash_init(&h, share, share_len, sizeof both) != 0 ||
        crypto_generichash_update(&h, (const uint8_t *)label, sizeof label - 1) != 0 ||
        crypto_generichash_update(&h, device_secret, device_len) != 0 ||
        crypto_generichash_final(&h, both, sizeof both) != 0)
        return TV_ERR_INVALID;
    int rc = tv_record_subkey(both, TV_RECORD_CACHE, out);
    sodium_memzero(both, sizeof both);
    sodium_memzero(&h, sizeof h);
    return rc;
}
