#include "tv_json.h"
#include "tv_err.h"
#include "tv_token.h"
#include "tv_utf8.h"

#include <cjson/cJSON.h>
#include <sodium.h>
#include <string.h>

typedef tv_json_field field;

/* ---- Strings: the classes ---- */

/* Code points no displayed string may carry: C0 and C1 controls (tab, LF and CR allowed in text), and
 * the invisible ones that reorder or break what is shown (bidi embeddings, overrides and isolates,
 * line and paragraph separators), which would let a name in the waiting room pose as another. */
static int forbidden_cp(uint32_t c, int allow_ws)
{
    if (c < 0x20)
        return !(allow_ws && (c == '\t' || c == '\n' || c == '\r'));
    return (c >= 0x7F && c <= 0x9F) || (c >= 0x202A && c <= 0x202E) || (c >= 0x2066 && c <= 0x2069) ||
           c == 0x2028 || c == 0x2029 || c == 0xFEFF;
}

static int check_class(const field *f, const char *s, size_t len)
{
    if (f->cls == TV_JSON_ANY)
        return 0;
    int rc = tv_utf8_check(s, len, NULL);
    if (rc != 0)
        return rc;
    if (f->cls == TV_JSON_TEXT || f->cls == TV_JSON_NAME || f->cls == TV_JSON_URL) {
        size_t pos = 0;
        uint32_t cp;
        while (pos < len) {
            tv_utf8_next(s, len, &pos, &cp);
            if (forbidden_cp(cp, f->cls == TV_JSON_TEXT))
                return TV_ERR_MSG_FIELD_VALUE;
        }
        return 0;
    }
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        int ok;
        switch (f->cls) {
        case TV_JSON_ID: ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                        c == '_' || c == '-'; break;
        case TV_JSON_SDP: ok = (c >= 0x20 && c < 0x7F) || c == '\r' || c == '\n'; break;
        case TV_JSON_CODE: ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_'; break;   /* bad_utf8 */
        case TV_JSON_TOKEN: case TV_JSON_ENUM: ok = 1; break;   /* checked whole below */
        default: ok = 0;
        }
        if (!ok)
            return TV_ERR_MSG_FIELD_VALUE;
    }
    if (f->cls == TV_JSON_TOKEN && tv_token_check(s, len) != 0)
        return TV_ERR_MSG_FIELD_VALUE;
    if (f->cls == TV_JSON_ENUM) {
        for (const char *const *v = f->values; *v; v++)
            if (strlen(*v) == len && memcmp(*v, s, len) == 0)
                return 0;
        return TV_ERR_MSG_FIELD_VALUE;
    }
    return 0;
}

/* ---- The schema check ---- */

static int check_object(const cJSON *obj, const field *fields, const char *skip, const char **where);

static int check_value(const field *f, const cJSON *v, const char **where)
{
    if (cJSON_IsNull(v)) {
        if (f->flags & TV_JSON_NULLABLE)
            return 0;
        return TV_ERR_MSG_FIELD_TYPE;
    }
    switch (f->kind) {
    case TV_JSON_STR: {
        if (!cJSON_IsString(v) || v->valuestring == NULL)
            return TV_ERR_MSG_FIELD_TYPE;
        size_t len = strlen(v->valuestring);
        if ((int64_t)len > f->max)
            return TV_ERR_MSG_FIELD_LENGTH;
        if ((int64_t)len < f->min)
            return TV_ERR_MSG_FIELD_VALUE;
        return check_class(f, v->valuestring, len);
    }
    case TV_JSON_INT: {
        if (!cJSON_IsNumber(v))
            return TV_ERR_MSG_FIELD_TYPE;
        double d = v->valuedouble;
        /* Range first: the cast below is only defined for values that fit. */
        if (!(d >= (double)f->min && d <= (double)f->max) || (double)(int64_t)d != d)
            return TV_ERR_MSG_FIELD_VALUE;
        return 0;
    }
    case TV_JSON_BOOL:
        return cJSON_IsBool(v) ? 0 : TV_ERR_MSG_FIELD_TYPE;
    case TV_JSON_OBJ:
        if (!cJSON_IsObject(v))
            return TV_ERR_MSG_FIELD_TYPE;
        return check_object(v, f->sub, NULL, where);
    case TV_JSON_ARR: {
        if (!cJSON_IsArray(v))
            return TV_ERR_MSG_FIELD_TYPE;
        int64_t n = 0;
        for (const cJSON *it = v->child; it; it = it->next) {
            if (++n > f->max)
                return TV_ERR_MSG_FIELD_LENGTH;
            int rc = check_value(f->sub, it, where);
            if (rc != 0)
                return rc;
        }
        return n < f->min ? TV_ERR_MSG_FIELD_VALUE : 0;
    }
    }
    return TV_ERR_INVALID;
}

/* Each member must be in the schema and appear once; unknown names are refused as they are met,
 * so a frame full of junk members costs one pass, not a quadratic duplicate search. */
static int check_object(const cJSON *obj, const field *fields, const char *skip, const char **where)
{
    uint64_t seen = 0;
    for (const cJSON *c = obj->child; c; c = c->next) {
        const char *name = c->string ? c->string : "";
        if (skip && strcmp(name, skip) == 0) {
            if (seen & (1ull << 63)) {
                *where = name;
                return TV_ERR_MSG_DUPLICATE_FIELD;
            }
            seen |= 1ull << 63;
            continue;
        }
        int idx = -1;
        for (int i = 0; fields[i].name && i < 63; i++)
            if (strcmp(fields[i].name, name) == 0) {
                idx = i;
                break;
            }
        *where = name;
        if (idx < 0)
            return TV_ERR_MSG_UNKNOWN_FIELD;
        if (seen & (1ull << idx))
            return TV_ERR_MSG_DUPLICATE_FIELD;
        seen |= 1ull << idx;
        int rc = check_value(&fields[idx], c, where);
        if (rc != 0)
            return rc;
    }
    int one_of = 0, given = 0;
    for (int i = 0; fields[i].name && i < 63; i++) {
        if ((fields[i].flags & TV_JSON_REQ) && !(seen & (1ull << i))) {
            *where = fields[i].name;
            return TV_ERR_MSG_MISSING_FIELD;
        }
        if (fields[i].flags & TV_JSON_ONE_OF)
            one_of = one_of ? one_of : i + 1, given += (seen & (1ull << i)) != 0;
    }
    if (one_of && given != 1) {   /* none or several of the alternatives */
        *where = fields[one_of - 1].name;
        return TV_ERR_MSG_MISSING_FIELD;
    }
    *where = NULL;
    return 0;
}

int tv_json_check(const cJSON *obj, const field *fields, const char *skip, const char **where)
{
    const char *w = NULL;
    int rc = cJSON_IsObject(obj) ? check_object(obj, fields, skip, &w) : TV_ERR_MSG_NOT_OBJECT;
    if (where)
        *where = rc == 0 ? NULL : w;
    return rc;
}

const tv_json_field *tv_json_field_of(const field *fields, const char *name)
{
    for (; fields->name; fields++)
        if (strcmp(fields->name, name) == 0)
            return fields;
    return NULL;
}

/* ---- Lexical check: the frame is JSON as JavaScript's JSON.parse reads it (RFC 8259) ---- */

/* cJSON is more lenient than JSON.parse: it takes any byte up to 0x20 as whitespace, a BOM, raw control
 * characters inside strings, numbers like 01 or 1., and decodes a \u escape with non-hex digits as
 * U+0000 (cutting the string short). Whatever the server checks must be what the browser reads and
 * what it forwards, so the frame is checked against the strict grammar's tokens first. Nesting and
 * structure are left to cJSON. */
static int is_ws(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

static int hex_value(char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

static int lex_string(const char *t, size_t len, size_t *pos)
{
    size_t i = *pos + 1;   /* after the opening quote */
    while (i < len) {
        unsigned char c = (unsigned char)t[i];
        if (c == '"') {
            *pos = i + 1;
            return 0;
        }
        if (c < 0x20)
            return TV_ERR_MSG_JSON;   /* raw control character: must be escaped */
        if (c != '\\') {
            i++;
            continue;
        }
        if (i + 1 >= len)
            return TV_ERR_MSG_JSON;
        char e = t[i + 1];
        if (e == 'u') {
            if (len - i < 6)
                return TV_ERR_MSG_JSON;
            unsigned v = 0;
            for (int k = 2; k < 6; k++) {
                int h = hex_value(t[i + k]);
                if (h < 0)
                    return TV_ERR_MSG_JSON;
                v = v * 16 + (unsigned)h;
            }
            if (v == 0)
                return TV_ERR_MSG_FIELD_VALUE;   /* U+0000 would end the string early in C */
            i += 6;
        } else if (strchr("\"\\/bfnrt", e) != NULL && e != '\0') {
            i += 2;
        } else {
            return TV_ERR_MSG_JSON;
        }
    }
    return TV_ERR_MSG_JSON;   /* unterminated */
}

/* -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)? */
static int lex_number(const char *t, size_t len, size_t *pos)
{
    size_t i = *pos;
    if (i < len && t[i] == '-')
        i++;
    if (i >= len || t[i] < '0' || t[i] > '9')
        return TV_ERR_MSG_JSON;
    if (t[i] == '0') {
        i++;
        if (i < len && t[i] >= '0' && t[i] <= '9')
            return TV_ERR_MSG_JSON;   /* leading zero */
    } else {
        while (i < len && t[i] >= '0' && t[i] <= '9')
            i++;
    }
    if (i < len && t[i] == '.') {
        size_t d = ++i;
        while (i < len && t[i] >= '0' && t[i] <= '9')
            i++;
        if (i == d)
            return TV_ERR_MSG_JSON;
    }
    if (i < len && (t[i] == 'e' || t[i] == 'E')) {
        i++;
        if (i < len && (t[i] == '+' || t[i] == '-'))
            i++;
        size_t d = i;
        while (i < len && t[i] >= '0' && t[i] <= '9')
            i++;
        if (i == d)
            return TV_ERR_MSG_JSON;
    }
    *pos = i;
    return 0;
}

static int strict_json(const char *t, size_t len)
{
    size_t i = 0;
    while (i < len) {
        char c = t[i];
        int rc = 0;
        if (is_ws(c) || c == '{' || c == '}' || c == '[' || c == ']' || c == ':' || c == ',') {
            i++;
        } else if (c == '"') {
            rc = lex_string(t, len, &i);
        } else if (c == '-' || (c >= '0' && c <= '9')) {
            rc = lex_number(t, len, &i);
        } else if (len - i >= 4 && (memcmp(t + i, "true", 4) == 0 || memcmp(t + i, "null", 4) == 0)) {
            i += 4;
        } else if (len - i >= 5 && memcmp(t + i, "false", 5) == 0) {
            i += 5;
        } else {
            return TV_ERR_MSG_JSON;   /* a BOM, a control byte, a bare word */
        }
        if (rc != 0)
            return rc;
    }
    return 0;
}

int tv_json_strict_check(const char *text, size_t len)
{
    if (text == NULL || len == 0)
        return TV_ERR_MSG_JSON;
    int rc = tv_utf8_check(text, len, NULL);
    return rc != 0 ? rc : strict_json(text, len);
}

int tv_json_parse_strict(const char *text, size_t len, cJSON **out)
{
    *out = NULL;
    int rc = tv_json_strict_check(text, len);
    if (rc != 0)
        return rc;
    const char *end = NULL;
    cJSON *root = cJSON_ParseWithLengthOpts(text, len, &end, 0);
    if (root == NULL)
        return TV_ERR_MSG_JSON;
    /* Trailing text after the value is an error, not a second message. */
    while (end < text + len && is_ws(*end))
        end++;
    if (end != text + len) {
        cJSON_Delete(root);
        return TV_ERR_MSG_JSON;
    }
    *out = root;
    return 0;
}

static void json_wipe(const cJSON *n)
{
    for (; n; n = n->next) {
        if (cJSON_IsString(n) && n->valuestring)
            sodium_memzero(n->valuestring, strlen(n->valuestring));
        json_wipe(n->child);
    }
}

void tv_json_free_wiped(cJSON *root)
{
    if (root)
        json_wipe(root->child);
    cJSON_Delete(root);
}
