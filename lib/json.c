/*
 * json: string escaping with UTF-8 validation, the number grammar, and
 * shortest round-trip doubles. Written for the produce hot path: the
 * common case (printable ASCII) is copied in runs, not byte by byte.
 */
#include "lib/json.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

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
