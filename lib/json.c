/*
 * json: string escaping with UTF-8 validation, the number grammar, and
 * shortest round-trip doubles. Written for the produce hot path: the
 * common case (printable ASCII) is copied in runs, not byte by byte.
 */
#include "lib/json.h"

#include <ctype.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Length of the valid UTF-8 sequence starting at p (2-4), or 0. */
static size_t json_utf8_sequence(const unsigned char *p, const unsigned char *end)
{
    unsigned char c = p[0];
    size_t need;
    unsigned int min;
    unsigned int code;
    if (c >= 0xC2 && c <= 0xDF)
        need = 2, min = 0x80, code = c & 0x1F;
    else if (c >= 0xE0 && c <= 0xEF)
        need = 3, min = 0x800, code = c & 0x0F;
    else if (c >= 0xF0 && c <= 0xF4)
        need = 4, min = 0x10000, code = c & 0x07;
    else
        return 0;
    if ((size_t)(end - p) < need)
        return 0;
    for (size_t i = 1; i < need; i++) {
        if ((p[i] & 0xC0) != 0x80)
            return 0;
        code = (code << 6) | (p[i] & 0x3F);
    }
    if (code < min || code > 0x10FFFF || (code >= 0xD800 && code <= 0xDFFF))
        return 0;
    return need;
}

int json_append_string(buf *out, const char *text, size_t length)
{
    /* worst case: every byte becomes \ufffd (6 bytes) */
    if (buf_reserve(out, length * 6 + 2) < 0)
        return -1;
    char *w = out->data + out->len;
    *w++ = '"';
    const unsigned char *p = (const unsigned char *)text;
    const unsigned char *end = p + length;
    static const char hex[] = "0123456789abcdef";
    while (p < end) {
        unsigned char c = *p;
        if (c >= 0x20 && c < 0x80 && c != '"' && c != '\\') {
            *w++ = (char)c;
            p++;
            continue;
        }
        if (c >= 0x80) {
            size_t n = json_utf8_sequence(p, end);
            if (n) {
                for (size_t i = 0; i < n; i++)
                    *w++ = (char)p[i];
                p += n;
            } else {
                for (const char *r = "\\ufffd"; *r; r++)
                    *w++ = *r;
                p++;
            }
            continue;
        }
        *w++ = '\\';
        switch (c) {
        case '"':
            *w++ = '"';
            break;
        case '\\':
            *w++ = '\\';
            break;
        case '\n':
            *w++ = 'n';
            break;
        case '\r':
            *w++ = 'r';
            break;
        case '\t':
            *w++ = 't';
            break;
        case '\b':
            *w++ = 'b';
            break;
        case '\f':
            *w++ = 'f';
            break;
        default:
            *w++ = 'u';
            *w++ = '0';
            *w++ = '0';
            *w++ = hex[c >> 4];
            *w++ = hex[c & 15];
        }
        p++;
    }
    *w++ = '"';
    out->len = (size_t)(w - out->data);
    out->data[out->len] = '\0';
    return 0;
}

int json_is_number(const char *text, size_t length)
{
    const char *p = text;
    const char *end = text + length;
    if (p < end && *p == '-')
        p++;
    if (p == end)
        return 0;
    if (*p == '0') {
        p++;
    } else if (*p >= '1' && *p <= '9') {
        while (p < end && *p >= '0' && *p <= '9')
            p++;
    } else {
        return 0;
    }
    if (p < end && *p == '.') {
        p++;
        const char *digits = p;
        while (p < end && *p >= '0' && *p <= '9')
            p++;
        if (p == digits)
            return 0;
    }
    if (p < end && (*p == 'e' || *p == 'E')) {
        p++;
        if (p < end && (*p == '+' || *p == '-'))
            p++;
        const char *digits = p;
        while (p < end && *p >= '0' && *p <= '9')
            p++;
        if (p == digits)
            return 0;
    }
    return p == end;
}

int json_append_double(buf *out, double value)
{
    if (!isfinite(value))
        return buf_append(out, "null", 4);
    char text[40];
    for (int precision = 15; precision <= 17; precision++) {
        snprintf(text, sizeof text, "%.*g", precision, value);
        if (strtod(text, NULL) == value)
            break;
    }
    return buf_append_str(out, text);
}

struct json_scanner {
    const char *p;
    const char *end;
    const char *reason;
    int multiline;
};

#define JSON_MAX_DEPTH 64

/* The scanner's hot loops test bytes with these, not with <ctype.h>
 * (locale lookups) or strchr. */
static inline int json_is_digit(unsigned char c)
{
    return (unsigned)(c - '0') < 10;
}

static inline void json_skip_space(struct json_scanner *s)
{
    if (s->p < s->end && (unsigned char)*s->p > ' ')
        return; /* the common case: no space at all */
    while (s->p < s->end) {
        char c = *s->p;
        if (c == ' ' || c == '\t')
            s->p++;
        else if (c == '\n' || c == '\r') {
            s->multiline = 1;
            s->p++;
        } else
            break;
    }
}

/* The value of 4 hex digits at p, or -1. */
static long json_scan_hex4(const char *p, const char *end)
{
    long value = 0;
    for (int i = 0; i < 4; i++) {
        if (p + i >= end || !isxdigit((unsigned char)p[i]))
            return -1;
        char c = p[i];
        value = value * 16 + (c <= '9' ? c - '0' : (c | 0x20) - 'a' + 10);
    }
    return value;
}

/* Checks the escape whose backslash s->p points at and leaves s->p on its
 * last byte. Returns 0 or -1 (s->reason set). */
static int json_scan_escape(struct json_scanner *s)
{
    s->p++;
    if (s->p >= s->end) {
        s->reason = "unterminated string";
        return -1;
    }
    char e = *s->p;
    if (e == 'u') {
        long code = json_scan_hex4(s->p + 1, s->end);
        if (code < 0) {
            s->reason = "bad \\u escape";
            return -1;
        }
        s->p += 4;
        /* UTF-16 surrogates must pair up: a lone one is no character,
         * and readers downstream (Athena's SerDe, DuckDB) reject it */
        if (code >= 0xDC00 && code <= 0xDFFF) {
            s->reason = "lone \\u surrogate";
            return -1;
        }
        if (code >= 0xD800 && code <= 0xDBFF) {
            long low = s->end - s->p > 6 && s->p[1] == '\\' && s->p[2] == 'u'
                           ? json_scan_hex4(s->p + 3, s->end)
                           : -1;
            if (low < 0xDC00 || low > 0xDFFF) {
                s->reason = "lone \\u surrogate";
                return -1;
            }
            s->p += 6;
        }
    } else if (e == '\0' || !strchr("\"\\/bfnrt", e)) { /* strchr finds the NUL */
        s->reason = "bad escape in a string";
        return -1;
    }
    return 0;
}

/* The high bit of each of the 8 bytes in v that is '"', '\\' or below
 * 0x20 (the bytes that end a run of plain string content), all tested at
 * once: a byte is zero in x exactly when (x - 0x01..) & ~x has its high
 * bit set. Higher bytes may be flagged spuriously after a flagged one
 * (borrows), never the lowest: it is the first special byte. */
static inline uint64_t json_word_specials(uint64_t v)
{
    const uint64_t ones = 0x0101010101010101ull;
    uint64_t quote = v ^ (ones * '"');
    uint64_t backslash = v ^ (ones * '\\');
    uint64_t found =
        ((quote - ones) & ~quote) | ((backslash - ones) & ~backslash) | ((v - ones * 0x20) & ~v);
    return found & (ones * 0x80);
}

/* Scans a string starting at the opening quote; on success *content and
 * *content_length span its raw content. Plain bytes are skipped 8 at a
 * time, straight to the first special one. */
static int json_scan_string(struct json_scanner *s, const char **content, size_t *content_length)
{
    const char *start = ++s->p; /* after the opening quote */
    for (;;) {
        while (s->end - s->p >= 8) {
            uint64_t word;
            memcpy(&word, s->p, sizeof word);
            uint64_t specials = json_word_specials(word);
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
            if (specials) {
                s->p += __builtin_ctzll(specials) >> 3; /* the first byte in memory */
                break;
            }
#else
            if (specials)
                break;
#endif
            s->p += 8;
        }
        if (s->p >= s->end)
            break;
        unsigned char c = (unsigned char)*s->p;
        if (c == '"') {
            *content = start;
            *content_length = (size_t)(s->p - start);
            s->p++;
            return 0;
        }
        if (c < 0x20) {
            s->reason = "control character inside a string";
            return -1;
        }
        if (c == '\\' && json_scan_escape(s) < 0)
            return -1;
        s->p++;
    }
    s->reason = "unterminated string";
    return -1;
}

/* A number (RFC 8259 grammar), parsed in one pass: the token ends at the
 * first byte that cannot continue it, and a byte that could continue a
 * number but not this one (01, 1.2.3, 1e) makes it malformed. */
static int json_scan_number(struct json_scanner *s)
{
    const char *p = s->p, *end = s->end;
    if (*p == '-')
        p++;
    if (p < end && *p == '0') {
        p++;
    } else if (p < end && *p >= '1' && *p <= '9') {
        while (++p < end && json_is_digit((unsigned char)*p))
            ;
    } else {
        goto malformed;
    }
    if (p < end && *p == '.') {
        const char *digits = ++p;
        while (p < end && json_is_digit((unsigned char)*p))
            p++;
        if (p == digits)
            goto malformed;
    }
    if (p < end && (*p == 'e' || *p == 'E')) {
        if (++p < end && (*p == '+' || *p == '-'))
            p++;
        const char *digits = p;
        while (p < end && json_is_digit((unsigned char)*p))
            p++;
        if (p == digits)
            goto malformed;
    }
    if (p < end && (json_is_digit((unsigned char)*p) || *p == '.' || *p == 'e' || *p == 'E' ||
                    *p == '+' || *p == '-'))
        goto malformed;
    s->p = p;
    return 0;
malformed:
    s->reason = "malformed number";
    return -1;
}

/* 1 when the key (raw, length bytes) is exactly name. */
static inline int json_key_is(const char *name, const char *key, size_t length)
{
    return length && name[0] == key[0] && strncmp(name, key, length) == 0 && name[length] == '\0';
}

static int json_scan_value(struct json_scanner *s, int depth);

static int json_scan_literal(struct json_scanner *s, const char *word)
{
    size_t n = strlen(word);
    if ((size_t)(s->end - s->p) < n || memcmp(s->p, word, n) != 0) {
        s->reason = "unexpected character";
        return -1;
    }
    s->p += n;
    return 0;
}

/* Scans an object or array starting at its opening bracket. At depth 1
 * (the top-level object) members matching names are reported. */
static int json_scan_container(struct json_scanner *s, int depth, const char *const *names,
                               const char **value, size_t *value_length, int *matched)
{
    if (depth > JSON_MAX_DEPTH) {
        s->reason = "nested too deeply";
        return -1;
    }
    char close = *s->p == '{' ? '}' : ']';
    int is_object = close == '}';
    s->p++;
    json_skip_space(s);
    if (s->p < s->end && *s->p == close) {
        s->p++;
        return 0;
    }
    for (;;) {
        const char *key = NULL;
        size_t key_length = 0;
        if (is_object) {
            if (s->p >= s->end || *s->p != '"') {
                s->reason = "expected a member name";
                return -1;
            }
            if (json_scan_string(s, &key, &key_length) < 0)
                return -1;
            json_skip_space(s);
            if (s->p >= s->end || *s->p != ':') {
                s->reason = "expected ':'";
                return -1;
            }
            s->p++;
            json_skip_space(s);
        }
        const char *token = s->p;
        if (json_scan_value(s, depth) < 0)
            return -1;
        if (names && key && s->p > token &&
            (*token == '"' || *token == '-' || json_is_digit((unsigned char)*token))) {
            for (int i = 0; names[i] && (*matched < 0 || i < *matched); i++) {
                if (json_key_is(names[i], key, key_length)) {
                    int quoted = *token == '"';
                    *value = token + quoted;
                    *value_length = (size_t)(s->p - token) - 2 * (size_t)quoted;
                    *matched = i;
                    break;
                }
            }
        }
        json_skip_space(s);
        if (s->p < s->end && *s->p == ',') {
            s->p++;
            json_skip_space(s);
            continue;
        }
        if (s->p < s->end && *s->p == close) {
            s->p++;
            return 0;
        }
        s->reason = is_object ? "expected ',' or '}'" : "expected ',' or ']'";
        return -1;
    }
}

static int json_scan_value(struct json_scanner *s, int depth)
{
    if (s->p >= s->end) {
        s->reason = "unexpected end";
        return -1;
    }
    const char *content;
    size_t content_length;
    switch (*s->p) {
    case '{':
    case '[':
        return json_scan_container(s, depth + 1, NULL, NULL, NULL, NULL);
    case '"':
        return json_scan_string(s, &content, &content_length);
    case 't':
        return json_scan_literal(s, "true");
    case 'f':
        return json_scan_literal(s, "false");
    case 'n':
        return json_scan_literal(s, "null");
    default:
        if (*s->p == '-' || json_is_digit((unsigned char)*s->p))
            return json_scan_number(s);
        s->reason = "unexpected character";
        return -1;
    }
}

int json_scan_object(const char *text, size_t length, const char *const *names, const char **value,
                     size_t *value_length, int *matched, int *multiline, const char **reason)
{
    struct json_scanner s = {text, text + length, NULL, 0};
    *matched = -1;
    *multiline = 0;
    json_skip_space(&s);
    if (s.p >= s.end || *s.p != '{') {
        *reason = s.p >= s.end ? "empty message" : "not a JSON object";
        return -1;
    }
    if (json_scan_container(&s, 1, names, value, value_length, matched) < 0) {
        *reason = s.reason;
        return -1;
    }
    json_skip_space(&s);
    if (s.p != s.end) {
        *reason = "text after the JSON object";
        return -1;
    }
    *multiline = s.multiline;
    return *matched >= 0 ? 1 : 0;
}

int json_append_minified(buf *out, const char *text, size_t length)
{
    if (buf_reserve(out, length) < 0)
        return -1;
    int in_string = 0;
    for (size_t i = 0; i < length; i++) {
        char c = text[i];
        if (in_string) {
            out->data[out->len++] = c;
            if (c == '\\' && i + 1 < length)
                out->data[out->len++] = text[++i];
            else if (c == '"')
                in_string = 0;
        } else if (c == '"') {
            in_string = 1;
            out->data[out->len++] = c;
        } else if (c != ' ' && c != '\t' && c != '\n' && c != '\r') {
            out->data[out->len++] = c;
        }
    }
    out->data[out->len] = '\0';
    return 0;
}

int json_is_valid_utf8(const void *data, size_t length)
{
    const unsigned char *p = data;
    const unsigned char *end = p + length;
    while (p < end) {
        if (*p < 0x80) {
            p++;
            continue;
        }
        size_t n = json_utf8_sequence(p, end);
        if (!n)
            return 0;
        p += n;
    }
    return 1;
}

int json_append_base64(buf *out, const void *data, size_t length)
{
    static const char alphabet[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    if (buf_reserve(out, (length + 2) / 3 * 4) < 0)
        return -1;
    const unsigned char *p = data;
    char *w = out->data + out->len;
    size_t i = 0;
    for (; i + 2 < length; i += 3) {
        unsigned v = (unsigned)p[i] << 16 | (unsigned)p[i + 1] << 8 | p[i + 2];
        *w++ = alphabet[v >> 18];
        *w++ = alphabet[(v >> 12) & 63];
        *w++ = alphabet[(v >> 6) & 63];
        *w++ = alphabet[v & 63];
    }
    if (i < length) {
        unsigned v = (unsigned)p[i] << 16 | (i + 1 < length ? (unsigned)p[i + 1] << 8 : 0);
        *w++ = alphabet[v >> 18];
        *w++ = alphabet[(v >> 12) & 63];
        *w++ = i + 1 < length ? alphabet[(v >> 6) & 63] : '=';
        *w++ = '=';
    }
    out->len = (size_t)(w - out->data);
    out->data[out->len] = '\0';
    return 0;
}
