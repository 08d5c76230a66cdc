/*
 * csv: a streaming RFC 4180 reader. Quoted fields, doubled quotes,
 * embedded newlines, CRLF/LF/CR line ends and a UTF-8 BOM are handled;
 * memory stays bounded by the longest record (capped by max_record_bytes),
 * whatever the file size. Blank lines are skipped.
 */
#ifndef TICKPIPE_CSV_H
#define TICKPIPE_CSV_H

#include <signal.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/buf.h"
#include "lib/err.h"

typedef struct csv_reader csv_reader;

typedef struct csv_record {
    size_t count;          /* number of fields */
    char **fields;         /* NUL-terminated field texts, valid until the next call */
    const size_t *lengths; /* byte lengths (fields may contain NUL bytes) */
    long long line;        /* physical line (1-based) where the record starts */
    long long offset;      /* byte offset of the record's first byte in the input */
    const char *malformed; /* NULL, or why the record is malformed (fields are best effort) */
} csv_record;

struct csv_options {
    char delimiter;          /* default ',' */
    size_t max_record_bytes; /* default 1 MiB: a longer record is reported malformed */
    /* When set and a read is interrupted by a signal while *stop is
     * non-zero, the reader reports end of input instead of retrying. */
    const volatile sig_atomic_t *stop;
    size_t read_size; /* bytes per read(); default 64 KiB (tests use tiny ones) */
};

/* Reads from fd (not owned; not closed). options may be NULL. Returns NULL
 * with err set when memory runs out. */
csv_reader *csv_reader_new(int fd, const struct csv_options *options, tp_err *err);

/*
 * Reads the next record into *record. Returns 1 for a record, 0 at end of
 * input, -1 on a read error (err set). A malformed record (unterminated
 * quote, text after a closing quote, too long) is still returned with
 * record->malformed set; reading continues after it.
 */
int csv_reader_next(csv_reader *reader, csv_record *record, tp_err *err);

/* Repositions the reader at a byte offset of a seekable input (the offset
 * of a record start, as reported in csv_record.offset), with the given
 * line number. Returns 0 or -1 (err set). */
int csv_reader_seek(csv_reader *reader, long long offset, long long line, tp_err *err);

/* Bytes consumed so far: the offset of the next record (for progress
 * display and csv_reader_seek). */
long long csv_reader_position(const csv_reader *reader);
/* The physical line number at csv_reader_position. */
long long csv_reader_line(const csv_reader *reader);

void csv_reader_free(csv_reader *reader);

/* Appends one field as RFC 4180 CSV: quoted (quotes doubled) when it
 * holds a comma, quote, CR or LF, or is empty, so an empty string differs
 * from a missing value (text NULL), which writes nothing. Returns 0 or -1. */
int csv_append_field(buf *out, const char *text, size_t length);

/* An owned copy of a record, for look-ahead (e.g. learning column types
 * before streaming). */
typedef struct csv_saved_record csv_saved_record;
csv_saved_record *csv_record_save(const csv_record *record);
/* Fills view with the saved record's fields (valid while saved lives). */
void csv_saved_record_view(csv_saved_record *saved, csv_record *view);
void csv_saved_record_free(csv_saved_record *saved);

#endif
