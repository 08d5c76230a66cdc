/*
 * schema_infer: Glue-like classification and schema inference. JSON is
 * scanned by a small validating parser that types values as it reads
 * (cJSON drops the difference between 1 and 1.0, which decides bigint vs
 * double); each line is validated first so a bad line never leaks half a
 * schema. CSV goes through lib/csv after the delimiter is guessed.
 */
#include "lib/schema_infer.h"

#include <ctype.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/mman.h>
#include <unistd.h>

#include "lib/csv.h"
#include "lib/json.h"
#include "lib/tick.h"

/* ---- schema trees ---- */

schema_type *schema_type_new(enum schema_kind kind)
{
    schema_type *type = calloc(1, sizeof *type);
    if (type)
        type->kind = kind;
    return type;
}

/* Drops children (when widening a container to a scalar). */
static void schema_type_clear(schema_type *type)
{
    schema_type_free(type->element);
    type->element = NULL;
    for (size_t i = 0; i < type->count; i++) {
        free(type->fields[i].name);
        schema_type_free(type->fields[i].type);
    }
    free(type->fields);
    type->fields = NULL;
    type->count = type->capacity = type->cursor = 0;
}

void schema_type_free(schema_type *type)
{
    if (!type)
        return;
    schema_type_clear(type);
    free(type);
}

schema_type *schema_type_copy(const schema_type *type)
{
    if (!type)
        return NULL;
    schema_type *copy = NULL;
    return schema_merge(&copy, type) == 0 ? copy : NULL;
}

int schema_type_equal(const schema_type *a, const schema_type *b)
{
    if (!a || !b) /* no type yet and "only nulls seen" say the same */
        return (!a || a->kind == SCHEMA_NULL) && (!b || b->kind == SCHEMA_NULL);
    if (a->kind != b->kind || a->count != b->count || !schema_type_equal(a->element, b->element))
        return 0;
    for (size_t i = 0; i < a->count; i++)
        if (strcmp(a->fields[i].name, b->fields[i].name) != 0 ||
            !schema_type_equal(a->fields[i].type, b->fields[i].type))
            return 0;
    return 1;
}

/* The field named name[0..length), or NULL. Tries the cursor first:
 * records of one object nearly always list their keys in the same order. */
static struct schema_field *schema_find_field(schema_type *record, const char *name, size_t length)
{
    for (size_t n = 0; n < record->count; n++) {
        size_t i = (record->cursor + n) % record->count;
        const char *candidate = record->fields[i].name;
        if (strncmp(candidate, name, length) == 0 && candidate[length] == '\0') {
            record->cursor = i + 1;
            return &record->fields[i];
        }
    }
    return NULL;
}

static struct schema_field *schema_add_field(schema_type *record, const char *name, size_t length)
{
    if (record->count == record->capacity) {
        size_t capacity = record->capacity ? record->capacity * 2 : 8;
        struct schema_field *fields = realloc(record->fields, capacity * sizeof *fields);
        if (!fields)
            return NULL;
        record->fields = fields;
        record->capacity = capacity;
    }
    char *copy = strndup(name, length);
    if (!copy)
        return NULL;
    struct schema_field *field = &record->fields[record->count++];
    field->name = copy;
    field->type = NULL;
    record->cursor = record->count;
    return field;
}

/*
 * Widens *slot so it can also hold a value of kind: creates it, keeps
 * it, promotes bigint+double to double, and turns any other mix into
 * string. Returns the (possibly new) type, or NULL without memory.
 */
static schema_type *schema_widen(schema_type **slot, enum schema_kind kind)
{
    if (!*slot)
        return *slot = schema_type_new(kind);
    schema_type *type = *slot;
    if (kind == SCHEMA_NULL || type->kind == kind || type->kind == SCHEMA_STRING)
        return type;
    if (type->kind == SCHEMA_NULL) {
        type->kind = kind;
    } else if ((type->kind == SCHEMA_BIGINT && kind == SCHEMA_DOUBLE) ||
               (type->kind == SCHEMA_DOUBLE && kind == SCHEMA_BIGINT)) {
        type->kind = SCHEMA_DOUBLE;
    } else {
        schema_type_clear(type);
        type->kind = SCHEMA_STRING;
    }
    return type;
}

int schema_merge(schema_type **dst, const schema_type *src)
{
    if (!src)
        return 0;
    schema_type *type = schema_widen(dst, src->kind);
    if (!type)
        return -1;
    if (type->kind == SCHEMA_ARRAY && src->kind == SCHEMA_ARRAY)
        return schema_merge(&type->element, src->element);
    if (type->kind == SCHEMA_STRUCT && src->kind == SCHEMA_STRUCT) {
        for (size_t i = 0; i < src->count; i++) {
            const char *name = src->fields[i].name;
            size_t length = strlen(name);
            struct schema_field *field = schema_find_field(type, name, length);
            if (!field && !(field = schema_add_field(type, name, length)))
                return -1;
            if (schema_merge(&field->type, src->fields[i].type) < 0)
                return -1;
        }
    }
    return 0;
}

static const char *const schema_kind_names[] = {
    "null", "boolean", "bigint", "double", "timestamp", "string", "array", "struct",
};

/* A struct field name Hive's type parser takes as is. */
static int schema_plain_name(const char *name)
{
    if (!*name)
        return 0;
    for (const char *p = name; *p; p++)
        if (!isalnum((unsigned char)*p) && *p != '_')
            return 0;
    return 1;
}

int schema_hive_type(const schema_type *type, buf *out)
{
    if (!type || type->kind == SCHEMA_NULL)
        return buf_append_str(out, "string");
    if (type->kind == SCHEMA_ARRAY) {
        int rc = buf_append_str(out, "array<");
        rc |= schema_hive_type(type->element, out);
        return rc | buf_append_char(out, '>');
    }
    if (type->kind != SCHEMA_STRUCT)
        return buf_append_str(out, schema_kind_names[type->kind]);
    int rc = buf_append_str(out, "struct<");
    for (size_t i = 0; i < type->count; i++) {
        const char *name = type->fields[i].name;
        if (i)
            rc |= buf_append_char(out, ',');
        if (schema_plain_name(name)) {
            rc |= buf_append_str(out, name);
        } else {
            char normalized[160];
            tick_normalize_name(name, strlen(name), (int)i + 1, normalized, sizeof normalized);
            rc |= buf_append_str(out, normalized);
        }
        rc |= buf_append_char(out, ':');
        rc |= schema_hive_type(type->fields[i].type, out);
    }
    return rc | buf_append_char(out, '>');
}

/* ---- state serialisation: {"k":"struct","f":[["name",{...}],...]} ---- */

cJSON *schema_to_json(const schema_type *type)
{
    cJSON *json = cJSON_CreateObject();
    if (!json)
        return NULL;
    cJSON_AddStringToObject(json, "k", schema_kind_names[type ? type->kind : SCHEMA_NULL]);
    if (type && type->kind == SCHEMA_ARRAY && type->element)
        cJSON_AddItemToObject(json, "e", schema_to_json(type->element));
    if (type && type->kind == SCHEMA_STRUCT) {
        cJSON *fields = cJSON_AddArrayToObject(json, "f");
        for (size_t i = 0; i < type->count; i++) {
            cJSON *pair = cJSON_CreateArray();
            cJSON_AddItemToArray(pair, cJSON_CreateString(type->fields[i].name));
            cJSON_AddItemToArray(pair, schema_to_json(type->fields[i].type));
            cJSON_AddItemToArray(fields, pair);
        }
    }
    return json;
}

static schema_type *schema_from_json_at(const cJSON *json, int depth, tp_err *err)
{
    const cJSON *kind = cJSON_GetObjectItemCaseSensitive(json, "k");
    int found = -1;
    for (int i = 0; cJSON_IsString(kind) && i <= SCHEMA_STRUCT; i++)
        if (strcmp(kind->valuestring, schema_kind_names[i]) == 0)
            found = i;
    if (found < 0 || depth > SCHEMA_MAX_DEPTH) {
        tp_err_set(err, TP_ERR_PARSE, "crawler state: bad schema node");
        return NULL;
    }
    schema_type *type = schema_type_new((enum schema_kind)found);
    if (!type) {
        tp_err_set(err, TP_ERR_INTERNAL, "out of memory");
        return NULL;
    }
    const cJSON *element = cJSON_GetObjectItemCaseSensitive(json, "e");
    if (type->kind == SCHEMA_ARRAY && element &&
        !(type->element = schema_from_json_at(element, depth + 1, err)))
        goto fail;
    const cJSON *pair;
    cJSON_ArrayForEach(pair, cJSON_GetObjectItemCaseSensitive(json, "f"))
    {
        const cJSON *name = cJSON_GetArrayItem(pair, 0);
        if (type->kind != SCHEMA_STRUCT || !cJSON_IsString(name)) {
            tp_err_set(err, TP_ERR_PARSE, "crawler state: bad schema field");
            goto fail;
        }
        struct schema_field *field =
            schema_add_field(type, name->valuestring, strlen(name->valuestring));
        if (!field) {
            tp_err_set(err, TP_ERR_INTERNAL, "out of memory");
            goto fail;
        }
        if (!(field->type = schema_from_json_at(cJSON_GetArrayItem(pair, 1), depth + 1, err)))
            goto fail;
    }
    type->cursor = 0;
    return type;
fail:
    schema_type_free(type);
    return NULL;
}

schema_type *schema_from_json(const cJSON *json, tp_err *err)
{
    return schema_from_json_at(json, 0, err);
}

/* ---- scalar recognisers ---- */

static int schema_digits(const char *p, const char *end, size_t count)
{
    if ((size_t)(end - p) < count)
        return 0;
    for (size_t i = 0; i < count; i++)
        if (!isdigit((unsigned char)p[i]))
            return 0;
    return 1;
}

int schema_is_timestamp(const char *text, size_t length)
{
    const char *p = text, *end = text + length;
    /* YYYY-MM-DD */
    if (!schema_digits(p, end, 4) || end - p < 16 || p[4] != '-' || !schema_digits(p + 5, end, 2) ||
        p[7] != '-' || !schema_digits(p + 8, end, 2) || (p[10] != 'T' && p[10] != ' '))
        return 0;
    /* HH:MM[:SS[.fraction]] */
    p += 11;
    if (!schema_digits(p, end, 2) || p[2] != ':' || !schema_digits(p + 3, end, 2))
        return 0;
    p += 5;
    if (p < end && *p == ':') {
        if (!schema_digits(p + 1, end, 2))
            return 0;
        p += 3;
        if (p < end && (*p == '.' || *p == ',')) {
            p++;
            const char *digits = p;
            while (p < end && isdigit((unsigned char)*p))
                p++;
            if (p == digits)
                return 0;
        }
    }
    if (p == end)
        return 1;
    if (*p == 'Z' || *p == 'z')
        return p + 1 == end;
    if (*p != '+' && *p != '-')
        return 0;
    p++;
    if (!schema_digits(p, end, 2))
        return 0;
    p += 2;
    if (p < end && *p == ':')
        p++;
    return (p == end) || (schema_digits(p, end, 2) && p + 2 == end);
}

/* bigint when the JSON number is an integer that fits in 64 bits. */
static enum schema_kind schema_number_kind(const char *text, size_t length)
{
    const char *p = text, *end = text + length;
    if (p < end && *p == '-')
        p++;
    size_t digits = 0;
    while (p < end && isdigit((unsigned char)*p))
        p++, digits++;
    if (p != end)
        return SCHEMA_DOUBLE; /* fraction or exponent */
    if (digits < 19)
        return SCHEMA_BIGINT;
    if (digits > 19)
        return SCHEMA_DOUBLE;
    const char *limit = text[0] == '-' ? "9223372036854775808" : "9223372036854775807";
    return memcmp(end - 19, limit, 19) <= 0 ? SCHEMA_BIGINT : SCHEMA_DOUBLE;
}

/* The kind of a CSV cell: null spellings, booleans, numbers, timestamps. */
static enum schema_kind schema_cell_kind(const char *text, size_t length, int infer_timestamps)
{
    while (length > 0 && (*text == ' ' || *text == '\t'))
        text++, length--;
    while (length > 0 && (text[length - 1] == ' ' || text[length - 1] == '\t'))
        length--;
    if (tick_cell_is_null(text, length))
        return SCHEMA_NULL;
    if ((length == 4 && strncasecmp(text, "true", 4) == 0) ||
        (length == 5 && strncasecmp(text, "false", 5) == 0))
        return SCHEMA_BOOLEAN;
    if (json_is_number(text, length))
        return schema_number_kind(text, length);
    if (infer_timestamps && schema_is_timestamp(text, length))
        return SCHEMA_TIMESTAMP;
    return SCHEMA_STRING;
}

/* ---- JSON ---- */

struct schema_json_scan {
    const char *p;
    const char *end;
    int infer_timestamps;
    int depth;
    const char *error;
    buf key; /* the decoded current key */
};

static void schema_json_skip_space(struct schema_json_scan *s)
{
    while (s->p < s->end && (*s->p == ' ' || *s->p == '\t' || *s->p == '\r' || *s->p == '\n'))
        s->p++;
}

static int schema_json_fail(struct schema_json_scan *s, const char *why)
{
    if (!s->error)
        s->error = why;
    return -1;
}

static int schema_json_hex4(const char *p, unsigned *value)
{
    *value = 0;
    for (int i = 0; i < 4; i++) {
        int c = (unsigned char)p[i];
        int digit = isdigit(c)               ? c - '0'
                    : (c >= 'a' && c <= 'f') ? c - 'a' + 10
                    : (c >= 'A' && c <= 'F') ? c - 'A' + 10
                                             : -1;
        if (digit < 0)
            return -1;
        *value = *value * 16 + (unsigned)digit;
    }
    return 0;
}

static void schema_json_put_utf8(buf *out, unsigned code)
{
    char bytes[4];
    size_t n;
    if (code < 0x80) {
        bytes[0] = (char)code, n = 1;
    } else if (code < 0x800) {
        bytes[0] = (char)(0xC0 | (code >> 6)), bytes[1] = (char)(0x80 | (code & 0x3F)), n = 2;
    } else if (code < 0x10000) {
        bytes[0] = (char)(0xE0 | (code >> 12)), bytes[1] = (char)(0x80 | ((code >> 6) & 0x3F));
        bytes[2] = (char)(0x80 | (code & 0x3F)), n = 3;
    } else {
        bytes[0] = (char)(0xF0 | (code >> 18)), bytes[1] = (char)(0x80 | ((code >> 12) & 0x3F));
        bytes[2] = (char)(0x80 | ((code >> 6) & 0x3F)), bytes[3] = (char)(0x80 | (code & 0x3F));
        n = 4;
    }
    buf_append(out, bytes, n);
}

/* Length of the valid UTF-8 sequence at p, or 0. */
static size_t schema_json_utf8_length(const unsigned char *p, const unsigned char *end)
{
    size_t need = *p >= 0xF0 && *p <= 0xF4 ? 4 : *p >= 0xE0 ? 3 : *p >= 0xC2 ? 2 : 0;
    if (!need || (size_t)(end - p) < need)
        return 0;
    unsigned code = *p & (0x7F >> need);
    for (size_t i = 1; i < need; i++) {
        if ((p[i] & 0xC0) != 0x80)
            return 0;
        code = (code << 6) | (p[i] & 0x3F);
    }
    static const unsigned minimum[] = {0, 0, 0x80, 0x800, 0x10000};
    if (code < minimum[need] || code > 0x10FFFF || (code >= 0xD800 && code <= 0xDFFF))
        return 0;
    return need;
}

/*
 * Scans a string at s->p (on the opening quote). When decode is set the
 * text goes to s->key (escapes resolved; never invalid UTF-8). *plain
 * tells whether the raw text had no escapes (then [*start, *start+*length)
 * is its text).
 */
static int schema_json_scan_string(struct schema_json_scan *s, int decode, const char **start,
                                   size_t *length, int *plain)
{
    s->p++;
    *start = s->p;
    *plain = 1;
    if (decode)
        buf_reset(&s->key);
    while (s->p < s->end) {
        unsigned char c = (unsigned char)*s->p;
        if (c == '"') {
            *length = (size_t)(s->p - *start);
            s->p++;
            return 0;
        }
        if (c < 0x20)
            return schema_json_fail(s, "control character in a string");
        if (c == '\\') {
            *plain = 0;
            if (s->end - s->p < 2)
                break;
            char e = s->p[1];
            s->p += 2;
            if (e == 'u') {
                unsigned code;
                if (s->end - s->p < 4 || schema_json_hex4(s->p, &code) < 0)
                    return schema_json_fail(s, "bad \\u escape");
                s->p += 4;
                if (code >= 0xD800 && code <= 0xDBFF && s->end - s->p >= 6 && s->p[0] == '\\' &&
                    s->p[1] == 'u') {
                    unsigned low;
                    if (schema_json_hex4(s->p + 2, &low) == 0 && low >= 0xDC00 && low <= 0xDFFF) {
                        code = 0x10000 + ((code - 0xD800) << 10) + (low - 0xDC00);
                        s->p += 6;
                    }
                }
                if ((code >= 0xD800 && code <= 0xDFFF) || code == 0)
                    code = 0xFFFD; /* a lone surrogate; NUL would cut the name */
                if (decode)
                    schema_json_put_utf8(&s->key, code);
                continue;
            }
            static const char escapes[] = "\"\"\\\\//b\bf\fn\nr\rt\t";
            const char *hit = NULL;
            for (const char *x = escapes; *x; x += 2)
                if (*x == e)
                    hit = x;
            if (!hit)
                return schema_json_fail(s, "bad escape in a string");
            if (decode)
                buf_append_char(&s->key, hit[1]);
            continue;
        }
        if (c >= 0x80) {
            size_t n =
                schema_json_utf8_length((const unsigned char *)s->p, (const unsigned char *)s->end);
            if (decode) {
                if (n)
                    buf_append(&s->key, s->p, n);
                else
                    schema_json_put_utf8(&s->key, 0xFFFD);
            }
            s->p += n ? n : 1;
            continue;
        }
        if (decode)
            buf_append_char(&s->key, (char)c);
        s->p++;
    }
    return schema_json_fail(s, "unterminated string");
}

static int schema_json_scan_number(struct schema_json_scan *s, enum schema_kind *kind)
{
    const char *start = s->p;
    while (s->p < s->end && (isdigit((unsigned char)*s->p) || *s->p == '-' || *s->p == '+' ||
                             *s->p == '.' || *s->p == 'e' || *s->p == 'E'))
        s->p++;
    if (!json_is_number(start, (size_t)(s->p - start)))
        return schema_json_fail(s, "bad number");
    *kind = schema_number_kind(start, (size_t)(s->p - start));
    return 0;
}

static int schema_json_scan_literal(struct schema_json_scan *s, const char *word, size_t length)
{
    if ((size_t)(s->end - s->p) < length || memcmp(s->p, word, length) != 0)
        return schema_json_fail(s, "invalid JSON value");
    s->p += length;
    return 0;
}

/*
 * Scans one value. With slot == NULL it only validates; otherwise it
 * widens *slot by the value's type (the value is known to be valid).
 */
static int schema_json_scan_value(struct schema_json_scan *s, schema_type **slot);

static int schema_json_scan_array(struct schema_json_scan *s, schema_type **slot)
{
    schema_type *type = NULL;
    if (slot && !(type = schema_widen(slot, SCHEMA_ARRAY)))
        return schema_json_fail(s, "out of memory");
    schema_type **element = type && type->kind == SCHEMA_ARRAY ? &type->element : NULL;
    s->p++;
    schema_json_skip_space(s);
    if (s->p < s->end && *s->p == ']') {
        s->p++;
        return 0;
    }
    for (;;) {
        if (schema_json_scan_value(s, element) < 0)
            return -1;
        schema_json_skip_space(s);
        if (s->p >= s->end)
            return schema_json_fail(s, "unterminated array");
        if (*s->p == ']') {
            s->p++;
            return 0;
        }
        if (*s->p != ',')
            return schema_json_fail(s, "expected , or ] in an array");
        s->p++;
    }
}

static int schema_json_scan_object(struct schema_json_scan *s, schema_type **slot)
{
    schema_type *type = NULL;
    if (slot && !(type = schema_widen(slot, SCHEMA_STRUCT)))
        return schema_json_fail(s, "out of memory");
    if (type && type->kind != SCHEMA_STRUCT)
        type = NULL; /* widened to string: just skip the members */
    s->p++;
    schema_json_skip_space(s);
    if (s->p < s->end && *s->p == '}') {
        s->p++;
        return 0;
    }
    for (;;) {
        schema_json_skip_space(s);
        if (s->p >= s->end || *s->p != '"')
            return schema_json_fail(s, "expected a key in an object");
        const char *start = NULL;
        size_t length = 0;
        int plain = 0;
        if (schema_json_scan_string(s, type != NULL, &start, &length, &plain) < 0)
            return -1;
        schema_json_skip_space(s);
        if (s->p >= s->end || *s->p != ':')
            return schema_json_fail(s, "expected : after a key");
        s->p++;
        schema_type **member = NULL;
        if (type) {
            const char *key = s->key.data ? s->key.data : "";
            struct schema_field *field = schema_find_field(type, key, s->key.len);
            if (!field && !(field = schema_add_field(type, key, s->key.len)))
                return schema_json_fail(s, "out of memory");
            member = &field->type;
        }
        if (schema_json_scan_value(s, member) < 0)
            return -1;
        schema_json_skip_space(s);
        if (s->p >= s->end)
            return schema_json_fail(s, "unterminated object");
        if (*s->p == '}') {
            s->p++;
            return 0;
        }
        if (*s->p != ',')
            return schema_json_fail(s, "expected , or } in an object");
        s->p++;
    }
}

static int schema_json_scan_value(struct schema_json_scan *s, schema_type **slot)
{
    schema_json_skip_space(s);
    if (s->p >= s->end)
        return schema_json_fail(s, "unexpected end of line");
    enum schema_kind kind = SCHEMA_NULL;
    switch (*s->p) {
    case '{':
    case '[': {
        if (++s->depth > SCHEMA_MAX_DEPTH)
            return schema_json_fail(s, "nested too deeply");
        int rc = *s->p == '{' ? schema_json_scan_object(s, slot) : schema_json_scan_array(s, slot);
        s->depth--;
        return rc;
    }
    case '"': {
        const char *start = NULL;
        size_t length = 0;
        int plain = 0;
        if (schema_json_scan_string(s, 0, &start, &length, &plain) < 0)
            return -1;
        kind = s->infer_timestamps && plain && schema_is_timestamp(start, length) ? SCHEMA_TIMESTAMP
                                                                                  : SCHEMA_STRING;
        break;
    }
    case 't':
        if (schema_json_scan_literal(s, "true", 4) < 0)
            return -1;
        kind = SCHEMA_BOOLEAN;
        break;
    case 'f':
        if (schema_json_scan_literal(s, "false", 5) < 0)
            return -1;
        kind = SCHEMA_BOOLEAN;
        break;
    case 'n':
        if (schema_json_scan_literal(s, "null", 4) < 0)
            return -1;
        kind = SCHEMA_NULL;
        break;
    default:
        if (schema_json_scan_number(s, &kind) < 0)
            return -1;
        break;
    }
    if (slot && !schema_widen(slot, kind))
        return schema_json_fail(s, "out of memory");
    return 0;
}

static void schema_report_bad(const struct schema_options *options, struct schema_sample *sample,
                              long long line, const char *reason)
{
    sample->bad_records++;
    if (options->on_bad_record)
        options->on_bad_record(options->context, line, reason);
}

/* Scans text as one JSON record (an object); widens record when valid. */
static int schema_json_scan_record(struct schema_json_scan *s, const char *text, size_t length,
                                   schema_type **record)
{
    s->end = text + length;
    s->p = text;
    s->error = NULL;
    s->depth = 0;
    schema_json_skip_space(s);
    if (s->p < s->end && *s->p != '{')
        return schema_json_fail(s, "not a JSON object");
    if (schema_json_scan_value(s, NULL) < 0)
        return -1;
    schema_json_skip_space(s);
    if (s->p != s->end)
        return schema_json_fail(s, "text after the JSON object");
    s->p = text;
    s->end = text + length;
    return schema_json_scan_value(s, record);
}

static int schema_infer_json(const char *data, size_t length, int complete,
                             const struct schema_options *options, struct schema_sample *sample,
                             tp_err *err)
{
    struct schema_json_scan s = {.infer_timestamps = options->infer_timestamps};
    const char *p = data, *end = data + length;
    long long line = 0;
    char first_error[160] = "";
    while (p < end) {
        const char *newline = memchr(p, '\n', (size_t)(end - p));
        if (!newline && !complete)
            break; /* the sample cut this line */
        const char *line_end = newline ? newline : end;
        line++;
        const char *q = p;
        while (q < line_end && isspace((unsigned char)*q))
            q++;
        if (q < line_end) {
            if (schema_json_scan_record(&s, p, (size_t)(line_end - p), &sample->record) == 0) {
                sample->records++;
            } else {
                if (s.error && strcmp(s.error, "out of memory") == 0) {
                    buf_free(&s.key);
                    return tp_err_set(err, TP_ERR_INTERNAL, "out of memory");
                }
                char reason[160];
                snprintf(reason, sizeof reason, "%s at byte %zu", s.error ? s.error : "bad JSON",
                         (size_t)(s.p - p) + 1);
                if (!first_error[0])
                    snprintf(first_error, sizeof first_error, "line %lld: %s", line, reason);
                schema_report_bad(options, sample, line, reason);
            }
        }
        p = newline ? newline + 1 : end;
    }
    buf_free(&s.key);
    if (sample->records == 0)
        return tp_err_set(err, TP_ERR_PARSE, "no JSON record could be read (%s)",
                          first_error[0] ? first_error : "no complete line in the sample");
    return 0;
}

/* ---- CSV ---- */

#define CSV_SNIFF_LINES 20

/* The delimiter that splits the first lines into the same, largest
 * number of fields (quotes respected); ',' when nothing fits. */
static char csv_guess_delimiter(const char *data, size_t length)
{
    static const char candidates[] = ",\t|;";
    char best = ',';
    long best_count = 0;
    for (const char *c = candidates; *c; c++) {
        long first = -1, count = 0;
        int lines = 0, consistent = 1, in_quotes = 0;
        for (size_t i = 0; i < length && lines < CSV_SNIFF_LINES; i++) {
            char ch = data[i];
            if (ch == '"')
                in_quotes = !in_quotes;
            else if (ch == *c && !in_quotes)
                count++;
            else if (ch == '\n' && !in_quotes) {
                if (first < 0)
                    first = count;
                else if (count != first)
                    consistent = 0;
                count = 0;
                lines++;
            }
        }
        if (first < 0)
            first = count;
        if (consistent && first > best_count) {
            best = *c;
            best_count = first;
        }
    }
    return best;
}

/* Reads a CSV sample through lib/csv (which reads file descriptors). */
struct csv_rows {
    size_t count;
    size_t capacity;
    csv_saved_record **rows;
    long long *lines;
};

static void csv_rows_free(struct csv_rows *rows)
{
    for (size_t i = 0; i < rows->count; i++)
        csv_saved_record_free(rows->rows[i]);
    free(rows->rows);
    free(rows->lines);
}

static int csv_read_rows(const char *data, size_t length, char delimiter, int complete,
                         const struct schema_options *options, struct schema_sample *sample,
                         struct csv_rows *rows, tp_err *err)
{
    int fd = memfd_create("tickpipe-crawl-sample", MFD_CLOEXEC);
    if (fd < 0)
        return tp_err_set(err, TP_ERR_IO, "memfd_create: cannot buffer the CSV sample");
    size_t written = 0;
    while (written < length) {
        ssize_t n = write(fd, data + written, length - written);
        if (n <= 0) {
            close(fd);
            return tp_err_set(err, TP_ERR_IO, "cannot buffer the CSV sample");
        }
        written += (size_t)n;
    }
    lseek(fd, 0, SEEK_SET);
    struct csv_options csv_options = {.delimiter = delimiter};
    csv_reader *reader = csv_reader_new(fd, &csv_options, err);
    int rc = reader ? 0 : -1;
    csv_record record;
    /* a malformed row is reported once the next one shows it was not the
     * row the sample cut */
    long long bad_line = 0;
    char bad_reason[128] = "";
    int last_was_bad = 0;
    while (rc == 0 && (rc = csv_reader_next(reader, &record, err)) == 1) {
        rc = 0;
        if (last_was_bad)
            schema_report_bad(options, sample, bad_line, bad_reason);
        last_was_bad = record.malformed != NULL;
        if (record.malformed) {
            bad_line = record.line;
            snprintf(bad_reason, sizeof bad_reason, "%s", record.malformed);
            continue;
        }
        if (rows->count == rows->capacity) {
            size_t capacity = rows->capacity ? rows->capacity * 2 : 256;
            csv_saved_record **grown = realloc(rows->rows, capacity * sizeof(csv_saved_record *));
            if (grown)
                rows->rows = grown;
            long long *lines = realloc(rows->lines, capacity * sizeof *lines);
            if (lines)
                rows->lines = lines;
            if (!grown || !lines) {
                rc = tp_err_set(err, TP_ERR_INTERNAL, "out of memory");
                break;
            }
            rows->capacity = capacity;
        }
        rows->lines[rows->count] = record.line;
        if (!(rows->rows[rows->count] = csv_record_save(&record))) {
            rc = tp_err_set(err, TP_ERR_INTERNAL, "out of memory");
            break;
        }
        rows->count++;
    }
    csv_reader_free(reader);
    close(fd);
    if (rc < 0)
        return -1;
    if (last_was_bad && complete)
        schema_report_bad(options, sample, bad_line, bad_reason);
    else if (!last_was_bad && !complete && rows->count > 0) /* the sample may have cut it */
        csv_saved_record_free(rows->rows[--rows->count]);
    return 0;
}

/* Is row 0 a header? Its cells are distinct non-empty text, and the rows
 * below either type some column otherwise or never repeat its values. */
static int csv_has_header(struct csv_rows *rows, size_t columns, int infer_timestamps)
{
    csv_record first, row;
    csv_saved_record_view(rows->rows[0], &first);
    for (size_t c = 0; c < columns; c++) {
        if (schema_cell_kind(first.fields[c], first.lengths[c], infer_timestamps) != SCHEMA_STRING)
            return 0;
        for (size_t d = 0; d < c; d++)
            if (first.lengths[c] == first.lengths[d] &&
                memcmp(first.fields[c], first.fields[d], first.lengths[c]) == 0)
                return 0;
    }
    if (rows->count == 1)
        return 1;
    int typed = 0, repeated = 0;
    for (size_t c = 0; c < columns; c++) {
        schema_type *type = NULL;
        for (size_t r = 1; r < rows->count; r++) {
            csv_saved_record_view(rows->rows[r], &row);
            if (row.count != columns)
                continue;
            schema_widen(&type, schema_cell_kind(row.fields[c], row.lengths[c], infer_timestamps));
            if (row.lengths[c] == first.lengths[c] &&
                memcmp(row.fields[c], first.fields[c], first.lengths[c]) == 0)
                repeated = 1;
        }
        if (type && type->kind != SCHEMA_STRING && type->kind != SCHEMA_NULL)
            typed = 1;
        schema_type_free(type);
    }
    return typed || !repeated;
}

static int schema_infer_csv(const char *data, size_t length, int complete,
                            const struct schema_options *options, struct schema_sample *sample,
                            tp_err *err)
{
    sample->format.delimiter = csv_guess_delimiter(data, length);
    sample->format.quoted = memchr(data, '"', length) != NULL;
    struct csv_rows rows = {0};
    if (csv_read_rows(data, length, sample->format.delimiter, complete, options, sample, &rows,
                      err) < 0) {
        csv_rows_free(&rows);
        return -1;
    }
    if (rows.count == 0) {
        csv_rows_free(&rows);
        return tp_err_set(err, TP_ERR_PARSE, "no CSV row could be read");
    }
    csv_record row;
    csv_saved_record_view(rows.rows[0], &row);
    size_t columns = row.count;
    sample->format.header = csv_has_header(&rows, columns, options->infer_timestamps);
    int rc = 0;
    if (!(sample->record = schema_type_new(SCHEMA_STRUCT)))
        rc = tp_err_set(err, TP_ERR_INTERNAL, "out of memory");
    for (size_t c = 0; rc == 0 && c < columns; c++) {
        char generated[32];
        const char *name = row.fields[c];
        size_t name_length = row.lengths[c];
        if (!sample->format.header) {
            name_length = (size_t)snprintf(generated, sizeof generated, "col%zu", c);
            name = generated;
        } else if (memchr(name, '\0', name_length)) {
            name_length = strlen(name);
        }
        if (!schema_add_field(sample->record, name, name_length))
            rc = tp_err_set(err, TP_ERR_INTERNAL, "out of memory");
    }
    for (size_t r = sample->format.header ? 1 : 0; rc == 0 && r < rows.count; r++) {
        csv_saved_record_view(rows.rows[r], &row);
        if (row.count != columns) {
            char reason[96];
            snprintf(reason, sizeof reason, "%zu fields where the first row has %zu", row.count,
                     columns);
            schema_report_bad(options, sample, rows.lines[r], reason);
            continue;
        }
        for (size_t c = 0; c < columns; c++)
            if (!schema_widen(
                    &sample->record->fields[c].type,
                    schema_cell_kind(row.fields[c], row.lengths[c], options->infer_timestamps)))
                rc = tp_err_set(err, TP_ERR_INTERNAL, "out of memory");
        sample->records++;
    }
    if (rc == 0 && sample->records == 0 && sample->bad_records > 0)
        rc = tp_err_set(err, TP_ERR_PARSE, "no CSV row could be read");
    csv_rows_free(&rows);
    return rc;
}

/* ---- classification ---- */

static int schema_name_ends(const char *name, const char *suffix)
{
    size_t n = strlen(name), s = strlen(suffix);
    return n >= s && strcasecmp(name + n - s, suffix) == 0;
}

static enum schema_classification schema_classify(const char *data, size_t length, const char *name)
{
    const char *p = data, *end = data + length;
    if (end - p >= 3 && memcmp(p, "\xEF\xBB\xBF", 3) == 0)
        p += 3;
    while (p < end && isspace((unsigned char)*p))
        p++;
    if (p < end && *p == '{')
        return SCHEMA_FORMAT_JSON;
    if (name && (schema_name_ends(name, ".csv") || schema_name_ends(name, ".csv.gz") ||
                 schema_name_ends(name, ".tsv") || schema_name_ends(name, ".tsv.gz")))
        return SCHEMA_FORMAT_CSV;
    if (name && (schema_name_ends(name, ".json") || schema_name_ends(name, ".jsonl") ||
                 schema_name_ends(name, ".json.gz") || schema_name_ends(name, ".jsonl.gz")))
        return SCHEMA_FORMAT_JSON;
    return SCHEMA_FORMAT_CSV;
}

int schema_infer_sample(const char *data, size_t length, int complete, const char *name,
                        const struct schema_options *options, struct schema_sample *sample,
                        tp_err *err)
{
    static const struct schema_options defaults;
    if (!options)
        options = &defaults;
    memset(sample, 0, sizeof *sample);
    size_t blank = 0;
    while (blank < length && isspace((unsigned char)data[blank]))
        blank++;
    if (blank == length)
        return tp_err_set(err, TP_ERR_PARSE, "empty object");
    sample->format.classification = schema_classify(data, length, name);
    int rc = sample->format.classification == SCHEMA_FORMAT_JSON
                 ? schema_infer_json(data, length, complete, options, sample, err)
                 : schema_infer_csv(data, length, complete, options, sample, err);
    if (rc == 0 && !sample->record && !(sample->record = schema_type_new(SCHEMA_STRUCT)))
        rc = tp_err_set(err, TP_ERR_INTERNAL, "out of memory");
    if (rc < 0)
        schema_sample_free(sample);
    return rc;
}

void schema_sample_free(struct schema_sample *sample)
{
    schema_type_free(sample->record);
    sample->record = NULL;
}
