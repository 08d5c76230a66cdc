/*
 * csv: records are found in two passes over a sliding buffer. The first
 * pass finds where the record ends (tracking quotes, never modifying the
 * bytes, so it can resume after more input arrives); the second splits
 * and unquotes the fields in place. Memory: one buffer that grows only to
 * the longest record, plus the field index.
 */
#include "lib/csv.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define CSV_READ_SIZE     (64 * 1024)
#define CSV_DEFAULT_LIMIT (1024 * 1024)

struct csv_reader {
    int fd;
    char delimiter;
    size_t max_record_bytes;
    size_t read_size;
    const volatile sig_atomic_t *stop;
    char *data;
    size_t capacity;
    size_t start;          /* first unconsumed byte */
    size_t end;            /* one past the last valid byte */
    long long base_offset; /* input offset of data[0] */
    long long line;        /* line number of data[start] */
    int eof;
    int at_input_start; /* a BOM may follow */
    char **fields;
    size_t *lengths;
    size_t field_capacity;
};

/* Where the scan of a record stands, so it can resume after a refill. */
struct csv_scan {
    size_t position; /* next byte to look at, relative to start */
    int in_quotes;
    int at_field_start;
    long long newlines; /* line breaks inside the record */
};

csv_reader *csv_reader_new(int fd, const struct csv_options *options, tp_err *err)
{
    csv_reader *reader = calloc(1, sizeof *reader);
    if (!reader) {
        tp_err_set(err, TP_ERR_INTERNAL, "out of memory");
        return NULL;
    }
    reader->fd = fd;
    reader->delimiter = options && options->delimiter ? options->delimiter : ',';
    reader->max_record_bytes =
        options && options->max_record_bytes ? options->max_record_bytes : CSV_DEFAULT_LIMIT;
    reader->stop = options ? options->stop : NULL;
    reader->read_size = options && options->read_size ? options->read_size : CSV_READ_SIZE;
    reader->capacity = CSV_READ_SIZE * 2;
    reader->data = malloc(reader->capacity);
    if (!reader->data) {
        free(reader);
        tp_err_set(err, TP_ERR_INTERNAL, "out of memory");
        return NULL;
    }
    reader->line = 1;
    reader->at_input_start = 1;
    return reader;
}

void csv_reader_free(csv_reader *reader)
{
    if (!reader)
        return;
    free(reader->data);
    free(reader->fields);
    free(reader->lengths);
    free(reader);
}

long long csv_reader_position(const csv_reader *reader)
{
    return reader->base_offset + (long long)reader->start;
}

long long csv_reader_line(const csv_reader *reader)
{
    return reader->line;
}

int csv_reader_seek(csv_reader *reader, long long offset, long long line, tp_err *err)
{
    if (lseek(reader->fd, offset, SEEK_SET) < 0)
        return tp_err_set(err, TP_ERR_IO, "seek to byte %lld: %s", offset, strerror(errno));
    reader->start = reader->end = 0;
    reader->base_offset = offset;
    reader->line = line;
    reader->eof = 0;
    reader->at_input_start = offset == 0;
    return 0;
}

/* Moves unconsumed bytes to the front, grows the buffer when it is full
 * and reads more. Returns 1 if bytes arrived, 0 at end of input, -1 on error. */
static int csv_fill(csv_reader *reader, tp_err *err)
{
    if (reader->eof)
        return 0;
    if (reader->start > 0) {
        memmove(reader->data, reader->data + reader->start, reader->end - reader->start);
        reader->base_offset += (long long)reader->start;
        reader->end -= reader->start;
        reader->start = 0;
    }
    if (reader->capacity - reader->end < CSV_READ_SIZE + 1) {
        size_t capacity = reader->capacity * 2;
        char *data = realloc(reader->data, capacity);
        if (!data)
            return tp_err_set(err, TP_ERR_INTERNAL, "out of memory reading CSV");
        reader->data = data;
        reader->capacity = capacity;
    }
    for (;;) {
        size_t room = reader->capacity - reader->end - 1;
        ssize_t n = read(reader->fd, reader->data + reader->end,
                         room < reader->read_size ? room : reader->read_size);
        if (n > 0) {
            reader->end += (size_t)n;
            return 1;
        }
        if (n == 0) {
            reader->eof = 1;
            return 0;
        }
        if (errno == EINTR) {
            if (reader->stop && *reader->stop) {
                reader->eof = 1;
                return 0;
            }
            continue;
        }
        return tp_err_set(err, TP_ERR_IO, "read: %s", strerror(errno));
    }
}

/*
 * Advances the scan over the buffered bytes. Returns 1 when the record
 * ends inside the buffer (*length = bytes before the line break,
 * *terminator = size of the line break), 0 when more input is needed.
 */
static int csv_scan_record(const csv_reader *reader, struct csv_scan *scan, size_t *length,
                           size_t *terminator)
{
    const char *base = reader->data + reader->start;
    size_t available = reader->end - reader->start;
    size_t i = scan->position;
    if (!scan->in_quotes && i < available) {
        /* Fast path, the common case: no quote before the next LF (and no
         * CR but the one of a CRLF), so the record ends at that LF. */
        const char *newline = memchr(base + i, '\n', available - i);
        if (newline) {
            size_t span = (size_t)(newline - (base + i));
            const char *cr = memchr(base + i, '\r', span);
            if (!memchr(base + i, '"', span) && (!cr || cr == newline - 1)) {
                *length = (size_t)((cr ? cr : newline) - base);
                *terminator = cr ? 2 : 1;
                scan->position = *length;
                return 1;
            }
        }
    }
    while (i < available) {
        char c = base[i];
        if (scan->in_quotes) {
            const char *quote = memchr(base + i, '"', available - i);
            if (!quote) {
                for (const char *p = base + i; p < base + available; p++)
                    scan->newlines += *p == '\n';
                i = available;
                break;
            }
            for (const char *p = base + i; p < quote; p++)
                scan->newlines += *p == '\n';
            i = (size_t)(quote - base);
            if (i + 1 >= available && !reader->eof)
                break; /* need the next byte to tell "" from a closing quote */
            if (i + 1 < available && base[i + 1] == '"') {
                i += 2;
                continue;
            }
            scan->in_quotes = 0;
            scan->at_field_start = 0;
            i++;
            continue;
        }
        if (c == '\n' || c == '\r') {
            if (c == '\r' && i + 1 >= available && !reader->eof)
                break; /* CR LF split across reads */
            *length = i;
            *terminator = (c == '\r' && i + 1 < available && base[i + 1] == '\n') ? 2 : 1;
            scan->position = i;
            return 1;
        }
        if (c == '"' && scan->at_field_start)
            scan->in_quotes = 1;
        scan->at_field_start = c == reader->delimiter;
        i++;
    }
    scan->position = i;
    if (reader->eof) {
        *length = available;
        *terminator = 0;
        return 1;
    }
    return 0;
}

static int csv_push_field(csv_reader *reader, size_t index, char *text, size_t length)
{
    if (index == reader->field_capacity) {
        size_t capacity = reader->field_capacity ? reader->field_capacity * 2 : 32;
        char **fields = realloc(reader->fields, capacity * sizeof *fields);
        if (!fields)
            return -1;
        reader->fields = fields;
        size_t *lengths = realloc(reader->lengths, capacity * sizeof *lengths);
        if (!lengths)
            return -1;
        reader->lengths = lengths;
        reader->field_capacity = capacity;
    }
    reader->fields[index] = text;
    reader->lengths[index] = length;
    return 0;
}

/* Splits [text, text + length) into fields in place; text[length] may be
 * overwritten with NUL (the buffer always has a spare byte). */
static int csv_split_fields(csv_reader *reader, char *text, size_t length, csv_record *record)
{
    char *read_at = text;
    char *stop = text + length;
    size_t count = 0;
    record->malformed = NULL;
    for (;;) {
        char *field = read_at;
        char *write_at = read_at;
        if (read_at < stop && *read_at == '"') {
            read_at++;
            int closed = 0;
            while (read_at < stop) {
                if (*read_at == '"') {
                    if (read_at + 1 < stop && read_at[1] == '"') {
                        *write_at++ = '"';
                        read_at += 2;
                        continue;
                    }
                    read_at++;
                    closed = 1;
                    break;
                }
                *write_at++ = *read_at++;
            }
            if (!closed)
                record->malformed = "unterminated quoted field";
            while (read_at < stop && *read_at != reader->delimiter) {
                if (!record->malformed)
                    record->malformed = "text after the closing quote of a field";
                *write_at++ = *read_at++;
            }
        } else {
            char *delimiter = memchr(read_at, reader->delimiter, (size_t)(stop - read_at));
            read_at = delimiter ? delimiter : stop;
            write_at = read_at;
        }
        if (csv_push_field(reader, count, field, (size_t)(write_at - field)) < 0)
            return -1;
        count++;
        int more = read_at < stop; /* stopped at a delimiter */
        *write_at = '\0';
        if (!more)
            break;
        read_at++;
    }
    record->count = count;
    record->fields = reader->fields;
    record->lengths = reader->lengths;
    return 0;
}

/* Drops bytes up to and including the next line break (an overlong record). */
static int csv_skip_line(csv_reader *reader, tp_err *err)
{
    for (;;) {
        char *base = reader->data + reader->start;
        size_t available = reader->end - reader->start;
        char *newline = memchr(base, '\n', available);
        if (newline) {
            reader->start += (size_t)(newline - base) + 1;
            reader->line++;
            return 0;
        }
        reader->start = reader->end;
        int rc = csv_fill(reader, err);
        if (rc <= 0)
            return rc;
    }
}

int csv_reader_next(csv_reader *reader, csv_record *record, tp_err *err)
{
    for (;;) {
        struct csv_scan scan = {0, 0, 1, 0};
        size_t length = 0, terminator = 0;
        for (;;) {
            if (reader->at_input_start && reader->end - reader->start >= 3) {
                if (memcmp(reader->data + reader->start, "\xEF\xBB\xBF", 3) == 0)
                    reader->start += 3;
                reader->at_input_start = 0;
            }
            if (reader->start == reader->end && reader->eof)
                return 0;
            if (!(reader->at_input_start && !reader->eof) &&
                csv_scan_record(reader, &scan, &length, &terminator))
                break;
            if (scan.position > reader->max_record_bytes) {
                record->count = 0;
                record->line = reader->line;
                record->offset = csv_reader_position(reader);
                record->malformed = "record longer than the maximum record size";
                if (csv_skip_line(reader, err) < 0)
                    return -1;
                return 1;
            }
            int rc = csv_fill(reader, err);
            if (rc < 0)
                return -1;
            if (rc == 0 && reader->start == reader->end)
                return 0;
        }
        char *text = reader->data + reader->start;
        record->line = reader->line;
        record->offset = csv_reader_position(reader);
        reader->start += length + terminator;
        reader->line += scan.newlines + (terminator ? 1 : 0);
        if (length == 0)
            continue; /* blank line */
        if (csv_split_fields(reader, text, length, record) < 0)
            return tp_err_set(err, TP_ERR_INTERNAL, "out of memory reading CSV");
        if (scan.in_quotes && !record->malformed)
            record->malformed = "unterminated quoted field";
        return 1;
    }
}

struct csv_saved_record {
    csv_record record;
    char **fields;
    size_t *lengths;
    char *text; /* all fields, each NUL-terminated, back to back */
};

csv_saved_record *csv_record_save(const csv_record *record)
{
    csv_saved_record *saved = calloc(1, sizeof *saved);
    size_t total = 0;
    for (size_t i = 0; i < record->count; i++)
        total += record->lengths[i] + 1;
    if (!saved)
        return NULL;
    saved->fields = calloc(record->count + 1, sizeof *saved->fields);
    saved->lengths = calloc(record->count + 1, sizeof *saved->lengths);
    saved->text = malloc(total + 1);
    if (!saved->fields || !saved->lengths || !saved->text) {
        csv_saved_record_free(saved);
        return NULL;
    }
    char *w = saved->text;
    for (size_t i = 0; i < record->count; i++) {
        memcpy(w, record->fields[i], record->lengths[i]);
        w[record->lengths[i]] = '\0';
        saved->fields[i] = w;
        saved->lengths[i] = record->lengths[i];
        w += record->lengths[i] + 1;
    }
    saved->record = *record;
    saved->record.fields = saved->fields;
    saved->record.lengths = saved->lengths;
    return saved;
}

void csv_saved_record_view(csv_saved_record *saved, csv_record *view)
{
    *view = saved->record;
}

void csv_saved_record_free(csv_saved_record *saved)
{
    if (!saved)
        return;
    free(saved->fields);
    free(saved->lengths);
    free(saved->text);
    free(saved);
}

int csv_append_field(buf *out, const char *text, size_t length)
{
    if (!text)
        return 0;
    int quote = length == 0 || memchr(text, ',', length) || memchr(text, '"', length) ||
                memchr(text, '\n', length) || memchr(text, '\r', length);
    if (!quote)
        return buf_append(out, text, length);
    if (buf_reserve(out, length * 2 + 2) < 0)
        return -1;
    buf_append_char(out, '"');
    for (size_t i = 0; i < length; i++) {
        if (text[i] == '"')
            buf_append_char(out, '"');
        buf_append_char(out, text[i]);
    }
    return buf_append_char(out, '"');
}
