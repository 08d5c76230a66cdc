/*
 * result_format: the three ways `tickpipe athena` writes rows (see
 * result_format.h). Each format is a query_sink; the table format holds a
 * bounded sample of rows to size its columns, the others stream.
 */
#include "lib/result_format.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "lib/buf.h"
#include "lib/csv.h"
#include "lib/json.h"

#define RESULT_NULL_LENGTH SIZE_MAX

/* One sampled row: the values back to back in data, lengths[i] ==
 * RESULT_NULL_LENGTH for NULL. */
struct result_row {
    size_t *lengths;
    char *data;
};

struct result_writer {
    FILE *out;
    enum result_format format;
    struct query_column *columns; /* names owned (copied) */
    size_t column_count;
    int began;
    buf line;
    /* table only */
    struct result_row *sample;
    size_t sample_count;
    size_t *widths;
    int header_written;
    const char **texts; /* one line's cells, column_count of them */
    size_t *lengths;
    buf cell; /* one cell as shown */
};

int result_format_parse(const char *name, enum result_format *format)
{
    if (strcmp(name, "table") == 0)
        *format = RESULT_FORMAT_TABLE;
    else if (strcmp(name, "csv") == 0)
        *format = RESULT_FORMAT_CSV;
    else if (strcmp(name, "json") == 0)
        *format = RESULT_FORMAT_JSON;
    else
        return -1;
    return 0;
}

static int result_out_of_memory(tp_err *err)
{
    return tp_err_set(err, TP_ERR_INTERNAL, "out of memory while formatting results");
}

/* Writes w->line to the stream and empties it. */
static int result_flush_line(result_writer *w, tp_err *err)
{
    if (w->line.len && fwrite(w->line.data, 1, w->line.len, w->out) != w->line.len) {
        int saved = errno;
        tp_err_set(err, TP_ERR_IO, "writing results: %s", strerror(saved));
        errno = saved;
        return -1;
    }
    buf_reset(&w->line);
    return 0;
}

/* ---- table ------------------------------------------------------------ */

/* Appends the cell as shown in a table (NULL as NULL, control characters
 * escaped); returns its width in code points. */
static size_t result_table_cell(buf *out, const char *text, size_t length)
{
    if (length == RESULT_NULL_LENGTH || !text) {
        buf_append_str(out, "NULL");
        return 4;
    }
    size_t width = 0;
    for (size_t i = 0; i < length; i++) {
        unsigned char c = (unsigned char)text[i];
        if (c < 0x20 || c == 0x7f) {
            const char *escape = c == '\n' ? "\\n" : c == '\t' ? "\\t" : c == '\r' ? "\\r" : NULL;
            if (escape) {
                buf_append_str(out, escape);
                width += 2;
            } else {
                buf_printf(out, "\\x%02x", c);
                width += 4;
            }
            continue;
        }
        buf_append_char(out, (char)c);
        if ((c & 0xC0) != 0x80)
            width++;
    }
    return width;
}

static size_t result_table_width(result_writer *w, const char *text, size_t length)
{
    buf_reset(&w->cell);
    return result_table_cell(&w->cell, text, length);
}

static void result_table_pad(buf *out, size_t count)
{
    for (size_t i = 0; i < count; i++)
        buf_append_char(out, ' ');
}

/* Appends one line of cells (w->texts and w->lengths); trailing blanks
 * are trimmed. */
static void result_table_line(result_writer *w)
{
    for (size_t i = 0; i < w->column_count; i++) {
        size_t width = result_table_width(w, w->texts[i], w->lengths[i]);
        size_t pad = w->widths[i] > width ? w->widths[i] - width : 0;
        buf_append_str(&w->line, i ? " | " : " ");
        int right = w->columns[i].kind == QUERY_KIND_NUMBER;
        if (right)
            result_table_pad(&w->line, pad);
        buf_append(&w->line, w->cell.data, w->cell.len);
        if (!right)
            result_table_pad(&w->line, pad);
    }
    while (w->line.len && w->line.data[w->line.len - 1] == ' ')
        w->line.len--;
    w->line.data[w->line.len] = '\0';
    buf_append_char(&w->line, '\n');
}

/* Points w->texts and w->lengths at a sampled row's values. */
static void result_table_row_texts(result_writer *w, const struct result_row *row)
{
    const char *p = row->data;
    for (size_t i = 0; i < w->column_count; i++) {
        w->texts[i] = p;
        w->lengths[i] = row->lengths[i];
        if (row->lengths[i] != RESULT_NULL_LENGTH)
            p += row->lengths[i];
    }
}

/* Writes the header, the rule and the sampled rows. */
static int result_table_write_sample(result_writer *w, tp_err *err)
{
    size_t n = w->column_count;
    for (size_t i = 0; i < n; i++) {
        w->texts[i] = w->columns[i].name;
        w->lengths[i] = strlen(w->columns[i].name);
        size_t width = result_table_width(w, w->texts[i], w->lengths[i]);
        if (width > w->widths[i])
            w->widths[i] = width;
    }
    result_table_line(w);
    for (size_t i = 0; i < n; i++) {
        buf_append_str(&w->line, i ? "+" : "");
        for (size_t j = 0; j < w->widths[i] + 2; j++)
            buf_append_char(&w->line, '-');
    }
    buf_append_char(&w->line, '\n');
    int rc = result_flush_line(w, err);
    for (size_t r = 0; rc == 0 && r < w->sample_count; r++) {
        result_table_row_texts(w, &w->sample[r]);
        result_table_line(w);
        rc = result_flush_line(w, err);
    }
    for (size_t r = 0; r < w->sample_count; r++) {
        free(w->sample[r].lengths);
        free(w->sample[r].data);
    }
    w->sample_count = 0;
    w->header_written = 1;
    return rc;
}

static int result_table_row(result_writer *w, const struct query_value *values, tp_err *err)
{
    size_t n = w->column_count;
    if (w->header_written) {
        for (size_t i = 0; i < n; i++) {
            w->texts[i] = values[i].text;
            w->lengths[i] = values[i].text ? values[i].length : RESULT_NULL_LENGTH;
        }
        result_table_line(w);
        return result_flush_line(w, err);
    }
    struct result_row *row = &w->sample[w->sample_count];
    size_t total = 0;
    for (size_t i = 0; i < n; i++)
        total += values[i].text ? values[i].length : 0;
    row->lengths = malloc((n ? n : 1) * sizeof *row->lengths);
    row->data = malloc(total ? total : 1);
    if (!row->lengths || !row->data) {
        free(row->lengths);
        free(row->data);
        return result_out_of_memory(err);
    }
    char *p = row->data;
    for (size_t i = 0; i < n; i++) {
        if (!values[i].text) {
            row->lengths[i] = RESULT_NULL_LENGTH;
            continue;
        }
        row->lengths[i] = values[i].length;
        if (values[i].length)
            memcpy(p, values[i].text, values[i].length);
        p += values[i].length;
    }
    w->sample_count++;
    const char *q = row->data;
    for (size_t i = 0; i < n; i++) {
        size_t width = result_table_width(w, q, row->lengths[i]);
        if (width > w->widths[i])
            w->widths[i] = width;
        if (row->lengths[i] != RESULT_NULL_LENGTH)
            q += row->lengths[i];
    }
    if (w->sample_count == RESULT_TABLE_SAMPLE_ROWS)
        return result_table_write_sample(w, err);
    return 0;
}

/* ---- csv -------------------------------------------------------------- */

/* ---- json ------------------------------------------------------------- */

static void result_json_value(buf *out, const struct query_column *column,
                              const struct query_value *value)
{
    if (!value->text) {
        buf_append_str(out, "null");
        return;
    }
    if (column->kind == QUERY_KIND_NUMBER) {
        if (json_is_number(value->text, value->length))
            buf_append(out, value->text, value->length);
        else
            buf_append_str(out, "null"); /* inf, nan */
        return;
    }
    if (column->kind == QUERY_KIND_BOOLEAN &&
        ((value->length == 4 && memcmp(value->text, "true", 4) == 0) ||
         (value->length == 5 && memcmp(value->text, "false", 5) == 0))) {
        buf_append(out, value->text, value->length);
        return;
    }
    json_append_string(out, value->text, value->length);
}

/* ---- the sink --------------------------------------------------------- */

static int result_begin(void *context, const struct query_column *columns, size_t count,
                        tp_err *err)
{
    result_writer *w = context;
    w->columns = calloc(count ? count : 1, sizeof *w->columns);
    w->widths = calloc(count ? count : 1, sizeof *w->widths);
    int table = w->format == RESULT_FORMAT_TABLE;
    if (table) {
        w->sample = calloc(RESULT_TABLE_SAMPLE_ROWS, sizeof *w->sample);
        w->texts = calloc(count ? count : 1, sizeof *w->texts);
        w->lengths = calloc(count ? count : 1, sizeof *w->lengths);
    }
    if (!w->columns || !w->widths || (table && (!w->sample || !w->texts || !w->lengths)))
        return result_out_of_memory(err);
    for (size_t i = 0; i < count; i++) {
        w->columns[i] = columns[i];
        w->columns[i].name = strdup(columns[i].name ? columns[i].name : "");
        w->columns[i].type = NULL;
        if (!w->columns[i].name)
            return result_out_of_memory(err);
        w->column_count = i + 1;
    }
    w->column_count = count;
    w->began = 1;
    if (w->format == RESULT_FORMAT_CSV && count) {
        for (size_t i = 0; i < count; i++) {
            if (i)
                buf_append_char(&w->line, ',');
            csv_append_field(&w->line, w->columns[i].name, strlen(w->columns[i].name));
        }
        buf_append_str(&w->line, "\r\n");
        return result_flush_line(w, err);
    }
    return 0;
}

static int result_row(void *context, const struct query_value *values, size_t count, tp_err *err)
{
    result_writer *w = context;
    if (!w->began)
        return tp_err_set(err, TP_ERR_INTERNAL, "a row before the columns");
    if (count != w->column_count)
        return tp_err_set(err, TP_ERR_INTERNAL, "row of %zu values for %zu columns", count,
                          w->column_count);
    switch (w->format) {
    case RESULT_FORMAT_TABLE:
        return result_table_row(w, values, err);
    case RESULT_FORMAT_CSV:
        for (size_t i = 0; i < count; i++) {
            if (i)
                buf_append_char(&w->line, ',');
            csv_append_field(&w->line, values[i].text, values[i].length);
        }
        buf_append_str(&w->line, "\r\n");
        break;
    case RESULT_FORMAT_JSON:
        buf_append_char(&w->line, '{');
        for (size_t i = 0; i < count; i++) {
            if (i)
                buf_append_char(&w->line, ',');
            json_append_string(&w->line, w->columns[i].name, strlen(w->columns[i].name));
            buf_append_char(&w->line, ':');
            result_json_value(&w->line, &w->columns[i], &values[i]);
        }
        buf_append_str(&w->line, "}\n");
        break;
    }
    return result_flush_line(w, err);
}

result_writer *result_writer_new(FILE *out, enum result_format format)
{
    result_writer *w = calloc(1, sizeof *w);
    if (!w)
        return NULL;
    w->out = out;
    w->format = format;
    return w;
}

struct query_sink result_writer_sink(result_writer *writer)
{
    struct query_sink sink = {result_begin, result_row, writer};
    return sink;
}

int result_writer_finish(result_writer *w, tp_err *err)
{
    if (w->format == RESULT_FORMAT_TABLE && w->began && !w->header_written && w->column_count &&
        result_table_write_sample(w, err) < 0)
        return -1;
    if (fflush(w->out) != 0 || ferror(w->out)) {
        int saved = errno;
        tp_err_set(err, TP_ERR_IO, "writing results: %s", strerror(saved));
        errno = saved;
        return -1;
    }
    return 0;
}

void result_writer_free(result_writer *w)
{
    if (!w)
        return;
    for (size_t i = 0; i < w->column_count; i++)
        free((char *)w->columns[i].name);
    for (size_t r = 0; r < w->sample_count; r++) {
        free(w->sample[r].lengths);
        free(w->sample[r].data);
    }
    free(w->sample);
    free(w->columns);
    free(w->widths);
    free(w->texts);
    free(w->lengths);
    buf_free(&w->cell);
    buf_free(&w->line);
    free(w);
}
