/*
 * tick: CSV row -> JSON tick. The hot path (tick_render) reuses one output
 * buffer, copies numbers that are already valid JSON verbatim (so values
 * round-trip exactly), and only falls back to strtod for unusual forms.
 */
#include "lib/tick.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "lib/json.h"

#define TICK_NAME_MAX 128

void tick_normalize_name(const char *name, size_t length, int position, char *out, size_t size)
{
    size_t n = 0;
    size_t limit = size - 1 < TICK_NAME_MAX ? size - 1 : TICK_NAME_MAX;
    for (size_t i = 0; i < length && n < limit; i++) {
        unsigned char c = (unsigned char)name[i];
        if (c < 0x80 && isalnum(c)) {
            if (isupper(c) && n > 0 && out[n - 1] != '_') {
                unsigned char prev = (unsigned char)name[i - 1];
                unsigned char next = i + 1 < length ? (unsigned char)name[i + 1] : 0;
                int boundary = islower(prev) || isdigit(prev) ||
                               (isupper(prev) && next < 0x80 && islower(next));
                if (boundary && n < limit - 1)
                    out[n++] = '_';
            }
            out[n++] = (char)tolower(c);
        } else if (n > 0 && out[n - 1] != '_') {
            out[n++] = '_';
        }
    }
    while (n > 0 && out[n - 1] == '_')
        n--;
    out[n] = '\0';
    if (n == 0) {
        snprintf(out, size, "col_%d", position);
    } else if (isdigit((unsigned char)out[0])) {
        char tmp[TICK_NAME_MAX + 8];
        snprintf(tmp, sizeof tmp, "col_%s", out);
        snprintf(out, size, "%s", tmp);
    }
}

int tick_cell_is_null(const char *text, size_t length)
{
    switch (length) {
    case 0:
        return 1;
    case 2:
        return strncasecmp(text, "na", 2) == 0;
    case 3:
        return strncasecmp(text, "nan", 3) == 0 || strncasecmp(text, "n/a", 3) == 0;
    case 4:
        return strncasecmp(text, "null", 4) == 0;
    default:
        return 0;
    }
}

/* A number kept as written (so it round-trips exactly): valid JSON, short
 * enough for every JSON reader (cJSON reads at most 63 characters), and
 * finite as a double (1e999 is valid JSON but no reader's number). */
static int tick_number_verbatim(const char *text, size_t length)
{
    if (length > 40 || !json_is_number(text, length))
        return 0;
    if (!memchr(text, 'e', length) && !memchr(text, 'E', length))
        return 1; /* at most 40 digits: below 1e40 */
    char copy[41];
    memcpy(copy, text, length);
    copy[length] = '\0';
    errno = 0;
    double value = strtod(copy, NULL);
    return isfinite(value) && errno != ERANGE;
}

int tick_append_number(buf *out, const char *text, size_t length)
{
    if (tick_number_verbatim(text, length))
        return buf_append(out, text, length) == 0;
    /* The unusual forms: blanks around, '+5', '.5', '5.' */
    while (length && isspace((unsigned char)*text))
        text++, length--;
    while (length && isspace((unsigned char)text[length - 1]))
        length--;
    if (length == 0 || length > 64)
        return 0;
    if (tick_number_verbatim(text, length))
        return buf_append(out, text, length) == 0;
    const char *digits = text + (*text == '+' || *text == '-');
    if (digits[0] == '0' && digits + 1 < text + length && isdigit((unsigned char)digits[1]))
        return 0; /* 007: an identifier, keep it a string */
    for (size_t i = 0; i < length; i++) {
        char c = text[i];
        if (!(isdigit((unsigned char)c) || c == '.' || c == '+' || c == '-' || c == 'e' ||
              c == 'E'))
            return 0; /* no hex, inf, nan or padding */
    }
    char copy[65];
    memcpy(copy, text, length);
    copy[length] = '\0';
    char *end;
    errno = 0;
    double value = strtod(copy, &end);
    if (end != copy + length || !isfinite(value) || errno == ERANGE)
        return 0;
    return json_append_double(out, value) == 0;
}

/* Index of the first column whose normalised or original name matches
 * one of the candidates (in candidate order), or -1. */
static int tick_find_column(const tick_schema *schema, const char *const *candidates)
{
    for (size_t c = 0; candidates[c]; c++)
        for (size_t i = 0; i < schema->count; i++)
            if (strcmp(schema->names[i], candidates[c]) == 0 ||
                strcmp(schema->header_names[i], candidates[c]) == 0)
                return (int)i;
    return -1;
}

static int tick_named_column(const tick_schema *schema, const char *name, const char *what,
                             tp_err *err)
{
    const char *candidates[] = {name, NULL};
    int index = tick_find_column(schema, candidates);
    if (index >= 0)
        return index;
    char normalized[TICK_NAME_MAX + 8] = {0};
    tick_normalize_name(name, strlen(name), 0, normalized, sizeof normalized);
    candidates[0] = normalized;
    index = tick_find_column(schema, candidates);
    if (index >= 0)
        return index;
    buf list = BUF_INIT;
    for (size_t i = 0; i < schema->count; i++)
        buf_printf(&list, "%s%s", i ? ", " : "", schema->header_names[i]);
    tp_err_set(err, TP_ERR_USAGE, "%s column '%s' is not in the header (columns: %s)", what, name,
               list.data ? list.data : "");
    buf_free(&list);
    return -1;
}

static int tick_schema_build(tick_schema *schema, const csv_record *header,
                             const struct tick_schema_options *options, tp_err *err)
{
    schema->key_column = -1;
    if (header->malformed)
        return tp_err_set(err, TP_ERR_PARSE, "header row: %s", header->malformed);
    size_t count = header->count;
    schema->count = count;
    schema->names = calloc(count, sizeof *schema->names);
    schema->header_names = calloc(count, sizeof *schema->header_names);
    schema->kinds = calloc(count, sizeof *schema->kinds);
    schema->sampled_values = calloc(count, sizeof *schema->sampled_values);
    schema->sampled_numbers = calloc(count, sizeof *schema->sampled_numbers);
    schema->prefixes = calloc(count, sizeof *schema->prefixes);
    schema->prefix_lengths = calloc(count, sizeof *schema->prefix_lengths);
    if (!schema->prefixes || !schema->prefix_lengths || !schema->names || !schema->header_names ||
        !schema->kinds || !schema->sampled_values || !schema->sampled_numbers)
        goto out_of_memory;
    for (size_t i = 0; i < count; i++) {
        char name[TICK_NAME_MAX + 16] = {0};
        tick_normalize_name(header->fields[i], header->lengths[i], (int)i + 1, name, sizeof name);
        size_t base_length = strlen(name);
        for (int suffix = 2;; suffix++) {
            int taken = 0;
            for (size_t j = 0; j < i && !taken; j++)
                taken = strcmp(schema->names[j], name) == 0;
            if (!taken)
                break;
            snprintf(name + base_length, sizeof name - base_length, "_%d", suffix);
        }
        schema->names[i] = strdup(name);
        schema->header_names[i] = strndup(header->fields[i], header->lengths[i]);
        /* the bytes before each value: {"name": or ,"name": */
        char prefix[TICK_NAME_MAX + 24];
        int prefix_length = snprintf(prefix, sizeof prefix, "%s\"%s\":", i ? "," : "", name);
        schema->prefixes[i] = strdup(prefix);
        schema->prefix_lengths[i] = (size_t)prefix_length;
        if (!schema->names[i] || !schema->header_names[i] || !schema->prefixes[i])
            goto out_of_memory;
    }
    if (timestamp_zone_init(&schema->zone, options ? options->timezone : NULL, err) < 0)
        return -1;
    static const char *const time_names[] = {"timestamp", "datetime", "date", "time", "ts", NULL};
    static const char *const key_names[] = {"symbol", "ticker", "index", "name", NULL};
    if (options && options->time_column)
        schema->time_column = tick_named_column(schema, options->time_column, "time", err);
    else if ((schema->time_column = tick_find_column(schema, time_names)) < 0)
        tp_err_set(err, TP_ERR_USAGE,
                   "no event-time column in the header (looked for timestamp, datetime, date, "
                   "time, ts): name it with --time-column");
    if (schema->time_column < 0)
        return -1;
    schema->kinds[schema->time_column] = TICK_COLUMN_TIME;
    if (options && options->key_column && !*options->key_column)
        schema->key_column = -1;
    else if (options && options->key_column) {
        schema->key_column = tick_named_column(schema, options->key_column, "key", err);
        if (schema->key_column < 0)
            return -1;
    } else
        schema->key_column = tick_find_column(schema, key_names);
    if (schema->key_column == schema->time_column)
        return tp_err_set(err, TP_ERR_USAGE, "the key column cannot be the time column");
    if (schema->key_column >= 0)
        schema->kinds[schema->key_column] = TICK_COLUMN_STRING;
    return 0;
out_of_memory:
    return tp_err_set(err, TP_ERR_INTERNAL, "out of memory");
}

int tick_schema_init(tick_schema *schema, const csv_record *header,
                     const struct tick_schema_options *options, tp_err *err)
{
    memset(schema, 0, sizeof *schema);
    if (tick_schema_build(schema, header, options, err) < 0) {
        tick_schema_free(schema);
        return -1;
    }
    return 0;
}

void tick_schema_free(tick_schema *schema)
{
    for (size_t i = 0; i < schema->count; i++) {
        if (schema->names)
            free(schema->names[i]);
        if (schema->header_names)
            free(schema->header_names[i]);
        if (schema->prefixes)
            free(schema->prefixes[i]);
    }
    free(schema->prefixes);
    free(schema->prefix_lengths);
    free(schema->names);
    free(schema->header_names);
    free(schema->kinds);
    free(schema->sampled_values);
    free(schema->sampled_numbers);
    memset(schema, 0, sizeof *schema);
}

void tick_schema_learn(tick_schema *schema, const csv_record *row)
{
    if (row->malformed || row->count != schema->count)
        return;
    buf scratch = BUF_INIT;
    for (size_t i = 0; i < schema->count; i++) {
        if (schema->kinds[i] != TICK_COLUMN_UNKNOWN ||
            tick_cell_is_null(row->fields[i], row->lengths[i]))
            continue;
        schema->sampled_values[i]++;
        buf_reset(&scratch);
        schema->sampled_numbers[i] += tick_append_number(&scratch, row->fields[i], row->lengths[i]);
    }
    buf_free(&scratch);
}

void tick_schema_finish_learning(tick_schema *schema)
{
    for (size_t i = 0; i < schema->count; i++) {
        if (schema->kinds[i] != TICK_COLUMN_UNKNOWN || schema->sampled_values[i] == 0)
            continue;
        schema->kinds[i] = schema->sampled_numbers[i] == schema->sampled_values[i]
                               ? TICK_COLUMN_NUMBER
                               : TICK_COLUMN_STRING;
    }
}

static int tick_bad_cell(const tick_schema *schema, size_t column, const char *what,
                         const csv_record *row, tp_err *err)
{
    return tp_err_set(err, TP_ERR_PARSE, "column '%s': %s '%.60s'", schema->header_names[column],
                      what, row->fields[column]);
}

int tick_render(tick_schema *schema, const csv_record *row, buf *json, struct tick *tick,
                tp_err *err)
{
    if (row->malformed)
        return tp_err_set(err, TP_ERR_PARSE, "%s", row->malformed);
    if (row->count != schema->count)
        return tp_err_set(err, TP_ERR_PARSE, "%zu fields, the header has %zu", row->count,
                          schema->count);
    /* Reserve the worst case once (strings escape to at most 6 bytes per
     * byte; numbers and times need at most 32), then write through a
     * plain pointer: this is the produce hot path. */
    size_t worst = 2;
    for (size_t i = 0; i < schema->count; i++)
        worst += row->lengths[i] * 6 + schema->prefix_lengths[i] + 40;
    buf_reset(json);
    if (buf_reserve(json, worst) < 0)
        return tp_err_set(err, TP_ERR_INTERNAL, "out of memory");
    char *w = json->data;
    *w++ = '{';
    tick->key = NULL;
    tick->key_length = 0;
    for (size_t i = 0; i < schema->count; i++) {
        const char *text = row->fields[i];
        size_t length = row->lengths[i];
        memcpy(w, schema->prefixes[i], schema->prefix_lengths[i]);
        w += schema->prefix_lengths[i];
        if ((int)i == schema->time_column) {
            if (tick_cell_is_null(text, length))
                return tp_err_set(err, TP_ERR_PARSE, "column '%s': missing event time",
                                  schema->header_names[i]);
            if (timestamp_parse(text, length, &schema->zone, &tick->event_time_ms) < 0)
                return tick_bad_cell(schema, i, "unparseable time", row, err);
            *w++ = '"';
            if (timestamp_format_iso(tick->event_time_ms, w) == 0)
                return tick_bad_cell(schema, i, "time out of range", row, err);
            w += TIMESTAMP_ISO_LENGTH;
            *w++ = '"';
            continue;
        }
        if ((int)i == schema->key_column && length > 0) {
            tick->key = text;
            tick->key_length = length;
        }
        if (tick_cell_is_null(text, length)) {
            memcpy(w, "null", 4);
            w += 4;
            continue;
        }
        enum tick_column_kind kind = schema->kinds[i];
        if (kind != TICK_COLUMN_STRING && tick_number_verbatim(text, length)) {
            memcpy(w, text, length);
            w += length;
            continue;
        }
        /* the rarer cases go through buf: sync its length first */
        json->len = (size_t)(w - json->data);
        if (kind == TICK_COLUMN_NUMBER) {
            if (!tick_append_number(json, text, length))
                return tick_bad_cell(schema, i, "not a number:", row, err);
        } else if (kind == TICK_COLUMN_STRING || !tick_append_number(json, text, length)) {
            json_append_string(json, text, length);
        }
        w = json->data + json->len;
    }
    *w++ = '}';
    *w = '\0';
    json->len = (size_t)(w - json->data);
    return 0;
}
