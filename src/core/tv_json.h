/* JSON from outside (signaling frames, API bodies, ID tokens): the strict parser, the wiper, and the
 * one field-schema language that signaling messages (tv_msg) and the server's API bodies are both
 * checked with, so a string class means the same thing wherever a browser sends it. */
#ifndef TV_JSON_H
#define TV_JSON_H

#include <stddef.h>
#include <stdint.h>

struct cJSON;

/* The strict lexical pass made before cJSON reads a text (UTF-8, RFC 8259 tokens as JSON.parse reads
 * them): cJSON alone is more lenient than the browser that wrote or will read the text. */
int tv_json_strict_check(const char *text, size_t len);

/* The strict check, then cJSON's parse of exactly text[0..len) (trailing text after the value is an
 * error): *out is the tree, or NULL with TV_ERR_MSG_JSON or the check's code. */
int tv_json_parse_strict(const char *text, size_t len, struct cJSON **out);

/* cJSON_Delete after wiping every string in the tree, however deep (bodies and answers that hold
 * passwords, codes, secrets and tokens). NULL is fine. */
void tv_json_free_wiped(struct cJSON *root);

/* ---- The field-schema language: a table of members per object ---- */

enum tv_json_kind { TV_JSON_STR = 1, TV_JSON_INT, TV_JSON_BOOL, TV_JSON_OBJ, TV_JSON_ARR };

/* What a string may hold. Every class but ANY must be valid UTF-8. */
enum tv_json_class {
    TV_JSON_ANY = 0,   /* any bytes: what the reader checks itself (a password, an address, a key) */
    TV_JSON_TEXT,      /* displayed text: no control (but tab, LF, CR) or bidi-override characters */
    TV_JSON_NAME,      /* a displayed one-line name or label: TEXT without tab, LF or CR */
    TV_JSON_ID,        /* [A-Za-z0-9_-] */
    TV_JSON_TOKEN,     /* a tv_token */
    TV_JSON_SDP,       /* printable ASCII, CR, LF */
    TV_JSON_CODE,      /* [a-z0-9_] */
    TV_JSON_ENUM,      /* one of `values` */
    TV_JSON_URL        /* as NAME */
};

enum {
    TV_JSON_REQ = 1,       /* must be present */
    TV_JSON_NULLABLE = 2,  /* null is allowed */
    TV_JSON_ONE_OF = 4     /* exactly one of the members so marked must be present */
};

typedef struct tv_json_field {
    const char *name;
    unsigned char kind, flags, cls;
    int64_t min, max;                  /* string bytes, integer value or array items */
    const char *const *values;         /* TV_JSON_ENUM */
    const struct tv_json_field *sub;   /* an object's members; an array's one item description */
} tv_json_field;

#define TV_JSON_F_STR(n, fl, c, lo, hi) { n, TV_JSON_STR, fl, c, lo, hi, NULL, NULL }
#define TV_JSON_F_ENUM(n, fl, v) { n, TV_JSON_STR, fl, TV_JSON_ENUM, 1, 64, v, NULL }
#define TV_JSON_F_INT(n, fl, lo, hi) { n, TV_JSON_INT, fl, 0, lo, hi, NULL, NULL }
#define TV_JSON_F_BOOL(n, fl) { n, TV_JSON_BOOL, fl, 0, 0, 0, NULL, NULL }
#define TV_JSON_F_OBJ(n, fl, s) { n, TV_JSON_OBJ, fl, 0, 0, 0, NULL, s }
#define TV_JSON_F_ARR(n, fl, lo, hi, item) { n, TV_JSON_ARR, fl, 0, lo, hi, NULL, item }
#define TV_JSON_F_END { NULL, 0, 0, 0, 0, 0, NULL, NULL }

/* Checks obj (an object) against fields, up to 63 of them: every member known and given once, of its
 * kind, length, range and class, the required ones present. `skip` names one member left to the
 * caller (a message's "type"), or NULL. On an error, *where is the member concerned (the innermost,
 * in nested objects; a pointer into the tree or the schema), or NULL. Returns 0 or TV_ERR_MSG_*. */
int tv_json_check(const struct cJSON *obj, const tv_json_field *fields, const char *skip, const char **where);

/* The field of fields named name, or NULL. */
const tv_json_field *tv_json_field_of(const tv_json_field *fields, const char *name);

#endif
